"""Hidden tests for notebook 06 (ALBERT's factorised table, SVD, row-wise 8-bit quantisation).

Counts are checked on real models (ALBERT-base 23,040,000 vs 3,938,304; FACTS §8–9); the SVD by Eckart–Young (the
error equals the root-sum-square of the discarded singular values, and nothing of the same rank does better);
quantisation by its guarantee (every value within half a step of its row) and by the rows that break naive code:
constant rows, negative rows, a single column.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from grader.content.checks import CheckFailed, describe, expect, expect_array, expect_raises, expect_tensor, fmt_call
from grader.content.hidden.common import BATCH_SHAPES, EMPTY_SHAPES, random_ids
from grader.content.properties import Property, call, rng, score
from grader.content.reference import factorized as ref

__all__ = [
    "grade_dequantize_rows",
    "grade_embedding_parameters",
    "grade_factorize",
    "grade_factorized_embedding",
    "grade_quantize_rows",
    "grade_rank_for_budget",
]

# (name, V, H) of real tables (FACTS §8–9)
REAL_TABLES = (("ALBERT-base", 30000, 768), ("BERT-base", 30522, 768), ("GPT-2 small", 50257, 768),
               ("LLaMA-3 8B", 128256, 4096), ("Gemma 2B", 256000, 2048))


def _int_result(got: Any, expected: int, c: str, hint: str) -> None:
    expect(type(got) is int or (isinstance(got, np.integer) and not isinstance(got, bool)),
           f"{c} returned {describe(got)}; expected an int.")
    expect(int(got) == expected, f"{c} returned {int(got):,}; expected {expected:,}. {hint}")


def grade_embedding_parameters(embedding_parameters: Callable[..., Any], points: float = 2) -> float:
    """Hidden tests for ``embedding_parameters(vocab_size, hidden_size, rank=None)``."""
    name = "embedding_parameters"

    def albert() -> None:
        _int_result(call(name, embedding_parameters, 30000, 768), 23_040_000, fmt_call(name, 30000, 768),
                    "A full table has V·H parameters.")
        _int_result(call(name, embedding_parameters, 30000, 768, 128), 3_938_304, fmt_call(name, 30000, 768, 128),
                    "Factorised: V·r + r·H = 3,840,000 + 98,304 (ALBERT-base, FACTS §8).")
        _int_result(call(name, embedding_parameters, 30000, 4096, 128), 4_364_288, fmt_call(name, 30000, 4096, 128),
                    "ALBERT-xxlarge: 30,000·128 + 128·4,096.")

    def real_tables() -> None:
        for label, V, H in REAL_TABLES:
            for r in (None, 64, 256):
                c = fmt_call(name, V, H) if r is None else fmt_call(name, V, H, r)
                _int_result(call(name, embedding_parameters, V, H, r), ref.embedding_parameters(V, H, r), c,
                            f"({label})")

    def bad_sizes() -> None:
        for args in ((30000, 768, 0), (30000, 768, 769), (0, 768), (100, -3), (10, 10, 2.5)):
            expect_raises(ValueError, embedding_parameters, list(args), fmt_call(name, *args),
                          hint="Sizes are positive integers, and the rank lies between 1 and min(V, H).")

    return score(name, [
        Property("ALBERT: 23,040,000 full, 3,938,304 at r = 128 (base), 4,364,288 (xxlarge)", albert),
        Property("BERT, GPT-2, LLaMA-3 8B and Gemma 2B tables, full and at r = 64, 256", real_tables),
        Property("bad sizes and ranks outside 1 … min(V, H) raise ValueError", bad_sizes),
    ], points)


def grade_rank_for_budget(rank_for_budget: Callable[..., Any], points: float = 2) -> float:
    """Hidden tests for ``rank_for_budget(vocab_size, hidden_size, max_params)``."""
    name = "rank_for_budget"

    def exact_fits() -> None:
        for V, H, budget in ((30000, 768, 3_938_304), (30000, 768, 3_938_303), (1000, 24, 1024 * 7),
                             (50257, 768, 10_000_000), (10, 6, 60 + 100)):
            expected = ref.rank_for_budget(V, H, budget)
            _int_result(call(name, rank_for_budget, V, H, budget), expected, fmt_call(name, V, H, budget),
                        f"The largest r with V·r + r·H ≤ max_params is {expected}: {V}·{expected} + {expected}·{H} = "
                        f"{V * expected + expected * H:,}; one more would need {(V + H) * (expected + 1):,}.")

    def capped_at_min() -> None:
        _int_result(call(name, rank_for_budget, 10, 6, 10**9), 6, fmt_call(name, 10, 6, 10**9),
                    "A 10×6 table has rank at most 6, however large the budget.")

    def nothing_fits() -> None:
        expect_raises(ValueError, rank_for_budget, [30000, 768, 30767], fmt_call(name, 30000, 768, 30767),
                      mentions={"the budget": ["30767", "30,767"]},
                      hint="Rank 1 needs V + H = 30,768 parameters: say so instead of returning 0.")

    return score(name, [
        Property("the largest rank that fits, at and just below exact budgets", exact_fits),
        Property("never more than min(V, H)", capped_at_min),
        Property("a budget below V + H raises ValueError naming it", nothing_fits),
    ], points)


def grade_factorized_embedding(FactorizedEmbedding: type, points: float = 2) -> float:
    """Hidden tests for ``class FactorizedEmbedding(nn.Module)``."""

    def build(V: int, d: int, r: int) -> Any:
        module = call("FactorizedEmbedding", FactorizedEmbedding, V, d, r)
        expect(isinstance(module, nn.Module), f"FactorizedEmbedding({V}, {d}, {r}) is {describe(module)}.")
        return module

    def layers() -> None:
        for V, d, r in ((30, 8, 3), (12, 20, 12), (5, 4, 1)):
            module = build(V, d, r)
            where = fmt_call("FactorizedEmbedding", V, d, r)
            E1, E2 = getattr(module, "E1", None), getattr(module, "E2", None)
            expect(type(E1) is nn.Embedding and tuple(E1.weight.shape) == (V, r),
                   f"{where}.E1 is {describe(E1)}; expected nn.Embedding({V}, {r}).")
            expect(type(E2) is nn.Linear and (E2.in_features, E2.out_features) == (r, d) and E2.bias is None,
                   f"{where}.E2 is {describe(E2)}; expected nn.Linear({r}, {d}, bias=False).")
            n = sum(p.numel() for p in module.parameters())
            expect(n == V * r + r * d, f"{where} has {n} parameters; expected V·r + r·d = {V * r + r * d}.")

    def forward() -> None:
        gen = rng("FactorizedEmbedding", "forward")
        module = build(17, 6, 4)
        table = (module.E1.weight @ module.E2.weight.T).detach()
        for shape in (*BATCH_SHAPES, *EMPTY_SHAPES):
            ids = torch.from_numpy(random_ids(gen, shape, 17))
            expect_tensor(call("FactorizedEmbedding.forward", module, ids), table[ids],
                          f"FactorizedEmbedding(17, 6, 4)({describe(ids)})", rtol=1e-5, atol=1e-6,
                          hint="forward(ids) = E2(E1(ids)): row ids of the (V, d) table E1.weight @ E2.weight.T.")

    def gradients() -> None:
        module = build(9, 5, 2)
        ids = torch.tensor([[3, 3, 7]])
        call("FactorizedEmbedding.forward", module, ids).sum().backward()
        g1, g2 = module.E1.weight.grad, module.E2.weight.grad
        expect(g1 is not None and g2 is not None, "E1 and E2 must both receive gradients.")
        rows = (g1 != 0).any(1).nonzero().flatten().tolist()
        expect(rows == [3, 7], f"E1's gradient should be sparse — rows [3, 7] only (the ids used) — got rows {rows}.")
        expect(bool((g2 != 0).all()), "E2's gradient should be dense: every entry of the (d, r) map is used.")

    def bad_rank() -> None:
        for r in (0, 7, -1):
            expect_raises(ValueError, FactorizedEmbedding, [10, 6, r], fmt_call("FactorizedEmbedding", 10, 6, r),
                          mentions={"the rank": [str(r)]}, hint="The rank lies between 1 and min(V, d) = 6.")

    return score("FactorizedEmbedding", [
        Property("E1 = nn.Embedding(V, r), E2 = nn.Linear(r, d, bias=False), V·r + r·d parameters", layers),
        Property("forward gives rows of E1 E2 for every batch shape, empty batches included", forward),
        Property("E1 gets a sparse row gradient, E2 a dense one", gradients),
        Property("a rank outside 1 … min(V, d) raises ValueError naming it", bad_rank),
    ], points)


def _spectrum_matrix(key: str, V: int, d: int) -> np.ndarray:
    gen = rng("factorize", key)
    U, _ = np.linalg.qr(gen.standard_normal((V, min(V, d))))
    W, _ = np.linalg.qr(gen.standard_normal((d, min(V, d))))
    sigma = 10.0 / np.arange(1, min(V, d) + 1) ** 0.8
    return (U * sigma) @ W.T


def grade_factorize(factorize: Callable[..., Any], points: float = 2) -> float:
    """Hidden tests for ``factorize(E, rank) -> (E1, E2)``."""
    name = "factorize"

    def shapes_and_eckart_young() -> None:
        for V, d, r in ((40, 12, 3), (15, 30, 5), (25, 25, 1)):
            E = _spectrum_matrix("ey", V, d)
            got = call(name, factorize, E, r)
            expect(type(got) is tuple and len(got) == 2, f"{fmt_call(name, E, r)} returned {describe(got)}; "
                   "expected a tuple (E1, E2).")
            E1, E2 = got
            expect(type(E1) is np.ndarray and type(E2) is np.ndarray and E1.shape == (V, r) and E2.shape == (r, d),
                   f"{fmt_call(name, E, r)} returned {describe(E1)}, {describe(E2)}; expected shapes ({V}, {r}), "
                   f"({r}, {d}).")
            sigma = np.linalg.svd(E, compute_uv=False)
            best = float(np.sqrt((sigma[r:] ** 2).sum()))
            err = float(np.linalg.norm(E - E1 @ E2))
            expect(abs(err - best) <= 1e-8 * max(1.0, best),
                   f"‖E − E1 E2‖_F = {err:.10f} for {fmt_call(name, E, r)}; the best possible at rank {r} is "
                   f"{best:.10f}, the root-sum-square of the discarded singular values (Eckart–Young). Keep the "
                   "largest singular values: U[:, :r] · S[:r] and Vt[:r].")

    def full_rank_is_exact() -> None:
        E = _spectrum_matrix("full", 9, 6)
        E1, E2 = call(name, factorize, E, 6)
        expect_array(E1 @ E2, E, f"E1 @ E2 for {fmt_call(name, E, 6)}", rtol=1e-9, atol=1e-9,
                     hint="At rank min(V, d) nothing is discarded.")

    def keeps_dtype() -> None:
        E = _spectrum_matrix("dtype", 20, 8).astype(np.float32)
        E1, E2 = call(name, factorize, E, 4)
        expect(E1.dtype == np.float32 and E2.dtype == np.float32,
               f"{fmt_call(name, E, 4)} returned {E1.dtype} and {E2.dtype}; keep E's dtype, float32.")

    def bad_rank() -> None:
        E = np.ones((6, 4))
        for r in (0, 5):
            expect_raises(ValueError, factorize, [E, r], fmt_call(name, E, r), mentions={"the rank": [str(r)]},
                          hint="The rank lies between 1 and min(V, d) = 4.")

    return score(name, [
        Property("shapes (V, r), (r, d) and the Eckart–Young error, tall, wide and square tables",
                 shapes_and_eckart_young),
        Property("full rank reconstructs E", full_rank_is_exact),
        Property("keeps E's dtype", keeps_dtype),
        Property("a rank outside 1 … min(V, d) raises ValueError naming it", bad_rank),
    ], points)


def _tables(key: str) -> list[np.ndarray]:
    gen = rng("quantize", key)
    tables = [gen.standard_normal((30, 16)).astype(np.float32), (gen.standard_normal((7, 5)) * 40 - 100),
              gen.uniform(-1e-3, 1e-3, (4, 33)).astype(np.float32)]
    constant = gen.standard_normal((6, 8)).astype(np.float32)
    constant[2] = 3.25   # a constant row: (max − min) = 0
    constant[4] = 0.0
    tables += [constant, gen.standard_normal((5, 1)).astype(np.float32)]   # one column: every row is constant
    return tables


def _within_half_step(x_hat: np.ndarray, E: np.ndarray, scale: np.ndarray, c: str) -> None:
    err = np.abs(np.asarray(x_hat, np.float64) - E.astype(np.float64))
    limit = np.asarray(scale, np.float64)[:, None] / 2 * (1 + 1e-5) + 1e-6 * np.abs(E).max() + 1e-12
    bad = np.argwhere(err > limit)
    if bad.size:
        at = tuple(int(i) for i in bad[0])
        raise CheckFailed(f"{c}: the value at {at} is off by {err[at]:.3g}, more than half a step "
                          f"({limit[at]:.3g}) of its row. Round to the nearest level (np.rint), do not truncate.")


def grade_quantize_rows(quantize_rows: Callable[..., Any], points: float = 2) -> float:
    """Hidden tests for ``quantize_rows(E) -> (q, scale, offset)``."""
    name = "quantize_rows"

    def result(E: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        got = call(name, quantize_rows, E)
        c = fmt_call(name, E)
        expect(type(got) is tuple and len(got) == 3, f"{c} returned {describe(got)}; expected (q, scale, offset).")
        q, scale, offset = got
        expect(type(q) is np.ndarray and q.dtype == np.uint8 and q.shape == E.shape,
               f"{c} returned q = {describe(q)}; expected a uint8 array of shape {E.shape}.")
        for label, arr in (("scale", scale), ("offset", offset)):
            expect(type(arr) is np.ndarray and arr.shape == (E.shape[0],) and arr.dtype == np.float32,
                   f"{c} returned {label} = {describe(arr)}; expected one float32 per row, shape ({E.shape[0]},).")
        return q, scale, offset

    def scheme() -> None:
        E = _tables("scheme")[0]
        q, scale, offset = result(E)
        expect_array(offset, E.min(axis=1), f"the offsets of {fmt_call(name, E)}", rtol=1e-6, atol=1e-7,
                     hint="offset = the row's minimum (FBGEMM's row-wise scheme).")
        expect_array(scale, (E.max(axis=1) - E.min(axis=1)) / 255, f"the scales of {fmt_call(name, E)}",
                     rtol=1e-5, atol=1e-9, hint="scale = (max − min) / 255: 256 levels from min to max.")
        expect(bool((q.min(axis=1) == 0).all() and (q.max(axis=1) == 255).all()),
               "each row's minimum must map to 0 and its maximum to 255.")

    def half_a_step() -> None:
        for E in _tables("half")[:3]:
            q, scale, offset = result(E)
            _within_half_step(q.astype(np.float64) * scale[:, None] + offset[:, None], E, scale,
                              f"{name} of a {E.dtype} {E.shape} table")

    def constant_rows() -> None:
        for E in _tables("constant")[3:]:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                q, scale, offset = result(E)
            numeric = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
            expect(not numeric, f"{name} of a table with constant rows made numpy warn: {numeric[:2]}. Their scale is "
                   "0: do not divide by it (use q = 0 there; the offset is the value).")
            x_hat = q.astype(np.float64) * scale[:, None] + offset[:, None]
            expect(bool(np.isfinite(x_hat).all()) and bool(np.isfinite(scale).all()),
                   f"{name} of a table with constant rows produced NaN or inf: max − min = 0 there, so do not divide "
                   "by the scale (store q = 0, the offset is the value).")
            _within_half_step(x_hat, E, scale, f"{name} of a table with constant rows")

    def bad_input() -> None:
        for E in (np.arange(6).reshape(2, 3), np.ones(5, np.float32)):
            expect_raises(ValueError, quantize_rows, [E], fmt_call(name, E),
                          hint="E must be a 2-D float matrix.")

    return score(name, [
        Property("offset = row minimum, scale = (max − min)/255, levels 0 … 255 used", scheme),
        Property("every value within half a step of its row (float32, float64, tiny and large ranges)", half_a_step),
        Property("constant rows (and a single column) quantise without NaN or division by zero", constant_rows),
        Property("integer or 1-D input raises ValueError", bad_input),
    ], points)


def grade_dequantize_rows(dequantize_rows: Callable[..., Any], points: float = 2) -> float:
    """Hidden tests for ``dequantize_rows(q, scale, offset)``."""
    name = "dequantize_rows"

    def round_trip() -> None:
        for E in _tables("round trip"):
            q, scale, offset = ref.quantize_rows(E)
            got = call(name, dequantize_rows, q, scale, offset)
            expect_array(got, ref.dequantize_rows(q, scale, offset), fmt_call(name, q, scale, offset), rtol=1e-6,
                         atol=1e-7, hint="x = q · scale + offset, with scale and offset per row (shape (V, 1)).")

    def float32_out() -> None:
        q = np.array([[0, 255], [128, 1]], dtype=np.uint8)
        scale, offset = np.array([0.5, 2.0], np.float32), np.array([-1.0, 10.0], np.float32)
        got = call(name, dequantize_rows, q, scale, offset)
        expect_array(got, np.array([[-1.0, 126.5], [266.0, 12.0]], np.float32), fmt_call(name, q, scale, offset),
                     hint="float32 values; 255 · 0.5 − 1 = 126.5 needs q converted before multiplying (uint8 wraps).")

    def per_row_not_column() -> None:
        q = np.full((3, 5), 2, np.uint8)
        scale, offset = np.array([1.0, 2.0, 3.0], np.float32), np.zeros(3, np.float32)
        got = call(name, dequantize_rows, q, scale, offset)
        expect_array(got, np.array([[2.0] * 5, [4.0] * 5, [6.0] * 5], np.float32), fmt_call(name, q, scale, offset),
                     hint="scale[v] belongs to row v: broadcast it as scale[:, None], not across the columns.")

    return score(name, [
        Property("inverts quantize_rows' scheme on five tables", round_trip),
        Property("returns float32 and converts q before the arithmetic", float32_out),
        Property("applies scale and offset per row", per_row_not_column),
    ], points)
