"""emgrt record: a live band (and its keystrokes) into an emg2qwerty session file that survives a kill."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid

import h5py
import numpy as np
import pytest

from emgrt.charset import emg2qwerty_charset
from emgrt.cli import main
from emgrt.constants import HDF5_GROUP, TIMESERIES
from emgrt.errors import DataFileError
from emgrt.io.recorder import SessionRecorder, pynput_key
from emgrt.io.session import TIMESERIES_DTYPE, SessionFile, write_session
from emgrt.lsl import pylsl_quiet
from emgrt.lsl.outlet import SessionReplayer

from conftest import make_session_arrays

RATE = 2000
pylsl = pylsl_quiet()


def unique() -> str:
    return f"emgrt-rec-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def synth_session(tmp_path_factory):
    """A 15 s synthetic typing session (prompts, keystrokes)."""
    out = tmp_path_factory.mktemp("synth") / "data"
    assert main(["synth", str(out), "--users", "1", "--sessions", "1", "--minutes", "0.25", "--test-users", "0",
                 "--val-sessions", "0", "--workers", "1"]) == 0
    return next(out.glob("*.hdf5"))


def chunks(n: int, seed: int = 0):
    """Band-like chunk boundaries over n samples."""
    rng = np.random.default_rng(seed)
    pos = 0
    while pos < n:
        size = int(rng.integers(1, 300))
        yield pos, min(n, pos + size)
        pos += size


def emg32(arrays: dict, lo: int = 0, hi: int | None = None) -> np.ndarray:
    return np.concatenate([arrays["emg_left"][lo:hi], arrays["emg_right"][lo:hi]], axis=1)


# -- SessionRecorder, without LSL ---------------------------------------------------------------
def test_recorder_writes_what_write_session_writes(tmp_path):
    a = make_session_arrays(n=6000, seed=3)
    ref = write_session(tmp_path / "ref.hdf5", **a)
    out = tmp_path / "rec.hdf5"
    rec = SessionRecorder(out, session_name=a["session_name"], user=a["user"], flush_interval=0.0).open()
    x = emg32(a)
    keys = iter(a["keystrokes"])
    next_key = next(keys)
    for lo, hi in chunks(len(x)):
        rec.append(a["time"][lo:hi], x[lo:hi])
        while next_key is not None and next_key["start"] <= a["time"][hi - 1]:
            rec.append_key(next_key["key"], next_key["start"], next_key["end"])
            next_key = next(keys, None)
        rec.maybe_flush()
    for p in a["prompts"]:
        rec.append_prompt(p["payload"]["text"], p["start"], p["end"], name=p["name"])
    stats = rec.close()
    assert stats["samples_received"] == stats["samples_written"] == 6000 and stats["rejected"] == 0
    assert stats["keys_written"] == len(a["keystrokes"]) and stats["keys_pending"] == stats["keys_outside"] == 0
    assert stats["flushes"] > 10
    with SessionFile(out) as r, SessionFile(ref) as s:
        assert np.array_equal(r.read(), s.read())  # time float64 and EMG float32, bit for bit
        assert r.keystrokes == s.keystrokes and r.prompts == s.prompts
        assert (r.session_name, r.user, r.condition) == (s.session_name, s.user, s.condition)
        assert r.duration_mins == pytest.approx(s.duration_mins)
        assert json.loads(r.metadata["gaps"]) == []
        assert json.loads(r.metadata["recording"])["counters"]["samples_written"] == 6000
    with h5py.File(out, "r") as f, h5py.File(ref, "r") as g:
        assert f[HDF5_GROUP][TIMESERIES].dtype == g[HDF5_GROUP][TIMESERIES].dtype == TIMESERIES_DTYPE
        for name in ("keystrokes", "prompts", "session_name", "user", "condition"):
            assert isinstance(f[HDF5_GROUP].attrs[name], str)  # variable-length strings once closed, as write_session


def test_recorder_records_gaps_and_never_fills_them(tmp_path):
    a = make_session_arrays(n=6000)
    t, x = a["time"], emg32(a)
    rec = SessionRecorder(tmp_path / "gaps.hdf5").open()
    rec.append(t[:1000], x[:1000])
    rec.append(t[1500:3000], x[1500:3000])  # 500 samples never arrived
    rec.stream_lost()
    rec.append(t[4000:5000], x[4000:5000])  # back after 1000 more
    rec.stream_lost()  # and gone for good
    stats = rec.close()
    assert stats["samples_written"] == 3500 and stats["gaps"] == 3 and stats["missing_samples"] == 1500
    with SessionFile(tmp_path / "gaps.hdf5") as r:
        assert len(r) == 3500
        np.testing.assert_array_equal(r.time, np.r_[t[:1000], t[1500:3000], t[4000:5000]])
        np.testing.assert_array_equal(r.emg().reshape(-1, 32), np.r_[x[:1000], x[1500:3000], x[4000:5000]])
        gaps = json.loads(r.metadata["gaps"])
    assert gaps[0] == {"start": t[999], "end": t[1500], "missing": 500, "reason": "missing in the stamps"}
    assert gaps[1] == {"start": t[2999], "end": t[4000], "missing": 1000, "reason": "stream lost and reconnected"}
    assert gaps[2]["start"] == t[4999] and gaps[2]["end"] is None and "not come back" in gaps[2]["reason"]


def test_recorder_refuses_backwards_stamps_and_keeps_the_file_readable(tmp_path):
    a = make_session_arrays(n=4000)
    t, x = a["time"].copy(), emg32(a).copy()
    t[2000:2010] -= 1.0  # a clock glitch
    t[3000] = np.nan
    x[100, 5] = np.inf
    rec = SessionRecorder(tmp_path / "b.hdf5").open()
    for lo, hi in chunks(len(t), seed=1):
        rec.append(t[lo:hi], x[lo:hi])
    s = rec.stats()
    assert s["samples_received"] == 4000 == s["samples_written"] + s["buffered"] + s["rejected"]
    stats = rec.close()
    assert stats["rejected"] == 11 and stats["nonfinite_values"] == 1
    with SessionFile(tmp_path / "b.hdf5") as r:
        assert len(r) == 3989 and np.all(np.diff(r.time) > 0)
        assert r.emg()[100].reshape(32)[5] == 0.0


def test_recorder_keeps_keys_outside_the_signal_apart(tmp_path):
    a = make_session_arrays(n=4000)
    t, x = a["time"], emg32(a)
    rec = SessionRecorder(tmp_path / "k.hdf5", flush_interval=0.0).open()
    rec.append_key("a", t[0] - 5.0)  # pressed long before the band came
    rec.append_key("b", t[100])
    rec.append(t[:2000], x[:2000])
    rec.append_key("c", t[3000])  # its samples are not there yet: pending
    rec.flush()
    assert rec.stats()["keys_pending"] == 1 and rec.stats()["keys_written"] == 1
    rec.append(t[2000:], x[2000:])
    rec.append_key("Key.space", t[-1] + 0.5)  # just after the last sample: within SessionFile's tolerance
    rec.append_key("z", t[-1] + 5.0)  # long after
    stats = rec.close()
    assert stats["keys_written"] == 3 and stats["keys_outside"] == 2 and stats["keys_pending"] == 0
    with SessionFile(tmp_path / "k.hdf5") as r:
        assert [k["key"] for k in r.keystrokes] == ["b", "c", "Key.space"]
        assert [k["key"] for k in json.loads(r.metadata["keystrokes_outside"])] == ["a", "z"]


def test_recorder_refuses_to_overwrite_without_force_and_unwritable_paths(tmp_path):
    out = tmp_path / "s.hdf5"
    out.write_bytes(b"precious")
    with pytest.raises(DataFileError, match="already exists.*--force"):
        SessionRecorder(out).open()
    assert out.read_bytes() == b"precious"
    SessionRecorder(out, force=True).open().close()
    assert h5py.is_hdf5(out)
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataFileError, match="cannot create its folder"):
        SessionRecorder(tmp_path / "file" / "s.hdf5").open()


KILLED_WRITER = """
import os, signal, sys
import numpy as np
from emgrt.io.recorder import SessionRecorder
t0 = 1_622_681_518.0
rng = np.random.default_rng(0)
t = t0 + np.arange(10000) / 2000
x = rng.standard_normal((10000, 32)).astype(np.float32)
rec = SessionRecorder(sys.argv[1], flush_interval=1e9).open()
def keys(lo, hi, n):  # n keys pressed between samples lo and hi
    for s in np.linspace(t[lo], t[hi - 1], n):
        rec.append_key("Key.space", s)
