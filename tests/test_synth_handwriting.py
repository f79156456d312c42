"""emgrt.synth.handwriting: GNI-layout handwriting sessions (`emgrt synth --task handwriting`): the
files load as the release's reader loads them, the prompts and their charset, the pen paths and
the arm motion kept for the IMU, determinism, users, the signal, the corpus split and the CLI."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emgrt.errors import ConfigError
from emgrt.io.gni import HW_BACKSPACE, HW_PAUSE, HW_SPACE, GniSession
from emgrt.synth import generate_gestures
from emgrt.synth.gestures import GestureDatasetConfig
from emgrt.synth.handwriting import CHARSET, CORPUS_CSV, LETTERS, MAX_CHARS, HandwritingDatasetConfig, HandwritingSessionSpec
from emgrt.synth.handwriting import PenTrack, WrittenPrompt, font_glyphs, generate_handwriting, make_hw_prompt, make_writer
from emgrt.synth.handwriting import prompt_words, render_handwriting_session, writing_drive
from emgrt.synth.keyboard import INDEX
from emgrt.synth.oneband import write_gni
from emgrt.synth.physiology import DEEP, DRIVE_HZ, EXT, FLEX, RAD, ULN, Activation
from emgrt.synth.text import prompt_table
from test_synth_gestures import _read, assert_corpus_holds_users_out, assert_same_sessions, assert_sessions_differ
from test_synth_gestures import check_cli_rejects, check_cli_writes, load_sessions

FS = 2000
TINY = HandwritingDatasetConfig(users=3, sessions=2, minutes=0.25, seed=11, test_users=1, val_sessions=1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("handwriting") / "ds"
    generate_handwriting(out, TINY, workers=1)
    return out


@pytest.fixture(scope="module")
def long_session():
    return render_handwriting_session(HandwritingSessionSpec(3, 1, 0, 1.7e9, 1.0))


def _files(root: Path) -> list[Path]:
    return sorted(root.glob("handwriting_user_*_dataset_*.hdf5"))


# -- the files -------------------------------------------------------------------------------------
def test_files_load_with_gni_session(tiny):
    for prompts, stages in load_sessions(_files(tiny), "handwriting", TINY):
        assert len(prompts) >= 2 and list(prompts.columns) == ["prompt", "start", "end"]
        assert list(stages["name"]) == ["rest", "handwriting_1", "handwriting_2"]
        assert list(stages["posture"]) == ["arm_on_table", "writing_on_table", "writing_in_air"]


def test_readable_by_release_reader_logic(tiny):
    for f in _files(tiny):
        r = _read(f)
        assert r["task"] == "handwriting" and r["fields"] == {"time", "emg"}
        t = r["rows"]["time"]
        assert r["rows"]["emg"].dtype == np.float32 and np.all(np.diff(t) > 0) and 1.6e9 < t[0] < 1.8e9
        p, st = r["prompts"], r["stages"]
        assert p["start"].dtype == np.float64 and p["end"].dtype == np.float64
        start, end = p["start"].to_numpy(), p["end"].to_numpy()
        assert np.all(start < end), "every prompt starts before it ends"
        assert t[0] <= start.min() and end.max() <= t[-1], "prompts lie within the recording"
        assert np.all(start[1:] > end[:-1]), "prompts follow one another"
        assert (start > st["end"].iloc[0]).all(), "nothing is written during the rest stage"
        for a, b in zip(start, end):  # no prompt crosses a stage boundary
            inside = (st["start"] <= a) & (b <= st["end"])
            assert inside.sum() == 1 and st["name"][inside].iloc[0] != "rest"
        assert st["start"].iloc[0] == pytest.approx(t[0]) and st["end"].iloc[-1] == pytest.approx(t[-1])
        assert np.allclose(st["end"].to_numpy()[:-1], st["start"].to_numpy()[1:])  # stages tile the file
        for text in p["prompt"]:
            assert isinstance(text, str) and text and set(text) <= set(CHARSET), text


def test_special_characters_round_trip(long_session, tmp_path):
    """The arrows are stored as the release stores them and read back unchanged."""
    texts = ["tha" + HW_BACKSPACE + "e cat", "made" + HW_SPACE + "merry", "7"]
    written = [WrittenPrompt(x, 5.0 + 4 * i, 7.0 + 4 * i, "handwriting_1") for i, x in enumerate(texts)]
    path = write_gni(dataclasses.replace(long_session, written=written), tmp_path)
    assert path.name == "handwriting_user_001_dataset_000.hdf5"
    assert list(pd.read_hdf(path, "prompts")["prompt"]) == texts
    with GniSession(path) as g:
        assert list(g.prompts()["prompt"]) == texts


# -- prompts ---------------------------------------------------------------------------------------
def test_prompts_are_english_words_in_the_handwriting_charset():
    rng = np.random.default_rng(0)
    prompts = [make_hw_prompt(rng) for _ in range(3000)]
    vocabulary = {w for t in prompt_table()[0] for w in prompt_words(t)}
    assert set("".join(prompts)) <= set(CHARSET) and HW_PAUSE not in "".join(prompts)
    assert all(p == p.lower() and p.strip() == p and "  " not in p for p in prompts)
    assert all(0 < len(p) <= MAX_CHARS + 2 for p in prompts)
    words = [w for p in prompts for w in p.replace(HW_SPACE, " ").split() if HW_BACKSPACE not in w]
    english = [w for w in words if not w.isdigit() and len(w) > 1]
    assert np.mean([w in vocabulary for w in english]) == 1.0, "words come from the English prompt source"
    counts = np.array([len(p.replace(HW_SPACE, " ").split()) for p in prompts])
    assert set(counts) == {1, 2, 3} and 0.3 < np.mean(counts == 1) < 0.7, "words and short phrases"
    explicit = [p for p in prompts if HW_SPACE in p]
    corrected = [p for p in prompts if HW_BACKSPACE in p]
    assert 0.03 < len(explicit) / len(prompts) < 0.2 and all(" " not in p for p in explicit)
    assert 0.05 < len(corrected) / len(prompts) < 0.15
    for p in corrected:  # a wrong letter, the backspace, then the right one
        i = p.index(HW_BACKSPACE)
        assert p.count(HW_BACKSPACE) == 1 and p[i - 1] in LETTERS and p[i + 1] in LETTERS and p[i - 1] != p[i + 1]
    assert any(p.isdigit() for p in prompts) and any(c in p for p in prompts for c in ".,'")
    assert make_hw_prompt(np.random.default_rng(1), max_words=0).strip(HW_BACKSPACE + LETTERS) == ""


def test_font_covers_the_charset():
    for font in ("futural", "scripts"):
        glyphs = font_glyphs(font)
        assert set(glyphs) == set(CHARSET) - {" ", HW_SPACE, HW_BACKSPACE}
        for g in glyphs.values():
            assert g.advance > 0 and g.strokes and all(s.ndim == 2 and s.shape[1] == 2 for s in g.strokes)
        for tall in "l1":  # baseline 0, ascender and digit height 1
            ys = np.concatenate([s[:, 1] for s in glyphs[tall].strokes])
            assert ys.min() == pytest.approx(0, abs=0.05) and ys.max() == pytest.approx(1, abs=0.05)
        xs = np.concatenate([s[:, 1] for s in glyphs["x"].strokes])
        assert 0.3 < xs.max() < 0.8 and xs.min() == pytest.approx(0, abs=0.05)  # x-height below it


def test_missing_font_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "HersheyFonts", None)
    font_glyphs.cache_clear()
    try:
        with pytest.raises(ConfigError, match="Hershey-Fonts") as err:
            generate_handwriting(tmp_path / "x", TINY)
        assert "\n" not in str(err.value)
        assert not (tmp_path / "x").exists(), "nothing touched before the failure"
    finally:
        monkeypatch.undo()
        font_glyphs.cache_clear()


# -- the pen and the arm ---------------------------------------------------------------------------
def test_pen_paths_and_kinematics(long_session):
    r = long_session
    k, n = r.kinematics, len(r.time)
    assert k.pen.shape == (n, 2) and k.pen_down.shape == (n,) and k.wrist.shape == (n, 3) and k.wrist_angles.shape == (n, 2)
    assert k.pen_down.dtype == bool and all(np.isfinite(a).all() for a in (k.pen, k.wrist, k.wrist_angles))
    rest = slice(0, int(r.stages[0].end * FS))
    assert not k.pen_down[rest].any(), "the pen rests during the rest stage"
    t = np.arange(n) / FS
    inside = np.zeros(n, dtype=bool)
    for p in r.written:
        during = (t >= p.start) & (t <= p.end)
        inside |= during
        assert 0.05 < k.pen_down[during].mean() < 0.9, p.text  # reading, strokes, lifts and pauses
    assert not k.pen_down[~inside].any(), "the pen is down only while a prompt is written"
    table, air = (slice(int(s.start * FS) + 2 * FS, int(s.end * FS) - FS) for s in r.stages[1:])
    assert np.allclose(k.wrist[table, 2], 0.0, atol=1e-3) and k.wrist[air, 2].mean() > 0.2, "the arm is raised to write in the air"
    style = make_writer(3, 1)
    long = max(r.written, key=lambda p: len(p.text))
    during = (t >= long.start) & (t <= long.end) & k.pen_down
    height = np.ptp(k.pen[during, 1])
    assert 0.5 * style.size_cm / 100 < height < 3.0 * style.size_cm / 100, "letters of the writer's size (m)"
    assert np.ptp(k.wrist[during, 0]) > 0.5 * np.ptp(k.pen[during, 0]), "the arm carries the hand along the line"
    assert np.degrees(np.ptp(k.wrist_angles[during], axis=0)).min() > 1.0, "the fingers' strokes move the wrist"


def test_stroke_directions_drive_their_muscles():
    """Up-down strokes drive the flexors and extensors, left-right ones the radial and ulnar parts."""
    style = make_writer(4, 0, 0.0)
    act = Activation(lead_s=0.05, force=0.8, tonic=0.0)
    n_grid = 5 * DRIVE_HZ
    wave = 0.5 * style.size_cm * np.sin(2 * np.pi * 1.5 * np.arange(n_grid) / DRIVE_HZ)
    zero = np.zeros(n_grid)
    share = {}
    for name, pen in (("vertical", np.stack([zero, wave], 1)), ("horizontal", np.stack([wave, zero], 1))):
        tr = PenTrack(pen, np.ones(n_grid, dtype=bool), np.zeros((n_grid, 2)))
        drive = writing_drive(tr, [], [], style, act, np.random.default_rng(0), onset_jitter_s=0.0)
        d = drive.mean(axis=0)
        share[name] = (d[INDEX * 5 + FLEX] + d[INDEX * 5 + DEEP] + d[INDEX * 5 + EXT]) / (d[INDEX * 5 + RAD] + d[INDEX * 5 + ULN])
    assert share["vertical"] > 3.0 * share["horizontal"], share


# -- determinism, users ------------------------------------------------------------------------------
def test_deterministic_and_workers_do_not_matter(tiny, tmp_path):
    again = tmp_path / "again"
    generate_handwriting(again, TINY, workers=2)
    assert_same_sessions(_files(tiny), _files(again))
    assert (tiny / CORPUS_CSV).read_text() == (again / CORPUS_CSV).read_text()
    assert (tiny / "synth.json").read_text() == (again / "synth.json").read_text()


def test_users_sessions_and_seeds_differ():
    def labels(r):
        return [(p.text, p.start) for p in r.written], r.kinematics.pen.tobytes()

    assert_sessions_differ(render_handwriting_session, HandwritingSessionSpec, 0.3, labels)
    styles = [make_writer(5, u) for u in range(6)]
    for field in ("size_cm", "slant", "speed", "smooth_s", "lift_s"):
        assert len({getattr(s, field) for s in styles}) == 6, field
    assert not np.allclose(styles[0].patterns, styles[1].patterns)
    assert {make_writer(7, u).font for u in range(12)} == {"futural", "scripts"}, "some print, some write script"


# -- the signal ------------------------------------------------------------------------------------
def test_writing_carries_energy_above_rest(long_session):
    r = long_session
    emg = r.emg.astype(np.float64)
    rest = emg[: int(r.stages[0].end * FS)]
    rest_rms = np.sqrt((rest**2).mean())
    assert 3e-7 < rest_rms < 2e-5, rest_rms  # volts: a few microvolts at rest
    assert np.abs(emg).max() < 5e-3
    writing = emg[r.kinematics.pen_down]
    assert np.sqrt((writing**2).mean()) > 2.0 * rest_rms
    table = r.stages[1]
    pauses = emg[int(table.start * FS) : int(table.end * FS)][~r.kinematics.pen_down[int(table.start * FS) : int(table.end * FS)]]
    assert np.sqrt((writing**2).mean()) > 1.3 * np.sqrt((pauses**2).mean()), "strokes louder than pen lifts and pauses"
    spec = np.abs(np.fft.rfft(emg, axis=0)) ** 2
    f = np.fft.rfftfreq(len(emg), 1 / FS)
    assert spec[f < 15].sum() < 0.02 * spec[f > 40].sum(), "high-passed at 40 Hz as gestures are"


# -- the corpus ------------------------------------------------------------------------------------
def test_corpus_covers_files_and_holds_test_users_out(tiny):
    assert_corpus_holds_users_out(tiny, CORPUS_CSV, _files(tiny), TINY)
    synth = json.loads((tiny / "synth.json").read_text())
    assert synth["task"] == "handwriting" and synth["seed"] == TINY.seed


def test_one_band_tasks_replace_each_other(tmp_path):
    out = tmp_path / "ds"
    small = dict(users=2, sessions=1, minutes=0.1, test_users=0, val_sessions=0)
    generate_gestures(out, GestureDatasetConfig(**small))
    generate_handwriting(out, HandwritingDatasetConfig(**small))
    assert sorted(p.name for p in out.iterdir()) == [CORPUS_CSV, *(f.name for f in _files(out)), "synth.json"]
    generate_gestures(out, GestureDatasetConfig(**small))
    assert not _files(out) and not (out / CORPUS_CSV).exists()


# -- command line ------------------------------------------------------------------------------------
from test_synth import cli  # noqa: E402, F401  (emgrt.cli.main with only synth registered)


def test_cli_writes_handwriting_and_summary(cli, tmp_path, capsys):
    text, summary = check_cli_writes(cli, capsys, tmp_path / "h", "handwriting", _files, CORPUS_CSV)
    assert " prompts, " in text and " characters, " in text
    assert summary["prompts"] > 0 and summary["characters"] >= summary["prompts"]


def test_cli_help_explains_handwriting(cli, capsys):
    with pytest.raises(SystemExit):
        cli(["synth", "--help"])
    text = capsys.readouterr().out
    assert "--task {typing,gestures,handwriting}" in text and "handwriting_corpus.csv" in text


@pytest.mark.parametrize("extra, needle", [(["--users", "1"], "--test-users"), (["--sessions", "1"], "--sessions")])
def test_cli_bad_arguments(cli, tmp_path, capsys, extra, needle):
    check_cli_rejects(cli, capsys, tmp_path / "h", ["--task", "handwriting", "--minutes", "0.1", *extra], needle)
