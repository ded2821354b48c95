"""The feedback exporter (grader.compat.feedback.FeedbackExporter) renders what nbconvert's HTML exporter renders.

It skips nbconvert's BeautifulSoup pass (parse and re-serialise the whole page, more than half of a feedback
page's cost) and adds the same accessibility attributes on the text. Both exporters render the same notebook here,
with an image and a Markdown cell that contains HTML, under nbconvert's lab and classic templates; the pages must
read the same, and every image and cell must get what nbconvert gives it.

One difference is by design: ours typesets the maths as MathML (grader.compat.maths) where nbconvert leaves ``$x$``
text and a script that loads MathJax. Each ``<math>`` keeps the formula as nbconvert writes it as its annotation, so
:func:`as_nbconvert_writes_it` puts that text back in place of each ``<math>`` element and marks where our MathML style
is; after it, our page, parsed and written out again as nbconvert's soup pass writes its own, must be nbconvert's page
character for character, with MathJax's script marked in the same place.
"""

from __future__ import annotations

import base64
import re

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbconvert.exporters import HTMLExporter

from grader.compat import maths
from grader.compat.feedback import NO_ALT, FeedbackExporter, accessible
from grader.project import SOLUTIONS

_MATH = re.compile(r'<math display="(?:inline|block)"><semantics>.*?<annotation encoding="application/x-tex">'
                   r"(.*?)</annotation></semantics></math>", re.S)
_MATHJAX = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)


def as_nbconvert_writes_it(page: str) -> str:
    """Our page with each formula as nbconvert writes it (its annotation) and MathJax's place marked, as nbconvert's
    page is by :func:`stock`."""
    return _MATH.sub(r"\1", page).replace(maths.STYLE, "<!-- maths -->")


def stock(page: str) -> str:
    """nbconvert's page with MathJax's script marked."""
    return _MATHJAX.sub("<!-- maths -->", page)


def _soup(page: str) -> str:
    return BeautifulSoup(page, "html.parser").decode(formatter="html5")

PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082")).decode()


def _notebook() -> nbformat.NotebookNode:
    nb = nbformat.read(str(SOLUTIONS / "01_lookup" / "01_lookup.ipynb"), as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"}),
                    nbformat.v4.new_output("stream", name="stdout", text="<img src=x> is text, not a tag\n")]
    nb.cells.append(nbformat.v4.new_markdown_cell('An image with its own text: <img src="a.png" alt="mine">'))
    return nb


@pytest.mark.parametrize("template", ["lab", "classic"])
def test_the_page_reads_the_same_and_is_as_accessible(template: str) -> None:
    nb = _notebook()
    page, _ = HTMLExporter(template_name=template).from_notebook_node(nb)
    ours, _ = FeedbackExporter(template_name=template).from_notebook_node(nb)
    assert ours.count("<math") >= 10 and "<!-- Load mathjax -->" not in ours   # 01's maths, typeset; no MathJax
    assert _soup(as_nbconvert_writes_it(ours)) == _soup(stock(page)), "beyond its maths, the page is not nbconvert's"
    a, b = BeautifulSoup(page, "html.parser"), BeautifulSoup(ours, "html.parser")
    assert [img.get("alt") for img in a.find_all("img")] == [img.get("alt") for img in b.find_all("img")]
    assert NO_ALT in ours and 'alt="mine"' in ours
    focus = [d.get("tabindex") for d in a.select(".jp-Notebook div.jp-Cell-inputWrapper, "
                                                 ".jp-Notebook div.jp-OutputArea-output")]
    assert focus == [d.get("tabindex") for d in b.select(".jp-Notebook div.jp-Cell-inputWrapper, "
                                                         ".jp-Notebook div.jp-OutputArea-output")]


def test_scripts_and_styles_are_left_alone() -> None:
    kept = '<script>var s = "<img src=q>";</script><style>/* <img> */</style>'
    assert accessible(kept + '<img src="p.png">') == kept + f'<img alt="{NO_ALT}" src="p.png">'


def test_what_is_remembered_is_bounded_in_memory_not_characters() -> None:
    """The stores of rendered cells are bounded by the memory their strings take: text of 4-byte characters (emoji)
    fills one in a quarter of the characters ASCII would, and a text too large to keep is returned, not kept."""
    import sys

    from grader.compat.feedback import _LARGEST_REMEMBERED, _RENDERED_BYTES, _Remembered

    store = _Remembered()
    kept = []
    for i in range(2 * _RENDERED_BYTES // (_LARGEST_REMEMBERED // 2)):
        text = chr(0x1F600 + i % 64) * (_LARGEST_REMEMBERED // 16) + str(i)   # a quarter of the largest, in bytes
        assert store.keep(("key", i), text) is text
        held = sum(sys.getsizeof(v) for v in store.values())
        assert held <= _RENDERED_BYTES, f"after {i + 1} texts the store holds {held:,} bytes"
        kept.append(len(store))
    assert max(kept) > 10 and min(kept[len(kept) // 2:]) < max(kept), "the store fills, then starts again"
    huge = "\U0001F600" * (_LARGEST_REMEMBERED // 4 + 1)
    assert store.keep("huge", huge) is huge and "huge" not in store


def test_remembered_cells_render_as_the_first_time() -> None:
    """Highlighted code and Markdown are remembered per distinct cell: a second page (a cache hit for every cell),
    and a page where one cell changed, read exactly as nbconvert renders them."""
    nb = _notebook()
    first, _ = FeedbackExporter(template_name="lab").from_notebook_node(nb)
    again, _ = FeedbackExporter(template_name="lab").from_notebook_node(nb)
    assert again == first
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.source += "\nchanged = [1, 2, 3]  # a student's edit"
    nb.cells[0].source = "# A different *title*"
    ours, _ = FeedbackExporter(template_name="lab").from_notebook_node(nb)
    page, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    assert "changed" in ours and "different" in ours
    assert _soup(as_nbconvert_writes_it(ours)) == _soup(stock(page))
    ours_code, stock_code = (BeautifulSoup(html, "html.parser").select("div.highlight") for html in (ours, page))
    assert [str(h) for h in ours_code] == [str(h) for h in stock_code]
