"""The command line, run as an instructor runs it: `python -m grader …` in a subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from grader.course import REPO, graded_assignments
from grader.demo import MARKER, PERSONAS


def grader(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([sys.executable, "-m", "grader", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    root = tmp_path_factory.mktemp("demo") / "class"
    return grader("demo", "--root", str(root)), root


def _row(stdout: str, student: str) -> list[str]:
    line = next(line for line in stdout.splitlines() if line.startswith(student + " "))
    return line.split()


def test_demo_runs_end_to_end(demo: tuple[subprocess.CompletedProcess, Path]) -> None:
    result, root = demo
    assert result.returncode == 0, result.stderr[-3000:]
    assert (root / MARKER).exists()
    for persona in PERSONAS:
        for assignment in graded_assignments():
            for notebook in assignment.notebooks:
                assert (root / "feedback" / persona.student / assignment.name / f"{notebook}.html").is_file()
    assert (root / "grades.csv").is_file() and (root / "grades_by_student.csv").is_file()
    assert re.search(r"\[\d+/\d+\] ada 01_lookup", result.stderr), "no progress lines while grading"
    assert "Traceback" not in result.stderr


def test_demo_table_shows_the_expected_scores(demo: tuple[subprocess.CompletedProcess, Path]) -> None:
    result, _ = demo
    out = result.stdout
    # 01_lookup: 6 exercises × (1 visible + 2 hidden) = 18 automatic points, + 2 for the written answer.
    assert _row(out, "ada")[1:3] == ["18/20*", "18/20"], out
    assert _row(out, "blank")[1:3] == ["0/20", "0/20"], out
    assert _row(out, "fay")[1:3] == ["12/20", "12/20"], out  # four exercises of three points each
    for persona in PERSONAS:
        if persona.mistakes:
            score = float(_row(out, persona.student)[1].split("/")[0])
            assert 0 < score < 18, f"{persona.student} ({persona.note}) scored {score}"
    assert "written answers await a person's grade" in out
    assert "feedback" in out and "grades_by_student.csv" in out


def test_demo_refuses_to_wipe_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    result = grader("demo", "--root", str(tmp_path))
    assert result.returncode == 2 and "not a demo workspace" in result.stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_autograde_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = grader("autograde", str(tmp_path / "nope.zip"), "--root", str(tmp_path / "ws"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_release_check_reports_up_to_date() -> None:
    result = grader("release", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout


def test_autograde_a_folder_into_a_gradebook_of_your_choice(tmp_path: Path) -> None:
    """nbgrader's folder layout in, `--db` with another SQLAlchemy URL, one worker, one student of two."""
    from grader.submissions import fill, write_notebook

    assignment = graded_assignments()[0]
    notebook = assignment.notebooks[0]
    for student in ("zoe", "yan"):
        write_notebook(fill(assignment, notebook, solve=False),
                       tmp_path / "in" / student / assignment.name / f"{notebook}.ipynb")
    db = tmp_path / "elsewhere" / "grades.sqlite"
    db.parent.mkdir()
    result = grader("autograde", str(tmp_path / "in"), "--root", str(tmp_path / "ws"), "--db", f"sqlite:///{db}",
                    "--jobs", "1", "--student", "zoe")
    assert result.returncode == 0, result.stderr[-3000:]
    assert db.is_file() and not (tmp_path / "ws" / "gradebook.db").exists()
    assert _row(result.stdout, "zoe")[1].startswith("0/")
    assert not any(line.startswith("yan ") for line in result.stdout.splitlines()), "--student was ignored"
    assert (tmp_path / "ws" / "feedback" / "zoe" / assignment.name / f"{notebook}.html").is_file()


def test_nbgrader_validate_accepts_a_completed_student_notebook(tmp_path: Path) -> None:
    """What a student's Validate button runs: the release, answers filled in, without hidden tests."""
    from grader.submissions import fill, write_notebook

    for assignment in graded_assignments():
        for notebook in assignment.notebooks:
            path = write_notebook(fill(assignment, notebook), tmp_path / f"{notebook}.ipynb")
            env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
            result = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "validate", str(path)],
                                    cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
            assert "Success! Your notebook passes all the tests." in result.stdout, result.stdout + result.stderr
