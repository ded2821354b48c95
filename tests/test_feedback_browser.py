"""Student content in a feedback page is inert, proven in a real browser (headless Chromium).

A feedback page is opened by the student and by the instructor (formgrader serves pages from its own origin). Every
way a notebook can carry a script — an HTML output with ``<script>`` and an ``onerror`` handler, a JavaScript
output, Markdown with raw HTML, in outputs and in the student's own Markdown cells — tries to change the page's
title. The page our exporter writes must keep its title; the same notebook rendered by nbconvert without
sanitising must lose it (so the probe can tell).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbconvert.exporters import HTMLExporter

from grader.compat.feedback import FeedbackExporter

MARK = "PWNED"
SCRIPT = f"document.title = '{MARK}';"


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not found:
        pytest.skip("Chromium is not installed (`make test` installs the Debian package)")
    return found


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


def _title_after_load(chromium: str, page: Path, profile: Path) -> str:
    """The page's title once Chromium has loaded it and run whatever it would run (offline, 3 s of page time)."""
    done = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={profile}", "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    head = done.stdout.split("</title>")[0]
    return head.rsplit(">", 1)[-1]


@pytest.mark.parametrize("vector", VECTORS)
def test_student_scripts_never_run_in_a_feedback_page(vector: str, tmp_path: Path) -> None:
    chromium = _chromium()
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

    chromium = _chromium()
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
