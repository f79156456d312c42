"""`emgrt record`: record a live LSL band (and keystrokes) into an emg2qwerty session file."""

from __future__ import annotations

import argparse
from pathlib import Path

from emgrt.cli.run import add_stream_options
from emgrt.constants import CONDITION_KEYBOARD
from emgrt.validate import NonNegativeInt, PositiveFloat, arg

POLL_TIMEOUT_S = 0.02  # longest wait for band data per pull; bounds the reaction to a stop
RECONNECT_TIMEOUT_S = 1.0  # resolve/open timeout of each reconnection attempt (Ctrl-C waits at most this)
PLAIN_STATUS_S = 10.0  # a status line this often when stderr is not a terminal
KEY_DRAIN_S = 0.3  # at the end, markers are still read until none came for this long

DESCRIPTION = """\
Record the band's LSL stream(s) -- one 32-channel stream (--stream) or two 16-channel band streams
(--left/--right), 2 kHz -- into OUT in emg2qwerty's session layout, with the keystrokes typed meanwhile,
until Ctrl-C (or SIGTERM), or --minutes of signal.

Keystrokes come from an LSL string marker stream (--keys STREAM: one marker per key press, a character
or a pynput name, stamped on the LSL clock; `emgrt replay --name NAME` publishes one as NAME-keys), or
with --prompt from this terminal: prompts from emgrt's English prompt list are shown one at a time;
type each and press Enter (Ctrl-D ends). Terminal line input only gives per-line times, not per-key
times: every key of a line is stamped when the line arrives, followed by an enter; each prompt is stored
with the times it was shown and answered.

Times: sample and keystroke stamps are on this machine's LSL clock (clock-synced) and stored as unix
seconds through one offset (time.time() - LSL clock) measured at the start; the offset and how the file
was recorded are in its `recording` attribute. Sample stamps go through emgrt's sample clock, which
removes stamp jitter but never moves a sample across a gap.

Nothing is invented and little is lost: OUT is written as the recording goes, flushed every second,
so a recording that is killed still leaves a file that emgrt and emg2qwerty's reader open, with
everything up to its last flush. A band that drops out is reconnected; the samples missing in between
are recorded as a gap (attribute `gaps`: start, end, estimated missing samples) and not filled in.
At the end the counts are printed: samples received and written, keys, gaps."""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "record",
        help="record a live LSL band (and keystrokes) into an emg2qwerty session file",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("out", type=Path, metavar="OUT", help="session file to write (.hdf5); refused if it exists, unless --force")
    add_stream_options(p, exclusive=True, imu=False)
    keys = p.add_mutually_exclusive_group()
    keys.add_argument("--keys", default=None, metavar="STREAM", help="LSL marker stream of the key presses (e.g. NAME-keys from `emgrt replay`)")
    keys.add_argument(
        "--prompt", action="store_true",
        help="show prompts in this terminal and record what is typed, line by line (per-line times only)",
    )
    p.add_argument("--minutes", type=arg(PositiveFloat), default=None, help="stop after this many minutes of signal (default: at Ctrl-C)")
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.add_argument("--user", default="unknown", help="the session's user attribute (default unknown)")
    p.add_argument("--session-name", default=None, help="the session_name attribute (default: OUT's name without .hdf5)")
    p.add_argument("--condition", default=CONDITION_KEYBOARD, help=f"the condition attribute (default {CONDITION_KEYBOARD})")
    p.add_argument("--resolve-timeout", type=arg(PositiveFloat), default=5.0, help="seconds to wait for the stream(s) at the start (default 5)")
    p.add_argument("--seed", type=arg(NonNegativeInt), default=None, help="--prompt: the order of the prompts (default: a new one each time)")
    p.set_defaults(func=_run)


def _check_out(out: Path, force: bool) -> None:
    """Refuse an OUT that exists (without --force) or cannot be created, before waiting for LSL."""
    import os

    from emgrt.errors import DataFileError

    if out.is_dir():
        raise DataFileError(out, "is a folder", "give a file name ending in .hdf5")
    if out.exists() and not force:
        raise DataFileError(out, "already exists", "pass --force to overwrite it, or pick another name")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent  # the folder that would hold the missing ones
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise DataFileError(out, f"cannot be created: {parent} is not a writable folder", "record into a writable folder")


