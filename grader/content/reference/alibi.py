"""Reference for notebook 05: ALiBi — no position embeddings, a linear penalty on distance instead.

Press, Smith, Lewis, "Train Short, Test Long" (ICLR 2022): add −m·(i − j) to the causal attention score of query i
and key j ≤ i, with one slope m per head. For n heads, a power of two, the slopes are the geometric sequence
2^(−8h/n), h = 1 … n. Otherwise (official ``get_slopes``): with c = 2^⌊log₂ n⌋, the c slopes for c heads followed by
every other slope of the 2c-head sequence, the first n − c of them — non-monotonic by design (n = 12 gives
[0.5, …, 0.0039, 0.7071, 0.3536, 0.1768, 0.0884]).
"""

from __future__ import annotations

import math

import torch

__all__ = ["alibi_bias", "alibi_slopes", "causal_attention"]


def _power_of_two_slopes(n: int) -> list[float]:
    return [2.0 ** (-8.0 * h / n) for h in range(1, n + 1)]


def alibi_slopes(n_heads: int) -> torch.Tensor:
    """(n_heads,) float32: the official ALiBi slopes."""
    if isinstance(n_heads, bool) or not isinstance(n_heads, int) or n_heads < 1:
        raise ValueError(f"n_heads must be a positive integer, got {n_heads!r}")
    c = 2 ** math.floor(math.log2(n_heads))
    slopes = _power_of_two_slopes(c)
    if c < n_heads:
        slopes += _power_of_two_slopes(2 * c)[0::2][: n_heads - c]
    return torch.tensor(slopes, dtype=torch.float32)


def alibi_bias(n_heads: int, seq_len: int) -> torch.Tensor:
    """(n_heads, T, T) float32: bias[h, i, j] = −m_h·(i − j) for j ≤ i, −inf for j > i (the future)."""
    m = alibi_slopes(n_heads).double()
    out = torch.empty(n_heads, seq_len, seq_len, dtype=torch.float64)
    for i in range(seq_len):
        for j in range(seq_len):
            out[:, i, j] = -m * (i - j) if j <= i else float("-inf")
    return out.float()


def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None = None
                     ) -> torch.Tensor:
    """q, k (…, H, T, d_k), v (…, H, T, d_v), bias broadcastable to (…, H, T, T) -> (…, H, T, d_v).

    softmax(q kᵀ / √d_k + causal mask + bias) v, the softmax over keys.
    """
    if q.shape[-1] != k.shape[-1] or q.shape[-2] != k.shape[-2] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"q {tuple(q.shape)}, k {tuple(k.shape)} and v {tuple(v.shape)} do not fit: q and k need the "
                         "same d_k, and all three the same sequence length T")
    T = q.shape[-2]
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    future = torch.ones(T, T, dtype=torch.bool).triu(1)
    scores = scores.masked_fill(future, float("-inf"))
    if bias is not None:
        scores = scores + bias
    return torch.softmax(scores, dim=-1) @ v
