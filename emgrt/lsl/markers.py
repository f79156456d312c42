"""Keystroke markers over LSL, and the LSL clock against unix time (for `emgrt record`).

:class:`KeyInlet` reads a string marker stream such as the ``NAME-keys`` stream ``emgrt
replay`` publishes (one-character markers, the charset's characters, stamped on the LSL clock
at the key's press).  It is opened with ``proc_clocksync``, like the band inlet, so marker and
sample stamps share this machine's LSL clock, and with ``recover=False``: a vanished outlet
raises :class:`~emgrt.lsl.inlet.StreamLost`; :meth:`KeyInlet.reconnect` retries with backoff.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from emgrt.errors import EmgrtError
from emgrt.lsl import pylsl_quiet
from emgrt.lsl.inlet import StreamLost, close_inlet, resolve_one, retry_with_backoff

MAX_MARKERS = 256  # markers pulled per call


def unix_offset(tries: int = 8) -> float:
    """``time.time() - local_clock()`` now: add it to an LSL stamp for unix seconds.  The
    reading whose two LSL clock reads are closest together is used (about a microsecond)."""
    clock = pylsl_quiet().local_clock
    best: tuple[float, float] | None = None
    for _ in range(max(1, tries)):
        a = clock()
        u = time.time()
        b = clock()
        if best is None or b - a < best[0]:
            best = (b - a, u - (a + b) / 2.0)
    assert best is not None
    return best[1]


class KeyInlet:
    """A string marker stream -> ``[(marker, lsl_stamp), ...]``; ``connect()``, ``pull()``, ``close()``."""

    def __init__(self, name: str, resolve_timeout: float = 5.0) -> None:
        self.name = name
        self.resolve_timeout = resolve_timeout
        self._pylsl = pylsl_quiet()
        self._inlet = None
        self.received = 0
        self.connects = 0

    @property
    def connected(self) -> bool:
        return self._inlet is not None

    def connect(self) -> None:
        """Resolve and open the stream; EmgrtError if it is missing or does not carry strings."""
        self.close()
        pylsl = self._pylsl
        info = resolve_one(pylsl, self.name, "Markers", self.resolve_timeout)
        if info.channel_format() != pylsl.cf_string:
            raise EmgrtError(
                f"LSL stream '{self.name}' carries numbers, not keystroke markers (pass the string marker "
                f"stream to --keys, e.g. the NAME-keys stream of `emgrt replay`)"
            )
        inlet = pylsl.StreamInlet(info, max_buflen=60, recover=False, processing_flags=pylsl.proc_clocksync)
        try:
            inlet.open_stream(timeout=self.resolve_timeout)
        except Exception as exc:  # pylsl TimeoutError / LostError
            raise StreamLost(f"LSL stream '{self.name}' could not be opened: {exc}") from None
        self._inlet = inlet
        self.connects += 1

    def pull(self, timeout: float = 0.1) -> list[tuple[str, float]]:
        """Markers available now (waiting up to ``timeout`` s for the first), with their stamps;
        the first channel of each.  StreamLost if the outlet vanished."""
        from pylsl.util import LostError

        if self._inlet is None:
            raise EmgrtError("key inlet is not connected (call connect())")
        try:
            markers, stamps = self._inlet.pull_chunk(timeout=timeout, max_samples=MAX_MARKERS)
        except LostError:
            raise StreamLost(f"LSL stream '{self.name}' was lost") from None
        out = [(str(m[0]) if m else "", float(ts)) for m, ts in zip(markers, stamps)]
        self.received += len(out)
        return out

    def reconnect(self, stop: Callable[[], bool], first_delay: float = 0.25, max_delay: float = 4.0) -> bool:
        """Retry :meth:`connect` with exponential backoff until it works (True) or ``stop()`` (False)."""
        self.close()
        return retry_with_backoff(self.connect, stop, first_delay, max_delay)

    def close(self) -> None:
        close_inlet(self._inlet)
        self._inlet = None
