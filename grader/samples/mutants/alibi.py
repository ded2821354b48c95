"""Mistakes for notebook 05 (ALiBi), at least four per exercise — most of them shipped in real code (FACTS §12)."""

from __future__ import annotations

from grader.samples.mutants import Mutant, maker

_m = maker("05_alibi")


def _attention(body: str) -> str:
    return '''
def causal_attention(q, k, v, bias=None):
    if q.shape[-1] != k.shape[-1] or not q.shape[-2] == k.shape[-2] == v.shape[-2]:
        raise ValueError(f"q {tuple(q.shape)}, k {tuple(k.shape)} and v {tuple(v.shape)} do not fit")
    T = q.shape[-2]
''' + body


MUTANTS: list[Mutant] = [
    # ---------------------------------------------------------------- alibi_slopes
    _m("slopes_zero_based", "alibi_slopes", "counts h from 0: the first slope is 1 and every slope is 2^(8/n) too large (paiml/aprender#2143)", '''
def alibi_slopes(n_heads):
    if n_heads < 1:
        raise ValueError(f"n_heads must be at least 1, got {n_heads}")
    return torch.tensor([2.0 ** (-8.0 * h / n_heads) for h in range(n_heads)], dtype=torch.float32)
''', ("alibi_slopes_visible", "alibi_slopes_hidden")),
    _m("slopes_naive_formula", "alibi_slopes", "applies 2^(−8h/n) to every n, also when n is not a power of two (ml-explore/mlx#343)", '''
def alibi_slopes(n_heads):
    if n_heads < 1:
        raise ValueError(f"n_heads must be at least 1, got {n_heads}")
    return torch.tensor([2.0 ** (-8.0 * h / n_heads) for h in range(1, n_heads + 1)], dtype=torch.float32)
''', ("alibi_slopes_visible", "alibi_slopes_hidden")),
    _m("slopes_sorted", "alibi_slopes", "sorts the slopes to 'fix' the non-monotonic list for 12 heads", '''
def alibi_slopes(n_heads):
    if n_heads < 1:
        raise ValueError(f"n_heads must be at least 1, got {n_heads}")
    geometric = lambda n: [2.0 ** (-8.0 * h / n) for h in range(1, n + 1)]
    c = 2 ** math.floor(math.log2(n_heads))
    slopes = geometric(c) + geometric(2 * c)[0::2][: n_heads - c]
    return torch.tensor(sorted(slopes, reverse=True), dtype=torch.float32)
''', ("alibi_slopes_visible", "alibi_slopes_hidden")),
    _m("slopes_odd_extras", "alibi_slopes", "takes the extra slopes from [1::2] instead of [0::2]", '''
def alibi_slopes(n_heads):
    if n_heads < 1:
        raise ValueError(f"n_heads must be at least 1, got {n_heads}")
    geometric = lambda n: [2.0 ** (-8.0 * h / n) for h in range(1, n + 1)]
    c = 2 ** math.floor(math.log2(n_heads))
    slopes = geometric(c) + geometric(2 * c)[1::2][: n_heads - c]
    return torch.tensor(slopes, dtype=torch.float32)
''', ("alibi_slopes_visible", "alibi_slopes_hidden")),
    _m("slopes_no_check", "alibi_slopes", "accepts 0 heads (and crashes with a math domain error for negatives)", '''
def alibi_slopes(n_heads):
    geometric = lambda n: [2.0 ** (-8.0 * h / n) for h in range(1, n + 1)]
    if n_heads == 0:
        return torch.zeros(0)
    c = 2 ** math.floor(math.log2(n_heads))
    slopes = geometric(c) + geometric(2 * c)[0::2][: n_heads - c]
    return torch.tensor(slopes, dtype=torch.float32)
'''),
    # ---------------------------------------------------------------- alibi_bias
    _m("bias_wrong_sign", "alibi_bias", "adds +m·(i − j): distant tokens get the largest scores", '''
def alibi_bias(n_heads, seq_len):
    m = alibi_slopes(n_heads)
    i, j = torch.arange(seq_len)[:, None], torch.arange(seq_len)[None, :]
    return (m[:, None, None] * (i - j).float()).masked_fill(j > i, float("-inf"))
''', ("alibi_bias_visible", "alibi_bias_hidden")),
    _m("bias_no_mask", "alibi_bias", "uses −m·|i − j| everywhere and forgets the causal mask", '''
def alibi_bias(n_heads, seq_len):
    m = alibi_slopes(n_heads)
    i, j = torch.arange(seq_len)[:, None], torch.arange(seq_len)[None, :]
    return -m[:, None, None] * (i - j).abs().float()
''', ("alibi_bias_visible", "alibi_bias_hidden")),
    _m("bias_key_position", "alibi_bias", "builds the official +m·j rows instead of the paper's −m·(i − j) asked for", '''
def alibi_bias(n_heads, seq_len):
    m = alibi_slopes(n_heads)
    i, j = torch.arange(seq_len)[:, None], torch.arange(seq_len)[None, :]
    return (m[:, None, None] * j.float()).expand(n_heads, seq_len, seq_len).masked_fill(j > i, float("-inf"))
''', ("alibi_bias_visible", "alibi_bias_hidden")),
    _m("bias_transposed", "alibi_bias", "swaps i and j: the mask covers the past and the bias penalises the future", '''
def alibi_bias(n_heads, seq_len):
    m = alibi_slopes(n_heads)
    i, j = torch.arange(seq_len)[None, :], torch.arange(seq_len)[:, None]
    return (-m[:, None, None] * (i - j).float()).masked_fill(j > i, float("-inf"))
''', ("alibi_bias_visible", "alibi_bias_hidden")),
    _m("bias_one_slope", "alibi_bias", "uses the first head's slope for every head", '''
def alibi_bias(n_heads, seq_len):
    m = alibi_slopes(n_heads)[0]
    i, j = torch.arange(seq_len)[:, None], torch.arange(seq_len)[None, :]
    bias = (-m * (i - j).float()).masked_fill(j > i, float("-inf"))
    return bias.expand(n_heads, seq_len, seq_len).clone()
'''),
    # ---------------------------------------------------------------- causal_attention
    _m("attention_no_scale", "causal_attention", "forgets to divide the scores by √d_k", _attention('''
    scores = (q @ k.transpose(-2, -1)).masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    if bias is not None:
        scores = scores + bias
    return torch.softmax(scores, dim=-1) @ v
'''), ("causal_attention_visible", "causal_attention_hidden")),
    _m("attention_mask_after_softmax", "causal_attention", "zeroes the future after the softmax, without renormalising", _attention('''
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if bias is not None:
        scores = scores + torch.nan_to_num(bias, neginf=0.0)
    weights = torch.softmax(scores, dim=-1).masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), 0.0)
    return weights @ v
'''), ("causal_attention_visible", "causal_attention_hidden")),
    _m("attention_not_causal", "causal_attention", "relies on the bias for masking: without a bias every key is visible", _attention('''
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if bias is not None:
        scores = scores + bias
    return torch.softmax(scores, dim=-1) @ v
'''), ("causal_attention_visible", "causal_attention_hidden")),
    _m("attention_softmax_queries", "causal_attention", "takes the softmax over queries (dim=-2) instead of keys", _attention('''
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    if bias is not None:
        scores = scores + bias
    return torch.nan_to_num(torch.softmax(scores, dim=-2)) @ v
'''), ("causal_attention_visible", "causal_attention_hidden")),
    _m("attention_bias_after_softmax", "causal_attention", "adds the bias to the weights after the softmax", _attention('''
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    weights = torch.softmax(scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf")), dim=-1)
    if bias is not None:
        weights = weights + torch.nan_to_num(bias, neginf=0.0)
    return weights @ v
'''), ("causal_attention_visible", "causal_attention_hidden")),
    _m("attention_no_shape_check", "causal_attention", "never checks shapes: a short v or k surfaces as a matmul error deep inside", '''
def causal_attention(q, k, v, bias=None):
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
    if bias is not None:
        scores = scores + bias
    return torch.softmax(scores, dim=-1) @ v
'''),
]
