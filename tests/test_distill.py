"""Distillation: the KD + CTC loss on hand-computed cases, the trainer hook, `emgrt distill`."""

import json
import math
import sys
import tomllib
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from emgrt.errors import ConfigError  # noqa: E402
from emgrt.train.checkpoint import load_checkpoint, seed_everything  # noqa: E402
from emgrt.train.distill import DistillLoss, DistillTrainer, check_compatible, frame_mask  # noqa: E402
from emgrt.train.model import StreamingCTCModel  # noqa: E402
from emgrt.train.recipe import DistillConfig, OptimConfig, Recipe, TrainConfig  # noqa: E402
from emgrt.train.trainer import Trainer, ctc_loss, model_outputs  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_train import toy_cfg, toy_collate, toy_loader, ToyData  # noqa: E402

pytestmark = pytest.mark.torch
LN2 = math.log(2.0)


def two_frames():
    """Teacher / student posteriors of 1 item, 2 frames x 3 classes, as log-probabilities."""
    teacher = torch.tensor([[[0.5, 0.25, 0.25], [1 / 3, 1 / 3, 1 / 3]]]).log()
    student = torch.tensor([[[0.25, 0.5, 0.25], [0.5, 0.25, 0.25]]]).log()
    return teacher, student


def test_kd_is_the_mean_kl_over_valid_frames():
    teacher, student = two_frames()
    # KL(t || s): frame 0 = .5 ln 2 + .25 ln .5 = ln2 / 4; frame 1 = (ln(2/3) + 2 ln(4/3)) / 3
    kl0 = LN2 / 4
    kl1 = math.log(32 / 27) / 3
    loss = DistillLoss(temperature=1.0)
    both = loss.kd(student, teacher, torch.tensor([[True, True]]))
    assert float(both) == pytest.approx((kl0 + kl1) / 2, abs=1e-6)
    first = loss.kd(student, teacher, frame_mask(torch.tensor([1]), 2))
    assert float(first) == pytest.approx(kl0, abs=1e-6)
    # KL direction: teacher is the reference distribution
    assert float(loss.kd(teacher, student, torch.ones(1, 2, dtype=torch.bool))) != pytest.approx(float(both))
    # identical posteriors: zero
    assert float(loss.kd(teacher, teacher, torch.ones(1, 2, dtype=torch.bool))) == pytest.approx(0, abs=1e-7)


def test_temperature_softens_and_scales_by_t_squared():
    teacher, student = two_frames()
    # T = 2: frame 0 softened to p_t ~ [sqrt2, 1, 1], p_s ~ [1, sqrt2, 1] (same normaliser
    # sqrt2 + 2): KL = (sqrt2 - 1) / (sqrt2 + 2) * ln(2) / 2, times T^2 = 4
    r2 = math.sqrt(2.0)
    expected = 4 * (r2 - 1) / (r2 + 2) * LN2 / 2
    got = DistillLoss(temperature=2.0).kd(student, teacher, torch.tensor([[True, False]]))
    assert float(got) == pytest.approx(expected, abs=1e-6)
    # logits (any per-frame shift) give the same loss as log-probabilities
    shifted = DistillLoss(temperature=2.0).kd(student + 5.0, teacher - 3.0, torch.tensor([[True, False]]))
    assert float(shifted) == pytest.approx(expected, abs=1e-5)


def test_alpha_beta_weighting_and_no_gradient_into_the_teacher():
    teacher, student = two_frames()
    student = student.clone().requires_grad_(True)
    teacher = teacher.clone().requires_grad_(True)
    mask = torch.ones(1, 2, dtype=torch.bool)
    kd_ref = (LN2 / 4 + math.log(32 / 27) / 3) / 2
    ctc = torch.tensor(3.0)
    total, kd = DistillLoss(alpha=0.5, beta=1.0)(student, teacher, mask, ctc)
    assert float(kd.detach()) == pytest.approx(kd_ref, abs=1e-6)
    assert float(total.detach()) == pytest.approx(0.5 * kd_ref + 3.0, abs=1e-6)
    total2, _ = DistillLoss(alpha=2.0, beta=0.25)(student, teacher, mask, ctc)
    assert float(total2.detach()) == pytest.approx(2.0 * kd_ref + 0.75, abs=1e-6)
    total.backward()
    assert teacher.grad is None and student.grad is not None
    # the student's gradient at T=1: alpha * (p_s - p_t) / frames, per frame
    p_s, p_t = student.detach().exp(), teacher.detach().exp()
    assert torch.allclose(student.grad, 0.5 * (p_s - p_t) / 2, atol=1e-6)


