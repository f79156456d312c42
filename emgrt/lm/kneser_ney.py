"""An interpolated modified Kneser-Ney n-gram estimator that writes ARPA files KenLM loads.

Why hand-written: the ``kenlm`` pip package queries ARPA/binary models but has no
``lmplz`` estimator, and the PyPI estimators checked (``arpabo`` 0.3.0, nltk's
``KneserNeyInterpolated``) either write ARPA that KenLM rejects (space-separated
fields, a comment before ``\\data\\``), smooth without continuation counts above
unigrams, or write no ARPA at all.  This follows Chen & Goodman (1998) as lmplz
does: adjusted counts (continuation counts for every order but the highest and
for n-grams starting with ``<s>``), three discounts per order from the counts of
counts, interpolation with the next lower order down to a uniform distribution
over the vocabulary (``<unk>`` included), and count pruning whose removed mass
goes to the back-off weight, so every context's distribution still sums to one.

Tokens are opaque strings.  Internally each sentence is encoded as a Python
string with one character per token, so n-grams are substrings and counting
runs at C speed.
"""

from __future__ import annotations

import gzip
import io
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from emgrt.errors import ConfigError

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
_BOS, _EOS = "\x01", "\x02"  # codes of <s> and </s>; tokens get codes from 0x100 up
_FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)
NO_PROB = -99.0  # log10 probability ARPA files give <s>


@dataclass
class NGramCounts:
    """Raw n-gram counts of orders 1..order over encoded sentences."""

    order: int
    vocab: dict[str, str] = field(default_factory=dict)  # token -> code
    raw: list[Counter] = field(default_factory=list)  # raw[n-1]: n-gram code string -> count
    sentences: int = 0
    tokens: int = 0

    def __post_init__(self) -> None:
        if self.order < 1:
            raise ConfigError(f"n-gram order must be >= 1, got {self.order}")
        if not self.raw:
            self.raw = [Counter() for _ in range(self.order)]

    def code(self, token: str) -> str:
        c = self.vocab.get(token)
        if c is None:
            if token in (BOS, EOS, UNK) or not token or any(ch.isspace() for ch in token):
                raise ConfigError(f"token {token!r} cannot be an n-gram token (reserved or contains whitespace)")
            c = self.vocab[token] = chr(0x100 + len(self.vocab))
        return c

    def add(self, tokens: Sequence[str]) -> None:
        """Count one sentence (``<s>`` and ``</s>`` are added around it)."""
        s = _BOS + "".join(self.code(t) for t in tokens) + _EOS
        for n, counter in enumerate(self.raw, start=1):
            counter.update(s[i : i + n] for i in range(len(s) - n + 1))
        self.sentences += 1
        self.tokens += len(tokens)


def _discounts(counts: Iterable[int]) -> tuple[float, float, float]:
    """Chen & Goodman's D1, D2, D3+ from the counts of counts (fallback when data is tiny)."""
    n = Counter(c for c in counts if 1 <= c <= 4)
    n1, n2, n3, n4 = (n[k] for k in (1, 2, 3, 4))
    if min(n1, n2, n3, n4) == 0:
        return _FALLBACK_DISCOUNTS
    y = n1 / (n1 + 2 * n2)
    d = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
    if not all(0 < dk < k for k, dk in enumerate(d, start=1)):
        return _FALLBACK_DISCOUNTS
    return d


@contextmanager
def _open_text(path: Path, gz: bool) -> Iterator[TextIO]:
    """A UTF-8 text writer; gzip (KenLM reads .arpa.gz) without name or time in its header, so
    the same model always gives the same bytes."""
    raw = open(path, "wb")
    try:
        stream = gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) if gz else raw
        with io.TextIOWrapper(stream, encoding="utf-8") as f:
            yield f
    finally:
        raw.close()


