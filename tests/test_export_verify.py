"""`emgrt export verify` and steps of several outputs: parity where the warm-up shares a step."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from emgrt.bundle import Bundle

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def _features(n_frames: int, seed: int = 3) -> np.ndarray:
    from emgrt.dsp.features import LogSpectrogram

    rng = np.random.default_rng(seed)
    x = rng.standard_normal(((n_frames - 1) * 16 + 64, 2, 16)).astype(np.float32) * 30
    return LogSpectrogram()(x)[None]


@pytest.mark.parametrize("frames_per_step", [8, 20])
def test_multi_output_step_masks_the_warm_up_inside_the_step(tmp_path, frames_per_step):
    """F = 2 or 5 outputs per step with 3 warm-up outputs: the first real output shares a step with
    a warm-up output, which must not be one of its keys (it is not in the whole-window graph)."""
    import onnxruntime as ort
    from bundle_fixtures import TINY_RECIPE, make_tiny_model

    from emgrt.train.export import stream_step_graph, export_model

    model = make_tiny_model()
    bundle = Bundle.load(export_model(model, TINY_RECIPE, tmp_path / "b", frames_per_step=frames_per_step))
    assert bundle.stream["outputs_per_step"] == frames_per_step // 4
    feats = _features(301)  # 301 frames: not a whole number of steps, never seen by the exporter
    with torch.no_grad():
        ref = model(torch.from_numpy(feats))[0][0].numpy()
    streamed = stream_step_graph(ort.InferenceSession(str(bundle.step_path)), bundle, feats)
    n = (301 // frames_per_step) * frames_per_step // 4 - 3
    assert len(streamed) == n
    assert np.abs(streamed - ref[:n]).max() <= 1e-4


def test_torch_step_with_new_frame_mask_matches_dropping_them():
    """Block.step's new_valid: masked new frames are invisible to the others (same as absent)."""
    from emgrt.train.model import CausalAttention

    torch.manual_seed(0)
    attn = CausalAttention(32, 2, 4).eval()
    x = torch.randn(1, 3, 32)
    k = torch.randn(1, 2, 4, 16)
    v = torch.randn(1, 2, 4, 16)
    valid = torch.tensor([False, True, True, True])
    with torch.no_grad():
        masked, _, _ = attn.step(x, k, v, valid, torch.tensor([False, True, True]))
        # frame 0 absent: the cache slides by one; slot 0 becomes frame 0's (masked) key
        k2 = torch.cat([k[:, :, 1:], attn.project(x[:, :1])[1]], dim=2)
        v2 = torch.cat([v[:, :, 1:], attn.project(x[:, :1])[2]], dim=2)
        dropped, _, _ = attn.step(x[:, 1:], k2, v2, torch.tensor([True, True, True, False]))
    assert torch.isfinite(masked).all()
    assert torch.allclose(masked[:, 1:], dropped, atol=1e-6)


def test_verify_on_synthetic_sessions_writes_the_figures_into_the_card(tiny_bundle, tmp_path, capsys):
    """No checkpoint and no dataset here: verify makes `emgrt synth` sessions, checks step vs full,
    says the torch check was skipped, and --write-card keeps the bundle loadable (hashes refreshed)."""
    from emgrt.cli import main

    b = tmp_path / "b"
    shutil.copytree(tiny_bundle.dir, b)
    assert main(["export", "verify", str(b), "--windows", "3", "--sessions", "2", "--write-card", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["ok"] and rep["step_vs_full_ok"] and rep["step_vs_full_max_abs"] <= 1e-4
    assert rep["torch_vs_onnx_ok"] is None and rep["checkpoint"] is None
    assert rep["data"].startswith("synthetic") and rep["sessions"] == 2 and rep["windows"] == 3
    assert rep["providers"][0] in ("CPUExecutionProvider", "CUDAExecutionProvider")
    card = Bundle.load(b).path("MODEL_CARD.md").read_text()
    assert f"{rep['step_vs_full_max_abs']:.2e}" in card and "torch vs ONNX" not in card


def test_verify_user_mistakes_are_one_line(tiny_bundle, tmp_path, capsys):
    from emgrt.cli import main

    assert main(["export", "verify", str(tiny_bundle.dir), "--data", str(tmp_path / "none")]) == 2
    assert main(["export", "verify", str(tiny_bundle.dir), "--windows", "0"]) == 2
    assert main(["export", "verify", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "no such dataset folder" in err[0] and "--windows" in err[1] and "bundle" in err[2]
