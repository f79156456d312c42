"""Synthetic handwriting sessions in the GNI layout (`emgrt synth --task handwriting`).

Characters and words written with the fingers on a table and in the air, as in the handwriting
task of Meta's generic-neuromotor-interface release, by the same synthetic people as the typing
and gesture data, through the same physiology and noise (the user's right forearm, its motor
units and MUAPs, the band's re-placement and noise: :mod:`emgrt.synth.oneband`).  Only the
voluntary drive differs: here it comes from pen trajectories.

Prompts.  Words and short phrases (1-3 words, at most :data:`MAX_CHARS` characters) cut from
the real English sentences the typists type (:func:`emgrt.synth.text.make_prompt`, WordNet 3.0),
lower-cased and reduced to :data:`CHARSET`: letters, digits, space and ``. , ' ? !``; now and
then a number, and one prompt in five a single letter.  As in the release, a right arrow
(:data:`~emgrt.io.gni.HW_SPACE`) asks for an explicit space, written as a rightward stroke (in
about a quarter of the multi-word prompts every space is explicit), and a left arrow
(:data:`~emgrt.io.gni.HW_BACKSPACE`) a backspace, written as a leftward stroke back over the
character before it: about one prompt in ten has such a correction (a wrong letter, the
backspace, then the right one, e.g. ``"tha←e cat"``).  The pause key is not used.

Pen trajectories.  The glyphs of a single-stroke (Hershey) font: each user prints with the
simplex roman font or writes with the simplex script font.  The fonts come from PyPI's
``Hershey-Fonts`` package (import ``HersheyFonts``, in the ``neuromotor`` extra); its licence is
MIT (copyright 2020 apshu), and the glyph data it carries are Dr A. V. Hershey's fonts from the
U.S. National Bureau of Standards, in the public domain in this form (as the package states).

The writer model.  Per user (:class:`WriterStyle`): letter size, width, slant, letter and word
spacing, pen speed (in letter heights per second, so duration hardly depends on size), the
smoothness of the path, pen-lift and pause timing, reading time, shape variability, the
co-contraction that presses the finger on the table and their own mapping of pen motion onto
the forearm compartments.  Per repetition: every character's size, width, slant and baseline,
every vertex's position, every stroke's speed and every pen lift vary; every prompt has its own
drive gain and EMG onset lead.  A stroke follows its polyline with a minimum-jerk speed profile;
the pen lifts between strokes (not where a stroke starts where the last one ended, as script
letters join), travels in the air and pauses between letters and words; the path is then
low-passed by the user's smoothness.  The pen position splits into the arm's (the hand's anchor
moves from character to character, smoothly, and back to the line start between prompts) and
the fingers' (the rest: the shapes of the letters).

The drive.  The fingers' velocity, in units of the user's pen speed and half-wave rectified,
drives four patterns: downward strokes (towards the body) the finger and thumb flexors, upward
strokes their extensors, rightward strokes the thumb adductor, the ulnar parts of the index and
the ulnar wrist deviator, leftward strokes the thumb abductor, the radial parts and the radial
wrist deviator; while the pen is down a co-contraction of the index and thumb holds it on the
table (weaker in the air).  The EMG leads the movement by the user's lead (30-120 ms) plus the
difficulty's onset jitter per prompt; the difficulty's ``key_overlap`` pulls the four direction
patterns towards their mean.  The sum goes through the shared enslaving, tonic and fluctuation
(:func:`~emgrt.synth.physiology.finish_drive`), and the raised arm of the air stage adds the
same tonic extensor and wrist drive as the gestures' raised-arm stage.

Schedule.  A short rest stage, then ``handwriting_1`` (writing on the table) and
``handwriting_2`` (writing in the air: larger, slower, no contact), each filled with prompts one
after another: a prompt appears (its ``start``), the user reads it, writes it and its ``end``
follows the last pen lift by 0.1-0.3 s; the next appears 0.3-1 s later.  Prompts never cross a
stage end.  Files: ``handwriting_user_UUU_dataset_SSS.hdf5`` (``prompts``: ``prompt``, ``start``,
``end``; ``stages``: ``start``, ``end``, ``name``, ``posture``) and ``handwriting_corpus.csv``,
split as for gestures (test users held out whole).

The IMU.  The band (on the wrist) moves with the arm: at the hand's anchor, the forearm turning
about the elbow as the hand travels along the line, pitched up when the wrist is raised to write
in the air, and nudged by a tenth of the wrist angles the fingers' strokes imply
(:func:`writing_motion`); each stage's posture adds its roll, tremor and sway.  Its stream is
the ``imu`` dataset of the IMU extension (:mod:`emgrt.io.imu`, :mod:`emgrt.synth.imu`);
``--no-imu`` leaves it out, and the EMG is the same either way.

Difficulty for handwriting is NOT yet calibrated: the default (0.7) sets noise, user/session
spread, direction overlap and onset jitter by the typing formulas (:mod:`~emgrt.synth.difficulty`);
the student-size model on 8 h of it reaches 84.5 greedy CER on held-out users after 2500 updates
(models/README.md, "Handwriting").
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache

import numpy as np

from emgrt.errors import ConfigError
from emgrt.io.gni import HW_BACKSPACE, HW_SPACE, TASK_HANDWRITING
from emgrt.synth.difficulty import DEFAULT_DIFFICULTY
from emgrt.synth.keyboard import INDEX, MIDDLE, THUMB
from emgrt.synth.oneband import FS, REST_STAGE, BandSession, GniDatasetConfig, GniSessionSpec, GniSummary, GniTask
from emgrt.synth.oneband import RenderedGni, Stage, add_posture, compartment, corpus_name, plan_stages, pull_together
from emgrt.synth.oneband import SessionTags, user_style, weight_vector
from emgrt.synth.imu import FOREARM_M, ArmMotion
from emgrt.synth.physiology import DEEP, DRIVE_HZ, EXT, FLEX, RAD, ULN, WRIST_RAD, WRIST_ULN, Activation, drive_grid
from emgrt.synth.text import make_prompt, prompt_table

TASK = "handwriting"  # the `emgrt synth --task` name
CORPUS_CSV = corpus_name(TASK_HANDWRITING)
FILE_GLOB = f"{TASK_HANDWRITING}_user_*_dataset_*.hdf5"

LETTERS = string.ascii_lowercase
DIGITS = string.digits
PUNCTUATION = ".,'?!"
GLYPHS = LETTERS + DIGITS + PUNCTUATION  # what is drawn from the font
CHARSET = GLYPHS + " " + HW_SPACE + HW_BACKSPACE  # every character a prompt may hold
MAX_CHARS = 24
PRINT, SCRIPT = FONTS = ("futural", "scripts")  # Hershey simplex roman (print), simplex script (joined)

# Stream tags, distinct from typing's (session.py, dataset.py) and gestures' (gestures.py); never 0.
TAG_STYLE = 131  # user level
TAG_PROMPTS, TAG_PLACEMENT, TAG_NOISE, TAG_FIRING = 241, 242, 243, 244
TAG_MOTION, TAG_IMU = 245, 246  # the arm's tremor and sway, the IMU: EMG streams untouched
TAG_PLAN = 321
TAGS = SessionTags(TAG_PROMPTS, TAG_PLACEMENT, TAG_FIRING, TAG_NOISE, TAG_MOTION, TAG_IMU)
_EPOCH_START = datetime(2023, 9, 1, tzinfo=timezone.utc).timestamp()

# name, posture, pace (pen speed factor), tonic (raised-arm drive)
STAGE_POSTURES = (("handwriting_1", "writing_on_table", 1.0, 0.0), ("handwriting_2", "writing_in_air", 0.8, 0.06))
# posture -> (letter size factor, contact co-contraction factor, wrist height in m)
WRITING_POSTURE = {"writing_on_table": (1.0, 1.0, 0.0), "writing_in_air": (1.4, 0.35, 0.25)}
END_MARGIN_S = 0.5  # the last prompt of a stage ends this long before the stage
ARM_SMOOTH_S = 0.08  # the arm follows the characters' anchors with this lag
JOIN = 0.06  # strokes that start within this many letter heights of the last end join (no lift)
MIN_STROKE_S = 0.06
# Drive per unit of normalised finger speed.  At 0.45 few motor units were recruited by the strokes
# and a model did not leave CTC's blank plateau.  `python models/probe_handwriting.py --gain G` (a
# ridge probe from the EMG envelope to the four direction drives) gives R^2 flex / extend / ulnar /
# radial 0.24 / 0.39 / 0.38 / -0.15 at 0.45, 0.46 / 0.52 / 0.45 / 0.10 at 1.2, 0.50 / 0.49 / 0.48 /
# 0.09 at 2.0 (little more): the radial (leftward) strokes stay hard to read.
DRIVE_GAIN = 1.2
MAX_SPEED = 3.0  # normalised finger speed is clipped here
ARROW = 0.9  # length of an explicit-space stroke, letter heights
ARROW_Y = 0.35  # height of the arrow strokes above the baseline, letter heights
FINGER_LEVER_M = 0.1  # fingertip to wrist, for the wrist angles the fingers' motion implies
# The band's motion (its IMU): the elbow turns the forearm as the hand moves along the line (the
# forearm straight ahead at LINE_MIDDLE_M, the elbow sliding a forearm's length behind), the
# raised wrist pitches it (arctan(height / RAISED_REACH_M): 30 deg in the air), and the
# forearm takes WRIST_COUPLING of the wrist's angles.
LINE_MIDDLE_M = 0.1
RAISED_REACH_M = 0.45
WRIST_COUPLING = 0.1
ARM_RAISE_S = 0.2

# The four direction patterns and the contact pattern, right hand (y up the page: away from the body).
_c = compartment
DIRECTIONS = ("flex", "extend", "ulnar", "radial", "contact")
_PATTERNS = {
    "flex": {_c(INDEX, FLEX): 1.0, _c(INDEX, DEEP): 0.6, _c(MIDDLE, FLEX): 0.35, _c(THUMB, FLEX): 0.5, _c(THUMB, DEEP): 0.3},
    "extend": {_c(INDEX, EXT): 1.0, _c(MIDDLE, EXT): 0.35, _c(THUMB, EXT): 0.5, WRIST_RAD: 0.15},
    "ulnar": {_c(THUMB, ULN): 0.8, _c(INDEX, ULN): 0.6, _c(MIDDLE, ULN): 0.2, WRIST_ULN: 0.6},
    "radial": {_c(THUMB, RAD): 0.8, _c(INDEX, RAD): 0.6, _c(MIDDLE, RAD): 0.2, WRIST_RAD: 0.6},
    "contact": {_c(INDEX, FLEX): 0.6, _c(INDEX, EXT): 0.35, _c(THUMB, FLEX): 0.5, _c(THUMB, ULN): 0.3, _c(MIDDLE, FLEX): 0.25},
}


# -- the font --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Glyph:
    strokes: tuple[np.ndarray, ...]  # (m, 2) polylines in letter heights: x from the left side, y up from the baseline
    advance: float  # letter heights


@lru_cache(maxsize=None)
def font_glyphs(font: str) -> dict[str, Glyph]:
    """The :data:`GLYPHS` of one Hershey font, scaled so the capital height is 1."""
    try:
        from HersheyFonts import HersheyFonts
    except ImportError:
        raise ConfigError("--task handwriting needs the Hershey-Fonts stroke font: pip install 'emgrt[neuromotor]'") from None
    f = HersheyFonts()
    f.load_default_font(font)
    base, cap = float(f.render_options.base_line), float(f.render_options.cap_line)
    height = base - cap
    table = f.all_glyphs
    out = {}
    for ch in GLYPHS:
        g = table[ch]
        strokes = tuple(
            np.array([((x - g.left_offset) / height, (base - y) / height) for x, y in st], dtype=np.float64)
            for st in g.strokes
        )
        out[ch] = Glyph(strokes, g.char_width / height)
    return out


def load_resources() -> None:
    """Load the fonts and the prompt sentences (once, before workers fork; fails early without the font)."""
    for font in FONTS:
        font_glyphs(font)
    prompt_table()


# -- prompts ---------------------------------------------------------------------------------------
def prompt_words(sentence: str) -> list[str]:
    """A sentence's words, lower case, in the written charset (hyphens and slashes split words)."""
    kept = "".join(c if c in GLYPHS or c == " " else (" " if c in "-/" else "") for c in sentence.lower())
    return kept.split()


