"""Submissions that look alike: winnowed token fingerprints per module, starter and common code left out.

Each module of each submission becomes a sequence of Python tokens with every local name, string and
number replaced by a placeholder (a renamed variable changes nothing; attribute names and keywords
stay), hashed in overlapping k-grams and winnowed (Schleimer, Wilkerson and Aiken, SIGMOD 2003: the
smallest hash of every window, so that any match of at least ``k + window - 1`` tokens is seen). A
fingerprint counts for nothing when it is in the starter code (the stub, provided files) or in more
than ``common`` of the class's copies of the module (MOSS's rule: code most of the class shares is no
evidence that two learners copied). Fingerprints are a set, so reordered functions match too. Pairs
come from an inverted index (fingerprint → submissions), so a class costs what its shared code costs,
not n² comparisons. A score is a reason to look, never a verdict.
"""

from __future__ import annotations

import hashlib
import io
import keyword
import re
import tokenize
from collections import Counter
from dataclasses import dataclass, field
from itertools import combinations

K = 12  # tokens per k-gram: shorter matches are noise
WINDOW = 8  # any match of K + WINDOW - 1 = 19 tokens or more is certain to be seen
THRESHOLD = 0.5  # flagged: at least half of the smaller side's own fingerprints are in the other
MIN_SHARED = 20  # ...and at least this many shared: about a dozen lines of own code (a short answer
# written alike, or two learners deleting the same docstring, is no evidence)
COMMON = 0.2  # a fingerprint in more than this share of the class's copies of a module (and in more than
COMMON_FLOOR = 3  # three) is common code: the class shares it, two learners did not copy it from each other
_FALLBACK = re.compile(r"\w+|[^\s\w]")
_KEPT = {"torch", "np", "numpy", "F", "nn", "math", "self", "True", "False", "None"}


@dataclass
class Fingerprint:
    """One submission's copy of one module: its text, token spans and winnowed fingerprints."""

    source: str
    spans: list[tuple[int, int]] = field(default_factory=list)  # each token's (start, end) offsets
    prints: dict[int, list[int]] = field(default_factory=dict)  # hash -> token indices where it starts


def tokens(source: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Normalised tokens and their character spans; code that does not tokenize falls back to words."""
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    kinds: list[str] = []
    spans: list[tuple[int, int]] = []
    try:
        previous = ""
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER):
                continue
            if tok.type == tokenize.NAME:
                kind = tok.string if keyword.iskeyword(tok.string) or previous == "." or tok.string in _KEPT else "V"
            elif tok.type == tokenize.STRING or tok.type == getattr(tokenize, "FSTRING_START", -1):
                kind = "S"
            elif tok.type == tokenize.NUMBER:
                kind = "N"
            elif tok.type == tokenize.NEWLINE:
                kind = ";"
            elif tok.type == tokenize.INDENT:
                kind = "{"
            elif tok.type == tokenize.DEDENT:
                kind = "}"
            else:
                kind = tok.string
            previous = tok.string
            start = starts[tok.start[0] - 1] + tok.start[1] if tok.start[0] <= len(starts) - 1 else len(source)
            end = starts[tok.end[0] - 1] + tok.end[1] if tok.end[0] <= len(starts) - 1 else len(source)
            kinds.append(kind)
            spans.append((start, end))
    except (tokenize.TokenError, IndentationError, SyntaxError):  # not Python: compare its words
        kinds = [
            "V" if m.group().isidentifier() and not keyword.iskeyword(m.group()) else m.group()
            for m in _FALLBACK.finditer(source)
        ]
        spans = [m.span() for m in _FALLBACK.finditer(source)]
    return kinds, spans


def _stable_hash(gram: tuple[str, ...]) -> int:
    return int.from_bytes(hashlib.blake2b("\x1f".join(gram).encode(), digest_size=8).digest(), "big")


def fingerprint(source: str, k: int = K, window: int = WINDOW) -> Fingerprint:
    """The winnowed k-gram hashes of ``source`` with where each occurs (token index)."""
    kinds, spans = tokens(source)
    hashes = [_stable_hash(tuple(kinds[i : i + k])) for i in range(len(kinds) - k + 1)]
    chosen: set[int] = set()
    if hashes and len(hashes) <= window:
        chosen.add(min(range(len(hashes)), key=lambda i: (hashes[i], -i)))
    for start in range(len(hashes) - window + 1):
        chosen.add(min(range(start, start + window), key=lambda i: (hashes[i], -i)))
    prints: dict[int, list[int]] = {}
    for i in sorted(chosen):
        prints.setdefault(hashes[i], []).append(i)
    return Fingerprint(source, spans, prints)


@dataclass
class Pair:
    module: str
    a: str
    b: str
    score: float  # shared / the smaller side's own fingerprints
    shared: int
    lines_a: list[int]  # 1-based lines of a that match b (for a flagged pair)
    lines_b: list[int]

    @property
    def flagged(self) -> bool:
        return self.score >= THRESHOLD and self.shared >= MIN_SHARED


def _lines(fp: Fingerprint, hashes: set[int], k: int) -> list[int]:
    """The 1-based lines covered by the k-grams of ``hashes`` in ``fp``."""
    covered: set[int] = set()
    for h in hashes:
        for i in fp.prints.get(h, ()):
            start, end = fp.spans[i][0], fp.spans[min(i + k - 1, len(fp.spans) - 1)][1]
            first = fp.source.count("\n", 0, start) + 1
            covered.update(range(first, first + fp.source.count("\n", start, end) + 1))
    return sorted(covered)


def compare_module(
    module: str,
    sources: dict[str, str],
    boilerplate: list[str] = (),  # type: ignore[assignment]
    common: float = COMMON,
    k: int = K,
    window: int = WINDOW,
    cache: dict[str, Fingerprint] | None = None,
) -> tuple[list[Pair], dict]:
    """Every pair of ``sources`` (submission → its copy of ``module``) sharing own fingerprints, best
    first, and what was left out (``starter`` and ``common`` fingerprints). ``cache`` (by content)
    spares fingerprinting identical files twice."""
    cache = {} if cache is None else cache

    def fp_of(text: str) -> Fingerprint:
        key = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        if key not in cache:
            cache[key] = fingerprint(text, k, window)
        return cache[key]

    fps = {name: fp_of(text) for name, text in sources.items()}
    starter = set().union(*(fp_of(text).prints for text in boilerplate)) if boilerplate else set()
    frequency = Counter(h for fp in fps.values() for h in fp.prints)
    limit = max(COMMON_FLOOR, int(common * len(fps)))
    shared_code = {h for h, n in frequency.items() if n > limit}
    own = {name: set(fp.prints) - starter - shared_code for name, fp in fps.items()}
    index: dict[int, list[str]] = {}
    for name in sorted(own):
        for h in own[name]:
            index.setdefault(h, []).append(name)
    counts: Counter = Counter()
    for names in index.values():
        if len(names) > 1:
            counts.update(combinations(names, 2))
    pairs = []
    for (a, b), shared in counts.items():
        pair = Pair(module, a, b, shared / (min(len(own[a]), len(own[b])) or 1), shared, [], [])
        if pair.flagged:  # only a flagged pair is shown side by side: its matching lines
            both = own[a] & own[b]
            pair.lines_a, pair.lines_b = _lines(fps[a], both, k), _lines(fps[b], both, k)
        pairs.append(pair)
    pairs.sort(key=lambda p: (-p.score, -p.shared, p.a, p.b))
    left_out = {"starter": len(starter), "common": len(shared_code), "submissions": len(fps)}
    return pairs, left_out
