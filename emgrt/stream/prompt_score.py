"""Handwriting bundles scored on a replay: the CER of each prompt written.

A handwriting recording's markers are its prompts (their start stamps on the replay's LSL
timeline).  The engine's ``char`` events are assigned to a prompt by their ``frame_t`` (the time
of the output frame that emitted them): those from the prompt's start to the next prompt's.  A
prompt counts once the next one has started within the replay (so it was written to its end);
the CER is the edit operations between each prompt and its characters (both as the charset's
keys: ← backspace and → space included, as ``emgrt eval`` scores handwriting) over the prompts'
length, x 100.
"""

from __future__ import annotations

import threading

from emgrt.metrics import ErrorCounts


class PromptScore:
    """A replayed handwriting recording scored as it plays.  ``record`` from the engine thread,
    ``summary`` from any."""

    def __init__(self, replayer) -> None:
        self.replayer = replayer
        self.lock = threading.Lock()
        self.chars: list[tuple[float, str]] = []  # (frame_t, key) of every committed character
        self.hop_ms: list[float] = []

    def record(self, ev: dict, now: float) -> None:
        if ev.get("type") == "char" and ev.get("frame_t") is not None:
            with self.lock:
                self.chars.append((float(ev["frame_t"]), ev["key"]))

    def prompt(self, t: float | None) -> str:
        """The prompt last started at stream time ``t`` ("" before the first)."""
        rep = self.replayer
        if rep.t0 is None or t is None:
            return ""
        started = [m for i, m in enumerate(rep.markers) if rep.key_stamp(i) <= t]
        return started[-1] if started else ""

    def written(self) -> list[tuple[str, str]]:
        """(prompt, decoded keys) of every prompt the replay showed through to the next one."""
        rep = self.replayer
        if rep.t0 is None:
            return []
        end = rep.t0 + (rep.n_samples - 1) / rep.rate
        starts = [rep.key_stamp(i) for i in range(len(rep.markers))]
        with self.lock:
            chars = list(self.chars)
        out = []
        for i, (text, t0) in enumerate(zip(rep.markers, starts)):
            t1 = starts[i + 1] if i + 1 < len(starts) else None
            if t1 is None or t1 > end:
                break
            out.append((text, "".join(k for t, k in chars if t0 <= t < t1)))
        return out

    def summary(self) -> dict:
        counts = ErrorCounts()
        pairs = self.written()
        for ref, hyp in pairs:
            counts.update(ref, hyp)
        return {"prompts": len(pairs), **counts.to_dict(), "pairs": pairs}