def make_hw_prompt(rng: np.random.Generator, max_words: int = 3) -> str:
    """One handwriting prompt: a word or short phrase of real English of at most ``max_words``
    words (sometimes a number or a letter; ``max_words`` 0: one letter), with now and then
    explicit spaces or a backspace correction."""
    r = rng.random()
    if r < 0.06 and max_words:
        text = str(int(rng.integers(0, 10 ** int(rng.integers(1, 5)))))
    elif r < 0.26 or not max_words:  # single letters: the examples a model first learns its letters from
        text = LETTERS[int(rng.integers(len(LETTERS)))]
    else:
        words = prompt_words(make_prompt(rng)) or ["a"]
        k = min(int(rng.choice(3, p=[0.4, 0.4, 0.2])) + 1, max_words, len(words))
        i = int(rng.integers(len(words) - k + 1))
        text = " ".join(words[i : i + k])
        while len(text) > MAX_CHARS and k > 1:
            k -= 1
            text = " ".join(words[i : i + k])
        text = text[:MAX_CHARS]
    if " " in text and rng.random() < 0.25:
        text = text.replace(" ", HW_SPACE)
    letters = [j for j, c in enumerate(text) if c in LETTERS]
    if letters and rng.random() < 0.1:
        j = letters[int(rng.integers(len(letters)))]
        wrong = LETTERS[(LETTERS.index(text[j]) + int(rng.integers(1, len(LETTERS)))) % len(LETTERS)]
        text = text[:j] + wrong + HW_BACKSPACE + text[j:]
    return text