def test_distill_table_in_recipes():
    r = Recipe.from_dict({"model": {"name": "tiny"}, "train": {"epochs": 1}, "distill": {"temperature": 2}})
    assert r.distill == DistillConfig(alpha=0.5, beta=1.0, temperature=2.0)
    assert Recipe.from_dict(r.to_dict()) == r
    assert "distill" not in Recipe.from_dict({"model": {"name": "tiny"}}).to_dict()
    with pytest.raises(ConfigError, match="distill.temperature"):
        Recipe.from_dict({"model": {"name": "tiny"}, "distill": {"temperature": 0}})
    with pytest.raises(ConfigError, match="gamma"):
        Recipe.from_dict({"model": {"name": "tiny"}, "distill": {"gamma": 1}})


def test_stride_mismatch_names_both_strides():
    teacher = StreamingCTCModel(toy_cfg(subsample=4, lookahead=4, conv_past=4))
    student = StreamingCTCModel(toy_cfg(subsample=2))
    with pytest.raises(ConfigError, match=r"teacher stride 4.*student stride 2"):
        check_compatible(teacher, student)
    check_compatible(teacher, StreamingCTCModel(toy_cfg(subsample=4, lookahead=4, conv_past=4, dim=32)))


def kd_recipe(steps: int = 4, alpha: float = 0.5) -> Recipe:
    return Recipe(
        model=toy_cfg(dim=32, dropout=0.0),
        optim=OptimConfig(lr=3e-3, warmup_frac=0.2),
        train=TrainConfig(max_steps=steps, val_every=steps, log_every=1, skip_context_outputs=False),
        distill=DistillConfig(alpha=alpha, beta=1.0, temperature=2.0),
        name="kd",
    )


def test_distill_trainer_loss_is_alpha_kd_plus_beta_ctc(tmp_path):
    seed_everything(0)
    teacher = StreamingCTCModel(toy_cfg(dropout=0.3)).train()  # dropout: must be run in eval mode
    recipe = kd_recipe()
    trainer = DistillTrainer(recipe, StreamingCTCModel(recipe.model), teacher, toy_loader(), toy_loader(False),
                             tmp_path, progress=False, log=lambda s: None)
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    batch = toy_collate([ToyData()[i] for i in range(4)])
    lp, lengths = trainer.forward(batch)
    got = trainer.loss(batch, lp, lengths)
    with torch.no_grad():
        t_lp, t_len = model_outputs(teacher.eval(), batch, False)
    ctc = ctc_loss(lp, lengths, batch["targets"], batch["target_lengths"], 98)
    kd = DistillLoss(temperature=2.0).kd(lp, t_lp, frame_mask(torch.minimum(lengths, t_len), lp.shape[1]))
    assert float(kd.detach()) > 0
    assert float(got.detach()) == pytest.approx(float((0.5 * kd + ctc).detach()), rel=1e-6)
    assert trainer.last_terms["kd"] == pytest.approx(float(kd.detach()), rel=1e-6)

    summary = trainer.fit()
    assert summary["step"] == 4
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert set(ckpt["model"]) == set(trainer.module.state_dict())  # the student only
    assert Recipe.from_dict(ckpt["recipe"]).distill == recipe.distill


def test_distillation_pulls_the_student_towards_the_teacher():
    """With the CTC term off, training lowers the KD term (the student imitates the teacher)."""
    seed_everything(1)
    cfg = toy_cfg(layers=1, dim=32, dropout=0.0)
    teacher = StreamingCTCModel(cfg)
    recipe = Recipe(
        model=cfg,
        optim=OptimConfig(lr=1e-2, warmup_frac=0.0),
        train=TrainConfig(max_steps=12, log_every=1, skip_context_outputs=False),
        distill=DistillConfig(alpha=1.0, beta=0.0, temperature=1.0),
    )
    batch = toy_collate([ToyData(n=2)[i] for i in range(2)])
    trainer = DistillTrainer(recipe, StreamingCTCModel(cfg), teacher, [batch], None, None,
                             progress=False, log=lambda s: None)
    losses = [trainer.train_step(batch)["loss"] for _ in range(12)]
    assert losses[-1] < 0.3 * losses[0], losses


# -- `emgrt distill` over the real loader -------------------------------------------------------

RECIPE = """
[model]
layers = 2
dim = {dim}
heads = 2
band_width = 16
subsample = {subsample}
[optim]
lr = 2e-3
[train]
max_steps = 2
val_every = 2
val_max_batches = 1
log_every = 1
[data]
stride = 4000
[data.loader]
batch_size = 4
num_workers = 0
[distill]
temperature = 2.0
"""


def dataset_and_teacher(tmp_path: Path) -> Path:
    """A tiny dataset folder and an (untrained) teacher run at tmp_path/teacher; returns the data."""
    from test_data_fixtures import make_dataset

    data = make_dataset(tmp_path / "data", (21_000, 9_000, 17_000))
    teacher_recipe = Recipe.from_dict(tomllib.loads(RECIPE.format(dim=64, subsample=4)), name="teacher")
    seed_everything(0)
    Trainer(teacher_recipe, StreamingCTCModel(teacher_recipe.model), [None], None, tmp_path / "teacher",
            progress=False).save("best.pt")
    return data


