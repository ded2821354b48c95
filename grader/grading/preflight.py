"""The pre-flight check: before the first student is graded, prove that grading works where it must run.

A broken grading environment does not crash: it grades. A kernel that cannot import the hidden tests' modules scores
every test 0, and a class of silent zeros looks like a hard assignment. So before a run grades anyone, each assignment
it is about to grade is graded once through the very same path — the workers, the sandbox, nbgrader, the re-check —
with the instructor's own solution as the submission. It must earn every automatic point in the kernel and the same
points out of process; anything else stops the run with what went wrong and how to fix it, and no student is graded.

The tools nbgrader shells out to are checked first (:func:`check_tools`).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path

import nbformat

from grader import cells
from grader.grading.executor import Result, Task
from grader.project import Assignment, GraderError

STUDENT = "grader-preflight"   # the canary's student id (never written to the class's gradebook or workspace)
STOP = "No student has been graded."


def check_tools() -> None:
    """nbgrader runs ``alembic`` from PATH to create and upgrade gradebooks (this interpreter's ``bin/`` goes first)."""
    from grader.project import ensure_tools_on_path

    ensure_tools_on_path()
    if shutil.which("alembic") is None:
        raise GraderError(f"`alembic` is not on PATH (nbgrader needs it to create the gradebook); it belongs in "
                          f"{Path(sys.executable).parent}: run `make setup`, or put that folder on PATH. {STOP}")


def canary_tasks(assignments: Iterable[Assignment], release_dir: Path) -> list[Task]:
    """The instructor's solution of each assignment, handed in as a submission by :data:`STUDENT`: the fresh
    ``release_dir`` generated from ``solutions/`` with every answer filled in (not ``course/``, which may be stale)."""
    from grader.samples.submissions import fill

    return [Task(STUDENT, a.name, {nb: nbformat.writes(fill(a, nb, release_dir=release_dir)).encode()
                                   for nb in a.notebooks})
            for a in assignments]


def transient(result: Result) -> bool:
    """A failure that says nothing about the environment: a kernel or process that did not answer on a busy machine
    (the canary is then graded once more before the run is refused)."""
    return not result.ok and any(sign in result.problem for sign in ("Kernel didn't respond", "grading process"))


def check_canary(result: Result) -> None:
    """Raise a GraderError saying what failed unless the solution earned every automatic point both in the kernel
    and out of process."""
    from nbgrader.utils import determine_grade

    from grader.integrity import recheck
    from grader.project import SOLUTIONS

    where = f"the instructor's solution of {result.assignment}"
    if not result.ok:
        raise GraderError(f"the grading environment is broken: {where} could not be graded: {result.problem}\n"
                          f"{_hint(result.problem)} {STOP}")
    failures = []
    for name, data in sorted(result.autograded.items()):
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        for cell in nb.cells:
            if not cells.is_test_cell(cell):
                continue  # written answers and manually graded code await a person
            score, points = determine_grade(cell)
            if score is None or score < points - 1e-9:
                errors = [f"{o.get('ename')}: {o.get('evalue')}" for o in cell.get("outputs", [])
                          if o.get("output_type") == "error"]
                failures.append(f"{name} {cell.metadata.nbgrader.grade_id}: {score or 0:g} of {points:g} points in "
                                f"the kernel{(' (' + errors[-1][:300] + ')') if errors else ''}")
    for name in sorted(result.autograded):
        source = json.loads((SOLUTIONS / result.assignment / f"{name}.ipynb").read_text(encoding="utf-8"))
        expected = {t.grade_id for t in recheck.hidden_tests(source)} | set(recheck.visible_tests(source))
        seen = {v.grade_id for v in recheck.loads(result.integrity[name])} if name in result.integrity else set()
        if expected - seen:
            failures.append(f"{name}: not re-checked out of process: {', '.join(sorted(expected - seen))}")
    for name, data in sorted(result.integrity.items()):
        for verdict in recheck.loads(data):
            expected = verdict.max_points if verdict.hidden else verdict.in_kernel
            if not verdict.verified or verdict.out_of_process is None or expected is None \
                    or abs(verdict.out_of_process - expected) > 1e-6:
                kernel = "hidden test" if verdict.hidden else f"{verdict.in_kernel} in the kernel but"
                failures.append(f"{name} {verdict.grade_id}: {kernel} {verdict.out_of_process} of "
                                f"{verdict.max_points:g} out of process ({verdict.reason[:300] or 'no reason'})")
    if failures:
        shown = "\n  ".join(failures[:8]) + (f"\n  … and {len(failures) - 8} more" if len(failures) > 8 else "")
        raise GraderError(f"the grading environment is broken: {where} does not earn full marks here:\n  {shown}\n"
                          f"{_hint(' '.join(failures))} {STOP}")


def _hint(problem: str) -> str:
    if problem.startswith("refused"):
        return ""  # the refusal says what differs and what to do
    if "hidden test" in problem and "out of process" in problem:
        return ("The hidden tests or the references they compare with (grader/content/hidden/, "
                "grader/content/reference/) disagree "
                "with the solution notebook in solutions/: `make test` (tests/test_reference.py) says where.")
    if any(sign in problem for sign in ("Kernel didn't respond", "DeadKernel", "kernel died", "did not start")):
        return "Kernels do not start or do not answer in the sandbox: run with GRADER_DEBUG=1 to see nbgrader's log."
    return "Run with GRADER_DEBUG=1 to see nbgrader's log, fix the environment, and grade again."
