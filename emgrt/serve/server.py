"""The event server: one event source (the engine) fanned out to any number of clients.

Transports (any combination): TCP and a Unix socket carrying newline-delimited
JSON, and a WebSocket endpoint (``/ws``) that also serves the web page (``--web``).
The wire format is :mod:`emgrt.serve.protocol`; PROTOCOL.md documents it.

Threads: the asyncio loop owns every socket; the source (the engine reading its
band) runs in its own thread and hands events over with ``call_soon_threadsafe``,
so nothing a client does can block it.  Each client has a queue of encoded events
(and replies), bounded in messages and in bytes; when a client reads too slowly its
queue fills, further events for it are dropped and counted (it is told with an
``error`` event ``dropped`` once it catches up), and a client whose socket has accepted
nothing for ``stall_timeout`` seconds while its queue is full is disconnected.  Other
clients and the engine never wait.  Every client message gets a reply or an ``error``.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import os
import signal
import socket
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from emgrt import __version__
from emgrt.decode.events import apply_keys
from emgrt.errors import EmgrtError
from emgrt.logs import logger
from emgrt.serve.protocol import (
    COMMANDS,
    DEFAULT_PORT,
    DEFAULT_WS_PORT,
    E_BAD_ARGUMENT,
    E_BINARY,
    E_DROPPED,
    E_ENGINE,
    E_INTERNAL,
    E_UNAUTHORIZED,
    EVENT_TYPES,
    MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
    WS_PATH,
    Command,
    LineSplitter,
    ProtocolError,
    encode,
    error_event,
    parse_command,
    reply,
)

TRANSCRIPT_CHARS = 20_000  # committed text kept for the `text` command (the newest characters)
AUTH_TIMEOUT_S = 10.0  # a client that must authenticate and has not after this long is closed
SHUTDOWN_FLUSH_S = 1.0  # on shutdown, how long clients get to receive their last events
WS_MAX_FRAME = 65536  # larger WebSocket messages close the connection (1009); 4 KiB..64 KiB get `too_long`
WEB_FILES = {"/": "index.html", "/index.html": "index.html", "/app.js": "app.js", "/style.css": "style.css"}
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css"}


class EventSource(Protocol):
    """What the server serves: the engine runner (emgrt.serve.runner) or a test double."""

    def run(self, emit: Callable[[dict], None], stop: threading.Event) -> None:
        """Produce events (calling ``emit`` from this thread) until ``stop`` is set."""

    def request_reset(self) -> None:
        """Ask for an engine reset; called from the server thread."""

    def stats(self) -> dict:
        """A recent snapshot of the source's counters; called from the server thread."""

    def describe(self) -> dict:
        """Fixed facts for the hello event (bundle, decoder, stream names)."""


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"
    port: int | None = DEFAULT_PORT  # TCP; 0 = any free port, None = no TCP
    ws_port: int | None = DEFAULT_WS_PORT  # WebSocket (+ web page); None = none
    unix: str | None = None  # Unix socket path (mode 0600)
    web: bool = False  # serve the web page on the WebSocket port
    allow_remote: bool = False  # allow a non-loopback host
    token: str | None = None  # clients must send {"cmd": "auth", "token": ...} first
    queue_size: int = 1000  # events queued per client before they are dropped for it
    queue_bytes: int = 1 << 20  # ... or bytes of them (counted until the socket takes them)
    stall_timeout: float = 5.0  # s with a full queue and no write progress -> disconnect
    allow_origins: tuple[str, ...] = ()  # extra browser origins allowed on the WebSocket


def is_loopback(host: str) -> bool:
    """True if every address ``host`` names is a loopback address."""
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0].split("%")[0]).is_loopback for i in infos)


def check_bind(config: ServeConfig) -> None:
    """Refuse a non-loopback host unless remote access is explicitly allowed with a token."""
    if is_loopback(config.host):
        return
    if not config.allow_remote:
        raise EmgrtError(
            f"refusing to listen on {config.host!r}, which is not a loopback address: anyone on the network "
            "could read what is typed (pass --allow-remote with --token TOKEN, or keep the default 127.0.0.1)"
        )
    if not config.token:
        raise EmgrtError("--allow-remote needs a token that clients must send (pass --token TOKEN)")


