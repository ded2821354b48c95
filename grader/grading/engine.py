"""``grader autograde``: grade a class on every core (or a cluster), with one writer for the gradebook.

The coordinator (this module) reads each submission, hands it to an executor (:mod:`grader.grading.executor`) whose
workers run nbgrader's own ``autograde`` and ``generate_feedback`` in private scratch courses, and writes every result
into the class's workspace as it arrives: the autograded notebook and the feedback page into ``autograded/`` and
``feedback/``, the grades into the gradebook through nbgrader's own ``SaveAutoGrades`` and ``AssignLatePenalties``
preprocessors. Only this process writes the gradebook, so SQLite never meets a second writer and PostgreSQL works the
same way.

Re-grading is incremental: a submission whose bytes are unchanged since it was last graded, by the same grading code,
course and packages (:mod:`grader.grading.fingerprint`), is skipped unless ``force``. Progress reports the count, the
rate and the time left; a submission that cannot be graded is reported with the reason and costs no other student
anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.commands.release import generate, same_tree
from grader.compat import speedups as nbgrader_speedups
from grader.grading import preflight, written
from grader.grading.executor import Executor, Job, LocalExecutor, Result, Task
from grader.grading.fingerprint import fingerprint as grading_fingerprint
from grader.grading.fingerprint import manifest
from grader.grading.sandbox import Isolation, require_sandbox
from grader.integrity.report import IntegrityLog
from grader.project import (
    COURSE,
    EXCHANGE_FILES,
    MAX_EXCHANGE_FILE_BYTES,
    GraderError,
    check_workspace,
    gradebook_url,
    graded_assignments,
    load_config,
    resolve_path,
    sqlite_file,
)

STATE_FILE = ".grader-state.json"  # in the workspace: what was graded, from which bytes, by which grader
CACHE_DIR = ".grader-cache"        # in the workspace: the template course generated from solutions/
PREPARED = "_prepared"              # state key: the fingerprint and gradebook the assignments were recorded for


@dataclass(frozen=True)
class Outcome:
    student: str
    assignment: str
    ok: bool
    seconds: float
    problem: str = ""       # why grading or feedback failed, in nbgrader's words
    skipped: bool = False   # unchanged since the last grading (incremental re-grade)
    notes: tuple[str, ...] = ()  # what was repaired in a copy of the submission before grading


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


def machine_cache() -> Path:
    """Where this user's templates are kept for every workspace on the machine: ``$XDG_CACHE_HOME`` (default
    ``~/.cache``; a relative value is ignored, as the XDG specification says) ``/embedding-layers-grader/templates``.
    Never inside a sandbox: student code cannot see it."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        base = str(Path.home() / ".cache")
    return Path(base) / "embedding-layers-grader" / "templates"


def _private(folder: Path) -> bool:
    """Whether ``folder`` and the folders above it up to the cache's base (``$XDG_CACHE_HOME``) are this user's
    alone: real folders (no links), owned by this user, writable by no one else. A cache someone else could have
    written is never read. A folder not made yet holds nothing to distrust."""
    base = machine_cache().parent.parent
    chain = [base, *reversed([p for p in folder.parents if base in p.parents]), folder]
    for path in chain:
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return True
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
            return False
    return True


def _template(root: Path, fingerprint: str) -> Path:
    """A scratch course generated from solutions/ (gradebook + release), cached per grader fingerprint: in the
    workspace, copied from this user's machine-wide cache when another workspace generated it before (the same
    fingerprint is the same grading code, course and versions), generated and stored in both otherwise. A cached
    template that cannot be read is generated again; each cache receives a template whole or not at all."""
    cache = root / CACHE_DIR / fingerprint[:16]
    if _complete(cache):
        return cache
    shared = machine_cache() / fingerprint[:16]
    (root / CACHE_DIR).mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".staging-", dir=root / CACHE_DIR) as tmp:
        made = Path(tmp) / "template"
        copied = False
        if _private(shared) and _complete(shared):
            try:
                shutil.copytree(shared, made)
                copied = _complete(made)
            except (OSError, shutil.Error):   # unreadable: generate, and store the new one in its place
                shutil.rmtree(shared, ignore_errors=True)
        if not copied:
            shutil.rmtree(made, ignore_errors=True)
            made.mkdir()
            generate(made, f"sqlite:///{made}/gradebook.db", only=graded_assignments())
            _share(made, shared)
        for old in (root / CACHE_DIR).iterdir():   # older fingerprints are of no further use
            if not old.name.startswith(".staging-") and old.name != cache.name:
                if old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    old.unlink()
        if cache.exists() and not _complete(cache):
            shutil.rmtree(cache, ignore_errors=True)
        try:
            os.replace(made, cache)
        except OSError:
            if not _complete(cache):   # not another process's template, stored a moment earlier
                raise
    return cache


