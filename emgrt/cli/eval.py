"""`emgrt eval`: CER of a checkpoint or an exported bundle per user and overall, with any
emgrt.decode decoder."""

from __future__ import annotations

import argparse
import json

from emgrt.validate import AnyFloat, NonNegativeFloat, NonNegativeInt, PositiveInt, arg

DESCRIPTION = """\
Evaluate a checkpoint (a run folder: its best.pt, else last.pt; or a .pt file)
on a dataset split: CER per user and overall (corpus-level edits / reference
characters, emgrt.metrics).  --decoder picks the CTC decoder (emgrt.decode,
the same streaming decoders the engine runs, fed each item's whole output):
greedy (default; identical to the trainer's validation CER), beam (pyctcdecode),
beam-lm (pyctcdecode + word KenLM), char-lm (character beam search + char
KenLM, backspace-aware).  --lm defaults to the shipped models/lm files.  The data pipeline
is the checkpoint recipe's [data] table (its [data.eval] / [data.test]
overrides apply, e.g. whole sessions for test).

An exported bundle (a folder with manifest.json, `emgrt export`) is evaluated
without torch: its whole-window ONNX graph over each whole session of the split,
with the manifest's filters and front end and the bundle's decoder settings;
--max-batches then caps sessions per user.

--split test with no --user: each held-out test user's personal test split
(the same recordings as the generic test split) and the total over them.
--user U: only that user's personal split.  --split val/train without --user
(or a dataset without test users): the generic split, overall only.

A checkpoint of another task (its recipe's `task`) is scored with that task's
metric on a generic-neuromotor-interface folder's corpus split: handwriting by
CER over its character set (the decoders above), gestures by the release's
CLER over thresholded, debounced detections (no --decoder).
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help="CER of a checkpoint or bundle per user (greedy or beam decoders)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("checkpoint", metavar="RUN_DIR_OR_CKPT_OR_BUNDLE", help="run folder, checkpoint file or bundle folder")
    p.add_argument("--data", required=True, metavar="DIR", help="dataset folder")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--user", default=None, help="one user's personal split")
    p.add_argument("--max-batches", type=arg(NonNegativeInt), default=0, help="cap batches per user (0 = all)")
    p.add_argument("--threads", type=arg(NonNegativeInt), default=0, help="torch threads (0 = all cores)")
    p.add_argument("--without-imu", action="store_true",
                   help="a model fusing the IMU (model.imu): score it with the IMU absent, as when the band's IMU stream is missing")
    p.add_argument("--json", action="store_true", help="print JSON")
    add_decoder_options(p)
    p.set_defaults(func=run)


def add_decoder_options(p: argparse.ArgumentParser) -> None:
    """--decoder and its tuning flags (unset flags keep each decoder's defaults)."""
    from emgrt.decode import CTC_DECODERS

    p.add_argument("--decoder", default="greedy", choices=CTC_DECODERS, help="CTC decoder (default greedy)")
    p.add_argument("--lm", default=None, metavar="FILE.arpa", help="language model for beam-lm / char-lm")
    p.add_argument("--beam-size", type=arg(PositiveInt), default=None, help="beam width")
    p.add_argument("--lm-weight", type=arg(NonNegativeFloat), default=None, help="LM weight (pyctcdecode alpha for beam-lm)")
    p.add_argument("--insertion-bonus", type=arg(AnyFloat), default=None, help="per-character (char-lm) or per-word (beam-lm) bonus")


def decoder_options(args: argparse.Namespace) -> dict:
    """The decoder keyword arguments the user set."""
    opts = {"lm": args.lm, "beam_size": args.beam_size, "lm_weight": args.lm_weight,
            "insertion_bonus": args.insertion_bonus}
    if args.decoder in ("greedy", "beam") and args.lm is not None:
        from emgrt.errors import ConfigError

        raise ConfigError(f"--lm is for beam-lm and char-lm, not {args.decoder}")
    return {k: v for k, v in opts.items() if v is not None}


def evaluate_checkpoint(
    path,
    data_dir,
    split: str = "test",
    user: str | None = None,
    max_batches: int = 0,
    decoder: str = "greedy",
    decoder_opts: dict | None = None,
    without_imu: bool = False,
) -> dict:
    from emgrt.errors import ConfigError
    from emgrt.metrics import ErrorCounts
    from emgrt.train.loader import build_loader
    from emgrt.train.objective import DecoderObjective, make_objective
    from emgrt.train.recipe import Recipe
    from emgrt.train.trainer import evaluate, load_model

    model, ckpt = load_model(path)
    recipe = Recipe.from_dict(ckpt["recipe"])
    data_cfg = recipe.data_cfg
    if without_imu and not data_cfg.imu:
        raise ConfigError(f"--without-imu: {path} does not fuse the IMU (its recipe has no data.imu)")
    spec = recipe.spec
    skip = recipe.train.skip_context_outputs
    if spec.decoding == "framewise":
        if decoder != "greedy":
            raise ConfigError(f"--decoder: the {spec.name} task is scored on thresholded detections (CLER); leave --decoder out")
        objective = make_objective(spec, model, skip)
    else:
        objective = DecoderObjective(spec, model, skip, decoder=decoder, decoder_opts=decoder_opts or {})
    users = [user] if spec.gni else _split_users(data_dir, split, user)  # GNI corpora: one split, no per-user test
    per_user, total = {}, None
    for u in users:
        loader = build_loader(data_cfg, data_dir, split, u, train=False, task=spec)
        if without_imu:
            loader = _WithoutImu(loader)
        res = evaluate(model, loader, skip_context=skip, max_batches=max_batches, objective=objective)
        total = res["counts"] if total is None else total + res["counts"]
        per_user["all" if u is None else u] = {
            **res["counts"].to_dict(),
            "loss": res["loss"],
            "items": res["items"],
            "infeasible": res["infeasible"],
        }
    return {
        "checkpoint": str(path),
        "step": ckpt["step"],
        "task": spec.name,
        "metric": spec.metric,
        "split": split,
        "decoder": decoder,
        "decoder_options": decoder_opts or {},
        **({"imu": "absent"} if without_imu else {}),
        "users": per_user,
        "overall": (total or ErrorCounts()).to_dict(),
    }


class _WithoutImu:
    """A loader whose batches say the IMU is absent: a fused model then sees the EMG alone."""

    def __init__(self, loader) -> None:
        self.loader = loader

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        import torch

        for batch in self.loader:
            yield {**batch, "imu_present": torch.zeros_like(batch["imu_present"])}


def _split_users(data_dir, split: str, user: str | None) -> list[str | None]:
    """The users to report: one, each held-out test user (split test), or None (generic split)."""
    from emgrt.io.dataset import DatasetDir

    if user is not None:
        return [user]
    if split == "test":
        splits = DatasetDir(data_dir).splits
        return list(splits.get("test_users") or sorted(splits["personal"])) or [None]
    return [None]


def evaluate_bundle(
    path, data_dir, split: str = "test", user: str | None = None, max_batches: int = 0,
    decoder: str = "greedy", decoder_opts: dict | None = None,
) -> dict:
    """An exported bundle, torch-free: its whole-window ONNX graph over every whole session of
    the split (filters and front end from the manifest), decoded offline; the same metric."""
    from emgrt.bundle import Bundle
    from emgrt.io.dataset import DatasetDir
    from emgrt.io.session import SessionFile
    from emgrt.metrics import ErrorCounts
    from emgrt.stream.latency import offline_keys

    bundle = Bundle.load(path)
    per_user, total = {}, ErrorCounts()
    for u in _split_users(data_dir, split, user):
        counts = ErrorCounts()
        paths = DatasetDir(data_dir).sessions(split, u)
        paths = paths[:max_batches] if max_batches else paths
        for p in paths:
            with SessionFile(p) as sf:
                keys = offline_keys(bundle, sf, decoder, decoder_opts or {})
                counts.update(sf.text(), "".join(keys))
        total = total + counts
        per_user["all" if u is None else u] = {**counts.to_dict(), "loss": None, "items": len(paths), "infeasible": None}
    return {
        "checkpoint": str(path),
        "step": bundle.spec.provenance.get("step"),
        "split": split,
        "decoder": decoder,
        "decoder_options": decoder_opts or {},
        "users": per_user,
        "overall": total.to_dict(),
    }


def run(args: argparse.Namespace) -> int:
    import functools
    from pathlib import Path

    from emgrt.bundle import MANIFEST

    opts = decoder_options(args)
    if (Path(args.checkpoint) / MANIFEST).is_file():  # an exported bundle: no torch needed
        evaluate = evaluate_bundle
    else:
        from emgrt.train.trainer import set_threads

        set_threads(args.threads)
        evaluate = functools.partial(evaluate_checkpoint, without_imu=args.without_imu)
    if args.without_imu and evaluate is evaluate_bundle:
        from emgrt.errors import ConfigError

        raise ConfigError("--without-imu: bundles carry EMG-only models; pass the fused model's run folder")
    result = evaluate(args.checkpoint, args.data, args.split, args.user, args.max_batches, args.decoder, opts)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    if result.get("metric") == "cler":
        t = Table(title=f"CLER, split {args.split}, {args.checkpoint} (step {result['step']})")
        for col in ("user", "CLER %", "miss %", "matched", "missed", "false alarms", "items"):
            t.add_column(col, justify="right")
        for u, r in [*result["users"].items(), ("overall", result["overall"])]:
            t.add_row(u, f"{100 * r['cler']:.2f}", f"{100 * r['miss_rate']:.2f}", str(r["matched"]), str(r["missed"]),
                      str(r["false_alarms"]), str(r.get("items", "")))
        Console().print(t)
        return 0
    t = Table(title=f"{args.decoder} CER, split {args.split}, {args.checkpoint} (step {result['step']})")
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