rec.append(t[:4000], x[:4000]); keys(0, 4000, 500); rec.flush()
rec.append(t[4000:8000], x[4000:8000]); keys(4000, 8000, 3000); rec.flush()  # the JSON outgrows 64 KiB
rec.append(t[8000:], x[8000:]); keys(8000, 10000, 200); rec.append_prompt("lost", t[8000], t[9000])
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_recorder_killed_keeps_everything_up_to_its_last_flush(tmp_path):
    out = tmp_path / "killed.hdf5"
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    rng = np.random.default_rng(0)
    rng_x = rng.standard_normal((10000, 32)).astype(np.float32)
    with SessionFile(out) as r:
        assert len(r) == 8000
        np.testing.assert_array_equal(r.emg().reshape(-1, 32), rng_x[:8000])
        assert len(r.keystrokes) == 3500 and r.prompts == []
        assert r.key_times[-1] <= r.time[-1]
        assert isinstance(r.metadata["keystrokes"], str)  # fixed-length bytes while recording, decoded


def test_marker_names_become_pynput_keys():
    got = [pynput_key(m) for m in ["a", "A", "7", "⌫", "⏎", " ", "⇧", "\n", "\b", "\x7f", "Key.space", "Key.tab", "é", "?"]]
    assert got == ["a", "A", "7", "Key.backspace", "Key.enter", "Key.space", "Key.shift", "Key.enter", "Key.backspace",
                   "Key.backspace", "Key.space", "Key.tab", "é", "?"]


