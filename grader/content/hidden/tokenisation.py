"""Hidden tests for notebook 07 (subword tokenisation).

Each ``grade_*`` function is called by the last line of a hidden test cell and checks the student's function against
:mod:`grader.content.reference.tokenisation` on small generated inputs and on the cases where real code goes wrong:
overlapping pairs (``[a, a, a]``), ties between pairs, pairs across pre-tokenisation chunks, the rank order of merges,
characters of several UTF-8 bytes split across ids, WordPiece's ``##`` and whole-word ``[UNK]``, and Unigram splits
that a greedy longest match misses. Inputs stay small: every mutant of the course is graded through nbgrader.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from grader.content.checks import brief, expect, expect_raises
from grader.content.properties import Property, call, rng, score
from grader.content.reference import tokenisation as ref

__all__ = ["PATTERN", "grade_decode", "grade_encode", "grade_get_pair_counts", "grade_merge_pair", "grade_train_bpe",
           "grade_unigram_segment", "grade_wordpiece_tokenize"]

# The notebook's pre-tokenisation pattern (GPT-2's, in the standard library's ``re``) and a plainer one.
PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+"""
WORDS = r"\w+|\s+|[^\w\s]+"

TEXTS = (
    "the cat sat on the mat; the cat ate the rat.",
    "aaabdaaabac",
    "low lower lowest newer newest wider widest",
    "naïve café: 3 crème brûlées, 12 €, ☕☕ — it's 'déjà vu'",
)


