"""nbgrader's own autograde refused in a class workspace: formgrader's *Autograde* button and a plain ``nbgrader
autograde`` would run students' code without the sandbox and the re-check and record what it scores.

A class workspace's ``nbgrader_config.py`` (written by ``python -m grader autograde``,
:func:`grader.project.write_workspace_config`) makes :class:`UseTheGrader` nbgrader's whole
``Autograde.sanitize_preprocessors`` and ``autograde_preprocessors``: nbgrader's autograde then stops on the first
notebook, before any grade is saved, with a message that says what to run (nbgrader removes the autograded folder of
that submission as it fails; the grader's next run notices it and grades it again). The grader itself never reads a
workspace's configuration (:func:`grader.project.load_config` reads the course's only), so its own grading is
untouched. Only nbconvert's public ``Preprocessor`` is used here; ``tests/test_workspace_config.py`` runs stock
nbgrader against it.
"""

from __future__ import annotations

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Unicode

from grader.compat import require_versions

require_versions(__name__, "UseTheGrader relies on nbgrader's Autograde running its sanitize_preprocessors first and "
                 "stopping on an exception before SaveAutoGrades: re-run tests/test_workspace_config.py",
                 ("nbgrader", "nbconvert"))


class GradeWithTheGrader(RuntimeError):
    """nbgrader's own autograde was asked to grade a class workspace."""


class UseTheGrader(Preprocessor):
    """Refuses: this workspace is graded by ``python -m grader autograde`` (sandbox, re-check, partial credit)."""

    root = Unicode("", help="the workspace, as the message names it").tag(config=True)
    # nbconvert's preprocessors are off unless enabled; this one is on. At the repository root it stands before
    # nbgrader's own sanitize steps, so `--UseTheGrader.enabled=False` there is stock nbgrader; in a workspace it is
    # the whole chain, so turning it off there grades nothing.
    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):  # type: ignore[no-untyped-def]
        root = self.root or "<this folder>"
        raise GradeWithTheGrader(
            "this class workspace is graded by the course's grader, not by nbgrader's own autograde (which would run "
            "students' code without the sandbox and the re-check): from the course's repository run "
            f"`python -m grader autograde --root {root}` (with --force to grade again what it graded already). "
            "Manual grading in formgrader and `python -m grader feedback` work as usual.")
