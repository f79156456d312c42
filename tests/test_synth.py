"""emgrt.synth: determinism, emg2qwerty layout, typing behaviour, splits, signal content, CLI."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

import emgrt.cli
from emgrt.charset import BACKSPACE, ENTER, apply_backspaces, emg2qwerty_charset
from emgrt.errors import ConfigError
from emgrt.synth import DatasetConfig, Difficulty, SessionSpec, generate_dataset, make_user, render_session
from emgrt.synth.keyboard import RIGHT, needs_shift, place_of
from emgrt.synth.physiology import render_hand
from emgrt.synth.text import KeyEvent, sample_typist, type_session, type_text

CS = emg2qwerty_charset()
TINY = DatasetConfig(users=3, sessions=3, minutes=0.2, seed=7, test_users=1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "ds"
    generate_dataset(out, TINY, workers=1)
    return out


def _sessions(root: Path) -> dict[str, dict]:
    """Everything stored in each session file, read with h5py directly."""
    out = {}
    for f in sorted(root.glob("*.hdf5")):
        with h5py.File(f, "r") as h:
            g = h["emg2qwerty"]
            ts = g["timeseries"][:]
            out[f.stem] = {
                "time": ts["time"],
                "left": ts["emg_left"],
                "right": ts["emg_right"],
                "attrs": {k: (v.decode() if isinstance(v, bytes) else v) for k, v in g.attrs.items()},
            }
    return out


def _keys_to_text(keys: list[str]) -> str:
    return CS.labels_to_str(CS.keys_to_labels(keys))


def _far_from_keys(n: int, presses_s: np.ndarray, margin_s: float = 0.5) -> np.ndarray:
    far = np.ones(n, dtype=bool)
    for p in presses_s:
        far[max(0, int((p - margin_s) * 2000)) : int((p + margin_s) * 2000)] = False
    return far


# -- determinism ---------------------------------------------------------------------------------
def test_same_seed_is_identical_and_workers_do_not_matter(tiny, tmp_path):
    generate_dataset(tmp_path / "again", TINY, workers=2)
    a, b = _sessions(tiny), _sessions(tmp_path / "again")
    assert a.keys() == b.keys() and len(a) == TINY.users * TINY.sessions
    for name in a:
        for field in ("time", "left", "right"):
            assert a[name][field].tobytes() == b[name][field].tobytes(), (name, field)
        assert a[name]["attrs"] == b[name]["attrs"]
    assert (tiny / "splits.json").read_text() == (tmp_path / "again" / "splits.json").read_text()
    assert (tiny / "metadata.csv").read_text() == (tmp_path / "again" / "metadata.csv").read_text()


def test_different_seed_differs():
    spec = SessionSpec(
        seed=1, user_index=0, session_index=0, user="u", session_name="s", start_unix=1.6e9, minutes=0.1
    )
    a, b = render_session(spec), render_session(dataclasses.replace(spec, seed=2))
    c = render_session(dataclasses.replace(spec, session_index=1))
    assert not np.array_equal(a.emg_left, b.emg_left)
    assert a.keystrokes != b.keystrokes
    assert not np.array_equal(a.emg_right, c.emg_right)


# -- file layout ---------------------------------------------------------------------------------
def test_layout_shapes_dtypes(tiny):
    f = next(tiny.glob("*.hdf5"))
    with h5py.File(f, "r") as h:
        assert list(h.keys()) == ["emg2qwerty"]
        ds = h["emg2qwerty"]["timeseries"]
        assert ds.dtype.names == ("time", "emg_left", "emg_right")
        assert ds.dtype["time"] == np.float64
        assert ds.dtype["emg_left"].base == np.float32 and ds.dtype["emg_left"].shape == (16,)
        assert ds.dtype["emg_right"].base == np.float32 and ds.dtype["emg_right"].shape == (16,)
        assert ds.shape == (int(TINY.minutes * 60 * 2000),)
        attrs = h["emg2qwerty"].attrs
        assert attrs["session_name"] == f.stem
        assert attrs["condition"] == "on_keyboard"
        assert float(attrs["duration_mins"]) == pytest.approx(TINY.minutes)
        keys = json.loads(attrs["keystrokes"])
        prompts = json.loads(attrs["prompts"])
    assert keys and all(set(k) == {"key", "start", "end"} for k in keys)
    assert prompts and all(set(p) == {"name", "start", "end", "payload"} for p in prompts)
    assert all(isinstance(p["payload"]["text"], str) and p["payload"]["text"] for p in prompts)


def test_time_and_keystrokes_inside_recording(tiny):
    for name, s in _sessions(tiny).items():
        t = s["time"]
        assert 1.5e9 < t[0] < 1.8e9  # a plausible unix date
        assert np.allclose(np.diff(t), 1 / 2000, rtol=0, atol=1e-6)  # float64 unix time: ~0.2 us steps
        keys = json.loads(s["attrs"]["keystrokes"])
        starts = np.array([k["start"] for k in keys])
        ends = np.array([k["end"] for k in keys])
        assert np.all(np.diff(starts) >= 0), name
        assert np.all(ends > starts)
        assert starts.min() >= t[0] and ends.max() <= t[-1]
        for p in json.loads(s["attrs"]["prompts"]):
            assert t[0] <= p["start"] < p["end"] <= t[-1]
        assert {k["key"] for k in keys} <= set(CS.keys), "every key is an emg2qwerty pynput name"
        assert np.isfinite(s["left"]).all() and np.isfinite(s["right"]).all()


# -- typing behaviour ----------------------------------------------------------------------------
def _check_prompt_typing(keys: list[dict], prompts: list[dict]) -> int:
    """Assert each prompt's keystrokes leave exactly its text plus enter; return backspace count."""
    n_back = 0
    for p in prompts:
        mine = [k["key"] for k in keys if p["start"] <= k["start"] <= p["end"]]
        typed = _keys_to_text(mine)
        assert mine[-1] == "Key.enter"
        assert apply_backspaces(typed) == CS.clean_str(p["payload"]["text"]) + ENTER, (typed, p)
        n_back += typed.count(BACKSPACE)
    return n_back


