"""Inputs and properties shared by the hidden tests of every notebook: id batches of many shapes, edge cases,
bad ids. One definition of "the edge cases", so every exercise is held to the same standard."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from grader.content.checks import expect_raises
from grader.content.properties import Property

# Shapes of id batches every exercise is checked on: a scalar id, 1-D, 2-D and 3-D batches.
BATCH_SHAPES: tuple[tuple[int, ...], ...] = ((), (1,), (7,), (3, 4), (2, 3, 5))
EMPTY_SHAPES: tuple[tuple[int, ...], ...] = ((0,), (3, 0))
# (V, d) pairs with V != d so a swapped axis shows, and the degenerate V = 1 and d = 1.
TABLE_SIZES: tuple[tuple[int, int], ...] = ((11, 4), (6, 9), (1, 3), (50, 1))


def random_ids(gen: np.random.Generator, shape: tuple[int, ...], V: int) -> np.ndarray:
    return gen.integers(0, V, size=shape, dtype=np.int64)


def with_duplicates_and_largest(gen: np.random.Generator, V: int) -> np.ndarray:
    """A 2-D batch in which the largest id V−1 appears, and one id appears three times."""
    ids = gen.integers(0, V, size=(3, 4), dtype=np.int64)
    ids[0, 0] = ids[1, 2] = ids[2, 3] = gen.integers(0, V)
    ids[2, 1] = V - 1
    return ids


def random_table(gen: np.random.Generator, V: int, d: int, dtype: type = np.float32) -> np.ndarray:
    return gen.standard_normal((V, d)).astype(dtype)


def bad_id_cases(V: int) -> list[tuple[np.ndarray, int]]:
    """Batches holding exactly one invalid id, and that id: V itself (off by one), far above, negative."""
    cases = []
    for bad in (V, V + 5, -1, -3):
        ids = np.array([[0, V - 1], [1, 0]], dtype=np.int64) % V
        ids[1, 1] = bad
        cases.append((ids, bad))
    return cases


def names_dtype_or_value(ids: Any) -> list[str]:
    """What counts as naming the dtype or the value of non-integer ids (the text asks for either): the dtype
    (``float64``, also inside ``torch.float64``), its kind as a word (``float``, ``bool``: "floats are not ids"),
    or the first value (``1.0``, ``True``)."""
    arr = np.asarray(ids)
    kind = {"f": "float", "b": "bool", "c": "complex", "U": "str", "O": "object"}.get(arr.dtype.kind, str(arr.dtype))
    return [str(arr.dtype), kind, str(arr.flat[0])] if arr.size else [str(arr.dtype), kind]


def bad_id_property(name: str, fn: Callable[[np.ndarray], Any], V: int, make_call: Callable[[Any], str]) -> Property:
    def check() -> None:
        for ids, bad in bad_id_cases(V):
            expect_raises(
                IndexError, fn, [ids], make_call(ids), mentions={"the bad id": [str(bad)], "V": [str(V)]},
                hint=f"Ids must lie in [0, {V}); a negative id silently wraps around in numpy/torch indexing.",
            )
        for ids in (np.array([1.0, 2.0]), np.array([0.5]), np.array([True, False])):
            expect_raises(
                TypeError, fn, [ids], make_call(ids),
                mentions={"the dtype or the value": names_dtype_or_value(ids)},
                hint="Token ids must have an integer dtype; floats and booleans are not ids.",
            )
    return Property(name, check)
