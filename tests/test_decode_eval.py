"""`emgrt eval --decoder`: one metric path for every decoder; greedy equals the trainer's CER."""

import itertools
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).parent))

from emgrt.cli import main  # noqa: E402
from emgrt.lm import build_lm  # noqa: E402
from emgrt.text import lm_sentences  # noqa: E402
from test_data_fixtures import make_dataset  # noqa: E402
from test_finetune import SOURCE as RECIPE  # noqa: E402  (a 1-layer, 32-wide, 3-step recipe)

pytestmark = [pytest.mark.torch, pytest.mark.slow]



@pytest.fixture(scope="module")
def run_and_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    data = make_dataset(root / "data", (21_000, 9_000, 17_000))
    (root / "r.toml").write_text(RECIPE)
    run = root / "run"
    args = ["train", "--recipe", str(root / "r.toml"), "--data", str(data), "--out", str(run), "--threads", "1"]
    assert main(args + ["--json"]) == 0
    return run, data


def eval_json(capsys, run, data, *extra) -> dict:
    capsys.readouterr()
    assert main(["eval", str(run), "--data", str(data), "--split", "val", "--json", "--threads", "1", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_greedy_eval_equals_the_trainers_evaluate(run_and_data, capsys):
    from emgrt.train.loader import build_loader
    from emgrt.train.recipe import Recipe
    from emgrt.train.trainer import evaluate, load_model

    run, data = run_and_data
    result = eval_json(capsys, run, data)
    model, ckpt = load_model(run)
    recipe = Recipe.from_dict(ckpt["recipe"])
    ref = evaluate(model, build_loader(recipe.data_cfg, data, "val", None, train=False),
                   skip_context=recipe.train.skip_context_outputs)
    assert result["decoder"] == "greedy"
    assert result["overall"]["reference_length"] == ref["counts"].reference_length > 0
    assert result["overall"]["cer"] == ref["cer"]
    assert result["users"]["all"]["loss"] == pytest.approx(ref["loss"], rel=1e-6)


def test_beam_decoders_share_the_metric(run_and_data, capsys, tmp_path):
    run, data = run_and_data
    lm = tmp_path / "c.arpa"
    build_lm("char", 3, itertools.islice(lm_sentences(), 0, None, 800), lm)
    greedy = eval_json(capsys, run, data)
    for extra in (["--decoder", "beam", "--beam-size", "4"],
                  ["--decoder", "char-lm", "--lm", str(lm), "--beam-size", "4", "--lm-weight", "0.5"]):
        r = eval_json(capsys, run, data, *extra)
        assert r["decoder"] == extra[1] and r["decoder_options"]["beam_size"] == 4
        o = r["overall"]
        assert o["reference_length"] == greedy["overall"]["reference_length"]
        assert o["cer"] == pytest.approx(100 * (o["insertions"] + o["deletions"] + o["substitutions"]) / o["reference_length"])


def test_bad_decoder_options_are_one_line_errors(run_and_data, capsys, tmp_path):
    run, data = run_and_data
    base = ["eval", str(run), "--data", str(data), "--split", "val", "--threads", "1"]
    assert main(base + ["--lm", str(tmp_path / "x.arpa")]) == 2
    assert "--lm is for" in capsys.readouterr().err
    assert main(base + ["--decoder", "char-lm", "--lm", str(tmp_path / "missing.arpa")]) == 2
    assert "not found" in capsys.readouterr().err