def test_distill_cli(tmp_path, capsys):
    from emgrt.cli import main

    data = dataset_and_teacher(tmp_path)
    student = tmp_path / "student.toml"
    student.write_text(RECIPE.format(dim=32, subsample=4))
    run = tmp_path / "run"
    args = ["distill", "--teacher", str(tmp_path / "teacher"), "--recipe", str(student), "--data", str(data),
            "--out", str(run), "--threads", "1", "--json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["step"] == 2
    info = json.loads((run / "run.json").read_text())
    assert info["distill"] == {"alpha": 0.5, "beta": 1.0, "temperature": 2.0}
    assert info["teacher_params"] > info["params"]
    ckpt = load_checkpoint(run / "best.pt")
    assert ckpt["model_config"]["dim"] == 32
    # a student at another frame rate is refused, naming both strides
    bad = tmp_path / "bad.toml"
    bad.write_text(RECIPE.format(dim=32, subsample=2))
    capsys.readouterr()
    bad_args = ["distill", "--teacher", str(tmp_path / "teacher"), "--recipe", str(bad), "--data", str(data),
                "--out", str(tmp_path / "run2")]
    assert main(bad_args) == 2
    err = capsys.readouterr().err
    assert "teacher stride 4" in err and "student stride 2" in err


# -- distillation under DDP (gloo, CPU) ---------------------------------------------------------


def distill_step(rank: int, world_size: int) -> dict:
    """One DistillTrainer.train_step on this rank's shard of test_ddp's global batch."""
    from test_ddp import GLOBAL_BATCH, global_batch

    from emgrt.train.dist import wrap_ddp

    torch.set_num_threads(1)
    seed_everything(1)
    teacher = StreamingCTCModel(toy_cfg(dropout=0.0))
    seed_everything(0)
    recipe = kd_recipe(steps=1)
    model = wrap_ddp(StreamingCTCModel(recipe.model), "cpu")
    per_rank = GLOBAL_BATCH // world_size
    shard = toy_collate(global_batch()[rank * per_rank : (rank + 1) * per_rank])
    trainer = DistillTrainer(recipe, model, teacher, [shard], None, None, rank=rank, world_size=world_size,
                             progress=False, log=lambda s: None)
    out = trainer.train_step(shard)
    return {"loss": out["loss"], "grads": {n: p.grad.clone() for n, p in trainer.module.named_parameters()}}


def _distill_worker(rank: int, world_size: int, port: int, out_dir: str) -> None:
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size))
    from emgrt.train.dist import cleanup, init_distributed

    init_distributed()
    try:
        torch.save(distill_step(rank, world_size), Path(out_dir) / f"rank{rank}.pt")
    finally:
        cleanup()


def test_two_gloo_processes_distill_like_one_process(tmp_path):
    import torch.multiprocessing as mp
    from test_ddp import free_port

    single = distill_step(0, 1)
    mp.spawn(_distill_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    for r in range(2):
        got = torch.load(tmp_path / f"rank{r}.pt", weights_only=False)
        assert got["loss"] == pytest.approx(single["loss"], abs=1e-5)
        for name, g in single["grads"].items():
            assert torch.allclose(got["grads"][name], g, atol=1e-5, rtol=0), name


@pytest.mark.slow
def test_distill_cli_under_torchrun_writes_from_rank_0_only(tmp_path):
    """`torchrun --nproc-per-node 2 -m emgrt distill ... --profile 1`: DDP (world size 2 in
    run.json), one summary line, one trace, and the trace shows the gradient all-reduce."""
    import os
    import subprocess

    from emgrt.trace import summarize

    data = dataset_and_teacher(tmp_path)
    student = tmp_path / "student.toml"
    student.write_text(RECIPE.format(dim=32, subsample=4).replace("max_steps = 2", "max_steps = 3"))
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "emgrt", "distill", "--teacher", str(tmp_path / "teacher"), "--recipe", str(student),
           "--data", str(data), "--out", str(run), "--threads", "1", "--profile", "1", "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout)  # exactly one JSON document: rank 1 printed nothing
    assert summary["step"] == 3
    info = json.loads((run / "run.json").read_text())
    assert info["world_size"] == 2 and info["distill"]["temperature"] == 2.0
    assert r.stderr.count("profile: trace of steps 3-3 written") == 1
    traces = list((run / "trace").glob("*.json"))
    assert [t.name for t in traces] == ["train-steps3-3.json"]
    s = summarize(traces[0])
    assert s.ms["communication"] > 0 and s.ms["forward"] > 0 and s.ms["backward"] > 0