class _Client:
    """One connection: its subscription, its bounded queue and its counters (loop thread only).

    ``queued_bytes`` counts what is in the queue plus what the writer has taken from it and not
    yet handed to the socket (``written``); it never exceeds ``queue_bytes``, except by one
    event that arrives while nothing is queued (an event larger than the limit still goes out).
    """

    def __init__(self, server: "Server", kind: str, peer: str, abort: Callable[[], None]) -> None:
        self.server, self.kind, self.peer, self.abort = server, kind, peer, abort
        self.authed = server.config.token is None
        self.events = set(EVENT_TYPES)
        self.bands: set[str] | None = None  # the bands followed (None: all); band-less events always pass
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(server.config.queue_size)
        self.queued_bytes = 0
        self.queued_bytes_max = 0
        self.dropped = 0  # since the client was last told
        self.dropped_total = 0
        self.sent = 0
        self.last_progress = time.monotonic()
        self.closed = False

    def offer(self, event_type: str, data: bytes, band: str | None = None) -> None:
        """Queue a broadcast event if this client wants it; never blocks."""
        if self.authed and event_type in self.events and (band is None or self.bands is None or band in self.bands):
            self._put(data)

    def send(self, event: dict) -> None:
        """Queue a reply or notice for this client only."""
        self._put(encode(event))

    def _fits(self, nbytes: int, count: int = 1) -> bool:
        q = self.queue
        return q.maxsize - q.qsize() >= count and (
            not self.queued_bytes or self.queued_bytes + nbytes <= self.server.config.queue_bytes
        )

    def _push(self, data: bytes) -> None:
        self.queue.put_nowait(data)
        self.queued_bytes += len(data)
        self.queued_bytes_max = max(self.queued_bytes_max, self.queued_bytes)

    def _put(self, data: bytes) -> None:
        if self.closed:
            return
        if self.dropped:
            notice = encode(error_event(
                E_DROPPED, f"{self.dropped} events were dropped because this client read too slowly",
                dropped=self.dropped,
            ))
            if self._fits(len(notice) + len(data), 2):
                self._push(notice)
                self.dropped = 0
        if self._fits(len(data)):
            self._push(data)
        else:
            self.dropped += 1
            self.dropped_total += 1
            self.server.dropped_total += 1
            if time.monotonic() - self.last_progress > self.server.config.stall_timeout:
                logger.warning("serve: disconnecting stalled client %s (%d events dropped)", self.peer, self.dropped_total)
                self.server.stalled_disconnects += 1
                self.close()

    def written(self, batch: list[bytes]) -> None:
        """The writer has handed ``batch`` (taken from the queue) to the socket."""
        self.sent += len(batch)
        self.queued_bytes -= sum(map(len, batch))
        self.last_progress = time.monotonic()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.abort()

    def release(self) -> None:
        """The connection is over: drop what is still queued (its memory goes now, not whenever
        the last reference to this object does)."""
        self.closed = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queued_bytes = 0

    def summary(self) -> dict:
        return {
            "kind": self.kind, "peer": self.peer, "authed": self.authed, "events": sorted(self.events),
            "sent": self.sent, "queued": self.queue.qsize(), "queued_bytes": self.queued_bytes,
            "queued_bytes_max": self.queued_bytes_max, "dropped": self.dropped_total,
        }


