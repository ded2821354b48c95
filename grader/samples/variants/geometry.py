"""Correct variants for notebook 08 (the geometry of learned embeddings: word2vec), two or three per exercise."""

from __future__ import annotations

from grader.samples.variants import Variant, maker

_v = maker("08_geometry")

VARIANTS: list[Variant] = [
    # ---------------------------------------------------------------- cosine_similarity
    _v("cos_product_then_divide", "cosine_similarity",
       "the product first, then divided by the outer product of the lengths; stays in the inputs' dtype (float32 "
       "in, float32 out); the message names the matrix and the row its own way", '''
def cosine_similarity(A, B):
    nA = np.sqrt(np.einsum("nd,nd->n", A, A))
    nB = np.sqrt(np.einsum("md,md->m", B, B))
    for label, norms in (("A", nA), ("B", nB)):
        if (norms == 0).any():
            raise ValueError(f"{label}[{int(np.argmin(norms))}] is a zero vector")
    return (A @ B.T) / np.outer(nA, nB)
'''),
    _v("cos_loops", "cosine_similarity", "two Python loops with np.dot and math.sqrt, the slow obvious version", '''
import math

def cosine_similarity(A, B):
    out = np.zeros((len(A), len(B)))
    for name, X in (("A", A), ("B", B)):
        for i, row in enumerate(X):
            if not np.any(row):
                raise ValueError(f"zero row in {name} at index {i}")
    for i, a in enumerate(A):
        for j, b in enumerate(B):
            out[i, j] = np.dot(a, b) / (math.sqrt(np.dot(a, a)) * math.sqrt(np.dot(b, b)))
    return out
'''),
    # ---------------------------------------------------------------- nearest_neighbours
    _v("nn_sorted_key", "nearest_neighbours", "Python's sorted with the key (−score, id) over the other ids; returns a "
       "list of ints", '''
def nearest_neighbours(E, query_id, k):
    scores = cosine_similarity(E, E[query_id:query_id + 1])[:, 0]
    others = [j for j in range(len(E)) if j != query_id]
    return sorted(others, key=lambda j: (-scores[j], j))[:k]
'''),
    _v("nn_delete_query", "nearest_neighbours", "a stable argsort of all rows, then the query's id filtered out", '''
def nearest_neighbours(E, query_id, k):
    U = E / np.linalg.norm(E, axis=1, keepdims=True)
    order = np.argsort(-(U @ U[query_id]), kind="mergesort")
    return order[order != query_id][:k]
'''),
    _v("nn_list_of_others", "nearest_neighbours", "the ranking filtered by a list comprehension and wrapped in "
       "np.array (for k = 0 that is np.array([]), a float array holding no ids)", '''
def nearest_neighbours(E, query_id, k):
    scores = cosine_similarity(E, E[[query_id]])[:, 0]
    order = np.argsort(-scores, kind="stable")
    return np.array([i for i in order if i != query_id][:k])
'''),
    # ---------------------------------------------------------------- analogy
    _v("analogy_gensim_mean", "analogy", "gensim's way: the mean of the unit vectors (+b, +c, −a), made unit, dotted "
       "with the unit rows (the same ranking); the inputs dropped from the ranking afterwards", '''
def analogy(E, a, b, c, k=1, exclude_inputs=True):
    U = E / np.linalg.norm(E, axis=1, keepdims=True)
    mean = (U[b] + U[c] - U[a]) / 3
    mean = mean / np.linalg.norm(mean)
    order = np.argsort(-(U @ mean), kind="stable")
    if exclude_inputs:
        order = order[~np.isin(order, [a, b, c])]
    return order[:k]
'''),
    _v("analogy_sorted_key", "analogy", "Python's sorted with the key (−cosine, id), the inputs skipped with a set; "
       "returns a list", '''
def analogy(E, a, b, c, k=1, exclude_inputs=True):
    unit = [row / np.linalg.norm(row) for row in E]
    t = unit[b] - unit[a] + unit[c]
    t = t / np.linalg.norm(t)
    skip = {a, b, c} if exclude_inputs else set()
    candidates = [x for x in range(len(E)) if x not in skip]
    return sorted(candidates, key=lambda x: (-float(unit[x] @ t), x))[:k]
'''),
    # ---------------------------------------------------------------- skipgram_pairs
    _v("pairs_vectorised", "skipgram_pairs", "every (i, j) position pair from numpy broadcasting, masked and "
       "flattened in row-major order (center, then context)", '''
def skipgram_pairs(ids, window):
    ids = np.asarray(ids)
    i, j = np.meshgrid(np.arange(len(ids)), np.arange(len(ids)), indexing="ij")
    keep = (np.abs(i - j) <= window) & (i != j)
    return np.stack([ids[i[keep]], ids[j[keep]]], axis=1)
'''),
    _v("pairs_offsets_int32", "skipgram_pairs", "offsets −window..window with a bounds test, collected in a list "
       "comprehension; int32 ids", '''
def skipgram_pairs(ids, window):
    T = len(ids)
    pairs = [[ids[i], ids[i + o]] for i in range(T) for o in range(-window, window + 1) if o != 0 and 0 <= i + o < T]
    return np.array(pairs, dtype=np.int32).reshape(len(pairs), 2)
'''),
    _v("pairs_nested_loops", "skipgram_pairs", "two loops appending lists, np.array(pairs).reshape(-1, 2) (for no "
       "pairs that is a float array of shape (0, 2))", '''
def skipgram_pairs(ids, window):
    pairs = []
    for i in range(len(ids)):
        for j in range(max(0, i - window), min(len(ids), i + window + 1)):
            if j != i:
                pairs.append([ids[i], ids[j]])
    return np.array(pairs).reshape(-1, 2)
'''),
    # ---------------------------------------------------------------- noise_distribution
    _v("noise_probabilities_then_power", "noise_distribution", "the unigram probabilities first, raised to the "
       "power, then normalised again", '''
def noise_distribution(counts, power=0.75):
    p = np.asarray(counts, dtype=np.float64)
    p = p / p.sum()
    p = np.power(p, power)
    return p / p.sum()
'''),
    _v("noise_float32", "noise_distribution", "float32 arithmetic (what torch.multinomial would take anyway)", '''
def noise_distribution(counts, power=0.75):
    w = np.asarray(counts).astype(np.float32) ** np.float32(power)
    return w / w.sum()
'''),
    # ---------------------------------------------------------------- sgns_loss
    _v("sgns_softplus_bmm", "sgns_loss", "softplus(−s) for −log σ(s), the noise scores by bmm", '''
def sgns_loss(center_vecs, context_vecs, negative_vecs):
    positive = (center_vecs * context_vecs).sum(dim=1)
    negative = torch.bmm(negative_vecs, center_vecs.unsqueeze(2)).squeeze(2)
    return (F.softplus(-positive) + F.softplus(negative).sum(dim=1)).mean()
'''),
    _v("sgns_one_score_matrix", "sgns_loss", "the real score and the negated noise scores in one (B, 1 + K) matrix, "
       "log-sigmoid once", '''
def sgns_loss(center_vecs, context_vecs, negative_vecs):
    scores = torch.cat([(center_vecs * context_vecs).sum(-1, keepdim=True),
                        -(negative_vecs @ center_vecs.unsqueeze(-1)).squeeze(-1)], dim=1)
    return -F.logsigmoid(scores).sum(dim=1).mean()
'''),
    # ---------------------------------------------------------------- SkipGram
    _v("skip_gram_default_init", "skip_gram", "PyTorch's N(0, 1) initialisation for both tables (the text allows it)",
       '''
class SkipGram(nn.Module):
    def __init__(self, vocab_size, dim):
        super().__init__()
        self.in_embed = nn.Embedding(vocab_size, dim, sparse=True)
        self.out_embed = nn.Embedding(vocab_size, dim, sparse=True)

    def forward(self, center, context, negatives):
        v = self.in_embed(center)
        return sgns_loss(v, self.out_embed(context), self.out_embed(negatives))
'''),
    _v("skip_gram_functional", "skip_gram", "F.embedding(..., sparse=True) on the tables' weights; small uniform input "
       "rows, zero output rows", '''
class SkipGram(nn.Module):
    def __init__(self, vocab_size, dim):
        super().__init__()
        self.in_embed = nn.Embedding(vocab_size, dim, sparse=True)
        self.out_embed = nn.Embedding(vocab_size, dim, sparse=True)
        nn.init.uniform_(self.in_embed.weight, -0.5 / dim, 0.5 / dim)
        nn.init.zeros_(self.out_embed.weight)

    def forward(self, center, context, negatives):
        lookup = lambda ids, table: F.embedding(ids, table.weight, sparse=True)  # noqa: E731
        return sgns_loss(lookup(center, self.in_embed), lookup(context, self.out_embed),
                         lookup(negatives, self.out_embed))
'''),
]
