"""Session sources: what the windowed dataset reads, whatever the file format.

A source is one continuous recording with its labels:

    session_name       str
    time               (T,) float64 unix seconds
    bands              EMG bands (2 for emg2qwerty, 1 for the GNI band)
    emg(start, stop)   (n, bands, 16) float32 samples [start, stop)
    emg_all()          the whole recording, one read-only (T, bands, 16) array (the session cache)
    labels(t0, t1)     class labels and their times (s; NaN when untimed) inside [t0, t1]
    prompt_windows()   (offsets, lengths) in samples of the recording's prompts, for
                       prompt-aligned windows (``[data] windows = "prompts"``)
    close()

:class:`TypingSource` adapts an emg2qwerty :class:`~emgrt.io.session.SessionFile` (labels are
its keystrokes); :class:`GniSource` is one time partition of a generic-neuromotor-interface
file (a corpus CSV row), labelled by its prompts table: gesture events for ``discrete_gestures``
files, prompt texts in the handwriting charset for ``handwriting`` files.
:func:`split_sources` lists a split's sources for a task.

Units.  The pipeline works in microvolts, the scale of emg2qwerty's recordings, which the front
end's log floor (``log10(power + 1e-6)``) is set for; GNI files store volts, so a GNI source
returns its EMG times :data:`GNI_TO_PIPELINE` (1e6).  A runtime reading GNI-scaled streams
must apply the same factor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from emgrt.charset import CharSet
from emgrt.constants import CHANNELS_PER_BAND
from emgrt.data.cache import read_session_emg
from emgrt.errors import ConfigError, DataFileError
from emgrt.io.gni import GESTURES, TASK_GESTURES, GniSession, read_corpus
from emgrt.io.session import SessionFile
from emgrt.tasks import TaskSpec
from emgrt.tasks.labels import prompt_labels

GNI_TO_PIPELINE = np.float32(1e6)  # volts (GNI files) -> microvolts (the pipeline's unit)


@runtime_checkable
class SessionSource(Protocol):
    session_name: str
    time: np.ndarray
    bands: int

    def emg(self, start: int = 0, stop: int | None = None) -> np.ndarray: ...
    def emg_all(self) -> np.ndarray: ...
    def labels(self, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]: ...
    def prompt_windows(self) -> tuple[np.ndarray, np.ndarray]: ...
    def close(self) -> None: ...


def source_nbytes(src: SessionSource) -> int:
    """Bytes of a source's decoded EMG (float32)."""
    return len(src.time) * src.bands * CHANNELS_PER_BAND * 4


