"""`emgrt serve` with several bands: one EngineGroup (batched steps), events tagged by band, each
client following the bands it subscribed to, every band's keys those of decoding it alone."""

from __future__ import annotations

import time

import pytest

from emgrt.decode import decode_offline
from emgrt.io.session import SessionFile, write_session
from emgrt.lsl.outlet import SessionReplayer
from emgrt.serve.runner import EngineSource, MultiBandSource
from emgrt.stream.engine import EngineGroup

from conftest import make_session_arrays
from serve_helpers import Raw, serve
from test_lsl import SPEED, unique
from test_stream_engine import offline_log_probs


def expected_keys(bundle, path) -> list[str]:
    with SessionFile(path) as s:
        x = s.emg().reshape(len(s), 32)
    return decode_offline("greedy", offline_log_probs(bundle, x), bundle.labels, bundle.blank)


def test_two_bands_served_at_once_each_client_following_its_band(tiny_bundle, tmp_path):
    paths = [write_session(tmp_path / f"{i}.hdf5", **make_session_arrays(n=8000, seed=11 + i)) for i in range(2)]
    names = [unique("band-a"), unique("band-b")]
    expected = {n: expected_keys(tiny_bundle, p) for n, p in zip(names, paths)}
    assert all(expected.values()) and expected[names[0]] != expected[names[1]]
    group = EngineGroup(tiny_bundle)
    assert group.recognizer.batched
    batch_sizes = []
    run = group.recognizer._batch.run
    group.recognizer._batch.run = lambda streams, frames, imu=None: batch_sizes.append(len(streams)) or run(streams, frames, imu)
    source = MultiBandSource([EngineSource(group.engine(), stream=n, band=n) for n in names])
    server = serve(source)
    reps, clients = [], []
    try:
        follow_b, everything = clients = [Raw(server.addresses["tcp"]), Raw(server.addresses["tcp"])]
        hello = follow_b.read()
        assert hello["bands"] == names and hello["streams"] == names
        everything.read()
        follow_b.send_line(f'{{"cmd":"subscribe","events":["char","final","status"],"bands":["{names[1]}"]}}'.encode())
        assert follow_b.read_until(lambda e: e["type"] == "subscribed")["bands"] == [names[1]]
        follow_b.send_line(b'{"cmd":"subscribe","events":["char"],"bands":["nope"]}')
        err = follow_b.read_until(lambda e: e["type"] == "error")
        assert "unknown band(s) nope" in err["message"] and names[0] in err["message"]
        reps = [SessionReplayer(p, n, speed=SPEED, wait_for_consumer=20).start() for p, n in zip(paths, names)]
        assert all(r.wait(30) for r in reps)
        end = time.monotonic() + 20
        while any(e.counts()["received"] < 8000 for e in group.engines) and time.monotonic() < end:
            time.sleep(0.02)
        for e in group.engines:
            e.request_reset("test: flush")  # the last keys out of the decoder
        b_events = []
        while not any(e["type"] == "status" and e.get("status") == "reset" for e in b_events):
            b_events.append(follow_b.read())
        all_events = []
        while sum(e["type"] == "status" and e.get("status") == "reset" for e in all_events) < 2:
            all_events.append(everything.read())
        follow_b.send_line(b'{"cmd":"text"}')
        text = follow_b.read_until(lambda e: e["type"] == "text")
        follow_b.send_line(f'{{"cmd":"text","band":"{names[0]}"}}'.encode())
        text_a = follow_b.read_until(lambda e: e["type"] == "text")
        follow_b.send_line(b'{"cmd":"stats"}')
        stats = follow_b.read_until(lambda e: e["type"] == "stats")
    finally:
        for c in clients:
            c.close()
        server.stop()
        for r in reps:
            r.stop()
    assert {e.get("band") for e in b_events} == {names[1]}  # only the band it follows
    keys = {n: [e["key"] for e in all_events if e["type"] == "char" and e["band"] == n] for n in names}
    assert keys == expected  # each band decoded as it would be alone
    assert [e["key"] for e in b_events if e["type"] == "char"] == expected[names[1]]
    assert text["band"] == names[1] and text_a["band"] == names[0]
    from emgrt.decode.events import apply_keys

    assert text["text"] == apply_keys("", expected[names[1]]) and text_a["text"] == apply_keys("", expected[names[0]])
    for n in names:
        s = stats["engine"]["bands"][n]
        assert s["received"] == 8000 and s["dropped"] == 0
    assert max(batch_sizes) == 2  # both bands' steps ran in one call when both were ready


def test_several_streams_refuse_replay_and_repeats(capsys):
    from emgrt.cli import main

    assert main(["serve", "--stream", "a", "--stream", "b", "--replay", "x.hdf5", "--port", "0", "--ws-port", "0"]) == 2
    assert "cannot be combined with --left/--right or --replay" in capsys.readouterr().err
    assert main(["serve", "--stream", "a", "--stream", "a", "--port", "0", "--ws-port", "0"]) == 2
    assert "names a band twice" in capsys.readouterr().err


def test_reset_and_text_refuse_an_unknown_band_on_one_band_servers():
    from serve_helpers import ScriptedSource

    server = serve(ScriptedSource())
    c = Raw(server.addresses["tcp"])
    try:
        c.read()
        c.send_line(b'{"cmd":"reset","band":"x"}')
        err = c.read_until(lambda e: e["type"] == "error")
        assert "unknown band 'x'" in err["message"] and "serves one band" in err["message"]
        c.send_line(b'{"cmd":"subscribe","events":["char"],"bands":[1]}')
        assert "list of band names" in c.read_until(lambda e: e["type"] == "error")["message"]
    finally:
        c.close()
        server.stop()
