"""Hidden tests for notebook 03 (tied input and output embeddings).

Tying is about identity, not equal values: ``lm_head.weight is embed.weight``. The checks below look at the
objects (shared, not copied, and still shared after an optimiser step), count parameters the way an optimiser
sees them (GPT-2 small: 124,439,808 tied, 163,037,184 untied), and compare the tied gradient with autograd.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from grader.content.checks import describe, expect, expect_raises, expect_tensor, fmt_call
from grader.content.hidden.common import (
    BATCH_SHAPES,
    EMPTY_SHAPES,
    bad_id_cases,
    random_ids,
    with_duplicates_and_largest,
)
from grader.content.properties import Property, call, rng, score
from grader.content.reference import tied as ref

__all__ = ["grade_count_parameters", "grade_tied_weight_grad", "grade_tiny_lm"]

GPT2_TIED, GPT2_UNTIED = 124_439_808, 163_037_184


def _shares_storage(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


# --------------------------------------------------------------------------------------------------


def grade_tiny_lm(TinyLM: type, points: float = 2) -> float:
    """Hidden tests for ``class TinyLM(nn.Module)``."""

    def build(V: int, d: int, **kwargs: Any) -> Any:
        model = call("TinyLM", TinyLM, V, d, **kwargs)
        where = fmt_call("TinyLM", V, d, **kwargs)
        expect(isinstance(model, nn.Module), f"{where} is {describe(model)}; expected an nn.Module.")
        return model

    def layers() -> None:
        for V, d in ((11, 4), (7, 9)):
            for tie in (True, False):
                model = build(V, d, tie_weights=tie)
                where = fmt_call("TinyLM", V, d, tie_weights=tie)
                embed, hidden, head = (getattr(model, n, None) for n in ("embed", "hidden", "lm_head"))
                expect(type(embed) is nn.Embedding and tuple(embed.weight.shape) == (V, d),
                       f"{where}.embed is {describe(embed)}; expected nn.Embedding({V}, {d}).")
                expect(type(hidden) is nn.Linear and (hidden.in_features, hidden.out_features) == (d, d),
                       f"{where}.hidden is {describe(hidden)}; expected nn.Linear({d}, {d}).")
                expect(type(head) is nn.Linear and (head.in_features, head.out_features) == (d, V),
                       f"{where}.lm_head is {describe(head)}; expected nn.Linear({d}, {V}, bias=False): "
                       "d features in, one score per token out.")
                expect(head.bias is None, f"{where}.lm_head has a bias; the head is bias=False.")

    def tied_is_shared() -> None:
        for kwargs in ({}, {"tie_weights": True}):
            model = build(13, 5, **kwargs)
            where = fmt_call("TinyLM", 13, 5, **kwargs)
            expect(model.lm_head.weight is model.embed.weight,
                   f"{where}: lm_head.weight is not embed.weight. Tied means one Parameter used twice — assign it "
                   "(self.lm_head.weight = self.embed.weight); a copy (nn.Parameter(w.clone())) or a data alias "
                   "gives the optimiser two parameters"
                   + ("; and tie_weights defaults to True." if not kwargs else "."))
            names = [n for n, _ in model.named_parameters()]
            expect(len(names) == 3, f"{where} lists the parameters {names}; a tied model has three "
                   "(the shared table and hidden's weight and bias).")

    def untied_is_separate() -> None:
        model = build(13, 5, tie_weights=False)
        expect(model.lm_head.weight is not model.embed.weight
               and not _shares_storage(model.lm_head.weight, model.embed.weight),
               "TinyLM(13, 5, tie_weights=False): lm_head.weight and embed.weight share memory; untied means two "
               "independent tables.")

    def stays_tied_after_a_step() -> None:
        for make in (lambda p: torch.optim.SGD(p, lr=0.5), lambda p: torch.optim.Adam(p, lr=0.1)):
            torch.manual_seed(0)
            model = build(9, 4, tie_weights=True)
            optimiser = make(model.parameters())
            ids = torch.tensor([[1, 8, 1], [3, 0, 2]])
            F.cross_entropy(model(ids).reshape(-1, 9), torch.tensor([2, 2, 5, 1, 7, 0])).backward()
            optimiser.step()
            expect(model.lm_head.weight is model.embed.weight
                   and torch.equal(model.lm_head.weight.detach(), model.embed.weight.detach()),
                   f"after one {type(optimiser).__name__} step the tied weights are no longer one tensor.")

    def forward_matches() -> None:
        gen = rng("TinyLM", "forward")
        for tie in (True, False):
            torch.manual_seed(1)
            model = build(10, 6, tie_weights=tie)
            for shape in (*BATCH_SHAPES, *EMPTY_SHAPES):
                ids = torch.from_numpy(random_ids(gen, shape, 10))
                with torch.no_grad():
                    h = torch.tanh(F.linear(F.embedding(ids, model.embed.weight), model.hidden.weight,
                                            model.hidden.bias))
                    expected = F.linear(h, model.lm_head.weight)
                expect_tensor(call("TinyLM.forward", model, ids), expected,
                              f"TinyLM(10, 6, tie_weights={tie})({describe(ids)})", rtol=1e-5, atol=1e-6,
                              hint="logits = lm_head(tanh(hidden(embed(ids)))), shape ids.shape + (V,).")

    return score("TinyLM", [
        Property("has embed = nn.Embedding(V, d), hidden = nn.Linear(d, d), lm_head = nn.Linear(d, V, bias=False)",
                 layers),
        Property("tie_weights=True (the default) shares one Parameter: lm_head.weight is embed.weight",
                 tied_is_shared),
        Property("tie_weights=False keeps two independent tables", untied_is_separate),
        Property("stays tied after an SGD and an Adam step", stays_tied_after_a_step),
        Property("forward gives lm_head(tanh(hidden(embed(ids)))) for every batch shape", forward_matches),
    ], points)


# --------------------------------------------------------------------------------------------------


class _SharedTwice(nn.Module):
    """One Linear reached through two attributes, plus a frozen parameter and a buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Linear(4, 4)
        self.again = self.first                      # the same module twice: its 20 numbers count once
        self.frozen = nn.Parameter(torch.ones(3), requires_grad=False)   # still a parameter: counts
        self.norm = nn.BatchNorm1d(4)                 # 8 parameters, and running stats that are buffers