@dataclass
class NGramModel:
    """Interpolated probabilities (log10) and back-off weights (log10) per order, by code string."""

    order: int
    tokens: dict[str, str]  # code -> token
    logprob: list[dict[str, float]]
    backoff: list[dict[str, float]]
    discounts: list[tuple[float, float, float]]

    def write_arpa(self, path: str | Path) -> Path:
        path = Path(path)
        tok = {**self.tokens, _BOS: BOS, _EOS: EOS, "": UNK}
        tmp = path.with_name(path.name + ".part")
        with _open_text(tmp, gz=path.name.endswith(".gz")) as f:
            f.write("\\data\\\n")
            for n in range(1, self.order + 1):
                f.write(f"ngram {n}={len(self.logprob[n - 1])}\n")
            for n in range(1, self.order + 1):
                f.write(f"\n\\{n}-grams:\n")
                bo = self.backoff[n - 1] if n < self.order else {}
                for g, lp in self.logprob[n - 1].items():
                    words = UNK if g == "" else " ".join(tok[c] for c in g)
                    b = bo.get(g)
                    f.write(f"{lp:.6f}\t{words}\t{b:.6f}\n" if b is not None else f"{lp:.6f}\t{words}\n")
            f.write("\n\\end\\\n")
        tmp.replace(path)
        return path

    def sizes(self) -> list[int]:
        return [len(lp) for lp in self.logprob]


def estimate(
    counts: NGramCounts,
    prune: Sequence[int] = (),
    extra_vocabulary: Iterable[str] = (),
    progress: Callable[[str], None] | None = None,
) -> NGramModel:
    """Modified Kneser-Ney from raw counts.

    ``prune[n-1]`` (n >= 2) drops n-grams seen at most that many times (like lmplz
    --prune); thresholds must not decrease with the order.  ``extra_vocabulary``
    tokens get unigram entries even if never seen (uniform share of the leftover mass).
    """
    order = counts.order
    thresholds = [0] + [int(prune[n]) if n < len(prune) else (int(prune[-1]) if prune else 0) for n in range(1, order)]
    if any(t < 0 for t in thresholds) or any(b < a for a, b in zip(thresholds[1:], thresholds[2:])):
        raise ConfigError(f"prune thresholds {list(prune)} must be >= 0 and not decrease with the order")
    for t in extra_vocabulary:
        counts.code(t)
    if not counts.raw[0]:
        raise ConfigError("no text to build a language model from (the source gave no sentences)")

    # adjusted counts: continuation counts below the top order, except n-grams starting with <s>
    adjusted: list[dict[str, int]] = [dict() for _ in range(order)]
    adjusted[order - 1] = dict(counts.raw[order - 1])
    for n in range(order - 1, 0, -1):
        cont = Counter(g[1:] for g in counts.raw[n])
        adjusted[n - 1] = {g: (c if g[0] == _BOS else cont[g]) for g, c in counts.raw[n - 1].items()}
    adjusted[0].pop(_BOS, None)
    for code in counts.vocab.values():
        adjusted[0].setdefault(code, 0)

    logprob: list[dict[str, float]] = []
    backoff: list[dict[str, float]] = [dict() for _ in range(order)]
    discounts = []
    prob_lower: dict[str, float] = {}
    for n in range(1, order + 1):
        if progress:
            progress(f"order {n}")
        a = adjusted[n - 1]
        d = _discounts(a.values())
        discounts.append(d)
        total: dict[str, float] = defaultdict(float)
        for g, c in a.items():
            total[g[:-1]] += c
        raw = counts.raw[n - 1]
        kept = {g: c for g, c in a.items() if n == 1 or raw[g] > thresholds[n - 1]}
        u: dict[str, float] = {}
        kept_mass: dict[str, float] = defaultdict(float)
        for g, c in kept.items():
            x = (c - d[min(c, 3) - 1]) / total[g[:-1]] if c > 0 else 0.0
            u[g] = x
            kept_mass[g[:-1]] += x
        gamma = {h: 1.0 - m for h, m in kept_mass.items()}
        for h in total:
            gamma.setdefault(h, 1.0)
        if n == 1:
            uniform = 1.0 / (len(kept) + 1)  # + <unk>
            probs = {g: u[g] + gamma[""] * uniform for g in kept}
            probs[""] = gamma[""] * uniform  # <unk>
        else:
            probs = {g: u[g] + gamma[g[:-1]] * prob_lower[g[1:]] for g in kept}
            for h, gm in gamma.items():
                if h in logprob[n - 2] and gm < 1.0:
                    backoff[n - 2][h] = math.log10(gm)
        lp = {g: math.log10(p) for g, p in probs.items()}
        if n == 1:
            lp[_BOS] = NO_PROB
        logprob.append(lp)
        prob_lower = probs
    tokens = {c: t for t, c in counts.vocab.items()}
    return NGramModel(order, tokens, logprob, backoff, discounts)
