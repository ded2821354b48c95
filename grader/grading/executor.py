"""Where notebooks are executed: worker processes that grade one submission at a time and write nothing shared.

A worker receives a :class:`Task` — one student's notebooks for one assignment, as bytes — and returns a
:class:`Result` — the autograded notebooks and their feedback pages, as bytes. To run nbgrader's own ``autograde``
and ``generate_feedback`` it keeps a private scratch course (a temporary folder and a copy of a template gradebook
that holds the assignments); the class's gradebook is only ever written by the coordinator
(:mod:`grader.grading.engine`), one result at a time. Workers therefore never contend for the gradebook, SQLite and
PostgreSQL behave the same, and a worker that dies takes nothing with it.

Executors hand tasks to workers: :class:`LocalExecutor` (processes on this machine) and :class:`DaskExecutor`
(a Dask distributed cluster; optional dependency). Both yield results as they finish.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import CancelledError, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from grader import cells
from grader.grading import fingerprint
from grader.grading.repair import repair_bytes
from grader.grading.sandbox import Isolation
from grader.project import COURSE, last_error

if TYPE_CHECKING:
    from nbgrader.apps import NbGraderAPI

    from grader.grading.zygote_client import Zygote


@dataclass(frozen=True)
class Settings:
    """How a worker runs student code: warm kernels (torch imported before the fork) and the isolation."""

    warm: bool = True
    isolation: Isolation = field(default_factory=Isolation)


@dataclass(frozen=True)
class Task:
    """One student's submission of one assignment."""

    student: str
    assignment: str
    notebooks: dict[str, bytes]          # notebook name -> the submitted file, byte for byte
    timestamp: str | None = None         # nbgrader's timestamp.txt, if the submission had one


@dataclass(frozen=True)
class Job:
    """What every task of one run shares: the template gradebook (the assignments, no students) and the manifest of
    the coordinator's grading code (:mod:`grader.grading.fingerprint`), which a worker must match to grade."""

    template_db: bytes
    manifest: fingerprint.Manifest


@dataclass(frozen=True)
class Result:
    student: str
    assignment: str
    ok: bool
    seconds: float
    problem: str = ""                                          # why it could not be graded, in nbgrader's words
    autograded: dict[str, bytes] = field(default_factory=dict)  # notebook name -> autograded notebook
    feedback: dict[str, bytes] = field(default_factory=dict)    # notebook name -> feedback HTML
    integrity: dict[str, bytes] = field(default_factory=dict)   # notebook name -> re-check verdicts (JSON)
    notes: list[str] = field(default_factory=list)              # what was repaired before grading, for the report
    fingerprint: str = ""                                       # of the grading code this worker graded with


# ------------------------------------------------------------------------------------------------- worker side

_TRANSIENT = "Kernel didn't respond"  # jupyter_client: the kernel process never answered at start-up


@dataclass
class _Worker:
    """A worker's private scratch course, created on its first task and reused for the next ones.

    Layout of ``root``: ``gradebook-<template>.db`` (a copy of the template), ``submitted/``, ``autograded/`` and
    ``feedback/`` (one submission at a time), ``control/`` (the zygotes' sockets and ``runtime/``, the kernels'
    connection files), ``kernels/`` (a fresh folder per submission for its kernels' sockets and working folder) and
    ``rwork/`` (a fresh folder per notebook for its re-check process). Only ``kernels/`` (kernel sandbox) and
    ``rwork/`` (re-check sandbox) exist inside the sandboxes, writable; nothing the trusted side reads, writes or
    follows is ever in them, and what the students left there is removed without following a link
    (:func:`remove_contents`) after every process they started is gone.
    """

    key: str                  # the settings it was booted with
    root: Path
    zygote: Zygote            # forks nbgrader's kernels
    subject: Zygote           # forks the re-check's subject processes (no grader package in sight)
    settings: Settings
    code: str = ""            # the fingerprint of the grading code when it booted (what its imported modules are)
    api: NbGraderAPI | None = None
    template: str = ""        # hash of the gradebook template the scratch course holds

    def subject_zygote(self) -> Zygote:
        self.subject.ensure()
        return self.subject


