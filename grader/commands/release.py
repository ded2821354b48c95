"""``grader release``: regenerate the student release ``course/`` from ``solutions/`` with nbgrader.

nbgrader's ``generate_assignment`` does the work (solutions replaced by stubs, hidden tests removed, cells
locked, outputs cleared, checksums recorded). It runs in a scratch workspace with a scratch gradebook, so
releasing never touches a class's gradebook; the result then replaces ``course/`` folder by folder.
"""

from __future__ import annotations

import filecmp
import logging
import shutil
import tempfile
from pathlib import Path

from grader.project import COURSE, Assignment, assignments, check_result, make_api, resolve_path

log = logging.getLogger(__name__)


def generate(root: Path, db_url: str | None = None, only: list[Assignment] | None = None) -> Path:
    """Run nbgrader ``generate_assignment`` for every assignment into ``root``'s release directory.

    This also records the assignments (cells, points, hidden tests) in the workspace's gradebook, which
    autograding needs. Returns the release directory.
    """
    api = make_api(root, db_url)
    for assignment in only or assignments():
        check_result(api.generate_assignment(assignment.name, force=True), f"generate_assignment {assignment.name}")
    return Path(api.coursedir.root) / api.coursedir.release_directory


def release(dest: Path = COURSE) -> list[str]:
    """Regenerate ``dest`` (default ``course/``); return the names of the assignments that changed."""
    dest = resolve_path(dest)
    changed = []
    with tempfile.TemporaryDirectory(prefix="grader-release-") as tmp:
        fresh = generate(Path(tmp))
        dest.mkdir(parents=True, exist_ok=True)
        wanted = {a.name for a in assignments()}
        for stale in sorted(p for p in dest.iterdir() if p.is_dir() and p.name not in wanted):
            log.info("removing %s: no such assignment in solutions/", stale)
            shutil.rmtree(stale)
            changed.append(stale.name)
        for name in sorted(wanted):
            if not same_tree(fresh / name, dest / name):
                shutil.rmtree(dest / name, ignore_errors=True)
                shutil.copytree(fresh / name, dest / name)
                changed.append(name)
    return changed


def same_tree(a: Path, b: Path) -> bool:
    """True when the two folders hold the same files with the same bytes."""
    if not a.is_dir() or not b.is_dir():
        return False
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return files_a == files_b and all(filecmp.cmp(a / f, b / f, shallow=False) for f in files_a)
