"""LSL loopback: replayer -> inlet -> engine; bad streams; vanishing outlets; marker stream."""

from __future__ import annotations

import threading
import time
import uuid

import numpy as np
import pytest

from emgrt.decode import decode_offline
from emgrt.errors import EmgrtError
from emgrt.io.session import SessionFile, write_session
from emgrt.lsl import pylsl_quiet
from emgrt.lsl.inlet import BandInlet, Expect
from emgrt.lsl.outlet import SessionReplayer
from emgrt.stream import Engine
from emgrt.stream.live import LiveSource, run_live

from conftest import make_session_arrays
from test_stream_engine import offline_log_probs

pylsl = pylsl_quiet()
SPEED = 20.0


def unique(prefix: str = "emgrt-test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def session4s(tmp_path):
    return write_session(tmp_path / "s.hdf5", **make_session_arrays(n=8000, seed=7))


class LiveRun:
    """run_live in a thread, collecting events."""

    def __init__(self, engine, source) -> None:
        self.events: list[dict] = []
        self.stop = threading.Event()
        self.result: dict = {}
        self.engine = engine
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.source = source

    def _run(self) -> None:
        self.result = run_live(self.engine, self.source, self.events.append, self.stop)

    def start(self) -> "LiveRun":
        self.thread.start()
        return self

    def wait_received(self, n: int, timeout: float = 20.0) -> None:
        end = time.monotonic() + timeout
        while self.engine.counters["received"] < n and time.monotonic() < end:
            time.sleep(0.01)

    def finish(self) -> dict:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()
        return self.result

    def statuses(self) -> list[str]:
        return [e["status"] for e in self.events if e["type"] == "status"]

    def keys(self) -> list[str]:
        return [e["key"] for e in self.events if e["type"] == "char"]


@pytest.mark.parametrize("split", [False, True], ids=["one-stream", "two-bands"])
def test_loopback_gives_offline_keys_and_loses_nothing(tiny_bundle, session4s, split):
    name = unique()
    with SessionFile(session4s) as s:
        x = s.emg().reshape(len(s), 32)
    expected = decode_offline("greedy", offline_log_probs(tiny_bundle, x), tiny_bundle.labels, tiny_bundle.blank)
    assert expected
    rep = SessionReplayer(session4s, name, speed=SPEED, split_bands=split, wait_for_consumer=10)
    rep.start()
    src = LiveSource(tiny_bundle, **({"left": f"{name}-left", "right": f"{name}-right"} if split else {"stream": name}))
    live = LiveRun(Engine(tiny_bundle), src).start()
    assert rep.wait(20)
    live.wait_received(len(x))
    result = live.finish()
    rep.stop()
    assert live.keys() == expected
    e, s = result["engine"], result["source"]
    assert e["received"] == len(x) == e["processed"] and e["buffered"] == 0 and e["dropped"] == 0
    assert e["gaps_filled"] == 0 and e["gap_resets"] == 0 and e["sanitised_values"] == 0
    assert all(r == len(x) for r in s["received"]) and s["delivered"] == len(x)
    assert s["unpaired"] == [0] * len(s["received"])


def _outlet(name: str, channels: int, rate: float):
    info = pylsl.StreamInfo(name, "EMG", channels, rate, "float32", name)
    return pylsl.StreamOutlet(info)


@pytest.mark.parametrize(
    "channels, rate, message",
    [
        (16, 2000, r"has 16 channels but the bundle expects 32.*--left/--right"),
        (32, 1000, r"nominal rate 1000 Hz but the bundle expects 2000 Hz.*resample"),
    ],
    ids=["channels", "rate"],
)
def test_stream_not_fitting_the_bundle_is_a_clear_error(channels, rate, message):
    name = unique()
    outlet = _outlet(name, channels, rate)
    with pytest.raises(EmgrtError, match=message):
        BandInlet(Expect(), stream=name, resolve_timeout=5).connect()
    del outlet


def test_missing_stream_times_out_with_a_clear_error():
    t0 = time.monotonic()
    with pytest.raises(EmgrtError, match=r"no LSL stream named '.*' found within 0.3 s"):
        BandInlet(Expect(), stream=unique("absent"), resolve_timeout=0.3).connect()
    assert time.monotonic() - t0 < 10


def test_outlet_vanishes_and_returns(tiny_bundle, session4s):
    name = unique()
    rep = SessionReplayer(session4s, name, speed=SPEED, wait_for_consumer=10).start()
    engine = Engine(tiny_bundle)
    live = LiveRun(engine, LiveSource(tiny_bundle, stream=name)).start()
    assert rep.wait(20)
    live.wait_received(8000)
    first = len(live.keys())
    assert first > 0
    rep.stop()  # the outlet goes away
    end = time.monotonic() + 10
    while "lost" not in live.statuses() and time.monotonic() < end:
        time.sleep(0.02)
    rep2 = SessionReplayer(session4s, name, speed=SPEED, wait_for_consumer=10).start()
    assert rep2.wait(20)
    live.wait_received(16000)
    result = live.finish()
    rep2.stop()
    st = live.statuses()
    assert st[0] == "connected" and "lost" in st and "reconnected" in st
    assert st.index("lost") < st.index("reset") < st.index("reconnected")
    # The returning stream decodes like the first one did (fresh state after the reset).
    assert live.keys()[first:] == live.keys()[:first]
    e = result["engine"]
    assert e["received"] == 16000 == e["processed"] and e["dropped"] == 0 and e["resets"] == 1


def test_marker_stream_carries_the_keystrokes(session4s):
    name = unique()
    rep = SessionReplayer(session4s, name, speed=SPEED, wait_for_consumer=10)
    rep.start()
    found = pylsl.resolve_byprop("name", f"{name}-keys", 1, 5.0)
    assert found
    inlet = pylsl.StreamInlet(found[0])
    inlet.open_stream(timeout=5)
    emg = BandInlet(Expect(), stream=name)
    emg.connect()  # lets the replay start
    assert rep.wait(20)
    time.sleep(0.2)
    markers, stamps = inlet.pull_chunk(timeout=1.0, max_samples=100)
    emg.close()
    rep.stop()
    with SessionFile(session4s) as s:
        assert "".join(m[0] for m in markers) == s.text()
        pos = np.interp(s.key_times, s.time, np.arange(len(s)))
    np.testing.assert_allclose(stamps, rep.t0 + pos / 2000.0, atol=1e-6)


def test_two_band_alignment_pairs_by_stamp_and_counts_the_rest():
    inlet = BandInlet(Expect(), left="L", right="R")
    (lq, ltq), (rq, rtq) = inlet._queues
    t = 100.0 + np.arange(120) / 2000.0
    left = np.arange(120, dtype=np.float32)[:, None] * np.ones(16, np.float32)
    # The right band starts 10 samples later, lags by 0.3 of a period, and misses samples 60-64.
    keep = np.r_[10:60, 65:120]
    lq.write(left)
    ltq.write(t)
    rq.write(-left[keep])
    rtq.write(t[keep] + 0.3 / 2000.0)
    inlet.received = [120, len(keep)]
    x, ts = inlet._pair()
    assert len(x) == len(keep) and np.array_equal(ts, t[keep])
    np.testing.assert_array_equal(x[:, 0], keep)  # left values
    np.testing.assert_array_equal(x[:, 16], -keep)  # right values, same sample
    assert inlet.unpaired == [15, 0]
    for b in range(2):
        assert inlet.received[b] == inlet.delivered + inlet.queued[b] + inlet.unpaired[b]


def test_jittered_band_over_lsl_decodes_like_offline_with_nothing_invented(tiny_bundle, session4s):
    """A band stamping at push time (+-0.3 ms per sample): no phantom gaps, the offline keys."""
    name = unique()
    with SessionFile(session4s) as s:
        x = s.emg().reshape(len(s), 32)
    expected = decode_offline("greedy", offline_log_probs(tiny_bundle, x), tiny_bundle.labels, tiny_bundle.blank)
    rep = SessionReplayer(session4s, name, speed=SPEED, wait_for_consumer=10, stamp_jitter=3e-4).start()
    engine = Engine(tiny_bundle)
    live = LiveRun(engine, LiveSource(tiny_bundle, stream=name)).start()
    assert rep.wait(20)
    live.wait_received(8000)
    e = live.finish()["engine"]
    rep.stop()
    assert e["received"] == e["processed"] == 8000
    assert e["filled"] == e["gaps_filled"] == e["lost"] == e["resets"] == 0
    assert live.keys() == expected


def test_imu_streams_carry_each_bands_imu_aligned_with_the_emg(session4s):
    """A session with the IMU extension: NAME-imu-left/right carry every IMU sample of the replayed
    stretch, values as stored, stamped on the EMG's timeline; imu=False leaves them out."""
    from emgrt.io.imu import write_imu

    with SessionFile(session4s) as s:
        t_emg = s.time.copy()
    rng = np.random.default_rng(3)
    imu = {}
    for band, start in (("left", -0.013), ("right", 0.0071)):  # each its own clock phase
        t = t_emg[0] + start + np.arange(400) / 100.0  # 4 s at 100 Hz, the first one before the EMG
        acc, gyr = rng.standard_normal((400, 3)).astype(np.float32), rng.standard_normal((400, 3)).astype(np.float32)
        write_imu(session4s, t, acc, gyr, band=band)
        imu[band] = (t, np.hstack([acc, gyr]))
    assert SessionReplayer(session4s, unique(), imu=False).imu_stream_names == []
    name = unique()
    rep = SessionReplayer(session4s, name, speed=SPEED, wait_for_consumer=10)
    assert rep.imu_stream_names == [f"{name}-imu-left", f"{name}-imu-right"]
    assert rep.stream_names[-2:] == rep.imu_stream_names
    rep.start()
    inlets = {}
    for band in ("left", "right"):
        found = pylsl.resolve_byprop("name", f"{name}-imu-{band}", 1, 5.0)
        assert found and found[0].type() == "IMU" and found[0].channel_count() == 6
        assert found[0].nominal_srate() == 100.0
        inlets[band] = pylsl.StreamInlet(found[0])
        inlets[band].open_stream(timeout=5)
    emg = BandInlet(Expect(), stream=name)
    emg.connect()  # lets the replay start
    assert rep.wait(20)
    time.sleep(0.2)
    for band, inlet in inlets.items():
        x, stamps = inlet.pull_chunk(timeout=1.0, max_samples=1000)
        t, rows = imu[band]
        sent = t < t_emg[-1] + 1 / 2000.0  # IMU samples a period past the EMG's last are not replayed
        assert rep.imu_sent[band] == len(x) == int(sent.sum())
        np.testing.assert_array_equal(np.asarray(x, dtype=np.float32), rows[sent])
        np.testing.assert_allclose(stamps, rep.t0 + (t[sent] - t_emg[0]), atol=1e-6)
    emg.close()
    rep.stop()
