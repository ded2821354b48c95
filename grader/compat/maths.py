"""The maths of a feedback page, typeset when the page is made: TeX to MathML, shown with no script and no network.

nbconvert leaves a notebook's Markdown maths as ``$...$`` text for MathJax, which its templates (and nbgrader's
``feedback`` template) load from a CDN: a student who opens their feedback page offline sees raw LaTeX. A feedback
page is one HTML file that nbgrader's ``release_feedback``/``fetch_feedback`` copy on its own, so a local MathJax
folder would not travel with it, and the page is meant to run no script at all. Here every formula becomes MathML
while the page is written (``latex2mathml``, pure Python); Chromium (109 on), Firefox and Safari lay MathML out
themselves.

Three steps, each where nbconvert already decides the matter:

1. :class:`TexRenderer` is nbconvert's Markdown renderer with its three maths methods (``inline_math``,
   ``block_math``, ``latex_environment``) changed: what nbconvert's mistune parser takes for maths — so not a code
   span, a code block, an escaped ``\\$`` or a lone dollar — becomes a placeholder, ``<code class="grader-tex-…">``
   holding exactly the text nbconvert would have written (``$x$``, ``$$x$$``, ``\\begin{align}…``). Headings'
   anchors and the page's text therefore stay nbconvert's.
2. The page is sanitised as before (:func:`grader.compat.feedback.safe_html`, bleach with no MathML allowed: a
   student's own raw ``<math>`` HTML stays escaped text, so MathML namespace tricks never reach the sanitiser).
3. :func:`typeset` replaces each placeholder of the finished page with MathML built by :func:`to_mathml` from the
   converter's element tree, never from its string output (latex2mathml's ``convert`` un-escapes ``\\text{<img…>}``
   back into a tag): only presentation elements, only layout attributes with plain values (no ``href``, ``style``,
   ``class`` or ``id``), text escaped here. A formula the converter cannot handle — an unknown command left as text,
   one of :data:`REFUSED_COMMANDS`, a formula over :data:`MAX_TEX` characters, MathML over :data:`MAX_MATHML`
   characters or nested deeper than :data:`MAX_DEPTH` — stays visible as its TeX in a ``<code>`` and is counted.

A placeholder a student writes by hand as raw HTML only asks for what ``$…$`` asks for: their TeX through the same
converter and the same checks.
"""

from __future__ import annotations

import html as html_escaping
import re
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element

from nbconvert.filters.markdown_mistune import IPythonRenderer

from grader.compat import require_versions

require_versions(__name__, "TexRenderer overrides nbconvert's IPythonRenderer.inline_math, block_math and "
                 "latex_environment; to_mathml walks the element tree of latex2mathml.converter.convert_to_element "
                 "(its elements, attributes and text are what the page may hold): diff those against the new "
                 "versions and run tests/test_feedback_maths.py and tests/test_feedback_browser.py",
                 ("nbconvert", "latex2mathml"))

MAX_TEX = 2_000       # characters of one formula (the course's longest has 239); longer ones are shown as TeX
MAX_MATHML = 64_000   # characters of one formula's MathML (the course's largest: about 5,000)
MAX_DEPTH = 64        # elements nested in one formula (the course's deepest: about 12)
SHOWN_TEX = 500       # characters of a refused over-long formula shown in its place, the rest counted

# Commands refused before conversion: they define macros (which expand without bound), make links, set styles,
# classes or ids, or name characters by code point.
REFUSED_COMMANDS = frozenset({
    r"\newcommand", r"\renewcommand", r"\providecommand", r"\def", r"\gdef", r"\edef", r"\let", r"\href", r"\url",
    r"\class", r"\style", r"\cssId", r"\unicode", r"\require", r"\html", r"\htmlClass", r"\htmlStyle", r"\htmlId",
    r"\htmlData", r"\includegraphics"})

# Commands the converter lacks, said with ones it has (TeX's own \arg is an upright operator name).
_EQUIVALENTS = {r"\arg": r"\operatorname{arg}"}

KINDS = {"inline": ("$", "$"), "block": ("$$", "$$"), "env": ("", "")}   # nbconvert's delimiters for each kind
_PLACEHOLDER = re.compile(r'<code class="grader-tex-(inline|block|env)">([^<]*)</code>')
_COMMAND = re.compile(r"\\[A-Za-z]+")

