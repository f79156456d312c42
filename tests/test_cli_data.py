"""`emgrt data stats` / `emgrt data plot` and the CLI's one-line errors."""

import json

import pytest

from conftest import make_session_arrays
from emgrt.cli import main
from emgrt.io.session import write_session


@pytest.fixture
def dataset(tmp_path):
    for i, user in enumerate(["u1", "u1", "u2"]):
        a = make_session_arrays(20000, seed=i)
        write_session(tmp_path / f"s{i}.hdf5", **{**a, "user": user, "session_name": f"s{i}"})
    return tmp_path


def test_stats_json(dataset, capsys):
    assert main(["data", "stats", str(dataset), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["sessions"] == 3 and stats["users"] == 2
    assert stats["hours"] == pytest.approx(3 * 19999 / 2000 / 3600)
    # 8 of the 9 fixture keystrokes are in the vocabulary (Key.tab is not).
    assert stats["keystrokes"] == 24 and stats["keystrokes_out_of_vocabulary"] == 3
    assert stats["class_histogram"]["H"] == 3 and stats["class_histogram"]["\u21e7"] == 3
    assert stats["sessions_per_user"] == {"u1": 2, "u2": 1}


def test_stats_table(dataset, capsys):
    assert main(["data", "stats", str(dataset)]) == 0
    out = capsys.readouterr().out
    assert "sessions" in out and "⇧" in out


def test_plot_writes_png(dataset, tmp_path):
    out = tmp_path / "plot.png"
    assert main(["data", "plot", str(dataset / "s0.hdf5"), "--seconds", "3", "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 20_000


@pytest.mark.parametrize(
    "argv,match",
    [(["data", "stats", "/nonexistent-dir"], "not a directory"),
     (["data", "plot", "/nonexistent.hdf5"], "no such file"),
     (["data", "plot", "{s0}", "--start", "999"], "outside the session")],
)
def test_user_errors_are_one_line(dataset, capsys, argv, match):
    argv = [a.format(s0=dataset / "s0.hdf5") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1 and "Traceback" not in err


def test_empty_dataset_dir(tmp_path, capsys):
    assert main(["data", "stats", str(tmp_path)]) == 2
    assert "no .hdf5 session files" in capsys.readouterr().err


def test_missing_training_extra_is_a_one_line_error(monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ModuleNotFoundError
    for name in [m for m in sys.modules if m.startswith("emgrt.train")]:
        monkeypatch.delitem(sys.modules, name)
    assert main(["model", "info", "tiny"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'emgrt[train]'" in err and err.count("\n") == 1
