"""Text sources for language models that exist on a fresh machine.

``wordfreq_sentences``: pseudo-sentences of English words drawn by their
``wordfreq`` frequency (the top ``words`` entries made of letters, apostrophes and
hyphens), 2-14 words, sentence case, occasional commas and numbers, mostly a full
stop at the end.  It is the word-frequency prior only (no grammar); its own
vocabulary size, length distribution and seed are independent of the synthetic
prompt generator (emgrt.synth.text), which the LM must not copy.
``file_sentences``: one sentence per non-empty line of a UTF-8 text file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from emgrt.errors import DataFileError

DEFAULT_WORDS = 30000
DEFAULT_SENTENCES = 60000


def english_words(n: int) -> tuple[list[str], np.ndarray]:
    """The ``n`` most frequent clean English words in wordfreq and their probabilities."""
    from wordfreq import top_n_list, word_frequency

    words = [
        w
        for w in top_n_list("en", n)
        if w.isascii() and w[0].isalpha() and w[-1].isalpha() and all(c.isalpha() or c in "'-" for c in w)
    ]
    p = np.array([word_frequency(w, "en") for w in words], dtype=np.float64)
    return words, p / p.sum()


def wordfreq_sentences(sentences: int = DEFAULT_SENTENCES, words: int = DEFAULT_WORDS, seed: int = 1234) -> Iterator[str]:
    vocab, p = english_words(words)
    rng = np.random.default_rng(seed)
    ends = np.array([".", "?", "!", ""])
    for _ in range(sentences):
        n = int(rng.integers(2, 15))
        tokens = np.array(vocab, dtype=object)[rng.choice(len(vocab), size=n, p=p)]
        numbers = rng.random(n) < 0.03
        tokens[numbers] = [str(x) for x in rng.integers(0, 2030, int(numbers.sum()))]
        commas = np.append(rng.random(n - 1) < 0.07, False)
        text = " ".join(t + "," if c else t for t, c in zip(tokens, commas))
        text = _PRONOUN_I.sub("I", text)
        yield text[0].upper() + text[1:] + str(ends[rng.choice(4, p=[0.7, 0.1, 0.05, 0.15])])


_PRONOUN_I = re.compile(r"\bi\b")


def file_sentences(path: str | Path) -> Iterator[str]:
    path = Path(path)
    try:
        f = open(path, encoding="utf-8")
    except OSError as exc:
        raise DataFileError(path, f"cannot read the text source ({exc.strerror})", "pass a UTF-8 text file or 'wordfreq'") from None
    with f:
        try:
            for line in f:
                line = " ".join(line.split())
                if line:
                    yield line
        except UnicodeDecodeError:
            raise DataFileError(path, "is not UTF-8 text", "convert it to UTF-8") from None
