"""A live band over LSL feeding an engine, until stopped; the outlet may come and go.

``run_live(engine, source, on_event, stop)`` pulls chunks from a :class:`LiveSource`
(an LSL band inlet set up from the bundle's signal layout), feeds them to the
engine and calls ``on_event`` for every event.  When the outlet vanishes it emits
a ``status`` event ``lost``, resets the engine (decoder flushed, state cleared,
``status`` ``reset``), retries the connection with exponential backoff
(``status`` ``reconnecting`` per attempt) and goes on after ``status``
``reconnected``.  Stopping (``stop`` set, e.g. by Ctrl-C) flushes the decoder.
Another thread may call ``engine.request_reset()``; the loop carries it out within one poll.
A fused bundle's source also pulls the band's IMU stream each round, before the engine
processes the EMG chunk (``status`` ``imu_missing`` / ``imu_lost`` / ``imu_connected`` as it
comes and goes; without it the model runs with the IMU absent).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from emgrt.lsl.inlet import BandInlet, Expect, StreamLost

POLL_TIMEOUT_S = 0.02  # longest wait for data per pull; bounds the reaction to `stop`


class LiveSource(BandInlet):
    """The band inlet a bundle needs: ``LiveSource(bundle, stream=NAME)`` or ``left=, right=``.

    A fused bundle (manifest ``task.inputs`` with ``imu``) also gets the band's IMU stream as
    :attr:`imu` (an :class:`~emgrt.lsl.imu.ImuInlet`): ``imu`` names it, by default the one
    ``emgrt replay`` publishes beside the EMG stream (``NAME-imu-right``); it is optional."""

    def __init__(
        self,
        bundle,
        stream: str | None = None,
        left: str | None = None,
        right: str | None = None,
        resolve_timeout: float = 5.0,
        imu: str | None = None,
    ) -> None:
        from emgrt.lsl.imu import ImuInlet, imu_stream_name

        super().__init__(
            Expect.from_manifest(bundle.spec), stream=stream, left=left, right=right,
            resolve_timeout=resolve_timeout,
        )
        spec = bundle.spec
        if "imu" in spec.task.inputs:
            self.imu = ImuInlet(imu or imu_stream_name(stream, spec.signal.bands[-1]))
        elif imu is not None:
            from emgrt.errors import ConfigError

            raise ConfigError(f"{bundle.dir}: this bundle's model does not read the IMU (task.inputs "
                              f"{list(spec.task.inputs)}); drop --imu")

    def connect(self) -> None:
        # The IMU first: a replay starts sending once the EMG has a consumer, and LSL sends
        # nothing to a late joiner.  It is optional: without it the engine runs the IMU absent.
        if self.imu is not None and not self.imu.connected:
            self.imu.connect()
        super().connect()

    def stats(self) -> dict:
        d = super().stats()
        if self.imu is not None:
            d["imu"] = self.imu.stats()
        return d

    def close(self) -> None:
        super().close()
        if self.imu is not None:
            self.imu.close()


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
    imu = source.imu
    if imu is not None and not imu.connected:
        on_event({"type": "status", "status": "imu_missing", "stream": imu.label, "t": None})
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
            if imu is not None:  # after the EMG pull: the IMU sent with that chunk is in
                xi, ti, change = imu.pull()
                if change is not None:
                    on_event({"type": "status", "status": change, "stream": imu.label, "t": engine.last_stamp})
                if len(ti):
                    engine.accept_imu(xi, ti)
            events = engine.process(x, ts) if len(ts) else engine.poll()
            for ev in events:
                on_event(ev)
            if on_chunk is not None:
                on_chunk(x, ts)
    finally:
        if imu is not None and imu.connected:  # what arrived of the IMU since the last round
            xi, ti, _ = imu.pull()
            if len(ti):
                engine.accept_imu(xi, ti)
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
        self.source = source
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

    def drain(self, replayer, timeout: float) -> bool:
        """Wait up to ``timeout`` s until the engine has received what ``replayer`` (a
        SessionReplayer) has sent (:func:`received_all`); True if it got there."""
        deadline = time.monotonic() + timeout
        while not received_all(self.engine, replayer, self.source) and time.monotonic() < deadline and not self.failed:
            time.sleep(0.01)
        return received_all(self.engine, replayer, self.source)

    def finish(self, timeout: float = 15.0) -> dict:
        self.stop.set()
        self._thread.join(timeout)
        if "error" in self._box:
            raise self._box["error"]
        return self._box["stats"]


def received_all(engine, replayer, source: BandInlet | None = None) -> bool:
    """Whether ``engine`` has received every EMG sample ``replayer`` has sent (or counted it lost)
    and, for a fused bundle, every IMU sample of the band's IMU stream.  With ``source`` (the
    engine's inlet) the IMU is waited for only while its inlet is open: an IMU stream that was
    never found, or was lost, sends the engine nothing more to wait for."""
    c = engine.counters
    if c["received"] + c["lost"] < replayer.samples_sent:
        return False
    if "imu_received" not in c or (source is not None and (source.imu is None or not source.imu.connected)):
        return True
    return c["imu_received"] >= sum(replayer.imu_sent.values())


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
