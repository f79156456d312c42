"""`emgrt run`: a live band over LSL through a bundle, text (or JSON-lines events) until Ctrl-C."""

from __future__ import annotations

import argparse
from pathlib import Path

from emgrt.decode import DECODER_KINDS
from emgrt.validate import AnyFloat, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, arg

DEFAULT_BUNDLE = Path("models/default")
# The shipped bundle of each task (emgrt.tasks); `emgrt demo --task NAME` picks one.
TASK_BUNDLES = {"typing": DEFAULT_BUNDLE, "gestures": Path("models/default-gestures"),
                "handwriting": Path("models/default-handwriting")}
BUNDLE_ENV = "EMGRT_BUNDLE"
SCREEN_CHARS = 4000  # decoded text kept for the live display


def add_bundle_options(p: argparse.ArgumentParser) -> None:
    """--bundle, --decoder, --provider: shared by run, latency and bench stream."""
    p.add_argument(
        "--bundle", type=Path, default=None,
        help=f"model bundle folder from `emgrt export` (default: ${BUNDLE_ENV}, else {DEFAULT_BUNDLE}/ "
        "in the current folder, else in the emgrt checkout the package runs from)",
    )
    p.add_argument("--decoder", choices=DECODER_KINDS, default=None,
                   help="decoder (default: the bundle's; a gestures bundle takes only 'gesture')")
    p.add_argument(
        "--provider", action="append", default=None, metavar="NAME",
        help="onnxruntime execution provider, repeatable (default: CUDA when available, else CPU)",
    )
    p.add_argument("--threads", type=arg(NonNegativeInt), default=1, help="onnxruntime intra-op threads per engine (default 1)")
    p.add_argument("--int8", action="store_true", help="use the bundle's dynamic-int8 step graph (export --int8)")
    p.add_argument("--lm", default=None, metavar="FILE", help="KenLM file for beam-lm (word) or char-lm (char) (default: the bundle's, else the shipped one)")
    p.add_argument("--beam-size", type=arg(PositiveInt), default=None, help="beam decoders: beam width (default: the bundle's)")
    p.add_argument("--lm-weight", type=arg(NonNegativeFloat), default=None, help="beam decoders: LM weight (default: the bundle's)")
    p.add_argument("--insertion-bonus", type=arg(AnyFloat), default=None, help="beam decoders: insertion bonus (default: the bundle's)")
    p.add_argument(
        "--adapt", choices=("on", "off"), default=None,
        help="label-free adaptation to this wearer (running feature standardisation; `emgrt export adapt`) "
        "(default: the bundle's setting)",
    )
    p.add_argument(
        "--decoder-option", action="append", default=[], metavar="KEY=VALUE",
        help="one decoder tuning value, repeatable (char-lm: commit_depth=4, commit_prob=0.99, hypothesis_hold=1.0, "
        "commit_stable, commit_lag, endpoint_frames; beam decoders: commit_margin, ...); KEY=off drops the bundle's value",
    )


def add_stream_options(p, exclusive: bool = False, several: bool = False, imu: bool = True) -> None:
    """--stream or --left/--right, the band's LSL stream(s), and --imu: shared by run, serve and
    demo.  `exclusive`: argparse refuses --stream together with --left (run); `several`: --stream
    may be repeated, one band each (serve); `imu` False: no --imu (record)."""
    src = p.add_mutually_exclusive_group() if exclusive else p
    if several:
        src.add_argument("--stream", action="append", default=None, metavar="NAME",
                         help="name of a 32-channel LSL stream (default: first stream of type EMG); repeat it to "
                         "serve several bands at once, each client following the bands it subscribes to")
    else:
        src.add_argument("--stream", default=None, help="name of one 32-channel LSL stream (default: first stream of type EMG)")
    src.add_argument("--left", default=None, help="name of the left band's 16-channel stream (with --right)")
    p.add_argument("--right", default=None, help="name of the right band's 16-channel stream (with --left)")
    if imu:
        p.add_argument("--imu", default=None, metavar="NAME",
                       help="a fused (EMG + IMU) bundle: name of the band's 6-channel IMU stream (default: STREAM-imu-right, "
                       "as `emgrt replay` names it, or the first stream of type IMU; optional: without it the model "
                       "runs with the IMU absent)")


def adapt_override(args: argparse.Namespace) -> bool | None:
    """--adapt on/off as a bool, None when not given (the bundle decides)."""
    value = getattr(args, "adapt", None)
    return None if value is None else value == "on"


def decoder_overrides(args: argparse.Namespace) -> dict:
    """Decoder options given on the command line (None: not given; ``OFF``: drop the bundle's)."""
    from emgrt.stream.decoders import parse_decoder_options

    return {
        "lm": args.lm, "beam_size": args.beam_size, "lm_weight": args.lm_weight, "insertion_bonus": args.insertion_bonus,
        **parse_decoder_options(getattr(args, "decoder_option", [])),
    }


