"""Reference for notebook 02: the gradient of an embedding lookup is sparse, and duplicates add up.

With Y = E[ids] (shape ids.shape + (d,)) and upstream gradient G_Y = dL/dY, the chain rule through
Y = onehot(ids) E gives

    dL/dE = onehot(ids)ᵀ G_Y,    i.e.   (dL/dE)[k] = Σ_{i : ids_i = k} G_Y[i].

Rows that were not looked up get exactly zero; a row looked up k times gets the sum of k upstream rows.
A padding id contributes nothing (``torch.nn.Embedding(padding_idx=…)`` semantics).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from grader.content.reference.lookup import check_ids, one_hot

__all__ = [
    "EmbeddingFunction",
    "check_grad_out",
    "check_padding_idx",
    "embedding_grad",
    "embedding_grad_onehot",
    "sparse_embedding_grad",
    "sparse_sgd_step",
]


def check_grad_out(ids: np.ndarray, grad_out: Any) -> np.ndarray:
    """grad_out must be a float array of shape ids.shape + (d,); return it as an array."""
    g = np.asarray(grad_out)
    if g.dtype.kind != "f":
        raise TypeError(f"grad_out must be a float array, got dtype {g.dtype}")
    if g.ndim != ids.ndim + 1 or g.shape[:-1] != ids.shape:
        raise ValueError(f"grad_out has shape {g.shape}; expected ids.shape + (d,) = {ids.shape} + (d,)")
    return g


def check_padding_idx(padding_idx: int | None, num_embeddings: int | None) -> None:
    """padding_idx is None or an integer id in [0, V) (any non-negative integer when V is unknown)."""
    if padding_idx is None:
        return
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, int | np.integer):
        raise TypeError(f"padding_idx must be an integer id or None, got {padding_idx!r}")
    if padding_idx < 0 or (num_embeddings is not None and padding_idx >= num_embeddings):
        upper = f"{num_embeddings - 1}" if num_embeddings is not None else "…"
        raise ValueError(f"padding_idx {padding_idx} is not an id: valid ids are 0 to {upper}")


def embedding_grad_onehot(ids: Any, grad_out: Any, num_embeddings: int) -> np.ndarray:
    """ids (…,), grad_out (…, d) -> (V, d) = onehot(ids)ᵀ grad_out, the definition."""
    arr = check_ids(ids, num_embeddings)
    g = check_grad_out(arr, grad_out)
    d = g.shape[-1]
    X = one_hot(arr.reshape(-1), num_embeddings).astype(g.dtype)
    return X.T @ g.reshape(-1, d)


def embedding_grad(ids: Any, grad_out: Any, num_embeddings: int, padding_idx: int | None = None) -> np.ndarray:
    """ids (…,), grad_out (…, d) -> (V, d) by scatter-add; the padding row stays zero."""
    arr = check_ids(ids, num_embeddings)
    g = check_grad_out(arr, grad_out)
    check_padding_idx(padding_idx, num_embeddings)
    d = g.shape[-1]
    G = np.zeros((num_embeddings, d), dtype=g.dtype)
    flat_ids, flat_g = arr.reshape(-1), g.reshape(-1, d)
    for i, k in enumerate(flat_ids):  # the definition, one occurrence at a time
        if k != padding_idx:
            G[k] += flat_g[i]
    return G


def sparse_embedding_grad(ids: Any, grad_out: Any, padding_idx: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """ids (…,), grad_out (…, d) -> (rows (n,) int64 sorted unique, values (n, d)): the coalesced gradient."""
    arr = np.asarray(ids.detach().cpu().numpy() if isinstance(ids, torch.Tensor) else ids)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"token ids must be integers, got dtype {arr.dtype}")
    if arr.size and arr.min() < 0:
        raise IndexError(f"token id {int(arr[arr < 0][0])} is out of range: ids are non-negative")
    g = check_grad_out(arr, grad_out)
    check_padding_idx(padding_idx, None)
    d = g.shape[-1]
    flat_ids, flat_g = arr.reshape(-1).astype(np.int64), g.reshape(-1, d)
    rows = np.array(sorted(set(flat_ids.tolist()) - {padding_idx}), dtype=np.int64)
    values = np.zeros((rows.size, d), dtype=g.dtype)
    position = {int(r): j for j, r in enumerate(rows)}
    for i, k in enumerate(flat_ids.tolist()):
        if k in position:
            values[position[k]] += flat_g[i]
    return rows, values


def sparse_sgd_step(E: np.ndarray, ids: Any, grad_out: Any, lr: float, padding_idx: int | None = None) -> np.ndarray:
    """E (V, d) -= lr · dL/dE, touching only the rows in ids (not the padding row); returns those rows."""
    arr = check_ids(ids, E.shape[0])
    check_padding_idx(padding_idx, E.shape[0])
    rows, values = sparse_embedding_grad(arr, grad_out, padding_idx)
    E[rows] -= lr * values.astype(E.dtype)
    return rows


class EmbeddingFunction(torch.autograd.Function):
    """Y = weight[ids] forward; dL/dweight = scatter-add of dL/dY backward, padding row zero.

    ``EmbeddingFunction.apply(ids, weight, padding_idx)``: ids int64/int32 (…,), weight (V, d) -> (…, d).
    """

    @staticmethod
    def forward(ctx: Any, ids: torch.Tensor, weight: torch.Tensor, padding_idx: int | None = None) -> torch.Tensor:
        if ids.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"token ids must be an integer tensor, got dtype {ids.dtype}")
        check_ids(ids, weight.shape[0])
        check_padding_idx(padding_idx, weight.shape[0])
        ctx.save_for_backward(ids)
        ctx.num_embeddings = weight.shape[0]
        ctx.padding_idx = padding_idx
        return weight[ids]

    @staticmethod
    def backward(ctx: Any, grad_out: torch.Tensor) -> tuple[None, torch.Tensor, None]:
        (ids,) = ctx.saved_tensors
        d = grad_out.shape[-1]
        flat_ids, flat_g = ids.reshape(-1).long(), grad_out.reshape(-1, d)
        if ctx.padding_idx is not None:
            keep = flat_ids != ctx.padding_idx
            flat_ids, flat_g = flat_ids[keep], flat_g[keep]
        grad_weight = torch.zeros(ctx.num_embeddings, d, dtype=grad_out.dtype, device=grad_out.device)
        grad_weight.index_add_(0, flat_ids, flat_g)
        return None, grad_weight, None
