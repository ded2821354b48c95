"""Feedback pages typeset their maths as MathML (grader.compat.maths): every formula of the course, decided as
nbconvert decides it, and hostile TeX a student writes stays inert and bounded.

The browser's side (the MathML is laid out, offline, with no script) is in tests/test_feedback_browser.py.
"""

from __future__ import annotations

import re
import time

import nbformat
import pytest
from bs4 import BeautifulSoup
from hypothesis import given, settings
from hypothesis import strategies as st
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

from grader.compat import maths
from grader.compat.feedback import FeedbackExporter
from grader.project import SOLUTIONS

NOTEBOOKS = sorted(SOLUTIONS.glob("*/*.ipynb"))
_PLACEHOLDER_TAGS = re.compile(r'<code class="grader-tex-(?:inline|block|env)">([^<]*)</code>')


def _ours(source: str) -> str:
    return MarkdownWithMath(renderer=maths.TexRenderer(escape=False)).render(source)


def _nbconverts(source: str) -> str:
    return MarkdownWithMath(renderer=IPythonRenderer(escape=False)).render(source)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_every_formula_of_the_course_is_typeset(notebook) -> None:
    nb = nbformat.read(str(notebook), as_version=4)
    found, failed = 0, []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        page, done = maths.typeset(_ours(cell.source))
        found += done.typeset + len(done.not_typeset)
        failed += [f"{notebook.name}, cell {index}: {tex!r} ({reason})" for tex, reason in done.not_typeset]
        assert "grader-tex-" not in page.replace("grader-tex-fallback", ""), f"a placeholder is left in cell {index}"
    assert not failed, "formulas not typeset:\n" + "\n".join(failed)
    if notebook.stem != "00_start_here":
        assert found >= 20, f"{notebook.name}: only {found} formulas found; is the maths still recognised?"


# What is maths is what nbconvert's parser says: not code, not an escaped or a lone dollar, not a shell variable.
CASES = {
    "inline": ("The id $t$ and $$E = X^\\top G$$ here.", ["$t$", "$$E = X^\\top G$$"]),
    "an environment": ("\\begin{align} a &= b \\\\ c &= d \\end{align}", ["\\begin{align} a &amp;= b \\\\ c &amp;= d "
                                                                         "\\end{align}"]),
    "a code span": ("Run `echo $PATH and $HOME` first.", []),
    "a code block": ("```bash\nexport A=$B; echo $$\n$x$\n```", []),
    "an indented code block": ("Text\n\n    price = $5 + $x$\n", []),
    "escaped dollars": ("It costs \\$5 and \\$10.", []),
    "a lone dollar": ("It costs $5 per token.", []),
    "a heading": ("## As $V$ grows", ["$V$"]),
}


@pytest.mark.parametrize("case", CASES)
def test_maths_is_what_nbconvert_takes_for_maths(case: str) -> None:
    source, formulas = CASES[case]
    ours = _ours(source)
    assert _PLACEHOLDER_TAGS.findall(ours) == formulas
    assert _PLACEHOLDER_TAGS.sub(r"\1", ours) == _nbconverts(source), "beyond its placeholders, not nbconvert's HTML"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="$\\`ab {}*_#\n-&<", max_size=40))
def test_any_markdown_renders_as_nbconvert_renders_it_but_for_the_placeholders(source: str) -> None:
    assert _PLACEHOLDER_TAGS.sub(r"\1", _ours(source)) == _nbconverts(source)


def _page(*markdown: str) -> tuple[str, maths.Typeset]:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text) for text in markdown])
    page, resources = FeedbackExporter(template_name="lab").from_notebook_node(nb)
    return page, resources["maths"]


def test_a_formula_the_converter_cannot_handle_is_shown_as_tex_and_counted() -> None:
    page, done = _page("Known $x^2$, unknown $\\frobnicate{x}$ and $\\frac{1}{$.")
    assert done.typeset == 1 and [tex for tex, _ in done.not_typeset] == ["$\\frobnicate{x}$", "$\\frac{1}{$"]
    assert '<code class="grader-tex-fallback" title="maths not typeset: \\frobnicate is not a command' in page
    assert ">$\\frobnicate{x}$</code>" in page and ">$\\frac{1}{$</code>" in page


