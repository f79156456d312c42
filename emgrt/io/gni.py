"""Session files and corpus splits of Meta's generic-neuromotor-interface (GNI) release.

Layout (as the release stores it; facts in ``shared/reference/neuromotor-facts.md``): one band,
16 EMG channels at 2 kHz.  A top-level compound dataset ``data`` with fields ``time`` (float64
unix seconds, non-decreasing, (T,)), ``emg`` (float32, (T, 16), volts) and, in wrist files,
``wrist_angles`` (float32, (T, 2), radians); ``data.attrs["task"]`` names the task.  Label
tables are pandas frames stored in the same file with ``DataFrame.to_hdf`` (PyTables):

- ``prompts``: discrete gestures one row per event (``name``, ``time``); handwriting one row
  per prompt (``prompt``, ``start``, ``end``); wrist files have none.
- ``stages``: ``start``, ``end``, ``name`` of each recording stage (extra columns allowed).

File names look like ``discrete_gestures_user_002_dataset_000.hdf5``; a task's corpus CSV
(``dataset, start, end, split``) cuts files into time partitions for train / val / test, and
one file may give partitions to several splits.

:class:`GniSession` loads the timestamps at open and slices EMG from disk on demand, like
:class:`emgrt.io.session.SessionFile`.  The label tables need pandas and PyTables (the
``neuromotor`` extra), imported only when a table is read or written.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np

from emgrt.constants import CHANNELS_PER_BAND, SAMPLE_RATE_HZ
from emgrt.errors import ConfigError, DataFileError
from emgrt.io.atomic import atomic_path
from emgrt.io.lazyfile import LazyH5File, open_h5
from emgrt.io.session import RATE_TOLERANCE

if TYPE_CHECKING:
    import pandas as pd

DATASET = "data"
FIELD_TIME = "time"
FIELD_EMG = "emg"
FIELD_WRIST = "wrist_angles"
WRIST_ANGLES = 2  # per row: radians
TASK_GESTURES = "discrete_gestures"
TASK_HANDWRITING = "handwriting"
TASK_WRIST = "wrist"
TASKS = (TASK_GESTURES, TASK_HANDWRITING, TASK_WRIST)
BAND = "right"  # the release's one band, on the right wrist (the name a bundle gives it)
UNIT = "V"  # the release stores volts

# The release's nine discrete gestures, in class order.
GESTURES = (
    "index_press", "index_release", "middle_press", "middle_release",
    "thumb_click", "thumb_down", "thumb_in", "thumb_out", "thumb_up",
)
# Special characters in handwriting prompts.
HW_BACKSPACE = "\u2190"  # left arrow
HW_SPACE = "\u2192"  # right arrow: an explicit space
HW_PAUSE = "\U0001F90F"  # pinching hand: the pause key

PROMPTS_KEY = "prompts"
STAGES_KEY = "stages"
PROMPT_COLUMNS = {TASK_GESTURES: ("name", "time"), TASK_HANDWRITING: ("prompt", "start", "end")}
STAGE_COLUMNS = ("start", "end", "name")

SPLITS = ("train", "val", "test")
CORPUS_COLUMNS = ("dataset", "start", "end", "split")
# A corpus partition may overhang the recording by this much (s) before it is rejected.
PARTITION_TOLERANCE_S = 1.0 / SAMPLE_RATE_HZ


def _pandas() -> Any:
    """pandas, with PyTables present (``to_hdf`` / ``read_hdf`` need it), or a one-line error."""
    try:
        import pandas
        import tables  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"GNI label tables need pandas and PyTables ({exc.name} is missing): pip install 'emgrt[neuromotor]'"
        ) from None
    return pandas


def data_dtype(wrist: bool = False) -> np.dtype:
    """The compound row type of the ``data`` dataset (with ``wrist_angles`` for wrist files)."""
    fields: list[tuple] = [(FIELD_TIME, "<f8"), (FIELD_EMG, "<f4", (CHANNELS_PER_BAND,))]
    if wrist:
        fields.append((FIELD_WRIST, "<f4", (WRIST_ANGLES,)))
    return np.dtype(fields)


class GniSession(LazyH5File):
    """Read-only, lazy view of one GNI session file; raises DataFileError on any layout problem."""

    def __init__(self, path: str | Path) -> None:
        super().__init__(path)
        ds = self._data()
        self.task: str = self._check_task(ds)
        self._check_fields(ds)
        self.time: np.ndarray = ds.fields(FIELD_TIME)[:]  # (T,) float64, loaded once
        self._check_time()

    # -- opening -------------------------------------------------------------
    def _data(self) -> h5py.Dataset:
        return self._h5()[DATASET]

    def _open_h5(self) -> h5py.File:
        f = open_h5(self.path, "is it a generic-neuromotor-interface .hdf5 session, fully copied?")
        if DATASET not in f or not isinstance(f[DATASET], h5py.Dataset):
            f.close()
            raise DataFileError(self.path, f"missing dataset '{DATASET}'", "not a generic-neuromotor-interface session file")
        return f

    def _check_task(self, ds: h5py.Dataset) -> str:
        task = ds.attrs.get("task")
        if isinstance(task, bytes):
            task = task.decode("utf-8", "replace")
        if task is None:
            raise DataFileError(self.path, f"'{DATASET}' has no attribute 'task'", f"set it to one of {', '.join(TASKS)}")
        if task not in TASKS:
            raise DataFileError(self.path, f"unknown task {str(task)!r:.40}", f"data.attrs['task'] must be one of {', '.join(TASKS)}")
        return str(task)

    def _check_fields(self, ds: h5py.Dataset) -> None:
        fields = ds.dtype.fields
        if fields is None:
            raise DataFileError(self.path, f"'{DATASET}' is not a compound dataset (dtype {ds.dtype})")
        wanted = (FIELD_TIME, FIELD_EMG, FIELD_WRIST) if self.task == TASK_WRIST else (FIELD_TIME, FIELD_EMG)
        for name in wanted:
            if name not in fields:
                raise DataFileError(self.path, f"'{DATASET}' has no field '{name}' (fields: {', '.join(fields)})")
        shape = fields[FIELD_EMG][0].shape
        if shape != (CHANNELS_PER_BAND,):
            raise DataFileError(
                self.path,
                f"field '{FIELD_EMG}' has {shape[0] if shape else 1} channels, expected {CHANNELS_PER_BAND}",
                "the GNI band has 16 electrodes",
            )
        if FIELD_WRIST in fields and fields[FIELD_WRIST][0].shape != (WRIST_ANGLES,):
            raise DataFileError(self.path, f"field '{FIELD_WRIST}' has shape {fields[FIELD_WRIST][0].shape} per row, expected ({WRIST_ANGLES},)")

    def _check_time(self) -> None:
        t = self.time
        if len(t) < 2:
            raise DataFileError(self.path, f"only {len(t)} samples")
        if not np.all(np.isfinite(t)):
            raise DataFileError(self.path, f"timestamps contain NaN/Inf (first at sample {int(np.flatnonzero(~np.isfinite(t))[0])})")
        dt = np.diff(t)
        bad = np.flatnonzero(dt < 0)
        if bad.size:
            raise DataFileError(
                self.path, f"timestamps not monotonic: {bad.size} backwards steps, first at sample {bad[0] + 1}"
            )
        median = float(np.median(dt))
        rate = 1.0 / median if median > 0 else float("inf")
        if abs(rate - SAMPLE_RATE_HZ) > RATE_TOLERANCE * SAMPLE_RATE_HZ:
            raise DataFileError(
                self.path, f"sample rate is {rate:.1f} Hz, expected {SAMPLE_RATE_HZ} Hz", "resample the recording to 2 kHz"
            )

    # -- data ----------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.time)

    def __repr__(self) -> str:
        return f"GniSession({str(self.path)!r}, {len(self)} samples, task={self.task!r})"

    @property
    def has_wrist_angles(self) -> bool:
        return FIELD_WRIST in (self._data().dtype.fields or {})

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Structured rows [start, stop) exactly as stored."""
        return self._data()[start:stop]

    def emg(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """EMG samples [start, stop) as float32 (n, 16)."""
        out = np.asarray(self._data().fields(FIELD_EMG)[start:stop], dtype=np.float32)
        if not np.all(np.isfinite(out)):
            bad = int(np.flatnonzero(~np.isfinite(out).all(axis=1))[0]) + start
            raise DataFileError(self.path, f"EMG contains NaN/Inf (first at sample {bad})")
        return out

    def wrist_angles(self, start: int = 0, stop: int | None = None) -> np.ndarray | None:
        """Wrist angles [start, stop) as float32 (n, 2) radians, or None when the file has none."""
        if not self.has_wrist_angles:
            return None
        return np.asarray(self._data().fields(FIELD_WRIST)[start:stop], dtype=np.float32)

    def sample_range(self, start_t: float, end_t: float) -> tuple[int, int]:
        """Sample indices [lo, hi) of the samples with start_t <= time <= end_t (a corpus partition).

        A partition outside the recording (beyond PARTITION_TOLERANCE_S) or with end before start
        is a DataFileError: the corpus row does not belong to this file.
        """
        t0, t1 = float(self.time[0]), float(self.time[-1])
        if not (math.isfinite(start_t) and math.isfinite(end_t)) or end_t < start_t:
            raise DataFileError(self.path, f"partition [{start_t}, {end_t}] is not a time span", "end must be >= start, both finite")
        if start_t < t0 - PARTITION_TOLERANCE_S or end_t > t1 + PARTITION_TOLERANCE_S:
            raise DataFileError(
                self.path,
                f"partition [{start_t:.3f}, {end_t:.3f}] lies outside the recording [{t0:.3f}, {t1:.3f}]",
                "check that the corpus row names this file and uses unix seconds",
            )
        lo = int(np.searchsorted(self.time, start_t, side="left"))
        hi = int(np.searchsorted(self.time, end_t, side="right"))
        return lo, hi

    # -- label tables ----------------------------------------------------------
    def _table(self, key: str, columns: tuple[str, ...]) -> pd.DataFrame | None:
        pd = _pandas()
        if key not in self._data().file:
            return None
        try:
            df = pd.read_hdf(self.path, key)
        except Exception as exc:  # PyTables and pandas raise many kinds here
            raise DataFileError(self.path, f"table '{key}' is not a readable pandas table ({type(exc).__name__})", "rewrite it with DataFrame.to_hdf") from None
        if not isinstance(df, pd.DataFrame):
            raise DataFileError(self.path, f"table '{key}' is a {type(df).__name__}, not a DataFrame")
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise DataFileError(
                self.path, f"table '{key}' lacks column(s) {', '.join(missing)} (has: {', '.join(map(str, df.columns))})"
            )
        return df

    def prompts(self) -> pd.DataFrame:
        """The ``prompts`` table (empty when the file has none, as wrist files do)."""
        columns = PROMPT_COLUMNS.get(self.task, ())
        df = self._table(PROMPTS_KEY, columns)
        if df is None:
            return _pandas().DataFrame(columns=list(columns))
        if self.task == TASK_GESTURES:
            unknown = ~df["name"].isin(GESTURES)
            if unknown.any():
                i = int(np.flatnonzero(unknown.to_numpy())[0])
                raise DataFileError(
                    self.path, f"prompts row {i} names an unknown gesture {str(df['name'].iloc[i])!r:.40}",
                    f"gesture names are {', '.join(GESTURES)}",
                )
        return df

    def stages(self) -> pd.DataFrame:
        """The ``stages`` table (empty when the file has none)."""
        df = self._table(STAGES_KEY, STAGE_COLUMNS)
        return _pandas().DataFrame(columns=list(STAGE_COLUMNS)) if df is None else df


def write_gni_session(
    path: str | Path,
    time: np.ndarray,
    emg: np.ndarray,
    task: str,
    prompts: pd.DataFrame | None = None,
    stages: pd.DataFrame | None = None,
    wrist_angles: np.ndarray | None = None,
    *,
    chunk_rows: int = 4000,
    compression: str | None = None,
) -> Path:
    """Write one session in the GNI layout, atomically (temp file + rename).

    Refuses (ValueError) what :class:`GniSession` would reject: an unknown task, EMG that is not
    (T, 16), time with NaN or going backwards, a wrist file without wrist angles, a label table
    without its columns.  The tables are written with ``DataFrame.to_hdf`` (pandas' default fixed
    format), so ``pandas.read_hdf(path, key)`` reads them back.
    """
    path = Path(path)
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}, expected one of {', '.join(TASKS)}")
    time = np.asarray(time, dtype=np.float64)
    n = len(time)
    if time.shape != (n,):
        raise ValueError(f"time has shape {time.shape}, expected ({n},)")
    if not np.all(np.isfinite(time)) or np.any(np.diff(time) < 0):
        raise ValueError("time must be finite and non-decreasing")
    if np.shape(emg) != (n, CHANNELS_PER_BAND):
        raise ValueError(f"emg has shape {np.shape(emg)}, expected ({n}, {CHANNELS_PER_BAND})")
    if task == TASK_WRIST and wrist_angles is None:
        raise ValueError("a wrist file needs wrist_angles")
    if wrist_angles is not None and np.shape(wrist_angles) != (n, WRIST_ANGLES):
        raise ValueError(f"wrist_angles has shape {np.shape(wrist_angles)}, expected ({n}, {WRIST_ANGLES})")
    label_tables = {}
    for key, df, columns in ((PROMPTS_KEY, prompts, PROMPT_COLUMNS.get(task, ())), (STAGES_KEY, stages, STAGE_COLUMNS)):
        if df is not None:
            missing = [c for c in columns if c not in df.columns]
            if missing:
                raise ValueError(f"{key} lacks column(s) {', '.join(missing)}")
            label_tables[key] = df
    if label_tables:
        _pandas()  # fail before writing anything

    rows = np.empty(n, dtype=data_dtype(wrist=wrist_angles is not None))
    rows[FIELD_TIME] = time
    rows[FIELD_EMG] = emg
    if wrist_angles is not None:
        rows[FIELD_WRIST] = wrist_angles
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            ds = f.create_dataset(
                DATASET,
                data=rows,
                chunks=(min(chunk_rows, max(n, 1)),) if n else None,
                compression=compression if n else None,
                shuffle=bool(compression and n),
            )
            ds.attrs["task"] = task
        for key, df in label_tables.items():  # PyTables appends to the closed HDF5 file
            df.to_hdf(tmp, key=key, mode="a")
    return path


