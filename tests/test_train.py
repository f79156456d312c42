"""The trainer: LR schedule, CTC helpers, loss goes down, exact resume, recipes, end to end."""

import json
import math
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from emgrt.errors import ConfigError  # noqa: E402
from emgrt.train.checkpoint import load_checkpoint, save_checkpoint, seed_everything  # noqa: E402
from emgrt.train.model import ModelConfig, StreamingCTCModel  # noqa: E402
from emgrt.train.recipe import OptimConfig, Recipe, TrainConfig  # noqa: E402
from emgrt.train.schedule import lr_factor, make_scheduler  # noqa: E402
from emgrt.train.trainer import (  # noqa: E402
    Trainer,
    context_outputs,
    ctc_infeasible,
    ctc_loss,
    drop_leading,
    greedy_ctc_decode,
)

pytestmark = pytest.mark.torch
RECIPES = Path(__file__).resolve().parents[1] / "models" / "recipes"
BLANK = 98


def toy_cfg(**kw) -> ModelConfig:
    base = dict(layers=2, dim=64, heads=2, band_width=16, subsample=2, left_context=8, lookahead=2, conv_past=2)
    base.update(kw)
    return ModelConfig(**base)


class ToyData(torch.utils.data.Dataset):
    """Random features of varying length with 3-6 random labels each."""

    def __init__(self, n: int = 12, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.items = []
        for _ in range(n):
            t = int(torch.randint(40, 61, (1,), generator=g))
            nl = int(torch.randint(3, 7, (1,), generator=g))
            self.items.append((torch.randn(t, 2, 16, 33, generator=g), torch.randint(0, 98, (nl,), generator=g)))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def toy_collate(items) -> dict:
    n = len(items)
    t = max(len(f) for f, _ in items)
    lmax = max(len(lab) for _, lab in items)
    feats = torch.zeros(n, t, 2, 16, 33)
    targets = torch.full((n, lmax), BLANK, dtype=torch.long)
    for i, (f, lab) in enumerate(items):
        feats[i, : len(f)] = f
        targets[i, : len(lab)] = lab
    lengths = torch.tensor([len(f) for f, _ in items])
    return {
        "features": feats,
        "feature_lengths": lengths,
        "feature_mask": torch.arange(t)[None, :] < lengths[:, None],
        "targets": targets,
        "target_lengths": torch.tensor([len(lab) for _, lab in items]),
    }


def toy_loader(shuffle: bool = True) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(ToyData(), batch_size=4, shuffle=shuffle, collate_fn=toy_collate)


# -- schedule -----------------------------------------------------------------------------------


def test_warmup_is_the_first_5_percent_then_cosine():
    total = 200  # warmup: 10 updates
    f = [lr_factor(s, total) for s in range(total)]
    assert f[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert f[10] == pytest.approx(1.0)
    for s in (10, 57, 105, 150, 199):
        assert f[s] == pytest.approx(0.5 * (1 + math.cos(math.pi * (s - 10) / 190)))
    assert f[105] == pytest.approx(0.5)
    assert all(a >= b for a, b in zip(f[10:], f[11:]))  # monotone after warmup
    assert lr_factor(199, total, min_ratio=0.1) > 0.1 and lr_factor(total, total, min_ratio=0.1) == 0.1


def test_scheduler_drives_the_optimizer_lr():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([p], lr=2e-3)
    sched = make_scheduler(opt, 40)  # warmup 2 updates
    used = []
    for _ in range(40):
        used.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert used == pytest.approx([2e-3 * lr_factor(s, 40) for s in range(40)])
    assert used[0] == pytest.approx(1e-3) and used[1] == pytest.approx(2e-3)


# -- CTC helpers --------------------------------------------------------------------------------


def test_greedy_decode_collapses_repeats_and_drops_blanks():
    seq = [5, 5, BLANK, 5, 7, 7, BLANK, 9, 9]
    lp = torch.full((2, len(seq), 99), -10.0)
    for t, c in enumerate(seq):
        lp[0, t, c] = 0.0
        lp[1, t, c] = 0.0
    out = greedy_ctc_decode(lp, torch.tensor([9, 6]), BLANK)
    assert out == [[5, 5, 7, 9], [5, 5, 7]]


def test_context_outputs_skip_the_past_padding():
    batch = {"offsets": [1800, 5000, 0], "starts": [0, 3200, 0]}
    # 1800 samples of past = frames 0..112 start before the window; outputs of 4 frames whose
    # last frame (their time) is >= 113 are kept: j >= 28
    assert context_outputs(batch, 4).tolist() == [28, 28, 0]
    assert context_outputs(batch, 1).tolist() == [113, 113, 0]
    assert context_outputs({}, 4) is None
    # the TDS baseline: output j's time is input frame j + 112 (end of its 125 frames minus 12)
    assert context_outputs(batch, 1, 112).tolist() == [1, 1, 0]
    lp = torch.arange(2 * 5, dtype=torch.float32).reshape(2, 5, 1)
    out, lengths = drop_leading(lp, torch.tensor([5, 4]), torch.tensor([2, 0]))
    assert lengths.tolist() == [3, 4]
    assert out[0, :3, 0].tolist() == [2.0, 3.0, 4.0] and torch.equal(out[1, :4], lp[1, :4])


def test_ctc_infeasible_counts_repeats():
    targets = torch.tensor([[1, 1, 2], [1, 2, 3]])
    assert ctc_infeasible(torch.tensor([3, 3]), targets, torch.tensor([3, 3])) == 1  # 1,1 needs a blank
    # Batches without labels (key-less eval windows) or with one label: nothing to repeat.
    none = torch.zeros((2, 0), dtype=torch.long)
    assert ctc_infeasible(torch.tensor([0, 5]), none, torch.tensor([0, 0])) == 0
    one = torch.tensor([[4], [4]])
    assert ctc_infeasible(torch.tensor([0, 1]), one, torch.tensor([1, 1])) == 1
    assert ctc_infeasible(torch.tensor([4, 3]), targets, torch.tensor([3, 3])) == 0


# -- learning -----------------------------------------------------------------------------------


def test_a_few_steps_reduce_the_ctc_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = StreamingCTCModel(toy_cfg(dropout=0.0)).train()
    batch = toy_collate([ToyData()[i] for i in range(4)])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        lp, lengths = model(batch["features"], batch["feature_lengths"])
        loss = ctc_loss(lp, lengths, batch["targets"], batch["target_lengths"], BLANK)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0], losses


def toy_recipe(max_steps: int = 8, precision: str = "fp32") -> Recipe:
    return Recipe(
        model=toy_cfg(dropout=0.1),
        optim=OptimConfig(lr=3e-3, warmup_frac=0.2),
        train=TrainConfig(max_steps=max_steps, val_every=3, log_every=1, skip_context_outputs=False, precision=precision),
        name="toy",
    )


def test_bf16_training_steps_lower_the_loss_with_float32_weights(tmp_path):
    seed_everything(0)
    recipe = toy_recipe(max_steps=12, precision="bf16")
    model = StreamingCTCModel(recipe.model)
    trainer = Trainer(recipe, model, toy_loader(), toy_loader(shuffle=False), tmp_path, progress=False, log=lambda s: None)
    trainer.fit()
    losses = train_losses(tmp_path)
    assert all(math.isfinite(v) for v in losses.values()) and losses[12] < losses[1]
    assert all(p.dtype == torch.float32 for p in model.parameters())
    with pytest.raises(ConfigError, match="precision"):
        TrainConfig.from_dict({"max_steps": 1, "precision": "fp8"})


def run_toy(out: Path, *, resume: bool = False, stop_at: int | None = None, seed: int = 0) -> Trainer:
    seed_everything(seed)
    recipe = toy_recipe()
    trainer = Trainer(
        recipe, StreamingCTCModel(recipe.model), toy_loader(), toy_loader(shuffle=False), out,
        progress=False, log=lambda s: None,
    )
    trainer.fit(resume=resume, stop_at_step=stop_at)
    return trainer


def train_losses(run_dir: Path) -> dict[int, float]:
    recs = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in recs if r["kind"] == "train"}