# -- writers ---------------------------------------------------------------------------------------
# The writers' spread: each user's value is drawn uniformly from these ranges.
STYLE_RANGES = {
    "size_cm": (1.2, 2.8),
    "width": (0.85, 1.2),
    "word_gap": (0.4, 0.8),
    "speed": (5.5, 9.5),
    "smooth_s": (0.006, 0.018),
    "lift_s": (0.04, 0.12),
    "letter_pause_s": (0.02, 0.12),
    "word_pause_s": (0.15, 0.45),
    "read_s": (0.5, 1.3),
    "press": (0.12, 0.3),
}


@dataclass(frozen=True)
class WriterStyle:
    """How one user writes."""

    font: str
    size_cm: float  # capital height on the table
    width: float  # horizontal scale of the letters
    slant: float  # forward lean (x shift per unit of height)
    spacing: float  # letter advance factor
    word_gap: float  # extra advance of a space, letter heights
    speed: float  # pen speed along a stroke, letter heights per second
    smooth_s: float  # low-pass of the path (s)
    lift_s: float  # pen-up time between strokes
    letter_pause_s: float
    word_pause_s: float
    read_s: float  # from a prompt appearing to the first stroke
    shape_jitter: float  # per-vertex noise, letter heights
    press: float  # co-contraction while the pen is down on the table
    amplitude: float  # drive scale of the movement
    patterns: np.ndarray = field(repr=False)  # (5, N_COMPARTMENTS): DIRECTIONS' drive patterns


