"""A submission graded again behind the grader's back — by formgrader's Autograde button or a plain ``nbgrader
autograde``, which run the student's code without the sandbox and the re-check — is not kept as the grader's: the
next ``python -m grader autograde`` notices its autograded notebook is not the one it wrote, says so, grades it
again and restores its own grades. Stock nbgrader really runs here, from the repository root as an instructor would.
"""

from __future__ import annotations

from pathlib import Path

from grader.commands.export import grade_rows
from grader.project import REPO, default_db_url, graded_assignments
from grader.samples.hostile import IMPORT_REFERENCE, NOTEBOOK
from grader.samples.submissions import fill, write_notebook
from tests.helpers import run_grader, run_nbgrader

STUDENT = "mallory"


def _score(root: Path) -> float:
    rows = grade_rows(default_db_url(root))
    return sum(score or 0.0 for (student, *_), (score, _, _) in rows.items() if student == STUDENT)


def test_a_submission_graded_again_by_plain_nbgrader_is_graded_again(workspace: Path) -> None:
    [assignment] = [a for a in graded_assignments() if a.name == NOTEBOOK]
    # one_hot answered by importing the grader's own reference: the sandbox and the re-check do not let it score
    write_notebook(fill(assignment, NOTEBOOK, {"one_hot": IMPORT_REFERENCE}),
                   workspace / "submitted" / STUDENT / NOTEBOOK / f"{NOTEBOOK}.ipynb")
    first = run_grader("autograde", "--root", str(workspace))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    ours = _score(workspace)

    # The workspace's nbgrader_config.py (written by the grader) makes nbgrader's own autograde refuse, even from the
    # repository with --CourseDirectory.root (nbgrader reads the course root's config too: test_workspace_config.py).
    # An instructor can still take it away, and turn off the repository's own refusal (nbgrader_config.py); then stock
    # nbgrader grades around the sandbox, and the grader notices.
    (workspace / "nbgrader_config.py").unlink()
    stock = run_nbgrader("autograde", NOTEBOOK, "--force", f"--CourseDirectory.root={workspace}",
                         "--UseTheGrader.enabled=False", cwd=REPO, env={"HOME": str(workspace)})
    assert stock.returncode == 0, stock.stderr[-3000:]
    assert _score(workspace) > ours, "stock nbgrader should have given the imported reference its points"

    again = run_grader("autograde", "--root", str(workspace))
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    said = again.stdout + again.stderr
    assert "graded again by something other than the grader" in said and f"{STUDENT}/{NOTEBOOK}" in said, said
    assert "unchanged since they were last graded" not in said, said
    assert _score(workspace) == ours, "the grader's own grades must be back in the gradebook"

    third = run_grader("autograde", "--root", str(workspace))   # and now it is the grader's again: kept
    said = third.stdout + third.stderr
    assert third.returncode == 0 and "1 submission(s) unchanged" in said, said
    assert "graded again by something" not in said, said
