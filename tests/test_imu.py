"""The IMU extension (emgrt.io.imu) and the IMU `emgrt synth` writes: round trips in both layouts,
files without it and the readers that ignore it, one-line errors for bad streams, the sensed
physics, and the synthetic streams (gravity and rest, motion, their own clock, determinism)."""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from conftest import T0, make_session_arrays
from emgrt.errors import DataFileError
from emgrt.io.gni import GniSession, write_gni_session
from emgrt.io.imu import FRAME, IMU_DTYPE, ImuStream, imu_bands, read_imu, write_imu
from emgrt.io.session import SessionFile, write_session
from emgrt.synth.gestures import GestureDatasetConfig, GestureSessionSpec, generate_gestures, render_gesture_session
from emgrt.synth.handwriting import HandwritingSessionSpec, render_handwriting_session
from emgrt.synth.imu import G, ArmMotion
from emgrt.synth.session import SessionSpec, render_session
from test_synth import cli  # noqa: F401  (emgrt.cli.main with only synth registered)

FS = 2000
N = 4000  # 2 s of EMG
M = 200  # 2 s of IMU at 100 Hz


def _imu(m: int = M, seed: int = 0, t0: float = T0 + 0.004):
    rng = np.random.default_rng(seed)
    time = t0 + np.arange(m) / 100.0 + rng.uniform(-2e-4, 2e-4, m)
    return time, (rng.normal(0, 1, (m, 3)) + [0, 0, 9.81]).astype(np.float32), rng.normal(0, 0.1, (m, 3)).astype(np.float32)


@pytest.fixture
def gni_file(tmp_path) -> Path:
    time = T0 + np.arange(N) / FS
    emg = np.random.default_rng(1).standard_normal((N, 16)).astype(np.float32)
    prompts = pd.DataFrame({"name": ["index_press", "index_release"], "time": [T0 + 0.5, T0 + 1.0]})
    stages = pd.DataFrame({"start": [T0], "end": [T0 + 2.0], "name": ["s0"]})
    return write_gni_session(tmp_path / "discrete_gestures_user_000_dataset_000.hdf5", time, emg, "discrete_gestures", prompts, stages)


@pytest.fixture
def e2q_file(tmp_path) -> Path:
    return write_session(tmp_path / "s.hdf5", **make_session_arrays())


# -- the format ------------------------------------------------------------------------------------
def test_gni_round_trip(gni_file):
    time, accel, gyro = _imu()
    assert imu_bands(gni_file) == [] and read_imu(gni_file) is None  # a file without the extension
    write_imu(gni_file, time, accel, gyro)
    assert imu_bands(gni_file) == [None]
    with read_imu(gni_file, emg_span=(T0, T0 + 2.0)) as s:
        assert isinstance(s, ImuStream) and len(s) == M and s.rate == 100.0 and s.key == "imu"
        np.testing.assert_array_equal(s.time, time)
        np.testing.assert_array_equal(s.accel(), accel)
        np.testing.assert_array_equal(s.gyro(10, 20), gyro[10:20])
        assert s.accel(5, 9).dtype == np.float32 and s.read().dtype == IMU_DTYPE
        assert s.sample_range(time[10], time[19]) == (10, 20)
        s2 = pickle.loads(pickle.dumps(s))  # a DataLoader worker reopens its own handle
        np.testing.assert_array_equal(s2.gyro(0, 3), gyro[:3])
        s2.close()
    with h5py.File(gni_file, "r") as f:
        attrs = dict(f["imu"].attrs)
    assert attrs == {"rate": 100.0, "frame": FRAME, "accel_units": "m/s^2", "gyro_units": "rad/s"}


def test_emg2qwerty_round_trip_one_stream_per_band(e2q_file):
    left, right = _imu(seed=1), _imu(m=150, seed=2, t0=T0 + 0.3)  # each band its own clock and length
    write_imu(e2q_file, *left, band="left")
    assert imu_bands(e2q_file) == ["left"] and read_imu(e2q_file, "right") is None
    write_imu(e2q_file, *right, band="right", rate=100)
    assert imu_bands(e2q_file) == ["left", "right"]
    for band, (time, accel, gyro) in (("left", left), ("right", right)):
        with read_imu(e2q_file, band) as s:
            assert s.key == f"emg2qwerty/imu_{band}"
            np.testing.assert_array_equal(s.time, time)
            np.testing.assert_array_equal(s.accel(), accel)
            np.testing.assert_array_equal(s.gyro(), gyro)


