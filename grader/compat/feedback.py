"""Feedback a student can act on, without giving the hidden tests away.

nbgrader's ``generate_feedback`` renders the autograded notebook, hidden test code included (nbgrader#917).
:class:`HideHiddenTests` is one more preprocessor in its chain (configured in ``nbgrader_config.py``): in
every test cell it removes the ``### BEGIN/END HIDDEN TESTS`` region and shortens error tracebacks to their
last line, so the student sees each hidden test by its name, its points and its report — never its source.

:class:`FeedbackExporter` is nbconvert's HTML exporter, made cheaper per page without changing what a page shows: its
templates are compiled once per process (jinja's bytecode cache, checked against the template's source), and the
accessibility pass nbconvert makes after rendering (``alt`` text for images, ``tabindex`` on cells) is done on the
rendered text instead of through a BeautifulSoup parse and re-serialisation of the whole page, which took more than
half of the time of a feedback page. Its maths is typeset as MathML when the page is made (:mod:`grader.compat.maths`),
in place of MathJax from a CDN: the page shows it offline and runs no script. Code highlighting (pygments) and
Markdown rendering are pure functions of a cell's text, and most cells are the same in every student's notebook: each
distinct cell (and each distinct formula) is rendered once per process.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import jinja2
from jinja2 import pass_context
from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.exporters.exporter import ResourcesDict
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.markdown_mistune import MarkdownWithMath
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbformat import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests, GetGrades
from traitlets import Bool, List

from grader.compat import require_versions

require_versions(__name__, "FeedbackExporter copies nbconvert's HTMLExporter.from_notebook_node and "
                 "markdown2html, overrides _create_environment and the templates' mathjax.html.j2 macro, and renders "
                 "Markdown with grader.compat.maths.TexRenderer (nbconvert's IPythonRenderer, its maths methods "
                 "changed); HideHiddenTests uses nbgrader's "
                 "ClearHiddenTests._remove_hidden_test_region and GetGrades.display_data_priority: diff those "
                 "against the new versions and run tests/test_feedback_exporter.py, tests/test_feedback_browser.py "
                 "and tests/test_grading.py", ("nbgrader", "nbconvert"))

from grader.compat import maths  # noqa: E402 (after this module's own guard, so that a refusal names this module)

HIDDEN_NOTE = "# (the code of the hidden tests is not shown; their report is below)"


class HideHiddenTests(ClearHiddenTests):
    """Remove hidden test code and tracebacks from graded notebooks before they are rendered as feedback."""

    # Declared configurable, as in nbgrader's GetGrades: the HTML exporter configures it for every
    # preprocessor, and traitlets warns about classes where it is not.
    display_data_priority = List(GetGrades.display_data_priority.default_value).tag(config=True)

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, cell_index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        if cell.cell_type == "code" and self._remove_hidden_test_region(cell):
            cell.source = (cell.source.rstrip() + "\n" + HIDDEN_NOTE).lstrip("\n")
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    # A traceback quotes the hidden code line by line; the exception itself is the message.
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


class _CompiledTemplates(jinja2.BytecodeCache):
    """jinja's compiled templates, kept in memory for the life of the process (a grading worker)."""

    def __init__(self) -> None:
        self.store: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self.store:
            bucket.bytecode_from_string(self.store[bucket.key])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.store[bucket.key] = bucket.bytecode_to_string()


_COMPILED = _CompiledTemplates()


_RENDERED_LIMIT = 20_000   # cells remembered per process (highlighted code and Markdown), then forgotten at once
_RENDERED_BYTES = 32 * 1024**2   # and at most this much memory of text in each store (student outputs can be large)
_LARGEST_REMEMBERED = 64 * 1024   # bytes: a larger text is rendered each time, never kept


class _Remembered(dict):
    """Rendered text by what it was rendered from, bounded in entries and in the memory its strings take (a string
    of emoji takes 4 bytes a character, so characters would not bound it)."""

    size = 0

    def keep(self, key: Any, value: str) -> str:
        size = sys.getsizeof(value) + sum(sys.getsizeof(part) for part in (key if isinstance(key, tuple) else (key,))
                                          if isinstance(part, str))
        if size > _LARGEST_REMEMBERED:
            return value
        if len(self) >= _RENDERED_LIMIT or self.size + size > _RENDERED_BYTES:
            self.clear()
            self.size = 0
        self[key] = value
        self.size += size
        return value


_HIGHLIGHTED = _Remembered()
_MARKDOWN = _Remembered()
_SANITISED = _Remembered()
_TYPESET = _Remembered()