@pytest.mark.parametrize("stop_at", [5, 6])  # mid-epoch (3 batches per epoch) / at an epoch end
def test_resume_continues_exactly(tmp_path, stop_at):
    full = tmp_path / "full"
    run_toy(full)
    reference = train_losses(full)
    assert sorted(reference) == list(range(1, 9))
    assert reference[8] < reference[1]

    part = tmp_path / "part"
    run_toy(part, stop_at=stop_at)
    assert load_checkpoint(part / "last.pt")["step"] == stop_at
    # a different process state before resuming must not matter
    resumed = run_toy(part, resume=True, seed=1234)
    assert resumed.step == 8
    got = train_losses(part)
    assert sorted(got) == list(range(1, 9))
    for step in range(stop_at + 1, 9):
        assert got[step] == reference[step], (step, got[step], reference[step])
    a = load_checkpoint(full / "last.pt")["model"]
    b = load_checkpoint(part / "last.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_run_dir_contents_and_checkpoint(tmp_path):
    trainer = run_toy(tmp_path / "run")
    run = tmp_path / "run"
    assert {"metrics.jsonl", "last.pt", "best.pt", "curves.png"} <= {p.name for p in run.iterdir()}
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    ckpt = load_checkpoint(run / "last.pt")
    for key in ("model_config", "recipe", "model", "optimizer", "scheduler", "rng", "step", "epoch"):
        assert key in ckpt
    assert ModelConfig.from_dict(ckpt["model_config"]) == trainer.module.cfg
    assert Recipe.from_dict(ckpt["recipe"]) == toy_recipe()
    recs = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    vals = [r for r in recs if r["kind"] == "val"]
    assert [r["step"] for r in vals] == [3, 6, 8]
    assert all(0 <= r["val_cer"] for r in vals)
    train = [r for r in recs if r["kind"] == "train"]
    assert [r["lr"] for r in train] == pytest.approx([3e-3 * lr_factor(s, 8, 0.2) for s in range(8)])
    assert all(r["sec_per_step"] > 0 and r["data_wait"] >= 0 for r in train)


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"step": 1})

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError):
        save_checkpoint(path, {"step": 2})
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


