"""What the one-band GNI-layout tasks of `emgrt synth` share (``--task gestures`` and ``handwriting``).

Both tasks are made by the typing population's people (:func:`emgrt.synth.session.make_user`)
through the same physiology and noise; they differ only in the voluntary drive and the labels.
This module holds everything else, once:

* the session plan: a short rest stage, then two task stages (:func:`plan_stages`), and the
  tonic drive of a raised arm (:func:`add_posture`);
* the signal: one band on the right wrist, 16 electrodes at 2 kHz, re-placed per session as
  for typing (:func:`emgrt.synth.session.place_bands`), a task's drive rendered through
  :func:`~emgrt.synth.physiology.finish_drive` and :func:`~emgrt.synth.physiology.render_drive`,
  recorded with the band's noise, then a causal 4th-order Butterworth high-pass at 40 Hz and
  scaling to volts (the synthetic units are microvolts), as the release stores its files
  (:class:`BandSession`, :func:`to_volts`);
* the files: ``<task>_user_UUU_dataset_SSS.hdf5`` written with
  :func:`emgrt.io.gni.write_gni_session` (a ``stages`` table with ``start, end, name,
  posture``; each task's ``prompts``) and, unless ``imu`` is off, the band's IMU stream
  (:func:`emgrt.io.imu.write_imu`, dataset ``imu``) in the same atomic write; and
  ``<task>_corpus.csv`` (``dataset, start, end, split``; one partition per stage);
* the motion: each stage's posture and the task's movements give the band's pose
  (:meth:`BandSession.motion`, rolled by the band's rotation on the wrist that the EMG sees),
  sensed by the session's IMU (:meth:`BandSession.sense`, :mod:`emgrt.synth.imu`) from streams
  of its own, so the EMG and labels do not depend on it;
* the dataset: held-out test users give all their sessions to ``test``, the other users give
  their last ``val_sessions`` sessions to ``val`` and the rest to ``train``; session start
  times and test users come from the dataset seed, every session from its own streams, so the
  files depend on the settings only, never on the number of workers (:meth:`GniTask.generate`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from emgrt.constants import SAMPLE_RATE_HZ
from emgrt.io.atomic import atomic_path
from emgrt.io.gni import CORPUS_COLUMNS, TASK_GESTURES, TASK_HANDWRITING
from emgrt.io.imu import write_imu
from emgrt.synth.dataset import (
    SYNTH_JSON,
    DatasetConfig,
    SynthConfig,
    SynthSummary,
    check_workers,
    is_synth_dataset,
    prepare_out_dir,
    render_sessions,
)
from emgrt.synth.difficulty import DEFAULT_DIFFICULTY, Difficulty
from emgrt.synth.keyboard import RIGHT
from emgrt.synth.physiology import DRIVE_HZ, EXT, N_COMPARTMENTS, N_KIND, WRIST_RAD, Activation, drive_grid, finish_drive, render_drive
from emgrt.synth.imu import ArmMotion, ImuRecording, band_roll, posed, sense
from emgrt.synth.session import SessionPlacement, SynthUser, WrittenSession, make_user, place_bands, render_and_write, stream

FS = SAMPLE_RATE_HZ
BAND = RIGHT  # the release records one band, on the right wrist
VOLTS_PER_UNIT = 1e-6  # the synthetic EMG is in microvolts
HIGHPASS_HZ, HIGHPASS_ORDER = 40.0, 4
GNI_TASKS = (TASK_GESTURES, TASK_HANDWRITING)  # the file tasks this module writes

T = TypeVar("T")

REST_STAGE = "rest"
REST_POSTURE = "arm_on_table"


def compartment(finger: int, kind: int) -> int:
    """The index of one finger's compartment of one kind (FLEX, DEEP, EXT, RAD, ULN)."""
    return finger * N_KIND + kind


def weight_vector(weights: dict[int, float]) -> np.ndarray:
    """A (N_COMPARTMENTS,) drive pattern from ``{compartment: weight}``."""
    out = np.zeros(N_COMPARTMENTS)
    for comp, w in weights.items():
        out[comp] = w
    return out


