"""Plausible wrong implementations: the mistakes students really make, one answer cell at a time.

Each :class:`Mutant` replaces one answer cell of a notebook with wrong code and names the test cells that
must catch it. ``tests/test_mutants.py`` grades every mutant with real nbgrader and proves each one loses
points there; the demo class is built from some of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.samples import collect, named


@dataclass(frozen=True)
class Mutant:
    """A wrong answer for one cell.

    name: unique, used as the student id when graded (``m-<name>``)
    notebook: the notebook it belongs to, e.g. ``"01_lookup"``
    cell: grade_id of the answer cell it replaces
    catches: grade_ids of the test cells that must take points off
    mistake: what the student did wrong, in their terms
    source: the full replacement source of the cell
    """

    name: str
    notebook: str
    cell: str
    catches: tuple[str, ...]
    mistake: str
    source: str


def maker(notebook: str):
    """``_m = maker("01_lookup")``; ``_m(name, cell, mistake, source, catches=None)`` builds a Mutant of that notebook
    whose mistake must cost points on ``catches`` (default: the cell's hidden tests, ``<cell>_hidden``)."""

    def make(name: str, cell: str, mistake: str, source: str, catches: tuple[str, ...] | None = None) -> Mutant:
        return Mutant(name, notebook, cell, catches or (f"{cell}_hidden",), mistake, source)

    return make


def all_mutants() -> list[Mutant]:
    """The ``MUTANTS`` of every module of this package, in notebook order: a new module needs no registering."""
    return collect(__name__, __path__, "MUTANTS", "mutant")


def by_name(name: str) -> Mutant:
    return named(all_mutants(), name, "mutant")
