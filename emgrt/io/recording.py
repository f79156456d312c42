"""A session file of either format as a replayable recording: band samples, markers, IMU.

What ``emgrt replay`` (:class:`emgrt.lsl.outlet.SessionReplayer`), the demos and the latency
tools need from a recording, whatever its layout: the bands and their samples in the file's own
unit, the sample times, the labels as timed marker strings and each band's IMU stream.

==============  ===================  =============  ======================================
file            bands                markers        marker strings
==============  ===================  =============  ======================================
emg2qwerty      left, right (uV)     ``keys``       charset characters ("a", "⌫")
GNI gestures    right (V)            ``gestures``   gesture names ("index_press"), at the event
GNI handwriting right (V)            ``prompts``    the prompt text, at the prompt's start
==============  ===================  =============  ======================================
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from emgrt.constants import BANDS
from emgrt.errors import DataFileError
from emgrt.io import gni
from emgrt.io.imu import ImuStream, read_imu
from emgrt.io.session import HDF5_GROUP, SessionFile


@dataclass
class Recording:
    """One session file, open for replay (close it, or use it as a context manager)."""

    path: Path
    bands: tuple[str, ...]
    unit: str  # "uV" or "V", as the manifest's signal.unit
    time: np.ndarray  # (T,) float64 s
    marker_kind: str  # "keys", "gestures" or "prompts"
    marker_times: np.ndarray  # (M,) float64 s, sorted
    markers: list[str]
    file: SessionFile | gni.GniSession  # the file's own reader (typing tools read keystrokes, prompts from it)

    def __len__(self) -> int:
        return len(self.time)

    def emg(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """(n, bands x 16) float32 samples in the file's unit, bands in order."""
        x = self.file.emg(start, stop)
        return np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32)

    def imu(self, band: str, emg_span: tuple[float, float]) -> ImuStream | None:
        """The IMU stream of ``band``, or None when the file carries none."""
        return read_imu(self.path, band if len(self.bands) > 1 else None, emg_span=emg_span)

    def imu_samples(self, band: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The IMU stream of ``band`` read whole: its (n,) stamps and (n, 6) float32 samples
        (accel m/s^2, then gyro rad/s), or None when the file carries none (100 Hz: small)."""
        stream = self.imu(band, (float(self.time[0]), float(self.time[-1])))
        if stream is None:
            return None
        with stream:
            return stream.time.copy(), np.hstack([stream.accel(), stream.gyro()])

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def recording_format(path: Path) -> str:
    """"emg2qwerty" or "gni", from the file's layout (a one-line DataFileError for anything else)."""
    if not path.exists():
        raise DataFileError(path, "no such file")
    try:
        with h5py.File(path, "r") as f:
            if HDF5_GROUP in f:
                return "emg2qwerty"
            if gni.DATASET in f:
                return "gni"
    except OSError:
        raise DataFileError(path, "not a readable HDF5 file", "is it a session file, fully copied?") from None
    raise DataFileError(path, f"neither an emg2qwerty ('{HDF5_GROUP}' group) nor a generic-neuromotor-interface "
                              f"('{gni.DATASET}' dataset) session file")


def open_recording(path: str | Path) -> Recording:
    """The recording in ``path`` (an emg2qwerty or a GNI session file), or a one-line DataFileError."""
    path = Path(path)
    if recording_format(path) == "emg2qwerty":
        sf = SessionFile(path)
        chars = sf.charset.chars
        return Recording(path, BANDS, "uV", sf.time, "keys", np.asarray(sf.key_times, dtype=np.float64),
                         [chars[int(lab)] for lab in sf.key_labels], sf)
    gs = gni.GniSession(path)
    prompts = gs.prompts()
    if gs.task == gni.TASK_GESTURES:
        times, texts, kind = prompts["time"].to_numpy(np.float64), [str(n) for n in prompts["name"]], "gestures"
    elif gs.task == gni.TASK_HANDWRITING:
        times, texts, kind = prompts["start"].to_numpy(np.float64), [str(p) for p in prompts["prompt"]], "prompts"
    else:
        gs.close()
        raise DataFileError(path, f"is a {gs.task!r} file; only gesture and handwriting files can be replayed")
    order = np.argsort(times, kind="stable")
    return Recording(path, (gni.BAND,), gni.UNIT, gs.time, kind, times[order], [texts[i] for i in order], gs)