# MathML's presentation elements (those of MathML Core, and the few the converter adds that browsers lay out as
# rows) and their layout attributes; a value is words, numbers and lengths, never a colon, a quote or a bracket.
ELEMENTS = frozenset({
    "math", "semantics", "annotation", "mrow", "mi", "mn", "mo", "mtext", "mspace", "ms", "msub", "msup", "msubsup",
    "munder", "mover", "munderover", "mmultiscripts", "mprescripts", "none", "mfrac", "msqrt", "mroot", "mstyle",
    "mpadded", "mphantom", "menclose", "mtable", "mtr", "mtd", "merror"})
ATTRIBUTES = frozenset({
    "display", "displaystyle", "scriptlevel", "mathvariant", "mathsize", "mathcolor", "mathbackground", "stretchy",
    "fence", "separator", "form", "lspace", "rspace", "minsize", "maxsize", "largeop", "movablelimits", "symmetric",
    "accent", "accentunder", "width", "height", "depth", "voffset", "linethickness", "notation", "columnalign",
    "rowalign", "columnspacing", "rowspacing", "columnlines", "rowlines", "frame", "framespacing", "equalrows",
    "equalcolumns", "columnspan", "rowspan", "linebreak"})
_PLAIN_VALUE = re.compile(r"[A-Za-z0-9 .#%+-]{0,64}")
# MathML 3's named spaces, which MathML Core (Chromium) dropped, as the lengths they stand for.
_NAMED_SPACES = {f"{sign}{name}mathspace": f"{'-' if sign else ''}{ems:.4f}em"
                 for sign in ("", "negative")
                 for name, ems in (("veryverythin", 1 / 18), ("verythin", 2 / 18), ("thin", 3 / 18),
                                   ("medium", 4 / 18), ("thick", 5 / 18), ("verythick", 6 / 18),
                                   ("veryverythick", 7 / 18))}
_TEXT_ESCAPES = re.compile(r"\\([_%#&$])")   # text mode's escaped characters (\texttt{high\_freq}), kept as written

# The page's style for MathML, in place of MathJax's script: the font variants MathML Core leaves to CSS.
STYLE = """<style type="text/css">
/* maths typeset as MathML when this page was made (grader.compat.maths): no script, no network */
math[display="block"] { display: block math; margin: 0.5em 0; }
math [mathvariant="monospace"] { font-family: monospace; }
math [mathvariant="bold"] { font-weight: bold; font-style: normal; }
math [mathvariant="bold-italic"] { font-weight: bold; font-style: italic; }
math [mathvariant="italic"] { font-style: italic; }
code.grader-tex-fallback { white-space: pre-wrap; }
</style>"""


class TexRenderer(IPythonRenderer):
    """nbconvert's Markdown renderer; each formula it finds becomes a placeholder for :func:`typeset`.

    The placeholder holds the very text nbconvert's ``IPythonRenderer`` writes for the formula, so everything but
    the ``<code>`` around it (headings' anchors, the page's text) is what nbconvert writes."""

    def _placeholder(self, kind: str, text: str) -> str:
        return f'<code class="grader-tex-{kind}">{text}</code>'

    def block_math(self, body: str) -> str:
        return self._placeholder("block", super().block_math(body))

    def inline_math(self, body: str) -> str:
        return self._placeholder("inline", super().inline_math(body))

    def latex_environment(self, name: str, body: str) -> str:
        return self._placeholder("env", super().latex_environment(name, body))


class NotTypeset(ValueError):
    """A formula the converter cannot show as MathML: the reason is the message."""


def _tex_problem(tex: str) -> str | None:
    if len(tex) > MAX_TEX:
        return f"{len(tex):,} characters, over the limit of {MAX_TEX:,}"
    refused = sorted(set(_COMMAND.findall(tex)) & REFUSED_COMMANDS)
    return f"{', '.join(refused)} is not allowed in a feedback page" if refused else None