def pull_together(patterns: np.ndarray, overlap: float) -> np.ndarray:
    """Rows of ``patterns`` moved towards their mean by ``overlap`` in [0, 1] (1: all equal)."""
    mean = patterns.mean(axis=0)
    return mean + (1.0 - overlap) * (patterns - mean)


def user_style(sample: Callable[[np.random.Generator, float, float], T], tag: int, seed: int, user_index: int, difficulty: float) -> T:
    """A task's per-user style: ``sample(rng, user_variability, overlap)`` from the user's stream ``tag``."""
    diff = Difficulty.from_level(difficulty)
    return sample(stream(seed, user_index, 0, tag), diff.user_variability, diff.key_overlap)


# -- stages ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stage:
    name: str
    start: float  # s from the start of the session
    end: float
    posture: str
    pace: float = 1.0  # the task's pace factor in this stage
    tonic: float = 0.0  # extra extensor and wrist drive (holding the arm up)


def plan_stages(duration_s: float, rng: np.random.Generator, postures: Sequence[tuple[str, str, float, float]]) -> list[Stage]:
    """A short rest, then the two task stages ``postures`` (name, posture, pace, tonic) splitting
    the rest of the session, covering it all.

    ``duration_s`` is the time of the last sample, so the last stage ends on it.
    """
    rest = min(float(rng.uniform(3.0, 5.0)), 0.1 * duration_s)
    cut = rest + (duration_s - rest) * float(rng.uniform(0.4, 0.6))
    bounds = (rest, cut, duration_s)
    stages = [Stage(REST_STAGE, 0.0, rest, REST_POSTURE)]
    for i, (name, posture, pace, tonic) in enumerate(postures):
        stages.append(Stage(name, bounds[i], bounds[i + 1], posture, pace, tonic))
    return stages


def add_posture(drive: np.ndarray, stages: Sequence[Stage]) -> np.ndarray:
    """Posture: a raised arm holds the wrist and finger extensors a little (0.5 s ramps), in place."""
    n_grid = drive.shape[0]
    posture = np.zeros(n_grid)
    for st in stages:
        posture[int(st.start * DRIVE_HZ) : int(st.end * DRIVE_HZ) + 1] = st.tonic
    if posture.any():
        ramp = int(0.5 * DRIVE_HZ)
        posture = np.convolve(np.pad(posture, ramp, mode="edge"), np.ones(ramp) / ramp, mode="same")[ramp:-ramp]
        drive[:, [compartment(f, EXT) for f in range(5)]] += posture[:, None]
        drive[:, WRIST_RAD:] += posture[:, None]
    return drive


def stage_table(stages: Sequence[Stage], t0: float):  # -> pandas.DataFrame
    """The ``stages`` table (unix times), as the release's files carry it."""
    import pandas as pd

    return pd.DataFrame(
        {
            "start": [t0 + s.start for s in stages],
            "end": [t0 + s.end for s in stages],
            "name": pd.Series([s.name for s in stages], dtype=object),  # one object block
            "posture": pd.Series([s.posture for s in stages], dtype=object),
        }
    )


# -- the signal ------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _highpass() -> np.ndarray:
    from scipy.signal import butter

    return butter(HIGHPASS_ORDER, HIGHPASS_HZ, btype="highpass", fs=FS, output="sos")


def to_volts(emg_uv: np.ndarray) -> np.ndarray:
    """Causal 40 Hz high-pass (started at the first sample's level) and microvolts -> volts, float32."""
    from scipy.signal import sosfilt, sosfilt_zi

    sos = _highpass()
    x = np.asarray(emg_uv, dtype=np.float64)
    zi = sosfilt_zi(sos)[:, :, None] * x[0][None, None, :]
    y, _ = sosfilt(sos, x, axis=0, zi=zi)
    return (y * VOLTS_PER_UNIT).astype(np.float32)


@dataclass(frozen=True)
class SessionTags:
    """A task's stream tags for one session (distinct per task and from typing's, never 0)."""

    schedule: int  # what is done when (the task's labels)
    placement: int
    firing: int
    noise: int
    motion: int  # the arm's movements the IMU senses (tremor, sway, the task's own)
    imu: int  # the IMU's errors, clock and noise


