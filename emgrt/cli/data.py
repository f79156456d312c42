"""`emgrt data stats DIR` and `emgrt data plot SESSION`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from emgrt.errors import DataFileError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="inspect emg2qwerty-format datasets and sessions")
    dsub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)

    s = dsub.add_parser(
        "stats",
        help="summarise a dataset folder (hours, users, keystrokes, class histogram)",
        description="Summarise every session file in DIR (metadata is read, EMG is not): "
        "hours, users, sessions, keystrokes, keys per second, the split sizes from "
        "splits.json when present, and a histogram of key classes.",
    )
    s.add_argument("dir", type=Path, help="dataset folder (made by `emgrt synth`, or real emg2qwerty data)")
    s.add_argument("--top", type=int, default=20, help="classes to show in the histogram (default 20)")
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
    pl.add_argument("--start", type=float, default=None, help="seconds from the session start (default: first keystroke - 0.5)")
    pl.add_argument("--seconds", type=float, default=5.0, help="length of the stretch (default 5)")
    pl.add_argument("--mains", type=float, default=60.0, help="mains frequency for the notch, Hz (default 60)")
    pl.add_argument("-o", "--out", type=Path, default=None, help="output PNG (default: SESSION_NAME.png here)")
    pl.set_defaults(func=_plot)


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
