"""One band's IMU as the engine receives it: samples kept by stamp, read at the frames' stamps.

A fused model (manifest ``task.inputs`` with ``imu``) takes, per model step, the band's 6-axis
IMU (accel m/s^2, gyro rad/s) at the stamp of each spectrogram frame's last EMG sample, and
``imu_present``.  Training reads it by linear interpolation on the IMU's own timestamps, held at
the stream's ends and across its gaps (:meth:`emgrt.data.sources.GniSource.imu_at`);
:meth:`ImuTrack.at` computes exactly that over the samples received so far, so once the track
holds a sample at or after a step's last frame, the step's IMU is the offline one.

The IMU is its own stream (its own rate and clock stamps, on the EMG's clock), so it may run a
little behind the EMG.  :meth:`ImuTrack.waiting` says whether a step should wait for it: the
newest IMU sample is before the step's last frame, but recent (within ``timeout_s``) -- more is
on its way.  An IMU silent for longer than ``timeout_s`` before a frame is *absent* for that
step (``imu_present`` 0: the model was trained to work without it), and so is one that never
came.  Rows with a non-finite value or a stamp not after the previous row's are refused and
counted (``rejected``): an IMU stamp never steps back, and a guessed value would be a silent
wrong answer.
"""

from __future__ import annotations

import numpy as np

from emgrt.errors import EmgrtError
from emgrt.manifest import IMU_CHANNELS  # accel x y z, gyro x y z

IMU_TIMEOUT_S = 0.25  # an IMU silent this long before a frame is absent for its step
CAPACITY = 2048  # rows kept (20 s at 100 Hz): far more than the steps waiting to be run


