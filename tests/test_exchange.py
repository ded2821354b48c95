"""nbgrader's exchange with the grader in the middle, run for real: the instructor releases an assignment, two
students fetch it, answer and submit, the instructor collects, grades with ``python -m grader autograde`` and
releases the feedback, and each student fetches their own page — every step a plain nbgrader command. The two
students are one OS user giving nbgrader a different student id (``CourseDirectory.student_id``), each with a home
and exchange cache of their own. Where tests/test_hub.py can run (as root, with the hub's proxy installed), it proves
all of this and more, with separate OS users on a real JupyterHub and a browser, and this test is skipped.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
from pathlib import Path

import pytest

from grader.project import COURSE, graded_assignments
from grader.samples.submissions import fill, write_notebook
from tests.helpers import run_grader, run_nbgrader
from tests.test_hub import PROXY

ASSIGNMENT = "01_lookup"


def _nbgrader(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``nbgrader ARGS`` in ``cwd``, which holds the nbgrader_config.py it reads; it must succeed."""
    done = run_nbgrader(*args, cwd=cwd)
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done


def _text(page: Path) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page.read_text())))


def test_release_fetch_submit_collect_grade_and_fetch_feedback(workspace: Path,
                                                               tmp_path_factory: pytest.TempPathFactory) -> None:
    if os.geteuid() == 0 and PROXY.exists():
        pytest.skip("tests/test_hub.py runs this round trip for real: separate OS users, a JupyterHub, a browser")
    elsewhere = tmp_path_factory.mktemp("hub")
    exchange = elsewhere / "exchange"
    exchange.mkdir()
    config = ("c = get_config()  # noqa: F821\n"
              "c.CourseDirectory.course_id = 'embedding-layers'\n"
              f"c.CourseDirectory.release_directory = {str(COURSE)!r}\n"
              f"c.Exchange.root = {str(exchange)!r}\n")
    (workspace / "nbgrader_config.py").write_text(config)
    _nbgrader("release_assignment", ASSIGNMENT, cwd=workspace)

    [assignment] = [a for a in graded_assignments() if a.name == ASSIGNMENT]
    homes = {}
    for student, solve in (("ada", True), ("bob", False)):
        home = homes[student] = elsewhere / student
        home.mkdir()
        (home / "nbgrader_config.py").write_text(config + f"c.CourseDirectory.student_id = {student!r}\n"
                                                 f"c.Exchange.cache = {str(home / 'cache')!r}\n")
        _nbgrader("fetch_assignment", ASSIGNMENT, cwd=home)
        fetched = home / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        assert fetched.read_bytes() == (COURSE / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes()
        write_notebook(fill(assignment, ASSIGNMENT, solve=solve), fetched)
        _nbgrader("submit", ASSIGNMENT, cwd=home)

    _nbgrader("collect", ASSIGNMENT, cwd=workspace)
    graded = run_grader("autograde", "--root", str(workspace))
    assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-3000:]
    for student in homes:
        for step in ("autograded", "feedback"):   # where nbgrader's own autograde and generate_feedback put them
            folder = workspace / step / student / ASSIGNMENT
            for name in ("timestamp.txt", "submission_secret.txt"):
                assert (folder / name).read_bytes() == (workspace / "submitted" / student / ASSIGNMENT
                                                        / name).read_bytes(), f"{folder / name}"

    _nbgrader("release_feedback", ASSIGNMENT, cwd=workspace)
    scores = {}
    for student, home in homes.items():
        _nbgrader("fetch_feedback", ASSIGNMENT, cwd=home)
        pages = sorted((home / ASSIGNMENT / "feedback").glob(f"*/{ASSIGNMENT}.html"))
        assert len(pages) == 1, f"{student} fetched {pages}: expected their one feedback page"
        text = _text(pages[0])
        assert "BEGIN HIDDEN TESTS" not in text and "grade_" not in text, f"{student}'s page shows hidden-test code"
        found = re.search(rf"{ASSIGNMENT} \(Score: ([\d.]+) / ([\d.]+)\)", text)
        assert found, f"{student}'s page has no score: {text[:500]}"
        scores[student] = float(found[1])
        expected = (workspace / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").read_bytes()
        assert pages[0].read_bytes() == expected, f"{student} fetched a page other than the one graded for them"
    assert scores["bob"] == 0 < scores["ada"], scores   # each got their own: the solution scores, the stubs do not


def test_collect_takes_what_stock_takes_but_a_submission_in_another_students_name(tmp_path: Path) -> None:
    """grader.compat.exchange.CollectOwnSubmissions against nbgrader's stock ExchangeCollect on one inbound folder:
    the same newest submission for a student who owns theirs; none for a name whose folders someone else owns, where
    stock takes the impostor's (tests/test_hub.py does the same on a real hub, with separate OS users)."""
    import pwd

    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default.collect import ExchangeCollect
    from traitlets.config import Config

    from grader.compat.exchange import CollectOwnSubmissions

    me = pwd.getpwuid(os.getuid()).pw_name
    inbound = tmp_path / "exchange" / "embedding-layers" / "inbound"
    for name in (f"{me}+{ASSIGNMENT}+2026-12-01 10:00:00.000000 UTC+a",
                 f"{me}+{ASSIGNMENT}+2026-12-02 10:00:00.000000 UTC+b",
                 f"someone-else+{ASSIGNMENT}+2026-12-03 10:00:00.000000 UTC+c"):
        (inbound / name).mkdir(parents=True)
        (inbound / name / "timestamp.txt").write_text(name.split("+")[2])
    config = Config()
    (tmp_path / "course").mkdir()   # (its gradebook, created here, holds no due date)
    config.CourseDirectory.root = str(tmp_path / "course")
    config.CourseDirectory.course_id = "embedding-layers"
    config.CourseDirectory.assignment_id = ASSIGNMENT
    config.Exchange.root = str(tmp_path / "exchange")
    found = {}
    for kind in (ExchangeCollect, CollectOwnSubmissions):
        collect = kind(coursedir=CourseDirectory(config=config), config=config)
        collect.init_src()
        found[kind.__name__] = sorted(r["filename"] for r in collect.src_records)
    mine = f"{me}+{ASSIGNMENT}+2026-12-02 10:00:00.000000 UTC+b"
    assert found["ExchangeCollect"] == sorted([mine, f"someone-else+{ASSIGNMENT}+2026-12-03 10:00:00.000000 UTC+c"])
    assert found["CollectOwnSubmissions"] == [mine], found
