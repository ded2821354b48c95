"""A broken grading environment stops the run before the first student, saying what broke and how to fix it.

The break is a real one an instructor can make: a reference implementation edited so that it disagrees with the
solution notebook. The hidden tests then take points from the instructor's own solution — a class of wrong grades —
and the pre-flight check must catch it and grade no one."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import nbformat

from grader.project import notebook_index
from grader.samples.submissions import fill
from tests.helpers import copy_repo


def test_a_reference_that_disagrees_with_the_solution_stops_grading_before_any_student(tmp_path: Path) -> None:
    repo = copy_repo(tmp_path / "checkout")
    reference = repo / "grader" / "content" / "reference" / "lookup.py"
    reference.write_text(reference.read_text() + """

_one_hot = one_hot


def one_hot(ids, num_classes):   # an edit gone wrong: the reference is off by one
    return _one_hot((np.asarray(ids) + 1) % num_classes, num_classes)
""")
    lookup = notebook_index()["01_lookup"]
    export = tmp_path / "lms.zip"
    with zipfile.ZipFile(export, "w") as archive:
        archive.writestr("ada_01_lookup.ipynb", nbformat.writes(fill(lookup, "01_lookup")))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    scratch_before = set(Path(tempfile.gettempdir()).glob("grader-worker-*"))
    done = subprocess.run([sys.executable, "-m", "grader", "autograde", str(export), "--root", "ws", "--jobs", "1"],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert "grading environment is broken" in done.stderr and "No student has been graded" in done.stderr
    assert "one_hot_hidden" in done.stderr and "out of process" in done.stderr, done.stderr[-2000:]
    assert "grader/content/reference/" in done.stderr, "the message says where to look"
    assert "Traceback" not in done.stderr
    left = set(Path(tempfile.gettempdir()).glob("grader-worker-*")) - scratch_before
    assert not left, f"the workers' scratch folders (a student's notebook each) were left behind: {sorted(left)}"
    workspace = repo / "ws"
    assert not (workspace / "autograded").exists() and not (workspace / "feedback").exists()
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{workspace / 'gradebook.db'}") as gb:
        assert not gb.assignment_submissions("01_lookup"), "a student was graded by a broken environment"
