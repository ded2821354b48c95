"""Correct variants for notebook 06 (factorised tables, SVD, 8-bit quantisation), at least two per exercise."""

from __future__ import annotations

from grader.samples.variants import Variant, maker

_v = maker("06_factorized_embeddings")

VARIANTS: list[Variant] = [
    # ---------------------------------------------------------------- embedding_parameters
    _v("params_operator_index", "embedding_parameters",
       "isinstance checks that also refuse bool, and the count factored as r · (V + H)", """
def embedding_parameters(vocab_size, hidden_size, rank=None):
    sizes = [vocab_size, hidden_size] + ([] if rank is None else [rank])
    if any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(f"sizes must be positive integers: {sizes}")
    if rank is None:
        return vocab_size * hidden_size
    if rank > min(vocab_size, hidden_size):
        raise ValueError(f"rank {rank} exceeds min(V, H) = {min(vocab_size, hidden_size)}")
    return rank * (vocab_size + hidden_size)
"""),
    _v("params_numpy_int", "embedding_parameters", "checks with numbers.Integral and counts with numpy int64 products",
       """
import numbers


def embedding_parameters(vocab_size, hidden_size, rank=None):
    for value in (vocab_size, hidden_size):
        if not isinstance(value, numbers.Integral) or value <= 0:
            raise ValueError(f"bad size {value}")
    if rank is None:
        return int(np.int64(vocab_size) * hidden_size)
    if not isinstance(rank, numbers.Integral) or not 0 < rank <= min(vocab_size, hidden_size):
        raise ValueError(f"bad rank {rank}")
    return int(np.int64(vocab_size) * rank + np.int64(rank) * hidden_size)
"""),
    # ---------------------------------------------------------------- rank_for_budget
    _v("rank_loop_up", "rank_for_budget", "counts up while the next rank still fits; the message quotes the budget",
       """
def rank_for_budget(vocab_size, hidden_size, max_params):
    if max_params < vocab_size + hidden_size:
        raise ValueError(f"max_params = {max_params} is below V + H = {vocab_size + hidden_size}: not even rank 1 fits")
    r = 1
    while r < min(vocab_size, hidden_size) and (r + 1) * (vocab_size + hidden_size) <= max_params:
        r += 1
    return r
"""),
    _v("rank_floor_division_commas", "rank_for_budget", "math.floor of a true division, the budget with commas", """
import math


def rank_for_budget(vocab_size, hidden_size, max_params):
    r = min(math.floor(max_params / (vocab_size + hidden_size)), vocab_size, hidden_size)
    if r == 0:
        raise ValueError(f"a budget of {max_params:,} cannot hold rank 1 ({vocab_size + hidden_size:,} parameters)")
    return int(r)
"""),
    # ---------------------------------------------------------------- FactorizedEmbedding
    _v("factorized_sequential_forward", "factorized_embedding",
       "checks the rank with two comparisons before building the layers; forward via functional.linear on E1's output", """
class FactorizedEmbedding(nn.Module):
    def __init__(self, num_embeddings, embedding_dim, rank):
        super().__init__()
        if rank < 1 or rank > min(num_embeddings, embedding_dim):
            raise ValueError(f"invalid rank {rank}")
        self.E1 = nn.Embedding(num_embeddings, rank)
        self.E2 = nn.Linear(rank, embedding_dim, bias=False)

    def forward(self, ids):
        return torch.nn.functional.linear(self.E1(ids), self.E2.weight)
"""),
    _v("factorized_matmul_table", "factorized_embedding",
       "looks the ids up in E1, then multiplies by E2.weight transposed by hand", """
class FactorizedEmbedding(nn.Module):
    def __init__(self, num_embeddings, embedding_dim, rank):
        super().__init__()
        limit = min(num_embeddings, embedding_dim)
        if not (1 <= rank <= limit):
            raise ValueError(f"rank must be in 1..{limit}, got rank={rank}")
        self.E1 = nn.Embedding(num_embeddings, rank)
        self.E2 = nn.Linear(rank, embedding_dim, bias=False)

    def forward(self, ids):
        return self.E1(ids) @ self.E2.weight.T
"""),
    # ---------------------------------------------------------------- factorize
    _v("factorize_sqrt_split", "factorize",
       "splits the singular values evenly, E1 = U √S and E2 = √S Wᵀ: a different factor pair, the same product",
       """
def factorize(E, rank):
    E = np.asarray(E)
    if rank < 1 or rank > min(E.shape):
        raise ValueError(f"rank {rank} not in 1..{min(E.shape)}")
    U, S, Wt = np.linalg.svd(E.astype(np.float64), full_matrices=False)
    root = np.sqrt(S[:rank])
    return (U[:, :rank] * root).astype(E.dtype), (root[:, None] * Wt[:rank]).astype(E.dtype)
"""),
    _v("factorize_torch_svd", "factorize", "torch.linalg.svd in float64, U S and Vh, back to numpy in E's dtype", """
def factorize(E, rank):
    if not 1 <= rank <= min(E.shape):
        raise ValueError(f"rank={rank} is outside [1, {min(E.shape)}]")
    U, S, Vh = torch.linalg.svd(torch.from_numpy(np.asarray(E, dtype=np.float64)), full_matrices=False)
    E1 = (U[:, :rank] @ torch.diag(S[:rank])).numpy()
    return E1.astype(E.dtype), Vh[:rank].numpy().astype(E.dtype)
"""),
    # ---------------------------------------------------------------- quantize_rows
    _v("quantize_float32_round", "quantize_rows",
       "the formula as printed, q = round((E − offset) / scale), with the float32 scale and offset it returns "
       "(no float64 is asked for)", '''
def quantize_rows(E):
    E = np.asarray(E)
    if E.ndim != 2 or E.dtype.kind != "f":
        raise ValueError(f"E must be a 2-D float array, got {E.dtype} {E.shape}")
    offset = E.min(axis=1).astype(np.float32)
    scale = ((E.max(axis=1) - E.min(axis=1)) / 255).astype(np.float32)
    q = np.zeros(E.shape, dtype=np.uint8)
    nonconstant = scale > 0
    q[nonconstant] = np.round((E[nonconstant] - offset[nonconstant, None]) / scale[nonconstant, None]).astype(np.uint8)
    return q, scale, offset
'''),
    _v("quantize_torch_float64", "quantize_rows",
       "torch: aminmax per row, torch.where for the constant rows, round().to(uint8), numpy out", """
def quantize_rows(E):
    E = np.asarray(E)
    if E.ndim != 2 or not np.issubdtype(E.dtype, np.floating):
        raise ValueError("E must be a 2-D float array")
    x = torch.from_numpy(E).double()
    lo, hi = torch.aminmax(x, dim=1)
    scale = (hi - lo) / 255
    step = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = ((x - lo[:, None]) / step[:, None]).round().clamp(0, 255).to(torch.uint8)
    return q.numpy(), scale.float().numpy(), lo.float().numpy()
"""),
    _v("quantize_floor_half", "quantize_rows",
       "rounds by floor(x + 0.5) in float32 and divides by a scale of 1 where the row is constant", """
def quantize_rows(E):
    E = np.asarray(E)
    if E.ndim != 2 or E.dtype.kind != "f":
        raise ValueError(f"need a 2-D float matrix, got {E.dtype} with shape {E.shape}")
    offset = E.min(axis=1, keepdims=True).astype(np.float32)
    scale = ((E.max(axis=1, keepdims=True) - E.min(axis=1, keepdims=True)) / 255).astype(np.float32)
    divisor = np.where(scale == 0, np.float32(1), scale)
    q = np.floor((E - offset) / divisor + 0.5)
    return np.clip(q, 0, 255).astype(np.uint8), scale[:, 0], offset[:, 0]
"""),
    # ---------------------------------------------------------------- dequantize_rows
    _v("dequantize_float64_then_cast", "dequantize_rows", "computes in float64, casts the result to float32", """
def dequantize_rows(q, scale, offset):
    x = q.astype(np.float64) * np.asarray(scale, np.float64).reshape(-1, 1) + np.asarray(offset, np.float64).reshape(-1, 1)
    return x.astype(np.float32)
"""),
    _v("dequantize_torch", "dequantize_rows", "torch: q.float() * scale.unsqueeze(1) + offset.unsqueeze(1)", """
def dequantize_rows(q, scale, offset):
    q_t = torch.from_numpy(np.asarray(q)).float()
    s = torch.as_tensor(np.asarray(scale), dtype=torch.float32).unsqueeze(1)
    o = torch.as_tensor(np.asarray(offset), dtype=torch.float32).unsqueeze(1)
    return (q_t * s + o).numpy()
"""),
]