def default_bundle(task: str | None = None) -> Path | None:
    """$EMGRT_BUNDLE, else ./models/default, else models/default of the checkout this package runs
    from (an editable install), so `emgrt demo` works from any folder of a clone.  ``task``: that
    task's shipped bundle instead (TASK_BUNDLES; $EMGRT_BUNDLE is not consulted)."""
    import os

    import emgrt

    if task is None and os.environ.get(BUNDLE_ENV):
        return Path(os.environ[BUNDLE_ENV])
    rel = TASK_BUNDLES[task or "typing"]
    for candidate in (rel, Path(emgrt.__file__).resolve().parent.parent / rel):
        if candidate.is_dir():
            return candidate
    return None


def resolve_bundle(path: Path | None, task: str | None = None):
    """The bundle at ``path``, else the default one (of ``task``); with both, they must agree."""
    from emgrt.errors import ConfigError, EmgrtError
    from emgrt.stream.engine import load_bundle

    if path is None:
        path = default_bundle(task)
        if path is None:
            raise EmgrtError(
                f"no bundle given and no {TASK_BUNDLES[task or 'typing']}/ here (pass --bundle BUNDLE_DIR from `emgrt export`, "
                f"set {BUNDLE_ENV}, or run from the emgrt clone)"
            )
    bundle = load_bundle(path)
    if task is not None and bundle.spec.task.name != task:
        raise ConfigError(f"{bundle.dir} is a {bundle.spec.task.name} bundle, not {task} (drop --task, or pass a {task} bundle)")
    return bundle


def decoder_kind(args: argparse.Namespace, bundle) -> str:
    return args.decoder or bundle.spec.decoder.default


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "run",
        help="decode a live band (LSL) into text (or gestures) until Ctrl-C",
        description="Resolve the band's LSL stream(s), check them against the bundle (channels, rate), "
        "and print the decoded text live (or one JSON event per line with --json) until Ctrl-C. "
        "A vanished stream is reconnected with backoff; the engine starts fresh after it.",
    )
    add_bundle_options(p)
    add_stream_options(p, exclusive=True)
    p.add_argument("--resolve-timeout", type=arg(PositiveFloat), default=5.0, help="seconds to wait for the stream(s) (default 5)")
    p.add_argument("--json", action="store_true", help="print events as JSON lines instead of live text")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import json
    import signal
    import sys
    import threading

    from emgrt.stream.engine import Engine
    from emgrt.stream.live import LiveSource, run_live

    bundle = resolve_bundle(args.bundle)
    kind = decoder_kind(args, bundle)
    engine = Engine(
        bundle, decoder=kind, providers=args.provider, threads=args.threads, int8=args.int8, adapt=adapt_override(args), **decoder_overrides(args)
    )
    print(f"emgrt run: onnxruntime provider {engine.provider}, decoder {kind}", file=sys.stderr)
    source = LiveSource(bundle, stream=args.stream, left=args.left, right=args.right, resolve_timeout=args.resolve_timeout,
                        imu=args.imu)
    stop = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        if args.json:
            def on_event(ev: dict) -> None:
                print(json.dumps(ev, ensure_ascii=False), flush=True)

            stats = run_live(engine, source, on_event, stop)
        else:
            stats = _run_text(engine, source, stop)
    finally:
        signal.signal(signal.SIGINT, previous)
    e = stats["engine"]
    print(
        f"emgrt run: stopped; {e['received']} samples received, {e['processed']} processed, {e['buffered']} "
        f"buffered, {e['filled']} filled in {e['gaps_filled']} gaps, {e['lost']} lost, {e['sanitised_values']} "
        f"values sanitised, {e['resets']} resets, stamp jitter {e['jitter_ms']:.3f} ms",
        file=sys.stderr,
    )
    return 0


def _run_text(engine, source, stop) -> dict:
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    from emgrt.decode import apply_keys
    from emgrt.stream.live import run_live

    state = {"text": "", "hyp": "", "status": "connecting"}

    def render() -> Text:
        t = Text(state["text"])
        t.append(state["hyp"], style="dim")
        t.append("\n")
        s = engine.stats()
        p50 = s.get("compute_ms_p50")
        t.append(
            f"[{state['status']}] {s['received'] / engine.rate:.1f} s received, {s['steps']} steps"
            + (f", compute p50 {p50:.2f} ms" if p50 is not None else "")
            + " -- Ctrl-C to stop",
            style="cyan",
        )
        return t

    console = Console(stderr=False)
    with Live(console=console, get_renderable=render, refresh_per_second=10):

        def on_event(ev: dict) -> None:
            kind = ev["type"]
            if kind == "char":
                # Only the screen's worth of text is kept: work per key stays bounded.
                state["text"] = apply_keys(state["text"], [ev["key"]])[-SCREEN_CHARS:]
                state["hyp"] = ""
            elif kind == "hypothesis":
                state["hyp"] = ev["text"]
            elif kind == "gesture":  # a gestures bundle: the newest gestures, one word each
                state["text"] = (state["text"] + ev["gesture"] + " ")[-SCREEN_CHARS:]
            elif kind == "status":
                state["status"] = ev["status"]

        stats = run_live(engine, source, on_event, stop)
    console.print()
    return stats
