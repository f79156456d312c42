"""The engine: one live stream through one bundle, band samples in, character events out.

``Engine`` is a :class:`~emgrt.stream.recognizer.Recognizer` with one
:class:`~emgrt.stream.recognizer.Stream`: :meth:`Engine.process` accepts a chunk and decodes
the steps it completed, returning their events.  The pipeline and its counters are described
in :mod:`emgrt.stream.recognizer`.

:class:`EngineGroup` gives several engines (one per band, each fed by its own thread, as
``emgrt serve --stream A --stream B`` does) one Recognizer, under the group's lock.  A band's
thread accepts its chunk; once every band has a step queued, or the oldest queued step has
waited ``max_wait_s`` (default 10 ms, a third of a hop: a band that went quiet delays no one
longer), that thread decodes every band's queued steps in one batched call.  The events of the
other bands wait on their streams until their own thread's next :meth:`Engine.process` or
:meth:`Engine.poll` (at most one poll interval, 20 ms in :func:`emgrt.stream.live.run_live`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence

import numpy as np

from emgrt.stream.recognizer import HOP_TIMES_KEPT, MAX_FILL_S, Recognizer, load_bundle

MAX_WAIT_S = 0.01  # a group's queued step waits at most this long for the other bands' steps

__all__ = ["Engine", "EngineGroup", "HOP_TIMES_KEPT", "MAX_FILL_S", "load_bundle"]


class Engine:
    """One live stream through one bundle.  Not thread-safe: one thread calls process(), except
    :meth:`request_reset`, which any thread may call."""

    def __init__(
        self,
        bundle,
        decoder: str | None = None,
        providers: Sequence[str] | None = None,
        threads: int = 1,
        max_fill_s: float = MAX_FILL_S,
        int8: bool = False,
        adapt: bool | None = None,
        batched: bool = False,
        **decoder_opts,
    ) -> None:
        # One stream gains nothing from the batch axis: the step graph, its state bound once.
        self.recognizer = rec = Recognizer(
            bundle, decoder, providers, threads, max_fill_s, int8, adapt, batched=batched, **decoder_opts
        )
        self._bind(rec, rec.create_stream(), contextlib.nullcontext(), None)

    def _bind(self, rec: Recognizer, stream, lock, peers: list | None, max_wait_s: float = 0.0) -> None:
        self.recognizer, self.stream = rec, stream
        self._lock = lock
        self._peers = peers if peers is not None else [stream]  # the streams decode() runs
        self._max_wait_s = max_wait_s
        self.bundle, self.rate, self.channels = rec.bundle, rec.rate, rec.channels
        self.provider, self.decoder_kind, self.step_path = rec.provider, rec.decoder_kind, rec.step_path
        self.hop, self.frames_per_step, self.step_samples = rec.hop, rec.frames_per_step, rec.step_samples
        self.frontend, self.decoder = self.stream.frontend, self.stream.decoder
        self._reset_request: str | None = None  # set by request_reset() from another thread

    # What the stream keeps, read (and hop_log set) through the engine.
    @property
    def counters(self) -> dict:
        return self.stream.counters

    @property
    def event_offsets(self) -> list[float]:
        """Per event of the last call: seconds since the call began."""
        return self.stream.event_offsets

    @property
    def hop_log(self) -> list[float] | None:
        return self.stream.hop_log

    @hop_log.setter
    def hop_log(self, log: list[float] | None) -> None:
        self.stream.hop_log = log  # set to a list to collect every step's compute (ms)

    @property
    def last_stamp(self) -> float | None:
        return self.stream.last_stamp

    def accept_imu(self, samples: np.ndarray, timestamps: np.ndarray, final: bool = False) -> None:
        """Feed the band's (n, 6) IMU samples with their stamps (a fused bundle): before the
        :meth:`process` of the EMG chunk they came with (see :meth:`Stream.accept_imu`)."""
        with self._lock:
            self.stream.accept_imu(samples, timestamps, final)

    def process(self, samples: np.ndarray, timestamps: np.ndarray) -> list[dict]:
        """Feed (n, channels) float32 samples with (n,) float64 stamps; returns the events."""
        reason, self._reset_request = self._reset_request, None
        with self._lock:
            events = self._reset_locked(reason) if reason is not None else []  # it restarts the call's clock
            if not events:
                self.stream.begin_call()
            self.stream.accept(samples, timestamps)
            self._decode()
            return events + self.stream.take_events()

    def _decode(self) -> None:
        """Decode the queued steps: at once for one stream; in a group, once every band has a step
        queued or the oldest has waited ``max_wait_s``, all of them in one batched call."""
        peers = self._peers
        if len(peers) == 1:
            self.recognizer.decode(peers)
            return
        ready = [s for s in peers if s.ready]
        if ready and (len(ready) == len(peers) or max(s.waited for s in ready) >= self._max_wait_s):
            self.recognizer.decode(ready)

    def reset(self, reason: str = "reset") -> list[dict]:
        """End the current stream (flushing the decoder) and start fresh; returns the events."""
        with self._lock:
            return self._reset_locked(reason)

    def _reset_locked(self, reason: str) -> list[dict]:
        events = self.stream.take_events()  # decoded for this band by a peer's call
        self.stream.begin_call()
        self.stream.reset(reason)
        return events + self.stream.take_events()

    def request_reset(self, reason: str = "reset requested") -> None:
        """Ask for a reset from another thread; done at the next :meth:`poll` or :meth:`process`
        (the thread feeding the engine runs it, so the engine needs no lock)."""
        self._reset_request = reason

    def poll(self) -> list[dict]:
        """Events of a requested reset, of steps that waited (for a quiet band in a group, or a
        fused model's IMU) and are now decoded, and in a group the events a peer's call decoded
        for this band (empty if none)."""
        reason, self._reset_request = self._reset_request, None
        if reason is not None:
            return self.reset(reason)
        if len(self._peers) > 1 or self.stream._queue:
            with self._lock:
                self.stream.begin_call()
                self._decode()
                return self.stream.take_events()
        return []

    def finish(self) -> list[dict]:
        """End of input: flush everything; the engine is then ready for a new stream."""
        with self._lock:
            events = self.stream.take_events()
            self.stream.begin_call()
            self.stream.finish()
            return events + self.stream.take_events()

    def counts(self) -> dict:
        """The sample counters, consistent with each other (call from the feeding thread): cheap."""
        with self._lock:
            return self.stream.counts()

    def stats(self) -> dict:
        """:meth:`counts` plus the stamp jitter, compute percentiles, provider and decoder."""
        with self._lock:
            return self.stream.stats()


class EngineGroup:
    """Engines for several bands sharing one :class:`Recognizer` (batched when the bundle has the
    batched step graph): ``group.engine()`` per band, each fed by its own thread."""

    def __init__(self, bundle, decoder: str | None = None, providers: Sequence[str] | None = None, threads: int = 1,
                 max_fill_s: float = MAX_FILL_S, int8: bool = False, adapt: bool | None = None,
                 max_wait_s: float = MAX_WAIT_S, **decoder_opts) -> None:
        self.recognizer = Recognizer(bundle, decoder, providers, threads, max_fill_s, int8, adapt, **decoder_opts)
        self.max_wait_s = max_wait_s
        self.lock = threading.Lock()
        self.streams: list = []
        self.engines: list[Engine] = []

    def engine(self) -> Engine:
        """A new band's engine (its stream joins the group's decode calls)."""
        e = Engine.__new__(Engine)
        with self.lock:
            stream = self.recognizer.create_stream()
            self.streams.append(stream)
        e._bind(self.recognizer, stream, self.lock, self.streams, self.max_wait_s)
        self.engines.append(e)
        return e
