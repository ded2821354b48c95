"""Plausible wrong implementations: the mistakes students really make, one answer cell at a time.

Each :class:`Mutant` replaces one answer cell of a notebook with wrong code and names the test cells that
must catch it. ``tests/test_mutants.py`` grades every mutant with real nbgrader and proves each one loses
points there; the demo class is built from some of them.
"""

from __future__ import annotations

from dataclasses import dataclass


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
    import importlib
    import pkgutil

    mutants = [mutant for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name)
               for mutant in importlib.import_module(f"{__name__}.{info.name}").MUTANTS]
    mutants.sort(key=lambda mutant: mutant.notebook)  # stable: each notebook's in the order its module lists them
    names = [m.name for m in mutants]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise ValueError(f"mutant names must be unique: {sorted(duplicates)}")
    return mutants


def by_name(name: str) -> Mutant:
    for mutant in all_mutants():
        if mutant.name == name:
            return mutant
    raise KeyError(f"no mutant named {name!r}")
