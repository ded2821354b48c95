"""Mistakes for notebook 06 (factorised embeddings and row-wise quantisation), at least four per exercise."""

from __future__ import annotations

from grader.samples.mutants import Mutant, maker

_m = maker("06_factorized_embeddings")


_CHECK_SIZES = '''    for name, value in (("vocab_size", vocab_size), ("hidden_size", hidden_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
'''


def _quantize(body: str) -> str:
    return '''
def quantize_rows(E):
    E = np.asarray(E)
    if E.ndim != 2 or not np.issubdtype(E.dtype, np.floating):
        raise ValueError(f"E must be a 2-D float array, got {E.dtype} of shape {E.shape}")
''' + body


MUTANTS: list[Mutant] = [
    # ---------------------------------------------------------------- embedding_parameters
    _m("params_forgets_projection", "embedding_parameters", "counts only E1 (V·r) and forgets the r×H projection", '''
def embedding_parameters(vocab_size, hidden_size, rank=None):
''' + _CHECK_SIZES + '''    if rank is None:
        return vocab_size * hidden_size
    if not isinstance(rank, int) or not 1 <= rank <= min(vocab_size, hidden_size):
        raise ValueError(f"bad rank {rank!r}")
    return vocab_size * rank
''', ("embedding_parameters_visible", "embedding_parameters_hidden")),
    _m("params_multiplies", "embedding_parameters", "multiplies V·r·H instead of adding V·r + r·H", '''
def embedding_parameters(vocab_size, hidden_size, rank=None):
''' + _CHECK_SIZES + '''    if rank is None:
        return vocab_size * hidden_size
    if not isinstance(rank, int) or not 1 <= rank <= min(vocab_size, hidden_size):
        raise ValueError(f"bad rank {rank!r}")
    return vocab_size * rank * hidden_size
''', ("embedding_parameters_visible", "embedding_parameters_hidden")),
    _m("params_projection_bias", "embedding_parameters", "adds HF's projection bias (+H), which is not part of the factorised table", '''
def embedding_parameters(vocab_size, hidden_size, rank=None):
''' + _CHECK_SIZES + '''    if rank is None:
        return vocab_size * hidden_size
    if not isinstance(rank, int) or not 1 <= rank <= min(vocab_size, hidden_size):
        raise ValueError(f"bad rank {rank!r}")
    return vocab_size * rank + rank * hidden_size + hidden_size
''', ("embedding_parameters_visible", "embedding_parameters_hidden")),
    _m("params_no_rank_check", "embedding_parameters", "accepts any rank, 0 and ranks above min(V, H) included", '''
def embedding_parameters(vocab_size, hidden_size, rank=None):
''' + _CHECK_SIZES + '''    if rank is None:
        return vocab_size * hidden_size
    return int(vocab_size * rank + rank * hidden_size)
''', ("embedding_parameters_visible", "embedding_parameters_hidden")),
    _m("params_float", "embedding_parameters", "returns a float (true division somewhere) instead of an int", '''
def embedding_parameters(vocab_size, hidden_size, rank=None):
''' + _CHECK_SIZES + '''    if rank is None:
        return vocab_size * hidden_size / 1
    if not isinstance(rank, int) or not 1 <= rank <= min(vocab_size, hidden_size):
        raise ValueError(f"bad rank {rank!r}")
    return (vocab_size + hidden_size) * rank / 1
''', ("embedding_parameters_visible", "embedding_parameters_hidden")),
    # ---------------------------------------------------------------- rank_for_budget
    _m("budget_off_by_one", "rank_for_budget", "rounds up: ceil(P / (V + H)) can exceed the budget", '''
def rank_for_budget(vocab_size, hidden_size, max_params):
    rank = min(-(-max_params // (vocab_size + hidden_size)), vocab_size, hidden_size)
    if rank < 1:
        raise ValueError(f"no factorised table fits {max_params:,} parameters")
    return int(rank)
''', ("rank_for_budget_visible", "rank_for_budget_hidden")),
    _m("budget_no_cap", "rank_for_budget", "never caps the rank at min(V, H)", '''
def rank_for_budget(vocab_size, hidden_size, max_params):
    rank = max_params // (vocab_size + hidden_size)
    if rank < 1:
        raise ValueError(f"no factorised table fits {max_params:,} parameters")
    return int(rank)
''', ("rank_for_budget_visible", "rank_for_budget_hidden")),
    _m("budget_returns_zero", "rank_for_budget", "returns 0 when nothing fits instead of raising", '''
def rank_for_budget(vocab_size, hidden_size, max_params):
    return int(min(max_params // (vocab_size + hidden_size), vocab_size, hidden_size))
''', ("rank_for_budget_visible", "rank_for_budget_hidden")),
    _m("budget_only_vocab", "rank_for_budget", "divides by V only, forgetting the r·H of the projection", '''
def rank_for_budget(vocab_size, hidden_size, max_params):
    rank = min(max_params // vocab_size, vocab_size, hidden_size)
    if rank < 1:
        raise ValueError(f"no factorised table fits {max_params:,} parameters")
    return int(rank)
''', ("rank_for_budget_visible", "rank_for_budget_hidden")),
    _m("budget_vague_error", "rank_for_budget", "raises ValueError('too small') without the budget", '''
def rank_for_budget(vocab_size, hidden_size, max_params):
    rank = min(max_params // (vocab_size + hidden_size), vocab_size, hidden_size)
    if rank < 1:
        raise ValueError("too small")
    return int(rank)
'''),
    # ---------------------------------------------------------------- FactorizedEmbedding
    _m("factorized_projection_bias", "factorized_embedding", "keeps nn.Linear's default bias on E2", '''
class FactorizedEmbedding(nn.Module):
    def __init__(self, num_embeddings, embedding_dim, rank):
        super().__init__()
        if not 1 <= rank <= min(num_embeddings, embedding_dim):
            raise ValueError(f"rank {rank} must lie between 1 and {min(num_embeddings, embedding_dim)}")
        self.E1 = nn.Embedding(num_embeddings, rank)
        self.E2 = nn.Linear(rank, embedding_dim)

    def forward(self, ids):
        return self.E2(self.E1(ids))
''', ("factorized_embedding_visible", "factorized_embedding_hidden")),
    _m("factorized_swapped_sizes", "factorized_embedding", "builds nn.Embedding(V, d) and nn.Linear(d, r): the projection goes the wrong way", '''
class FactorizedEmbedding(nn.Module):
    def __init__(self, num_embeddings, embedding_dim, rank):
        super().__init__()
        if not 1 <= rank <= min(num_embeddings, embedding_dim):
            raise ValueError(f"rank {rank} must lie between 1 and {min(num_embeddings, embedding_dim)}")
        self.E1 = nn.Embedding(num_embeddings, embedding_dim)
        self.E2 = nn.Linear(embedding_dim, rank, bias=False)

    def forward(self, ids):
        return self.E2(self.E1(ids))
''', ("factorized_embedding_visible", "factorized_embedding_hidden")),
    _m("factorized_no_rank_check", "factorized_embedding", "accepts any rank", '''
class FactorizedEmbedding(nn.Module):
    def __init__(self, num_embeddings, embedding_dim, rank):
        super().__init__()
        self.E1 = nn.Embedding(num_embeddings, max(rank, 1))
        self.E2 = nn.Linear(max(rank, 1), embedding_dim, bias=False)

    def forward(self, ids):
        return self.E2(self.E1(ids))
'''),
    _m("factorized_raw_matrix", "factorized_embedding", "stores E2 as a raw (r, d) Parameter and multiplies, instead of nn.Linear(r, d)", '''
class FactorizedEmbedding(nn.Module):
    def __init__(self, num_embeddings, embedding_dim, rank):
        super().__init__()
        if not 1 <= rank <= min(num_embeddings, embedding_dim):
            raise ValueError(f"rank {rank} must lie between 1 and {min(num_embeddings, embedding_dim)}")
        self.E1 = nn.Embedding(num_embeddings, rank)
        self.E2 = nn.Parameter(torch.randn(rank, embedding_dim) / rank ** 0.5)

    def forward(self, ids):
        return self.E1(ids) @ self.E2
''', ("factorized_embedding_visible", "factorized_embedding_hidden")),
    _m("factorized_transposed_weight", "factorized_embedding", "multiplies by E2.weight directly instead of calling E2 (needs a transpose)", '''
class FactorizedEmbedding(nn.Module):
    def __init__(self, num_embeddings, embedding_dim, rank):
        super().__init__()
        if not 1 <= rank <= min(num_embeddings, embedding_dim):
            raise ValueError(f"rank {rank} must lie between 1 and {min(num_embeddings, embedding_dim)}")
        self.E1 = nn.Embedding(num_embeddings, rank)
        self.E2 = nn.Linear(rank, embedding_dim, bias=False)

    def forward(self, ids):
        return self.E1(ids) @ self.E2.weight[:, : self.E1.weight.shape[1]].reshape(-1, self.E2.weight.shape[0])
''', ("factorized_embedding_visible", "factorized_embedding_hidden")),
    # ---------------------------------------------------------------- factorize
    _m("factorize_smallest", "factorize", "keeps the last r singular values (the smallest) instead of the first", '''
def factorize(E, rank):
    E = np.asarray(E)
    if not 1 <= rank <= min(E.shape):
        raise ValueError(f"rank {rank} must lie between 1 and {min(E.shape)}")
    U, S, Wt = np.linalg.svd(E.astype(np.float64), full_matrices=False)
    return (U[:, -rank:] * S[-rank:]).astype(E.dtype), Wt[-rank:].astype(E.dtype)
''', ("factorize_visible", "factorize_hidden")),
    _m("factorize_forgets_sigma", "factorize", "returns U_r and W_rᵀ without the singular values", '''
def factorize(E, rank):
    E = np.asarray(E)
    if not 1 <= rank <= min(E.shape):
        raise ValueError(f"rank {rank} must lie between 1 and {min(E.shape)}")
    U, S, Wt = np.linalg.svd(E.astype(np.float64), full_matrices=False)
    return U[:, :rank].astype(E.dtype), Wt[:rank].astype(E.dtype)
''', ("factorize_visible", "factorize_hidden")),
    _m("factorize_wrong_axis", "factorize", "uses columns of Wt instead of rows (Wt[:, :r].T)", '''
def factorize(E, rank):
    E = np.asarray(E)
    if not 1 <= rank <= min(E.shape):
        raise ValueError(f"rank {rank} must lie between 1 and {min(E.shape)}")
    U, S, Wt = np.linalg.svd(E.astype(np.float64), full_matrices=False)
    return (U[:, :rank] * S[:rank]).astype(E.dtype), Wt[:, :rank].T.astype(E.dtype)
''', ("factorize_visible", "factorize_hidden")),
    _m("factorize_float64", "factorize", "returns float64 factors for a float32 table", '''
def factorize(E, rank):
    E = np.asarray(E)
    if not 1 <= rank <= min(E.shape):
        raise ValueError(f"rank {rank} must lie between 1 and {min(E.shape)}")
    U, S, Wt = np.linalg.svd(E.astype(np.float64), full_matrices=False)
    return U[:, :rank] * S[:rank], Wt[:rank]
'''),
    _m("factorize_sqrt_split_sigma_twice", "factorize", "puts Σ in both factors (U Σ and Σ Wᵀ)", '''
def factorize(E, rank):
    E = np.asarray(E)
    if not 1 <= rank <= min(E.shape):
        raise ValueError(f"rank {rank} must lie between 1 and {min(E.shape)}")
    U, S, Wt = np.linalg.svd(E.astype(np.float64), full_matrices=False)
    return (U[:, :rank] * S[:rank]).astype(E.dtype), (S[:rank, None] * Wt[:rank]).astype(E.dtype)
''', ("factorize_visible", "factorize_hidden")),
    # ---------------------------------------------------------------- quantize_rows
    _m("quantize_truncates", "quantize_rows", "truncates with astype(uint8) instead of rounding: errors up to a whole step", _quantize('''
    x = E.astype(np.float64)
    offset = x.min(axis=1)
    scale = (x.max(axis=1) - offset) / 255
    safe = np.where(scale > 0, scale, 1.0)
    q = np.clip((x - offset[:, None]) / safe[:, None], 0, 255).astype(np.uint8)
    return q, scale.astype(np.float32), offset.astype(np.float32)
'''), ("quantize_rows_visible", "quantize_rows_hidden")),
    _m("quantize_divides_by_zero", "quantize_rows", "divides by the scale of constant rows (0/0): NaN cast to uint8", _quantize('''
    x = E.astype(np.float64)
    offset = x.min(axis=1)
    scale = (x.max(axis=1) - offset) / 255
    q = np.rint((x - offset[:, None]) / scale[:, None]).astype(np.uint8)
    return q, scale.astype(np.float32), offset.astype(np.float32)
''')),
    _m("quantize_global_scale", "quantize_rows", "one scale and offset for the whole table, repeated per row", _quantize('''
    x = E.astype(np.float64)
    low, high = x.min(), x.max()
    scale = (high - low) / 255 if high > low else 1.0
    q = np.rint((x - low) / scale).astype(np.uint8)
    V = E.shape[0]
    return q, np.full(V, scale if high > low else 0.0, np.float32), np.full(V, low, np.float32)
'''), ("quantize_rows_visible", "quantize_rows_hidden")),
    _m("quantize_256_levels", "quantize_rows", "divides the range by 256 instead of 255: the maximum overflows to 0", _quantize('''
    x = E.astype(np.float64)
    offset = x.min(axis=1)
    scale = (x.max(axis=1) - offset) / 256
    safe = np.where(scale > 0, scale, 1.0)
    q = np.rint((x - offset[:, None]) / safe[:, None]).astype(np.int64).astype(np.uint8)
    return q, scale.astype(np.float32), offset.astype(np.float32)
'''), ("quantize_rows_visible", "quantize_rows_hidden")),
    _m("quantize_symmetric", "quantize_rows", "uses a symmetric scale max|x|/127 around zero, with offset 0", _quantize('''
    x = E.astype(np.float64)
    scale = np.abs(x).max(axis=1) / 127
    safe = np.where(scale > 0, scale, 1.0)
    q = np.clip(np.rint(x / safe[:, None]) + 128, 0, 255).astype(np.uint8)
    return q, scale.astype(np.float32), (-128 * scale).astype(np.float32)
'''), ("quantize_rows_visible", "quantize_rows_hidden")),
    # ---------------------------------------------------------------- dequantize_rows
    _m("dequantize_forgets_offset", "dequantize_rows", "returns q · scale without adding the offset", '''
def dequantize_rows(q, scale, offset):
    return q.astype(np.float32) * np.asarray(scale, np.float32)[:, None]
''', ("dequantize_rows_visible", "dequantize_rows_hidden")),
    _m("dequantize_uint8_wraps", "dequantize_rows", "multiplies in uint8 before converting: values wrap around at 256", '''
def dequantize_rows(q, scale, offset):
    return (q * np.asarray(scale)[:, None].astype(np.uint8)).astype(np.float32) + np.asarray(offset, np.float32)[:, None]
''', ("dequantize_rows_visible", "dequantize_rows_hidden")),
    _m("dequantize_per_column", "dequantize_rows", "broadcasts scale and offset across columns (scale[None, :])", '''
def dequantize_rows(q, scale, offset):
    q = q.astype(np.float32)
    if q.shape[0] != q.shape[1]:
        return q * np.resize(np.asarray(scale, np.float32), q.shape[1])[None, :] + np.resize(np.asarray(offset, np.float32), q.shape[1])[None, :]
    return q * np.asarray(scale, np.float32)[None, :] + np.asarray(offset, np.float32)[None, :]
''', ("dequantize_rows_visible", "dequantize_rows_hidden")),
    _m("dequantize_float64", "dequantize_rows", "returns float64", '''
def dequantize_rows(q, scale, offset):
    return q.astype(np.float64) * np.asarray(scale, np.float64)[:, None] + np.asarray(offset, np.float64)[:, None]
''', ("dequantize_rows_visible", "dequantize_rows_hidden")),
]
