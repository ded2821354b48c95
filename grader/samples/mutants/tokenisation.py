"""Mistakes for notebook 07 (subword tokenisation), at least four per exercise: the slips of from-scratch BPE code
(overlapping pairs, ties, pairs across chunks, merges applied by frequency instead of rank, ids decoded one by one)
and of WordPiece and Unigram (no ``##``, shortest match, greedy instead of Viterbi, no ``▁``)."""

from __future__ import annotations

from grader.samples.mutants import Mutant, maker

_m = maker("07_tokenisation")

_MERGE = '''
def merge_pair(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == tuple(pair):
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out
'''


def _train(select: str, chunks: str = "[text] if pattern is None else re.findall(pattern, text)",
           start: str = "list(chunk.encode('utf-8'))", stop: str = "vocab_size", check: bool = True) -> str:
    guard = '''    if vocab_size < 256:
        raise ValueError(f"vocab_size must be at least 256, got {vocab_size}")
''' if check else ""
    return f'''
def train_bpe(text, vocab_size, pattern=None):
{guard}    pieces = [{start} for chunk in ({chunks})]
    merges = {{}}
    for new_id in range(256, {stop}):
        counts = {{}}
        for piece in pieces:
            for pair, n in get_pair_counts(piece).items():
                counts[pair] = counts.get(pair, 0) + n
        if not counts:
            break
{select}
        merges[best] = new_id
        pieces = [merge_pair(piece, best, new_id) for piece in pieces]
    return merges
'''


def _encode(loop: str, start: str = "list(chunk.encode('utf-8'))",
            chunks: str = "[text] if pattern is None else re.findall(pattern, text)") -> str:
    return f'''
def encode(text, merges, pattern=None):
    out = []
    for chunk in ({chunks}):
        ids = {start}
{loop}
        out.extend(ids)
    return out
'''


_RANKED = '''        while len(ids) >= 2:
            pair = min(get_pair_counts(ids), key=lambda p: merges.get(p, math.inf))
            if pair not in merges:
                break
            ids = merge_pair(ids, pair, merges[pair])'''


def _decode(body: str) -> str:
    return '''
def decode(ids, merges):
    vocab = {i: bytes([i]) for i in range(256)}
    for (a, b), new_id in sorted(merges.items(), key=lambda item: item[1]):
        vocab[new_id] = vocab[a] + vocab[b]
''' + body


def _wordpiece(piece: str = 'word[start:end] if start == 0 else "##" + word[start:end]',
               lengths: str = "range(len(word), start, -1)", missing: str = "return [unk]") -> str:
    return f'''
def wordpiece_tokenize(word, vocab, unk="[UNK]"):
    pieces, start = [], 0
    while start < len(word):
        for end in {lengths}:
            piece = {piece}
            if piece in vocab:
                pieces.append(piece)
                start = end
                break
        else:
            {missing}
    return pieces
'''


def _viterbi(normalise: str = '"\\u2581" + text.replace(" ", "\\u2581")', score: str = "best[start] + log_probs[piece]",
             missing: str = 'raise ValueError(f"no segmentation of {s!r}")') -> str:
    return f'''
def unigram_segment(text, log_probs):
    s = {normalise}
    n = len(s)
    best, back = [-math.inf] * (n + 1), [0] * (n + 1)
    best[0] = 0.0
    for end in range(1, n + 1):
        for start in range(end):
            piece = s[start:end]
            if piece in log_probs and best[start] > -math.inf and {score} > best[end]:
                best[end], back[end] = {score}, start
    if best[n] == -math.inf:
        {missing}
    pieces, end = [], n
    while end > 0:
        pieces.append(s[back[end]:end])
        end = back[end]
    return pieces[::-1]
'''


