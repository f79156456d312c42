"""emgrt.synth.gestures: GNI-layout gesture sessions (`emgrt synth --task gestures`): the files load
as the release's reader loads them, the schedule, determinism, users, the signal in volts, the
corpus split, the CLI, and the typing path left as it was."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

import emgrt.cli
from emgrt.io.gni import GESTURES, GniSession, read_corpus
from emgrt.synth import DatasetConfig, generate_dataset
from emgrt.synth.gestures import (
    CORPUS_CSV,
    GESTURES as SYNTH_GESTURES,
    PRIMITIVES,
    GestureDatasetConfig,
    GestureEvent,
    GestureSessionSpec,
    generate_gestures,
    gesture_drive,
    make_style,
    plan_stages,
    render_gesture_session,
)
from emgrt.synth.keyboard import RIGHT
from emgrt.synth.physiology import drive_grid, finish_drive, render_drive
from emgrt.synth.session import make_user

FS = 2000
TINY = GestureDatasetConfig(users=3, sessions=2, minutes=0.25, seed=11, test_users=1, val_sessions=1)
PRESS_RELEASE = {"index_press": "index_release", "middle_press": "middle_release"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gestures") / "ds"
    generate_gestures(out, TINY, workers=1)
    return out


def _files(root: Path) -> list[Path]:
    return sorted(root.glob("discrete_gestures_user_*_dataset_*.hdf5"))


def _read(path: Path) -> dict:
    """A session as the release's reader sees it: h5py for ``data``, pandas.read_hdf for the tables."""
    with h5py.File(path, "r") as f:
        data = f["data"]
        out = {"task": data.attrs["task"], "fields": set(data.dtype.fields), "rows": data[()]}
    out["prompts"] = pd.read_hdf(path, "prompts")
    out["stages"] = pd.read_hdf(path, "stages")
    return out


# -- the files -------------------------------------------------------------------------------------
def test_names_match_the_release():
    assert SYNTH_GESTURES == GESTURES and tuple(PRIMITIVES) == GESTURES


def load_sessions(files: list[Path], file_task: str, cfg) -> list[tuple]:
    """Every session of ``cfg``, named as the release names them, loads with GniSession: its EMG
    is (T, 16) float32 of the configured length; returns each file's (prompts, stages) tables,
    read with the reader's checks (known names, columns)."""
    assert [f.stem for f in files] == [
        f"{file_task}_user_{u:03d}_dataset_{s:03d}" for u in range(cfg.users) for s in range(cfg.sessions)
    ]
    tables = []
    for f in files:
        with GniSession(f) as s:
            assert s.task == file_task and len(s) == int(cfg.minutes * 60 * FS)
            emg = s.emg()
            assert emg.shape == (len(s), 16) and emg.dtype == np.float32
            tables.append((s.prompts(), s.stages()))
    return tables


def test_files_load_with_gni_session(tiny):
    for prompts, stages in load_sessions(_files(tiny), "discrete_gestures", TINY):
        assert len(prompts) > 3
        assert list(stages["name"]) == ["rest", "gestures_1", "gestures_2"]
        assert "posture" in stages.columns


def test_readable_by_release_reader_logic(tiny):
    for f in _files(tiny):
        r = _read(f)
        assert r["task"] == "discrete_gestures" and r["fields"] == {"time", "emg"}
        rows = r["rows"]
        assert rows["time"].dtype == np.float64 and rows["emg"].dtype == np.float32 and rows["emg"].shape[1] == 16
        t = rows["time"]
        assert np.all(np.diff(t) > 0) and 1.6e9 < t[0] < 1.8e9
        assert np.allclose(np.diff(t), 1 / FS, rtol=0, atol=1e-6)
        p = r["prompts"]
        assert list(p.columns) == ["name", "time"] and p["time"].dtype == np.float64
        assert set(p["name"]) <= set(GESTURES)
        assert np.all(np.diff(p["time"].to_numpy()) > 0)
        assert t[0] <= p["time"].min() and p["time"].max() <= t[-1]
        st = r["stages"]
        assert list(st.columns[:3]) == ["start", "end", "name"]
        assert st["start"].iloc[0] == pytest.approx(t[0]) and st["end"].iloc[-1] == pytest.approx(t[-1])
        assert np.allclose(st["end"].to_numpy()[:-1], st["start"].to_numpy()[1:])  # stages tile the file
        rest_end = st["end"].iloc[0]
        assert (p["time"] > rest_end).all(), "no gesture during the rest stage"
        assert np.isfinite(rows["emg"]).all()


