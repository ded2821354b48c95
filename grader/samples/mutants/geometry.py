"""Mistakes for notebook 08 (the geometry of learned embeddings: word2vec), four or five per exercise."""

from __future__ import annotations

from grader.samples.mutants import Mutant, maker

_m = maker("08_geometry")


def _cosine(body: str) -> str:
    return f"\ndef cosine_similarity(A, B):\n{body}\n"


def _neighbours(body: str) -> str:
    return f"\ndef nearest_neighbours(E, query_id, k):\n{body}\n"


def _analogy(body: str) -> str:
    return f"\ndef analogy(E, a, b, c, k=1, exclude_inputs=True):\n{body}\n"


def _pairs(loops: str) -> str:
    return f'''
def skipgram_pairs(ids, window):
    ids = np.asarray(ids)
    T = len(ids)
    pairs = []
{loops}
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)
'''


def _loss(body: str) -> str:
    return f"\ndef sgns_loss(center_vecs, context_vecs, negative_vecs):\n{body}\n"


def _skip_gram(init: str, forward: str = "return sgns_loss(self.in_embed(center), self.out_embed(context), "
               "self.out_embed(negatives))") -> str:
    return f'''
class SkipGram(nn.Module):
    def __init__(self, vocab_size, dim):
        super().__init__()
{init}

    def forward(self, center, context, negatives):
        {forward}
'''


_SPARSE_TABLES = '''        self.in_embed = nn.Embedding(vocab_size, dim, sparse=True)
        self.out_embed = nn.Embedding(vocab_size, dim, sparse=True)'''

