"""`emgrt serve`: run the engine on a band and serve its events to local clients (TCP, Unix, WebSocket)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from emgrt.validate import PortOrAny, PositiveFloat, PositiveInt, arg

EPILOG = """\
protocol: newline-delimited JSON (emgrt/serve/PROTOCOL.md); try `emgrt listen` or
  printf '{"cmd":"ping"}\\n' | nc 127.0.0.1 7341
examples:
  emgrt serve --bundle models/default --stream MyBand
  emgrt serve --stream BandA --stream BandB       # two bands, one batched model call per step
  emgrt serve --replay models/default/demo-session.hdf5 --loop --web   # then open http://127.0.0.1:7342/
  emgrt serve --unix $XDG_RUNTIME_DIR/emgrt.sock --no-tcp
  emgrt serve --host 0.0.0.0 --allow-remote --token SECRET             # reachable from the network
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    from emgrt.cli.run import add_bundle_options, add_stream_options
    from emgrt.serve.protocol import DEFAULT_PORT, DEFAULT_WS_PORT

    p = subparsers.add_parser(
        "serve",
        help="serve decoded text to other programs (TCP/Unix/WebSocket, JSON lines)",
        description="Run the engine on a band (or a replayed session) and send its events -- char, "
        "hypothesis, final, status, level, error; replaying a session also prompt, key and summary -- to any number "
        "of clients as newline-delimited JSON. "
        "Listens on 127.0.0.1 only unless --allow-remote is given. Ctrl-C or SIGTERM stops it cleanly.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_bundle_options(p)
    src = p.add_argument_group("signal source")
    add_stream_options(src, several=True)
    src.add_argument("--resolve-timeout", type=arg(PositiveFloat), default=5.0, help="seconds to wait for the stream(s) (default 5)")
    src.add_argument("--replay", type=Path, default=None, metavar="SESSION", help="publish this recorded session over LSL and serve the engine on it")
    src.add_argument("--speed", type=arg(PositiveFloat), default=1.0, help="--replay speed (default 1: real time)")
    src.add_argument("--loop", action="store_true", help="--replay: start over at the end")
    net = p.add_argument_group("listening")
    net.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    net.add_argument("--port", type=arg(PortOrAny), default=DEFAULT_PORT, help=f"TCP port, JSON lines (default {DEFAULT_PORT}; 0: any free port)")
    net.add_argument("--no-tcp", action="store_true", help="no TCP listener (use with --unix)")
    net.add_argument("--unix", default=None, metavar="PATH", help="also listen on this Unix socket (created mode 0600)")
    net.add_argument("--ws-port", type=arg(PortOrAny), default=DEFAULT_WS_PORT, help=f"WebSocket port, path /ws (default {DEFAULT_WS_PORT}; 0: any free port)")
    net.add_argument("--no-ws", action="store_true", help="no WebSocket listener")
    net.add_argument("--web", action="store_true", help="serve the live web page at http://HOST:WS_PORT/")
    net.add_argument("--allow-remote", action="store_true", help="allow a --host that is not loopback (needs --token)")
    net.add_argument("--token", default=os.environ.get("EMGRT_SERVE_TOKEN"), help="clients must send this token first (default: $EMGRT_SERVE_TOKEN)")
    net.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN", help="another web origin allowed to open the WebSocket, repeatable")
    net.add_argument("--queue", type=arg(PositiveInt), default=1000, help="events queued per client before they are dropped for it (default 1000)")
    net.add_argument("--queue-bytes", type=arg(PositiveInt), default=1 << 20, help="bytes of events queued per client before they are dropped for it (default 1048576)")
    net.add_argument("--stall-timeout", type=arg(PositiveFloat), default=5.0, help="disconnect a client whose queue is full and that read nothing for this many s (default 5)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import sys

    from emgrt.cli.run import adapt_override, decoder_kind, decoder_overrides, resolve_bundle
    from emgrt.errors import ConfigError
    from emgrt.serve.runner import EngineSource, MultiBandSource
    from emgrt.serve.server import ServeConfig, Server, check_bind
    from emgrt.stream.engine import Engine, EngineGroup

    if args.no_ws and args.web:
        raise ConfigError("--web needs the WebSocket listener (drop --no-ws)")
    if args.no_tcp and args.no_ws and not args.unix:
        raise ConfigError("nothing to listen on: drop --no-tcp/--no-ws or pass --unix PATH")
    config = ServeConfig(
        host=args.host, port=None if args.no_tcp else args.port, ws_port=None if args.no_ws else args.ws_port,
        unix=args.unix, web=args.web, allow_remote=args.allow_remote, token=args.token or None,
        queue_size=args.queue, queue_bytes=args.queue_bytes, stall_timeout=args.stall_timeout, allow_origins=tuple(args.allow_origin),
    )
    check_bind(config)  # before the model loads: a refused bind is a quick one-line error
    if args.replay is not None:
        from emgrt.lsl import keep_local

        keep_local()  # the replay is private: its stream is not announced beyond this machine
    bands = args.stream or []
    if len(bands) > 1 and (args.left or args.right or args.replay):
        raise ConfigError("several --stream bands cannot be combined with --left/--right or --replay (serve one of them)")
    if args.imu and (len(bands) > 1 or args.replay):
        raise ConfigError("--imu names one band's IMU stream: with several --stream bands or --replay each band's is "
                          "found as STREAM-imu-right (drop --imu)")
    if len(set(bands)) != len(bands):
        raise ConfigError(f"--stream names a band twice ({', '.join(bands)}): give each band once")
    bundle = resolve_bundle(args.bundle)
    kind = decoder_kind(args, bundle)
    engine_opts = dict(decoder=kind, providers=args.provider, threads=args.threads, int8=args.int8,
                       adapt=adapt_override(args), **decoder_overrides(args))
    if len(bands) > 1:
        group = EngineGroup(bundle, **engine_opts)
        source = MultiBandSource([
            EngineSource(group.engine(), stream=name, resolve_timeout=args.resolve_timeout, band=name) for name in bands
        ])
        engines = group.engines
    else:
        engines = [Engine(bundle, **engine_opts)]
        source = EngineSource(
            engines[0], stream=bands[0] if bands else None, left=args.left, right=args.right,
            resolve_timeout=args.resolve_timeout, replay=args.replay, replay_speed=args.speed, replay_loop=args.loop,
            imu=args.imu,
        )
    engine = engines[0]

    def announce(server: Server) -> None:
        a = server.addresses
        if "tcp" in a:
            print(f"emgrt serve: tcp://{_hostport(*a['tcp'])} (JSON lines)", flush=True)
        if "unix" in a:
            print(f"emgrt serve: unix:{a['unix']} (JSON lines, mode 0600)", flush=True)
        if "ws" in a:
            print(f"emgrt serve: ws://{_hostport(*a['ws'])}/ws", flush=True)
            if args.web:
                print(f"emgrt serve: web page http://{_hostport(*a['ws'])}/", flush=True)
        print(
            f"emgrt serve: engine {engine.provider}{' (batched)' if engine.recognizer.batched and len(engines) > 1 else ''}, decoder {kind}, "
            f"{'replaying ' + str(args.replay) if args.replay else 'stream ' + str(source.describe()['streams'])}; "
            "Ctrl-C to stop", file=sys.stderr, flush=True,
        )

    server = Server(source, config)
    server.run(on_ready=announce)
    stats = [e.stats() for e in engines]
    received, processed = sum(s["received"] for s in stats), sum(s["processed"] for s in stats)
    print(
        f"emgrt serve: stopped; {server.connections_total} connections, {server.seq} events, "
        f"{server.dropped_total} dropped for slow clients; {received} samples received, {processed} processed"
        + (f" ({len(engines)} bands)" if len(engines) > 1 else ""),
        file=sys.stderr,
    )
    return 0


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
