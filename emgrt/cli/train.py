"""`emgrt train`: train a model from a TOML recipe."""

from __future__ import annotations

import argparse
import json

from emgrt.validate import NonNegativeInt, PositiveFloat, PositiveInt, arg

DESCRIPTION = """\
Train a streaming transformer model from a recipe (models/recipes/NAME.toml:
task, [model], [optim], [train], [data]).  The task is typing (CTC, CER; the
default), handwriting (CTC, CER) or gestures (framewise, CLER); --data is an
emg2qwerty folder for typing, an `emgrt synth --task ...` (GNI layout) folder
otherwise.  Writes into RUN_DIR: metrics.jsonl (train loss/metric/lr/sec-per-step/
data-wait, val loss/metric), last.pt and best.pt
(atomic; model config, recipe, weights, optimizer, schedule, RNG states),
run.json and curves.png.  --resume continues from RUN_DIR/last.pt exactly.
"""

EPILOG = """\
example: emgrt train --recipe models/recipes/tiny.toml --data data/synth --out runs/tiny --max-minutes 30
distributed (DDP; gloo on CPU, nccl on CUDA; only rank 0 writes):
  torchrun --nproc-per-node 2 -m emgrt train --recipe ... --data ... --out ...
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a model from a recipe",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--recipe", required=True, metavar="TOML", help="recipe file")
    add_run_options(p)
    p.set_defaults(func=run)


def add_run_options(p: argparse.ArgumentParser) -> None:
    """Options shared by every command that writes a training run (train, distill, finetune)."""
    p.add_argument(
        "--data", required=True, metavar="DIR", help="dataset folder (emgrt synth output or emg2qwerty)"
    )
    p.add_argument("--out", required=True, metavar="RUN_DIR", help="run folder to write")
    p.add_argument("--resume", action="store_true", help="continue from RUN_DIR/last.pt")
    p.add_argument("--max-minutes", type=arg(PositiveFloat), default=None, help="wall-clock budget; stops early but saves")
    p.add_argument(
        "--max-steps", type=arg(PositiveInt), default=None, metavar="N",
        help="override train.max_steps (the run's length in updates; sizes the warmup + cosine schedule)",
    )
    p.add_argument(
        "--set", action="append", default=[], metavar="TABLE.KEY=VALUE",
        help="override one recipe value (repeatable), e.g. --set model.lookahead=6; the run records the result",
    )
    p.add_argument("--seed", type=arg(NonNegativeInt), default=None, help="override train.seed")
    p.add_argument("--threads", type=arg(NonNegativeInt), default=None, help="override train.threads (torch compute threads)")
    p.add_argument(
        "--profile",
        type=arg(NonNegativeInt),
        nargs="?",
        const=3,
        default=0,
        metavar="STEPS",
        help="capture a torch.profiler trace of STEPS steps (default 3, after 1 skipped and 1 warm-up "
        "step) into RUN_DIR/trace/*.json (Perfetto UI; `emgrt trace summary`); training goes on",
    )
    p.add_argument("--json", action="store_true", help="print the final summary as JSON")


def prepare_run(recipe, args: argparse.Namespace):
    """The recipe with the command line's overrides (--threads, --max-steps) and the run folder, checked:
    --resume needs RUN_DIR/last.pt, a fresh run refuses a folder that holds one.
    Returns (recipe, out Path)."""
    from dataclasses import replace
    from pathlib import Path

    from emgrt.errors import ConfigError
    from emgrt.train.trainer import LAST

    if args.threads is not None:
        recipe = replace(recipe, train=replace(recipe.train, threads=args.threads))
    if getattr(args, "max_steps", None) is not None:
        recipe = replace(recipe, train=replace(recipe.train, max_steps=args.max_steps))
    out = Path(args.out)
    if args.resume and not (out / LAST).exists():
        raise ConfigError(f"{out / LAST}: nothing to resume (run without --resume first)")
    if not args.resume and (out / LAST).exists():
        raise ConfigError(f"{out} already holds a run (use --resume to continue it, or another --out)")
    return recipe, out


def launch(recipe, args: argparse.Namespace, out, **kwargs) -> int:
    """Train ``recipe`` into ``out`` (emgrt.train.trainer.train_from_recipe with ``kwargs``) in
    one process, or as this rank of a torchrun job (DDP; only rank 0 writes and prints)."""
    from emgrt.train.dist import cleanup, init_distributed
    from emgrt.train.trainer import keep_freed_memory, train_from_recipe

    keep_freed_memory()
    d = init_distributed()  # torchrun: RANK / WORLD_SIZE / LOCAL_RANK; else one process
    try:
        summary = train_from_recipe(
            recipe, args.data, out, resume=args.resume, max_minutes=args.max_minutes, seed=args.seed,
            rank=d.rank, world_size=d.world_size, device=d.device if d.distributed else "cpu",
            profile=args.profile or 0, **kwargs,
        )
    finally:
        cleanup()
    if d.rank != 0:
        return 0
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        metric = recipe.spec.metric
        print(
            f"{summary['stopped']} at step {summary['step']}/{summary['total_steps']} "
            f"({summary['minutes']:.1f} min); best val {metric.upper()} {summary[f'best_val_{metric}']:.2f}; run in {out}"
        )
    return 0


def run(args: argparse.Namespace) -> int:
    from emgrt.train.recipe import Recipe

    recipe, out = prepare_run(Recipe.from_toml(args.recipe, args.set), args)
    return launch(recipe, args, out)
