"""Correct variants for notebook 02 (the sparse gradient), at least two per exercise."""

from __future__ import annotations

from grader.samples.variants import Variant, maker

_v = maker("02_sparse_gradient")

VARIANTS: list[Variant] = [
    # ---------------------------------------------------------------- embedding_grad
    _v("grad_index_add_list_shape", "embedding_grad",
       "torch's index_add_ on tensors; names the shape as a list, [3], and does not repeat the bad padding_idx "
       "(the text asks for a ValueError naming the shape you got, nothing about padding_idx's message)", '''
def embedding_grad(ids, grad_out, num_embeddings, padding_idx=None):
    ids = check_ids(ids, num_embeddings)
    grad_out = np.asarray(grad_out)
    if list(grad_out.shape) != list(ids.shape) + [grad_out.shape[-1] if grad_out.ndim else 0]:
        raise ValueError(f"grad_out has the wrong shape {list(grad_out.shape)}: it must be ids.shape + [d]")
    if padding_idx is not None and not (0 <= padding_idx < num_embeddings):
        raise ValueError("padding_idx must be None or a valid id")
    d = grad_out.shape[-1]
    ids_t = torch.from_numpy(ids.reshape(-1).astype(np.int64))
    g = torch.from_numpy(np.ascontiguousarray(grad_out.reshape(-1, d)))
    G = torch.zeros(num_embeddings, d, dtype=g.dtype)
    G.index_add_(0, ids_t, g)
    if padding_idx is not None:
        G[padding_idx] = 0
    return G.numpy()
'''),
]