def _serialise(node: Element, out: list[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise NotTypeset(f"nested deeper than {MAX_DEPTH}")
    tag = node.tag
    if tag not in ELEMENTS:
        raise NotTypeset(f"the converter made <{tag}>")
    out.append(f"<{tag}")
    for name, value in node.attrib.items():
        if name == "xmlns" and tag == "math":
            continue
        if name not in ATTRIBUTES or not _PLAIN_VALUE.fullmatch(value):
            raise NotTypeset(f"the converter made a {name} attribute on <{tag}> that a feedback page does not keep")
        out.append(f' {name}="{_NAMED_SPACES.get(value, value)}"')
    out.append(">")
    if node.text:
        # The converter writes symbols as character references in its text (&#x1D431;); so may the TeX itself.
        text = html_escaping.unescape(node.text)
        if tag == "mtext":
            text = _TEXT_ESCAPES.sub(r"\1", text)
        command = _COMMAND.search(text)
        if command:
            raise NotTypeset(f"{command.group()} is not a command the converter knows")
        out.append(html_escaping.escape(text, quote=False))
    for child in node:
        _serialise(child, out, depth + 1)
        if child.tail and child.tail.strip():
            raise NotTypeset("the converter left text between elements")
    out.append(f"</{tag}>")


def to_mathml(tex: str, display: bool, written: str | None = None) -> str:
    """MathML markup for a TeX formula (without its delimiters), built element by element from latex2mathml's tree;
    the formula as written (``written``, with its delimiters; else ``tex``) is kept as its annotation, which
    browsers do not show and copy with the maths, and which reads as the Markdown it came from.

    Raises :class:`NotTypeset` with the reason when the formula cannot be shown as MathML safely and faithfully."""
    from latex2mathml.converter import convert_to_element

    problem = _tex_problem(tex)
    if problem:
        raise NotTypeset(problem)
    source = tex
    for command, equivalent in _EQUIVALENTS.items():
        source = re.sub(re.escape(command) + r"(?![A-Za-z])", lambda _m, e=equivalent: e, source)
    try:
        tree = convert_to_element(source, display="block" if display else "inline")
    except RecursionError:
        raise NotTypeset("nested too deeply for the converter") from None
    except Exception as error:   # the converter's own errors: a missing brace, an unknown environment, ...
        raise NotTypeset(f"the converter refused it ({type(error).__name__}: {error})") from None
    body: list[str] = []
    for child in tree:
        _serialise(child, body, 1)
    annotation = html_escaping.escape(tex if written is None else written, quote=False)
    markup = (f'<math display="{"block" if display else "inline"}"><semantics>{"".join(body)}'
              f'<annotation encoding="application/x-tex">{annotation}</annotation></semantics></math>')
    if len(markup) > MAX_MATHML:
        raise NotTypeset(f"its MathML has {len(markup):,} characters, over the limit of {MAX_MATHML:,}")
    return markup


@dataclass
class Typeset:
    """What :func:`typeset` did to one page: how many formulas became MathML, and each one that did not."""

    typeset: int = 0
    not_typeset: list[tuple[str, str]] = field(default_factory=list)   # (TeX, reason)


def _fallback(text: str, reason: str) -> str:
    if len(text) > MAX_TEX:
        text = f"{text[:SHOWN_TEX]} … ({len(text) - SHOWN_TEX:,} more characters)"
    return (f'<code class="grader-tex-fallback" title="{html_escaping.escape("maths not typeset: " + reason)}">'
            f"{html_escaping.escape(text, quote=False)}</code>")


def typeset(page: str, remembered: Any = None) -> tuple[str, Typeset]:
    """Every placeholder of :class:`TexRenderer` in a finished, sanitised page replaced by MathML, or by a visible
    fallback (the formula as nbconvert writes it, in a ``<code>``, with the reason in its title); what was done.

    ``remembered`` (a :class:`grader.compat.feedback._Remembered`) keeps each distinct formula's MathML: most
    formulas are the same on every student's page."""
    done = Typeset()

    def replace(match: re.Match[str]) -> str:
        kind, text = match.group(1), html_escaping.unescape(match.group(2))
        key = (kind, text)
        markup = remembered.get(key) if remembered is not None else None
        if markup is None:
            opening, closing = KINDS[kind]
            tex = text[len(opening):len(text) - len(closing)] if closing else text
            try:
                markup = to_mathml(tex, display=kind != "inline", written=text)
            except NotTypeset as reason:
                done.not_typeset.append((text, str(reason)))
                return _fallback(text, str(reason))
            if remembered is not None:
                remembered.keep(key, markup)
        done.typeset += 1
        return markup

    return _PLACEHOLDER.sub(replace, page), done
