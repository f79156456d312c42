"""Receive a band over LSL: one 32-channel stream or two 16-channel band streams, as (n, 32) chunks.

:class:`BandInlet` resolves the stream(s) by name (or by type ``EMG`` when no name
is given), checks channel count and nominal rate against the bundle at connect
(a mismatch is a one-line :class:`~emgrt.errors.EmgrtError` naming both values
and the fix) and pulls with ``pull_chunk(dest_obj=...)`` into preallocated
buffers.  Inlets are opened with ``recover=False`` so that a vanished outlet
raises :class:`StreamLost` instead of being waited for silently; the caller
(:func:`emgrt.stream.live.run_live`) resets the engine and calls
:meth:`BandInlet.reconnect`, which retries with exponential backoff.

Two band streams are aligned by time stamp: samples pair up when their stamps
agree within half a sample period; a sample with no partner (one band started
earlier, or one band lost samples) is discarded and counted in ``unpaired``.
Counters, per EMG stream ``b``: ``received[b] == delivered + queued[b] + unpaired[b]``
at all times (``queued`` and ``unpaired`` stay 0 for one 32-channel stream).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from emgrt.errors import EmgrtError
from emgrt.lsl import pylsl_quiet
from emgrt.stream.ring import RingBuffer

MAX_CHUNK = 1024  # samples pulled per call (0.5 s at 2 kHz)
BAND_QUEUE = 8192  # samples a band may run ahead of the other before its oldest are discarded


class StreamLost(EmgrtError):
    """The LSL outlet went away (closed, crashed, network lost)."""


class StreamNotFound(EmgrtError):
    """No stream of that name (or type) answered within the timeout."""


@dataclass(frozen=True)
class Expect:
    """What the bundle needs from the band."""

    channels: int = 32
    channels_per_band: int = 16
    rate: float = 2000.0
    who: str = "the bundle"  # named in a mismatch message ("emgrt record" records emg2qwerty's layout)

    @classmethod
    def from_manifest(cls, manifest) -> "Expect":
        """What a typed :class:`emgrt.manifest.Manifest` (``bundle.spec``) needs from the band."""
        sig = manifest.signal
        return cls(sig.channels, sig.channels_per_band, float(sig.sample_rate))


def resolve_one(pylsl, name: str | None, stream_type: str, timeout: float):
    """The first stream called ``name`` (or of type ``stream_type``); EmgrtError after ``timeout`` s."""
    prop, value = ("name", name) if name else ("type", stream_type)
    found = pylsl.resolve_byprop(prop, value, 1, timeout)
    if not found:
        what = f"named '{name}'" if name else f"of type '{stream_type}'"
        raise StreamNotFound(
            f"no LSL stream {what} found within {timeout:g} s (is the band or `emgrt replay` running? "
            "list streams with `emgrt listen --list`, or pass the right --stream/--left/--right name)"
        )
    return found[0]


def retry_with_backoff(
    connect: Callable[[], None],
    stop: Callable[[], bool],
    first_delay: float = 0.25,
    max_delay: float = 4.0,
    on_retry: Callable[[int, str], None] | None = None,
) -> bool:
    """Call ``connect`` until it returns (True) or ``stop()`` (False), waiting ``first_delay``
    doubling to ``max_delay`` after each StreamLost/StreamNotFound; other errors are raised."""
    delay, attempt = first_delay, 0
    while not stop():
        attempt += 1
        try:
            connect()
            return True
        except (StreamLost, StreamNotFound) as exc:
            reason = str(exc)
        if on_retry is not None:
            on_retry(attempt, reason)
        end = time.monotonic() + delay
        while time.monotonic() < end and not stop():
            time.sleep(min(0.05, delay))
        delay = min(max_delay, delay * 2)
    return False


def close_inlet(inlet) -> None:
    """Close a pylsl StreamInlet (None: nothing to close); one already gone is fine."""
    if inlet is None:
        return
    try:
        inlet.close_stream()
    except Exception:  # already gone
        pass


class _Stream:
    """One open LSL inlet with its preallocated pull buffer."""

    def __init__(self, pylsl, info, expect_channels: int, expect: Expect, role: str, open_timeout: float) -> None:
        name = info.name()
        n_ch, rate = info.channel_count(), info.nominal_srate()
        if n_ch != expect_channels:
            if expect_channels == expect.channels:
                fix = (
                    f"publish one {expect.channels}-channel stream, or pass --left/--right for two "
                    f"{expect.channels_per_band}-channel band streams"
                )
            else:
                fix = f"--left/--right take {expect.channels_per_band}-channel band streams"
            raise EmgrtError(
                f"LSL stream '{name}' ({role}) has {n_ch} channels but {expect.who} expects {expect_channels} ({fix})"
            )
        if abs(rate - expect.rate) > 1e-6 * expect.rate:
            raise EmgrtError(
                f"LSL stream '{name}' has nominal rate {rate:g} Hz but {expect.who} expects {expect.rate:g} Hz "
                f"(resample the band stream to {expect.rate:g} Hz"
                + (f", or use a bundle trained at {rate:g} Hz)" if expect.who == "the bundle" else ")")
            )
        self.name = name
        # proc_clocksync: stamps arrive on this machine's LSL clock (the outlet's clock offset
        # applied), so two bands, or a band and its keystroke markers, share one timeline.
        # Not proc_dejitter: it smooths stamps by sample count, which hides real gaps;
        # the engine's StampClock de-jitters and finds gaps itself.
        self.inlet = pylsl.StreamInlet(info, max_buflen=60, recover=False, processing_flags=pylsl.proc_clocksync)
        try:
            self.inlet.open_stream(timeout=open_timeout)
        except Exception as exc:  # pylsl TimeoutError / LostError
            raise StreamLost(f"LSL stream '{name}' could not be opened: {exc}") from None
        dtype = self.inlet.np_dtype
        if dtype is None:
            raise EmgrtError(f"LSL stream '{name}' carries strings, not samples (pick the EMG stream)")
        self.buf = np.zeros((MAX_CHUNK, n_ch), dtype=dtype)

    def pull(self, pylsl, timeout: float) -> tuple[np.ndarray, np.ndarray]:
        from pylsl.util import LostError

        try:
            # min_samples=1: return as soon as anything is there (liblsl's plain fixed-buffer
            # pull would wait for MAX_CHUNK samples or the whole timeout: added latency).
            _, ts = self.inlet.pull_chunk(timeout=timeout, max_samples=MAX_CHUNK, dest_obj=self.buf, min_samples=1)
        except LostError:
            raise StreamLost(f"LSL stream '{self.name}' was lost") from None
        ts = np.asarray(ts, dtype=np.float64)
        return self.buf[: len(ts)], ts

    def close(self) -> None:
        close_inlet(self.inlet)


class BandInlet:
    """A band over LSL -> (n, channels) float32 chunks with float64 LSL time stamps.

    ``BandInlet(expect, stream="NAME")`` or ``BandInlet(expect, left="L", right="R")``;
    with neither, the first stream of type ``EMG`` is used.
    """

    def __init__(
        self,
        expect: Expect,
        stream: str | None = None,
        left: str | None = None,
        right: str | None = None,
        stream_type: str = "EMG",
        resolve_timeout: float = 5.0,
    ) -> None:
        if (left is None) != (right is None):
            raise EmgrtError("pass both --left and --right (two band streams), or --stream for one stream")
        if left is not None and stream is not None:
            raise EmgrtError("pass either --stream (one 32-channel stream) or --left/--right, not both")
        self.expect = expect
        self.names = [left, right] if left is not None else [stream]
        self.stream_type = stream_type
        self.resolve_timeout = resolve_timeout
        self._pylsl = pylsl_quiet()
        self._streams: list[_Stream] = []
        self._out = np.zeros((MAX_CHUNK, expect.channels), dtype=np.float32)
        self._out_ts = np.zeros(MAX_CHUNK, dtype=np.float64)
        cpb = expect.channels_per_band
        self._queues = [(RingBuffer(BAND_QUEUE, (cpb,)), RingBuffer(BAND_QUEUE, (), np.float64)) for _ in range(2)]
        self._scratch_ts = np.zeros(max(MAX_CHUNK, BAND_QUEUE), dtype=np.float64)
        self.received = [0] * len(self.names)  # samples pulled from LSL, per EMG stream
        self.unpaired = [0] * len(self.names)  # discarded for want of a partner, per stream
        self.delivered = 0  # samples (pairs) handed to the caller
        self.connects = 0
        self.imu = None  # the band's IMU inlet, for a fused bundle (emgrt.stream.live.LiveSource)

    @property
    def two_bands(self) -> bool:
        return len(self.names) == 2

    @property
    def queued(self) -> list[int]:
        """Samples per stream waiting for their partner (two bands only)."""
        if not self.two_bands:
            return [0]
        return [len(q) for q, _ in self._queues]

    def stats(self) -> dict:
        return {
            "streams": [n or f"(type {self.stream_type})" for n in self.names],
            "received": list(self.received),
            "delivered": self.delivered,
            "queued": self.queued,
            "unpaired": list(self.unpaired),
            "connects": self.connects,
        }

    # -- connection ------------------------------------------------------------------------------
    def connect(self) -> None:
        """Resolve, open and check the stream(s); EmgrtError on timeout or mismatch."""
        BandInlet.close(self)  # the band's EMG streams (a subclass's other streams stay open)
        want = self.expect.channels_per_band if self.two_bands else self.expect.channels
        roles = ("left band", "right band") if self.two_bands else ("both bands",)
        streams = []
        try:
            for name, role in zip(self.names, roles):
                info = resolve_one(self._pylsl, name, self.stream_type, self.resolve_timeout)
                streams.append(_Stream(self._pylsl, info, want, self.expect, role, self.resolve_timeout))
        except BaseException:
            for s in streams:
                s.close()
            raise
        self._streams = streams
        for q, tq in self._queues:
            q.clear()
            tq.clear()
        self.connects += 1

    def reconnect(
        self,
        stop: Callable[[], bool],
        first_delay: float = 0.25,
        max_delay: float = 4.0,
        on_retry: Callable[[int, str], None] | None = None,
    ) -> bool:
        """Retry :meth:`connect` with exponential backoff until it works (True) or ``stop()`` (False).

        A channel/rate mismatch of the returning stream is raised, not retried."""
        self.close()
        return retry_with_backoff(self.connect, stop, first_delay, max_delay, on_retry)

    def close(self) -> None:
        for s in self._streams:
            s.close()
        self._streams = []
        if self.two_bands:
            # Samples waiting for a partner from a connection that ended will never be paired.
            for b, n in enumerate(self.queued):
                self.unpaired[b] += n
        for q, tq in self._queues:
            q.clear()
            tq.clear()

    # -- data ------------------------------------------------------------------------------------
    def pull(self, timeout: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
        """Samples available now (waiting up to ``timeout`` s for the first), as views of internal
        buffers valid until the next call: (n, channels) float32 and (n,) float64.  Raises
        :class:`StreamLost` if an outlet vanished, EmgrtError if not connected."""
        if not self._streams:
            raise EmgrtError("band inlet is not connected (call connect())")
        if not self.two_bands:
            data, ts = self._streams[0].pull(self._pylsl, timeout)
            n = len(ts)
            self.received[0] += n
            self.delivered += n
            if data.dtype == np.float32:
                return data, ts
            np.copyto(self._out[:n], data, casting="unsafe")
            return self._out[:n], ts
        for b, (s, (q, tq)) in enumerate(zip(self._streams, self._queues)):
            data, ts = s.pull(self._pylsl, timeout / 2)
            n = len(ts)
            self.received[b] += n
            overflow = max(0, n - q.free)
            if overflow:  # this band ran far ahead of the other: its oldest samples lose their chance
                q.discard(overflow)
                tq.discard(overflow)
                self.unpaired[b] += overflow
            q.write(data)  # cast to float32 on copy
            tq.write(ts)
        return self._pair()

    def _pair(self) -> tuple[np.ndarray, np.ndarray]:
        """Pop aligned (left, right) pairs into the output buffer."""
        (lq, ltq), (rq, rtq) = self._queues
        half = 0.5 / self.expect.rate
        cpb = self.expect.channels_per_band
        n_out = 0
        while len(lq) and len(rq) and n_out < MAX_CHUNK:
            tl, tr = float(ltq.first()), float(rtq.first())
            if tl < tr - half:
                self._drop_unpaired(0, tr - half)
                continue
            if tr < tl - half:
                self._drop_unpaired(1, tl - half)
                continue
            n = min(len(lq), len(rq), MAX_CHUNK - n_out)
            lts = ltq.peek(n, self._out_ts[n_out:])
            rts = rtq.peek(n, self._scratch_ts)
            ok = np.abs(lts - rts) <= half
            if not ok.all():
                n = int(np.argmin(ok))  # pair up to the first disagreement
            lq.read(n, self._out[n_out:, :cpb])
            rq.read(n, self._out[n_out:, cpb:])
            ltq.discard(n)
            rtq.discard(n)
            n_out += n
        self.delivered += n_out
        return self._out[:n_out], self._out_ts[:n_out]

    def _drop_unpaired(self, band: int, before: float) -> None:
        """Discard band ``band``'s samples stamped before ``before`` (at least one)."""
        q, tq = self._queues[band]
        stamps = tq.peek(len(tq), self._scratch_ts)
        k = max(1, int(np.searchsorted(stamps, before, side="left")))
        q.discard(k)
        tq.discard(k)
        self.unpaired[band] += k
