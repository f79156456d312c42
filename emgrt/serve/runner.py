"""The event source ``emgrt serve`` runs: the engine on a live band (or a replayed session).

:class:`EngineSource` runs :func:`emgrt.stream.live.run_live` in the server's source
thread.  On top of the engine's own events (char, hypothesis, final, gesture, status) it adds,
from the same thread and without touching the engine's data path:

- ``level`` events at ``LEVEL_HZ``: the RMS of each band's signal over the last window
  (mean removed per channel, averaged over the band's channels), for the web page's plot;
- a ``status`` ``running`` heartbeat every ``HEARTBEAT_S`` with the sample counters, the
  per-step compute percentiles and the lag of the newest sample behind the LSL clock;
- replaying a gesture recording, a ``prompt`` event with the gesture asked for when it changes;
- replaying a typing session (``--replay``), the session scored as it plays
  (:class:`~emgrt.stream.watch.ReplayScore`, as ``emgrt demo`` shows it): ``prompt`` events when the
  prompt on screen changes, a ``key`` event per keystroke once its character is committed
  correctly (display, stable and commit latency), and one ``summary`` event when the first pass
  has been processed (CER, latency percentiles, revision rate; keys still in the hypothesis then
  count as shown, not committed).

:class:`MultiBandSource` serves several bands at once (``emgrt serve --stream A --stream B``):
one EngineSource per band, each in its own thread, their engines one
:class:`~emgrt.stream.engine.EngineGroup` (the bands' model steps run in one batched call);
every event of a band carries ``band``, its stream name, and clients choose the bands they follow
(``subscribe`` with ``bands``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from emgrt.stream.live import LiveSource, run_live

LEVEL_HZ = 10.0
HEARTBEAT_S = 1.0
SCORE_S = 0.25  # replay scoring: prompt / key events at most this often
COUNTERS = (
    "received", "processed", "buffered", "dropped", "filled", "lost", "sanitised_values", "resets", "steps", "chars",
    "gestures",
)


class LevelMeter:
    """Per-band RMS of (n, bands * channels) chunks over fixed windows of ``window`` samples."""

    def __init__(self, channels: int, bands: int, window: int) -> None:
        self.bands, self.window = bands, window
        self._sum = np.zeros(channels)
        self._sq = np.zeros(channels)
        self._n = 0

    def push(self, x: np.ndarray, ts: np.ndarray) -> list[dict]:
        events = []
        pos = 0
        while pos < len(x):
            k = min(len(x) - pos, self.window - self._n)
            part = x[pos : pos + k].astype(np.float64, copy=False)
            self._sum += part.sum(axis=0)
            self._sq += np.square(part).sum(axis=0)
            self._n += k
            pos += k
            if self._n == self.window:
                var = np.maximum(self._sq / self._n - np.square(self._sum / self._n), 0.0)
                rms = np.sqrt(var.reshape(self.bands, -1).mean(axis=1))
                events.append({"type": "level", "t": float(ts[pos - 1]), "rms": [float(v) for v in rms]})
                self._sum[:] = 0.0
                self._sq[:] = 0.0
                self._n = 0
        return events


class EngineSource:
    """``EngineSource(engine, stream=NAME)`` (or ``left=, right=``); ``replay=SESSION`` first
    publishes that session over LSL under a fresh name and serves the engine on it."""

    def __init__(
        self,
        engine,
        stream: str | None = None,
        left: str | None = None,
        right: str | None = None,
        resolve_timeout: float = 5.0,
        replay: str | Path | None = None,
        replay_speed: float = 1.0,
        replay_loop: bool = False,
        band: str | None = None,
        imu: str | None = None,
    ) -> None:
        self.engine = engine
        self.band = band  # set when one of several bands: every event is tagged with it
        self.replay = self.replayer = None
        self.score = None
        self.gestures = None  # replaying a gesture recording: its prompts
        if replay is not None:
            from emgrt.stream.live import PrivateReplay

            self.replay = PrivateReplay(replay, "serve", speed=replay_speed, loop=replay_loop)
            self.replayer, stream = self.replay.replayer, self.replay.name
            if self.replayer.marker_kind == "keys":  # keystrokes to score the text against
                self.score = self.replay.score()
            elif self.replayer.marker_kind == "gestures":  # the gesture asked for, as prompt events
                from emgrt.stream.gesture_score import GestureScore

                self.gestures = GestureScore(self.replayer)
        self._prompt = ""
        self._summarized = False
        self._next_score = 0.0
        self.stream_kwargs = dict(stream=stream, left=left, right=right, resolve_timeout=resolve_timeout, imu=imu)
        bands = len(engine.bundle.spec.signal.bands)
        self.meter = LevelMeter(engine.channels, bands, max(1, int(engine.rate / LEVEL_HZ)))
        self._snapshot: dict = {}  # engine.stats() at the last heartbeat
        self._counters: dict = {}  # engine.counts() after the last chunk (consistent, cheap)
        self._emit: Callable[[dict], None] = lambda ev: None
        self._next_beat = 0.0
        self._clock = time.monotonic
        self._lsl_clock: Callable[[], float] | None = None

    @property
    def prompt(self) -> str | None:
        """The replay's prompt on screen now (None when not replaying): the `text` reply carries it,
        so a page that connects mid-prompt shows it."""
        return self._prompt if self.score is not None or self.gestures is not None else None

    def describe(self) -> dict:
        b = self.engine.bundle
        names = [n for n in (self.stream_kwargs["stream"], self.stream_kwargs["left"], self.stream_kwargs["right"]) if n]
        return {
            "bundle": str(b.dir), "model": b.spec.model.name or None,
            "decoder": self.engine.decoder_kind, "streams": names or ["(first EMG stream)"],
            "replay": str(self.replayer.session.path) if self.replayer else None,
        }

    def stats(self) -> dict:
        """Engine figures, copied in the engine's thread: the counters after every processed
        chunk (so ``received + filled == processed + buffered`` holds in every reply), the
        percentiles at each heartbeat."""
        return {**self._snapshot, **self._counters}

    def request_reset(self, band: str | None = None) -> None:
        self.engine.request_reset("reset by a client")

    def _heartbeat(self, ts_last: float | None) -> None:
        s = self.engine.stats()
        self._snapshot = s
        lag = None
        if ts_last is not None and self._lsl_clock is not None:
            lag = round((self._lsl_clock() - ts_last) * 1000.0, 3)
        self._emit({
            "type": "status", "status": "running", "t": ts_last,
            "samples": {k: s.get(k) for k in COUNTERS},
            "latency_ms": {"compute_p50": s.get("compute_ms_p50"), "compute_p99": s.get("compute_ms_p99"), "lag": lag},
        })

    def _on_chunk(self, x: np.ndarray, ts: np.ndarray) -> None:
        self._counters = self.engine.counts()
        if len(ts):
            for ev in self.meter.push(x, ts):
                self._emit(ev)
        now = self._clock()
        if self.score is not None and len(ts):
            last = float(ts[-1])
            if now >= self._next_score or (not self._summarized and self.score.first_pass_done(last)):
                self._next_score = now + SCORE_S
                self._score(last)
        if self.gestures is not None and len(ts) and now >= self._next_score:
            self._next_score = now + SCORE_S
            prompt = self.gestures.prompt(float(ts[-1]))
            if prompt != self._prompt:
                self._prompt = prompt
                self._emit({"type": "prompt", "t": float(ts[-1]), "text": prompt})
        if now >= self._next_beat:
            self._next_beat = now + HEARTBEAT_S
            self._heartbeat(float(ts[-1]) if len(ts) else self.engine.last_stamp)

    def _score(self, t: float) -> None:
        """Prompt, key and (once) summary events of the replay, at stream time ``t``."""
        from emgrt.stream.watch import summary_event

        sc = self.score
        prompt = sc.prompt(t)
        if prompt != self._prompt:
            self._prompt = prompt
            self._emit({"type": "prompt", "t": t, "text": prompt})
        done = not self._summarized and sc.first_pass_done(t)
        for key in sc.update(t, force=done).keys:
            self._emit({**key, "t": t})
        if done:
            self._summarized = True
            self._emit({**summary_event(sc.summary(self.engine.bundle, self.engine.decoder_kind, self.engine.stats())), "t": t})

    def run(self, emit: Callable[[dict], None], stop: threading.Event) -> None:
        from emgrt.lsl import local_clock as lsl_clock

        self._lsl_clock = lsl_clock
        if self.band is not None:
            untagged, band = emit, self.band
            emit = lambda ev: untagged({**ev, "band": band})  # noqa: E731

        def on_event(ev: dict) -> None:
            if self.replay is not None:
                self.replay.note(0, ev)
            if self.score is not None:
                self.score.record(ev, lsl_clock())
            emit(ev)

        self._emit = emit
        source = LiveSource(self.engine.bundle, **self.stream_kwargs)
        if self.replay is not None:
            self.replay.start()
        try:
            run_live(self.engine, source, on_event, stop, on_chunk=self._on_chunk)
        finally:
            if self.replay is not None:
                self.replay.stop()
            self._counters = self.engine.counts()
            self._heartbeat(self.engine.last_stamp)


class MultiBandSource:
    """Several bands at once: ``MultiBandSource([EngineSource(..., band=NAME), ...])``, each run in
    its own thread.  A band that cannot start (its stream is not found) stops them all with its
    error, as one band would; a band that drops out reconnects on its own, the others go on."""

    prompt = None  # replays are one band

    def __init__(self, sources: list[EngineSource]) -> None:
        names = [s.band for s in sources]
        if len(set(names)) != len(names) or None in names:
            raise ValueError(f"each band needs its own name, got {names}")
        self.sources = {s.band: s for s in sources}

    @property
    def bands(self) -> list[str]:
        return list(self.sources)

    def describe(self) -> dict:
        d = next(iter(self.sources.values())).describe()
        return {**d, "streams": self.bands, "bands": self.bands}

    def stats(self) -> dict:
        """Each band's figures, by band."""
        return {"bands": {name: s.stats() for name, s in self.sources.items()}}

    def request_reset(self, band: str | None = None) -> None:
        """Reset ``band`` (every band when None)."""
        for name, s in self.sources.items():
            if band is None or name == band:
                s.request_reset()

    def run(self, emit: Callable[[dict], None], stop: threading.Event) -> None:
        inner = threading.Event()  # set when the server stops or a band fails
        errors: list[BaseException] = []

        def band(source: EngineSource) -> None:
            try:
                source.run(emit, inner)
            except BaseException as exc:  # the first is raised below, for the server to report
                errors.append(exc)
                inner.set()

        threads = [threading.Thread(target=band, args=(s,), name=f"emgrt-band-{n}", daemon=True)
                   for n, s in self.sources.items()]
        for t in threads:
            t.start()
        while not stop.wait(0.05) and not inner.is_set():
            pass
        inner.set()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
