"""`emgrt listen`: print the text an `emgrt serve` emits (or list the LSL streams around)."""

from __future__ import annotations

import argparse

from emgrt.validate import Port, PositiveFloat, arg


def register(subparsers: argparse._SubParsersAction) -> None:
    from emgrt.serve.protocol import DEFAULT_PORT, EVENT_TYPES

    p = subparsers.add_parser(
        "listen",
        help="print the text an `emgrt serve` emits",
        description="Connect to `emgrt serve` and print the decoded text: live on a terminal (backspaces "
        "applied), one line per finished segment when piped, or every event as a JSON line with --json. "
        "--list instead lists the LSL streams on the network (to find a band's stream name).",
    )
    p.add_argument("--host", default="127.0.0.1", help="server address (default 127.0.0.1)")
    p.add_argument("--port", type=arg(Port), default=DEFAULT_PORT, help=f"server TCP port (default {DEFAULT_PORT})")
    p.add_argument("--unix", default=None, metavar="PATH", help="connect to this Unix socket instead")
    p.add_argument("--token", default=None, help="token, if the server requires one")
    p.add_argument("--events", default=None, help=f"comma-separated event types to receive with --json ({','.join(EVENT_TYPES)})")
    p.add_argument("--json", action="store_true", help="print every event as one JSON line")
    p.add_argument("--timeout", type=arg(PositiveFloat), default=10.0, help="give up after this many s without a word from the server (default 10)")
    p.add_argument("--list", action="store_true", help="list LSL streams (name, type, channels, rate) and exit")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import json
    import sys

    from emgrt.client import Client, ServerGone, Transcript

    if args.list:
        return _list_streams()
    # status too: its 1 s heartbeat is how a quiet but live server is told from a dead one
    events = args.events.split(",") if args.events else (None if args.json else ["char", "hypothesis", "final", "gesture", "status", "error"])
    tty = sys.stdout.isatty()
    client = Client(args.host, args.port, unix=args.unix, token=args.token, events=events, timeout=args.timeout)
    client.connect()
    print(f"emgrt listen: connected to {client.hello.get('server')} at {client.address}", file=sys.stderr)
    done = 0  # lines of text finished on the terminal (tty mode)
    transcript = Transcript()
    try:
        for ev in client.events(idle_timeout=args.timeout):
            if args.json:
                print(json.dumps(ev, ensure_ascii=False), flush=True)
                continue
            kind = ev.get("type")
            if kind == "error":
                print(f"emgrt listen: server error: {ev.get('message')}", file=sys.stderr)
            elif kind == "status" and ev.get("status") == "stopped":
                break
            elif kind == "gesture":  # a gestures bundle: one line per gesture
                print(f"{ev.get('gesture')} (p {ev.get('prob', float('nan')):.2f})", flush=True)
            elif tty and transcript.update(ev):
                done = _redraw(done, transcript.text, transcript.hypothesis)
            elif not tty and kind == "final":
                from emgrt.decode import apply_keys

                print(apply_keys("", ev.get("text", "")), flush=True)
    except (KeyboardInterrupt, BrokenPipeError):  # Ctrl-C, or the reader of our output went away
        pass
    except ServerGone as exc:
        if tty:
            print()
        print(f"emgrt listen: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    if tty:
        print()
    return 0


def _redraw(done: int, text: str, hyp: str) -> int:
    """Show ``text`` + dim ``hyp`` on the terminal: finished lines once, the last line redrawn in place.
    Returns the number of finished lines (a backspace over a newline cannot unprint a line)."""
    import sys

    lines = text.split("\n")
    out = []
    for line in lines[done:-1]:
        out.append("\r\x1b[2K" + line + "\n")
    out.append("\r\x1b[2K" + lines[-1] + (f"\x1b[2m{hyp}\x1b[0m" if hyp else ""))
    sys.stdout.write("".join(out))
    sys.stdout.flush()
    return max(done, len(lines) - 1)


def _list_streams() -> int:
    from emgrt.lsl import list_streams

    streams = list_streams(2.0)
    if not streams:
        print("no LSL streams found (is the band on, or `emgrt replay` running?)")
        return 1
    for s in streams:
        print(f"{s['name']:30s} type {s['type']:10s} {s['channels']:3d} ch  {s['rate']:g} Hz  source {s['source_id']}")
    return 0
