"""Cut a stretch of a session file of either format into a new file (`emgrt data cut`).

The samples of ``[start, start + seconds)`` and the labels inside them (emg2qwerty: keystrokes
pressed and prompts started in the stretch; GNI gestures: the events in it; GNI handwriting: the
prompts that start and end in it; stages clipped to it), plus the IMU extension's samples over
the same span, so a cut replays like the recording it came from.  Written atomically: a cut
interrupted leaves no file.
"""

from __future__ import annotations

from pathlib import Path

from emgrt.errors import DataFileError
from emgrt.io import gni
from emgrt.io.atomic import atomic_path
from emgrt.io.imu import imu_bands, read_imu, write_imu
from emgrt.io.recording import recording_format
from emgrt.io.session import cut_session, cut_span


def _cut_gni(src: Path, out: Path, start_s: float, seconds: float, compression: str | None) -> tuple[float, float]:
    with gni.GniSession(src) as gs:
        lo, hi = cut_span(gs.time, src, start_s, seconds)
        rows = gs.read(lo, hi)
        t_lo, t_hi = float(rows[gni.FIELD_TIME][0]), float(rows[gni.FIELD_TIME][-1])
        prompts, stages = gs.prompts(), gs.stages()
        if gs.task == gni.TASK_GESTURES:
            prompts = prompts[(prompts["time"] >= t_lo) & (prompts["time"] <= t_hi)]
        else:
            prompts = prompts[(prompts["start"] >= t_lo) & (prompts["end"] <= t_hi)]
        stages = stages[(stages["end"] >= t_lo) & (stages["start"] <= t_hi)].copy()
        stages["start"] = stages["start"].clip(lower=t_lo)
        stages["end"] = stages["end"].clip(upper=t_hi)
        wrist = rows[gni.FIELD_WRIST] if gs.has_wrist_angles else None
        gni.write_gni_session(out, rows[gni.FIELD_TIME], rows[gni.FIELD_EMG], gs.task, prompts.reset_index(drop=True),
                              stages.reset_index(drop=True), wrist, compression=compression)
    return t_lo, t_hi


def cut_recording(src: str | Path, out: str | Path, start_s: float, seconds: float, compression: str | None = "gzip") -> Path:
    """Write the stretch of ``src`` (seconds from its first sample) as the new session file ``out``."""
    src, out = Path(src), Path(out)
    if out.resolve() == src.resolve():
        raise DataFileError(out, "OUT is the input file", "write the cut to a new path")
    fmt = recording_format(src)
    with atomic_path(out) as tmp:
        if fmt == "emg2qwerty":
            cut_session(src, tmp, start_s, seconds, compression)
            from emgrt.io.session import SessionFile

            with SessionFile(tmp) as sf:
                t_lo, t_hi = float(sf.time[0]), float(sf.time[-1])
        else:
            t_lo, t_hi = _cut_gni(src, tmp, start_s, seconds, compression)
        for band in imu_bands(src):
            imu = read_imu(src, band)
            if imu is None:
                continue
            with imu:
                a, b = imu.sample_range(t_lo, t_hi)
                if b - a >= 2:
                    write_imu(tmp, imu.time[a:b], imu.accel(a, b), imu.gyro(a, b), band=band, rate=imu.rate,
                              compression=compression)
    return out
