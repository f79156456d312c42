"""`emgrt export`: the step graph streams exactly like the whole-window graph and like torch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from emgrt.bundle import Bundle, BundleError

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def _features(n_frames: int, seed: int = 1) -> np.ndarray:
    from emgrt.dsp.features import LogSpectrogram

    rng = np.random.default_rng(seed)
    n_samples = (n_frames - 1) * 16 + 64
    x = rng.standard_normal((n_samples, 2, 16)).astype(np.float32) * 30
    return LogSpectrogram()(x)[None]


def _stream(bundle: Bundle, feats: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    from emgrt.train.export import stream_step_graph

    return stream_step_graph(ort.InferenceSession(str(bundle.step_path)), bundle, feats)


@pytest.mark.parametrize("n_frames", [57, 203, 412])  # lengths the exporter never saw
def test_step_graph_equals_full_graph_and_torch(tiny_bundle, n_frames):
    import onnxruntime as ort

    from bundle_fixtures import make_tiny_model

    feats = _features(n_frames)
    full = ort.InferenceSession(str(tiny_bundle.full_path)).run(None, {"features": feats})[0][0]
    with torch.no_grad():
        ref = make_tiny_model()(torch.from_numpy(feats))[0][0].numpy()
    streamed = _stream(tiny_bundle, feats)
    assert full.shape == ref.shape
    assert np.abs(full - ref).max() <= 1e-4
    assert len(streamed) == len(full) == n_frames // 4 - 3  # one output per step, 3 warm-up steps
    assert np.abs(streamed - full).max() <= 1e-4
    assert (full.argmax(-1) != 98).any()  # the fixture model really emits keys


def test_manifest_has_every_runtime_parameter(tiny_bundle):
    m = tiny_bundle.manifest
    for section in ("signal", "frontend", "stream", "charset", "step_graph", "full_graph", "model", "decoder", "files", "provenance"):
        assert section in m
    assert m["signal"]["sample_rate"] == 2000 and m["signal"]["channels"] == 32
    assert [f["kind"] for f in m["signal"]["filters"]] == ["bandpass", "notch"]
    assert m["frontend"]["n_fft"] == 64 and m["frontend"]["hop"] == 16
    assert m["stream"]["samples_per_step"] == m["stream"]["frames_per_step"] * 16
    assert len(m["charset"]["labels"]) == 99 and m["charset"]["blank"] == 98
    names = [s["name"] for s in m["step_graph"]["state"]]
    assert names[:3] == ["warmup", "conv_buf", "kv_valid"] and names[3:] == ["k0", "v0"]
    assert m["model"]["params"] > 0 and m["model"]["flops_per_hop"] > 0
    assert set(m["files"]) >= {"step.onnx", "full.onnx", "MODEL_CARD.md"}


def test_bundle_errors_are_one_line(tiny_bundle, tmp_path):
    import shutil

    b = tmp_path / "b"
    shutil.copytree(tiny_bundle.dir, b)
    with pytest.raises(BundleError, match="no such bundle folder"):
        Bundle.load(tmp_path / "nope")
    (b / "step.onnx").write_bytes((b / "step.onnx").read_bytes()[:-10])
    with pytest.raises(BundleError, match="sha256 differs"):
        Bundle.load(b)
    (b / "step.onnx").unlink()
    with pytest.raises(BundleError, match="missing"):
        Bundle.load(b)
    (b / "manifest.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        Bundle.load(b)
    (b / "manifest.json").write_text(json.dumps({"format": "emgrt-bundle", "version": 99}))
    with pytest.raises(BundleError, match="re-export"):
        Bundle.load(b)


def test_runtime_side_needs_no_torch(tiny_bundle):
    code = (
        "import sys, numpy as np, onnxruntime as ort\n"
        "from emgrt.bundle import Bundle\n"
        f"b = Bundle.load({str(tiny_bundle.dir)!r})\n"
        "x = np.zeros((1, 40, 2, 16, 33), np.float32)\n"
        "print(ort.InferenceSession(str(b.full_path)).run(None, {'features': x})[0].shape)\n"
        "assert 'torch' not in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "(1, 7, 99)"


@pytest.mark.slow
def test_cli_export_then_verify_a_trained_run(tmp_path, capsys):
    from test_data_fixtures import make_dataset
    from test_finetune import SOURCE

    from emgrt.cli import main

    data = make_dataset(tmp_path / "data", (21_000, 25_000, 17_000, 19_000))
    recipe = tmp_path / "r.toml"
    recipe.write_text(SOURCE + "[data.test]\nwindow_length = 0\npadding = [0, 0]\n")
    assert main(["train", "--recipe", str(recipe), "--data", str(data), "--out", str(tmp_path / "run")]) == 0
    bundle = tmp_path / "bundle"
    assert main(["export", str(tmp_path / "run"), "--out", str(bundle), "--int8"]) == 0
    capsys.readouterr()
    assert main(["export", "verify", str(bundle), "--windows", "2", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["ok"] and rep["torch_vs_onnx_ok"] and rep["step_vs_full_ok"]
    assert set(rep["int8"]) == {"greedy_cer_fp32", "greedy_cer_int8", "cer_change"}
    b = Bundle.load(bundle)
    assert b.manifest["provenance"]["data"] == str(data) and b.int8_path("step_graph").is_file()
    # the bundle evaluates (without torch) to the checkpoint's CER on whole test sessions
    capsys.readouterr()
    assert main(["eval", str(tmp_path / "run"), "--data", str(data), "--split", "test", "--json"]) == 0
    from_ckpt = json.loads(capsys.readouterr().out)["overall"]
    assert main(["eval", str(bundle), "--data", str(data), "--split", "test", "--json"]) == 0
    from_bundle = json.loads(capsys.readouterr().out)["overall"]
    assert from_bundle == from_ckpt and from_ckpt["reference_length"] > 0
    # user mistakes are one line, exit 2
    assert main(["export", "verify"]) == 2
    assert main(["export", str(tmp_path / "run")]) == 2
    assert "--out" in capsys.readouterr().err


def test_inspect_tool_finds_the_graphs_match_the_manifest(tiny_bundle):
    root = __import__("pathlib").Path(__file__).parents[1]
    out = subprocess.run([sys.executable, str(root / "export" / "inspect_bundle.py"), str(tiny_bundle.dir)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ok: graphs match the manifest" in out.stdout and "kv_valid" in out.stdout


def test_batched_step_graph_equals_each_stream_alone(tiny_bundle):
    """Three streams of different lengths share the batched step graph, joining at steps 0, 2
    and 5 and leaving when their frames run out; each one's outputs are those of the step graph
    driven for it alone."""
    import onnxruntime as ort

    from emgrt.train.export import stream_batched_step_graph

    assert tiny_bundle.batched_step_path is not None and tiny_bundle.batched_step_path.is_file()
    feats = [_features(n, seed=s) for s, n in ((1, 120), (2, 57), (3, 203))]
    batched = ort.InferenceSession(str(tiny_bundle.batched_step_path))
    got = stream_batched_step_graph(batched, tiny_bundle, feats, [0, 2, 5])
    for f, g in zip(feats, got):
        alone = _stream(tiny_bundle, f)
        assert g.shape == alone.shape
        assert np.abs(g - alone).max() <= 1e-4
        assert (g.argmax(-1) == alone.argmax(-1)).all()


def test_manifest_batched_graph_must_match_the_step_graph(tiny_bundle):
    from emgrt.manifest import Manifest
    from emgrt.validate import parse

    m = json.loads((tiny_bundle.dir / "manifest.json").read_text())
    m["batched_step_graph"]["inputs"][0]["shape"][0] = 1  # a fixed batch, not the named axis
    with pytest.raises(Exception, match="batched_step_graph.inputs.frames.shape"):
        parse(Manifest, m)