def test_readers_ignore_the_extension(tmp_path, gni_file, e2q_file):
    """Files with the extension read exactly as without it, with our readers and with the releases'
    reader logic (h5py by name, pandas.read_hdf for the tables)."""
    plain_gni, plain_e2q = tmp_path / "plain_gni.hdf5", tmp_path / "plain_e2q.hdf5"
    plain_gni.write_bytes(gni_file.read_bytes())
    plain_e2q.write_bytes(e2q_file.read_bytes())
    write_imu(gni_file, *_imu())
    write_imu(e2q_file, *_imu(), band="left")
    write_imu(e2q_file, *_imu(), band="right")
    with GniSession(gni_file) as a, GniSession(plain_gni) as b:
        np.testing.assert_array_equal(a.emg(), b.emg())
        np.testing.assert_array_equal(a.time, b.time)
        pd.testing.assert_frame_equal(a.prompts(), b.prompts())
        pd.testing.assert_frame_equal(a.stages(), b.stages())
    with h5py.File(gni_file, "r") as f:
        assert set(f["data"].dtype.fields) == {"time", "emg"} and f["data"].attrs["task"] == "discrete_gestures"
    with pd.HDFStore(gni_file, "r") as store:
        assert sorted(store.keys()) == ["/prompts", "/stages"]  # pandas sees its tables only
    a, b = SessionFile(e2q_file), SessionFile(plain_e2q)
    np.testing.assert_array_equal(a.emg(), b.emg())
    assert a.keystrokes == b.keystrokes and a.text() == b.text() and a.metadata == b.metadata
    with h5py.File(e2q_file, "r") as f:
        assert set(f["emg2qwerty/timeseries"].dtype.fields) == {"time", "emg_left", "emg_right"}
    a.close(), b.close()


# -- bad streams -----------------------------------------------------------------------------------
def _raw(path: Path, rows, **attrs) -> Path:
    with h5py.File(path, "a") as f:
        ds = f.create_dataset("imu", data=rows)
        ds.attrs.update({"rate": 100.0, "frame": FRAME, **attrs})
    return path


def _rows(m: int = M, time=None, axes: int = 3):
    rows = np.zeros(m, dtype=[("time", "<f8"), ("accel", "<f4", (axes,)), ("gyro", "<f4", (3,))])
    rows["time"] = T0 + np.arange(m) / 100.0 if time is None else time
    return rows


def _time(kind: str) -> np.ndarray:
    t = T0 + np.arange(M) / 100.0
    if kind == "nan":
        t[7] = np.nan
    elif kind == "back":
        t[9] = t[3]
    else:
        t[12] = t[11]
    return t