def _complete(template: Path) -> bool:
    return (template / "gradebook.db").is_file() and (template / "release").is_dir()


def _share(template: Path, shared: Path) -> None:
    """Store ``template`` in the machine-wide cache, whole or not at all (another process may be storing the same,
    and a cached template found incomplete is replaced), in folders only this user can write; a cache that cannot be
    written, or that others could write, is left alone: the next workspace generates its own."""
    with contextlib.suppress(OSError):
        shared.parent.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        shared.parent.mkdir(mode=0o700, exist_ok=True)
        if not _private(shared):
            return
        if shared.exists() and not _complete(shared):
            shutil.rmtree(shared)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=shared.parent))
        try:
            shutil.copytree(template, staging / "t")
            os.replace(staging / "t", shared)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def prepare(root: Path, db_url: str, students: Iterable[str], fingerprint: str) -> tuple[bytes, list[str]]:
    """Record the assignments and students in the class gradebook; return the workers' template and warnings.

    The template is an SQLite gradebook holding only the assignments, generated once per grader fingerprint and
    cached in the workspace and for the machine (:func:`_template`). A new SQLite gradebook, wherever ``db_url``
    puts it, starts as a copy of it; an existing one (or any other database) gets nbgrader's generate_assignment
    once per fingerprint. Warnings say, e.g., that ``course/`` is not
    what ``solutions/`` generates: students would then have worked on another release.
    """
    from nbgrader.api import Gradebook

    template = _template(root, fingerprint)
    state = _load_state(root)
    prepared = f"{fingerprint} {db_url}"
    if state.get(PREPARED) != prepared or _gradebook_lost(db_url):
        database = sqlite_file(db_url)
        if not (database is not None and _new_gradebook(template / "gradebook.db", database)):
            generate(root, db_url, only=graded_assignments())
        state[PREPARED] = prepared
        _save_state(root, state)
    with Gradebook(db_url) as gb:
        for student in sorted(set(students)):
            gb.update_or_create_student(student)
    warnings = [
        f"course/{a.name} differs from a fresh release of solutions/{a.name}: run `python -m grader release` "
        "and make sure students have the current version."
        for a in graded_assignments()
        if not same_tree(template / "release" / a.name, COURSE / a.name)
    ]
    return (template / "gradebook.db").read_bytes(), warnings


# ------------------------------------------------------------------------------------------------ incremental


def _new_gradebook(template: Path, database: Path) -> bool:
    """Make ``database`` a copy of ``template`` if no file is there; False (nothing written) if one is, even one
    another process created a moment ago: the copy appears whole under its name or not at all."""
    if database.exists() or not database.parent.is_dir():
        return False
    staging = database.with_name(f".{database.name}.{os.getpid()}.new")
    try:
        shutil.copyfile(template, staging)
        os.link(staging, database)   # fails if the file exists by now
        return True
    except OSError:
        return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            staging.unlink()


def recorded_gradebook(root: Path) -> str | None:
    """The gradebook URL the last run in workspace ``root`` recorded its assignments in (None: never graded)."""
    prepared = _load_state(root).get(PREPARED, "")
    return prepared.partition(" ")[2] or None


def _slot(student: str, assignment: str) -> str:
    """A submission's key in the state file."""
    return f"{student}/{assignment}"


def _written_slot(slot: str) -> str:
    """The state file's key for what the grader wrote into a submission's autograded folder (:mod:`written`)."""
    return f"{slot} autograded"


def _gradebook_lost(db_url: str) -> bool:
    """An SQLite gradebook whose file is gone (deleted to start over): nothing recorded in the state is in it."""
    database = sqlite_file(db_url)
    return database is not None and not database.is_file()


def _submission_key(task: Task, fingerprint: str) -> str:
    digest = hashlib.sha256(fingerprint.encode())
    for name in sorted(task.notebooks):
        digest.update(name.encode())
        digest.update(task.notebooks[name])
    digest.update((task.timestamp or "").encode())
    return digest.hexdigest()


