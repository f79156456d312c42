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
    p.add_argument("--from-recording", required=True, type=Path, nargs="+", metavar="FILE.hdf5",
                   help="the person's typing session(s), used in order")
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
    rep = calibrate(bundle.dir, args.from_recording, args.out, minutes=args.minutes, held_out=args.held_out, steps=args.steps or DEFAULT_STEPS,
                    threads=args.threads, lr=args.lr, keep_run=args.keep_run, on_stage=stage, progress=sys.stderr.isatty())
    if args.json:
        print(json.dumps(rep, indent=2))
        return 0
    print(f"personal bundle {rep['bundle']} ({rep['digest']}): {rep['calibration_s'] / 60:.1f} min of typing, "
          f"{rep['steps']} steps in {rep['fine_tune_s']:.0f} s; step graph verified: {'ok' if rep['verify_ok'] else 'FAIL'}")
    for kind in rep["cer_before"]:
        print(f"  CER on the held-out {rep['held_out_s']:.0f} s, {kind}: {rep['cer_before'][kind]:.2f} % -> {rep['cer_after'][kind]:.2f} %")
    return 0 if rep["verify_ok"] else 1
