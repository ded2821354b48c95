"""A run that goes wrong loses nothing: a worker that dies costs no one else, an interrupted run resumes, unchanged
submissions are not graded again, and Dask runs back to back lose no task."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from grader.grading import fingerprint
from grader.grading.engine import autograde
from grader.grading.executor import DaskExecutor, Job, LocalExecutor, Result, Settings, Task, execute_task
from grader.project import default_db_url, notebook_index
from grader.samples.submissions import fill, write_notebook
from tests.conftest import RELEASE, SOLUTION, submit_like_the_class
from tests.helpers import rows_of

CRASHER = "crasher"


def answer_without_grading(task: Task, job: Job, settings: Settings) -> Result:
    """A worker function that grades nothing: what a run costs the cluster, without the kernels."""
    return Result(task.student, task.assignment, True, 0.0, notes=[str(len(job.template_db))])


def test_dask_runs_back_to_back_with_the_same_job_lose_no_task(tmp_path: Path) -> None:
    """The pre-flight and the class share one job: the second run's copy must not race the release of the
    first's (with content-hashed keys it did, and the class's tasks failed with FutureCancelledError)."""
    pytest.importorskip("distributed")
    job = Job(b"template" * 10_000, fingerprint.manifest())
    tasks = [Task(f"s{i}", "01_lookup", {}) for i in range(2)]
    executor = DaskExecutor("local", jobs=2, function=answer_without_grading)
    try:
        executor.start()
        for run in range(60):
            results = list(executor.run(tasks, job))
            assert sorted(r.student for r in results) == ["s0", "s1"], f"run {run}: {results}"
            assert all(r.ok and r.notes == ["80000"] for r in results), f"run {run}: {[r.problem for r in results]}"
    finally:
        executor.close()


def crash_for_one_student(task: Task, template_db: bytes, warm: bool) -> Result:
    """A worker function that dies like an OOM-killed process when it meets the crasher's submission."""
    if task.student == CRASHER:
        os._exit(137)
    return execute_task(task, template_db, warm)


class KeptOpen(LocalExecutor):
    """Local workers that outlive the runs they serve: a run's close() leaves them running, for the next run."""

    def close(self) -> None:
        pass


def test_a_dying_worker_costs_no_one_else_and_the_run_resumes(workspace: Path) -> None:
    submit_like_the_class(workspace, [(SOLUTION, "01_lookup"), (RELEASE, "01_lookup")])
    lookup = notebook_index()["01_lookup"]
    write_notebook(fill(lookup, "01_lookup"), workspace / "submitted" / CRASHER / lookup.name / "01_lookup.ipynb")

    first = autograde(workspace, executor=LocalExecutor(2, function=crash_for_one_student), progress=lambda line: None)
    by_student = {o.student: o for o in first}
    assert by_student[SOLUTION].ok and by_student[RELEASE].ok
    assert not by_student[CRASHER].ok and "died" in by_student[CRASHER].problem
    db = default_db_url(workspace)
    assert rows_of(db, {SOLUTION}), "the solution's grades were lost when another student's worker died"

    # The crash is fixed: the runs that follow are what an instructor's next commands do. Their workers are booted
    # once for the three (what a run does is the same whoever booted them; booting is tested above and by every run).
    workers = KeptOpen(2)
    try:
        lines: list[str] = []
        resumed = autograde(workspace, executor=workers, progress=lines.append)          # resume
        done = {o.student: o for o in resumed}
        assert done[CRASHER].ok and not done[CRASHER].skipped
        assert done[SOLUTION].skipped and done[RELEASE].skipped, "finished submissions were graded again"
        assert any("unchanged" in line for line in lines)
        assert rows_of(db, {CRASHER}) and {k[1:]: v for k, v in rows_of(db, {CRASHER}).items()} == {
            k[1:]: v for k, v in rows_of(db, {SOLUTION}).items()}

        write_notebook(fill(lookup, "01_lookup", solve=False),
                       workspace / "submitted" / SOLUTION / lookup.name / "01_lookup.ipynb")  # a resubmission
        again = {o.student: o for o in autograde(workspace, executor=workers, progress=lambda line: None)}
        assert not again[SOLUTION].skipped and again[RELEASE].skipped and again[CRASHER].skipped
        forced = autograde(workspace, executor=workers, force=True, progress=lambda line: None)
        assert not any(o.skipped for o in forced)
    finally:
        LocalExecutor.close(workers)

    class Recording(LocalExecutor):
        started = False

        def start(self) -> None:
            self.started = True
            super().start()

    idle = Recording(2)
    unchanged = autograde(workspace, executor=idle, progress=lambda line: None)
    assert all(o.skipped for o in unchanged) and not idle.started, "workers were started with nothing to grade"
