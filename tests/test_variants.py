"""Correct answers never lose points: every correct variant (grader.samples.variants) gets full marks on the hidden
tests of its exercise and passes its visible test cell; every mutant still loses points where it says. In-process,
without a kernel: the solution notebook's setup and answer cells are executed with one answer replaced, then the
test cell's own source runs against that namespace, as nbgrader would run it."""

from __future__ import annotations

import contextlib
import io
from collections import Counter

import pytest

from grader import cells
from grader.project import SOLUTIONS, notebook_index
from grader.samples.mutants import Mutant, all_mutants
from grader.samples.submissions import answer_cells, read_notebook
from grader.samples.variants import Variant, all_variants
from tests.helpers import cell_source, run_cell, solution_namespace

HIDDEN_POINTS = 2.0


def _notebook(name: str):
    return SOLUTIONS / notebook_index()[name].name / f"{name}.ipynb"


def _run(notebook: str, replace: dict[str, str], grade_id: str) -> tuple[object, str]:
    """Run test cell ``grade_id`` of ``notebook`` with the answer cells in ``replace`` swapped in: (result, output).
    The result is the score a hidden cell returns, None for a visible cell that passed, or the exception it raised."""
    path = _notebook(notebook)
    namespace = solution_namespace(path, replace)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            result: object = run_cell(cell_source(path, grade_id), namespace, f"{notebook}:{grade_id}")
        except Exception as err:  # a visible check that fails raises; that is the outcome being tested
            result = err
    return result, out.getvalue()


def _exercises() -> list[tuple[str, str]]:
    """(notebook, answer cell) of every code exercise with a hidden test cell, in every notebook."""
    found = []
    for notebook in notebook_index():
        nb = read_notebook(_notebook(notebook))
        tests = {cells.grade_id(c) for c in nb.cells if cells.is_test_cell(c)}
        for gid, cell in answer_cells(nb).items():
            if cell.cell_type == "code" and f"{gid}_hidden" in tests:
                found.append((notebook, gid))
    return found


@pytest.mark.parametrize("variant", all_variants(), ids=lambda v: v.name)
def test_correct_variant_gets_full_marks_on_the_hidden_tests(variant: Variant) -> None:
    score, report = _run(variant.notebook, {variant.cell: variant.source}, f"{variant.cell}_hidden")
    assert score == HIDDEN_POINTS, f"{variant.name} ({variant.why}) lost points:\n{report}{score!r}"


@pytest.mark.parametrize("variant", all_variants(), ids=lambda v: v.name)
def test_correct_variant_passes_the_visible_checks(variant: Variant) -> None:
    result, output = _run(variant.notebook, {variant.cell: variant.source}, f"{variant.cell}_visible")
    assert result is None, f"{variant.name} ({variant.why}) fails its visible check: {result!r}\n{output}"


def test_every_exercise_has_two_variants() -> None:
    counts = Counter((v.notebook, v.cell) for v in all_variants())
    short = {f"{nb}:{gid}": counts[(nb, gid)] for nb, gid in _exercises() if counts[(nb, gid)] < 2}
    assert not short, f"exercises with fewer than two correct variants: {short}"


def test_variants_target_real_answer_cells() -> None:
    for variant in all_variants():
        assert (variant.notebook, variant.cell) in _exercises(), f"{variant.name}: no exercise {variant.cell}"


@pytest.mark.parametrize("mutant", all_mutants(), ids=lambda m: m.name)
def test_mutant_still_loses_points(mutant: Mutant) -> None:
    """The in-process twin of tests/test_grading.py's real-nbgrader check: the fixes above took nothing off the
    mutants' losses."""
    for gid in mutant.catches:
        result, report = _run(mutant.notebook, {mutant.cell: mutant.source}, gid)
        if gid.endswith("_hidden"):
            assert isinstance(result, float | int) and result < HIDDEN_POINTS, \
                f"mutant {mutant.name} ({mutant.mistake}) keeps {result!r} on {gid}:\n{report}"
        else:
            assert isinstance(result, BaseException), f"mutant {mutant.name} ({mutant.mistake}) passes {gid}"