def test_every_press_is_followed_by_its_release(tiny):
    seen = set()
    for f in _files(tiny):
        names = list(_read(f)["prompts"]["name"])
        seen |= set(names)
        i = 0
        while i < len(names):
            n = names[i]
            assert not n.endswith("_release"), f"{f.stem}: a release without its press at row {i}"
            if n in PRESS_RELEASE:
                assert i + 1 < len(names) and names[i + 1] == PRESS_RELEASE[n], f"{f.stem}: row {i}"
                i += 2
            else:
                i += 1
    assert seen == set(GESTURES), "a few minutes of gestures show all nine"


def test_schedule_rates_and_rests():
    spec = GestureSessionSpec(seed=2, user_index=0, session_index=0, start_unix=1.7e9, minutes=3.0)
    r = render_gesture_session(spec)
    gesture_time = sum(s.end - s.start for s in r.stages if s.name != "rest")
    rate = len(r.events) / gesture_time
    assert 0.5 <= rate <= 1.5, rate
    times = np.array([e.time for e in r.events])
    assert np.diff(times).max() >= 2.0, "some rest gaps inside the stages"
    counts = {g: sum(e.name == g for e in r.events) for g in GESTURES}
    assert min(counts.values()) >= 5, counts
    for e in r.events:
        assert (e.until > e.time) == (e.name in PRESS_RELEASE)


# -- determinism, users ------------------------------------------------------------------------------
def assert_same_sessions(a: list[Path], b: list[Path]) -> None:
    """Two lists of GNI session files hold the same rows and label tables (any one-band task)."""
    assert [f.name for f in a] == [f.name for f in b]
    for fa, fb in zip(a, b):
        ra, rb = _read(fa), _read(fb)
        assert ra["rows"].tobytes() == rb["rows"].tobytes(), fa.name
        pd.testing.assert_frame_equal(ra["prompts"], rb["prompts"])
        pd.testing.assert_frame_equal(ra["stages"], rb["stages"])


def test_deterministic_and_workers_do_not_matter(tiny, tmp_path):
    again = tmp_path / "again"
    generate_gestures(again, TINY, workers=2)
    assert_same_sessions(_files(tiny), _files(again))
    assert (tiny / CORPUS_CSV).read_text() == (again / CORPUS_CSV).read_text()


def assert_sessions_differ(render, spec_cls, minutes: float, labels) -> None:
    """Another user, another session of the same user, another seed: other EMG, other ``labels(r)``."""
    base = render(spec_cls(seed=5, user_index=0, session_index=0, start_unix=1.7e9, minutes=minutes))
    for other in (
        spec_cls(5, 1, 0, 1.7e9, minutes),  # another user
        spec_cls(5, 0, 1, 1.7e9, minutes),  # another session of the same user
        spec_cls(6, 0, 0, 1.7e9, minutes),  # another seed
    ):
        r = render(other)
        assert not np.array_equal(r.emg, base.emg)
        assert labels(r) != labels(base)


def test_users_sessions_and_seeds_differ():
    assert_sessions_differ(render_gesture_session, GestureSessionSpec, 0.2, lambda r: [(e.name, e.time) for e in r.events])
    s0, s1 = make_style(5, 0), make_style(5, 1)
    assert not np.allclose(s0.main, s1.main) and s0.rate != s1.rate
    assert not np.allclose(make_user(5, 0).hands[RIGHT].angle[:5], make_user(5, 1).hands[RIGHT].angle[:5])


# -- the signal ----------------------------------------------------------------------------------------
def test_emg_is_in_volts_and_high_passed():
    r = render_gesture_session(GestureSessionSpec(3, 0, 0, 1.7e9, 0.5))
    emg = r.emg.astype(np.float64)
    rest = emg[: int(r.stages[0].end * FS)]
    rest_rms = np.sqrt((rest**2).mean())
    assert 3e-7 < rest_rms < 2e-5, rest_rms  # a few microvolts at rest
    assert 1e-5 < np.abs(emg).max() < 5e-3  # bursts of tens to hundreds of microvolts, not millivolts
    assert np.all(np.abs(emg.mean(axis=0)) < 0.2 * np.sqrt((emg**2).mean(axis=0)))  # no DC
    spec = np.abs(np.fft.rfft(emg, axis=0)) ** 2
    f = np.fft.rfftfreq(len(emg), 1 / FS)
    assert spec[f < 15].sum() < 0.02 * spec[f > 40].sum(), "the 40 Hz high-pass removed the slow part"


