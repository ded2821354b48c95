""""Unchanged" means unchanged: every file a grade depends on is in the fingerprint, found by walking the folders, and
a worker that would grade with other code is refused, naming the files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader.grading import fingerprint
from grader.grading.executor import Job, Task, execute_task
from grader.project import REPO
from tests.helpers import copy_repo


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("fp") / "repo", (*fingerprint.FOLDERS, *fingerprint.FILES))


def test_the_manifest_covers_every_file_of_the_grading_code_and_the_course(repo: Path) -> None:
    """Every file git tracks in the fingerprinted folders and files (the list nobody keeps by hand)."""
    entries = fingerprint.manifest(repo)
    tracked = subprocess.run(["git", "ls-files", "--", *fingerprint.FOLDERS, *fingerprint.FILES], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout.split("\n")
    tracked_files = {name for name in tracked if name and (REPO / name).is_file()}
    assert len(tracked_files) > 50
    assert tracked_files <= set(entries), sorted(tracked_files - set(entries))[:5]
    # the modules a hand-kept list once forgot
    for name in ("grader/integrity/stand_ins.py", "grader/compat/speedups.py", "grader/compat/kernels.py",
                 "grader/project.py", "grader/integrity/report.py", "grader/grading/fingerprint.py",
                 "nbgrader_config.py", "requirements.txt"):
        assert name in entries, name
    assert any(name.startswith("course/") for name in entries)
    assert {"python", "package torch", "package nbgrader"} <= set(entries)


def test_changing_any_file_changes_the_fingerprint_and_names_it(repo: Path) -> None:
    before = fingerprint.manifest(repo)
    files = [name for name in before if (repo / name).is_file()]
    assert len(files) > 50
    for name in files:
        path = repo / name
        original = path.read_bytes()
        try:
            path.write_bytes(original + b"\n")
            after = fingerprint.manifest(repo)
            assert fingerprint.fingerprint(after) != fingerprint.fingerprint(before), f"{name} is not fingerprinted"
            assert fingerprint.differences(before, after) == [f"{name}: different content"]
        finally:
            path.write_bytes(original)
    assert fingerprint.manifest(repo) == before


def test_a_new_file_counts_and_caches_do_not(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "repo", (*fingerprint.FOLDERS, *fingerprint.FILES))
    before = fingerprint.manifest(repo)
    (repo / "grader" / "content" / "hidden" / "__pycache__").mkdir(exist_ok=True)
    (repo / "grader" / "content" / "hidden" / "__pycache__" / "lookup.cpython-311.pyc").write_bytes(b"cache")
    (repo / "solutions" / "01_lookup" / ".ipynb_checkpoints").mkdir(exist_ok=True)
    (repo / "solutions" / "01_lookup" / ".ipynb_checkpoints" / "x.ipynb").write_text("{}")
    assert fingerprint.manifest(repo) == before
    (repo / "grader" / ".ruff_cache").mkdir(exist_ok=True)
    (repo / "grader" / ".ruff_cache" / "x").write_text("cache")
    assert fingerprint.manifest(repo) == before
    extra = repo / "grader" / "content" / "hidden" / "extra.py"
    extra.write_text("POINTS = 3\n")
    data = repo / "solutions" / "01_lookup" / ".table.txt"   # nbgrader copies dot-files into the release
    data.write_text("v2\n")
    try:
        after = fingerprint.manifest(repo)
        assert fingerprint.differences(before, after) == ["grader/content/hidden/extra.py: only there",
                                                          "solutions/01_lookup/.table.txt: only there"]
    finally:
        extra.unlink()
        data.unlink()


def test_a_worker_with_other_code_refuses_to_grade_and_names_the_files() -> None:
    here = fingerprint.manifest()
    coordinator = {**here, "grader/content/hidden/lookup.py": "0" * 64, "package torch": "2.0.0"}
    result = execute_task(Task("ada", "01_lookup", {"01_lookup": b"{}"}), Job(b"", coordinator))
    assert not result.ok and result.problem.startswith("refused")
    assert "grader/content/hidden/lookup.py: different content" in result.problem
    assert "package torch: 2.0.0 here" in result.problem
    assert result.fingerprint == fingerprint.fingerprint(here)


def test_a_dask_cluster_with_a_worker_of_other_code_is_refused(tmp_path: Path) -> None:
    """A real worker process started from another copy of the repository, one hidden test edited."""
    pytest.importorskip("distributed")
    from distributed import Client, LocalCluster

    from grader.grading.executor import DaskExecutor
    from grader.project import GraderError

    other = copy_repo(tmp_path / "other checkout")
    with (other / "grader" / "content" / "hidden" / "lookup.py").open("a") as file:
        file.write("\n# edited on the worker machine only\n")
    with LocalCluster(n_workers=0, processes=True, dashboard_address=None) as cluster:
        env = {**os.environ, "PYTHONPATH": ""}
        worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", cluster.scheduler_address,
                                   "--nthreads", "1", "--no-dashboard"], cwd=other, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with Client(cluster) as client:
                client.wait_for_workers(1, timeout=120)
            executor = DaskExecutor(cluster.scheduler_address)
            with pytest.raises(GraderError) as refused:
                executor.start()
            message = str(refused.value)
            assert "1 of 1 Dask worker(s)" in message
            assert "grader/content/hidden/lookup.py: different content" in message
            assert "No submission was graded" in message
        finally:
            worker.kill()
            worker.wait()
