"""`emgrt export`: a trained model -> a runtime bundle; `emgrt export verify BUNDLE`: check it;
`emgrt export seal BUNDLE`: re-seal one edited on purpose; `emgrt export adapt BUNDLE --data D`: add
label-free adaptation statistics."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from emgrt.validate import PositiveFloat, PositiveInt, arg

DESCRIPTION = """\
Five forms:

  emgrt export RUN_DIR_OR_CKPT --out BUNDLE_DIR [--int8] [--frames-per-step F] [--opset N] [--char-lm FILE]
  emgrt export verify BUNDLE_DIR [--data DIR] [--sessions N] [--windows N] [--write-card] [--json]
  emgrt export seal BUNDLE_DIR [--json]
  emgrt export adapt BUNDLE_DIR --data DIR [--every K] [--tau SECONDS] [--off] [--json]
  emgrt export tune BUNDLE_DIR --decoder KIND --decoder-option KEY=VALUE ... [--json]

The first writes a bundle (see export/README.md): step.onnx, the fixed-shape streaming step with
every piece of state (convolution history, key/value caches, warm-up counter) as explicit
inputs/outputs; full.onnx, the whole-window graph for offline use; manifest.json with every runtime
parameter (sample rate, channel layout, filters, front end, hop, left context, lookahead, charset,
blank, model size and FLOPs, opset, file hashes, provenance); MODEL_CARD.md.  --int8 adds dynamic
int8 versions of both graphs.  --char-lm copies a character KenLM (ARPA, .arpa.gz) into the bundle
and makes it the char-lm decoder's default.

`verify` runs the bundle on real windows of uneven lengths (from --data, default: the dataset the
model was trained on, or two `emgrt synth` sessions when that is not here) and prints the max abs log-prob difference of torch vs ONNX Runtime and of
the streaming step, step by step, vs the whole-window graph (both must be <= 1e-4), and for int8
graphs the greedy CER change.  Exits 1 when a check fails.  --write-card adds the figures to the
bundle's MODEL_CARD.md.  Needs the training extra (torch).

`seal` is for a bundle edited on purpose (a manifest value changed by hand, a file replaced): the
runtime refuses a bundle whose manifest does not hash to its digest or whose files do not match
their sha256.  It recomputes the sha256 of every file the manifest names and the bundle digest,
checks the result loads, rewrites manifest.json and prints what changed.  Torch-free.

`adapt` adds label-free adaptation to a bundle (emgrt/dsp/adapt.py: each log-spectrogram feature
is standardised online, time constant --tau seconds, onto the training statistics): it runs the
bundle's front end over DIR's train split (every K-th session), writes the mean and variance of
each feature to feature-stats.npy, sets the manifest's `adapt` table (enabled unless --off;
`--adapt on|off` at run time overrides) and re-seals.  Torch-free.

