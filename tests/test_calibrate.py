"""emgrt calibrate: a personal bundle from a recording of one synthetic user (tiny model, few steps)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from emgrt.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "data"
    assert main(["synth", str(out), "--users", "1", "--sessions", "1", "--minutes", "2", "--test-users", "0",
                 "--val-sessions", "0", "--workers", "1", "--seed", "5"]) == 0
    return next(out.glob("*.hdf5"))


@pytest.mark.slow
def test_calibrate_lowers_the_held_out_cer_and_writes_a_verified_bundle(tiny_bundle, recording, tmp_path, capsys):
    from emgrt.bundle import Bundle

    out = tmp_path / "me"
    rc = main(["calibrate", "--from-recording", str(recording), "--bundle", str(tiny_bundle.dir), "--out", str(out),
               "--steps", "40", "--lr", "3e-3", "--threads", "1", "--json"])
    assert rc == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["verify_ok"] and rep["steps"] == 40
    assert rep["held_out_s"] >= 20 and 60 <= rep["calibration_s"] <= 100
    assert rep["cer_after"]["greedy"] < rep["cer_before"]["greedy"]
    personal = Bundle.load(out)
    assert personal.manifest["provenance"]["calibrated_from"] == str(tiny_bundle.dir)
    assert personal.manifest["model"]["config"] == tiny_bundle.manifest["model"]["config"]
    # again into the same folder: refused, one line
    assert main(["calibrate", "--from-recording", str(recording), "--bundle", str(tiny_bundle.dir), "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err


def test_bundle_weights_load_safely_and_a_bundle_without_them_is_one_line(tiny_bundle, tmp_path, capsys):
    import shutil

    import torch

    from emgrt.bundle import Bundle, seal
    from emgrt.train.calibrate import load_weights

    model = load_weights(tiny_bundle)
    state = torch.load(tiny_bundle.path("weights.pt"), weights_only=True)
    assert set(state) == set(model.state_dict())
    old = tmp_path / "old"
    shutil.copytree(tiny_bundle.dir, old)
    m = json.loads((old / "manifest.json").read_text())
    del m["model"]["weights"]
    (old / "weights.pt").unlink()
    (old / "manifest.json").write_text(json.dumps(m))
    seal(old)
    with pytest.raises(Exception, match="carries no weights.pt"):
        load_weights(Bundle.load(old))


def test_too_short_a_recording_is_one_line(tiny_bundle, tmp_path, capsys):
    from emgrt.io.session import cut_session

    from test_data_fixtures import make_dataset

    data = make_dataset(tmp_path / "d", (60_000,))
    short = cut_session(next(data.glob("*.hdf5")), tmp_path / "short.hdf5", 0, 25)
    assert main(["calibrate", "--from-recording", str(short), "--bundle", str(tiny_bundle.dir), "--out", str(tmp_path / "o")]) == 2
    assert "too little to calibrate on" in capsys.readouterr().err


def test_several_recordings_and_a_separate_held_out_session(tmp_path):
    from test_data_fixtures import make_dataset

    from emgrt.io.dataset import DatasetDir
    from emgrt.io.session import SessionFile
    from emgrt.train.calibrate import split_recordings

    data = make_dataset(tmp_path / "d", (80_000, 60_000, 50_000))
    a, b, c = sorted(data.glob("*.hdf5"))
    out, held, calib, held_s = split_recordings([a, b], tmp_path / "x", minutes=1.0, held_out=c)
    assert held == c and abs(calib - 60.0) < 1e-6 and abs(held_s - 25.0) < 0.01
    pieces = DatasetDir(out)
    total = 0.0
    for split in ("train", "val"):
        for p in pieces.sessions(split):
            with SessionFile(p) as s:
                total += len(s) / 2000
    assert abs(total - 60.0) < 0.05  # the first minute: all of a (40 s) and 20 s of b, nothing else
    out, held, calib, held_s = split_recordings([a, b], tmp_path / "y", minutes=None)
    assert abs(held_s - 20.0) < 1e-6 and abs(calib - (40.0 + 30.0 - 20.0)) < 0.01



def test_minutes_a_sample_past_the_first_recording_still_have_a_val_piece(tmp_path):
    """Asking for exactly a recording's length (its stamps span one period less) left a sliver of
    the next recording as the last stretch, too short for the val piece: calibration failed."""
    from test_data_fixtures import make_dataset

    from emgrt.io.dataset import DatasetDir
    from emgrt.train.calibrate import split_recordings

    data = make_dataset(tmp_path / "d", (60_000, 60_000, 50_000))
    a, b, c = sorted(data.glob("*.hdf5"))
    out, _, calib, _ = split_recordings([a, b], tmp_path / "x", minutes=0.5, held_out=c)  # a spans 29.9995 s
    pieces = DatasetDir(out)
    assert len(pieces.sessions("val")) == 1 and len(pieces.sessions("train")) == 1
    assert abs(calib - 30.0) < 1e-6


@pytest.mark.slow
def test_calibrate_from_a_band_records_then_calibrates(tiny_bundle, recording, tmp_path, capsys):
    import uuid

    from emgrt.io.session import SessionFile
    from emgrt.lsl.outlet import SessionReplayer

    name = f"emgrt-test-{uuid.uuid4().hex[:8]}"
    rep = SessionReplayer(recording, name, speed=8, wait_for_consumer=30).start()
    out = tmp_path / "me"
    try:
        rc = main(["calibrate", "--stream", name, "--keys", f"{name}-keys", "--minutes", "1", "--bundle", str(tiny_bundle.dir),
                   "--out", str(out), "--steps", "20", "--lr", "3e-3", "--threads", "1", "--json"])
    finally:
        rep.stop()
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    report = json.loads(captured.out)
    rec = tmp_path / "me-recording.hdf5"
    assert report["recordings"] == [str(rec)] and report["verify_ok"]
    with SessionFile(rec) as s:  # 1 min to calibrate on + 20 s held out
        assert abs(len(s) / 2000 - 80.0) < 1.0 and len(s.keystrokes) > 20
    assert report["calibration_s"] == pytest.approx(60.0, abs=0.5) and report["held_out_s"] == pytest.approx(20.0, abs=0.5)


def test_calibrate_from_a_band_needs_the_keys(tiny_bundle, tmp_path, capsys):
    assert main(["calibrate", "--stream", "X", "--bundle", str(tiny_bundle.dir), "--out", str(tmp_path / "o")]) == 2
    assert "--keys STREAM" in capsys.readouterr().err
