"""Correct variants for notebook 05 (ALiBi), at least two per exercise."""

from __future__ import annotations

from grader.samples.variants import Variant, maker

_v = maker("05_alibi")

VARIANTS: list[Variant] = [
    # ---------------------------------------------------------------- alibi_slopes
    _v("slopes_official_recursive", "alibi_slopes",
       "the official get_slopes, recursive, start = 2^(−2^−(log2 n − 3)) and start · ratio^i", '''
def alibi_slopes(n_heads):
    if n_heads < 1:
        raise ValueError("need at least one head")

    def power_of_2(n):
        start = 2 ** (-2 ** -(math.log2(n) - 3))
        return [start * start ** i for i in range(n)]

    def get_slopes(n):
        if math.log2(n).is_integer():
            return power_of_2(n)
        closest = 2 ** math.floor(math.log2(n))
        return power_of_2(closest) + get_slopes(2 * closest)[0::2][: n - closest]

    return torch.tensor(get_slopes(n_heads), dtype=torch.float32)
'''),
    _v("slopes_torch_pow", "alibi_slopes", "torch.pow on float32 exponents, the extra heads by a second arange", '''
def alibi_slopes(n_heads):
    if n_heads <= 0:
        raise ValueError(f"n_heads = {n_heads}")
    c = 1 << (n_heads.bit_length() - 1)
    slopes = torch.pow(2.0, -8.0 * torch.arange(1, c + 1, dtype=torch.float32) / c)
    if c < n_heads:
        extra = torch.pow(2.0, -8.0 * torch.arange(1, 2 * (n_heads - c), 2, dtype=torch.float32) / (2 * c))
        slopes = torch.cat([slopes, extra])
    return slopes
'''),
    # ---------------------------------------------------------------- alibi_bias
    _v("bias_triu_fill", "alibi_bias", "distance via broadcasting, -inf with torch.triu of a full -inf matrix", '''
def alibi_bias(n_heads, seq_len):
    m = alibi_slopes(n_heads).view(-1, 1, 1)
    pos = torch.arange(seq_len, dtype=torch.float32)
    distance = pos.view(-1, 1) - pos.view(1, -1)
    mask = torch.triu(torch.full((seq_len, seq_len), float("-inf")), diagonal=1)
    return -m * distance.clamp(min=0) + mask
'''),
    _v("bias_loops", "alibi_bias", "three loops filling a tensor of -inf", '''
def alibi_bias(n_heads, seq_len):
    slopes = alibi_slopes(n_heads)
    bias = torch.full((n_heads, seq_len, seq_len), float("-inf"))
    for h in range(n_heads):
        for i in range(seq_len):
            for j in range(i + 1):
                bias[h, i, j] = -slopes[h] * (i - j)
    return bias
'''),
    # ---------------------------------------------------------------- causal_attention
    _v("attention_where_mask", "causal_attention",
       "torch.where for the mask, scale multiplied by d_k ** -0.5, F.softmax; its own shape message", '''
def causal_attention(q, k, v, bias=None):
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q has d_k = {q.shape[-1]} but k has {k.shape[-1]}: shapes {list(q.shape)}, {list(k.shape)}")
    if not (q.shape[-2] == k.shape[-2] == v.shape[-2]):
        raise ValueError(f"sequence lengths differ: q {list(q.shape)}, k {list(k.shape)}, v {list(v.shape)}")
    T = q.shape[-2]
    scores = torch.matmul(q, k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    if bias is not None:
        scores = scores + bias
    future = torch.arange(T)[None, :] > torch.arange(T)[:, None]
    scores = torch.where(future, torch.tensor(float("-inf"), dtype=scores.dtype), scores)
    return F.softmax(scores, dim=-1) @ v
'''),
    _v("attention_einsum", "causal_attention", "einsum for both products, tril mask with masked_fill", '''
def causal_attention(q, k, v, bias=None):
    if q.shape[-1] != k.shape[-1] or q.shape[-2] != k.shape[-2] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"shapes q={tuple(q.shape)} k={tuple(k.shape)} v={tuple(v.shape)} are inconsistent")
    T, d_k = q.shape[-2], q.shape[-1]
    scores = torch.einsum("...id,...jd->...ij", q, k) / math.sqrt(d_k)
    scores = scores.masked_fill(~torch.tril(torch.ones(T, T, dtype=torch.bool)), float("-inf"))
    if bias is not None:
        scores = scores + bias
    return torch.einsum("...ij,...jd->...id", scores.softmax(-1), v)
'''),
]
