"""WordNet 3.0 data files -> disjoint prompt and LM sentence lists (see :mod:`emgrt.text`).

WordNet's ``data.{noun,verb,adj,adv}`` hold one synset per line; after `` | `` comes the gloss:
definitions separated by ``;`` and example sentences in double quotes.  Lines that start with
two spaces are the licence header.  Only text made of the typing charset's printable
characters is kept (WordNet writes a few words with accents or underscores).

No maintained library reads these files without a download step (nltk and wn fetch WordNet
from the web at run time), and the format is one line per synset, so it is parsed here.
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass, field
from pathlib import Path

from emgrt.errors import DataFileError

PARTS = ("noun", "verb", "adj", "adv")
PROMPT_PERCENT = 25  # share of example sentences (by hash) that become prompts
PROMPT_WORDS = (3, 14)
PROMPT_MAX_CHARS = 90
_ALLOWED = set(string.ascii_letters + string.digits + string.punctuation + " ") - {"_", "`", "|"}
_QUOTED = re.compile(r'"([^"]*)"')


@dataclass
class Corpus:
    """The split: prompt sentences, LM sentences and what was read."""

    prompts: list[str] = field(default_factory=list)
    lm: list[str] = field(default_factory=list)
    examples: int = 0  # distinct clean example sentences read
    glosses: int = 0  # distinct clean definitions read
    dropped: int = 0  # pieces with characters outside the charset, or empty


def normalise(text: str) -> str:
    """The form two sentences are compared by: lower case, single spaces, no end punctuation."""
    return " ".join(text.lower().split()).strip(" .,;:!?")


def sentence_case(text: str) -> str:
    """Capital first letter; ends in . ? or ! (a trailing comma, colon or dash becomes a full stop)."""
    text = " ".join(text.split()).strip().rstrip(",;:- ")
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".?!" else text + "."


def is_prompt(key: str, percent: int = PROMPT_PERCENT) -> bool:
    """Whether the sentence with normalised form ``key`` belongs to the prompt part (stable hash)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 100 < percent


def _clean(piece: str) -> str | None:
    piece = " ".join(piece.split()).strip(" ;")
    if len(piece) < 2 or not set(piece) <= _ALLOWED or not any(c.isalpha() for c in piece):
        return None
    return piece


def read_glosses(wordnet_dir: str | Path) -> tuple[list[str], list[str], int]:
    """(example sentences, definitions, dropped pieces) from the four data files, in file order."""
    root = Path(wordnet_dir)
    examples: list[str] = []
    definitions: list[str] = []
    dropped = 0
    for part in PARTS:
        path = root / f"data.{part}"
        try:
            text = path.read_text(encoding="utf-8", errors="strict")
        except FileNotFoundError:
            raise DataFileError(path, "is missing", "install WordNet: apt-get install wordnet-base (files in /usr/share/wordnet)") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DataFileError(path, f"cannot be read ({exc})", "reinstall wordnet-base") from None
        for line in text.splitlines():
            if line.startswith("  ") or " | " not in line:
                continue
            gloss = line.split(" | ", 1)[1]
            for quoted in _QUOTED.findall(gloss):
                piece = _clean(quoted)
                examples.append(piece) if piece else None
                dropped += piece is None
            for definition in _QUOTED.sub(" ", gloss).split(";"):
                if definition.strip():
                    piece = _clean(definition)
                    definitions.append(piece) if piece else None
                    dropped += piece is None
    if not examples:
        raise DataFileError(root, "holds no WordNet glosses", "point --wordnet at the folder with data.noun (e.g. /usr/share/wordnet)")
    return examples, definitions, dropped


def split_corpus(examples: list[str], definitions: list[str], dropped: int = 0) -> Corpus:
    """Prompts: hashed-in examples of 3-14 words; LM text: every other distinct sentence."""
    corpus = Corpus(dropped=dropped)
    prompt_keys: set[str] = set()
    seen: set[str] = set()
    for ex in examples:
        key = normalise(ex)
        if not key or key in seen:
            continue
        seen.add(key)
        corpus.examples += 1
        words = len(key.split())
        if is_prompt(key) and PROMPT_WORDS[0] <= words <= PROMPT_WORDS[1] and len(ex) < PROMPT_MAX_CHARS:
            prompt_keys.add(key)
            corpus.prompts.append(sentence_case(ex))
    lm_seen: set[str] = set()
    for text in examples + definitions:
        key = normalise(text)
        if not key or key in prompt_keys or key in lm_seen:
            continue
        lm_seen.add(key)
        corpus.lm.append(sentence_case(text))
    corpus.glosses = len({normalise(d) for d in definitions} - {""})
    return corpus


def build_corpus(wordnet_dir: str | Path) -> Corpus:
    return split_corpus(*read_glosses(wordnet_dir))
