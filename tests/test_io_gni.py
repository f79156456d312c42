"""GNI session files: round trip, the release's reader logic with plain h5py + pandas, corpus
splits, and every bad-input case."""

import pickle

import h5py
import numpy as np
import pandas as pd
import pytest

from emgrt.constants import SAMPLE_RATE_HZ
from emgrt.errors import ConfigError, DataFileError
from emgrt.io import gni
from emgrt.io.gni import GESTURES, HW_BACKSPACE, HW_PAUSE, HW_SPACE, GniPartition, GniSession, read_corpus, write_gni_session

T0 = 1_700_000_000.0
N = 4000  # 2 s


def _arrays(n: int = N, seed: int = 0):
    rng = np.random.default_rng(seed)
    time = T0 + np.arange(n) / SAMPLE_RATE_HZ
    return time, rng.standard_normal((n, 16)).astype(np.float32)


def _gesture_tables():
    prompts = pd.DataFrame({"name": ["index_press", "index_release", "thumb_up"], "time": [T0 + 0.2, T0 + 0.5, T0 + 1.5]})
    stages = pd.DataFrame({"start": [T0, T0 + 1.0], "end": [T0 + 1.0, T0 + 2.0], "name": ["s0", "s1"], "posture": ["sit", "stand"]})
    return prompts, stages


@pytest.fixture
def gesture_file(tmp_path):
    time, emg = _arrays()
    prompts, stages = _gesture_tables()
    path = write_gni_session(tmp_path / "discrete_gestures_user_002_dataset_000.hdf5", time, emg, "discrete_gestures", prompts, stages)
    return path, time, emg, prompts, stages


def test_round_trip(gesture_file):
    path, time, emg, prompts, stages = gesture_file
    with GniSession(path) as s:
        assert (s.task, len(s)) == ("discrete_gestures", N)
        np.testing.assert_array_equal(s.time, time)
        np.testing.assert_array_equal(s.emg(), emg)
        np.testing.assert_array_equal(s.emg(100, 200), emg[100:200])
        assert s.emg(100, 200).dtype == np.float32
        assert s.wrist_angles() is None and not s.has_wrist_angles
        pd.testing.assert_frame_equal(s.prompts(), prompts)
        pd.testing.assert_frame_equal(s.stages(), stages)
        s2 = pickle.loads(pickle.dumps(s))  # a DataLoader worker reopens its own handle
        np.testing.assert_array_equal(s2.emg(0, 10), emg[:10])
        s2.close()


def test_handwriting_and_wrist_round_trip(tmp_path):
    time, emg = _arrays()
    text = f"hi{HW_SPACE}yo{HW_BACKSPACE}u{HW_PAUSE}"
    prompts = pd.DataFrame({"prompt": [text, "ok"], "start": [T0, T0 + 1.0], "end": [T0 + 0.9, T0 + 1.9]})
    path = write_gni_session(tmp_path / "hw.hdf5", time, emg, "handwriting", prompts=prompts)
    with GniSession(path) as s:
        assert s.task == "handwriting"
        pd.testing.assert_frame_equal(s.prompts(), prompts)
        assert s.prompts()["prompt"].iloc[0] == text
        assert list(s.stages().columns) == ["start", "end", "name"] and s.stages().empty

    angles = np.random.default_rng(1).standard_normal((N, 2)).astype(np.float32)
    path = write_gni_session(tmp_path / "wrist.hdf5", time, emg, "wrist", wrist_angles=angles)
    with GniSession(path) as s:
        np.testing.assert_array_equal(s.wrist_angles(), angles)
        np.testing.assert_array_equal(s.wrist_angles(5, 9), angles[5:9])
        assert s.prompts().empty


def test_readable_by_release_reader_logic(gesture_file):
    """The GNI release's reader logic, re-stated from its documented behaviour: the compound
    ``data`` dataset read with h5py, its task attribute, the tables with pandas.read_hdf."""
    path, time, emg, prompts, stages = gesture_file
    with h5py.File(path, "r") as f:
        data = f["data"]
        assert set(data.dtype.fields) == {"time", "emg"}
        assert data.attrs["task"] == "discrete_gestures"
        t = data["time"]
        assert np.all(np.diff(t) >= 0)
        lo, hi = np.searchsorted(t, [T0 + 0.5, T0 + 1.0])
        rows = data[lo:hi]
    assert rows["emg"].shape == (hi - lo, 16) and rows["emg"].dtype == np.float32
    np.testing.assert_array_equal(rows["emg"], emg[lo:hi])
    assert rows["time"].dtype == np.float64
    pd.testing.assert_frame_equal(pd.read_hdf(path, "prompts"), prompts)
    pd.testing.assert_frame_equal(pd.read_hdf(path, "stages"), stages)
    assert list(pd.read_hdf(path, "prompts")["name"]) == ["index_press", "index_release", "thumb_up"]