@dataclass(frozen=True)
class BandSession:
    """What one session of a one-band task is rendered from: its settings, the person (the typing
    population's), its length and its schedule stream; :meth:`render` makes the band."""

    spec: GniSessionSpec
    tags: SessionTags
    diff: Difficulty
    user: SynthUser
    schedule: np.random.Generator

    @classmethod
    def start(cls, spec: GniSessionSpec, tags: SessionTags) -> BandSession:
        user = make_user(spec.seed, spec.user_index, spec.difficulty)
        return cls(spec, tags, Difficulty.from_level(spec.difficulty), user, stream(*spec.key, tags.schedule))

    @property
    def n(self) -> int:
        return self.spec.samples

    @property
    def duration_s(self) -> float:
        """The time of the last sample (where the last stage ends)."""
        return (self.n - 1) / FS

    def placement(self) -> SessionPlacement:
        """Where the band sits this session (the same every call: its own stream)."""
        return place_bands(self.user, self.diff, stream(*self.spec.key, self.tags.placement), (BAND,))  # as for typing, one band

    def render(self, voluntary: Callable[[Activation, int, np.random.Generator], np.ndarray]) -> np.ndarray:
        """The session's band in volts, (n, 16) float32, from the task's voluntary drive.

        ``voluntary(activation, n_grid, rng)`` returns the (n_grid, N_COMPARTMENTS) drive of the
        movement, drawing from ``rng`` (the session's firing stream, then used for the firing).
        """
        key, tags = self.spec.key, self.tags
        placement = self.placement()
        act, band = placement.activation, placement.bands[0]
        firing = stream(*key, tags.firing)
        drive = finish_drive(voluntary(act, drive_grid(self.n), firing), band.anatomy, act, firing)
        emg = band.record(render_drive(drive, band.anatomy, self.n, firing, rotation=band.rotation), stream(*key, tags.noise))
        return to_volts(emg)

    def motion(self, stages: Sequence[Stage], **task: Any) -> ArmMotion:
        """The band's motion in the session's postures (:func:`emgrt.synth.imu.posed`, the task's
        ``moves`` or ``position`` in ``task``), rolled by the band's rotation this session."""
        roll = band_roll(self.placement().bands[0].rotation)
        triples = [(s.start, s.end, s.posture) for s in stages]
        return posed(triples, self.n_grid, stream(*self.spec.key, self.tags.motion), band_roll=roll, **task)

    @property
    def n_grid(self) -> int:
        """Points of the DRIVE_HZ grid (the drive's and the motion's) over the session."""
        return drive_grid(self.n)

    def sense(self, motion: ArmMotion) -> ImuRecording | None:
        """The band's IMU stream of ``motion`` (None when the spec asks for no IMU)."""
        if not self.spec.imu:
            return None
        return sense(motion, self.duration_s, self.spec.start_unix, stream(*self.spec.key, self.tags.imu))


