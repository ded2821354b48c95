"""Build student submissions from the release: the full solution, the untouched release, or mistakes.

A submission is what a student hands in: the released notebook (``course/``) with some answer cells
filled in. :func:`fill` writes the instructor's solution into every answer cell, except the cells given in
``replace``, which receive other source (a plausible mistake from :mod:`grader.samples.mutants`). The demo class and
the tests build their students this way, so they always match the current notebooks.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from grader import cells
from grader.project import COURSE, SOLUTIONS, Assignment, GraderError

_MARKER = re.compile(r"^\s*#+\s*(BEGIN|END) SOLUTION\s*$|^\s*=+\s*(BEGIN|END) MARK SCHEME\s*=+\s*$")


def read_notebook(path: Path) -> NotebookNode:
    return nbformat.read(str(path), as_version=4)


def answer_cells(nb: NotebookNode) -> dict[str, NotebookNode]:
    """grade_id -> cell, for every answer (solution) cell of a notebook."""
    return {
        cells.grade_id(cell): cell
        for cell in nb.cells
        if cells.is_answer(cell)
    }


def solution_source(cell: NotebookNode) -> str:
    """The instructor's answer with the ``### BEGIN/END SOLUTION`` marker lines removed."""
    return "\n".join(line for line in cell.source.split("\n") if not _MARKER.match(line))


def fill(
    assignment: Assignment,
    notebook: str,
    replace: Mapping[str, str] | None = None,
    *,
    solve: bool = True,
    release_dir: Path = COURSE,
) -> NotebookNode:
    """The released notebook with answers filled in.

    solve: write the instructor's solution into every answer cell (else leave the release's stubs).
    replace: grade_id -> source for cells that get something else; an unknown grade_id is an error.
    release_dir: the release to start from (default: the repository's ``course/``).
    """
    released = release_dir / assignment.name / f"{notebook}.ipynb"
    if not released.is_file():
        raise GraderError(f"{released} does not exist: course/ is behind solutions/. Run `python -m grader release`.")
    release = read_notebook(released)
    solutions = answer_cells(read_notebook(SOLUTIONS / assignment.name / f"{notebook}.ipynb"))
    cells = answer_cells(release)
    replace = dict(replace or {})
    unknown = set(replace) - set(cells)
    if unknown:
        raise GraderError(f"{notebook} has no answer cells named {sorted(unknown)}; it has {sorted(cells)}")
    submission = copy.deepcopy(release)
    for cell in answer_cells(submission).values():
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        if grade_id in replace:
            cell.source = replace[grade_id].strip("\n")
        elif solve:
            cell.source = solution_source(solutions[grade_id])
    return submission


def write_notebook(nb: NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path
