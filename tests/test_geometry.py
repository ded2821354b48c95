"""Notebook 08's references hold to an implementation this project did not write — gensim's
``KeyedVectors.most_similar`` (``positive=[b, c], negative=[a]`` for an analogy, ``positive=[q]`` for neighbours) and
``KeyedVectors.cosine_similarities`` — on random tables, and to numpy for the cosine; they obey the laws of their
definitions on generated inputs; the solution notebook agrees with them; and the hidden tests give the reference full
marks and a stub nothing."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable

import numpy as np
import pytest
import torch
from gensim.models import KeyedVectors
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.content.hidden import geometry as hidden
from grader.content.reference import geometry as ref
from grader.project import SOLUTIONS
from tests.helpers import solution_namespace

SETTINGS = settings(max_examples=40, deadline=None)
EXERCISES = {"cosine_similarity": "cosine_similarity", "nearest_neighbours": "nearest_neighbours",
             "analogy": "analogy", "skipgram_pairs": "skipgram_pairs", "noise_distribution": "noise_distribution",
             "sgns_loss": "sgns_loss", "skip_gram": "SkipGram"}
GAP = 1e-4   # gensim ranks in float32: compare only where the scores that decide the ranking are this far apart


@pytest.fixture(scope="module")
def solution() -> dict:
    return solution_namespace(SOLUTIONS / "08_geometry" / "08_geometry.ipynb")


def _keyed(E: np.ndarray) -> KeyedVectors:
    kv = KeyedVectors(E.shape[1])
    kv.add_vectors([str(i) for i in range(len(E))], E.astype(np.float32))
    return kv


def _separated(scores: np.ndarray, k: int) -> bool:
    top = np.sort(scores[np.isfinite(scores)])[::-1][: k + 1]
    return bool(np.all(np.diff(top) < -GAP))


def _tables(count: int, seed: int) -> list[tuple[np.ndarray, np.random.Generator]]:
    gen = np.random.default_rng(seed)
    return [(gen.standard_normal((int(gen.integers(8, 60)), int(gen.integers(2, 12))))
             * 10.0 ** gen.uniform(-1, 1, (1, 1)), gen) for _ in range(count)]


# ------------------------------------------------------------------------------------------------ against gensim


def test_nearest_neighbours_equal_gensims_most_similar_on_random_tables() -> None:
    compared = 0
    for E, gen in _tables(60, seed=1):
        q, k = int(gen.integers(len(E))), int(gen.integers(1, 6))
        scores = ref.cosine_similarity(E[q : q + 1], E)[0]
        scores[q] = -np.inf
        if not _separated(scores, k):
            continue
        theirs = [int(key) for key, _ in _keyed(E).most_similar(positive=[str(q)], topn=k)]
        assert ref.nearest_neighbours(E, q, k).tolist() == theirs, (E.shape, q, k)
        compared += 1
    assert compared >= 50, f"only {compared} tables were far enough from a tie to compare"


@pytest.mark.parametrize("k", [1, 3])
def test_analogy_equals_gensims_most_similar_positive_b_c_negative_a(k: int) -> None:
    """gensim averages the unit vectors (+b̂, +ĉ, −â), normalises the mean and ranks by dot product with the unit
    rows, the inputs left out: the same ranking as 3CosAdd's cos(x, b̂ − â + ĉ)."""
    compared = 0
    for E, gen in _tables(60, seed=2 + k):
        a, b, c = (int(x) for x in gen.choice(len(E), 3, replace=False))
        U = ref.unit_rows(E)
        scores = ref.cosine_similarity(U, (U[b] - U[a] + U[c])[None, :])[:, 0]
        scores[[a, b, c]] = -np.inf
        if not _separated(scores, k):
            continue
        theirs = [int(key) for key, _ in _keyed(E).most_similar(positive=[str(b), str(c)], negative=[str(a)], topn=k)]
        assert ref.analogy(E, a, b, c, k=k).tolist() == theirs, (E.shape, a, b, c)
        compared += 1
    assert compared >= 50, f"only {compared} tables were far enough from a tie to compare"


