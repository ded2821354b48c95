"""Hostile and broken submissions (grader.samples.hostile), graded by the real pipeline in one run, each beside its
twin.

Every attack scores no more than its honest twin, every attack that gains points in the kernel is flagged, every
odd-but-honest submission scores what its twin scores, the grader never crashes, submitted files are never
modified, nothing is written outside a student's working copy, and the gradebook holds a complete, consistent row
for every student.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from grader.grading import sandbox
from grader.grading.engine import Outcome, autograde, default_jobs
from grader.grading.sandbox import Isolation, Limits
from grader.integrity.report import IntegrityLog
from grader.project import GraderError, default_db_url, graded_assignments
from grader.samples.hostile import CASES, NOTEBOOK, UNREADABLE, Case, solution
from tests.conftest import seed
from tests.helpers import cell_grades

ASSIGNMENT = next(a for a in graded_assignments() if NOTEBOOK in a.notebooks).name
CELL_SECONDS = 20   # a swallowed KeyboardInterrupt costs this, not the course's 120 s


@dataclass
class Corpus:
    root: Path
    outcomes: dict[str, Outcome]
    twin_of: dict[str, str]          # case name -> the student id of its twin
    hashes: dict[Path, str]          # every submitted file -> sha256 before grading

    def total(self, student: str) -> float:
        grades = cell_grades(default_db_url(self.root), student, ASSIGNMENT, NOTEBOOK)
        return sum(score or 0.0 for score, _ in grades.values())

    def autograded(self, student: str) -> nbformat.NotebookNode:
        path = self.root / "autograded" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
        return nbformat.read(str(path), as_version=4)


def solution_bytes() -> bytes:
    return nbformat.writes(solution()).encode()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, grading_template: Path) -> Iterator[Corpus]:
    root = seed(tmp_path_factory.mktemp("hostile"), grading_template)
    twins: dict[bytes, str] = {}
    twin_of: dict[str, str] = {}

    def submit(student: str, data: bytes) -> None:
        path = root / "submitted" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_bytes(data)

    for case in CASES:
        submit(f"h-{case.name}", case.make())
        twin = case.twin()
        if twin not in twins:
            twins[twin] = f"twin-{len(twins)}"
            submit(twins[twin], twin)
        twin_of[case.name] = twins[twin]
    for name, make in UNREADABLE.items():
        submit(f"u-{name}", make())
    honest = solution_bytes()
    folder = root / "submitted"
    for student, files in {"f-renamed": {f"{NOTEBOOK} (1).ipynb": honest},
                           "f-extra-notebook": {f"{NOTEBOOK}.ipynb": honest, "scratch.ipynb": honest},
                           "f-no-notebook": {"answers.txt": b"see attached"}}.items():
        (folder / student / ASSIGNMENT).mkdir(parents=True)
        for filename, data in files.items():
            (folder / student / ASSIGNMENT / filename).write_bytes(data)
    hashes = {p: _sha(p) for p in (root / "submitted").rglob("*") if p.is_file()}
    isolation = Isolation(limits=Limits(cell_seconds=CELL_SECONDS))
    outcomes = autograde(root, jobs=default_jobs(), progress=lambda line: None, isolation=isolation)
    yield Corpus(root, {o.student: o for o in outcomes}, twin_of, hashes)


def _case_ids(case: Case) -> str:
    return case.name


def test_the_grader_never_crashes_and_unreadable_files_get_a_message(corpus: Corpus) -> None:
    for case in CASES:
        outcome = corpus.outcomes[f"h-{case.name}"]
        assert outcome.ok, f"{case.name} ({case.what}) could not be graded: {outcome.problem}"
    for name in UNREADABLE:
        outcome = corpus.outcomes[f"u-{name}"]
        why = "more than the" if name == "six-mb-of-source" else "not a readable notebook"
        assert not outcome.ok and why in outcome.problem and NOTEBOOK in outcome.problem, (
            f"{name}: expected a per-student message naming the file, got {outcome.problem!r}")
        assert outcome.seconds < 30, f"{name}: refusing it took {outcome.seconds:.0f} s of a worker's time"


def test_renamed_extra_and_missing_notebooks_get_a_fair_score_and_a_note(corpus: Corpus) -> None:
    full = corpus.total(corpus.twin_of["network"])   # the twin of "network" is the full solution
    for student in ("f-renamed", "f-extra-notebook"):
        outcome = corpus.outcomes[student]
        assert outcome.ok and corpus.total(student) == pytest.approx(full), (student, outcome)
        assert outcome.notes, f"{student}: the report must say what was done"
    assert "graded as 01_lookup.ipynb" in corpus.outcomes["f-renamed"].notes[0]
    assert "scratch.ipynb" in corpus.outcomes["f-extra-notebook"].notes[0]
    missing = corpus.outcomes["f-no-notebook"]
    assert not missing.ok and f"no {NOTEBOOK}.ipynb in the submission" in missing.problem, missing


@pytest.mark.parametrize("case", CASES, ids=_case_ids)
def test_no_attack_scores_more_than_its_honest_twin(corpus: Corpus, case: Case) -> None:
    attack, twin = corpus.total(f"h-{case.name}"), corpus.total(corpus.twin_of[case.name])
    if case.expect == "same":
        assert attack == pytest.approx(twin), f"{case.name} ({case.what}) scored {attack}, its twin {twin}"
    else:
        assert attack <= twin + 1e-6, f"{case.name} ({case.what}) scored {attack}, more than its twin's {twin}"


@pytest.mark.parametrize("case", [c for c in CASES if c.expect == "flagged"], ids=_case_ids)
def test_attacks_that_gain_in_the_kernel_are_flagged_with_a_reason(corpus: Corpus, case: Case) -> None:
    rows = [r for r in IntegrityLog(corpus.root).flagged() if r["student"] == f"h-{case.name}"]
    assert rows, f"{case.name} ({case.what}) gained points in the kernel but was not flagged"
    assert all(r["reason"] and r["in_kernel"] > r["out_of_process"] for r in rows), rows
    nb = corpus.autograded(f"h-{case.name}")
    flagged_ids = {r["test"] for r in rows}
    notes = ["".join(o.get("text", "") for o in c.outputs if o.output_type == "stream") for c in nb.cells
             if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade_id") in flagged_ids]
    assert notes and all("Integrity check" in note for note in notes), "the feedback must say why points went"


@pytest.mark.parametrize("case", [c for c in CASES if c.expect == "unverified"], ids=_case_ids)
def test_a_recheck_that_cannot_finish_fails_closed_and_is_reported_for_review(corpus: Corpus, case: Case) -> None:
    log = IntegrityLog(corpus.root)
    student = f"h-{case.name}"
    rows = [r for r in log.unverified() if r["student"] == student]
    assert rows, f"{case.name} ({case.what}) stopped the re-check but nothing is reported as could not be verified"
    assert not [r for r in log.flagged() if r["student"] == student], "not verified is not the same as flagged"
    assert student in log.summary() and "could not be verified" in log.summary()
    nb = corpus.autograded(student)
    notes = ["".join(o.get("text", "") for o in c.outputs if o.output_type == "stream") for c in nb.cells
             if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade_id") in {r["test"] for r in rows}]
    assert notes and all("could not be completed" in note for note in notes), "the feedback says why points went"


def test_a_hostile_notebook_costs_at_most_its_own_budget(corpus: Corpus) -> None:
    """Hanging the re-check costs that student's notebook its deadline, not the run: it ends like any other."""
    assert corpus.outcomes["h-hang-the-recheck"].ok
    assert corpus.outcomes["h-hang-the-recheck"].seconds < 10 * CELL_SECONDS


