"""Engine on the tiny bundle: same keys as offline decoding, counters, sanitising, gaps, no torch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from emgrt.decode import decode_offline
from emgrt.dsp.features import FrontEndConfig, LogSpectrogram
from emgrt.dsp.filters import FilterSpec, design_sos, filter_offline
from emgrt.errors import EmgrtError
from emgrt.stream import Engine
from emgrt.stream.step_runner import make_session


def signal(n: int = 8000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, 32)) * 20).astype(np.float32)
    return x, 5000.0 + np.arange(n) / 2000.0


def offline_log_probs(bundle, x: np.ndarray) -> np.ndarray:
    m = bundle.manifest
    sos = design_sos([FilterSpec.from_dict(f) for f in m["signal"]["filters"]])
    sig = bundle.spec.signal  # any task's bands, in the stream's unit (GNI: volts)
    x = x.reshape(len(x), len(sig.bands), sig.channels_per_band) * np.float32(sig.to_microvolts)
    feats = LogSpectrogram(FrontEndConfig(**m["frontend"]))(filter_offline(sos, x))
    k = int(m["stream"]["subsample"])
    feats = feats[: len(feats) // k * k]  # the graph ignores a partial last group anyway
    sess = make_session(bundle.full_path)
    return sess.run(None, {sess.get_inputs()[0].name: feats[None]})[0][0]


def feed(engine: Engine, x: np.ndarray, ts: np.ndarray, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    events, pos = [], 0
    while pos < len(x):
        n = int(rng.integers(20, 41))
        events += engine.process(x[pos : pos + n], ts[pos : pos + n])
        s = engine.stats()
        assert s["received"] + s["filled"] == s["processed"] + s["buffered"]
        pos += n
    return events + engine.finish()


def keys(events: list[dict]) -> list[str]:
    return [e["key"] for e in events if e["type"] == "char"]


def test_streamed_keys_equal_offline_full_graph_greedy(tiny_bundle):
    x, ts = signal()
    engine = Engine(tiny_bundle)
    events = feed(engine, x, ts)
    offline = decode_offline("greedy", offline_log_probs(tiny_bundle, x), tiny_bundle.labels, tiny_bundle.blank)
    assert len(offline) > 5  # the tiny model types something
    assert keys(events) == offline
    s = engine.stats()
    assert s["received"] == s["processed"] == len(x) and s["dropped"] == 0 and s["buffered"] == 0
    # Event times: a char is emitted at the stamp of a sample of the stream, after its frame.
    chars = [e for e in events if e["type"] == "char"]
    assert all(ts[0] <= e["frame_t"] <= e["t"] <= ts[-1] for e in chars)
    json.dumps(events)  # JSON-ready


def test_chunking_does_not_change_the_output(tiny_bundle):
    x, ts = signal(4000, seed=3)
    a = feed(Engine(tiny_bundle), x, ts, seed=1)
    b = Engine(tiny_bundle)
    one = b.process(x, ts) + b.finish()
    assert keys(a) == keys(one)


def test_nan_burst_is_sanitised_and_counted(tiny_bundle):
    x, ts = signal(4000, seed=4)
    bad = x.copy()
    bad[1000:1050, 3] = np.nan
    bad[2000, :] = np.inf
    engine = Engine(tiny_bundle)
    events = feed(engine, bad, ts)
    s = engine.stats()
    assert s["sanitised_values"] == 50 + 32 and s["sanitised_samples"] == 51
    assert s["dropped"] == 0 and s["processed"] == len(x)
    assert np.isnan(bad[1000, 3])  # the caller's array is left alone
    # Sanitising holds each channel's last finite value.
    held = x.copy()
    held[1000:1050, 3] = x[999, 3]
    held[2000, :] = x[1999, :]
    assert keys(events) == keys(feed(Engine(tiny_bundle), held, ts))


def test_small_gap_is_filled_large_gap_resets(tiny_bundle):
    x, ts = signal(6000, seed=5)
    ts = ts.copy()
    ts[2000:] += 30 / 2000.0  # 30 samples missing: filled
    ts[4000:] += 2.0  # 2 s missing: reset
    engine = Engine(tiny_bundle)
    events = feed(engine, x, ts)
    s = engine.stats()
    assert s["gaps_filled"] == 1 and s["filled"] == 30
    assert s["gap_resets"] == 1 and s["resets"] == 1
    resets = [e for e in events if e["type"] == "status" and e["status"] == "reset"]
    assert len(resets) == 1 and "gap" in resets[0]["reason"]
    assert s["received"] + s["filled"] == s["processed"] and s["dropped"] == 0


def test_bad_chunk_shape_is_a_clear_error(tiny_bundle):
    engine = Engine(tiny_bundle)
    with pytest.raises(EmgrtError, match=r"expected \(n, 32\)"):
        engine.process(np.zeros((10, 16), np.float32), np.arange(10.0))


def test_engine_path_imports_no_torch(tiny_bundle):
    code = f"""
