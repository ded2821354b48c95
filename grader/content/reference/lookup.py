"""Reference for notebook 01: the embedding lookup is a one-hot product.

With a table ``E`` of shape (V, d) and a token id ``t`` in {0, …, V−1}:

    E(t) = E[t, :] = onehot(t)ᵀ E,    onehot(t)_k = [t = k].

Each function is written from that definition, not copied from the solution notebook.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["Embedding", "check_ids", "embed_lookup", "embed_onehot", "linear_from_embedding", "one_hot"]


def check_ids(ids: Any, num_embeddings: int) -> np.ndarray:
    """Validate token ids against a vocabulary of ``num_embeddings`` ids.

    ids: int array-like (…,) — a Python int, a list, a numpy array or a CPU torch tensor.
    Returns the ids as an integer numpy array of the same shape.
    Raises TypeError for non-integer ids (floats, bools) and IndexError for ids outside [0, V);
    both messages name the offending value and V.
    """
    if isinstance(ids, torch.Tensor):
        ids = ids.detach().cpu().numpy()
    arr = np.asarray(ids)
    if arr.dtype.kind not in "iu":
        example = arr.flat[0] if arr.size else "(empty)"
        raise TypeError(
            f"token ids must be integers, got dtype {arr.dtype} (e.g. {example!r}); "
            f"valid ids are the integers 0 to {num_embeddings - 1} for V = {num_embeddings}"
        )
    if arr.size:
        bad = arr[(arr < 0) | (arr >= num_embeddings)]
        if bad.size:
            raise IndexError(
                f"token id {int(bad[0])} is out of range for a vocabulary of V = {num_embeddings} ids "
                f"(valid ids are 0 to {num_embeddings - 1})"
            )
    return arr


def one_hot(ids: Any, num_classes: int) -> np.ndarray:
    """ids: int (…,) -> float64 (…, num_classes) with out[…, k] = 1.0 if ids[…] == k else 0.0."""
    arr = check_ids(ids, num_classes)
    return (arr[..., None] == np.arange(num_classes)).astype(np.float64)


def embed_onehot(ids: Any, E: np.ndarray) -> np.ndarray:
    """ids: int (…,), E: (V, d) -> (…, d) in E's dtype, as the product onehot(ids) @ E."""
    V = E.shape[0]
    return one_hot(ids, V).astype(E.dtype) @ E


def embed_lookup(ids: Any, E: np.ndarray) -> np.ndarray:
    """ids: int (…,), E: (V, d) -> (…, d): row ids[…] of E, by indexing."""
    arr = check_ids(ids, E.shape[0])
    return E[arr]


class Embedding(nn.Module):
    """A table of V learnable vectors of size d; ``forward`` looks rows up by id.

    weight: Parameter (V, d), initialised from N(0, 1) like ``torch.nn.Embedding``.
    forward: ids int64/int32 (…,) -> (…, d).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int) -> None:
        super().__init__()
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.weight = nn.Parameter(torch.randn(num_embeddings, embedding_dim))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if ids.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"token ids must be an integer tensor, got dtype {ids.dtype} for V = {self.num_embeddings}")
        check_ids(ids, self.num_embeddings)
        return self.weight[ids]


def linear_from_embedding(emb: nn.Embedding) -> nn.Linear:
    """A bias-free ``nn.Linear(V, d)`` with ``linear(onehot(ids)) == emb(ids)``.

    ``nn.Linear`` stores its weight as (out, in) = (d, V), so the weight is Eᵀ, copied into a parameter
    of its own (same dtype as E) so that later changes to one layer do not change the other.
    """
    V, d = emb.weight.shape
    linear = nn.Linear(V, d, bias=False, dtype=emb.weight.dtype)
    with torch.no_grad():
        linear.weight.copy_(emb.weight.T)
    return linear
