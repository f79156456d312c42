"""What the serve tests share: a scripted event source, an in-process server on ephemeral
loopback ports, and a raw socket client (independent of emgrt.client)."""

from __future__ import annotations

import json
import socket
import threading

from emgrt.serve.server import ServeConfig, Server

TIMEOUT = 10.0


class ScriptedSource:
    """Emits ``script`` (a list of events, or a callable(emit, stop)) then idles; counts resets."""

    def __init__(self, script=()):
        self.script = script
        self.resets = 0
        self.done = threading.Event()

    def run(self, emit, stop):
        if callable(self.script):
            self.script(emit, stop)
        else:
            for ev in self.script:
                emit(ev)
        self.done.set()
        stop.wait()

    def request_reset(self):
        self.resets += 1

    def stats(self):
        return {"received": 123}

    def describe(self):
        return {"bundle": "scripted"}


def serve(source, **cfg) -> Server:
    """A started server on 127.0.0.1, TCP and WebSocket on free ports unless ``cfg`` says otherwise."""
    cfg.setdefault("port", 0)
    cfg.setdefault("ws_port", 0)
    return Server(source, ServeConfig(**cfg)).start()


class Raw:
    """A raw socket client, independent of emgrt.client."""

    def __init__(self, addr, family=socket.AF_INET):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(addr)
        self.buf = b""

    def send(self, data: bytes):
        self.sock.sendall(data)

    def send_line(self, line: bytes):
        self.sock.sendall(line + b"\n")

    def read(self) -> dict:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("server closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line.decode("utf-8"))

    def read_until(self, pred) -> dict:
        while True:
            ev = self.read()
            if pred(ev):
                return ev

    def close(self):
        self.sock.close()


class RawWs:
    """``Raw`` over the WebSocket endpoint (``/ws``), one message per line.  Sans-I/O: it reads
    the socket only in ``read()``, so it can be a client that never reads (a library client's
    background reader would read for it)."""

    def __init__(self, addr):
        from websockets.client import ClientProtocol
        from websockets.protocol import State
        from websockets.uri import parse_uri

        self.sock = socket.create_connection(addr, timeout=TIMEOUT)
        self.ws = ClientProtocol(parse_uri(f"ws://{addr[0]}:{addr[1]}/ws"))
        self.ws.send_request(self.ws.connect())
        self.messages: list[dict] = []
        while self.ws.state is not State.OPEN:
            self._receive()

    def _flush(self):
        for data in self.ws.data_to_send():
            self.sock.sendall(data)

    def _receive(self):
        from websockets.frames import Opcode

        self._flush()
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("server closed")
        self.ws.receive_data(data)
        self._flush()  # a pong, say
        if self.ws.handshake_exc is not None:
            raise self.ws.handshake_exc
        frames = [e for e in self.ws.events_received() if getattr(e, "opcode", None) is Opcode.TEXT]
        self.messages += [json.loads(f.data.decode("utf-8")) for f in frames]

    def send_line(self, line: bytes):
        """``line`` as a text message when it is UTF-8, else as a binary one."""
        try:
            line.decode("utf-8")
            self.ws.send_text(line)
        except UnicodeDecodeError:
            self.ws.send_binary(line)
        self._flush()

    def read(self) -> dict:
        while not self.messages:
            self._receive()
        return self.messages.pop(0)

    read_until = Raw.read_until

    def close(self):
        self.sock.close()


def connect(server: Server, transport: str) -> Raw | RawWs:
    """A raw client of ``server`` over ``transport`` ("tcp" or "ws"), its hello read."""
    c = Raw(server.addresses["tcp"]) if transport == "tcp" else RawWs(server.addresses["ws"])
    assert c.read()["type"] == "hello"
    return c