HOSTILE = {
    "a link": "$\\href{javascript:alert(1)}{x}$",
    "a link in a text": "$\\text{\\href{javascript:alert(1)}{x}}$",
    "a script as maths": "$<script>alert(1)</script>$",
    "a tag in a text": "$\\text{<img/src='x'/onerror=\"alert(1)\">}$",
    "an entity-encoded tag": "$\\text{&lt;img src=x onerror=alert(1)&gt;}$",
    "a character by code": "$\\unicode{x3C}script$",
    "a style": "$\\style{background:url(javascript:alert(1))}{x}$",
    "a class": "$\\class{jp-OutputArea}{x}$",
    "a colour with a colon": "$\\color{javascript:alert(1)}{x}$",
    "a macro that doubles": "$" + "".join(f"\\newcommand{{\\m{chr(97 + i)}}}{{\\m{chr(96 + i)}\\m{chr(96 + i)}}}"
                                          for i in range(1, 26)).replace("\\m`", "x") + "\\mz$",
    "a definition": "$\\def\\a{\\a\\a}\\a$",
    "a huge formula": "$" + "x+" * 200_000 + "x$",
    "deep braces": "$" + "{" * 3000 + "x" + "}" * 3000 + "$",
    "deep fractions": "$" + "\\frac{1}{" * 300 + "x" + "}" * 300 + "$",
    "deep roots": "$" + "\\sqrt{" * 120 + "x" + "}" * 120 + "$",
    "a forged placeholder": ('<span title=\'<code class="grader-tex-inline">$x" onmouseover="alert(1)$</code>\'>'
                             "x</span>"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_tex_gives_no_script_no_handler_no_link_in_bounded_time_and_size(case: str) -> None:
    tex = HOSTILE[case]
    start = time.process_time()
    page, done = _page(tex)
    took = time.process_time() - start
    body = page.split("<body", 1)[1]
    assert took < 5, f"{case}: {took:.1f} s of CPU for one formula"
    assert len(body) < 2 * len(tex) + 60_000, f"{case}: the page grew by {len(body):,} characters"
    for tag in BeautifulSoup(body.split(">", 1)[1], "html.parser").find_all(True):
        assert tag.name not in ("script", "a", "img", "style", "iframe", "object", "embed", "link", "svg"), (
            f"{case}: a <{tag.name}> in the page")
        for name, value in tag.attrs.items():
            assert not name.startswith("on") and name not in ("href", "src", "style", "xlink:href"), (
                f"{case}: {name}= on <{tag.name}>")
            assert "javascript" not in str(value).lower(), f"{case}: {name}={value!r} on <{tag.name}>"
        if tag.name == "math":
            assert not any(child.attrs.keys() & {"class", "id"} for child in tag.find_all(True)), (
                f"{case}: a class or id inside the maths")
    assert done.typeset + len(done.not_typeset) >= (0 if case == "a forged placeholder" else 1)


def test_a_refused_formula_is_shown_shortened() -> None:
    page, done = _page("$" + "y" * 50_000 + "$")
    assert done.not_typeset and "over the limit of 2,000" in done.not_typeset[0][1]
    assert "more characters)" in page and page.split("<body", 1)[1].count("y") < 2_000


def test_to_mathml_builds_its_markup_from_the_tree_not_the_converters_string() -> None:
    """latex2mathml's own ``convert`` writes a tag in \\text back as a live tag; ours writes it as text."""
    from latex2mathml.converter import convert

    tex = "\\text{<b>bold</b>}"
    assert "<b>" in convert(tex)
    assert "<b>" not in maths.to_mathml(tex, display=False) and "&lt;b&gt;bold" in maths.to_mathml(tex, display=False)
