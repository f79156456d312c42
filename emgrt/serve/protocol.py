"""The serve wire protocol: newline-delimited JSON, one object per line (see PROTOCOL.md).

Server -> client: events ``{"type": ...}``.  Broadcast events (char, hypothesis,
final, gesture, status, level, error; replaying a session also prompt, key, summary) carry a
server-wide ``seq``; replies to a command carry the command's ``id`` when it had one.  Client -> server: commands
``{"cmd": NAME, "id": ANY, ...}``.  This module only encodes and validates; the
server decides what to do.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

PROTOCOL_VERSION = 1
DEFAULT_PORT = 7341  # TCP, newline-delimited JSON
DEFAULT_WS_PORT = 7342  # WebSocket (path /ws) and, with --web, the web page
WS_PATH = "/ws"
MAX_MESSAGE_BYTES = 4096  # longest accepted client message (a command is a few dozen bytes)
MAX_JSON_DEPTH = 32  # deepest accepted nesting of lists/objects in a message (a command is 1 or 2)

# Events a client may subscribe to; a fresh connection receives all of them.
EVENT_TYPES = ("char", "hypothesis", "final", "gesture", "status", "level", "error", "prompt", "key", "summary")
COMMANDS = ("ping", "stats", "reset", "subscribe", "text", "auth")

# error codes (the "code" field of an error event)
E_BINARY = "binary"  # not UTF-8 text (or a binary WebSocket frame)
E_TOO_LONG = "too_long"  # over MAX_MESSAGE_BYTES; the rest of the line is skipped
E_BAD_JSON = "bad_json"
E_BAD_COMMAND = "bad_command"  # JSON, but not an object with a string "cmd"
E_UNKNOWN_COMMAND = "unknown_command"
E_BAD_ARGUMENT = "bad_argument"
E_UNAUTHORIZED = "unauthorized"
E_DROPPED = "dropped"  # this client read too slowly; events were dropped for it
E_ENGINE = "engine"  # the engine or its stream failed
E_INTERNAL = "internal"  # the server failed on a command (a bug: it is logged)


class ProtocolError(Exception):
    """A client message the server answers with an error event."""

    def __init__(self, code: str, message: str, id: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.id = code, message, id

    def event(self) -> dict:
        return error_event(self.code, self.message, self.id)


@dataclass(frozen=True)
class Command:
    name: str
    args: dict = field(default_factory=dict)
    id: Any = None


def error_event(code: str, message: str, id: Any = None, **extra: Any) -> dict:
    ev = {"type": "error", "code": code, "message": message, **extra}
    if id is not None:
        ev["id"] = id
    return ev


def _finite(obj: Any) -> Any:
    """``obj`` with NaN/Inf floats replaced by None (JSON has no such numbers)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def encode(event: dict) -> bytes:
    """One event as a UTF-8 JSON line (ending in a newline; no newline inside).

    NaN and infinities become null.  A string with a lone surrogate (a client may send
    ``"\\ud800"``, which is valid JSON but not Unicode text) cannot be UTF-8: such an event
    is sent as ASCII JSON instead, so the surrogate goes back escaped, as it came.
    """
    try:
        text = json.dumps(event, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        event = _finite(event)
        text = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    try:
        return (text + "\n").encode("utf-8")
    except UnicodeEncodeError:
        return (json.dumps(event, separators=(",", ":")) + "\n").encode("ascii")


_TOO_DEEP = f"JSON nested deeper than {MAX_JSON_DEPTH} levels; send a flat object"


def _too_deep(obj: Any, depth: int = MAX_JSON_DEPTH) -> bool:
    """True if ``obj`` nests lists/objects more than ``depth`` levels deep."""
    if isinstance(obj, (list, dict)):
        return depth == 0 or any(_too_deep(v, depth - 1) for v in (obj.values() if isinstance(obj, dict) else obj))
    return False


def parse_command(raw: bytes | str) -> Command:
    """A client message (one line, without its newline) -> Command; ProtocolError if malformed.

    Total: whatever ``raw`` is, this returns a Command or raises ProtocolError.
    """
    if isinstance(raw, str):  # a WebSocket text message; a lone surrogate in it fails the UTF-8 check
        raw = raw.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ProtocolError(E_TOO_LONG, f"message of {len(raw)} bytes; the limit is {MAX_MESSAGE_BYTES}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(E_BINARY, "message is not UTF-8 text; send one JSON object per line") from None
    if "\x00" in text:
        raise ProtocolError(E_BINARY, "message contains NUL bytes; send one JSON object per line")
    try:
        msg = json.loads(text)
    except RecursionError:  # deeper than the interpreter's stack
        raise ProtocolError(E_BAD_JSON, _TOO_DEEP) from None
    except ValueError as exc:  # not JSON, or an integer too long to convert
        raise ProtocolError(E_BAD_JSON, f"not valid JSON ({exc.args[0] if exc.args else exc})") from None
    if _too_deep(msg):  # it parsed, but encoding a reply that echoes it could hit the recursion limit
        raise ProtocolError(E_BAD_JSON, _TOO_DEEP)
    if not isinstance(msg, dict) or not isinstance(msg.get("cmd"), str):
        raise ProtocolError(E_BAD_COMMAND, 'expected a JSON object like {"cmd": "ping"}')
    id = msg.pop("id", None)
    name = msg.pop("cmd")
    if name not in COMMANDS:
        raise ProtocolError(E_UNKNOWN_COMMAND, f"unknown command {name!r}; commands: {', '.join(COMMANDS)}", id)
    if name == "subscribe":
        events = msg.get("events")
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise ProtocolError(E_BAD_ARGUMENT, 'subscribe takes "events": a list of event types', id)
        unknown = sorted(set(events) - set(EVENT_TYPES))
        if unknown:
            raise ProtocolError(
                E_BAD_ARGUMENT, f"unknown event type(s) {', '.join(unknown)}; types: {', '.join(EVENT_TYPES)}", id
            )
        bands = msg.get("bands")
        if bands is not None and (not isinstance(bands, list) or not all(isinstance(b, str) for b in bands)):
            raise ProtocolError(E_BAD_ARGUMENT, 'subscribe takes "bands": a list of band names (omit it for all)', id)
    if name in ("reset", "text") and msg.get("band") is not None and not isinstance(msg.get("band"), str):
        raise ProtocolError(E_BAD_ARGUMENT, f'{name} takes "band": a band name (a string)', id)
    if name == "auth" and not isinstance(msg.get("token"), str):
        raise ProtocolError(E_BAD_ARGUMENT, 'auth takes "token": a string', id)
    return Command(name, msg, id)


def reply(command: Command, event_type: str, **fields: Any) -> dict:
    """A reply event to ``command`` (echoing its id)."""
    ev: dict = {"type": event_type, **fields}
    if command.id is not None:
        ev["id"] = command.id
    return ev


class LineSplitter:
    """Bytes from a stream socket -> complete lines, with the oversize rule applied.

    ``feed(data)`` returns a list of ``bytes`` lines and ``ProtocolError`` items (in
    arrival order).  A line longer than ``limit`` yields one E_TOO_LONG error; its
    remaining bytes are skipped up to the next newline, so the connection stays in step.
    """

    def __init__(self, limit: int = MAX_MESSAGE_BYTES) -> None:
        self.limit = limit
        self._buf = bytearray()
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes | ProtocolError]:
        out: list[bytes | ProtocolError] = []
        self._buf += data
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                if len(self._buf) > self.limit:
                    if not self._skipping:
                        out.append(ProtocolError(E_TOO_LONG, f"message over {self.limit} bytes; skipped to its end"))
                        self._skipping = True
                    self._buf.clear()
                return out
            line = bytes(self._buf[:nl])
            del self._buf[: nl + 1]
            if self._skipping:
                self._skipping = False
                continue
            # A "\r" before the newline counts, as it does while the line is incomplete (above).
            if len(line) > self.limit:
                out.append(ProtocolError(E_TOO_LONG, f"message of {len(line)} bytes; the limit is {self.limit}"))
            elif line.strip():
                out.append(line.rstrip(b"\r"))