def test_gestures_carry_energy_above_rest():
    r = render_gesture_session(GestureSessionSpec(3, 1, 0, 1.7e9, 1.0))
    emg = r.emg.astype(np.float64)
    rest = emg[: int(r.stages[0].end * FS)]
    near = np.concatenate([emg[int((e.time - 0.1) * FS) : int((e.time + 0.25) * FS)] for e in r.events])
    ratio = np.sqrt((near**2).mean() / (rest**2).mean())
    assert ratio > 2.0, ratio
    for g in GESTURES:  # every gesture, not just the loud ones
        w = np.concatenate([emg[int((e.time - 0.1) * FS) : int((e.time + 0.25) * FS)] for e in r.events if e.name == g])
        assert np.sqrt((w**2).mean()) > 1.8 * np.sqrt((rest**2).mean()), g


def test_gestures_have_distinct_spatial_patterns():
    """Noise-free, one user: two halves of one gesture's repetitions agree better than two gestures."""
    user, style = make_user(4, 0), make_style(4, 0)
    hand = user.hands[RIGHT]
    events, t = [], 1.0
    for _ in range(24):
        for g in ("index_press", "thumb_up", "thumb_in", "thumb_out"):
            events.append(GestureEvent(g, t, t + 0.4 if g == "index_press" else t))
            t += 1.0
    n = int((t + 0.5) * FS)
    stages = plan_stages((n - 1) / FS, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    drive = finish_drive(gesture_drive(events, stages, style, user.activation, drive_grid(n), rng, onset_jitter_s=0.01), hand, user.activation, rng)
    emg = render_drive(drive, hand, n, rng, rotation=hand.rotation)
    power: dict[str, list] = {}
    for e in events:
        i = int(e.time * FS)
        power.setdefault(e.name, []).append(np.log((emg[i - 200 : i + 300].astype(np.float64) ** 2).mean(axis=0) + 1.0))
    p = {k: np.array(v) for k, v in power.items()}
    half = max(np.linalg.norm(v[0::2].mean(0) - v[1::2].mean(0)) for v in p.values())
    mean = {k: v.mean(0) for k, v in p.items()}
    for a, b in (("index_press", "thumb_up"), ("thumb_up", "thumb_in"), ("index_press", "thumb_in"), ("thumb_in", "thumb_out")):
        assert np.linalg.norm(mean[a] - mean[b]) > 3.0 * half, (a, b)


# -- the corpus -----------------------------------------------------------------------------------------
def assert_corpus_holds_users_out(root: Path, corpus: str, files: list[Path], cfg) -> None:
    """A one-band task's corpus CSV covers every file without gaps, one split per file, test
    users held out whole, the training users' last sessions in val."""
    parts = read_corpus(root / corpus)
    stems = {f.stem for f in files}
    assert {p.dataset for p in parts} == stems
    split_of_user: dict[str, set] = {}
    for stem in stems:
        mine = sorted((p for p in parts if p.dataset == stem), key=lambda p: p.start)
        with GniSession(root / f"{stem}.hdf5") as s:
            assert mine[0].start == pytest.approx(s.time[0], abs=1e-5)
            assert mine[-1].end == pytest.approx(s.time[-1], abs=1e-5)
            for a, b in zip(mine, mine[1:]):
                assert b.start == pytest.approx(a.end, abs=1e-5)  # no gaps
            covered = np.zeros(len(s), dtype=bool)
            for p in mine:
                lo, hi = s.sample_range(p.start, p.end)  # inside the recording
                covered[lo:hi] = True
            assert covered.all()
        assert len({p.split for p in mine}) == 1
        split_of_user.setdefault(stem.split("_dataset_")[0], set()).add(mine[0].split)
    test_users = [u for u, splits in split_of_user.items() if "test" in splits]
    assert len(test_users) == cfg.test_users
    assert all(split_of_user[u] == {"test"} for u in test_users), "test users are held out whole"
    assert all(splits == {"train", "val"} for u, splits in split_of_user.items() if u not in test_users)
    last = {p.dataset for p in parts if p.split == "val"}
    assert all(d.endswith(f"_dataset_{cfg.sessions - 1:03d}") for d in last)


def test_corpus_covers_files_and_holds_test_users_out(tiny):
    assert_corpus_holds_users_out(tiny, CORPUS_CSV, _files(tiny), TINY)
    synth = json.loads((tiny / "synth.json").read_text())
    assert synth["task"] == "gestures" and synth["seed"] == TINY.seed


# -- command line ---------------------------------------------------------------------------------------
from test_synth import cli  # noqa: E402, F401  (emgrt.cli.main with only synth registered)


def check_cli_writes(cli, capsys, out: Path, task: str, files, corpus: str) -> tuple[str, dict]:
    """`emgrt synth OUT --task TASK` for two users of one session, then again with --json: the
    shared summary lines, files and corpus; returns the text summary and the JSON one."""
    args = ["synth", str(out), "--task", task, "--users", "2", "--sessions", "1", "--minutes", "0.1",
            "--test-users", "0", "--val-sessions", "0", "--workers", "1"]
    assert cli(args) == 0
    captured = capsys.readouterr()
    assert "2 users" in captured.out and "2 sessions" in captured.out
    assert "x real time" in captured.out and "synth: 2/2 sessions" in captured.err
    assert len(files(out)) == 2 and (out / corpus).exists()
    assert cli(args + ["--json", "--seed", "1"]) == 0  # rewriting is allowed
    summary = json.loads(capsys.readouterr().out)
    assert summary["task"] == task and summary["sessions"] == 2
    assert {p.split for p in read_corpus(out / corpus)} == {"train"}
    return captured.out, summary


def test_cli_writes_gestures_and_summary(cli, tmp_path, capsys):
    text, summary = check_cli_writes(cli, capsys, tmp_path / "g", "gestures", _files, CORPUS_CSV)
    assert "gestures" in text and summary["gestures"] > 0


def test_cli_gestures_replace_a_typing_dataset(cli, tmp_path, capsys):
    out = tmp_path / "ds"
    common = ["--users", "2", "--sessions", "1", "--minutes", "0.1", "--test-users", "0", "--val-sessions", "0", "--workers", "1"]
    assert cli(["synth", str(out), *common]) == 0
    assert cli(["synth", str(out), "--task", "gestures", *common]) == 0
    left = sorted(p.name for p in out.iterdir())
    assert left == [CORPUS_CSV, *(f.name for f in _files(out)), "synth.json"] and len(_files(out)) == 2


@pytest.mark.parametrize(
    "extra, needle",
    [(["--task", "wrist"], "--task"), (["--users", "1"], "--test-users"), (["--sessions", "1"], "--sessions")],
)
def test_cli_bad_arguments(cli, tmp_path, capsys, extra, needle):
    check_cli_rejects(cli, capsys, tmp_path / "g", ["--task", "gestures", "--minutes", "0.1", *extra], needle)


def check_cli_rejects(cli, capsys, out: Path, args: list[str], needle: str) -> None:
    """`emgrt synth OUT ARGS` fails with one line naming ``needle`` and writes nothing."""
    assert cli(["synth", str(out), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


def test_cli_help_explains_task(cli, capsys):
    with pytest.raises(SystemExit):
        cli(["synth", "--help"])
    text = capsys.readouterr().out
    assert "--task {typing,gestures,handwriting}" in text and "discrete_gestures_corpus.csv" in text


def test_typing_path_unchanged_by_task_flag(cli, tmp_path):
    """The default task and --task typing write exactly what the typing generator writes."""
    cfg = DatasetConfig(users=2, sessions=1, minutes=0.1, seed=3, test_users=0, val_sessions=0)
    generate_dataset(tmp_path / "direct", cfg, workers=1)
    common = ["--users", "2", "--sessions", "1", "--minutes", "0.1", "--seed", "3", "--test-users", "0",
              "--val-sessions", "0", "--workers", "1"]
    assert cli(["synth", str(tmp_path / "default"), *common]) == 0
    assert cli(["synth", str(tmp_path / "typing"), "--task", "typing", *common]) == 0
    direct = sorted((tmp_path / "direct").glob("*.hdf5"))
    assert len(direct) == 2
    for name in ("default", "typing"):
        other = sorted((tmp_path / name).glob("*.hdf5"))
        assert [f.name for f in other] == [f.name for f in direct]
        for a, b in zip(direct, other):
            with h5py.File(a, "r") as x, h5py.File(b, "r") as y:
                assert x["emg2qwerty/timeseries"][()].tobytes() == y["emg2qwerty/timeseries"][()].tobytes()
                assert dict(x["emg2qwerty"].attrs) == dict(y["emg2qwerty"].attrs)
        for meta in ("metadata.csv", "splits.json", "synth.json"):
            assert (tmp_path / name / meta).read_text() == (tmp_path / "direct" / meta).read_text()
