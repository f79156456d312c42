"""Synthetic discrete-gesture sessions in the GNI layout (`emgrt synth --task gestures`).

The nine gestures of Meta's generic-neuromotor-interface release (:data:`emgrt.io.gni.GESTURES`)
made by the same synthetic people as the typing data, through the same physiology and noise:
the user's right forearm (:func:`emgrt.synth.session.make_user`), its motor units and MUAPs
(:mod:`~emgrt.synth.physiology`), the recording noise (:mod:`~emgrt.synth.noise`).  Only the
voluntary drive differs: typing builds it from keystrokes, this module from gesture primitives.

Primitives (:data:`PRIMITIVES`).  Each gesture is a short activation pattern over the forearm
compartments: a main burst and, for most, a weaker antagonist burst as the digit returns.

* ``index_press`` / ``middle_press``: an onset burst of the finger's superficial and deep flexor
  (with the thumb flexor and adductor, it is a pinch) that settles to a hold until its release;
* ``index_release`` / ``middle_release``: the held flexor lets go and the finger's extensor bursts;
* ``thumb_click``: a brief thumb flexor press then its extensor release, about 0.1 s apart;
* ``thumb_down`` / ``thumb_up``: thumb flexion (deep flexor) / extension;
* ``thumb_in`` / ``thumb_out``: the thumb's ulnar part (adduction, towards the palm) / its radial
  part (abduction), each with the wrist deviator on its side.

Variability.  Every user has their own version of every primitive (weights, amplitude and
duration scaled by lognormal factors whose spread is the difficulty's ``user_variability``),
their own pace and press-hold time; every repetition varies its amplitude, length, weights and
EMG onset lead (the difficulty's ``onset_jitter_s``).  The difficulty's ``key_overlap`` pulls the
five thumb gestures' patterns towards their common mean (they share the thumb's few units).

Schedule.  A session starts with a short rest stage, then two gesture stages (the second with
the arm raised: more tonic extensor and wrist drive, a faster pace).  Gestures come at human
rates (0.5-1.5 per s, user and stage dependent), uniformly over press pairs and the five thumb
gestures, so the nine classes are about equally frequent; a press is always followed by its
release with nothing in between; rest gaps of 2-4 s are scattered through the stages.  An event's
``time`` is its mechanical moment (contact, lift, the middle of a swipe); the EMG starts the
user's lead (30-120 ms) earlier, as for keystrokes.

Motion (the band's IMU).  Every gesture moves the forearm a little (:data:`GESTURE_MOTION`): a
press dips and rolls it until its release, a click briefly, the thumb's swipes turn (in, out)
or roll it (down, up) by about a degree and back; each user has their own size per gesture and
every repetition varies.  The stages' postures add the rest: the forearm on the table, then
raised (pitched up by 35 deg, turned, trembling and swaying more), which the accelerometer sees
as gravity moving onto the band's x axis.  The IMU stream is written as the ``imu`` dataset of
the IMU extension (:mod:`emgrt.io.imu`, :mod:`emgrt.synth.imu`); ``--no-imu`` leaves it out,
and the EMG is the same either way.

The signal, the files and the dataset are those of every one-band task (:mod:`emgrt.synth.oneband`):
one band on the right wrist, 16 electrodes at 2 kHz (the release's layout), with the same
per-session re-placement as typing, then a causal 4th-order Butterworth high-pass at 40 Hz and
scaling to volts, as the release's files are stored.  Files:
``discrete_gestures_user_UUU_dataset_SSS.hdf5`` (``prompts``: ``name``, ``time``; ``stages``:
``start``, ``end``, ``name``, ``posture``) and ``discrete_gestures_corpus.csv`` (``dataset,
start, end, split``; one partition per stage).  Held-out test users give all their sessions to
``test``; the other users give their last ``val_sessions`` sessions to ``val`` and the rest to
``train``.  Every random draw comes from a per-(seed, user, session, tag) stream, so the files
depend on the settings only, never on the number of workers.

Difficulty for gestures is NOT yet calibrated against a baseline: no gesture model exists yet.
The default (0.7) is the one calibrated for typing; it sets noise, user/session spread, thumb
gesture overlap and onset jitter by the same formulas (:mod:`~emgrt.synth.difficulty`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache

import numpy as np

from emgrt.io.gni import GESTURES, TASK_GESTURES
from emgrt.synth.difficulty import DEFAULT_DIFFICULTY
from emgrt.synth.keyboard import INDEX, MIDDLE, THUMB
from emgrt.synth.oneband import (
    REST_STAGE,
    BandSession,
    GniDatasetConfig,
    GniSessionSpec,
    GniTask,
    GniSummary,
    RenderedGni,
    Stage,
    add_posture,
    compartment,
    corpus_name,
    pull_together,
    SessionTags,
    user_style,
    weight_vector,
)
from emgrt.synth.imu import add_move
from emgrt.synth.oneband import plan_stages as plan_task_stages
from emgrt.synth.session import stream
from emgrt.synth.physiology import (
    DEEP,
    DRIVE_HZ,
    EXT,
    FLEX,
    N_COMPARTMENTS,
    N_KIND,
    RAD,
    ULN,
    WRIST_RAD,
    WRIST_ULN,
    Activation,
)

TASK = "gestures"  # the `emgrt synth --task` name
CORPUS_CSV = corpus_name(TASK_GESTURES)
FILE_GLOB = f"{TASK_GESTURES}_user_*_dataset_*.hdf5"

# Stream tags, distinct from the typing ones (session.py, dataset.py) so the two tasks of one
# user draw independent sessions; never 0.
TAG_STYLE = 121  # user level
TAG_SCHEDULE, TAG_PLACEMENT, TAG_NOISE, TAG_FIRING = 231, 232, 233, 234
TAG_MOTION, TAG_IMU, TAG_MOVES = 235, 236, 237  # the arm's motion, the IMU, the gestures' moves: EMG streams untouched
TAG_MOTION_STYLE = 122  # user level: how much each gesture moves the forearm
TAG_PLAN = 311
_EPOCH_START = datetime(2023, 3, 1, tzinfo=timezone.utc).timestamp()

STAGE_POSTURES = (("gestures_1", "arm_on_table", 0.85, 0.0), ("gestures_2", "arm_raised", 1.15, 0.06))
MIN_RATE, MAX_RATE = 0.5, 1.5  # gestures per second, stage pace bounds
END_MARGIN_S = 0.5  # no event closer than this to a stage end (its EMG and label fit inside)
MIN_INTERVAL_S = 0.3


_c = compartment


@dataclass(frozen=True)
class Primitive:
    """The voluntary drive of one gesture: main burst weights, antagonist weights, time course."""

    main: dict[int, float]  # compartment -> weight of the main burst
    anti: dict[int, float] = field(default_factory=dict)  # compartment -> weight of the return
    main_s: float = 0.03  # main burst: peak to end of its plateau (presses: held until release)
    sustain: float = 0.0  # plateau level, fraction of the peak
    anti_delay_s: float = 0.06  # antagonist peak after the end of the main burst
    holds: bool = False  # a press: its plateau lasts until its release event


def _press(finger: int) -> Primitive:
    return Primitive(
        {_c(finger, FLEX): 1.0, _c(finger, DEEP): 0.5, _c(THUMB, FLEX): 0.35, _c(THUMB, ULN): 0.2},
        sustain=0.35,
        holds=True,
    )


def _release(finger: int) -> Primitive:
    return Primitive({_c(finger, EXT): 0.8, _c(THUMB, EXT): 0.25, _c(finger, DEEP): 0.1}, main_s=0.03)


PRIMITIVES: dict[str, Primitive] = {
    "index_press": _press(INDEX),
    "index_release": _release(INDEX),
    "middle_press": _press(MIDDLE),
    "middle_release": _release(MIDDLE),
    "thumb_click": Primitive(
        {_c(THUMB, FLEX): 1.0, _c(THUMB, DEEP): 0.4, _c(INDEX, FLEX): 0.2},
        {_c(THUMB, EXT): 0.6},
        main_s=0.04,
        sustain=0.5,
        anti_delay_s=0.06,
    ),
    "thumb_down": Primitive(
        {_c(THUMB, DEEP): 1.0, _c(THUMB, FLEX): 0.45}, {_c(THUMB, EXT): 0.3}, main_s=0.12, sustain=0.6
    ),
    "thumb_in": Primitive(
        {_c(THUMB, ULN): 1.0, WRIST_ULN: 0.45, _c(THUMB, FLEX): 0.3}, {_c(THUMB, RAD): 0.3}, main_s=0.12, sustain=0.6
    ),
    "thumb_out": Primitive(
        {_c(THUMB, RAD): 1.0, WRIST_RAD: 0.5, _c(THUMB, EXT): 0.3}, {_c(THUMB, ULN): 0.3}, main_s=0.12, sustain=0.6
    ),
    "thumb_up": Primitive(
        {_c(THUMB, EXT): 1.0, _c(THUMB, RAD): 0.35, WRIST_RAD: 0.2}, {_c(THUMB, DEEP): 0.3}, main_s=0.12, sustain=0.6
    ),
}
assert tuple(PRIMITIVES) == GESTURES
THUMB_GESTURES = ("thumb_click", "thumb_down", "thumb_in", "thumb_out", "thumb_up")
# What the schedule draws uniformly: a press pair (two events) or one thumb gesture.
TRIALS = (("index_press", "index_release"), ("middle_press", "middle_release")) + tuple((g,) for g in THUMB_GESTURES)


def template_weights(overlap: float) -> tuple[np.ndarray, np.ndarray]:
    """Population main and antagonist weights, (9, N_COMPARTMENTS) each, in GESTURES order.

    ``overlap`` in [0, 1] pulls the thumb gestures' main patterns towards their mean.
    """
    main = np.stack([weight_vector(PRIMITIVES[g].main) for g in GESTURES])
    anti = np.stack([weight_vector(PRIMITIVES[g].anti) for g in GESTURES])
    thumb = [GESTURES.index(g) for g in THUMB_GESTURES]
    main[thumb] = pull_together(main[thumb], overlap)
    return main, anti


# -- users -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GestureStyle:
    """How one user makes the nine gestures."""

    main: np.ndarray  # (9, N_COMPARTMENTS) main burst weights
    anti: np.ndarray  # (9, N_COMPARTMENTS) antagonist weights
    amplitude: np.ndarray  # (9,) drive scale
    duration: np.ndarray  # (9,) time scale of the bursts
    rate: float  # gestures per second at the user's own pace
    hold_s: float  # mean time a press is held before its release


def sample_style(rng: np.random.Generator, variability: float, overlap: float) -> GestureStyle:
    v = variability
    main, anti = template_weights(overlap)
    main = main * np.exp(rng.normal(0, 0.25 * v, main.shape))
    anti = anti * np.exp(rng.normal(0, 0.25 * v, anti.shape))
    # A little personal spill onto the other compartments of the gesture's main digit.
    for g, name in enumerate(GESTURES):
        finger = max(PRIMITIVES[name].main, key=PRIMITIVES[name].main.get) // N_KIND
        lo = finger * N_KIND
        spill = 0.06 * v * rng.uniform(0, 1, N_KIND)
        main[g, lo : lo + N_KIND] = np.maximum(main[g, lo : lo + N_KIND], spill)
    return GestureStyle(
        main=main,
        anti=anti,
        amplitude=np.exp(rng.normal(0, 0.2 * v, len(GESTURES))),
        duration=np.exp(rng.normal(0, 0.15 * v, len(GESTURES))),
        rate=float(rng.uniform(0.7, 1.2)),
        hold_s=float(rng.uniform(0.3, 0.7)),
    )


@lru_cache(maxsize=8)
def make_style(seed: int, user_index: int, difficulty: float = DEFAULT_DIFFICULTY) -> GestureStyle:
    """The gesture style of user ``user_index`` of the population seeded by ``seed``."""
    return user_style(sample_style, TAG_STYLE, seed, user_index, difficulty)


# -- schedule --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GestureEvent:
    name: str  # one of GESTURES
    time: float  # s from the start of the session
    until: float  # presses: the time of their release; otherwise == time


def plan_stages(duration_s: float, rng: np.random.Generator) -> list[Stage]:
    """A short rest, then the two gesture stages (a stage's ``pace`` multiplies the user's gesture rate)."""
    return plan_task_stages(duration_s, rng, STAGE_POSTURES)


def schedule_gestures(stages: list[Stage], style: GestureStyle, rng: np.random.Generator) -> list[GestureEvent]:
    """Gesture events of a session's gesture stages, in time order."""
    events: list[GestureEvent] = []
    for st in stages:
        if st.name == REST_STAGE:
            continue
        rate = float(np.clip(style.rate * st.pace, MIN_RATE, MAX_RATE))

        def interval() -> float:
            return max(MIN_INTERVAL_S, float(rng.gamma(4.0, 1.0 / rate / 4.0)))

        t = st.start + END_MARGIN_S + interval()
        while True:
            if rng.random() < 0.06:  # a rest in the middle of a stage
                t += float(rng.uniform(2.0, 4.0))
                continue
            trial = TRIALS[int(rng.integers(len(TRIALS)))]
            hold = float(np.clip(style.hold_s * rng.lognormal(0.0, 0.4), 0.15, 1.5)) if len(trial) == 2 else 0.0
            if t + hold > st.end - END_MARGIN_S:
                break
            if len(trial) == 2:
                events.append(GestureEvent(trial[0], t, t + hold))
                events.append(GestureEvent(trial[1], t + hold, t + hold))
            else:
                events.append(GestureEvent(trial[0], t, t))
            t += hold + interval()
    return events


