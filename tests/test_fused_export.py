"""Bundles of models that fuse the band's IMU (model config ``imu = 6``): the graphs' IMU inputs,
parity with the IMU present and absent, and the manifest rules that tie them to ``task.inputs``."""

from __future__ import annotations

import json
import shutil
import uuid

import numpy as np
import pytest

from emgrt.bundle import Bundle, BundleError, write_manifest
from emgrt.synth import GestureDatasetConfig, generate_gestures
from emgrt.tasks import task_spec

from test_task_bundles import TINY, TINY_MODEL

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

FUSED_MODEL = {**TINY_MODEL, "imu": 6}


def fused_model():
    """An untrained, seeded gestures model that fuses the IMU, with non-trivial normalisation
    statistics (the exported graphs fold them) and weights large enough that the IMU matters."""
    from emgrt.train.model import StreamingCTCModel
    from emgrt.train.recipe import model_config_from_dict

    torch.manual_seed(0)
    model = StreamingCTCModel(model_config_from_dict(FUSED_MODEL, task_spec("gestures"))).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.mul_(10.0)
        for norm in (model.input.norm, model.input.imu_norm):
            norm.running_mean.normal_(0.0, 2.0)
            norm.running_var.uniform_(0.5, 4.0)
        model.head.bias[model.cfg.blank] = -2.0
    return model


@pytest.fixture(scope="module")
def fused_bundle(tmp_path_factory) -> Bundle:
    from emgrt.train.export import export_model

    recipe = {"task": "gestures", "model": FUSED_MODEL, "train": {"max_steps": 1},
              "data": {"filters": [], "imu": True, "augment": {"alignment_jitter": 0}}}
    return Bundle.load(export_model(fused_model(), recipe, tmp_path_factory.mktemp("fused") / "bundle"))


@pytest.fixture(scope="module")
def imu_gestures(tmp_path_factory):
    out = tmp_path_factory.mktemp("gni-imu") / "gestures"
    generate_gestures(out, GestureDatasetConfig(**TINY), workers=1)
    return out


def test_a_fused_gestures_model_exports_with_the_imu_inputs(fused_bundle):
    m, spec = fused_bundle.manifest, fused_bundle.spec
    f = m["stream"]["frames_per_step"]
    assert m["task"] == {"name": "gestures", "inputs": ["emg", "imu"]}

    def shapes(graph: str) -> list[tuple]:
        return [(t["name"], t["shape"], t["dtype"]) for t in m[graph]["inputs"]]

    assert shapes("step_graph")[:4] == [("frames", [1, f, 1, 16, 33], "float32"), ("imu", [1, f, 6], "float32"),
                                        ("imu_present", [1], "float32"), ("warmup", [1], "float32")]
    assert shapes("batched_step_graph")[:4] == [("frames", ["batch", f, 1, 16, 33], "float32"),
                                                ("imu", ["batch", f, 6], "float32"),
                                                ("imu_present", ["batch"], "float32"), ("warmup", ["batch", 1], "float32")]
    assert shapes("full_graph") == [("features", [1, "T", 1, 16, 33], "float32"), ("imu", [1, "T", 6], "float32"),
                                    ("imu_present", [1], "float32")]
    assert [t.name for t in spec.step_graph.frames_input] == ["frames"]
    assert [t.name for t in spec.step_graph.imu_inputs] == ["imu", "imu_present"]
    assert len(m["step_graph"]["outputs"]) == 1 + len(m["step_graph"]["state"])  # outputs unchanged
    assert "reads: EMG + IMU" in (fused_bundle.dir / "MODEL_CARD.md").read_text()


@pytest.mark.slow
def test_fused_parity_with_the_imu_present_and_absent(fused_bundle, imu_gestures):
    """Real windows with their recording's IMU: torch == full == step == batched (<= 1e-4), with the
    IMU present and absent; absent is the model with the IMU zeroed and marked absent, whatever
    the imu input holds."""
    from emgrt.stream.step_runner import make_session
    from emgrt.train.export import _windows, stream_batched_step_graph, stream_step_graph, verify_bundle

    rep = verify_bundle(fused_bundle.dir, imu_gestures, windows=2)
    assert rep["imu_windows"] == 2 and rep["step_vs_full_imu_absent_ok"], rep
    assert rep["step_vs_full_ok"] and rep["batched_vs_step_ok"], rep
    model = fused_model()
    full, step = make_session(fused_bundle.full_path), make_session(fused_bundle.step_path)
    batched = make_session(fused_bundle.batched_step_path)
    wins, _, imus = _windows(fused_bundle, imu_gestures, 2)
    (feats, _), (other, _) = wins
    imu, t = imus[0], feats.shape[1]
    assert imu.shape == (1, t, 6) and np.abs(imu[..., 2]).max() > 1.0  # gravity is there
    present, absent, one, zero = {}, {}, np.ones(1, np.float32), np.zeros(1, np.float32)
    with torch.no_grad():
        present["torch"] = model(torch.from_numpy(feats), None, torch.from_numpy(imu), torch.ones(1))[0][0].numpy()
        absent["torch"] = model(torch.from_numpy(feats), None, torch.zeros(1, t, 6), torch.zeros(1))[0][0].numpy()
    present["full"] = full.run(None, {"features": feats, "imu": imu, "imu_present": one})[0][0]
    absent["full"] = full.run(None, {"features": feats, "imu": np.zeros_like(imu), "imu_present": zero})[0][0]
    noise = np.random.default_rng(0).normal(0, 20, imu.shape).astype(np.float32)
    assert np.array_equal(full.run(None, {"features": feats, "imu": noise, "imu_present": zero})[0][0], absent["full"])
    present["step"] = stream_step_graph(step, fused_bundle, feats, imu)
    absent["step"] = stream_step_graph(step, fused_bundle, feats)
    present["batched"] = stream_batched_step_graph(batched, fused_bundle, [feats, other], [0, 3], [imu, imus[1]])[0]
    absent["batched"] = stream_batched_step_graph(batched, fused_bundle, [feats, other], [0, 3])[0]
    for got in (present, absent):
        n = len(got["step"])
        assert 0 < n <= len(got["full"]) and np.abs(got["torch"] - got["full"]).max() <= 1e-4
        assert np.abs(got["step"] - got["full"][:n]).max() <= 1e-4
        assert np.abs(got["batched"] - got["step"]).max() <= 1e-4
    assert np.abs(present["full"] - absent["full"]).max() > 1e-2  # the IMU really enters