def test_partition_slicing(gesture_file):
    path, time, *_ = gesture_file
    with GniSession(path) as s:
        lo, hi = s.sample_range(time[100], time[299])
        assert (lo, hi) == (100, 300)  # both ends inclusive
        assert s.sample_range(time[0], time[-1]) == (0, N)
        lo, hi = s.sample_range(time[10] + 1e-4, time[20] - 1e-4)
        assert (lo, hi) == (11, 20)
        with pytest.raises(DataFileError, match=r"partition .* lies outside the recording .*check that the corpus row"):
            s.sample_range(time[0] - 5.0, time[10])
        with pytest.raises(DataFileError, match="lies outside the recording"):
            s.sample_range(time[10], time[-1] + 5.0)
        with pytest.raises(DataFileError, match="is not a time span"):
            s.sample_range(time[20], time[10])


def test_corpus(tmp_path, gesture_file):
    path = gesture_file[0]
    csv = tmp_path / "discrete_gestures_corpus.csv"
    csv.write_text(
        "dataset,start,end,split,user\n"
        f"{path.stem},{T0},{T0 + 1.0},train,002\n"
        f"{path.stem},{T0 + 1.0},{T0 + 1.9995},test,002\n"
        f"other_file,{T0},{T0 + 3},val,003\n"
    )
    parts = read_corpus(csv)
    assert [p.split for p in parts] == ["train", "test", "val"]
    assert parts[0] == GniPartition(path.stem, T0, T0 + 1.0, "train")
    assert parts[0].path(tmp_path) == path
    with GniSession(parts[1].path(tmp_path)) as s:
        assert s.sample_range(parts[1].start, parts[1].end) == (2000, N)


@pytest.mark.parametrize(
    "text, match",
    [
        ("dataset,start,split\nx,1,train\n", r"corpus CSV lacks column\(s\) end \(has: dataset, start, split\) \(the header must name"),
        ("dataset,start,end,split\nx,1,2,dev\n", r"corpus line 2: unknown split 'dev' \(use one of train, val, test\)"),
        ("dataset,start,end,split\nx,1,two,train\n", "corpus line 2: start/end must be numbers"),
        ("dataset,start,end,split\nx,3,2,train\n", r"corpus line 2: \[3.0, 2.0\] is not a time span"),
        ("dataset,start,end,split\n,1,2,train\n", "corpus line 2: empty dataset name"),
        ("", r"lacks column\(s\) dataset, start, end, split \(has: none\)"),
    ],
)
def test_bad_corpus(tmp_path, text, match):
    csv = tmp_path / "corpus.csv"
    csv.write_text(text)
    with pytest.raises(DataFileError, match=match) as info:
        read_corpus(csv)
    assert "\n" not in str(info.value)


def _raw(path, rows, task="discrete_gestures"):
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("data", data=rows)
        if task is not None:
            ds.attrs["task"] = task
    return path


def _rows(n=N, channels=16, time=None):
    rows = np.zeros(n, dtype=[("time", "<f8"), ("emg", "<f4", (channels,))])
    rows["time"] = T0 + np.arange(n) / SAMPLE_RATE_HZ if time is None else time
    return rows


def _bad_time(kind):
    t = T0 + np.arange(N) / SAMPLE_RATE_HZ
    if kind == "nan":
        t[7] = np.nan
    else:
        t[9] = t[3]
    return t


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p: p.write_bytes(b"not hdf5 at all" * 10) and p, r"not a readable HDF5 file \(is it a generic-neuromotor-interface"),
        (lambda p: p.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100) and p, "not a readable HDF5 file"),
        (lambda p: h5py.File(p, "w").close() or p, r"missing dataset 'data' \(not a generic-neuromotor-interface session file\)"),
        (lambda p: _raw(p, np.zeros(N)), r"'data' is not a compound dataset"),
        (lambda p: _raw(p, np.zeros(N, dtype=[("time", "<f8")])), r"'data' has no field 'emg' \(fields: time\)"),
        (lambda p: _raw(p, np.zeros(N, dtype=[("emg", "<f4", (16,))])), r"'data' has no field 'time'"),
        (lambda p: _raw(p, _rows(channels=8)), r"field 'emg' has 8 channels, expected 16 \(the GNI band has 16 electrodes\)"),
        (lambda p: _raw(p, _rows(), task="typing"), r"unknown task 'typing' \(data.attrs\['task'\] must be one of discrete_gestures, handwriting, wrist\)"),
        (lambda p: _raw(p, _rows(), task=None), r"'data' has no attribute 'task'"),
        (lambda p: _raw(p, _rows(), task="wrist"), r"'data' has no field 'wrist_angles'"),
        (lambda p: _raw(p, _rows(time=_bad_time("nan"))), r"timestamps contain NaN/Inf \(first at sample 7\)"),
        (lambda p: _raw(p, _rows(time=_bad_time("back"))), "timestamps not monotonic: 1 backwards steps, first at sample 9"),
        (lambda p: _raw(p, _rows(time=T0 + np.arange(N) / 1000.0)), r"sample rate is 100\d\.\d Hz, expected 2000 Hz \(resample"),
        (lambda p: _raw(p, _rows(n=1)), "only 1 samples"),
    ],
)
def test_bad_files(tmp_path, make, match):
    path = make(tmp_path / "bad.hdf5")
    with pytest.raises(DataFileError, match=match) as info:
        GniSession(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataFileError, match="no such file"):
        GniSession(tmp_path / "nope.hdf5")
    with pytest.raises(DataFileError, match="no such file"):
        read_corpus(tmp_path / "nope.csv")