# -- sessions --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GniSessionSpec:
    """Everything that determines one session file of a one-band task; a task's subclass names
    its file task: ``class GestureSessionSpec(GniSessionSpec, file_task="discrete_gestures")``."""

    file_task: ClassVar[str]  # the GNI task written to the file and its name

    seed: int
    user_index: int
    session_index: int
    start_unix: float  # first sample's time
    minutes: float
    difficulty: float = DEFAULT_DIFFICULTY
    imu: bool = True  # write the band's IMU stream (the optional extension, emgrt.io.imu)

    def __init_subclass__(cls, file_task: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.file_task = file_task

    @property
    def name(self) -> str:
        return f"{self.file_task}_user_{self.user_index:03d}_dataset_{self.session_index:03d}"

    @property
    def key(self) -> tuple[int, int, int]:
        """(seed, user, session): the start of every stream of this session."""
        return (self.seed, self.user_index, self.session_index)

    @property
    def samples(self) -> int:
        return int(round(self.minutes * 60 * FS))


@dataclass
class RenderedGni:
    """One rendered session of a one-band task: what its file holds (each task adds its labels)."""

    spec: GniSessionSpec
    emg: np.ndarray  # (T, 16) float32 volts, high-passed
    stages: list[Stage]  # s from the start
    motion: ArmMotion | None = field(default=None, repr=False)  # the band's pose: what its IMU senses
    imu: ImuRecording | None = field(default=None, repr=False)  # written as the IMU extension

    @property
    def time(self) -> np.ndarray:
        """(T,) float64 unix seconds of the samples."""
        return self.spec.start_unix + np.arange(len(self.emg), dtype=np.float64) / FS

    @property
    def duration_mins(self) -> float:
        return len(self.emg) / FS / 60.0

    def counts(self) -> dict[str, int]:
        """The task's label counts, named as its summary names them (gestures; prompts, characters)."""
        raise NotImplementedError

    def prompts(self):  # -> pandas.DataFrame, the task's ``prompts`` table
        raise NotImplementedError

    def stage_table(self):  # -> pandas.DataFrame
        return stage_table(self.stages, self.spec.start_unix)


def write_gni(session: RenderedGni, out_dir: str | Path) -> Path:
    """Write ``<out_dir>/<task>_user_UUU_dataset_SSS.hdf5`` in the GNI layout."""
    from emgrt.io.gni import write_gni_session

    path = Path(out_dir) / f"{session.spec.name}.hdf5"
    with atomic_path(path) as tmp:  # the session and its IMU appear together
        write_gni_session(tmp, session.time, session.emg, session.spec.file_task, prompts=session.prompts(), stages=session.stage_table())
        if session.imu is not None:
            write_imu(tmp, session.imu.time, session.imu.accel, session.imu.gyro, rate=session.imu.rate)
    return path


@dataclass(frozen=True)
class GniSessionResult(WrittenSession):
    """What rendering and writing one session of a one-band task produced."""

    spec: GniSessionSpec
    counts: dict[str, int]  # the session's label counts (RenderedGni.counts)
    stages: tuple[tuple[float, float], ...]  # unix (start, end) of every stage


def synth_gni_session(render: Callable[[Any], RenderedGni], spec: GniSessionSpec, out_dir: str | Path) -> GniSessionResult:
    """Render and write one session: with a task's ``render`` bound, the worker pool's unit of work."""
    session, written = render_and_write(render, write_gni, spec, out_dir)
    t0 = spec.start_unix
    stages = tuple((t0 + s.start, t0 + s.end) for s in session.stages)
    return GniSessionResult(**written, counts=session.counts(), stages=stages)


# -- the dataset -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class GniDatasetConfig(SynthConfig):
    """What `emgrt synth --task gestures|handwriting` makes: test users are held out whole (all
    their sessions are test), training users give their last ``val_sessions`` sessions to val;
    every session carries the band's IMU stream unless ``imu`` is off."""

    imu: bool = True

    def validate(self) -> None:
        """Raise ConfigError (one line naming the fix) for impossible settings (the typing rules)."""
        DatasetConfig(**asdict(self), test_sessions=0).validate()  # test users give every session to test


@dataclass(frozen=True)
class GniPlan:
    config: GniDatasetConfig
    specs: list[GniSessionSpec]  # user-major, chronological within a user
    test_users: list[int]
    split_of: dict[str, str]  # file stem -> train / val / test


def plan_sessions(cfg: GniDatasetConfig, spec_cls: type[GniSessionSpec], tag: int, epoch_start: float) -> GniPlan:
    """Session start times (after ``epoch_start``), held-out users and splits, all from ``cfg.seed``
    and the task's plan stream ``tag``."""
    cfg.validate()
    rng = stream(cfg.seed, 0, 0, tag)
    test = sorted(int(i) for i in rng.choice(cfg.users, size=cfg.test_users, replace=False))
    specs, split_of = [], {}
    for u in range(cfg.users):
        start = epoch_start + rng.uniform(0, 365) * 86400 + rng.uniform(9, 17) * 3600
        for s in range(cfg.sessions):
            spec = spec_cls(cfg.seed, u, s, round(start, 3), cfg.minutes, cfg.difficulty, cfg.imu)
            specs.append(spec)
            if u in test:
                split_of[spec.name] = "test"
            else:
                split_of[spec.name] = "val" if s >= cfg.sessions - cfg.val_sessions else "train"
            start += cfg.minutes * 60 + rng.uniform(600, 3 * 86400)
    return GniPlan(cfg, specs, test, split_of)


def corpus_name(file_task: str) -> str:
    return f"{file_task}_corpus.csv"


def prepare_task_dir(out_dir: str | Path, *, force: bool = False) -> Path:
    """Like the typing synth: create ``out_dir``, replace a previous emgrt dataset (of any task), refuse others."""
    path = Path(out_dir)
    previous = path.is_dir() and is_synth_dataset(path)
    path = prepare_out_dir(path, force=force)  # clears a previous typing dataset's sessions
    if previous:
        for task in GNI_TASKS:
            for f in path.glob(f"{task}_user_*_dataset_*.hdf5"):
                f.unlink()
            (path / corpus_name(task)).unlink(missing_ok=True)
        for name in ("metadata.csv", "splits.json"):  # they described removed sessions
            (path / name).unlink(missing_ok=True)
    return path


def write_corpus(path: Path, file_task: str, results: Sequence[GniSessionResult], split_of: dict[str, str]) -> Path:
    """``<task>_corpus.csv``: one partition per stage of every session."""
    out = path / corpus_name(file_task)
    with open(out, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CORPUS_COLUMNS)
        for r in results:
            for start, end in r.stages:
                w.writerow([r.spec.name, repr(float(start)), repr(float(end)), split_of[r.spec.name]])  # exact: the last sample is inside
    return out


@dataclass(frozen=True)
class GniSummary(SynthSummary):
    task: str


@dataclass(frozen=True)
class GniTask:
    """One one-band task of `emgrt synth`: what differs between gestures and handwriting."""

    name: str  # the `emgrt synth --task` name (synth.json, the summary)
    spec: type[GniSessionSpec]  # its session spec (names the file task)
    render: Callable[[Any], RenderedGni]  # spec -> rendered session (a module-level function)
    summary: type[Any]  # a GniSummary whose other fields are the label counts of RenderedGni.counts
    plan_tag: int  # the dataset plan's stream tag
    epoch_start: float  # sessions start in the year after this (unix s)
    prepare: Callable[[], object] | None = None  # loads what rendering needs, before workers fork

    def plan(self, cfg: GniDatasetConfig) -> GniPlan:
        """Session start times, held-out users and splits, all from ``cfg.seed``."""
        return plan_sessions(cfg, self.spec, self.plan_tag, self.epoch_start)

    def generate(
        self,
        out_dir: str | Path,
        cfg: GniDatasetConfig,
        *,
        workers: int = 1,
        force: bool = False,
        on_session: Callable[[GniSessionResult], None] | None = None,
    ) -> Any:
        """Render every session of ``cfg`` into ``out_dir`` with the corpus CSV and synth.json;
        returns the task's summary (the sessions' label counts, summed)."""
        from emgrt.io.gni import _pandas

        check_workers(workers)
        plan = self.plan(cfg)
        _pandas()  # the label tables need pandas + PyTables: fail before rendering anything
        if self.prepare:
            self.prepare()  # a missing dependency fails here, before the folder is touched
        path = prepare_task_dir(out_dir, force=force)
        (path / SYNTH_JSON).write_text(json.dumps({"generator": "emgrt synth", "task": self.name, **asdict(cfg)}, indent=2) + "\n")
        job = partial(synth_gni_session, self.render)  # picklable: module-level functions
        run = render_sessions(job, plan.specs, path, workers=workers, on_session=on_session)
        write_corpus(path, self.spec.file_task, run.results, plan.split_of)
        totals: dict[str, int] = {}
        for r in run.results:
            for name, count in r.counts.items():
                totals[name] = totals.get(name, 0) + count
        return run.summary(self.summary, path, cfg, task=self.name, **totals)