_worker: _Worker | None = None


def _forget_worker() -> None:
    """A forked process must build its own scratch course: sockets and zygotes are not shared across processes."""
    global _worker
    _worker = None


os.register_at_fork(after_in_child=_forget_worker)


def boot(settings: Settings) -> _Worker:
    """Make this process a grading worker: a scratch folder, the kernel and re-check zygotes, torch warmed up.

    Everything here is independent of the class being graded, so a :class:`LocalExecutor` runs it in each worker
    process as soon as the pool starts, while the coordinator is still preparing the gradebook. Both zygotes
    start side by side and import torch while this process warms up its own (the hidden tests run here too,
    against mirrors: an optimiser's first step alone costs ~1.5 s in a fresh process).
    """
    global _worker
    key = repr(settings)
    if _worker is not None and _worker.key == key:
        _worker.zygote.ensure()
        return _worker
    single_threaded_torch()  # first, before any tensor operation
    from grader.compat.kernels import install_kernelspec, worker_environment
    from grader.grading.zygote_client import Zygote
    from grader.sandboxed.zygote import warm_up

    root = Path(tempfile.mkdtemp(prefix="grader-worker-"))
    _at_exit(shutil.rmtree, root, ignore_errors=True)
    control = root / "control"
    (control / "runtime").mkdir(parents=True, mode=0o700)
    control.chmod(0o700)
    for sandboxed in ("kernels", "rwork"):
        (root / sandboxed).mkdir(mode=0o755)
    (root / "autograded").mkdir()
    worker_environment(control / "runtime", root / "jupyter")  # connection files: their contents go in by request
    zygote = Zygote(control / "kernel.sock", settings.isolation, "kernel", writable=[root / "kernels"],
                    preload=settings.warm, wait=False)
    _at_exit(zygote.stop)
    subject = Zygote(control / "subject.sock", settings.isolation, "subject", writable=[root / "rwork"],
                     preload=settings.warm, wait=False)
    _at_exit(subject.stop)
    try:
        warm_up()
        zygote.ensure()
        subject.ensure()
    except BaseException:  # nothing half-started stays behind; the next task tries again from scratch
        zygote.stop()
        subject.stop()
        shutil.rmtree(root, ignore_errors=True)
        raise
    install_kernelspec(root / "jupyter", zygote)
    _worker = _Worker(key, root, zygote, subject, settings, fingerprint.fingerprint())
    return _worker


def _at_exit(function: Callable[..., object], *args: object, **kwargs: object) -> None:
    """Run ``function`` when this process exits: as a plain interpreter (atexit) or as a multiprocessing or Dask
    worker process, whose exit skips atexit (multiprocessing's own finalizers run instead). Finalizers run in
    reverse order of registration, the scratch folder last, after the zygotes that use it have stopped."""
    import multiprocessing.util

    atexit.register(function, *args, **kwargs)
    multiprocessing.util.Finalize(None, function, args=args, kwargs=kwargs, exitpriority=0)


def single_threaded_torch() -> None:
    """One torch thread in this worker. A worker forked from a process whose torch had started its OpenMP threads
    (a notebook or a test suite calling autograde()) would otherwise deadlock at its first parallel operation: GNU
    OpenMP cannot fork. One thread also keeps the worker's small tensors from competing with the kernels for cores."""
    import torch

    torch.set_num_threads(1)


def _boot_in_background(settings: Settings) -> None:
    """Pool initializer: boot now if possible. A failure here is not fatal to the pool: the first task boots
    again and reports the reason as that submission's problem."""
    with contextlib.suppress(Exception):
        boot(settings)


def _scratch(template_db: bytes, settings: Settings) -> _Worker:
    """The booted worker with a scratch course whose gradebook is a copy of ``template_db``."""
    from grader.compat import speedups as nbgrader_speedups
    from grader.compat.kernels import KERNEL_NAME
    from grader.project import make_api, quiet_nbgrader_warnings

    worker = boot(settings)
    template = hashlib.sha256(template_db).hexdigest()
    if worker.template != template:
        quiet_nbgrader_warnings()  # a Dask worker process has not been through the CLI's logging set-up
        nbgrader_speedups.install()
        database = worker.root / f"gradebook-{template[:16]}.db"
        database.write_bytes(template_db)
        worker.api = make_api(worker.root, f"sqlite:///{database}", kernel_ipc_dir=worker.root / "kernels",
                              kernel_name=KERNEL_NAME, cell_timeout=settings.isolation.limits.cell_seconds or None,
                              hidden_tests_outside=True)
        worker.template = template
    return worker


