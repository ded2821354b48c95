"""``grader feedback``: regenerate the feedback pages from the gradebook (after written answers are graded by hand)."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from grader.project import (
    GraderError,
    check_gradebook_reachable,
    graded_assignments,
    last_error,
    make_api,
    require_gradebook,
)


def regenerate_feedback(root: Path, db_url: str | None,
                        progress: Callable[[str], None] | None = None) -> list[str]:
    """nbgrader's generate_feedback for every autograded submission in ``root``, one student and assignment at a
    time, saying ``[ 3/12] 4.0/s ETA 0:02  ada 01_lookup  ok`` after each; the names of the assignments done.

    A submission nbgrader cannot make a page for does not stop the others: they are all tried, then a GraderError
    names every one that failed (their earlier pages are left as they were). nbgrader's warnings are said once each,
    at the end, with the number of pages they came from."""
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    require_gradebook(root, db_url)
    check_gradebook_reachable(db_url)
    todo = [(assignment.name, folder.parent.name) for assignment in graded_assignments()
            for folder in sorted((root / "autograded").glob(f"*/{assignment.name}")) if folder.is_dir()]
    if not todo:
        raise GraderError(f"nothing has been autograded in {root} yet: run `python -m grader autograde` first.")
    api = make_api(root, db_url)
    start, failed, gathered = time.perf_counter(), [], _Gathered()
    width = len(str(len(todo)))
    for done, (assignment, student) in enumerate(todo, 1):
        with _log_kept_from_stderr(gathered):
            result = api.generate_feedback(assignment, student, force=True)
        if not result.get("success"):
            why = last_error(result)
            if "MissingEntry" in why:   # an autograded folder the gradebook holds no grades of
                why += f" (the gradebook has no grades of {student}'s {assignment}: grade it with `grader autograde`)"
            failed.append(f"{student} {assignment}: {why}")
        rate = done / max(time.perf_counter() - start, 1e-9)
        left = int((len(todo) - done) / rate)
        say(f"[{done:>{width}}/{len(todo)}] {rate:4.1f}/s ETA {left // 60}:{left % 60:02d}  {student} {assignment}  "
            + ("ok" if result.get("success") else "FAILED"))
    for message, pages in gathered.warnings.items():
        say(f"WARNING {message}" + (f" (for {pages} pages)" if pages > 1 else ""))
    if failed:
        raise GraderError(f"generate_feedback failed for {len(failed)} of {len(todo)} submission(s) (GRADER_DEBUG=1 "
                          "shows nbgrader's log):\n  " + "\n  ".join(failed))
    return list(dict.fromkeys(assignment for assignment, _ in todo))


class _Gathered(logging.Filter):
    """Keeps nbgrader's log of each page off stderr, counting each distinct warning: its errors reach the instructor
    once, in the summary of failed pages; a warning is said once at the end with the number of pages it came from."""

    def __init__(self) -> None:
        super().__init__()
        self.warnings: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING:
            message = record.getMessage()
            self.warnings[message] = self.warnings.get(message, 0) + 1
        return False


@contextlib.contextmanager
def _log_kept_from_stderr(gathered: _Gathered) -> Iterator[None]:
    """While one page is made: nbgrader's log stays in the result the API returns and in ``gathered``, not on
    stderr (GRADER_DEBUG=1 shows it all)."""
    if os.environ.get("GRADER_DEBUG"):
        yield
        return
    handlers = logging.getLogger().handlers
    for handler in handlers:
        handler.addFilter(gathered)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(gathered)