class ImuTrack:
    """The IMU samples of one stream, newest ``capacity`` rows, in stamp order."""

    def __init__(self, timeout_s: float = IMU_TIMEOUT_S, capacity: int = CAPACITY) -> None:
        self.timeout_s = float(timeout_s)
        self._t = np.zeros(capacity, np.float64)
        self._x = np.zeros((capacity, IMU_CHANNELS), np.float64)
        self._n = 0
        self.ended = False  # the stream has said it sends no more (a recording's end): nothing to wait for
        self.received = 0  # rows handed to push()
        self.rejected = 0  # of them refused: a non-finite value or stamp, or a stamp not after the last
        self.overflow = 0  # rows dropped, oldest first, to make room (an IMU running far ahead of its EMG)

    def __len__(self) -> int:
        return self._n

    @property
    def newest(self) -> float | None:
        return float(self._t[self._n - 1]) if self._n else None

    def clear(self) -> None:
        self._n = 0
        self.ended = False

    def push(self, samples: np.ndarray, stamps: np.ndarray, final: bool = False) -> None:
        """Add (n, 6) samples with their (n,) stamps (the band's clock, as the EMG's); ``final``:
        they are the stream's last (a recording's end), so no step waits for more."""
        x = np.asarray(samples, dtype=np.float64)
        t = np.asarray(stamps, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != IMU_CHANNELS or len(t) != len(x):
            raise EmgrtError(f"engine got IMU samples of shape {x.shape} with {len(t)} stamps; expected (n, {IMU_CHANNELS}) "
                             "and n stamps (accel x y z in m/s^2, then gyro x y z in rad/s)")
        n = len(t)
        self.received += n
        self.ended = final
        if n == 0:
            return
        good = np.isfinite(x).all(axis=1) & np.isfinite(t)
        # A stamp must come after every earlier one (the last kept, and each row before it here).
        last = self._t[self._n - 1] if self._n else -np.inf
        prev = np.maximum.accumulate(np.concatenate([[last], np.where(good, t, -np.inf)]))[:-1]
        good &= t > prev
        if not good.all():
            self.rejected += int(n - np.count_nonzero(good))
            x, t = x[good], t[good]
        k = len(t)
        if k > len(self._t):  # more than the whole capacity at once: the newest rows win
            self.overflow += k - len(self._t)
            x, t, k = x[-len(self._t):], t[-len(self._t):], len(self._t)
        room = len(self._t) - self._n
        if k > room:  # drop the oldest rows to make room
            drop = k - room
            self.overflow += drop
            self._t[: self._n - drop] = self._t[drop : self._n]
            self._x[: self._n - drop] = self._x[drop : self._n]
            self._n -= drop
        self._t[self._n : self._n + k] = t
        self._x[self._n : self._n + k] = x
        self._n += k

    def waiting(self, t: float) -> bool:
        """Whether a step whose last frame is stamped ``t`` should wait for more IMU: the newest
        sample is before ``t`` but within ``timeout_s`` of it."""
        newest = self.newest
        return not self.ended and newest is not None and newest < t <= newest + self.timeout_s

    def at(self, times: np.ndarray) -> tuple[np.ndarray, bool]:
        """The IMU at ``times`` (a step's frame stamps, increasing) as (len(times), 6) float32, and
        whether it is present: the nearest sample to the last frame within ``timeout_s``.  Absent:
        zeros (what the model was trained on when the IMU is missing)."""
        times = np.asarray(times, dtype=np.float64)
        out = np.zeros((len(times), IMU_CHANNELS), np.float32)
        n = self._n
        if not n or not len(times):
            return out, False
        t, x = self._t[:n], self._x[:n]
        j = int(np.searchsorted(t, times[-1]))
        nearest = min(abs(t[min(j, n - 1)] - times[-1]), abs(t[max(j - 1, 0)] - times[-1]))
        if nearest > self.timeout_s:
            return out, False
        # np.interp over the rows that bracket the frames: the training definition, held at the ends.
        lo = max(int(np.searchsorted(t, times[0])) - 1, 0)
        hi = min(j + 1, n)
        for c in range(IMU_CHANNELS):
            out[:, c] = np.interp(times, t[lo:hi], x[lo:hi, c])
        return out, True

    def release(self, before: float) -> None:
        """Forget the rows no later read needs: all but the last one stamped at or before ``before``
        (the first frame still to be read; it may need the row before it)."""
        k = int(np.searchsorted(self._t[: self._n], before, side="right")) - 1
        if k > 0:
            self._t[: self._n - k] = self._t[k : self._n]
            self._x[: self._n - k] = self._x[k : self._n]
            self._n -= k


class ImuFeed:
    """A recording's IMU fed to a fused engine beside its EMG, on a simulated clock: before each
    EMG chunk, :meth:`before` hands the engine the IMU rows stamped up to the chunk's last stamp
    and the one after it, what a live band has sent by then give or take one IMU period.  Every
    step then finds its IMU complete and reads what training and the full graph read
    (:func:`frame_imu`): streamed equals offline.  A no-op for an EMG-only engine or a recording
    without IMU."""

    def __init__(self, engine, recording) -> None:
        self.engine = engine
        imu = recording.imu_samples(recording.bands[0]) if engine.recognizer.imu and len(recording.bands) == 1 else None
        self.t, self.x = imu if imu is not None else (np.zeros(0), np.zeros((0, IMU_CHANNELS), np.float32))
        self._next = 0  # rows fed so far

    def before(self, t_end: float) -> None:
        """Feed the rows up to ``t_end`` (the coming EMG chunk's last stamp) and the first after it."""
        stop = min(int(np.searchsorted(self.t, t_end, side="right")) + 1, len(self.t))
        if stop > self._next:
            self.engine.accept_imu(self.x[self._next : stop], self.t[self._next : stop], final=stop == len(self.t))
            self._next = stop


def frame_imu(recording, bundle, n_frames: int, start: int = 0) -> np.ndarray | None:
    """The recording's IMU at the last sample of each of ``n_frames`` spectrogram frames from
    sample ``start`` (the training definition: linear interpolation, held at the ends), (n_frames,
    6) float32; None when the bundle's model reads no IMU or the recording has none."""
    if "imu" not in bundle.spec.task.inputs or len(recording.bands) != 1:
        return None
    imu = recording.imu_samples(recording.bands[0])
    if imu is None:
        return None
    idx = np.minimum(start + bundle.spec.frontend.config().last_samples(n_frames), len(recording.time) - 1)
    t, x = imu
    at = recording.time[idx]
    return np.stack([np.interp(at, t, x[:, c].astype(np.float64)) for c in range(IMU_CHANNELS)], axis=1).astype(np.float32)


def imu_feed(graph, imu: np.ndarray | None, n_frames: int) -> dict[str, np.ndarray]:
    """The IMU inputs of ``graph`` (a typed manifest graph, :class:`emgrt.manifest.FullGraph`) over ``n_frames`` frames: ``imu``
    (1, n_frames, 6) with imu_present 1, or, when None, the absent IMU (zeros, imu_present 0);
    {} for a graph without IMU inputs."""
    if not graph.imu_inputs:
        return {}
    if imu is None:
        return {"imu": np.zeros((1, n_frames, IMU_CHANNELS), np.float32), "imu_present": np.zeros(1, np.float32)}
    return {"imu": np.ascontiguousarray(imu, np.float32), "imu_present": np.ones(1, np.float32)}
