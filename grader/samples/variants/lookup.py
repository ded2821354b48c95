"""Correct variants for notebook 01 (the lookup), at least two per exercise."""

from __future__ import annotations

from grader.samples.variants import Variant, maker

_v = maker("01_lookup")

VARIANTS: list[Variant] = [
    # ---------------------------------------------------------------- check_ids
    _v("check_ids_torch_first", "check_ids",
       "validates through torch (is_floating_point, torch.any) and names the dtype as torch writes it, torch.float64",
       '''
def check_ids(ids, num_embeddings):
    t = torch.as_tensor(ids)
    if t.is_floating_point() or t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"ids must have an integer dtype, not {t.dtype}")
    out_of_range = (t < 0) | (t >= num_embeddings)
    if torch.any(out_of_range):
        first = t[out_of_range].flatten()[0].item()
        raise IndexError(f"id {first} is not in [0, {num_embeddings}) for a vocabulary of V = {num_embeddings}")
    return t.numpy()
'''),
    _v("check_ids_loop", "check_ids",
       "walks the flattened ids in a loop and says 'floats are not ids' (the dtype's kind, as a word)", '''
def check_ids(ids, num_embeddings):
    if isinstance(ids, torch.Tensor):
        ids = ids.numpy()
    arr = np.array(ids)
    if arr.dtype.kind not in "iu":
        kind = "bool" if arr.dtype.kind == "b" else "float"
        raise TypeError(f"{kind}s are not token ids")
    for t in arr.reshape(-1):
        if t < 0 or t >= num_embeddings:
            raise IndexError(f"bad id {t}; V = {num_embeddings}")
    return arr
'''),
    # ---------------------------------------------------------------- one_hot
    _v("one_hot_eye", "one_hot", "rows of the identity: np.eye(V)[ids]", '''
def one_hot(ids, num_classes):
    return np.eye(num_classes)[check_ids(ids, num_classes)]
'''),
    _v("one_hot_torch", "one_hot", "F.one_hot with num_classes, converted to a float64 numpy array", '''
def one_hot(ids, num_classes):
    ids = torch.from_numpy(np.asarray(check_ids(ids, num_classes), dtype=np.int64))
    return F.one_hot(ids, num_classes).to(torch.float64).numpy()
'''),
    _v("one_hot_put_along", "one_hot", "zeros, then np.put_along_axis of ones at the ids", '''
def one_hot(ids, num_classes):
    ids = check_ids(ids, num_classes)
    out = np.zeros(ids.shape + (num_classes,))
    np.put_along_axis(out, ids[..., None], 1.0, axis=-1)
    return out
'''),
    # ---------------------------------------------------------------- embed_onehot
    _v("embed_onehot_einsum", "embed_onehot", "np.einsum('...v,vd->...d') on the one-hot in E's dtype", '''
def embed_onehot(ids, E):
    X = one_hot(ids, E.shape[0]).astype(E.dtype)
    return np.einsum("...v,vd->...d", X, E)
'''),
    _v("embed_onehot_matmul_flat", "embed_onehot",
       "flattens to (N, V) @ (V, d), reshapes back; builds the one-hot in E's dtype directly", '''
def embed_onehot(ids, E):
    ids = check_ids(ids, E.shape[0])
    X = (ids.reshape(-1, 1) == np.arange(E.shape[0])).astype(E.dtype)
    return np.matmul(X, E).reshape(ids.shape + (E.shape[1],))
'''),
    # ---------------------------------------------------------------- embed_lookup
    _v("embed_lookup_take", "embed_lookup", "np.take(E, ids, axis=0)", '''
def embed_lookup(ids, E):
    ids = check_ids(ids, E.shape[0])
    return np.take(E, ids, axis=0)
'''),
    _v("embed_lookup_index_select", "embed_lookup",
       "PyTorch's own forward: index_select on the flattened ids, reshaped (numpy in, numpy out)", '''
def embed_lookup(ids, E):
    ids = check_ids(ids, E.shape[0])
    flat = torch.from_numpy(ids.reshape(-1).astype(np.int64))
    rows = torch.from_numpy(E).index_select(0, flat)
    return rows.reshape(*ids.shape, E.shape[1]).numpy()
'''),
    # ---------------------------------------------------------------- Embedding
    _v("embedding_module_normal_", "embedding_module",
       "an empty Parameter filled with nn.init.normal_; F.embedding in forward after check_ids", '''
class Embedding(nn.Module):
    def __init__(self, num_embeddings, embedding_dim):
        super().__init__()
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.weight = nn.Parameter(torch.empty(num_embeddings, embedding_dim))
        nn.init.normal_(self.weight)

    def forward(self, ids):
        check_ids(ids, self.num_embeddings)
        return F.embedding(ids, self.weight)
'''),
    _v("embedding_module_own_checks", "embedding_module",
       "its own checks on the tensor (no check_ids) and index_select + view, as aten does", '''
class Embedding(nn.Module):
    def __init__(self, num_embeddings, embedding_dim):
        super().__init__()
        self.V = num_embeddings
        self.weight = nn.Parameter(torch.randn(num_embeddings, embedding_dim, dtype=torch.float32))

    def forward(self, ids):
        if ids.is_floating_point():
            raise TypeError(f"ids must be integers, got {ids.dtype}")
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.V):
            bad = ids[(ids < 0) | (ids >= self.V)][0].item()
            raise IndexError(f"token id {bad} out of range for V = {self.V}")
        return self.weight.index_select(0, ids.reshape(-1)).view(*ids.shape, self.weight.shape[1])
'''),
    # ---------------------------------------------------------------- linear_from_embedding
    _v("linear_from_embedding_clone", "linear_from_embedding",
       "assigns a new Parameter holding a detached clone of the transposed table (its own copy)", '''
def linear_from_embedding(emb):
    V, d = emb.weight.shape
    linear = nn.Linear(V, d, bias=False, dtype=emb.weight.dtype)
    linear.weight = nn.Parameter(emb.weight.detach().T.clone())
    return linear
'''),
    _v("linear_from_embedding_t_contiguous", "linear_from_embedding",
       "num_embeddings / embedding_dim attributes and weight.data.copy_ of .t().contiguous()", '''
def linear_from_embedding(emb):
    lin = nn.Linear(emb.num_embeddings, emb.embedding_dim, bias=False, dtype=emb.weight.dtype)
    lin.weight.data.copy_(emb.weight.data.t().contiguous())
    return lin
'''),
]
