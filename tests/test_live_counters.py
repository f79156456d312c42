"""Live counters add up: stats replies are consistent, a disconnect's loss is counted, a replay
waits for its consumer so nothing it sends is lost."""

from __future__ import annotations

import threading
import time

import pytest

from emgrt.io.session import write_session
from emgrt.lsl.outlet import SessionReplayer
from emgrt.serve.runner import EngineSource
from emgrt.stream import Engine
from emgrt.stream.live import LiveSource

from conftest import make_session_arrays
from test_lsl import LiveRun, unique


def test_stats_replies_always_add_up(tiny_bundle, tmp_path):
    session = write_session(tmp_path / "s.hdf5", **make_session_arrays(n=12000, seed=3))
    source = EngineSource(Engine(tiny_bundle), replay=session, replay_speed=3.0)
    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(lambda ev: None, stop), daemon=True)
    thread.start()
    replies = []
    try:
        end = time.monotonic() + 30
        while len(replies) < 200 and time.monotonic() < end:
            s = source.stats()
            if s:
                replies.append(s)
            time.sleep(0.005)
    finally:
        stop.set()
        thread.join(15)
    assert len(replies) == 200 and replies[-1]["received"] > 0
    for s in replies:
        assert s["received"] + s["filled"] == s["processed"] + s["buffered"], s
        assert s["dropped"] == 0


@pytest.mark.slow
def test_a_disconnect_is_counted_as_lost_and_the_new_replay_loses_nothing(tiny_bundle, tmp_path):
    session = write_session(tmp_path / "s.hdf5", **make_session_arrays(n=2000, seed=5))
    name = unique()
    rep = SessionReplayer(session, name, wait_for_consumer=10).start()  # real time: stamps = LSL clock
    engine = Engine(tiny_bundle)
    live = LiveRun(engine, LiveSource(tiny_bundle, stream=name)).start()
    assert rep.wait(20)
    live.wait_received(2000)
    rep.stop()
    end = time.monotonic() + 10
    while "lost" not in live.statuses() and time.monotonic() < end:
        time.sleep(0.02)
    time.sleep(0.3)  # the band is away a while
    rep2 = SessionReplayer(session, name, wait_for_consumer=20).start()
    assert rep2.wait(30)
    live.wait_received(4000)
    result = live.finish()
    rep2.stop()
    e = result["engine"]
    # Both replays waited for the engine: everything they sent arrived.
    assert rep.samples_sent == rep2.samples_sent == 2000 and e["received"] == 4000
    # The time the band was away, from the stamps on both sides of it.
    away = round((rep2.t0 - rep.t0) * 2000) - 2000
    assert away > 600 and abs(e["lost"] - away) <= 2
    assert e["received"] + e["filled"] == e["processed"] + e["buffered"] and e["filled"] == 0


def test_bench_soak_accounts_for_every_sample(tiny_bundle, tmp_path):
    from emgrt.bench.soak import bench_soak, plot

    session = write_session(tmp_path / "s.hdf5", **make_session_arrays(n=4000, seed=1))
    r = bench_soak(tiny_bundle, session, minutes=0.1, decoder="greedy", every_s=0.5, speed=4.0)
    assert r["all_samples_accounted"] and r["sent"] == r["counters"]["received"] > 8000  # looped past one pass
    assert len(r["samples"]) >= 3 and r["samples"][-1]["rss_mb"] > 0
    assert plot(r, tmp_path / "soak.png").stat().st_size > 1000


def test_repeated_nan_warnings_are_rate_limited(tiny_bundle, caplog):
    import numpy as np

    engine = Engine(tiny_bundle)
    x = np.full((32, 32), np.nan, np.float32)
    with caplog.at_level("WARNING", logger="emgrt"):
        for i in range(125):  # 2 s of NaN on every channel, in 32-sample chunks
            engine.process(x, 10.0 + (i * 32 + np.arange(32)) / 2000.0)
        engine.finish()
    lines = [r for r in caplog.records if "non-finite" in r.getMessage()]
    assert 1 <= len(lines) <= 2 and engine.counters["sanitised_values"] == 125 * 32 * 32
    assert "4000" in lines[-1].getMessage() or len(lines) == 2  # the summary line sums what it held back


def test_bench_soak_cli_json(tiny_bundle, tmp_path, capsys):
    import json

    from emgrt.cli import main

    session = write_session(tmp_path / "s.hdf5", **make_session_arrays(n=4000, seed=2))
    assert main(["bench", "soak", "--bundle", str(tiny_bundle.dir), "--session", str(session), "--decoder", "greedy",
                 "--minutes", "0.05", "--speed", "4", "--every", "0.5", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["all_samples_accounted"] and r["bundle_digest"] == tiny_bundle.digest and r["counters"]["received"] > 0
