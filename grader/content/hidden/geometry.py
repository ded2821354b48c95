"""Hidden tests for notebook 08 (the geometry of learned embeddings: word2vec).

Each ``grade_*`` function is called by the last line of a hidden test cell and checks the student's code against
:mod:`grader.content.reference.geometry` on generated inputs: tables in float32 and float64 with rows of very different
lengths (cosine, not dot product), duplicate rows whose cosines tie exactly (the lower id first), the query and the
analogy's inputs excluded or not, pairs at the edges of a text, counts of zero and of 10¹², scores of ±1000
(log-sigmoid), gradients through the loss, and sparse tables trained by SparseAdam. Random tables are drawn until no
two of the scores a ranking depends on are within 1e-4 of each other, so that no check sits on a near-tie.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from grader.content.checks import (
    CheckFailed,
    brief,
    describe,
    expect,
    expect_array,
    expect_raises,
    expect_tensor,
    fmt_call,
)
from grader.content.properties import Property, call, rng, score
from grader.content.reference import geometry as ref

__all__ = ["grade_analogy", "grade_cosine_similarity", "grade_nearest_neighbours", "grade_noise_distribution",
           "grade_sgns_loss", "grade_skip_gram", "grade_skipgram_pairs"]

GAP = 1e-4   # the smallest distance allowed between two scores whose order a check depends on


def _tolerance(dtype: np.dtype) -> dict[str, float]:
    """Cosines lie in [-1, 1]: float32's accuracy (~1e-7) is enough for any ranking here, and the exercise states no
    precision, so float64 inputs computed in float32 pass too."""
    return {"rtol": 1e-4, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-5, "atol": 1e-6}


def _scaled_table(gen: np.random.Generator, V: int, d: int, dtype: type = np.float64) -> np.ndarray:
    """Gaussian rows scaled by 10^U(-2, 2): lengths from 0.01 to 100, so a dot product ranks differently."""
    return (gen.standard_normal((V, d)) * 10.0 ** gen.uniform(-2, 2, (V, 1))).astype(dtype)


def _clear(scores: np.ndarray, k: int) -> bool:
    """The k + 1 largest finite scores are at least GAP apart: the first k are defined whatever the rounding."""
    top = np.sort(scores[np.isfinite(scores)])[::-1][: k + 1]
    return bool(np.all(np.diff(top) < -GAP))


def _ids(got: Any, where: str, k: int) -> list[int]:
    """A returned ranking as a list of ints: an integer numpy array, or a list or tuple of ints, of length k. An
    empty array of any dtype is no ids (``np.array([])`` is float64: it holds no id that could be wrong)."""
    if type(got) is np.ndarray:
        expect(got.dtype.kind in "iu" or got.size == 0,
               f"{where} returned an array of dtype {got.dtype}; expected integer ids.")
        expect(got.ndim == 1, f"{where} returned an array of shape {got.shape}; expected shape ({k},).")
        values = [int(x) for x in got.tolist()]
    elif type(got) in (list, tuple) and all(type(x) is int or isinstance(x, np.integer) for x in got):
        values = [int(x) for x in got]
    else:
        raise CheckFailed(f"{where} returned {brief(got)}; expected an int array of {k} ids.")
    expect(len(values) == k, f"{where} returned {len(values)} ids {brief(values)}; expected k = {k}.")
    return values


# --------------------------------------------------------------------------------------------------
# cosine_similarity


def grade_cosine_similarity(cosine_similarity: Callable[..., Any], points: float) -> float:
    """Hidden tests for ``cosine_similarity(A, B) -> (n, m)``."""
    name = "cosine_similarity"

    def check(A: np.ndarray, B: np.ndarray, hint: str) -> None:
        expected = ref.cosine_similarity(A, B)
        got = call(name, cosine_similarity, A, B)
        expect_array(got, expected, fmt_call(name, A, B), check_dtype=False, hint=hint, **_tolerance(A.dtype))

    def random_tables() -> None:
        gen = rng(name, "random")
        for (n, m, d) in ((4, 6, 3), (7, 2, 9), (5, 5, 16)):
            for dtype in (np.float64, np.float32):
                check(gen.standard_normal((n, d)).astype(dtype), gen.standard_normal((m, d)).astype(dtype),
                      "cos = (a · b) / (|a| |b|) for every row a of A and row b of B: shape (n, m).")

    def any_lengths() -> None:
        gen = rng(name, "lengths")
        for dtype in (np.float64, np.float32):
            check(_scaled_table(gen, 6, 4, dtype), _scaled_table(gen, 5, 4, dtype),
                  "Divide by both rows' lengths: the cosine does not change when a row is scaled.")

    def small_shapes() -> None:
        gen = rng(name, "small")
        for (n, m, d) in ((1, 1, 1), (1, 4, 3), (3, 1, 2), (2, 3, 1)):
            check(gen.standard_normal((n, d)), gen.standard_normal((m, d)), "Keep the (n, m) shape for n or m = 1.")
        A = gen.standard_normal((5, 3))
        got = call(name, cosine_similarity, A, A)
        expect_array(got, ref.cosine_similarity(A, A), f"{name}(A, A) for a {describe(A)}", check_dtype=False,
                     hint="A row's cosine with itself is 1.", **_tolerance(A.dtype))

    def zero_row() -> None:
        gen = rng(name, "zero")
        for where, at in (("A", 6), ("B", 3)):
            A, B = gen.standard_normal((8, 3)), gen.standard_normal((5, 3))
            (A if where == "A" else B)[at] = 0.0
            expect_raises(ValueError, cosine_similarity, [A, B], f"{name}(A, B) with row {at} of {where} all zeros",
                          mentions={f"the index {at}": [re.compile(rf"(?<!\d){at}(?!\d)")],
                                    f"the matrix {where}": [re.compile(rf"\b{where}\b|\bmatrix {where.lower()}\b"),
                                                             "first" if where == "A" else "second"]},
                          hint="A zero row has no direction: raise ValueError saying which row of which matrix it is.")

    return score(name, [
        Property("equals the definition on random tables, float64 and float32", random_tables),
        Property("ignores the rows' lengths (lengths from 0.01 to 100)", any_lengths),
        Property("one row, one column, d = 1; a table against itself", small_shapes),
        Property("a zero row in A or in B raises ValueError naming the row", zero_row),
    ], points)


# --------------------------------------------------------------------------------------------------
# nearest_neighbours


def _clear_table(gen: np.random.Generator, V: int, d: int, query: int, k: int, dtype: type,
                 scaled: bool = False) -> np.ndarray:
    for _ in range(100):
        E = _scaled_table(gen, V, d, dtype) if scaled else gen.standard_normal((V, d)).astype(dtype)
        scores = ref.cosine_similarity(E[query : query + 1], E)[0]
        scores[query] = -np.inf
        if _clear(scores, k):
            return E
    raise RuntimeError("no table without near-ties was found")   # a bug of the checker, not of the student


def _tied_table(gen: np.random.Generator, V: int, d: int) -> np.ndarray:
    """Rows of four ±1 entries (length 2) or one ±1 entry (length 1): every cosine is a multiple of 1/8 or 1/4,
    computed exactly in any order, and many rows are equal — ties that are exact and intended."""
    E = np.zeros((V, d))
    for row in E:
        where = gen.choice(d, size=4 if gen.random() < 0.7 else 1, replace=False)
        row[where] = gen.choice([-1.0, 1.0], size=len(where))
    E[V // 2] = E[1]                     # at least one duplicate of a row
    return E


def grade_nearest_neighbours(nearest_neighbours: Callable[..., Any], points: float) -> float:
    """Hidden tests for ``nearest_neighbours(E, query_id, k) -> (k,)``."""
    name = "nearest_neighbours"

    def check(E: np.ndarray, q: int, k: int, hint: str) -> None:
        expected = [int(x) for x in ref.nearest_neighbours(E, q, k)]
        where = fmt_call(name, E, q, k)
        got = _ids(call(name, nearest_neighbours, E, q, k), where, k)
        expect(got == expected, f"{where} returned {got}; expected {expected}. {hint}")

    def random_tables() -> None:
        gen = rng(name, "random")
        for V, d, q, k in ((12, 4, 0, 3), (20, 6, 7, 5), (9, 3, 8, 1)):
            for dtype in (np.float64, np.float32):
                check(_clear_table(gen, V, d, q, k, dtype), q, k,
                      "Rank every other row by its cosine with row query_id, largest first.")

    def cosine_not_dot() -> None:
        gen = rng(name, "lengths")
        for V, d, q, k in ((15, 4, 3, 4), (10, 2, 9, 3)):
            check(_clear_table(gen, V, d, q, k, np.float64, scaled=True), q, k,
                  "Rows have lengths from 0.01 to 100 here: rank by the cosine, not the dot product.")

    def query_excluded() -> None:
        gen = rng(name, "query")
        E = gen.standard_normal((7, 3))
        E[4] = E[2]                               # a row equal to the query: a neighbour, not the query
        check(E, 2, 6, "k = V − 1: every row but the query; a copy of the query's row is a neighbour (cosine 1).")
        check(E, 0, 0, "k = 0: no ids.")
        E[1] = E[5]                               # a copy with a lower id than the query: it comes first
        check(E, 5, 3, "A copy of the query's row with a lower id ranks before the query itself; drop the query "
              "by its id, not by its place in the ranking.")
        E = gen.standard_normal((6, 3))
        E[4] = -E[1]                              # exactly opposite the query, with a higher id: cosine -1
        check(E, 1, 5, "k = V − 1 with a row exactly opposite the query (cosine −1): the query must still be left "
              "out, so give it a score below every cosine (-np.inf), not -1.")

    def ties_to_lower_id() -> None:
        gen = rng(name, "ties")
        for V, d, q, k in ((16, 8, 1, 6), (24, 6, 5, 10), (12, 5, 0, 11)):
            check(_tied_table(gen, V, d), q, k,
                  "Equal cosines (equal rows here) are ranked by id, lower first: np.argsort(-scores, kind='stable').")

    return score(name, [
        Property("matches the definition on random tables, float64 and float32", random_tables),
        Property("ranks by cosine, not by dot product (rows of very different lengths)", cosine_not_dot),
        Property("never returns the query; k = V − 1 and k = 0", query_excluded),
        Property("breaks exact ties by the lower id", ties_to_lower_id),
    ], points)


# --------------------------------------------------------------------------------------------------
# analogy


def _clear_analogy_table(gen: np.random.Generator, V: int, d: int, abc: tuple[int, int, int], k: int,
                         exclude: bool, scaled: bool, dtype: type = np.float64) -> np.ndarray:
    for _ in range(200):
        E = _scaled_table(gen, V, d, dtype) if scaled else gen.standard_normal((V, d)).astype(dtype)
        U = ref.unit_rows(E)
        a, b, c = abc
        scores = ref.cosine_similarity(U, (U[b] - U[a] + U[c])[None, :])[:, 0]
        if exclude:
            scores[[a, b, c]] = -np.inf
        if _clear(scores, k):
            return E
    raise RuntimeError("no table without near-ties was found")


def _planted(gen: np.random.Generator, V: int, d: int) -> tuple[np.ndarray, tuple[int, int, int]]:
    """A table where b ≈ a, so that b̂ − â + ĉ ≈ ĉ: an input is the closest row when the inputs compete."""
    a, b, c = 2, V - 1, 0
    for _ in range(200):
        E = gen.standard_normal((V, d))
        offset = 0.1 * gen.standard_normal(d)
        E[b] = E[a] + offset
        E[4] = E[c] + 3 * offset
        U = ref.unit_rows(E)
        scores = ref.cosine_similarity(U, (U[b] - U[a] + U[c])[None, :])[:, 0]
        fair = scores.copy()
        fair[[a, b, c]] = -np.inf
        if _clear(scores, 2) and _clear(fair, 2) and int(np.argmax(scores)) in (a, b, c):
            return E, (a, b, c)
    raise RuntimeError("no planted table without near-ties was found")


def _inputs_closest(gen: np.random.Generator, V: int, d: int) -> tuple[np.ndarray, tuple[int, int, int]]:
    """A table where a, b and c are three near-copies of one row, so that b̂ − â + ĉ is close to all three: each
    input outscores every other row, and only leaving out all three of them gives the right answer."""
    a, b, c = 1, V - 2, 4
    for _ in range(200):
        E = gen.standard_normal((V, d))
        E[b] = E[a] + 0.05 * gen.standard_normal(d)
        E[c] = E[a] + 0.05 * gen.standard_normal(d)
        U = ref.unit_rows(E)
        scores = ref.cosine_similarity(U, (U[b] - U[a] + U[c])[None, :])[:, 0]
        others = np.delete(scores, [a, b, c])
        fair = scores.copy()
        fair[[a, b, c]] = -np.inf
        if _clear(fair, 2) and scores[[a, b, c]].min() > others.max() + GAP:
            return E, (a, b, c)
    raise RuntimeError("no table with the inputs closest was found")


def grade_analogy(analogy: Callable[..., Any], points: float) -> float:
    """Hidden tests for ``analogy(E, a, b, c, k=1, exclude_inputs=True) -> (k,)``."""
    name = "analogy"

    def check(E: np.ndarray, abc: tuple[int, int, int], k: int, exclude: bool, hint: str) -> None:
        expected = [int(x) for x in ref.analogy(E, *abc, k=k, exclude_inputs=exclude)]
        where = fmt_call(name, E, *abc, k=k, exclude_inputs=exclude)
        got = _ids(call(name, analogy, E, *abc, k=k, exclude_inputs=exclude), where, k)
        expect(got == expected, f"{where} returned {got}; expected {expected}. {hint}")

    def random_excluded() -> None:
        gen = rng(name, "excluded")
        for V, d, abc, k in ((15, 4, (0, 1, 2), 1), (20, 6, (5, 17, 9), 3), (12, 3, (11, 0, 4), 2)):
            check(_clear_analogy_table(gen, V, d, abc, k, True, False), abc, k, True,
                  "Rank by cos(E[x], b^ − a^ + c^) over unit rows, largest first, a, b and c left out.")
        E, abc = _inputs_closest(gen, 12, 4)
        check(E, abc, 2, True, "Here a, b and c are near-copies of one row, closer to b^ − a^ + c^ than any other: "
              "leave out all three of them, a too.")

    def random_not_excluded() -> None:
        gen = rng(name, "not excluded")
        for V, d, abc, k in ((15, 4, (0, 1, 2), 3), (9, 2, (3, 8, 6), 4)):
            check(_clear_analogy_table(gen, V, d, abc, k, False, False), abc, k, False,
                  "With exclude_inputs=False every id competes, a, b and c included.")
        E, abc = _planted(gen, 10, 5)
        check(E, abc, 2, False, "Here b is a plus a little, so an input comes first when the inputs compete.")
        check(E, abc, 2, True, "With the inputs excluded, c is never returned.")

    def unit_rows_first() -> None:
        gen = rng(name, "lengths")
        for V, d, abc, k in ((16, 4, (1, 2, 3), 2), (12, 5, (0, 6, 11), 1)):
            check(_clear_analogy_table(gen, V, d, abc, k, True, True), abc, k, True,
                  "Rows have lengths from 0.01 to 100 here: scale every row to unit length before b − a + c.")

    def ties_to_lower_id() -> None:
        gen = rng(name, "ties")
        for V, abc, k in ((20, (0, 1, 2), 6), (24, (5, 9, 2), 10)):
            E = gen.standard_normal((V, 4))
            U = ref.unit_rows(E)
            group = [x for x in range(3, V) if x not in abc][: k + 6]
            E[group] = U[abc[1]] - U[abc[0]] + U[abc[2]]     # k + 6 equal rows, all pointing at the target: a tie
            check(E, abc, k, True, f"Rows {group[0]}, {group[1]}, … are equal, so their cosines tie exactly: rank "
                  "them by id, lower first (np.argsort(-scores, kind='stable')).")

    def defaults() -> None:
        gen = rng(name, "defaults")
        E, abc = _planted(gen, 11, 4)             # an input is closest when the inputs compete
        E = E.astype(np.float32)
        expected = [int(x) for x in ref.analogy(E, *abc)]
        where = fmt_call(name, E, *abc)
        got = _ids(call(name, analogy, E, *abc), where, 1)
        expect(got == expected, f"{where} returned {got}; expected {expected}: the defaults are k=1, "
               "exclude_inputs=True.")

    return score(name, [
        Property("matches 3CosAdd on random tables, the inputs excluded (all three, even when closest)",
                 random_excluded),
        Property("with exclude_inputs=False the inputs compete (and win where they are closest)", random_not_excluded),
        Property("scales rows to unit length first (rows of very different lengths)", unit_rows_first),
        Property("breaks exact ties by the lower id", ties_to_lower_id),
        Property("defaults k=1, exclude_inputs=True, on a float32 table", defaults),
    ], points)


# --------------------------------------------------------------------------------------------------
# skipgram_pairs


def grade_skipgram_pairs(skipgram_pairs: Callable[..., Any], points: float) -> float:
    """Hidden tests for ``skipgram_pairs(ids, window) -> (N, 2)``."""
    name = "skipgram_pairs"

    def get(ids: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray, str]:
        expected = ref.skipgram_pairs(ids, window)
        where = fmt_call(name, ids, window)
        got = call(name, skipgram_pairs, ids, window)
        expect(type(got) is np.ndarray, f"{where} returned {brief(got)}; expected an int array of shape (N, 2).")
        expect(got.dtype.kind in "iu" or got.size == 0,     # no pairs: np.array([]).reshape(-1, 2) is float
               f"{where} returned an array of dtype {got.dtype}; expected integer ids.")
        expect(got.shape == expected.shape, f"{where} returned shape {got.shape}; expected {expected.shape} "
               "(one row per (center, context) pair).")
        return np.array(got, dtype=np.int64), expected, where

    def right_pairs() -> None:
        gen = rng(name, "pairs")
        for T, window in ((9, 1), (12, 2), (15, 3), (7, 5)):
            ids = gen.integers(0, 50, T)
            got, expected, where = get(ids, window)
            same = sorted(map(tuple, got.tolist())) == sorted(map(tuple, expected.tolist()))
            expect(same, f"{where} returned the pairs {brief(got.tolist())}; expected {brief(expected.tolist())} in "
                   "some order: every j ≠ i with |i − j| ≤ window, (ids[i], ids[j]).")

    def in_order() -> None:
        gen = rng(name, "order")
        for T, window in ((8, 2), (11, 3)):
            ids = gen.permutation(100)[:T]            # distinct ids: the order shows
            got, expected, where = get(ids, window)
            expect(got.tolist() == expected.tolist(), f"{where} returned {brief(got.tolist())}; expected "
                   f"{brief(expected.tolist())}: center positions in order, and for each its contexts left to right.")

    def edges() -> None:
        for ids, window in ((np.array([4, 2, 7]), 10), (np.array([3]), 2), (np.array([], dtype=np.int64), 1),
                            (np.array([1, 1, 1, 1]), 1)):
            got, expected, where = get(ids, window)
            expect(got.tolist() == expected.tolist(), f"{where} returned {brief(got.tolist())}; expected "
                   f"{brief(expected.tolist())}: the window stops at the ends of the text; none gives shape (0, 2).")

    return score(name, [
        Property("gives every (center, context) pair within the window", right_pairs),
        Property("in order of center position, then context position", in_order),
        Property("windows longer than the text, one word, no words, repeated ids", edges),
    ], points)


# --------------------------------------------------------------------------------------------------
# noise_distribution


def grade_noise_distribution(noise_distribution: Callable[..., Any], points: float) -> float:
    """Hidden tests for ``noise_distribution(counts, power=0.75) -> (V,)``."""
    name = "noise_distribution"

    def check(counts: np.ndarray, hint: str, **kwargs: float) -> None:
        expected = ref.noise_distribution(counts, **kwargs)
        where = fmt_call(name, counts, **kwargs)
        got = call(name, noise_distribution, counts, **kwargs)
        expect_array(got, expected, where, check_dtype=False, rtol=1e-5, atol=1e-12, hint=hint)

    def default_power() -> None:
        gen = rng(name, "default")
        for V in (5, 30):
            check(gen.integers(1, 1000, V), "P(w) = count(w) ** 0.75 / Σ count ** 0.75.")
        check(gen.integers(1, 50, 8).astype(np.float64), "Counts may come as floats too.")
        check(gen.uniform(0.5, 40.0, 8), "Counts may be fractional (weighted counts): do not round them.")

    def other_powers() -> None:
        gen = rng(name, "powers")
        counts = gen.integers(1, 500, 12)
        for power in (1.0, 0.5, 0.0):
            check(counts, f"power={power:g}: P(w) ∝ count(w) ** {power:g}.", power=power)
        counts[[2, 7]] = 0
        check(counts, "power=0 with words never seen: 0 ** 0 = 1, so every word gets 1/V.", power=0.0)

    def unseen_words() -> None:
        gen = rng(name, "zeros")
        counts = gen.integers(1, 100, 10)
        counts[[0, 4, 9]] = 0
        check(counts, "A word never seen gets probability 0 (no smoothing), and the rest still sum to 1.")

    def large_counts() -> None:
        check(np.array([10**12, 3, 10**9, 1], dtype=np.int64),
              "Counts of 10¹² must not overflow: compute in floating point.")

    return score(name, [
        Property("count ** 0.75, normalised, by default", default_power),
        Property("the power given: 1, 0.5 and 0 (0 with unseen words too)", other_powers),
        Property("words never seen get 0; the sum is 1", unseen_words),
        Property("very large counts (10¹²)", large_counts),
    ], points)


# --------------------------------------------------------------------------------------------------
# sgns_loss


def _vectors(gen: np.random.Generator, B: int, K: int, d: int, dtype: torch.dtype, scale: float = 1.0
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    t = lambda *shape: torch.from_numpy(scale * gen.standard_normal(shape)).to(dtype)  # noqa: E731
    return t(B, d), t(B, d), t(B, K, d)


def grade_sgns_loss(sgns_loss: Callable[..., Any], points: float) -> float:
    """Hidden tests for ``sgns_loss(center_vecs, context_vecs, negative_vecs) -> ()``."""
    name = "sgns_loss"

    def check(v: torch.Tensor, u: torch.Tensor, n: torch.Tensor, hint: str) -> None:
        expected = ref.sgns_loss(v, u, n)
        where = fmt_call(name, v, u, n)
        got = call(name, sgns_loss, v, u, n)
        tol = {"rtol": 1e-5, "atol": 1e-5} if v.dtype == torch.float32 else {"rtol": 1e-10, "atol": 1e-10}
        expect_tensor(got, expected, where, hint=hint, **tol)

    def definition() -> None:
        gen = rng(name, "float64")
        for B, K, d in ((1, 1, 3), (6, 5, 4), (9, 2, 8)):
            check(*_vectors(gen, B, K, d, torch.float64),
                  "The batch mean of −log σ(u_o·v_c) − Σ_k log σ(−u_k·v_c), a 0-dim tensor.")

    def float32() -> None:
        gen = rng(name, "float32")
        for B, K, d in ((4, 3, 5), (7, 1, 2)):
            check(*_vectors(gen, B, K, d, torch.float32), "float32 in, float32 out.")

    def no_negatives() -> None:
        gen = rng(name, "K = 0")
        check(*_vectors(gen, 5, 0, 3, torch.float64), "With K = 0 negatives only −log σ(u_o·v_c) is left.")

    def stable() -> None:
        gen = rng(name, "large")
        for dtype in (torch.float32, torch.float64):
            v, u, n = _vectors(gen, 4, 3, 2, dtype, scale=30.0)   # scores of about ±1000
            v[0] = torch.tensor([100.0, 0.0], dtype=dtype)
            u[0] = torch.tensor([-10.0, 0.0], dtype=dtype)
            n[0, 0] = torch.tensor([10.0, 0.0], dtype=dtype)
            check(v, u, n, "Scores of ±1000: log(sigmoid(s)) is −inf there; use F.logsigmoid (log σ(s) = "
                  "−softplus(−s)).")
            expected = [x.detach().clone().requires_grad_() for x in (v, u, n)]
            ref.sgns_loss(*expected).backward()
            given = [x.detach().clone().requires_grad_() for x in (v, u, n)]
            where = fmt_call(name, v, u, n)
            call(name, sgns_loss, *given).backward()
            tol = {"rtol": 1e-5, "atol": 1e-4} if dtype == torch.float32 else {"rtol": 1e-9, "atol": 1e-9}
            for what, g, e in zip(("center_vecs", "context_vecs", "negative_vecs"), given, expected, strict=True):
                expect(g.grad is not None, f"{where}: no gradient reached {what}.")
                expect_tensor(g.grad, e.grad, f"the gradient of {where} (scores of ±1000) with respect to {what}",
                              hint="A loss can be finite while its gradient is NaN (torch.where evaluates both "
                              "branches, and the one not taken overflows): F.logsigmoid's gradient is finite.", **tol)

    def gradient() -> None:
        gen = rng(name, "gradient")
        for B, K, d in ((3, 2, 4), (5, 4, 3)):
            inputs = _vectors(gen, B, K, d, torch.float64)
            expected = [x.detach().clone().requires_grad_() for x in inputs]
            ref.sgns_loss(*expected).backward()
            given = [x.detach().clone().requires_grad_() for x in inputs]
            where = fmt_call(name, *inputs)
            got = call(name, sgns_loss, *given)
            expect(type(got) is torch.Tensor and got.requires_grad and got.grad_fn is not None,
                   f"{where} returned {describe(got)}, which autograd cannot differentiate: stay in torch "
                   "(no .detach(), .item() or numpy) so that the loss can train the tables.")
            got.backward()
            for what, g, e in zip(("center_vecs", "context_vecs", "negative_vecs"), given, expected, strict=True):
                expect(g.grad is not None, f"{where}: no gradient reached {what}.")
                expect_tensor(g.grad, e.grad, f"the gradient of {where} with respect to {what}",
                              rtol=1e-9, atol=1e-10, hint="Differentiate the loss as written (the batch mean).")

    return score(name, [
        Property("equals the definition on random batches (float64)", definition),
        Property("float32 in, float32 out", float32),
        Property("K = 0 negatives", no_negatives),
        Property("finite and right for scores of ±1000, its gradient too (log-sigmoid)", stable),
        Property("its gradient with respect to all three inputs equals autograd's", gradient),
    ], points)


# --------------------------------------------------------------------------------------------------
# SkipGram


def grade_skip_gram(SkipGram: type, points: float) -> float:
    """Hidden tests for ``class SkipGram(nn.Module)``: ``SkipGram(vocab_size, dim)``,
    ``forward(center, context, negatives) -> ()``."""

    def build(V: int, d: int) -> Any:
        model = call("SkipGram", SkipGram, V, d)
        expect(isinstance(model, nn.Module), f"SkipGram({V}, {d}) is {describe(model)}; expected an nn.Module.")
        return model

    def batch(gen: np.random.Generator, V: int, B: int, K: int) -> tuple[torch.Tensor, ...]:
        center = torch.from_numpy(gen.integers(0, V, B))
        center[: B // 2] = center[0]                     # a center word repeated in the batch
        return center, torch.from_numpy(gen.integers(0, V, B)), torch.from_numpy(gen.integers(0, V, (B, K)))

    def tables() -> None:
        for V, d in ((11, 4), (7, 9)):
            model = build(V, d)
            for name in ("in_embed", "out_embed"):
                table = getattr(model, name, None)
                expect(type(table) is nn.Embedding and tuple(table.weight.shape) == (V, d),
                       f"SkipGram({V}, {d}).{name} is {describe(table)}; expected nn.Embedding({V}, {d}, sparse=True).")
                expect(table.sparse, f"SkipGram({V}, {d}).{name} has sparse=False; give it sparse=True.")
            expect(model.in_embed.weight is not model.out_embed.weight,
                   f"SkipGram({V}, {d}): in_embed and out_embed share one weight; SGNS keeps two tables.")

    def forward_is_the_loss() -> None:
        gen = rng("SkipGram", "forward")
        torch.manual_seed(0)
        model = build(13, 5)
        # Non-zero rows in both tables, whatever the initialisation, and the loss of the values written (in the
        # tables' dtype): tables that share their storage (one built from the other's weight) hold out_embed's values
        # in both, and forward's value differs.
        dtype = model.in_embed.weight.dtype
        v = torch.from_numpy(gen.standard_normal((13, 5))).to(dtype)
        u = torch.from_numpy(gen.standard_normal((13, 5))).to(dtype)
        with torch.no_grad():
            model.in_embed.weight.copy_(v)
            model.out_embed.weight.copy_(u)
        for B, K in ((6, 3), (1, 1), (8, 5)):
            center, context, negatives = batch(gen, 13, B, K)
            with torch.no_grad():
                expected = ref.sgns_loss(v[center], u[context], u[negatives])
            got = call("SkipGram.forward", model, center, context, negatives)
            expect_tensor(got, expected, f"SkipGram(13, 5)({describe(center)}, {describe(context)}, "
                          f"{describe(negatives)})", rtol=1e-5, atol=1e-6,
                          hint="forward = sgns_loss(in_embed(center), out_embed(context), out_embed(negatives)), "
                          "compared with the right loss: if sgns_loss loses points above, fix it first; if "
                          "in_embed and out_embed share their storage, writing one overwrites the other.")

    def sparse_gradients() -> None:
        gen = rng("SkipGram", "gradients")
        torch.manual_seed(1)
        model = build(20, 4)
        with torch.no_grad():
            model.in_embed.weight.copy_(torch.from_numpy(gen.standard_normal((20, 4))))
            model.out_embed.weight.copy_(torch.from_numpy(gen.standard_normal((20, 4))))
        center, context, negatives = batch(gen, 20, 6, 3)
        v = model.in_embed.weight.detach().clone().requires_grad_()
        u = model.out_embed.weight.detach().clone().requires_grad_()
        ref.sgns_loss(v[center], u[context], u[negatives]).backward()
        call("SkipGram.forward", model, center, context, negatives).backward()
        for name, table, expected, used in (("in_embed", model.in_embed, v.grad, center),
                                            ("out_embed", model.out_embed, u.grad, torch.cat([context,
                                                                                              negatives.flatten()]))):
            grad = table.weight.grad
            expect(grad is not None and grad.is_sparse,
                   f"after backward, {name}.weight.grad is {describe(grad)}; expected a sparse tensor: give the "
                   f"table sparse=True and look rows up by calling it, self.{name}(ids) (indexing "
                   f"self.{name}.weight[ids] gives a dense gradient).")
            rows = set(grad.coalesce().indices()[0].tolist())
            expect(rows <= set(used.tolist()), f"{name}'s gradient holds rows {sorted(rows)}; only the rows used "
                   f"({sorted(set(used.tolist()))}) should get one.")
            expect_tensor(grad.to_dense(), expected, f"{name}.weight.grad (as dense)", rtol=1e-5, atol=1e-6,
                          hint="The gradient of the loss with respect to the rows looked up, repeated rows summed.")

    def trains_with_sparse_adam() -> None:
        gen = rng("SkipGram", "train")
        torch.manual_seed(2)
        model = build(12, 6)
        center, context, negatives = batch(gen, 12, 10, 4)
        optimiser = torch.optim.SparseAdam(list(model.parameters()), lr=0.05)
        first = last = None
        for _ in range(30):
            optimiser.zero_grad()
            loss = call("SkipGram.forward", model, center, context, negatives)
            loss.backward()
            optimiser.step()
            value = float(loss.detach())
            first = value if first is None else first
            last = value
        expect(last < first - 0.05, f"30 SparseAdam steps on one batch took the loss from {first:.4f} to "
               f"{last:.4f}; it should fall. Both tables all zeros never move (each table's gradient is a "
               "multiple of the other's rows): initialise at least one of them.")

    return score("SkipGram", [
        Property("in_embed and out_embed are two nn.Embedding(V, d, sparse=True)", tables),
        Property("forward is sgns_loss of the rows it looks up (repeated ids too)", forward_is_the_loss),
        Property("backward gives both tables sparse gradients on the rows used, equal to autograd's",
                 sparse_gradients),
        Property("SparseAdam steps lower the loss", trains_with_sparse_adam),
    ], points)
