"""The command line, run as an instructor runs it: `python -m grader …` in a subprocess."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from grader.commands.demo import MARKER, PERSONAS
from grader.project import graded_assignments
from grader.samples.mutants import by_name
from tests.helpers import run_grader as grader


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    """The demo with a relative --root (as `make demo` runs it by default), from a folder whose name has a space."""
    here = tmp_path_factory.mktemp("demo") / "a folder"
    here.mkdir()
    return grader("demo", "--root", "class", cwd=here), here / "class"


def _table(stdout: str) -> dict[str, dict[str, str]]:
    """The grade table printed at the end: student -> column -> cell."""
    lines = stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("student "))
    columns = lines[head].split()
    rows = {}
    for line in lines[head + 2:]:
        if not line.strip() or not re.match(r"^[\w.@-]+\s+(\S+/\S+|—|error)", line):
            break
        cells = line.split()
        rows[cells[0]] = dict(zip(columns[1:], cells[1:len(columns)], strict=False))
    return rows


def _row(stdout: str, student: str) -> list[str]:
    line = next(line for line in stdout.splitlines() if line.startswith(student + " "))
    return line.split()


def _points(notebook: str, upto: str | None = None) -> tuple[float, float, bool]:
    """(automatic points of the answers up to and including `upto` (all if None), all points, has written)."""
    from grader.project import notebook_index
    from grader.samples.submissions import read_notebook
    from tests.helpers import nbgrader_meta

    nb = read_notebook(notebook_index()[notebook].source_dir / f"{notebook}.ipynb")
    auto, total, written, counting = 0.0, 0.0, False, True
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if meta.get("grade"):
            total += meta["points"]
            written |= cell.cell_type == "markdown"
            if cell.cell_type == "code" and counting:
                auto += meta["points"]
        if meta.get("grade_id") == f"{upto}_hidden":
            counting = False
    return auto, total, written


def test_demo_runs_end_to_end(demo: tuple[subprocess.CompletedProcess, Path]) -> None:
    result, root = demo
    assert result.returncode == 0, result.stderr[-3000:]
    assert (root / MARKER).exists()
    for persona in PERSONAS:
        for assignment in graded_assignments():
            for notebook in assignment.notebooks:
                assert (root / "feedback" / persona.student / assignment.name / f"{notebook}.html").is_file()
    assert (root / "grades.csv").is_file() and (root / "grades_by_student.csv").is_file()
    assert re.search(r"\[\s*\d+/\d+\] .*ETA .* ada 01_lookup", result.stderr), "no progress lines while grading"
    assert "pre-flight: the solution of 01_lookup" in result.stderr, "no pre-flight check before the class"
    assert "Traceback" not in result.stderr


def test_demo_table_shows_the_expected_scores(demo: tuple[subprocess.CompletedProcess, Path]) -> None:
    result, _ = demo
    table = _table(result.stdout)
    notebooks = [nb for a in graded_assignments() for nb in a.notebooks]
    assert set(table) == {p.student for p in PERSONAS}, result.stdout
    fay = next(p for p in PERSONAS if p.student == "fay")
    for notebook in notebooks:
        auto, total, written = _points(notebook)
        star = "*" if written else ""
        assert table["ada"][notebook] == f"{auto:g}/{total:g}{star}", f"full solution of {notebook}: {table['ada']}"
        assert table["blank"][notebook] == f"0/{total:g}", f"untouched release of {notebook}: {table['blank']}"
        stop = next((s for s in fay.stop_after if s in _answer_ids(notebook)), None)
        fay_auto = _points(notebook, stop)[0] if stop else auto
        assert table["fay"][notebook] == f"{fay_auto:g}/{total:g}", f"fay stops after {stop}: {table['fay']}"
        for persona in PERSONAS:
            mistakes = [m for m in persona.mistakes if by_name(m).notebook == notebook]
            if mistakes:
                score = float(table[persona.student][notebook].split("/")[0])
                assert 0 < score < auto, f"{persona.student} ({persona.note}) scored {score} on {notebook}"
    assert "written answers await a person's grade" in result.stdout
    assert "feedback" in result.stdout and "grades_by_student.csv" in result.stdout


def _answer_ids(notebook: str) -> set[str]:
    from grader.project import notebook_index
    from grader.samples.submissions import answer_cells, read_notebook

    return set(answer_cells(read_notebook(notebook_index()[notebook].source_dir / f"{notebook}.ipynb")))


def test_demo_refuses_to_wipe_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    result = grader("demo", "--root", str(tmp_path))
    assert result.returncode == 2 and "not a demo workspace" in result.stderr
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_autograde_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = grader("autograde", str(tmp_path / "nope.zip"), "--root", str(tmp_path / "ws"))
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_autograde_a_folder_into_a_gradebook_of_your_choice(tmp_path: Path) -> None:
    """nbgrader's folder layout in, `--db` with another SQLAlchemy URL, one worker, one student of two."""
    from grader.samples.submissions import fill, write_notebook

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
    page = tmp_path / "ws" / "feedback" / "zoe" / assignment.name / f"{notebook}.html"
    assert page.is_file()
    page.unlink()  # after manual grading, feedback is regenerated from the gradebook
    again = grader("feedback", "--root", str(tmp_path / "ws"), "--db", f"sqlite:///{db}")
    assert again.returncode == 0 and page.is_file(), again.stdout + again.stderr
    assert re.search(rf"^\[1/1\] .* ETA \d+:\d\d  zoe {assignment.name}  ok$", again.stderr, re.MULTILINE), again.stderr
    # A submission nbgrader cannot make a page for (an autograded folder the gradebook does not know) stops nothing
    # else: zoe's page is made again, the run fails naming yan's.
    stray = tmp_path / "ws" / "autograded" / "yan" / assignment.name
    shutil.copytree(tmp_path / "ws" / "autograded" / "zoe" / assignment.name, stray)
    page.unlink()
    failing = grader("feedback", "--root", str(tmp_path / "ws"), "--db", f"sqlite:///{db}")
    assert failing.returncode != 0 and page.is_file(), failing.stdout + failing.stderr
    assert "generate_feedback failed for 1 of 2 submission(s)" in failing.stderr, failing.stderr
    assert f"yan {assignment.name}: " in failing.stderr and "Traceback" not in failing.stderr, failing.stderr
    assert f"the gradebook has no grades of yan's {assignment.name}" in failing.stderr, failing.stderr
    said = [line for line in failing.stderr.splitlines() if line.strip()]
    assert len(said) == len(set(said)), f"something was said twice:\n{failing.stderr}"


