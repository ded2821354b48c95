"""Student content in a feedback page is inert, proven in a real browser (headless Chromium).

A feedback page is opened by the student and by the instructor (formgrader serves pages from its own origin). Every
way a notebook can carry a script — an HTML output with ``<script>`` and an ``onerror`` handler, a JavaScript
output, Markdown with raw HTML, in outputs and in the student's own Markdown cells — tries to change the page's
title. The page our exporter writes must keep its title; the same notebook rendered by nbconvert without
sanitising must lose it (so the probe can tell).

A feedback page's maths is MathML written when the page was made (grader.compat.maths): a real course notebook's page,
opened with no network at all, shows every formula laid out and no raw TeX, where nbconvert's page (MathJax from a CDN)
shows TeX; and TeX a student writes to carry a script runs none.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbconvert.exporters import HTMLExporter

from grader.compat.feedback import FeedbackExporter
from tests.browser import chromium_path

MARK = "PWNED"
SCRIPT = f"document.title = '{MARK}';"


def _output(data: dict[str, str]) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell("display(...)", outputs=[nbformat.v4.new_output("display_data", data=data)])


# Each way a notebook can carry a script, alone in a notebook of its own.
VECTORS = {
    "an HTML output with a script": _output({"text/html": f"<script>{SCRIPT}</script><b>bold</b>"}),
    "an HTML output with an event handler": _output({"text/html": f"<img src=x onerror=\"{SCRIPT}\">"}),
    "a JavaScript output": _output({"application/javascript": SCRIPT}),
    "a Markdown output with a script": _output({"text/markdown": f"<script>{SCRIPT}</script> *md*"}),
    "the student's Markdown with a script": nbformat.v4.new_markdown_cell(f"My notes <script>{SCRIPT}</script>"),
    "the student's Markdown with an event handler": nbformat.v4.new_markdown_cell(
        f"<svg onload=\"{SCRIPT}\"></svg> <img src=x onerror=\"{SCRIPT}\">"),
}


# No network at all: every host name fails to resolve, and anything else goes to a proxy where nothing listens.
OFFLINE = ["--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]


def _title_after_load(chromium: str, page: Path, profile: Path) -> str:
    """The page's title once Chromium has loaded it and run whatever it would run (offline, 3 s of page time)."""
    done = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           *OFFLINE, f"--user-data-dir={profile}", "--virtual-time-budget=3000", "--dump-dom",
                           page.as_uri()],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    head = done.stdout.split("</title>")[0]
    return head.rsplit(">", 1)[-1]


@pytest.mark.parametrize("vector", VECTORS)
def test_student_scripts_never_run_in_a_feedback_page(vector: str, tmp_path: Path) -> None:
    chromium = chromium_path()
    nb = nbformat.v4.new_notebook(cells=[VECTORS[vector]])
    ours, _ = FeedbackExporter(template_name="lab").from_notebook_node(nb)
    unsafe, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    (tmp_path / "ours.html").write_text(ours, encoding="utf-8")
    (tmp_path / "unsafe.html").write_text(unsafe, encoding="utf-8")
    assert _title_after_load(chromium, tmp_path / "unsafe.html", tmp_path / "p1") == MARK, (
        f"the probe must see {vector} run in an unsanitised page, or it proves nothing")
    assert _title_after_load(chromium, tmp_path / "ours.html", tmp_path / "p2") != MARK, (
        f"{vector} ran in the feedback page")


@pytest.mark.parametrize("template", ["lab", "classic"])
def test_sanitised_pages_still_show_markdown_and_harmless_html_as_html(template: str) -> None:
    """Sanitising keeps what Markdown renders to — headings, paragraphs, tables, images, links — as tags, not as
    escaped text (nbconvert's own clean_html escapes <p> and <img>); a script shows as text. (nbgrader's own
    ``feedback`` template, which sanitises nothing itself, is held to the same in tests/test_hostile.py.)"""
    nb = nbformat.v4.new_notebook(cells=[
        VECTORS["an HTML output with a script"],
        nbformat.v4.new_markdown_cell("# A heading\n\nSome **bold** notes <b>here</b> and a [link](https://a.b)\n\n"
                                      "| a | b |\n|---|---|\n| 1 | 2 |\n\n![plot](plot.png)\n\n"
                                      f"<script>{SCRIPT}</script>")])
    ours, _ = FeedbackExporter(template_name=template).from_notebook_node(nb)
    for kept in ("<h1", "<p>Some <strong>bold</strong> notes <b>here</b>", '<a href="https://a.b">', "<td>1</td>",
                 '<img src="plot.png" alt="plot"'):
        assert kept in ours, f"{kept!r} is not rendered as HTML"
    assert "&lt;p&gt;" not in ours and "<script>document" not in ours and "&lt;script&gt;document" in ours


def test_formgraders_pages_of_a_submission_are_inert_with_the_course_configuration(tmp_path: Path) -> None:
    """formgrader renders a submission with nbconvert's HTMLExporter, its own ``formgrade`` template and the course's
    nbgrader_config.py: the student's Markdown and outputs are inert there too (and not without that configuration)."""
    from nbgrader.server_extensions.formgrader import handlers
    from traitlets.config import Config

    from grader.project import REPO, load_config

    chromium = chromium_path()
    nb = nbformat.v4.new_notebook(cells=[VECTORS["the student's Markdown with a script"],
                                         VECTORS["an HTML output with an event handler"]])
    resources = {"base_url": "/", "submission_id": "s", "index": 0, "total": 1, "notebook_id": "n",
                 "assignment_id": "a"}
    titles = {}
    for name, config in (("course", load_config(REPO)), ("stock", Config())):
        config.HTMLExporter.template_name = "formgrade"          # as formgrader's build_extra_config sets them
        config.HTMLExporter.extra_template_basedirs = [handlers.template_path]
        page, _ = HTMLExporter(config=config).from_notebook_node(nb, resources=dict(resources))
        (tmp_path / f"{name}.html").write_text(page, encoding="utf-8")
        titles[name] = _title_after_load(chromium, tmp_path / f"{name}.html", tmp_path / f"profile-{name}")
    assert titles["stock"] == MARK, "the probe must see the script run in formgrader's stock page"
    assert titles["course"] != MARK, "a student's script ran in formgrader's page of their submission"


