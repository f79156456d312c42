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
from collections.abc import Sequence
from pathlib import Path

from emgrt.metrics import ErrorCounts


def prompt_pairs(prompts: Sequence[tuple[str, float]], chars: Sequence[tuple[float, str]], end: float,
                 last: bool = False) -> list[tuple[str, str]]:
    """(prompt, decoded keys) per prompt of ``prompts`` ((text, start) in time order): the keys of
    ``chars`` ((frame_t, key)) from its start to the next prompt's.  A prompt counts once the
    next one has started by ``end``; the last one too with ``last`` (a whole recording: to its end)."""
    out = []
    for i, (text, t0) in enumerate(prompts):
        t1 = prompts[i + 1][1] if i + 1 < len(prompts) else None
        if t1 is None and last:
            t1 = end + 1.0
        elif t1 is None or t1 > end:
            break
        out.append((text, "".join(k for t, k in chars if t0 <= t < t1)))
    return out


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
        return prompt_pairs(list(zip(rep.markers, starts)), chars, end)

    def summary(self) -> dict:
        counts = ErrorCounts()
        pairs = self.written()
        for ref, hyp in pairs:
            counts.update(ref, hyp)
        return {"prompts": len(pairs), **counts.to_dict(), "pairs": pairs}


def score_handwriting(bundle, paths: Sequence[str | Path], chunk: int = 32, offline: bool = True, progress=None,
                      max_seconds: float | None = None) -> dict:
    """Stream each GNI handwriting recording (or its first ``max_seconds``) through a fresh engine
    of ``bundle`` (chunks of ``chunk`` samples; the bundle's decoder) and score the prompts: the CER
    of every prompt (the last one to the recording's end; with ``max_seconds`` those written
    through), corpus counts added up, plus one row per recording.
    ``offline``: also decode the full-window graph over each whole recording and say whether
    its characters are the streamed ones (same keys, same output frames)."""
    from emgrt.errors import DataFileError
    from emgrt.io.recording import open_recording
    from emgrt.stream import Engine
    from emgrt.stream.latency import percentiles
    from emgrt.stream.recording_stream import offline_outputs, prefix, stream_recording

    engine = Engine(bundle)
    total, compute, rows, same = ErrorCounts(), [], [], []
    for i, path in enumerate(paths):
        with open_recording(path) as rec:
            if rec.marker_kind != "prompts":
                raise DataFileError(rec.path, f"has {rec.marker_kind}, not prompts: a handwriting bundle is scored on handwriting recordings")
            n = prefix(rec, max_seconds, offline)
            events, n_outputs, hops = stream_recording(engine, rec, chunk, n)
            chars = [(float(e["frame_t"]), e["key"]) for e in events if e["type"] == "char"]
            pairs = prompt_pairs(list(zip(rec.markers, rec.marker_times.tolist())), chars, float(rec.time[n - 1]),
                                 last=n == len(rec))
            counts = ErrorCounts()
            for ref, hyp in pairs:
                counts.update(ref, hyp)
            row: dict = {"recording": Path(path).name, "prompts": len(pairs), **counts.to_dict()}
            if offline:
                want = [(e.key, e.frame) for e in offline_outputs(bundle, rec, n_outputs, engine.decoder_kind, n) if e.kind == "char"]
                row["streamed_equals_offline"] = [(e["key"], e["frame"]) for e in events if e["type"] == "char"] == want
                same.append(row["streamed_equals_offline"])
        total, compute = total + counts, compute + hops
        rows.append(row)
        if progress:
            progress(i + 1, len(paths))
    out = {"bundle": str(bundle.dir), "decoder": engine.decoder_kind, "recordings": len(rows), "chunk": chunk,
           "max_seconds": max_seconds,
           "prompts": sum(r["prompts"] for r in rows), **total.to_dict(), "compute_ms": percentiles(compute)}
    if offline:
        out["streamed_equals_offline"] = all(same)
    return {**out, "per_recording": rows}


def print_report(rep: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"handwriting: {rep['bundle']}, {rep['recordings']} recording(s), {rep['decoder']}, "
                    f"streamed in {rep['chunk']}-sample chunks")
    for col in ("recording", "prompts", "CER %", "ins / del / sub %", "= offline"):
        t.add_column(col, justify="left" if col == "recording" else "right")
    for r in [*rep["per_recording"], {**rep, "recording": "all"}]:
        t.add_row(r["recording"].removeprefix("handwriting_").removesuffix(".hdf5"), str(r["prompts"]), f"{r['cer']:.2f}",
                  f"{r['ins_rate']:.1f} / {r['del_rate']:.1f} / {r['sub_rate']:.1f}", str(r.get("streamed_equals_offline", "-")))
    Console().print(t)
    c = rep["compute_ms"]
    print("compute per step p50/p99: " + " / ".join("-" if c[q] is None else f"{c[q]:.3f}" for q in ("p50", "p99")) + " ms; "
          "characters assigned to the prompt being written by the time of their output frame")