# -- drive -----------------------------------------------------------------------------------------
def _pulse(t: np.ndarray, onset: float, peak: float, end: float, sustain: float) -> np.ndarray:
    """Raised-cosine rise to 1 at ``peak``, decay towards ``sustain`` until ``end``, then off."""
    rise = 0.5 * (1 - np.cos(np.pi * np.clip((t - onset) / (peak - onset), 0, 1)))
    hold = sustain + (1 - sustain) * np.exp(-np.maximum(t - peak, 0) / 0.05)
    at_end = sustain + (1 - sustain) * np.exp(-max(end - peak, 0) / 0.05)
    return np.where(t < peak, rise, np.where(t <= end, hold, at_end * np.exp(-(t - end) / 0.04)))


def gesture_drive(
    events: list[GestureEvent],
    stages: list[Stage],
    style: GestureStyle,
    act: Activation,
    n_grid: int,
    rng: np.random.Generator,
    *,
    onset_jitter_s: float,
) -> np.ndarray:
    """Voluntary drive of every compartment on the DRIVE_HZ grid, (n_grid, N_COMPARTMENTS).

    Pass it through :func:`emgrt.synth.physiology.finish_drive` (enslaving, tonic, fluctuation).
    """
    dt = 1.0 / DRIVE_HZ
    drive = np.zeros((n_grid, N_COMPARTMENTS))
    for ev in events:
        g = GESTURES.index(ev.name)
        prim = PRIMITIVES[ev.name]
        amp = act.force * style.amplitude[g] * float(np.exp(rng.normal(0, 0.2)))
        scale = style.duration[g] * float(np.exp(rng.normal(0, 0.15)))
        jitter = np.exp(rng.normal(0, 0.1, N_COMPARTMENTS))
        lead = float(np.clip(act.lead_s + rng.normal(0, onset_jitter_s), 0.015, 0.2))
        onset, peak = ev.time - lead, ev.time + 0.015
        end = max(peak, ev.until - 0.02) if prim.holds else peak + prim.main_s * scale
        anti_at = end + prim.anti_delay_s * scale
        i0 = max(0, int((onset - 0.1) * DRIVE_HZ))
        i1 = min(n_grid, int((anti_at + 0.3) * DRIVE_HZ) + 1)
        if i1 <= i0:
            continue
        t = np.arange(i0, i1) * dt
        course = _pulse(t, onset, peak, end, prim.sustain)
        drive[i0:i1] += amp * course[:, None] * (style.main[g] * jitter)[None, :]
        if prim.anti:
            back = np.exp(-0.5 * ((t - anti_at) / (0.03 * scale)) ** 2)
            drive[i0:i1] += amp * back[:, None] * style.anti[g][None, :]
    return add_posture(drive, stages)


