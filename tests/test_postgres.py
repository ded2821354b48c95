"""The gradebook can live in PostgreSQL: one writer means nothing PostgreSQL-specific is needed, and a real server
(a throwaway cluster started for the test, on a Unix socket only) proves it."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.grading.engine import autograde
from tests.conftest import SAMPLE, GradedClass, submit_like_the_class
from tests.helpers import rows_of


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or list(filter(None, [shutil.which("initdb")]))
    return Path(found[-1]).parent if found else None


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    pg = _pg_bin()
    if pg is None:
        pytest.skip("PostgreSQL's server binaries are not installed (`make test` installs the Debian package)")
    # Not under pytest's tmp folder: that one is private to root, and postgres refuses to run as root.
    base = Path(tempfile.mkdtemp(prefix="grader-pg-"))
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(base, "postgres")
    data, port = base / "data", "55433"

    def run(*cmd: str) -> None:
        done = subprocess.run([*as_user, *cmd], capture_output=True, text=True, cwd=base)
        assert done.returncode == 0, f"{' '.join(cmd)} failed: {done.stdout}{done.stderr}"

    run(str(pg / "initdb"), "-D", str(data), "-A", "trust", "-U", "grader")
    run(str(pg / "pg_ctl"), "-D", str(data), "-o", f"-k {base} -p {port} -c listen_addresses=''",
        "-l", str(base / "log"), "-w", "start")
    try:
        run(str(pg / "createdb"), "-h", str(base), "-p", port, "-U", "grader", "gradebook")
        yield f"postgresql+psycopg2://grader@/gradebook?host={base}&port={port}"
    finally:
        run(str(pg / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)


def test_grading_into_postgresql_matches_the_class(graded_sample: GradedClass, postgres_url: str, workspace: Path
                                                   ) -> None:
    sample = SAMPLE[:3]
    submit_like_the_class(workspace, sample)
    outcomes = autograde(workspace, db_url=postgres_url, progress=lambda line: None)
    assert all(o.ok for o in outcomes), [o.problem for o in outcomes if not o.ok]
    assert not (workspace / "gradebook.db").exists(), "a SQLite gradebook was written although PostgreSQL was given"
    students = {s for s, _ in sample}
    expected = {k: v for k, v in rows_of(graded_sample.db_url, students).items() if (k[0], k[2]) in set(sample)}
    assert rows_of(postgres_url, students) == expected
