"""nbgrader's exchange, made to believe the file system rather than the student: a submission counts for the student
who owns it.

On a hub every student may write into the course's ``inbound`` folder, and a submission is a folder named
``<student>+<assignment>+<time>+<random>``. ``nbgrader submit --student ada`` (or a ``mkdir`` by hand) lets bob hand
in a folder named for ada; stock ``nbgrader collect`` only logs a warning ("cheating attempt?") and collects it as
ada's newest, so bob's blank notebook replaces ada's work in her grade. :class:`CollectOwnSubmissions` is nbgrader's
``ExchangeCollect`` with one change: where ``check_owner`` is on (nbgrader's default), a submission whose folder is
not owned by the student it names is refused — an error in the log naming the folder, the student it claims and its
owner — and that student's newest submission of their own is collected instead (none: nothing is collected for
them). Honest submissions are collected exactly as stock collects them.

Configured for the instructors of the course's hub (``hub/instructors/nbgrader_config.py``) and in the course's
configuration (``nbgrader_config.py``, which class workspaces load): ``c.ExchangeFactory.collect``, nbgrader's own
plug-in point for the exchange. ``tests/test_hub.py`` submits as another student on a real hub.
"""

from __future__ import annotations

import glob
import os
import pwd
from typing import Any

from nbgrader.exchange.default.collect import ExchangeCollect

from grader.compat import require_versions

require_versions(__name__, "CollectOwnSubmissions extends nbgrader's default ExchangeCollect.init_src (its "
                 "src_records, inbound_path, _path_to_record, _sort_by_timestamp and check_owner): read "
                 "nbgrader/exchange/default/collect.py of the new version and run tests/test_hub.py",
                 ("nbgrader",))


def owner_of(path: str) -> str:
    """The user name of the owner of ``path`` ("uid N" when the uid has no name)."""
    uid = os.stat(path).st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


class CollectOwnSubmissions(ExchangeCollect):
    """nbgrader's ``ExchangeCollect``; a submission not owned by the student it names is refused."""

    def init_src(self) -> None:
        super().init_src()
        if not self.check_owner:
            return
        kept: list[dict[str, Any]] = []
        for record in self.src_records:
            student, path = record["username"], os.path.join(self.inbound_path, record["filename"])
            owner = owner_of(path)
            if owner == student:
                kept.append(record)
                continue
            self.log.error(f"{path} claims to be {student}'s but is owned by {owner}: refused")
            pattern = os.path.join(self.inbound_path, f"{glob.escape(student)}+{self.coursedir.assignment_id}+*")
            theirs = [r for r in self._sort_by_timestamp([self._path_to_record(p) for p in glob.glob(pattern)])
                      if r["username"] == student and self._owned(r)]
            if theirs:
                self.log.info(f"collecting {student}'s own newest submission instead: {theirs[0]['filename']}")
                kept.append(theirs[0])
        self.src_records = kept

    def _owned(self, record: dict[str, Any]) -> bool:
        return owner_of(os.path.join(self.inbound_path, record["filename"])) == record["username"]