def _clear(worker: _Worker) -> None:
    """Remove everything the previous submission left in the scratch course (nothing passes to the next student):
    first every process it left running in either sandbox, then its files."""
    worker.zygote.clean()
    worker.subject_zygote().clean()
    for folder in ("submitted", "autograded", "feedback", "control/runtime", "kernels", "rwork"):
        remove_contents(worker.root / folder)


def remove_contents(folder: Path) -> None:
    """Empty ``folder`` without following a link anywhere below it: a link is removed, never what it points to.

    (Python's ``shutil.rmtree`` walks by file descriptor on Linux and refuses symbolic links.)"""
    assert shutil.rmtree.avoids_symlink_attacks
    if not folder.is_dir() or folder.is_symlink():
        return
    for entry in os.scandir(folder):
        with contextlib.suppress(FileNotFoundError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)


def _kernel_folder(worker: _Worker) -> Path:
    """A fresh folder, made by this side, for the kernels of one submission: their sockets and working folder."""
    folder = Path(tempfile.mkdtemp(dir=worker.root / "kernels"))
    assert worker.api is not None
    worker.api.config.KernelManager.ip = str(folder / "kernel")
    return folder


def kernel_incidents(autograded: dict[str, bytes]) -> list[str]:
    """One line per cell whose kernel died or hung (grader.compat.execute), for the instructor's report."""
    import json

    from grader.compat.execute import INCIDENT_ERRORS

    lines = []
    for name, data in sorted(autograded.items()):
        for cell in json.loads(data).get("cells", []):
            for output in cell.get("outputs", []):
                if output.get("ename") in INCIDENT_ERRORS and "grading went on" in str(
                        output.get("evalue", "")):
                    grade_id = cells.grade_id(cell)
                    where = f" [{grade_id}]" if grade_id else ""
                    lines.append(f"{name}{where}: {output['evalue']}")
    return lines


def match_notebooks(task: Task) -> tuple[dict[str, bytes], list[str], str]:
    """The submitted notebooks under the names the assignment expects, notes on what was renamed or left out, and
    why the submission cannot be graded ("" if it can).

    A notebook saved under another name (``01_lookup (1).ipynb``, ``my_lookup.ipynb``) is graded as the expected one
    when it is the only candidate; notebooks the assignment does not have are left out, with a note.
    """
    from grader.project import graded_assignments

    expected = next((a.notebooks for a in graded_assignments() if a.name == task.assignment), tuple(task.notebooks))
    notebooks = {name: data for name, data in task.notebooks.items() if name in expected}
    others = sorted(name for name in task.notebooks if name not in expected)
    missing = [name for name in expected if name not in notebooks]
    notes = []
    if len(missing) == 1 and len(others) == 1:
        notebooks[missing[0]] = task.notebooks[others[0]]
        notes.append(f"{others[0]}.ipynb was graded as {missing[0]}.ipynb (renamed?)")
        missing, others = [], []
    if others:
        notes.append(f"not part of {task.assignment}, not graded: {', '.join(f'{n}.ipynb' for n in others)}")
    if missing and not notebooks:
        return {}, notes, (f"no {' or '.join(f'{n}.ipynb' for n in missing)} in the submission"
                           + (f" (found {', '.join(f'{n}.ipynb' for n in others)})" if others else ""))
    if missing:
        notes.append(f"missing, scored 0: {', '.join(f'{n}.ipynb' for n in missing)}")
    return notebooks, notes, ""


MAX_SOURCE = 2 * 1024**2   # characters of cell source per notebook: the course's notebooks hold at most ~30 000