def test_bad_tables_and_emg(tmp_path):
    time, emg = _arrays()
    emg[50, 3] = np.nan
    prompts = pd.DataFrame({"name": ["index_press", "wave"], "time": [T0, T0 + 1]})
    path = write_gni_session(tmp_path / "g.hdf5", time, emg, "discrete_gestures", prompts=prompts)
    with GniSession(path) as s:
        with pytest.raises(DataFileError, match=r"EMG contains NaN/Inf \(first at sample 50\)"):
            s.emg()
        with pytest.raises(DataFileError, match=r"prompts row 1 names an unknown gesture 'wave' \(gesture names are index_press"):
            s.prompts()
    # a table written elsewhere without its columns
    pd.DataFrame({"start": [T0], "end": [T0 + 1]}).to_hdf(path, key="stages", mode="a")
    with GniSession(path) as s, pytest.raises(DataFileError, match=r"table 'stages' lacks column\(s\) name \(has: start, end\)"):
        s.stages()


def test_writer_refuses_what_the_reader_rejects(tmp_path):
    time, emg = _arrays()
    p = tmp_path / "w.hdf5"
    with pytest.raises(ValueError, match="unknown task 'typing'"):
        write_gni_session(p, time, emg, "typing")
    with pytest.raises(ValueError, match=r"emg has shape \(4000, 8\), expected \(4000, 16\)"):
        write_gni_session(p, time, emg[:, :8], "handwriting")
    with pytest.raises(ValueError, match="non-decreasing"):
        write_gni_session(p, time[::-1], emg, "handwriting")
    with pytest.raises(ValueError, match="needs wrist_angles"):
        write_gni_session(p, time, emg, "wrist")
    with pytest.raises(ValueError, match=r"prompts lacks column\(s\) time"):
        write_gni_session(p, time, emg, "discrete_gestures", prompts=pd.DataFrame({"name": ["thumb_up"]}))
    assert not p.exists() and not list(tmp_path.iterdir())  # nothing half-written


def test_missing_pandas_is_one_line(monkeypatch, gesture_file):
    import builtins

    real_import = builtins.__import__

    def no_tables(name, *args, **kwargs):
        if name == "tables":
            raise ModuleNotFoundError("No module named 'tables'", name="tables")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tables)
    with GniSession(gesture_file[0]) as s:
        np.testing.assert_array_equal(s.emg(0, 5), gesture_file[2][:5])  # the arrays need no pandas
        with pytest.raises(ConfigError, match=r"need pandas and PyTables \(tables is missing\): pip install 'emgrt\[neuromotor\]'"):
            s.prompts()


def test_constants():
    assert len(GESTURES) == 9 and GESTURES[0] == "index_press" and GESTURES[-1] == "thumb_up"
    assert (HW_BACKSPACE, HW_SPACE, HW_PAUSE) == ("\u2190", "\u2192", "\U0001f90f")
    assert gni.TASKS == ("discrete_gestures", "handwriting", "wrist")


def test_unreadable_table(tmp_path):
    time, emg = _arrays()
    path = write_gni_session(tmp_path / "g.hdf5", time, emg, "discrete_gestures")
    with h5py.File(path, "a") as f:
        f.create_dataset("prompts", data=np.arange(3))  # not a pandas table
    with GniSession(path) as s, pytest.raises(DataFileError, match=r"table 'prompts' is not a readable pandas table \(\w+\) \(rewrite it"):
        s.prompts()
