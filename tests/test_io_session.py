"""Session files: round trip, an independent emg2qwerty-style reader, and every bad-file case."""

import json
import pickle

import h5py
import numpy as np
import pytest

from conftest import make_session_arrays
from emgrt.errors import DataFileError
from emgrt.io.session import SessionFile, cut_session, write_session


def test_round_trip_equality(session_path, session_arrays):
    s = SessionFile(session_path)
    assert len(s) == len(session_arrays["time"])
    np.testing.assert_array_equal(s.time, session_arrays["time"])
    emg = s.emg()
    np.testing.assert_array_equal(emg[:, 0], session_arrays["emg_left"])
    np.testing.assert_array_equal(emg[:, 1], session_arrays["emg_right"])
    assert s.keystrokes == session_arrays["keystrokes"]
    assert s.prompts == session_arrays["prompts"]
    assert (s.session_name, s.user, s.condition) == ("test-session", "user-a", "on_keyboard")
    assert s.duration_mins == pytest.approx((session_arrays["time"][-1] - session_arrays["time"][0]) / 60)


def _independent_reader(path, start_t, end_t):
    """emg2qwerty's reader logic, re-stated from its documented behaviour with plain h5py.

    Keys in the vocabulary (single printable ASCII characters and the four named
    keys) become one character each; everything else is dropped; a window takes
    the keystrokes with start_t <= press <= end_t, in file order.
    """
    import string

    named = {"Key.backspace": "\u232b", "Key.enter": "\u23ce", "Key.space": " ", "Key.shift": "\u21e7"}
    vocab = string.ascii_letters + string.digits + string.punctuation + "".join(named.values())
    with h5py.File(path, "r") as f:
        g = f["emg2qwerty"]
        ts = g["timeseries"]
        assert set(ts.dtype.fields) == {"time", "emg_left", "emg_right"}
        rows = ts[:]
        keystrokes = json.loads(g.attrs["keystrokes"])
        meta = {k: g.attrs[k] for k in ("session_name", "user", "condition", "duration_mins")}
    text = ""
    for k in keystrokes:
        if k["start"] > end_t:
            break
        if k["start"] >= start_t:
            c = named.get(k["key"], k["key"])
            if len(c) == 1 and c in vocab:
                text += c
    return rows, text, meta


def test_file_readable_by_independent_emg2qwerty_reader(session_path, session_arrays):
    rows, text, meta = _independent_reader(session_path, -np.inf, np.inf)
    assert rows["emg_left"].shape == (6000, 16) and rows["emg_left"].dtype == np.float32
    assert rows["time"].dtype == np.float64
    np.testing.assert_array_equal(rows["emg_right"], session_arrays["emg_right"])
    assert meta["condition"] == "on_keyboard" and meta["user"] == "user-a"
    s = SessionFile(session_path)
    assert s.text() == text == "\u21e7Hi x\u232bt\u23ce"  # Key.tab dropped
    t = s.time
    for lo, hi in [(t[0], t[-1]), (t[1000], t[3000]), (t[2500], t[2600])]:
        labels, _ = s.ground_truth(lo, hi)
        assert s.charset.labels_to_str(labels) == _independent_reader(session_path, lo, hi)[1]


def test_window_bounds_are_inclusive(session_path):
    s = SessionFile(session_path)
    t_press = s.key_times[2]
    assert len(s.ground_truth(t_press, t_press)[0]) == 1
    assert len(s.ground_truth(np.nextafter(t_press, np.inf), t_press + 1e-3)[0]) == 0


def test_prompts_ground_truth_for_other_conditions(tmp_path, session_arrays):
    p = write_session(tmp_path / "s.hdf5", **{**session_arrays, "condition": "off_keyboard"})
    labels, times = SessionFile(p).ground_truth()
    assert SessionFile(p).charset.labels_to_str(labels) == "Hi t\u23ce"
    assert np.isnan(times).all()


def test_pickles_into_worker_processes(session_path):
    import multiprocessing as mp

    s = SessionFile(session_path)
    s.emg(0, 10)  # open the handle in this process first
    clone = pickle.loads(pickle.dumps(s))
    np.testing.assert_array_equal(clone.emg(5, 9), s.emg(5, 9))
    ctx = mp.get_context("fork")
    with ctx.Pool(1) as pool:
        out = pool.apply(_read_slice, (s,))
    np.testing.assert_array_equal(out, s.emg(100, 110))


def _read_slice(s):
    return s.emg(100, 110)


def test_reading_is_lazy(session_path):
    s = SessionFile(session_path)
    # Only timestamps and metadata are in memory; EMG is read per slice.
    assert not any(isinstance(v, np.ndarray) and v.ndim >= 2 for v in vars(s).values())


# -- bad files -----------------------------------------------------------------------------------


def _write_raw(path, rows=None, attrs=None, group="emg2qwerty", dataset="timeseries"):
    with h5py.File(path, "w") as f:
        g = f.create_group(group)
        if rows is not None:
            g.create_dataset(dataset, data=rows)
        for k, v in (attrs or {}).items():
            g.attrs[k] = v
    return path