def sample_writer(rng: np.random.Generator, variability: float, overlap: float) -> WriterStyle:
    v = variability
    patterns = np.stack([weight_vector(_PATTERNS[d]) for d in DIRECTIONS])
    patterns = patterns * np.exp(rng.normal(0, 0.25 * v, patterns.shape))
    patterns[:4] = pull_together(patterns[:4], overlap)
    font = FONTS[int(rng.random() < 0.3)]
    drawn = {name: float(rng.uniform(lo, hi)) for name, (lo, hi) in STYLE_RANGES.items()}
    spacing = rng.uniform(0.9, 1.05) if font == SCRIPT else rng.uniform(0.95, 1.3)  # script letters join
    return WriterStyle(
        font=font,
        slant=float(np.clip(rng.normal(0.12, 0.12), -0.15, 0.4)),
        spacing=float(spacing),
        shape_jitter=float(0.01 + 0.015 * v),
        amplitude=float(np.exp(rng.normal(0, 0.2 * v))),
        patterns=patterns,
        **drawn,
    )


@lru_cache(maxsize=8)
def make_writer(seed: int, user_index: int, difficulty: float = DEFAULT_DIFFICULTY) -> WriterStyle:
    """The handwriting style of user ``user_index`` of the population seeded by ``seed``."""
    return user_style(sample_writer, TAG_STYLE, seed, user_index, difficulty)


