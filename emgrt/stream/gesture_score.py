"""Gesture bundles scored on recordings: CLER and gesture-to-event latency, streamed.

The figures a person sees from a gesture band: each prompted gesture (the recording's ``prompts``
table) is matched to the engine's ``gesture`` events with the release's rule
(:func:`emgrt.tasks.cler.match`, on the event's ``frame_t``: the time of the output frame that
detected it); then

- **CLER** (wrong class among matched), **miss rate** and **false alarms**, as ``emgrt eval``
  counts them offline (the engine's events are the offline ones: tested);
- **event latency** per matched gesture: from the gesture (its prompt time) to the ``t`` of the
  event, the stamp of the sample that completed the model step that emitted it: what the model
  and the step schedule make a person wait, on the band's clock (compute per step comes on top;
  ``compute_ms`` reports it).

:func:`score_recordings` streams recordings through the engine (simulated: the samples fed in
band-sized chunks, as fast as the engine goes, :mod:`emgrt.stream.recording_stream`) for ``emgrt latency`` on a gestures bundle;
:class:`GestureScore` scores a replay as it plays (``emgrt demo``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from emgrt.io.gni import GESTURES
from emgrt.stream.latency import percentiles
from emgrt.tasks.cler import ClerCounts, Event, match


def score_events(prompts: Sequence[Event], events: Sequence[dict]) -> tuple[ClerCounts, list[float]]:
    """Counts and the event latencies (ms) of the matched gestures, for the engine's ``gesture``
    ``events`` (dicts with ``gesture``, ``frame_t`` and ``t``) against ``prompts`` (same clock)."""
    dets = [(Event(GESTURES.index(e["gesture"]), float(e["frame_t"])), float(e["t"])) for e in events if e.get("type") == "gesture"]
    emitted = {id(d): t for d, t in dets}
    pairs = match(prompts, [d for d, _ in dets])
    counts = ClerCounts().add_pairs(pairs, len(dets))
    latencies = [(emitted[id(d)] - p.time) * 1000.0 for p, d in pairs if d is not None]
    return counts, latencies


def summary(counts: ClerCounts, latencies: Sequence[float], compute_ms: Sequence[float] = ()) -> dict:
    d = counts.to_dict()
    d["prompts"] = counts.prompts
    d["event_latency_ms"] = percentiles(latencies)
    d["compute_ms"] = percentiles(compute_ms)
    return d


def score_recordings(bundle, paths: Sequence[str | Path], chunk: int = 32, offline: bool = True, progress=None) -> dict:
    """Stream each GNI gesture recording through a fresh engine of ``bundle`` (band-sized chunks of
    ``chunk`` samples) and score it; the corpus figures (counts added up, latencies pooled) plus
    one row per recording.  ``offline``: also decode the full-window graph over each whole
    recording and say whether its events are the streamed ones (same gestures, same frames)."""
    from emgrt.errors import DataFileError
    from emgrt.io.recording import open_recording
    from emgrt.stream import Engine
    from emgrt.stream.recording_stream import offline_outputs, stream_recording

    engine = Engine(bundle)
    total, latencies, compute, rows, same = ClerCounts(), [], [], [], []
    for i, path in enumerate(paths):
        with open_recording(path) as rec:
            if rec.marker_kind != "gestures":
                raise DataFileError(rec.path, f"has {rec.marker_kind}, not gestures: a gestures bundle is scored on gesture recordings")
            prompts = [Event(GESTURES.index(n), float(t)) for n, t in zip(rec.markers, rec.marker_times)]
            events, n_outputs, hops = stream_recording(engine, rec, chunk)
            row: dict = {"recording": Path(path).name}
            if offline:
                want = [(e.gesture, e.frame) for e in offline_outputs(bundle, rec, n_outputs, "gesture") if e.kind == "gesture"]
                got = [(e["gesture"], e["frame"]) for e in events if e["type"] == "gesture"]
                row["streamed_equals_offline"] = got == want
                same.append(row["streamed_equals_offline"])
        counts, lat = score_events(prompts, events)
        total, latencies, compute = total + counts, latencies + lat, compute + hops
        rows.append({**row, **summary(counts, lat)})
        if progress:
            progress(i + 1, len(paths))
    out = {"bundle": str(bundle.dir), "recordings": len(rows), "chunk": chunk, **summary(total, latencies, compute)}
    if offline:
        out["streamed_equals_offline"] = all(same)
    return {**out, "per_recording": rows}


def print_report(rep: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    ms = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
    t = Table(title=f"gestures: {rep['bundle']}, {rep['recordings']} recording(s), streamed in {rep['chunk']}-sample chunks")
    for col in ("recording", "prompts", "matched", "CLER %", "missed", "false alarms", "latency p50/p99 ms", "= offline"):
        t.add_column(col, justify="left" if col == "recording" else "right")
    for r in [*rep["per_recording"], {**rep, "recording": "all"}]:
        lat = r["event_latency_ms"]
        t.add_row(r["recording"].removeprefix("discrete_gestures_").removesuffix(".hdf5"), str(r["prompts"]), str(r["matched"]), f"{100 * r['cler']:.2f}", str(r["missed"]),
                  str(r["false_alarms"]), f"{ms(lat['p50'])} / {ms(lat['p99'])}", str(r.get("streamed_equals_offline", "-")))
    Console().print(t)
    c = rep["compute_ms"]
    print("compute per step p50/p99: " + " / ".join("-" if c[q] is None else f"{c[q]:.3f}" for q in ("p50", "p99")) + " ms; "
          "latency: from the gesture to the stamp of the sample completing the step that emitted its event")


class GestureScore:
    """A replayed gesture recording scored as it plays: the prompts on the replay's LSL timeline
    against the engine's events.  ``record`` from the engine thread, the rest from any."""

    def __init__(self, replayer) -> None:
        self.replayer = replayer
        self.lock = threading.Lock()
        self.events: list[dict] = []
        self.hop_ms: list[float] = []

    def record(self, ev: dict, now: float) -> None:
        if ev.get("type") == "gesture" and ev.get("frame_t") is not None:
            with self.lock:
                self.events.append(ev)

    def prompts(self, until: float | None = None) -> list[Event]:
        """The prompted gestures replayed so far (first pass), on the LSL clock."""
        rep = self.replayer
        if rep.t0 is None:
            return []
        out = []
        end = rep.t0 + (rep.n_samples - 1) / rep.rate
        for i, name in enumerate(rep.markers):
            t = rep.key_stamp(i)
            if t <= end and (until is None or t <= until):
                out.append(Event(GESTURES.index(name), t))
        return out

    def prompt(self, t: float | None) -> str:
        """The gesture last prompted at stream time ``t`` ("" before the first)."""
        if t is None:
            return ""
        before = self.prompts(until=t)
        return GESTURES[before[-1].label] if before else ""

    def figures(self, t: float | None) -> dict:
        """Running CLER etc. over the prompts up to 0.25 s before ``t`` (their match window closed)."""
        with self.lock:
            events = list(self.events)
        if t is None:
            return summary(ClerCounts(), [])
        return summary(*score_events(self.prompts(until=t - 0.25), events))

    def summary(self) -> dict:
        with self.lock:
            events = list(self.events)
        return summary(*score_events(self.prompts(), events), self.hop_ms)
