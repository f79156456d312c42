"""Real English text for the synthetic prompts and the language models.

The source is Princeton WordNet 3.0: its 48k example sentences ("they agreed to end the
testing of atomic weapons") and 117k glosses ("an act that has disastrous consequences"),
written by lexicographers as ordinary English.  It installs on a fresh machine from Debian's
registry (``apt-get install wordnet-base`` puts it in ``/usr/share/wordnet``); licence: the
WordNet 3.0 licence, a permissive one that allows use, copying, modification and
redistribution with its notice (``emgrt/text/LICENSE-WordNet``).

``emgrt lm corpus --wordnet /usr/share/wordnet --out emgrt/text`` (:mod:`emgrt.text.wordnet`)
turns it into the two files shipped here, one sentence per line:

* ``prompts.txt.gz``: example sentences of 3-14 words that the typists of ``emgrt synth`` type;
* ``lm.txt.gz``: everything else (the other examples and all glosses), the text the shipped
  language models are built from.

A sentence goes to the prompts by a hash of its normalised form (lower case, single spaces, no
end punctuation), and nothing whose normalised form is a prompt is in the LM text, so the two
parts are disjoint by construction (tested), and the same command gives the same files.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from emgrt.errors import DataFileError

TEXT_DIR = Path(__file__).parent
PROMPTS = TEXT_DIR / "prompts.txt.gz"
LM_TEXT = TEXT_DIR / "lm.txt.gz"


def read_lines(path: str | Path) -> Iterator[str]:
    """Non-empty lines of a UTF-8 text file (``.gz`` read as gzip), whitespace collapsed."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        f = opener(path, "rt", encoding="utf-8")
    except OSError as exc:
        raise DataFileError(path, f"cannot read the text ({exc.strerror})", "pass a UTF-8 text file, one sentence per line") from None
    with f:
        try:
            for line in f:
                line = " ".join(line.split())
                if line:
                    yield line
        except UnicodeDecodeError:
            raise DataFileError(path, "is not UTF-8 text", "convert it to UTF-8") from None
        except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
            raise DataFileError(path, f"is not a readable gzip file ({exc})", "rebuild it with `emgrt lm corpus`") from None


@lru_cache(maxsize=1)
def prompts() -> tuple[str, ...]:
    """The shipped prompt sentences (sentence case, end punctuation), in file order."""
    return tuple(read_lines(PROMPTS))


def lm_sentences() -> Iterator[str]:
    """The shipped LM text, one sentence at a time."""
    return read_lines(LM_TEXT)