def test_typed_text_equals_prompts_in_files(tiny):
    for s in _sessions(tiny).values():
        _check_prompt_typing(json.loads(s["attrs"]["keystrokes"]), json.loads(s["attrs"]["prompts"]))


def test_typos_are_always_corrected():
    typist = dataclasses.replace(sample_typist(np.random.default_rng(3)), typo_rate=0.25)
    rng = np.random.default_rng(4)
    events, prompts = type_session(300.0, typist, rng)
    keys = [e.as_dict(0.0) for e in events]
    assert len(prompts) > 10
    assert _check_prompt_typing(keys, prompts) > 30  # many typos were made and all were fixed


def test_shift_held_around_shifted_keys():
    typist = sample_typist(np.random.default_rng(5))
    events = type_text("Hello World? I said OK.", 1.0, typist, np.random.default_rng(6))
    shifted = [e for e in events if len(e.key) == 1 and needs_shift(e.key)]
    shifts = [e for e in events if e.key == "Key.shift"]
    assert len(shifted) >= 5 and len(shifts) >= len(shifted)
    for e in shifted:
        assert any(s.start < e.start and s.end > e.end for s in shifts), e
        held = [s for s in shifts if s.start < e.start and s.end > e.end]
        assert all(s.place.hand != e.place.hand for s in held), "shift comes from the other hand"


def test_capitals_in_files_follow_a_shift(tiny):
    for s in _sessions(tiny).values():
        keys = json.loads(s["attrs"]["keystrokes"])
        shifts = [k for k in keys if k["key"] == "Key.shift"]
        caps = [k for k in keys if len(k["key"]) == 1 and k["key"].isupper()]
        assert caps, "sentence case gives every prompt a capital"
        for c in caps:
            assert any(sh["start"] < c["start"] and sh["end"] > c["end"] for sh in shifts), c