@dataclass(frozen=True)
class GniPartition:
    """One row of a corpus CSV: the time span [start, end] (unix s) of file ``dataset`` in ``split``."""

    dataset: str
    start: float
    end: float
    split: str

    def path(self, root: str | Path) -> Path:
        """The session file of this partition in folder ``root``."""
        return Path(root) / f"{self.dataset}.hdf5"


def read_corpus(csv_path: str | Path) -> list[GniPartition]:
    """The partitions of a corpus CSV (columns ``dataset, start, end, split``; others ignored), in file order."""
    csv_path = Path(csv_path)
    if not csv_path.exists():
        raise DataFileError(csv_path, "no such file")
    try:
        with open(csv_path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in CORPUS_COLUMNS if c not in header]
            if missing:
                raise DataFileError(
                    csv_path, f"corpus CSV lacks column(s) {', '.join(missing)} (has: {', '.join(header) or 'none'})",
                    f"the header must name {', '.join(CORPUS_COLUMNS)}",
                )
            rows = list(reader)
    except UnicodeDecodeError:
        raise DataFileError(csv_path, "not a UTF-8 text file", "is it a corpus CSV?") from None
    out = []
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        where = f"corpus line {line}"
        dataset = (row["dataset"] or "").strip()
        if not dataset:
            raise DataFileError(csv_path, f"{where}: empty dataset name")
        split = (row["split"] or "").strip()
        if split not in SPLITS:
            raise DataFileError(csv_path, f"{where}: unknown split {split!r:.40}", f"use one of {', '.join(SPLITS)}")
        try:
            start, end = float(row["start"]), float(row["end"])
        except (TypeError, ValueError):
            raise DataFileError(csv_path, f"{where}: start/end must be numbers, got {row['start']!r:.30}, {row['end']!r:.30}") from None
        if not (math.isfinite(start) and math.isfinite(end)) or end < start:
            raise DataFileError(csv_path, f"{where}: [{start}, {end}] is not a time span", "end must be >= start, both finite")
        out.append(GniPartition(dataset, start, end, split))
    return out
