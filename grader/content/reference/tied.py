"""Reference for notebook 03: one matrix, two jobs — tied input and output embeddings.

A language model embeds ids with E ∈ R^{V×d} and scores the next token with logits = h W_outᵀ, W_out ∈ R^{V×d}.
Tying sets W_out = E (Press & Wolf 2017; Vaswani et al. 2017 §3.4): one Parameter, used twice. Its gradient is
the sum of both uses,

    dL/dE = scatter_add(ids, dL/d(embedded))  +  (dL/dlogits)ᵀ h,

the first sparse (notebook 02), the second dense: every row of a tied table gets gradient at every step.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from grader.content.reference.lookup import check_ids

__all__ = ["TinyLM", "count_parameters", "gpt2_small_skeleton", "tied_weight_grad"]


class TinyLM(nn.Module):
    """The smallest language model with an input and an output embedding.

    embed: nn.Embedding(V, d); hidden: nn.Linear(d, d); lm_head: nn.Linear(d, V, bias=False).
    forward: ids (…,) -> logits (…, V) = lm_head(tanh(hidden(embed(ids)))): a score for every next token.
    tie_weights=True makes lm_head.weight the very same Parameter as embed.weight.
    """

    def __init__(self, vocab_size: int, d_model: int, tie_weights: bool = True) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.hidden = nn.Linear(d_model, d_model)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        if tie_weights:
            self.lm_head.weight = self.embed.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.lm_head(torch.tanh(self.hidden(self.embed(ids))))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable numbers in ``model``, each shared Parameter counted once (buffers excluded)."""
    seen: set[int] = set()
    total = 0
    for module in model.modules():
        for param in module.parameters(recurse=False):
            if id(param) not in seen:
                seen.add(id(param))
                total += param.numel()
    return total


def tied_weight_grad(
    ids: Any, grad_embedded: torch.Tensor, h: torch.Tensor, grad_logits: torch.Tensor, vocab_size: int
) -> torch.Tensor:
    """Gradient of a tied table E (V, d) used as embedding (ids -> E[ids]) and output head (h -> h Eᵀ).

    ids: int (…,); grad_embedded: (…, d) = dL/dE[ids]; h: (…', d); grad_logits: (…', V) = dL/d(h Eᵀ)
    returns: (V, d) = scatter-add of grad_embedded over ids  +  grad_logitsᵀ h (batch axes flattened)
    """
    arr = torch.as_tensor(check_ids(ids, vocab_size))
    d = grad_embedded.shape[-1]
    if tuple(grad_embedded.shape) != (*arr.shape, d):
        raise ValueError(f"grad_embedded has shape {tuple(grad_embedded.shape)}; expected ids.shape + (d,)")
    if h.shape[-1] != d or tuple(grad_logits.shape) != (*h.shape[:-1], vocab_size):
        raise ValueError(f"h {tuple(h.shape)} and grad_logits {tuple(grad_logits.shape)} must be (…, d) and (…, V) "
                         f"with d = {d}, V = {vocab_size}")
    grad = torch.zeros(vocab_size, d, dtype=grad_embedded.dtype)
    for i, k in enumerate(arr.reshape(-1).tolist()):  # input side, one occurrence at a time
        grad[k] += grad_embedded.reshape(-1, d)[i]
    return grad + grad_logits.reshape(-1, vocab_size).T @ h.reshape(-1, d)


def gpt2_small_skeleton(tie: bool = True, device: str = "meta") -> nn.Module:
    """GPT-2 small's parameter shapes (HF GPT2LMHeadModel, FACTS §4), without its computation.

    V = 50,257, 1,024 positions, d = 768, 12 blocks. On the meta device it costs no memory. Unique parameters:
    124,439,808 tied, 163,037,184 untied.
    """
    V, T, d, layers = 50257, 1024, 768, 12

    def block() -> nn.Module:
        return nn.ModuleDict({
            "ln_1": nn.LayerNorm(d), "c_attn": nn.Linear(d, 3 * d), "attn_proj": nn.Linear(d, d),
            "ln_2": nn.LayerNorm(d), "c_fc": nn.Linear(d, 4 * d), "mlp_proj": nn.Linear(4 * d, d),
        })

    with torch.device(device):
        model = nn.ModuleDict({
            "wte": nn.Embedding(V, d), "wpe": nn.Embedding(T, d),
            "h": nn.ModuleList(block() for _ in range(layers)), "ln_f": nn.LayerNorm(d),
            "lm_head": nn.Linear(d, V, bias=False),
        })
    if tie:
        model["lm_head"].weight = model["wte"].weight
    return model
