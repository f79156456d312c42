"""Finding and loading the KenLM files the decoders use (one loaded copy per file per process)."""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path

from emgrt.errors import ConfigError, DataFileError

# The language models shipped with the source tree (models/lm/README.md says how they were built).
SHIPPED = {"char": "char6.arpa.gz", "word": "word3.arpa.gz"}
SHIPPED_DIR = Path(__file__).resolve().parents[2] / "models" / "lm"


def default_lm_path(kind: str) -> Path | None:
    """The shipped ``kind`` ("char" or "word") LM if this install has it, else None."""
    for name in (SHIPPED[kind], SHIPPED[kind].removesuffix(".gz")):
        p = SHIPPED_DIR / name
        if p.is_file():
            return p
    return None


def resolve_lm(lm: str | None, kind: str, decoder: str) -> str | None:
    """``lm`` as a path: "default" is the shipped ``kind`` LM (a ConfigError naming --lm and
    ``emgrt lm build`` when this install has none), None or "" means no LM."""
    if lm != "default":
        return str(lm) if lm else None
    found = default_lm_path(kind)
    if found is None:
        order = 6 if kind == "char" else 3
        raise ConfigError(
            f"{decoder} needs a {kind} LM: pass --lm FILE.arpa (emgrt lm build --kind {kind} --order {order} ...)"
        )
    return str(found)


@lru_cache(maxsize=8)
def load_kenlm(path: str):
    """``kenlm.Model`` for an ARPA/binary file, loaded once (KenLM's progress chatter on
    stderr suppressed); a missing or malformed file is a one-line DataFileError."""
    import kenlm

    if not Path(path).is_file():
        raise DataFileError(path, "language model file not found", "build one with `emgrt lm build` or pass --lm")
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            try:
                return kenlm.Model(str(path))
            except (OSError, RuntimeError) as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise DataFileError(path, f"KenLM cannot load it ({first[:200]})", "pass an ARPA file from `emgrt lm build`") from None
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@lru_cache(maxsize=8)
def load_native_ngram(path: str):
    """The native core's reader of the ARPA file ``path`` (``emgrt._native.NgramLM``, KenLM's scores
    without a Python call each), loaded once; None where it does not apply (no native core, a KenLM
    binary file, an order or vocabulary above what it packs): the search then asks kenlm."""
    import gzip
    import zlib

    from emgrt import native

    if native.kernels is None:
        return None
    try:
        with open(path, "rb") as f:
            data = f.read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        return native.kernels.NgramLM(data)
    except (OSError, EOFError, zlib.error, ValueError):  # unreadable, a broken .gz, not ARPA text it takes
        return None


@lru_cache(maxsize=8)
def arpa_unigrams(path: str) -> frozenset[str]:
    """The words of an ARPA file's 1-gram section (plain or .gz), markers excluded."""
    import gzip

    opener = gzip.open if str(path).endswith(".gz") else open
    words: set[str] = set()
    inside = False
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line == "\\1-grams:":
                inside = True
            elif line.startswith("\\"):
                if inside:
                    break
            elif inside and line:
                parts = line.split("\t")
                if len(parts) >= 2 and parts[1] not in ("<s>", "</s>", "<unk>"):
                    words.add(parts[1])
    return frozenset(words)
