"""Bad labels in a session file and sessions too short for the model, through every command that
reads them: a one-line error naming the file, the entry and the fix, or an honest counted result;
never a traceback.

The files are sessions made by `emgrt synth` (copied, then their JSON attributes rewritten with
h5py), so the good case is exactly what the project writes.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from emgrt.cli import main
from emgrt.io.dataset import DatasetDir
from emgrt.io.session import SessionFile, cut_session


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "data"
    argv = ["synth", str(out), "--users", "2", "--sessions", "2", "--minutes", "0.1", "--workers", "1"]
    assert main(argv) == 0
    return out


def split_session(data_dir):
    """The session every command below reads: the (one) session of the test split."""
    return DatasetDir(data_dir).sessions("test")[0]


def dataset_with(synth_data, dst, attr: str, edit):
    """A copy of the synthetic dataset whose test session has its JSON attribute ``attr`` rewritten
    by ``edit`` (list -> list); returns the folder and that session's path."""
    shutil.copytree(synth_data, dst)
    path = split_session(dst)
    with h5py.File(path, "r+") as f:
        g = f["emg2qwerty"]
        g.attrs[attr] = json.dumps(edit(json.loads(g.attrs[attr])))
    return dst, path


def entry(i: int, drop: str | None = None, replace=None, **fields):
    """An edit of a JSON list: entry ``i`` gets ``fields`` (or loses ``drop``, or becomes ``replace``)."""

    def edit(items):
        items = list(items)
        if replace is not None:
            items[i] = replace(items[i])
        elif drop is not None:
            items[i] = {k: v for k, v in items[i].items() if k != drop}
        else:
            items[i] = {**items[i], **fields}
        return items

    return edit


NOT_AN_OBJECT = r"keystrokes\[2\] must be an object with key, start, end"
BAD_ENTRIES = {  # kind: (attribute, edit, what the one-line error says)
    "key-int": ("keystrokes", entry(2, key=5), r"keystrokes\[2\]\.key must be a string"),
    "key-null": ("keystrokes", entry(2, key=None), r"keystrokes\[2\]\.key must be a string"),
    "start-str": ("keystrokes", entry(2, start="x"), r"keystrokes\[2\]\.start must be a finite number"),
    "start-bool": ("keystrokes", entry(2, start=True), r"keystrokes\[2\]\.start must be a finite number"),
    "start-nan": ("keystrokes", entry(2, start=float("nan")), r"keystrokes\[2\]\.start must be a finite number"),
    "start-huge-int": ("keystrokes", entry(2, start=10**400), r"keystrokes\[2\]\.start must be a finite number"),
    "end-inf": ("keystrokes", entry(2, end=float("inf")), r"keystrokes\[2\]\.end must be a finite number"),
    "end-list": ("keystrokes", entry(2, end=[1.0]), r"keystrokes\[2\]\.end must be a finite number"),
    "end-null": ("keystrokes", entry(2, end=None), r"keystrokes\[2\]\.end must be a finite number"),
    "unknown-key-bad-start": ("keystrokes", entry(2, key="Key.ctrl_l", start="x"), r"keystrokes\[2\]\.start must be"),
    "end-missing": ("keystrokes", entry(2, drop="end"), NOT_AN_OBJECT),
    "entry-null": ("keystrokes", entry(2, replace=lambda k: None), NOT_AN_OBJECT),
    "entry-list": ("keystrokes", entry(2, replace=lambda k: list(k.values())), NOT_AN_OBJECT),
    "prompt-payload-str": ("prompts", entry(0, payload="hi"), r"prompts\[0\]\.payload must be null or"),
    "prompt-text-int": ("prompts", entry(0, payload={"text": 3}), r"prompts\[0\]\.payload must be null or"),
    "prompt-text-null": ("prompts", entry(0, payload={"text": None}), r"prompts\[0\]\.payload must be null or"),
    "prompt-start-null": ("prompts", entry(0, start=None), r"prompts\[0\]\.start must be a finite number"),
}

COMMANDS = {  # name: argv from (dataset folder, bad session, bundle folder, scratch folder)
    "latency": lambda d, s, b, tmp: ["latency", str(s), "--bundle", b, "--json"],
    "data-plot": lambda d, s, b, tmp: ["data", "plot", str(s), "-o", str(tmp / "p.png")],
    "data-stats": lambda d, s, b, tmp: ["data", "stats", str(d)],
    "replay": lambda d, s, b, tmp: ["replay", str(s), "--speed", "20", "--max-seconds", "0.1", "--wait", "0"],
    "eval": lambda d, s, b, tmp: ["eval", b, "--data", str(d), "--json"],
}


@pytest.fixture(scope="module")
def bad_dataset(synth_data, tmp_path_factory):
    """kind -> (dataset folder, bad session), each made once."""
    made: dict = {}

    def get(kind):
        if kind not in made:
            attr, edit, _ = BAD_ENTRIES[kind]
            made[kind] = dataset_with(synth_data, tmp_path_factory.mktemp(kind) / "data", attr, edit)
        return made[kind]

    return get


