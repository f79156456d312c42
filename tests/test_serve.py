"""emgrt serve, in process, on a scripted event source: protocol, robustness, slow clients, binding,
Unix socket permissions, WebSocket, and emgrt.client.  Raw sockets only where the protocol is checked."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import socket
import stat
import threading
import time
import weakref

import pytest

from emgrt.client import Client, ServerGone, Transcript
from emgrt.errors import EmgrtError
from emgrt.serve.protocol import MAX_MESSAGE_BYTES, LineSplitter, ProtocolError, encode, parse_command, reply
from emgrt.serve.server import ServeConfig, Server, is_loopback
from serve_helpers import TIMEOUT, Raw, ScriptedSource, connect, serve


@pytest.fixture
def server():
    srv = serve(ScriptedSource())
    yield srv
    srv.stop()


# -- protocol units ---------------------------------------------------------------------------------
def test_encode_is_one_json_line_without_nan():
    data = encode({"type": "status", "x": float("nan"), "s": "a\nb ⌫"})
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert json.loads(data) == {"type": "status", "x": None, "s": "a\nb ⌫"}


@pytest.mark.parametrize(
    "raw, code",
    [
        (b"\xff\xfe", "binary"),
        (b'{"cmd": "ping"\x00}', "binary"),
        (b"{nope", "bad_json"),
        (b"[1, 2]", "bad_command"),
        (b'{"cmd": "fly"}', "unknown_command"),
        (b'{"cmd": "subscribe", "events": ["char", "gossip"]}', "bad_argument"),
        (b'{"cmd": "subscribe", "events": "char"}', "bad_argument"),
        (b"x" * (MAX_MESSAGE_BYTES + 1), "too_long"),
        (b"[" * 1000 + b"]" * 1000, "bad_json"),  # deeper than json.loads can recurse
        (b'{"cmd": "ping", "id": ' + b"[" * 40 + b"]" * 40 + b"}", "bad_json"),  # parses, but too deep to echo
        ('{"cmd": "ping", "id": "\ud800"}', "binary"),  # a str (WebSocket) holding a lone surrogate itself
    ],
)
def test_parse_command_errors(raw, code):
    with pytest.raises(ProtocolError) as info:
        parse_command(raw)
    assert info.value.code == code


def test_a_lone_surrogate_is_echoed_escaped_as_it_was_sent():
    cmd = parse_command(b'{"cmd": "ping", "id": "\\ud800"}')
    assert cmd.id == "\ud800"
    assert encode(reply(cmd, "pong", key="\u232b")) == b'{"type":"pong","key":"\\u232b","id":"\\ud800"}\n'


def test_line_splitter_counts_a_trailing_cr_whether_the_line_comes_whole_or_in_pieces():
    line = b"x" * 10 + b"\r\n"
    whole, pieces = LineSplitter(limit=10), LineSplitter(limit=10)
    split = pieces.feed(line[:11]) + pieces.feed(line[11:])
    assert [type(o) for o in whole.feed(line)] == [type(o) for o in split] == [ProtocolError]


def test_line_splitter_skips_an_oversized_line_and_keeps_step():
    s = LineSplitter(limit=10)
    out = s.feed(b"x" * 25) + s.feed(b"yyy\nok\n")
    assert [type(o) for o in out] == [ProtocolError, bytes] and out[1] == b"ok"


def test_loopback_detection():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("") and not is_loopback("8.8.8.8")


# -- the server -------------------------------------------------------------------------------------
def test_hello_broadcast_and_commands():
    events = [{"type": "char", "key": k, "frame": i, "t": 0.1 * i} for i, k in enumerate("hx⌫i")]
    src = ScriptedSource(events)
    srv = serve(src)
    try:
        # Wait for the script so that the transcript is complete, then connect.
        assert src.done.wait(TIMEOUT)
        c = Raw(srv.addresses["tcp"])
        hello = c.read()
        assert hello["type"] == "hello" and hello["protocol"] == 1 and hello["bundle"] == "scripted"
        c.send(b'{"cmd": "text", "id": 1}\n{"cmd": "ping", "id": "p"}\n{"cmd": "stats", "id": 2}\n{"cmd": "reset", "id": 3}\n')
        assert c.read_until(lambda e: e.get("id") == 1) == {"type": "text", "text": "hi", "id": 1}
        assert c.read_until(lambda e: e.get("id") == "p")["type"] == "pong"
        st = c.read_until(lambda e: e.get("id") == 2)
        assert st["engine"] == {"received": 123} and st["server"]["events"] == 4
        assert c.read_until(lambda e: e.get("id") == 3)["type"] == "ok"
        assert src.resets == 1
        c.close()
    finally:
        srv.stop()


def test_subscribe_filters_events():
    def script(emit, stop):
        while not stop.wait(0.01):
            emit({"type": "level", "rms": [1.0, 2.0]})
            emit({"type": "char", "key": "a", "frame": 0})

    srv = serve(ScriptedSource(script))
    try:
        c = Raw(srv.addresses["tcp"])
        c.read()
        c.send(b'{"cmd": "subscribe", "events": ["char"], "id": 9}\n')
        assert c.read_until(lambda e: e.get("id") == 9) == {"type": "subscribed", "events": ["char"], "id": 9}
        got = [c.read() for _ in range(20)]
        assert {e["type"] for e in got} == {"char"}
        seqs = [e["seq"] for e in got]
        assert seqs == sorted(seqs)
        c.close()
    finally:
        srv.stop()


def test_malformed_oversized_and_binary_input_get_errors_and_the_connection_works(server):
    c = Raw(server.addresses["tcp"])
    c.read()
    bad = [b"{not json}\n", b"\x00\x01\x02\xff\xfe\n", b"z" * (MAX_MESSAGE_BYTES * 3) + b"\n", b'"just a string"\n']
    for data in bad:
        c.send(data)
        ev = c.read()
        assert ev["type"] == "error" and ev["code"] in ("bad_json", "binary", "too_long", "bad_command"), ev
        c.send(b'{"cmd": "ping", "id": 5}\n')
        assert c.read_until(lambda e: e.get("id") == 5)["type"] == "pong"
    # An oversized message sent in pieces without newlines is answered once, then skipped to its end.
    for _ in range(5):
        c.send(b"q" * 4000)
    c.send(b'tail"}\n{"cmd": "ping", "id": 6}\n')
    assert c.read()["code"] == "too_long"
    assert c.read_until(lambda e: e.get("id") == 6)["type"] == "pong"
    c.close()


# Each of these once closed the connection without a word (issue 11).
ANSWERED = [
    (b"[" * 1000 + b"]" * 1000, "bad_json"),
    (b'{"cmd": "ping", "id": "\\ud800"}', "pong"),
    (b'{"cmd": "subscribe", "events": ["\\udfff"]}', "bad_argument"),
    (b'{"cmd": "ping", "id": 1e999999}', "pong"),
]


@pytest.mark.parametrize("transport", ["tcp", "ws"])
def test_deep_nesting_and_lone_surrogates_are_answered_and_the_connection_works(server, transport):
    c = connect(server, transport)
    for line, answer in ANSWERED:
        c.send_line(line)
        ev = c.read()
        assert answer in (ev["type"], ev.get("code")), (line[:40], ev)
    c.send_line(b'{"cmd": "ping", "id": "after"}')
    assert c.read()["id"] == "after"
    c.close()


def test_a_token_with_a_lone_surrogate_is_a_wrong_token():
    srv = serve(ScriptedSource(), token="s3cret", ws_port=None)
    try:
        c = connect(srv, "tcp")
        c.send(b'{"cmd": "auth", "token": "\\ud800"}\n')
        assert c.read()["code"] == "unauthorized"
        with pytest.raises(EOFError):
            c.read()
        c.close()
    finally:
        srv.stop()


class FailingStats(ScriptedSource):
    def stats(self):
        raise RuntimeError("the counters are gone")


def test_a_command_that_fails_in_the_server_is_an_internal_error_and_is_logged(caplog):
    srv = serve(FailingStats(), ws_port=None)
    try:
        c = connect(srv, "tcp")
        with caplog.at_level(logging.ERROR, logger="emgrt"):
            c.send(b'{"cmd": "stats", "id": 7}\n{"cmd": "ping", "id": 8}\n')
            ev = c.read()
            assert (ev["type"], ev["code"], ev["id"]) == ("error", "internal", 7)
            assert c.read()["id"] == 8  # still usable
        assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [RuntimeError]
        c.close()
    finally:
        srv.stop()


@pytest.mark.parametrize("transport", ["tcp", "ws"])
def test_pipelined_stats_stay_within_the_byte_limit_then_the_client_is_cut_and_freed(transport):
    """A client that pipelines stats and never reads: its replies never hold more than
    ``queue_bytes`` on the server, it is cut after ``stall_timeout``, and nothing keeps its queue."""
    limit = 32768
    srv = serve(ScriptedSource(), queue_bytes=limit, stall_timeout=0.3)
    flooder = connect(srv, transport)
    try:
        (client,) = srv.clients
        deadline = time.monotonic() + TIMEOUT
        with contextlib.suppress(OSError):  # the server cuts the connection
            while srv.stalled_disconnects == 0 and time.monotonic() < deadline:
                for _ in range(1000):
                    flooder.send_line(b'{"cmd": "stats"}')
        while client in srv.clients and time.monotonic() < deadline:
            time.sleep(0.01)
        assert srv.stalled_disconnects == 1 and client.dropped_total > 0 and client not in srv.clients
        assert limit - 4096 < client.summary()["queued_bytes_max"] <= limit
        assert client.queue.empty() and client.summary()["queued_bytes"] == 0
        ref = weakref.ref(client)
        del client
        gc.collect()
        assert ref() is None, "something still holds the client that was cut (and its queue)"
    finally:
        flooder.close()
        srv.stop()


def test_a_client_that_never_reads_does_not_stall_the_others():
    """The source waits for the reading client to see event i-50 before emitting i: if the stalled
    client held up the server, the source would wait in vain and the test fail."""
    n, window, payload = 1500, 50, "x" * 16384
    seen = threading.Condition()
    received = [0]
    result = {}
    go = threading.Event()  # both clients are connected

    def script(emit, stop):
        go.wait(TIMEOUT)
        for i in range(n):
            with seen:
                if not seen.wait_for(lambda: received[0] >= i - window, TIMEOUT):
                    result["stuck_at"] = i
                    return
            emit({"type": "hypothesis", "text": payload, "i": i})
        while not stop.wait(0.05):  # keep events flowing so the stalled client is noticed
            emit({"type": "status", "status": "running"})

    srv = serve(ScriptedSource(script), queue_size=200, stall_timeout=0.5)
    try:
        stalled = Raw(srv.addresses["tcp"])
        stalled.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        good = Raw(srv.addresses["tcp"])
        good.read()
        good.send(b'{"cmd": "subscribe", "events": ["hypothesis"]}\n')
        good.read_until(lambda e: e["type"] == "subscribed")
        go.set()
        got = []
        while len(got) < n:
            ev = good.read()
            if ev["type"] == "error":
                pytest.fail(f"the reading client got an error: {ev}")
            got.append(ev["i"])
            with seen:
                received[0] = len(got)
                seen.notify_all()
        assert "stuck_at" not in result
        assert got == list(range(n))  # nothing lost or reordered for the reading client
        deadline = time.monotonic() + TIMEOUT
        while srv.stalled_disconnects < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert srv.dropped_total > 0 and srv.stalled_disconnects == 1
        good.send(b'{"cmd": "ping", "id": 1}\n')
        assert good.read_until(lambda e: e.get("id") == 1)["type"] == "pong"
        stalled.close()
        good.close()
    finally:
        srv.stop()


def test_clients_come_and_go(server):
    for _ in range(3):
        cs = [Raw(server.addresses["tcp"]) for _ in range(4)]
        for c in cs:
            assert c.read()["type"] == "hello"
        for c in cs[::2]:
            c.close()
        for c in cs[1::2]:
            c.send(b'{"cmd": "ping", "id": 1}\n')
            assert c.read_until(lambda e: e.get("id") == 1)["type"] == "pong"
            c.close()
    deadline = time.monotonic() + TIMEOUT
    while server.clients and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not server.clients and server.connections_total == 12


def test_non_loopback_bind_refused_without_flag_and_token():
    with pytest.raises(EmgrtError, match="not a loopback"):
        Server(ScriptedSource(), ServeConfig(host="0.0.0.0", port=0, ws_port=None))
    with pytest.raises(EmgrtError, match="token"):
        Server(ScriptedSource(), ServeConfig(host="0.0.0.0", port=0, ws_port=None, allow_remote=True))


def test_token_is_enforced_on_remote_bind():
    srv = serve(ScriptedSource([{"type": "char", "key": "a", "frame": 0}]), host="0.0.0.0", allow_remote=True, token="s3cret", ws_port=None)
    try:
        port = srv.addresses["tcp"][1]
        c = Raw(("127.0.0.1", port))
        hello = c.read()
        assert hello["auth"] == "token" and "bundle" not in hello
        c.send(b'{"cmd": "text", "id": 1}\n')
        assert c.read()["code"] == "unauthorized"
        c.send(b'{"cmd": "auth", "token": "wrong"}\n')
        assert c.read()["code"] == "unauthorized"
        with pytest.raises(EOFError):  # a wrong token closes the connection
            c.read()
        c.close()
        with Client("127.0.0.1", port, token="s3cret", timeout=TIMEOUT) as ok:
            assert ok.text() == "a"
        with pytest.raises(EmgrtError, match="requires a token"):
            Client("127.0.0.1", port, timeout=TIMEOUT).connect()
    finally:
        srv.stop()


def test_unix_socket_is_private_and_serves(tmp_path):
    path = str(tmp_path / "emgrt.sock")
    srv = serve(ScriptedSource([{"type": "char", "key": "q", "frame": 0}]), port=None, ws_port=None, unix=path)
    try:
        mode = os.stat(path).st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
        c = Raw(path, socket.AF_UNIX)
        assert c.read()["type"] == "hello"
        c.close()
        with pytest.raises(EmgrtError, match="another server"):
            Server(ScriptedSource(), ServeConfig(port=None, ws_port=None, unix=path)).start()
        # the second server's liveness probe is a connection too: let it be served before stopping
        # (a connection still being accepted when the loop ends leaves an unclosed socket behind)
        deadline = time.monotonic() + TIMEOUT
        while srv.connections_total < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        srv.stop()
    assert not os.path.exists(path)  # removed on shutdown


def test_client_transcript_and_server_going_away():
    src = ScriptedSource([{"type": "char", "key": k, "frame": 0} for k in "ab⌫c"] + [{"type": "hypothesis", "text": "d"}])
    srv = serve(src)
    assert src.done.wait(TIMEOUT)  # the script has run before the client connects
    with Client(*srv.addresses["tcp"], events=["char", "hypothesis"], timeout=TIMEOUT) as c:
        t = Transcript()
        assert c.ping()["type"] == "pong"
        assert c.hello["commands"]
        srv.stop()
        with pytest.raises(ServerGone):
            for ev in c.events(idle_timeout=TIMEOUT):
                t.update(ev)
    # The client connected after the script ran, so it only saw the shutdown.
    assert t.text == ""


def test_text_reply_carries_a_replays_current_prompt():
    src = ScriptedSource([{"type": "char", "key": "w", "frame": 0}])
    src.prompt = "They agreed."
    srv = serve(src)
    try:
        with Client(*srv.addresses["tcp"], timeout=TIMEOUT) as c:
            assert c.request("text")["prompt"] == "They agreed."
        plain = serve(ScriptedSource([]))
        try:
            with Client(*plain.addresses["tcp"], timeout=TIMEOUT) as c:
                assert "prompt" not in c.request("text")  # not a replay: no prompt key
        finally:
            plain.stop()
    finally:
        srv.stop()


def test_websocket_endpoint_and_origin_check():
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    srv = serve(ScriptedSource([{"type": "char", "key": "w", "frame": 0}]), web=True)
    host, port = srv.addresses["ws"]
    try:
        with connect(f"ws://{host}:{port}/ws", open_timeout=TIMEOUT) as ws:
            assert json.loads(ws.recv(TIMEOUT))["type"] == "hello"
            ws.send(b"\x00binary")
            assert json.loads(ws.recv(TIMEOUT))["code"] == "binary"
            ws.send("y" * (MAX_MESSAGE_BYTES + 10))
            assert json.loads(ws.recv(TIMEOUT))["code"] == "too_long"
            ws.send(json.dumps({"cmd": "text", "id": 1}))
            assert json.loads(ws.recv(TIMEOUT)) == {"type": "text", "text": "w", "id": 1}
        with pytest.raises(InvalidStatus):  # another site's page must not read the text
            connect(f"ws://{host}:{port}/ws", origin="http://evil.example", open_timeout=TIMEOUT)
        with connect(f"ws://{host}:{port}/ws", origin=f"http://{host}:{port}", open_timeout=TIMEOUT) as ws:
            assert json.loads(ws.recv(TIMEOUT))["type"] == "hello"
        # The page itself, and a DNS-rebinding Host refused.
        import http.client

        def get(path, **headers):
            conn = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
            conn.request("GET", path, headers=headers)
            r = conn.getresponse()
            body = r.read()
            conn.close()
            return r.status, body

        status, body = get("/")
        assert status == 200 and b"emgrt live" in body
        assert get("/app.js", Host=f"evil.example:{port}")[0] == 403
        assert get("/../pyproject.toml")[0] == 404
    finally:
        srv.stop()


def test_shutdown_tells_clients_and_joins_the_source(server):
    c = Raw(server.addresses["tcp"])
    c.read()
    server.stop()
    assert c.read_until(lambda e: e["type"] == "status")["status"] == "stopped"
    with pytest.raises((EOFError, ConnectionResetError)):
        c.read()
    c.close()
    assert not server._thread.is_alive()


def test_websocket_client_gets_the_goodbye():
    from websockets.sync.client import connect

    srv = serve(ScriptedSource())
    host, port = srv.addresses["ws"]
    with connect(f"ws://{host}:{port}/ws", open_timeout=TIMEOUT) as ws:
        assert json.loads(ws.recv(TIMEOUT))["type"] == "hello"
        srv.stop()
        assert json.loads(ws.recv(TIMEOUT))["status"] == "stopped"


def test_events_of_the_stopping_source_reach_clients_before_the_goodbye():
    def script(emit, stop):
        stop.wait()
        emit({"type": "final", "text": "last words", "frame": 9})  # as run_live's flush does

    srv = serve(ScriptedSource(script))
    c = Raw(srv.addresses["tcp"])
    c.read()
    srv.stop()
    assert c.read()["type"] == "final"
    assert c.read()["status"] == "stopped"
    c.close()


def test_listen_prints_finished_segments_when_piped():
    import subprocess
    import sys

    go = threading.Event()

    def script(emit, stop):
        go.wait(TIMEOUT)
        for k in "hi⌫o ":
            emit({"type": "char", "key": k, "frame": 0})
        emit({"type": "final", "text": "hi⌫o ", "frame": 1})

    srv = serve(ScriptedSource(script))
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "emgrt", "listen", "--port", str(srv.addresses["tcp"][1])],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        deadline = time.monotonic() + TIMEOUT
        while len(srv.clients) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        go.set()
        time.sleep(0.3)
    finally:
        srv.stop()
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    assert out == "ho \n"


def test_transcript_shows_keys_as_screen_text():
    t = Transcript()
    for ev in ({"type": "char", "key": "⇧"}, {"type": "char", "key": "A"}, {"type": "char", "key": "b"},
               {"type": "char", "key": "⌫"}, {"type": "char", "key": "⏎"}, {"type": "hypothesis", "text": "⇧cd⏎"}):
        t.update(ev)
    assert (t.text, t.hypothesis, t.keys[-2:]) == ("A\n", "cd\n", ["⌫", "⏎"])


def test_serve_client_and_demo_are_torch_free():
    import subprocess
    import sys

    code = ("import sys, emgrt.serve.server, emgrt.serve.runner, emgrt.client, emgrt.cli.serve, emgrt.cli.demo, "
            "emgrt.cli.listen, emgrt.cli.replay; assert 'torch' not in sys.modules, 'torch imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT * 6)
    assert r.returncode == 0, r.stderr
