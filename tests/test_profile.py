"""`--profile`: a real few-step run writes a Chrome trace whose summary sees every phase."""

import json
import math
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).parent))
pytestmark = pytest.mark.torch

RECIPE = """
[model]
layers = 2
dim = 32
heads = 2
band_width = 16
[train]
max_steps = {steps}
val_max_batches = 1
log_every = 1
[data]
stride = 4000
[data.loader]
batch_size = 2
num_workers = 0
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from test_data_fixtures import make_dataset

    return make_dataset(tmp_path_factory.mktemp("profile") / "data", (21_000, 9_000, 17_000))


def train(tmp_path, data, steps: int, profile: str, capsys) -> tuple[Path, str]:
    from emgrt.cli import main

    recipe = tmp_path / "r.toml"
    recipe.write_text(RECIPE.format(steps=steps))
    run = tmp_path / "run"
    args = ["train", "--recipe", str(recipe), "--data", str(data), "--out", str(run), "--threads", "1"]
    assert main(args + ["--profile", profile] if profile else args) == 0
    return run, capsys.readouterr().err


def test_profile_writes_a_trace_the_summary_reads(tmp_path, data, capsys):
    from emgrt.cli import main
    from emgrt.trace import CATEGORIES, summarize

    run, err = train(tmp_path, data, steps=4, profile="2", capsys=capsys)
    traces = sorted((run / "trace").glob("*.json"))
    assert [t.name for t in traces] == ["train-steps3-4.json"]  # 1 skipped, 1 warm-up, 2 recorded
    assert f"written to {traces[0]}" in err
    doc = json.loads(traces[0].read_text())
    names = {e.get("name") for e in doc["traceEvents"]}
    assert {"ProfilerStep#2", "ProfilerStep#3", "dataloader", "forward", "backward", "optimizer"} <= names
    s = summarize(traces[0])
    assert len(s.steps) == 2 and s.total_ms > 0
    assert set(s.fractions) == set(CATEGORIES)
    assert sum(s.fractions.values()) == pytest.approx(1.0, abs=1e-9)
    for phase in ("dataloader", "forward", "backward", "optimizer"):  # loader runs in-process here
        assert s.ms[phase] > 0, phase
    assert s.fractions["communication"] == 0  # one process
    assert s.top_ops and all(op["self_ms"] >= 0 for op in s.top_ops)
    assert any(op["name"].startswith("aten::") for op in s.top_ops)
    assert main(["trace", "summary", str(traces[0]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 2
    # training went on after the capture and finished normally
    recs = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in recs if r["kind"] == "train"] == [1, 2, 3, 4]
    assert all(math.isfinite(r["loss"]) for r in recs if r["kind"] == "train")


def test_a_run_shorter_than_the_schedule_says_so(tmp_path, data, capsys):
    run, err = train(tmp_path, data, steps=2, profile="3", capsys=capsys)
    assert not (run / "trace").exists()
    assert "profile: no trace written" in err


def test_without_profile_no_trace_and_no_labels(tmp_path, data, capsys):
    run, _ = train(tmp_path, data, steps=1, profile="", capsys=capsys)
    assert not (run / "trace").exists()


def test_profiler_phase_is_a_no_op_when_idle(tmp_path):
    from emgrt.train.profile import StepProfiler

    p = StepProfiler(tmp_path, 0)
    assert not p.running
    with p.phase("forward"):
        pass
    p.step()
    p.close()
    assert not (tmp_path / "trace").exists()


def test_the_first_batch_of_an_epoch_counts_as_data_wait(tmp_path):
    """The iterator's start-up and first batch (fetched before the step loop) are data wait of
    the epoch's first step, not lost."""
    import time

    from test_train import ToyData, toy_cfg, toy_collate

    from emgrt.train.model import StreamingCTCModel
    from emgrt.train.recipe import Recipe, TrainConfig
    from emgrt.train.trainer import Trainer

    class SlowStart:
        """Two batches per epoch; producing the first one sleeps 0.3 s."""

        def __init__(self) -> None:
            data = ToyData(n=4)
            self.batches = [toy_collate([data[0], data[1]]), toy_collate([data[2], data[3]])]

        def __len__(self) -> int:
            return len(self.batches)

        def __iter__(self):
            time.sleep(0.3)
            yield from self.batches

    recipe = Recipe(model=toy_cfg(layers=1, dim=32), train=TrainConfig(max_steps=4, log_every=1, val_every=0))
    trainer = Trainer(recipe, StreamingCTCModel(recipe.model), SlowStart(), None, tmp_path,
                      progress=False, log=lambda s: None)
    trainer.fit()
    recs = [json.loads(ln) for ln in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    waits = {r["step"]: r["data_wait"] for r in recs if r["kind"] == "train"}
    assert waits[1] >= 0.3 and waits[3] >= 0.3  # each epoch's first step (2 batches per epoch)
    assert waits[2] < 0.3 and waits[4] < 0.3