def _windows_of_spans(time: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample offsets and lengths of the time spans [start, end] that begin inside ``time``."""
    lo = np.searchsorted(time, starts, side="left")
    hi = np.searchsorted(time, ends, side="right")
    keep = (starts >= time[0]) & (starts <= time[-1]) & (hi - lo >= 2)
    return lo[keep].astype(np.int64), (hi - lo)[keep].astype(np.int64)


def _first_sample_times(time: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The time of the first sample at or after each start (a window starts on a sample, a
    prompt between two); -inf / +inf for starts before / after the recording, so that no
    window claims a prompt it does not hold the start of."""
    idx = np.searchsorted(time, starts, side="left")
    out = time[np.minimum(idx, len(time) - 1)].astype(np.float64)
    out[starts < time[0]] = -np.inf
    out[idx >= len(time)] = np.inf
    return out


class TypingSource:
    """An emg2qwerty session as a source; every other attribute is the SessionFile's."""

    bands = 2

    def __init__(self, session: SessionFile | str | Path, charset: CharSet | None = None) -> None:
        self.file = session if isinstance(session, SessionFile) else SessionFile(session, charset)

    def __getattr__(self, name: str) -> Any:  # path, user, keystrokes, ground_truth, ...
        if name == "file":  # not yet set (unpickling)
            raise AttributeError(name)
        return getattr(self.file, name)

    @property
    def session_name(self) -> str:
        return self.file.session_name

    @property
    def time(self) -> np.ndarray:
        return self.file.time

    def emg(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        return self.file.emg(start, stop)

    def emg_all(self) -> np.ndarray:
        return read_session_emg(self.file)

    def labels(self, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
        return self.file.ground_truth(t0, t1)

    def imu_at(self, times: np.ndarray) -> np.ndarray | None:
        """Typing sessions' IMU is not fused yet (two bands, 12 channels): None."""
        return None

    def prompt_windows(self) -> tuple[np.ndarray, np.ndarray]:
        prompts = [p for p in self.file.prompts if p["payload"] is not None]
        starts = np.array([float(p["start"]) for p in prompts])
        ends = np.array([float(p["end"]) for p in prompts])
        return _windows_of_spans(self.time, starts, ends)

    def close(self) -> None:
        self.file.close()


class GniSource:
    """The samples of one GNI session between two times (a corpus partition), one band."""

    bands = 1

    def __init__(self, path: str | Path, start_t: float = -np.inf, end_t: float = np.inf) -> None:
        self.file = GniSession(path)
        self._imu: tuple[np.ndarray, np.ndarray | None] | None = None  # read by imu_at() on first use
        whole = not (np.isfinite(start_t) and np.isfinite(end_t))
        self.lo, self.hi = (0, len(self.file)) if whole else self.file.sample_range(start_t, end_t)
        if self.hi - self.lo < 2:
            raise DataFileError(path, f"partition [{start_t:.3f}, {end_t:.3f}] holds {self.hi - self.lo} samples")
        self.time = self.file.time[self.lo : self.hi]
        self.session_name = self.file.path.stem if whole else f"{self.file.path.stem}@{self.time[0]:.3f}"
        self.path = self.file.path
        self.task = self.file.task
        prompts = self.file.prompts()
        if self.task == TASK_GESTURES:
            order = np.argsort(prompts["time"].to_numpy(np.float64), kind="stable")
            self._times = prompts["time"].to_numpy(np.float64)[order]
            self._labels = np.asarray([GESTURES.index(n) for n in prompts["name"]], dtype=np.int64)[order]
            self._spans = (self._times, self._times)
            self._texts: list[np.ndarray] = []
        else:  # handwriting: one label string per prompt, keyed by the time of its first sample
            order = np.argsort(prompts["start"].to_numpy(np.float64), kind="stable")
            starts = prompts["start"].to_numpy(np.float64)[order]
            self._times = _first_sample_times(self.time, starts)
            self._spans = (starts, prompts["end"].to_numpy(np.float64)[order])
            self._texts = [prompt_labels(prompts["prompt"].iloc[i]) for i in order]
        self.file.close()

    def __repr__(self) -> str:
        return f"GniSource({self.session_name!r}, {len(self.time)} samples, task={self.task!r})"

    def emg(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        stop = len(self.time) if stop is None else stop
        return (self.file.emg(self.lo + start, self.lo + stop) * GNI_TO_PIPELINE)[:, None, :]

    def emg_all(self) -> np.ndarray:
        out = self.emg()
        out.flags.writeable = False
        return out

    def labels(self, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
        """Gestures: the events timed in [t0, t1].  Handwriting: the prompts starting in it (untimed)."""
        a = int(np.searchsorted(self._times, t0, side="left"))
        b = int(np.searchsorted(self._times, t1, side="right"))
        if self.task == TASK_GESTURES:
            return self._labels[a:b], self._times[a:b]
        labels = np.concatenate([np.zeros(0, dtype=np.int64), *self._texts[a:b]])
        return labels, np.full(len(labels), np.nan)

    def prompt_windows(self) -> tuple[np.ndarray, np.ndarray]:
        return _windows_of_spans(self.time, *self._spans)

    def imu_at(self, times: np.ndarray) -> np.ndarray | None:
        """(len(times), 6) float32: the band's IMU (accel m/s^2, gyro rad/s) linearly interpolated
        at ``times`` (held at the stream's ends; across a gap in the IMU stream too), or None
        when the file carries no IMU.  The whole stream is read once (100 Hz: small)."""
        if self._imu is None:
            from emgrt.io.imu import read_imu

            stream = read_imu(self.path, None)
            if stream is None:
                self._imu = (np.zeros(0), None)
            else:
                with stream:
                    self._imu = (stream.time.copy(), np.hstack([stream.accel(), stream.gyro()]).astype(np.float64))
        t, x = self._imu
        if x is None:
            return None
        return np.stack([np.interp(times, t, x[:, c]) for c in range(x.shape[1])], axis=1).astype(np.float32)

    def close(self) -> None:
        self.file.close()


def as_source(session: Any, charset: CharSet | None = None) -> SessionSource:
    """A source as it is, a SessionFile or an emg2qwerty session path as a :class:`TypingSource`."""
    if isinstance(session, SessionSource):
        return session
    return TypingSource(session, charset)


def split_sources(spec: TaskSpec, dataset_dir: str | Path, split: str, user: str | None = None) -> list[SessionSource]:
    """The sources of one split of a dataset folder for task ``spec``.

    emg2qwerty folders: ``splits.json`` (generic, or ``user``'s personal split).  GNI folders:
    the task's ``<task>_corpus.csv``, one source per partition of ``split``; with ``user``, that
    user's personal split (:func:`gni_personal_split`)."""
    from emgrt.io.dataset import DatasetDir

    if not spec.gni:
        return [TypingSource(p, spec.charset) for p in DatasetDir(dataset_dir).sessions(split, user)]
    root = Path(dataset_dir)
    corpus = root / f"{spec.data}_corpus.csv"
    if not corpus.exists():
        raise DataFileError(corpus, "no such file", f"is {root} a `emgrt synth --task {spec.name}` folder?")
    if user is not None:
        parts = gni_personal_split(read_corpus(corpus), user, corpus)[split]
    else:
        parts = [p for p in read_corpus(corpus) if p.split == split]
    if not parts:
        raise DataFileError(corpus, f"no partition in split '{split}'" + (f" of user {user}" if user else ""))
    sources = [GniSource(p.path(root), p.start, p.end) for p in parts]
    wrong = [s for s in sources if s.task != spec.data]
    if wrong:
        raise DataFileError(wrong[0].path, f"is a {wrong[0].task!r} file, the {spec.name} task reads {spec.data!r} files")
    return sources


def gni_user(dataset: str) -> str | None:
    """The user of a GNI file name (``discrete_gestures_user_003_dataset_001`` -> ``003``)."""
    import re

    m = re.search(r"_user_([^_]+)_dataset_", dataset)
    return m.group(1) if m else None


def gni_personal_split(parts: list, user: str, corpus: Path) -> dict[str, list]:
    """A held-out user's personal split of a GNI corpus, which has none of its own (its test users
    are test whole): the user's last recording is test, the one before val, the earlier ones
    train (all of each recording's partitions), the recordings ordered by their first partition.
    ``user``: ``003`` or ``user_003``; a user with fewer than three recordings is a one-line error."""
    want = user.removeprefix("user_")
    mine = [p for p in parts if gni_user(p.dataset) == want]
    if not mine:
        users = sorted({u for p in parts if (u := gni_user(p.dataset))})
        raise DataFileError(corpus, f"no recording of user {user!r}", f"users: {', '.join(users)}")
    order = sorted({p.dataset for p in mine}, key=lambda d: min(p.start for p in mine if p.dataset == d))
    if len(order) < 3:
        raise DataFileError(corpus, f"user {user} has {len(order)} recording(s); a personal split needs 3 (train, val, test)")
    role = {d: "train" for d in order[:-2]} | {order[-2]: "val", order[-1]: "test"}
    out: dict[str, list] = {"train": [], "val": [], "test": []}
    for p in mine:
        out[role[p.dataset]].append(p)
    return out


def all_sources(spec: TaskSpec, dataset_dir: str | Path) -> list[SessionSource]:
    """Every recording of a dataset folder for task ``spec``, whatever its split: emg2qwerty
    sessions, or the partitions of the task's corpus CSV (a one-line error when there are none)."""
    if not spec.gni:
        from emgrt.io.dataset import DatasetDir

        paths = DatasetDir(dataset_dir).all_sessions()
        if not paths:
            raise ConfigError(f"{dataset_dir}: no emg2qwerty session files (.hdf5) in it")
        return [TypingSource(p, spec.charset) for p in paths]
    corpus = Path(dataset_dir) / f"{spec.data}_corpus.csv"
    splits = sorted({p.split for p in read_corpus(corpus)}) if corpus.exists() else ["train"]  # "train": the error
    return [s for split in splits for s in split_sources(spec, dataset_dir, split)]
