"""Render one synthetic session (text, typing, EMG of both bands, noise) and write it.

Everything random comes from ``np.random.SeedSequence([seed, user, session, stream])``
with a distinct stream tag per purpose, so a session depends only on the
dataset seed, its user and session index and the difficulty: never on which
worker renders it or in what order.
"""

from __future__ import annotations

import dataclasses
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from emgrt.constants import BANDS, CHANNELS_PER_BAND, SAMPLE_RATE_HZ
from emgrt.synth.difficulty import DEFAULT_DIFFICULTY, Difficulty
from emgrt.synth.keyboard import LEFT, RIGHT
from emgrt.synth.noise import band_noise
from emgrt.synth.imu import FOREARM_M, ArmMotion, ImuRecording, add_move, band_roll, posed, sense
from emgrt.synth.physiology import Activation, HandAnatomy, drive_grid, render_hand, sample_activation, sample_hand
from emgrt.synth.text import KeyEvent, Typist, sample_typist, type_session

FS = SAMPLE_RATE_HZ
N_EL = CHANNELS_PER_BAND

# Stream tags (never 0: SeedSequence pads short entropy with zeros).
TAG_TYPIST, TAG_ANATOMY = 101, 102
TAG_TEXT, TAG_PLACEMENT, TAG_NOISE = 201, 202, 203
TAG_FIRING = (211, 212)  # left, right
# The optional IMU (`emgrt synth --imu`): tremor and sway, keystroke moves, the sensor; left, right.
TAG_IMU_MOTION, TAG_IMU_MOVES, TAG_IMU = (204, 205), (206, 207), (208, 209)
KEY_M = 0.019  # key pitch
REACH_SHARE = 0.25  # of a reach to another key, the share the hand (and the band) moves


def stream(seed: int, user_index: int, session_index: int, tag: int) -> np.random.Generator:
    """The generator for one purpose of one session (user-level streams use session_index 0)."""
    return np.random.default_rng(np.random.SeedSequence([seed, user_index, session_index, tag]))


@dataclass(frozen=True)
class SynthUser:
    """A synthetic person: typing habits, two forearms, and the mains frequency at their home."""

    index: int
    typist: Typist
    hands: tuple[HandAnatomy, HandAnatomy]  # left, right
    activation: Activation
    mains_hz: float


@lru_cache(maxsize=8)
def make_user(seed: int, user_index: int, difficulty: float = DEFAULT_DIFFICULTY) -> SynthUser:
    """User ``user_index`` of the population seeded by ``seed``."""
    v = Difficulty.from_level(difficulty).user_variability
    rng = stream(seed, user_index, 0, TAG_ANATOMY)
    hands = (sample_hand(rng, LEFT, v), sample_hand(rng, RIGHT, v))
    activation = sample_activation(rng, v)
    mains = 60.0 if rng.random() < 0.5 else 50.0
    typist = sample_typist(stream(seed, user_index, 0, TAG_TYPIST))
    return SynthUser(user_index, typist, hands, activation, mains)


