"""Small helpers shared by the tests: read notebooks, run their code in-process, query a gradebook."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import nbformat

from grader.project import COURSE, REPO, SOLUTIONS
from grader.samples.submissions import solution_source


def all_notebooks() -> list[Path]:
    return sorted([*SOLUTIONS.glob("*/*.ipynb"), *COURSE.glob("*/*.ipynb")])


def nbgrader_meta(cell: Any) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def solution_namespace(notebook: Path, replace: dict[str, str] | None = None) -> dict[str, Any]:
    """Execute a solution notebook's read-only setup cells and answer cells in-process; return the namespace.

    Test cells and cells tagged ``experiment`` are skipped, so this is fast and needs no kernel.
    """
    replace = replace or {}
    nb = nbformat.read(str(notebook), as_version=4)
    namespace: dict[str, Any] = {"__name__": "solution_under_test"}
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code" or meta.get("grade") or "experiment" in cell.metadata.get("tags", []):
            continue
        if meta.get("solution"):
            source = replace.get(meta["grade_id"], solution_source(cell))
        elif meta.get("locked"):
            source = cell.source
        else:
            continue
        exec(compile(source, f"<{notebook.stem}:{meta['grade_id']}>", "exec"), namespace)
    return namespace


def cell_grades(db_url: str, student: str, assignment: str, notebook: str) -> dict[str, tuple[float | None, float]]:
    """grade_id -> (score, max_score) for one submitted notebook, from the gradebook; None = awaits a person."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        sub = gb.find_submission_notebook(notebook, assignment, student)
        return {g.name: (None if g.needs_manual_grade else g.score, g.max_score) for g in sub.grades}


# What a copy of the repository needs to grade from: the grading code, the course, and the files beside them.
REPO_FILES = ("grader", "solutions", "course", "nbgrader_config.py", "requirements.txt", "pyproject.toml", "README.md")


def copy_repo(dest: Path, names: tuple[str, ...] = REPO_FILES) -> Path:
    """A copy of the repository's ``names`` in ``dest`` (caches left out), to run commands from or edit."""
    dest.mkdir(parents=True)
    for name in names:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
        elif source.is_file():
            shutil.copy2(source, dest / name)
    return dest
