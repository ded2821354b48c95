"""Mistakes for notebook 03 (tied embeddings), at least four per exercise."""

from __future__ import annotations

from grader.samples.mutants import Mutant, maker

_m = maker("03_tied_embeddings")


def _tiny_lm(init_body: str, forward: str = "return self.lm_head(torch.tanh(self.hidden(self.embed(ids))))") -> str:
    return f'''
class TinyLM(nn.Module):
    def __init__(self, vocab_size, d_model, tie_weights=True):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.hidden = nn.Linear(d_model, d_model)
{init_body}

    def forward(self, ids):
        {forward}
'''


MUTANTS: list[Mutant] = [
    # ---------------------------------------------------------------- TinyLM
    _m("tiny_lm_copies", "tiny_lm", "ties by copying: nn.Parameter(embed.weight.clone()) (LLMs-from-scratch#822)", _tiny_lm('''
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        if tie_weights:
            self.lm_head.weight = nn.Parameter(self.embed.weight.detach().clone())'''),
       ("tiny_lm_visible", "tiny_lm_hidden")),
    _m("tiny_lm_data_alias", "tiny_lm", "aliases the memory (weight.data = ...) but keeps two Parameters", _tiny_lm('''
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        if tie_weights:
            self.lm_head.weight.data = self.embed.weight.data'''),
       ("tiny_lm_visible", "tiny_lm_hidden")),
    _m("tiny_lm_transposed", "tiny_lm", "transposes the table for the head: a (d, V) Parameter where Linear(d, V) needs (V, d)",
       _tiny_lm('''
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        if tie_weights:
            self.lm_head.weight = nn.Parameter(self.embed.weight.T)'''),
       ("tiny_lm_visible", "tiny_lm_hidden")),
    _m("tiny_lm_always_tied", "tiny_lm", "ignores tie_weights and always ties", _tiny_lm('''
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        self.lm_head.weight = self.embed.weight'''),
       ("tiny_lm_visible", "tiny_lm_hidden")),
    _m("tiny_lm_head_bias", "tiny_lm", "keeps nn.Linear's default bias=True on the head", _tiny_lm('''
        self.lm_head = nn.Linear(d_model, vocab_size)
        if tie_weights:
            self.lm_head.weight = self.embed.weight'''),
       ("tiny_lm_visible", "tiny_lm_hidden")),
    _m("tiny_lm_skips_hidden", "tiny_lm", "forward skips the hidden layer and the tanh", _tiny_lm('''
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        if tie_weights:
            self.lm_head.weight = self.embed.weight''', "return self.lm_head(self.embed(ids))")),
    # ---------------------------------------------------------------- count_parameters
    _m("count_state_dict", "count_parameters", "sums state_dict(): the tied table twice, buffers too", '''
def count_parameters(model):
    return int(sum(t.numel() for t in model.state_dict().values()))
''', ("count_parameters_visible", "count_parameters_hidden")),
    _m("count_no_dedup", "count_parameters", "named_parameters(remove_duplicate=False) counts shared tensors twice", '''
def count_parameters(model):
    return int(sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False)))
''', ("count_parameters_visible", "count_parameters_hidden")),
    _m("count_trainable_only", "count_parameters", "skips frozen parameters (requires_grad=False)", '''
def count_parameters(model):
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))
'''),
    _m("count_per_module", "count_parameters", "adds up each module's own parameters: a shared table or module counted twice", '''
def count_parameters(model):
    return int(sum(p.numel() for m in model.modules() for p in m.parameters(recurse=False)))
''', ("count_parameters_visible", "count_parameters_hidden")),
    _m("count_returns_tensor", "count_parameters", "returns a tensor (torch.tensor(...).sum()) instead of an int", '''
def count_parameters(model):
    return torch.tensor([p.numel() for p in model.parameters()]).sum()
''', ("count_parameters_visible", "count_parameters_hidden")),
    # ---------------------------------------------------------------- tied_weight_grad
    _m("tied_grad_input_only", "tied_weight_grad", "returns only the scatter-add of the input side", '''
def tied_weight_grad(ids, grad_embedded, h, grad_logits, vocab_size):
    ids = torch.as_tensor(check_ids(ids, vocab_size))
    d = grad_embedded.shape[-1]
    if tuple(grad_embedded.shape) != (*ids.shape, d) or tuple(grad_logits.shape) != (*h.shape[:-1], vocab_size):
        raise ValueError("shapes do not match")
    grad = torch.zeros(vocab_size, d, dtype=grad_embedded.dtype)
    grad.index_add_(0, ids.reshape(-1).long(), grad_embedded.reshape(-1, d))
    return grad
''', ("tied_weight_grad_visible", "tied_weight_grad_hidden")),
    _m("tied_grad_output_only", "tied_weight_grad", "returns only grad_logitsᵀ h, the output side", '''
def tied_weight_grad(ids, grad_embedded, h, grad_logits, vocab_size):
    ids = torch.as_tensor(check_ids(ids, vocab_size))
    d = grad_embedded.shape[-1]
    if tuple(grad_embedded.shape) != (*ids.shape, d) or tuple(grad_logits.shape) != (*h.shape[:-1], vocab_size):
        raise ValueError("shapes do not match")
    return grad_logits.reshape(-1, vocab_size).T @ h.reshape(-1, d)
''', ("tied_weight_grad_visible", "tied_weight_grad_hidden")),
    _m("tied_grad_buffered", "tied_weight_grad", "grad[ids] += grad_embedded: repeated ids counted once", '''
def tied_weight_grad(ids, grad_embedded, h, grad_logits, vocab_size):
    ids = torch.as_tensor(check_ids(ids, vocab_size))
    d = grad_embedded.shape[-1]
    if tuple(grad_embedded.shape) != (*ids.shape, d) or tuple(grad_logits.shape) != (*h.shape[:-1], vocab_size):
        raise ValueError("shapes do not match")
    grad = torch.zeros(vocab_size, d, dtype=grad_embedded.dtype)
    grad[ids] += grad_embedded
    return grad + grad_logits.reshape(-1, vocab_size).T @ h.reshape(-1, d)
''', ("tied_weight_grad_visible", "tied_weight_grad_hidden")),
    _m("tied_grad_batched_matmul", "tied_weight_grad", "grad_logits.mT @ h without flattening: one (V, d) matrix per batch row", '''
def tied_weight_grad(ids, grad_embedded, h, grad_logits, vocab_size):
    ids = torch.as_tensor(check_ids(ids, vocab_size))
    d = grad_embedded.shape[-1]
    if tuple(grad_embedded.shape) != (*ids.shape, d) or tuple(grad_logits.shape) != (*h.shape[:-1], vocab_size):
        raise ValueError("shapes do not match")
    grad = torch.zeros(vocab_size, d, dtype=grad_embedded.dtype)
    grad.index_add_(0, ids.reshape(-1).long(), grad_embedded.reshape(-1, d))
    return grad + grad_logits.mT @ h
'''),
    _m("tied_grad_mean", "tied_weight_grad", "averages the output side over positions instead of summing", '''
def tied_weight_grad(ids, grad_embedded, h, grad_logits, vocab_size):
    ids = torch.as_tensor(check_ids(ids, vocab_size))
    d = grad_embedded.shape[-1]
    if tuple(grad_embedded.shape) != (*ids.shape, d) or tuple(grad_logits.shape) != (*h.shape[:-1], vocab_size):
        raise ValueError("shapes do not match")
    grad = torch.zeros(vocab_size, d, dtype=grad_embedded.dtype)
    grad.index_add_(0, ids.reshape(-1).long(), grad_embedded.reshape(-1, d))
    n = max(1, h.reshape(-1, d).shape[0])
    return grad + grad_logits.reshape(-1, vocab_size).T @ h.reshape(-1, d) / n
''', ("tied_weight_grad_visible", "tied_weight_grad_hidden")),
    _m("tied_grad_no_shape_check", "tied_weight_grad", "never checks the shapes: mismatched tensors broadcast or fail deep inside", '''
def tied_weight_grad(ids, grad_embedded, h, grad_logits, vocab_size):
    ids = torch.as_tensor(check_ids(ids, vocab_size))
    d = h.shape[-1]
    grad = torch.zeros(vocab_size, d, dtype=grad_embedded.dtype)
    grad.index_add_(0, ids.reshape(-1).long(), grad_embedded.reshape(-1, d))
    return grad + grad_logits.reshape(-1, grad_logits.shape[-1]).T[:vocab_size] @ h.reshape(-1, d)
'''),
]
