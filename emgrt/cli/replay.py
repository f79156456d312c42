"""`emgrt replay`: publish a recorded session as a live band over LSL (EMG + label markers)."""

from __future__ import annotations

import argparse
from pathlib import Path

from emgrt.validate import Float, NonNegativeFloat, PositiveFloat, arg

LINGER_S = 2.0  # after the last sample, the streams stay up this long (Ctrl-C ends it at once)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "replay",
        help="publish a recorded session as a live LSL band",
        description="Publish SESSION as a live LSL EMG stream at the nominal 2 kHz in band-sized chunks stamped "
        "on the LSL clock, until the session ends (or Ctrl-C with --loop). An emg2qwerty session: one 32-channel "
        "stream NAME, or with --split-bands two 16-channel streams NAME-left and NAME-right, plus the keystrokes "
        "on the marker stream NAME-keys. A generic-neuromotor-interface session (emgrt synth --task "
        "gestures|handwriting, or the release's files): one 16-channel stream NAME in volts, plus its gestures on "
        "NAME-gestures or its prompts on NAME-prompts. When the session carries the IMU extension, each band's IMU "
        "goes on NAME-imu-BAND (6 channels: accel, gyro). Anything that reads LSL sees a band.",
    )
    p.add_argument("session", type=Path, metavar="SESSION", help="recorded session file (.hdf5)")
    p.add_argument("--name", default="emgrt-replay", help="LSL stream name (default emgrt-replay)")
    p.add_argument("--speed", type=arg(PositiveFloat), default=1.0, help="replay speed; 2 = twice real time (default 1)")
    p.add_argument("--split-bands", action="store_true", help="two 16-channel streams NAME-left/NAME-right")
    p.add_argument("--no-imu", dest="imu", action="store_false", help="do not publish the session's IMU streams")
    p.add_argument("--loop", action="store_true", help="start over at the end, until Ctrl-C")
    p.add_argument("--max-seconds", type=arg(PositiveFloat), default=None, help="send only the session's first this-many seconds")
    p.add_argument(
        "--wait", type=arg(Float(ge=0, finite=False)), default=float("inf"), metavar="SECONDS",
        help="wait up to this long for a receiver on every EMG stream before sending, so that no sample is sent "
        "to nobody (default: until one connects; 0: send at once)",
    )
    p.add_argument(
        "--stamp-jitter", type=arg(NonNegativeFloat), default=0.0, metavar="MS",
        help="stamp every sample off its nominal time by up to +-MS milliseconds, like a band that stamps at "
        "push time (default 0: exact stamps)",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import signal
    import sys
    import threading

    from emgrt.lsl.outlet import SessionReplayer

    rep = SessionReplayer(
        args.session, args.name, speed=args.speed, split_bands=args.split_bands, loop=args.loop,
        max_seconds=args.max_seconds, wait_for_consumer=args.wait, stamp_jitter=args.stamp_jitter / 1000.0,
        imu=args.imu,
    )
    stop = threading.Event()
    handlers = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    rep.start()
    try:
        seconds = rep.n_samples / rep.rate
        print(
            f"emgrt replay: {args.session.name}: {seconds:.1f} s at {args.speed:g}x on LSL streams "
            f"{', '.join(rep.stream_names)}{' (looping)' if args.loop else ''}; Ctrl-C to stop",
            file=sys.stderr, flush=True,
        )
        if args.wait > 0:
            print("emgrt replay: waiting for a receiver before sending (--wait 0 sends at once)", file=sys.stderr, flush=True)
        while not stop.is_set() and not rep.wait(0.2):
            pass
        if rep.error is not None:
            raise rep.error
        # Everything is sent: keep the outlets a moment, so receivers get what is still in flight
        # (destroying an outlet drops what it has not delivered yet).
        stop.wait(LINGER_S)
    finally:
        rep.stop()
        for s, h in handlers.items():
            signal.signal(s, h)
    imu = "".join(f", {n} {band} IMU samples" for band, n in rep.imu_sent.items())
    what = {"keys": "keystrokes"}.get(rep.marker_kind, rep.marker_kind)
    print(f"emgrt replay: sent {rep.samples_sent} samples and {rep.keys_sent} {what}{imu}", file=sys.stderr)
    return 0
