"""Correct variants for notebook 07 (subword tokenisation), at least two per exercise: Counter and defaultdict,
most_common(1) for the best pair, every merge replayed once in rank order, recursive byte expansion, a forward
("relaxing") Viterbi and a memoised recursion from the end."""

from __future__ import annotations

from grader.samples.variants import Variant, maker

_v = maker("07_tokenisation")

VARIANTS: list[Variant] = [
    # ---------------------------------------------------------------- get_pair_counts
    _v("pairs_counter", "get_pair_counts", "collections.Counter over zip(ids, ids[1:]): a dict subclass, in order of "
       "first occurrence", '''
def get_pair_counts(ids):
    return collections.Counter(zip(ids, ids[1:]))
'''),
    _v("pairs_defaultdict", "get_pair_counts", "a defaultdict(int) filled by index", '''
def get_pair_counts(ids):
    counts = collections.defaultdict(int)
    for i in range(len(ids) - 1):
        counts[ids[i], ids[i + 1]] += 1
    return counts
'''),
    # ---------------------------------------------------------------- merge_pair
    _v("merge_skip_flag", "merge_pair", "a for loop with a flag that skips the second id of a match", '''
def merge_pair(ids, pair, new_id):
    a, b = pair
    out, skip = [], False
    for i, x in enumerate(ids):
        if skip:
            skip = False
        elif x == a and i + 1 < len(ids) and ids[i + 1] == b:
            out.append(new_id)
            skip = True
        else:
            out.append(x)
    return out
'''),
    _v("merge_list_pair", "merge_pair", "compares slices with the pair as a list, copies the input first", '''
def merge_pair(ids, pair, new_id):
    ids, out, i = list(ids), [], 0
    while i < len(ids):
        if ids[i:i + 2] == list(pair):
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out
'''),
    # ---------------------------------------------------------------- train_bpe
    _v("train_most_common", "train_bpe", "a Counter of pairs over all chunks and most_common(1) (stable: the first of "
       "equal counts); its own error message", '''
def train_bpe(text, vocab_size, pattern=None):
    if vocab_size < 256:
        raise ValueError(f"need vocab_size >= 256 for the 256 byte ids; got {vocab_size}")
    chunks = re.findall(pattern, text) if pattern else [text]
    pieces = [list(c.encode("utf-8")) for c in chunks]
    merges = {}
    while 256 + len(merges) < vocab_size:
        counts = collections.Counter()
        for piece in pieces:
            counts.update(zip(piece, piece[1:]))
        if not counts:
            break
        (best, _), = counts.most_common(1)
        new_id = 256 + len(merges)
        merges[best] = new_id
        pieces = [merge_pair(p, best, new_id) for p in pieces]
    return merges
'''),
    _v("train_stable_sort", "train_bpe", "one list of ids per chunk, counted with get_pair_counts on each, best pair by a "
       "stable sort on the count", '''
def train_bpe(text, vocab_size, pattern=None):
    if vocab_size < 256:
        raise ValueError("vocab_size < 256")
    pieces = [list(bytes(c, "utf-8")) for c in ([text] if pattern is None else re.findall(pattern, text))]
    merges = {}
    for k in range(vocab_size - 256):
        totals = {}
        for piece in pieces:
            for pair, n in get_pair_counts(piece).items():
                totals[pair] = totals.get(pair, 0) + n
        if not totals:
            return merges
        best = sorted(totals.items(), key=lambda kv: kv[1], reverse=True)[0][0]
        merges[best] = 256 + k
        pieces = [merge_pair(piece, best, 256 + k) for piece in pieces]
    return merges
'''),
    # ---------------------------------------------------------------- encode
    _v("encode_replay_in_rank_order", "encode", "replays every merge once, in the order of the new ids (the ranks "
       "applied only ever go up, so this is the same)", '''
def encode(text, merges, pattern=None):
    ranked = sorted(merges.items(), key=lambda item: item[1])
    out = []
    for chunk in ([text] if pattern is None else re.findall(pattern, text)):
        ids = list(chunk.encode("utf-8"))
        for pair, new_id in ranked:
            if len(ids) < 2:
                break
            ids = merge_pair(ids, pair, new_id)
        out += ids
    return out
'''),
    _v("encode_rank_scan", "encode", "finds the lowest-ranked pair by scanning the positions, minbpe style", '''
def encode(text, merges, pattern=None):
    chunks = re.findall(pattern, text) if pattern is not None else [text]
    out = []
    for chunk in chunks:
        ids = list(chunk.encode())
        while True:
            ranks = [(merges[p], p) for p in zip(ids, ids[1:]) if p in merges]
            if not ranks:
                break
            rank, pair = min(ranks)
            ids = merge_pair(ids, pair, rank)
        out.extend(ids)
    return out
'''),
    # ---------------------------------------------------------------- decode
    _v("decode_recursive", "decode", "expands each id recursively through the inverted merges", '''
def decode(ids, merges):
    parts = {new_id: pair for pair, new_id in merges.items()}

    def expand(i):
        if i < 256:
            return bytes([i])
        a, b = parts[i]
        return expand(a) + expand(b)

    return b"".join(expand(i) for i in ids).decode("utf-8", "replace")
'''),
    _v("decode_bytearray", "decode", "a bytearray extended id by id, the table built in insertion order of merges", '''
def decode(ids, merges):
    table = [bytes([i]) for i in range(256)] + [b""] * len(merges)
    for (a, b), new_id in merges.items():
        table[new_id] = table[a] + table[b]
    data = bytearray()
    for i in ids:
        data += table[i]
    return bytes(data).decode(encoding="utf-8", errors="replace")
'''),
    # ---------------------------------------------------------------- wordpiece_tokenize
    _v("wordpiece_recursive", "wordpiece_tokenize", "recursion on the rest of the word, None for no match", '''
def wordpiece_tokenize(word, vocab, unk="[UNK]"):
    def split(rest, prefix):
        if not rest:
            return []
        for end in range(len(rest), 0, -1):
            if prefix + rest[:end] in vocab:
                tail = split(rest[end:], "##")
                return None if tail is None else [prefix + rest[:end]] + tail
        return None

    pieces = split(word, "")
    return [unk] if pieces is None else pieces
'''),
    _v("wordpiece_bert_loop", "wordpiece_tokenize", "google-research/bert's loop: cur_substr and an is_bad flag", '''
def wordpiece_tokenize(word, vocab, unk="[UNK]"):
    chars = list(word)
    is_bad, start, sub_tokens = False, 0, []
    while start < len(chars):
        end = len(chars)
        cur_substr = None
        while start < end:
            substr = "".join(chars[start:end])
            if start > 0:
                substr = "##" + substr
            if substr in vocab:
                cur_substr = substr
                break
            end -= 1
        if cur_substr is None:
            is_bad = True
            break
        sub_tokens.append(cur_substr)
        start = end
    return [unk] if is_bad else sub_tokens
'''),
    # ---------------------------------------------------------------- unigram_segment
    _v("unigram_forward_relax", "unigram_segment", "relaxes forward from each reachable position over the pieces that "
       "start there, keeping the best list of pieces", '''
def unigram_segment(text, log_probs):
    s = "\u2581" + text.replace(" ", "\u2581")
    best = {0: (0.0, [])}
    for start in range(len(s)):
        if start not in best:
            continue
        score, pieces = best[start]
        for piece, lp in log_probs.items():
            if piece and s.startswith(piece, start):
                end = start + len(piece)
                if end not in best or score + lp > best[end][0]:
                    best[end] = (score + lp, pieces + [piece])
    if len(s) not in best:
        raise ValueError(f"cannot segment {s!r} with these pieces")
    return best[len(s)][1]
'''),
    _v("unigram_memoised", "unigram_segment", "a memoised recursion from each position to the end (functools.lru_cache)",
       '''
import functools


def unigram_segment(text, log_probs):
    s = "\u2581" + text.replace(" ", "\u2581")

    @functools.lru_cache(maxsize=None)
    def best_from(i):
        if i == len(s):
            return 0.0, ()
        options = [(log_probs[s[i:j]] + best_from(j)[0], (s[i:j],) + best_from(j)[1])
                   for j in range(i + 1, len(s) + 1) if s[i:j] in log_probs and best_from(j)[0] > -math.inf]
        return max(options) if options else (-math.inf, ())

    score, pieces = best_from(0)
    if score == -math.inf:
        raise ValueError("no segmentation")
    return list(pieces)
'''),
]
