"""`emgrt latency`: keystroke-to-character latency of recorded sessions replayed through the engine."""

from __future__ import annotations

import argparse
from pathlib import Path

from emgrt.cli.run import add_bundle_options
from emgrt.validate import PositiveFloat, PositiveInt, arg


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "latency",
        help="keystroke-to-display/stable/commit latency, revisions, compute per hop and CER of sessions replayed as if live",
        description="Replay recorded sessions through the streaming engine on a simulated clock (chunks "
        "arrive at their stamps; measured compute is added), match the displayed text (committed + "
        "hypothesis) and the committed text to the keystrokes pressed so far by edit-distance alignment "
        "and report p50/p90/p99 of the display, stable and commit latency (commit split into alignment, "
        "algorithmic, transport and compute parts), keys shown, revision rate; compute per hop; real-time factor; streamed CER next to the "
        "offline CER of the full-window graph; dropped samples (must be 0). --live sends the sessions "
        "over a real LSL loopback instead (takes real time / --speed). A gestures bundle is scored on GNI gesture "
        "recordings instead (a file, a folder, or a folder's corpus --split): CLER, misses, false alarms and the "
        "gesture-to-event latency p50/p90/p99, streamed in --chunk-sample packets, with the streamed events "
        "checked against the offline ones (--no-offline skips that); a handwriting bundle likewise on GNI "
        "handwriting recordings: the CER of every prompt (characters assigned to the prompt by their output "
        "frame's time), streamed characters checked against the offline ones. A fused (EMG + IMU) bundle reads "
        "the recordings' IMU beside the EMG.",
    )
    p.add_argument("sessions", type=Path, metavar="SESSION_OR_DIR", help="a session .hdf5 file or a folder of them (a GNI folder for a gestures or handwriting bundle)")
    add_bundle_options(p)
    p.add_argument("--limit", type=arg(PositiveInt), default=None, help="at most this many sessions of a folder")
    p.add_argument(
        "--split", choices=("train", "val", "test"), default=None,
        help="with a dataset folder: only its generic split (test = the held-out users' test sessions)",
    )
    p.add_argument("--max-seconds", type=arg(PositiveFloat), default=None, help="use only the first S seconds of each session")
    p.add_argument("--chunk", type=arg(PositiveInt), default=32, help="samples per simulated band packet (default 32)")
    p.add_argument("--live", action="store_true", help="replay over a real LSL loopback (SessionReplayer)")
    p.add_argument("--speed", type=arg(PositiveFloat), default=1.0, help="--live replay speed (default 1: real time)")
    p.add_argument(
        "--max-match-s", type=arg(PositiveFloat), default=5.0,
        help="a latency (display, stable or commit) over this many seconds is not counted (default 5)",
    )
    p.add_argument("--no-offline", action="store_true", help="skip the offline (full graph) CER")
    p.add_argument("--plot", type=Path, default=None, metavar="OUT.png", help="latency histogram + one session's timeline")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import json
    import sys

    from emgrt.cli.run import adapt_override, decoder_kind, decoder_overrides, resolve_bundle
    from emgrt.io.session import SessionFile
    from emgrt.stream import latency as lat
    from emgrt.stream.engine import Engine

    bundle = resolve_bundle(args.bundle)
    if bundle.spec.task.name in ("gestures", "handwriting"):
        return _one_band(args, bundle)
    paths = lat.session_paths(args.sessions, args.split)[: args.limit]
    kind = decoder_kind(args, bundle)
    overrides = decoder_overrides(args)
    engine = Engine(bundle, decoder=kind, providers=args.provider, threads=args.threads, int8=args.int8, adapt=adapt_override(args), **overrides)
    print(f"emgrt latency: onnxruntime provider {engine.provider}, decoder {kind}, {len(paths)} session(s)", file=sys.stderr)
    if args.live:
        from emgrt.lsl import keep_local

        keep_local()  # the replays are private: their streams are not announced beyond this machine
    runs = []
    for path in paths:
        if args.live:
            run = lat.replay_live(engine, bundle, path, speed=args.speed, max_seconds=args.max_seconds)
        else:
            with SessionFile(path) as session:
                run = lat.replay_simulated(engine, session, chunk=args.chunk, max_seconds=args.max_seconds)
        run.max_match_s = args.max_match_s
        if not args.no_offline:
            with SessionFile(path) as session:
                run.offline_keys = lat.offline_keys(bundle, session, kind, overrides, max_seconds=args.max_seconds,
                                                    adapt=adapt_override(args))
        runs.append(run)
    report = lat.report(runs, bundle, "live" if args.live else "simulated", kind)
    if args.plot:
        report["plot"] = str(lat.plot(runs, report, args.plot))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        lat.print_report(report)
        if args.plot:
            print(f"plot: {report['plot']}")
    return 0 if report["dropped_samples"] == 0 else 1


def _one_band(args: argparse.Namespace, bundle) -> int:
    """A gestures or handwriting bundle: GNI recordings streamed on a simulated clock and scored
    with the task's metric (CLER and gesture-to-event latency; CER per prompt), against offline."""
    import json

    from emgrt.errors import ConfigError
    from emgrt.stream import gesture_score, prompt_score
    from emgrt.stream.recording_stream import recording_paths

    task = bundle.spec.task.name
    if args.live or args.plot:
        raise ConfigError(f"a {task} bundle is scored streamed on a simulated clock here; drop --live/--plot")
    scorer = gesture_score if task == "gestures" else prompt_score
    paths = recording_paths(args.sessions, args.split, "discrete_gestures" if task == "gestures" else task)[: args.limit]
    if task == "gestures":
        if args.max_seconds is not None:
            raise ConfigError("a gestures bundle is scored on whole recordings; drop --max-seconds")
        rep = gesture_score.score_recordings(bundle, paths, chunk=args.chunk, offline=not args.no_offline)
    else:
        rep = prompt_score.score_handwriting(bundle, paths, chunk=args.chunk, offline=not args.no_offline,
                                             max_seconds=args.max_seconds)
    if args.json:
        print(json.dumps(rep, indent=2))
    else:
        scorer.print_report(rep)
    return 0 if rep.get("streamed_equals_offline", True) else 1
