"""A small blocking client for ``emgrt serve`` (TCP or Unix socket), standard library only.

    from emgrt.client import Client, Transcript

    with Client(port=7341) as c:            # or Client(unix="/run/user/1000/emgrt.sock")
        t = Transcript()
        for ev in c.events():               # dicts, as in PROTOCOL.md
            if t.update(ev):
                print(t.text + t.hypothesis)

Every wait has a timeout: ``connect`` and commands use ``timeout``; :meth:`Client.events`
raises :class:`ServerGone` when the server closes or sends nothing for ``idle_timeout``
seconds (a running server sends a ``status`` event every second).
"""

from __future__ import annotations

import itertools
import json
import socket
import time
from collections import deque
from collections.abc import Iterable, Iterator

from emgrt.decode.events import apply_keys
from emgrt.errors import EmgrtError
from emgrt.serve.protocol import DEFAULT_PORT


class ServerGone(EmgrtError):
    """The server closed the connection or went silent."""


class Client:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        unix: str | None = None,
        token: str | None = None,
        events: Iterable[str] | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.host, self.port, self.unix, self.token = host, port, unix, token
        self.subscription = list(events) if events is not None else None
        self.timeout = timeout
        self.hello: dict = {}
        self._sock: socket.socket | None = None
        self._buf = bytearray()
        self._pending: deque[dict] = deque()  # events read while waiting for a reply
        self._ids = itertools.count(1)

    @property
    def address(self) -> str:
        return f"unix:{self.unix}" if self.unix else f"{self.host}:{self.port}"

    # -- connection ------------------------------------------------------------------------------
    def connect(self) -> "Client":
        """Connect, read the hello, authenticate and subscribe as configured."""
        try:
            if self.unix:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                sock.connect(self.unix)
            else:
                sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise EmgrtError(
                f"cannot connect to emgrt serve at {self.address}: {exc.strerror or exc} "
                "(is `emgrt serve` running? check --port/--unix)"
            ) from None
        self._sock = sock
        hello = self.recv(self.timeout)
        if hello is None or hello.get("type") != "hello":
            self.close()
            raise EmgrtError(f"{self.address} did not greet like emgrt serve (got {hello!r:.80})")
        self.hello = hello
        if hello.get("auth") == "token":
            if not self.token:
                self.close()
                raise EmgrtError(f"emgrt serve at {self.address} requires a token (pass --token)")
            self.request("auth", token=self.token)
        if self.subscription is not None:
            self.request("subscribe", events=self.subscription)
        return self

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> "Client":
        return self.connect() if self._sock is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- messages --------------------------------------------------------------------------------
    def send(self, cmd: str, **args) -> None:
        if self._sock is None:
            raise EmgrtError("client is not connected (call connect())")
        line = json.dumps({"cmd": cmd, **args}, ensure_ascii=False) + "\n"
        try:
            self._sock.sendall(line.encode("utf-8"))
        except OSError as exc:
            raise ServerGone(f"emgrt serve at {self.address} went away ({exc.strerror or exc})") from None

    def recv(self, timeout: float | None = None) -> dict | None:
        """The next event, or None if none arrives within ``timeout`` s; ServerGone if closed."""
        if self._pending:
            return self._pending.popleft()
        if self._sock is None:
            raise EmgrtError("client is not connected (call connect())")
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            nl = self._buf.find(b"\n")
            if nl >= 0:
                line = bytes(self._buf[:nl])
                del self._buf[: nl + 1]
                return json.loads(line)
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            self._sock.settimeout(left)
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                return None
            except OSError as exc:
                raise ServerGone(f"emgrt serve at {self.address} went away ({exc.strerror or exc})") from None
            if not data:
                raise ServerGone(f"emgrt serve at {self.address} closed the connection")
            self._buf += data

    def request(self, cmd: str, **args) -> dict:
        """Send a command and return its reply (events arriving meanwhile are kept for recv)."""
        rid = next(self._ids)
        self.send(cmd, id=rid, **args)
        deadline = time.monotonic() + self.timeout
        held: list[dict] = []
        try:
            while True:
                ev = self._read_raw(deadline - time.monotonic())
                if ev is None:
                    raise EmgrtError(f"no reply to {cmd!r} from {self.address} within {self.timeout:g} s")
                if ev.get("id") == rid:
                    if ev.get("type") == "error":
                        raise EmgrtError(f"emgrt serve refused {cmd!r}: {ev.get('message')}")
                    return ev
                held.append(ev)
        finally:
            self._pending.extend(held)

    def _read_raw(self, timeout: float) -> dict | None:
        pending, self._pending = self._pending, deque()
        try:
            return self.recv(max(0.0, timeout))
        finally:
            pending.extend(self._pending)
            self._pending = pending

    def ping(self) -> dict:
        return self.request("ping")

    def stats(self) -> dict:
        return self.request("stats")

    def reset(self) -> dict:
        return self.request("reset")

    def text(self) -> str:
        return str(self.request("text").get("text", ""))

    def subscribe(self, events: Iterable[str]) -> dict:
        self.subscription = list(events)
        return self.request("subscribe", events=self.subscription)

    def events(self, idle_timeout: float = 10.0) -> Iterator[dict]:
        """Events as they come; ServerGone after ``idle_timeout`` s of silence or on close."""
        while True:
            ev = self.recv(idle_timeout)
            if ev is None:
                raise ServerGone(f"emgrt serve at {self.address} sent nothing for {idle_timeout:g} s")
            yield ev


class Transcript:
    """The text so far from char events (backspaces applied) and the current hypothesis."""

    def __init__(self, text: str = "") -> None:
        self.text = text
        self.hypothesis = ""
        self.keys: list[str] = []  # committed keys as decoded (⌫ included)

    def update(self, event: dict) -> bool:
        """Apply one event; True if the displayed text changed."""
        kind = event.get("type")
        if kind == "char":
            key = str(event.get("key", ""))
            self.keys.append(key)
            self.text = apply_keys(self.text, [key])
            return True
        if kind == "hypothesis":  # as screen text: shift hidden, enter a newline
            new = apply_keys("", str(event.get("text", "")))
            changed, self.hypothesis = new != self.hypothesis, new
            return changed
        return False
