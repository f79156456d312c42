"""`emgrt model info NAME`: parameters and per-hop FLOPs of a model size."""

from __future__ import annotations

import argparse
import json

from emgrt.validate import NonNegativeInt, PositiveInt, arg

DESCRIPTION = """\
Print a model's parameter count, per-hop FLOPs (steady-state streaming, 2 per
multiply-add, matmuls and convolutions) and timing geometry.  NAME is tiny,
small, large, L{layers}d{dim} (layers 2-10, dim 128-1024), tds (the emg2qwerty
TDS-ConvNet baseline, offline) or a recipe .toml.
Counted analytically: nothing is allocated, so `large` is instant.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "model",
        help="model sizes: parameters and FLOPs",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="model_command", metavar="ACTION")
    info = sub.add_parser(
        "info",
        help="parameters and per-hop FLOPs",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    info.add_argument(
        "names", nargs="+", metavar="NAME", help="tiny | small | large | L6d256 | tds | recipe.toml"
    )
    info.add_argument(
        "--hop", type=arg(NonNegativeInt), default=0, help="input frames per hop (8 ms each); default: the stride"
    )
    info.add_argument("--subsample", type=arg(PositiveInt), default=None, help="override the model's subsample")
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=run_info)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def model_info(cfg, hop: int = 0) -> dict:
    from emgrt.train.model import PAPER_PARAMS, count_params, flops_per_hop
    from emgrt.train.tds import TDSConfig, tds_count_params, tds_flops_per_hop

    if isinstance(cfg, TDSConfig):  # the emg2qwerty baseline: 125 Hz output, offline
        hop = hop or 1
        flops = tds_flops_per_hop(cfg, hop)
        return {
            "name": cfg.name,
            "arch": "tds",
            "layers": cfg.blocks,
            "dim": cfg.features,
            "heads": None,
            "subsample": 1,
            "params": tds_count_params(cfg),
            "paper_params": 5.3e6,
            "hop_frames": hop,
            "hop_ms": hop * 8,
            "flops_per_hop": flops,
            "gflops_per_second": flops * (125 / hop) / 1e9,
            "lookahead_ms": cfg.lookahead * 8,
            "left_context_ms": (cfg.receptive_field - 1 - cfg.lookahead) * 8,
            "output_hz": 125.0,
        }
    hop = hop or cfg.subsample
    flops = flops_per_hop(cfg, hop)
    return {
        "name": cfg.name,
        "arch": "transformer",
        "layers": cfg.layers,
        "dim": cfg.dim,
        "heads": cfg.heads,
        "subsample": cfg.subsample,
        "params": count_params(cfg),
        "paper_params": PAPER_PARAMS.get(cfg.name),
        "hop_frames": hop,
        "hop_ms": hop * 8,
        "flops_per_hop": flops,
        "gflops_per_second": flops * (125 / hop) / 1e9,
        "lookahead_ms": cfg.lookahead * 8,
        "left_context_ms": cfg.window * cfg.subsample * 8,  # per attention layer
        "output_hz": 125 / cfg.subsample,
    }


def run_info(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from emgrt.train.model import ModelConfig
    from emgrt.train.recipe import Recipe
    from emgrt.train.tds import TDSConfig

    rows = []
    for name in args.names:
        if name.endswith(".toml"):
            cfg = Recipe.from_toml(name).model
        elif name == "tds":
            cfg = TDSConfig()
        else:
            cfg = ModelConfig.from_name(name)
        if isinstance(cfg, TDSConfig):
            rows.append(model_info(cfg, args.hop))
            continue
        if args.subsample is not None:
            cfg = replace(cfg, subsample=args.subsample)
        if args.hop and args.hop % cfg.subsample:
            from emgrt.errors import ConfigError

            raise ConfigError(f"--hop {args.hop} is not a multiple of the stride {cfg.subsample}")
        rows.append(model_info(cfg, args.hop))
    if args.json:
        print(json.dumps(rows if len(rows) > 1 else rows[0], indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    t = Table(title="FLOPs: 2 per multiply-add, steady-state streaming")
    for col in ("model", "LxD", "params", "paper", "out Hz", "hop ms", "MFLOP/hop", "GFLOP/s"):
        t.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        t.add_row(
            r["name"] or "-",
            f"{r['layers']}x{r['dim']}",
            f"{r['params'] / 1e6:.2f}M",
            f"{r['paper_params'] / 1e6:.1f}M" if r["paper_params"] else "-",
            f"{r['output_hz']:.1f}",
            str(r["hop_ms"]),
            f"{r['flops_per_hop'] / 1e6:.1f}",
            f"{r['gflops_per_second']:.2f}",
        )
    Console().print(t)
    return 0