# nbconvert's templates (lab, classic, and nbgrader's feedback and formgrade, which extend classic) load MathJax from a
# CDN through this macro; a feedback page's maths is MathML already, so the macro gives the style MathML needs instead.
_NO_MATHJAX = {"mathjax.html.j2": "{%- macro mathjax(url=None) -%}\n" + maths.STYLE + "\n{%- endmacro %}\n"}


class RememberingHighlight2HTML(Highlight2HTML):
    """nbconvert's code highlighter; the HTML of each distinct (code, language, options) is computed once."""

    def __call__(self, source: str, language: str | None = None, metadata: Any = None) -> str:
        magics = metadata.get("magics_language") if metadata else None
        key = (source, language, magics, self.pygments_lexer, repr(sorted(self.extra_formatter_options.items())))
        html = _HIGHLIGHTED.get(key)
        return html if html is not None else _HIGHLIGHTED.keep(key, super().__call__(source, language, metadata))


# What a student's Markdown and HTML may keep in a feedback page: the tags Markdown renders to and notebooks show
# (headings, paragraphs, lists, tables, images, links, code, maths spans), never a script, an event handler, a frame,
# a form or a style sheet. What else they wrote is shown escaped, as text.
SAFE_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "details", "div", "dl", "dt", "em",
    "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol",
    "p", "pre", "q", "s", "samp", "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot",
    "th", "thead", "tr", "u", "ul", "var"})
_SAFE_ATTRIBUTES = {"*": {"class", "id", "title", "lang", "dir", "align"}, "a": {"href", "name"},
                    "img": {"src", "alt", "width", "height"}, "td": {"colspan", "rowspan"},
                    "th": {"colspan", "rowspan", "scope"}, "ol": {"start"}, "details": {"open"}}
_STYLE_BLOCKS = re.compile(r"<style\b.*?</style\s*>", re.S | re.I)


def _safe_attribute(tag: str, name: str, value: str) -> bool:
    if name not in _SAFE_ATTRIBUTES.get(tag, set()) | _SAFE_ATTRIBUTES["*"]:
        return False
    if name in ("href", "src"):
        link = value.strip().lower()
        if link.startswith("#"):   # a link within the page (a heading's anchor), whatever colons its name holds
            return True
        scheme = link.split(":", 1)[0] if ":" in link.split("/", 1)[0] else ""
        return scheme in ("", "http", "https", "mailto") or (name == "src" and link.startswith("data:image/")
                                                              and not link.startswith("data:image/svg"))
    return True


def safe_html(html: str) -> str:
    """Student HTML made inert (bleach): the tags of :data:`SAFE_TAGS` with harmless attributes and links; every other
    tag escaped so it shows as text; style sheets dropped. Remembered per process: the templates sanitise each
    Markdown cell's HTML again on every page (``strip_files_prefix``, :func:`inert_markdown`), ~4 ms a cell."""
    import bleach

    html = str(html)
    done = _SANITISED.get(html)
    if done is not None:
        return done
    return _SANITISED.keep(html, bleach.clean(_STYLE_BLOCKS.sub("", html), tags=SAFE_TAGS, attributes=_safe_attribute,
                                              protocols={"http", "https", "mailto", "data"}, strip=False,
                                              strip_comments=True))


def inert_markdown(html: str) -> str:
    """nbconvert's ``strip_files_prefix`` filter, then :func:`safe_html`. Every template that renders Markdown —
    nbconvert's, nbgrader's ``feedback`` and formgrader's ``formgrade``, comments included — pipes it through
    ``strip_files_prefix`` last; ``nbgrader_config.py`` puts this filter in its place, so that Markdown a student
    wrote is inert wherever a page of their notebook is rendered with the course's configuration."""
    from nbconvert.filters import strip_files_prefix

    return safe_html(strip_files_prefix(html))


