"""Notebook 07's references hold to an implementation this project did not write — tiktoken's pure-Python trainer
``tiktoken._educational.bpe_train`` and a ``tiktoken.Encoding`` built from the same ranks (neither downloads
anything) — and to their definitions on generated inputs; the solution notebook agrees with them, and the hidden
tests give the reference full marks and a stub nothing."""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import math
from collections.abc import Callable
from pydoc_data.topics import topics

import pytest
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st
from tiktoken import _educational

from grader.content.hidden import tokenisation as hidden
from grader.content.reference import tokenisation as ref
from grader.project import SOLUTIONS
from tests.helpers import solution_namespace

SETTINGS = settings(max_examples=40, deadline=None)
PATTERN = hidden.PATTERN
EXERCISES = ("get_pair_counts", "merge_pair", "train_bpe", "encode", "decode", "wordpiece_tokenize", "unigram_segment")
# Text that ships with Python (the help topics), as in the notebook's experiment: a slice to train on, another held out.
TOPICS = "".join(topics[k] for k in sorted(topics))
TRAIN = TOPICS[:6000]
HELD_OUT = TOPICS[-1500:]


@functools.cache
def _trained(vocab_size: int) -> dict[tuple[int, int], int]:
    return ref.train_bpe(TRAIN[:1500], vocab_size, PATTERN)


@pytest.fixture(scope="module")
def solution() -> dict:
    return solution_namespace(SOLUTIONS / "07_tokenisation" / "07_tokenisation.ipynb")


def _ranks(merges: dict[tuple[int, int], int]) -> dict[bytes, int]:
    vocab = ref.vocab_bytes(merges)
    assert len(set(vocab.values())) == len(vocab), "two ids spell the same bytes: tiktoken would merge them into one"
    return {b: i for i, b in vocab.items()}


@pytest.mark.parametrize("vocab_size", [256, 300, 500])
def test_train_bpe_learns_tiktokens_educational_merges(vocab_size: int) -> None:
    """tiktoken's trainer: regex.findall(pat_str) chunks, Counter of pairs, max(stats, key=stats.get) — the same
    tie rule (the pair seen first). It works on byte strings, ours on ids: equal while no two ids spell the same bytes
    (checked)."""
    with contextlib.redirect_stdout(io.StringIO()):
        theirs = _educational.bpe_train(TRAIN, vocab_size, PATTERN, visualise=None)
    ours = _ranks(ref.train_bpe(TRAIN, vocab_size, PATTERN))
    assert list(ours.items()) == sorted(theirs.items(), key=lambda item: item[1])


def test_encode_and_decode_match_a_tiktoken_encoding_of_the_same_ranks() -> None:
    merges = ref.train_bpe(TRAIN, 500, PATTERN)
    enc = tiktoken.Encoding("notebook-07", pat_str=PATTERN, mergeable_ranks=_ranks(merges), special_tokens={})
    for text in (HELD_OUT, TRAIN[:200], "naïve café ☕ 12 €", ""):
        ids = ref.encode(text, merges, PATTERN)
        assert ids == enc.encode_ordinary(text), text
        assert ref.decode(ids, merges) == enc.decode(ids) == text
    half = ref.encode("☕", {})[:2]
    assert ref.decode(half, merges) == enc.decode(half) == "\ufffd", "both replace a broken character"


def test_the_notebooks_pattern_splits_like_the_regex_module_on_its_texts() -> None:
    """The notebook writes GPT-2's pattern for the standard library's re; on these texts regex (tiktoken's engine in
    Python) cuts the same chunks."""
    import re

    import regex

    for text in (TRAIN, HELD_OUT, "The dog's 3 toys   cost 12.50€ — it'll chase them!\n\n  x_y"):
        assert re.findall(PATTERN, text) == regex.findall(PATTERN, text)


@SETTINGS
@given(st.text(max_size=60), st.sampled_from([256, 280, 320]))
def test_decode_inverts_encode_on_any_text(text: str, vocab_size: int) -> None:
    merges = _trained(vocab_size)
    assert ref.decode(ref.encode(text, merges, PATTERN), merges) == text
    assert ref.decode(ref.encode(text, merges), merges) == text


@SETTINGS
@given(st.lists(st.integers(0, 4), max_size=30), st.integers(0, 4), st.integers(0, 4))
def test_merge_pair_removes_every_occurrence_it_can(ids: list[int], a: int, b: int) -> None:
    merged = ref.merge_pair(ids, (a, b), 99)
    assert len(merged) == len(ids) - merged.count(99)
    assert (a, b) not in ref.get_pair_counts(merged) or a == b, "only a run such as a a a can leave the pair behind"
    assert sum(ref.get_pair_counts(ids).values()) == max(len(ids) - 1, 0)


def _all_splits(s: str, pieces: dict[str, float]) -> list[list[str]]:
    if not s:
        return [[]]
    return [[s[:k], *rest] for k in range(1, len(s) + 1) if s[:k] in pieces for rest in _all_splits(s[k:], pieces)]