# -- emgrt record over an LSL loopback -------------------------------------------------------------
@pytest.mark.parametrize("split", [False, True], ids=["one-stream", "two-bands"])
def test_record_gives_back_the_replayed_session(synth_session, tmp_path, capsys, split):
    name = unique()
    out = tmp_path / "rec.hdf5"
    with SessionFile(synth_session) as src:
        n, x = len(src), src.emg()
        labels, rel = src.key_labels, src.key_times - src.time[0]
        assert len(labels) > 10
    rep = SessionReplayer(synth_session, name, speed=8, split_bands=split, wait_for_consumer=30).start()
    band = ["--left", f"{name}-left", "--right", f"{name}-right"] if split else ["--stream", name]
    try:
        code = main(["record", str(out), *band, "--keys", f"{name}-keys", "--minutes", repr(n / RATE / 60)])
    finally:
        rep.stop()
    err = capsys.readouterr().err
    assert code == 0, err
    assert f"samples received {n}, written {n}; keys written {len(labels)};" in err and "gaps 0" in err
    cs = emg2qwerty_charset()
    with SessionFile(out) as rec:
        assert len(rec) == n
        assert np.array_equal(rec.emg(), x)  # float32, exact
        assert [k["key"] for k in rec.keystrokes] == [cs.keys[lab] for lab in labels]
        np.testing.assert_allclose(rec.key_times - rec.time[0], rel, atol=1e-3)
        np.testing.assert_allclose(np.diff(rec.time), 1 / RATE, atol=1e-6)  # float64 unix seconds: 0.24 us steps
        assert abs(rec.time[0] - time.time()) < 60  # unix time
        info = json.loads(rec.metadata["recording"])
        assert info["streams"] == rep.stream_names[:-1] and info["keystrokes"]["stream"] == f"{name}-keys"
        assert "lsl_to_unix_offset_s" in info["clock"] and json.loads(rec.metadata["gaps"]) == []