def grade_count_parameters(count_parameters: Callable[[nn.Module], Any], points: float = 2) -> float:
    """Hidden tests for ``count_parameters(model) -> int``."""

    def check(model: nn.Module, expected: int, what: str, hint: str) -> None:
        got = call("count_parameters", count_parameters, model)
        expect(type(got) is int, f"count_parameters({what}) returned {describe(got)}; expected a Python int "
               "(use int(...) or .item() on a tensor).")
        expect(got == expected, f"count_parameters({what}) returned {got:,}; expected {expected:,}. {hint}")

    def tiny_models() -> None:
        for V, d in ((10, 4), (257, 16)):
            for tie in (True, False):
                model = ref.TinyLM(V, d, tie_weights=tie)
                check(model, ref.count_parameters(model), f"TinyLM({V}, {d}, tie_weights={tie})",
                      "A tied table is one tensor: count it once (state_dict() lists it under both names).")

    def gpt2_small() -> None:
        for tie, expected in ((True, GPT2_TIED), (False, GPT2_UNTIED)):
            check(ref.gpt2_small_skeleton(tie), expected, f"GPT-2 small skeleton, tied={tie}",
                  "HF's GPT-2 small has 124,439,808 unique parameters tied, 163,037,184 untied.")

    def shared_frozen_and_buffers() -> None:
        check(_SharedTwice(), 20 + 3 + 8, "a model with a module reachable twice, a frozen parameter and buffers",
              "Count each Parameter once however many modules reach it; frozen parameters (requires_grad=False) "
              "are parameters; buffers (BatchNorm running statistics) are not.")

    return score("count_parameters", [
        Property("counts TinyLM tied and untied (a shared table once)", tiny_models),
        Property("GPT-2 small skeleton: 124,439,808 tied, 163,037,184 untied", gpt2_small),
        Property("counts a shared module once, frozen parameters, no buffers", shared_frozen_and_buffers),
    ], points)