MUTANTS: list[Mutant] = [
    # ---------------------------------------------------------------- cosine_similarity
    _m("cos_dot_product", "cosine_similarity", "takes the dot product for the cosine: forgets to divide by the lengths",
       _cosine("    return np.asarray(A, dtype=np.float64) @ np.asarray(B, dtype=np.float64).T"),
       ("cosine_similarity_visible", "cosine_similarity_hidden")),
    _m("cos_norm_axis_0", "cosine_similarity", "takes the norms along axis 0 (of the columns) instead of the rows",
       _cosine('''    for name, X in (("A", A), ("B", B)):
        if np.any(np.linalg.norm(X, axis=1) == 0):
            raise ValueError(f"a row of {name} is zero")
    return (A / np.linalg.norm(A, axis=0)) @ (B / np.linalg.norm(B, axis=0)).T'''), ("cosine_similarity_visible", "cosine_similarity_hidden")),
    _m("cos_normalises_a_only", "cosine_similarity", "scales the rows of A to unit length but not those of B",
       _cosine('''    if np.any(np.linalg.norm(A, axis=1) == 0) or np.any(np.linalg.norm(B, axis=1) == 0):
        raise ValueError("a zero row")
    return (A / np.linalg.norm(A, axis=1, keepdims=True)) @ B.T'''), ("cosine_similarity_visible", "cosine_similarity_hidden")),
    _m("cos_squared_norms", "cosine_similarity", "divides by the squared lengths (the sum of squares, no square root)",
       _cosine('''    nA = (A * A).sum(axis=1, keepdims=True)
    nB = (B * B).sum(axis=1, keepdims=True)
    if np.any(nA == 0) or np.any(nB == 0):
        raise ValueError("a zero row")
    return (A @ B.T) / (nA * nB.T)'''), ("cosine_similarity_visible", "cosine_similarity_hidden")),
    _m("cos_no_zero_check", "cosine_similarity", "divides by zero without a check: NaN instead of a ValueError",
       _cosine('''    with np.errstate(invalid="ignore", divide="ignore"):
        return (A / np.linalg.norm(A, axis=1, keepdims=True)) @ (B / np.linalg.norm(B, axis=1, keepdims=True)).T'''),
       ("cosine_similarity_visible", "cosine_similarity_hidden")),
    _m("cos_message_without_matrix", "cosine_similarity", "names the zero row's index but not whether it is in A or B",
       _cosine('''    units = []
    for X in (A, B):
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        if (norms == 0).any():
            raise ValueError(f"row {int(np.flatnonzero(norms[:, 0] == 0)[0])} is all zeros")
        units.append(X / norms)
    return units[0] @ units[1].T'''), ("cosine_similarity_visible", "cosine_similarity_hidden")),
    # ---------------------------------------------------------------- nearest_neighbours
    _m("nn_includes_query", "nearest_neighbours", "forgets to exclude the query, which is always its own nearest row",
       _neighbours('''    scores = cosine_similarity(E[query_id][None, :], E)[0]
    return np.argsort(-scores, kind="stable")[:k]'''), ("nearest_neighbours_visible", "nearest_neighbours_hidden")),
    _m("nn_dot_product", "nearest_neighbours", "ranks by the dot product E @ E[q], so long rows win",
       _neighbours('''    scores = E @ E[query_id]
    scores[query_id] = -np.inf
    return np.argsort(-scores, kind="stable")[:k]'''), ("nearest_neighbours_visible", "nearest_neighbours_hidden")),
    _m("nn_reversed_argsort", "nearest_neighbours", "argsort()[::-1] for largest first: equal scores come higher id first",
       _neighbours('''    scores = cosine_similarity(E[query_id][None, :], E)[0]
    scores[query_id] = -np.inf
    return np.argsort(scores, kind="stable")[::-1][:k]'''), ("nearest_neighbours_visible", "nearest_neighbours_hidden")),
    _m("nn_drops_first", "nearest_neighbours", "drops the first of the ranking, assuming it is the query (a copy of "
       "the query's row with a lower id is dropped instead)",
       _neighbours('''    scores = cosine_similarity(E[query_id][None, :], E)[0]
    return np.argsort(-scores, kind="stable")[1:k + 1]'''), ("nearest_neighbours_visible", "nearest_neighbours_hidden")),
    _m("nn_default_argsort", "nearest_neighbours", "np.argsort(-scores) without kind=\"stable\": numpy's default "
       "sort does not keep equal scores in id order (from 17 elements on)",
       _neighbours('''    scores = cosine_similarity(E[query_id][None, :], E)[0]
    scores[query_id] = -np.inf
    return np.argsort(-scores)[:k]'''), ("nearest_neighbours_visible", "nearest_neighbours_hidden")),
    _m("nn_query_minus_one", "nearest_neighbours", "gives the query a score of -1 to drop it: a row exactly opposite "
       "the query (cosine -1) can then rank after it", _neighbours('''    scores = cosine_similarity(E[query_id][None, :], E)[0]
    scores[query_id] = -1.0
    return np.argsort(-scores, kind="stable")[:k]'''), ("nearest_neighbours_visible", "nearest_neighbours_hidden")),
    # ---------------------------------------------------------------- analogy
    _m("analogy_raw_offset", "analogy", "forms b − a + c from the raw rows, not the unit rows",
       _analogy('''    scores = cosine_similarity(E, (E[b] - E[a] + E[c])[None, :])[:, 0]
    if exclude_inputs:
        scores[[a, b, c]] = -np.inf
    return np.argsort(-scores, kind="stable")[:k]'''), ("analogy_visible", "analogy_hidden")),
    _m("analogy_dot_score", "analogy", "ranks by the dot product of the raw rows with the offset (long rows win)",
       _analogy('''    U = E / np.linalg.norm(E, axis=1, keepdims=True)
    scores = E @ (U[b] - U[a] + U[c])
    if exclude_inputs:
        scores[[a, b, c]] = -np.inf
    return np.argsort(-scores, kind="stable")[:k]'''), ("analogy_visible", "analogy_hidden")),
    _m("analogy_never_excludes", "analogy", "ignores exclude_inputs: the inputs always compete",
       _analogy('''    U = E / np.linalg.norm(E, axis=1, keepdims=True)
    scores = cosine_similarity(U, (U[b] - U[a] + U[c])[None, :])[:, 0]
    return np.argsort(-scores, kind="stable")[:k]'''), ("analogy_visible", "analogy_hidden")),
    _m("analogy_always_excludes", "analogy", "ignores exclude_inputs=False: the inputs are always left out",
       _analogy('''    U = E / np.linalg.norm(E, axis=1, keepdims=True)
    scores = cosine_similarity(U, (U[b] - U[a] + U[c])[None, :])[:, 0]
    scores[[a, b, c]] = -np.inf
    return np.argsort(-scores, kind="stable")[:k]'''), ("analogy_visible", "analogy_hidden")),
    _m("analogy_wrong_sign", "analogy", "a − b + c: the offset taken the wrong way round",
       _analogy('''    U = E / np.linalg.norm(E, axis=1, keepdims=True)
    scores = cosine_similarity(U, (U[a] - U[b] + U[c])[None, :])[:, 0]
    if exclude_inputs:
        scores[[a, b, c]] = -np.inf
    return np.argsort(-scores, kind="stable")[:k]'''), ("analogy_visible", "analogy_hidden")),
    _m("analogy_keeps_a", "analogy", "leaves out b and c but not a (a is often far from b − a + c, not always)",
       _analogy('''    U = E / np.linalg.norm(E, axis=1, keepdims=True)
    scores = cosine_similarity(U, (U[b] - U[a] + U[c])[None, :])[:, 0]
    if exclude_inputs:
        scores[[b, c]] = -np.inf
    return np.argsort(-scores, kind="stable")[:k]'''), ("analogy_visible", "analogy_hidden")),
    _m("analogy_reversed_argsort", "analogy", "argsort(scores)[::-1] for largest first: equal cosines come higher id "
       "first", _analogy('''    U = E / np.linalg.norm(E, axis=1, keepdims=True)
    scores = cosine_similarity(U, (U[b] - U[a] + U[c])[None, :])[:, 0]
    if exclude_inputs:
        scores[[a, b, c]] = -np.inf
    return np.argsort(scores, kind="stable")[::-1][:k]'''), ("analogy_visible", "analogy_hidden")),
    _m("analogy_default_keeps_inputs", "analogy", "writes the default as exclude_inputs=False: called with the defaults, "
       "the inputs compete", '''
def analogy(E, a, b, c, k=1, exclude_inputs=False):
    U = E / np.linalg.norm(E, axis=1, keepdims=True)
    scores = cosine_similarity(U, (U[b] - U[a] + U[c])[None, :])[:, 0]
    if exclude_inputs:
        scores[[a, b, c]] = -np.inf
    return np.argsort(-scores, kind="stable")[:k]
''', ("analogy_visible", "analogy_hidden")),
    # ---------------------------------------------------------------- skipgram_pairs
    _m("pairs_right_only", "skipgram_pairs", "takes only the contexts to the right of the center",
       _pairs('''    for i in range(T):
        for j in range(i + 1, min(T, i + window + 1)):
            pairs.append((ids[i], ids[j]))'''), ("skipgram_pairs_visible", "skipgram_pairs_hidden")),
    _m("pairs_with_center", "skipgram_pairs", "keeps j == i: every word is its own context",
       _pairs('''    for i in range(T):
        for j in range(max(0, i - window), min(T, i + window + 1)):
            pairs.append((ids[i], ids[j]))'''), ("skipgram_pairs_visible", "skipgram_pairs_hidden")),
    _m("pairs_by_offset", "skipgram_pairs", "loops over the offsets first (all distance-1 pairs, then distance 2): the "
       "right pairs in the wrong order",
       _pairs('''    for offset in [o for o in range(-window, window + 1) if o != 0]:
        for i in range(T):
            if 0 <= i + offset < T:
                pairs.append((ids[i], ids[i + offset]))'''), ("skipgram_pairs_visible", "skipgram_pairs_hidden")),
    _m("pairs_window_short", "skipgram_pairs", "range(i - window + 1, i + window): one context too few on each side",
       _pairs('''    for i in range(T):
        for j in range(max(0, i - window + 1), min(T, i + window)):
            if j != i:
                pairs.append((ids[i], ids[j]))'''), ("skipgram_pairs_visible", "skipgram_pairs_hidden")),
    _m("pairs_wrap_around", "skipgram_pairs", "indexes with (i + offset) % T: the window wraps around the ends",
       _pairs('''    for i in range(T):
        for offset in range(-window, window + 1):
            if offset != 0 and T > 1:
                pairs.append((ids[i], ids[(i + offset) % T]))'''), ("skipgram_pairs_visible", "skipgram_pairs_hidden")),
    # ---------------------------------------------------------------- noise_distribution
    _m("noise_not_normalised", "noise_distribution", "returns counts ** power without dividing by the sum", '''
def noise_distribution(counts, power=0.75):
    return np.asarray(counts, dtype=np.float64) ** power
''', ("noise_distribution_visible", "noise_distribution_hidden")),
    _m("noise_fixed_power", "noise_distribution", "writes 0.75 in the formula instead of the power argument", '''
def noise_distribution(counts, power=0.75):
    weights = np.asarray(counts, dtype=np.float64) ** 0.75
    return weights / weights.sum()
''', ("noise_distribution_visible", "noise_distribution_hidden")),
    _m("noise_add_one", "noise_distribution", "adds one to every count (smoothing): unseen words get probability", '''
def noise_distribution(counts, power=0.75):
    weights = (np.asarray(counts, dtype=np.float64) + 1) ** power
    return weights / weights.sum()
''', ("noise_distribution_visible", "noise_distribution_hidden")),
    _m("noise_power_after_normalising", "noise_distribution", "normalises first and raises the probabilities to the "
       "power, without normalising again: the sum is not 1", '''
def noise_distribution(counts, power=0.75):
    counts = np.asarray(counts, dtype=np.float64)
    return (counts / counts.sum()) ** power
''', ("noise_distribution_visible", "noise_distribution_hidden")),
    _m("noise_unseen_stay_zero", "noise_distribution", "keeps unseen words at 0 whatever the power (np.where(counts "
       "> 0, ...)): at power 0 every word should get 1/V", '''
def noise_distribution(counts, power=0.75):
    counts = np.asarray(counts, dtype=np.float64)
    weights = np.where(counts > 0, counts ** power, 0.0)
    return weights / weights.sum()
''', ("noise_distribution_visible", "noise_distribution_hidden")),
    _m("noise_integer_counts", "noise_distribution", "converts the counts to int64 first: fractional counts are "
       "truncated", '''
def noise_distribution(counts, power=0.75):
    weights = np.asarray(counts, dtype=np.int64) ** power
    return weights / weights.sum()
'''),
    # ---------------------------------------------------------------- sgns_loss
    _m("sgns_log_of_sigmoid", "sgns_loss", "torch.log(torch.sigmoid(s)): −inf for large scores", _loss('''    positive = (center_vecs * context_vecs).sum(-1)
    negative = torch.einsum("bkd,bd->bk", negative_vecs, center_vecs)
    return -(torch.log(torch.sigmoid(positive)) + torch.log(torch.sigmoid(-negative)).sum(-1)).mean()'''),
       ("sgns_loss_visible", "sgns_loss_hidden")),
    _m("sgns_sum_over_batch", "sgns_loss", "sums over the batch instead of taking the mean", _loss('''    positive = (center_vecs * context_vecs).sum(-1)
    negative = torch.einsum("bkd,bd->bk", negative_vecs, center_vecs)
    return -(F.logsigmoid(positive) + F.logsigmoid(-negative).sum(-1)).sum()'''),
       ("sgns_loss_visible", "sgns_loss_hidden")),
    _m("sgns_negatives_not_negated", "sgns_loss", "log σ(u_k·v_c) for the noise words: the minus sign forgotten",
       _loss('''    positive = (center_vecs * context_vecs).sum(-1)
    negative = torch.einsum("bkd,bd->bk", negative_vecs, center_vecs)
    return -(F.logsigmoid(positive) + F.logsigmoid(negative).sum(-1)).mean()'''),
       ("sgns_loss_visible", "sgns_loss_hidden")),
    _m("sgns_mean_over_negatives", "sgns_loss", "averages the K noise terms instead of summing them",
       _loss('''    positive = (center_vecs * context_vecs).sum(-1)
    negative = torch.einsum("bkd,bd->bk", negative_vecs, center_vecs)
    noise = F.logsigmoid(-negative).mean(-1) if negative.shape[1] else 0.0
    return -(F.logsigmoid(positive) + noise).mean()'''), ("sgns_loss_visible", "sgns_loss_hidden")),
    _m("sgns_through_numpy", "sgns_loss", "computes the loss in numpy and wraps it in torch.tensor: no gradient",
       _loss('''    v, u, n = (x.detach().numpy() for x in (center_vecs, context_vecs, negative_vecs))
    positive = (v * u).sum(-1)
    negative = np.einsum("bkd,bd->bk", n, v)
    loss = (np.logaddexp(0, -positive) + np.logaddexp(0, negative).sum(-1)).mean()
    return torch.tensor(loss, dtype=center_vecs.dtype)'''), ("sgns_loss_visible", "sgns_loss_hidden")),
    _m("sgns_where_logsigmoid", "sgns_loss", "a hand-made stable log σ with torch.where: the loss is finite, but the "
       "branch not taken overflows and makes the gradient NaN", '''
def _log_sigmoid(s):
    return torch.where(s >= 0, -torch.log1p(torch.exp(-s)), s - torch.log1p(torch.exp(s)))

def sgns_loss(center_vecs, context_vecs, negative_vecs):
    positive = (center_vecs * context_vecs).sum(-1)
    negative = torch.einsum("bkd,bd->bk", negative_vecs, center_vecs)
    return -(_log_sigmoid(positive) + _log_sigmoid(-negative).sum(-1)).mean()
''', ("sgns_loss_visible", "sgns_loss_hidden")),
    # ---------------------------------------------------------------- SkipGram
    _m("skip_gram_dense", "skip_gram", "keeps nn.Embedding's default sparse=False (then SparseAdam refuses it)",
       _skip_gram('''        self.in_embed = nn.Embedding(vocab_size, dim)
        self.out_embed = nn.Embedding(vocab_size, dim)'''), ("skip_gram_visible", "skip_gram_hidden")),
    _m("skip_gram_one_table", "skip_gram", "ties the two tables: out_embed is in_embed",
       _skip_gram('''        self.in_embed = nn.Embedding(vocab_size, dim, sparse=True)
        self.out_embed = self.in_embed'''), ("skip_gram_visible", "skip_gram_hidden")),
    _m("skip_gram_shared_storage", "skip_gram", "builds out_embed from in_embed's weight (from_pretrained): two "
       "modules, one storage, so the tables are tied", _skip_gram('''        self.in_embed = nn.Embedding(vocab_size, dim, sparse=True)
        nn.init.uniform_(self.in_embed.weight, -0.5 / dim, 0.5 / dim)
        self.out_embed = nn.Embedding.from_pretrained(self.in_embed.weight, freeze=False, sparse=True)'''),
       ("skip_gram_visible", "skip_gram_hidden")),
    _m("skip_gram_indexes_weight", "skip_gram", "looks rows up by indexing the weights (self.in_embed.weight[center]): "
       "the tables get dense gradients", _skip_gram(_SPARSE_TABLES, "return sgns_loss(self.in_embed.weight[center], "
       "self.out_embed.weight[context], self.out_embed.weight[negatives])"), ("skip_gram_visible", "skip_gram_hidden")),
    _m("skip_gram_input_rows_everywhere", "skip_gram", "looks the contexts and negatives up in the input table too",
       _skip_gram(_SPARSE_TABLES, "return sgns_loss(self.in_embed(center), self.in_embed(context), "
                  "self.in_embed(negatives))"), ("skip_gram_visible", "skip_gram_hidden")),
    _m("skip_gram_zero_init", "skip_gram", "initialises both tables with zeros: no gradient ever reaches either",
       _skip_gram(_SPARSE_TABLES + '''
        nn.init.zeros_(self.in_embed.weight)
        nn.init.zeros_(self.out_embed.weight)'''), ("skip_gram_visible", "skip_gram_hidden")),
]