def unreadable_notebooks(notebooks: dict[str, bytes]) -> list[str]:
    """Why each submitted notebook cannot be graded as a notebook (empty list: all fine): not a notebook, or more
    source than any notebook of the course could need (which would cost minutes of a worker's time to grade)."""
    import nbformat

    problems = []
    for name, data in sorted(notebooks.items()):
        try:
            nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        except Exception as err:  # any reason a file is not a notebook is reported, none is fatal
            reason = str(err).splitlines()[0][:200] if str(err) else type(err).__name__
            problems.append(f"{name}.ipynb is not a readable notebook ({reason}); the file may be damaged or "
                            "not a notebook: ask the student for a new copy")
            continue
        size = sum(len(cell.get("source", "")) for cell in nb.get("cells", []))
        if size > MAX_SOURCE:
            problems.append(f"{name}.ipynb holds {size / 1024**2:.1f} MB of code and text in its cells, more than the "
                            f"{MAX_SOURCE / 1024**2:g} MB a notebook may hold here; not graded: ask the student for "
                            "the notebook without what was pasted into it")
    return problems


def execute_task(task: Task, job: Job, settings: Settings | None = None) -> Result:
    """Grade one submission in this worker's scratch course with nbgrader; return what it produced.

    A worker whose grading code differs from the coordinator's (``job.manifest``) grades nothing: the result says
    which files differ."""
    start = time.perf_counter()
    mine = fingerprint.manifest()
    code = fingerprint.fingerprint(mine)
    if code != fingerprint.fingerprint(job.manifest):
        return Result(task.student, task.assignment, False, 0.0, different_code_problem(mine, job.manifest),
                      fingerprint=code)
    notebooks, notes, missing = match_notebooks(task)
    problems = [missing] if missing else unreadable_notebooks(notebooks)
    if problems:
        return Result(task.student, task.assignment, False, time.perf_counter() - start, "; ".join(problems),
                      notes=notes, fingerprint=code)
    task = Task(task.student, task.assignment, notebooks, task.timestamp)
    worker = _scratch(job.template_db, settings or Settings())
    if worker.code != code:
        return Result(task.student, task.assignment, False, 0.0,
                      "refused: the grading code on this worker's disk changed after the worker started (its imported "
                      "modules are older than its files): restart the worker", fingerprint=code)
    _clear(worker)
    _kernel_folder(worker)
    folder = worker.root / "submitted" / task.student / task.assignment
    folder.mkdir(parents=True)
    for name, data in task.notebooks.items():
        release = COURSE / task.assignment / f"{name}.ipynb"
        if release.is_file():
            data, repaired = repair_bytes(data, str(release))  # a copy: the student's file stays as it is
            notes += [f"{name}: {note}" for note in repaired]
        (folder / f"{name}.ipynb").write_bytes(data)
    if task.timestamp:
        (folder / "timestamp.txt").write_text(task.timestamp)

    result = worker.api.autograde(task.assignment, task.student, force=True, create=True)
    if not result.get("success") and _TRANSIENT in (result.get("log") or "") + (result.get("error") or ""):
        # A kernel that never came up says nothing about the submission: start it once more.
        result = worker.api.autograde(task.assignment, task.student, force=True, create=True)
    problem = "" if result.get("success") else "autograde: " + last_error(result)
    worker.zygote.clean()  # nothing the student started is left running before anything they produced is read
    autograded_dir = worker.root / "autograded" / task.student / task.assignment
    autograded: dict[str, bytes] = {}
    integrity: dict[str, bytes] = {}
    if not problem:
        # Read once: these bytes are re-checked, lowered where the re-check says so, given feedback and stored.
        autograded = {p.stem: p.read_bytes() for p in sorted(autograded_dir.glob("*.ipynb"))}
        integrity = _check_outside_kernel(worker, task, autograded, autograded_dir)
        feedback = worker.api.generate_feedback(task.assignment, task.student, force=True)
        if not feedback.get("success"):
            problem = "feedback: " + last_error(feedback)
    feedback_dir = worker.root / "feedback" / task.student / task.assignment
    if not problem:
        notes += kernel_incidents(autograded)
    return Result(
        task.student, task.assignment, not problem, time.perf_counter() - start, problem,
        autograded=autograded if not problem else {},
        feedback={p.stem: p.read_bytes() for p in sorted(feedback_dir.glob("*.html"))} if not problem else {},
        integrity=integrity, notes=notes, fingerprint=code,
    )


