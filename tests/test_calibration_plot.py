"""The calibration-curve PNG reads what `results.sh personal` writes."""

import json

import pytest

from emgrt.errors import EmgrtError
from emgrt.viz.calibration_plot import main, read_curves


def _write(folder, user, minutes, before, after, secs):
    d = {"cer_before": {"greedy": before[0], "char-lm": before[1]},
         "cer_after": {"greedy": after[0], "char-lm": after[1]}, "fine_tune_s": secs}
    (folder / f"calibrate-{user}-{minutes}.json").write_text(json.dumps(d))


def test_reads_points_and_full_finetune(tmp_path):
    _write(tmp_path, "7", "3", (40, 30), (30, 20), 100.0)
    _write(tmp_path, "7", "0.5", (40, 30), (38, 29), 20.0)
    _write(tmp_path, "5", "1", (35, 25), (33, 22), 40.0)
    (tmp_path / "calibrate-demo-user.json").write_text("{}")  # not a curve point
    (tmp_path / "personal-7-greedy.json").write_text(json.dumps({"overall": {"cer": 25.0}}))
    curves = read_curves(tmp_path)
    assert [c.user for c in curves] == ["5", "7"]
    seven = curves[1]
    assert sorted(seven.points) == [0.5, 3.0]
    assert seven.points[3.0] == (100.0, {"greedy": 30.0, "char-lm": 20.0})
    assert seven.before == {"greedy": 40.0, "char-lm": 30.0}
    assert seven.full == {"greedy": 25.0}  # char-lm's full fine-tune not there: no line drawn
    out = tmp_path / "curve.png"
    assert main([str(tmp_path), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_empty_folder_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(EmgrtError, match="results.sh personal"):
        read_curves(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path), "--out", str(tmp_path / "x.png")])
    assert exc.value.code == 2 and "no calibrate-USER-MINUTES.json" in capsys.readouterr().err
