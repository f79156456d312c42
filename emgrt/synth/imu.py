"""The band's IMU in `emgrt synth`: what its accelerometer and gyroscope sense, from the arm motion
a task implies (written as the optional IMU extension, :mod:`emgrt.io.imu`).

Motion (:class:`ArmMotion`).  A task gives the band's pose on the DRIVE_HZ grid: its position in
the room (m; x to the right along the table edge and the writing line, y away from the body,
z up) and the forearm's yaw (about z, + turning left), pitch (+ hand end up) and roll (about the
forearm).  The band's frame (:data:`emgrt.io.imu.FRAME`: x distal, z dorsal) turns to the room by
``R = Rz(yaw) R0 Ry(-pitch) Rx(roll)``, ``R0`` the reference pose: forearm on the table pointing
away from the body, palm down (band x = room y, band y = room -x, band z = room z).  Each stage's
posture (:data:`POSTURES`) sets the pose and how much the arm trembles (8-12 Hz physiological
tremor) and sways (below 1 Hz): little with the forearm on the table, much more with the arm
raised; postures blend over about a second.  A band worn rotated on the wrist this session (the
rotation the EMG sees, :func:`emgrt.synth.session.place_bands`) rolls the frame about x by as
much.  The task adds its movements: a gesture's small reaction of the forearm, the writing arm
carrying the hand along the line, a keystroke's jolt.

Sensing (:func:`sense`).  The specific force ``R^T (p'' + g z)`` and the body rate (from
``R^T R'``) on the grid, interpolated to the IMU's own sample instants, then the sensor of this
session (:class:`ImuSensor`): per-axis bias and scale error, white noise, a slowly wandering gyro
bias, 16-bit quantisation over +-16 g and +-2000 deg/s.  The IMU's clock free-runs at its rate
with a crystal error of tens of ppm, its first sample a few milliseconds after the first EMG
sample; every timestamp (unix seconds on the EMG clock) carries 0.2 ms of stamping jitter, and
about one sample in a thousand is lost (a gap), as over a radio link.

Every draw comes from the session's own IMU streams (tags distinct from the EMG's), so turning
the IMU on or off leaves the EMG and the labels exactly as they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from emgrt.constants import CHANNELS_PER_BAND
from emgrt.io.imu import DEFAULT_RATE_HZ
from emgrt.synth.noise import smooth_noise
from emgrt.synth.physiology import DRIVE_HZ

MOTION_HZ = DRIVE_HZ  # the grid of ArmMotion
G = 9.80665  # m/s^2
FOREARM_M = 0.26  # elbow to band
POSTURE_BLEND_S = 0.3  # gaussian sigma of the blend between two stages' postures
ACCEL_NOISE, GYRO_NOISE = 0.02, 0.003  # white noise per sample, m/s^2 and rad/s
ACCEL_LSB = 16 * G / 32768  # +-16 g, 16 bit
GYRO_LSB = np.radians(2000.0) / 32768  # +-2000 deg/s, 16 bit
STAMP_JITTER_S, STAMP_JITTER_MAX_S = 0.0002, 0.001
DROP_RATE = 0.001  # lost samples


@dataclass(frozen=True)
class Posture:
    """The forearm's pose in one posture (degrees, m) and how much it trembles and sways (degrees)."""

    pitch: float
    roll: float = 0.0
    yaw: float = 0.0  # right arm; the left arm mirrors it
    elbow: tuple[float, float, float] = (0.0, -FOREARM_M, 0.0)  # right arm; the left mirrors x
    tremor: float = 0.001  # a forearm's tremor is tiny: at 10 Hz, 0.006 deg is about 0.1 m/s^2 at the band
    sway: float = 0.03


POSTURES = {
    "arm_on_table": Posture(pitch=3.0),
    "arm_raised": Posture(pitch=35.0, roll=30.0, elbow=(0.0, -0.2, 0.12), tremor=0.006, sway=0.5),
    "writing_on_table": Posture(pitch=4.0, roll=20.0),
    "writing_in_air": Posture(pitch=0.0, roll=15.0, tremor=0.006, sway=0.5),  # the raised wrist adds its pitch
    "on_keyboard": Posture(pitch=8.0, yaw=10.0, elbow=(0.2, -FOREARM_M, 0.0), sway=0.05),
}


def _rot(axis: int, angle: np.ndarray) -> np.ndarray:
    """(n, 3, 3) rotations by ``angle`` (n,) about coordinate ``axis``."""
    c, s = np.cos(angle), np.sin(angle)
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    out = np.zeros((len(angle), 3, 3))
    out[:, axis, axis] = 1.0
    out[:, i, i], out[:, i, j], out[:, j, i], out[:, j, j] = c, -s, s, c
    return out