def test_cosine_similarity_equals_gensims_and_numpys() -> None:
    for E, gen in _tables(20, seed=4):
        B = gen.standard_normal((5, E.shape[1]))
        ours = ref.cosine_similarity(E, B)
        by_numpy = np.einsum("nd,md->nm", E, B) / np.outer(np.linalg.norm(E, axis=1), np.linalg.norm(B, axis=1))
        np.testing.assert_allclose(ours, by_numpy, rtol=1e-10, atol=1e-12)
        for j in range(len(B)):
            theirs = KeyedVectors.cosine_similarities(B[j], E)
            np.testing.assert_allclose(ours[:, j], theirs, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------------------------------------ laws


@st.composite
def tables(draw: st.DrawFn) -> np.ndarray:
    V, d = draw(st.integers(2, 20)), draw(st.integers(1, 8))
    seed = draw(st.integers(0, 2**32 - 1))
    gen = np.random.default_rng(seed)
    E = gen.standard_normal((V, d)) * 10.0 ** gen.uniform(-3, 3, (V, 1))
    E[np.linalg.norm(E, axis=1) == 0] = 1.0
    return E


@SETTINGS
@given(tables(), tables())
def test_cosines_lie_in_minus_one_one_are_symmetric_and_ignore_lengths(A: np.ndarray, B: np.ndarray) -> None:
    B = B[:, : A.shape[1]] if B.shape[1] >= A.shape[1] else np.resize(B, (len(B), A.shape[1])) + 0.5
    S = ref.cosine_similarity(A, B)
    assert S.shape == (len(A), len(B)) and np.all(np.abs(S) <= 1 + 1e-12)
    np.testing.assert_allclose(ref.cosine_similarity(B, A), S.T, atol=1e-12)
    np.testing.assert_allclose(ref.cosine_similarity(7.5 * A, 0.01 * B), S, atol=1e-12)
    np.testing.assert_allclose(np.diag(ref.cosine_similarity(A, A)), 1.0, atol=1e-12)


@SETTINGS
@given(tables(), st.data())
def test_neighbours_are_distinct_never_the_query_and_sorted(E: np.ndarray, data: st.DataObject) -> None:
    q = data.draw(st.integers(0, len(E) - 1))
    k = data.draw(st.integers(0, len(E) - 1))
    got = ref.nearest_neighbours(E, q, k)
    assert len(got) == k == len(set(got.tolist())) and q not in got.tolist()
    scores = ref.cosine_similarity(E[q : q + 1], E)[0][got]
    assert np.all(np.diff(scores) <= 0)


def test_equal_rows_tie_to_the_lower_id() -> None:
    E = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 1.0], [1.0, 1.0], [0.0, 1.0]])
    assert ref.nearest_neighbours(E, 0, 5).tolist() == [2, 4, 1, 3, 5]


@SETTINGS
@given(st.lists(st.integers(0, 30), max_size=25), st.integers(1, 6))
def test_skipgram_pairs_count_and_lie_within_the_window(ids: list[int], window: int) -> None:
    T = len(ids)
    pairs = ref.skipgram_pairs(np.array(ids, dtype=np.int64), window)
    assert pairs.shape == (sum(min(T - 1, i + window) - max(0, i - window) for i in range(T)), 2)
    positions = [(i, j) for i in range(T) for j in range(T) if 0 < abs(i - j) <= window]
    assert pairs.tolist() == [[ids[i], ids[j]] for i, j in positions]


@SETTINGS
@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=30).filter(any), st.sampled_from([0.75, 1.0, 0.5]))
def test_noise_sums_to_one_and_keeps_the_order_of_the_counts(counts: list[int], power: float) -> None:
    p = ref.noise_distribution(np.array(counts), power)
    assert np.isclose(p.sum(), 1.0) and np.all(p >= 0)
    order = np.argsort(counts, kind="stable")
    assert np.all(np.diff(p[order]) >= -1e-15)
    assert np.all(p[np.array(counts) == 0] == 0)


def test_the_power_three_quarters_flattens_the_unigram() -> None:
    unigram, noise = ref.noise_distribution(np.array([1, 81]), 1.0), ref.noise_distribution(np.array([1, 81]))
    np.testing.assert_allclose(noise, [1 / 28, 27 / 28])
    assert noise[0] > unigram[0]


