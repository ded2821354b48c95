"""Reference for notebook 07: where the ids come from — byte-level BPE, WordPiece and Unigram segmentation.

Byte-level BPE (Sennrich, Haddow, Birch, ACL 2016, on characters; Radford et al. 2019, GPT-2, on UTF-8 bytes):
ids 0–255 are the bytes; training repeatedly counts the adjacent pairs of ids and replaces every non-overlapping
occurrence, left to right, of the most frequent one by a new id 256, 257, … (ties: the pair seen first — what
``max`` over a dict in insertion order gives, as in tiktoken's ``_educational.bpe_train``). With a pre-tokenisation
pattern the text is cut into ``re.findall`` chunks first and no pair crosses two chunks. Encoding applies the
learned merges by rank (the earliest learned first) until none applies; decoding joins the bytes and decodes UTF-8
with ``errors="replace"``.

WordPiece (Schuster & Nakajima 2012; BERT's ``WordpieceTokenizer``): greedy longest-match-first from the left, every
piece after the first written ``##piece``; a word with any part not in the vocabulary is the single unknown token.

Unigram (Kudo, ACL 2018; SentencePiece): a space is ``▁`` and one ``▁`` is put before the text (SentencePiece's
``add_dummy_prefix``); the segmentation is the one with the largest sum of the pieces' log-probabilities, found by
Viterbi over the end positions.
"""

from __future__ import annotations

import math
import re

__all__ = ["SPACE", "chunks", "decode", "encode", "get_pair_counts", "merge_pair", "train_bpe", "unigram_segment",
           "vocab_bytes", "wordpiece_tokenize"]

SPACE = "\u2581"   # ▁, SentencePiece's visible space


def get_pair_counts(ids: list[int]) -> dict[tuple[int, int], int]:
    """ids: sequence of ints -> {(a, b): how often b follows a}, keys in order of first occurrence."""
    counts: dict[tuple[int, int], int] = {}
    for i in range(len(ids) - 1):
        pair = (ids[i], ids[i + 1])
        counts[pair] = counts.get(pair, 0) + 1
    return counts


def merge_pair(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """A new list: every non-overlapping occurrence of ``pair``, scanned left to right, replaced by ``new_id``."""
    out: list[int] = []
    i = 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def chunks(text: str, pattern: str | None) -> list[str]:
    """The pre-tokenisation: ``re.findall(pattern, text)``, or the whole text as one chunk."""
    return [text] if pattern is None else re.findall(pattern, text)


def train_bpe(text: str, vocab_size: int, pattern: str | None = None) -> dict[tuple[int, int], int]:
    """{(left id, right id): new id}, new ids 256 … vocab_size − 1 in the order learned (fewer if no pair is left)."""
    if vocab_size < 256:
        raise ValueError(f"vocab_size must be at least 256 (one id per byte), got {vocab_size}")
    pieces = [list(chunk.encode("utf-8")) for chunk in chunks(text, pattern)]
    merges: dict[tuple[int, int], int] = {}
    for new_id in range(256, vocab_size):
        counts: dict[tuple[int, int], int] = {}
        for piece in pieces:
            for pair, n in get_pair_counts(piece).items():
                counts[pair] = counts.get(pair, 0) + n
        if not counts:
            break
        best = max(counts, key=counts.__getitem__)   # the first of the most frequent, in order of first occurrence
        merges[best] = new_id
        pieces = [merge_pair(piece, best, new_id) for piece in pieces]
    return merges


def encode(text: str, merges: dict[tuple[int, int], int], pattern: str | None = None) -> list[int]:
    """The ids of ``text``: per chunk, its UTF-8 bytes, then the applicable merge of lowest rank (new id) applied
    again and again until none applies."""
    out: list[int] = []
    for chunk in chunks(text, pattern):
        ids = list(chunk.encode("utf-8"))
        while len(ids) >= 2:
            pair = min(get_pair_counts(ids), key=lambda p: merges.get(p, math.inf))
            if pair not in merges:
                break
            ids = merge_pair(ids, pair, merges[pair])
        out.extend(ids)
    return out


def vocab_bytes(merges: dict[tuple[int, int], int]) -> dict[int, bytes]:
    """id -> the bytes it stands for: the 256 single bytes, then each merge's two parts joined."""
    vocab = {i: bytes([i]) for i in range(256)}
    for (a, b), new_id in sorted(merges.items(), key=lambda item: item[1]):
        vocab[new_id] = vocab[a] + vocab[b]
    return vocab


def decode(ids: list[int], merges: dict[tuple[int, int], int]) -> str:
    """The text of ``ids``: their bytes joined, decoded as UTF-8, an invalid sequence becoming U+FFFD."""
    vocab = vocab_bytes(merges)
    return b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace")


def wordpiece_tokenize(word: str, vocab, unk: str = "[UNK]") -> list[str]:
    """BERT's greedy longest-match-first: pieces of ``word`` in ``vocab`` (later ones as ``##piece``), or [unk]."""
    pieces: list[str] = []
    start = 0
    while start < len(word):
        end = len(word)
        found = None
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                found = piece
                break
            end -= 1
        if found is None:
            return [unk]
        pieces.append(found)
        start = end
    return pieces


def normalise(text: str) -> str:
    """SentencePiece's view of ``text``: ``▁`` before it and in place of every space."""
    return SPACE + text.replace(" ", SPACE)


def unigram_segment(text: str, log_probs: dict[str, float]) -> list[str]:
    """The pieces of ``normalise(text)`` whose log-probabilities have the largest sum (Viterbi).

    ``ValueError`` naming the position when some character is covered by no piece."""
    s = normalise(text)
    n = len(s)
    longest = max((len(p) for p in log_probs), default=0)
    best = [-math.inf] * (n + 1)
    back = [0] * (n + 1)
    best[0] = 0.0
    for end in range(1, n + 1):
        for start in range(max(0, end - longest), end):
            piece = s[start:end]
            if piece in log_probs and best[start] > -math.inf:
                score = best[start] + log_probs[piece]
                if score > best[end]:
                    best[end], back[end] = score, start
    if best[n] == -math.inf:
        reachable = max(i for i in range(n + 1) if best[i] > -math.inf)
        raise ValueError(f"no segmentation of {s!r}: no piece of log_probs goes on from position {reachable} "
                         f"({s[reachable]!r})")
    pieces: list[str] = []
    end = n
    while end > 0:
        pieces.append(s[back[end]:end])
        end = back[end]
    return pieces[::-1]
