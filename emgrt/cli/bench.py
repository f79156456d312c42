"""`emgrt bench ...`: measured performance figures (one sub-subcommand per benchmark)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from emgrt.validate import NonNegativeInt, PositiveFloat, PositiveInt, arg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure performance (data loading, ...)")
    bsub = p.add_subparsers(dest="bench_command", metavar="BENCHMARK", required=True)

    d = bsub.add_parser(
        "data",
        help="training-data loading: naive vs tuned loader (windows/s, MB/s), padding waste",
        description="Load the same training windows (train mode, augmentation on) with a naive "
        "loader (one process, every window opens and parses its session file) and with the tuned "
        "loader of emgrt.train.loader (worker processes, prefetch, session cache, shared-memory "
        "batches), and report windows/s, raw EMG MB/s and the speedup; plus the padding waste of "
        "length-bucketed vs random batches.  Without --data a small dataset is synthesized into a "
        "temporary folder with `emgrt synth`.",
    )
    d.add_argument(
        "--data", type=Path, default=None, help="dataset folder (default: synthesize one, `emgrt synth` defaults)"
    )
    d.add_argument(
        "--windows",
        type=arg(PositiveInt),
        default=256,
        help="training windows each loader loads (default 256; a multiple of batch size x workers "
        "avoids an uneven last round of batches)",
    )
    d.add_argument(
        "--config", type=Path, default=None, help="recipe TOML whose [data] table to use (default: built-in defaults)"
    )
    d.add_argument("--workers", type=arg(NonNegativeInt), default=2, help="worker processes of the tuned loader (default 2)")
    d.add_argument(
        "--rounds", type=arg(PositiveInt), default=3, help="interleaved measured rounds; the median is reported (default 3)"
    )
    d.add_argument(
        "--seed", type=arg(NonNegativeInt), default=0, help="seed of the window choice, augmentation and synthetic data (default 0)"
    )
    d.add_argument("--json", action="store_true", help="print the report as JSON")
    d.set_defaults(func=_data)

    s = bsub.add_parser(
        "stream",
        help="streaming engine: front end native vs numpy, cached step vs full window, per-hop pipeline, "
        "concurrent real-time streams, memory",
        description="On one bundle: the front end per hop on the native C++ core and the numpy reference "
        "side by side (the path the rest runs on is named; EMGRT_NATIVE=0 forces numpy); the cached step graph per hop vs recomputing the full-window graph over "
        "the receptive field; Engine.process per hop (p50/p99) and its parts; how many engines one process "
        "runs in real time round-robin (greedy and beam search with the word LM); RSS and heap growth over "
        "a long stream.  Synthetic seeded input.",
    )
    from emgrt.cli.run import add_bundle_options

    add_bundle_options(s)  # --decoder picks the second decoder of the stream count (default beam-lm)
    s.add_argument("--repeats", type=arg(PositiveInt), default=300, help="timed hops for the step and pipeline figures (default 300)")
    s.add_argument("--rounds", type=arg(PositiveInt), default=30, help="timed rounds per stream-count trial (default 30)")
    s.add_argument("--max-streams", type=arg(PositiveInt), default=1024,
                   help="stop the stream search here (default 1024, above the 400-stream target; `capped` says it was hit)")
    s.add_argument("--minutes", type=arg(PositiveFloat), default=10.0, help="signal minutes of the memory run (default 10)")
    s.add_argument("--json", action="store_true", help="print the report as JSON")
    s.set_defaults(func=_stream)

    k = bsub.add_parser(
        "soak",
        help="the live path for a long time: RSS over time and the sample counters",
        description="Replay a session in a loop over a real LSL loopback (kept on this machine) into the engine, "
        "as `emgrt run` reads a band, for --minutes of signal; sample the process RSS and the counters every "
        "--every seconds; report RSS after warm-up and at the end, its growth over the last quarter, its slope "
        "over the second half, and whether every sample sent was received (sent == received + lost).",
    )
    add_bundle_options(k)
    k.add_argument("--session", type=Path, default=None, help="session to loop (default: the bundle's demo recording)")
    k.add_argument("--minutes", type=arg(PositiveFloat), default=1.0, help="signal minutes (default 1; 60 for the long soak)")
    k.add_argument("--speed", type=arg(PositiveFloat), default=1.0, help="replay speed (default 1: real time)")
    k.add_argument("--every", type=arg(PositiveFloat), default=10.0, metavar="SECONDS", help="sampling interval (default 10 s)")
    k.add_argument("--plot", type=Path, default=None, metavar="PNG", help="also plot RSS over time to this PNG")
    k.add_argument("--json", action="store_true", help="print the report as JSON (with every sample)")
    k.set_defaults(func=_soak)


def _data(args: argparse.Namespace) -> int:
    from emgrt.bench.data import bench_data, print_report
    from emgrt.data.config import DataConfig

    cfg = DataConfig.from_toml(args.config) if args.config else DataConfig()
    report = bench_data(
        args.data, windows=args.windows, cfg=cfg, workers=args.workers, seed=args.seed, rounds=args.rounds
    )
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0


def _stream(args: argparse.Namespace) -> int:
    from emgrt.bench.stream import bench_stream, print_report
    from emgrt.cli.run import decoder_overrides, resolve_bundle

    bundle = resolve_bundle(args.bundle)
    lm_decoder = args.decoder if args.decoder not in (None, "greedy") else "beam-lm"
    report = bench_stream(
        bundle, args.provider, args.threads, args.repeats, args.rounds, args.max_streams, args.minutes,
        lm_decoder=lm_decoder, decoder_opts=decoder_overrides(args), int8=args.int8,
    )
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0


def _soak(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from emgrt.bench.soak import bench_soak, plot, print_report
    from emgrt.cli.run import decoder_kind, decoder_overrides, resolve_bundle
    from emgrt.errors import ConfigError

    bundle = resolve_bundle(args.bundle)
    session = args.session or bundle.demo_session
    if session is None or not Path(session).is_file():
        raise ConfigError(f"{session or bundle.dir}: no session to loop (pass --session FILE.hdf5, e.g. one from `emgrt synth`)")
    with Progress(transient=True, disable=args.json) as bar:
        task = bar.add_task("soak", total=None)
        report = bench_soak(
            bundle, session, args.minutes, decoder_kind(args, bundle), every_s=args.every, speed=args.speed,
            decoder_opts=decoder_overrides(args), progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    if args.plot is not None:
        plot(report, args.plot)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0
