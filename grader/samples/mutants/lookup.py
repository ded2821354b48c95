"""Mistakes for notebook 01 (the lookup as a one-hot product), at least four per exercise."""

from __future__ import annotations

from grader.samples.mutants import Mutant, maker

_m = maker("01_lookup")


MUTANTS: list[Mutant] = [
    # ---------------------------------------------------------------- check_ids
    _m("check_ids_off_by_one", "check_ids", "compares with > V instead of >= V, so the id V passes", '''
def check_ids(ids, num_embeddings):
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"ids must be integers, got {ids.dtype}")
    if ids.size and (ids.min() < 0 or ids.max() > num_embeddings):
        raise IndexError(f"id out of range for V = {num_embeddings}: {ids}")
    return ids
''', ("check_ids_visible", "check_ids_hidden")),
    _m("check_ids_no_negative", "check_ids", "checks only the upper bound; negative ids wrap around", '''
def check_ids(ids, num_embeddings):
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"ids must be integers, got {ids.dtype}")
    too_big = ids[ids >= num_embeddings]
    if too_big.size:
        raise IndexError(f"token id {too_big[0]} is out of range for V = {num_embeddings}")
    return ids
''', ("check_ids_visible", "check_ids_hidden")),
    _m("check_ids_casts_floats", "check_ids", "casts float ids to int instead of rejecting them", '''
def check_ids(ids, num_embeddings):
    ids = np.asarray(ids).astype(np.int64)
    bad = ids[(ids < 0) | (ids >= num_embeddings)]
    if bad.size:
        raise IndexError(f"token id {bad[0]} is out of range for V = {num_embeddings}")
    return ids
''', ("check_ids_visible", "check_ids_hidden")),
    _m("check_ids_empty_batch_crash", "check_ids", "calls min()/max() without guarding an empty batch", '''
def check_ids(ids, num_embeddings):
    if isinstance(ids, torch.Tensor):
        ids = ids.numpy()
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"token ids must be integers, got dtype {ids.dtype}")
    if ids.min() < 0 or ids.max() >= num_embeddings:
        bad = ids[(ids < 0) | (ids >= num_embeddings)][0]
        raise IndexError(f"token id {bad} is out of range for V = {num_embeddings}")
    return ids
'''),
    _m("check_ids_vague_message", "check_ids", "raises IndexError('invalid token id') without the id or V", '''
def check_ids(ids, num_embeddings):
    if isinstance(ids, torch.Tensor):
        ids = ids.numpy()
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError("token ids must be integers")
    if ((ids < 0) | (ids >= num_embeddings)).any():
        raise IndexError("invalid token id")
    return ids
''', ("check_ids_visible", "check_ids_hidden")),
    _m("check_ids_value_error", "check_ids", "raises ValueError for an out-of-range id instead of IndexError", '''
def check_ids(ids, num_embeddings):
    if isinstance(ids, torch.Tensor):
        ids = ids.numpy()
    ids = np.asarray(ids)
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"token ids must be integers, got dtype {ids.dtype}")
    bad = ids[(ids < 0) | (ids >= num_embeddings)]
    if bad.size:
        raise ValueError(f"token id {bad[0]} is out of range for V = {num_embeddings}")
    return ids
''', ("check_ids_visible", "check_ids_hidden")),
    _m("check_ids_accepts_bool", "check_ids", "rejects only float dtypes, so boolean masks pass as ids", '''
def check_ids(ids, num_embeddings):
    if isinstance(ids, torch.Tensor):
        ids = ids.numpy()
    ids = np.asarray(ids)
    if ids.dtype.kind == "f":
        raise TypeError(f"token ids must be integers, got dtype {ids.dtype}")
    bad = ids[(ids < 0) | (ids >= num_embeddings)]
    if bad.size:
        raise IndexError(f"token id {bad[0]} is out of range for V = {num_embeddings}")
    return ids
'''),
    # ---------------------------------------------------------------- one_hot
    _m("one_hot_width_from_batch", "one_hot", "infers the width as max(ids) + 1, like F.one_hot without num_classes",
       '''
def one_hot(ids, num_classes):
    ids = check_ids(ids, num_classes)
    return np.eye(ids.max() + 1)[ids]
''', ("one_hot_visible", "one_hot_hidden")),
    _m("one_hot_no_validation", "one_hot", "indexes np.eye without validating: id -1 gives the last row", '''
def one_hot(ids, num_classes):
    return np.eye(num_classes)[np.asarray(ids)]
'''),
    _m("one_hot_bool_dtype", "one_hot", "returns the boolean comparison without converting to float", '''
def one_hot(ids, num_classes):
    ids = check_ids(ids, num_classes)
    return ids[..., None] == np.arange(num_classes)
''', ("one_hot_visible", "one_hot_hidden")),
    _m("one_hot_flattens", "one_hot", "flattens the batch: always returns (N, V) instead of ids.shape + (V,)", '''
def one_hot(ids, num_classes):
    ids = check_ids(ids, num_classes).reshape(-1)
    out = np.zeros((ids.size, num_classes))
    out[np.arange(ids.size), ids] = 1.0
    return out
''', ("one_hot_visible", "one_hot_hidden")),
    _m("one_hot_one_based", "one_hot", "off by one: puts the 1 at position id - 1", '''
def one_hot(ids, num_classes):
    ids = check_ids(ids, num_classes)
    return np.eye(num_classes)[ids - 1]
''', ("one_hot_visible", "one_hot_hidden")),
    _m("one_hot_loop_1d", "one_hot", "loops over a 1-D batch, so scalar ids and 2-D batches break", '''
def one_hot(ids, num_classes):
    ids = check_ids(ids, num_classes)
    out = np.zeros((len(ids), num_classes))
    for i, t in enumerate(ids):
        out[i, t] = 1.0
    return out
''', ("one_hot_visible", "one_hot_hidden")),
    # ---------------------------------------------------------------- embed_onehot
    _m("embed_onehot_float64", "embed_onehot", "multiplies the float64 one-hot by a float32 table (result float64)",
       '''
def embed_onehot(ids, E):
    return one_hot(ids, E.shape[0]) @ E
''', ("embed_onehot_visible", "embed_onehot_hidden")),
    _m("embed_onehot_uses_d", "embed_onehot", "takes V from E.shape[1] (d) instead of E.shape[0]", '''
def embed_onehot(ids, E):
    return one_hot(ids, E.shape[1]).astype(E.dtype) @ E
''', ("embed_onehot_visible", "embed_onehot_hidden")),
    _m("embed_onehot_flattens", "embed_onehot", "flattens the ids and never restores the batch shape", '''
def embed_onehot(ids, E):
    ids = np.asarray(ids).reshape(-1)
    return one_hot(ids, E.shape[0]).astype(E.dtype) @ E
''', ("embed_onehot_visible", "embed_onehot_hidden")),
    _m("embed_onehot_stack_rows", "embed_onehot", "stacks one product per id: breaks on scalars and empty batches",
       '''
def embed_onehot(ids, E):
    return np.stack([one_hot(t, E.shape[0]).astype(E.dtype) @ E for t in np.asarray(ids)])
'''),
    _m("embed_onehot_no_validation", "embed_onehot", "builds the one-hot with np.eye directly, skipping check_ids",
       '''
def embed_onehot(ids, E):
    return np.eye(E.shape[0], dtype=E.dtype)[np.asarray(ids)] @ E
'''),
    _m("embed_onehot_always_float32", "embed_onehot", "casts to float32 whatever E's dtype", '''
def embed_onehot(ids, E):
    return (one_hot(ids, E.shape[0]) @ E).astype(np.float32)
'''),
    # ---------------------------------------------------------------- embed_lookup
    _m("embed_lookup_no_validation", "embed_lookup", "indexes without check_ids: E[-1] is silently the last row", '''
def embed_lookup(ids, E):
    return E[np.asarray(ids)]
''', ("embed_lookup_visible", "embed_lookup_hidden")),
    _m("embed_lookup_columns", "embed_lookup", "selects columns E[:, ids] instead of rows", '''
def embed_lookup(ids, E):
    return E[:, check_ids(ids, E.shape[0])]
''', ("embed_lookup_visible", "embed_lookup_hidden")),
    _m("embed_lookup_take_flat", "embed_lookup", "np.take without axis=0 indexes the flattened table", '''
def embed_lookup(ids, E):
    return np.take(E, check_ids(ids, E.shape[0]))
''', ("embed_lookup_visible", "embed_lookup_hidden")),
    _m("embed_lookup_list_of_rows", "embed_lookup", "builds a list of rows: scalars and empty batches break",
       '''
def embed_lookup(ids, E):
    return np.array([E[t] for t in check_ids(ids, E.shape[0])])
'''),
    _m("embed_lookup_float64", "embed_lookup", "converts the rows to float64", '''
def embed_lookup(ids, E):
    return E[check_ids(ids, E.shape[0])].astype(np.float64)
''', ("embed_lookup_visible", "embed_lookup_hidden")),
    _m("embed_lookup_mod_wrap", "embed_lookup", "wraps bad ids with ids % V instead of rejecting them", '''
def embed_lookup(ids, E):
    return E[np.asarray(ids) % E.shape[0]]
''', ("embed_lookup_visible", "embed_lookup_hidden")),
    # ---------------------------------------------------------------- Embedding
    _m("embedding_plain_tensor", "embedding_module", "stores the table as a plain tensor, not an nn.Parameter", '''
class Embedding(nn.Module):
    def __init__(self, num_embeddings, embedding_dim):
        super().__init__()
        self.num_embeddings = num_embeddings
        self.weight = torch.randn(num_embeddings, embedding_dim, requires_grad=True)

    def forward(self, ids):
        check_ids(ids, self.num_embeddings)
        return self.weight[ids]
''', ("embedding_module_visible", "embedding_module_hidden")),
    _m("embedding_uniform_init", "embedding_module", "initialises with torch.rand (uniform [0, 1)), not N(0, 1)",
       '''
class Embedding(nn.Module):
    def __init__(self, num_embeddings, embedding_dim):
        super().__init__()
        self.num_embeddings = num_embeddings
        self.weight = nn.Parameter(torch.rand(num_embeddings, embedding_dim))

    def forward(self, ids):
        check_ids(ids, self.num_embeddings)
        return self.weight[ids]
'''),
    _m("embedding_detached", "embedding_module", "returns a detached copy, so no gradient reaches the table", '''
class Embedding(nn.Module):
    def __init__(self, num_embeddings, embedding_dim):
        super().__init__()
        self.num_embeddings = num_embeddings
        self.weight = nn.Parameter(torch.randn(num_embeddings, embedding_dim))

    def forward(self, ids):
        check_ids(ids, self.num_embeddings)
        return self.weight[ids].detach()
''', ("embedding_module_visible", "embedding_module_hidden")),
    _m("embedding_onehot_no_num_classes", "embedding_module", "forward uses F.one_hot(ids) without num_classes",
       '''
class Embedding(nn.Module):
    def __init__(self, num_embeddings, embedding_dim):
        super().__init__()
        self.num_embeddings = num_embeddings
        self.weight = nn.Parameter(torch.randn(num_embeddings, embedding_dim))

    def forward(self, ids):
        check_ids(ids, self.num_embeddings)
        return F.one_hot(ids.long()).float() @ self.weight
''', ("embedding_module_visible", "embedding_module_hidden")),
    _m("embedding_no_validation", "embedding_module", "indexes without validation: negative ids wrap around", '''
class Embedding(nn.Module):
    def __init__(self, num_embeddings, embedding_dim):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_embeddings, embedding_dim))

    def forward(self, ids):
        return self.weight[ids]
'''),
    _m("embedding_transposed_table", "embedding_module", "stores the table as (d, V) and indexes columns", '''
class Embedding(nn.Module):
    def __init__(self, num_embeddings, embedding_dim):
        super().__init__()
        self.num_embeddings = num_embeddings
        self.weight = nn.Parameter(torch.randn(embedding_dim, num_embeddings))

    def forward(self, ids):
        check_ids(ids, self.num_embeddings)
        return self.weight[:, ids].movedim(0, -1)
''', ("embedding_module_visible", "embedding_module_hidden")),
    # ---------------------------------------------------------------- linear_from_embedding
    _m("linear_not_transposed", "linear_from_embedding", "builds nn.Linear(d, V) and copies E without transposing",
       '''
def linear_from_embedding(emb):
    V, d = emb.weight.shape
    linear = nn.Linear(d, V, bias=False)
    with torch.no_grad():
        linear.weight.copy_(emb.weight)
    return linear
''', ("linear_from_embedding_visible", "linear_from_embedding_hidden")),
    _m("linear_keeps_bias", "linear_from_embedding", "leaves nn.Linear's default bias=True in place", '''
def linear_from_embedding(emb):
    V, d = emb.weight.shape
    linear = nn.Linear(V, d, dtype=emb.weight.dtype)
    with torch.no_grad():
        linear.weight.copy_(emb.weight.T)
    return linear
''', ("linear_from_embedding_visible", "linear_from_embedding_hidden")),
    _m("linear_shares_storage", "linear_from_embedding", "wraps emb.weight.T in a new Parameter: a view, not a copy",
       '''
def linear_from_embedding(emb):
    V, d = emb.weight.shape
    linear = nn.Linear(V, d, bias=False)
    linear.weight = nn.Parameter(emb.weight.T)
    return linear
'''),
    _m("linear_float32_only", "linear_from_embedding", "always builds a float32 layer, whatever the embedding's dtype",
       '''
def linear_from_embedding(emb):
    V, d = emb.weight.shape
    linear = nn.Linear(V, d, bias=False)
    with torch.no_grad():
        linear.weight.copy_(emb.weight.T)
    return linear
'''),
    _m("linear_forgets_values", "linear_from_embedding", "returns a freshly initialised layer without copying E", '''
def linear_from_embedding(emb):
    V, d = emb.weight.shape
    return nn.Linear(V, d, bias=False, dtype=emb.weight.dtype)
''', ("linear_from_embedding_visible", "linear_from_embedding_hidden")),
]