# -- pen paths -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Segment:
    """One movement: the pen along ``points`` (cm) with a minimum-jerk profile, down or in the air;
    the hand's anchor moves from ``anchor0`` to ``anchor1`` (cm) with the same profile."""

    t0: float  # s from the start of the session
    duration: float
    points: np.ndarray  # (m, 2) cm, m >= 2
    down: bool
    anchor0: np.ndarray  # (2,) cm
    anchor1: np.ndarray


def _length(points: np.ndarray) -> float:
    return float(np.hypot(*np.diff(points, axis=0).T).sum())


@dataclass
class Pen:
    """Where the pen and the hand's anchor are, and when."""

    t: float
    at: np.ndarray  # (2,) cm
    anchor: np.ndarray  # (2,) cm


def write_text(
    text: str, style: WriterStyle, pen: Pen, t_appear: float, stage: Stage, rng: np.random.Generator
) -> tuple[list[Segment], float]:
    """The segments that write ``text`` from a line start near the origin, the prompt appearing at
    ``t_appear``; returns them and the time of the last pen lift.  Moves ``pen`` along."""
    size_f, _, _ = WRITING_POSTURE[stage.posture]
    size = style.size_cm * size_f
    speed = style.speed * size * stage.pace  # cm/s along a stroke
    glyphs = font_glyphs(style.font)
    segs: list[Segment] = []
    cursor = float(rng.normal(0, 0.3 * size))
    baseline = float(rng.normal(0, 0.2 * size))
    last_adv = 0.0
    first = True
    pause = 0.0
    in_word = False  # the last character was a letter of this word: script joins on to it

    def move(points: np.ndarray, down: bool, anchor: np.ndarray, duration: float) -> None:
        segs.append(Segment(pen.t, duration, points, down, pen.anchor, anchor))
        pen.t += duration
        pen.at, pen.anchor = points[-1], anchor

    for ch in text:
        if ch == " ":
            cursor += style.word_gap * size
            pause += style.word_pause_s * float(rng.lognormal(0, 0.3))
            in_word = False
            continue
        joins = style.font == SCRIPT and in_word and ch in LETTERS
        y = baseline + ARROW_Y * size
        if ch == HW_SPACE:
            adv = (ARROW + 0.3) * size
            strokes = [np.array([[cursor, y], [cursor + ARROW * size, y]])]
        elif ch == HW_BACKSPACE:
            adv = -last_adv
            strokes = [np.array([[cursor - 0.1 * size, y], [cursor - last_adv, y]])]
        else:
            g = glyphs[ch]
            sx = style.width * float(rng.lognormal(0, 0.06))
            sy = float(rng.lognormal(0, 0.06))
            slant = style.slant + float(rng.normal(0, 0.04))
            base = baseline + float(rng.normal(0, 0.03))
            adv = g.advance * style.width * style.spacing * size
            strokes = []
            for st in g.strokes:
                p = st + rng.normal(0, style.shape_jitter, st.shape)
                strokes.append(
                    np.stack([cursor + size * (sx * p[:, 0] + slant * p[:, 1]), base + size * sy * p[:, 1]], axis=1)
                )
        anchor = np.array([cursor + 0.5 * adv, baseline + 0.4 * size])
        for k, st in enumerate(strokes):
            if len(st) == 1:
                st = np.concatenate([st, st])
            gap = float(np.hypot(*(st[0] - pen.at)))
            if joins and k == 0:  # cursive: the pen stays down into the next letter
                move(np.stack([pen.at, st[0]]), True, anchor, max(0.02, gap / speed))
            elif first:  # back to the line start, then read the prompt
                travel = 0.3 + gap / (4.0 * speed)
                pen.t = max(pen.t, t_appear + 0.15)
                move(np.stack([pen.at, st[0]]), False, anchor, travel)
                pen.t = max(pen.t + style.lift_s, t_appear + style.read_s * float(rng.lognormal(0, 0.3)))
                first = False
            elif gap < JOIN * size and pause == 0.0:
                if gap > 0:
                    move(np.stack([pen.at, st[0]]), True, anchor, max(0.01, gap / speed))
            else:
                pen.t += pause
                lift = style.lift_s * float(rng.lognormal(0, 0.25))
                move(np.stack([pen.at, st[0]]), False, anchor, lift + gap / (1.5 * speed))
            pause = 0.0
            dur = max(MIN_STROKE_S, _length(st) / speed) * float(rng.lognormal(0, 0.12))
            move(st, True, anchor, dur)
        pause = style.letter_pause_s * float(rng.lognormal(0, 0.3))
        cursor += adv
        last_adv = adv
        in_word = ch in LETTERS
    return segs, pen.t