def _edited(bundle: Bundle, tmp_path, edit) -> str:
    """The one-line error of loading a copy of ``bundle`` whose manifest ``edit`` changed (re-sealed:
    only the content is wrong)."""
    d = tmp_path / uuid.uuid4().hex[:6]
    shutil.copytree(bundle.dir, d)
    m = json.loads((d / "manifest.json").read_text())
    edit(m)
    with pytest.raises(BundleError) as err:
        write_manifest(d, m)
        Bundle.load(d)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_the_manifest_ties_the_imu_inputs_to_the_task(fused_bundle, tmp_path):
    def emg_only(m):
        m["task"]["inputs"] = ["emg"]

    def drop(graph, name):
        return lambda m: m[graph].update(inputs=[t for t in m[graph]["inputs"] if t["name"] != name])

    def reshape(m):
        m["batched_step_graph"]["inputs"][1]["shape"] = ["batch", 4, 3]

    def swap(m):  # the typed rules hold, the graph's real order differs
        ins = m["full_graph"]["inputs"]
        ins[1], ins[2] = ins[2], ins[1]

    def strip(m):  # an EMG-only manifest over graphs that take the IMU
        emg_only(m)
        for graph in ("step_graph", "batched_step_graph", "full_graph"):
            drop(graph, "imu")(m)
            drop(graph, "imu_present")(m)

    err = _edited(fused_bundle, tmp_path, emg_only)
    assert "step_graph.inputs: must be free of ['imu', 'imu_present'] unless task.inputs has 'imu'" in err
    err = _edited(fused_bundle, tmp_path, drop("step_graph", "imu_present"))
    assert "step_graph.inputs: must be a list with 'imu_present' [1] float32" in err
    assert "full_graph.inputs" in _edited(fused_bundle, tmp_path, drop("full_graph", "imu"))
    assert "batched_step_graph.inputs.imu.shape: must be ['batch', 4, 6]" in _edited(fused_bundle, tmp_path, reshape)
    assert "full.onnx: input 1 of the graph is 'imu'" in _edited(fused_bundle, tmp_path, swap)
    assert "step.onnx: input 1 of the graph is 'imu'" in _edited(fused_bundle, tmp_path, strip)


def test_an_emg_only_manifest_refuses_an_imu_input(tiny_bundle):
    """The typed rules alone (no files): an EMG-only bundle's step graph may not declare `imu`."""
    from emgrt.manifest import Manifest
    from emgrt.validate import parse

    m = json.loads(json.dumps(tiny_bundle.manifest))
    assert m["task"]["inputs"] == ["emg"] and [t["name"] for t in m["full_graph"]["inputs"]] == ["features"]
    parse(Manifest, m)
    m["step_graph"]["inputs"].insert(1, {"name": "imu", "shape": [1, m["stream"]["frames_per_step"], 6], "dtype": "float32"})
    with pytest.raises(BundleError, match=r"^step_graph\.inputs: must be free of \['imu', 'imu_present'\] unless "
                                          r"task\.inputs has 'imu', got \['imu'\]$"):
        parse(Manifest, m, error=BundleError)


def test_a_fused_batch_too_short_for_an_output_is_padded_with_its_imu():
    """Evaluation pads a batch too short for the first output; a fused model's IMU rows alike,
    so the forward runs (its items still get no output frame)."""
    from emgrt.train.outputs import model_outputs, runnable_batch

    model = fused_model()
    batch = {"features": torch.zeros(2, 3, 1, 16, 33), "feature_lengths": torch.tensor([3, 2]),
             "imu": torch.ones(2, 3, 6), "imu_present": torch.ones(2, dtype=torch.bool)}
    out = runnable_batch(batch, model)
    assert out["features"].shape[1] == out["imu"].shape[1] > 3 and out["imu"][:, 3:].abs().sum() == 0
    with torch.no_grad():
        _, lengths = model_outputs(model, out, True)
    assert lengths.tolist() == [0, 0]
