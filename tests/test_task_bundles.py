"""Bundles of the one-band tasks: export (manifest, parity of the new heads), the engine's gesture
events (streamed == offline), replay of GNI sessions over a real LSL loopback."""

from __future__ import annotations

import json
import shutil
import uuid

import numpy as np
import pytest

from emgrt.bundle import Bundle
from emgrt.decode import make_decoder
from emgrt.errors import ConfigError, EmgrtError
from emgrt.io.gni import GESTURES, GniSession
from emgrt.io.recording import open_recording
from emgrt.stream import Engine
from emgrt.synth import GestureDatasetConfig, HandwritingDatasetConfig, generate_gestures, generate_handwriting
from emgrt.tasks import task_spec

from test_stream_engine import feed, offline_log_probs

pytest.importorskip("torch")

TINY = dict(users=2, sessions=2, minutes=0.25, seed=5, test_users=1, val_sessions=1)
TINY_MODEL = {"layers": 1, "dim": 32, "heads": 2, "band_width": 16, "left_context": 16, "lookahead": 12, "conv_past": 4}


def tiny_task_model(task: str, seed: int = 0):
    """An untrained, seeded one-band model of ``task``; the blank / no-gesture output lowered so it
    emits a steady mix of classes (gestures cross the detection threshold often)."""
    import torch

    from emgrt.train.model import StreamingCTCModel
    from emgrt.train.recipe import model_config_from_dict

    torch.manual_seed(seed)
    model = StreamingCTCModel(model_config_from_dict(TINY_MODEL, task_spec(task))).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.mul_(10.0)
        model.head.bias[model.cfg.blank] = -2.0
    return model


def export_tiny(task: str, out) -> Bundle:
    from emgrt.train.export import export_model

    recipe = {"task": task, "model": TINY_MODEL, "train": {"max_steps": 1},
              "data": {"filters": [], "augment": {"alignment_jitter": 0}}}
    return Bundle.load(export_model(tiny_task_model(task), recipe, out))


@pytest.fixture(scope="module")
def gesture_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("gni") / "gestures"
    generate_gestures(out, GestureDatasetConfig(**TINY), workers=1)
    return out


@pytest.fixture(scope="module")
def gesture_bundle(tmp_path_factory) -> Bundle:
    return export_tiny("gestures", tmp_path_factory.mktemp("gb") / "gestures")


def test_a_gesture_bundle_names_its_task_band_unit_and_decoder(gesture_bundle):
    m = gesture_bundle.manifest
    assert m["task"] == {"name": "gestures", "inputs": ["emg"]}
    assert m["signal"]["bands"] == ["right"] and m["signal"]["channels"] == 16 and m["signal"]["unit"] == "V"
    assert m["charset"]["labels"] == [*GESTURES, ""] and m["charset"]["blank"] == 9
    assert m["decoder"]["default"] == "gesture" and gesture_bundle.spec.decoders == ("gesture",)
    assert m["step_graph"]["inputs"][0]["shape"] == [1, m["stream"]["frames_per_step"], 1, 16, 33]
    card = (gesture_bundle.dir / "MODEL_CARD.md").read_text()
    assert "framewise classifier for the gestures task" in card and "CLER" in card


@pytest.mark.slow
@pytest.mark.parametrize("task", ["gestures", "handwriting"])
def test_one_band_heads_export_with_parity(task, gesture_bundle, gesture_data, tmp_path):
    """Torch == full graph, step graph == full graph, batched == step, on real windows of the task's files."""
    import torch

    from emgrt.stream.step_runner import make_session
    from emgrt.train.export import _windows, verify_bundle

    if task == "gestures":
        data, bundle = gesture_data, gesture_bundle
    else:
        data = tmp_path / task
        generate_handwriting(data, HandwritingDatasetConfig(**TINY), workers=1)
        bundle = export_tiny(task, tmp_path / "bundle")
    rep = verify_bundle(bundle.dir, data, windows=3)
    assert rep["step_vs_full_ok"] and rep["batched_vs_step_ok"], rep
    model, full = tiny_task_model(task), make_session(bundle.full_path)
    (feats, _), *_ = _windows(bundle, data, 1)[0]
    assert feats.shape[2:] == (1, 16, 33)
    with torch.no_grad():
        ref = model(torch.from_numpy(feats))[0][0].numpy()
    assert np.abs(full.run(None, {"features": feats})[0][0] - ref).max() < 1e-4
    assert bundle.manifest["charset"]["labels"] == task_spec(task).output_labels


