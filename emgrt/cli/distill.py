"""`emgrt distill`: train a student on a teacher's softened CTC posteriors plus CTC."""

from __future__ import annotations

import argparse

from emgrt.cli.train import add_run_options, launch, prepare_run

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


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from functools import partial

    from emgrt.train.distill import DistillTrainer, check_compatible
    from emgrt.train.recipe import DistillConfig, Recipe
    from emgrt.train.trainer import build_model, load_model

    recipe = Recipe.from_toml(args.recipe, args.set)
    if recipe.distill is None:
        recipe = replace(recipe, distill=DistillConfig())
    recipe, out = prepare_run(recipe, args)
    teacher, _ = load_model(args.teacher)
    check_compatible(teacher, build_model(recipe.model))  # before any data is loaded
    return launch(
        recipe,
        args,
        out,
        make_trainer=partial(_make_trainer, teacher=teacher, trainer_cls=DistillTrainer),
        info={"teacher": str(args.teacher), "teacher_params": teacher.num_params, "distill": recipe.distill.to_dict()},
    )


def _make_trainer(recipe, model, train_loader, val_loader, out_dir, *, teacher, trainer_cls, **kwargs):
    return trainer_cls(recipe, model, teacher, train_loader, val_loader, out_dir, **kwargs)