def _validated(output: str, paths: list[Path]) -> dict[Path, str]:
    """What `nbgrader validate a.ipynb b.ipynb …` printed for each notebook, from its stdout and stderr in order: the
    validator logs ``Validating '<absolute path>'`` before each notebook and prints its verdict after it."""
    heads = list(re.finditer(r"^\[ValidateApp \| INFO\] Validating '(.+)'$", output, re.MULTILINE))
    assert [m.group(1) for m in heads] == [os.path.abspath(p) for p in paths], f"one validation per notebook:\n{output}"
    ends = [m.start() for m in heads[1:]] + [len(output)]
    return {path: output[m.start():end] for path, m, end in zip(paths, heads, ends, strict=True)}


def test_nbgrader_validate_accepts_a_completed_student_notebook(tmp_path: Path) -> None:
    """What a student's Validate button runs: the release, answers filled in, without hidden tests. nbgrader's
    validate loops over its arguments, so each core's process validates several notebooks, each in a folder of its
    own; every notebook's verdict is read and asserted on its own."""
    from grader.grading.engine import default_jobs
    from grader.samples.submissions import fill, write_notebook

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONUNBUFFERED": "1"}   # the verdicts (stdout) and the log lines naming each notebook (stderr) in order

    def validate(paths: list[Path]) -> dict[Path, str]:
        result = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), "validate", *map(str, paths)],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                timeout=300 * len(paths))
        assert result.returncode == 0, result.stdout
        return _validated(result.stdout, paths)

    paths = [write_notebook(fill(assignment, notebook), tmp_path / notebook / f"{notebook}.ipynb")
             for assignment in graded_assignments() for notebook in assignment.notebooks]
    jobs = default_jobs()
    with ThreadPoolExecutor(jobs) as pool:   # one process per core, each validating every jobs-th notebook in turn
        chunks = [chunk for chunk in (paths[i::jobs] for i in range(jobs)) if chunk]
        outputs = {path: out for chunk in pool.map(validate, chunks) for path, out in chunk.items()}
    assert sorted(outputs) == sorted(paths)
    for path in paths:
        assert outputs[path].count("Success! Your notebook passes all the tests.") == 1, f"{path.name}: {outputs[path]}"


