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
    names every one that failed (nbgrader removes a failed page's folder: that student has no page of it until the
    cause is fixed and this is run again). nbgrader's warnings and errors are said once each, at the end, with the
    number of pages they came from. Ctrl-C stops the run."""
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
        if (result.get("error") or "").rstrip().endswith("KeyboardInterrupt"):
            raise KeyboardInterrupt   # nbgrader's capture_log turns Ctrl-C into a failed page; it stops the run
        gathered.end_page(failed=not result.get("success"))   # a failure is said once, in the summary below
        if not result.get("success"):
            why = last_error(result)
            if "MissingEntry" in why:   # an autograded folder the gradebook holds no grades of
                why += f" (the gradebook has no grades of {student}'s {assignment}: grade it with `grader autograde`)"
            failed.append(f"{student} {assignment}: {why}")
        rate = done / max(time.perf_counter() - start, 1e-9)
        left = int((len(todo) - done) / rate)
        say(f"[{done:>{width}}/{len(todo)}] {rate:4.1f}/s ETA {left // 60}:{left % 60:02d}  {student} {assignment}  "
            + ("ok" if result.get("success") else "FAILED"))
    for line in gathered.summary():
        say(line)
    if failed:
        raise GraderError(f"generate_feedback failed for {len(failed)} of {len(todo)} submission(s) (GRADER_DEBUG=1 "
                          "shows nbgrader's log):\n  " + "\n  ".join(failed))
    return list(dict.fromkeys(assignment for assignment, _ in todo))


class _Gathered(logging.Filter):
    """Keeps nbgrader's log of each page off stderr, counting each distinct warning or error once per page: a page's
    failure reaches the instructor once, in the summary of failed pages, and the rest once each at the end."""

    SHOWN = 20   # distinct messages said at the end; the others are counted (GRADER_DEBUG=1 shows them all)

    def __init__(self) -> None:
        super().__init__()
        self.pages: dict[str, int] = {}     # "LEVEL message" -> pages it came from
        self.this_page: set[str] = set()

    def new_page(self) -> None:
        self.this_page = set()

    def end_page(self, failed: bool) -> None:
        """Count what the page said, unless it failed (its error is reported with the failures)."""
        if not failed:
            for said in self.this_page:
                self.pages[said] = self.pages.get(said, 0) + 1
        self.this_page = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            self.this_page.add(f"{record.levelname} {record.getMessage()}")
        return False

    def summary(self) -> list[str]:
        lines = [said + (f" (for {pages} pages)" if pages > 1 else "")
                 for said, pages in list(self.pages.items())[:self.SHOWN]]
        if len(self.pages) > self.SHOWN:
            lines.append(f"... and {len(self.pages) - self.SHOWN} other messages (GRADER_DEBUG=1 shows them all)")
        return lines


@contextlib.contextmanager
def _log_kept_from_stderr(gathered: _Gathered) -> Iterator[None]:
    """While one page is made: nbgrader's log stays in the result the API returns and in ``gathered``, not on
    stderr (GRADER_DEBUG=1 shows it all; so does --verbose, whose handler shows INFO)."""
    gathered.new_page()
    if os.environ.get("GRADER_DEBUG"):
        yield
        return
    handlers = [h for h in logging.getLogger().handlers if h.level >= logging.WARNING]
    for handler in handlers:
        handler.addFilter(gathered)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(gathered)
