"""Hidden tests for notebook 04 (positions: learned, sinusoidal, RoPE).

RoPE is checked by its laws, on positions ≥ 1 (position 0 is the identity, so a layout bug passes any test that
only uses it): agreement with the rotation-matrix definition, norms preserved, scores that depend only on the
distance n − m, and the half-split layout equal to the adjacent-pair one up to the permutation
P = [0, 2, 4, …, 1, 3, 5, …]. Head sizes include non-powers of two.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from grader.content.checks import describe, expect, expect_raises, expect_tensor, fmt_call
from grader.content.properties import Property, call, rng, score
from grader.content.reference import positions as ref

__all__ = [
    "grade_apply_rope",
    "grade_learned_positions",
    "grade_rope_angles",
    "grade_rope_matrix",
    "grade_sinusoidal_positions",
]

HEAD_DIMS = (2, 4, 6, 10, 16)  # 6 and 10: not powers of two


def _randn(gen_key: tuple, *shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(int(rng(*gen_key).integers(2**31)))
    return torch.randn(*shape, generator=g, dtype=dtype)


def _odd_dims_raise(fn: Callable[[int], Any], what: str) -> Property:
    def check() -> None:
        for odd in (3, 7):
            expect_raises(ValueError, fn, [odd], what.format(odd),
                          hint="Dimensions come in (sin, cos) / rotation pairs: an odd size is an error.")
    return Property("an odd dimension raises ValueError", check)


# --------------------------------------------------------------------------------------------------


def grade_learned_positions(LearnedPositions: type, points: float = 2) -> float:
    """Hidden tests for ``class LearnedPositions(nn.Module)``."""

    def build(T: int, d: int) -> Any:
        module = call("LearnedPositions", LearnedPositions, T, d)
        expect(isinstance(module, nn.Module),
               f"LearnedPositions({T}, {d}) is {describe(module)}; expected an nn.Module.")
        weight = getattr(module, "weight", None)
        expect(type(weight) is nn.Parameter and tuple(weight.shape) == (T, d),
               f"LearnedPositions({T}, {d}).weight is {describe(weight)}; expected an nn.Parameter of shape "
               f"({T}, {d}).")
        return module

    def adds_one_row_per_position() -> None:
        module = build(12, 5)
        for shape in ((7, 5), (3, 12, 5), (2, 3, 4, 5), (1, 5)):
            x = _randn(("learned", shape), *shape)
            expect_tensor(call("LearnedPositions.forward", module, x), x + module.weight.detach()[: shape[-2]],
                          f"LearnedPositions(12, 5)({describe(x)})", rtol=1e-6, atol=1e-7,
                          hint="Position t of the sequence (axis -2) gets row t of the table added.")

    def explicit_positions() -> None:
        module = build(10, 3)
        x = _randn(("learned", "explicit"), 2, 4, 3)
        pos = torch.tensor([9, 2, 2, 5])
        expect_tensor(call("LearnedPositions.forward", module, x, pos), x + module.weight.detach()[pos],
                      f"LearnedPositions(10, 3)({describe(x)}, positions={describe(pos)})", rtol=1e-6, atol=1e-7,
                      hint="With positions given, add weight[positions] instead of weight[:T].")

    def longest_sequence_fits() -> None:
        module = build(6, 2)
        x = torch.zeros(6, 2)
        expect_tensor(call("LearnedPositions.forward", module, x), module.weight.detach(),
                      "LearnedPositions(6, 2)(zeros(6, 2))", exact=True,
                      hint="A sequence of exactly max_positions tokens uses every row.")

    def beyond_the_table() -> None:
        module = build(8, 2)
        expect_raises(IndexError, module, [torch.zeros(9, 2)], "LearnedPositions(8, 2)(a sequence of 9 tokens)",
                      mentions={"the first missing position": ["8"]},
                      hint="Position 8 has no learned row: this is why a learned table cannot extrapolate.")
        for bad in (11, -1):
            pos = torch.tensor([0, bad])
            expect_raises(IndexError, module, [torch.zeros(2, 2), pos],
                          f"LearnedPositions(8, 2)(x, positions={describe(pos)})",
                          mentions={"the bad position": [str(bad)], "the table size": ["8", "7"]},
                          hint="Negative positions wrap around silently in torch indexing: check both ends.")

    def trains() -> None:
        module = build(5, 3)
        x = torch.zeros(2, 4, 3)
        call("LearnedPositions.forward", module, x).sum().backward()
        expected = torch.zeros(5, 3)
        expected[:4] = 2.0
        expect(module.weight.grad is not None, "LearnedPositions.weight got no gradient: keep it connected.")
        expect_tensor(module.weight.grad, expected, "the weight gradient after a (2, 4, 3) batch",
                      hint="Rows 0–3 are used once per sequence (twice in all); row 4 is not used.")

    return score("LearnedPositions", [
        Property("adds row t of the table at sequence position t, for any leading batch axes",
                 adds_one_row_per_position),
        Property("uses explicit positions when given", explicit_positions),
        Property("a sequence of exactly max_positions tokens works", longest_sequence_fits),
        Property("positions outside the table raise IndexError naming them", beyond_the_table),
        Property("the table is trained: its gradient is the sum over the batch", trains),
    ], points)


# --------------------------------------------------------------------------------------------------


# float32's unit roundoff: a correctly rounded float32 operation is off by at most this, relatively.
U32 = 2.0**-24


def float32_table_atol(num_positions: int) -> float:
    """How far a float32 computation of the sinusoidal table may be from the exact one (the text asks for a float32
    table and allows float32 arithmetic throughout).

    The angle pos · base^(−e), e = 2i/d, is at most num_positions − 1 (θ_0 = 1). In float32 it picks up a relative
    error of at most ~2u from base ** −e (pow, within an ulp), u from the multiplication or division by pos, and
    ln(base) · e · u from rounding e itself, a relative error ln(base) · e of the power, whose effect on the angle,
    pos · e · ln(base) · base^(−e), is largest at e = 1/ln(base) and stays below pos · u / ℯ ≈ 0.37 pos · u. sin and
    cos have slope at most 1, so the angle's absolute error passes through unchanged; rounding the result adds u.
    Bound: (2 + 1 + 0.37) · u · (T − 1) + u; measured (d2l.ai's and numpy float32 code, T = 300 and 2048) the worst is
    ~1.0 · u · (T − 1), so 4 · u · (T − 1) + 2u leaves a factor of 4 — still ~1e4 times below the error of any layout,
    exponent or offset bug (O(0.1) and more).
    """
    return 4 * U32 * max(num_positions - 1, 0) + 2 * U32


def grade_sinusoidal_positions(sinusoidal_positions: Callable[..., Any], points: float = 2) -> float:
    """Hidden tests for ``sinusoidal_positions(num_positions, d_model, base=10000.0)``."""
    name = "sinusoidal_positions"

    def matches_definition() -> None:
        for T, d in ((10, 4), (50, 16), (1, 2), (128, 6), (300, 64)):
            expect_tensor(call(name, sinusoidal_positions, T, d), ref.sinusoidal_positions(T, d),
                          fmt_call(name, T, d), rtol=0, atol=float32_table_atol(T),
                          hint="Column 2i is sin(pos / base^(2i/d)), column 2i+1 is cos(pos / base^(2i/d)).")

    def interleaved_not_concatenated() -> None:
        got = call(name, sinusoidal_positions, 4, 8)
        expect_tensor(got[:, 1], torch.cos(torch.arange(4.0)), f"{name}(4, 8)[:, 1]", rtol=1e-6, atol=1e-6,
                      hint="The paper interleaves: column 1 is cos(pos), the partner of column 0 = sin(pos). "
                           "Concatenating [sin | cos] is tensor2tensor's layout, a different table.")

    def position_zero() -> None:
        got = call(name, sinusoidal_positions, 3, 10)
        expect_tensor(got[0], torch.tensor([0.0, 1.0] * 5), f"{name}(3, 10)[0]", atol=1e-7,
                      hint="At position 0 every sin is 0 and every cos is 1; positions start at 0.")

    def other_base() -> None:
        expect_tensor(call(name, sinusoidal_positions, 20, 8, 100.0), ref.sinusoidal_positions(20, 8, 100.0),
                      fmt_call(name, 20, 8, 100.0), rtol=0, atol=float32_table_atol(20), hint="Use the base argument.")

    return score(name, [
        Property("matches the definition for (T, d) = (10, 4), (50, 16), (1, 2), (128, 6), (300, 64), float32",
                 matches_definition),
        Property("sin on even columns, cos on odd ones (interleaved)", interleaved_not_concatenated),
        Property("position 0 is [0, 1, 0, 1, …]", position_zero),
        Property("honours the base argument", other_base),
        _odd_dims_raise(lambda d: sinusoidal_positions(4, d), name + "(4, {})"),
    ], points)


# --------------------------------------------------------------------------------------------------


def grade_rope_angles(rope_angles: Callable[..., Any], points: float = 2) -> float:
    """Hidden tests for ``rope_angles(positions, head_dim, base=10000.0)``."""
    name = "rope_angles"

    def matches_definition() -> None:
        gen = rng(name)
        for d in HEAD_DIMS:
            pos = torch.from_numpy(gen.integers(1, 4096, size=7))
            expect_tensor(call(name, rope_angles, pos, d), ref.rope_angles(pos, d), fmt_call(name, pos, d),
                          rtol=1e-5, atol=1e-5,
                          hint="angle[t, i] = positions[t] · base^(−2i/head_dim) for i = 0 … head_dim/2 − 1.")

    def first_and_last_frequency() -> None:
        pos = torch.tensor([1, 2, 3])
        got = call(name, rope_angles, pos, 8)
        expect_tensor(got[:, 0], pos.float(), f"{name}({describe(pos)}, 8)[:, 0]", rtol=1e-6,
                      hint="θ_0 = base^0 = 1: the first pair turns by one radian per position.")
        expect_tensor(got[:, -1], pos.float() * 10000.0 ** (-6 / 8), f"{name}({describe(pos)}, 8)[:, 3]", rtol=1e-5,
                      hint="The last pair, i = head_dim/2 − 1 = 3, has θ = base^(−6/8): the exponent is 2i/d, "
                           "counting i from 0.")

    def shapes_and_base() -> None:
        pos = torch.arange(6).reshape(2, 3)
        expect_tensor(call(name, rope_angles, pos, 6, 500000.0), ref.rope_angles(pos, 6, 500000.0),
                      fmt_call(name, pos, 6, 500000.0), rtol=1e-5, atol=1e-6,
                      hint="positions of shape (…,) give angles of shape (…, head_dim/2); use base.")

    return score(name, [
        Property("matches position · base^(−2i/head_dim) for head_dim 2, 4, 6, 10, 16 and positions up to 4096",
                 matches_definition),
        Property("θ_0 = 1 and the last θ = base^(−(head_dim−2)/head_dim)", first_and_last_frequency),
        Property("2-D positions and another base (500,000, as in LLaMA 3)", shapes_and_base),
        _odd_dims_raise(lambda d: rope_angles(torch.arange(3), d), name + "(arange(3), {})"),
    ], points)


# --------------------------------------------------------------------------------------------------


def grade_rope_matrix(rope_matrix: Callable[..., Any], points: float = 2) -> float:
    """Hidden tests for ``rope_matrix(position, head_dim, base=10000.0)``."""
    name = "rope_matrix"

    def matches_definition() -> None:
        for d in HEAD_DIMS:
            for m in (1, 7, 300):
                expect_tensor(call(name, rope_matrix, m, d), ref.rope_matrix(m, d), fmt_call(name, m, d),
                              rtol=1e-5, atol=1e-6,
                              hint="Block i, on rows/columns (2i, 2i+1), is [[cos mθ_i, −sin mθ_i], "
                                   "[sin mθ_i, cos mθ_i]]; zeros elsewhere.")

    def orthogonal() -> None:
        for d in (6, 10):
            R = call(name, rope_matrix, 5, d).double()
            expect_tensor(R.T @ R, torch.eye(d, dtype=torch.float64), f"{name}(5, {d})ᵀ {name}(5, {d})",
                          atol=1e-5, hint="A rotation is orthogonal: RᵀR = I.")

    def composes() -> None:
        for m, n in ((2, 3), (10, 31)):
            A = call(name, rope_matrix, m, 8).double() @ call(name, rope_matrix, n, 8).double()
            expect_tensor(A, ref.rope_matrix(m + n, 8).double(), f"{name}({m}, 8) @ {name}({n}, 8)", atol=1e-5,
                          hint="Rotating by m then by n is rotating by m + n: R_m R_n = R_{m+n}.")

    def position_zero() -> None:
        expect_tensor(call(name, rope_matrix, 0, 6), torch.eye(6), f"{name}(0, 6)", atol=1e-7,
                      hint="Position 0 is no rotation at all.")

    return score(name, [
        Property("matches the block-diagonal definition, adjacent pairs, head_dim 2 … 16, positions ≥ 1",
                 matches_definition),
        Property("is orthogonal", orthogonal),
        Property("R_m R_n = R_{m+n}", composes),
        Property("position 0 is the identity", position_zero),
        _odd_dims_raise(lambda d: rope_matrix(1, d), name + "(1, {})"),
    ], points)


# --------------------------------------------------------------------------------------------------


def _permutation(d: int) -> torch.Tensor:
    return torch.cat([torch.arange(0, d, 2), torch.arange(1, d, 2)])


def grade_apply_rope(apply_rope: Callable[..., Any], points: float = 2) -> float:
    """Hidden tests for ``apply_rope(x, positions, base=10000.0, layout="adjacent")``."""
    name = "apply_rope"

    def matches_matrices() -> None:
        for d in HEAD_DIMS:
            for shape in ((5, d), (2, 5, d), (2, 3, 5, d)):
                x = _randn((name, shape), *shape, dtype=torch.float64)
                pos = torch.tensor([1, 4, 9, 16, 100])
                expected = torch.stack([ref.rope_matrix(int(m), d).double() @ x[..., t, :].unsqueeze(-1)
                                        for t, m in enumerate(pos)], dim=-3).squeeze(-1)
                expect_tensor(call(name, apply_rope, x, pos), expected, fmt_call(name, x, pos), rtol=1e-5, atol=1e-6,
                              hint="Adjacent-pair layout: x[..., t, :] becomes R_{positions[t]} x[..., t, :]; "
                                   "positions index axis -2, the sequence.")

    def half_split_is_a_permutation() -> None:
        for d in (4, 6, 10):
            x = _randn((name, "half", d), 3, 4, d, dtype=torch.float64)
            pos = torch.tensor([2, 3, 5, 7])
            P = _permutation(d)
            expect_tensor(call(name, apply_rope, x[..., P], pos, 10000.0, "half"),
                          ref.apply_rope(x, pos, layout="adjacent")[..., P],
                          f"{name}(P·x, {describe(pos)}, layout='half')", rtol=1e-5, atol=1e-6,
                          hint="Half-split pairs (x_i, x_{i+d/2}); it must equal P·(adjacent-pair RoPE of x) for "
                               "P = [0, 2, 4, …, 1, 3, 5, …].")

    def keeps_norms_and_dtype() -> None:
        for dtype in (torch.float32, torch.float64):
            x = _randn((name, "norm", str(dtype)), 2, 6, 10, dtype=dtype)
            pos = torch.arange(1, 7)
            for layout in ref.LAYOUTS:
                out = call(name, apply_rope, x, pos, 10000.0, layout)
                expect(type(out) is torch.Tensor and out.dtype == dtype and out.shape == x.shape,
                       f"{name}(x {tuple(x.shape)} {dtype}, layout={layout!r}) returned {describe(out)}; expected "
                       "a tensor of x's shape and dtype.")
                expect_tensor(out.norm(dim=-1), x.norm(dim=-1), f"the norms after {name}(layout={layout!r})",
                              rtol=1e-4, hint="A rotation keeps every vector's length.")

    def relative_positions() -> None:
        d = 8
        q, k = _randn((name, "q"), 1, d, dtype=torch.float64), _randn((name, "k"), 1, d, dtype=torch.float64)
        for layout in ref.LAYOUTS:
            scores = []
            for shift in (0, 37, 1000):
                m, n = torch.tensor([5 + shift]), torch.tensor([2 + shift])
                qm = call(name, apply_rope, q, m, 10000.0, layout)
                kn = call(name, apply_rope, k, n, 10000.0, layout)
                scores.append(float((qm * kn).sum()))
            # float32 angles at position ~1000 are good to ~1e-4 radians; a layout bug is off by O(1)
            expect(max(scores) - min(scores) < 1e-4 * max(1.0, abs(scores[0])),
                   f"⟨RoPE(q, m), RoPE(k, n)⟩ for (m, n) = (5, 2), (42, 39), (1005, 1002) gave {scores} with "
                   f"layout={layout!r}; they must be equal: the score may depend only on n − m. Check that cos and "
                   "sin are laid out for the same pairs you rotate.")

    def bad_arguments() -> None:
        x = torch.zeros(3, 5)
        expect_raises(ValueError, apply_rope, [x, torch.arange(3)], f"{name}(x of head_dim 5, …)",
                      hint="An odd head_dim cannot be split into pairs.")
        expect_raises(ValueError, apply_rope, [torch.zeros(3, 4), torch.arange(3), 10000.0, "interleaved"],
                      f"{name}(…, layout='interleaved')", mentions={"the bad layout": ["interleaved"]},
                      hint="Only 'adjacent' and 'half' are layouts here; say which one you got.")

    return score(name, [
        Property("adjacent layout equals the rotation matrices, head_dim 2 … 16, leading axes, positions ≥ 1",
                 matches_matrices),
        Property("half-split layout on P·x equals P·(adjacent-pair RoPE of x)", half_split_is_a_permutation),
        Property("keeps norms, shape and dtype (float32, float64) in both layouts", keeps_norms_and_dtype),
        Property("scores depend only on the distance n − m, in both layouts", relative_positions),
        Property("odd head_dim and unknown layouts raise ValueError", bad_arguments),
    ], points)