import sys, numpy as np
from emgrt.stream import Engine
from emgrt.stream.engine import load_bundle
e = Engine(load_bundle({str(tiny_bundle.dir)!r}))
x = np.random.default_rng(0).standard_normal((3000, 32)).astype(np.float32)
ev = e.process(x, np.arange(3000) / 2000.0) + e.finish()
assert e.stats()["steps"] > 0
print("torch" in sys.modules, any(m.startswith("torch") for m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


def test_requested_reset_runs_on_the_feeding_thread(tiny_bundle):
    x, ts = signal(3000, seed=6)
    engine = Engine(tiny_bundle)
    engine.process(x[:1500], ts[:1500])
    engine.request_reset("client asked")
    events = engine.process(x[1500:], ts[1500:])
    assert len(engine.event_offsets) == len(events)
    status = [e for e in events if e["type"] == "status"]
    assert status == [{"type": "status", "status": "reset", "reason": "client asked", "t": ts[1499]}]
    assert engine.poll() == [] and engine.stats()["resets"] == 1
    # After the reset the stream starts fresh: its keys are those of a new engine on the same samples.
    after = [e for e in events[events.index(status[0]) + 1 :] if e["type"] == "char"]
    fresh = [e for e in Engine(tiny_bundle).process(x[1500:], ts[1500:]) if e["type"] == "char"]
    assert [e["key"] for e in after] == [e["key"] for e in fresh]


@pytest.mark.slow
def test_two_outputs_per_step_bundle_streams_like_offline(tmp_path):
    """frames_per_step = 2 x subsample: the block schedule and frame times still hold."""
    pytest.importorskip("torch")
    from bundle_fixtures import TINY_RECIPE, make_tiny_model

    from emgrt.bundle import Bundle
    from emgrt.train.export import export_model

    bundle = Bundle.load(export_model(make_tiny_model(), TINY_RECIPE, tmp_path / "f8", frames_per_step=8))
    assert bundle.manifest["stream"]["outputs_per_step"] == 2
    x, ts = signal(6000, seed=8)
    engine = Engine(bundle)
    events = feed(engine, x, ts)
    offline = decode_offline("greedy", offline_log_probs(bundle, x), bundle.labels, bundle.blank)
    # The last step of a stream may be incomplete: its outputs come only offline.
    n = len(keys(events))
    assert n > 5 and keys(events) == offline[:n] and len(offline) - n <= 2
    chars = [e for e in events if e["type"] == "char"]
    # An output frame is emitted by the step that completes it plus the lookahead (12 frames):
    # between 12 and 12 + 4 frames (one extra output per step) after its own last sample.
    lags = [round((e["t"] - e["frame_t"]) * 2000 / 16) for e in chars]
    assert set(lags) <= {12, 16} and 12 in lags


@pytest.mark.slow
def test_int8_step_graph_runs_and_missing_one_is_a_clear_error(tiny_bundle, tmp_path):
    pytest.importorskip("torch")
    from bundle_fixtures import TINY_RECIPE, make_tiny_model

    from emgrt.bundle import Bundle
    from emgrt.train.export import export_model

    with pytest.raises(EmgrtError, match="no int8 step graph"):
        Engine(tiny_bundle, int8=True)
    bundle = Bundle.load(export_model(make_tiny_model(), TINY_RECIPE, tmp_path / "i8", int8=True))
    engine = Engine(bundle, int8=True)
    x, ts = signal(4000, seed=9)
    feed(engine, x, ts)
    s = engine.stats()
    assert s["steps"] == (1 + (4000 - 64) // 16) // 4 and s["dropped"] == 0
    assert engine.step_path.name == bundle.manifest["step_graph"]["int8_file"]