def _drop_attr(path: Path, name: str) -> Path:
    with h5py.File(path, "a") as f:
        del f["imu"].attrs[name]
    return path


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p: _drop_attr(_raw(p, _rows()), "rate"), r"IMU 'imu' has no attribute 'rate' \(set it to the IMU's nominal rate in Hz"),
        (lambda p: _raw(p, _rows(), rate="fast"), r"attribute 'rate' must be a positive number of Hz, got 'fast'"),
        (lambda p: _raw(p, _rows(), rate=0.0), r"attribute 'rate' must be a positive number of Hz, got 0\.0"),
        (lambda p: _raw(p, _rows(), rate=np.nan), r"attribute 'rate' must be a positive number of Hz"),
        (lambda p: _raw(p, _rows(), rate=50.0), r"timestamps run at 100\.0 Hz but attribute 'rate' says 50 Hz"),
        (lambda p: _drop_attr(_raw(p, _rows()), "frame"), r"frame None is unknown \(this reader knows frame 'band_x_distal_z_dorsal'"),
        (lambda p: _raw(p, _rows(), frame="ned"), r"frame 'ned' is unknown"),
        (lambda p: _raw(p, _rows(), gyro_units="deg/s"), r"attribute 'gyro_units' is 'deg/s', expected 'rad/s'"),
        (lambda p: _raw(p, np.zeros(M)), r"IMU 'imu' is not a compound dataset"),
        (lambda p: _raw(p, np.zeros(M, dtype=[("time", "<f8"), ("accel", "<f4", (3,))])), r"IMU 'imu' has no field 'gyro' \(fields: time, accel\)"),
        (lambda p: _raw(p, _rows(axes=2)), r"IMU field 'accel' has shape \(2,\) per row, expected \(3,\)"),
        (lambda p: _raw(p, _rows(time=_time("nan"))), r"timestamps contain NaN/Inf \(first at sample 7\)"),
        (lambda p: _raw(p, _rows(time=_time("back"))), r"timestamps not increasing: 1 steps back or repeated, first at sample 9"),
        (lambda p: _raw(p, _rows(time=_time("same"))), r"timestamps not increasing: 1 steps back or repeated, first at sample 12"),
        (lambda p: _raw(p, _rows(m=1)), r"only 1 samples"),
    ],
)
def test_bad_streams_are_one_line_errors(gni_file, make, match):
    make(gni_file)
    with pytest.raises(DataFileError, match=match) as info:
        read_imu(gni_file)
    assert "\n" not in str(info.value) and str(gni_file) in str(info.value)


def test_bad_samples_and_clock(gni_file):
    time, accel, gyro = _imu()
    accel[30, 1] = np.nan
    write_imu(gni_file, time, accel, gyro)
    with read_imu(gni_file) as s, pytest.raises(DataFileError, match=r"IMU 'imu' accel contains NaN/Inf \(first at sample 30\)"):
        s.accel(20)
    with pytest.raises(DataFileError, match=r"timestamps \[.*\] miss the EMG recording \[.*\] \(IMU time must be unix seconds on the EMG clock\)"):
        read_imu(gni_file, emg_span=(T0 + 3600, T0 + 3602))  # another clock


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(accel=np.zeros((M, 2))), r"IMU accel has shape \(200, 2\), expected \(200, 3\)"),
        (dict(gyro=np.zeros((M - 1, 3))), r"IMU gyro has shape \(199, 3\), expected \(200, 3\)"),
        (dict(time=_time("nan")), r"timestamps contain NaN/Inf \(first at sample 7\)"),
        (dict(time=_time("back")), r"timestamps not increasing"),
        (dict(rate=-100.0), r"attribute 'rate' must be a positive number of Hz"),
        (dict(rate=200.0), r"timestamps run at 100\.\d Hz but attribute 'rate' says 200 Hz"),
        (dict(band="left"), r"a generic-neuromotor-interface file has one band; pass band=None"),
    ],
)
def test_writer_refuses_what_the_reader_rejects(gni_file, change, match):
    time, accel, gyro = _imu()
    kwargs = {"time": time, "accel": accel, "gyro": gyro, **change}
    with pytest.raises(DataFileError, match=match) as info:
        write_imu(gni_file, **kwargs)
    assert "\n" not in str(info.value)
    assert imu_bands(gni_file) == []  # nothing written


def test_writer_errors_on_files(tmp_path, gni_file, e2q_file):
    time, accel, gyro = _imu()
    with pytest.raises(DataFileError, match="no such file"):
        write_imu(tmp_path / "nope.hdf5", time, accel, gyro)
    with pytest.raises(DataFileError, match=r"band must be one of left, right, got None"):
        write_imu(e2q_file, time, accel, gyro)
    write_imu(gni_file, time, accel, gyro)
    with pytest.raises(DataFileError, match=r"already has an IMU stream 'imu'"):
        write_imu(gni_file, time, accel, gyro)
    other = tmp_path / "other.hdf5"
    h5py.File(other, "w").close()
    with pytest.raises(DataFileError, match="neither an emg2qwerty"):
        read_imu(other)


# -- the physics -----------------------------------------------------------------------------------
def _still(n: int, yaw=0.0, pitch=0.0, roll=0.0) -> ArmMotion:
    return ArmMotion(np.zeros((n, 3)), np.tile([yaw, pitch, roll], (n, 1)).astype(np.float64))


