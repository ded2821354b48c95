"""``grader autograde``: grade every submission of a workspace with nbgrader, on several cores.

For each (student, assignment) the worker runs nbgrader's own ``autograde`` (sanitise, execute, save the
grades) and ``generate_feedback`` through its Python API. Submissions are spread over ``jobs`` worker
processes, each with its own nbgrader API object; they share the gradebook, which nbgrader writes one
notebook at a time (SQLite waits for its lock, see ``course.default_db_url``). Progress is printed as
submissions finish; a submission that cannot be graded is reported with nbgrader's reason and never stops
the others.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from grader.course import COURSE, GraderError, default_db_url, graded_assignments, make_api
from grader.release import generate, same_tree

if TYPE_CHECKING:
    from nbgrader.apps import NbGraderAPI

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    student: str
    assignment: str
    ok: bool
    seconds: float
    problem: str = ""  # why grading or feedback failed, in nbgrader's words


def default_jobs() -> int:
    """One worker per core: each notebook's kernel is CPU-bound, more workers than cores only queue."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def submissions(root: Path, students: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """(student, assignment) for every submitted folder of a graded assignment, sorted."""
    wanted = set(students) if students else None
    names = {a.name for a in graded_assignments()}
    found = []
    for folder in sorted((root / "submitted").glob("*/*")):
        student, assignment = folder.parent.name, folder.name
        if folder.is_dir() and assignment in names and (wanted is None or student in wanted):
            found.append((student, assignment))
    return found


def prepare(root: Path, db_url: str | None, students: Iterable[str]) -> list[str]:
    """Record the assignments (nbgrader restores hidden tests from them) and the students in the gradebook.

    Students are created here, once, because two workers grading one student's two assignments at the same
    time would both try to insert the student (a UNIQUE constraint failure). Returns warnings, e.g. when
    ``course/`` is not what ``solutions/`` generates: students would then have worked on another release.
    """
    from nbgrader.api import Gradebook

    release_dir = generate(root, db_url, only=graded_assignments())
    with Gradebook(db_url or default_db_url(root)) as gb:
        for student in sorted(set(students)):
            gb.update_or_create_student(student)
    return [
        f"course/{a.name} differs from a fresh release of solutions/{a.name}: run `python -m grader release` "
        "and make sure students have the current version."
        for a in graded_assignments()
        if not same_tree(release_dir / a.name, COURSE / a.name)
    ]


# -------------------------------------------------------------------------------------------------
# Worker side: one nbgrader API per process, created once.

_api: NbGraderAPI | None = None


def _init_worker(root: str, db_url: str | None, warm: bool) -> None:
    """Per worker: an nbgrader API, a private folder for kernel sockets and, if ``warm``, a zygote (grader.warm)."""
    global _api
    ipc_dir = Path(tempfile.mkdtemp(prefix="grader-kernels-"))
    atexit.register(shutil.rmtree, ipc_dir, ignore_errors=True)
    kernel_name = None
    if warm:
        from grader.warm import KERNEL_NAME, Zygote, install_kernelspec

        zygote = Zygote(ipc_dir / "zygote")
        atexit.register(zygote.stop)
        install_kernelspec(ipc_dir / "jupyter", zygote.socket_path)
        kernel_name = KERNEL_NAME
    _api = make_api(Path(root), db_url, kernel_ipc_dir=ipc_dir, kernel_name=kernel_name)


def unreadable_notebooks(folder: Path) -> list[str]:
    """Why each notebook in a submission folder cannot be read as a notebook (empty list: all fine)."""
    import nbformat

    problems = []
    for path in sorted(folder.glob("*.ipynb")):
        try:
            nbformat.read(str(path), as_version=4)
        except Exception as err:  # any reason a file is not a notebook is reported, none is fatal
            reason = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
            problems.append(f"{path.name} is not a readable notebook ({reason}); the file may be damaged or "
                            "not a notebook: ask the student for a new copy")
    return problems


def _grade(student: str, assignment: str) -> Outcome:
    assert _api is not None, "worker not initialised"
    start = time.perf_counter()
    problems = unreadable_notebooks(Path(_api.coursedir.format_path(
        _api.coursedir.submitted_directory, student, assignment)))
    if problems:
        return Outcome(student, assignment, False, time.perf_counter() - start, "; ".join(problems))
    result = _api.autograde(assignment, student, force=True, create=True)
    if not result.get("success") and _TRANSIENT in (result.get("log") or "") + (result.get("error") or ""):
        # A kernel that never came up says nothing about the submission: start it once more.
        result = _api.autograde(assignment, student, force=True, create=True)
    if not result.get("success"):
        problems.append("autograde: " + _last_error(result))
    else:
        feedback = _api.generate_feedback(assignment, student, force=True)
        if not feedback.get("success"):
            problems.append("feedback: " + _last_error(feedback))
    return Outcome(student, assignment, not problems, time.perf_counter() - start, "; ".join(problems))


_TRANSIENT = "Kernel didn't respond"  # jupyter_client: the kernel process never answered at start-up

_EXCEPTION_LINE = re.compile(r"^\s*([\w.]+(?:Error|Exception|Exit)): ")


def _last_error(result: dict) -> str:
    """The most informative line of nbgrader's log: the last exception raised, not its generic wrapper."""
    text = (result.get("error") or result.get("log") or "unknown error").strip()
    lines = text.splitlines()
    raised = [line.strip() for line in lines
              if _EXCEPTION_LINE.match(line) and "NbGraderException" not in line]
    errors = [line.strip() for line in lines if "[ERROR]" in line]
    return (raised or errors or lines)[-1][:300]


# -------------------------------------------------------------------------------------------------


def autograde(
    root: Path,
    *,
    db_url: str | None = None,
    jobs: int | None = None,
    students: Iterable[str] | None = None,
    progress: Callable[[str], None] | None = None,
    warm: bool = True,
) -> list[Outcome]:
    """Autograde and generate feedback for every submission in ``root/submitted``.

    warm: start kernels from a process with numpy, torch and matplotlib already imported (grader.warm); each
    submission still gets a fresh process of its own.
    """
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    tasks = submissions(root, students)
    if not tasks:
        raise GraderError(f"nothing to grade in {root / 'submitted'}: expected <student>/<assignment>/*.ipynb")
    for warning in prepare(root, db_url, (student for student, _ in tasks)):
        say(f"warning: {warning}")
    jobs = max(1, min(jobs or default_jobs(), len(tasks)))
    say(f"grading {len(tasks)} submission(s) with {jobs} worker(s)")
    outcomes: list[Outcome] = []
    start = time.perf_counter()

    def report(outcome: Outcome) -> None:
        outcomes.append(outcome)
        status = "ok" if outcome.ok else f"FAILED: {outcome.problem}"
        say(f"[{len(outcomes):>{len(str(len(tasks)))}}/{len(tasks)}] {outcome.student} {outcome.assignment} "
            f"{outcome.seconds:5.1f} s  {status}")

    if jobs == 1:
        _init_worker(str(root), db_url, warm)
        for task in tasks:
            report(_grade(*task))
    else:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker,
                                 initargs=(str(root), db_url, warm)) as pool:
            futures = {pool.submit(_grade, *task): task for task in tasks}
            for future in as_completed(futures):
                try:
                    report(future.result())
                except Exception as err:  # a worker process died: say so, keep the others
                    student, assignment = futures[future]
                    report(Outcome(student, assignment, False, 0.0, f"grading process failed: {err!r}"))
    say(f"graded {len(tasks)} submission(s) in {time.perf_counter() - start:.1f} s")
    return sorted(outcomes, key=lambda o: (o.student, o.assignment))
