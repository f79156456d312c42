"""`emgrt calibrate`: fine-tune a bundle on a few minutes of one person's typing."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from emgrt.validate import NonNegativeInt, PositiveFloat, PositiveInt, arg

DESCRIPTION = """\
Make a personal bundle: fine-tune --bundle's model on a recording of one person typing, export
and verify the result into --out, and print the CER before and after on the last 20 % of the
recording (at least 20 s), which is never trained on.

  emgrt calibrate --from-recording ME.hdf5 --bundle models/default --out my-bundle [--minutes 3]
  emgrt calibrate --stream MyBand --keys MyKeyLogger --minutes 3 --out my-bundle

With a band (--stream, or --left/--right) it first records you typing, as `emgrt record` does, for
--minutes (default 3) plus a quarter more (at least 20 s) that is held out, into
BUNDLE_DIR-recording.hdf5 next to --out, then calibrates on that recording.

--minutes uses only the first M minutes for calibration (the held-out part stays the same).
Several recordings are used in order; --held-out FILE evaluates on a separate session (then all
of the recordings are available for calibration).  The recording is an emg2qwerty-format session with keystrokes (`emgrt record`,
`emgrt synth`, or emg2qwerty's own files).  Needs the training extra (torch) and a bundle that
carries its weights (bundles from `emgrt export`).  The personal bundle keeps the source's
language model, decoder settings and adaptation statistics.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "calibrate",
        help="fine-tune a bundle on minutes of one person's typing (a personal bundle)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--from-recording", type=Path, nargs="+", metavar="FILE.hdf5",
                     help="the person's typing session(s), used in order")
    src.add_argument("--stream", default=None, help="record this 32-channel LSL band stream first")
    src.add_argument("--left", default=None, help="record this left band stream (with --right) first")
    p.add_argument("--right", default=None, help="the right band's stream (with --left)")
    keys = p.add_mutually_exclusive_group()
    keys.add_argument("--keys", default=None, metavar="STREAM", help="with a band: the LSL marker stream of the key presses")
    keys.add_argument("--prompt", action="store_true", help="with a band: show prompts and read typed lines (per-line times)")
    p.add_argument("--held-out", type=Path, default=None, metavar="FILE.hdf5",
                   help="evaluate on this session instead of the last recording's last 20 %%")
    p.add_argument("--bundle", type=Path, default=None, help="bundle to start from (default: the shipped one)")
    p.add_argument("--out", required=True, type=Path, metavar="BUNDLE_DIR", help="where the personal bundle goes (new folder)")
    p.add_argument("--minutes", type=arg(PositiveFloat), default=None, help="calibrate on the first M minutes only")
    p.add_argument("--steps", type=arg(PositiveInt), default=None, help="fine-tuning updates (default 150)")
    p.add_argument("--lr", type=arg(PositiveFloat), default=None, help="peak learning rate (default 3e-4)")
    p.add_argument("--threads", type=arg(NonNegativeInt), default=0, help="torch threads (default: all cores)")
    p.add_argument("--keep-run", type=Path, default=None, metavar="RUN_DIR", help="keep the fine-tuning run folder here")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from emgrt.cli.run import resolve_bundle
    from emgrt.errors import ConfigError

    try:
        import torch  # noqa: F401
    except ImportError:
        raise ConfigError("emgrt calibrate fine-tunes with torch: install the training extra, pip install 'emgrt[train]'") from None
    from emgrt.train.calibrate import DEFAULT_STEPS, calibrate

    bundle = resolve_bundle(args.bundle)
    stage = (lambda s: print(f"emgrt calibrate: {s}", file=sys.stderr, flush=True))
    recordings = args.from_recording or [_record(args, stage)]
    rep = calibrate(bundle.dir, recordings, args.out, minutes=args.minutes, held_out=args.held_out, steps=args.steps or DEFAULT_STEPS,
                    threads=args.threads, lr=args.lr, keep_run=args.keep_run, on_stage=stage, progress=sys.stderr.isatty())
    if args.json:
        print(json.dumps(rep, indent=2))
        return 0
    print(f"personal bundle {rep['bundle']} ({rep['digest']}): {rep['calibration_s'] / 60:.1f} min of typing, "
          f"{rep['steps']} steps in {rep['fine_tune_s']:.0f} s; step graph verified: {'ok' if rep['verify_ok'] else 'FAIL'}")
    for kind in rep["cer_before"]:
        print(f"  CER on the held-out {rep['held_out_s']:.0f} s, {kind}: {rep['cer_before'][kind]:.2f} % -> {rep['cer_after'][kind]:.2f} %")
    return 0 if rep["verify_ok"] else 1


def _record(args: argparse.Namespace, stage) -> Path:
    """Record the band (as `emgrt record`) for calibration plus a held-out part; the file's path."""
    from emgrt.cli import main
    from emgrt.errors import ConfigError
    from emgrt.train.calibrate import HOLDOUT_FRAC, MIN_HOLDOUT_S

    if not (args.keys or args.prompt):
        raise ConfigError("calibrating from a band needs the keystrokes: --keys STREAM (a key logger's LSL markers) or --prompt")
    if args.out.exists() and any(args.out.iterdir()):
        raise ConfigError(f"{args.out} is not empty; pick a new folder for the personal bundle")
    minutes = args.minutes or 3.0
    total = minutes + max(MIN_HOLDOUT_S / 60.0, minutes * HOLDOUT_FRAC / (1 - HOLDOUT_FRAC))
    path = args.out.with_name(args.out.name + "-recording.hdf5")
    argv = ["record", str(path), "--minutes", f"{total:.4f}"]
    for flag in ("stream", "left", "right", "keys"):
        if getattr(args, flag):
            argv += [f"--{flag}", getattr(args, flag)]
    argv += ["--prompt"] if args.prompt else []
    stage(f"recording {total:.1f} min of typing into {path} ({minutes:g} to calibrate on, the rest held out)")
    rc = main(argv)
    if rc != 0:
        raise ConfigError(f"the recording did not finish (emgrt record exited {rc}); nothing was calibrated")
    args.minutes = minutes
    return path
