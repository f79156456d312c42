"""`emgrt finetune`: personalize a trained model on one user's sessions."""

from __future__ import annotations

import argparse

from emgrt.cli.train import add_run_options, launch, prepare_run

DESCRIPTION = """\
Personalization: start from a run's best checkpoint (best.pt, else last.pt; or a
.pt file) and train on USER's personal train split, validating on their personal
val split (the dataset's splits.json "personal" table).  The optimizer, schedule,
[train] and [data] settings come from --recipe, else from the source run's recipe;
the model architecture is always the checkpoint's (a --recipe [model] table that
differs is an error).  Writes RUN_DIR like `emgrt train`.
"""

EPILOG = """\
example: emgrt finetune --from runs/tiny-kd --user user-7 --data data/synth --out runs/tiny-kd-user-7 \\
             --recipe models/recipes/finetune.toml
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "finetune",
        help="personalize a trained model on one user",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--from", dest="source", required=True, metavar="RUN_DIR_OR_CKPT", help="run to start from")
    p.add_argument("--user", required=True, help="the user whose personal train/val splits are used")
    p.add_argument("--recipe", default=None, metavar="TOML", help="recipe for optim/train/data (default: the source run's)")
    add_run_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from emgrt.errors import ConfigError
    from emgrt.tomlfile import apply_settings, load_toml
    from emgrt.train.recipe import Recipe, model_config_from_dict
    from emgrt.train.trainer import BEST, LAST, load_model

    source = Path(args.source)
    if source.is_dir() and not (source / BEST).exists() and not (source / LAST).exists():
        raise ConfigError(f"{source}: no best.pt or last.pt to start from")
    model, ckpt = load_model(source)
    model_cfg = model_config_from_dict(ckpt["model_config"])
    if any(s.strip().startswith("model.") for s in args.set):
        raise ConfigError("--set model.*: finetuning keeps the source architecture; set train, optim or data keys")
    if args.recipe is not None:
        doc = apply_settings(load_toml(args.recipe), args.set)
        doc.setdefault("model", ckpt["model_config"])  # a finetuning recipe may leave [model] out
        try:
            recipe = Recipe.from_dict(doc, name=Path(args.recipe).stem)
        except ConfigError as exc:
            raise ConfigError(f"{args.recipe}: {exc}") from None
        if recipe.model != model_cfg:
            raise ConfigError(
                f"{args.recipe}: its [model] differs from the checkpoint's ({source}); "
                "finetuning keeps the source architecture (drop or match the [model] table)"
            )
    else:
        recipe = Recipe.from_dict(apply_settings(ckpt["recipe"], args.set))
    recipe = replace(recipe, model=model_cfg, distill=None, name=f"{recipe.name or 'run'}-{args.user}")
    recipe, out = prepare_run(recipe, args)
    return launch(
        recipe,
        args,
        out,
        user=args.user,
        init_state=model.state_dict(),
        info={"finetuned_from": str(source), "source_step": ckpt.get("step")},
    )