def different_code_problem(worker: fingerprint.Manifest, coordinator: fingerprint.Manifest) -> str:
    """Why a worker refuses to grade: its grading code is not the coordinator's, file by file."""
    import socket

    return (f"refused: the worker on {socket.gethostname()} grades with other code than the coordinator "
            f"({'; '.join(fingerprint.differences(coordinator, worker))}; 'here' is the coordinator). Install the same "
            "checkout and requirements.txt on every worker and restart it.")


def _check_outside_kernel(worker: _Worker, task: Task, autograded: dict[str, bytes], autograded_dir: Path
                          ) -> dict[str, bytes]:
    """Re-check each graded notebook out of process (grader.integrity.recheck); lower the flagged and unverified scores
    in
    ``autograded`` (in place), in its copy in ``autograded_dir`` (for the feedback page) and in the scratch
    gradebook. A re-check that fails as a whole fails closed: every test of the notebook is unverified."""
    import json

    import nbformat
    from nbgrader.preprocessors import SaveAutoGrades

    from grader.integrity import recheck
    from grader.project import SOLUTIONS

    assert worker.api is not None
    verdicts: dict[str, bytes] = {}
    cell_seconds = int(worker.api.config.Execute.timeout or 120)
    for name, data in sorted(autograded.items()):
        source_file = SOLUTIONS / task.assignment / f"{name}.ipynb"
        if not source_file.is_file() or name not in task.notebooks:
            continue
        source = json.loads(source_file.read_text(encoding="utf-8"))
        notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
        try:
            found = recheck.recheck_notebook(worker.subject_zygote(), worker.root / "rwork", source, notebook,
                                             worker.settings.isolation.limits.as_dict(), cell_seconds)
        except Exception as err:  # what could not be verified does not score
            import traceback

            where = traceback.extract_tb(err.__traceback__)[-1]
            in_kernel = recheck.in_kernel_scores(notebook)
            found = [recheck.Verdict(t.grade_id, t.name, None if isinstance(t, recheck.HiddenTest)
                                     else in_kernel.get(t.grade_id), 0.0, t.points,
                                     f"could not be verified: the re-check failed ({type(err).__name__}: {err}, at "
                                     f"{Path(where.filename).name}:{where.lineno})", verified=False)
                     for t in recheck.notebook_tests(source)]
        if recheck.apply_verdicts(notebook, found):
            text = nbformat.writes(notebook)
            autograded[name] = text.encode("utf-8")
            path = autograded_dir / f"{name}.ipynb"
            path.chmod(0o644)
            path.write_text(text, encoding="utf-8")
            resources = {"nbgrader": {"assignment": task.assignment, "notebook": name, "student": task.student,
                                      "db_url": worker.api.coursedir.db_url}}
            SaveAutoGrades(config=worker.api.config).preprocess(notebook, resources)
        verdicts[name] = recheck.dumps(found)
    return verdicts


# ------------------------------------------------------------------------------------------------- executors


def describe(settings: Settings) -> str:
    kernels = "warm" if settings.warm else "cold"
    if settings.isolation.sandbox:
        return f"{kernels} kernels, sandboxed ({settings.isolation.limits.describe()})"
    return f"{kernels} kernels, NOT sandboxed"


class Executor(Protocol):
    """Runs tasks somewhere and yields their results as they finish, in any order.

    :meth:`start` gets the workers going (they boot while the coordinator prepares the gradebook); :meth:`run` may
    be called more than once (the pre-flight check, then the class) and starts them if needed; :meth:`close` stops
    them. A coordinator calls :meth:`close` whatever happens."""

    def start(self) -> None: ...

    def run(self, tasks: Sequence[Task], job: Job) -> Iterator[Result]: ...

    def close(self) -> None: ...


