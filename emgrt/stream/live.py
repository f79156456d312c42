"""A live band over LSL feeding an engine, until stopped; the outlet may come and go.

``run_live(engine, source, on_event, stop)`` pulls chunks from a :class:`LiveSource`
(an LSL band inlet set up from the bundle's signal layout), feeds them to the
engine and calls ``on_event`` for every event.  When the outlet vanishes it emits
a ``status`` event ``lost``, resets the engine (decoder flushed, state cleared,
``status`` ``reset``), retries the connection with exponential backoff
(``status`` ``reconnecting`` per attempt) and goes on after ``status``
``reconnected``.  Stopping (``stop`` set, e.g. by Ctrl-C) flushes the decoder.
Another thread may call ``engine.request_reset()``; the loop carries it out within one poll.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from emgrt.lsl.inlet import BandInlet, Expect, StreamLost

POLL_TIMEOUT_S = 0.02  # longest wait for data per pull; bounds the reaction to `stop`


class LiveSource(BandInlet):
    """The band inlet a bundle needs: ``LiveSource(bundle, stream=NAME)`` or ``left=, right=``."""

    def __init__(
        self,
        bundle,
        stream: str | None = None,
        left: str | None = None,
        right: str | None = None,
        resolve_timeout: float = 5.0,
    ) -> None:
        super().__init__(
            Expect.from_manifest(bundle.spec), stream=stream, left=left, right=right,
            resolve_timeout=resolve_timeout,
        )


def run_live(
    engine,
    source: BandInlet,
    on_event: Callable[[dict], None],
    stop: threading.Event,
    poll_timeout: float = POLL_TIMEOUT_S,
    on_chunk: Callable[[np.ndarray, np.ndarray], None] | None = None,
) -> dict:
    """Run until ``stop`` is set; returns ``{"engine": engine.stats(), "source": source.stats()}``.

    ``on_chunk(x, ts)``, if given, is called after the engine has processed each pulled chunk
    (also an empty one), in this thread: the engine's counters are consistent there.
    Connects first if needed (EmgrtError if the stream is missing or does not fit the bundle)."""
    if not source._streams:
        source.connect()
    on_event({"type": "status", "status": "connected", "streams": source.stats()["streams"], "t": None})
    try:
        while not stop.is_set():
            try:
                x, ts = source.pull(poll_timeout)
            except StreamLost as exc:
                on_event({"type": "status", "status": "lost", "reason": str(exc), "t": engine.last_stamp})
                for ev in engine.reset("stream lost"):
                    on_event(ev)

                def retry(attempt: int, reason: str) -> None:
                    on_event({"type": "status", "status": "reconnecting", "attempt": attempt, "t": None})

                if not source.reconnect(stop.is_set, on_retry=retry):
                    break
                on_event({"type": "status", "status": "reconnected", "streams": source.stats()["streams"], "t": None})
                continue
            events = engine.process(x, ts) if len(ts) else engine.poll()
            for ev in events:
                on_event(ev)
            if on_chunk is not None:
                on_chunk(x, ts)
    finally:
        for ev in engine.finish():
            on_event(ev)
        source.close()
    return {"engine": engine.stats(), "source": source.stats()}


class LiveThread:
    """:func:`run_live` in a background thread: an engine reading a stream while this thread
    drives something else (a replay of its own, a clock).  ``start()``, then ``drain(sent)``
    to wait until every sample a replay sent has arrived (or been counted lost), then
    ``finish()`` for run_live's result; an exception in the thread is raised there."""

    def __init__(self, engine, source: BandInlet, on_event: Callable[[dict], None], **kwargs) -> None:
        self.engine = engine
        self.stop = threading.Event()
        self._box: dict = {}
        self._args = (engine, source, on_event, self.stop)
        self._kwargs = kwargs
        self._thread = threading.Thread(target=self._run, name="emgrt-live", daemon=True)

    def _run(self) -> None:
        try:
            self._box["stats"] = run_live(*self._args, **self._kwargs)
        except BaseException as exc:  # raised by finish()
            self._box["error"] = exc

    def start(self) -> "LiveThread":
        self._thread.start()
        return self

    @property
    def failed(self) -> bool:
        return "error" in self._box

    def drain(self, sent: int, timeout: float) -> bool:
        """Wait up to ``timeout`` s until ``received + lost >= sent``; True if it got there."""
        deadline = time.monotonic() + timeout
        c = self.engine.counters
        while c["received"] + c["lost"] < sent and time.monotonic() < deadline and not self.failed:
            time.sleep(0.01)
        return c["received"] + c["lost"] >= sent

    def finish(self, timeout: float = 15.0) -> dict:
        self.stop.set()
        self._thread.join(timeout)
        if "error" in self._box:
            raise self._box["error"]
        return self._box["stats"]


class PrivateReplay:
    """A recording published over LSL for ``receivers`` engines of this process to read: the one
    replay-over-LSL wiring of ``emgrt demo``, ``emgrt latency --live`` and ``emgrt serve --replay``.

    A fresh stream name per replay; sending starts once every receiver has reported its stream
    ``connected`` (:meth:`note` each receiver's events), so none misses a sample (LSL sends
    nothing to late joiners, and an outlet cannot count its consumers).  The commands call
    :func:`emgrt.lsl.keep_local` first, so the stream is discovered on this machine only.
    ``source(bundle)`` is a receiver's inlet, ``score()`` a :class:`~emgrt.stream.watch.ReplayScore`
    of the replay."""

    def __init__(
        self, session, purpose: str = "replay", *, receivers: int = 1, speed: float = 1.0,
        max_seconds: float | None = None, loop: bool = False,
    ) -> None:
        import uuid

        from emgrt.lsl.outlet import SessionReplayer

        self.name = f"emgrt-{purpose}-{uuid.uuid4().hex[:8]}"
        self.receivers = receivers
        self._connected: set = set()
        self._gate = threading.Event()
        self.replayer = SessionReplayer(
            session, self.name, speed=speed, wait_for_consumer=10.0, max_seconds=max_seconds, loop=loop, gate=self._gate,
        )

    def source(self, bundle) -> LiveSource:
        return LiveSource(bundle, stream=self.name)

    def score(self):
        from emgrt.stream.watch import ReplayScore

        return ReplayScore(self.replayer)

    def note(self, receiver, ev: dict) -> None:
        """Watch one receiver's events (any hashable id): once every receiver has reported
        ``connected``, the replay starts sending."""
        if ev.get("type") == "status" and ev.get("status") in ("connected", "reconnected"):
            self._connected.add(receiver)
            if len(self._connected) >= self.receivers:
                self._gate.set()

    def release(self) -> None:
        """Send without waiting for the rest (a receiver failed)."""
        self._gate.set()

    def start(self) -> "PrivateReplay":
        self.replayer.start()
        return self

    def stop(self) -> None:
        self.replayer.stop()
