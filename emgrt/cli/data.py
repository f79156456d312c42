"""`emgrt data stats DIR`, `emgrt data plot SESSION` and `emgrt data cut SESSION`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from emgrt.errors import DataFileError
from emgrt.validate import NonNegativeFloat, PositiveFloat, PositiveInt, arg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="inspect emg2qwerty-format datasets and sessions")
    dsub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)

    s = dsub.add_parser(
        "stats",
        help="summarise a dataset folder (hours, users, keystrokes, class histogram)",
        description="Summarise every session file in DIR (metadata is read, EMG is not): "
        "hours, users, sessions, keystrokes, keys per second, the split sizes from "
        "splits.json when present, and a histogram of key classes. A generic-neuromotor-interface folder: "
        "hours, users, recordings, its gestures (or prompts and their characters), the partitions per "
        "split of its corpus CSV and the label histogram.",
    )
    s.add_argument("dir", type=Path, help="dataset folder (made by `emgrt synth`, or real emg2qwerty data)")
    s.add_argument("--top", type=arg(PositiveInt), default=20, help="classes to show in the histogram (default 20)")
    s.add_argument("--json", action="store_true", help="print JSON instead of tables")
    s.set_defaults(func=_stats)

    pl = dsub.add_parser(
        "plot",
        help="draw a PNG of raw and filtered EMG with keystroke markers",
        description="Plot a stretch of one session: raw EMG of each band, the same after the "
        "default band-pass + notch filters, and the log-spectrogram front end, with a marker "
        "and label at every key press.",
    )
    pl.add_argument("session", type=Path, help="session .hdf5 file")
    pl.add_argument("--start", type=arg(NonNegativeFloat), default=None, help="seconds from the session start (default: first keystroke - 0.5)")
    pl.add_argument("--seconds", type=arg(PositiveFloat), default=5.0, help="length of the stretch (default 5)")
    pl.add_argument("--mains", type=arg(PositiveFloat), default=60.0, help="mains frequency for the notch, Hz (default 60)")
    pl.add_argument("-o", "--out", type=Path, default=None, help="output PNG (default: SESSION_NAME.png here)")
    pl.set_defaults(func=_plot)

    c = dsub.add_parser(
        "cut",
        help="write a stretch of a session as a new (gzip-compressed) session file",
        description="Copy the samples of [--start, --start + --seconds) of SESSION into OUT in the "
        "same layout (emg2qwerty, or generic-neuromotor-interface), with the labels inside it "
        "(keystrokes pressed and prompts started; gestures; handwriting prompts that start and end "
        "in it) and the IMU extension's samples over the same span. "
        "Compressed with HDF5 gzip by default (read transparently by h5py, emg2qwerty and the GNI "
        "release's reader); used to make short recordings to ship, such as the demos'.",
    )
    c.add_argument("session", type=Path, help="session .hdf5 file")
    c.add_argument("out", type=Path, help="new session file to write")
    c.add_argument("--start", type=arg(NonNegativeFloat), default=0.0, help="seconds from the session start (default 0)")
    c.add_argument("--seconds", type=arg(PositiveFloat), default=30.0, help="length in seconds (default 30)")
    c.add_argument("--no-compress", action="store_true", help="store uncompressed")
    c.set_defaults(func=_cut)


def _stats(args: argparse.Namespace) -> int:
    from emgrt.io.stats import dataset_stats, print_stats

    if not args.dir.is_dir():
        raise DataFileError(args.dir, "not a directory", "pass a dataset folder")
    stats = dataset_stats(args.dir)
    if args.json:
        print(json.dumps(stats, indent=2, ensure_ascii=False))
    else:
        print_stats(stats, top=args.top)
    return 0


def _plot(args: argparse.Namespace) -> int:
    from emgrt.viz.session_plot import plot_session

    out = args.out or Path(f"{args.session.stem}.png")
    plot_session(args.session, out, start_s=args.start, seconds=args.seconds, mains_hz=args.mains)
    print(out)
    return 0


def _cut(args: argparse.Namespace) -> int:
    from emgrt.io.cut import cut_recording
    from emgrt.io.recording import open_recording

    out = cut_recording(args.session, args.out, args.start, args.seconds, None if args.no_compress else "gzip")
    with open_recording(out) as rec:
        what = {"keys": "keystrokes"}.get(rec.marker_kind, rec.marker_kind)
        print(f"{out}: {len(rec) / 2000:.1f} s, {len(rec.markers)} {what}, {out.stat().st_size / 1e6:.1f} MB")
    return 0