# -- recipes ------------------------------------------------------------------------------------


def model_recipes() -> list[Path]:
    import tomllib  # a [model] table, not the words in a comment (finetune.toml has none)

    return sorted(p for p in RECIPES.glob("*.toml") if "model" in tomllib.loads(p.read_text()))


def test_shipped_recipes_parse():
    recipes = {p.stem: p for p in model_recipes()}
    assert {"tiny", "small", "large", "calib-small", "tds"} <= set(recipes)
    for path in recipes.values():
        r = Recipe.from_toml(path)  # its [data] table is parsed and checked too
        assert r.optim.warmup_frac == 0.05
    assert Recipe.from_toml(recipes["tiny"]).model == ModelConfig.from_name("tiny")
    assert Recipe.from_toml(recipes["large"]).model.dim == 1024


def test_recipe_errors_name_the_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\nname = "tiny"\n[train]\nepochs = 1\nlearning_rate = 3\n')
    with pytest.raises(ConfigError, match="learning_rate"):
        Recipe.from_toml(bad)
    bad.write_text('[model]\nname = "tiny"\n[optim]\nlr = -1\n[train]\nepochs = 1\n')
    with pytest.raises(ConfigError, match="optim.lr"):
        Recipe.from_toml(bad)
    bad.write_text('[model]\nname = "tiny"\n[train]\nseed = 1\n')
    with pytest.raises(ConfigError, match="max_steps"):
        Recipe.from_toml(bad)