# -- sessions and the dataset ------------------------------------------------------------------------
# -- motion (what the band's IMU senses) --------------------------------------------------------------
# The forearm's small reaction to each gesture, degrees of (yaw, pitch, roll), and how long it
# lasts (s): a press holds its deflection until its release; the others move out and back.
GESTURE_MOTION: dict[str, tuple[tuple[float, float, float], float]] = {
    "index_press": ((0.1, -0.4, 0.3), 0.15),
    "index_release": ((0.0, 0.2, 0.0), 0.15),
    "middle_press": ((-0.1, -0.4, -0.2), 0.15),
    "middle_release": ((0.0, 0.2, 0.0), 0.15),
    "thumb_click": ((0.0, -0.3, 0.4), 0.15),
    "thumb_down": ((0.2, -0.4, 1.0), 0.4),
    "thumb_in": ((1.0, 0.0, 0.5), 0.4),
    "thumb_out": ((-1.0, 0.0, -0.5), 0.4),
    "thumb_up": ((-0.2, 0.4, -1.0), 0.4),
}
assert tuple(GESTURE_MOTION) == GESTURES


def gesture_moves(events: list[GestureEvent], n_grid: int, gain: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The forearm's (yaw, pitch, roll) deflection (rad) on the grid, (n_grid, 3): every event's
    :data:`GESTURE_MOTION` scaled by the user's ``gain`` (9,) and a per-repetition factor."""
    moves = np.zeros((n_grid, 3))
    for ev in events:
        g = GESTURES.index(ev.name)
        delta, width = GESTURE_MOTION[ev.name]
        amp = np.radians(delta) * gain[g] * float(rng.lognormal(0.0, 0.2))
        if PRIMITIVES[ev.name].holds:
            add_move(moves, amp, ev.time, ev.until, width)
        else:
            add_move(moves, amp, ev.time, ev.time, width * float(rng.lognormal(0.0, 0.15)))
    return moves


def motion_gain(seed: int, user_index: int) -> np.ndarray:
    """How much each of the nine gestures moves this user's forearm (a lognormal factor each)."""
    return stream(seed, user_index, 0, TAG_MOTION_STYLE).lognormal(0.0, 0.3, len(GESTURES))


TAGS = SessionTags(TAG_SCHEDULE, TAG_PLACEMENT, TAG_FIRING, TAG_NOISE, TAG_MOTION, TAG_IMU)


class GestureSessionSpec(GniSessionSpec, file_task=TASK_GESTURES):
    """Everything that determines one gesture session file."""


@dataclass
class RenderedGestures(RenderedGni):
    events: list[GestureEvent] = field(default_factory=list)  # s from the start

    def counts(self) -> dict[str, int]:
        return {"gestures": len(self.events)}

    def prompts(self):  # -> pandas.DataFrame
        import pandas as pd

        t0 = self.spec.start_unix
        names = pd.Series([e.name for e in self.events], dtype=object)  # object, as the release's pandas writes
        return pd.DataFrame({"name": names, "time": np.array([t0 + e.time for e in self.events], dtype=np.float64)})


def render_gesture_session(spec: GestureSessionSpec) -> RenderedGestures:
    """Schedule, EMG (one band, volts), arm motion and IMU of one gesture session."""
    session = BandSession.start(spec, TAGS)
    style = make_style(spec.seed, spec.user_index, spec.difficulty)
    stages = plan_stages(session.duration_s, session.schedule)
    events = schedule_gestures(stages, style, session.schedule)
    jitter = session.diff.onset_jitter_s

    def voluntary(act: Activation, n_grid: int, rng: np.random.Generator) -> np.ndarray:
        return gesture_drive(events, stages, style, act, n_grid, rng, onset_jitter_s=jitter)

    emg = session.render(voluntary)
    moves = gesture_moves(events, session.n_grid, motion_gain(spec.seed, spec.user_index), stream(*spec.key, TAG_MOVES))
    motion = session.motion(stages, moves=moves)
    return RenderedGestures(spec=spec, emg=emg, stages=stages, motion=motion, imu=session.sense(motion), events=events)


@dataclass(frozen=True)
class GestureSummary(GniSummary):
    gestures: int


GestureDatasetConfig = GniDatasetConfig  # the one-band tasks' settings and splits
GESTURE_TASK = GniTask(TASK, GestureSessionSpec, render_gesture_session, GestureSummary, TAG_PLAN, _EPOCH_START)
plan_gestures = GESTURE_TASK.plan
generate_gestures = GESTURE_TASK.generate