def test_sensed_gravity_and_rotation():
    force, omega = _still(50).sensed()  # forearm flat, palm down: z up
    np.testing.assert_allclose(force, np.tile([0, 0, G], (50, 1)), atol=1e-9)
    np.testing.assert_allclose(omega, 0, atol=1e-12)
    force, _ = _still(50, pitch=np.radians(30)).sensed()  # hand end raised: gravity shows on x
    np.testing.assert_allclose(force[0], [G * 0.5, 0, G * np.cos(np.radians(30))], atol=1e-9)
    force, _ = _still(50, roll=np.pi / 2).sensed()  # band rolled a quarter turn: gravity on +y or -y
    assert abs(abs(force[0, 1]) - G) < 1e-9
    t = np.arange(500) / 250.0  # turning left at 0.5 rad/s, palm down: +z in the band frame
    spin = ArmMotion(np.zeros((500, 3)), np.stack([0.5 * t, 0 * t, 0 * t], axis=1))
    np.testing.assert_allclose(spin.sensed()[1][5:-5], np.tile([0, 0, 0.5], (490, 1)), atol=1e-5)
    lift = ArmMotion(np.stack([0 * t, 0 * t, 0.5 * 2.0 * t**2], axis=1), np.zeros((500, 3)))  # 2 m/s^2 up
    np.testing.assert_allclose(lift.sensed()[0][5:-5, 2], G + 2.0, atol=1e-6)


# -- the synthetic streams -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gestures():
    return render_gesture_session(GestureSessionSpec(3, 1, 0, 1.7e9, 1.0))


@pytest.fixture(scope="module")
def handwriting():
    return render_handwriting_session(HandwritingSessionSpec(3, 1, 0, 1.7e9, 1.0))


def _window(r, t: np.ndarray, stage: int, margin: float = 1.5) -> np.ndarray:
    st = r.stages[stage]
    return (t > st.start + (0.5 if stage == 0 else margin)) & (t < st.end - margin)


@pytest.mark.parametrize("name", ["gestures", "handwriting"])
def test_synth_imu_at_rest_and_in_motion(name, request):
    r = request.getfixturevalue(name)
    imu = r.imu
    t = imu.time - r.spec.start_unix
    rest = _window(r, t, 0)
    assert rest.sum() > 100
    g = np.linalg.norm(imu.accel[rest], axis=1)
    assert abs(g.mean() - 9.81) < 0.3 and g.std() < 0.1, "gravity alone at rest"
    assert np.abs(imu.gyro[rest].mean(axis=0)).max() < 0.03 and imu.gyro[rest].std(axis=0).max() < 0.015, "gyro ~0 at rest"
    rest_spread = np.linalg.norm(imu.gyro[rest].std(axis=0))
    for stage in (1, 2):
        moving = np.linalg.norm(imu.gyro[_window(r, t, stage)].std(axis=0))
        assert moving > 3 * rest_spread, (r.stages[stage].name, moving, rest_spread)
    raised = _window(r, t, 2)  # the raised arm / writing in the air pitches the forearm up: gravity on x
    assert imu.accel[raised, 0].mean() > imu.accel[rest, 0].mean() + 2.0


@pytest.mark.parametrize("name", ["gestures", "handwriting"])
def test_synth_imu_clock(name, request):
    r = request.getfixturevalue(name)
    imu, emg_t = r.imu, r.time
    dt = np.diff(imu.time)
    assert dt.min() > 0.007, "strictly increasing"
    assert abs(1 / np.median(dt) - 100.0) < 0.5 and imu.rate == 100.0, "its own rate"
    assert 0.9 * 100 * (emg_t[-1] - emg_t[0]) < len(imu.time) < 100 * (emg_t[-1] - emg_t[0]) + 1
    assert emg_t[0] < imu.time[0] < emg_t[0] + 0.012 and emg_t[-1] - 0.012 < imu.time[-1] <= emg_t[-1], "spans the EMG"
    off_grid = (imu.time - emg_t[0]) * FS % 1.0
    assert np.ptp(off_grid) > 0.5, "its own sample instants, not the EMG's"
    assert np.abs(np.diff(dt)).max() > 1e-5, "timestamp jitter"
    assert imu.accel.dtype == np.float32 and imu.gyro.dtype == np.float32 and imu.time.dtype == np.float64