@pytest.mark.parametrize("kind", BAD_ENTRIES)
def test_bad_entry_is_one_data_file_error(bad_dataset, kind):
    from emgrt.errors import DataFileError

    _, path = bad_dataset(kind)
    with pytest.raises(DataFileError, match=BAD_ENTRIES[kind][2]) as info:
        SessionFile(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: ") and "\n" not in msg and "fix or remove that entry" in msg


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", BAD_ENTRIES)
def test_every_command_gives_one_line_for_a_bad_entry(bad_dataset, tiny_bundle, tmp_path, capsys, kind, command):
    data, path = bad_dataset(kind)
    argv = COMMANDS[command](data, path, str(tiny_bundle.dir), tmp_path)
    code = main(argv)
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert code == 2 and "Traceback" not in err and out == ""
    assert lines[-1].startswith(f"emgrt {argv[0]}: error: {path}: "), err
    assert not any("error" in line for line in lines[:-1])  # latency names its provider first
    assert re.search(BAD_ENTRIES[kind][2], lines[-1])


def test_bad_entry_exit_status_of_the_installed_command(bad_dataset):
    data, path = bad_dataset("start-str")
    argv = [sys.executable, "-m", "emgrt", "data", "stats", str(data)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and f"{path}: keystrokes[2].start must be a finite number" in r.stderr


def test_valid_variants_still_load(synth_data, tmp_path):
    """What emg2qwerty's format allows: integer times, a null payload, keys outside the
    vocabulary, extra fields, no prompt name."""
    with SessionFile(split_session(synth_data)) as s:
        n_labels = len(s.key_labels)

    def edit_keys(ks):
        first = {**ks[0], "start": int(ks[0]["start"]), "end": int(ks[0]["end"]) + 1}
        return [first, {**ks[1], "key": "Key.ctrl_l", "x": 1}, *ks[2:]]

    _, path = dataset_with(synth_data, tmp_path / "data", "keystrokes", edit_keys)
    with h5py.File(path, "r+") as f:
        prompts = json.loads(f["emg2qwerty"].attrs["prompts"])
        prompts[0]["payload"] = None
        del prompts[0]["name"]
        f["emg2qwerty"].attrs["prompts"] = json.dumps(prompts)
    with SessionFile(path) as s:
        assert len(s.key_labels) == n_labels - 1  # Key.ctrl_l is out of the vocabulary
        assert s.prompts[0]["payload"] is None


# -- sessions shorter than the model's first output ---------------------------------------------
# The tiny bundle (lookahead 12 frames, subsample 4) needs 16 spectrogram frames, 304 samples
# (0.152 s), for its first output frame; shorter sessions decode to nothing, as the stream does.
SHORT = [(0.01, True), (0.1, True), (0.15, True), (0.16, False)]


def short_dataset(synth_data, dst, seconds):
    """The synthetic dataset with its test session cut to ``seconds`` around its first keystroke."""
    shutil.copytree(synth_data, dst)
    path = split_session(dst)
    with SessionFile(path) as s:
        start = float(s.key_times[0] - s.time[0]) - seconds / 2
    cut = cut_session(path, dst / "cut.tmp", start, seconds)
    cut.replace(path)
    with SessionFile(path) as s:
        keys = len(s.key_labels)
    assert keys >= 1
    return dst, path, keys


@pytest.mark.parametrize("seconds,too_short", SHORT)
def test_latency_decodes_a_short_session_as_what_it_is(synth_data, tiny_bundle, tmp_path, capsys, seconds, too_short):
    _, path, keys = short_dataset(synth_data, tmp_path / "data", seconds)
    assert main(["latency", str(path), "--bundle", str(tiny_bundle.dir), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    s = rep["per_session"][0]
    assert rep["sessions"] == 1 and s["keys"] == rep["keys"] == keys and rep["dropped_samples"] == 0
    assert abs(s["samples"]["received"] - seconds * 2000) <= 1
    assert rep["streamed_cer"] == rep["offline_cer"]  # the offline graph agrees with the stream
    if too_short:
        assert s["emitted"] == 0 and rep["streamed_cer"] == 100.0


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """The tiny bundle's model as a checkpoint whose recipe tests on whole sessions (as the shipped
    recipes do)."""
    pytest.importorskip("torch")
    from bundle_fixtures import TINY_RECIPE, make_tiny_model
    from emgrt.train.checkpoint import save_checkpoint
    from emgrt.train.recipe import Recipe

    model = make_tiny_model()
    recipe = {**TINY_RECIPE, "data": {**TINY_RECIPE["data"], "test": {"window_length": 0, "padding": [0, 0]}}}
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, {"model": model.state_dict(), "model_config": model.cfg.to_dict(),
                           "recipe": Recipe.from_dict(recipe).to_dict(), "step": 0})
    return path


@pytest.mark.parametrize("model", ["bundle", "checkpoint"])
@pytest.mark.parametrize("seconds,too_short", SHORT)
def test_eval_counts_a_short_session(synth_data, tiny_bundle, tiny_checkpoint, tmp_path, capsys, seconds, too_short, model):
    data, _, keys = short_dataset(synth_data, tmp_path / "data", seconds)
    target = str(tiny_bundle.dir) if model == "bundle" else str(tiny_checkpoint)
    assert main(["eval", target, "--data", str(data), "--json", "--threads", "1"]) == 0
    res = json.loads(capsys.readouterr().out)
    (user,) = res["users"].values()
    assert user["items"] == 1 and res["overall"]["reference_length"] == keys
    if too_short:
        assert res["overall"]["deletions"] == keys and res["overall"]["insertions"] == 0
        assert res["overall"]["cer"] == 100.0


def test_synth_sessions_load_with_their_labels(synth_data):
    for path in sorted(synth_data.glob("*.hdf5")):
        with SessionFile(path) as s:
            assert len(s.keystrokes) > 0 and np.all(np.isfinite(s.key_times))
            assert all(isinstance(p["payload"]["text"], str) for p in s.prompts)
