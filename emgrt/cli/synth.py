"""`emgrt synth`: write a synthetic dataset: typing in exact emg2qwerty format, or discrete gestures or handwriting in the GNI layout."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from emgrt.synth.difficulty import DEFAULT_DIFFICULTY, MAX_DIFFICULTY
from emgrt.validate import Float, NonNegativeInt, PositiveFloat, PositiveInt, arg

TASKS = ("typing", "gestures", "handwriting")
T = TypeVar("T")

DESCRIPTION = """\
Write a synthetic sEMG typing dataset in exact emg2qwerty format: one HDF5 file
per session (2 kHz, two 16-electrode bands, keystrokes and prompts), plus
metadata.csv, splits.json and synth.json.

Each user gets an individual forearm anatomy (motor units, action potentials,
electrode placement, mains frequency) and typing style; each session types
English prompts with typos and corrections.  Test users are held out of
generic training and get personal train/val/test splits.  The output depends
only on the arguments, never on --workers.

--task gestures writes the nine discrete gestures of Meta's generic-neuromotor-
interface release instead (index/middle press and release, thumb click, down,
in, out, up), made by the same synthetic people through the same physiology and
noise, in that release's layout: one right-wrist band of 16 electrodes, volts,
high-passed at 40 Hz, one discrete_gestures_user_UUU_dataset_SSS.hdf5 per
session (prompts and stages tables) and discrete_gestures_corpus.csv
(dataset, start, end, split).  Test users are held out whole; training users
give their last --val-sessions sessions to val.  --test-sessions is typing only.

--task handwriting writes that release's handwriting task the same way: the
same people write words and short phrases of real English (lower case, digits,
a few punctuation marks; a right arrow asks for an explicit space, a left arrow
for a backspace) with their fingers, on the table and in the air, along the
pen paths of a stroke font (Hershey, from the Hershey-Fonts package), each user
with their own size, slant, speed, smoothness and pen-lift timing.  One
handwriting_user_UUU_dataset_SSS.hdf5 per session (prompts table: prompt,
start, end; stages table) and handwriting_corpus.csv, split as for gestures.

IMU: the band's 6-axis IMU (accelerometer m/s^2, gyroscope rad/s, 100 Hz, its
own timestamps on the EMG clock, with the jitter, gaps, bias and noise of a
real one) is written beside the EMG as the optional extension described in
emgrt/io/imu.py: dataset imu in gesture and handwriting files (on by default),
imu_left and imu_right in the emg2qwerty group of typing files (--imu; off by
default, so typing files stay plain emg2qwerty).  Its motion comes from each
task's movements: gestures' small forearm reactions, the writing arm, the
keystrokes' jolts.  --no-imu leaves it out; the EMG is the same either way.
"""

EPILOG = """\
difficulty: one knob (0 easy, 0.7 default, 2 very hard) that raises noise, the
differences between users and sessions, the overlap between keys pressed by
the same finger and the jitter of EMG onset before key presses together.
For gestures the same formulas apply (key overlap becomes the overlap of the
five thumb gestures), for handwriting too (the overlap of the muscle patterns
of the four stroke directions); neither is calibrated against a baseline yet.

example: emgrt synth data/synth --users 20 --sessions 4 --minutes 5 --workers 4
         emgrt synth data/gestures --task gestures --users 10 --minutes 5
         emgrt synth data/handwriting --task handwriting --users 10 --minutes 5
