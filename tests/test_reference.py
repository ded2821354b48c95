"""The references obey the definitions, the solution notebooks agree with them, and the hidden tests
grade them right — all in-process, on generated inputs (hypothesis), without a kernel."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from grader.content.hidden import lookup as hidden
from grader.content.reference import lookup as ref
from grader.project import SOLUTIONS
from tests.helpers import solution_namespace

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def ids_and_table(draw: st.DrawFn, dtype: type = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of any shape (scalar and empty batches included) and a table they index."""
    V = draw(st.integers(1, 40))
    d = draw(st.integers(1, 9))
    shape = draw(st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple))
    seed = draw(st.integers(0, 2**32 - 1))
    gen = np.random.default_rng(seed)
    return gen.integers(0, V, size=shape), gen.standard_normal((V, d)).astype(dtype)


@pytest.fixture(scope="module")
def solution() -> dict:
    return solution_namespace(SOLUTIONS / "01_lookup" / "01_lookup.ipynb")


# ------------------------------------------------------------------------------------- the definitions


@SETTINGS
@given(ids_and_table())
def test_one_hot_product_is_the_lookup_bit_for_bit(case: tuple[np.ndarray, np.ndarray]) -> None:
    ids, E = case
    product = ref.one_hot(ids, E.shape[0]).astype(E.dtype) @ E
    assert product.shape == (*ids.shape, E.shape[1])
    assert product.dtype == E.dtype
    assert np.array_equal(product, E[ids])


@SETTINGS
@given(ids_and_table())
def test_one_hot_has_a_single_one_at_the_id(case: tuple[np.ndarray, np.ndarray]) -> None:
    ids, E = case
    oh = ref.one_hot(ids, E.shape[0])
    assert oh.dtype == np.float64 and oh.shape == (*ids.shape, E.shape[0])
    assert np.array_equal(oh.sum(-1), np.ones(ids.shape))
    if ids.size:
        assert np.array_equal(oh.argmax(-1), ids)


@SETTINGS
@given(ids_and_table(), st.integers(1, 5))
def test_embedding_gradient_sums_upstream_rows(case: tuple[np.ndarray, np.ndarray], reps: int) -> None:
    ids, E = case
    ids = np.concatenate([ids.reshape(-1)] * reps)  # repeated ids must accumulate
    module = ref.Embedding(*E.shape)
    with torch.no_grad():
        module.weight.copy_(torch.from_numpy(E))
    upstream = torch.randn((*ids.shape, E.shape[1]))
    (module(torch.from_numpy(ids)) * upstream).sum().backward()
    expected = ref.one_hot(ids, E.shape[0]).T @ upstream.double().numpy()
    np.testing.assert_allclose(module.weight.grad.double().numpy(), expected, rtol=1e-5, atol=1e-5)


@SETTINGS
@given(ids_and_table())
def test_linear_on_one_hot_equals_embedding(case: tuple[np.ndarray, np.ndarray]) -> None:
    ids, E = case
    emb = nn.Embedding.from_pretrained(torch.from_numpy(E))
    linear = ref.linear_from_embedding(emb)
    x = F.one_hot(torch.from_numpy(ids), E.shape[0]).float()
    assert torch.equal(linear(x), emb(torch.from_numpy(ids)))


@pytest.mark.parametrize("bad", [-1, -7, 5, 6, 100])
def test_check_ids_names_the_bad_id_and_V(bad: int) -> None:
    with pytest.raises(IndexError, match=rf"{bad}.*V = 5"):
        ref.check_ids(np.array([[0, bad]]), 5)


@pytest.mark.parametrize("ids", [np.array([1.0]), np.array([True]), 2.5, [0.0, 1.0]])
def test_check_ids_rejects_non_integers(ids: object) -> None:
    with pytest.raises(TypeError, match="integer"):
        ref.check_ids(ids, 5)


# ------------------------------------------------------------------------------ solutions == references


@SETTINGS
@given(ids_and_table(dtype=np.float32) | ids_and_table(dtype=np.float64))
def test_solution_functions_agree_with_references(solution: dict, case: tuple[np.ndarray, np.ndarray]) -> None:
    ids, E = case
    V = E.shape[0]
    assert np.array_equal(solution["check_ids"](ids, V), ref.check_ids(ids, V))
    for name in ("one_hot",):
        got, want = solution[name](ids, V), getattr(ref, name)(ids, V)
        assert got.dtype == want.dtype and np.array_equal(got, want)
    for name in ("embed_onehot", "embed_lookup"):
        got, want = solution[name](ids, E), getattr(ref, name)(ids, E)
        assert got.dtype == want.dtype and np.array_equal(got, want)


@SETTINGS
@given(ids_and_table())
def test_solution_modules_agree_with_references(solution: dict, case: tuple[np.ndarray, np.ndarray]) -> None:
    ids, E = case
    mine, theirs = solution["Embedding"](*E.shape), ref.Embedding(*E.shape)
    with torch.no_grad():
        mine.weight.copy_(torch.from_numpy(E))
        theirs.weight.copy_(torch.from_numpy(E))
    t = torch.from_numpy(ids)
    assert torch.equal(mine(t), theirs(t))
    emb = nn.Embedding.from_pretrained(torch.from_numpy(E))
    assert torch.equal(solution["linear_from_embedding"](emb).weight, ref.linear_from_embedding(emb).weight)


# ------------------------------------------------------------------------------ the hidden tests grade right

GRADERS: dict[str, Callable[..., float]] = {
    "check_ids": hidden.grade_check_ids,
    "one_hot": hidden.grade_one_hot,
    "embed_onehot": hidden.grade_embed_onehot,
    "embed_lookup": hidden.grade_embed_lookup,
    "Embedding": hidden.grade_embedding_module,
    "linear_from_embedding": hidden.grade_linear_from_embedding,
}


def _quiet(fn: Callable[[], float]) -> tuple[float, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        return fn(), out.getvalue()


@pytest.mark.parametrize("name", GRADERS)
def test_hidden_tests_give_the_reference_full_marks(name: str) -> None:
    score, report = _quiet(lambda: GRADERS[name](getattr(ref, name), points=2))
    assert score == 2, report


@pytest.mark.parametrize("name", GRADERS)
def test_hidden_tests_give_a_stub_zero_and_say_why(name: str) -> None:
    def stub(*args: object, **kwargs: object) -> None:
        raise NotImplementedError

    score, report = _quiet(lambda: GRADERS[name](stub, points=2))
    assert score == 0 and "not implemented yet" in report


def test_hidden_tests_survive_hostile_return_values() -> None:
    """Objects that lie in comparisons, raise on access or print to stderr cost points, never crash the cell."""

    class Liar(np.ndarray):
        def __eq__(self, other: object) -> bool:  # type: ignore[override]
            return True

    def liar(ids: object, E: np.ndarray) -> np.ndarray:
        return np.zeros((1,)).view(Liar)

    def noisy(ids: object, E: np.ndarray) -> np.ndarray:
        import sys
        import warnings

        print("debug output", file=sys.stderr)
        warnings.warn("a student's warning", stacklevel=1)
        return ref.embed_lookup(ids, E)

    score, report = _quiet(lambda: hidden.grade_embed_lookup(liar, points=2))
    assert score == 0, report
    score, report = _quiet(lambda: hidden.grade_embed_lookup(noisy, points=2))
    assert score == 2 and "not penalised" in report, report