def _min_jerk(tau: np.ndarray) -> np.ndarray:
    return tau**3 * (10 - 15 * tau + 6 * tau**2)


@dataclass(frozen=True)
class PenTrack:
    """The pen on the DRIVE_HZ grid: page position, pen down, the hand's anchor (cm)."""

    pen: np.ndarray  # (n_grid, 2)
    down: np.ndarray  # (n_grid,) bool
    anchor: np.ndarray  # (n_grid, 2)

    @property
    def fingers(self) -> np.ndarray:
        """The fingers' share of the pen position: pen minus the hand's anchor (cm)."""
        return self.pen - self.anchor


def track(segments: Sequence[Segment], n_grid: int, style: WriterStyle, start: np.ndarray) -> PenTrack:
    """Sample the segments on the grid (the pen rests between them), then low-pass the path."""
    from scipy.ndimage import gaussian_filter1d

    pen = np.full((n_grid, 2), np.nan)
    anchor = np.full((n_grid, 2), np.nan)
    down = np.zeros(n_grid, dtype=bool)
    pen[0] = anchor[0] = start
    for s in segments:
        i0 = max(0, int(np.ceil(s.t0 * DRIVE_HZ)))
        i1 = min(n_grid, int(np.floor((s.t0 + s.duration) * DRIVE_HZ)) + 1)
        if i1 <= i0:
            continue
        frac = _min_jerk(np.clip((np.arange(i0, i1) / DRIVE_HZ - s.t0) / s.duration, 0.0, 1.0))
        arc = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(s.points, axis=0).T))])
        along = frac * arc[-1]
        pen[i0:i1, 0] = np.interp(along, arc, s.points[:, 0])
        pen[i0:i1, 1] = np.interp(along, arc, s.points[:, 1])
        anchor[i0:i1] = s.anchor0 + frac[:, None] * (s.anchor1 - s.anchor0)
        down[i0:i1] = s.down
    held = np.maximum.accumulate(np.where(np.isfinite(pen[:, 0]), np.arange(n_grid), 0))  # rest between movements
    pen, anchor = pen[held], anchor[held]
    pen = gaussian_filter1d(pen, style.smooth_s * DRIVE_HZ, axis=0, mode="nearest")
    anchor = gaussian_filter1d(anchor, ARM_SMOOTH_S * DRIVE_HZ, axis=0, mode="nearest")
    return PenTrack(pen, down, anchor)


# -- the arm and wrist the pen implies (for the IMU) -------------------------------------------------
@dataclass(frozen=True)
class Kinematics:
    """Per EMG sample, the motion the pen implies (not written to the files).

    The band's motion and IMU stream (:func:`writing_motion`, the IMU extension) derive from the
    same grid values (:func:`arm_on_grid`).  Axes: x along the writing line (right), y across it
    (away from the body), z up; metres and radians, float32.
    """

    pen: np.ndarray  # (T, 2) pen tip on the page
    pen_down: np.ndarray  # (T,) bool
    wrist: np.ndarray  # (T, 3) wrist position: the hand's anchor, raised in the air stage
    wrist_angles: np.ndarray  # (T, 2) flexion (+: towards the palm) and ulnar deviation the fingers' motion implies


def arm_on_grid(tr: PenTrack, stages: Sequence[Stage]) -> tuple[np.ndarray, np.ndarray]:
    """The wrist's position (n_grid, 3) m and the wrist angles (n_grid, 2) rad on the grid."""
    n_grid = len(tr.down)
    height = np.zeros(n_grid)
    for st in stages:
        if st.name != REST_STAGE:
            height[int(st.start * DRIVE_HZ) : int(st.end * DRIVE_HZ) + 1] = WRITING_POSTURE[st.posture][2]
    ramp = int(1.0 * DRIVE_HZ)  # a second to raise or lower the arm
    height = np.convolve(np.pad(height, ramp, mode="edge"), np.ones(ramp) / ramp, mode="same")[ramp:-ramp]
    fingers = tr.fingers / 100.0
    angles = np.stack([-np.arctan2(0.3 * fingers[:, 1], FINGER_LEVER_M), np.arctan2(0.5 * fingers[:, 0], FINGER_LEVER_M)], axis=1)
    return np.concatenate([tr.anchor / 100.0, height[:, None]], axis=1), angles