def _call(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return call(name, fn, *args, **kwargs)


def _shown(value: Any, limit: int = 300) -> str:
    return brief(value, limit)


def _random_ids(key: str, n: int, alphabet: int) -> list[int]:
    return [int(x) for x in rng("tokenisation", key, n, alphabet).integers(0, alphabet, size=n)]


def _as_dict(name: str, got: Any, where: str) -> dict:
    expect(isinstance(got, dict), f"{where} returned {_shown(got)}; expected a dict {{(a, b): ...}}.")
    bad = [k for k in got if type(k) is not tuple or len(k) != 2]
    expect(not bad, f"{where}: the key {bad[:1]} is not a pair; keys are tuples (a, b) of two ids.")
    return got


def _as_list(got: Any, where: str) -> list:
    expect(isinstance(got, (list, tuple)), f"{where} returned {_shown(got)}; expected a list.")
    return list(got)


# --------------------------------------------------------------------------------------------------
# get_pair_counts


def grade_get_pair_counts(get_pair_counts: Callable[..., Any], points: float) -> float:
    """Hidden tests for ``get_pair_counts(ids)``."""
    name = "get_pair_counts"

    def counts_match() -> None:
        for n, alphabet in ((12, 3), (30, 5), (2, 2), (25, 300)):
            ids = _random_ids("counts", n, alphabet)
            got = _as_dict(name, _call(name, get_pair_counts, list(ids)), f"{name}({ids})")
            expected = ref.get_pair_counts(ids)
            expect(dict(got) == expected, f"{name}({ids}) returned {_shown(dict(got))}; expected {_shown(expected)}.")

    def first_occurrence_order() -> None:
        for ids in ([5, 1, 5, 1, 2, 9, 5, 1], [1, 2, 3, 4, 3, 4, 3, 4], _random_ids("order", 20, 4)):
            got = _as_dict(name, _call(name, get_pair_counts, list(ids)), f"{name}({ids})")
            expected = list(ref.get_pair_counts(ids))
            expect(list(got) == expected, f"{name}({ids}) has its keys in the order {list(got)}; expected the "
                   f"order of first occurrence {expected} (training breaks ties by it: do not sort the keys).")

    def overlapping_runs() -> None:
        for ids, expected in (([7, 7, 7], {(7, 7): 2}), ([1, 1, 1, 1, 2], {(1, 1): 3, (1, 2): 1})):
            got = _as_dict(name, _call(name, get_pair_counts, list(ids)), f"{name}({ids})")
            expect(dict(got) == expected, f"{name}({ids}) returned {_shown(dict(got))}; expected {expected}: "
                   "count every adjacent position, overlapping ones too.")

    def short_inputs() -> None:
        for ids in ([], [42]):
            got = _call(name, get_pair_counts, list(ids))
            expect(isinstance(got, dict) and len(got) == 0, f"{name}({ids}) returned {_shown(got)}; expected {{}}: "
                   "fewer than two ids have no pair.")

    return score(name, [
        Property("counts every adjacent pair, on random ids (ids above 255 too)", counts_match),
        Property("keys in order of first occurrence", first_occurrence_order),
        Property("overlapping pairs counted: [7, 7, 7] has (7, 7) twice", overlapping_runs),
        Property("[] and a single id give {}", short_inputs),
    ], points)


# --------------------------------------------------------------------------------------------------
# merge_pair


def grade_merge_pair(merge_pair: Callable[..., Any], points: float) -> float:
    """Hidden tests for ``merge_pair(ids, pair, new_id)``."""
    name = "merge_pair"

    def check(ids: list[int], pair: tuple[int, int], new_id: int, hint: str = "") -> None:
        where = f"{name}({ids}, {pair}, {new_id})"
        got = _as_list(_call(name, merge_pair, list(ids), pair, new_id), where)
        expected = ref.merge_pair(ids, pair, new_id)
        expect(got == expected,
               f"{where} returned {_shown(got)}; expected {_shown(expected)}.{(' ' + hint) if hint else ''}")

    def matches_definition() -> None:
        for n, alphabet in ((15, 3), (30, 4), (8, 2)):
            ids = _random_ids("merge", n, alphabet)
            for pair in ((ids[0], ids[1]), (ids[-2], ids[-1]), (0, 1)):
                check(ids, pair, 256 + n)

    def overlapping_left_to_right() -> None:
        for ids in ([9, 9, 9], [9, 9, 9, 9], [9, 9, 9, 9, 9, 1, 9]):
            check(ids, (9, 9), 300, "Scan left to right and skip both ids of a match: [a, a, a] becomes [X, a].")

    def ends_and_absent() -> None:
        check([1, 2, 3, 1, 2], (1, 2), 256, "A pair at the very end is merged too.")
        check([1, 2, 3], (3, 1), 256, "A pair that does not occur leaves the ids as they are.")
        check([2, 1], (1, 2), 256, "The order inside a pair matters: (1, 2) is not (2, 1).")
        check([], (1, 2), 256)
        check([1], (1, 2), 256)

    def new_list_same_values() -> None:
        ids = [4, 5, 4, 5]
        got = _as_list(_call(name, merge_pair, list(ids), (4, 5), 261), f"{name}({ids}, (4, 5), 261)")
        expect(all(type(x) is int or hasattr(x, "__index__") for x in got),
               f"{name}({ids}, (4, 5), 261) returned {_shown(got)}; expected ids, ints.")
        expect(got == [261, 261], f"{name}({ids}, (4, 5), 261) returned {_shown(got)}; expected [261, 261].")

    return score(name, [
        Property("replaces every occurrence, on random ids and pairs", matches_definition),
        Property("overlapping occurrences: left to right, non-overlapping", overlapping_left_to_right),
        Property("a pair at the end, an absent or reversed pair, [] and one id", ends_and_absent),
        Property("returns a list of ids", new_list_same_values),
    ], points)


# --------------------------------------------------------------------------------------------------
# train_bpe


def _merges_message(where: str, got: dict, expected: dict) -> str:
    g, e = list(dict(got).items()), list(expected.items())
    first = next((i for i, (a, b) in enumerate(zip(g, e, strict=False)) if a != b), min(len(g), len(e)))
    return (f"{where}: merge {first} (new id {256 + first}) is {g[first] if first < len(g) else 'missing'}, "
            f"expected {e[first] if first < len(e) else 'no merge'} ({len(g)} merges, expected {len(e)}).")


def grade_train_bpe(train_bpe: Callable[..., Any], points: float) -> float:
    """Hidden tests for ``train_bpe(text, vocab_size, pattern=None)``."""
    name = "train_bpe"

    def check(text: str, vocab_size: int, pattern: str | None = None, hint: str = "") -> None:
        where = f"{name}({text[:40]!r}{'…' if len(text) > 40 else ''}, {vocab_size}" + (
            f", pattern={pattern!r})" if pattern else ")")
        args = (text, vocab_size) if pattern is None else (text, vocab_size, pattern)
        got = _as_dict(name, _call(name, train_bpe, *args), where)
        expected = ref.train_bpe(text, vocab_size, pattern)
        expect(list(dict(got).items()) == list(expected.items()),
               _merges_message(where, got, expected) + (f" {hint}" if hint else ""))

    def without_pattern() -> None:
        for text in TEXTS[:3]:
            check(text, 256 + 12)

    def ties_first_occurrence() -> None:
        check("abcd abcd", 259, hint="(a, b), (b, c) and (c, d) all occur twice: the tie goes to the pair seen first.")
        check("xyzyx zyxyz", 262, hint="Ties go to the pair that occurs first in the text.")

    def with_pattern() -> None:
        check(TEXTS[0], 256 + 15, PATTERN, hint="Count pairs within each chunk of re.findall(pattern, text) only.")
        check(TEXTS[2], 256 + 15, WORDS, hint="Count pairs within each chunk of re.findall(pattern, text) only.")

    def utf8_bytes() -> None:
        check(TEXTS[3], 256 + 10, hint="Train on text.encode('utf-8'): 'é' is the two bytes 195, 169.")

    def runs_out_of_pairs() -> None:
        for text, vocab_size in (("ab", 300), ("aaaa", 300), ("", 260), ("z", 260), ("hello", 256)):
            check(text, vocab_size, hint="Stop when no pair is left: fewer merges than vocab_size − 256.")

    def small_vocab_raises() -> None:
        for size in (255, 10):
            expect_raises(ValueError, train_bpe, ["some text", size], f"{name}('some text', {size})",
                          hint="vocab_size must be at least 256: the bytes need ids 0–255.")

    return score(name, [
        Property("learns the same merges in the same order as the definition, without a pattern", without_pattern),
        Property("a tie goes to the pair that occurs first", ties_first_occurrence),
        Property("with a pattern, no pair crosses two chunks", with_pattern),
        Property("trains on UTF-8 bytes (accents, €, ☕)", utf8_bytes),
        Property("returns fewer merges when no pair is left; vocab_size 256 gives {}", runs_out_of_pairs),
        Property("vocab_size below 256 raises ValueError", small_vocab_raises),
    ], points)


# --------------------------------------------------------------------------------------------------
# encode


def grade_encode(encode: Callable[..., Any], points: float) -> float:
    """Hidden tests for ``encode(text, merges, pattern=None)``."""
    name = "encode"
    trained = ref.train_bpe(TEXTS[0] + " " + TEXTS[2], 256 + 30)
    chunked = ref.train_bpe(TEXTS[0] + " " + TEXTS[2], 256 + 30, PATTERN)

    def check(text: str, merges: dict, pattern: str | None = None, hint: str = "") -> None:
        where = f"{name}({text!r}, <{len(merges)} merges>" + (f", pattern={pattern!r})" if pattern else ")")
        args = (text, dict(merges)) if pattern is None else (text, dict(merges), pattern)
        got = _as_list(_call(name, encode, *args), where)
        expected = ref.encode(text, merges, pattern)
        expect(got == expected, f"{where} returned {_shown(got)}; expected {_shown(expected)}."
               + (f" {hint}" if hint else ""))

    def trained_merges() -> None:
        for text in ("the cat sat on the mat", "the newest rat", "lowest wider cats"):
            check(text, trained)

    def rank_order() -> None:
        check("abc", {(98, 99): 256, (97, 98): 257}, hint="Apply the merge learned first (lowest new id) first, "
              "wherever it is — not the leftmost pair.")
        check("aaab", {(97, 97): 256, (256, 97): 257, (97, 98): 258}, hint="Apply merges until none applies.")
        check("abab", {(97, 98): 256, (256, 256): 257}, hint="A merge can build on an earlier one: loop until none "
              "applies.")

    def with_pattern() -> None:
        for text in ("the cat sat on the mat", "lowest wider cats!"):
            check(text, chunked, PATTERN, hint="Encode each chunk of re.findall(pattern, text) on its own.")
            check(text, trained, PATTERN, hint="Merges learned without a pattern cross words ('e' + ' '); with a "
                  "pattern, encode each chunk on its own, so they never apply across two chunks.")

    def utf8_and_empty() -> None:
        check("", trained, hint="No text, no ids.")
        check("crème ☕", trained, hint="Start from text.encode('utf-8'): one id per byte.")
        check("the cat", {}, hint="Without merges the ids are the bytes.")

    return score(name, [
        Property("gives the definition's ids with merges trained on other text", trained_merges),
        Property("applies merges by rank, again and again, until none applies", rank_order),
        Property("with a pattern, encodes each chunk on its own", with_pattern),
        Property("UTF-8 bytes; empty text; no merges", utf8_and_empty),
    ], points)


# --------------------------------------------------------------------------------------------------
# decode


def grade_decode(decode: Callable[..., Any], points: float) -> float:
    """Hidden tests for ``decode(ids, merges)``."""
    name = "decode"
    merges = ref.train_bpe(TEXTS[3] + " " + TEXTS[0], 256 + 40)

    def check(ids: list[int], merges: dict, hint: str = "") -> None:
        where = f"{name}({_shown(ids, 80)}, <{len(merges)} merges>)"
        got = _call(name, decode, list(ids), dict(merges))
        expected = ref.decode(ids, merges)
        expect(type(got) is str, f"{where} returned {_shown(got)}; expected a str.")
        expect(got == expected,
               f"{where} returned {_shown(got)}; expected {_shown(expected)}." + (f" {hint}" if hint else ""))

    def round_trip() -> None:
        for text in (TEXTS[3], "the rat sat", "déjà café ☕"):
            check(ref.encode(text, merges), merges, hint="decode(encode(text)) is the text.")

    def nested_merges() -> None:
        nested = {(97, 98): 256, (256, 99): 257, (257, 257): 258}
        check([258, 256, 100], nested, hint="An id made of ids: expand until only bytes are left (258 → 257 257 → "
              "…).")

    def split_characters() -> None:
        euro = list("€".encode())                    # 226, 130, 172
        split = {(226, 130): 256}                     # one id holds two of the three bytes of €
        check([256, 172], split, hint="Join all the bytes first, then decode: an id can be part of a character.")
        check([104, 195, 169, 104], {}, hint="Join the bytes, then decode them once.")
        check(euro, {})

    def invalid_bytes_replaced() -> None:
        for ids in ([226], [104, 226, 130], [255, 104, 105], [195, 40]):
            check(ids, {}, hint="Invalid UTF-8 becomes U+FFFD: bytes.decode('utf-8', errors='replace').")

    def empty() -> None:
        check([], merges)

    return score(name, [
        Property("decode(encode(text)) is text, accents and ☕ included", round_trip),
        Property("merges built on merges expand to their bytes", nested_merges),
        Property("a character split across ids comes back whole", split_characters),
        Property("invalid UTF-8 becomes U+FFFD (errors='replace')", invalid_bytes_replaced),
        Property("no ids give ''", empty),
    ], points)


# --------------------------------------------------------------------------------------------------
# wordpiece_tokenize


def grade_wordpiece_tokenize(wordpiece_tokenize: Callable[..., Any], points: float) -> float:
    """Hidden tests for ``wordpiece_tokenize(word, vocab, unk="[UNK]")``."""
    name = "wordpiece_tokenize"
    bert = {"un", "##aff", "##able", "play", "##ing", "##s", "##ed", "a", "##a", "##b", "is"}

    def check(word: str, vocab: Any, unk: str | None = None, hint: str = "") -> None:
        where = f"{name}({word!r}, <{len(vocab)} pieces>" + (f", unk={unk!r})" if unk else ")")
        args = (word, vocab) if unk is None else (word, vocab, unk)
        got = _as_list(_call(name, wordpiece_tokenize, *args), where)
        expected = ref.wordpiece_tokenize(word, vocab, *(() if unk is None else (unk,)))
        expect(got == expected,
               f"{where} returned {_shown(got)}; expected {_shown(expected)}." + (f" {hint}" if hint else ""))

    def bert_examples() -> None:
        for word in ("unaffable", "playing", "plays", "is", "a"):
            check(word, set(bert), hint="Pieces after the first are looked up as '##piece'.")

    def longest_first() -> None:
        vocab = {"a", "ab", "abc", "##c", "##cd", "##d", "##bcd", "b", "##b"}
        for word in ("abcd", "abd", "abcdd"):
            check(word, set(vocab), hint="At each position take the longest piece in the vocabulary.")

    def unknown_word() -> None:
        check("unplayable", set(bert), hint="If any part of the word matches nothing, the whole word is [unk].")
        check("xyz", set(bert), "<unk>", hint="Return [unk] with the unk given.")
        check("playx", set(bert), hint="One unknown part makes the whole word unknown.")

    def random_words() -> None:
        gen = rng("wordpiece", "random")
        letters = "abcd"
        pieces = {"".join(gen.choice(list(letters), size=int(k))) for k in gen.integers(1, 4, size=25)}
        vocab = {p if gen.random() < 0.5 else "##" + p for p in pieces} | set(letters) | {"##" + c for c in "abc"}
        for _ in range(6):
            word = "".join(gen.choice(list(letters), size=int(gen.integers(1, 8))))
            check(word, set(vocab))
        token_ids = {piece: i for i, piece in enumerate(sorted(vocab))}   # BERT's vocab.txt: piece -> id
        check("abcabd", token_ids, hint="vocab may be a dict piece -> id: look pieces up with `in`.")

    def empty_word() -> None:
        got = _as_list(_call(name, wordpiece_tokenize, "", set(bert)), f"{name}('', …)")
        expect(got == [], f"{name}('', …) returned {_shown(got)}; expected []: an empty word has no pieces.")

    return score(name, [
        Property("BERT's examples: un ##aff ##able, play ##ing", bert_examples),
        Property("greedy longest match first", longest_first),
        Property("a word with an unknown part is [unk], the unk given", unknown_word),
        Property("equals the definition on random words and vocabularies (a set or a dict)", random_words),
        Property("an empty word gives []", empty_word),
    ], points)


# --------------------------------------------------------------------------------------------------
# unigram_segment


def _random_log_probs(key: str, letters: str, n: int) -> dict[str, float]:
    gen = rng("unigram", key)
    pieces = set(letters) | {ref.SPACE}
    pieces |= {"".join(gen.choice(list(letters + ref.SPACE), size=int(k))) for k in gen.integers(2, 5, size=n)}
    return {p: float(-gen.uniform(1.0, 8.0)) for p in sorted(pieces)}


def grade_unigram_segment(unigram_segment: Callable[..., Any], points: float) -> float:
    """Hidden tests for ``unigram_segment(text, log_probs)``."""
    name = "unigram_segment"

    def total(pieces: list[str], log_probs: dict[str, float]) -> float:
        return sum(log_probs.get(p, -math.inf) for p in pieces)

    def check(text: str, log_probs: dict[str, float], hint: str = "") -> None:
        where = f"{name}({text!r}, <{len(log_probs)} pieces>)"
        got = _as_list(_call(name, unigram_segment, text, dict(log_probs)), where)
        expected = ref.unigram_segment(text, log_probs)
        s = ref.normalise(text)
        expect(all(type(p) is str for p in got) and "".join(got) == s,
               f"{where} returned {_shown(got)}, which joins to {_shown(''.join(p for p in got if type(p) is str))}; "
               f"the pieces must join to {s!r} "
               f"(▁ before the text and for every space).")
        # Another split of the same total is as right (['b', 'bb'] and ['bb', 'b'] tie): the total is what counts.
        best = total(expected, log_probs)
        expect(got == expected or math.isclose(total(got, log_probs), best, rel_tol=1e-12, abs_tol=1e-12),
               f"{where} returned {_shown(got)} (log-probability {total(got, log_probs):.3f}); the most "
               f"probable split is {expected} ({best:.3f})." + (f" {hint}" if hint else ""))

    def hand_example() -> None:
        log_probs = {ref.SPACE: -3.0, "▁h": -2.0, "▁he": -2.5, "h": -1.0, "e": -1.0, "l": -2.0, "o": -1.0,
                     "lo": -1.5, "llo": -2.0, "▁hell": -1.0, "▁hello": -9.0}
        check("hello", log_probs, hint="Maximise the sum of the pieces' log-probabilities over all splits.")

    def beats_greedy() -> None:
        log_probs = {ref.SPACE: -2.0, "▁a": -2.0, "▁ab": -1.0, "a": -3.0, "b": -3.0, "c": -3.0, "bc": -0.5,
                     "abc": -9.0, "▁abc": -8.0}
        check("abc", log_probs, hint="The longest first piece (▁ab) is not the best split: use Viterbi.")
        check("abc abc", log_probs)

    def random_texts() -> None:
        for key, letters in (("one", "abc"), ("two", "abcd")):
            log_probs = _random_log_probs(key, letters, 30)
            gen = rng("unigram", key, "texts")
            for _ in range(4):
                words = ["".join(gen.choice(list(letters), size=int(gen.integers(1, 6))))
                         for _ in range(int(gen.integers(1, 4)))]
                check(" ".join(words), log_probs)

    def spaces_as_markers() -> None:
        log_probs = {ref.SPACE: -1.0, "a": -1.0, "▁a": -0.5, "b": -1.0, "▁b": -3.0}
        check("a b", log_probs, hint="Every space becomes ▁, and one ▁ goes before the text (add_dummy_prefix).")
        check("ab  b", log_probs)

    def no_split_raises() -> None:
        log_probs = {ref.SPACE: -1.0, "a": -1.0, "b": -1.0}
        expect_raises(ValueError, unigram_segment, ["abz", log_probs], f"{name}('abz', <no piece for 'z'>)",
                      hint="No piece covers 'z': no segmentation exists.")

    return score(name, [
        Property("the most probable split of a hand-made example", hand_example),
        Property("beats a greedy longest match where it is wrong", beats_greedy),
        Property("the most probable split on random texts and log-probabilities", random_texts),
        Property("▁ before the text and for every space", spaces_as_markers),
        Property("a text no split covers raises ValueError", no_split_raises),
    ], points)