# -- splits --------------------------------------------------------------------------------------
def test_splits_consistent(tiny):
    splits = json.loads((tiny / "splits.json").read_text())
    meta = (tiny / "metadata.csv").read_text().splitlines()
    assert meta[0] == "user,session,duration_mins,num_keystrokes,num_prompts,quality_check_tags"
    user_of = {line.split(",")[1]: line.split(",")[0] for line in meta[1:]}
    assert set(user_of) == {p.stem for p in tiny.glob("*.hdf5")}
    train_u, test_u = set(splits["train_users"]), set(splits["test_users"])
    assert len(test_u) == TINY.test_users and not train_u & test_u
    assert train_u | test_u == set(user_of.values())
    g = splits["generic"]
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not set(g[a]) & set(g[b]), (a, b)
    assert all(user_of[s] in train_u for s in g["train"] + g["val"])
    assert all(user_of[s] in test_u for s in g["test"])
    assert set(splits["personal"]) == test_u
    for u, parts in splits["personal"].items():
        names = parts["train"] + parts["val"] + parts["test"]
        assert len(names) == len(set(names)) == TINY.sessions
        assert all(user_of[s] == u for s in names)
        assert len(parts["train"]) >= 1 and len(parts["val"]) == 1 and len(parts["test"]) == 1
        assert set(parts["test"]) <= set(g["test"])
        assert max(parts["train"]) < min(parts["test"])  # names start with the date: test is later
    every = set(g["train"]) | set(g["val"]) | {s for p in splits["personal"].values() for v in p.values() for s in v}
    assert every == set(user_of)


# -- the signal ----------------------------------------------------------------------------------
def test_keystrokes_carry_power():
    r = render_session(SessionSpec(3, 0, 0, "u", "s", 1.6e9, 0.5))
    for hand, emg in enumerate((r.emg_left, r.emg_right)):
        presses = np.array([e.start for e in r.events if e.place.hand == hand])
        near = np.concatenate([emg[int(p * 2000) - 100 : int(p * 2000) + 200] for p in presses])
        far = emg[_far_from_keys(len(emg), np.array([e.start for e in r.events]))]
        assert len(far) > 2000
        assert (near**2).mean() > 8 * (far**2).mean()
        assert 1.0 < np.sqrt((far**2).mean()) < 10.0  # rest: a few units


def _finger_patterns(user_index: int, keys: list[str], n: int = 40) -> dict[str, np.ndarray]:
    """Mean log power per electrode of each key's presses (right hand, no noise), split in halves."""
    user = make_user(11, user_index)
    diff = Difficulty.from_level(1.0)
    events, t = [], 0.5
    for _ in range(n):
        for k in keys:
            events.append(KeyEvent(k, t, t + 0.1, place_of(k)))
            t += 0.6
    hand = user.hands[RIGHT]
    emg = render_hand(
        events, hand, user.activation, int((t + 0.5) * 2000), np.random.default_rng(0),
        rotation=hand.rotation, overlap=diff.key_overlap, onset_jitter_s=diff.onset_jitter_s,
    )
    power = {k: [] for k in keys}
    for e in events:
        i = int(e.start * 2000)
        power[e.key].append((emg[i - 200 : i + 300] ** 2).mean(axis=0))
    return {k: np.log(np.array(v) + 1.0) for k, v in power.items()}  # +1 uV^2: the noise floor


@pytest.mark.parametrize("user_index", [0, 1])
def test_fingers_have_distinct_spatial_patterns(user_index):
    p = _finger_patterns(user_index, ["j", "u", "l"])  # index, index (top row), ring
    mean = {k: v.mean(axis=0) for k, v in p.items()}

    def corr(a, b):
        return np.corrcoef(a, b)[0, 1]

    same_finger = corr(mean["j"], mean["u"])
    other_finger = corr(mean["j"], mean["l"])
    assert same_finger > other_finger + 0.2
    assert other_finger < 0.8

    # Keys of one finger are still separable: halves of one key agree better than two keys.
    def dist(a, b):
        return np.linalg.norm(a - b)

    half = dist(p["j"][0::2].mean(0), p["j"][1::2].mean(0))
    assert dist(mean["j"], mean["u"]) > 1.5 * half