def kinematics(tr: PenTrack, stages: Sequence[Stage], n: int) -> Kinematics:
    """The pen track on the grid -> per-sample arm and wrist motion."""
    n_grid = len(tr.down)
    grid_t = np.arange(n_grid) / DRIVE_HZ
    t = np.arange(n) / FS
    wrist, angles = arm_on_grid(tr, stages)

    def per_sample(a: np.ndarray) -> np.ndarray:
        return np.stack([np.interp(t, grid_t, col) for col in np.atleast_2d(a.T)], axis=1).astype(np.float32)

    down = tr.down[np.minimum(np.round(t * DRIVE_HZ).astype(np.int64), n_grid - 1)]
    return Kinematics(per_sample(tr.pen / 100.0), down, per_sample(wrist), per_sample(angles))


def writing_motion(tr: PenTrack, stages: Sequence[Stage], session: BandSession) -> ArmMotion:
    """The band's motion while writing: at the wrist, the forearm turning about the elbow as the
    hand moves along the line, pitched up by the raised wrist in the air, and nudged by a tenth of
    the wrist angles the fingers' strokes imply (the forearm reacts to the hand)."""
    from scipy.ndimage import gaussian_filter1d

    wrist, angles = arm_on_grid(tr, stages)
    wrist[:, 2] = gaussian_filter1d(wrist[:, 2], ARM_RAISE_S * DRIVE_HZ, mode="nearest")  # a smooth raise, not a ramp
    moves = np.zeros((len(wrist), 3))
    moves[:, 0] = -np.arctan2(wrist[:, 0] - LINE_MIDDLE_M, 2 * FOREARM_M) - WRIST_COUPLING * angles[:, 1]
    moves[:, 1] = np.arctan2(wrist[:, 2], RAISED_REACH_M) - WRIST_COUPLING * angles[:, 0]
    return session.motion(stages, moves=moves, position=wrist)


# -- the schedule ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class WrittenPrompt:
    text: str
    start: float  # s from the start of the session: the prompt appears
    end: float  # shortly after the last pen lift
    stage: str


def schedule_prompts(
    stages: Sequence[Stage], style: WriterStyle, rng: np.random.Generator
) -> tuple[list[WrittenPrompt], list[Segment]]:
    """Prompts written one after another in every writing stage, and the pen's segments."""
    prompts: list[WrittenPrompt] = []
    segments: list[Segment] = []
    pen = Pen(0.0, np.zeros(2), np.zeros(2))
    for st in stages:
        if st.name == REST_STAGE:
            continue
        t = st.start + float(rng.uniform(0.3, 1.0))
        while True:
            for max_words in (3, 1, 0):  # shorter prompts when the stage runs out
                text = make_hw_prompt(rng, max_words)
                trial = Pen(max(pen.t, t), pen.at, pen.anchor)
                segs, done = write_text(text, style, trial, t, st, rng)
                end = done + float(rng.uniform(0.1, 0.3))
                if end + END_MARGIN_S <= st.end:
                    break
            else:
                break
            prompts.append(WrittenPrompt(text, t, end, st.name))
            segments.extend(segs)
            pen = trial
            t = end + float(rng.uniform(0.3, 1.0))
    return prompts, segments