def test_sgns_loss_equals_its_definition_has_autograds_gradient_and_stays_finite() -> None:
    gen = torch.Generator().manual_seed(0)
    v, u, n = (torch.randn(*s, dtype=torch.float64, generator=gen, requires_grad=True)
               for s in ((4, 3), (4, 3), (4, 5, 3)))
    naive = -(torch.log(torch.sigmoid((v * u).sum(-1)))
              + torch.log(torch.sigmoid(-(n @ v[:, :, None])[..., 0])).sum(-1)).mean()
    torch.testing.assert_close(ref.sgns_loss(v, u, n), naive)
    assert torch.autograd.gradcheck(ref.sgns_loss, (v, u, n))
    for dtype in (torch.float32, torch.float64):
        big = ref.sgns_loss(torch.tensor([[100.0, 0.0]], dtype=dtype), torch.tensor([[-10.0, 0.0]], dtype=dtype),
                            torch.tensor([[[10.0, 0.0]]], dtype=dtype))
        assert big.dtype == dtype and big.item() == pytest.approx(2000.0)


def test_skip_gram_updates_only_the_rows_used_with_sparse_adam() -> None:
    torch.manual_seed(0)
    model = ref.SkipGram(30, 4)
    before = [t.weight.detach().clone() for t in (model.in_embed, model.out_embed)]
    optimiser = torch.optim.SparseAdam(list(model.parameters()), lr=0.1)
    center, context = torch.tensor([1, 2, 1]), torch.tensor([3, 4, 5])
    negatives = torch.tensor([[6, 7], [8, 6], [9, 9]])
    model(center, context, negatives).backward()
    assert model.in_embed.weight.grad.is_sparse and model.out_embed.weight.grad.is_sparse
    optimiser.step()
    changed = [set(torch.nonzero((t.weight.detach() != b).any(1))[:, 0].tolist())
               for t, b in zip((model.in_embed, model.out_embed), before, strict=True)]
    assert changed[0] <= {1, 2} and changed[1] <= {3, 4, 5, 6, 7, 8, 9} and changed[1]


# ------------------------------------------------------------------------------------------------ the notebook


def test_solution_notebook_agrees_with_the_reference(solution: dict) -> None:
    gen = np.random.default_rng(5)
    for _ in range(10):
        E = gen.standard_normal((15, 4))
        B = gen.standard_normal((6, 4))
        np.testing.assert_allclose(solution["cosine_similarity"](E, B), ref.cosine_similarity(E, B), atol=1e-12)
        q, k = int(gen.integers(15)), int(gen.integers(0, 15))
        assert list(solution["nearest_neighbours"](E, q, k)) == ref.nearest_neighbours(E, q, k).tolist()
        a, b, c = (int(x) for x in gen.choice(15, 3, replace=False))
        for exclude in (True, False):
            assert list(solution["analogy"](E, a, b, c, 3, exclude)) == ref.analogy(E, a, b, c, 3, exclude).tolist()
        ids = gen.integers(0, 9, int(gen.integers(0, 12)))
        assert solution["skipgram_pairs"](ids, 2).tolist() == ref.skipgram_pairs(ids, 2).tolist()
        counts = gen.integers(0, 100, 8)
        counts[0] = 1
        np.testing.assert_allclose(solution["noise_distribution"](counts), ref.noise_distribution(counts))
    t = [torch.randn(*s, dtype=torch.float64) for s in ((5, 3), (5, 3), (5, 2, 3))]
    torch.testing.assert_close(solution["sgns_loss"](*t), ref.sgns_loss(*t))


def _quiet(fn: Callable[[], float]) -> tuple[float, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        score = fn()
    return score, out.getvalue()


@pytest.mark.parametrize("name", list(EXERCISES))
def test_hidden_tests_give_the_reference_full_marks(name: str) -> None:
    score, report = _quiet(lambda: getattr(hidden, f"grade_{name}")(getattr(ref, EXERCISES[name]), points=2))
    assert score == 2, report


@pytest.mark.parametrize("name", list(EXERCISES))
def test_hidden_tests_give_a_stub_zero_and_say_why(name: str) -> None:
    def stub(*args: object, **kwargs: object) -> None:
        raise NotImplementedError

    score, report = _quiet(lambda: getattr(hidden, f"grade_{name}")(stub, points=2))
    assert score == 0 and "not implemented yet" in report