def test_difficulty_increases_noise():
    rest = []
    for d in (0.0, 1.0, 2.0):
        r = render_session(SessionSpec(5, 0, 0, "u", "s", 1.6e9, 0.2, difficulty=d))
        far = _far_from_keys(len(r.time), np.array([e.start for e in r.events]))
        rest.append(float(np.sqrt((r.emg_left[far] ** 2).mean())))
    assert rest[0] < rest[1] < rest[2]
    assert rest[2] > 1.5 * rest[0]


def test_difficulty_knob_monotone():
    levels = [Difficulty.from_level(d) for d in np.linspace(0, 3, 13)]
    for field in ("noise", "user_variability", "session_variability", "key_overlap", "onset_jitter_s"):
        values = [getattr(x, field) for x in levels]
        assert all(b >= a for a, b in zip(values, values[1:])), field
        assert values[-1] > values[0], field
    with pytest.raises(ConfigError):
        Difficulty.from_level(-0.5)


def test_one_minute_renders_fast(tmp_path):
    from emgrt.synth.session import synth_session

    spec = SessionSpec(9, 0, 0, "u", "speed", 1.6e9, 0.5)
    synth_session(dataclasses.replace(spec, minutes=0.05), tmp_path)  # warm caches (word list)
    t = time.process_time()  # CPU time: other jobs on the machine do not count
    result = synth_session(spec, tmp_path)
    seconds = time.process_time() - t
    assert seconds < 0.6, f"0.5 min took {seconds:.2f} CPU s (< 50x real time)"
    assert result.cpu_seconds <= seconds + 0.01


# -- command line --------------------------------------------------------------------------------
@pytest.fixture
def cli(monkeypatch):
    """emgrt.cli.main with only the synth command registered (other commands are not under test)."""
    monkeypatch.setattr(emgrt.cli, "COMMAND_MODULES", ("synth",))
    return emgrt.cli.main


def test_cli_writes_dataset_and_summary(cli, tmp_path, capsys):
    out = tmp_path / "ds"
    args = ["synth", str(out), "--users", "2", "--sessions", "2", "--minutes", "0.1", "--workers", "1"]
    assert cli(args) == 0
    text = capsys.readouterr().out
    assert "2 users" in text and "4 sessions" in text and "x real time" in text
    assert len(list(out.glob("*.hdf5"))) == 4
    assert cli(args + ["--json", "--seed", "1"]) == 0  # rewriting a synth dataset is allowed
    summary = json.loads(capsys.readouterr().out)
    assert summary["sessions"] == 4 and summary["keystrokes"] > 0 and summary["realtime_factor"] > 0
    assert len(list(out.glob("*.hdf5"))) == 4, "the previous dataset's sessions were removed"


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--users", "0"], "--users"),
        (["--minutes", "0"], "--minutes"),
        (["--users", "1"], "--test-users"),
        (["--sessions", "1"], "--sessions"),
        (["--sessions", "2", "--test-sessions", "2"], "--sessions"),
        (["--difficulty", "-1"], "--difficulty"),
        (["--workers", "0"], "--workers"),
    ],
)
def test_cli_bad_arguments(cli, tmp_path, capsys, extra, needle):
    out = tmp_path / "ds"
    assert cli(["synth", str(out), "--minutes", "0.1", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("emgrt synth: error:") and needle in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


def test_cli_refuses_foreign_folder(cli, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    args = ["synth", str(out), "--users", "2", "--sessions", "2", "--minutes", "0.1", "--workers", "1"]
    assert cli(args) == 2
    assert "--force" in capsys.readouterr().err
    assert cli(args + ["--force"]) == 0
    assert (out / "notes.txt").read_text() == "keep me"


def test_configs_validate():
    with pytest.raises(ConfigError, match="--sessions >= 2"):
        DatasetConfig(users=3, sessions=1, test_users=0).validate()
    DatasetConfig(users=1, sessions=1, test_users=0, val_sessions=0).validate()