def test_record_reconnects_a_band_that_drops_out_and_records_the_gap(session_path, tmp_path, capsys, monkeypatch):
    name = unique()
    out = tmp_path / "dropout.hdf5"
    reps: list[SessionReplayer] = [SessionReplayer(session_path, name, speed=4, wait_for_consumer=30, max_seconds=2).start()]
    done = threading.Event()
    appended = [0]
    append = SessionRecorder.append

    def counting_append(self, t, emg):
        appended[0] += len(t)
        return append(self, t, emg)

    monkeypatch.setattr(SessionRecorder, "append", counting_append)

    def drop_and_return() -> None:
        first = reps[0]
        end = time.monotonic() + 30
        while appended[0] < 4000 and time.monotonic() < end:  # liblsl drops what an inlet has not
            time.sleep(0.01)  # pulled when its outlet goes: let the recorder have it all first
        first.stop()  # the stream vanishes
        if appended[0] >= 4000:
            # At 4x the stamps ran ahead of the clock: the band comes back after its last stamp
            # (earlier stamps would be refused as going back in time).
            while pylsl.local_clock() < first.t0 + 4000 / RATE + 0.25:
                time.sleep(0.01)
            reps.append(SessionReplayer(session_path, name, speed=4, wait_for_consumer=30, max_seconds=2).start())
        if not done.wait(60):  # never hang the test run: end the recording as Ctrl-C would
            signal.raise_signal(signal.SIGINT)

    orchestra = threading.Thread(target=drop_and_return, daemon=True)
    orchestra.start()
    try:
        code = main(["record", str(out), "--stream", name, "--minutes", repr(8000 / RATE / 60)])
    finally:
        done.set()
        orchestra.join(10)
        for rep in reps:
            rep.stop()
    err = capsys.readouterr().err
    assert code == 0, err
    assert len(reps) == 2 and reps[0].samples_sent == reps[1].samples_sent == 4000
    with SessionFile(session_path) as src:
        x = src.emg(0, 4000)
    with SessionFile(out) as rec:
        assert len(rec) == 8000  # both replays' samples, not one more
        np.testing.assert_array_equal(rec.emg(), np.concatenate([x, x]))
        gaps = json.loads(rec.metadata["gaps"])
        steps = np.diff(rec.time)
        assert np.flatnonzero(steps > 1.5 / RATE).tolist() == [3999]
    expected = round((reps[1].t0 - reps[0].t0) * RATE) - 4000
    assert len(gaps) == 1 and gaps[0]["reason"] == "stream lost and reconnected"
    assert abs(gaps[0]["missing"] - expected) <= 1 and expected > 100
    assert (gaps[0]["start"], gaps[0]["end"]) == (rec.time[3999], rec.time[4000])
    assert "samples received 8000, written 8000" in err and "gaps 1 (" in err and "reconnected" in err


def _record_process(out, name: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "emgrt", "record", str(out), "--stream", name, "--keys", f"{name}-keys"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_sent(rep: SessionReplayer, samples: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while rep.samples_sent < samples and time.monotonic() < end and proc.poll() is None:
        time.sleep(0.01)
    assert rep.samples_sent >= samples, proc.poll()


@pytest.mark.slow
def test_record_killed_mid_way_leaves_a_session_up_to_its_last_flush(synth_session, tmp_path):
    name = unique()
    out = tmp_path / "killed.hdf5"
    rep = SessionReplayer(synth_session, name, speed=2, wait_for_consumer=60).start()
    proc = _record_process(out, name)
    try:
        _wait_sent(rep, 16000, proc)  # 4 s into the replay: several flushes done, more samples in flight
        sent = rep.samples_sent
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        rep.stop()
    assert proc.returncode == -signal.SIGKILL
    with SessionFile(synth_session) as src, SessionFile(out) as rec:
        n = len(rec)
        assert sent // 2 <= n <= sent  # all but the last second or so
        np.testing.assert_array_equal(rec.emg(), src.emg(0, n))
        cs = emg2qwerty_charset()
        keys = [k["key"] for k in rec.keystrokes]
        before = int(np.count_nonzero(src.key_times <= src.time[n - 1]))
        assert keys == [cs.keys[lab] for lab in src.key_labels[: len(keys)]]  # a prefix of what was typed
        assert before - 2 <= len(keys) <= before


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_record_stops_cleanly_on_ctrl_c_and_sigterm(synth_session, tmp_path, sig):
    name = unique()
    out = tmp_path / "stopped.hdf5"
    rep = SessionReplayer(synth_session, name, speed=4, wait_for_consumer=60).start()
    proc = _record_process(out, name)
    try:
        _wait_sent(rep, 8000, proc)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        rep.stop()
    assert proc.returncode == 0, err
    with SessionFile(out) as rec:
        n = len(rec)
        assert n >= 4000 and isinstance(rec.metadata["keystrokes"], str)
    assert f"samples received {n}, written {n};" in err and "Traceback" not in err


# -- one-line errors ------------------------------------------------------------------------------
def _errors(capsys) -> list[str]:
    return [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("emgrt record: error")]


@pytest.mark.parametrize(
    "channels, rate, message",
    [(8, 2000, "has 8 channels but emgrt record expects 32"), (32, 1000, "nominal rate 1000 Hz but emgrt record expects 2000 Hz")],
    ids=["channels", "rate"],
)
def test_record_stream_that_does_not_fit_is_one_line(tmp_path, capsys, channels, rate, message):
    name = unique()
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "EMG", channels, rate, "float32", name))
    code = main(["record", str(tmp_path / "o.hdf5"), "--stream", name, "--resolve-timeout", "5"])
    del outlet
    lines = _errors(capsys)
    assert code == 2 and len(lines) == 1 and message in lines[0], lines
    assert not (tmp_path / "o.hdf5").exists()


