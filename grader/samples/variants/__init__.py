"""Correct answers written the ways students really write them: the twin of :mod:`grader.samples.mutants`.

A mutant is a wrong answer that must lose points; a :class:`Variant` is a *right* answer that must lose none — on the
hidden tests of its exercise and on its visible test cell. Variants use what the exercise text allows and the
solution does not (``F.one_hot``, ``einsum``, ``bincount``, ``index_add_``, float32 arithmetic where no dtype is
asked for, loops, other wording of error messages, ``[3]`` instead of ``(3,)``), so a check that demands more than
the text states shows up as a variant that loses points. ``tests/test_variants.py`` grades every variant in-process.
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.samples import collect, named


@dataclass(frozen=True)
class Variant:
    """A correct answer for one cell, different from the instructor's.

    name: unique
    notebook: the notebook it belongs to, e.g. ``"01_lookup"``
    cell: grade_id of the answer cell it replaces; its test cells are ``<cell>_visible`` and ``<cell>_hidden``
    why: how it differs from the solution, and why that is still right by the exercise text
    source: the full replacement source of the cell
    """

    name: str
    notebook: str
    cell: str
    why: str
    source: str


def maker(notebook: str):
    """``_v = maker("01_lookup")``; ``_v(name, cell, why, source)`` builds a Variant of that notebook."""

    def make(name: str, cell: str, why: str, source: str) -> Variant:
        return Variant(name, notebook, cell, why, source)

    return make


def all_variants() -> list[Variant]:
    """The ``VARIANTS`` of every module of this package, in notebook order: a new module needs no registering."""
    return collect(__name__, __path__, "VARIANTS", "variant")


def by_name(name: str) -> Variant:
    return named(all_variants(), name, "variant")
