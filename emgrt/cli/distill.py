"""`emgrt distill`: train a student on a teacher's softened CTC posteriors plus CTC."""

from __future__ import annotations

import argparse
import json

from emgrt.cli.train import add_run_options

DESCRIPTION = """\
Knowledge distillation: train the student model of RECIPE with
loss = alpha * KD + beta * CTC, where KD is the per-frame KL divergence from the
teacher's to the student's posteriors softened by a temperature T (times T^2),
over the valid output frames.  alpha, beta, T come from the recipe's [distill]
table (defaults: alpha = 0.5, beta = 1.0 as in fairemg, temperature = 1.0).  The
teacher (a run folder: its best.pt, else last.pt; or a .pt file) runs in eval mode
without gradients; it must emit output frames at the student's rate (same stride).
Writes RUN_DIR like `emgrt train` (the student's checkpoints); --resume continues.
"""

EPILOG = """\
example: emgrt distill --teacher runs/small --recipe models/recipes/tiny.toml --data data/synth --out runs/tiny-kd
"""



def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "distill",
        help="train a student from a teacher (KD + CTC)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--teacher", required=True, metavar="RUN_DIR_OR_CKPT", help="teacher run folder or checkpoint")
    p.add_argument("--recipe", required=True, metavar="TOML", help="student recipe (with an optional [distill] table)")
    add_run_options(p)
    p.set_defaults(func=run)


def check_out(out, resume: bool) -> None:
    """The run folder rules of `emgrt train`."""
    from emgrt.errors import ConfigError
    from emgrt.train.trainer import LAST

    if resume and not (out / LAST).exists():
        raise ConfigError(f"{out / LAST}: nothing to resume (run without --resume first)")
    if not resume and (out / LAST).exists():
        raise ConfigError(f"{out} already holds a run (use --resume to continue it, or another --out)")


def print_summary(summary: dict, out, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"{summary['stopped']} at step {summary['step']}/{summary['total_steps']} "
            f"({summary['minutes']:.1f} min); best val CER {summary['best_val_cer']:.2f}; run in {out}"
        )


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from functools import partial
    from pathlib import Path

    from emgrt.train.distill import DistillTrainer, check_compatible
    from emgrt.train.recipe import DistillConfig, Recipe
    from emgrt.train.trainer import build_model, keep_freed_memory, load_model, train_from_recipe

    recipe = Recipe.from_toml(args.recipe)
    if recipe.distill is None:
        recipe = replace(recipe, distill=DistillConfig())
    if args.threads is not None:
        recipe = replace(recipe, train=replace(recipe.train, threads=args.threads))
    out = Path(args.out)
    check_out(out, args.resume)
    teacher, _ = load_model(args.teacher)
    check_compatible(teacher, build_model(recipe.model))  # before any data is loaded
    keep_freed_memory()
    summary = train_from_recipe(
        recipe,
        args.data,
        out,
        resume=args.resume,
        max_minutes=args.max_minutes,
        seed=args.seed,
        make_trainer=partial(_make_trainer, teacher=teacher, trainer_cls=DistillTrainer),
        info={"teacher": str(args.teacher), "teacher_params": teacher.num_params, "distill": recipe.distill.to_dict()},
    )
    print_summary(summary, out, args.json)
    return 0


def _make_trainer(recipe, model, train_loader, val_loader, out_dir, *, teacher, trainer_cls, **kwargs):
    return trainer_cls(recipe, model, teacher, train_loader, val_loader, out_dir, **kwargs)
