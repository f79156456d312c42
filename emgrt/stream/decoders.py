"""Decoder options for a bundle: the manifest's ``decoder`` table, overridden by flags."""

from __future__ import annotations

from pathlib import Path

_TUNING = (
    "beam_size", "lm_weight", "insertion_bonus", "commit_margin",
    "commit_lag", "commit_prob", "commit_stable", "commit_depth", "endpoint_frames", "hypothesis_hold",
)
# commit_margin: beam, beam-lm and char-lm; the commit_* rest, endpoint_frames and hypothesis_hold: char-lm
_LM_FILE = {"char-lm": "char_lm", "beam-lm": "word_lm"}  # manifest key of each decoder's LM file


def decoder_options(bundle, kind: str, overrides: dict) -> dict:
    """Keyword arguments for ``make_decoder(kind, ...)``: the bundle's tuning for this decoder kind
    (manifest ``decoder.options[kind]``: beam size, LM weight, insertion bonus) and LM file
    (relative to the bundle folder), then ``overrides`` (flags; None values ignored).  Greedy
    takes only the overrides."""
    opts: dict = {}
    if kind != "greedy":
        dec = bundle.manifest.get("decoder") or {}
        tuning = (dec.get("options") or {}).get(kind) or {}
        opts = {k: tuning[k] for k in _TUNING if tuning.get(k) is not None}
        lm_file = dec.get(_LM_FILE.get(kind, ""))
        if lm_file:
            opts["lm"] = str(Path(bundle.dir) / lm_file)
    opts.update({k: v for k, v in overrides.items() if v is not None})
    return opts