def test_demo_flags_the_hostile_student_in_the_integrity_report(demo: tuple[subprocess.CompletedProcess, Path]
                                                                 ) -> None:
    result, root = demo
    report = [line for line in result.stdout.splitlines() if line.startswith("  mallory ")]
    assert "integrity:" in result.stdout and report, result.stdout[-3000:]
    assert any("one_hot" in line for line in report) and any("embed_lookup" in line for line in report), report
    assert (root / "integrity.csv").is_file()
    table = _table(result.stdout)
    mallory = float(table["mallory"]["01_lookup"].split("/")[0])
    assert mallory < float(table["ada"]["01_lookup"].split("/")[0]), "cheating must not pay"


@pytest.mark.parametrize("verb", ["export", "feedback"])
def test_a_workspace_with_nothing_graded_is_a_message_and_stays_empty(verb: str, tmp_path: Path) -> None:
    missing = grader(verb, "--root", str(tmp_path / "missing"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr, missing.stderr[-2000:]
    empty = tmp_path / "empty"
    empty.mkdir()
    result = grader(verb, "--root", "empty", cwd=tmp_path)
    assert result.returncode == 2 and "nothing has been graded" in result.stderr, result.stderr[-2000:]
    assert str(empty) in result.stderr, "the message names the folder it looked in"
    for output in (missing, result):
        assert "Traceback" not in output.stderr
    assert not list(empty.iterdir()), "a command that refused left files behind (an empty gradebook.db?)"
    assert not (tmp_path / "missing").exists()


def test_a_tilde_the_shell_did_not_expand_is_the_home_folder(tmp_path: Path) -> None:
    """`--root=~/x` and quoted "~/x" reach the program unexpanded; they still mean the home folder."""
    env_home = tmp_path / "my home"
    (env_home / "class").mkdir(parents=True)
    env = {**os.environ, "HOME": str(env_home),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run([sys.executable, "-m", "grader", "export", "--root=~/class"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 2 and f"no gradebook at {env_home / 'class' / 'gradebook.db'}" in result.stderr, (
        result.stderr[-2000:])


def test_instructor_mistakes_get_one_line_and_leave_nothing_behind(tmp_path: Path) -> None:
    """A typo'd flag, --db that is not a URL, a database server that is not there, a zip that does not exist, a
    student who is not in the workspace, a workspace graded into another gradebook."""
    typo = grader("autograde", "x.zip", "--roots", "ws", cwd=tmp_path)
    assert typo.returncode == 2 and "python -m grader autograde: error: unrecognized arguments: --roots" in typo.stderr
    not_url = grader("export", "--root", str(tmp_path), "--db", "fall.db")
    assert not_url.returncode == 2 and "is not a database URL" in not_url.stderr
    (tmp_path / "ws").mkdir()
    down = grader("export", "--root", str(tmp_path / "ws"), "--db", "postgresql+psycopg2://grader:s3cret@127.0.0.1:1/x")
    assert down.returncode == 2 and "cannot open the gradebook" in down.stderr and "s3cret" not in down.stderr
    missing = grader("autograde", str(tmp_path / "nope.zip"), "--root", str(tmp_path / "new"))
    assert missing.returncode == 2 and not (tmp_path / "new").exists(), "a refused run left its workspace folder"
    from grader.samples.submissions import fill, write_notebook

    lookup = graded_assignments()[0]
    write_notebook(fill(lookup, lookup.notebooks[0], solve=False),
                   tmp_path / "ws" / "submitted" / "ada" / lookup.name / f"{lookup.notebooks[0]}.ipynb")
    nobody = grader("autograde", "--root", str(tmp_path / "ws"), "--student", "nobody")
    assert nobody.returncode == 2 and "no submission of nobody" in nobody.stderr and "ada" in nobody.stderr
    (tmp_path / "ws" / ".grader-state.json").write_text(f'{{"_prepared": "abc sqlite:///{tmp_path}/fall.db"}}')
    other = grader("export", "--root", str(tmp_path / "ws"))
    assert other.returncode == 2 and f"add --db sqlite:///{tmp_path}/fall.db" in other.stderr, other.stderr
    for result in (typo, not_url, down, missing, nobody, other):
        assert "Traceback" not in result.stderr, result.stderr