def _rows(n=4000, channels=16, dt=1 / 2000):
    dtype = np.dtype([("time", "<f8"), ("emg_left", "<f4", (channels,)), ("emg_right", "<f4", (channels,))])
    rows = np.zeros(n, dtype=dtype)
    rows["time"] = 1e9 + np.arange(n) * dt
    return rows


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda p: p.write_bytes(b"this is not hdf5"), "not a readable HDF5 file"),
        (lambda p: _write_raw(p, _rows(), group="other"), "missing group 'emg2qwerty'"),
        (lambda p: _write_raw(p, None), "missing dataset 'emg2qwerty/timeseries'"),
        (lambda p: _write_raw(p, np.zeros(10)), "not a compound dataset"),
        (lambda p: _write_raw(p, _rows()[["time", "emg_left"]]), "no field 'emg_right'"),
        (lambda p: _write_raw(p, _rows(channels=8)), "has 8 channels, expected 16"),
        (lambda p: _write_raw(p, _rows(dt=1 / 1000)), "sample rate is 1000.0 Hz, expected 2000 Hz"),
    ],
)
def test_bad_structure(tmp_path, make, match):
    p = tmp_path / "bad.hdf5"
    make(p)
    with pytest.raises(DataFileError, match=match) as info:
        SessionFile(p)
    assert str(p) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataFileError, match="no such file"):
        SessionFile(tmp_path / "nope.hdf5")


def test_non_monotonic_time(tmp_path):
    rows = _rows()
    rows["time"][2000:2010] -= 1.0
    with pytest.raises(DataFileError, match="timestamps not monotonic: 1 backwards steps, first at sample 2000"):
        SessionFile(_write_raw(tmp_path / "t.hdf5", rows))


def test_keystrokes_outside_recording(tmp_path):
    a = make_session_arrays()
    a["keystrokes"].append({"key": "z", "start": a["time"][-1] + 60.0, "end": a["time"][-1] + 60.1})
    with pytest.raises(DataFileError, match="1 keystrokes outside the recording"):
        SessionFile(write_session(tmp_path / "k.hdf5", **a))


@pytest.mark.parametrize(
    "attrs,match",
    [({"keystrokes": "[{not json"}, "attribute 'keystrokes' is not valid JSON"),
     ({"keystrokes": '{"key": "a"}'}, "attribute 'keystrokes' must be a JSON list"),
     ({"keystrokes": '[{"key": "a", "start": 1e9}]'}, r"keystrokes\[0\] must be an object with key, start, end"),
     ({"prompts": "nope"}, "attribute 'prompts' is not valid JSON")],
)
def test_bad_json(tmp_path, attrs, match):
    with pytest.raises(DataFileError, match=match):
        SessionFile(_write_raw(tmp_path / "j.hdf5", _rows(), attrs))


def test_nan_in_emg_is_reported_with_position(tmp_path):
    a = make_session_arrays()
    a["emg_left"][1234, 3] = np.nan
    s = SessionFile(write_session(tmp_path / "n.hdf5", **a))
    s.emg(0, 1000)  # clean slice is fine
    with pytest.raises(DataFileError, match="NaN/Inf \\(first at sample 1234\\)"):
        s.emg(1000, 2000)


def test_write_validates_shapes_and_leaves_nothing_behind(tmp_path):
    a = make_session_arrays()
    a["emg_right"] = a["emg_right"][:, :8]
    with pytest.raises(ValueError, match="emg_right has shape"):
        write_session(tmp_path / "w.hdf5", **a)
    assert list(tmp_path.iterdir()) == []


def test_written_files_get_umask_permissions(tmp_path, session_arrays):
    import os

    old = os.umask(0o022)
    try:
        p = write_session(tmp_path / "perm.hdf5", **session_arrays)
    finally:
        os.umask(old)
    assert p.stat().st_mode & 0o777 == 0o644


def test_cut_keeps_the_stretch_its_keys_and_compresses(session_path, session_arrays, tmp_path):
    out = cut_session(session_path, tmp_path / "cut.hdf5", start_s=0.5, seconds=1.5)
    t = session_arrays["time"]
    lo, hi = np.searchsorted(t, t[0] + 0.5), np.searchsorted(t, t[0] + 2.0)
    with SessionFile(out) as cut:
        np.testing.assert_array_equal(cut.time, t[lo:hi])
        np.testing.assert_array_equal(cut.emg()[:, 0], session_arrays["emg_left"][lo:hi])
        inside = [k for k in session_arrays["keystrokes"] if t[lo] <= k["start"] <= t[hi - 1]]
        assert cut.keystrokes == inside and 0 < len(inside) < len(session_arrays["keystrokes"])
    with h5py.File(out, "r") as f:  # plain h5py decompresses it, as emg2qwerty's reader would
        ds = f["emg2qwerty"]["timeseries"]
        assert ds.compression == "gzip"
        np.testing.assert_array_equal(ds["emg_right"], session_arrays["emg_right"][lo:hi])


def test_cut_outside_the_recording_is_one_clear_error(session_path, tmp_path):
    with pytest.raises(DataFileError, match="nothing to cut at 99 s"):
        cut_session(session_path, tmp_path / "cut.hdf5", start_s=99, seconds=1)