def _load_state(root: Path) -> dict[str, Any]:
    try:
        return json.loads((root / STATE_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _save_state(root: Path, state: dict[str, Any]) -> None:
    tmp = root / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    tmp.replace(root / STATE_FILE)


# ------------------------------------------------------------------------------------------------ the one writer


def _exchange_file(root: Path, student: str, assignment: str, name: str) -> bytes | None:
    """A submission's ``timestamp.txt`` or ``submission_secret.txt`` (:data:`EXCHANGE_FILES`), if it has one: a
    regular file of at most :data:`MAX_EXCHANGE_FILE_BYTES`, never through a symbolic link."""
    path = root / "submitted" / student / assignment / name
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_EXCHANGE_FILE_BYTES:
        return None
    return path.read_bytes()[:MAX_EXCHANGE_FILE_BYTES]


def _read_task(root: Path, student: str, assignment: str) -> Task:
    folder = root / "submitted" / student / assignment
    stamp = _exchange_file(root, student, assignment, "timestamp.txt")
    return Task(student, assignment, {p.stem: p.read_bytes() for p in sorted(folder.glob("*.ipynb"))},
                stamp.decode("utf-8", "replace").strip() if stamp is not None else None)


def _write_files(root: Path, result: Result) -> None:
    """Autograded notebooks and feedback pages into the workspace, replacing the previous ones, each folder with the
    submission's exchange files beside them, as nbgrader's autograde and generate_feedback leave them (``nbgrader
    release_feedback`` needs both in feedback/)."""
    exchange = {name: data for name in EXCHANGE_FILES
                if (data := _exchange_file(root, result.student, result.assignment, name)) is not None}
    for step, files, suffix in (("autograded", result.autograded, ".ipynb"), ("feedback", result.feedback, ".html")):
        folder = root / step / result.student / result.assignment
        if folder.exists():
            for old in folder.iterdir():
                os.chmod(old, 0o644)  # nbgrader writes autograded files read-only
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for name, data in files.items():
            (folder / f"{name}{suffix}").write_bytes(data)
        for name, data in exchange.items():
            (folder / name).write_bytes(data)


def _save_grades(db_url: str, task: Task, result: Result, config: object) -> None:
    """The gradebook rows of one graded submission, written by nbgrader's own preprocessors (with the course's
    configuration, so a configured late-submission plugin applies)."""
    import nbformat
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import AssignLatePenalties

    with Gradebook(db_url) as gb:
        known = {nb.name for nb in gb.find_assignment(task.assignment).notebooks}
        if task.timestamp:
            gb.update_or_create_submission(task.assignment, task.student, timestamp=task.timestamp)
        else:
            gb.update_or_create_submission(task.assignment, task.student)
    for name, data in result.autograded.items():
        if name not in known:
            continue
        nb = nbformat.reads(data.decode("utf-8"), as_version=4)
        resources = {"nbgrader": {"assignment": task.assignment, "notebook": name, "student": task.student,
                                  "db_url": db_url}}
        save = nbgrader_speedups.save_auto_grades_at_once()
        for preprocessor in (save(config=config), AssignLatePenalties(config=config)):
            nb, resources = preprocessor.preprocess(nb, resources)


# ------------------------------------------------------------------------------------------------ autograde


class Progress:
    """`[ 12/100]  3.1/s ETA 0:29  ada 01_lookup   2.4 s  ok` lines (submissions per second, time left), and a
    summary with the mean worker time per notebook at the end."""

    def __init__(self, total: int, say: Callable[[str], None]) -> None:
        self.total, self.say, self.done, self.start = total, say, 0, time.perf_counter()
        self.seconds: dict[str, list[float]] = defaultdict(list)

    def __call__(self, outcome: Outcome) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else 0.0
        self.seconds[outcome.assignment].append(outcome.seconds)
        status = f"{outcome.seconds:4.1f} s  ok" if outcome.ok else f"FAILED: {outcome.problem}"
        width = len(str(self.total))
        self.say(f"[{self.done:>{width}}/{self.total}] {rate:4.1f}/s ETA {int(left) // 60}:{int(left) % 60:02d}  "
                 f"{outcome.student} {outcome.assignment}  {status}")

    def summary(self) -> str:
        elapsed = time.perf_counter() - self.start
        parts = [f"{a} {sum(s) / len(s):.1f} s" for a, s in sorted(self.seconds.items())]
        return (f"graded {self.total} submission(s) in {elapsed:.1f} s"
                + (f"; mean worker time per submission: {', '.join(parts)}" if parts else ""))


def autograde(
    root: Path,
    *,
    db_url: str | None = None,
    jobs: int | None = None,
    students: Iterable[str] | None = None,
    progress: Callable[[str], None] | None = None,
    warm: bool = True,
    force: bool = False,
    executor: Executor | None = None,
    isolation: Isolation | None = None,
) -> list[Outcome]:
    """Autograde every submission in ``root/submitted`` and write feedback; return one outcome per submission.

    jobs: worker processes (default: one per core). warm: kernels forked with numpy/torch/matplotlib imported
    (grader.grading.zygote_client). force: re-grade unchanged submissions too. executor: where the tasks run (an
    :class:`Executor`; default: a LocalExecutor), e.g. a DaskExecutor. isolation: the sandbox and its limits (default:
    sandboxed; refuses to run where the machine cannot sandbox).

    Before the first student, the pre-flight check (:mod:`grader.grading.preflight`) grades the instructor's solution of
    each assignment to be graded through the same workers; a grading environment that cannot give it full marks stops
    the run with a GraderError and nothing is graded.
    """
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    root = resolve_path(root)
    check_workspace(root, db_url)
    isolation = isolation or Isolation()
    require_sandbox(isolation)
    preflight.check_tools()
    if not isolation.sandbox:
        say("WARNING: grading WITHOUT a sandbox (--no-sandbox): student code runs as you, with your files and "
            "network in reach")
    pairs = submissions(root, students)
    if not pairs:
        everyone = sorted({student for student, _ in submissions(root)})
        if students and everyone:
            raise GraderError(f"no submission of {', '.join(sorted(set(students)))} in {root / 'submitted'}; the "
                              f"students there: {', '.join(everyone[:30])}{' …' if len(everyone) > 30 else ''}")
        raise GraderError(f"nothing to grade in {root / 'submitted'}: expected <student>/<assignment>/*.ipynb")
    db_url = gradebook_url(root, db_url)
    code = manifest()
    plan = Plan.make(root, pairs, grading_fingerprint(code), force, db_url, isolation)
    run = executor or LocalExecutor(max(1, min(jobs or default_jobs(), len(plan.todo) or 1)), warm=warm,
                                    isolation=isolation)
    nbgrader_speedups.install()
    try:
        if plan.todo:
            import nbgrader.apps  # noqa: F401 -- imported once here, inherited by every forked worker

            run.start()  # workers boot (zygotes, torch) while the gradebook is prepared
        template, warnings = prepare(root, db_url, (student for student, _ in pairs), plan.fingerprint)
        for warning in warnings:
            say(f"warning: {warning}")
        if plan.overwritten:
            shown = ", ".join(plan.overwritten[:20]) + (" …" if len(plan.overwritten) > 20 else "")
            say(f"warning: {len(plan.overwritten)} submission(s) were graded again by something other than the grader "
                "since it graded them (their autograded notebooks were rewritten: formgrader's Autograde or `nbgrader "
                "autograde`, which run without the sandbox and the re-check), so their grades in the gradebook are "
                f"not the grader's; grading them again: {shown}")
        if plan.kept:
            say(f"{len(plan.kept)} submission(s) unchanged since they were last graded: kept (--force re-grades them)")
        if not plan.todo:
            return plan.finish([])
        job = Job(template, code)
        check_environment(run, job, plan, say)
        say(f"grading {len(plan.todo)} submission(s) with {run}")
        return plan.finish(store_results(root, db_url, plan, run.run(plan.todo, job), say))
    finally:
        run.close()


def check_environment(run: Executor, job: Job, plan: Plan, say: Callable[[str], None]) -> None:
    """The pre-flight check: each assignment about to be graded, graded once with the instructor's solution (built
    from the fresh release in the template, not from ``course/``). A failure that says nothing about the environment
    (a kernel that did not answer on a busy machine) is tried once more before the run is refused."""
    names = sorted({task.assignment for task in plan.todo})
    started = time.perf_counter()
    release = _template(plan.root, plan.fingerprint) / "release"
    canaries = preflight.canary_tasks([a for a in graded_assignments() if a.name in names], release)
    results = list(run.run(canaries, job))
    again = [task for task in canaries
             if any(preflight.transient(r) for r in results if r.assignment == task.assignment)]
    if again:
        results = [r for r in results if not preflight.transient(r)] + list(run.run(again, job))
    for result in results:
        if result.ok and result.fingerprint != plan.fingerprint:
            raise GraderError(f"a worker graded with other code than the coordinator (fingerprint "
                              f"{result.fingerprint[:12]}, not {plan.fingerprint[:12]}). {preflight.STOP}")
        preflight.check_canary(result)
    say(f"pre-flight: the solution of {', '.join(names)} earns full marks in the kernel and out of process "
        f"({time.perf_counter() - started:.1f} s)")


@dataclass
class Plan:
    """What one run grades: every submitted (student, assignment), split into the ones to grade and the ones kept
    from the last run (unchanged bytes, same grading code), with the key each is recorded under."""

    root: Path
    fingerprint: str
    todo: list[Task]
    kept: list[Outcome]
    keys: dict[str, str]   # "student/assignment" (the state file's key) -> the submission's key
    overwritten: list[str] = field(default_factory=list)   # unchanged, but graded again by something else since

    @classmethod
    def make(cls, root: Path, pairs: list[tuple[str, str]], fingerprint: str, force: bool, db_url: str,
             isolation: Isolation) -> Plan:
        """A submission is kept when its bytes, the grading code (``fingerprint``), the gradebook it was recorded in
        and the sandbox with its limits are all the same as last time, that gradebook still exists, and its
        autograded notebooks are still the ones the grader wrote (else formgrader's Autograde or ``nbgrader
        autograde`` graded it since, around the sandbox and the re-check: it is graded again, and listed in
        ``overwritten``)."""
        tasks = [_read_task(root, student, assignment) for student, assignment in pairs]
        setting = f"{fingerprint}\n{db_url}\n{isolation!r}"
        keys = {_slot(t.student, t.assignment): _submission_key(t, setting) for t in tasks}
        graded_before = {} if _gradebook_lost(db_url) else _load_state(root)
        todo, kept, overwritten = [], [], []
        for task in tasks:
            slot = _slot(task.student, task.assignment)
            folder = root / "autograded" / task.student / task.assignment
            if graded_before.get(slot) == keys[slot] and not force and folder.is_dir():
                if written.still_ours(folder, graded_before.get(_written_slot(slot))):
                    kept.append(Outcome(task.student, task.assignment, True, 0.0, skipped=True))
                    continue
                overwritten.append(slot)
            todo.append(task)
        return cls(root, fingerprint, todo, kept, keys, overwritten)

    def finish(self, graded: list[Outcome]) -> list[Outcome]:
        return sorted([*self.kept, *graded], key=lambda o: (o.student, o.assignment))


def store_results(root: Path, db_url: str, plan: Plan, results: Iterable[Result], say: Callable[[str], None]
                  ) -> list[Outcome]:
    """The one writer: each result's files, grades, integrity verdicts and incremental state, as it arrives. A result
    graded with other code than the coordinator's is refused; one that cannot be stored is reported as failed."""
    config = load_config(root, db_url)
    state = _load_state(root)  # as prepare() left it
    integrity = IntegrityLog(root)
    tracker = Progress(len(plan.todo), say)
    by_slot = {_slot(t.student, t.assignment): t for t in plan.todo}
    outcomes = []
    for result in results:
        slot = _slot(result.student, result.assignment)
        task = by_slot[slot]
        problem = result.problem
        if result.ok and result.fingerprint != plan.fingerprint:
            problem = "refused: graded by a worker whose grading code differs from the coordinator's; not recorded"
        elif result.ok:
            try:
                _write_files(root, result)
                _save_grades(db_url, task, result, config)
                integrity.record(task.student, task.assignment, result.integrity)
                state[slot] = plan.keys[slot]
                state[_written_slot(slot)] = written.record(root / "autograded" / task.student / task.assignment,
                                                            result.autograded)
            except Exception as err:  # a result that cannot be stored is reported like a failed grading
                problem = f"could not store the result: {err!r}"
        if not result.ok or problem:
            state.pop(slot, None)
            state.pop(_written_slot(slot), None)
        _save_state(root, state)
        outcome = Outcome(task.student, task.assignment, result.ok and not problem, result.seconds, problem,
                          notes=tuple(result.notes))
        outcomes.append(outcome)
        tracker(outcome)
        for note in result.notes:
            say(f"  note: {slot}: {note}")
    say(tracker.summary())
    integrity.save()
    say(integrity.summary())
    return outcomes
