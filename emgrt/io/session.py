"""One emg2qwerty session file (HDF5), read lazily and written atomically.

Layout (identical to emg2qwerty): group ``emg2qwerty`` holding a compound
dataset ``timeseries`` with fields ``time`` (float64 unix seconds, (T,)),
``emg_left`` and ``emg_right`` (float32, (T, 16)); group attributes
``session_name``, ``user``, ``condition``, ``duration_mins`` and the JSON
strings ``keystrokes`` ([{"key", "start", "end"}]) and ``prompts``
([{"name", "start", "end", "payload": {"text"} | null}]).

:class:`SessionFile` loads only metadata and timestamps at open; EMG is sliced
from disk on demand.  The h5py handle is opened per process, so an instance can
be pickled into DataLoader workers and each worker gets its own handle.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from emgrt.charset import CharSet, emg2qwerty_charset
from emgrt.constants import (
    BAND_FIELDS,
    CHANNELS_PER_BAND,
    CONDITION_KEYBOARD,
    FIELD_LEFT,
    FIELD_RIGHT,
    FIELD_TIME,
    HDF5_GROUP,
    SAMPLE_RATE_HZ,
    TIMESERIES,
)
from emgrt.errors import DataFileError
from emgrt.io.atomic import atomic_path
from emgrt.io.lazyfile import LazyH5File, open_h5

# Keystrokes may precede the first / follow the last sample by this much (s)
# before the file is rejected; those keys simply fall in no window.
KEYSTROKE_TOLERANCE_S = 1.0
# Accepted deviation of the measured sample rate from the nominal one.
RATE_TOLERANCE = 0.05

TIMESERIES_DTYPE = np.dtype(
    [
        (FIELD_TIME, "<f8"),
        (FIELD_LEFT, "<f4", (CHANNELS_PER_BAND,)),
        (FIELD_RIGHT, "<f4", (CHANNELS_PER_BAND,)),
    ]
)


def _is_time(v: Any) -> bool:
    """A finite JSON number (bool is not a number here; an int too big for a float is not finite)."""
    try:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    except OverflowError:
        return False


_TIME = (_is_time, "a finite number (unix seconds)")
# Per JSON list: the fields each entry must have, with a check and what the check wants.
KEYSTROKE_FIELDS = {"key": (lambda v: isinstance(v, str), 'a string (a pynput key such as "a" or "Key.space")'),
                    "start": _TIME, "end": _TIME}
PROMPT_FIELDS = {"start": _TIME, "end": _TIME,
                 "payload": (lambda v: v is None or (isinstance(v, dict) and isinstance(v.get("text"), str)),
                             'null or {"text": string}')}


def _parse_json_list(path: Path, name: str, raw: Any, fields: dict[str, tuple[Callable[[Any], bool], str]]) -> list[dict]:
    """The JSON list attribute ``name``, every entry checked against ``fields`` (emg2qwerty's format),
    so that nothing downstream meets a wrong type."""
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    try:
        items = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise DataFileError(path, f"attribute '{name}' is not valid JSON ({exc})") from None
    if not isinstance(items, list):
        raise DataFileError(path, f"attribute '{name}' must be a JSON list, got {type(items).__name__}")
    fix = f"fix or remove that entry of the '{name}' attribute"
    for i, item in enumerate(items):
        if not isinstance(item, dict) or any(f not in item for f in fields):
            raise DataFileError(path, f"{name}[{i}] must be an object with {', '.join(fields)}; got {json.dumps(item):.80}", fix)
        for f, (ok, wanted) in fields.items():
            if not ok(item[f]):
                raise DataFileError(path, f"{name}[{i}].{f} must be {wanted}, got {json.dumps(item[f]):.40}", fix)
    return items


class SessionFile(LazyH5File):
    """Read-only, lazy view of one session file; raises DataFileError on any layout problem."""

    def __init__(self, path: str | Path, charset: CharSet | None = None) -> None:
        super().__init__(path)
        self.charset = charset or emg2qwerty_charset()
        ts = self._timeseries()
        group = self._h5()[HDF5_GROUP]
        self.metadata: dict[str, Any] = {}
        for key, val in group.attrs.items():
            self.metadata[key] = val.decode() if isinstance(val, bytes) else val
        self._check_fields(ts)
        self.time: np.ndarray = ts.fields(FIELD_TIME)[:]  # (T,) float64, loaded once
        self._check_time()
        self.keystrokes = _parse_json_list(self.path, "keystrokes", self.metadata.get("keystrokes", "[]"), KEYSTROKE_FIELDS)
        self.prompts = _parse_json_list(self.path, "prompts", self.metadata.get("prompts", "[]"), PROMPT_FIELDS)
        self._index_keystrokes()

    # -- opening -------------------------------------------------------------
    def _timeseries(self) -> h5py.Dataset:
        return self._h5()[HDF5_GROUP][TIMESERIES]

    def _open_h5(self) -> h5py.File:
        f = open_h5(self.path, "is it an emg2qwerty .hdf5 session, fully copied?")
        if HDF5_GROUP not in f or not isinstance(f[HDF5_GROUP], h5py.Group):
            f.close()
            raise DataFileError(self.path, f"missing group '{HDF5_GROUP}'", "not an emg2qwerty session file")
        if TIMESERIES not in f[HDF5_GROUP] or not isinstance(f[HDF5_GROUP][TIMESERIES], h5py.Dataset):
            f.close()
            raise DataFileError(self.path, f"missing dataset '{HDF5_GROUP}/{TIMESERIES}'")
        return f

    def _check_fields(self, ts: h5py.Dataset) -> None:
        fields = ts.dtype.fields
        if fields is None:
            raise DataFileError(self.path, f"'{TIMESERIES}' is not a compound dataset (dtype {ts.dtype})")
        for name in (FIELD_TIME, *BAND_FIELDS):
            if name not in fields:
                raise DataFileError(
                    self.path, f"'{TIMESERIES}' has no field '{name}' (fields: {', '.join(fields)})"
                )
        for name in BAND_FIELDS:
            shape = fields[name][0].shape
            if shape != (CHANNELS_PER_BAND,):
                n = shape[0] if shape else 1
                raise DataFileError(
                    self.path,
                    f"field '{name}' has {n} channels, expected {CHANNELS_PER_BAND}",
                    "emg2qwerty bands have 16 electrodes each",
                )

    def _check_time(self) -> None:
        t = self.time
        if len(t) < 2:
            raise DataFileError(self.path, f"only {len(t)} samples")
        if not np.all(np.isfinite(t)):
            raise DataFileError(self.path, "timestamps contain NaN/Inf")
        dt = np.diff(t)
        bad = np.flatnonzero(dt < 0)
        if bad.size:
            raise DataFileError(
                self.path,
                f"timestamps not monotonic: {bad.size} backwards steps, first at sample {bad[0] + 1}",
            )
        rate = 1.0 / float(np.median(dt)) if np.median(dt) > 0 else float("inf")
        if abs(rate - SAMPLE_RATE_HZ) > RATE_TOLERANCE * SAMPLE_RATE_HZ:
            raise DataFileError(
                self.path,
                f"sample rate is {rate:.1f} Hz, expected {SAMPLE_RATE_HZ} Hz",
                "resample the recording to 2 kHz",
            )

    def _index_keystrokes(self) -> None:
        starts = np.array([float(k["start"]) for k in self.keystrokes], dtype=np.float64)
        if starts.size:
            lo, hi = self.time[0] - KEYSTROKE_TOLERANCE_S, self.time[-1] + KEYSTROKE_TOLERANCE_S
            outside = np.flatnonzero((starts < lo) | (starts > hi))
            if outside.size:
                i = int(outside[0])
                raise DataFileError(
                    self.path,
                    f"{outside.size} keystrokes outside the recording "
                    f"[{self.time[0]:.3f}, {self.time[-1]:.3f}] s; first: {self.keystrokes[i]!r:.80}",
                    "keystroke times must be unix seconds on the EMG clock",
                )
        # Label every in-vocabulary keystroke once; windows then slice by press time.
        order = np.argsort(starts, kind="stable")
        labels, times = [], []
        for i in order:
            lab = self.charset.key_to_label(self.keystrokes[i]["key"])
            if lab is not None:
                labels.append(lab)
                times.append(starts[i])
        self.key_labels = np.asarray(labels, dtype=np.int64)  # (K,)
        self.key_times = np.asarray(times, dtype=np.float64)  # (K,) press times

    # -- metadata ------------------------------------------------------------
    @property
    def session_name(self) -> str:
        return str(self.metadata.get("session_name", self.path.stem))

    @property
    def user(self) -> str:
        return str(self.metadata.get("user", ""))

    @property
    def condition(self) -> str:
        return str(self.metadata.get("condition", CONDITION_KEYBOARD))

    @property
    def duration_mins(self) -> float:
        return float(self.metadata.get("duration_mins", (self.time[-1] - self.time[0]) / 60.0))

    def __len__(self) -> int:
        return len(self.time)

    def __repr__(self) -> str:
        return f"SessionFile({str(self.path)!r}, {len(self)} samples, user={self.user!r})"

    # -- data ----------------------------------------------------------------
    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Structured rows [start, stop) exactly as stored."""
        return self._timeseries()[start:stop]

    def emg(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """EMG samples [start, stop) as float32 (n, 2, 16): band axis left, right."""
        rows = self.read(start, stop)
        out = np.stack([rows[FIELD_LEFT], rows[FIELD_RIGHT]], axis=1).astype(np.float32, copy=False)
        if not np.all(np.isfinite(out)):
            bad = int(np.flatnonzero(~np.isfinite(out).all(axis=(1, 2)))[0]) + start
            raise DataFileError(self.path, f"EMG contains NaN/Inf (first at sample {bad})")
        return out

    def ground_truth(self, start_t: float = -np.inf, end_t: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
        """Labels and press times of keystrokes with start_t <= press <= end_t (both inclusive).

        For sessions whose condition is not "on_keyboard", the prompts starting in
        the span give the labels (each ending in enter) and the times are NaN.
        """
        if self.condition == CONDITION_KEYBOARD:
            lo = np.searchsorted(self.key_times, start_t, side="left")
            hi = np.searchsorted(self.key_times, end_t, side="right")
            return self.key_labels[lo:hi], self.key_times[lo:hi]
        labels: list[int] = []
        for p in self.prompts:
            if start_t <= p["start"] <= end_t and p["payload"] is not None:
                text = self.charset.clean_str(p["payload"]["text"])
                if not text.endswith("\u23ce"):
                    text += "\u23ce"
                labels += self.charset.str_to_labels(text)
        return np.asarray(labels, dtype=np.int64), np.full(len(labels), np.nan)

    def text(self) -> str:
        """The whole session's key string (one character per in-vocabulary keystroke)."""
        return self.charset.labels_to_str(self.ground_truth()[0])


def write_session(
    path: str | Path,
    *,
    time: np.ndarray,
    emg_left: np.ndarray,
    emg_right: np.ndarray,
    keystrokes: list[dict],
    prompts: list[dict],
    session_name: str,
    user: str,
    condition: str = CONDITION_KEYBOARD,
    duration_mins: float | None = None,
    chunk_rows: int = 4000,
    compression: str | None = None,
) -> Path:
    """Write one session in emg2qwerty's layout, atomically (temp file + rename).

    ``compression="gzip"`` stores the timeseries with HDF5's deflate filter (shuffled);
    h5py and emg2qwerty's reader decompress it transparently.
    """
    path = Path(path)
    n = len(time)
    for name, arr in (("emg_left", emg_left), ("emg_right", emg_right)):
        if arr.shape != (n, CHANNELS_PER_BAND):
            raise ValueError(f"{name} has shape {arr.shape}, expected ({n}, {CHANNELS_PER_BAND})")
    rows = np.empty(n, dtype=TIMESERIES_DTYPE)
    rows[FIELD_TIME] = time
    rows[FIELD_LEFT] = emg_left
    rows[FIELD_RIGHT] = emg_right
    if duration_mins is None:
        duration_mins = float(time[-1] - time[0]) / 60.0 if n else 0.0
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        g = f.create_group(HDF5_GROUP)
        g.create_dataset(
            TIMESERIES,
            data=rows,
            chunks=(min(chunk_rows, max(n, 1)),) if n else None,
            compression=compression if n else None,
            shuffle=bool(compression and n),
        )
        g.attrs["session_name"] = session_name
        g.attrs["user"] = user
        g.attrs["condition"] = condition
        g.attrs["duration_mins"] = float(duration_mins)
        g.attrs["keystrokes"] = json.dumps(keystrokes)
        g.attrs["prompts"] = json.dumps(prompts)
    return path


def cut_span(time: np.ndarray, src: str | Path, start_s: float, seconds: float) -> tuple[int, int]:
    """Sample indices [lo, hi) of [start_s, start_s + seconds) s after the first of ``time`` (a
    recording's sample times), or a one-line DataFileError naming ``src``."""
    if seconds <= 0 or start_s < 0:
        raise DataFileError(src, f"cannot cut {seconds:g} s from {start_s:g} s", "use --start >= 0 and --seconds > 0")
    t0 = float(time[0])
    lo = int(np.searchsorted(time, t0 + start_s, side="left"))
    hi = int(np.searchsorted(time, t0 + start_s + seconds, side="left"))
    if hi - lo < 2:
        raise DataFileError(src, f"nothing to cut at {start_s:g} s (the session lasts {time[-1] - t0:.1f} s)")
    return lo, hi


def cut_session(src: str | Path, out: str | Path, start_s: float, seconds: float, compression: str | None = "gzip") -> Path:
    """Write the stretch [start_s, start_s + seconds) of a session (seconds from its first sample)
    as a new session file: its samples, the keystrokes pressed inside it and the prompts that
    start inside it.  ``out`` must differ from ``src``."""
    sf = SessionFile(src)
    try:
        lo, hi = cut_span(sf.time, src, start_s, seconds)
        rows = sf.read(lo, hi)
        t_lo, t_hi = float(rows[FIELD_TIME][0]), float(rows[FIELD_TIME][-1])
        keys = [k for k in sf.keystrokes if t_lo <= float(k["start"]) <= t_hi]
        prompts = [p for p in sf.prompts if t_lo <= float(p["start"]) <= t_hi]
        return write_session(
            out,
            time=rows[FIELD_TIME],
            emg_left=rows[FIELD_LEFT],
            emg_right=rows[FIELD_RIGHT],
            keystrokes=keys,
            prompts=prompts,
            session_name=f"{sf.session_name}-cut{start_s:g}+{seconds:g}s",
            user=sf.user,
            condition=sf.condition,
            compression=compression,
        )
    finally:
        sf.close()
