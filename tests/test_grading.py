"""Real nbgrader runs on real notebooks: the solution, the untouched release and every mutant."""

from __future__ import annotations

import csv
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from grader.commands.export import read_table, write_csvs
from grader.compat.feedback import HIDDEN_NOTE
from grader.content.properties import NOT_IMPLEMENTED
from grader.project import graded_assignments
from grader.samples.mutants import Mutant, all_mutants
from grader.samples.submissions import answer_cells, read_notebook
from tests.conftest import BROKEN, RELEASE, SOLUTION, GradedClass, mutant_student
from tests.helpers import nbgrader_meta

NOTEBOOKS = [nb for a in graded_assignments() for nb in a.notebooks]


def _test_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and nbgrader_meta(c).get("grade")]


def _is_hidden(cell) -> bool:
    return "BEGIN HIDDEN TESTS" in cell.source


def test_every_submission_was_graded(graded_class: GradedClass) -> None:
    failed = [(o.student, o.assignment, o.problem) for o in graded_class.outcomes if not o.ok and o.student != BROKEN]
    assert not failed, f"nbgrader could not grade: {failed}"


def test_a_broken_notebook_is_reported_and_costs_nobody_else(graded_class: GradedClass) -> None:
    from grader.commands.export import format_table, read_table

    broken = [o for o in graded_class.outcomes if o.student == BROKEN]
    assert len(broken) == 1 and not broken[0].ok
    assert "not a readable notebook" in broken[0].problem and "JSON" in broken[0].problem, broken[0].problem
    table = read_table(graded_class.root, failed={(o.student, o.assignment) for o in broken})
    assert re.search(rf"^{BROKEN}\s+error", format_table(table), re.M)
    assert all(o.ok for o in graded_class.outcomes if o.student in (SOLUTION, RELEASE))


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_solution_earns_every_automatic_point(graded_class: GradedClass, notebook: str) -> None:
    grades = graded_class.grades(SOLUTION, notebook)
    assert grades, f"no grades recorded for the solution of {notebook}"
    nb = graded_class.autograded(SOLUTION, notebook)
    written = {nbgrader_meta(c)["grade_id"] for c in nb.cells
               if c.cell_type == "markdown" and nbgrader_meta(c).get("grade")}
    lost = {gid: g for gid, g in grades.items() if gid not in written and g[0] != g[1]}
    assert not lost, f"the solution of {notebook} loses points on {lost}"
    for gid in written:
        assert grades[gid][0] is None, f"written answer {gid} should await a person's grade, got {grades[gid]}"


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_untouched_release_scores_zero_with_not_implemented(graded_class: GradedClass, notebook: str) -> None:
    grades = graded_class.grades(RELEASE, notebook)
    assert all(score == 0 for score, _ in grades.values()), f"the untouched release of {notebook} earns {grades}"
    for cell in _test_cells(graded_class.autograded(RELEASE, notebook)):
        gid = nbgrader_meta(cell)["grade_id"]
        errors = [o for o in cell.outputs if o.output_type == "error"]
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        if _is_hidden(cell):
            assert not errors and NOT_IMPLEMENTED in text, f"{gid}: expected 'not implemented yet', got {cell.outputs}"
        else:
            enames = [e.ename for e in errors]
            assert enames == ["NotImplementedError"], f"{gid} failed with {enames}"