def _run(args: argparse.Namespace) -> int:
    import signal
    import sys
    import threading

    from emgrt import __version__
    from emgrt.constants import SAMPLE_RATE_HZ
    from emgrt.io.recorder import SessionRecorder
    from emgrt.lsl.inlet import BandInlet, Expect
    from emgrt.lsl.markers import KeyInlet, unix_offset

    _check_out(args.out, args.force)
    band = BandInlet(
        Expect(rate=float(SAMPLE_RATE_HZ), who="emgrt record"), stream=args.stream, left=args.left, right=args.right,
        resolve_timeout=args.resolve_timeout,
    )
    keys = KeyInlet(args.keys, resolve_timeout=args.resolve_timeout) if args.keys else None
    try:
        if keys is not None:
            keys.connect()  # first: a replay starts sending once its band has a receiver
        band.connect()
    except BaseException:
        band.close()
        if keys is not None:
            keys.close()
        raise
    band.resolve_timeout = min(args.resolve_timeout, RECONNECT_TIMEOUT_S)
    if keys is not None:
        keys.resolve_timeout = band.resolve_timeout
    offset = unix_offset()
    streams = band.stats()["streams"]
    info = {
        "recorder": f"emgrt record {__version__}",
        "streams": streams,
        "keystrokes": (
            {"source": "lsl", "stream": args.keys, "note": "press times only: end = start"} if args.keys
            else {"source": "terminal", "note": "line input: the keys of a line share the time the line arrived "
                  "(per-line, not per-key, times), then an enter; end = start"} if args.prompt
            else None
        ),
        "clock": {
            "lsl_to_unix_offset_s": offset,
            "note": "times are unix seconds = LSL stamp (clock-synced to the recording machine) + lsl_to_unix_offset_s, "
            "one offset measured at the start",
        },
        "stamps": "de-jittered by emgrt's sample clock (emgrt/stream/clock.py); gaps are recorded in `gaps`, never filled",
    }
    rec = SessionRecorder(
        args.out, session_name=args.session_name, user=args.user, condition=args.condition, force=args.force, info=info,
    )
    try:
        rec.open()
    except BaseException:
        band.close()
        if keys is not None:
            keys.close()
        raise
    stop = threading.Event()
    handlers = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    session = _Recording(args, band, keys, rec, offset, stop)
    try:
        session.run()
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
    session.summary(sys.stderr)
    return 0