R0 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # band -> room, forearm forward, palm down


def rotation(angles: np.ndarray) -> np.ndarray:
    """Band -> room rotations (n, 3, 3) from (n, 3) yaw, pitch, roll (rad)."""
    yaw, pitch, roll = np.asarray(angles, dtype=np.float64).T
    return _rot(2, yaw) @ R0 @ _rot(1, -pitch) @ _rot(0, roll)


@dataclass(frozen=True)
class ArmMotion:
    """One band's pose on the MOTION_HZ grid from the session's first EMG sample."""

    position: np.ndarray  # (n, 3) m, room frame
    angles: np.ndarray  # (n, 3) rad: yaw, pitch, roll

    def sensed(self) -> tuple[np.ndarray, np.ndarray]:
        """What an ideal IMU on the band senses on the grid: specific force (n, 3) m/s^2 and
        angular velocity (n, 3) rad/s, both in the band frame."""
        dt = 1.0 / MOTION_HZ
        r = rotation(self.angles)
        accel = np.gradient(np.gradient(self.position, dt, axis=0), dt, axis=0)
        force = np.einsum("nji,nj->ni", r, accel + np.array([0.0, 0.0, G]))
        spin = np.einsum("nji,njk->nik", r, np.gradient(r, dt, axis=0))  # R^T R', skew-symmetric
        omega = 0.5 * np.stack([spin[:, 2, 1] - spin[:, 1, 2], spin[:, 0, 2] - spin[:, 2, 0], spin[:, 1, 0] - spin[:, 0, 1]], axis=1)
        return force, omega


@lru_cache(maxsize=1)
def _filters() -> tuple[np.ndarray, np.ndarray]:
    from scipy.signal import butter

    tremor = butter(2, [8.0, 12.0], btype="bandpass", fs=MOTION_HZ, output="sos")
    sway = butter(2, 0.7, btype="lowpass", fs=MOTION_HZ, output="sos")
    return tremor, sway


def _unit_noise(rng: np.random.Generator, n: int, sos: np.ndarray) -> np.ndarray:
    """Filtered white noise (n, 3), unit standard deviation per column."""
    from scipy.signal import sosfilt

    pad = 4 * MOTION_HZ  # let the filter settle
    x = sosfilt(sos, rng.standard_normal((n + pad, 3)), axis=0)[pad:]
    return x / np.maximum(x.std(axis=0), 1e-12)


def posed(
    stages: Sequence[tuple[float, float, str]],
    n: int,
    rng: np.random.Generator,
    *,
    moves: np.ndarray | None = None,
    position: np.ndarray | None = None,
    band_roll: float = 0.0,
    left: bool = False,
) -> ArmMotion:
    """The band's motion over ``n`` grid points: the postures of ``stages`` ((start s, end s,
    posture) covering the session), plus the task's ``moves`` ((n, 3) yaw, pitch, roll, rad),
    tremor and sway drawn from ``rng``, the band's roll on the wrist; the band at ``position``
    ((n, 3) m) or, when None, a forearm's length from the posture's elbow.  ``left``: the left
    arm (yaw and elbow mirrored)."""
    from scipy.ndimage import gaussian_filter1d

    cols = ("yaw", "pitch", "roll", "tremor", "sway")
    track = np.zeros((n, len(cols) + 3))
    for start, end, name in stages:
        p = POSTURES[name]
        values = [getattr(p, c) for c in cols] + list(p.elbow)
        track[int(start * MOTION_HZ) : int(end * MOTION_HZ) + 1] = values
    track = gaussian_filter1d(track, POSTURE_BLEND_S * MOTION_HZ, axis=0, mode="nearest")
    side = -1.0 if left else 1.0
    angles = np.radians(track[:, :3] * [side, 1.0, side])
    angles[:, 2] += band_roll
    tremor_sway = track[:, 3:4] * _unit_noise(rng, n, _filters()[0]) + track[:, 4:5] * _unit_noise(rng, n, _filters()[1])
    angles += np.radians(tremor_sway)
    if moves is not None:
        angles += moves
    if position is None:
        elbow = track[:, 5:8] * [side, 1.0, 1.0]
        position = elbow + FOREARM_M * rotation(angles)[:, :, 0]  # along the forearm: band x
    return ArmMotion(np.asarray(position, dtype=np.float64), angles)


def band_roll(rotation_electrodes: float) -> float:
    """The band's roll on the wrist (rad) for its rotation in electrodes (the EMG's placement)."""
    return 2 * np.pi * rotation_electrodes / CHANNELS_PER_BAND