# --------------------------------------------------------------------------------------------------


def _autograd_tied_grad(ids: np.ndarray, g_emb: torch.Tensor, h: torch.Tensor, g_logits: torch.Tensor,
                        E: torch.Tensor) -> torch.Tensor:
    """What autograd says: E used as a lookup and as the output head of h, upstream gradients given."""
    E = E.detach().clone().requires_grad_()
    loss = (F.embedding(torch.from_numpy(ids), E) * g_emb).sum() + ((h @ E.T) * g_logits).sum()
    loss.backward()
    return E.grad


def grade_tied_weight_grad(tied_weight_grad: Callable[..., Any], points: float = 2) -> float:
    """Hidden tests for ``tied_weight_grad(ids, grad_embedded, h, grad_logits, vocab_size) -> (V, d)``."""
    name = "tied_weight_grad"

    def case(gen: np.random.Generator, in_shape: tuple[int, ...], out_shape: tuple[int, ...], V: int, d: int,
             ids: np.ndarray | None = None) -> None:
        ids = random_ids(gen, in_shape, V) if ids is None else ids
        t = lambda *s: torch.from_numpy(gen.standard_normal(s)).double()  # noqa: E731
        g_emb, h, g_logits, E = t(*ids.shape, d), t(*out_shape, d), t(*out_shape, V), t(V, d)
        expected = _autograd_tied_grad(ids, g_emb, h, g_logits, E)
        c = fmt_call(name, ids, g_emb, h, g_logits, V)
        expect_tensor(call(name, tied_weight_grad, torch.from_numpy(ids), g_emb, h, g_logits, V), expected, c,
                      rtol=1e-9, atol=1e-10,
                      hint="Sum both uses: the scatter-add of grad_embedded over ids, plus grad_logitsᵀ h with "
                           "the batch axes flattened.")

    def equals_autograd() -> None:
        gen = rng(name, "random")
        for V, d in ((11, 4), (6, 9)):
            for shape in BATCH_SHAPES:
                case(gen, shape, shape, V, d)

    def repeated_ids() -> None:
        gen = rng(name, "duplicates")
        case(gen, (3, 4), (3, 4), 10, 3, with_duplicates_and_largest(gen, 10))

    def output_side_is_dense() -> None:
        gen = rng(name, "output only")
        for shape in EMPTY_SHAPES:  # no input positions: only the head's gradient remains, on every row
            case(gen, shape, (5,), 8, 3)

    def input_side_alone() -> None:
        gen = rng(name, "input only")
        case(gen, (6,), (0,), 8, 3, np.array([1, 7, 1, 0, 1, 3]))

    def bad_input() -> None:
        d, V = 2, 6
        for raw, bad in bad_id_cases(V)[:3]:
            ids = torch.from_numpy(raw)
            args = [ids, torch.ones(*raw.shape, d), torch.ones(1, d), torch.ones(1, V), V]
            expect_raises(IndexError, tied_weight_grad, args, fmt_call(name, ids, "…", V),
                          mentions={"the bad id": [str(bad)], "V": [str(V)]})
        ids = torch.tensor([1, 2])
        for wrong in ([ids, torch.ones(3, d), torch.ones(1, d), torch.ones(1, V), V],
                      [ids, torch.ones(2, d), torch.ones(1, d), torch.ones(1, V + 1), V]):
            expect_raises(ValueError, tied_weight_grad, wrong, fmt_call(name, *wrong),
                          hint="grad_embedded is ids.shape + (d,), grad_logits is h.shape[:-1] + (V,): check and "
                               "raise ValueError naming the shapes.")

    return score(name, [
        Property("equals autograd on a tied table for every batch shape", equals_autograd),
        Property("repeated ids add up on the input side", repeated_ids),
        Property("with no input positions, the output side alone: grad_logitsᵀ h, dense", output_side_is_dense),
        Property("with no output positions, the input side alone: a scatter-add", input_side_alone),
        Property("bad ids raise IndexError; mismatched shapes raise ValueError", bad_input),
    ], points)