class _Recording:
    """The loop: band chunks through the sample clock into the recorder, markers (or typed lines)
    from their own thread through a queue; flushes, status, the end."""

    def __init__(self, args, band, keys, rec, offset: float, stop) -> None:
        import queue

        from emgrt.stream.clock import StampClock

        self.args, self.band, self.keys, self.rec, self.offset, self.stop = args, band, keys, rec, offset, stop
        self.clock = StampClock(rec.rate)  # kept across reconnects: a dropout shows as a step in the stamps
        self.queue: queue.Queue = queue.Queue()
        self.state = "recording"
        self.step_backs = 0
        self.open_prompt: tuple[str, float] | None = None  # (text, lsl start) of the prompt on screen
        self.target = None if args.minutes is None else int(round(args.minutes * 60 * rec.rate))
        self.thread = None

    # -- the main loop -----------------------------------------------------------------------------
    def run(self) -> None:
        import threading

        from emgrt.lsl.inlet import StreamLost
        from emgrt.lsl import local_clock

        if self.keys is not None:
            self.thread = threading.Thread(target=self._read_keys, name="emgrt-record-keys", daemon=True)
        elif self.args.prompt:
            self.thread = threading.Thread(target=self._read_prompts, name="emgrt-record-prompts", daemon=True)
        status = _Status(self, live=not self.args.prompt)
        if self.thread is not None:
            self.thread.start()
        try:
            while not self.stop.is_set():
                try:
                    x, ts = self.band.pull(POLL_TIMEOUT_S)
                except StreamLost as exc:
                    self._write(self.clock.flush())
                    self.rec.stream_lost(local_clock() + self.offset)
                    self.rec.flush()
                    self.state = "band lost, reconnecting"
                    status.event(f"{exc}; reconnecting (what it misses is recorded as a gap)")

                    def retry(attempt: int, reason: str) -> None:
                        self._drain()
                        self.rec.maybe_flush()

                    if not self.band.reconnect(self.stop.is_set, on_retry=retry):
                        break
                    self.state = "recording"
                    status.event("band reconnected")
                    continue
                if len(ts):
                    self._write(self.clock.push(x, ts))
                self._drain()
                self.rec.maybe_flush()
                status.update()
                if self.target is not None and self.rec.samples >= self.target:
                    break
        finally:
            self.stop.set()
            self._write(self.clock.flush())
            if self.thread is not None:  # the prompt thread may sit in readline(): not waited for
                self.thread.join(timeout=KEY_DRAIN_S + RECONNECT_TIMEOUT_S + 2.0 if self.keys is not None else 0.1)
            self._drain()
            if self.open_prompt is not None:  # shown, not answered: stored up to now
                text, start = self.open_prompt
                self.rec.append_prompt(text, start + self.offset, local_clock() + self.offset)
            status.close()
            self.rec.close()
            self.band.close()
            if self.keys is not None:
                self.keys.close()

    def _write(self, items: list) -> None:
        from emgrt.stream.clock import Samples, StepBack

        for item in items:
            if isinstance(item, Samples):
                self.rec.append(item.t + self.offset, item.x)
            elif isinstance(item, StepBack):
                self.step_backs += 1  # samples stamped before the last written one are then refused (counted)

    def _drain(self) -> None:
        """Move what the key/prompt thread queued into the recorder (this thread owns it)."""
        import queue

        while True:
            try:
                item = self.queue.get_nowait()
            except queue.Empty:
                return
            if item[0] == "key":
                self.rec.append_key(item[1], item[2] + self.offset)
            else:
                _, text, start, end = item
                self.rec.append_prompt(text, start + self.offset, end + self.offset)

    # -- keystrokes --------------------------------------------------------------------------------
    def _read_keys(self) -> None:
        """The marker stream's thread: markers -> queue, reconnecting when the stream vanishes;
        after the stop, what is still coming is read until it has been quiet a moment."""
        from emgrt.io.recorder import pynput_key
        from emgrt.lsl.inlet import StreamLost

        keys = self.keys
        while not self.stop.is_set():
            try:
                for marker, ts in keys.pull(0.1):
                    self.queue.put(("key", pynput_key(marker), ts))
            except StreamLost:
                if not keys.reconnect(self.stop.is_set):
                    return
        while keys.connected:
            try:
                got = keys.pull(KEY_DRAIN_S)
            except StreamLost:
                return
            if not got:
                return
            for marker, ts in got:
                self.queue.put(("key", pynput_key(marker), ts))

    def _read_prompts(self) -> None:
        """--prompt: show a prompt, read the typed line, queue its keys and the prompt; Ctrl-D ends."""
        import random
        import sys

        from emgrt.io.recorder import pynput_key
        from emgrt.lsl import local_clock
        from emgrt.text import prompts

        texts = prompts()
        order = list(range(len(texts)))
        random.Random(self.args.seed).shuffle(order)
        print(
            "emgrt record: type each prompt as shown and press Enter; Ctrl-D (or Ctrl-C) ends the recording.\n"
            "Each line's keys are stamped when the line arrives (per-line, not per-key, times).",
            file=sys.stderr, flush=True,
        )
        for i, idx in enumerate(order, 1):
            if self.stop.is_set():
                return
            text = texts[idx]
            c = self.rec.counters
            print(f"[{self.rec.seconds:.0f} s of signal, {c['keys_received']} keys, {c['gaps']} gaps] prompt {i}:", file=sys.stderr)
            print(text, flush=True)
            self.open_prompt = (text, local_clock())
            line = sys.stdin.readline()
            t = local_clock()
            if not line:  # end of input
                self.open_prompt = None
                self.stop.set()
                return
            start = self.open_prompt[1]
            self.open_prompt = None
            for ch in line.rstrip("\r\n"):
                self.queue.put(("key", pynput_key(ch), t))
            self.queue.put(("key", "Key.enter", t))
            self.queue.put(("prompt", text, start, t))
        self.stop.set()  # every prompt typed

    # -- the end -----------------------------------------------------------------------------------
    def summary(self, out) -> None:
        rec, band = self.rec, self.band
        c = rec.stats()
        b = band.stats()
        received = b["delivered"]
        print(
            f"emgrt record: wrote {rec.path}: {c['seconds']:.1f} s of signal; samples received {received}, "
            f"written {c['samples_written']}; keys written {c['keys_written']}"
            + (f" of {c['keys_received']} received" if c["keys_received"] != c["keys_written"] else "")
            + f"; prompts {c['prompts']}; gaps {c['gaps']} ({c['missing_samples']} samples missing, not filled)",
            file=out,
        )
        for g in rec.gaps:
            if g["end"] is None:
                print(f"emgrt record: gap after {g['start']}: {g['reason']}", file=out)
            else:
                print(
                    f"emgrt record: gap of {g['missing']} samples ({g['end'] - g['start']:.3f} s) at "
                    f"{g['start'] - (rec._first_t or 0.0):.3f} s into the recording: {g['reason']}",
                    file=out,
                )
        if band.two_bands and any(b["unpaired"]):
            print(f"emgrt record: {b['unpaired']} samples (left, right) had no partner in the other band and were not recorded", file=out)
        if c["rejected"]:
            print(f"emgrt record: {c['rejected']} samples not written: stamped before the last one written "
                  f"(the band's clock stepped back {self.step_backs} times)", file=out)
        if c["nonfinite_values"]:
            print(f"emgrt record: {c['nonfinite_values']} NaN/Inf values stored as 0", file=out)
        if c["keys_outside"]:
            print(f"emgrt record: {c['keys_outside']} keys pressed outside the recorded signal, kept in the "
                  "attribute keystrokes_outside", file=out)
        if c["samples_written"] < 2:
            print("emgrt record: fewer than 2 samples: the file is not a readable session", file=out)