def smooth_step(t: np.ndarray, at: float, width: float) -> np.ndarray:
    """0 before ``at - width / 2``, 1 after ``at + width / 2``, a raised cosine between."""
    return 0.5 * (1 - np.cos(np.pi * np.clip((t - at) / width + 0.5, 0.0, 1.0)))


def add_move(moves: np.ndarray, amp: np.ndarray, start: float, end: float, width: float) -> None:
    """Add to ``moves`` ((n, 3) on the grid, in place) a deflection ``amp`` (3,) that rises over
    ``width`` s centred on ``start`` and falls back likewise on ``end`` (``end == start``: a
    raised-cosine bump ``width`` long)."""
    lo = max(0, int(np.floor((start - width) * MOTION_HZ)))
    hi = min(len(moves), int(np.ceil((end + width) * MOTION_HZ)) + 1)
    if hi <= lo:
        return
    t = np.arange(lo, hi) / MOTION_HZ
    if end > start:
        course = smooth_step(t, start, width) - smooth_step(t, end, width)
    else:
        course = np.where(np.abs(t - start) < width / 2, 0.5 * (1 + np.cos(2 * np.pi * (t - start) / width)), 0.0)
    moves[lo:hi] += course[:, None] * amp[None, :]


# -- the sensor ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImuSensor:
    """One band's IMU in one session: its errors and its clock."""

    rate: float  # nominal Hz
    accel_bias: np.ndarray  # (3,) m/s^2
    accel_scale: np.ndarray  # (3,) 1 + error
    gyro_bias: np.ndarray  # (3,) rad/s
    gyro_scale: np.ndarray
    offset_s: float  # first IMU sample after the first EMG sample
    clock_ppm: float  # the IMU crystal's error

    @classmethod
    def draw(cls, rng: np.random.Generator, rate: float = DEFAULT_RATE_HZ) -> ImuSensor:
        return cls(
            rate=rate,
            accel_bias=rng.normal(0, 0.08, 3),
            accel_scale=1 + rng.normal(0, 0.005, 3),
            gyro_bias=rng.normal(0, 0.005, 3),
            gyro_scale=1 + rng.normal(0, 0.005, 3),
            offset_s=float(rng.uniform(0.002, 1.0 / rate)),
            clock_ppm=float(rng.normal(0, 30.0)),
        )


@dataclass(frozen=True)
class ImuRecording:
    """One band's IMU stream as the file stores it."""

    time: np.ndarray  # (m,) float64 unix seconds, EMG clock
    accel: np.ndarray  # (m, 3) float32 m/s^2
    gyro: np.ndarray  # (m, 3) float32 rad/s
    rate: float = DEFAULT_RATE_HZ
    band: str | None = None  # None: the one band of a GNI file


def _quantise(x: np.ndarray, lsb: float) -> np.ndarray:
    return (np.clip(np.round(x / lsb), -32768, 32767) * lsb).astype(np.float32)


def sense(motion: ArmMotion, duration_s: float, t0: float, rng: np.random.Generator, *, band: str | None = None, rate: float = DEFAULT_RATE_HZ) -> ImuRecording:
    """The IMU stream of ``motion`` over a recording of ``duration_s`` (first to last EMG sample)
    starting at unix ``t0``: the session's sensor drawn from ``rng``, then its samples."""
    sensor = ImuSensor.draw(rng, rate)
    period = 1.0 / (rate * (1 + sensor.clock_ppm * 1e-6))
    last = duration_s - STAMP_JITTER_MAX_S
    true_t = sensor.offset_s + period * np.arange(max(0, int(np.floor((last - sensor.offset_s) / period)) + 1))
    true_t = true_t[~(rng.random(len(true_t)) < DROP_RATE)]
    force, omega = motion.sensed()
    grid_t = np.arange(len(motion.angles)) / MOTION_HZ

    def at(x: np.ndarray) -> np.ndarray:
        return np.stack([np.interp(true_t, grid_t, x[:, k]) for k in range(3)], axis=1)

    m = len(true_t)
    accel = at(force) * sensor.accel_scale + sensor.accel_bias + rng.normal(0, ACCEL_NOISE, (m, 3))
    wander = 0.002 * smooth_noise(rng, m, 3, 0.05, fs=rate)  # the gyro bias wanders, slowly
    gyro = at(omega) * sensor.gyro_scale + sensor.gyro_bias + wander + rng.normal(0, GYRO_NOISE, (m, 3))
    jitter = np.clip(rng.normal(0, STAMP_JITTER_S, m), -STAMP_JITTER_MAX_S, STAMP_JITTER_MAX_S)
    return ImuRecording(t0 + true_t + jitter, _quantise(accel, ACCEL_LSB), _quantise(gyro, GYRO_LSB), rate, band)