@pytest.mark.parametrize("case", [c for c in CASES if "leak" in c.tags], ids=_case_ids)
def test_nothing_outside_the_sandbox_is_read_through_what_the_student_left(corpus: Corpus, case: Case) -> None:
    """The student's feedback holds their notebook's page and nothing else: no file the grader's side was led to
    copy, no hidden test or reference source, no root-only file."""
    student = f"h-{case.name}"
    feedback = corpus.root / "feedback" / student / ASSIGNMENT
    assert sorted(p.name for p in feedback.iterdir()) == [f"{NOTEBOOK}.html"], sorted(feedback.iterdir())
    page = (feedback / f"{NOTEBOOK}.html").read_text(encoding="utf-8")
    for secret in ("def grade_", "BEGIN HIDDEN TESTS", "from grader", "root:", "BEGIN SOLUTION"):
        assert secret not in page, f"{case.name}: the feedback page shows {secret!r}"


def test_no_link_the_students_left_is_in_the_workspace(corpus: Corpus) -> None:
    links = [p for p in corpus.root.rglob("*") if p.is_symlink()]
    assert not links, links[:5]


def test_student_scripts_do_not_run_in_the_feedback_page(corpus: Corpus) -> None:
    page = (corpus.root / "feedback" / "h-script-in-output" / ASSIGNMENT / f"{NOTEBOOK}.html").read_text()
    handlers = re.findall(r"<[a-zA-Z][^<>]*\son\w+\s*=", page)   # an event handler in a tag (not in shown code)
    assert "<script>document.title" not in page and not handlers, f"student HTML must be sanitised: {handlers[:3]}"
    assert "document.title = 'PWNED';\n" not in page, "a JavaScript output must not be put in a script"
    assert "&lt;p&gt;" not in page and "<h1" in page and "<strong>" in page, "Markdown still renders as HTML"


