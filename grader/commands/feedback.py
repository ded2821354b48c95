"""``grader feedback``: regenerate the feedback pages from the gradebook (after written answers are graded by hand)."""

from __future__ import annotations

from pathlib import Path

from grader.project import (
    GraderError,
    check_gradebook_reachable,
    check_result,
    graded_assignments,
    make_api,
    require_gradebook,
)


def regenerate_feedback(root: Path, db_url: str | None) -> list[str]:
    """nbgrader's generate_feedback for every assignment graded in ``root``; the names of those assignments."""
    require_gradebook(root, db_url)
    check_gradebook_reachable(db_url)
    api = make_api(root, db_url)
    done = []
    for assignment in graded_assignments():
        if any((root / "autograded").glob(f"*/{assignment.name}")):
            check_result(api.generate_feedback(assignment.name, force=True), f"generate_feedback {assignment.name}")
            done.append(assignment.name)
    if not done:
        raise GraderError(f"nothing has been autograded in {root} yet: run `python -m grader autograde` first.")
    return done