def test_the_manifest_refuses_a_head_that_does_not_fit_its_task(gesture_bundle, tmp_path):
    def broken(**edit) -> str:
        d = tmp_path / uuid.uuid4().hex[:6]
        shutil.copytree(gesture_bundle.dir, d)
        m = json.loads((d / "manifest.json").read_text())
        for key, value in edit.items():
            section, _, name = key.partition("__")
            m[section][name] = value
        (d / "manifest.json").write_text(json.dumps(m))
        with pytest.raises(EmgrtError) as err:
            from emgrt.bundle import write_manifest

            write_manifest(d, m)  # re-sealed: only the content is wrong
            Bundle.load(d)
        return str(err.value)

    assert "signal.bands" in broken(task__name="typing") and "2 band(s) for the typing task" in broken(task__name="typing")
    assert "decoder.default" in broken(decoder__default="char-lm")
    assert "inputs" in broken(task__inputs=["imu"])


def test_bundles_refuse_decoders_of_another_task(gesture_bundle, tiny_bundle):
    with pytest.raises(ConfigError, match=r"a gestures bundle decodes with gesture, not 'char-lm'"):
        Engine(gesture_bundle, decoder="char-lm")
    with pytest.raises(ConfigError, match=r"a typing bundle decodes with greedy or beam or beam-lm or char-lm, not 'gesture'"):
        Engine(tiny_bundle, decoder="gesture")


def test_gesture_events_streamed_equal_the_offline_events(gesture_bundle, gesture_data):
    """A GNI recording in volts, chunked at random: the engine's gesture events are those of the
    decoder over the whole recording's log-probs (same gestures, same frames), each timed."""
    path = sorted(gesture_data.glob("discrete_gestures_*.hdf5"))[0]
    with GniSession(path) as s:
        x, ts = s.emg(), s.time
    engine = Engine(gesture_bundle)
    assert engine.decoder_kind == "gesture"
    events = feed(engine, x, ts, seed=3)
    got = [(e["gesture"], e["frame"]) for e in events if e["type"] == "gesture"]
    lp = offline_log_probs(gesture_bundle, x)
    n = engine.counters["outputs"]  # the outputs the stream decoded (warm-up ones already dropped)
    dec = make_decoder("gesture", gesture_bundle.labels, gesture_bundle.blank, frame_s=0.032)
    want = [(e.gesture, e.frame) for e in dec.push(lp[:n], 0)]
    assert len(want) >= 5 and got == want
    assert engine.counters["gestures"] == len(got) and engine.counters["chars"] == 0
    stamps = [e["frame_t"] for e in events if e["type"] == "gesture"]
    assert all(ts[0] <= t <= ts[-1] for t in stamps) and stamps == sorted(stamps)


def test_gesture_decoder_chunking_does_not_change_the_events():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2.0, (600, 10))
    lp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    labels = [*GESTURES, ""]
    whole = make_decoder("gesture", labels, 9).push(lp, 0)
    dec, got, pos = make_decoder("gesture", labels, 9), [], 0
    while pos < len(lp):
        k = int(rng.integers(1, 9))
        got += dec.push(lp[pos : pos + k], pos)
        pos += k
    assert got == whole and len(whole) > 20
    assert {e.gesture for e in whole} <= set(GESTURES) and all(0.35 <= e.prob <= 1 for e in whole)


def test_a_gni_recording_reads_as_a_replay(gesture_data):
    path = sorted(gesture_data.glob("discrete_gestures_*.hdf5"))[0]
    with open_recording(path) as rec, GniSession(path) as s:
        assert rec.bands == ("right",) and rec.unit == "V" and rec.marker_kind == "gestures"
        assert rec.emg(0, 100).shape == (100, 16) and np.array_equal(rec.emg(0, 100), s.emg(0, 100))
        prompts = s.prompts()
        assert rec.markers == [str(n) for n in prompts.sort_values("time", kind="stable")["name"]]


@pytest.mark.slow
def test_a_gesture_bundle_over_a_real_lsl_loopback_emits_the_offline_gestures(gesture_bundle, gesture_data):
    """`emgrt replay` of a GNI session (one 16-channel stream in volts, gestures on NAME-gestures)
    into the engine over LSL: every sample arrives, and the gesture events are the offline ones."""
    from emgrt.lsl.outlet import SessionReplayer
    from emgrt.stream.live import LiveSource
    from test_lsl import LiveRun

    path = sorted(gesture_data.glob("discrete_gestures_*.hdf5"))[0]
    with GniSession(path) as s:
        x = s.emg()
    name = f"emgrt-test-{uuid.uuid4().hex[:10]}"
    rep = SessionReplayer(path, name, speed=20.0, wait_for_consumer=10)
    assert rep.stream_names[:2] == [name, f"{name}-gestures"]
    rep.start()
    live = LiveRun(Engine(gesture_bundle), LiveSource(gesture_bundle, stream=name)).start()
    assert rep.wait(30)
    live.wait_received(len(x))
    result = live.finish()
    rep.stop()
    assert result["engine"]["received"] == len(x) == result["engine"]["processed"]
    got = [(e["gesture"], e["frame"]) for e in live.events if e["type"] == "gesture"]
    n = result["engine"]["outputs"]
    dec = make_decoder("gesture", gesture_bundle.labels, gesture_bundle.blank, frame_s=0.032)
    want = [(e.gesture, e.frame) for e in dec.push(offline_log_probs(gesture_bundle, x)[:n], 0)]
    assert want and got == want
    assert rep.keys_sent == len(GniSession(path).prompts())


