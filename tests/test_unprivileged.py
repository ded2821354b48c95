"""The sandbox boundary holds when grading runs as an ordinary user, not only as root.

As root, each kernel becomes a user id of its own; as an ordinary user it keeps yours inside its namespaces, and the
mounts alone are the boundary. CI runs as root, so this test grades a few hostile submissions beside an honest one as
`nobody` (``setpriv``): links left for the grader to follow, a process left behind, folders and links left for the
next student, a re-check that dies. Run as an ordinary user, the whole suite is that proof and this test has nothing
to add.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from grader.project import REPO
from grader.samples.hostile import CASES, NOTEBOOK, solution
from tests.helpers import cell_grades, reachable_by_anyone

NOBODY = 65534
ATTACKS = ("leak-through-links", "outlive-the-kernel", "poison-the-next", "crash-the-recheck")


@pytest.fixture
def home() -> Iterator[Path]:
    """A home folder of nobody's, where nobody can reach it (pytest's own folders are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="grader-nobody-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_hostile_notebooks_gain_nothing_when_grading_runs_as_an_ordinary_user(home: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("already an ordinary user: the whole suite runs unprivileged")
    if shutil.which("setpriv") is None or shutil.which("unshare") is None:
        pytest.fail("setpriv and unshare (util-linux) are needed to grade as an ordinary user")
    export = home / "lms.zip"
    with zipfile.ZipFile(export, "w") as archive:
        archive.writestr(f"honest_{NOTEBOOK}.ipynb", nbformat.writes(solution()))
        for case in CASES:
            if case.name in ATTACKS:
                archive.writestr(f"{case.name.replace('-', '')}_{NOTEBOOK}.ipynb", case.make())
    for path in [home, *home.rglob("*")]:
        os.chown(path, NOBODY, NOBODY)
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    grade = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", sys.executable, "-m", "grader",
             "autograde", str(export), "--root", str(home / "ws"), "--jobs", "1"]
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                           (reachable_by_anyone([Path(sys.executable)]) or "true") + ' && exec "$@"', "sh", *grade],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
    report = done.stdout[-3000:] + done.stderr[-3000:]
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, report
    workspace = home / "ws"
    assert (workspace / "submitted" / "honest").is_dir(), report
    db = f"sqlite:///{workspace / 'gradebook.db'}"
    assignment = next(p.name for p in (workspace / "submitted" / "honest").iterdir())
    full = sum(score or 0.0 for score, _ in cell_grades(db, "honest", assignment, NOTEBOOK).values())
    assert full > 0
    for case in ATTACKS:
        student = case.replace("-", "")
        total = sum(score or 0.0 for score, _ in cell_grades(db, student, assignment, NOTEBOOK).values())
        if case == "crash-the-recheck":
            assert total < full, f"{case}: a re-check it killed must not leave it full marks"
        else:
            assert total == pytest.approx(full), f"{case} scored {total}, the honest notebook {full}"
        feedback = workspace / "feedback" / student / assignment
        assert sorted(p.name for p in feedback.iterdir()) == [f"{NOTEBOOK}.html"], sorted(feedback.iterdir())
    verdicts = json.loads((workspace / "integrity.json").read_text())
    crashed = [v for nb in verdicts[f"crashtherecheck/{assignment}"].values() for v in nb if not v["verified"]]
    assert crashed, "the dead re-check is reported as could not be verified"
    assert not [p for p in workspace.rglob("*") if p.is_symlink()], "a link the students left is in the workspace"
