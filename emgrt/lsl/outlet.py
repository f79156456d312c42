"""Publish a recorded session as a live band: EMG stream(s) plus a marker stream of its labels.

:class:`SessionReplayer` runs in a thread.  It sends the session's EMG at the
nominal 2 kHz in chunks of 20-40 samples (like a band's radio packets), in the file's unit.
An emg2qwerty session goes out either as one 32-channel stream ``NAME`` (left band channels
0-15, right 16-31) or as two 16-channel streams ``NAME-left`` and ``NAME-right``
(``split_bands``), with its in-vocabulary keystrokes as strings (charset characters, e.g.
"a", "⌫") on the marker stream ``NAME-keys``.  A generic-neuromotor-interface session (one
band, volts) goes out as one 16-channel stream ``NAME``, with its gestures (their names) on
``NAME-gestures`` or its handwriting prompts (their text, at each prompt's start) on
``NAME-prompts`` (:mod:`emgrt.io.recording`).  A session carrying the IMU extension
(:mod:`emgrt.io.imu`) also gets one 6-channel stream per band that has one,
``NAME-imu-left`` / ``NAME-imu-right`` (type ``IMU``: accel x y z in m/s^2, gyro x y z
in rad/s, at the IMU's own rate), unless ``imu=False``.

Clock: sample ``i`` (counted from the start of the replay, across loops) is
stamped ``t0 + i / 2000`` on the LSL clock, ``t0`` being ``pylsl.local_clock()``
at start, and is pushed when the LSL clock reaches ``t0 + i / (2000 * speed)``.
At speed 1 the stamps are the LSL clock at publication, as from a real band;
faster, the stamps keep the recording's spacing, so gap detection and latency
matching downstream work in recording seconds.  A keystroke is stamped on the
same timeline (its position between the session's sample times) and sent with
the chunk that covers it; so is every IMU sample (its own time stamps mapped onto the
EMG's sample positions), so IMU and EMG stay aligned by time stamp as in the file.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np

from emgrt.constants import CHANNELS_PER_BAND, SAMPLE_RATE_HZ
from emgrt.errors import ConfigError
from emgrt.io.imu import AXES
from emgrt.io.recording import open_recording
from emgrt.logs import logger
from emgrt.lsl import pylsl_quiet

CHUNK_RANGE = (20, 40)  # samples per pushed chunk, drawn uniformly (inclusive)
READ_BLOCK = 20_000  # samples read from the file at a time (10 s)
IMU_CHANNELS = ("accel_x", "accel_y", "accel_z", "gyro_x", "gyro_y", "gyro_z")
IMU_UNITS = ("m/s^2",) * AXES + ("rad/s",) * AXES


class _ImuTrack:
    """One band's IMU samples, (n, 6) accel + gyro, at their positions on the EMG's sample axis."""

    def __init__(self, band: str, stream, emg_time: np.ndarray) -> None:
        self.band, self.rate = band, stream.rate
        self.samples = np.ascontiguousarray(np.hstack([stream.accel(), stream.gyro()]), dtype=np.float32)
        # Position in (fractional) EMG samples: interpolated inside the EMG's span, on the nominal
        # rate outside it (an IMU may start a little before or end after the EMG).
        idx = np.arange(len(emg_time), dtype=np.float64)
        t = stream.time
        pos = np.interp(t, emg_time, idx)
        before, after = t < emg_time[0], t > emg_time[-1]
        pos[before] = (t[before] - emg_time[0]) * SAMPLE_RATE_HZ
        pos[after] = idx[-1] + (t[after] - emg_time[-1]) * SAMPLE_RATE_HZ
        self.pos = pos


class SessionReplayer:
    """Replay ``session_path`` over LSL in a background thread; ``start()``, ``stop()``.

    ``speed`` > 1 replays faster than real time, ``math.inf`` as fast as possible.
    ``loop`` restarts the session when it ends (the stream continues without a gap
    in its stamps).  ``max_seconds`` sends only the session's beginning.  ``stamp_jitter`` > 0 stamps every
    sample off its nominal time by up to that many seconds (uniform), as a band stamping at push time does.  ``wait_for_consumer`` > 0: wait up to that many seconds for a
    receiver on every EMG stream before sending (LSL sends nothing to late joiners); ``gate``, an
    Event, holds the sending until it is set as well (within the same wait), for several receivers:
    have_consumers() cannot count them.  ``imu`` False leaves a session's IMU streams out.
    ``samples_sent``, ``keys_sent`` and ``imu_sent`` (per band) count what went out.
    """

    def __init__(
        self,
        session_path: str | Path,
        name: str = "emgrt-replay",
        speed: float = 1.0,
        split_bands: bool = False,
        loop: bool = False,
        seed: int = 0,
        chunk_range: tuple[int, int] = CHUNK_RANGE,
        wait_for_consumer: float = 0.0,
        max_seconds: float | None = None,
        stamp_jitter: float = 0.0,
        gate: threading.Event | None = None,
        imu: bool = True,
    ) -> None:
        if not speed > 0:
            raise ConfigError(f"replay speed must be > 0, got {speed}")
        lo, hi = chunk_range
        if not 1 <= lo <= hi:
            raise ConfigError(f"chunk range must satisfy 1 <= low <= high, got {chunk_range}")
        self.recording = rec = open_recording(session_path)
        self.session = rec.file  # the format's own reader (keystrokes and prompts of a typing session)
        if split_bands and len(rec.bands) < 2:
            rec.close()
            raise ConfigError(f"{rec.path.name} has one band: it is replayed as one stream (drop --split-bands)")
        self.bands = rec.bands
        self.name, self.speed, self.split_bands, self.loop = name, float(speed), split_bands, loop
        self.chunk_range = (lo, hi)
        self.wait_for_consumer = wait_for_consumer
        self.stamp_jitter = float(stamp_jitter)  # s; > 0 mimics a band whose stamps are taken at push time
        self.gate = gate
        self.rate = SAMPLE_RATE_HZ
        self._rng = np.random.default_rng(seed)
        n = len(rec)
        if max_seconds is not None:
            n = max(1, min(n, int(max_seconds * SAMPLE_RATE_HZ)))
        self.n_samples = n  # session samples sent per pass
        # Marker (keystroke, gesture, prompt) positions in (fractional) samples from the session start.
        times = rec.time
        self._key_pos = np.interp(rec.marker_times, times, np.arange(len(times), dtype=np.float64))
        self.markers = rec.markers  # marker strings, in time order
        self.marker_kind = rec.marker_kind
        self._imu: list[_ImuTrack] = []
        for band in self.bands if imu else ():
            stream = rec.imu(band, (float(times[0]), float(times[-1])))
            if stream is not None:
                self._imu.append(_ImuTrack(band, stream, times))
                stream.close()
        self.imu_sent = {t.band: 0 for t in self._imu}
        self.t0: float | None = None  # LSL time stamp of sample 0, set when the thread starts
        self.samples_sent = 0
        self.keys_sent = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._halt = threading.Event()  # stop sending, keep the outlets (halt())
        self._ready = threading.Event()
        self._finished = threading.Event()  # the whole session has been sent
        self._thread: threading.Thread | None = None

    # -- lifetime --------------------------------------------------------------------------------
    def start(self) -> "SessionReplayer":
        """Create the outlets and start sending; returns once the outlets exist (``t0`` is set
        when sending starts, after waiting for consumers if asked)."""
        self._thread = threading.Thread(target=self._run, name=f"replay-{self.name}", daemon=True)
        self._thread.start()
        self._ready.wait(timeout=10.0)
        if self.error is not None:
            raise self.error
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop sending and destroy the outlets (receivers see the streams vanish)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.recording.close()

    def halt(self) -> None:
        """Stop sending after the current chunk but keep the outlets, so receivers can drain
        what was sent (:meth:`stop` then destroys them)."""
        self._halt.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the whole session has been sent (never, with ``loop``); True if it has.

        The streams stay up after that until :meth:`stop`, so receivers can drain them."""
        return self._finished.wait(timeout)

    @property
    def done(self) -> bool:
        return self._finished.is_set()

    def __enter__(self) -> "SessionReplayer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def stream_names(self) -> list[str]:
        """EMG stream names (one, or left and right), then the marker stream's, then the IMU
        streams' (one per band whose IMU the session carries)."""
        emg = [f"{self.name}-left", f"{self.name}-right"] if self.split_bands else [self.name]
        return [*emg, self.marker_stream_name, *self.imu_stream_names]

    @property
    def marker_stream_name(self) -> str:
        """``NAME-keys``, ``NAME-gestures`` or ``NAME-prompts``."""
        return f"{self.name}-{self.marker_kind}"

    @property
    def imu_stream_names(self) -> list[str]:
        return [self._imu_name(t.band) for t in self._imu]

    def _imu_name(self, band: str) -> str:
        return f"{self.name}-imu-{band}"

    def key_stamp(self, i: int) -> float:
        """LSL stamp of keystroke ``i`` of the session in the first pass (needs ``t0``)."""
        assert self.t0 is not None
        return self.t0 + float(self._key_pos[i]) / self.rate

    # -- the sending thread ----------------------------------------------------------------------
    def _outlets(self, pylsl):
        def emg_outlet(name: str, bands: tuple[str, ...]):
            info = pylsl.StreamInfo(
                name, "EMG", CHANNELS_PER_BAND * len(bands), self.rate, "float32", f"emgrt-replay-{name}"
            )
            chans = info.desc().append_child("channels")
            for band in bands:
                for e in range(CHANNELS_PER_BAND):
                    ch = chans.append_child("channel")
                    ch.append_child_value("label", f"{band}{e}")
                    ch.append_child_value("unit", unit)
            return pylsl.StreamOutlet(info, chunk_size=0, max_buffered=60)

        unit = {"uV": "microvolts", "V": "volts"}[self.recording.unit]
        if self.split_bands:
            emg = [emg_outlet(f"{self.name}-{b}", (b,)) for b in self.bands]
        else:
            emg = [emg_outlet(self.name, self.bands)]
        marker = self.marker_stream_name
        kinfo = pylsl.StreamInfo(marker, "Markers", 1, pylsl.IRREGULAR_RATE, "string", f"emgrt-replay-{marker}")
        return emg, pylsl.StreamOutlet(kinfo), [self._imu_outlet(pylsl, t) for t in self._imu]

    def _imu_outlet(self, pylsl, track: _ImuTrack):
        name = self._imu_name(track.band)
        info = pylsl.StreamInfo(name, "IMU", len(IMU_CHANNELS), track.rate, "float32", f"emgrt-replay-{name}")
        chans = info.desc().append_child("channels")
        for label, unit in zip(IMU_CHANNELS, IMU_UNITS):
            ch = chans.append_child("channel")
            ch.append_child_value("label", label)
            ch.append_child_value("unit", unit)
        info.desc().append_child_value("band", track.band)
        info.desc().append_child_value("frame", "emgrt/io/imu.py")
        return pylsl.StreamOutlet(info, chunk_size=0, max_buffered=60)

    def _run(self) -> None:
        try:
            pylsl = pylsl_quiet()
            emg_outlets, key_outlet, imu_outlets = self._outlets(pylsl)
        except BaseException as exc:  # reported by start()
            self.error = exc
            self._ready.set()
            return
        try:
            self._ready.set()
            if self.wait_for_consumer > 0:
                end = pylsl.local_clock() + self.wait_for_consumer
                for o in emg_outlets:
                    while not o.have_consumers() and pylsl.local_clock() < end and not self._stop.is_set():
                        self._stop.wait(0.005)
                if not all(o.have_consumers() for o in emg_outlets) and not self._stop.is_set():
                    logger.warning("emgrt replay: no receiver after %g s; sending anyway", self.wait_for_consumer)
                if self.gate is not None:
                    while not self.gate.is_set() and pylsl.local_clock() < end and not self._stop.is_set():
                        self._stop.wait(0.005)
                    if not self.gate.is_set() and not self._stop.is_set():
                        logger.warning("emgrt replay: not every receiver ready after %g s; sending anyway", self.wait_for_consumer)
            self.t0 = pylsl.local_clock()
            self._send(pylsl, emg_outlets, key_outlet, imu_outlets)
            self._finished.set()
            # Keep the outlets (and what receivers have not pulled yet) until stop().
            self._stop.wait()
        except BaseException as exc:
            self.error = exc
            self._finished.set()
        finally:
            del emg_outlets, key_outlet, imu_outlets  # destroying the outlets makes the streams vanish

    def _send(self, pylsl, emg_outlets, key_outlet, imu_outlets) -> None:
        assert self.t0 is not None
        n = self.n_samples
        lo, hi = self.chunk_range
        base = 0  # stream sample index of the session's sample 0 in this pass
        while not self._stop.is_set() and not self._halt.is_set():
            next_key = 0
            next_imu = [0] * len(self._imu)
            for block_start in range(0, n, READ_BLOCK):
                block = self.recording.emg(block_start, min(n, block_start + READ_BLOCK))
                pos = 0
                while pos < len(block):
                    size = int(self._rng.integers(lo, hi + 1))
                    chunk = block[pos : pos + size]
                    pos += len(chunk)
                    end = base + block_start + pos  # stream samples sent after this chunk
                    stamp_last = self.t0 + (end - 1) / self.rate
                    stamps: float | list[float] = stamp_last
                    if self.stamp_jitter > 0:  # per-sample stamps, each off by up to +-jitter
                        nominal = self.t0 + np.arange(end - len(chunk), end) / self.rate
                        stamps = (nominal + self._rng.uniform(-self.stamp_jitter, self.stamp_jitter, len(chunk))).tolist()
                    if math.isfinite(self.speed):
                        wait = self.t0 + end / (self.rate * self.speed) - pylsl.local_clock()
                        if wait > 0 and self._stop.wait(wait):
                            return
                    elif self._stop.is_set():
                        return
                    if self._halt.is_set():
                        return
                    if self.split_bands:
                        emg_outlets[0].push_chunk(np.ascontiguousarray(chunk[:, :CHANNELS_PER_BAND]), stamps)
                        emg_outlets[1].push_chunk(np.ascontiguousarray(chunk[:, CHANNELS_PER_BAND:]), stamps)
                    else:
                        emg_outlets[0].push_chunk(chunk, stamps)
                    self.samples_sent += len(chunk)
                    session_pos = block_start + pos  # session samples covered so far
                    while next_key < len(self._key_pos) and self._key_pos[next_key] < session_pos:
                        key_outlet.push_sample([self.markers[next_key]], self.t0 + (base + self._key_pos[next_key]) / self.rate)
                        self.keys_sent += 1
                        next_key += 1
                    for j, (track, outlet) in enumerate(zip(self._imu, imu_outlets)):
                        # this pass's IMU samples up to here (those after the replayed stretch never)
                        k = int(np.searchsorted(track.pos, min(session_pos, n), side="left"))
                        if k > next_imu[j]:
                            stamps_imu = (self.t0 + (base + track.pos[next_imu[j] : k]) / self.rate).tolist()
                            outlet.push_chunk(track.samples[next_imu[j] : k], stamps_imu)
                            self.imu_sent[track.band] += k - next_imu[j]
                            next_imu[j] = k
            if not self.loop:
                return
            base += n
