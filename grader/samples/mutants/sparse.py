"""Mistakes for notebook 02 (the sparse gradient), at least four per exercise."""

from __future__ import annotations

from grader.samples.mutants import Mutant, maker

_m = maker("02_sparse_gradient")


MUTANTS: list[Mutant] = [
    # ---------------------------------------------------------------- embedding_grad_onehot
    _m("grad_onehot_not_transposed", "embedding_grad_onehot", "multiplies X @ G instead of Xᵀ @ G", '''
def embedding_grad_onehot(ids, grad_out, num_embeddings):
    ids = check_ids(ids, num_embeddings).reshape(-1)
    grad_out = np.asarray(grad_out)
    X = (ids[:, None] == np.arange(num_embeddings)).astype(grad_out.dtype)
    return X @ grad_out.reshape(-1, grad_out.shape[-1])
''', ("embedding_grad_onehot_visible", "embedding_grad_onehot_hidden")),
    _m("grad_onehot_float64", "embedding_grad_onehot", "builds a float64 one-hot, so float32 gradients come out float64",
       '''
def embedding_grad_onehot(ids, grad_out, num_embeddings):
    ids = check_ids(ids, num_embeddings).reshape(-1)
    grad_out = np.asarray(grad_out)
    X = (ids[:, None] == np.arange(num_embeddings)).astype(np.float64)
    return X.T @ grad_out.reshape(-1, grad_out.shape[-1])
''', ("embedding_grad_onehot_visible", "embedding_grad_onehot_hidden")),
    _m("grad_onehot_no_flatten", "embedding_grad_onehot", "never flattens the batch: .T on a 3-D one-hot reverses every axis",
       '''
def embedding_grad_onehot(ids, grad_out, num_embeddings):
    ids = check_ids(ids, num_embeddings)
    grad_out = np.asarray(grad_out)
    X = (ids[..., None] == np.arange(num_embeddings)).astype(grad_out.dtype)
    return X.T @ grad_out
''', ("embedding_grad_onehot_visible", "embedding_grad_onehot_hidden")),
    _m("grad_onehot_no_validation", "embedding_grad_onehot", "indexes np.eye without check_ids: id -1 lands in row V-1", '''
def embedding_grad_onehot(ids, grad_out, num_embeddings):
    ids = np.asarray(ids).reshape(-1)
    grad_out = np.asarray(grad_out)
    X = np.eye(num_embeddings, dtype=grad_out.dtype)[ids]
    return X.T @ grad_out.reshape(-1, grad_out.shape[-1])
'''),
    _m("grad_onehot_mean", "embedding_grad_onehot", "averages the upstream rows of a repeated id instead of summing", '''
def embedding_grad_onehot(ids, grad_out, num_embeddings):
    ids = check_ids(ids, num_embeddings).reshape(-1)
    grad_out = np.asarray(grad_out)
    X = (ids[:, None] == np.arange(num_embeddings)).astype(grad_out.dtype)
    counts = np.maximum(X.sum(0), 1)[:, None]
    return (X.T @ grad_out.reshape(-1, grad_out.shape[-1])) / counts
''', ("embedding_grad_onehot_visible", "embedding_grad_onehot_hidden")),
    # ---------------------------------------------------------------- embedding_grad
    _m("grad_buffered_add", "embedding_grad", "G[ids] += g: numpy buffers the update and drops repeated ids", '''
def embedding_grad(ids, grad_out, num_embeddings, padding_idx=None):
    ids = check_ids(ids, num_embeddings)
    grad_out = np.asarray(grad_out)
    if grad_out.shape[:-1] != ids.shape:
        raise ValueError(f"grad_out has shape {grad_out.shape}; expected {ids.shape} + (d,)")
    if padding_idx is not None and not 0 <= padding_idx < num_embeddings:
        raise ValueError(f"padding_idx {padding_idx} is not an id")
    G = np.zeros((num_embeddings, grad_out.shape[-1]), dtype=grad_out.dtype)
    G[ids] += grad_out
    if padding_idx is not None:
        G[padding_idx] = 0
    return G
''', ("embedding_grad_visible", "embedding_grad_hidden")),
    _m("grad_ignores_padding", "embedding_grad", "accepts padding_idx but never uses it", '''
def embedding_grad(ids, grad_out, num_embeddings, padding_idx=None):
    ids = check_ids(ids, num_embeddings)
    grad_out = np.asarray(grad_out)
    if grad_out.shape[:-1] != ids.shape or grad_out.ndim != ids.ndim + 1:
        raise ValueError(f"grad_out has shape {grad_out.shape}; expected {ids.shape} + (d,)")
    if padding_idx is not None and not 0 <= padding_idx < num_embeddings:
        raise ValueError(f"padding_idx {padding_idx} is not an id")
    G = np.zeros((num_embeddings, grad_out.shape[-1]), dtype=grad_out.dtype)
    np.add.at(G, ids, grad_out)
    return G
''', ("embedding_grad_visible", "embedding_grad_hidden")),
    _m("grad_float64_zeros", "embedding_grad", "np.zeros((V, d)) defaults to float64, whatever grad_out's dtype", '''
def embedding_grad(ids, grad_out, num_embeddings, padding_idx=None):
    ids = check_ids(ids, num_embeddings)
    grad_out = np.asarray(grad_out)
    if grad_out.shape[:-1] != ids.shape or grad_out.ndim != ids.ndim + 1:
        raise ValueError(f"grad_out has shape {grad_out.shape}; expected {ids.shape} + (d,)")
    if padding_idx is not None and not 0 <= padding_idx < num_embeddings:
        raise ValueError(f"padding_idx {padding_idx} is not an id")
    G = np.zeros((num_embeddings, grad_out.shape[-1]))
    np.add.at(G, ids, grad_out)
    if padding_idx is not None:
        G[padding_idx] = 0
    return G
''', ("embedding_grad_visible", "embedding_grad_hidden")),
    _m("grad_loop_1d", "embedding_grad", "loops over a 1-D batch: a 2-D batch adds whole rows of ids at once", '''
def embedding_grad(ids, grad_out, num_embeddings, padding_idx=None):
    ids = check_ids(ids, num_embeddings)
    grad_out = np.asarray(grad_out)
    if grad_out.shape[:-1] != ids.shape or grad_out.ndim != ids.ndim + 1:
        raise ValueError(f"grad_out has shape {grad_out.shape}; expected {ids.shape} + (d,)")
    if padding_idx is not None and not 0 <= padding_idx < num_embeddings:
        raise ValueError(f"padding_idx {padding_idx} is not an id")
    G = np.zeros((num_embeddings, grad_out.shape[-1]), dtype=grad_out.dtype)
    for i, t in enumerate(ids):
        if np.all(t != padding_idx):
            G[t] += grad_out[i]
    return G
'''),
    _m("grad_no_shape_check", "embedding_grad", "lets np.add.at broadcast a grad_out of the wrong shape", '''
def embedding_grad(ids, grad_out, num_embeddings, padding_idx=None):
    ids = check_ids(ids, num_embeddings)
    grad_out = np.asarray(grad_out)
    if padding_idx is not None and not 0 <= padding_idx < num_embeddings:
        raise ValueError(f"padding_idx {padding_idx} is not an id")
    G = np.zeros((num_embeddings, grad_out.shape[-1]), dtype=grad_out.dtype)
    np.add.at(G, ids, grad_out)
    if padding_idx is not None:
        G[padding_idx] = 0
    return G
'''),
    # ---------------------------------------------------------------- sparse_embedding_grad
    _m("sparse_first_occurrence", "sparse_embedding_grad", "keeps the gradient of each id's first occurrence only", '''
def sparse_embedding_grad(ids, grad_out, padding_idx=None):
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"token ids must be integers, got dtype {ids.dtype}")
    if ids.size and ids.min() < 0:
        raise IndexError(f"token id {ids.min()} is out of range")
    grad_out = np.asarray(grad_out)
    ids, grad_out = ids.reshape(-1), grad_out.reshape(-1, grad_out.shape[-1])
    if padding_idx is not None:
        ids, grad_out = ids[ids != padding_idx], grad_out[ids != padding_idx]
    rows, first = np.unique(ids, return_index=True)
    return rows, grad_out[first]
''', ("sparse_embedding_grad_visible", "sparse_embedding_grad_hidden")),
    _m("sparse_uncoalesced", "sparse_embedding_grad", "returns one entry per position, like torch's uncoalesced COO", '''
def sparse_embedding_grad(ids, grad_out, padding_idx=None):
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"token ids must be integers, got dtype {ids.dtype}")
    if ids.size and ids.min() < 0:
        raise IndexError(f"token id {ids.min()} is out of range")
    grad_out = np.asarray(grad_out)
    ids, grad_out = ids.reshape(-1), grad_out.reshape(-1, grad_out.shape[-1])
    if padding_idx is not None:
        ids, grad_out = ids[ids != padding_idx], grad_out[ids != padding_idx]
    return ids, grad_out
''', ("sparse_embedding_grad_visible", "sparse_embedding_grad_hidden")),
    _m("sparse_keeps_padding", "sparse_embedding_grad", "forgets to drop the padding id", '''
def sparse_embedding_grad(ids, grad_out, padding_idx=None):
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"token ids must be integers, got dtype {ids.dtype}")
    if ids.size and ids.min() < 0:
        raise IndexError(f"token id {ids.min()} is out of range")
    grad_out = np.asarray(grad_out)
    rows, where = np.unique(ids.reshape(-1), return_inverse=True)
    values = np.zeros((rows.size, grad_out.shape[-1]), dtype=grad_out.dtype)
    np.add.at(values, where.reshape(-1), grad_out.reshape(-1, grad_out.shape[-1]))
    return rows, values
''', ("sparse_embedding_grad_visible", "sparse_embedding_grad_hidden")),
    _m("sparse_nonzero_rows", "sparse_embedding_grad",
       "builds the dense gradient and keeps its non-zero rows: cancelling rows vanish, empty batches crash", '''
def sparse_embedding_grad(ids, grad_out, padding_idx=None):
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"token ids must be integers, got dtype {ids.dtype}")
    if ids.size and ids.min() < 0:
        raise IndexError(f"token id {ids.min()} is out of range")
    grad_out = np.asarray(grad_out)
    d = grad_out.shape[-1]
    G = np.zeros((ids.max() + 1, d), dtype=grad_out.dtype)
    np.add.at(G, ids.reshape(-1), grad_out.reshape(-1, d))
    if padding_idx is not None and padding_idx < len(G):
        G[padding_idx] = 0
    rows = np.flatnonzero(G.any(axis=1))
    return rows, G[rows]
'''),
    _m("sparse_buffered_values", "sparse_embedding_grad", "values[where] += g: the buffered update drops repeated ids", '''
def sparse_embedding_grad(ids, grad_out, padding_idx=None):
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"token ids must be integers, got dtype {ids.dtype}")
    if ids.size and ids.min() < 0:
        raise IndexError(f"token id {ids.min()} is out of range")
    grad_out = np.asarray(grad_out)
    ids, grad_out = ids.reshape(-1), grad_out.reshape(-1, grad_out.shape[-1])
    if padding_idx is not None:
        ids, grad_out = ids[ids != padding_idx], grad_out[ids != padding_idx]
    rows, where = np.unique(ids, return_inverse=True)
    values = np.zeros((rows.size, grad_out.shape[-1]), dtype=grad_out.dtype)
    values[where.reshape(-1)] += grad_out
    return rows, values
''', ("sparse_embedding_grad_visible", "sparse_embedding_grad_hidden")),
    # ---------------------------------------------------------------- sparse_sgd_step
    _m("sgd_buffered_update", "sparse_sgd_step", "E[ids] -= lr * g: repeated ids move their row only once", '''
def sparse_sgd_step(E, ids, grad_out, lr, padding_idx=None):
    ids = check_ids(ids, E.shape[0])
    grad_out = np.asarray(grad_out)
    keep = ids != padding_idx if padding_idx is not None else np.ones(ids.shape, bool)
    E[ids[keep]] -= lr * grad_out[keep]
    return np.unique(ids[keep])
''', ("sparse_sgd_step_visible", "sparse_sgd_step_hidden")),
    _m("sgd_not_in_place", "sparse_sgd_step", "E = E - lr * G builds a new array; the caller's table never changes", '''
def sparse_sgd_step(E, ids, grad_out, lr, padding_idx=None):
    ids = check_ids(ids, E.shape[0])
    rows, values = sparse_embedding_grad(ids, grad_out, padding_idx)
    E = E.copy()
    E[rows] = E[rows] - lr * values
    return rows
''', ("sparse_sgd_step_visible", "sparse_sgd_step_hidden")),
    _m("sgd_updates_padding", "sparse_sgd_step", "passes no padding_idx on, so the padding row moves too", '''
def sparse_sgd_step(E, ids, grad_out, lr, padding_idx=None):
    ids = check_ids(ids, E.shape[0])
    rows, values = sparse_embedding_grad(ids, grad_out)
    E[rows] -= lr * values.astype(E.dtype)
    return rows
'''),
    _m("sgd_returns_ids", "sparse_sgd_step", "returns the raw ids (unsorted, repeated) instead of the updated rows", '''
def sparse_sgd_step(E, ids, grad_out, lr, padding_idx=None):
    ids = check_ids(ids, E.shape[0])
    rows, values = sparse_embedding_grad(ids, grad_out, padding_idx)
    E[rows] -= lr * values.astype(E.dtype)
    return ids.reshape(-1)
''', ("sparse_sgd_step_visible", "sparse_sgd_step_hidden")),
    _m("sgd_gradient_ascent", "sparse_sgd_step", "adds the gradient instead of subtracting it", '''
def sparse_sgd_step(E, ids, grad_out, lr, padding_idx=None):
    ids = check_ids(ids, E.shape[0])
    rows, values = sparse_embedding_grad(ids, grad_out, padding_idx)
    E[rows] += lr * values.astype(E.dtype)
    return rows
''', ("sparse_sgd_step_visible", "sparse_sgd_step_hidden")),
    _m("sgd_validates_late", "sparse_sgd_step", "updates E first (abs() of the ids) and validates after: a rejected batch has already changed E", '''
def sparse_sgd_step(E, ids, grad_out, lr, padding_idx=None):
    rows, values = sparse_embedding_grad(np.abs(np.asarray(ids)), grad_out, padding_idx)
    E[rows] -= lr * values.astype(E.dtype)
    check_ids(ids, E.shape[0])
    return rows
'''),
    # ---------------------------------------------------------------- EmbeddingFunction
    _m("function_buffered_backward", "embedding_function", "backward does grad_weight[ids] += grad_out: duplicates lost",
       '''
class EmbeddingFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ids, weight, padding_idx=None):
        if ids.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"token ids must be an integer tensor, got dtype {ids.dtype}")
        check_ids(ids, weight.shape[0])
        ctx.save_for_backward(ids)
        ctx.num_embeddings, ctx.padding_idx = weight.shape[0], padding_idx
        return weight[ids]

    @staticmethod
    def backward(ctx, grad_out):
        (ids,) = ctx.saved_tensors
        grad_weight = torch.zeros(ctx.num_embeddings, grad_out.shape[-1], dtype=grad_out.dtype)
        grad_weight[ids] += grad_out
        if ctx.padding_idx is not None:
            grad_weight[ctx.padding_idx] = 0
        return None, grad_weight, None
''', ("embedding_function_visible", "embedding_function_hidden")),
    _m("function_ignores_padding", "embedding_function", "backward never looks at padding_idx", '''
class EmbeddingFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ids, weight, padding_idx=None):
        if ids.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"token ids must be an integer tensor, got dtype {ids.dtype}")
        check_ids(ids, weight.shape[0])
        ctx.save_for_backward(ids)
        ctx.num_embeddings = weight.shape[0]
        return weight[ids]

    @staticmethod
    def backward(ctx, grad_out):
        (ids,) = ctx.saved_tensors
        d = grad_out.shape[-1]
        grad_weight = torch.zeros(ctx.num_embeddings, d, dtype=grad_out.dtype)
        grad_weight.index_add_(0, ids.reshape(-1).long(), grad_out.reshape(-1, d))
        return None, grad_weight, None
''', ("embedding_function_visible", "embedding_function_hidden")),
    _m("function_zeroes_padding_output", "embedding_function",
       "zeroes the padding row's output in forward (F.embedding only blocks its gradient)", '''
class EmbeddingFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ids, weight, padding_idx=None):
        if ids.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"token ids must be an integer tensor, got dtype {ids.dtype}")
        check_ids(ids, weight.shape[0])
        ctx.save_for_backward(ids)
        ctx.num_embeddings, ctx.padding_idx = weight.shape[0], padding_idx
        out = weight[ids]
        if padding_idx is not None:
            out[ids == padding_idx] = 0
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (ids,) = ctx.saved_tensors
        d = grad_out.shape[-1]
        ids, grad_out = ids.reshape(-1), grad_out.reshape(-1, d)
        if ctx.padding_idx is not None:
            keep = ids != ctx.padding_idx
            ids, grad_out = ids[keep], grad_out[keep]
        grad_weight = torch.zeros(ctx.num_embeddings, d, dtype=grad_out.dtype)
        grad_weight.index_add_(0, ids.long(), grad_out)
        return None, grad_weight, None
'''),
    _m("function_one_gradient", "embedding_function", "backward returns only the weight's gradient, not one per input", '''
class EmbeddingFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ids, weight, padding_idx=None):
        if ids.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"token ids must be an integer tensor, got dtype {ids.dtype}")
        check_ids(ids, weight.shape[0])
        ctx.save_for_backward(ids)
        ctx.num_embeddings, ctx.padding_idx = weight.shape[0], padding_idx
        return weight[ids]

    @staticmethod
    def backward(ctx, grad_out):
        (ids,) = ctx.saved_tensors
        d = grad_out.shape[-1]
        ids, grad_out = ids.reshape(-1), grad_out.reshape(-1, d)
        if ctx.padding_idx is not None:
            keep = ids != ctx.padding_idx
            ids, grad_out = ids[keep], grad_out[keep]
        grad_weight = torch.zeros(ctx.num_embeddings, d, dtype=grad_out.dtype)
        grad_weight.index_add_(0, ids.long(), grad_out)
        return grad_weight
''', ("embedding_function_visible", "embedding_function_hidden")),
    _m("function_1d_only", "embedding_function", "backward assumes 1-D ids and never flattens the batch", '''
class EmbeddingFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ids, weight, padding_idx=None):
        if ids.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"token ids must be an integer tensor, got dtype {ids.dtype}")
        check_ids(ids, weight.shape[0])
        ctx.save_for_backward(ids)
        ctx.num_embeddings, ctx.padding_idx = weight.shape[0], padding_idx
        return weight[ids]

    @staticmethod
    def backward(ctx, grad_out):
        (ids,) = ctx.saved_tensors
        grad_weight = torch.zeros(ctx.num_embeddings, grad_out.shape[-1], dtype=grad_out.dtype)
        grad_weight.index_add_(0, ids.long(), grad_out)
        if ctx.padding_idx is not None:
            grad_weight[ctx.padding_idx] = 0
        return None, grad_weight, None
''', ("embedding_function_visible", "embedding_function_hidden")),
    _m("function_no_validation", "embedding_function", "forward indexes without validation: id -1 wraps around", '''
class EmbeddingFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, ids, weight, padding_idx=None):
        ctx.save_for_backward(ids)
        ctx.num_embeddings, ctx.padding_idx = weight.shape[0], padding_idx
        return weight[ids]

    @staticmethod
    def backward(ctx, grad_out):
        (ids,) = ctx.saved_tensors
        d = grad_out.shape[-1]
        ids, grad_out = ids.reshape(-1), grad_out.reshape(-1, d)
        if ctx.padding_idx is not None:
            keep = ids != ctx.padding_idx
            ids, grad_out = ids[keep], grad_out[keep]
        grad_weight = torch.zeros(ctx.num_embeddings, d, dtype=grad_out.dtype)
        grad_weight.index_add_(0, ids.long(), grad_out)
        return None, grad_weight, None
'''),
]
