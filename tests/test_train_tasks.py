"""The task seam in training: one Trainer for typing, handwriting and gestures; the framewise
targets of the gesture objective; each one-band task's loss falls; `emgrt train` end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from emgrt.constants import SAMPLE_RATE_HZ  # noqa: E402
from emgrt.synth.gestures import GestureDatasetConfig, generate_gestures  # noqa: E402
from emgrt.synth.handwriting import HandwritingDatasetConfig, generate_handwriting  # noqa: E402
from emgrt.tasks import task_spec  # noqa: E402
from emgrt.train.checkpoint import load_checkpoint  # noqa: E402
from emgrt.train.loader import build_loader  # noqa: E402
from emgrt.train.model import ModelConfig, StreamingCTCModel  # noqa: E402
from emgrt.train.objective import TARGET_DELAY_S, CtcObjective, FramewiseObjective, make_objective  # noqa: E402
from emgrt.train.outputs import model_outputs, output_sample_times  # noqa: E402
from emgrt.train.recipe import Recipe  # noqa: E402

pytestmark = pytest.mark.torch
RECIPES = Path(__file__).resolve().parents[1] / "models" / "recipes"
TINY = dict(users=3, sessions=2, minutes=0.25, seed=11, test_users=1, val_sessions=1)
SMALL_MODEL = ["model.layers=2", "model.dim=64", "model.heads=2", "model.band_width=16", "model.dropout=0.0"]
SMALL_DATA = ["data.loader.num_workers=0", "data.loader.batch_size=4"]
GESTURE_WINDOWS = ["data.window_length=4000", "data.stride=4000"]  # the tiny sessions are ~7 s partitions


@pytest.fixture(scope="module")
def task_data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("task-data")
    generate_gestures(root / "gestures", GestureDatasetConfig(**TINY), workers=1)
    generate_handwriting(root / "handwriting", HandwritingDatasetConfig(**TINY), workers=1)
    return {"gestures": root / "gestures", "handwriting": root / "handwriting"}


def recipe(task: str, *extra: str) -> Recipe:
    more = GESTURE_WINDOWS if task == "gestures" else []
    return Recipe.from_toml(RECIPES / f"{task}.toml", [*SMALL_MODEL, *SMALL_DATA, *more, *extra])


def fit_fixed_batch(model, objective, batch, steps: int = 20) -> list[float]:
    """The losses of ``steps`` AdamW updates on one batch."""
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(steps):
        loss = objective.loss(*model_outputs(model, batch), batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def test_make_objective_follows_the_task():
    assert type(make_objective(task_spec("typing"))) is CtcObjective
    assert type(make_objective(task_spec("handwriting"))) is CtcObjective
    assert type(make_objective(task_spec("gestures"))) is FramewiseObjective


def test_framewise_targets_pulse_after_each_gesture():
    """Hand-made batch: the frames timed 80-120 ms after an event take its class, the rest the
    no-gesture class, padding frames are invalid."""
    spec = task_spec("gestures")
    model = StreamingCTCModel(ModelConfig(layers=1, dim=32, heads=2, band_width=8, subsample=4, left_context=8,
                                          lookahead=0, conv_past=4, num_outputs=10, blank=9, bands=1))
    objective = make_objective(spec, model, skip_context=False)
    t = 40
    batch = {
        "feature_lengths": torch.tensor([160, 120]),
        "targets": torch.tensor([[2, 7], [4, 9]]),  # item 1 has one event (the second is padding)
        "target_lengths": torch.tensor([2, 1]),
        "target_times": np.array([[600.0, 1800.0], [1000.0, np.nan]]),
    }
    log_probs = torch.zeros(2, t, 10).log_softmax(-1)
    lengths = torch.tensor([40, 30])
    target, valid = objective.targets(log_probs, lengths, batch)
    at = output_sample_times(model, batch, t, skip_context=False)
    lo, hi = (d * SAMPLE_RATE_HZ for d in TARGET_DELAY_S)
    for i, events in enumerate([[(2, 600.0), (7, 1800.0)], [(4, 1000.0)]]):
        want = torch.full((t,), 9)
        for label, when in events:
            pulse = (at[i] - when >= lo) & (at[i] - when < hi)
            assert pulse[: int(lengths[i])].any()  # every event lands on an output frame
            want[pulse] = label
        assert torch.equal(target[i], want)
    assert valid[0].all() and valid[1, :30].all() and not valid[1, 30:].any()


@pytest.mark.parametrize("task", ["gestures", "handwriting"])
def test_a_few_steps_lower_the_task_loss_on_a_fixed_batch(task_data, task):
    r = recipe(task)
    torch.manual_seed(0)
    loader = build_loader(r.data_cfg, task_data[task], "train", train=False, task=r.spec)
    batch = next(iter(loader))
    assert batch["features"].shape[2] == 1  # one band
    model = StreamingCTCModel(r.model).train()
    objective = make_objective(r.spec, model)
    losses = fit_fixed_batch(model, objective, batch)
    assert all(math.isfinite(x) for x in losses) and losses[-1] < 0.7 * losses[0], losses
    with torch.no_grad():
        score = objective.score(*model_outputs(model.eval(), batch), batch)
    assert math.isfinite(score.value) and score.details()


@pytest.mark.parametrize("task, metric", [("gestures", "cler"), ("handwriting", "cer")])
def test_emgrt_train_runs_each_task_through_the_one_trainer(task_data, task, metric, tmp_path, capsys):
    from emgrt.cli import main

    run = tmp_path / "run"
    sets = [*SMALL_MODEL, *SMALL_DATA, *(GESTURE_WINDOWS if task == "gestures" else []),
            "train.max_steps=3", "train.val_every=3", "train.log_every=1", "train.val_max_batches=0"]
    args = ["train", "--recipe", str(RECIPES / f"{task}.toml"), "--data", str(task_data[task]), "--out", str(run),
            "--threads", "1", "--json", *(a for s in sets for a in ("--set", s))]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["step"] == 3 and summary["stopped"] == "done" and math.isfinite(summary[f"best_val_{metric}"])
    info = json.loads((run / "run.json").read_text())
    assert info["task"] == task and info["recipe"]["task"] == task
    recs = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in recs if r["kind"] == "val"]
    assert val and f"val_{metric}" in val[-1] and math.isfinite(val[-1]["val_loss"])
    ckpt = load_checkpoint(run / "best.pt")
    assert ckpt["metric"] == metric and ckpt["best_metric"] == summary[f"best_val_{metric}"]
    # `emgrt eval` scores the checkpoint with the task's metric: the validation figure again
    capsys.readouterr()
    assert main(["eval", str(run), "--data", str(task_data[task]), "--split", "val", "--json", "--threads", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["task"] == task and result["metric"] == metric
    assert result["overall"][metric] == pytest.approx(val[-1][f"val_{metric}"])
    assert main(["eval", str(run), "--data", str(task_data[task]), "--split", "val", "--threads", "1"]) == 0
    assert metric.upper() in capsys.readouterr().out  # the table names the metric


def test_gesture_eval_refuses_a_text_decoder(task_data, tmp_path, capsys):
    from emgrt.cli import main

    run = tmp_path / "run"
    sets = [*SMALL_MODEL, *SMALL_DATA, *GESTURE_WINDOWS, "train.max_steps=1", "train.val_every=1", "train.val_max_batches=1"]
    assert main(["train", "--recipe", str(RECIPES / "gestures.toml"), "--data", str(task_data["gestures"]), "--out",
                 str(run), "--threads", "1", *(a for s in sets for a in ("--set", s))]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--data", str(task_data["gestures"]), "--decoder", "char-lm"]) == 2
    assert "CLER" in capsys.readouterr().err


def test_a_dataset_too_small_for_the_windows_is_a_one_line_error(task_data, tmp_path, capsys):
    from emgrt.cli import main

    args = ["train", "--recipe", str(RECIPES / "gestures.toml"), "--data", str(task_data["gestures"]),
            "--out", str(tmp_path / "run"), "--threads", "1", "--set", "train.max_steps=1"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "gives no training windows" in err and "window_length 16000" in err and "Traceback" not in err
    assert len(err.splitlines()) == 1


def test_a_typing_folder_for_a_gni_task_is_a_clear_error(tmp_path, capsys):
    from emgrt.cli import main

    (tmp_path / "typing").mkdir()
    args = ["train", "--recipe", str(RECIPES / "handwriting.toml"), "--data", str(tmp_path / "typing"),
            "--out", str(tmp_path / "run"), "--threads", "1", "--set", "train.max_steps=1"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "handwriting_corpus.csv" in err and "synth --task handwriting" in err and "Traceback" not in err


def test_the_lstm_comparison_model_trains_through_the_same_seam(task_data):
    """`model = {arch = "lstm", ...}`: the recurrent model of emgrt.train.rnn (the transformer's
    input block, a causal LSTM) is built by the recipe, timed like the transformer (same outputs
    per frame, lookahead dropped at the end) and its gesture loss falls on a fixed batch."""
    from emgrt.train.rnn import RecurrentModel
    from emgrt.train.trainer import build_model

    r = Recipe.from_toml(RECIPES / "gestures.toml",
                         ['model={arch="lstm", hidden=48, band_width=16, dropout=0.0}', *SMALL_DATA, *GESTURE_WINDOWS])
    assert r.model.num_outputs == 10 and r.model.blank == 9 and r.model.bands == 1
    model = build_model(r.model)
    assert isinstance(model, RecurrentModel)
    # Causal: the outputs before time frame f do not change when the input after f + lookahead does.
    x = torch.randn(1, 200, 1, 16, 33)
    y = x.clone()
    y[:, 120:] += 5.0
    model.eval()
    with torch.no_grad():
        a, la = model(x)
        b, _ = model(y)
    assert int(la[0]) == 200 // 4 - 12 // 4 == a.shape[1]
    cut = (120 - 12) // 4  # outputs timed before frame 120 - lookahead saw nothing after 120
    assert torch.allclose(a[:, :cut], b[:, :cut]) and not torch.allclose(a[:, cut + 1 :], b[:, cut + 1 :])
    torch.manual_seed(0)
    batch = next(iter(build_loader(r.data_cfg, task_data["gestures"], "train", train=False, task=r.spec)))
    model.train()
    objective = make_objective(r.spec, model)
    losses = fit_fixed_batch(model, objective, batch)
    assert losses[-1] < 0.7 * losses[0], losses


def test_an_lstm_model_table_with_transformer_keys_is_a_one_line_error():
    from emgrt.errors import ConfigError

    with pytest.raises(ConfigError, match="left_context"):
        Recipe.from_toml(RECIPES / "gestures.toml", ["model.arch=lstm"])


FUSION = ["model.imu=6", "data.imu=true"]


def test_fusion_items_carry_the_imu_at_each_frame_and_dropout_removes_it(task_data):
    """[data] imu: each item's IMU is the band's IMU interpolated at the last sample of each frame
    (checked against the file), padded in the batch; the modality dropout zeroes a share of the
    training windows' IMU, drawn from the item's own stream (the same on a second pass)."""
    from emgrt.data.dataset import WindowedDataset
    from emgrt.data.sources import split_sources
    from emgrt.io.imu import read_imu

    r = recipe("gestures", *FUSION, "data.augment.imu_dropout=0.5")
    spec = r.spec
    sources = split_sources(spec, task_data["gestures"], "train")
    ds = WindowedDataset(sources, r.data_cfg.resolve(None, train=False), train=False, task=spec)
    item = ds.get(0)
    assert item.imu.shape == (item.n_frames, 6) and item.imu_present
    src = ds.sessions[int(ds.index.session[0])]
    idx = np.minimum(item.start + np.arange(item.n_frames) * 16 + 64 - 1, len(src.time) - 1)
    imu = read_imu(src.path, None)
    want = np.interp(src.time[idx], imu.time, imu.accel()[:, 2])
    assert np.allclose(item.imu[:, 2], want, atol=1e-4) and np.abs(item.imu[:, 2]).max() > 1.0  # gravity is there
    train = WindowedDataset(sources, r.data_cfg.resolve(None, train=True), train=True, task=spec, seed=3)
    draws = [train.get(i, epoch=0).imu_present for i in range(len(train))]
    assert 0 < sum(draws) < len(draws) and draws == [train.get(i, epoch=0).imu_present for i in range(len(train))]
    gone = next(i for i, kept in enumerate(draws) if not kept)
    assert not train.get(gone, epoch=0).imu.any()
    batch = next(iter(build_loader(r.data_cfg, task_data["gestures"], "train", train=False, task=spec)))
    assert batch["imu"].shape[:2] == batch["features"].shape[:2] and batch["imu_present"].dtype == torch.bool


def test_a_fusing_model_learns_and_an_absent_imu_is_no_imu(task_data):
    r = recipe("gestures", *FUSION)
    assert r.model.imu == 6
    torch.manual_seed(0)
    batch = next(iter(build_loader(r.data_cfg, task_data["gestures"], "train", train=False, task=r.spec)))
    model = StreamingCTCModel(r.model).eval()
    with torch.no_grad():
        with_imu = model(batch["features"], batch["feature_lengths"], batch["imu"], batch["imu_present"])[0]
        absent = model(batch["features"], batch["feature_lengths"], batch["imu"], torch.zeros_like(batch["imu_present"]))[0]
        none = model(batch["features"], batch["feature_lengths"])[0]
    assert torch.equal(absent, none) and not torch.allclose(with_imu, none)
    model.train()
    objective = make_objective(r.spec, model)
    losses = fit_fixed_batch(model, objective, batch)
    assert losses[-1] < 0.7 * losses[0], losses
    assert model.input.imu_proj.weight.grad is not None and model.input.imu_proj.weight.grad.abs().sum() > 0


def test_fusion_settings_that_do_not_fit_are_one_line_errors():
    from emgrt.errors import ConfigError

    with pytest.raises(ConfigError, match=r"model.imu = 6 needs data.imu = true"):
        recipe("gestures", "model.imu=6")
    with pytest.raises(ConfigError, match=r"model.imu = 0 needs data.imu = false"):
        recipe("gestures", "data.imu=true")
    with pytest.raises(ConfigError, match=r"IMU fusion is for the one-band tasks"):
        Recipe.from_toml(RECIPES / "student.toml", ["model.imu=6", "data.imu=true"])


def test_a_fused_run_trains_and_is_scored_with_and_without_its_imu(task_data, tmp_path, capsys):
    """`emgrt train` with the IMU fused, then `emgrt eval` as trained and `--without-imu`: the same
    recordings, the IMU marked absent (what a band whose IMU stream is missing gives)."""
    from emgrt.cli import main

    run = tmp_path / "fused"
    sets = [*SMALL_MODEL, *SMALL_DATA, *GESTURE_WINDOWS, *FUSION, "data.augment.imu_dropout=0.25",
            "train.max_steps=3", "train.val_every=3", "train.val_max_batches=0"]
    args = ["train", "--recipe", str(RECIPES / "gestures.toml"), "--data", str(task_data["gestures"]), "--out", str(run),
            "--threads", "1", "--json", *(a for s in sets for a in ("--set", s))]
    assert main(args) == 0
    capsys.readouterr()
    results = {}
    for extra in ([], ["--without-imu"]):
        assert main(["eval", str(run), "--data", str(task_data["gestures"]), "--split", "val", "--json", *extra]) == 0
        results[bool(extra)] = json.loads(capsys.readouterr().out)
    assert "imu" not in results[False] and results[True]["imu"] == "absent"
    assert results[True]["overall"]["matched"] + results[True]["overall"]["missed"] == \
        results[False]["overall"]["matched"] + results[False]["overall"]["missed"]  # the same prompts
    assert results[True]["users"]["all"]["loss"] != results[False]["users"]["all"]["loss"]
