"""Reference for notebook 06: factorised embedding tables (ALBERT) and row-wise 8-bit quantisation.

ALBERT (Lan et al., ICLR 2020) replaces the V×H table by E = E1 E2 with E1 ∈ R^{V×r} (a lookup) and
E2 ∈ R^{r×H} (a linear map): V·r + r·H parameters instead of V·H; ALBERT-base (V = 30,000, H = 768, r = 128):
3,938,304 instead of 23,040,000. The best rank-r approximation of a given table in Frobenius norm is its truncated
SVD (Eckart–Young); its error is the root-sum-square of the discarded singular values.

Row-wise 8-bit quantisation (FBGEMM's "fused 8-bit rowwise"): per row, offset = min, scale = (max − min)/255,
q = round((x − offset) / scale) ∈ {0, …, 255}; x ≈ q·scale + offset, within half a step of its row.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = [
    "FactorizedEmbedding",
    "dequantize_rows",
    "embedding_parameters",
    "factorize",
    "quantize_rows",
    "rank_for_budget",
]


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_rank(rank: int, rows: int, cols: int) -> None:
    _check_sizes(rank=rank)
    if rank > min(rows, cols):
        raise ValueError(f"rank {rank} is larger than min(V, d) = {min(rows, cols)}: a {rows}×{cols} table has no "
                         "higher rank")


def embedding_parameters(vocab_size: int, hidden_size: int, rank: int | None = None) -> int:
    """V·H for a full table; V·r + r·H for ALBERT's factorised one (r between 1 and min(V, H))."""
    _check_sizes(vocab_size=vocab_size, hidden_size=hidden_size)
    if rank is None:
        return int(vocab_size) * int(hidden_size)
    _check_rank(rank, vocab_size, hidden_size)
    return int(vocab_size) * int(rank) + int(rank) * int(hidden_size)


def rank_for_budget(vocab_size: int, hidden_size: int, max_params: int) -> int:
    """The largest rank r ≤ min(V, H) with V·r + r·H ≤ max_params; ValueError if even r = 1 does not fit."""
    _check_sizes(vocab_size=vocab_size, hidden_size=hidden_size, max_params=max_params)
    best = 0
    for r in range(1, min(vocab_size, hidden_size) + 1):  # the definition, one rank at a time
        if vocab_size * r + r * hidden_size <= max_params:
            best = r
    if best == 0:
        raise ValueError(f"no factorised table fits {max_params:,} parameters: rank 1 already needs "
                         f"V + H = {vocab_size + hidden_size:,}")
    return best


class FactorizedEmbedding(nn.Module):
    """ids (…,) -> (…, d): E2(E1(ids)), E1 = nn.Embedding(V, r), E2 = nn.Linear(r, d, bias=False)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, rank: int) -> None:
        super().__init__()
        _check_sizes(num_embeddings=num_embeddings, embedding_dim=embedding_dim)
        _check_rank(rank, num_embeddings, embedding_dim)
        self.E1 = nn.Embedding(num_embeddings, rank)
        self.E2 = nn.Linear(rank, embedding_dim, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.E2(self.E1(ids))


def factorize(E: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """E (V, d) -> E1 (V, r), E2 (r, d) minimising ‖E − E1 E2‖_F: the truncated SVD, E1 = U_r Σ_r, E2 = V_rᵀ."""
    E = np.asarray(E)
    if E.ndim != 2:
        raise ValueError(f"E must be a (V, d) matrix, got shape {E.shape}")
    _check_rank(rank, *E.shape)
    U, S, Vt = np.linalg.svd(E.astype(np.float64), full_matrices=False)
    return (U[:, :rank] * S[:rank]).astype(E.dtype), Vt[:rank].astype(E.dtype)


def quantize_rows(E: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """E (V, d) float -> q (V, d) uint8, scale (V,) float32, offset (V,) float32, per row."""
    E = np.asarray(E)
    if E.ndim != 2 or E.dtype.kind != "f":
        raise ValueError(f"E must be a float (V, d) matrix, got {E.dtype} of shape {E.shape}")
    x = E.astype(np.float64)
    low, high = x.min(axis=1), x.max(axis=1)
    scale = (high - low) / 255.0
    safe = np.where(scale > 0, scale, 1.0)            # a constant row: every value is its offset, q = 0
    q = np.clip(np.rint((x - low[:, None]) / safe[:, None]), 0, 255).astype(np.uint8)
    return q, scale.astype(np.float32), low.astype(np.float32)


def dequantize_rows(q: np.ndarray, scale: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """q (V, d) uint8, scale (V,), offset (V,) -> (V, d) float32: q·scale + offset, row by row."""
    return (q.astype(np.float32) * np.asarray(scale, np.float32)[:, None] + np.asarray(offset, np.float32)[:, None])
