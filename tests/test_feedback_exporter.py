"""The feedback exporter (grader.compat.feedback.FeedbackExporter) renders what nbconvert's HTML exporter renders.

It skips nbconvert's BeautifulSoup pass (parse and re-serialise the whole page, more than half of a feedback
page's cost) and adds the same accessibility attributes on the text. Both exporters render the same notebook here,
with an image and a Markdown cell that contains HTML, under nbconvert's lab and classic templates; the pages must
read the same, and every image and cell must get what nbconvert gives it.
"""

from __future__ import annotations

import base64

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbconvert.exporters import HTMLExporter

from grader.compat.feedback import NO_ALT, FeedbackExporter, accessible
from grader.project import SOLUTIONS

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
    stock, _ = HTMLExporter(template_name=template).from_notebook_node(nb)
    ours, _ = FeedbackExporter(template_name=template).from_notebook_node(nb)
    a, b = BeautifulSoup(stock, "html.parser"), BeautifulSoup(ours, "html.parser")
    assert a.get_text() == b.get_text()
    assert [img.get("alt") for img in a.find_all("img")] == [img.get("alt") for img in b.find_all("img")]
    assert NO_ALT in ours and 'alt="mine"' in ours
    focus = [d.get("tabindex") for d in a.select(".jp-Notebook div.jp-Cell-inputWrapper, "
                                                 ".jp-Notebook div.jp-OutputArea-output")]
    assert focus == [d.get("tabindex") for d in b.select(".jp-Notebook div.jp-Cell-inputWrapper, "
                                                         ".jp-Notebook div.jp-OutputArea-output")]


def test_scripts_and_styles_are_left_alone() -> None:
    kept = '<script>var s = "<img src=q>";</script><style>/* <img> */</style>'
    assert accessible(kept + '<img src="p.png">') == kept + f'<img alt="{NO_ALT}" src="p.png">'


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
    stock, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    assert "changed" in ours and "different" in ours
    assert BeautifulSoup(ours, "html.parser").get_text() == BeautifulSoup(stock, "html.parser").get_text()
    ours_code, stock_code = (BeautifulSoup(page, "html.parser").select("div.highlight") for page in (ours, stock))
    assert [str(h) for h in ours_code] == [str(h) for h in stock_code]