@SETTINGS
@given(st.text(alphabet="ab ", min_size=0, max_size=7), st.integers(0, 2**32 - 1))
def test_unigram_segment_is_the_best_of_all_splits(text: str, seed: int) -> None:
    import random

    gen = random.Random(seed)
    pieces = {"".join(p) for k in (1, 2, 3) for p in itertools.product("ab" + ref.SPACE, repeat=k)}
    log_probs = {p: -gen.uniform(0.5, 6.0) for p in pieces if len(p) == 1 or gen.random() < 0.5}
    best = max(sum(log_probs[p] for p in split) for split in _all_splits(ref.normalise(text), log_probs))
    got = ref.unigram_segment(text, log_probs)
    assert "".join(got) == ref.normalise(text)
    assert math.isclose(sum(log_probs[p] for p in got), best, rel_tol=1e-12, abs_tol=1e-12)


@SETTINGS
@given(st.text(alphabet="abcd", max_size=8), st.sets(st.text(alphabet="abcd", min_size=1, max_size=3), max_size=12))
def test_wordpiece_pieces_rebuild_the_word_or_it_is_unknown(word: str, pieces: set[str]) -> None:
    vocab = pieces | {"##" + p for p in pieces if len(p) < 3}
    got = ref.wordpiece_tokenize(word, vocab)
    assert got == ["[UNK]"] or "".join(p.removeprefix("##") for p in got) == word
    assert all(p in vocab for p in got) or got == ["[UNK]"]
    assert all(p.startswith("##") for p in got[1:]) and not (got and got[0].startswith("##"))


@SETTINGS
@given(st.text(alphabet="ab é", max_size=40), st.integers(256, 280))
def test_solution_notebook_agrees_with_the_reference(solution: dict, text: str, vocab_size: int) -> None:
    merges = ref.train_bpe(text, vocab_size, PATTERN)
    assert list(solution["train_bpe"](text, vocab_size, PATTERN).items()) == list(merges.items())
    assert solution["encode"](text, merges, PATTERN) == ref.encode(text, merges, PATTERN)
    ids = ref.encode(text, merges)
    assert solution["decode"](ids, merges) == ref.decode(ids, merges)
    assert list(solution["get_pair_counts"](ids).items()) == list(ref.get_pair_counts(ids).items())


def _quiet(fn):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        return fn(), out.getvalue()


@pytest.mark.parametrize("name", EXERCISES)
def test_hidden_tests_give_the_reference_full_marks(name: str) -> None:
    score, report = _quiet(lambda: getattr(hidden, f"grade_{name}")(getattr(ref, name), points=2))
    assert score == 2, report


@pytest.mark.parametrize("name", EXERCISES)
def test_hidden_tests_give_a_stub_zero_and_say_why(name: str) -> None:
    def stub(*args: object, **kwargs: object) -> None:
        raise NotImplementedError

    score, report = _quiet(lambda: getattr(hidden, f"grade_{name}")(stub, points=2))
    assert score == 0 and "not implemented yet" in report


@functools.cache
def _fast_trainer() -> Callable[[str, int, str], dict[tuple[int, int], int]]:
    """The experiment's train_bpe_fast, read from the solution notebook's experiment cell (its function only)."""
    import ast
    import collections
    import heapq
    import re

    import nbformat

    nb = nbformat.read(str(SOLUTIONS / "07_tokenisation" / "07_tokenisation.ipynb"), as_version=4)
    cell = next(c for c in nb.cells if c.get("id") == "experiment")
    only_defs = ast.Module([n for n in ast.parse(cell.source).body if isinstance(n, ast.FunctionDef)], type_ignores=[])
    namespace = {"collections": collections, "heapq": heapq, "re": re, "merge_pair": ref.merge_pair}
    exec(compile(only_defs, "<07:experiment>", "exec"), namespace)
    return namespace["train_bpe_fast"]


def test_the_experiments_fast_trainer_learns_exactly_train_bpes_merges() -> None:
    """The experiment trains with incremental counts and a heap; its tie rule must be max()'s over fresh counts."""
    for text, vocab_size in ((TRAIN, 500), (TOPICS[20_000:26_000], 400), ("abab cdcd abab", 300)):
        fast = _fast_trainer()(text, vocab_size, PATTERN)
        assert list(fast.items()) == list(ref.train_bpe(text, vocab_size, PATTERN).items())


@pytest.mark.parametrize("vocab_size", [512, 1024])
def test_compression_matches_hugging_face_tokenizers_bpe_on_the_same_text(vocab_size: int) -> None:
    """HF tokenizers' byte-level BPE (GPT-2's pre-tokeniser, its own Rust trainer and tie rule), trained on the same
    text to the same size, compresses held-out text to within 3% of the notebook's BPE."""
    import re

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    train, held = TOPICS[:60_000], TOPICS[-8_000:]
    words = sum(1 for w in re.findall(PATTERN, held) if w.strip())
    merges = _fast_trainer()(train, vocab_size, PATTERN)
    ours = len(ref.encode(held, merges, PATTERN)) / words
    hf = Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.train_from_iterator([train], trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    assert hf.get_vocab_size() == vocab_size
    theirs = len(hf.encode(held).ids) / words
    assert abs(ours - theirs) <= 0.03 * theirs, f"tokens per word: ours {ours:.3f}, HF tokenizers {theirs:.3f}"
