"""A replayed session scored while it plays: what ``emgrt demo`` and ``emgrt serve --replay`` show.

:class:`ReplayScore` watches the engine's events for a session that a
:class:`~emgrt.lsl.outlet.SessionReplayer` is sending, on the replay's timeline (an event is
placed at its triggering sample's stamp plus the wall time since that sample was pushed, as
``emgrt latency --live`` does), and gives:

- the prompt on screen at a stream time;
- the running CER against the keys pressed up to ``CER_LAG_S`` before that time;
- per keystroke, once its character is committed correctly: its display, stable and commit
  latencies as of then (:mod:`emgrt.stream.display`, the one definition ``emgrt latency`` uses;
  beyond its ``max_match_s`` a latency is not counted, as there);
- the summary at the end (:func:`emgrt.stream.latency.report`).

Only the replay's first pass is scored (``--loop`` replays are scored once).  Matching keys
re-aligns the whole timeline so far; to keep that from starving the engine on long sessions,
:meth:`ReplayScore.update` runs it at most every ``MIN_INTERVAL_S`` and never more than
``MAX_SHARE`` of the time (it waits ``1 / MAX_SHARE`` times as long as the last match took).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from emgrt.metrics import ErrorCounts
from emgrt.stream.display import key_times
from emgrt.stream.latency import SessionRun, new_run, record_live_event, report

CER_LAG_S = 1.0  # running CER: reference keys pressed up to this long before the newest sample
MIN_INTERVAL_S = 0.1
MAX_SHARE = 0.1


@dataclass
class Progress:
    """What changed since the last :meth:`ReplayScore.update`."""

    cer: float | None = None  # running CER %, None before the first key
    keys: list[dict] = field(default_factory=list)  # newly committed keystrokes, as ``key`` events
    last_shown: tuple[str, float] | None = None  # newest keystroke shown and its display latency ms


class ReplayScore:
    def __init__(self, replayer) -> None:
        self.replayer = replayer
        self.run: SessionRun = new_run(replayer.session, replayer.n_samples)
        self.lock = threading.Lock()
        self._stamps: np.ndarray | None = None
        self._prompts: list[tuple[float, str]] = []
        self._end: float | None = None
        self._reported = 0  # keystrokes with a finite commit time already sent
        self._sent: set[int] = set()
        self._matched_len = -1
        self._next_match = 0.0
        self._last_shown: tuple[str, float] | None = None
        self._clock = time.monotonic

    # -- engine thread ---------------------------------------------------------------------------
    def record(self, ev: dict, now: float) -> None:
        """Record an engine event (``now``: pylsl.local_clock() when it arrived)."""
        rep = self.replayer
        if rep.t0 is None or ev.get("t") is None or (self._end is not None and ev["t"] > self._end):
            return
        with self.lock:
            record_live_event(self.run, ev, rep, now)

    # -- the replay's timeline ------------------------------------------------------------------
    def ready(self) -> bool:
        """Whether the replay has started (its clock is known)."""
        rep = self.replayer
        if rep.t0 is None:
            return False
        if self._stamps is None:
            s = rep.session
            self._stamps = np.array([rep.key_stamp(i) for i in range(len(self.run.reference))])
            self.run.key_times = self._stamps
            idx = np.arange(len(s), dtype=np.float64)
            self._prompts = sorted(
                (rep.t0 + float(np.interp(float(p["start"]), s.time, idx)) / rep.rate, str(p["payload"].get("text", "")))
                for p in s.prompts
                if isinstance(p.get("payload"), dict)
            )
            self._end = rep.t0 + (rep.n_samples - 1) / rep.rate
        return True

    def prompt(self, t: float | None) -> str:
        """The prompt shown at stream time ``t`` ("" before the first)."""
        if t is None or not self.ready():
            return ""
        current = ""
        for start, text in self._prompts:
            if start <= t:
                current = text
        return current

    def first_pass_done(self, t: float | None) -> bool:
        return t is not None and self.ready() and t >= self._end - 0.5 / self.replayer.rate

    def update(self, t: float | None, force: bool = False) -> Progress:
        """The running figures at stream time ``t``; newly committed keys since the last call
        (``force``: match the timeline now, whatever the throttle says)."""
        run = self.run
        if t is None or not self.ready():
            return Progress()
        with self.lock:
            keys, timeline = list(run.keys), list(run.timeline)
        ref_n = int(np.searchsorted(self._stamps, t - CER_LAG_S, side="right"))
        cer = ErrorCounts().update(run.reference[:ref_n], "".join(keys)).cer if ref_n and keys else None
        new: list[dict] = []
        now = self._clock()
        if len(timeline) != self._matched_len and (force or now >= self._next_match):
            self._matched_len = len(timeline)
            kt = key_times(run.reference, self._stamps, timeline)
            took = self._clock() - now
            self._next_match = now + max(MIN_INTERVAL_S, took / MAX_SHARE)
            shown = np.flatnonzero(np.isfinite(kt.display))
            if len(shown):
                i = int(shown[-1])
                self._last_shown = (run.reference[i], 1000.0 * float(kt.display[i]))
            for i in np.flatnonzero(np.isfinite(kt.commit)):
                if int(i) in self._sent:
                    continue
                self._sent.add(int(i))
                new.append({
                    "type": "key", "index": int(i), "key": run.reference[i],
                    **{f"{k}_ms": _ms(getattr(kt, k)[i], run.max_match_s) for k in ("display", "stable", "commit")},
                })
        return Progress(cer=cer, keys=new, last_shown=self._last_shown)

    def summary(self, bundle, decoder: str, stats: dict, hop_ms: list[float] | None = None) -> dict:
        """:func:`emgrt.stream.latency.report` of the first pass (mode ``live``)."""
        self.ready()
        run = self.run
        if hop_ms is not None:
            run.hop_ms = list(hop_ms)
        run.compute_s = float(np.sum(run.hop_ms)) / 1000.0
        run.stats = stats
        return report([run], bundle, "live", decoder)


def summary_event(rep: dict) -> dict:
    """The ``summary`` event of the serve protocol: a replay's figures (see PROTOCOL.md)."""
    pick = lambda d: {q: d.get(q) for q in ("p50", "p90", "p99")}  # noqa: E731
    return {
        "type": "summary",
        "keys": rep["keys"],
        "matched": rep["matched"],
        "cer": rep["streamed_cer"],
        "display_ms": pick(rep["display_ms"]),
        "stable_ms": pick(rep["stable_ms"]),
        "commit_ms": pick(rep["latency_ms"]),
        "revision_rate": rep["revision_rate"],
        "never_shown": rep["never_shown"],
    }


def _ms(v: float, max_s: float) -> float | None:
    """ms, or None where there is none or it is beyond the report's match limit (as emgrt latency counts)."""
    return round(1000.0 * float(v), 1) if np.isfinite(v) and v <= max_s else None
