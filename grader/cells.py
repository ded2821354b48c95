"""What kind of cell a notebook cell is, by nbgrader's metadata: one rule, used wherever cells are told apart."""

from __future__ import annotations

from typing import Any

HIDDEN_MARK = "BEGIN HIDDEN TESTS"   # nbgrader's "### BEGIN HIDDEN TESTS"


def text(cell: Any) -> str:
    """A cell's source as one string (notebook files may store it as a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def nbgrader_meta(cell: Any) -> Any:
    return cell.get("metadata", {}).get("nbgrader", {})


def grade_id(cell: Any) -> str | None:
    return nbgrader_meta(cell).get("grade_id")


def is_test_cell(cell: Any) -> bool:
    """An autograded test cell: graded, not an answer (nbgrader's ``is_grade`` and not ``is_solution``)."""
    meta = nbgrader_meta(cell)
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_graded(cell: Any) -> bool:
    """Worth points: a test cell, or an answer graded by hand (nbgrader's ``is_grade``)."""
    return bool(nbgrader_meta(cell).get("grade"))


def is_answer(cell: Any) -> bool:
    """Where the student writes: an answer cell, code or Markdown (nbgrader's ``is_solution``)."""
    return bool(nbgrader_meta(cell).get("solution"))


def is_hidden_test(cell: Any) -> bool:
    """A test cell with a hidden region: its code is the instructor's, and it runs only on the grader's side."""
    return is_test_cell(cell) and HIDDEN_MARK in text(cell)
