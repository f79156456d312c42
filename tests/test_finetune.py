"""`emgrt finetune`: starts from the source run's best weights, uses only the user's personal splits."""

import json
import sys
import tomllib
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from emgrt.io.dataset import write_splits  # noqa: E402
from emgrt.train.checkpoint import load_checkpoint, seed_everything  # noqa: E402
from emgrt.train.model import StreamingCTCModel  # noqa: E402
from emgrt.train.recipe import Recipe  # noqa: E402
from emgrt.train.trainer import Trainer  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
pytestmark = pytest.mark.torch

SOURCE = """
[model]
layers = 1
dim = 32
heads = 2
band_width = 16
[train]
max_steps = 3
[data]
stride = 4000
[data.loader]
batch_size = 4
num_workers = 0
"""

# no [model]: the checkpoint's; a learning rate so small that one step leaves the weights in place
FINETUNE = """
[optim]
lr = 1e-12
weight_decay = 0.0
[train]
max_steps = 1
val_max_batches = 1
log_every = 1
[data]
stride = 4000
[data.loader]
batch_size = 2
num_workers = 0
"""


def test_finetune_starts_from_the_source_and_uses_only_the_users_sessions(tmp_path, capsys):
    from test_data_fixtures import make_dataset

    from emgrt.cli import main

    data = make_dataset(tmp_path / "data", (9_000, 9_000, 13_000, 9_000, 9_000))
    write_splits(
        data,
        {
            "train_users": ["u0", "u1"],
            "test_users": ["u9"],
            "generic": {"train": ["s0", "s1"], "val": ["s1"], "test": ["s3"]},
            "personal": {"u9": {"train": ["s2"], "val": ["s4"], "test": ["s3"]}},
        },
    )
    source_recipe = Recipe.from_dict(tomllib.loads(SOURCE), name="src")
    seed_everything(5)  # not the finetuning seed (0): a fresh init would differ
    Trainer(source_recipe, StreamingCTCModel(source_recipe.model), [None], None, tmp_path / "src",
            progress=False).save("best.pt")
    seed_everything(1)  # last.pt: other weights; finetuning must start from best.pt
    Trainer(source_recipe, StreamingCTCModel(source_recipe.model), [None], None, tmp_path / "src",
            progress=False).save("last.pt")
    source = load_checkpoint(tmp_path / "src" / "best.pt")["model"]
    other = load_checkpoint(tmp_path / "src" / "last.pt")["model"]

    recipe = tmp_path / "ft.toml"
    recipe.write_text(FINETUNE)
    run = tmp_path / "ft"
    args = ["finetune", "--from", str(tmp_path / "src"), "--user", "u9", "--data", str(data), "--out", str(run),
            "--recipe", str(recipe), "--threads", "1", "--json"]
    assert main(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["step"] == 1
    info = json.loads((run / "run.json").read_text())
    assert info["user"] == "u9"
    assert info["train_sessions"] == ["s2"] and info["val_sessions"] == ["s4"]
    assert info["finetuned_from"] == str(tmp_path / "src")
    tuned = load_checkpoint(run / "last.pt")
    assert tuned["step"] == 1 and tuned["optimizer"]["state"]  # a real update happened
    params = [k for k, _ in StreamingCTCModel(source_recipe.model).named_parameters()]  # not running stats
    assert len(params) > 10
    assert all(torch.allclose(tuned["model"][k], source[k], atol=1e-8) for k in params)
    assert not all(torch.allclose(tuned["model"][k], other[k], atol=1e-3) for k in params)
    assert Recipe.from_dict(tuned["recipe"]).optim.lr == 1e-12

    # errors: an unknown user, an architecture other than the checkpoint's
    capsys.readouterr()
    assert main(args[:4] + ["nobody"] + args[5:8] + [str(tmp_path / "ft2")] + args[9:]) == 2
    assert "nobody" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\nlayers = 2\ndim = 32\nheads = 2\nband_width = 16\n' + FINETUNE)
    assert main(args[:8] + [str(tmp_path / "ft3"), "--recipe", str(bad)]) == 2
    assert "differs" in capsys.readouterr().err
