"""course/ is exactly what nbgrader generates from solutions/, reveals nothing, and is well formed."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import nbformat
import pytest

from grader.project import COURSE, SOLUTIONS, assignments
from grader.samples.submissions import solution_source
from tests.helpers import all_notebooks, nbgrader_meta, run_grader

STUDENT_IMPORTS = {"numpy", "torch", "matplotlib"} | set(sys.stdlib_module_names)
COURSE_NOTEBOOKS = sorted(COURSE.glob("*/*.ipynb"))
SOLUTION_NOTEBOOKS = sorted(SOLUTIONS.glob("*/*.ipynb"))


@pytest.fixture(scope="module")
def release_check() -> subprocess.CompletedProcess:
    """``python -m grader release --check``, once for the two tests that read it (both in this file, so that
    pytest-xdist runs them in one worker, tests/conftest.py): nbgrader regenerates the release from solutions/ into a
    copy of course/ and the command says whether anything changed."""
    return run_grader("release", "--check")


def test_course_equals_a_fresh_release(release_check: subprocess.CompletedProcess) -> None:
    """`release --check` regenerates the release into a copy of course/ with ``grader.commands.release.release``
    and exits 1 naming what changed."""
    assert release_check.returncode == 0, (
        f"course/ differs from a fresh `python -m grader release`: {release_check.stdout}{release_check.stderr[-2000:]}"
        " — regenerate it")


def test_release_check_reports_up_to_date(release_check: subprocess.CompletedProcess) -> None:
    """The command line: `python -m grader release --check`, in a subprocess, says so when nothing changed."""
    result = release_check
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout


def test_every_assignment_is_released() -> None:
    assert {a.name for a in assignments()} == {p.name for p in COURSE.iterdir() if p.is_dir()}
    for a in assignments():
        for nb in a.notebooks:
            assert (COURSE / a.name / f"{nb}.ipynb").is_file()


SECRET_REGION = re.compile(r"BEGIN SOLUTION(.*?)END SOLUTION|BEGIN HIDDEN TESTS(.*?)END HIDDEN TESTS", re.S)


def _lines(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if len(line.strip()) > 12}


def _solution_lines(nb: nbformat.NotebookNode) -> set[str]:
    """Every substantial line the student must not see (solution regions, hidden tests, model answers),
    minus lines the notebook shows students anyway (``with torch.no_grad():`` in a visible check)."""
    secret, public = set(), set()
    for cell in nb.cells:
        if cell.cell_type == "markdown" and nbgrader_meta(cell).get("solution"):
            secret |= _lines(solution_source(cell))
            continue
        for match in SECRET_REGION.finditer(cell.source):
            secret |= _lines(match[1] or match[2] or "")
        public |= _lines(SECRET_REGION.sub("", cell.source))
    return secret - public


@pytest.mark.parametrize("path", SOLUTION_NOTEBOOKS, ids=lambda p: p.stem)
def test_no_solution_text_in_course(path: Path) -> None:
    released_text = "\n".join(p.read_text(encoding="utf-8") for p in COURSE.rglob("*") if p.is_file())
    released_lines = {
        line.strip()
        for nb_path in COURSE_NOTEBOOKS
        for cell in nbformat.read(str(nb_path), as_version=4).cells
        for line in cell.source.splitlines()
    }
    secret = _solution_lines(nbformat.read(str(path), as_version=4))
    leaked = sorted(secret & released_lines)
    assert not leaked, f"course/ reveals solution or hidden-test lines of {path.name}: {leaked[:5]}"
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS", "grader.", "MARK SCHEME"):
        assert marker not in released_text, f"course/ contains {marker!r}"


@pytest.mark.parametrize("path", all_notebooks(), ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_notebooks_are_stored_without_outputs(path: Path) -> None:
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path}: cell {cell.id} has outputs"


@pytest.mark.parametrize("path", SOLUTION_NOTEBOOKS, ids=lambda p: p.stem)
def test_cell_metadata_is_valid(path: Path) -> None:
    from nbgrader.nbgraderformat import MetadataValidator

    nb = nbformat.read(str(path), as_version=4)
    MetadataValidator().validate_nb(nb)  # nbgrader's own schema check
    ids = [nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c)]
    duplicates = [gid for gid, n in Counter(ids).items() if n > 1]
    assert not duplicates, f"{path.name}: duplicate grade ids {duplicates}"
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if meta.get("grade") and cell.cell_type == "code":
            assert meta["locked"] and meta["points"] > 0, f"{meta['grade_id']}: test cells are locked and worth points"
            hidden = re.search(r"points=(\d+(?:\.\d+)?)\)", cell.source)
            if "BEGIN HIDDEN TESTS" in cell.source:
                assert hidden and float(hidden[1]) == meta["points"], (
                    f"{meta['grade_id']}: the hidden test returns points={hidden and hidden[1]} "
                    f"but the cell is worth {meta['points']}")
                assert cell.source.lstrip().startswith("#"), (
                    f"{meta['grade_id']}: start hidden test cells with a comment saying what they check")


@pytest.mark.parametrize("path", SOLUTION_NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_is_checked_at_once(path: Path) -> None:
    """Each answer code cell is followed by its visible check and its hidden tests (except a function carried
    over from an earlier notebook, tagged ``carried-over``, which that notebook graded)."""
    nb = nbformat.read(str(path), as_version=4)
    cells = nb.cells
    for i, cell in enumerate(cells):
        meta = nbgrader_meta(cell)
        if meta.get("solution") and cell.cell_type == "code" and "carried-over" not in cell.metadata.get("tags", []):
            following = [nbgrader_meta(c).get("grade_id") for c in cells[i + 1:i + 3]]
            gid = meta["grade_id"]
            assert following == [f"{gid}_visible", f"{gid}_hidden"], f"{gid} is followed by {following}"


@pytest.mark.parametrize("path", COURSE_NOTEBOOKS, ids=lambda p: p.stem)
def test_student_notebooks_import_only_numpy_torch_matplotlib_and_stdlib(path: Path) -> None:
    nb = nbformat.read(str(path), as_version=4)
    imported = set()
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported.add((node.module or "").split(".")[0])
    assert imported <= STUDENT_IMPORTS, f"{path.name} imports {sorted(imported - STUDENT_IMPORTS)}"


@pytest.mark.parametrize("path", SOLUTION_NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_open_with_objectives(path: Path) -> None:
    nb = nbformat.read(str(path), as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), f"{path.name}: start with a title"
    graded = any(nbgrader_meta(c).get("grade") for c in nb.cells)
    if graded:
        assert "you will be able to" in first.source, f"{path.name}: state the learning objectives first"
        assert any("experiment" in c.metadata.get("tags", []) for c in nb.cells), f"{path.name}: end with an experiment"


@pytest.mark.parametrize("path", [*SOLUTION_NOTEBOOKS, *COURSE_NOTEBOOKS],
                         ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_notebooks_convert_to_lecture_slides(path: Path) -> None:
    """What a lecturer runs: `jupyter nbconvert --to slides`; every section heading starts a slide."""
    from nbconvert import SlidesExporter

    nb = nbformat.read(str(path), as_version=4)
    slides = [c for c in nb.cells if c.metadata.get("slideshow", {}).get("slide_type") == "slide"]
    assert len(slides) >= 3, f"{path.name}: mark each section's first cell as a slide"
    assert all(c.source.lstrip().startswith("#") for c in slides), f"{path.name}: slides should start at a heading"
    html, _ = SlidesExporter().from_notebook_node(nb)
    assert html.count('<section') >= len(slides), f"{path.name}: the slides lost sections"
