"""One real nbgrader run grades every submission the tests look at.

Starting a kernel and importing torch costs seconds per notebook, so instead of one autograde per test the
session builds a single class — the full solution, the untouched release, and one student per mutant — and
grades it once with ``grader.grading.engine`` on every core. Tests then read the gradebook, the autograded
notebooks and the feedback.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from grader.grading.engine import Outcome, autograde, default_jobs
from grader.project import Assignment, default_db_url, graded_assignments, notebook_index
from grader.samples.mutants import Mutant, all_mutants
from grader.samples.submissions import fill, write_notebook
from tests.helpers import cell_grades

SOLUTION = "solution"
RELEASE = "release"
BROKEN = "broken-json"  # hands in a notebook that is not valid JSON


def mutant_student(mutant: Mutant) -> str:
    return f"m-{mutant.name}"


@dataclass
class GradedClass:
    root: Path
    outcomes: list[Outcome]

    @property
    def db_url(self) -> str:
        return default_db_url(self.root)

    def grades(self, student: str, notebook: str) -> dict[str, tuple[float | None, float]]:
        return cell_grades(self.db_url, student, notebook_index()[notebook].name, notebook)

    def autograded(self, student: str, notebook: str) -> nbformat.NotebookNode:
        path = self.root / "autograded" / student / notebook_index()[notebook].name / f"{notebook}.ipynb"
        return nbformat.read(str(path), as_version=4)

    def feedback_html(self, student: str, notebook: str) -> str:
        path = self.root / "feedback" / student / notebook_index()[notebook].name / f"{notebook}.html"
        return path.read_text(encoding="utf-8")


def _submit(root: Path, student: str, assignment: Assignment, notebook: str, nb: nbformat.NotebookNode) -> None:
    write_notebook(nb, root / "submitted" / student / assignment.name / f"{notebook}.ipynb")


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GradedClass]:
    root = tmp_path_factory.mktemp("class")
    for assignment in graded_assignments():
        for notebook in assignment.notebooks:
            _submit(root, SOLUTION, assignment, notebook, fill(assignment, notebook))
            _submit(root, RELEASE, assignment, notebook, fill(assignment, notebook, solve=False))
    index = notebook_index()
    for mutant in all_mutants():
        assignment = index[mutant.notebook]
        _submit(root, mutant_student(mutant), assignment, mutant.notebook,
                fill(assignment, mutant.notebook, {mutant.cell: mutant.source}))
    first = graded_assignments()[0]
    broken = root / "submitted" / BROKEN / first.name / f"{first.notebooks[0]}.ipynb"
    broken.parent.mkdir(parents=True)
    broken.write_text('{"cells": [ this is not JSON')
    outcomes = autograde(root, jobs=default_jobs(), progress=lambda line: None)
    yield GradedClass(root, outcomes)