def test_record_missing_stream_and_bad_key_stream_are_one_line(tmp_path, capsys):
    code = main(["record", str(tmp_path / "o.hdf5"), "--stream", unique(), "--resolve-timeout", "0.2"])
    lines = _errors(capsys)
    assert code == 2 and len(lines) == 1 and "found within 0.2 s" in lines[0]
    name = unique()
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "Markers", 1, 0, "float32", name))
    code = main(["record", str(tmp_path / "o.hdf5"), "--stream", unique(), "--keys", name, "--resolve-timeout", "5"])
    del outlet
    lines = _errors(capsys)
    assert code == 2 and len(lines) == 1 and "carries numbers, not keystroke markers" in lines[0]
    assert not (tmp_path / "o.hdf5").exists()


def test_record_refuses_an_existing_or_unwritable_out_before_waiting_for_lsl(tmp_path, capsys):
    out = tmp_path / "s.hdf5"
    out.write_bytes(b"precious")
    t0 = time.monotonic()
    assert main(["record", str(out), "--stream", unique()]) == 2
    lines = _errors(capsys)
    assert len(lines) == 1 and "already exists" in lines[0] and "--force" in lines[0]
    (tmp_path / "file").write_text("x")
    assert main(["record", str(tmp_path / "file" / "s.hdf5"), "--stream", unique()]) == 2
    lines = _errors(capsys)
    assert len(lines) == 1 and "not a writable folder" in lines[0]
    assert time.monotonic() - t0 < 3 and out.read_bytes() == b"precious"


@pytest.mark.slow
def test_record_prompt_mode_records_typed_lines_and_prompts(session_path, tmp_path):
    """--prompt: a line of typed text becomes its keys (stamped at the line) plus enter, and the prompt."""
    name = unique()
    out = tmp_path / "typed.hdf5"
    rep = SessionReplayer(session_path, name, speed=1, wait_for_consumer=60, loop=True).start()
    proc = subprocess.Popen(
        [sys.executable, "-m", "emgrt", "record", str(out), "--stream", name, "--prompt", "--seed", "3"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        shown = proc.stdout.readline().strip()  # the first prompt
        _wait_sent(rep, 3000, proc)
        proc.stdin.write("Hi there\n")
        proc.stdin.flush()
        second = proc.stdout.readline().strip()
        _wait_sent(rep, rep.samples_sent + 1000, proc)
        proc.stdin.close()  # Ctrl-D: the recording ends
        proc.wait(timeout=30)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.__exit__(None, None, None)  # closes the pipes
        rep.stop()
    assert proc.returncode == 0, err
    from emgrt.text import prompts

    assert shown in prompts() and second in prompts()
    with SessionFile(out) as rec:
        assert rec.text() == "Hi there\u23ce"
        assert [k["key"] for k in rec.keystrokes][:3] == ["H", "i", "Key.space"]
        assert len({k["start"] for k in rec.keystrokes}) == 1  # one line, one time
        assert [p["payload"]["text"] for p in rec.prompts] == [shown]
        p = rec.prompts[0]
        assert p["name"] == "text_prompt" and p["start"] < p["end"] == rec.keystrokes[0]["start"]
        assert json.loads(rec.metadata["recording"])["keystrokes"]["source"] == "terminal"