@dataclass(frozen=True)
class BandPlacement:
    """Where one band sits on its forearm in one session, and what that does to its signal."""

    anatomy: HandAnatomy  # the forearm it is on
    rotation: float  # the band's rotation this session (rad)
    gain: np.ndarray  # (16,) electrode contact gains (a badly seated electrode: low)
    sigma: np.ndarray  # (16,) per-electrode noise level
    noise: float  # the session's noise scale
    mains_hz: float

    def record(self, emg: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Noise-free EMG (n, 16) float32 -> what the electrodes record: gains, then noise (in place)."""
        emg *= self.gain.astype(np.float32)
        emg += band_noise(rng, len(emg), mains_hz=self.mains_hz, scale=self.noise, channel_sigma=self.sigma)
        return emg


@dataclass(frozen=True)
class SessionPlacement:
    activation: Activation  # the user's, with this session's force
    bands: tuple[BandPlacement, ...]  # one per hand asked for, in that order


def place_bands(
    user: SynthUser, diff: Difficulty, rng: np.random.Generator, hands: tuple[int, ...]
) -> SessionPlacement:
    """One session's conditions: noise level, force, and each band's re-placement on its forearm
    (rotation, electrode gains, now and then one poorly seated electrode), all drawn from ``rng``
    (the session's placement stream) in this order; any task, one band or two."""
    sv = diff.session_variability
    noise = diff.noise * np.exp(rng.normal(0, 0.2 * sv))
    activation = dataclasses.replace(user.activation, force=user.activation.force * np.exp(rng.normal(0, 0.1 * sv)))
    bands = []
    for hand in hands:
        anatomy = user.hands[hand]
        rotation = anatomy.rotation + rng.uniform(-0.3, 0.3) * sv
        gain = np.exp(rng.normal(0, 0.12 * sv, N_EL))
        sigma = 2.0 * noise * rng.uniform(0.7, 1.3, N_EL)
        if rng.random() < 0.1 * sv:  # one poorly seated electrode
            bad = int(rng.integers(N_EL))
            gain[bad] *= rng.uniform(0.3, 0.7)
            sigma[bad] *= 2.0
        bands.append(BandPlacement(anatomy, rotation, gain, sigma, noise, user.mains_hz))
    return SessionPlacement(activation, tuple(bands))


@dataclass(frozen=True)
class SessionSpec:
    """Everything that determines one session file."""

    seed: int
    user_index: int
    session_index: int
    user: str  # user id written to the file
    session_name: str
    start_unix: float  # first sample's time
    minutes: float
    difficulty: float = DEFAULT_DIFFICULTY
    imu: bool = False  # also write each band's IMU stream (the optional extension, emgrt.io.imu)


@dataclass
class RenderedSession:
    spec: SessionSpec
    time: np.ndarray  # (T,) float64 unix seconds
    emg_left: np.ndarray  # (T, 16) float32
    emg_right: np.ndarray  # (T, 16) float32
    keystrokes: list[dict]  # unix times, emg2qwerty format
    prompts: list[dict]
    events: list[KeyEvent] = field(repr=False)  # same keystrokes, s from the start, with fingers
    imu: tuple[ImuRecording, ...] = field(default=(), repr=False)  # left, right: with spec.imu

    @property
    def duration_mins(self) -> float:
        return len(self.time) / FS / 60.0


def render_session(spec: SessionSpec) -> RenderedSession:
    """Text, keystrokes and both bands' EMG of one session."""
    diff = Difficulty.from_level(spec.difficulty)
    user = make_user(spec.seed, spec.user_index, spec.difficulty)
    n = int(round(spec.minutes * 60 * FS))
    key = (spec.seed, spec.user_index, spec.session_index)
    events, prompts = type_session(n / FS, user.typist, stream(*key, TAG_TEXT))

    placement = place_bands(user, diff, stream(*key, TAG_PLACEMENT), (LEFT, RIGHT))
    noise_rng = stream(*key, TAG_NOISE)
    bands = []
    for hand, band in zip((LEFT, RIGHT), placement.bands):
        emg = render_hand(
            [e for e in events if e.place.hand == hand],
            band.anatomy,
            placement.activation,
            n,
            stream(*key, TAG_FIRING[hand]),
            rotation=band.rotation,
            overlap=diff.key_overlap,
            onset_jitter_s=diff.onset_jitter_s,
        )
        bands.append(band.record(emg, noise_rng))

    t0 = spec.start_unix
    imu = ()
    if spec.imu:
        imu = tuple(
            sense(typing_motion(events, hand, n, band.rotation, key), (n - 1) / FS, t0, stream(*key, TAG_IMU[hand]), band=BANDS[hand])
            for hand, band in zip((LEFT, RIGHT), placement.bands)
        )
    return RenderedSession(
        spec=spec,
        time=t0 + np.arange(n, dtype=np.float64) / FS,
        emg_left=bands[LEFT],
        emg_right=bands[RIGHT],
        keystrokes=[e.as_dict(t0) for e in events],
        prompts=[{**p, "start": t0 + p["start"], "end": t0 + p["end"]} for p in prompts],
        events=events,
        imu=imu,
    )


def typing_motion(events: list[KeyEvent], hand: int, n: int, rotation: float, key: tuple[int, int, int]) -> ArmMotion:
    """One forearm's motion while typing (for its band's IMU): resting over the keyboard, each
    keystroke of its hand a small jolt (the forearm dips as the finger strikes) and a turn of the
    forearm that carries the hand part of the way towards a key off the home row."""
    rng = stream(*key, TAG_IMU_MOVES[hand])
    side = 1.0 if hand == RIGHT else -1.0  # the little-finger side is +x on the right hand
    moves = np.zeros((drive_grid(n), 3))
    for e in events:
        if e.place.hand != hand:
            continue
        dip = np.radians(0.1) * float(rng.lognormal(0.0, 0.3))
        add_move(moves, np.array([0.0, -dip, side * dip * (e.place.finger - 2) / 3]), e.start, e.start, 0.08)  # outer fingers roll it more
        reach = -side * np.arctan2(REACH_SHARE * e.place.dx * KEY_M, FOREARM_M)
        if reach:
            add_move(moves, np.array([reach, 0.0, 0.0]), e.start - 0.1, max(e.end + 0.1, e.start), 0.2)
    triples = [(0.0, (n - 1) / FS, "on_keyboard")]
    return posed(triples, len(moves), stream(*key, TAG_IMU_MOTION[hand]), moves=moves, band_roll=band_roll(rotation), left=hand == LEFT)


def write_rendered(session: RenderedSession, out_dir: str | Path) -> Path:
    """Write ``<out_dir>/<session_name>.hdf5`` through emgrt.io."""
    from emgrt.io.atomic import atomic_path
    from emgrt.io.imu import write_imu
    from emgrt.io.session import write_session

    s = session.spec
    path = Path(out_dir) / f"{s.session_name}.hdf5"
    with atomic_path(path) as tmp:  # the session and its IMU streams appear together
        write_session(
            tmp,
            time=session.time,
            emg_left=session.emg_left,
            emg_right=session.emg_right,
            keystrokes=session.keystrokes,
            prompts=session.prompts,
            session_name=s.session_name,
            user=s.user,
            duration_mins=session.duration_mins,
        )
        for rec in session.imu:
            write_imu(tmp, rec.time, rec.accel, rec.gyro, band=rec.band, rate=rec.rate)
    return path


@dataclass(frozen=True)
class WrittenSession:
    """What rendering and writing one session produced, whatever the task (what dataset summaries add up)."""

    spec: Any
    path: Path
    duration_mins: float
    cpu_seconds: float  # render + write, CPU time of the rendering process (one thread)
    nbytes: int


def render_and_write(
    render: Callable[[Any], Any], write: Callable[[Any, str | Path], Path], spec: Any, out_dir: str | Path
) -> tuple[Any, dict]:
    """``write(render(spec), out_dir)``, timed: the rendered session and its :class:`WrittenSession` fields."""
    t = _time.process_time()
    session = render(spec)
    path = write(session, out_dir)
    cpu = _time.process_time() - t
    return session, dict(
        spec=spec, path=path, duration_mins=session.duration_mins, cpu_seconds=cpu, nbytes=path.stat().st_size
    )


@dataclass(frozen=True)
class SessionResult(WrittenSession):
    """What rendering and writing one typing session produced."""

    spec: SessionSpec
    num_keystrokes: int
    num_prompts: int


def synth_session(spec: SessionSpec, out_dir: str | Path) -> SessionResult:
    """Render and write one session (the unit of work of the worker pool)."""
    session, written = render_and_write(render_session, write_rendered, spec, out_dir)
    return SessionResult(**written, num_keystrokes=len(session.keystrokes), num_prompts=len(session.prompts))
