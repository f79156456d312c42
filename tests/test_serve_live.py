"""`emgrt serve` as a subprocess on a replayed session (the tiny bundle): a raw socket client gets
well-formed events; SIGTERM shuts it down cleanly; a refused bind is one line, exit 2."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

TIMEOUT = 60.0
BROADCAST = {"char", "hypothesis", "final", "status", "level", "error", "prompt", "key", "summary"}


@pytest.fixture(scope="session")
def synth_session(tmp_path_factory) -> Path:
    """A 30 s synthetic typing session (the tiny bundle decodes a couple of dozen keys from it)."""
    from emgrt.cli import main

    out = tmp_path_factory.mktemp("synth") / "data"
    assert main(["synth", str(out), "--users", "1", "--sessions", "1", "--minutes", "0.5", "--test-users", "0",
                 "--val-sessions", "0", "--workers", "1"]) == 0
    return next(out.glob("*.hdf5"))


class ServeProcess:
    """`python -m emgrt serve ...` with its announced addresses parsed from stdout."""

    def __init__(self, *args: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "emgrt", "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.addresses: dict[str, str] = {}

    def _pump(self) -> None:
        try:
            for line in self.proc.stdout:
                self.lines.put(line)
        except (ValueError, OSError):  # closed by terminate()
            pass

    def wait_for(self, *kinds: str) -> dict[str, str]:
        while not all(k in self.addresses for k in kinds):
            try:
                line = self.lines.get(timeout=TIMEOUT)
            except queue.Empty:
                self.proc.kill()
                pytest.fail(f"serve did not announce {kinds}; stderr: {self.proc.stderr.read()}")
            m = re.match(r"emgrt serve: (tcp|ws)://([^ ]+?)(/ws)?( |$)", line.strip())
            if m:
                self.addresses[m.group(1)] = m.group(2)
        return self.addresses

    def terminate(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail("serve did not exit after SIGTERM")
        err = "" if self.proc.stderr.closed else self.proc.stderr.read()
        self.proc.stderr.close()
        self.proc.stdout.close()
        return rc, err


def hostport(addr: str) -> tuple[str, int]:
    host, port = addr.rsplit(":", 1)
    return host.strip("[]"), int(port)


def connect(addr: str):
    """A raw TCP client of the server at ``addr``: the socket, its line reader and the hello."""
    sock = socket.create_connection(hostport(addr), timeout=TIMEOUT)
    f = sock.makefile("rb")
    return sock, f, json.loads(f.readline())


@pytest.mark.slow
def test_raw_socket_client_gets_well_formed_events_and_sigterm_is_clean(tiny_bundle, synth_session):
    serve = ServeProcess("--bundle", str(tiny_bundle.dir), "--replay", str(synth_session), "--speed", "4", "--loop",
                         "--port", "0", "--ws-port", "0")
    try:
        addr = serve.wait_for("tcp")["tcp"]
        sock, f, hello = connect(addr)
        assert hello["type"] == "hello" and hello["protocol"] == 1 and hello["decoder"] == "greedy"
        seen: dict[str, dict] = {}
        last_seq = 0
        while not {"char", "status", "level"} <= seen.keys():
            line = f.readline()
            assert line.endswith(b"\n"), "server closed early"
            ev = json.loads(line.decode("utf-8"))
            assert isinstance(ev, dict) and ev["type"] in BROADCAST, ev
            assert ev["seq"] > last_seq
            last_seq = ev["seq"]
            seen.setdefault(ev["type"], ev)
        char = seen["char"]
        assert isinstance(char["key"], str) and len(char["key"]) == 1
        assert isinstance(char["frame"], int) and char["t"] >= char["frame_t"]
        level = seen["level"]
        assert len(level["rms"]) == 2 and all(v >= 0 for v in level["rms"])
        running = next(e for e in [seen["status"]] if e["status"] in ("running", "connected"))
        assert running
        sock.sendall(b'{"cmd":"stats","id":1}\n')
        while True:
            ev = json.loads(f.readline())
            if ev.get("id") == 1:
                break
        assert ev["type"] == "stats" and ev["engine"]["received"] > 0 and len(ev["server"]["clients"]) == 1
        rc, err = serve.terminate()
        tail = [json.loads(line) for line in f.read().splitlines()]
        assert tail and tail[-1] == {"type": "status", "status": "stopped", "reason": "server shutting down"}
        f.close()
        sock.close()
        assert rc == 0, err
        assert "Traceback" not in err and "emgrt serve: stopped" in err
    finally:
        serve.terminate()


def test_refused_bind_is_one_line_exit_2():
    r = subprocess.run(
        [sys.executable, "-m", "emgrt", "serve", "--host", "0.0.0.0", "--bundle", "nowhere"],
        capture_output=True, text=True, timeout=TIMEOUT,
    )
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "not a loopback address" in r.stderr and "--allow-remote" in r.stderr


@pytest.mark.slow
def test_replay_cli_publishes_a_band_and_its_keys(synth_session):
    import uuid

    from emgrt.lsl import pylsl_quiet

    pylsl = pylsl_quiet()
    name = f"emgrt-test-{uuid.uuid4().hex[:10]}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "emgrt", "replay", str(synth_session), "--name", name, "--speed", "10", "--split-bands"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        found = {s.name(): s for s in pylsl.resolve_byprop("source_id", f"emgrt-replay-{name}-left", 1, TIMEOUT)}
        assert f"{name}-left" in found
        info = found[f"{name}-left"]
        assert info.channel_count() == 16 and info.nominal_srate() == 2000.0 and info.type() == "EMG"
        # The replay waits for a receiver on each band before it sends: one that connects late
        # still gets every sample.
        time.sleep(1.0)
        inlets = []
        for band in ("left", "right"):
            (band_info,) = pylsl.resolve_byprop("name", f"{name}-{band}", 1, TIMEOUT)
            inlets.append(pylsl.StreamInlet(band_info))
            inlets[-1].open_stream(timeout=TIMEOUT)
        got = [0, 0]
        deadline = time.monotonic() + TIMEOUT
        while min(got) < 60000 and time.monotonic() < deadline:
            for b, inlet in enumerate(inlets):
                _, ts = inlet.pull_chunk(timeout=0.05, max_samples=4096)
                got[b] += len(ts)
        assert got == [60000, 60000]
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert f"{name}-left, {name}-right, {name}-keys" in err
    from emgrt.io.session import SessionFile

    assert f"sent 60000 samples and {len(SessionFile(synth_session).keystrokes)} keystrokes" in err


@pytest.mark.slow
def test_a_gestures_bundle_serves_gesture_events_and_listen_prints_them():
    """`emgrt serve` on the shipped gestures bundle replaying its recording: `gesture` events with
    the protocol's fields, no text events, one-band level events; `emgrt listen` prints them."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "models" / "default-gestures"
    serve = ServeProcess("--bundle", str(root), "--replay", str(root / "demo-session.hdf5"), "--speed", "4", "--loop",
                         "--port", "0", "--ws-port", "0")
    try:
        addr = serve.wait_for("tcp")["tcp"]
        sock, f, hello = connect(addr)
        assert hello["decoder"] == "gesture" and "gesture" in hello["events"]
        seen: dict[str, list] = {}
        while len(seen.get("gesture", [])) < 3 or "level" not in seen:
            ev = json.loads(f.readline())
            seen.setdefault(ev["type"], []).append(ev)
        from emgrt.io.gni import GESTURES

        for g in seen["gesture"]:
            assert g["gesture"] in GESTURES and 0.35 <= g["prob"] <= 1 and g["t"] >= g["frame_t"] and isinstance(g["frame"], int)
        assert not {"char", "hypothesis"} & seen.keys() and len(seen["level"][0]["rms"]) == 1
        f.close()
        sock.close()
        host, port = hostport(addr)
        listen = subprocess.Popen([sys.executable, "-m", "emgrt", "listen", "--host", host, "--port", str(port)],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            line = listen.stdout.readline()  # not a terminal: one line per gesture (text bundles: per final)
            assert re.fullmatch(r"(index|middle|thumb)_[a-z]+ \(p [01]\.\d\d\)\n", line), line
        finally:
            listen.kill()
            listen.wait(10)
            listen.stdout.close()
    finally:
        rc, err = serve.terminate()
    assert rc == 0 and "Traceback" not in err