def test_set_overrides_recipe_values_and_is_checked_like_the_file(tmp_path):
    src = tmp_path / "r.toml"
    src.write_text('[model]\nname = "tiny"\n[train]\nmax_steps = 3\n[data]\nfilters = []\n')
    r = Recipe.from_toml(src, ["model.lookahead=0", "train.seed=7", "optim.betas=[0.8, 0.9]", "name=la0"])
    assert r.model.lookahead == 0 and r.train.seed == 7 and r.optim.betas == (0.8, 0.9) and r.name == "la0"
    assert r.model.dim == ModelConfig.from_name("tiny").dim  # the rest of the table stays
    assert Recipe.from_toml(src, ["data.loader.batch_size=3"]).data_cfg.loader.batch_size == 3
    with pytest.raises(ConfigError, match="lookahead must be a non-negative multiple"):
        Recipe.from_toml(src, ["model.lookahead=-1"])
    with pytest.raises(ConfigError, match="TABLE.KEY=VALUE"):
        Recipe.from_toml(src, ["model.lookahead"])
    with pytest.raises(ConfigError, match="not a table"):
        Recipe.from_toml(src, ["train.max_steps.x=1"])
    with pytest.raises(ConfigError, match="lookahed"):
        Recipe.from_toml(src, ["model.lookahed=3"])


# -- end to end over the real data pipeline -----------------------------------------------------


def test_train_resume_and_eval_over_the_real_loader(tmp_path, capsys):
    sys.path.insert(0, str(Path(__file__).parent))
    from test_data_fixtures import make_dataset

    from emgrt.cli import main

    data = make_dataset(tmp_path / "data", (21_000, 9_000, 17_000))
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        """
[model]
layers = 2
dim = 64
heads = 2
band_width = 16
[optim]
lr = 2e-3
[train]
max_steps = 4
val_every = 2
val_max_batches = 2
log_every = 1
[data]
stride = 4000
[data.augment]
specaugment = { n_time_masks = 1 }
[data.loader]
batch_size = 4
num_workers = 0
"""
    )
    run = tmp_path / "run"
    args = ["train", "--recipe", str(recipe), "--data", str(data), "--out", str(run), "--threads", "1", "--json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["step"] == 4 and summary["stopped"] == "done"
    assert main(args) == 2  # refuses to overwrite a run
    recs = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in recs if r["kind"] == "train"]
    assert [r["step"] for r in train] == [1, 2, 3, 4] and all(math.isfinite(r["loss"]) for r in train)
    capsys.readouterr()
    assert main(["eval", str(run), "--data", str(data), "--split", "val", "--json", "--threads", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["decoder"] == "greedy" and result["overall"]["reference_length"] > 0
    assert result["overall"]["cer"] == result["users"]["all"]["cer"]
    capsys.readouterr()
    # resume with a longer schedule: continues from step 4
    text = recipe.read_text().replace("max_steps = 4", "max_steps = 5")
    recipe.write_text(text)
    assert main(args[:-1] + ["--resume"]) == 0
    assert load_checkpoint(run / "last.pt")["step"] == 5
    recs = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    lrs = [r["lr"] for r in recs if r["kind"] == "train"]
    assert len(lrs) == 5 and lrs[4] == pytest.approx(2e-3 * lr_factor(4, 5))  # re-sized schedule


def test_model_info_cli(capsys):
    from emgrt.cli import main

    assert main(["model", "info", "tiny", "small", "large", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["tiny", "small", "large"]
    for r in rows:
        assert abs(r["params"] - r["paper_params"]) / r["paper_params"] < 0.1
        assert r["flops_per_hop"] > 0
    assert main(["model", "info", "L2d128"]) == 0
    assert "L2d128" in capsys.readouterr().out
    assert main(["model", "info", "L20d128"]) == 2



def test_the_tds_baseline_trains_and_reloads(tmp_path):
    from emgrt.train.tds import TDSConfig, TDSConvCTC
    from emgrt.train.trainer import load_model

    seed_everything(0)
    recipe = Recipe(
        model=TDSConfig(band_width=16, channels=4, blocks=2, kernel=8, lookahead=2),
        optim=OptimConfig(lr=3e-3),
        train=TrainConfig(max_steps=3, val_every=3, log_every=1),
    )
    trainer = Trainer(recipe, TDSConvCTC(recipe.model), toy_loader(), toy_loader(False), tmp_path,
                      progress=False, log=lambda s: None)
    summary = trainer.fit()
    assert summary["step"] == 3 and math.isfinite(summary["val_loss"])
    model, ckpt = load_model(tmp_path)
    assert isinstance(model, TDSConvCTC) and model.cfg == recipe.model
    assert Recipe.from_dict(ckpt["recipe"]).model == recipe.model
