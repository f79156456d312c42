"""`emgrt eval`: greedy CER of a checkpoint per user and overall."""

from __future__ import annotations

import argparse
import json

DESCRIPTION = """\
Evaluate a checkpoint (a run folder: its best.pt, else last.pt; or a .pt file)
on a dataset split with the greedy CTC decoder: CER per user and overall
(corpus-level edits / reference characters, emgrt.metrics).  The data pipeline
is the checkpoint recipe's [data] table (its [data.eval] / [data.test]
overrides apply, e.g. whole sessions for test).

--split test with no --user: each held-out test user's personal test split
(the same recordings as the generic test split) and the total over them.
--user U: only that user's personal split.  --split val/train without --user
(or a dataset without test users): the generic split, overall only.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help="greedy CER of a checkpoint per user",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", metavar="RUN_DIR_OR_CKPT", help="run folder or checkpoint file")
    p.add_argument("--data", required=True, metavar="DIR", help="dataset folder")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--user", default=None, help="one user's personal split")
    p.add_argument("--max-batches", type=int, default=0, help="cap batches per user (0 = all)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def evaluate_checkpoint(
    path, data_dir, split: str = "test", user: str | None = None, max_batches: int = 0
) -> dict:
    from emgrt.io.dataset import DatasetDir
    from emgrt.metrics import ErrorCounts
    from emgrt.train.loader import build_loader
    from emgrt.train.recipe import Recipe
    from emgrt.train.trainer import evaluate, load_model

    model, ckpt = load_model(path)
    recipe = Recipe.from_dict(ckpt["recipe"])
    data_cfg = recipe.data_config()
    if user is not None:
        users = [user]
    elif split == "test":
        splits = DatasetDir(data_dir).splits
        users = list(splits.get("test_users") or sorted(splits["personal"])) or [None]
    else:
        users = [None]
    per_user, total = {}, ErrorCounts()
    for u in users:
        loader = build_loader(data_cfg, data_dir, split, u, train=False)
        res = evaluate(model, loader, skip_context=recipe.train.skip_context_outputs, max_batches=max_batches)
        total = total + res["counts"]
        per_user["all" if u is None else u] = {
            **res["counts"].to_dict(),
            "loss": res["loss"],
            "items": res["items"],
            "infeasible": res["infeasible"],
        }
    return {
        "checkpoint": str(path),
        "step": ckpt["step"],
        "split": split,
        "decoder": "greedy",
        "users": per_user,
        "overall": total.to_dict(),
    }


def run(args: argparse.Namespace) -> int:
    from emgrt.train.trainer import set_threads

    set_threads(args.threads)
    result = evaluate_checkpoint(args.checkpoint, args.data, args.split, args.user, args.max_batches)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"greedy CER, split {args.split}, {args.checkpoint} (step {result['step']})")
    for col in ("user", "CER %", "ins %", "del %", "sub %", "ref chars", "items"):
        t.add_column(col, justify="right")
    for u, r in result["users"].items():
        t.add_row(
            u,
            f"{r['cer']:.2f}",
            f"{r['ins_rate']:.2f}",
            f"{r['del_rate']:.2f}",
            f"{r['sub_rate']:.2f}",
            str(r["reference_length"]),
            str(r["items"]),
        )
    o = result["overall"]
    t.add_row(
        "overall",
        f"{o['cer']:.2f}",
        f"{o['ins_rate']:.2f}",
        f"{o['del_rate']:.2f}",
        f"{o['sub_rate']:.2f}",
        str(o["reference_length"]),
        "",
    )
    Console().print(t)
    return 0
