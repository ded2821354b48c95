"""Correct variants for notebook 02 (the sparse gradient), at least two per exercise."""

from __future__ import annotations

from grader.samples.variants import Variant, maker

_v = maker("02_sparse_gradient")

VARIANTS: list[Variant] = [
    # ---------------------------------------------------------------- embedding_grad_onehot
    _v("grad_onehot_torch_one_hot", "embedding_grad_onehot",
       "F.one_hot(...).to(dtype) and torch's matmul, numpy in and out", """
def embedding_grad_onehot(ids, grad_out, num_embeddings):
    ids = check_ids(ids, num_embeddings)
    g = torch.from_numpy(np.asarray(grad_out))
    X = F.one_hot(torch.from_numpy(ids.astype(np.int64)).reshape(-1), num_embeddings).to(g.dtype)
    return (X.T @ g.reshape(-1, g.shape[-1])).numpy()
"""),
    _v("grad_onehot_einsum", "embedding_grad_onehot", "np.eye(V, dtype=grad_out.dtype)[ids] and einsum 'nv,nd->vd'", """
def embedding_grad_onehot(ids, grad_out, num_embeddings):
    ids = check_ids(ids, num_embeddings).ravel()
    grad_out = np.asarray(grad_out)
    X = np.eye(num_embeddings, dtype=grad_out.dtype)[ids]
    return np.einsum("nv,nd->vd", X, grad_out.reshape(len(ids), grad_out.shape[-1]))
"""),
    # ---------------------------------------------------------------- embedding_grad
    _v("grad_bincount_columns", "embedding_grad",
       "np.bincount per column with weights, padding dropped with a mask; the message names both shapes", """
def embedding_grad(ids, grad_out, num_embeddings, padding_idx=None):
    ids = check_ids(ids, num_embeddings)
    grad_out = np.asarray(grad_out)
    if grad_out.shape[:-1] != ids.shape or grad_out.ndim == 0:
        raise ValueError(f"ids have shape {ids.shape} but grad_out has shape {grad_out.shape}")
    if padding_idx is not None and padding_idx not in range(num_embeddings):
        raise ValueError(f"bad padding_idx {padding_idx} for V = {num_embeddings}")
    d = grad_out.shape[-1]
    flat, g = ids.ravel(), grad_out.reshape(-1, d)
    keep = np.ones(flat.shape, dtype=bool) if padding_idx is None else flat != padding_idx
    cols = [np.bincount(flat[keep], weights=g[keep, j], minlength=num_embeddings) for j in range(d)]
    return np.stack(cols, axis=1).astype(grad_out.dtype).reshape(num_embeddings, d)
"""),
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
    _v("grad_loop_bare_numbers", "embedding_grad",
       "a plain loop over positions (no buffering); the shape message names the numbers bare ('3'), not a tuple",
       """
def embedding_grad(ids, grad_out, num_embeddings, padding_idx=None):
    ids = check_ids(ids, num_embeddings)
    grad_out = np.asarray(grad_out)
    if grad_out.shape[:-1] != ids.shape or grad_out.ndim != ids.ndim + 1:
        raise ValueError("grad_out should be ids.shape + (d,), got " + " x ".join(map(str, grad_out.shape)))
    if padding_idx is not None and (padding_idx < 0 or padding_idx >= num_embeddings):
        raise ValueError("padding_idx out of range")
    d = grad_out.shape[-1]
    G = np.zeros((num_embeddings, d), dtype=grad_out.dtype)
    for k, row in zip(ids.reshape(-1), grad_out.reshape(-1, d)):
        if k != padding_idx:
            G[k] += row
    return G
"""),
    # ---------------------------------------------------------------- sparse_embedding_grad
    _v("sparse_grad_torch_coalesce", "sparse_embedding_grad",
       "what the text points at: torch.sparse_coo_tensor(...).coalesce(), indices and values back to numpy", """
def sparse_embedding_grad(ids, grad_out, padding_idx=None):
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"ids must be integers, got {ids.dtype}")
    if (ids < 0).any():
        raise IndexError(f"negative token id {ids[ids < 0][0]}")
    grad_out = np.asarray(grad_out)
    d = grad_out.shape[-1]
    flat, g = ids.reshape(-1).astype(np.int64), grad_out.reshape(-1, d)
    if padding_idx is not None:
        flat, g = flat[flat != padding_idx], g[flat != padding_idx]
    size = (int(flat.max()) + 1 if flat.size else 0, d)
    coo = torch.sparse_coo_tensor(torch.from_numpy(flat)[None], torch.from_numpy(np.ascontiguousarray(g)), size)
    coo = coo.coalesce()
    return coo.indices()[0].numpy(), coo.values().numpy()
"""),
    _v("sparse_grad_dict_loop", "sparse_embedding_grad", "a dict of running sums, keys sorted at the end", """
def sparse_embedding_grad(ids, grad_out, padding_idx=None):
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError("ids must be integers")
    grad_out = np.asarray(grad_out)
    d = grad_out.shape[-1]
    sums = {}
    for k, row in zip(ids.reshape(-1).tolist(), grad_out.reshape(-1, d)):
        if k < 0:
            raise IndexError(f"id {k} is negative")
        if k != padding_idx:
            sums[k] = sums[k] + row if k in sums else row.copy()
    rows = np.array(sorted(sums), dtype=np.int64)
    values = np.array([sums[k] for k in rows], dtype=grad_out.dtype).reshape(len(rows), d)
    return rows, values
"""),
    # ---------------------------------------------------------------- sparse_sgd_step
    _v("sgd_step_add_at", "sparse_sgd_step", "np.add.at straight into E with −lr · grad_out, rows from np.unique", """
def sparse_sgd_step(E, ids, grad_out, lr, padding_idx=None):
    ids = check_ids(ids, E.shape[0]).reshape(-1)
    g = np.asarray(grad_out).reshape(ids.size, -1)
    if padding_idx is not None:
        ids, g = ids[ids != padding_idx], g[ids != padding_idx]
    np.add.at(E, ids, (-lr * g).astype(E.dtype))
    return np.unique(ids)
"""),
    _v("sgd_step_torch_index_add", "sparse_sgd_step",
       "torch.from_numpy(E) shares E's memory: index_add_ with alpha=-lr updates E in place", """
def sparse_sgd_step(E, ids, grad_out, lr, padding_idx=None):
    ids = check_ids(ids, E.shape[0]).reshape(-1).astype(np.int64)
    g = np.asarray(grad_out, dtype=E.dtype).reshape(ids.size, E.shape[1])
    if padding_idx is not None:
        keep = ids != padding_idx
        ids, g = ids[keep], g[keep]
    torch.from_numpy(E).index_add_(0, torch.from_numpy(ids), torch.from_numpy(np.ascontiguousarray(g)), alpha=-lr)
    return np.unique(ids)
"""),
    # ---------------------------------------------------------------- EmbeddingFunction
    _v("function_index_put_accumulate", "embedding_function",
       "F.embedding in forward, index_put_(accumulate=True) in backward, padding rows zeroed after", """
class EmbeddingFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ids, weight, padding_idx=None):
        if ids.is_floating_point():
            raise TypeError(f"float ids ({ids.dtype}) are not ids")
        check_ids(ids, weight.shape[0])
        ctx.save_for_backward(ids)
        ctx.V, ctx.padding_idx = weight.shape[0], padding_idx
        return F.embedding(ids, weight)

    @staticmethod
    def backward(ctx, grad_out):
        (ids,) = ctx.saved_tensors
        grad = grad_out.new_zeros(ctx.V, grad_out.shape[-1])
        grad.index_put_((ids.reshape(-1),), grad_out.reshape(-1, grad_out.shape[-1]), accumulate=True)
        if ctx.padding_idx is not None:
            grad[ctx.padding_idx] = 0
        return None, grad, None
"""),
    _v("function_scatter_add", "embedding_function",
       "saves the weight's shape, masks the padding positions in grad_out, scatter_add_ with an expanded index", """
class EmbeddingFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ids, weight, padding_idx=None):
        if ids.dtype not in (torch.int32, torch.int64):
            raise TypeError(f"ids must be an integer tensor, got {ids.dtype}")
        check_ids(ids, len(weight))
        ctx.save_for_backward(ids)
        ctx.shape, ctx.pad = weight.shape, padding_idx
        return weight[ids]

    @staticmethod
    def backward(ctx, grad_out):
        (ids,) = ctx.saved_tensors
        flat = ids.reshape(-1).long()
        g = grad_out.reshape(-1, ctx.shape[1])
        if ctx.pad is not None:
            g = g * (flat != ctx.pad).unsqueeze(1).to(g.dtype)
        grad = torch.zeros(ctx.shape, dtype=grad_out.dtype)
        grad.scatter_add_(0, flat.unsqueeze(1).expand_as(g), g)
        return None, grad, None
"""),
]