`tune` sets the bundle's own tuning of one decoder (manifest `decoder.options[KIND]`: the values
`--decoder-option` overrides at run time; KEY=off removes one), checks the decoder accepts it and
re-seals.  Torch-free.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export a trained model to an ONNX streaming bundle (or `export verify BUNDLE`)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", metavar="RUN_DIR_OR_CKPT | verify | seal | adapt | tune",
                   help="run folder / checkpoint, or the word verify, seal, adapt or tune")
    p.add_argument("bundle", nargs="?", metavar="BUNDLE_DIR", help="(verify, seal, adapt, tune) the bundle to check, re-seal, adapt or tune")
    p.add_argument("--out", type=Path, help="bundle folder to write")
    p.add_argument("--int8", action="store_true", help="also write dynamic-int8 graphs")
    p.add_argument("--frames-per-step", type=arg(PositiveInt), default=None, help="8 ms frames per step (default: the model's stride)")
    p.add_argument("--opset", type=arg(PositiveInt), default=None, help="ONNX opset (default 20)")
    p.add_argument("--char-lm", type=Path, default=None, help="character KenLM to ship in the bundle")
    p.add_argument("--data", type=Path, default=None, help="(verify) dataset folder for the real windows; (adapt) the training data")
    p.add_argument("--every", type=arg(PositiveInt), default=1, help="(adapt) use every K-th training session (default 1: all)")
    p.add_argument("--tau", type=arg(PositiveFloat), default=None, help="(adapt) time constant in s (default 30)")
    p.add_argument("--off", action="store_true", help="(adapt) add the statistics but leave adaptation off by default")
    p.add_argument("--windows", type=arg(PositiveInt), default=4, help="(verify) windows to check (default 4)")
    p.add_argument("--sessions", type=arg(PositiveInt), default=None, help="(verify) draw the windows from N sessions (default: all)")
    p.add_argument("--write-card", action="store_true", help="(verify) add the figures to MODEL_CARD.md")
    p.add_argument("--decoder", default=None, help="(tune) the decoder kind whose tuning to set, e.g. char-lm")
    p.add_argument("--decoder-option", action="append", default=[], metavar="KEY=VALUE",
                   help="(tune) one tuning value, repeatable (KEY=off removes it)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from emgrt.errors import ConfigError

    if args.source in ("verify", "seal", "adapt", "tune"):
        if not args.bundle:
            raise ConfigError(f"export {args.source} needs the bundle folder: emgrt export {args.source} BUNDLE_DIR")
        return {"verify": _verify, "seal": _seal, "adapt": _adapt, "tune": _tune}[args.source](args)
    if args.bundle:
        raise ConfigError(f"unexpected argument {args.bundle!r}; the bundle folder goes in --out")
    if args.out is None:
        raise ConfigError("export needs --out BUNDLE_DIR")
    if args.char_lm is not None and not args.char_lm.is_file():
        raise ConfigError(f"{args.char_lm}: no such language model file")
    from emgrt.train.export import DEFAULT_OPSET, export_bundle

    out = export_bundle(args.source, args.out, frames_per_step=args.frames_per_step, int8=args.int8,
                        char_lm=args.char_lm, opset=args.opset or DEFAULT_OPSET)
    from emgrt.bundle import Bundle

    b = Bundle.load(out)
    if args.json:
        print(json.dumps({"bundle": str(out), "files": b.manifest["files"], "model": b.manifest["model"]}, indent=2))
    else:
        print(f"wrote {b.describe()}: {', '.join(sorted(b.manifest['files']))}")
        print(f"check it: emgrt export verify {out}")
    return 0


def _tune(args: argparse.Namespace) -> int:
    from emgrt.decode import DECODER_KINDS
    from emgrt.errors import ConfigError
    from emgrt.stream.decoders import parse_decoder_options, tune_bundle

    if args.decoder not in DECODER_KINDS or not args.decoder_option:
        raise ConfigError(f"export tune needs --decoder KIND ({', '.join(DECODER_KINDS)}) and at least one "
                          "--decoder-option KEY=VALUE")
    tuned = tune_bundle(args.bundle, args.decoder, parse_decoder_options(args.decoder_option))
    if args.json:
        print(json.dumps({"bundle": str(args.bundle), "decoder": args.decoder, "options": tuned}, indent=2))
    else:
        shown = ", ".join(f"{k}={v}" for k, v in tuned.items()) or "its own defaults"
        print(f"{args.bundle}: {args.decoder} now decodes with {shown}; re-sealed")
    return 0


def _seal(args: argparse.Namespace) -> int:
    from emgrt.bundle import SHORT_DIGEST, seal

    rep = seal(args.bundle)
    if args.json:
        print(json.dumps({"bundle": str(rep.bundle), "digest": rep.digest, "previous": rep.previous,
                          "changes": rep.changes}, indent=2))
        return 0
    was = f" (was {rep.previous[:SHORT_DIGEST]})" if rep.previous and rep.previous != rep.digest else ""
    print(f"sealed {rep.bundle}: digest {rep.digest[:SHORT_DIGEST]}{was}" + ("" if rep.changes else "; nothing changed"))
    for line in rep.changes:
        print(f"  {line}")
    return 0


def _adapt(args: argparse.Namespace) -> int:
    import sys

    from rich.progress import Progress

    from emgrt.errors import ConfigError
    from emgrt.stream.adaptation import DEFAULT_TAU_S, add_adaptation

    if args.data is None:
        raise ConfigError("export adapt needs --data DIR (the dataset the model was trained on)")
    with Progress(disable=not sys.stderr.isatty(), transient=True) as bar:
        task = bar.add_task("feature statistics", total=None)
        rep = add_adaptation(args.bundle, args.data, every=args.every, tau_s=args.tau or DEFAULT_TAU_S,
                             enabled=not args.off, progress=lambda done, total: bar.update(task, completed=done, total=total))
    if args.json:
        print(json.dumps(rep, indent=2))
    else:
        print(f"{args.bundle}: adaptation statistics from {rep['sessions']} sessions ({rep['frames']} frames) in "
              f"{rep['stats']}; tau {rep['tau_s']:g} s, {'on' if rep['enabled'] else 'off'} by default; re-sealed")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from emgrt.train.export import verify_bundle

    rep = verify_bundle(args.bundle, args.data, args.windows, sessions=args.sessions, write_card=args.write_card)
    ok = (rep["step_vs_full_ok"] and rep["torch_vs_onnx_ok"] is not False and rep["batched_vs_step_ok"] is not False
          and rep.get("step_vs_full_imu_absent_ok") is not False)
    if args.json:
        print(json.dumps({**rep, "ok": ok}, indent=2))
        return 0 if ok else 1
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"export verify {rep['bundle']} ({rep['windows']} windows, {min(rep['frames'])}-{max(rep['frames'])} "
              f"frames, from {rep['sessions']} sessions of {rep['data']}; {rep['providers'][0]})")
    for col in ("check", "max abs difference", "tolerance", "result"):
        t.add_column(col)

    def row(name, value, ok_):
        t.add_row(name, "-" if value is None else f"{value:.2e}", f"{rep['tolerance']:.0e}",
                  "skipped (checkpoint not found)" if ok_ is None else ("ok" if ok_ else "FAIL"))

    row("torch vs ONNX Runtime (full graph)", rep["torch_vs_onnx_max_abs"], rep["torch_vs_onnx_ok"])
    row("streaming step vs full graph", rep["step_vs_full_max_abs"], rep["step_vs_full_ok"])
    if rep["batched_vs_step_ok"] is not None:
        row("batched step (2 streams) vs step alone", rep["batched_vs_step_max_abs"], rep["batched_vs_step_ok"])
    if rep.get("step_vs_full_imu_absent_ok") is not None:
        row("streaming step vs full graph, IMU absent", rep["step_vs_full_imu_absent_max_abs"], rep["step_vs_full_imu_absent_ok"])
    Console().print(t)
    if "int8" in rep:
        q = rep["int8"]
        print(f"int8: greedy CER {q['greedy_cer_int8']:.2f} vs fp32 {q['greedy_cer_fp32']:.2f} ({q['cer_change']:+.2f} points)")
    return 0 if ok else 1