class Server:
    """Serve ``source``'s events.  ``run()`` blocks until SIGINT/SIGTERM (CLI); ``start()``
    runs the server in a background thread and ``stop()`` ends it (tests, embedding)."""

    def __init__(self, source: EventSource, config: ServeConfig | None = None) -> None:
        self.source = source
        self.config = config = config or ServeConfig()
        check_bind(config)
        self.clients: set[_Client] = set()
        self._handlers: set[asyncio.Task] = set()  # TCP / Unix connection handlers still running
        self.addresses: dict[str, Any] = {}  # "tcp": (host, port), "ws": (host, port), "unix": path
        self.seq = 0
        self.dropped_total = 0
        self.stalled_disconnects = 0
        self.connections_total = 0
        self.transcripts: dict[str | None, str] = {}  # committed text per band (None: one band)
        self.error: BaseException | None = None  # what ended the source, if it failed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._source_stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._web_dir = resources.files("emgrt.serve") / "web"

    # -- lifetime ----------------------------------------------------------------------------------
    def run(self, on_ready: Callable[["Server"], None] | None = None) -> None:
        """Serve until SIGINT or SIGTERM (main thread); re-raises the source's failure, if any."""

        async def main() -> None:
            loop = asyncio.get_running_loop()
            stop = asyncio.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await self.serve(stop, on_ready)

        asyncio.run(main())
        if self.error is not None:
            raise self.error

    def start(self, timeout: float = 10.0) -> "Server":
        """Serve in a background thread; returns once listening (raises what stopped it otherwise)."""
        errors: list[BaseException] = []

        def target() -> None:
            try:
                asyncio.run(self.serve())
            except BaseException as exc:  # reported to start() or kept in self.error
                errors.append(exc)
                self._ready.set()

        self._thread = threading.Thread(target=target, name="emgrt-serve", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise EmgrtError(f"server did not start listening within {timeout:g} s")
        if errors:
            raise errors[0]
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """End a server started with start() (thread-safe)."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:  # loop already closed
                pass
        if self._thread is not None:
            self._thread.join(timeout)

    async def serve(
        self, stop: asyncio.Event | None = None, on_ready: Callable[["Server"], None] | None = None
    ) -> None:
        """Listen, run the source in a thread, and serve until ``stop`` is set or the source fails."""
        self._loop = asyncio.get_running_loop()
        self._stop = stop = stop or asyncio.Event()
        servers = await self._listen()
        source_thread = threading.Thread(target=self._run_source, name="emgrt-source", daemon=True)
        source_thread.start()
        self._ready.set()
        if on_ready is not None:
            on_ready(self)
        try:
            await stop.wait()
        finally:
            for srv in servers:  # stop accepting; connections stay open for the goodbye
                if isinstance(srv, asyncio.Server):
                    srv.close()
                else:  # a websockets Server: keep its connections
                    srv.close(close_connections=False)
            # Stop the engine first: its last events (the decoder's flush) still reach the clients.
            self._source_stop.set()
            await asyncio.to_thread(source_thread.join, 10.0)
            await asyncio.sleep(0)  # run the fan-outs the source scheduled while stopping
            await self._say_goodbye()
            for srv in servers:
                try:
                    await asyncio.wait_for(srv.wait_closed(), SHUTDOWN_FLUSH_S)
                except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - best effort while closing
                    pass
            # Close what is still connected (a client that never read its goodbye, a connection
            # accepted while stopping) and wait for the handlers to close their sockets, so no
            # socket outlives the server.
            await asyncio.sleep(0)
            for client in list(self.clients):
                client.close()
            pending = [t for t in self._handlers if not t.done()]
            if pending:
                await asyncio.wait(pending, timeout=SHUTDOWN_FLUSH_S)
            if self.config.unix and "unix" in self.addresses:
                try:
                    os.unlink(self.config.unix)
                except OSError:
                    pass

    def _run_source(self) -> None:
        try:
            self.source.run(self.publish, self._source_stop)
        except BaseException as exc:  # the server reports it and shuts down
            self.error = exc
            msg = str(exc) if isinstance(exc, EmgrtError) else f"{type(exc).__name__}: {exc}"
            logger.debug("serve: the engine stopped: %s", msg)  # run() re-raises it for the CLI
            self.publish(error_event(E_ENGINE, f"the engine stopped: {msg}"))
            loop, stop = self._loop, self._stop
            if loop is not None and stop is not None:
                try:
                    loop.call_soon_threadsafe(stop.set)
                except RuntimeError:
                    pass

    async def _say_goodbye(self) -> None:
        for c in list(self.clients):
            c.send({"type": "status", "status": "stopped", "reason": "server shutting down"})
            self._end(c)
        end = time.monotonic() + SHUTDOWN_FLUSH_S
        while self.clients and time.monotonic() < end:
            await asyncio.sleep(0.02)
        for c in list(self.clients):
            c.close()

    # -- listening -----------------------------------------------------------------------------------
    async def _listen(self) -> list:
        cfg = self.config
        servers: list = []
        try:
            if cfg.port is not None:
                srv = await asyncio.start_server(self._stream_client, cfg.host, cfg.port, limit=MAX_MESSAGE_BYTES)
                servers.append(srv)
                self.addresses["tcp"] = srv.sockets[0].getsockname()[:2]
            if cfg.unix:
                servers.append(await self._listen_unix(cfg.unix))
            if cfg.ws_port is not None:
                from websockets.asyncio.server import serve as ws_serve

                srv = await ws_serve(
                    self._ws_client, cfg.host, cfg.ws_port, process_request=self._http_request,
                    max_size=WS_MAX_FRAME, compression=None, server_header=f"emgrt/{__version__}",
                )
                servers.append(srv)
                self.addresses["ws"] = next(iter(srv.sockets)).getsockname()[:2]
        except OSError as exc:
            for srv in servers:
                srv.close()
            raise EmgrtError(f"cannot listen: {exc.strerror or exc} (pick another --port/--ws-port/--unix)") from None
        return servers

    async def _listen_unix(self, path: str):
        p = Path(path)
        if p.exists() or p.is_symlink():
            if not stat.S_ISSOCK(p.lstat().st_mode):
                raise EmgrtError(f"{path} exists and is not a socket (pick another --unix path)")
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            probe.settimeout(1.0)
            try:
                probe.connect(path)
                raise EmgrtError(f"{path}: another server is listening there (stop it or pick another --unix path)")
            except OSError:
                p.unlink()  # a stale socket from a server that died
            finally:
                probe.close()
        old = os.umask(0o177)  # the socket is created 0600: no window where others may connect
        try:
            srv = await asyncio.start_unix_server(self._stream_client, path, limit=MAX_MESSAGE_BYTES)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self.addresses["unix"] = path
        return srv

    # -- events ----------------------------------------------------------------------------------------
    def publish(self, event: dict) -> None:
        """Broadcast ``event`` to every subscribed client; callable from any thread, never blocks."""
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._fanout, event)
        except RuntimeError:  # the loop has closed (shutting down)
            pass

    def _fanout(self, event: dict) -> None:
        self.seq += 1
        event = {**event, "seq": self.seq}
        etype = event.get("type", "")
        band = event.get("band")
        if etype == "char":
            text = self.transcripts.get(band, "")
            self.transcripts[band] = apply_keys(text, [event.get("key", "")])[-TRANSCRIPT_CHARS:]
        data = encode(event)
        for c in list(self.clients):
            c.offer(etype, data, band)

    @property
    def transcript(self) -> str:
        """The committed text so far (of the first band when several are served)."""
        return self.transcripts.get(self._bands[0] if self._bands else None, "")

    @property
    def _bands(self) -> list[str]:
        return list(getattr(self.source, "bands", None) or [])

    def _band_arg(self, cmd: Command) -> str | None:
        """A command's ``band`` (checked against the bands served), or None."""
        band = cmd.args.get("band")
        if band is not None and band not in self._bands:
            served = ", ".join(self._bands) or "none: this server serves one band"
            raise ProtocolError(E_BAD_ARGUMENT, f"unknown band {band!r}; bands: {served}", cmd.id)
        return band

    def _hello(self) -> dict:
        return {
            "type": "hello", "protocol": PROTOCOL_VERSION, "server": f"emgrt {__version__}",
            "auth": "token" if self.config.token else "none", "events": list(EVENT_TYPES),
            "commands": list(COMMANDS),
            # Before a token is checked, say nothing about the model or the streams.
            **({} if self.config.token else self.source.describe()),
        }

    def _command(self, client: _Client, raw: bytes | str) -> None:
        """Answer one client message: a reply or an error event, whatever happens."""
        cmd = None
        try:
            cmd = parse_command(raw)
            self._run(client, cmd)
        except ProtocolError as exc:
            client.send(exc.event())
        except Exception as exc:  # a bug: tell the client, log it, keep the connection
            logger.exception("serve: %s command from %s failed", cmd.name if cmd else "a", client.peer)
            client.send(error_event(
                E_INTERNAL, f"the server failed on this command ({type(exc).__name__}); it is in the server's log: "
                "please report it", cmd.id if cmd else None,
            ))

    def _run(self, client: _Client, cmd: Command) -> None:
        if cmd.name == "auth":
            self._auth(client, cmd)
        elif not client.authed and cmd.name != "ping":
            client.send(error_event(E_UNAUTHORIZED, 'send {"cmd": "auth", "token": ...} first', cmd.id))
        elif cmd.name == "ping":
            client.send(reply(cmd, "pong", time=time.time()))
        elif cmd.name == "subscribe":
            bands = cmd.args.get("bands")
            unknown = sorted(set(bands or ()) - set(self._bands))
            if unknown:
                served = ", ".join(self._bands) or "none: this server serves one band"
                raise ProtocolError(E_BAD_ARGUMENT, f"unknown band(s) {', '.join(unknown)}; bands: {served}", cmd.id)
            client.events = set(cmd.args["events"])
            client.bands = set(bands) if bands is not None else None
            extra = {} if bands is None else {"bands": sorted(client.bands)}
            client.send(reply(cmd, "subscribed", events=sorted(client.events), **extra))
        elif cmd.name == "stats":
            client.send(reply(cmd, "stats", engine=self.source.stats(), server=self.server_stats()))
        elif cmd.name == "reset":
            band = self._band_arg(cmd)
            if band is None:
                self.source.request_reset()
            else:
                self.source.request_reset(band)
            client.send(reply(cmd, "ok", cmd="reset", **({} if band is None else {"band": band})))
        elif cmd.name == "text":
            band = self._band_arg(cmd)
            if band is None and client.bands is not None and len(client.bands) == 1:
                (band,) = client.bands  # the band this client follows
            prompt = getattr(self.source, "prompt", None)  # a replay: the prompt on screen now
            extra = {} if prompt is None else {"prompt": prompt}
            if self._bands:
                band = band or self._bands[0]
                extra["band"] = band
            client.send(reply(cmd, "text", text=self.transcripts.get(band, ""), **extra))

    def _auth(self, client: _Client, cmd: Command) -> None:
        token = self.config.token
        if token is None:
            client.authed = True
            client.send(reply(cmd, "ok", cmd="auth"))
        elif hmac.compare_digest(_utf8(cmd.args["token"]), _utf8(token)):
            client.authed = True
            client.send(reply(cmd, "ok", cmd="auth"))
        else:
            client.send(error_event(E_UNAUTHORIZED, "wrong token; closing the connection", cmd.id))
            self._end(client)

    @staticmethod
    def _end(client: _Client) -> None:
        """Close ``client`` after what is queued for it has been sent."""
        try:
            client.queue.put_nowait(None)
        except asyncio.QueueFull:
            client.close()

    def server_stats(self) -> dict:
        return {
            "clients": [c.summary() for c in self.clients],
            "connections_total": self.connections_total,
            "events": self.seq,
            "dropped": self.dropped_total,
            "stalled_disconnects": self.stalled_disconnects,
        }

    # -- connections -----------------------------------------------------------------------------------
    async def _session(self, client: _Client, reader_coro, writer_coro) -> None:
        """Run one client's reader and writer until either ends; then forget the client."""
        self.clients.add(client)
        self.connections_total += 1
        client.send(self._hello())
        tasks = [asyncio.ensure_future(reader_coro), asyncio.ensure_future(writer_coro)]
        if not client.authed:
            tasks.append(asyncio.ensure_future(self._auth_deadline(client)))
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            for result in await asyncio.gather(*tasks, return_exceptions=True):
                if isinstance(result, Exception) and not isinstance(result, OSError):  # OSError: the peer went
                    logger.error("serve: the connection of %s failed", client.peer, exc_info=result)
            self.clients.discard(client)
            client.release()

    async def _auth_deadline(self, client: _Client) -> None:
        await asyncio.sleep(AUTH_TIMEOUT_S)
        if not client.authed:
            client.send(error_event(E_UNAUTHORIZED, f"no auth within {AUTH_TIMEOUT_S:g} s; closing"))
            self._end(client)
        await asyncio.Event().wait()  # the session ends when the reader or writer does

    async def _stream_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        peer = writer.get_extra_info("peername")
        kind = "tcp" if isinstance(peer, tuple) else "unix"
        client = _Client(self, kind, f"{peer[0]}:{peer[1]}" if kind == "tcp" else "unix", writer.transport.abort)

        async def read() -> None:
            splitter = LineSplitter()
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                for item in splitter.feed(data):
                    if isinstance(item, ProtocolError):
                        client.send(item.event())
                    else:
                        self._command(client, item)

        async def write() -> None:
            while True:
                data = await client.queue.get()
                batch = [data] if data is not None else []
                while data is not None and not client.queue.empty():
                    data = client.queue.get_nowait()
                    if data is not None:
                        batch.append(data)
                if batch:
                    writer.write(b"".join(batch))
                    await writer.drain()
                    client.written(batch)
                    batch = []  # no reference to what was sent while waiting for more
                if data is None:
                    return

        try:
            await self._session(client, read(), write())
        finally:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            except (asyncio.TimeoutError, OSError):
                pass

    async def _ws_client(self, ws) -> None:
        from websockets.exceptions import ConnectionClosed

        peer = ws.remote_address
        client = _Client(self, "ws", f"{peer[0]}:{peer[1]}" if peer else "ws", ws.transport.abort)

        async def read() -> None:
            try:
                async for msg in ws:
                    if isinstance(msg, (bytes, bytearray)):
                        client.send(error_event(E_BINARY, "binary frames are not accepted; send JSON text"))
                    else:
                        self._command(client, msg)
            except ConnectionClosed:
                pass

        async def write() -> None:
            try:
                while True:
                    data = await client.queue.get()
                    if data is None:
                        await ws.close()
                        return
                    await ws.send(data[:-1].decode("utf-8"))
                    client.written([data])
            except ConnectionClosed:
                pass

        await self._session(client, read(), write())

    # -- HTTP (before the WebSocket handshake) -------------------------------------------------------
    def _http_request(self, connection, request):
        from websockets.datastructures import Headers
        from websockets.http11 import Response

        def respond(status: int, reason: str, body: bytes, ctype: str = "text/plain; charset=utf-8") -> Response:
            headers = Headers(
                [("Content-Type", ctype), ("Content-Length", str(len(body))), ("Cache-Control", "no-store"),
                 ("X-Content-Type-Options", "nosniff"),
                 ("Content-Security-Policy", "default-src 'self'; connect-src 'self'; frame-ancestors 'none'")]
            )
            return Response(status, reason, headers, body)

        host = request.headers.get("Host", "")
        if is_loopback(self.config.host) and not _host_is_loopback(host):
            # DNS rebinding: a remote page whose name resolves to 127.0.0.1 must not read the text.
            return respond(403, "Forbidden", b"this server only answers to localhost names\n")
        path = urlsplit(request.path).path
        if path == WS_PATH:
            origin = request.headers.get("Origin")
            if origin is not None and urlsplit(origin).netloc != host and origin not in self.config.allow_origins:
                return respond(403, "Forbidden", f"origin {origin} is not allowed (serve --allow-origin)\n".encode())
            return None  # go on with the WebSocket handshake
        if not self.config.web:
            return respond(404, "Not Found", b"no web page here (start emgrt serve with --web)\n")
        name = WEB_FILES.get(path)
        if name is None:
            return respond(404, "Not Found", b"not found\n")
        body = (self._web_dir / name).read_bytes()
        return respond(200, "OK", body, CONTENT_TYPES[Path(name).suffix])


def _utf8(text: str) -> bytes:
    """``text`` as bytes for comparing, lone surrogates included (a client's "\\ud800", or a
    --token that came from undecodable argv bytes)."""
    return text.encode("utf-8", "surrogatepass")


def _host_is_loopback(host_header: str) -> bool:
    """A Host header naming localhost or a loopback IP literal (no DNS lookup: that is the attack)."""
    try:
        host = urlsplit(f"//{host_header}").hostname or ""
    except ValueError:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
