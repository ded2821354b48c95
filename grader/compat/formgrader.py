"""formgrader's page of a submission typesets its maths offline, with MathJax from the Jupyter server itself.

nbgrader 0.9.6's ``formgrade`` template (``server_extensions/formgrader/templates/formgrade/index.html.j2``) replaces
nbconvert's whole page header and calls nbconvert's ``mathjax()`` macro with no URL, so every page of a submission
loads MathJax 2.7.7 from cdnjs, whatever ``HTMLExporter.mathjax_url`` says: with no network, no formula is typeset.
``templates/formgrade/mathjax.html.j2`` here shadows that macro for the formgrade template only, pointing it at the
MathJax that the ``jupyter-server-mathjax`` extension (in the lock, enabled when installed) serves from the same
server. A class workspace's ``nbgrader_config.py`` (:func:`grader.project.write_workspace_config`) puts this folder
before nbgrader's own templates in ``HTMLExporter.extra_template_basedirs``; nbgrader's ``feedback`` template and
every other one are untouched (their names are other folders). ``tests/test_formgrader.py`` checks in a browser,
with the network closed, that a formula on formgrader's page of a submission is typeset.
"""

from __future__ import annotations

from pathlib import Path

from grader.compat import require_versions

require_versions(__name__, "the formgrade template must still call nbconvert's mathjax() macro from "
                 "'mathjax.html.j2' and be found through HTMLExporter.extra_template_basedirs: re-run "
                 "tests/test_formgrader.py", ("nbgrader", "nbconvert"))

OFFLINE_TEMPLATES = Path(__file__).resolve().parent / "templates"


def template_basedirs() -> list[str]:
    """``HTMLExporter.extra_template_basedirs`` for a class workspace: this package's override of the formgrade
    template's MathJax, then nbgrader's formgrader templates (``formgrade`` and ``feedback``), which formgrader and
    ``nbgrader generate_feedback`` add themselves only when the configuration sets none."""
    import nbgrader

    return [str(OFFLINE_TEMPLATES),
            str(Path(nbgrader.__file__).resolve().parent / "server_extensions" / "formgrader" / "templates")]
