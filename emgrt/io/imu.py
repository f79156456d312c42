"""The emgrt IMU extension: an optional 6-axis IMU stream per band, in either session layout.

The band carries a 6-axis IMU (accelerometer + gyroscope), but neither public release stores its
data (emg2qwerty has none; generic-neuromotor-interface says its band has one and ships none).
emgrt defines this one optional extension for it.  A file without it is exactly the release's
layout and every reader treats it as before; a file with it stays readable by the releases' own
readers, which open their datasets by name and never look at the extra one.

Where it lives.  One compound dataset per band, with the band's own timestamps:

* generic-neuromotor-interface files (one band): ``imu`` at the top level, beside ``data``;
* emg2qwerty files (two bands): ``imu_left`` and ``imu_right`` inside the ``emg2qwerty`` group,
  beside ``timeseries``; either may be missing (a band that recorded no IMU).

Each dataset has the row type :data:`IMU_DTYPE`:

* ``time``: float64 unix seconds on the EMG's clock (the same clock as the file's EMG ``time``,
  so the two streams align by timestamp, as the two emg2qwerty bands do), strictly increasing
  (a repeated time is a device fault); gaps (dropped samples) are allowed;
* ``accel``: float32 (3,) per row, m/s^2, the specific force an accelerometer senses (motion
  minus gravity: a band at rest reads +9.81 m/s^2 along the axis that points up);
* ``gyro``: float32 (3,) per row, rad/s, the band's angular velocity relative to the room, in the
  band's frame, right-handed (counter-clockwise about an axis is positive).

and the attributes:

* ``rate``: the nominal sample rate in Hz (required).  It is the IMU's own: its clock runs apart
  from the EMG's, and the median step of ``time`` must lie within 5 % of it.  emgrt writes
  :data:`DEFAULT_RATE_HZ` = 100 Hz: the arm and wrist move below about 15 Hz (voluntary movement
  under 10 Hz, physiological tremor at 8-12 Hz), so 100 Hz (Nyquist 50 Hz) keeps all of it, as
  wrist wearables' motion streams commonly do (50-200 Hz), at about 1 % of the EMG's data, and
  2 kHz / 100 Hz = 20 EMG samples per IMU sample.  The band's real IMU rate is not published.
* ``frame``: the axis convention, :data:`FRAME` (required; a reader refuses another):
  x distal (along the forearm, towards the hand), z dorsal (out of the back of the wrist, where
  the band's housing sits), y = z x x (on the right wrist the thumb side, on the left the
  little-finger side).  Palm down on a table the band reads accel ~ (0, 0, +9.81).  The frame is
  the housing's: a band worn rotated about the forearm rolls it about x.
* ``accel_units`` = ``"m/s^2"`` and ``gyro_units`` = ``"rad/s"`` (written; checked when present).

:func:`read_imu` (or :class:`ImuStream`) loads the metadata and timestamps at open and slices the
samples from disk on demand, per process like :class:`emgrt.io.session.SessionFile`;
:func:`write_imu` adds a stream to a session file written by :func:`emgrt.io.session.write_session`
or :func:`emgrt.io.gni.write_gni_session`.  Every problem is one line: a
:class:`~emgrt.errors.DataFileError` naming the file, the stream and the fix.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from emgrt.constants import BANDS, HDF5_GROUP
from emgrt.errors import DataFileError
from emgrt.io.gni import DATASET as GNI_DATASET
from emgrt.io.lazyfile import LazyH5File
from emgrt.io.session import RATE_TOLERANCE

DEFAULT_RATE_HZ = 100.0
FRAME = "band_x_distal_z_dorsal"
ACCEL_UNITS, GYRO_UNITS = "m/s^2", "rad/s"
FIELD_TIME, FIELD_ACCEL, FIELD_GYRO = "time", "accel", "gyro"
AXES = 3
GNI_IMU = "imu"  # generic-neuromotor-interface files: top level, beside ``data``
IMU_DTYPE = np.dtype([(FIELD_TIME, "<f8"), (FIELD_ACCEL, "<f4", (AXES,)), (FIELD_GYRO, "<f4", (AXES,))])
UNITS = {"accel_units": ACCEL_UNITS, "gyro_units": GYRO_UNITS}
# An IMU stream must overlap its EMG recording, give or take this much (s): the same clock.
CLOCK_TOLERANCE_S = 1.0


def imu_key(f: h5py.File, band: str | None) -> str:
    """Where the IMU stream of ``band`` lives in the open session file ``f`` (see the module doc):
    ``imu`` in a GNI file (band None), ``emg2qwerty/imu_<band>`` in an emg2qwerty file."""
    where = Path(f.filename)
    if HDF5_GROUP in f:
        if band not in BANDS:
            raise DataFileError(where, f"an emg2qwerty file has an IMU stream per band; band must be one of {', '.join(BANDS)}, got {band!r}")
        return f"{HDF5_GROUP}/imu_{band}"
    if GNI_DATASET in f:
        if band is not None:
            raise DataFileError(where, f"a generic-neuromotor-interface file has one band; pass band=None, not {band!r}")
        return GNI_IMU
    raise DataFileError(where, f"neither an emg2qwerty ('{HDF5_GROUP}' group) nor a generic-neuromotor-interface ('{GNI_DATASET}') session file")


def _open_file(path: Path, mode: str = "r") -> h5py.File:
    if not path.exists():
        raise DataFileError(path, "no such file")
    try:
        return h5py.File(path, mode)
    except OSError:
        raise DataFileError(path, "not a readable HDF5 file", "is it a session file, fully copied?") from None


def imu_bands(path: str | Path) -> list[str | None]:
    """The bands whose IMU stream the session file holds: a sublist of ``["left", "right"]`` for
    emg2qwerty files, ``[None]`` or ``[]`` for GNI files."""
    with _open_file(Path(path)) as f:
        bands = list(BANDS) if HDF5_GROUP in f else [None]
        return [b for b in bands if imu_key(f, b) in f]


def _is_rate(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)) and math.isfinite(v) and v > 0


def check_stream(time: np.ndarray, rate: Any) -> tuple[str, str] | None:
    """What is wrong with an IMU stream's timestamps and nominal rate as (problem, fix), or None."""
    if np.ndim(rate) == 0 and isinstance(rate, np.ndarray):
        rate = rate.item()
    if not _is_rate(rate):
        return f"attribute 'rate' must be a positive number of Hz, got {rate!r:.40}", f"the IMU's nominal rate, e.g. {DEFAULT_RATE_HZ:g}"
    t = np.asarray(time)
    if t.ndim != 1 or len(t) < 2:
        return f"only {t.size} samples" if t.ndim == 1 else f"time has shape {t.shape}, expected (n,)", "an IMU stream needs at least 2 samples"
    finite = np.isfinite(t)
    if not finite.all():
        return f"timestamps contain NaN/Inf (first at sample {int(np.flatnonzero(~finite)[0])})", "time must be unix seconds on the EMG clock"
    bad = np.flatnonzero(np.diff(t) <= 0)
    if bad.size:
        return f"timestamps not increasing: {bad.size} steps back or repeated, first at sample {bad[0] + 1}", "IMU time must be strictly increasing"
    measured = 1.0 / float(np.median(np.diff(t)))
    if abs(measured - rate) > RATE_TOLERANCE * rate:
        return f"timestamps run at {measured:.1f} Hz but attribute 'rate' says {float(rate):g} Hz", "set 'rate' to the IMU's nominal rate"
    return None


