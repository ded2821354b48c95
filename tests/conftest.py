"""Real nbgrader runs, each paid for once per session and only by the tests that need it.

Starting a kernel and importing torch costs seconds per notebook, so instead of one autograde per test the
session builds a single class — the full solution, the untouched release, and one student per mutant — and
grades it once with ``grader.grading.engine`` on every core (``graded_class``). Tests then read the gradebook, the
autograded notebooks and the feedback. Tests that compare a few submissions with another way of grading them use
``graded_sample``, which grades only those few unless the session grades the class anyway.

Every workspace an in-process test grades starts from one template course (``grading_template``: nbgrader's
``generate_assignment`` of every graded assignment, run once), as a workspace the grader has prepared before with
the same code does; the tests of ``release`` and of the command line still generate from scratch.

The grader keeps templates for every workspace of the machine in ``$XDG_CACHE_HOME``; the session points it at a
folder of its own (:func:`pytest_configure`), so no test reads or writes the user's cache, and the session's first
workspace generates the template every later one (in process or on the command line) copies.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from grader.grading.engine import CACHE_DIR, Outcome, autograde, default_jobs, prepare
from grader.grading.fingerprint import fingerprint, manifest
from grader.project import Assignment, default_db_url, graded_assignments, notebook_index
from grader.samples.mutants import Mutant, all_mutants, by_name
from grader.samples.submissions import fill, write_notebook
from tests.helpers import cell_grades

SOLUTION = "solution"
RELEASE = "release"
BROKEN = "broken-json"  # hands in a notebook that is not valid JSON


CACHE_ENV = "GRADER_TEST_CACHE"   # the session's cache folder, as the first process of a session chose it


def pytest_configure(config: pytest.Config) -> None:
    """The session's own machine-wide template cache (grader.grading.engine.machine_cache), for this process and
    every command the tests run. Under pytest-xdist (``make test``) the workers inherit the one their controller made,
    as the workspaces of one machine share theirs; the controller removes it at the end."""
    inherited = os.environ.get(CACHE_ENV) if os.environ.get("PYTEST_XDIST_WORKER") else None
    folder = inherited or tempfile.mkdtemp(prefix="grader-test-cache-")
    os.environ[CACHE_ENV] = os.environ["XDG_CACHE_HOME"] = folder
    if not inherited:
        config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


# The files whose tests read the graded class: under pytest-xdist they run in one worker, which grades it once.
CLASS_FILES = frozenset({"test_grading.py", "test_parallel.py", "test_postgres.py"})
# The longest units of work first (measured with --durations), so that no worker starts one when the others are done.
LONGEST_FIRST = ("graded-class", "test_cli.py", "test_readme.py", "test_hostile.py", "test_hub.py",
                 "test_interruptions.py", "test_student_notebooks.py", "test_new_exercise.py", "test_exchange.py",
                 "test_compat_equivalence.py")


def work_unit(nodeid: str) -> str:
    """The tests that run together in one pytest-xdist worker: a file's tests (so that a module's fixture, a demo
    run or a hostile corpus, is built once), and all the tests of :data:`CLASS_FILES` (the class is graded once)."""
    name = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    return "graded-class" if name in CLASS_FILES else name


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest units first; and a test that reads the graded class outside :data:`CLASS_FILES` is an error, since
    it would make a second worker grade the class again."""
    for item in items:
        if {"graded_class", "graded_sample"} & set(getattr(item, "fixturenames", ())) and \
                work_unit(item.nodeid) != "graded-class":
            raise pytest.UsageError(f"{item.nodeid} reads the graded class: put it in one of {sorted(CLASS_FILES)} "
                                    "(tests/conftest.py), or its worker grades the class a second time")
    rank = {unit: i for i, unit in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(work_unit(item.nodeid), len(rank)))


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # before xdist chooses by --dist; none without xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """pytest-xdist's scope scheduling with :func:`work_unit` as the scope, in the order of the collection."""
    from xdist.scheduler import LoadScopeScheduling

    class WorkUnits(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    config.option.loadscopereorder = False   # keep LONGEST_FIRST's order, not the number of tests per unit
    return WorkUnits(config, log)


def mutant_student(mutant: Mutant) -> str:
    return f"m-{mutant.name}"


# (student, notebook): a few submissions of the class, for the tests that grade them another way and compare.
SAMPLE = [(SOLUTION, "01_lookup"), (RELEASE, "01_lookup"), (SOLUTION, "03_tied_embeddings"),
          (mutant_student(by_name("one_hot_width_from_batch")), "01_lookup"),
          (mutant_student(by_name("tiny_lm_copies")), "03_tied_embeddings")]


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


def submit_like_the_class(root: Path, pairs: list[tuple[str, str]]) -> None:
    """Hand in (student, notebook) submissions as the session's class has them: solution, release or a mutant."""
    index = notebook_index()
    for student, notebook in pairs:
        assignment = index[notebook]
        if student == SOLUTION:
            nb = fill(assignment, notebook)
        elif student == RELEASE:
            nb = fill(assignment, notebook, solve=False)
        else:
            mutant = by_name(student.removeprefix("m-"))
            nb = fill(assignment, notebook, {mutant.cell: mutant.source})
        _submit(root, student, assignment, notebook, nb)


@pytest.fixture(scope="session")
def grading_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The grader's cache of the template course for this code (gradebook and release of every graded assignment,
    from nbgrader's generate_assignment), generated once for the session by the engine's own ``prepare``."""
    root = tmp_path_factory.mktemp("template")
    prepare(root, default_db_url(root), [], fingerprint(manifest()))
    return root / CACHE_DIR


@pytest.fixture
def workspace(tmp_path: Path, grading_template: Path) -> Path:
    """An empty class workspace holding the session's template course, as the grader's cache of an earlier run."""
    seed(tmp_path, grading_template)
    return tmp_path


def seed(root: Path, grading_template: Path) -> Path:
    shutil.copytree(grading_template, root / CACHE_DIR)
    return root


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory: pytest.TempPathFactory, grading_template: Path) -> Iterator[GradedClass]:
    root = seed(tmp_path_factory.mktemp("class"), grading_template)
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


@pytest.fixture(scope="session")
def graded_sample(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                  grading_template: Path) -> GradedClass:
    """SAMPLE graded as the class is (the default engine: parallel workers, warm kernels).

    When a test of this session needs the whole class, the class is that run: its rows for SAMPLE are these
    submissions graded the same way, at no extra cost. Otherwise only SAMPLE is graded, in seconds.
    """
    if any("graded_class" in item.fixturenames for item in request.session.items):
        return request.getfixturevalue("graded_class")
    root = seed(tmp_path_factory.mktemp("sample"), grading_template)
    submit_like_the_class(root, SAMPLE)
    outcomes = autograde(root, jobs=default_jobs(), progress=lambda line: None)
    assert all(o.ok for o in outcomes), [o.problem for o in outcomes if not o.ok]
    return GradedClass(root, outcomes)

