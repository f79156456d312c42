"""Label-free adaptation: RunningNorm's recursion, chunking invariance, the bundle option
(`emgrt export adapt`, `--adapt on|off`) and streamed == offline with it on."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from emgrt.dsp.adapt import RunningNorm, feature_stats
from emgrt.errors import ConfigError


def test_running_norm_maps_a_shifted_scaled_user_onto_the_training_statistics():
    rng = np.random.default_rng(0)
    mean, var = np.array([1.0, -2.0, 0.5]), np.array([0.25, 1.0, 4.0])
    user = (rng.standard_normal((20_000, 3)) * np.sqrt(var) * [2.0, 0.5, 1.0] + mean + [3.0, -1.0, 0.0]).astype(np.float32)
    y = RunningNorm(mean, var, tau_frames=500)(user)
    tail = y[-5000:].astype(np.float64)
    assert np.allclose(tail.mean(0), mean, atol=0.1) and np.allclose(tail.var(0), var, rtol=0.15)
    # Frames at the training statistics pass (almost) unchanged from the first frame on.
    same = np.tile(mean.astype(np.float32), (5, 1))
    assert np.allclose(RunningNorm(mean, var, 500)(same), same, atol=1e-6)


@pytest.mark.parametrize("chunks", [[1] * 50, [7, 1, 30, 12], [50]])
def test_any_chunking_gives_the_same_frames(chunks):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((50, 2, 3, 4)).astype(np.float32) * 3 + 1
    mean, var = feature_stats([x[:10]])
    whole = RunningNorm(mean, var, 8)(x)
    norm = RunningNorm(mean, var, 8)
    parts, i = [], 0
    for c in chunks:
        parts.append(norm(x[i : i + c]))
        i += c
    assert np.array_equal(np.concatenate(parts), whole) and whole.shape == x.shape
    norm.reset()
    assert np.array_equal(norm(x), whole)


def test_bad_statistics_are_one_line_errors():
    with pytest.raises(ConfigError, match="finite"):
        RunningNorm([0.0, np.nan], [1.0, 1.0], 10)
    with pytest.raises(ConfigError, match="one frame"):
        RunningNorm([0.0], [1.0], 0.5)
    with pytest.raises(ConfigError, match="hold 2 features"):
        RunningNorm([0.0, 0.0], [1.0, 1.0], 10)(np.zeros((3, 5), np.float32))


@pytest.fixture
def adapted_bundle(tiny_bundle, tmp_path, capsys):
    from test_data_fixtures import make_dataset

    from emgrt.cli import main

    data = make_dataset(tmp_path / "data", (12_000, 9_000))
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle.dir, bundle)
    assert main(["export", "adapt", str(bundle), "--data", str(data), "--tau", "2", "--json"]) == 0
    return bundle, data, json.loads(capsys.readouterr().out)


def test_export_adapt_seals_the_statistics_and_streamed_equals_offline(adapted_bundle):
    from emgrt.bundle import Bundle
    from emgrt.io.dataset import DatasetDir
    from emgrt.io.session import SessionFile
    from emgrt.stream import Engine
    from emgrt.stream import latency as lat

    bundle_dir, data, rep = adapted_bundle
    assert rep["enabled"] and rep["tau_s"] == 2.0 and rep["sessions"] == 2
    b = Bundle.load(bundle_dir)
    assert b.manifest["adapt"]["stats"] in b.manifest["files"]
    stats = np.load(b.path(b.manifest["adapt"]["stats"]))
    assert stats.shape == (2, 2 * 16 * 33) and (stats[1] > 0).all()
    path = DatasetDir(data).sessions("train")[0]
    for adapt in (True, False):
        engine = Engine(b, adapt=adapt)
        with SessionFile(path) as s:
            run = lat.replay_simulated(engine, s, chunk=45)
            assert run.keys == lat.offline_keys(b, s, "greedy", {}, adapt=adapt)
    from emgrt.stream.frontend import LiveFrontEnd

    with SessionFile(path) as s:
        x = s.emg(0, len(s)).reshape(len(s), -1)
    on, off = (LiveFrontEnd.from_bundle(b, adapt).push(x) for adapt in (True, False))
    assert on.shape == off.shape and not np.allclose(on, off, atol=1e-2)  # it changes what the model sees


def test_adapt_flag_without_statistics_is_one_line(tiny_bundle, tmp_path, capsys):
    from conftest import make_session_arrays

    from emgrt.cli import main
    from emgrt.io.session import write_session

    s = tmp_path / "s.hdf5"
    write_session(s, **make_session_arrays(n=6000, seed=3))
    assert main(["latency", str(s), "--bundle", str(tiny_bundle.dir), "--adapt", "on"]) == 2
    err = capsys.readouterr().err
    assert "no adaptation statistics" in err and "emgrt export adapt" in err
    assert main(["export", "adapt", str(tiny_bundle.dir)]) == 2
    assert "needs --data" in capsys.readouterr().err


def test_a_bad_adapt_table_is_refused_with_one_line(adapted_bundle):
    from emgrt.bundle import Bundle, BundleError, seal

    bundle_dir, _, _ = adapted_bundle
    m = json.loads((bundle_dir / "manifest.json").read_text())
    m["adapt"]["tau_s"] = -1
    (bundle_dir / "manifest.json").write_text(json.dumps(m))
    with pytest.raises((BundleError, ConfigError), match="tau_s"):
        seal(bundle_dir)
    with pytest.raises((BundleError, ConfigError)):
        Bundle.load(bundle_dir)