def _check_rows(where: Path, key: str, fields: Any) -> None:
    if fields is None:
        raise DataFileError(where, f"IMU '{key}' is not a compound dataset", f"fields {FIELD_TIME}, {FIELD_ACCEL}, {FIELD_GYRO}")
    for name in (FIELD_TIME, FIELD_ACCEL, FIELD_GYRO):
        if name not in fields:
            raise DataFileError(where, f"IMU '{key}' has no field '{name}' (fields: {', '.join(fields)})")
    for name in (FIELD_ACCEL, FIELD_GYRO):
        shape = fields[name][0].shape
        if shape != (AXES,):
            raise DataFileError(where, f"IMU field '{name}' has shape {shape} per row, expected ({AXES},)", "a 6-axis IMU: x, y, z")


class ImuStream(LazyH5File):
    """Read-only, lazy view of one band's IMU stream; raises DataFileError on any problem.

    ``emg_span`` (first and last EMG time of the file) checks that the stream is on the EMG's
    clock: it must overlap that span (give or take :data:`CLOCK_TOLERANCE_S`).
    """

    def __init__(self, path: str | Path, band: str | None = None, *, emg_span: tuple[float, float] | None = None) -> None:
        super().__init__(path)
        self.band = band
        ds = self._dataset()
        where, key = self.path, self.key
        if "rate" not in ds.attrs:
            raise DataFileError(where, f"IMU '{key}' has no attribute 'rate'", f"set it to the IMU's nominal rate in Hz, e.g. {DEFAULT_RATE_HZ:g}")
        frame = ds.attrs.get("frame")
        frame = frame.decode("utf-8", "replace") if isinstance(frame, bytes) else frame
        if frame != FRAME:
            raise DataFileError(where, f"IMU '{key}' frame {frame!r:.40} is unknown", f"this reader knows frame {FRAME!r} (see emgrt/io/imu.py)")
        for attr, unit in UNITS.items():
            got = ds.attrs.get(attr, unit)
            got = got.decode("utf-8", "replace") if isinstance(got, bytes) else got
            if got != unit:
                raise DataFileError(where, f"IMU '{key}' attribute '{attr}' is {got!r:.20}, expected {unit!r}", "convert the samples")
        _check_rows(where, key, ds.dtype.fields)
        self.time: np.ndarray = np.asarray(ds.fields(FIELD_TIME)[:], dtype=np.float64)  # (n,), loaded once
        bad = check_stream(self.time, ds.attrs["rate"])
        if bad:
            raise DataFileError(where, f"IMU '{key}': {bad[0]}", bad[1])
        self.rate = float(ds.attrs["rate"])
        if emg_span is not None:
            lo, hi = float(emg_span[0]), float(emg_span[1])
            if self.time[0] > hi + CLOCK_TOLERANCE_S or self.time[-1] < lo - CLOCK_TOLERANCE_S:
                raise DataFileError(
                    where,
                    f"IMU '{key}' timestamps [{self.time[0]:.3f}, {self.time[-1]:.3f}] miss the EMG recording [{lo:.3f}, {hi:.3f}]",
                    "IMU time must be unix seconds on the EMG clock",
                )

    @property
    def key(self) -> str:
        return imu_key(self._h5(), self.band)

    def _dataset(self) -> h5py.Dataset:
        f = self._h5()
        key = imu_key(f, self.band)
        if key not in f or not isinstance(f[key], h5py.Dataset):
            raise DataFileError(self.path, f"no IMU stream '{key}'", "the file does not carry the optional IMU extension")
        return f[key]

    def __len__(self) -> int:
        return len(self.time)

    def __repr__(self) -> str:
        return f"ImuStream({str(self.path)!r}, band={self.band!r}, {len(self)} samples at {self.rate:g} Hz)"

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Structured rows [start, stop) exactly as stored."""
        return self._dataset()[start:stop]

    def _samples(self, name: str, start: int, stop: int | None) -> np.ndarray:
        out = np.asarray(self._dataset().fields(name)[start:stop], dtype=np.float32)
        finite = np.isfinite(out).all(axis=1)
        if not finite.all():
            raise DataFileError(self.path, f"IMU '{self.key}' {name} contains NaN/Inf (first at sample {int(np.flatnonzero(~finite)[0]) + start})")
        return out

    def accel(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Accelerometer samples [start, stop), float32 (n, 3), m/s^2, band frame."""
        return self._samples(FIELD_ACCEL, start, stop)

    def gyro(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Gyroscope samples [start, stop), float32 (n, 3), rad/s, band frame."""
        return self._samples(FIELD_GYRO, start, stop)

    def sample_range(self, start_t: float, end_t: float) -> tuple[int, int]:
        """Indices [lo, hi) of the samples with start_t <= time <= end_t (e.g. an EMG window's span)."""
        return int(np.searchsorted(self.time, start_t, side="left")), int(np.searchsorted(self.time, end_t, side="right"))



def read_imu(path: str | Path, band: str | None = None, *, emg_span: tuple[float, float] | None = None) -> ImuStream | None:
    """The IMU stream of ``band`` (None in GNI files) or None when the file carries none."""
    with _open_file(Path(path)) as f:
        if imu_key(f, band) not in f:
            return None
    return ImuStream(path, band, emg_span=emg_span)


def write_imu(
    path: str | Path,
    time: np.ndarray,
    accel: np.ndarray,
    gyro: np.ndarray,
    *,
    band: str | None = None,
    rate: float = DEFAULT_RATE_HZ,
    chunk_rows: int = 4000,
    compression: str | None = None,
) -> Path:
    """Add the IMU stream of ``band`` (None: the one band of a GNI file) to an existing session file.

    Refuses (DataFileError, nothing written) what :class:`ImuStream` would reject: shapes other
    than (n,), (n, 3), (n, 3), NaN or non-increasing time, a rate the timestamps do not keep, a
    stream already there.  Not atomic by itself: write the session and its IMU inside one
    :func:`emgrt.io.atomic.atomic_path`, as `emgrt synth` does.
    """
    path = Path(path)
    time = np.asarray(time, dtype=np.float64)
    n = len(time)
    for name, arr in ((FIELD_ACCEL, accel), (FIELD_GYRO, gyro)):
        if np.shape(arr) != (n, AXES):
            raise DataFileError(path, f"IMU {name} has shape {np.shape(arr)}, expected ({n}, {AXES})", "one x, y, z row per timestamp")
    bad = check_stream(time, rate)
    if bad:
        raise DataFileError(path, f"IMU: {bad[0]}", bad[1])
    rows = np.empty(n, dtype=IMU_DTYPE)
    rows[FIELD_TIME], rows[FIELD_ACCEL], rows[FIELD_GYRO] = time, accel, gyro
    with _open_file(path, "a") as f:
        key = imu_key(f, band)
        if key in f:
            raise DataFileError(path, f"already has an IMU stream '{key}'", "write the session file again")
        ds = f.create_dataset(key, data=rows, chunks=(min(chunk_rows, n),), compression=compression, shuffle=bool(compression))
        ds.attrs.update({"rate": float(rate), "frame": FRAME, **UNITS})
    return path