class LocalExecutor:
    """Worker processes on this machine (fork), one task at a time each.

    If a worker process dies (killed, out of memory), every task in the pool at that moment fails with it. Those
    tasks are then run again one at a time, each in a process of its own: the submission that kills its process
    is reported as failed, the others are graded as usual.
    """

    def __init__(self, jobs: int, warm: bool = True, isolation: Isolation | None = None,
                 function: Callable[[Task, Job, Settings], Result] | None = None) -> None:
        self.jobs = max(1, jobs)
        self.settings = Settings(warm, isolation or Isolation())
        self.function = function or execute_task
        self._workers: ProcessPoolExecutor | None = None

    def __str__(self) -> str:
        return f"{self.jobs} local worker(s), {describe(self.settings)}"

    def start(self) -> None:
        """Fork the workers now; each boots in the background (:func:`boot`)."""
        if self._workers is None:
            self._workers = self._new_pool(self.jobs)
            self._workers.submit(int)  # the pool forks all its workers on the first submission

    def close(self) -> None:
        if self._workers is not None:
            self._workers.shutdown(cancel_futures=True)
            self._workers = None

    def run(self, tasks: Sequence[Task], job: Job) -> Iterator[Result]:
        if not tasks:
            return
        self.start()
        assert self._workers is not None
        broken: list[Task] = []
        try:
            futures = self._submit(self._workers, tasks, job)
        except BrokenProcessPool:  # a worker died while the pool was idle (after the pre-flight): start afresh
            self.close()
            self.start()
            assert self._workers is not None
            futures = self._submit(self._workers, tasks, job)
        yield from self._results(futures, broken)
        if broken:
            self.close()  # a worker died: the pool is broken, the next run() forks a new one
        for task in broken:  # alone, so that a process that dies again takes no one else with it
            again: list[Task] = []
            with self._new_pool(1) as alone:
                yield from self._results(self._submit(alone, [task], job), again)
            for lost in again:
                yield Result(lost.student, lost.assignment, False, 0.0,
                             "the grading process died while this submission was in it, twice (killed, or out of "
                             "memory); not graded")

    def _new_pool(self, jobs: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"),
                                   initializer=_boot_in_background, initargs=(self.settings,))

    def _submit(self, pool: ProcessPoolExecutor, tasks: Sequence[Task], job: Job) -> dict[Any, Task]:
        return {pool.submit(self.function, task, job, self.settings): task for task in tasks}

    @staticmethod
    def _results(futures: dict[Any, Task], broken: list[Task]) -> Iterator[Result]:
        for future in as_completed(futures):
            task = futures[future]
            try:
                yield future.result()
            except BrokenProcessPool:
                broken.append(task)
            except Exception as err:  # the task itself raised: report it, keep the others
                yield Result(task.student, task.assignment, False, 0.0, f"grading process failed: {err!r}")


