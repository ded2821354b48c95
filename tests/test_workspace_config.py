"""A graded workspace is a complete nbgrader course: its own ``nbgrader_config.py`` makes formgrader (and nbgrader's
commands run there) see every assignment, submission and grade, generate feedback without hidden-test source, and
refuse nbgrader's own autograde, which would grade around the sandbox and the re-check. Stock nbgrader runs here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from grader.commands.export import grade_rows
from grader.project import REPO, WORKSPACE_CONFIG_MARK, default_db_url, graded_assignments
from grader.samples.submissions import fill, write_notebook
from tests.helpers import run_grader, run_nbgrader

NOTEBOOK = "01_lookup"
FORMGRADER_VIEW = """
import json
from nbgrader.apps import NbGraderAPI
from traitlets.config.loader import PyFileConfigLoader
api = NbGraderAPI(config=PyFileConfigLoader("nbgrader_config.py", path=".").load_config())
subs = api.get_submissions("01_lookup")
print(json.dumps({"assignments": {a["name"]: a["num_submissions"] for a in api.get_assignments()},
                  "submissions": [(s["student"], s["score"], s["max_score"]) for s in subs]}))
"""


def _in(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([sys.executable, *args], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_a_graded_workspace_is_an_nbgrader_course_that_refuses_grading_around_the_grader(workspace: Path) -> None:
    [assignment] = [a for a in graded_assignments() if a.name == NOTEBOOK]
    write_notebook(fill(assignment, NOTEBOOK), workspace / "submitted" / "ada" / NOTEBOOK / f"{NOTEBOOK}.ipynb")
    graded = run_grader("autograde", "--root", str(workspace))
    assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-3000:]
    config = workspace / "nbgrader_config.py"
    assert config.read_text().startswith(WORKSPACE_CONFIG_MARK)
    grades = grade_rows(default_db_url(workspace))

    view = _in(workspace, "-c", FORMGRADER_VIEW)   # what formgrader's pages are built from (its NbGraderAPI)
    assert view.returncode == 0, view.stderr[-3000:]
    seen = json.loads(view.stdout.strip().splitlines()[-1])
    assert seen["assignments"][NOTEBOOK] == 1, seen
    assert [(student, score) for student, score, _ in seen["submissions"]] == [
        ("ada", sum(score or 0 for (s, a, *_), (score, _, _) in grades.items() if s == "ada" and a == NOTEBOOK))]

    feedback = run_nbgrader("generate_feedback", NOTEBOOK, "--force", cwd=workspace)
    assert feedback.returncode == 0, feedback.stderr[-3000:]
    page = (workspace / "feedback" / "ada" / NOTEBOOK / f"{NOTEBOOK}.html").read_text()
    assert "BEGIN HIDDEN TESTS" not in page and "grader.content.hidden" not in page
    assert "hidden tests:" in page, "the hidden tests' report is missing from nbgrader's feedback"

    autograded = workspace / "autograded" / "ada" / NOTEBOOK / f"{NOTEBOOK}.ipynb"
    before = autograded.read_bytes()   # refused as nbgrader's autograde starts: this stays as the grader wrote it
    refused = run_nbgrader("autograde", NOTEBOOK, "--force", cwd=workspace)
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0 and f"python -m grader autograde --root {workspace}" in said, said[-3000:]
    assert grade_rows(default_db_url(workspace)) == grades, "nbgrader's own autograde changed the gradebook"
    assert autograded.is_file() and autograded.read_bytes() == before, "nbgrader's autograde touched a submission"
    elsewhere = run_nbgrader("autograde", NOTEBOOK, "--force", f"--CourseDirectory.root={workspace}", cwd=REPO)
    said = elsewhere.stdout + elsewhere.stderr   # from the repository, pointed at the workspace: refused too
    assert elsewhere.returncode != 0 and f"python -m grader autograde --root {workspace}" in said, said[-3000:]
    assert grade_rows(default_db_url(workspace)) == grades
    assert autograded.is_file() and autograded.read_bytes() == before, "nbgrader's autograde touched a submission"

    # refused as it started (the course config's RefuseAutograde), nothing touched: the grader's next run keeps it
    again = run_grader("autograde", "--root", str(workspace))
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert grade_rows(default_db_url(workspace)) == grades
    assert (workspace / "autograded" / "ada" / NOTEBOOK / f"{NOTEBOOK}.ipynb").is_file()