def test_no_honest_submission_is_flagged(corpus: Corpus) -> None:
    honest = {*corpus.twin_of.values(), *(f"h-{c.name}" for c in CASES if c.expect == "same")}
    log = IntegrityLog(corpus.root)
    flagged = {r["student"] for r in log.flagged()}
    assert not honest & flagged, f"honest submissions flagged: {sorted(honest & flagged)}"
    unverified = {r["student"] for r in log.unverified()}
    assert not honest & unverified, f"honest submissions not verified: {sorted(honest & unverified)}"


@pytest.mark.parametrize("case", [c for c in CASES if "crash" in c.tags], ids=_case_ids)
def test_a_dead_or_stuck_kernel_costs_one_cell_and_says_why(corpus: Corpus, case: Case) -> None:
    student = f"h-{case.name}"
    assert corpus.total(student) >= corpus.total(corpus.twin_of[case.name]) - 1e-6 > 0, (
        f"{case.name}: the credit earned outside the crashing cell must be kept")
    nb = corpus.autograded(student)
    answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "one_hot")
    errors = [o for o in answer.outputs if o.output_type == "error" and o.ename in ("KernelDied", "CellTimeoutError")]
    assert errors, f"{case.name}: the cell must say what happened to the kernel: {answer.outputs}"
    message = errors[-1].evalue
    assert "kernel" in message and ("s and was stopped" in message or "exited" in message or "killed" in message)
    assert "(cell " in message, "the message names the cell"
    assert any("[one_hot]" in note for note in corpus.outcomes[student].notes), "the report lists the incident"


def test_submitted_files_are_never_modified(corpus: Corpus) -> None:
    for path, digest in corpus.hashes.items():
        assert _sha(path) == digest, f"{path} was modified by grading"


def test_nothing_is_written_outside_the_working_copy(corpus: Corpus) -> None:
    assert not Path("/tmp/escape.txt").exists()
    assert not list(corpus.root.rglob("escape.txt")), "a student wrote into the class workspace"


def test_huge_output_is_capped_in_the_autograded_notebook_and_feedback(corpus: Corpus) -> None:
    student = "h-huge-print"
    path = corpus.root / "autograded" / student / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    assert path.stat().st_size < 2_000_000
    feedback = corpus.root / "feedback" / student / ASSIGNMENT / f"{NOTEBOOK}.html"
    assert feedback.stat().st_size < 3_000_000


def test_the_gradebook_holds_a_complete_row_for_every_graded_student(corpus: Corpus) -> None:
    expected = set(cell_grades(default_db_url(corpus.root), corpus.twin_of[CASES[0].name], ASSIGNMENT, NOTEBOOK))
    for student, outcome in corpus.outcomes.items():
        if not outcome.ok:
            continue
        grades = cell_grades(default_db_url(corpus.root), student, ASSIGNMENT, NOTEBOOK)
        assert set(grades) == expected, f"{student}: grade cells {sorted(set(grades) ^ expected)} differ"
        for grade_id, (score, max_score) in grades.items():
            assert score is None or 0 <= score <= max_score, f"{student} {grade_id}: {score} of {max_score}"


def test_grading_refuses_to_run_unprotected_without_an_explicit_opt_out(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    sandbox.unavailable_reason.cache_clear()
    try:
        with pytest.raises(GraderError, match="--no-sandbox"):
            sandbox.require_sandbox(Isolation())
        sandbox.require_sandbox(Isolation(sandbox=False))  # the explicit opt-out is accepted
    finally:
        sandbox.unavailable_reason.cache_clear()
