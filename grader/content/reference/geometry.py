"""Reference implementations for notebook 08 (the geometry of learned embeddings: word2vec), from the definitions.

Cosine similarity of rows; nearest neighbours by cosine (the query excluded, ties to the lower id); 3CosAdd analogies
over unit-length rows (Mikolov et al. 2013), the three inputs excluded as word2vec and gensim do, or not (Nissim, van
Noord & van der Goot 2020); skip-gram (center, context) pairs; the unigram^0.75 noise distribution; the
skip-gram-with-negative-sampling loss in log-sigmoid form; and the two-table ``SkipGram`` model with sparse gradients.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SkipGram", "analogy", "cosine_similarity", "nearest_neighbours", "noise_distribution", "sgns_loss",
           "skipgram_pairs", "unit_rows"]


def unit_rows(X: np.ndarray, what: str = "X") -> np.ndarray:
    """Rows scaled to length 1 (in float64). X: (n, d) -> (n, d); a zero row raises ValueError naming it."""
    X = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X, axis=1)
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise ValueError(f"row {int(zero[0])} of {what} is zero: its cosine with anything is undefined")
    return X / norms[:, None]


def cosine_similarity(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """cos(A[i], B[j]) for every pair of rows. A: (n, d), B: (m, d) -> (n, m) float64."""
    return unit_rows(A, "A") @ unit_rows(B, "B").T


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """The k ids of largest score, largest first, ties to the lower id (a stable sort)."""
    return np.argsort(-scores, kind="stable")[:k].astype(np.int64)


def nearest_neighbours(E: np.ndarray, query_id: int, k: int) -> np.ndarray:
    """The k rows most similar to row query_id by cosine, most similar first, the query excluded, ties to the lower
    id. E: (V, d), query_id: int, k: int -> (k,) int64."""
    scores = cosine_similarity(E[query_id : query_id + 1], E)[0]
    scores[query_id] = -np.inf
    return _top_k(scores, k)


def analogy(E: np.ndarray, a: int, b: int, c: int, k: int = 1, exclude_inputs: bool = True) -> np.ndarray:
    """"a is to b as c is to ?" by 3CosAdd: the k ids ranked by cos(x, b̂ − â + ĉ) over unit rows, most similar
    first, ties to the lower id; with exclude_inputs, a, b and c are never returned. E: (V, d) -> (k,) int64."""
    U = unit_rows(E, "E")
    scores = cosine_similarity(U, (U[b] - U[a] + U[c])[None, :])[:, 0]
    if exclude_inputs:
        scores[[a, b, c]] = -np.inf
    return _top_k(scores, k)


def skipgram_pairs(ids: np.ndarray, window: int) -> np.ndarray:
    """(center, context) for every position i and every j ≠ i with |i − j| ≤ window inside the sequence, in order of
    i, then j. ids: (T,) ints -> (N, 2) int64."""
    ids = np.asarray(ids, dtype=np.int64)
    pairs = [(ids[i], ids[j]) for i in range(len(ids))
             for j in range(max(0, i - window), min(len(ids), i + window + 1)) if j != i]
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """P(w) ∝ counts[w] ** power (word2vec's unigram^¾). counts: (V,) -> (V,) float64 summing to 1."""
    weights = np.asarray(counts, dtype=np.float64) ** power
    return weights / weights.sum()


def sgns_loss(center_vecs: torch.Tensor, context_vecs: torch.Tensor, negative_vecs: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of −log σ(u_o·v_c) − Σ_k log σ(−u_k·v_c), in log-sigmoid form.

    center_vecs v_c: (B, d); context_vecs u_o: (B, d); negative_vecs u_k: (B, K, d) -> scalar, their dtype."""
    positive = (center_vecs * context_vecs).sum(-1)                               # (B,)
    negative = torch.einsum("bkd,bd->bk", negative_vecs, center_vecs)             # (B, K)
    return -(F.logsigmoid(positive) + F.logsigmoid(-negative).sum(-1)).mean()


class SkipGram(nn.Module):
    """Skip-gram with negative sampling: an input table (the center word's v) and an output table (u), both
    nn.Embedding(vocab_size, dim, sparse=True); forward(center (B,), context (B,), negatives (B, K)) -> the loss."""

    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__()
        self.in_embed = nn.Embedding(vocab_size, dim, sparse=True)
        self.out_embed = nn.Embedding(vocab_size, dim, sparse=True)
        with torch.no_grad():   # word2vec's initialisation: input uniform in ±0.5/d, output zero
            self.in_embed.weight.uniform_(-0.5 / dim, 0.5 / dim)
            self.out_embed.weight.zero_()

    def forward(self, center: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        return sgns_loss(self.in_embed(center), self.out_embed(context), self.out_embed(negatives))
