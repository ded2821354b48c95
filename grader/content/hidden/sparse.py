"""Hidden tests for notebook 02 (the sparse gradient).

Each ``grade_*`` function is called by the last line of a hidden test cell; it checks the student's code
against :mod:`grader.content.reference.sparse` on fresh random batches and the cases that matter for gradients:
repeated ids (they must add up), unused rows (exactly zero), padding ids, empty batches, bad ids.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from grader.content.checks import (
    CheckFailed,
    describe,
    expect,
    expect_array,
    expect_raises,
    expect_tensor,
    fmt_call,
    names_shape,
)
from grader.content.hidden.common import (
    BATCH_SHAPES,
    EMPTY_SHAPES,
    TABLE_SIZES,
    bad_id_property,
    random_ids,
    random_table,
    with_duplicates_and_largest,
)
from grader.content.properties import Property, call, rng, score
from grader.content.reference import sparse as ref

__all__ = [
    "grade_embedding_function",
    "grade_embedding_grad",
    "grade_embedding_grad_onehot",
    "grade_sparse_embedding_grad",
    "grade_sparse_sgd_step",
]

# The example every student should know by heart (FACTS §3): ids [2, 3, 2, 5], upstream rows 0..11.
CLASSIC_IDS = np.array([2, 3, 2, 5])
CLASSIC_GRAD = np.arange(12, dtype=np.float64).reshape(4, 3)
DUPLICATE_HINT = ("Id 2 appears twice, so row 2 must be g[0] + g[2] = [6, 8, 10]. If you got [6, 7, 8], "
                  "`G[ids] += g` counted the duplicate once (numpy buffers it): use np.add.at(G, ids, g).")


def _grad(gen: np.random.Generator, ids: np.ndarray, d: int, dtype: type = np.float64) -> np.ndarray:
    return gen.standard_normal((*ids.shape, d)).astype(dtype)


def _cases(key: str) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """(ids, grad_out, V) for every batch shape and table size, with one batch of repeated ids each."""
    gen = rng(key)
    cases = []
    for V, d in TABLE_SIZES:
        for shape in BATCH_SHAPES:
            ids = random_ids(gen, shape, V)
            cases.append((ids, _grad(gen, ids, d), V))
        ids = with_duplicates_and_largest(gen, V)
        cases.append((ids, _grad(gen, ids, d), V))
    return cases


def _bad_ids(name: str, fn: Callable[[np.ndarray], Any], V: int) -> Property:
    return bad_id_property("bad ids raise IndexError / TypeError with the id and V in the message", fn, V,
                           lambda ids: fmt_call(name, ids, "grad_out", V))


# --------------------------------------------------------------------------------------------------


def grade_embedding_grad_onehot(embedding_grad_onehot: Callable[..., Any], points: float = 2) -> float:
    """Hidden tests for ``embedding_grad_onehot(ids, grad_out, num_embeddings)``."""
    name = "embedding_grad_onehot"

    def matches_definition() -> None:
        for ids, g, V in _cases(name):
            expect_array(call(name, embedding_grad_onehot, ids, g, V), ref.embedding_grad_onehot(ids, g, V),
                         fmt_call(name, ids, g, V), rtol=1e-9, atol=1e-12,
                         hint="Flatten the batch: X = one_hot(ids) of shape (N, V), G = grad_out of shape (N, d), "
                              "then Xᵀ G has shape (V, d).")

    def keeps_dtype() -> None:
        gen = rng(name, "dtype")
        ids = with_duplicates_and_largest(gen, 9)
        g = _grad(gen, ids, 4, np.float32)
        got = call(name, embedding_grad_onehot, ids, g, 9)
        expect_array(got, ref.embedding_grad_onehot(ids, g, 9), fmt_call(name, ids, g, 9), rtol=1e-5, atol=1e-6,
                     hint="A float32 upstream gradient gives a float32 result: cast the one-hot to grad_out.dtype.")

    def duplicates_add_up() -> None:
        got = call(name, embedding_grad_onehot, CLASSIC_IDS, CLASSIC_GRAD, 6)
        expect_array(got, ref.embedding_grad_onehot(CLASSIC_IDS, CLASSIC_GRAD, 6),
                     fmt_call(name, CLASSIC_IDS, CLASSIC_GRAD, 6), hint=DUPLICATE_HINT)

    def empty_batch() -> None:
        for shape in EMPTY_SHAPES:
            ids = np.zeros(shape, dtype=np.int64)
            g = np.zeros((*shape, 3))
            expect_array(call(name, embedding_grad_onehot, ids, g, 5), np.zeros((5, 3)), fmt_call(name, ids, g, 5),
                         hint="No ids, no gradient: a (V, d) array of zeros.")

    return score(name, [
        Property("equals onehot(ids)ᵀ grad_out on random batches of every shape (repeated ids included)",
                 matches_definition),
        Property("keeps grad_out's dtype (float32 in, float32 out)", keeps_dtype),
        Property("repeated ids add up: ids [2, 3, 2, 5] give row 2 = g[0] + g[2]", duplicates_add_up),
        Property("an empty batch gives a (V, d) array of zeros", empty_batch),
        _bad_ids(name, lambda ids: embedding_grad_onehot(ids, np.ones((*np.shape(ids), 2)), 6), 6),
    ], points)


# --------------------------------------------------------------------------------------------------


def grade_embedding_grad(embedding_grad: Callable[..., Any], points: float = 2) -> float:
    """Hidden tests for ``embedding_grad(ids, grad_out, num_embeddings, padding_idx=None)``."""
    name = "embedding_grad"

    def matches_reference() -> None:
        for ids, g, V in _cases(name):
            expect_array(call(name, embedding_grad, ids, g, V), ref.embedding_grad(ids, g, V),
                         fmt_call(name, ids, g, V), rtol=1e-9, atol=1e-12,
                         hint="Row k is the sum of grad_out over the positions where ids == k.")

    def duplicates_add_up() -> None:
        got = call(name, embedding_grad, CLASSIC_IDS, CLASSIC_GRAD, 6)
        expect_array(got, ref.embedding_grad(CLASSIC_IDS, CLASSIC_GRAD, 6),
                     fmt_call(name, CLASSIC_IDS, CLASSIC_GRAD, 6), hint=DUPLICATE_HINT)

    def padding_row_is_zero() -> None:
        gen = rng(name, "padding")
        for V, pad in ((7, 0), (7, 6), (12, 3)):
            ids = random_ids(gen, (4, 5), V)
            ids[0, :3] = pad  # padding appears several times
            g = _grad(gen, ids, 3)
            got = call(name, embedding_grad, ids, g, V, pad)
            expect_array(got, ref.embedding_grad(ids, g, V, pad), fmt_call(name, ids, g, V, padding_idx=pad),
                         rtol=1e-9, atol=1e-12,
                         hint=f"Positions holding padding_idx = {pad} contribute nothing: row {pad} stays 0 and "
                              "every other row is the usual sum.")

    def keeps_dtype_and_handles_empty_batches() -> None:
        gen = rng(name, "dtype")
        ids = with_duplicates_and_largest(gen, 8)
        g = _grad(gen, ids, 5, np.float32)
        expect_array(call(name, embedding_grad, ids, g, 8), ref.embedding_grad(ids, g, 8), fmt_call(name, ids, g, 8),
                     rtol=1e-5, atol=1e-6, hint="float32 in, float32 out: np.zeros(..., dtype=grad_out.dtype).")
        for shape in EMPTY_SHAPES:
            ids = np.zeros(shape, dtype=np.int64)
            g = np.zeros((*shape, 2), dtype=np.float32)
            expect_array(call(name, embedding_grad, ids, g, 4), np.zeros((4, 2), np.float32),
                         fmt_call(name, ids, g, 4), hint="An empty batch gives a (V, d) array of zeros.")

    def rejects_mismatched_shapes() -> None:
        ids = np.array([1, 2, 1, 0])
        for g in (np.ones(3), np.ones((3, 3)), np.ones((4, 1, 3))):
            expect_raises(ValueError, embedding_grad, [ids, g, 5], fmt_call(name, ids, g, 5),
                          mentions={"the shape of grad_out": names_shape(g.shape)},
                          hint="grad_out must have shape ids.shape + (d,); np.add.at would broadcast a wrong "
                               "shape silently, so check it and say which shape you got.")

    def rejects_bad_padding_idx() -> None:
        ids, g = np.array([0, 1]), np.ones((2, 2))
        for pad in (5, 9, -1):
            # The exercise asks for a ValueError here, not for a message naming the value: none is demanded.
            expect_raises(ValueError, embedding_grad, [ids, g, 5, pad], fmt_call(name, ids, g, 5, padding_idx=pad),
                          hint="padding_idx is None or an id in [0, V).")

    return score(name, [
        Property("equals the sum of upstream rows per id on random batches of every shape", matches_reference),
        Property("repeated ids add up: ids [2, 3, 2, 5] give row 2 = g[0] + g[2]", duplicates_add_up),
        Property("the padding row gets exactly zero, every other row its sum", padding_row_is_zero),
        Property("keeps grad_out's dtype; an empty batch gives zeros", keeps_dtype_and_handles_empty_batches),
        Property("grad_out of the wrong shape raises ValueError naming its shape", rejects_mismatched_shapes),
        Property("a padding_idx outside [0, V) raises ValueError", rejects_bad_padding_idx),
        _bad_ids(name, lambda ids: embedding_grad(ids, np.ones((*np.shape(ids), 2)), 6), 6),
    ], points)


# --------------------------------------------------------------------------------------------------


def _check_sparse(got: Any, ids: np.ndarray, g: np.ndarray, pad: int | None, call_text: str, hint: str = "") -> None:
    rows, values = ref.sparse_embedding_grad(ids, g, pad)
    expect(type(got) is tuple and len(got) == 2,
           f"{call_text} returned {describe(got)}; expected a tuple (rows, values).")
    got_rows, got_values = got
    expect(type(got_rows) is np.ndarray and got_rows.dtype.kind in "iu",
           f"{call_text} returned rows {describe(got_rows)}; expected an integer numpy array.")
    expect_array(got_rows, rows, f"{call_text}[0] (rows)", check_dtype=False,
                 hint="rows are the distinct ids that occur, sorted, each once (padding excluded). " + hint)
    expect_array(got_values, values, f"{call_text}[1] (values)", rtol=1e-9, atol=1e-12,
                 hint="values[j] is the sum of grad_out over the positions where ids == rows[j]. " + hint)


def grade_sparse_embedding_grad(sparse_embedding_grad: Callable[..., Any], points: float = 2) -> float:
    """Hidden tests for ``sparse_embedding_grad(ids, grad_out, padding_idx=None) -> (rows, values)``."""
    name = "sparse_embedding_grad"

    def matches_reference() -> None:
        for ids, g, _ in _cases(name):
            _check_sparse(call(name, sparse_embedding_grad, ids, g), ids, g, None, fmt_call(name, ids, g))

    def coalesced() -> None:
        got = call(name, sparse_embedding_grad, CLASSIC_IDS, CLASSIC_GRAD)
        _check_sparse(got, CLASSIC_IDS, CLASSIC_GRAD, None, fmt_call(name, CLASSIC_IDS, CLASSIC_GRAD),
                      hint="Coalesced: row 2 appears once, with g[0] + g[2] = [6, 8, 10] (torch's sparse COO "
                           "gradient keeps [2, 3, 2, 5] until you call .coalesce()).")

    def rows_that_cancel_stay() -> None:
        ids = np.array([4, 1, 4])
        g = np.array([[1.0, -2.0], [0.5, 0.5], [-1.0, 2.0]])
        _check_sparse(call(name, sparse_embedding_grad, ids, g), ids, g, None, fmt_call(name, ids, g),
                      hint="Row 4 was used, so it is listed even though its gradients cancel to zero: rows come "
                           "from the ids, not from where the gradient is non-zero.")

    def padding_excluded() -> None:
        gen = rng(name, "padding")
        ids = random_ids(gen, (3, 6), 9)
        ids[:, 0] = 0
        ids[1, 2] = 0
        g = _grad(gen, ids, 4)
        _check_sparse(call(name, sparse_embedding_grad, ids, g, 0), ids, g, 0, fmt_call(name, ids, g, padding_idx=0),
                      hint="The padding id never appears in rows.")

    def empty_batch() -> None:
        for shape in EMPTY_SHAPES:
            ids = np.zeros(shape, dtype=np.int64)
            g = np.zeros((*shape, 3))
            _check_sparse(call(name, sparse_embedding_grad, ids, g), ids, g, None, fmt_call(name, ids, g),
                          hint="An empty batch gives rows of shape (0,) and values of shape (0, d).")

    def bad_ids() -> None:
        for ids in (np.array([[0, -1]]), np.array([3, -4])):
            expect_raises(IndexError, sparse_embedding_grad, [ids, np.ones((*ids.shape, 2))], fmt_call(name, ids),
                          mentions={"the bad id": [str(ids.min())]}, hint="Negative ids are not ids.")
        ids = np.array([1.0, 2.0])
        expect_raises(TypeError, sparse_embedding_grad, [ids, np.ones((2, 2))], fmt_call(name, ids),
                      hint="Float ids are not ids.")

    return score(name, [
        Property("matches the reference on random batches of every shape", matches_reference),
        Property("is coalesced: each row once, sorted, with its summed gradient", coalesced),
        Property("a used row whose gradients cancel is still listed", rows_that_cancel_stay),
        Property("the padding id is excluded", padding_excluded),
        Property("an empty batch gives empty rows and values", empty_batch),
        Property("negative or non-integer ids raise IndexError / TypeError", bad_ids),
    ], points)


# --------------------------------------------------------------------------------------------------


def grade_sparse_sgd_step(sparse_sgd_step: Callable[..., Any], points: float = 2) -> float:
    """Hidden tests for ``sparse_sgd_step(E, ids, grad_out, lr, padding_idx=None) -> rows``."""
    name = "sparse_sgd_step"

    def run(E: np.ndarray, ids: np.ndarray, g: np.ndarray, lr: float, pad: int | None = None) -> None:
        before = E.copy()
        expected_E = before.copy()
        expected_rows = ref.sparse_sgd_step(expected_E, ids, g, lr, pad)
        c = fmt_call(name, before, ids, g, lr) if pad is None else fmt_call(name, before, ids, g, lr, padding_idx=pad)
        returned = call(name, sparse_sgd_step, E, ids, g, lr, mutates=(0,)) if pad is None else call(
            name, sparse_sgd_step, E, ids, g, lr, pad, mutates=(0,))
        expect(not np.array_equal(E, before) or np.array_equal(expected_E, before),
               f"{c} did not change E: update it in place (E[rows] -= ...), do not build a new array.")
        expect_array(E, expected_E, f"E after {c}", rtol=1e-6, atol=1e-7,
                     hint="E[k] -= lr · (sum of grad_out where ids == k) for each used k, nothing else.")
        expect_array(returned, expected_rows, f"the rows returned by {c}", check_dtype=False,
                     hint="Return the sorted distinct ids that were updated (padding excluded).")

    def updates_used_rows_in_place() -> None:
        gen = rng(name, "random")
        for V, d in TABLE_SIZES:
            for shape in BATCH_SHAPES[1:]:
                ids = random_ids(gen, shape, V)
                run(random_table(gen, V, d, np.float64), ids, _grad(gen, ids, d), 0.1)

    def duplicates_add_up() -> None:
        E = np.zeros((6, 3))
        run(E, CLASSIC_IDS, CLASSIC_GRAD, 1.0)

    def other_rows_untouched() -> None:
        gen = rng(name, "untouched")
        E = random_table(gen, 40, 4, np.float64)
        ids = np.array([[3, 7], [7, 39]])
        before = E.copy()
        call(name, sparse_sgd_step, E, ids, _grad(gen, ids, 4), 0.5, mutates=(0,))
        unused = np.setdiff1d(np.arange(40), ids)
        expect_array(E[unused], before[unused], f"the rows not in ids after {fmt_call(name, before, ids, 'g', 0.5)}",
                     exact=True, hint="Only rows 3, 7 and 39 may change.")

    def padding_untouched() -> None:
        gen = rng(name, "padding")
        E = random_table(gen, 9, 3, np.float64)
        ids = np.array([0, 4, 0, 8, 4])
        run(E, ids, _grad(gen, ids, 3), 0.3, 0)

    def bad_batch_changes_nothing() -> None:
        gen = rng(name, "bad")
        for ids in (np.array([1, 6]), np.array([2, -1]), np.array([1.0, 2.0])):
            E = random_table(gen, 6, 2, np.float64)
            before = E.copy()
            try:
                sparse_sgd_step(E, ids, np.ones((2, 2)), 0.1)
            except NotImplementedError:
                raise
            except Exception as err:
                expect(isinstance(err, IndexError | TypeError),
                       f"{fmt_call(name, before, ids, 'g', 0.1)} raised {type(err).__name__}: {err}; expected "
                       "IndexError for ids outside [0, V), TypeError for non-integer ids.")
            else:
                raise CheckFailed(f"{fmt_call(name, before, ids, 'g', 0.1)} did not raise: {ids} is not a "
                                  "valid batch of ids for V = 6.")
            expect_array(E, before, f"E after the failed {fmt_call(name, before, ids, 'g', 0.1)}", exact=True,
                         hint="Validate the ids before touching E: a rejected batch must leave the table as it was.")

    return score(name, [
        Property("updates the used rows of E in place and returns them, on random batches", updates_used_rows_in_place),
        Property("repeated ids add up: ids [2, 3, 2, 5] move row 2 by lr · (g[0] + g[2])", duplicates_add_up),
        Property("rows that were not used are bit-for-bit unchanged", other_rows_untouched),
        Property("the padding row is neither updated nor returned", padding_untouched),
        Property("a bad batch raises IndexError / TypeError and leaves E unchanged", bad_batch_changes_nothing),
    ], points)


# --------------------------------------------------------------------------------------------------


def grade_embedding_function(EmbeddingFunction: type, points: float = 2) -> float:
    """Hidden tests for ``class EmbeddingFunction(torch.autograd.Function)``."""
    name = "EmbeddingFunction.apply"

    def apply(*args: Any) -> Any:
        expect(isinstance(EmbeddingFunction, type) and issubclass(EmbeddingFunction, torch.autograd.Function),
               f"EmbeddingFunction is {describe(EmbeddingFunction)}; expected a subclass of torch.autograd.Function.")
        return call(name, EmbeddingFunction.apply, *args)

    def forward_is_indexing() -> None:
        gen = rng("EmbeddingFunction", "forward")
        for V, d in TABLE_SIZES:
            weight = torch.from_numpy(random_table(gen, V, d)).requires_grad_()
            for shape in (*BATCH_SHAPES, *EMPTY_SHAPES):
                ids = torch.from_numpy(random_ids(gen, shape, V))
                # Taken before the call: a change the student's forward makes to weight in place is sent back here.
                expected = weight.detach().clone()[ids]
                out = apply(ids, weight, None)
                expect_tensor(out, expected, f"{name}({describe(ids)}, weight {V}×{d}, None)", exact=True,
                              hint="forward returns weight[ids], shape ids.shape + (d,).")
                expect(out.requires_grad, f"{name}(...) returned a tensor that does not require grad although "
                       "weight does.")

    def gradient(pad: int | None) -> None:
        gen = rng("EmbeddingFunction", "gradient", pad)
        V, d = 10, 3
        ids = torch.from_numpy(with_duplicates_and_largest(gen, V))
        if pad is not None:
            ids[0, 1] = ids[2, 2] = pad
        upstream = torch.from_numpy(_grad(gen, ids.numpy(), d, np.float32))
        w_ref = torch.from_numpy(random_table(gen, V, d)).requires_grad_()
        (F.embedding(ids, w_ref, padding_idx=pad) * upstream).sum().backward()
        w = w_ref.detach().clone().requires_grad_()
        out = apply(ids, w, pad)
        expect_tensor(out, F.embedding(ids, w_ref.detach(), padding_idx=pad),
                      f"{name}({describe(ids)}, weight, {pad})", exact=True,
                      hint="F.embedding does not zero the padding row in the forward pass; only its gradient.")
        (out * upstream).sum().backward()
        expect(w.grad is not None, "weight.grad is None after backward: return the weight's gradient as the second "
               "of backward's three results.")
        expect_tensor(w.grad, w_ref.grad, f"the weight gradient through {name}({describe(ids)}, weight, {pad})",
                      rtol=1e-5, atol=1e-6, hint="Rows of repeated ids add up (index_add_), unused rows stay zero"
                      + ("" if pad is None else f", and row {pad} (padding) gets zero") + ".")

    def passes_gradcheck() -> None:
        weight = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).requires_grad_()
        # Without padding: a padding row is used in forward but gets no gradient by design, which gradcheck
        # (rightly) reports as a mismatch.
        for ids in (torch.tensor([[1, 4], [4, 0]]), torch.tensor([2, 0, 2, 3, 2])):
            ok = call(f"torch.autograd.gradcheck(lambda w: EmbeddingFunction.apply({describe(ids)}, w, None), "
                      "(weight,))", torch.autograd.gradcheck,
                      lambda w, ids=ids: EmbeddingFunction.apply(ids, w, None), (weight,))
            expect(ok is True, f"torch.autograd.gradcheck failed for ids {describe(ids)}.")

    def bad_ids() -> None:
        weight = torch.randn(6, 2)
        for raw, bad in ((np.array([[0, 6]]), 6), (np.array([3, -1]), -1)):
            ids = torch.from_numpy(raw)
            expect_raises(IndexError, EmbeddingFunction.apply, [ids, weight, None], f"{name}({describe(ids)}, ...)",
                          mentions={"the bad id": [str(bad)], "V": ["6"]},
                          hint="Indexing wraps negative ids silently: validate in forward.")
        ids = torch.tensor([1.0])
        expect_raises(TypeError, EmbeddingFunction.apply, [ids, weight, None], f"{name}({describe(ids)}, ...)",
                      hint="Float ids are not ids.")

    return score("EmbeddingFunction", [
        Property("forward equals weight[ids] for every batch shape, empty batches included", forward_is_indexing),
        Property("the weight gradient equals F.embedding's (repeated ids add up)", lambda: gradient(None)),
        Property("with padding_idx: same output as F.embedding, zero gradient for the padding row",
                 lambda: gradient(4)),
        Property("passes torch.autograd.gradcheck in float64", passes_gradcheck),
        Property("bad ids raise IndexError / TypeError", bad_ids),
    ], points)