def test_a_gni_cut_keeps_its_labels_stages_and_imu(gesture_data, tmp_path):
    """`emgrt data cut` of a GNI file: the stretch's samples, the gestures inside it, the stages
    clipped to it and the IMU over the same span; the cut replays like the original."""
    import subprocess
    import sys

    from emgrt.io.imu import read_imu

    path = sorted(gesture_data.glob("discrete_gestures_*.hdf5"))[0]
    out = tmp_path / "cut.hdf5"
    r = subprocess.run([sys.executable, "-m", "emgrt", "data", "cut", str(path), str(out), "--start", "3", "--seconds", "6"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    with GniSession(path) as whole, GniSession(out) as cut:
        lo = int(np.searchsorted(whole.time, whole.time[0] + 3.0))
        assert len(cut) == 12000 and np.array_equal(cut.emg(), whole.emg(lo, lo + 12000))
        t0, t1 = cut.time[0], cut.time[-1]
        p = whole.prompts()
        inside = p[(p["time"] >= t0) & (p["time"] <= t1)]
        assert list(cut.prompts()["name"]) == list(inside["name"]) and len(inside) > 0
        st = cut.stages()
        assert len(st) and (st["start"] >= t0).all() and (st["end"] <= t1).all()
    imu = read_imu(out, None)
    assert imu is not None and imu.time[0] >= t0 and imu.time[-1] <= t1 and len(imu) > 500
    assert f"{len(inside)} gestures" in r.stdout


def test_emgrt_latency_scores_a_gestures_bundle_streamed(gesture_bundle, gesture_data):
    """CLER, misses, false alarms and event latency over the test split, streamed; the streamed
    events are the offline ones."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "emgrt", "latency", str(gesture_data), "--split", "test", "--limit", "1",
                        "--bundle", str(gesture_bundle.dir), "--json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["streamed_equals_offline"] is True and rep["recordings"] == 1
    assert rep["prompts"] == rep["matched"] + rep["missed"] > 0
    assert rep["matched"] > 0 and rep["event_latency_ms"]["p50"] is not None and rep["event_latency_ms"]["p50"] > 0
    assert 0.0 <= rep["cler"] <= 1.0 and rep["compute_ms"]["p50"] > 0


def test_data_stats_summarises_a_gni_folder(gesture_data):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "emgrt", "data", "stats", str(gesture_data), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    files = sorted(gesture_data.glob("*.hdf5"))
    prompts = sum(len(GniSession(f).prompts()) for f in files)
    assert st["sessions"] == len(files) == 4 and st["users"] == 2 and st["label_kind"] == "gestures"
    assert st["labels"] == prompts == sum(st["class_histogram"].values()) and set(st["class_histogram"]) <= set(GESTURES)
    assert sum(st["splits"].values()) > 0


@pytest.mark.slow
def test_emgrt_latency_scores_a_handwriting_bundle_streamed(tmp_path):
    """The CER of each prompt, streamed; the streamed characters are the offline ones (the whole
    recording, then its first seconds); too long a recording for the offline check is one line."""
    import subprocess
    import sys
    from types import SimpleNamespace

    from emgrt.errors import ConfigError
    from emgrt.stream.recording_stream import prefix

    data = tmp_path / "handwriting"
    generate_handwriting(data, HandwritingDatasetConfig(**TINY), workers=1)
    bundle = export_tiny("handwriting", tmp_path / "bundle")
    reps = []
    for extra in ([], ["--max-seconds", "8"]):
        r = subprocess.run([sys.executable, "-m", "emgrt", "latency", str(data), "--split", "test", "--limit", "1",
                            "--bundle", str(bundle.dir), "--json", *extra], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        reps.append(json.loads(r.stdout))
        assert reps[-1]["streamed_equals_offline"] is True and reps[-1]["recordings"] == 1, reps[-1]
    whole, first = reps
    assert whole["prompts"] > 0 and whole["reference_length"] > 0 and whole["cer"] >= 0 and whole["compute_ms"]["p50"] > 0
    assert first["prompts"] < whole["prompts"]  # only the prompts written through in the first 8 s
    class Long(SimpleNamespace):  # a 400 s recording, as far as prefix() looks
        def __len__(self) -> int:
            return len(self.time)

    long = Long(path=data / "long.hdf5", time=np.arange(0, 400, 1 / 2000))
    with pytest.raises(ConfigError, match=r"^long\.hdf5: 400 s is too long for the offline check .* pass --max-seconds 120, or --no-offline$"):
        prefix(long, None, offline=True)
    assert prefix(long, 120.0, offline=True) == 240_000 and prefix(long, None, offline=False) == len(long.time)