# -- the drive -------------------------------------------------------------------------------------
def writing_drive(
    tr: PenTrack,
    prompts: Sequence[WrittenPrompt],
    stages: Sequence[Stage],
    style: WriterStyle,
    act: Activation,
    rng: np.random.Generator,
    *,
    onset_jitter_s: float,
) -> np.ndarray:
    """Voluntary drive of every compartment on the DRIVE_HZ grid, (n_grid, N_COMPARTMENTS).

    Pass it through :func:`emgrt.synth.physiology.finish_drive` (enslaving, tonic, fluctuation).
    """
    n_grid = len(tr.down)
    scale = np.ones(n_grid)  # the stage's letter size and pace: what the pen speed scales with
    contact = np.zeros(n_grid)
    for st in stages:
        if st.name != REST_STAGE:
            sl = slice(int(st.start * DRIVE_HZ), int(st.end * DRIVE_HZ) + 1)
            scale[sl] = WRITING_POSTURE[st.posture][0] * st.pace
            contact[sl] = WRITING_POSTURE[st.posture][1]
    v = np.gradient(tr.fingers, axis=0) * DRIVE_HZ / (style.speed * style.size_cm * scale)[:, None]
    v = np.clip(v, -MAX_SPEED, MAX_SPEED)
    dirs = np.stack([np.maximum(-v[:, 1], 0), np.maximum(v[:, 1], 0), np.maximum(v[:, 0], 0), np.maximum(-v[:, 0], 0)], axis=1)
    width = int(0.03 * DRIVE_HZ)
    held = np.convolve(tr.down.astype(np.float64), np.ones(width) / width, mode="same")
    gain = np.ones(n_grid)
    lead = np.full(n_grid, act.lead_s)
    for p in prompts:  # every prompt: its own effort and EMG onset lead
        sl = slice(int(p.start * DRIVE_HZ), int(p.end * DRIVE_HZ) + 1)
        gain[sl] = float(rng.lognormal(0, 0.15))
        lead[sl] = float(np.clip(act.lead_s + rng.normal(0, onset_jitter_s), 0.015, 0.2))
    move = (act.force * style.amplitude * DRIVE_GAIN * gain)[:, None] * (dirs @ style.patterns[:4])
    press = (act.force * style.press * contact * held)[:, None] * style.patterns[4][None, :]
    drive = move + press
    ahead = np.minimum(np.arange(n_grid) + np.round(lead * DRIVE_HZ).astype(np.int64), n_grid - 1)
    return add_posture(drive[ahead], stages)  # the EMG leads the movement


# -- sessions --------------------------------------------------------------------------------------
class HandwritingSessionSpec(GniSessionSpec, file_task=TASK_HANDWRITING):
    """Everything that determines one handwriting session file."""


@dataclass
class RenderedHandwriting(RenderedGni):
    written: list[WrittenPrompt] = field(default_factory=list)  # s from the start
    # The arm and wrist motion of the session, per EMG sample (the band's pose and its IMU stream,
    # derived from it, are RenderedGni.motion and .imu).
    kinematics: Kinematics | None = field(default=None, repr=False)

    def counts(self) -> dict[str, int]:
        return {"prompts": len(self.written), "characters": sum(len(p.text) for p in self.written)}

    def prompts(self):  # -> pandas.DataFrame
        import pandas as pd

        t0 = self.spec.start_unix
        return pd.DataFrame(
            {
                "prompt": pd.Series([p.text for p in self.written], dtype=object),
                "start": np.array([t0 + p.start for p in self.written], dtype=np.float64),
                "end": np.array([t0 + p.end for p in self.written], dtype=np.float64),
            }
        )


def render_handwriting_session(spec: HandwritingSessionSpec) -> RenderedHandwriting:
    """Prompts, pen path, arm motion, EMG (one band, volts) and IMU of one handwriting session."""
    session = BandSession.start(spec, TAGS)
    style = make_writer(spec.seed, spec.user_index, spec.difficulty)
    stages = plan_stages(session.duration_s, session.schedule, STAGE_POSTURES)
    written, segments = schedule_prompts(stages, style, session.schedule)
    tr = track(segments, drive_grid(session.n), style, np.zeros(2))

    def voluntary(act: Activation, n_grid: int, rng: np.random.Generator) -> np.ndarray:
        return writing_drive(tr, written, stages, style, act, rng, onset_jitter_s=session.diff.onset_jitter_s)

    emg = session.render(voluntary)
    motion = writing_motion(tr, stages, session)
    return RenderedHandwriting(
        spec=spec, emg=emg, stages=stages, motion=motion, imu=session.sense(motion), written=written, kinematics=kinematics(tr, stages, session.n)
    )


@dataclass(frozen=True)
class HandwritingSummary(GniSummary):
    prompts: int
    characters: int


HandwritingDatasetConfig = GniDatasetConfig  # the one-band tasks' settings and splits
HANDWRITING_TASK = GniTask(TASK, HandwritingSessionSpec, render_handwriting_session, HandwritingSummary, TAG_PLAN, _EPOCH_START, prepare=load_resources)
plan_handwriting = HANDWRITING_TASK.plan
generate_handwriting = HANDWRITING_TASK.generate