class _Status:
    """A live status line on a terminal (rich), a plain line every few seconds otherwise."""

    def __init__(self, session: _Recording, live: bool) -> None:
        import sys
        import time

        self.session = session
        self.tty = live and sys.stderr.isatty()
        self.quiet = not live  # --prompt: the terminal is the typist's
        self._next = time.monotonic() + PLAIN_STATUS_S
        self._live = None
        if self.tty:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(console=Console(stderr=True), get_renderable=self._render, refresh_per_second=4, transient=True)
            self._live.start()

    def line(self) -> str:
        s = self.session
        c = s.rec.counters
        goal = f"/{s.target / s.rec.rate:.0f}" if s.target is not None else ""
        return (
            f"{s.state} {s.rec.path.name}: {s.rec.seconds:.1f}{goal} s, {s.rec.samples} samples, "
            f"{c['keys_received']} keys, {c['gaps']} gaps"
        )

    def _render(self):
        from rich.text import Text

        return Text(self.line() + " (Ctrl-C stops)", style="cyan", no_wrap=True, overflow="ellipsis")

    def update(self) -> None:
        import sys
        import time

        if self.tty or self.quiet or time.monotonic() < self._next:
            return
        self._next = time.monotonic() + PLAIN_STATUS_S
        print(f"emgrt record: {self.line()}", file=sys.stderr, flush=True)

    def event(self, text: str) -> None:
        import sys

        if self._live is not None:
            self._live.console.print(f"emgrt record: {text}", style="yellow", highlight=False)
        else:
            print(f"emgrt record: {text}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
