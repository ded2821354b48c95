"""Correct variants for notebook 03 (tied embeddings), at least two per exercise."""

from __future__ import annotations

from grader.samples.variants import Variant, maker

_v = maker("03_tied_embeddings")

VARIANTS: list[Variant] = [
    # ---------------------------------------------------------------- TinyLM
    _v("tiny_lm_tie_then_forward_F", "tiny_lm",
       "ties with self.lm_head.weight = self.embed.weight after building both; forward with F.linear and .tanh()", '''
class TinyLM(nn.Module):
    def __init__(self, vocab_size, d_model, tie_weights=True):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.hidden = nn.Linear(d_model, d_model)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        if tie_weights:
            self.lm_head.weight = self.embed.weight

    def forward(self, ids):
        x = self.hidden(self.embed(ids)).tanh()
        return F.linear(x, self.lm_head.weight)
'''),
    _v("tiny_lm_sequential_body", "tiny_lm", "an nn.Sequential for embed → hidden → tanh kept beside the three names", '''
class TinyLM(nn.Module):
    def __init__(self, vocab_size, d_model, tie_weights=True):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.hidden = nn.Linear(d_model, d_model)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        if tie_weights:
            self.lm_head.weight = self.embed.weight
        self.body = nn.Sequential(self.embed, self.hidden, nn.Tanh())

    def forward(self, ids):
        return self.lm_head(self.body(ids))
'''),
    # ---------------------------------------------------------------- count_parameters
    _v("count_parameters_id_set", "count_parameters",
       "dedupes by id() of each Parameter over named_parameters(remove_duplicate=False)", '''
def count_parameters(model):
    seen, total = set(), 0
    for _, p in model.named_parameters(remove_duplicate=False):
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total
'''),
    _v("count_parameters_modules_loop", "count_parameters",
       "walks model.modules() and their own parameters (recurse=False), counting each Parameter once", '''
def count_parameters(model):
    unique = {}
    for module in model.modules():
        for p in module.parameters(recurse=False):
            unique[id(p)] = p.numel()
    return int(sum(unique.values()))
'''),
    # ---------------------------------------------------------------- tied_weight_grad
    _v("tied_grad_index_put_einsum", "tied_weight_grad",
       "index_put_(accumulate=True) for the input side, einsum '...v,...d->vd' for the output side; its own "
       "shape messages", '''
def tied_weight_grad(ids, grad_embedded, h, grad_logits, vocab_size):
    ids = torch.from_numpy(check_ids(ids, vocab_size)).long()
    d = grad_embedded.shape[-1]
    if grad_embedded.shape != ids.shape + (d,):
        raise ValueError(f"grad_embedded {list(grad_embedded.shape)} does not match ids {list(ids.shape)} + [d]")
    if grad_logits.shape != h.shape[:-1] + (vocab_size,) or h.shape[-1] != d:
        raise ValueError(f"grad_logits {list(grad_logits.shape)} must be h.shape[:-1] + [V] for h {list(h.shape)}")
    grad = torch.zeros(vocab_size, d, dtype=grad_embedded.dtype)
    grad.index_put_((ids.reshape(-1),), grad_embedded.reshape(-1, d), accumulate=True)
    return grad + torch.einsum("...v,...d->vd", grad_logits, h).to(grad.dtype)
'''),
    _v("tied_grad_onehot_matmul", "tied_weight_grad", "both sides as products: onehot(ids)ᵀ G_in + G_outᵀ H", '''
def tied_weight_grad(ids, grad_embedded, h, grad_logits, vocab_size):
    ids_np = check_ids(ids, vocab_size)
    d = grad_embedded.shape[-1]
    if tuple(grad_embedded.shape[:-1]) != ids_np.shape:
        raise ValueError(f"grad_embedded has shape {tuple(grad_embedded.shape)}, ids {ids_np.shape}")
    if tuple(grad_logits.shape) != tuple(h.shape[:-1]) + (vocab_size,):
        raise ValueError(f"grad_logits has shape {tuple(grad_logits.shape)}, h {tuple(h.shape)}")
    X = F.one_hot(torch.from_numpy(ids_np.reshape(-1).astype(np.int64)), vocab_size).to(grad_embedded.dtype)
    return X.T @ grad_embedded.reshape(-1, d) + grad_logits.reshape(-1, vocab_size).T @ h.reshape(-1, d)
'''),
]
