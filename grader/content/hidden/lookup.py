"""Hidden tests for notebook 01 (the lookup as a one-hot product).

Each ``grade_*`` function is called by the last line of a hidden test cell, checks the student's code
against :mod:`grader.content.reference.lookup` on fresh random inputs and edge cases (scalar id, 1-D, 2-D and 3-D
batches, empty batches, repeated ids, the largest id, bad ids), prints what held and returns the points.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from grader.content.checks import describe, expect, expect_array, expect_raises, expect_tensor, fmt_call
from grader.content.hidden.common import (
    BATCH_SHAPES,
    EMPTY_SHAPES,
    TABLE_SIZES,
    bad_id_cases,
    bad_id_property,
    names_dtype_or_value,
    random_ids,
    random_table,
    with_duplicates_and_largest,
)
from grader.content.properties import Property, call, rng, score
from grader.content.reference import lookup as ref

# --------------------------------------------------------------------------------------------------
# check_ids


def grade_check_ids(check_ids: Callable[..., Any], points: float = 2) -> float:
    """Hidden tests for ``check_ids(ids, num_embeddings)``."""
    V = 7

    def valid_ids_come_back() -> None:
        gen = rng("check_ids", "valid")
        inputs: list[Any] = [3, [0, 6, 2], random_ids(gen, (3, 4), V), random_ids(gen, (5,), V).astype(np.int32),
                             torch.tensor([[6, 0], [1, 1]]), np.zeros((0,), dtype=np.int64)]
        for ids in inputs:
            got = call("check_ids", check_ids, ids, V)
            expected = ref.check_ids(ids, V)
            c = fmt_call("check_ids", ids, V)
            expect(type(got) is np.ndarray, f"{c} returned {describe(got)}; expected a numpy integer array.")
            expect(got.dtype.kind in "iu", f"{c} returned dtype {got.dtype}; expected an integer dtype.")
            expect_array(got, expected, c, check_dtype=False)

    def out_of_range_ids() -> None:
        for ids, bad in bad_id_cases(V):
            expect_raises(IndexError, check_ids, [ids, V], fmt_call("check_ids", ids, V),
                          mentions={"the bad id": [str(bad)], "V": [str(V)]},
                          hint=f"Valid ids are 0 … {V - 1}: check both ends, and name the bad id and V.")

    def largest_id_is_valid() -> None:
        for V_ in (1, 2, 1000):
            ids = np.array([V_ - 1, 0], dtype=np.int64)
            got = call("check_ids", check_ids, ids, V_)
            expect_array(got, ids, fmt_call("check_ids", ids, V_), check_dtype=False,
                         hint="V − 1 is the largest valid id (an off-by-one in the bound check?).")

    def non_integer_ids() -> None:
        for ids in (np.array([1.0, 2.0]), np.array([[0.5]]), 2.0, np.array([True, False])):
            expect_raises(TypeError, check_ids, [ids, V], fmt_call("check_ids", ids, V),
                          mentions={"the dtype or the value": names_dtype_or_value(ids)},
                          hint="Ids with a float or bool dtype are errors, even 2.0: do not round or cast them.")

    def empty_batch() -> None:
        for shape in EMPTY_SHAPES:
            ids = np.zeros(shape, dtype=np.int64)
            got = call("check_ids", check_ids, ids, V)
            expect_array(got, ids, fmt_call("check_ids", ids, V), check_dtype=False,
                         hint="An empty batch is valid; min()/max() of an empty array raise, so guard them.")

    return score("check_ids", [
        Property("valid ids come back as an integer array of the same shape (int, list, numpy, torch)",
                 valid_ids_come_back),
        Property("ids outside [0, V) raise IndexError naming the id and V (V itself and negative ids too)",
                 out_of_range_ids),
        Property("the largest id V − 1 is accepted", largest_id_is_valid),
        Property("float and bool ids raise TypeError naming the dtype or value", non_integer_ids),
        Property("an empty batch is accepted", empty_batch),
    ], points)


# --------------------------------------------------------------------------------------------------
# one_hot


def grade_one_hot(one_hot: Callable[..., Any], points: float = 2) -> float:
    """Hidden tests for ``one_hot(ids, num_classes)``."""

    def shapes_and_values() -> None:
        gen = rng("one_hot", "random")
        for V in (1, 5, 12):
            for shape in BATCH_SHAPES:
                ids = random_ids(gen, shape, V)
                c = fmt_call("one_hot", ids, num_classes=V)
                expect_array(call("one_hot", one_hot, ids, V), ref.one_hot(ids, V), c, exact=True,
                             hint="Expected shape ids.shape + (num_classes,), float64, a single 1.0 per vector.")

    def width_is_num_classes() -> None:
        ids = np.array([[0, 2], [1, 2]], dtype=np.int64)
        got = call("one_hot", one_hot, ids, 9)
        c = fmt_call("one_hot", ids, num_classes=9)
        expect(type(got) is np.ndarray and got.shape == (2, 2, 9),
               f"{c} returned {describe(got) if type(got) is not np.ndarray else got.shape}; expected shape "
               "(2, 2, 9). The width is num_classes, not max(ids) + 1 (F.one_hot's default without num_classes).")

    def float_dtype() -> None:
        ids = np.array([1, 0], dtype=np.int32)
        got = call("one_hot", one_hot, ids, 3)
        c = fmt_call("one_hot", ids, num_classes=3)
        expect(type(got) is np.ndarray, f"{c} returned {describe(got)}; expected a numpy array.")
        expect(got.dtype == np.float64, f"{c} returned dtype {got.dtype}; expected float64 so the result can "
               "be multiplied with a float table (bool or int one-hots change the product's dtype).")

    def duplicates_and_largest() -> None:
        gen = rng("one_hot", "duplicates")
        V = 10
        ids = with_duplicates_and_largest(gen, V)
        expect_array(call("one_hot", one_hot, ids, V), ref.one_hot(ids, V),
                     fmt_call("one_hot", ids, num_classes=V), exact=True)

    def empty_batch() -> None:
        for shape in EMPTY_SHAPES:
            ids = np.zeros(shape, dtype=np.int64)
            expect_array(call("one_hot", one_hot, ids, 4), ref.one_hot(ids, 4),
                         fmt_call("one_hot", ids, num_classes=4),
                         hint="An empty batch gives an empty result of shape ids.shape + (num_classes,).")

    def python_inputs() -> None:
        for ids in (3, [2, 0, 2]):
            expect_array(call("one_hot", one_hot, ids, 5), ref.one_hot(ids, 5), fmt_call("one_hot", ids, 5),
                         hint="Accept Python ints and lists too: np.asarray turns them into arrays.")

    return score("one_hot", [
        Property("matches the definition on random ids of shapes (), (1,), (7,), (3, 4), (2, 3, 5)",
                 shapes_and_values),
        Property("the last axis has num_classes entries even when the batch lacks the largest id",
                 width_is_num_classes),
        Property("returns float64", float_dtype),
        Property("repeated ids and the largest id V − 1", duplicates_and_largest),
        Property("an empty batch gives shape ids.shape + (num_classes,)", empty_batch),
        Property("accepts a Python int and a list", python_inputs),
        bad_id_property("bad ids raise IndexError / TypeError with the id and V in the message",
                         lambda ids: one_hot(ids, 6), 6, lambda ids: fmt_call("one_hot", ids, num_classes=6)),
    ], points)


# --------------------------------------------------------------------------------------------------
# embed_onehot and embed_lookup share their properties: both compute E(ids).


def _grade_embedding_function(name: str, fn: Callable[..., Any], points: float) -> float:
    def random_batches() -> None:
        gen = rng(name, "random")
        for V, d in TABLE_SIZES:
            E = random_table(gen, V, d)
            for shape in BATCH_SHAPES:
                ids = random_ids(gen, shape, V)
                expect_array(call(name, fn, ids, E), ref.embed_lookup(ids, E), fmt_call(name, ids, E),
                             hint="Expected shape ids.shape + (d,): one row of E per id.")

    def keeps_dtype_and_is_exact() -> None:
        gen = rng(name, "dtype")
        for dtype in (np.float32, np.float64):
            E = random_table(gen, 13, 5, dtype)
            ids = random_ids(gen, (4, 3), 13)
            expect_array(call(name, fn, ids, E), E[ids], fmt_call(name, ids, E), exact=True,
                         hint=f"The result must be {np.dtype(dtype)} like E and equal E[ids] bit for bit: "
                              "a one-hot product adds exact zeros, so cast the one-hot to E.dtype.")

    def duplicates_and_largest() -> None:
        gen = rng(name, "duplicates")
        E = random_table(gen, 10, 3)
        ids = with_duplicates_and_largest(gen, 10)
        ids_before, E_before = ids.copy(), E.copy()
        expect_array(call(name, fn, ids, E, mutates=(0, 1)), ref.embed_lookup(ids, E_before),
                     fmt_call(name, ids_before, E_before), exact=True)
        expect(np.array_equal(ids, ids_before) and np.array_equal(E, E_before),
               f"{fmt_call(name, ids_before, E_before)} changed its inputs in place; a lookup must not modify "
               "the ids or the table.")

    def empty_batch() -> None:
        gen = rng(name, "empty")
        E = random_table(gen, 8, 3)
        for shape in EMPTY_SHAPES:
            ids = np.zeros(shape, dtype=np.int64)
            expect_array(call(name, fn, ids, E), ref.embed_lookup(ids, E), fmt_call(name, ids, E),
                         hint="An empty batch gives shape ids.shape + (d,), e.g. (0, d).")

    E_bad = random_table(rng(name, "bad"), 6, 2)
    return score(name, [
        Property("matches E[ids] on random ids of shapes (), (1,), (7,), (3, 4), (2, 3, 5) and tables "
                 "(11, 4), (6, 9), (1, 3), (50, 1)", random_batches),
        Property("keeps E's dtype (float32, float64) and is bit-identical to E[ids]", keeps_dtype_and_is_exact),
        Property("repeated ids and the largest id V − 1, inputs left unchanged", duplicates_and_largest),
        Property("an empty batch gives shape ids.shape + (d,)", empty_batch),
        bad_id_property("bad ids raise IndexError / TypeError with the id and V in the message",
                         lambda ids: fn(ids, E_bad), 6, lambda ids: fmt_call(name, ids, E_bad)),
    ], points)


def grade_embed_onehot(embed_onehot: Callable[..., Any], points: float = 2) -> float:
    """Hidden tests for ``embed_onehot(ids, E)``."""
    return _grade_embedding_function("embed_onehot", embed_onehot, points)


def grade_embed_lookup(embed_lookup: Callable[..., Any], points: float = 2) -> float:
    """Hidden tests for ``embed_lookup(ids, E)``."""
    return _grade_embedding_function("embed_lookup", embed_lookup, points)


# --------------------------------------------------------------------------------------------------
# Embedding (torch)


def _weight_of(module: Any, where: str) -> torch.Tensor:
    weight = getattr(module, "weight", None)
    expect(type(weight) is nn.Parameter,
           f"{where}.weight is {describe(weight)}; expected an nn.Parameter so that the optimiser sees it "
           "(a plain tensor attribute is not a parameter).")
    return weight


def grade_embedding_module(Embedding: type, points: float = 2) -> float:
    """Hidden tests for ``class Embedding(torch.nn.Module)``."""

    def build(V: int, d: int) -> Any:
        return call("Embedding", Embedding, V, d)

    def has_parameter() -> None:
        for V, d in TABLE_SIZES:
            where = fmt_call("Embedding", V, d)
            module = build(V, d)
            expect(isinstance(module, nn.Module), f"{where} is {describe(module)}; expected an nn.Module.")
            weight = _weight_of(module, where)
            expect(tuple(weight.shape) == (V, d), f"{where}.weight has shape {tuple(weight.shape)}; expected "
                   f"({V}, {d}) = (num_embeddings, embedding_dim): one row per id.")
            expect(weight.dtype == torch.float32, f"{where}.weight has dtype {weight.dtype}; expected float32.")
            expect(weight.requires_grad, f"{where}.weight does not require grad.")
            names = [n for n, _ in nn.Module.named_parameters(module)]
            expect(names == ["weight"], f"{where} registers the parameters {names}; expected exactly ['weight'].")

    def standard_normal_init() -> None:
        torch.manual_seed(0)
        V, d = 2000, 64
        weight = _weight_of(build(V, d), fmt_call("Embedding", V, d)).detach()
        mean, std = float(weight.mean()), float(weight.std())
        expect(abs(mean) < 0.02 and abs(std - 1) < 0.03,
               f"Embedding({V}, {d}).weight has mean {mean:.4f} and std {std:.4f}; expected N(0, 1) like "
               "torch.nn.Embedding (mean ≈ 0, std ≈ 1): use torch.randn.")

    def forward_matches() -> None:
        gen = rng("Embedding", "forward")
        for V, d in TABLE_SIZES:
            module = build(V, d)
            weight = _weight_of(module, fmt_call("Embedding", V, d))
            shapes = (*BATCH_SHAPES, *EMPTY_SHAPES)
            for shape, dtype in zip(shapes, [torch.int64, torch.int32] * 4, strict=False):
                ids = torch.from_numpy(random_ids(gen, shape, V)).to(dtype)
                expected = F.embedding(ids.long(), weight.detach())
                expect_tensor(call("Embedding.forward", module, ids), expected,
                              f"Embedding({V}, {d})({describe(ids)})", exact=True,
                              hint="Expected weight[ids] with shape ids.shape + (d,).")

    def gradient_matches() -> None:
        gen = rng("Embedding", "gradient")
        V, d = 10, 3
        module = build(V, d)
        weight = _weight_of(module, fmt_call("Embedding", V, d))
        ids = torch.from_numpy(with_duplicates_and_largest(gen, V))
        upstream = torch.from_numpy(gen.standard_normal((*ids.shape, d)).astype(np.float32))
        reference = nn.Embedding(V, d)
        with torch.no_grad():
            reference.weight.copy_(weight)
        (reference(ids) * upstream).sum().backward()
        weight.grad = None
        out = call("Embedding.forward", module, ids)
        expect(type(out) is torch.Tensor and out.requires_grad,
               f"Embedding({V}, {d})({describe(ids)}) returned {describe(out)} that does not require grad: "
               "the output must stay connected to self.weight (no .detach(), no torch.tensor(...) copies).")
        (out * upstream).sum().backward()
        expect(weight.grad is not None, "self.weight.grad is None after backward: the lookup is not "
               "differentiable with respect to the weight.")
        expect_tensor(weight.grad, reference.weight.grad, f"the weight gradient after Embedding({V}, {d})"
                      f"({describe(ids)})", rtol=1e-5, atol=1e-6,
                      hint="Rows of repeated ids must accumulate, unused rows must stay zero.")

    def bad_ids() -> None:
        module = build(6, 2)
        for ids, bad in bad_id_cases(6):
            t = torch.from_numpy(ids)
            expect_raises(IndexError, module, [t], f"Embedding(6, 2)({describe(t)})",
                          mentions={"the bad id": [str(bad)], "V": ["6"]},
                          hint="torch indexing wraps negative ids silently; validate before indexing.")
        t = torch.tensor([1.0, 2.0])
        expect_raises(TypeError, module, [t], f"Embedding(6, 2)({describe(t)})",
                      mentions={"the dtype or the value": ["float", "1.0"]},
                      hint="Float ids are not ids: raise TypeError.")

    return score("Embedding", [
        Property("has one nn.Parameter `weight` of shape (num_embeddings, embedding_dim), float32",
                 has_parameter),
        Property("weight is initialised from N(0, 1)", standard_normal_init),
        Property("forward equals F.embedding on int64/int32 ids of every shape, empty batches included",
                 forward_matches),
        Property("the weight gradient equals torch.nn.Embedding's (repeated ids accumulate)", gradient_matches),
        Property("bad ids raise IndexError / TypeError with the id and V in the message", bad_ids),
    ], points)


# --------------------------------------------------------------------------------------------------
# linear_from_embedding


def grade_linear_from_embedding(linear_from_embedding: Callable[..., Any], points: float = 2) -> float:
    """Hidden tests for ``linear_from_embedding(emb) -> nn.Linear``."""

    def make(V: int, d: int, dtype: torch.dtype = torch.float32) -> tuple[nn.Embedding, Any]:
        torch.manual_seed(V * 100 + d)
        emb = nn.Embedding(V, d, dtype=dtype)
        return emb, call("linear_from_embedding", linear_from_embedding, emb)

    def is_bias_free_linear() -> None:
        for V, d in TABLE_SIZES:
            _, linear = make(V, d)
            where = f"linear_from_embedding(nn.Embedding({V}, {d}))"
            expect(type(linear) is nn.Linear, f"{where} returned {describe(linear)}; expected an nn.Linear.")
            expect((linear.in_features, linear.out_features) == (V, d),
                   f"{where} has in_features={linear.in_features}, out_features={linear.out_features}; "
                   f"expected in_features={V} (the one-hot width V) and out_features={d}.")
            expect(linear.bias is None, f"{where} has a bias; a lookup adds nothing, so use bias=False.")
            expect(tuple(linear.weight.shape) == (d, V), f"{where}.weight has shape {tuple(linear.weight.shape)}; "
                   f"nn.Linear stores (out_features, in_features) = ({d}, {V}).")

    def equals_lookup() -> None:
        gen = rng("linear_from_embedding", "values")
        for V, d in TABLE_SIZES:
            emb, linear = make(V, d)
            for shape in BATCH_SHAPES:
                ids = torch.from_numpy(random_ids(gen, shape, V))
                x = F.one_hot(ids, V).float()
                expect_tensor(call("linear", linear, x), emb(ids).detach(),
                              f"linear(F.one_hot({describe(ids)}, {V}).float())", rtol=1e-6, atol=1e-7,
                              hint="The weight must be Eᵀ (nn.Linear computes x @ weight.T).")

    def keeps_dtype() -> None:
        emb, linear = make(7, 3, torch.float64)
        expect(linear.weight.dtype == torch.float64,
               f"linear_from_embedding on a float64 embedding returned a {linear.weight.dtype} weight; keep "
               "E's dtype (nn.Linear accepts dtype=...).")
        ids = torch.tensor([6, 0, 6])
        expect_tensor(call("linear", linear, F.one_hot(ids, 7).double()), emb(ids).detach(),
                      "linear(F.one_hot(tensor([6, 0, 6]), 7).double())", exact=True)

    def independent_copy() -> None:
        emb, linear = make(5, 4)
        expect(type(linear.weight) is nn.Parameter and linear.weight.requires_grad,
               "linear.weight must be a trainable nn.Parameter.")
        before = linear.weight.detach().clone()
        with torch.no_grad():
            emb.weight.add_(1.0)
        expect(torch.equal(linear.weight.detach(), before),
               "Changing emb.weight in place changed linear.weight too: the layers share storage. Copy the "
               "values (e.g. weight.copy_(E.T) under torch.no_grad()) so the new layer is independent.")

    def gradient_is_transposed() -> None:
        gen = rng("linear_from_embedding", "gradient")
        V, d = 8, 3
        emb, linear = make(V, d)
        ids = torch.from_numpy(with_duplicates_and_largest(gen, V))
        upstream = torch.from_numpy(gen.standard_normal((*ids.shape, d)).astype(np.float32))
        (emb(ids) * upstream).sum().backward()
        (call("linear", linear, F.one_hot(ids, V).float()) * upstream).sum().backward()
        expect(linear.weight.grad is not None, "linear.weight.grad is None after backward.")
        expect_tensor(linear.weight.grad, emb.weight.grad.T, "the gradient of linear.weight", rtol=1e-5,
                      atol=1e-6, hint="It should be the embedding's gradient, transposed.")

    return score("linear_from_embedding", [
        Property("returns nn.Linear(V, d, bias=False) with a (d, V) weight", is_bias_free_linear),
        Property("linear(one_hot(ids)) equals emb(ids) for every batch shape", equals_lookup),
        Property("keeps the embedding's dtype (float64 in, float64 out)", keeps_dtype),
        Property("the weight is an independent copy, not a view of emb.weight", independent_copy),
        Property("its weight gradient is the embedding's gradient transposed", gradient_is_transposed),
    ], points)


__all__ = [
    "grade_check_ids",
    "grade_embed_lookup",
    "grade_embed_onehot",
    "grade_embedding_module",
    "grade_linear_from_embedding",
    "grade_one_hot",
]
