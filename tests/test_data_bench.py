"""`emgrt bench data` runs end to end on a tiny dataset (figures are not checked: no wall-clock thresholds)."""

import json

import pytest

pytest.importorskip("torch")

from test_data_fixtures import make_dataset  # noqa: E402

from emgrt.cli import main  # noqa: E402

pytestmark = pytest.mark.torch


def test_bench_data_json(tmp_path, capsys):
    root = make_dataset(tmp_path / "ds", (21_000, 17_000, 33_000, 12_500))
    rc = main(["bench", "data", "--data", str(root), "--windows", "6", "--rounds", "1", "--json"])
    assert rc == 0
    r = json.loads(capsys.readouterr().out)
    assert r["windows"] == 6 and r["workers"] == 2
    for name in ("naive", "single_process", "tuned", "tuned_cold"):
        assert r[name]["windows"] == 6 and r[name]["windows_per_s"] > 0 and r[name]["mb_per_s"] > 0
    assert r["speedup"] == pytest.approx(r["tuned"]["windows_per_s"] / r["naive"]["windows_per_s"], rel=0.01)
    waste = r["padding_waste"]
    assert set(waste) == {"train_windows", "eval_sessions"}
    assert 0 <= waste["train_windows"]["bucketed"] <= waste["train_windows"]["random"] < 1
    assert waste["eval_sessions"]["items"] == 4
    assert set(r["naive_ms_per_window"]) >= {"open", "read", "spectrogram", "total"}
    assert r["background_cpu"] >= 0.0


def test_bench_data_errors(tmp_path, capsys):
    assert main(["bench", "data", "--data", str(tmp_path / "nope"), "--windows", "2"]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main(["bench", "data", "--windows", "0"]) == 2
    assert "--windows: must be an integer >= 1" in capsys.readouterr().err