MUTANTS: list[Mutant] = [
    # ---------------------------------------------------------------- get_pair_counts
    _m("pairs_skip_overlaps", "get_pair_counts", "steps past both ids of a repeated pair, so [7, 7, 7] counts (7, 7) once", '''
def get_pair_counts(ids):
    counts, i = {}, 0
    while i < len(ids) - 1:
        pair = (ids[i], ids[i + 1])
        counts[pair] = counts.get(pair, 0) + 1
        i += 2 if ids[i] == ids[i + 1] else 1
    return counts
''', ("get_pair_counts_visible", "get_pair_counts_hidden")),
    _m("pairs_sorted", "get_pair_counts", "returns the counts sorted by pair, losing the order of first occurrence", '''
def get_pair_counts(ids):
    counts = {}
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + 1
    return dict(sorted(counts.items()))
''', ("get_pair_counts_visible", "get_pair_counts_hidden")),
    _m("pairs_most_common_order", "get_pair_counts", "returns Counter.most_common(): ordered by count, not by first occurrence", '''
def get_pair_counts(ids):
    return dict(collections.Counter(zip(ids, ids[1:])).most_common())
'''),
    _m("pairs_miss_last", "get_pair_counts", "loops over range(len(ids) - 2): the last pair is never counted", '''
def get_pair_counts(ids):
    counts = {}
    for i in range(len(ids) - 2):
        pair = (ids[i], ids[i + 1])
        counts[pair] = counts.get(pair, 0) + 1
    return counts
''', ("get_pair_counts_visible", "get_pair_counts_hidden")),
    _m("pairs_seen_not_counted", "get_pair_counts", "records which pairs occur (a dict comprehension) but not how often", '''
def get_pair_counts(ids):
    return {pair: 1 for pair in zip(ids, ids[1:])}
''', ("get_pair_counts_visible", "get_pair_counts_hidden")),
    # ---------------------------------------------------------------- merge_pair
    _m("merge_overlapping", "merge_pair", "after a match moves on by one id, so [a, a, a] becomes [X, X, a]", '''
def merge_pair(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and (ids[i], ids[i + 1]) == tuple(pair):
            out.append(new_id)
        else:
            out.append(ids[i])
        i += 1
    return out
''', ("merge_pair_visible", "merge_pair_hidden")),
    _m("merge_either_order", "merge_pair", "matches the two ids as a set, so (2, 1) is merged as if it were (1, 2)", '''
def merge_pair(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and {ids[i], ids[i + 1]} == set(pair):
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out
''', ("merge_pair_visible", "merge_pair_hidden")),
    _m("merge_drops_last", "merge_pair", "loops while i < len(ids) - 1 and forgets the last id when it is not merged", '''
def merge_pair(ids, pair, new_id):
    out, i = [], 0
    while i < len(ids) - 1:
        if (ids[i], ids[i + 1]) == tuple(pair):
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out
''', ("merge_pair_visible", "merge_pair_hidden")),
    _m("merge_right_to_left", "merge_pair", "scans from the right: [a, a, a] becomes [a, X]", '''
def merge_pair(ids, pair, new_id):
    out, i = [], len(ids) - 1
    while i >= 0:
        if i >= 1 and (ids[i - 1], ids[i]) == tuple(pair):
            out.append(new_id)
            i -= 2
        else:
            out.append(ids[i])
            i -= 1
    return out[::-1]
''', ("merge_pair_visible", "merge_pair_hidden")),
    _m("merge_first_only", "merge_pair", "replaces only the first occurrence of the pair", '''
def merge_pair(ids, pair, new_id):
    for i in range(len(ids) - 1):
        if (ids[i], ids[i + 1]) == tuple(pair):
            return ids[:i] + [new_id] + ids[i + 2:]
    return list(ids)
''', ("merge_pair_visible", "merge_pair_hidden")),
    # ---------------------------------------------------------------- train_bpe
    _m("train_ties_last", "train_bpe", "keeps the best pair with >= in a loop: a tie goes to the pair seen last", _train('''
        best, top = None, 0
        for pair, n in counts.items():
            if n >= top:
                best, top = pair, n'''), ("train_bpe_visible", "train_bpe_hidden")),
    _m("train_ties_smallest", "train_bpe", "breaks ties by the smaller pair (max over (count, -pair)), not by first occurrence", _train('''
        best = min(counts, key=lambda p: (-counts[p], p))'''), ("train_bpe_hidden",)),
    _m("train_across_chunks", "train_bpe", "joins the chunks back together before counting: pairs cross word boundaries", _train('''
        best = max(counts, key=counts.get)''', chunks="[text] if pattern is None else [''.join(re.findall(pattern, text))]"),
       ("train_bpe_visible", "train_bpe_hidden")),
    _m("train_one_too_many", "train_bpe", "loops to vocab_size + 1: one merge more than the vocabulary has room for", _train('''
        best = max(counts, key=counts.get)''', stop="vocab_size + 1"), ("train_bpe_visible", "train_bpe_hidden")),
    _m("train_code_points", "train_bpe", "starts from ord() of each character, not the UTF-8 bytes (é is 233, € is 8364)", _train('''
        best = max(counts, key=counts.get)''', start="[ord(c) for c in chunk]")),
    _m("train_no_check", "train_bpe", "never checks vocab_size: 100 returns {} instead of raising", _train('''
        best = max(counts, key=counts.get)''', check=False), ("train_bpe_visible", "train_bpe_hidden")),
    # ---------------------------------------------------------------- encode
    _m("encode_most_frequent", "encode", "merges the most frequent pair of the text, as in training, instead of the lowest rank", _encode('''
        while len(ids) >= 2:
            counts = {p: n for p, n in get_pair_counts(ids).items() if p in merges}
            if not counts:
                break
            pair = max(counts, key=counts.get)
            ids = merge_pair(ids, pair, merges[pair])'''), ("encode_visible", "encode_hidden")),
    _m("encode_leftmost", "encode", "merges the leftmost pair that has a merge, whatever its rank", _encode('''
        while True:
            pair = next((p for p in zip(ids, ids[1:]) if p in merges), None)
            if pair is None:
                break
            ids = merge_pair(ids, pair, merges[pair])'''), ("encode_visible", "encode_hidden")),
    _m("encode_one_pass", "encode", "merges the pairs of the bytes once, never the pairs that merges create", _encode('''
        for pair in sorted(set(zip(ids, ids[1:])), key=lambda p: merges.get(p, math.inf)):
            if pair in merges:
                ids = merge_pair(ids, pair, merges[pair])'''), ("encode_visible", "encode_hidden")),
    _m("encode_ignores_pattern", "encode", "encodes the whole text as one chunk even when a pattern is given", _encode(
        _RANKED, chunks="[text]"), ("encode_visible", "encode_hidden")),
    _m("encode_highest_rank", "encode", "applies the merge learned last first (max instead of min)", _encode('''
        while True:
            usable = [p for p in get_pair_counts(ids) if p in merges]
            if not usable:
                break
            pair = max(usable, key=merges.get)
            ids = merge_pair(ids, pair, merges[pair])'''), ("encode_visible", "encode_hidden")),
    _m("encode_code_points", "encode", "starts from ord() of each character, not the UTF-8 bytes", _encode(
        _RANKED, start="[ord(c) for c in chunk]"), ("encode_visible", "encode_hidden")),
    # ---------------------------------------------------------------- decode
    _m("decode_each_id", "decode", "decodes each id on its own and joins the strings: a split character becomes two �", _decode('''
    return "".join(vocab[i].decode("utf-8", errors="replace") for i in ids)
'''), ("decode_visible", "decode_hidden")),
    _m("decode_strict", "decode", "decodes with the default errors='strict': invalid UTF-8 raises", _decode('''
    return b"".join(vocab[i] for i in ids).decode("utf-8")
'''), ("decode_visible", "decode_hidden")),
    _m("decode_ignore", "decode", "decodes with errors='ignore': invalid bytes vanish instead of becoming U+FFFD", _decode('''
    return b"".join(vocab[i] for i in ids).decode("utf-8", errors="ignore")
'''), ("decode_visible", "decode_hidden")),
    _m("decode_latin1", "decode", "decodes the bytes as Latin-1: é comes back as Ã©", _decode('''
    return b"".join(vocab[i] for i in ids).decode("latin-1")
'''), ("decode_visible", "decode_hidden")),
    _m("decode_one_level", "decode", "treats both parts of a merge as bytes (bytes([a, b])): merges of merges fail", '''
def decode(ids, merges):
    vocab = {i: bytes([i]) for i in range(256)}
    for (a, b), new_id in merges.items():
        vocab[new_id] = bytes([a % 256, b % 256])
    return b"".join(vocab[i] for i in ids).decode("utf-8", errors="replace")
''', ("decode_visible", "decode_hidden")),
    # ---------------------------------------------------------------- wordpiece_tokenize
    _m("wordpiece_no_hashes", "wordpiece_tokenize", "looks continuation pieces up without the ## prefix", _wordpiece(
        piece="word[start:end]"), ("wordpiece_tokenize_visible", "wordpiece_tokenize_hidden")),
    _m("wordpiece_shortest_first", "wordpiece_tokenize", "tries the shortest piece first", _wordpiece(
        lengths="range(start + 1, len(word) + 1)"), ("wordpiece_tokenize_visible", "wordpiece_tokenize_hidden")),
    _m("wordpiece_partial_unk", "wordpiece_tokenize", "writes [UNK] for the unknown character and goes on, instead of the whole word", _wordpiece(
        missing="pieces.append(unk)\n            start += 1"), ("wordpiece_tokenize_visible", "wordpiece_tokenize_hidden")),
    _m("wordpiece_hashes_first", "wordpiece_tokenize", "puts ## in front of every piece, the first one too", _wordpiece(
        piece='"##" + word[start:end]'), ("wordpiece_tokenize_visible", "wordpiece_tokenize_hidden")),
    _m("wordpiece_fixed_unk", "wordpiece_tokenize", "always returns ['[UNK]'], ignoring the unk argument", _wordpiece(
        missing='return ["[UNK]"]'), ("wordpiece_tokenize_visible", "wordpiece_tokenize_hidden")),
    # ---------------------------------------------------------------- unigram_segment
    _m("unigram_greedy", "unigram_segment", "takes the longest piece at each position (WordPiece's greedy match), not the most probable split", '''
def unigram_segment(text, log_probs):
    s = "\\u2581" + text.replace(" ", "\\u2581")
    pieces, start = [], 0
    while start < len(s):
        for end in range(len(s), start, -1):
            if s[start:end] in log_probs:
                pieces.append(s[start:end])
                start = end
                break
        else:
            raise ValueError(f"no piece covers {s[start]!r}")
    return pieces
''', ("unigram_segment_visible", "unigram_segment_hidden")),
    _m("unigram_no_prefix", "unigram_segment", "replaces the spaces by ▁ but puts no ▁ in front of the text", _viterbi(
        normalise='text.replace(" ", "\\u2581")'), ("unigram_segment_visible", "unigram_segment_hidden")),
    _m("unigram_keeps_spaces", "unigram_segment", "puts ▁ in front but leaves the spaces as spaces", _viterbi(
        normalise='"\\u2581" + text'), ("unigram_segment_visible", "unigram_segment_hidden")),
    _m("unigram_fewest_pieces", "unigram_segment", "minimises the number of pieces and ignores their probabilities", _viterbi(
        score="best[start] - 1"), ("unigram_segment_visible", "unigram_segment_hidden")),
    _m("unigram_adds_probabilities", "unigram_segment", "adds the pieces' probabilities (exp) instead of their log-probabilities", _viterbi(
        score="best[start] + math.exp(log_probs[piece])")),
    _m("unigram_no_error", "unigram_segment", "returns [] when no segmentation exists instead of raising", _viterbi(
        missing="return []"), ("unigram_segment_visible", "unigram_segment_hidden")),
]