class FeedbackExporter(HTMLExporter):
    """The HTML exporter of ``generate_feedback``, ~0.6 s cheaper per notebook (see the module's docstring).

    Markdown maths is MathML in the page, no script loads MathJax (:mod:`grader.compat.maths`); what became of each
    formula is in the returned resources' ``"maths"`` (a :class:`grader.compat.maths.Typeset`), and a formula shown
    as TeX instead is logged. What the student's notebook holds is shown inert: Markdown and HTML outputs are
    sanitised (nbconvert's ``sanitize_html``: no script, no event handler, no style sheet of theirs) and JavaScript
    outputs are not run. A feedback page is opened by the student, but also by the instructor, in the formgrader's
    origin."""

    sanitize_html = Bool(True, help="sanitise the HTML of Markdown cells and outputs (student content)").tag(
        config=True)

    @pass_context
    def markdown2html(self, context: Any, source: str) -> str:
        """``HTMLExporter.markdown2html``, remembered for cells without attachments (nothing else varies)."""
        if context.get("cell", {}).get("attachments") or self.embed_images:
            return self._markdown2html(context, source)
        key = (source, self.anchor_link_text, self.exclude_anchor_links, repr(sorted(self.lexer_options.items())),
               self.sanitize_html)
        html = _MARKDOWN.get(key)
        return html if html is not None else _MARKDOWN.keep(key, self._markdown2html(context, source))

    def _markdown2html(self, context: Any, source: str) -> str:
        """``HTMLExporter.markdown2html`` (nbconvert 7) with :class:`grader.compat.maths.TexRenderer`, which leaves a
        placeholder for each formula; made inert when sanitising (nbgrader's feedback template renders Markdown cells
        without nbconvert's own ``clean_html``)."""
        cell = context.get("cell", {})
        renderer = maths.TexRenderer(escape=False, attachments=cell.get("attachments", {}),
                                     embed_images=self.embed_images,
                                     path=context.get("resources", {}).get("metadata", {}).get("path", ""),
                                     anchor_link_text=self.anchor_link_text,
                                     exclude_anchor_links=self.exclude_anchor_links, **self.lexer_options)
        html = MarkdownWithMath(renderer=renderer).render(source)
        return safe_html(html) if self.sanitize_html else html

    def _create_environment(self) -> Any:
        """nbconvert's environment, with templates compiled once per process and MathJax's macro replaced."""
        environment = super()._create_environment()
        environment.loader = jinja2.ChoiceLoader([jinja2.DictLoader(_NO_MATHJAX), environment.loader])
        environment.bytecode_cache = _COMPILED
        return environment

    def from_notebook_node(self, nb: NotebookNode, resources: dict[str, Any] | None = None, **kw: Any
                           ) -> tuple[str, dict[str, Any]]:
        """``HTMLExporter.from_notebook_node`` (nbconvert 7) with :func:`accessible` in place of its soup pass, then
        every formula typeset (:func:`grader.compat.maths.typeset`, after all sanitising)."""
        langinfo = nb.metadata.get("language_info", {})
        lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
        highlight_code = self.filters.get("highlight_code",
                                          RememberingHighlight2HTML(pygments_lexer=lexer, parent=self))
        resources = self._init_resources(resources)
        resources["should_sanitize_html"] = self.sanitize_html   # (what HTMLExporter.from_notebook_node sets)
        filter_data_type = WidgetsDataTypeFilter(notebook_metadata=self._nb_metadata, parent=self,
                                                 resources=resources)
        self.register_filter("highlight_code", highlight_code)
        self.register_filter("filter_data_type", filter_data_type)
        self.register_filter("clean_html", safe_html)   # where the templates sanitise outputs
        html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        html, resources["maths"] = maths.typeset(accessible(html), _TYPESET)
        for tex, reason in resources["maths"].not_typeset:
            self.log.warning("maths shown as TeX in %s, not typeset (%s): %.200s",
                             resources.get("metadata", {}).get("name", "a feedback page"), reason, tex)
        return html, resources


_SCRIPTS = re.compile(r"(<script\b.*?</script>|<style\b.*?</style>)", re.S | re.I)
_IMAGE_WITHOUT_ALT = re.compile(r"<img\b(?![^>]*\salt=)", re.I)
_FOCUSABLE = re.compile(r'<div\b(?=[^>]*\sclass="[^"]*\b(?:jp-Cell-inputWrapper|jp-OutputArea-output)\b)'
                        r"(?![^>]*\stabindex=)", re.I)
NO_ALT = "No description has been provided for this image"


def accessible(html: str) -> str:
    """What nbconvert's HTML exporter adds after rendering: ``alt`` text on every image without one, ``tabindex="0"``
    on cell inputs and outputs; outside ``<script>`` and ``<style>``, which are left as they are."""
    parts = _SCRIPTS.split(html)
    for i in range(0, len(parts), 2):
        parts[i] = _FOCUSABLE.sub('<div tabindex="0"', _IMAGE_WITHOUT_ALT.sub(f'<img alt="{NO_ALT}"', parts[i]))
    return "".join(parts)