def test_imu_leaves_the_emg_alone(gestures):
    spec = GestureSessionSpec(3, 1, 0, 1.7e9, 1.0, imu=False)
    plain = render_gesture_session(spec)
    assert plain.imu is None and np.array_equal(plain.emg, gestures.emg) and plain.events == gestures.events
    typed = render_session(SessionSpec(3, 0, 0, "u", "s", 1.6e9, 0.2, imu=True))
    base = render_session(SessionSpec(3, 0, 0, "u", "s", 1.6e9, 0.2))
    assert base.imu == () and [r.band for r in typed.imu] == ["left", "right"]
    assert np.array_equal(typed.emg_left, base.emg_left) and np.array_equal(typed.emg_right, base.emg_right)
    assert typed.keystrokes == base.keystrokes
    for rec in typed.imu:
        g = np.linalg.norm(rec.accel, axis=1)
        assert abs(np.median(g) - 9.81) < 0.3 and np.all(np.diff(rec.time) > 0)
    assert not np.array_equal(typed.imu[0].accel[:100], typed.imu[1].accel[:100])


def _imu_of(path: Path) -> tuple[np.ndarray, ...]:
    with read_imu(path) as s:
        return s.time, s.accel(), s.gyro()


def test_deterministic_per_seed_and_workers_do_not_matter(tmp_path):
    cfg = GestureDatasetConfig(users=2, sessions=2, minutes=0.15, seed=4, test_users=1, val_sessions=1)
    runs = {}
    for name, workers, seed in (("one", 1, 4), ("two", 2, 4), ("other", 1, 5)):
        generate_gestures(tmp_path / name, GestureDatasetConfig(**{**cfg.__dict__, "seed": seed}), workers=workers)
        runs[name] = [_imu_of(f) for f in sorted((tmp_path / name).glob("*.hdf5"))]
    assert len(runs["one"]) == 4
    for a, b in zip(runs["one"], runs["two"]):
        for x, y in zip(a, b):
            assert x.tobytes() == y.tobytes()
    assert not np.array_equal(runs["one"][0][1][:50], runs["other"][0][1][:50])
    streams = [r[1][:50].tobytes() for r in runs["one"]]
    assert len(set(streams)) == len(streams), "every session its own stream"


def test_cli_imu_flag(cli, tmp_path):
    common = ["--users", "2", "--sessions", "1", "--minutes", "0.1", "--test-users", "0", "--val-sessions", "0", "--workers", "1"]
    assert cli(["synth", str(tmp_path / "g"), "--task", "gestures", *common]) == 0
    assert cli(["synth", str(tmp_path / "gn"), "--task", "gestures", "--no-imu", *common]) == 0
    assert cli(["synth", str(tmp_path / "t"), *common]) == 0
    assert cli(["synth", str(tmp_path / "ti"), "--imu", *common]) == 0
    assert all(imu_bands(f) == [None] for f in (tmp_path / "g").glob("*.hdf5"))
    assert all(imu_bands(f) == [] for f in (tmp_path / "gn").glob("*.hdf5"))
    assert all(imu_bands(f) == [] for f in (tmp_path / "t").glob("*.hdf5"))
    typed = sorted((tmp_path / "ti").glob("*.hdf5"))
    assert len(typed) == 2 and all(imu_bands(f) == ["left", "right"] for f in typed)
    for f in typed:
        s = SessionFile(f)
        with read_imu(f, "right", emg_span=(s.time[0], s.time[-1])) as imu:
            assert s.time[0] < imu.time[0] and imu.time[-1] <= s.time[-1]
        s.close()


def test_cli_help_names_the_flag(cli, capsys):
    with pytest.raises(SystemExit):
        cli(["synth", "--help"])
    text = capsys.readouterr().out
    assert "--imu, --no-imu" in text and "emgrt/io/imu.py" in text
