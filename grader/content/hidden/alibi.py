"""Hidden tests for notebook 05 (ALiBi).

Slopes are checked against the official rule for powers of two and for the non-powers where real code has been
wrong (6, 12, 24, 40; FACTS §7 and mlx#343), the bias against its definition (−m·(i − j) below the diagonal, −inf
above), and attention against ``torch.nn.functional.scaled_dot_product_attention`` with the same mask and bias.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from grader.content.checks import describe, expect, expect_raises, expect_tensor, fmt_call
from grader.content.properties import Property, call, rng, score
from grader.content.reference import alibi as ref

__all__ = ["grade_alibi_bias", "grade_alibi_slopes", "grade_causal_attention"]

N12 = [0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625,
       2 ** -0.5, 2 ** -1.5, 2 ** -2.5, 2 ** -3.5]


def grade_alibi_slopes(alibi_slopes: Callable[[int], Any], points: float = 2) -> float:
    """Hidden tests for ``alibi_slopes(n_heads)``."""
    name = "alibi_slopes"

    def powers_of_two() -> None:
        for n in (1, 2, 4, 8, 16, 32):
            expect_tensor(call(name, alibi_slopes, n), ref.alibi_slopes(n), fmt_call(name, n), rtol=1e-6,
                          hint="For n a power of two: 2^(−8h/n) for h = 1 … n — the first slope is 2^(−8/n), "
                               "not 1 (h starts at 1).")

    def twelve_heads() -> None:
        expect_tensor(call(name, alibi_slopes, 12), torch.tensor(N12), fmt_call(name, 12), rtol=1e-6,
                      hint="The official rule: the 8 slopes for 8 heads, then every other slope of the 16-head "
                           "sequence (2^-0.5, 2^-1.5, 2^-2.5, 2^-3.5). Not sorted: non-monotonic by design.")

    def other_non_powers() -> None:
        for n in (3, 5, 6, 24, 40):
            expect_tensor(call(name, alibi_slopes, n), ref.alibi_slopes(n), fmt_call(name, n), rtol=1e-6,
                          hint="c = 2^⌊log₂ n⌋ slopes for c heads, then the first n − c of slopes(2c)[0::2].")

    def bad_counts() -> None:
        for n in (0, -4):
            expect_raises(ValueError, alibi_slopes, [n], fmt_call(name, n), hint="A model has at least one head.")

    return score(name, [
        Property("powers of two: 2^(−8h/n), h = 1 … n, for n = 1 … 32, float32", powers_of_two),
        Property("12 heads: the official, non-monotonic list", twelve_heads),
        Property("other non-powers of two: 3, 5, 6, 24, 40 heads", other_non_powers),
        Property("fewer than one head raises ValueError", bad_counts),
    ], points)


def grade_alibi_bias(alibi_bias: Callable[[int, int], Any], points: float = 2) -> float:
    """Hidden tests for ``alibi_bias(n_heads, seq_len)``."""
    name = "alibi_bias"

    def matches_definition() -> None:
        for n, T in ((8, 6), (12, 5), (3, 9), (1, 4)):
            got = call(name, alibi_bias, n, T)
            expected = ref.alibi_bias(n, T)
            expect(type(got) is torch.Tensor and tuple(got.shape) == (n, T, T),
                   f"{fmt_call(name, n, T)} returned {describe(got)}; expected a tensor of shape ({n}, {T}, {T}).")
            below = ~torch.isinf(expected)
            expect_tensor(got[below], expected[below], f"{fmt_call(name, n, T)} on and below the diagonal",
                          rtol=1e-6, atol=1e-7, hint="bias[h, i, j] = −m_h·(i − j): zero on the diagonal, more "
                          "negative the further back the key (a positive sign would favour distant tokens).")

    def future_is_masked() -> None:
        got = call(name, alibi_bias, 4, 7)
        above = torch.ones(7, 7, dtype=torch.bool).triu(1)
        expect(type(got) is torch.Tensor and got.shape == (4, 7, 7) and bool(torch.isneginf(got[:, above]).all()),
               f"{fmt_call(name, 4, 7)} must be −inf above the diagonal (j > i): a query never sees later keys.")

    def single_token() -> None:
        expect_tensor(call(name, alibi_bias, 5, 1), torch.zeros(5, 1, 1), fmt_call(name, 5, 1),
                      hint="One token attends only to itself, with bias 0.")

    return score(name, [
        Property("equals −m_h·(i − j) on and below the diagonal, for 8, 12, 3 and 1 heads", matches_definition),
        Property("−inf above the diagonal", future_is_masked),
        Property("a sequence of one token gives zeros", single_token),
    ], points)


def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    T = q.shape[-2]
    mask = torch.zeros(T, T, dtype=q.dtype).masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask if bias is None else mask + bias.to(q.dtype))


def grade_causal_attention(causal_attention: Callable[..., Any], points: float = 2) -> float:
    """Hidden tests for ``causal_attention(q, k, v, bias=None)``."""
    name = "causal_attention"

    def qkv(key: str, lead: tuple[int, ...], T: int, dk: int, dv: int, dtype: torch.dtype = torch.float64
            ) -> tuple[torch.Tensor, ...]:
        g = torch.Generator().manual_seed(int(rng(name, key, lead, T).integers(2**31)))
        return tuple(torch.randn(*lead, T, size, generator=g, dtype=dtype) for size in (dk, dk, dv))

    def without_bias() -> None:
        for lead, T, dk, dv in (((3,), 5, 4, 4), ((2, 3), 7, 8, 5), ((1,), 1, 6, 2), ((2, 12), 4, 16, 16)):
            q, k, v = qkv("plain", lead, T, dk, dv)
            expect_tensor(call(name, causal_attention, q, k, v), _sdpa(q, k, v, None),
                          f"{name}(q {tuple(q.shape)}, k, v {tuple(v.shape)})", rtol=1e-6, atol=1e-8,
                          hint="softmax(q kᵀ / √d_k + causal mask) v, the softmax over keys (the last axis).")

    def with_alibi() -> None:
        for H, T in ((4, 6), (12, 5)):
            q, k, v = qkv("alibi", (2, H), T, 8, 8)
            bias = ref.alibi_bias(H, T)
            expect_tensor(call(name, causal_attention, q, k, v, bias), _sdpa(q, k, v, bias),
                          f"{name}(q {tuple(q.shape)}, k, v, bias=alibi_bias({H}, {T}))", rtol=1e-6, atol=1e-8,
                          hint="Add the bias to the scaled scores, before the softmax.")

    def causal() -> None:
        q, k, v = qkv("causal", (2,), 6, 4, 3)
        before = call(name, causal_attention, q, k, v)
        k2, v2 = k.clone(), v.clone()
        k2[:, 4:], v2[:, 4:] = 9.0, -9.0  # change the last two keys and values
        after = call(name, causal_attention, q, k2, v2)
        expect(type(before) is torch.Tensor and type(after) is torch.Tensor,
               f"{name} returned {describe(before)}; expected a tensor.")
        expect_tensor(after[:, :4], before[:, :4], "the outputs at positions 0–3 after changing keys 4–5",
                      rtol=1e-9, atol=1e-12, hint="Position i may only see keys j ≤ i: mask the future before "
                      "the softmax (filling −inf), not after it.")

    def scale_and_float32() -> None:
        q, k, v = qkv("scale", (2,), 5, 64, 3, torch.float32)
        out = call(name, causal_attention, q, k, v)
        expect_tensor(out, _sdpa(q, k, v, None), f"{name}(float32 q, k of head size 64, v)", rtol=1e-4, atol=1e-5,
                      hint=f"Divide the scores by √d_k = {math.sqrt(64):g}; keep float32 in, float32 out.")

    def mismatched_shapes() -> None:
        q, k, v = qkv("shapes", (2,), 4, 4, 4)
        expect_raises(ValueError, causal_attention, [q, k[..., :3], v], f"{name}(q d_k=4, k d_k=3, v)",
                      hint="q and k need the same head size; say which shapes you got.")
        expect_raises(ValueError, causal_attention, [q, k, v[:, :3]], f"{name}(q, k with T=4, v with T=3)",
                      hint="q, k and v need the same sequence length.")

    return score(name, [
        Property("equals scaled_dot_product_attention with a causal mask, batch and head axes, T = 1 … 7, d_v ≠ d_k",
                 without_bias),
        Property("with an ALiBi bias, equals scaled_dot_product_attention with mask + bias", with_alibi),
        Property("is causal: changing later keys and values changes nothing earlier", causal),
        Property("scales by √d_k and keeps float32", scale_and_float32),
        Property("mismatched q, k, v shapes raise ValueError", mismatched_shapes),
    ], points)
