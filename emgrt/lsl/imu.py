"""Receive a band's IMU over LSL for a fused bundle: one 6-channel stream beside the EMG.

The stream is what ``emgrt replay`` publishes as ``NAME-imu-right`` (type ``IMU``: accel x y z in
m/s^2, gyro x y z in rad/s, at the IMU's own rate, stamped on the EMG's clock; see
:mod:`emgrt.io.imu`).  The IMU is optional to a fused model (it was trained to work without
it), so a missing or vanished IMU stream never stops the band: :class:`ImuInlet` reports it
(``imu_missing``, ``imu_lost``), the engine marks the IMU absent, and a
``pylsl.ContinuousResolver`` looks for the stream in the background, without blocking the EMG,
until it is back (``imu_connected``).  A stream of the wrong shape is a user mistake: one line.
"""

from __future__ import annotations

import time

import numpy as np

from emgrt.errors import EmgrtError
from emgrt.lsl import pylsl_quiet
from emgrt.lsl.inlet import MAX_CHUNK, close_inlet
from emgrt.manifest import IMU_CHANNELS

IMU_TYPE = "IMU"
RETRY_S = 1.0  # how often a missing IMU stream is looked for again
RESOLVE_TIMEOUT_S = 1.0  # the wait for the IMU stream at connect (it is optional: short)


def imu_stream_name(emg_stream: str | None, band: str) -> str | None:
    """The IMU stream ``emgrt replay`` publishes beside EMG stream ``emg_stream`` for ``band``
    (None: find it by type ``IMU``, as the EMG is found by type ``EMG``)."""
    return None if emg_stream is None else f"{emg_stream}-imu-{band}"


class ImuInlet:
    """One IMU stream by ``name`` (or the first of type ``IMU``).  :meth:`connect` once, then
    :meth:`pull` per loop: (n, 6) float32, (n,) stamps, and a status change or None."""

    def __init__(self, name: str | None, resolve_timeout: float = RESOLVE_TIMEOUT_S, retry_s: float = RETRY_S) -> None:
        self.name = name
        self.resolve_timeout, self.retry_s = resolve_timeout, retry_s
        self._pylsl = pylsl_quiet()
        self._inlet = None
        self._resolver = None
        self._next_try = 0.0
        self._buf = np.zeros((MAX_CHUNK, IMU_CHANNELS), np.float32)
        self.received = 0
        self.connects = 0
        self.losses = 0

    @property
    def connected(self) -> bool:
        return self._inlet is not None

    @property
    def label(self) -> str:
        return self.name or f"(type {IMU_TYPE})"

    def stats(self) -> dict:
        return {"stream": self.label, "connected": self.connected, "received": self.received,
                "connects": self.connects, "losses": self.losses}

    def connect(self) -> bool:
        """Look for the stream for up to ``resolve_timeout`` s and open it: True if it is there."""
        prop, value = ("name", self.name) if self.name else ("type", IMU_TYPE)
        found = self._pylsl.resolve_byprop(prop, value, 1, self.resolve_timeout)
        return bool(found) and self._open(found[0])

    def _open(self, info) -> bool:
        pylsl = self._pylsl
        if info.channel_count() != IMU_CHANNELS:
            raise EmgrtError(f"LSL stream '{info.name()}' has {info.channel_count()} channels; a band's IMU stream has "
                             f"{IMU_CHANNELS} (accel x y z in m/s^2, gyro x y z in rad/s): pass the right --imu name")
        inlet = pylsl.StreamInlet(info, max_buflen=60, recover=False, processing_flags=pylsl.proc_clocksync)
        try:
            inlet.open_stream(timeout=self.resolve_timeout)
        except Exception:  # pylsl TimeoutError / LostError: not there after all; looked for again
            return False
        if inlet.np_dtype is None:
            raise EmgrtError(f"LSL stream '{info.name()}' carries strings, not IMU samples (pass the right --imu name)")
        self._raw = np.zeros((MAX_CHUNK, IMU_CHANNELS), dtype=inlet.np_dtype)  # pulled in the stream's own type
        self._inlet, self._resolver = inlet, None
        self.connects += 1
        return True

    def _retry(self) -> bool:
        """Non-blocking: whether the background resolver has found the stream (then opened)."""
        now = time.monotonic()
        if now < self._next_try:
            return False
        self._next_try = now + self.retry_s
        if self._resolver is None:
            prop, value = ("name", self.name) if self.name else ("type", IMU_TYPE)
            self._resolver = self._pylsl.ContinuousResolver(prop=prop, value=value, forget_after=2.0)
            return False
        found = self._resolver.results()
        return bool(found) and self._open(found[0])

    def pull(self) -> tuple[np.ndarray, np.ndarray, str | None]:
        """The IMU samples there now (no waiting), views valid until the next call, and
        ``imu_connected`` / ``imu_lost`` when the stream came or went (else None)."""
        from pylsl.util import LostError

        empty = self._buf[:0], np.zeros(0)
        if self._inlet is None:
            return (*empty, "imu_connected") if self._retry() else (*empty, None)
        try:
            _, ts = self._inlet.pull_chunk(timeout=0.0, max_samples=MAX_CHUNK, dest_obj=self._raw)
        except LostError:
            self.close()
            self.losses += 1
            return (*empty, "imu_lost")
        ts = np.asarray(ts, dtype=np.float64)
        n = len(ts)
        self.received += n
        if self._raw.dtype == np.float32:
            return self._raw[:n], ts, None
        np.copyto(self._buf[:n], self._raw[:n], casting="unsafe")
        return self._buf[:n], ts, None

    def close(self) -> None:
        close_inlet(self._inlet)
        self._inlet = None
        self._next_try = 0.0