class DaskExecutor:
    """Tasks on a Dask distributed cluster: ``address`` of a scheduler, or ``"local"`` for a LocalCluster.

    Workers need this project installed (the same checkout and versions) and nothing else: tasks and results travel
    as bytes, and the gradebook is written only by the coordinator. :meth:`start` refuses a cluster whose workers
    grade with other code than the coordinator's, naming the workers and the files.
    """

    def __init__(self, address: str, jobs: int | None = None, warm: bool = True,
                 isolation: Isolation | None = None,
                 function: Callable[[Task, Job, Settings], Result] | None = None) -> None:
        self.address = address
        self.jobs = jobs
        self.settings = Settings(warm, isolation or Isolation())
        self.function = function or execute_task
        self._client: Any = None
        self._cluster: Any = None

    def __str__(self) -> str:
        return f"Dask cluster {self.address}, {describe(self.settings)}"

    def start(self) -> None:
        """Connect (or start the LocalCluster), check every worker's grading code, and let every worker boot while
        the coordinator prepares."""
        if self._client is not None:
            return
        try:
            from distributed import Client, LocalCluster, fire_and_forget
        except ImportError as err:
            from grader.project import GraderError

            raise GraderError("--dask needs the optional dependency `distributed` (pip install distributed)") from err
        from grader.project import GraderError

        try:
            if self.address == "local":
                self._cluster = LocalCluster(n_workers=self.jobs or 2, threads_per_worker=1, processes=True,
                                             dashboard_address=None)
                self._client = Client(self._cluster)
            else:
                self._client = Client(self.address, timeout=30)
        except (OSError, TimeoutError) as err:
            self.close()
            raise GraderError(f"cannot reach the Dask scheduler at {self.address} ({err}): is `dask scheduler` "
                              "running there, and is the address (tcp://host:port) right?") from None
        try:
            if self._cluster is not None:
                self._client.wait_for_workers(len(self._cluster.workers))
            self.check_workers()
        except BaseException:
            self.close()
            raise
        for address in self._client.scheduler_info().get("workers", {}):
            fire_and_forget(self._client.submit(_boot_in_background, self.settings, pure=False, workers=[address],
                                                allow_other_workers=False))

    def check_workers(self) -> None:
        """Refuse to grade when a worker cannot (no grader package, no sandbox) or would grade with other code than
        this process (a GraderError naming the workers and what is wrong with each)."""
        from grader.project import GraderError

        here = fingerprint.manifest()
        theirs = self._client.run(worker_report, self.settings, on_error="return")
        if not theirs:
            raise GraderError(f"the Dask cluster at {self.address} has no workers: start some (dask worker ADDRESS).")
        different = {}
        for address, there in sorted(theirs.items()):
            if isinstance(there, BaseException):
                different[address] = [f"cannot grade: {type(there).__name__}: {there} (is this project installed "
                                      "there, with the same requirements.txt?)"]
            elif there["problem"]:
                different[address] = [f"cannot grade: {there['problem']}"]
            elif fingerprint.fingerprint(there["manifest"]) != fingerprint.fingerprint(here):
                different[address] = fingerprint.differences(here, there["manifest"])
        if different:
            lines = [f"  {address}: {'; '.join(lines)}" for address, lines in different.items()]
            raise GraderError(f"{len(different)} of {len(theirs)} Dask worker(s) cannot grade, or would grade with "
                              "other code than this coordinator ('here' is the coordinator, 'there' the worker):\n"
                              + "\n".join(lines)
                              + "\nInstall the same checkout and requirements.txt on every worker, restart them, "
                              "and grade again. No submission was graded.")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._client = self._cluster = None

    def run(self, tasks: Sequence[Task], job: Job) -> Iterator[Result]:
        if not tasks:
            return
        self.start()
        lost: list[Task] = []
        yield from self._results(self._submit(tasks, job), lost)
        if lost:  # the cluster lost them (a worker left, data went missing): once more, then report
            again: list[Task] = []
            yield from self._results(self._submit(lost, job), again)
            for task in again:
                yield Result(task.student, task.assignment, False, 0.0,
                             "the Dask cluster lost this submission twice (a worker left, or its data went "
                             "missing); not graded")

    def _submit(self, tasks: Sequence[Task], job: Job) -> dict[Any, Task]:
        """Tasks on the cluster, sharing one copy of ``job`` per worker. The copy gets a key of its own: with
        content-hashed keys, a run that scatters the same job as the run before (the pre-flight, then the class)
        races the scheduler's release of the old key, and tasks fail with FutureCancelledError."""
        shared = self._client.scatter(job, broadcast=True, hash=False)
        return {self._client.submit(self.function, task, shared, self.settings, pure=False): task for task in tasks}

    @staticmethod
    def _results(futures: dict[Any, Task], lost: list[Task]) -> Iterator[Result]:
        from distributed import as_completed as dask_completed

        for future in dask_completed(futures):
            task = futures[future]
            try:
                yield future.result()
            except CancelledError:  # distributed's FutureCancelledError
                lost.append(task)
            except Exception as err:  # the task itself raised, or its worker died: say so, keep the others
                yield Result(task.student, task.assignment, False, 0.0, f"grading process failed: {err!r}")


def worker_report(settings: Settings) -> dict[str, Any]:
    """Run on each Dask worker before grading: its manifest, and why it cannot grade ("" if it can)."""
    from grader.grading.preflight import check_tools
    from grader.grading.sandbox import require_sandbox
    from grader.project import GraderError

    try:
        require_sandbox(settings.isolation)
        check_tools()
        problem = ""
    except GraderError as err:
        problem = str(err).splitlines()[0]
    return {"manifest": fingerprint.manifest(), "problem": problem}

