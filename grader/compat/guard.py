"""nbgrader's own autograde refused in a class workspace: formgrader's *Autograde* button and a plain ``nbgrader
autograde`` would run students' code without the sandbox and the re-check and record what it scores.

A class workspace's ``nbgrader_config.py`` (written by ``python -m grader autograde``,
:func:`grader.project.write_workspace_config`) makes :class:`UseTheGrader` nbgrader's whole
``Autograde.sanitize_preprocessors`` and ``autograde_preprocessors``: nbgrader's autograde then stops on the first
notebook, before any grade is saved, with a message that says what to run (nbgrader would remove the autograded folder
of that submission as it fails; the grader's next run would notice it and grade it again) — a second line of defence:
the course's :class:`RefuseAutograde`, which a workspace's config loads with the course's, refuses first. The grader
itself never reads a workspace's configuration (:func:`grader.project.load_config` reads the course's only), so its
own grading is untouched.

Before that, the course's own ``nbgrader_config.py`` (read at the repository root, and by every workspace's config)
makes :class:`RefuseAutograde` nbgrader's ``Autograde.exporter_class``: every Autograde converter built from that
file refuses as it starts, before it touches any submission — ``nbgrader autograde``, and formgrader's *Autograde*
(``NbGraderAPI.autograde``), which a ``c.NbGrader.Autograde`` section did not reach — except the grader's own, from
which :func:`grader.project.load_config` removes it. Only nbconvert's public ``Preprocessor`` and ``NotebookExporter``
and nbgrader's configurable ``exporter_class`` are used here; ``tests/test_workspace_config.py`` and
``tests/test_repository_nbgrader.py`` run stock nbgrader and formgrader's API against them.
"""

from __future__ import annotations

from nbconvert.exporters import NotebookExporter
from nbconvert.preprocessors import Preprocessor
from nbgrader.converters import NbGraderException
from traitlets import Bool, Unicode

from grader.compat import require_versions

require_versions(__name__, "UseTheGrader relies on nbgrader's Autograde running its sanitize_preprocessors first and "
                 "stopping on an exception before SaveAutoGrades: re-run tests/test_workspace_config.py",
                 ("nbgrader", "nbconvert"))


class GradeWithTheGrader(NbGraderException):
    """nbgrader's own autograde was asked to grade a class workspace or the repository (an NbGraderException, so
    ``nbgrader autograde`` exits 1 after logging it, with no traceback)."""


class UseTheGrader(Preprocessor):
    """Refuses: this workspace is graded by ``python -m grader autograde`` (sandbox, re-check, partial credit)."""

    root = Unicode("", help="the workspace, as the message names it").tag(config=True)
    # nbconvert's preprocessors are off unless enabled; this one is on. At the repository root it stands before
    # nbgrader's own sanitize steps, so `--UseTheGrader.enabled=False` there is stock nbgrader; in a workspace it is
    # the whole chain, so turning it off there grades nothing.
    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):  # type: ignore[no-untyped-def]
        raise GradeWithTheGrader(self.message())

    def message(self) -> str:
        root = self.root or "<this folder>"
        return (
            "this course folder (a class workspace, or the repository itself) is graded by the course's grader, not "
            "by nbgrader's own autograde (which would run students' code without the sandbox and the re-check): "
            "from the course's repository run "
            f"`python -m grader autograde --root {root}` (with --force to grade again what it graded already). "
            "Manual grading in formgrader and `python -m grader feedback` work as usual.")


class RefuseAutograde(NotebookExporter):
    """nbgrader's ``Autograde.exporter_class`` in the course's configuration, for every Autograde that reads it:
    ``nbgrader autograde``, formgrader's *Autograde* button (``NbGraderAPI.autograde``, whose converter's parent is
    the API, so a ``c.NbGrader.Autograde`` section never reaches it) and any NbGraderAPI built from that file — but
    not the grader's own, :func:`grader.project.load_config` takes it out. nbgrader builds its exporter in
    ``BaseConverter.start`` before its per-submission ``try``: the refusal escapes ``start()`` before any submission
    is touched (no gradebook row, no autograded folder removed), so formgrader shows it as the last line of its error
    dialog's *Traceback* panel, not only in *Log Output*. Configured by :class:`UseTheGrader`'s ``root`` and
    ``enabled`` (``--UseTheGrader.enabled=False`` is stock nbgrader, knowingly); disabled it is NotebookExporter."""

    def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        guard = UseTheGrader(parent=self)
        if guard.enabled:
            self.log.error(guard.message())
            raise GradeWithTheGrader(guard.message())
