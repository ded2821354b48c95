"""Plain nbgrader at the repository root, on a fresh checkout, as an nbgrader user types it.

``nbgrader generate_assignment 01_lookup`` records the assignment in ./gradebook.db and writes its release into
release/ (git-ignored) — identical to the committed course/, which it never touches (course/ is made only by
``python -m grader release``); ``nbgrader autograde 01_lookup`` then refuses, before any grade is saved, naming the
command that grades with the sandbox and the re-check; and that command works there, on the gradebook plain nbgrader
started (the root's nbgrader_config.py)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from nbgrader.api import Gradebook

from grader.commands.export import grade_rows
from grader.project import REPO, default_db_url, graded_assignments
from grader.samples.submissions import fill, write_notebook
from tests.helpers import copy_repo, run_grader, run_nbgrader

NOTEBOOK = "01_lookup"


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True,
                          capture_output=True, text=True).stdout


def _course_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted((root / "course").rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_plain_nbgrader_at_the_root_records_the_assignment_and_refuses_to_grade_around_the_grader(
        tmp_path: Path) -> None:
    root = copy_repo(tmp_path / "checkout")
    shutil.copy2(REPO / ".gitignore", root / ".gitignore")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "fresh clone")
    before = _course_hash(root)

    generated = run_nbgrader("generate_assignment", NOTEBOOK, cwd=root)
    said = generated.stdout + generated.stderr
    assert generated.returncode == 0 and "Skipping existing assignment" not in said, said[-3000:]
    release = root / "release" / NOTEBOOK / f"{NOTEBOOK}.ipynb"
    assert release.read_bytes() == (root / "course" / NOTEBOOK / f"{NOTEBOOK}.ipynb").read_bytes(), \
        "nbgrader's release differs from the committed course/: is course/ stale?"
    with Gradebook(default_db_url(root)) as gb:
        assert [n.name for n in gb.find_assignment(NOTEBOOK).notebooks] == [NOTEBOOK]
    assert _course_hash(root) == before and _git(root, "status", "--porcelain") == ""

    [assignment] = [a for a in graded_assignments() if a.name == NOTEBOOK]
    write_notebook(fill(assignment, NOTEBOOK), root / "submitted" / "ada" / NOTEBOOK / f"{NOTEBOOK}.ipynb")
    refused = run_nbgrader("autograde", NOTEBOOK, cwd=root)
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0 and f"python -m grader autograde --root {root}" in said, said[-3000:]
    # refused as it starts (grader.compat.guard.RefuseAutograde): nothing scored
    assert all(score is None for score, _, _ in grade_rows(default_db_url(root)).values()), "it saved grades"
    assert _course_hash(root) == before and _git(root, "status", "--porcelain") == ""

    graded = run_grader("autograde", "--jobs", "1", cwd=root)   # what the refusal names (--root . is the default)
    assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-3000:]
    scores = [score or 0 for (student, a, *_), (score, _, _) in grade_rows(default_db_url(root)).items()
              if student == "ada" and a == NOTEBOOK]
    assert scores and sum(scores) == 18, scores   # every automatic point of 01 (its 2 written points await a person)
    assert "is not the grader's" not in graded.stderr, graded.stderr   # the root's config needs no workspace config
    assert _course_hash(root) == before and _git(root, "status", "--porcelain") == ""


# formgrader's Autograde and Generate Feedback buttons, in a Jupyter server started at the root: nbgrader's
# BaseHandler.api builds this NbGraderAPI (its parent the FormgradeExtension, which read the root's config) and the
# buttons' handlers call its autograde / generate_feedback — the same objects, without the server and the browser.
FORMGRADER_BUTTON = """
import json, sys
from nbgrader.apps import NbGraderAPI
from nbgrader.server_extensions.formgrader.formgrader import FormgradeExtension
formgrader = FormgradeExtension()
formgrader.root_dir = "."
formgrader.initialize([])
formgrader.coursedir.parent.load_config_file()
api = NbGraderAPI(formgrader.coursedir, formgrader.authenticator, parent=formgrader.coursedir.parent)
button, assignment, student = sys.argv[1:]
print(json.dumps(getattr(api, button)(assignment, student)))
"""


def _press(root: Path, button: str, student: str) -> dict:
    import json
    import os
    import sys

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run([sys.executable, "-c", FORMGRADER_BUTTON, button, NOTEBOOK, student], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_formgraders_autograde_at_the_root_is_refused_and_its_feedback_hides_the_hidden_tests(tmp_path: Path) -> None:
    from grader.samples.hostile import IMPORT_REFERENCE

    root = copy_repo(tmp_path / "checkout")
    generated = run_nbgrader("generate_assignment", NOTEBOOK, cwd=root)
    assert generated.returncode == 0, generated.stderr[-3000:]
    [assignment] = [a for a in graded_assignments() if a.name == NOTEBOOK]
    # one_hot answered by calling the grader's own reference: stock nbgrader gives it every point (18)
    write_notebook(fill(assignment, NOTEBOOK, {"one_hot": IMPORT_REFERENCE}),
                   root / "submitted" / "ada" / NOTEBOOK / f"{NOTEBOOK}.ipynb")

    refused = _press(root, "autograde", "ada")
    command = f"python -m grader autograde --root {root}"
    assert not refused["success"], f"formgrader's Autograde graded with stock nbgrader: {refused.get('log')}"
    # the error dialog's Traceback panel ends with it (its Log Output has it too)
    assert command in refused["error"].strip().splitlines()[-1], refused["error"][-3000:]
    assert not (root / "autograded").exists(), "it touched the submission before refusing"
    assert all(score is None for score, _, _ in grade_rows(default_db_url(root)).values()), "it saved grades"

    graded = run_grader("autograde", "--jobs", "1", cwd=root)
    assert graded.returncode == 0, graded.stdout[-3000:] + graded.stderr[-3000:]
    ours = grade_rows(default_db_url(root))
    assert sum(score or 0 for score, _, _ in ours.values()) < 18, "the grader gave the imported reference its points"

    feedback = _press(root, "generate_feedback", "ada")
    assert feedback["success"], feedback.get("error", "")[-3000:]
    page = (root / "feedback" / "ada" / NOTEBOOK / f"{NOTEBOOK}.html").read_text(encoding="utf-8")
    assert "BEGIN HIDDEN TESTS" not in page and "grader.content.hidden" not in page, "hidden tests shown"
    assert "hidden tests:" in page, "formgrader's feedback lacks the hidden tests' report"
    assert _press(root, "autograde", "ada")["success"] is False and grade_rows(default_db_url(root)) == ours