# Appended by the test to a copy of a page (the page itself runs no script): what a reader sees of its maths, once the
# page has loaded and had 3 s to typeset, written into the title.
MEASURE = """<script>
const formulas = [...document.querySelectorAll("math")];
const sized = formulas.filter(m => { const r = m.getBoundingClientRect(); return r.width > 0 && r.height > 0; });
const text = [...document.querySelectorAll(".text_cell_render, .jp-RenderedMarkdown")].map(e => e.innerText)
                                                                                   .join("\\n");
document.title = JSON.stringify({formulas: formulas.length, sized: sized.length,
                                 raw_tex: (text.match(/\\\\(mathrm|frac|top|texttt|sum|theta)\\b/g) || []).length,
                                 fallbacks: document.querySelectorAll("code.grader-tex-fallback").length});
</script>"""


def _feedback_page(exporter: type, notebook: Path) -> str:
    """The notebook's feedback page as nbgrader's generate_feedback writes it with the course's configuration (its
    ``feedback`` template and options), every graded cell given full marks (nbgrader's GetGrades would read them from
    the gradebook)."""
    import nbgrader

    from grader.project import REPO, load_config

    formgrader = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader"
    config = load_config(REPO)
    config.HTMLExporter.template_name = "feedback"   # as nbgrader's GenerateFeedback.__init__ sets them
    config.HTMLExporter.extra_template_basedirs = [str(formgrader / "templates")]
    config.HTMLExporter.extra_template_paths = [str(formgrader / "static" / "node_modules" / "bootstrap" / "dist" /
                                                    "css")]
    nb = nbformat.read(str(notebook), as_version=4)
    for cell in nb.cells:
        grading = cell.metadata.get("nbgrader", {})
        if grading.get("grade") or grading.get("task"):
            grading["score"] = grading.get("points", 0)
    resources = {"nbgrader": {"notebook": notebook.stem, "score": 1, "max_score": 1, "late_penalty": 0}}
    page, _ = exporter(config=config).from_notebook_node(nb, resources=resources)
    return page


def _maths_seen(chromium: str, page: str, folder: Path, name: str) -> dict[str, int]:
    probe = folder / f"{name}.html"
    probe.write_text(page.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    return json.loads(_title_after_load(chromium, probe, folder / f"profile-{name}").replace("&quot;", '"'))


def test_a_feedback_page_shows_its_maths_typeset_with_no_network(tmp_path: Path) -> None:
    """04's feedback page (RoPE: the most maths of the course) opened offline: every formula is a laid-out <math>,
    no raw TeX shows in its Markdown, and the page itself carries no script; nbconvert's page of the same notebook,
    whose MathJax cannot load, shows the TeX (so the probe can tell)."""
    from grader.project import SOLUTIONS

    chromium = chromium_path()
    notebook = SOLUTIONS / "04_positions_rope" / "04_positions_rope.ipynb"
    ours = _feedback_page(FeedbackExporter, notebook)
    assert "<script" not in ours, "a feedback page must run no script, MathJax's included"
    seen = _maths_seen(chromium, ours, tmp_path, "ours")
    stock = _maths_seen(chromium, _feedback_page(HTMLExporter, notebook), tmp_path, "stock")
    assert stock["formulas"] == 0 and stock["raw_tex"] > 20, f"nbconvert's page offline should show raw TeX: {stock}"
    assert seen["formulas"] >= 150, f"too few formulas typeset in 04's feedback page: {seen}"
    assert seen["sized"] == seen["formulas"], f"some <math> elements have no layout size: {seen}"
    assert seen["raw_tex"] == 0 and seen["fallbacks"] == 0, f"raw TeX is visible in 04's feedback page: {seen}"


MATHS_VECTORS = {
    "a tag in \\text": f"$\\text{{<img/src='x'/onerror=\"{SCRIPT}\">}}$",
    "an SVG in \\text": f"$\\text{{<svg/onload=\"{SCRIPT}\">}}$",
}


@pytest.mark.parametrize("vector", MATHS_VECTORS)
def test_student_tex_never_runs_a_script_in_a_feedback_page(vector: str, tmp_path: Path) -> None:
    """TeX whose \\text holds a tag: latex2mathml's own string output puts it in the page as a live tag (the
    control page loses its title); ours shows it as text inside the maths."""
    from latex2mathml.converter import convert

    chromium = chromium_path()
    tex = MATHS_VECTORS[vector]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"My working: {tex}")])
    ours, resources = FeedbackExporter(template_name="lab").from_notebook_node(nb)
    assert resources["maths"].typeset == 1, "the formula should be typeset, its tag as text"
    (tmp_path / "ours.html").write_text(ours, encoding="utf-8")
    control = f"<!DOCTYPE html><html><head><title>t</title></head><body>{convert(tex.strip('$'))}</body></html>"
    (tmp_path / "control.html").write_text(control, encoding="utf-8")
    assert _title_after_load(chromium, tmp_path / "control.html", tmp_path / "p1") == MARK, (
        f"the probe must see {vector} run from latex2mathml's string output, or it proves nothing")
    assert _title_after_load(chromium, tmp_path / "ours.html", tmp_path / "p2") != MARK, (
        f"{vector} ran in the feedback page")