@pytest.mark.parametrize("student", [SOLUTION, RELEASE])
@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_no_test_cell_writes_to_stderr(graded_class: GradedClass, student: str, notebook: str) -> None:
    for cell in _test_cells(graded_class.autograded(student, notebook)):
        stderr = [o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
        assert not stderr, f"{nbgrader_meta(cell)['grade_id']} wrote to stderr (nbgrader zeroes it): {stderr}"


def test_hidden_cells_never_write_to_stderr_even_for_wrong_code(graded_class: GradedClass) -> None:
    for mutant in all_mutants():
        for cell in _test_cells(graded_class.autograded(mutant_student(mutant), mutant.notebook)):
            if _is_hidden(cell):
                assert not [o for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"], (
                    f"{mutant.name}: hidden cell {nbgrader_meta(cell)['grade_id']} wrote to stderr")


@pytest.mark.parametrize("mutant", all_mutants(), ids=lambda m: m.name)
def test_mutant_loses_points_where_expected(graded_class: GradedClass, mutant: Mutant) -> None:
    grades = graded_class.grades(mutant_student(mutant), mutant.notebook)
    for gid in mutant.catches:
        score, max_score = grades[gid]
        assert score is not None and score < max_score, (
            f"mutant {mutant.name} ({mutant.mistake}) keeps {score}/{max_score} on {gid}")


def test_every_exercise_has_four_mutants() -> None:
    counts = Counter((m.notebook, m.cell) for m in all_mutants())
    for assignment in graded_assignments():
        for notebook in assignment.notebooks:
            nb = read_notebook(assignment.source_dir / f"{notebook}.ipynb")
            for gid, cell in answer_cells(nb).items():
                if cell.cell_type == "code" and "carried-over" not in cell.metadata.get("tags", []):
                    assert counts[(notebook, gid)] >= 4, f"{notebook}:{gid} has {counts[(notebook, gid)]} mutants"


def test_mutants_target_real_cells() -> None:
    for mutant in all_mutants():
        assignment = next(a for a in graded_assignments() if mutant.notebook in a.notebooks)
        nb = read_notebook(assignment.source_dir / f"{mutant.notebook}.ipynb")
        ids = {nbgrader_meta(c).get("grade_id") for c in nb.cells}
        assert mutant.cell in answer_cells(nb), f"{mutant.name}: no answer cell {mutant.cell}"
        assert set(mutant.catches) <= ids, f"{mutant.name}: unknown test cells {set(mutant.catches) - ids}"


@pytest.mark.parametrize("student", [SOLUTION, RELEASE, *(mutant_student(m) for m in all_mutants()[:6])])
def test_feedback_shows_hidden_tests_by_name_never_by_source(graded_class: GradedClass, student: str) -> None:
    notebooks = NOTEBOOKS if student in (SOLUTION, RELEASE) else [m.notebook for m in all_mutants()
                                                                 if mutant_student(m) == student]
    for notebook in notebooks:
        html = graded_class.feedback_html(student, notebook)
        source = read_notebook(next(a for a in graded_assignments() if notebook in a.notebooks).source_dir
                               / f"{notebook}.ipynb")
        hidden_lines = {
            line.strip()
            for cell in source.cells if _is_hidden(cell)
            for line in re.search(r"BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", cell.source, re.S)[1].splitlines()
            if line.strip()
        }
        assert hidden_lines
        leaked = [line for line in hidden_lines if line in html]
        assert not leaked, f"feedback for {student}/{notebook} shows hidden test code: {leaked}"
        assert "BEGIN HIDDEN TESTS" not in html
        assert "hidden tests:" in html, "the hidden tests' report (names, points) is missing from the feedback"
        assert html.count(HIDDEN_NOTE.lstrip("# ")) >= sum(_is_hidden(c) for c in source.cells)


def test_grades_export(graded_class: GradedClass) -> None:
    from grader.commands.export import format_table, read_table, write_csvs

    table = read_table(graded_class.root)
    long_csv, wide_csv = write_csvs(table, graded_class.root)
    with wide_csv.open(newline="") as fh:
        reader = csv.DictReader(fh)
        columns, (maxima, *rows) = reader.fieldnames, list(reader)
    assert columns == ["student", "first_name", "last_name", "email", "lms_user_id", *NOTEBOOKS, "total",
                       "max_total", "awaiting_a_person"]
    assert maxima["student"] == "Points Possible" and float(maxima["total"]) == pytest.approx(table.max_total)
    assert [r["student"] for r in rows] == list(table.rows)
    [solution_row] = [r for r in rows if r["student"] == SOLUTION]
    earned = sum(score or 0 for nb in NOTEBOOKS for score, _ in graded_class.grades(SOLUTION, nb).values())
    assert float(solution_row["total"]) == pytest.approx(earned)
    assert "student_id" in long_csv.read_text().splitlines()[0]
    text = format_table(table)
    assert re.search(rf"^{RELEASE}\s+0/", text, re.M), text


def test_the_integrity_recheck_flags_no_honest_submission(graded_class: GradedClass) -> None:
    """Solution, release and all mutants: the out-of-process scores never fall below the in-kernel ones."""
    from grader.integrity.report import IntegrityLog

    log = IntegrityLog(graded_class.root)
    assert not log.flagged(), log.flagged()[:3]
    unverified = [(v.grade_id, v.reason) for *_, v in log.verdicts() if not v.verified]
    assert not unverified, f"honest submissions' re-checks must finish: {unverified[:3]}"
    solution = [v for student, _, _, v in log.verdicts() if student == SOLUTION]
    assert len(solution) >= 56, "every hidden and visible test of every notebook is re-checked out of process"
    not_full = [v for v in solution if v.out_of_process != v.max_points]
    assert not not_full, not_full
    classes = {"Embedding", "linear_from_embedding", "EmbeddingFunction", "TinyLM", "count_parameters",
               "LearnedPositions", "FactorizedEmbedding"}
    assert classes <= {v.name for v in solution}, "classes and module-taking functions are re-checked too"


def test_no_test_scores_higher_outside_the_kernel(graded_class: GradedClass) -> None:
    """Honest code scores the same both ways: a visible test that scores higher on the grader's side says the grading
    environment differs (hidden tests run only there). The one case that used to — a Linear that shares storage with
    the embedding passed in, which a copied mirror made look independent — is a view of the argument here too."""
    from grader.integrity.report import IntegrityLog

    log = IntegrityLog(graded_class.root)
    assert not log.environment(), log.environment()[:3]
    assert "grading environment" not in log.summary()
    mutant = graded_class.grades("m-linear_shares_storage", "01_lookup")["linear_from_embedding_hidden"]
    assert mutant[0] < mutant[1], f"a Linear that shares the embedding's storage must lose points: {mutant}"


# ------------------------------------------------------------------------------ what an LMS gets
def _copy(graded: GradedClass, tmp_path: Path) -> tuple[Path, str]:
    shutil.copy(graded.root / "gradebook.db", tmp_path / "gradebook.db")
    return tmp_path, f"sqlite:///{tmp_path / 'gradebook.db'}"


def _written(db_url: str) -> list:
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        return [(nb.name, g.name, g.max_score) for sub in gb.student_submissions(SOLUTION)
                for nb in sub.notebooks for g in nb.grades if g.auto_score is None]


def _rows(root: Path, db_url: str) -> list[dict[str, str]]:
    write_csvs(read_table(root, db_url), root, db_url)
    with (root / "grades_by_student.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_the_lms_csv_names_maxima_and_what_waits_for_a_person(graded_sample: GradedClass, tmp_path: Path) -> None:
    from nbgrader.api import Gradebook

    root, db_url = _copy(graded_sample, tmp_path)
    written = _written(db_url)
    assert written, "the solution has written answers: none waiting would prove nothing"
    with Gradebook(db_url) as gb:
        gb.update_or_create_student(SOLUTION, first_name="Ada", last_name="=HYPERLINK(1)", email="ada@example.org")
    table = read_table(root, db_url)
    rows = _rows(root, db_url)
    assert rows[0]["student"] == "Points Possible"
    assert {nb: float(rows[0][nb]) for nb in table.notebooks} == table.max_scores
    [mine] = [r for r in rows if r["student"] == SOLUTION]
    assert (mine["first_name"], mine["last_name"], mine["email"]) == ("Ada", "'=HYPERLINK(1)", "ada@example.org")
    waiting = sorted({nb for nb, _, _ in written})
    assert sorted(mine["awaiting_a_person"].split(";")) == waiting, mine
    before = float(mine["total"])

    with Gradebook(db_url) as gb:   # a person grades every written answer; nbgrader then flags them for review
        for nb, grade_id, max_score in written:
            notebook = gb.find_submission_notebook(nb, _assignment(gb, nb), SOLUTION)
            grade = next(g for g in notebook.grades if g.name == grade_id)
            grade.manual_score = max_score
            grade.needs_manual_grade = True   # what nbgrader's autograde sets when it grades a hand-graded answer
        gb.db.commit()
    [mine] = [r for r in _rows(root, db_url) if r["student"] == SOLUTION]
    assert mine["awaiting_a_person"] == "", "a hand-graded answer is not waiting, even when flagged for review"
    assert float(mine["total"]) == before + sum(m for _, _, m in written)
    assert not any(c.manual_pending for c in read_table(root, db_url).rows[SOLUTION].values())


def _assignment(gb: object, notebook: str) -> str:
    return next(a.name for a in gb.assignments if any(nb.name == notebook for nb in a.notebooks))
