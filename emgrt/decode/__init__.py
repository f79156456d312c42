"""CTC decoders for the runtime: greedy, pyctcdecode beam search (optionally with a word
KenLM), and a character-level beam search with a char n-gram KenLM that understands
backspace; and, for the gestures task's framewise models, the gesture event decoder.  All
stream: ``push`` log-probs, get :mod:`emgrt.decode.events` back.

``make_decoder(kind, labels, blank, **opts)`` builds one; ``decode_offline`` runs the
same streaming decoder over a whole array (the one code path ``emgrt eval`` uses).

=========  ==========================================================================
kind       options (defaults)
=========  ==========================================================================
greedy     pause_frames (16)
beam       beam_size (32), token_min_logp (-5), beam_prune_logp (-10), commit_margin
           (10), update_every (4), max_window (64), pause_frames        -- beam.py
beam-lm    as beam, plus lm (shipped models/lm/word3.arpa.gz), lm_weight = alpha (0.1),
           insertion_bonus = beta per word (0.5), unk_score_offset (-10)
char-lm    lm (shipped models/lm/char6.arpa.gz; None = no LM), beam_size (50), lm_weight
           (2.0), insertion_bonus (2.0), max_candidates (10), beam_threshold (25),
           commit_margin (10), max_pending (48), max_undo (64), pause_frames; commit and
           hypothesis policies, all off by default: commit_lag, commit_prob, commit_stable,
           commit_depth, endpoint_frames, hypothesis_hold               -- charlm.py
gesture    threshold (0.35), debounce_s (0.05), frame_s (the bundle's output period):
           framewise gesture posteriors -> debounced events (the gestures task) -- gestures.py
=========  ==========================================================================

Measured on 7888 output frames of runs/student-scratch (step 1000; data/default val,
88% blank frames; an output frame is 32 ms), one frame per push, in a torch-free process
on the 2-core machine shared with a training run, mean / p99 / max ms per frame:
greedy 0.003 / 0.002 / 8, beam 0.61 / 8.6 / 24, beam-lm 0.52 / 7.9 / 25, char-lm
0.79 / 4.9 / 28 (char-lm max 9-12 ms with the cyclic GC off; in a process holding torch
its GC passes stalled single frames by 150-400 ms).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import numpy as np

from emgrt.decode.base import DEFAULT_PAUSE_FRAMES, DecoderBase, StreamingDecoder
from emgrt.decode.events import CharEvent, Event, FinalEvent, GestureEvent, HypothesisEvent, apply_keys, keys_of
from emgrt.decode.greedy import GreedyDecoder, greedy_labels
from emgrt.errors import ConfigError

DECODER_KINDS = ("greedy", "beam", "beam-lm", "char-lm", "gesture")
CTC_DECODERS = DECODER_KINDS[:4]  # the text decoders; "gesture" decodes framewise posteriors

__all__ = [
    "CTC_DECODERS",
    "CharEvent",
    "DECODER_KINDS",
    "DEFAULT_PAUSE_FRAMES",
    "DecoderBase",
    "Event",
    "FinalEvent",
    "GestureEvent",
    "GreedyDecoder",
    "HypothesisEvent",
    "StreamingDecoder",
    "apply_keys",
    "decode_offline",
    "greedy_labels",
    "keys_of",
    "make_decoder",
]


def make_decoder(kind: str, labels: Sequence[str], blank: int, **opts) -> StreamingDecoder:
    """A fresh streaming decoder of ``kind`` (one of DECODER_KINDS); ``opts`` are the
    decoder's keyword arguments (pause_frames, beam_size, lm, lm_weight, ...)."""
    if kind == "greedy":
        cls: type = GreedyDecoder
    elif kind in ("beam", "beam-lm"):
        from emgrt.decode.beam import BeamDecoder

        cls = BeamDecoder
        opts = {**opts, "use_lm": kind == "beam-lm"}
    elif kind == "char-lm":
        from emgrt.decode.charlm import CharLMDecoder

        cls = CharLMDecoder
    elif kind == "gesture":
        from emgrt.decode.gestures import GestureDecoder

        cls = GestureDecoder
    else:
        raise ConfigError(f"unknown decoder {kind!r}; choose one of {', '.join(DECODER_KINDS)}")
    known = set(inspect.signature(cls).parameters) - {"labels", "blank"}
    unknown = sorted(set(opts) - known)
    if unknown:
        raise ConfigError(
            f"decoder {kind!r} has no option {', '.join(unknown)}; it takes {', '.join(sorted(known))}"
        )
    return cls(labels, blank, **opts)


def decode_offline(kind: str, log_probs: np.ndarray, labels: Sequence[str], blank: int, **opts) -> list[str]:
    """Keys decoded from a whole (T, C) log-prob array by the streaming decoder ``kind``."""
    dec = make_decoder(kind, labels, blank, **opts)
    return keys_of(dec.push(log_probs, 0) + dec.flush())
