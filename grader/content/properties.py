"""Hidden tests as named properties, scored with partial credit.

A hidden test cell ends with a call such as ``grade_one_hot(one_hot, points=2)``. That call checks a
list of :class:`Property` objects, prints one line per property (✓ or ✗ with the reason) and returns
the points earned. nbgrader reads a number returned by the last line of a test cell as partial credit
(``nbgrader.utils.determine_grade``), so a student who gets most of an exercise right earns most of
its points, and the printed report is the feedback.

Student code runs with its stdout, stderr and warnings captured: nbgrader zeroes any test cell that
writes to stderr, and a student's harmless warning must not cost them the whole cell.
"""

from __future__ import annotations

import contextlib
import io
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader.content.checks import CheckFailed, copy_input, fmt_call, same_value

__all__ = ["ChangedInPlace", "Property", "call", "rng", "score", "shorten"]

# The `raise` may be in a function the one under test calls (an earlier exercise it builds on), so the message says so.
NOT_IMPLEMENTED = ("not implemented yet (NotImplementedError): replace the `raise` with your code, here or in a "
                   "function this one calls (an earlier exercise it builds on).")


@dataclass(frozen=True)
class Property:
    """One law the student's code must obey; ``check`` raises ``CheckFailed`` when it does not."""

    name: str
    check: Callable[[], None]


def shorten(text: str, limit: int = 600) -> str:
    """At most ``limit`` characters of a message: a report line, not a dump."""
    return text if len(text) <= limit else text[: limit - 15] + " … (shortened)"


def rng(*key: object) -> np.random.Generator:
    """A generator seeded from ``key``: fresh inputs the student never saw, the same on every re-grade."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


class ChangedInPlace(UserWarning):
    """Student code changed an input it was given a copy of (reported with the property, not penalised)."""


def call(name: str, fn: Callable[..., Any], *args: Any, mutates: tuple[int, ...] = (), **kwargs: Any) -> Any:
    """Call student code; an unexpected exception becomes a ``CheckFailed`` naming the call.

    The student's code gets *copies* of the arrays and tensors passed (except the positions in ``mutates``, the
    arguments an exercise updates in place, which it gets as they are), so that whatever it does to its inputs
    never changes the inputs and expected values of the test; a change it made to a copy is reported (a
    :class:`ChangedInPlace` warning: the report shows it, the score does not count it).
    ``NotImplementedError`` passes through unchanged so the report can say "not implemented yet".
    """
    given = [a if i in mutates else copy_input(a) for i, a in enumerate(args)]
    given_kwargs = {k: copy_input(v) for k, v in kwargs.items()}
    try:
        got = fn(*given, **given_kwargs)
    except NotImplementedError:
        raise
    except CheckFailed:
        raise
    except Exception as err:  # any failure of student code is reported, never propagated
        raise CheckFailed(
            f"{fmt_call(name, *args, **kwargs)} raised {type(err).__name__}: {shorten(str(err))}"
        ) from None
    changed = [f"argument {i + 1}" for i, (a, g) in enumerate(zip(args, given, strict=True))
               if i not in mutates and g is not a and not same_value(a, g)]
    changed += [k for k, v in kwargs.items() if given_kwargs[k] is not v and not same_value(v, given_kwargs[k])]
    if changed:
        warnings.warn(f"{name} changed its input ({', '.join(changed)}) in place", ChangedInPlace, stacklevel=2)
    return got


def _outcome(prop: Property) -> tuple[bool, str, str]:
    """Run one property; return (held, reason, what the student's code wrote to stderr or warned)."""
    stderr = io.StringIO()
    with (
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(stderr),
    ):
        warnings.simplefilter("always")
        try:
            prop.check()
            held, reason = True, ""
        except CheckFailed as err:
            held, reason = False, shorten(str(err), 1200)
        except NotImplementedError:
            held, reason = False, NOT_IMPLEMENTED
        except Exception as err:  # a bug in the student's object surfaced inside the checker
            held, reason = False, f"{type(err).__name__}: {shorten(str(err))}"
    noise = [f"{w.message}" if w.category is ChangedInPlace else f"your code warned {w.category.__name__}: "
             f"{w.message}" for w in caught]
    if stderr.getvalue().strip():
        noise.append("your code wrote to stderr: " + stderr.getvalue().strip().splitlines()[0])
    return held, reason, "; ".join(noise)


def score(title: str, properties: Sequence[Property], points: float) -> float:
    """Check every property, print a report, return ``points`` × (fraction of properties that hold)."""
    results = [(prop, *_outcome(prop)) for prop in properties]
    held = sum(ok for _, ok, _, _ in results)
    earned = round(points * held / len(results), 2)
    print(f"{title} — hidden tests: {held} of {len(results)} properties hold, {earned:g} of {points:g} points")
    if all(reason == NOT_IMPLEMENTED for _, _, reason, _ in results):
        print(f"  ✗ {NOT_IMPLEMENTED}")
        return earned
    for prop, ok, reason, noise in results:
        print(f"  {'✓' if ok else '✗'} {prop.name}")
        if reason:
            print("      " + reason.replace("\n", "\n      "))
        if noise:
            print(f"      (not penalised, noted: {noise})")
    return earned
