"""Build an ARPA language model (char or word n-grams) from a text source."""

from __future__ import annotations

import string
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from emgrt.errors import ConfigError
from emgrt.lm.kneser_ney import NGramCounts, estimate
from emgrt.lm.tokens import char_token, char_tokens, word_tokens

LM_KINDS = ("char", "word")


@dataclass
class BuildReport:
    path: Path
    kind: str
    order: int
    sentences: int
    tokens: int
    ngrams: list[int]
    bytes: int
    seconds: float
    discounts: list[tuple[float, float, float]]


def build_lm(
    kind: str,
    order: int,
    sentences: Iterable[str],
    out: str | Path,
    prune: Sequence[int] = (),
    total: int | None = None,
    show_progress: bool = False,
) -> BuildReport:
    """Count ``sentences`` (plain text lines) as ``kind`` tokens and write a Kneser-Ney ARPA file."""
    if kind not in LM_KINDS:
        raise ConfigError(f"unknown LM kind {kind!r}; choose char or word")
    if not 1 <= order <= 10:
        raise ConfigError(f"--order must be 1..10, got {order}")
    tokenize = char_tokens if kind == "char" else word_tokens
    extra = [char_token(c) for c in string.printable if not c.isspace() or c == " "] if kind == "char" else []
    t0 = time.perf_counter()
    counts = NGramCounts(order)
    from rich.progress import Progress

    with Progress(disable=not show_progress, transient=True) as bar:
        task = bar.add_task(f"counting {kind} {order}-grams", total=total)
        for i, line in enumerate(sentences):
            toks = tokenize(line)
            if toks:
                counts.add(toks)
            if i % 1000 == 999:
                bar.advance(task, 1000)
        bar.update(task, completed=total or counts.sentences)
        est = bar.add_task("estimating", total=order)
        model = estimate(counts, prune, extra, progress=lambda _msg: bar.advance(est))
        bar.add_task("writing ARPA", total=None)
        path = model.write_arpa(out)
    return BuildReport(
        path=path,
        kind=kind,
        order=order,
        sentences=counts.sentences,
        tokens=counts.tokens,
        ngrams=model.sizes(),
        bytes=path.stat().st_size,
        seconds=time.perf_counter() - t0,
        discounts=model.discounts,
    )
