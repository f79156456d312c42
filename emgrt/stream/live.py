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
            Expect.from_manifest(bundle.manifest), stream=stream, left=left, right=right,
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
                on_event({"type": "status", "status": "lost", "reason": str(exc), "t": engine._last_ts})
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