"""


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


def _default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "synth",
        help="write a synthetic dataset (emg2qwerty typing, or GNI discrete gestures or handwriting)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=_Formatter,
    )
    p.add_argument(
        "out_dir", metavar="OUT_DIR", help="folder to write (created; a previous synth dataset there is replaced)"
    )
    p.add_argument(
        "--task",
        choices=TASKS,
        default="typing",
        help="typing: emg2qwerty-format keystroke sessions (two bands); gestures: the GNI release's "
        "nine discrete gestures (one band, its HDF5 layout and corpus CSV); handwriting: its "
        "handwriting task, words written with the fingers (same layout)",
    )
    p.add_argument("--users", type=arg(PositiveInt), default=6, help="number of synthetic people")
    p.add_argument("--sessions", type=arg(PositiveInt), default=3, help="sessions per user")
    p.add_argument("--minutes", type=arg(PositiveFloat), default=2.0, help="length of each session in minutes")
    p.add_argument("--seed", type=arg(NonNegativeInt), default=0, help="dataset seed; same seed, same files")
    p.add_argument(
        "--difficulty", type=arg(Float(ge=0, le=MAX_DIFFICULTY)), default=DEFAULT_DIFFICULTY, help="0 easy .. 2 very hard (see below)"
    )
    p.add_argument("--test-users", type=arg(NonNegativeInt), default=1, help="users held out of generic training")
    p.add_argument("--val-sessions", type=arg(NonNegativeInt), default=1, help="validation sessions per user")
    p.add_argument("--test-sessions", type=arg(NonNegativeInt), default=1, help="test sessions per test user (typing only)")
    p.add_argument(
        "--imu",
        action=argparse.BooleanOptionalAction,
        default=argparse.SUPPRESS,
        help="write each band's 6-axis IMU stream (accelerometer + gyroscope, 100 Hz, its own timestamps on the "
        "EMG clock: the optional extension of emgrt/io/imu.py) (default: on for gestures and handwriting, off for typing)",
    )
    p.add_argument("--workers", type=arg(PositiveInt), default=_default_workers(), help="parallel render processes")
    p.add_argument("--force", action="store_true", help="write into a non-empty folder that is not an emgrt dataset")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


class _Progress:
    """Rich progress bar on a terminal, a few plain lines otherwise (both on stderr)."""

    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0
        self.bar = None
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("synth"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("sessions"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.task = self.bar.add_task("synth", total=total)

    def __enter__(self) -> "_Progress":
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def update(self, _result: object) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.advance(self.task)
        elif self.done == self.total or self.done % max(1, self.total // 10) == 0:
            print(f"synth: {self.done}/{self.total} sessions", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from emgrt.synth import task_synth

    task = getattr(args, "task", "typing")
    if getattr(args, "imu", None) is None:
        args.imu = task != "typing"  # the one-band tasks carry the band's IMU by default
    make = task_synth(task)
    cfg = _config(make.config, args)
    _synth(args, cfg, make.plan, make.generate, *make.counted)
    if task == "typing" and cfg.test_users and cfg.personal_train_sessions < 1:
        print(
            f"note: test users have no personal training session; use --sessions >= "
            f"{cfg.val_sessions + cfg.test_sessions + 1} to fine-tune per user",
            file=sys.stderr,
        )
    return 0


def _config(cls: type[T], args: argparse.Namespace) -> T:
    """The task's config dataclass from the options of the same names."""
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})


def _synth(args: argparse.Namespace, cfg: Any, plan: Callable, generate: Callable, *counted: str) -> None:
    """Validate ``cfg``, generate its dataset with a progress bar and print the summary.

    ``plan`` / ``generate``: the task's planner and generator; ``counted``: the summary fields
    that count its labels (keystrokes; gestures; prompts, characters), named so in the text summary.
    """
    cfg.validate()  # before touching the folder
    total = len(plan(cfg).specs)
    with _Progress(total) as progress:
        summary = generate(args.out_dir, cfg, workers=args.workers, force=args.force, on_session=progress.update)
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2))
        return
    s = summary
    print(
        f"wrote {s.out_dir}: {s.users} users ({s.train_users} train, {s.test_users} test), "
        f"{s.sessions} sessions, {s.hours:.2f} h, {''.join(f'{getattr(s, c):,} {c}, ' for c in counted)}{s.bytes / 1e6:.0f} MB"
    )
    print(
        f"took {s.seconds:.1f} s: {s.realtime_factor:.0f}x real time "
        f"({s.workers} worker{'s' if s.workers > 1 else ''}; {s.per_core_realtime_factor:.0f}x per CPU core)"
    )
