"""Perplexity of an ARPA language model on held-out sentences (KenLM scores them)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from emgrt.errors import DataFileError
from emgrt.lm.build import LM_KINDS
from emgrt.lm.tokens import char_tokens, word_tokens


@dataclass
class Perplexity:
    path: str
    kind: str
    sentences: int
    tokens: int  # scored tokens, each sentence's </s> included
    oov: int  # tokens the model does not know (scored as <unk>)
    perplexity: float  # 10 ** (-sum log10 p / tokens)
    bits_per_token: float


def perplexity(path: str | Path, kind: str, sentences: Iterable[str]) -> Perplexity:
    """Corpus perplexity of ``sentences`` under the LM at ``path``, tokenised as ``kind`` tokens."""
    import math

    from emgrt.decode.lmfiles import load_kenlm

    if kind not in LM_KINDS:
        raise ValueError(f"kind must be one of {LM_KINDS}")
    model = load_kenlm(str(path))
    tokenize = char_tokens if kind == "char" else word_tokens
    total = 0.0
    n_tokens = n_oov = n_sent = 0
    for line in sentences:
        toks = tokenize(line)
        if not toks:
            continue
        n_sent += 1
        for log10p, _ngram, oov in model.full_scores(" ".join(toks), bos=True, eos=True):
            total += log10p
            n_tokens += 1
            n_oov += bool(oov)
    if not n_tokens:
        raise DataFileError("<text>", "holds no sentences to score", "pass a non-empty text")
    ppl = 10 ** (-total / n_tokens)
    return Perplexity(str(path), kind, n_sent, n_tokens, n_oov, ppl, math.log2(ppl))
