"""Property tests of the serve protocol: whatever a client sends, it gets one answer per message
and the connection stays usable.  Inputs cover deep nesting, lone surrogates ("\\ud800", the way
json.dumps escapes them), sizes around MAX_MESSAGE_BYTES, huge numbers and arbitrary bytes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emgrt.serve.protocol import COMMANDS, EVENT_TYPES, MAX_MESSAGE_BYTES, Command, LineSplitter, ProtocolError
from emgrt.serve.protocol import _finite, encode, parse_command, reply
from serve_helpers import ScriptedSource, connect, serve

# Text that includes lone surrogates (st.characters() leaves them out), some of it surely.
text = st.text(st.characters() | st.characters(categories=["Cs"]), max_size=12)
text |= st.builds("{}{}{}".format, text, st.characters(categories=["Cs"]), text)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
commands = st.builds(
    lambda cmd, id, args: json.dumps({"cmd": cmd, "id": id, **args}).encode(),  # ensure_ascii: "\ud800" escapes
    st.sampled_from(COMMANDS) | text,
    json_values,
    st.dictionaries(
        st.sampled_from(["events", "token", "x"]), json_values | st.lists(st.sampled_from(EVENT_TYPES) | text)
    ),
)
depths = st.sampled_from([31, 32, 33, 1000, 2000, MAX_MESSAGE_BYTES // 2]) | st.integers(1, MAX_MESSAGE_BYTES // 2)
nested = st.builds(
    lambda n, closed, as_id: (b'{"cmd":"ping","id":' if as_id else b"") + b"[" * n + (b"]" * n if closed else b"")
    + (b"}" if as_id else b""),
    depths, st.booleans(), st.booleans(),
)
numbers = st.sampled_from([b"1e999999", b"-1e999999", b"NaN", b"Infinity", b"9" * 4070, b"0." + b"1" * 4060]).map(
    lambda n: b'{"cmd":"ping","id":' + n + b"}"
)


def _sized(delta: int, unit: bytes, end: bytes) -> bytes:
    """A ping whose id is padded with ``unit`` to about MAX_MESSAGE_BYTES + ``delta`` bytes."""
    head, tail = b'{"cmd":"ping","id":"', b'"}' + end
    return head + unit * ((MAX_MESSAGE_BYTES + delta - len(head) - len(tail)) // len(unit)) + tail


around_the_limit = st.builds(
    _sized, st.integers(-4, 4), st.sampled_from([b"a", "é".encode(), b"\\ud800", b" "]),
    st.sampled_from([b"", b"\r", b"\r\r"]),
)
binary = st.binary(max_size=MAX_MESSAGE_BYTES + 8)
messages = st.one_of(commands, nested, numbers, around_the_limit, binary).map(lambda b: b.replace(b"\n", b""))


def check_encoded(event: dict) -> dict:
    """``encode(event)`` is one UTF-8 JSON line; returns it decoded."""
    data = encode(event)
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    return json.loads(data.decode("utf-8"))


def answered(line: bytes) -> bool:
    """Whether a stream socket answers ``line`` (without its newline): blank lines are ignored."""
    return len(line) > MAX_MESSAGE_BYTES or bool(line.rstrip(b"\r").strip())


# -- the functions ------------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(messages | text.map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_parse_command_is_total_and_its_answers_encode(raw):
    for message in (raw, raw.decode("utf-8", "surrogateescape")):  # TCP bytes; WebSocket text
        try:
            cmd = parse_command(message)
        except ProtocolError as exc:
            assert check_encoded(exc.event())["code"] == exc.code
            continue
        assert isinstance(cmd, Command)
        assert check_encoded(reply(cmd, "pong", time=1.0)).get("id") == _finite(cmd.id)  # echoed as sent


@settings(max_examples=300, deadline=None)
@given(st.lists(messages, max_size=4), st.data())
def test_line_splitter_does_not_depend_on_how_the_bytes_arrive(lines, data):
    stream = b"".join(line + b"\n" for line in lines)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=6))
    if data.draw(st.booleans()):  # each newline in a segment of its own
        cuts += [i for i, byte in enumerate(stream) if byte == ord("\n")]
    cuts.sort()
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]
    whole, split = LineSplitter(), LineSplitter()

    def summary(items):
        return [item.code if isinstance(item, ProtocolError) else item for item in items]

    items = whole.feed(stream)
    assert summary(items) == summary([item for piece in pieces for item in split.feed(piece)])
    assert len(items) == sum(map(answered, lines))  # the model the live test counts answers with


# -- a live server ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server():
    srv = serve(ScriptedSource())
    yield srv
    srv.stop()


@pytest.mark.parametrize("transport", ["tcp", "ws"])
@settings(max_examples=60, deadline=None)
@given(lines=st.lists(messages, min_size=1, max_size=6))
def test_every_message_is_answered_and_the_connection_stays_usable(server, transport, lines):
    c = connect(server, transport)
    try:
        for line in lines:
            c.send_line(line)
        c.send_line(b'{"cmd":"ping","id":"fuzz: the last ping"}')
        got = []
        while (ev := c.read()).get("id") != "fuzz: the last ping" or ev["type"] != "pong":
            got.append(ev)
        expected = len(lines) if transport == "ws" else sum(map(answered, lines))  # WebSocket: no blank lines
        assert len(got) == expected, got
        assert {e["type"] for e in got} <= {"error", "pong", "subscribed", "ok", "stats", "text"}, got
        assert "internal" not in {e.get("code") for e in got}, got
    finally:
        c.close()
