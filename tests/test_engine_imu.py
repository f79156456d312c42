"""The engine's IMU ingest for fused bundles: the IMU track read at the frames (gaps, jitter, bad
rows), streamed == offline with the IMU present and absent, late IMU waited for, batched ==
one stream, and the IMU over a real LSL loopback (there, missing, lost)."""

from __future__ import annotations

import numpy as np
import pytest

from emgrt.errors import EmgrtError
from emgrt.stream.imu_track import ImuTrack


def _stream(n: int = 400, rate: float = 100.0, seed: int = 0):
    """An IMU stream with stamp jitter, two gaps (one longer than the timeout) and smooth motion."""
    rng = np.random.default_rng(seed)
    t = 1000.0 + np.arange(n) / rate + rng.uniform(-0.002, 0.002, n)
    keep = np.ones(n, bool)
    keep[100:110] = False  # 0.1 s gap
    keep[250:290] = False  # 0.4 s gap: longer than the 0.25 s timeout
    t = t[keep]
    x = np.stack([np.sin(t * (c + 1)) * (c + 1) for c in range(6)], axis=1).astype(np.float32)
    return t, x


def test_the_track_reads_what_training_reads_in_any_chunking():
    """Pushed in uneven chunks and read step by step (released as it goes), the track gives
    np.interp over the whole stream (the training definition), held at the ends and across gaps."""
    t, x = _stream()
    track = ImuTrack()
    frames = np.linspace(t[0] - 0.05, t[-1] + 0.05, 640)  # before the first sample and after the last too
    fed, rng = 0, np.random.default_rng(1)
    for k in range(0, len(frames), 4):
        step = frames[k : k + 4]
        while fed < len(t) and (fed == 0 or t[fed - 1] < step[-1]):  # up to a sample at or after the step
            n = int(rng.integers(1, 7))
            track.push(x[fed : fed + n], t[fed : fed + n])
            fed += n
        got, present = track.at(step)
        want = np.stack([np.interp(step, t, x[:, c].astype(np.float64)) for c in range(6)], axis=1).astype(np.float32)
        nearest = np.abs(t - step[-1]).min()
        assert present == (nearest <= 0.25), (k, nearest)
        if present:
            np.testing.assert_array_equal(got, want)
        else:
            assert not got.any()
        track.release(float(step[-1]))
    assert track.received == len(t) and track.rejected == 0 and len(track) <= 3


def test_waiting_absent_and_refused_rows():
    track = ImuTrack(timeout_s=0.25)
    assert not track.waiting(5.0) and track.at(np.array([5.0]))[1] is False  # nothing yet: absent, no wait
    track.push(np.ones((3, 6)), np.array([1.00, 1.01, 1.02]))
    assert track.waiting(1.05) and not track.waiting(1.02) and not track.waiting(1.30)
    assert track.at(np.array([1.20]))[1] and not track.at(np.array([1.30]))[1]  # held, then absent
    bad = np.ones((5, 6))
    bad[1, 2] = np.nan
    track.push(bad, np.array([1.03, 1.04, 1.02, 1.05, 1.05]))  # NaN, a step back, a repeat: refused
    assert track.rejected == 3 and track.received == 8 and track.newest == 1.05
    with pytest.raises(EmgrtError, match=r"^engine got IMU samples of shape \(2, 3\)") as err:
        track.push(np.ones((2, 3)), np.zeros(2))
    assert "\n" not in str(err.value)


def test_a_full_track_drops_its_oldest_rows_counted():
    track = ImuTrack(capacity=8)
    track.push(np.zeros((6, 6)), np.arange(6.0))
    track.push(np.ones((5, 6)), 6.0 + np.arange(5.0))
    assert len(track) == 8 and track.overflow == 3 and track.at(np.array([3.0]))[0][0, 0] == 0.0


# -- a fused bundle in the engine (exported from torch) --------------------------------------------
torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from test_fused_export import fused_bundle, imu_gestures  # noqa: E402,F401  (module fixtures)


@pytest.fixture(scope="module")
def recording(imu_gestures):
    from emgrt.io.recording import open_recording

    path = sorted(imu_gestures.glob("discrete_gestures_*.hdf5"))[0]
    with open_recording(path) as rec:
        yield rec


def _streamed(bundle, rec, chunks=(17, 40, 3, 64), imu="feed", batched=False, **opts) -> np.ndarray:
    """Log-probs of ``rec`` streamed through one engine stream in uneven chunks; ``imu``: "feed"
    (ImuFeed, the simulated replay), "late" (each chunk's IMU only after the chunk) or None."""
    from emgrt.stream import Recognizer
    from emgrt.stream.imu_track import ImuFeed

    rec_ = Recognizer(bundle, batched=batched, **opts)
    s = rec_.create_stream()
    lps = []
    orig = s._stepped
    s._stepped = lambda lp, first, dt: (lps.append(lp.copy()), orig(lp, first, dt))[1]

    class _E:  # ImuFeed feeds an engine; a bare stream takes the IMU the same way
        recognizer = rec_
        accept_imu = staticmethod(s.accept_imu)

    feed = ImuFeed(_E, rec)
    x, ts = rec.emg(), rec.time
    pos, i, pending = 0, 0, None
    while pos < len(x):
        n = chunks[i % len(chunks)]
        i += 1
        end = min(pos + n, len(x))
        if imu == "feed":
            feed.before(float(ts[end - 1]))
        s.accept(x[pos:end], ts[pos:end])
        rec_.decode([s])
        if imu == "late":
            if pending is not None:
                feed.before(pending)  # the IMU of the chunk before arrives with this one
                rec_.decode([s])
            pending = float(ts[end - 1])
        pos = end
    if imu == "late" and pending is not None:
        feed.before(pending)
    s.finish()
    return np.concatenate(lps), s.counts()


def test_streamed_equals_offline_with_the_imu_present(fused_bundle, recording):
    from emgrt.stream.latency import offline_log_probs

    got, c = _streamed(fused_bundle, recording)
    want = offline_log_probs(fused_bundle, recording.emg(), recording=recording)
    absent = offline_log_probs(fused_bundle, recording.emg())
    assert 0 < len(got) <= len(want)
    assert np.abs(got - want[: len(got)]).max() <= 1e-4
    assert np.abs(want - absent).max() > 1e-2  # the IMU enters the model
    assert c["imu_steps"] == c["steps"] and c["imu_absent_steps"] == 0 and c["imu_waited_out"] == 0
    assert c["imu_received"] > 0 and c["imu_rejected"] == 0 and c["dropped"] == 0


def test_without_imu_the_stream_runs_it_absent_as_offline(fused_bundle, recording):
    from emgrt.stream.latency import offline_log_probs

    got, c = _streamed(fused_bundle, recording, imu=None)
    want = offline_log_probs(fused_bundle, recording.emg())  # no recording: the IMU absent
    assert np.abs(got - want[: len(got)]).max() <= 1e-4
    assert c["imu_absent_steps"] == c["steps"] > 0 and c["imu_received"] == 0 and c["imu_waited_out"] == 0


def test_a_late_imu_is_waited_for(fused_bundle, recording):
    """The IMU of each chunk arriving only with the next: the steps wait for it (here without a
    wall-clock limit, so the test is deterministic) and the output is still the offline one."""
    on_time, _ = _streamed(fused_bundle, recording)
    late, c = _streamed(fused_bundle, recording, imu="late", imu_wait_s=float("inf"))
    np.testing.assert_array_equal(late, on_time)
    assert c["imu_absent_steps"] == 0 and c["imu_waited_out"] == 0


def test_batched_streams_read_their_own_imu(fused_bundle, recording):
    """Two streams through the batched graph, one with its IMU and one without: each gets what it
    gets alone (rows are not mixed up)."""
    from emgrt.stream import Recognizer
    from emgrt.stream.imu_track import ImuFeed

    alone_imu, _ = _streamed(fused_bundle, recording)
    alone_none, _ = _streamed(fused_bundle, recording, imu=None)
    rec_ = Recognizer(fused_bundle, batched=True)
    assert rec_.batched
    a, b = rec_.create_stream(), rec_.create_stream()
    out = {id(a): [], id(b): []}
    for s in (a, b):
        orig = s._stepped
        s._stepped = (lambda o, k: lambda lp, first, dt: (out[k].append(lp.copy()), o(lp, first, dt))[1])(orig, id(s))

    class _E:
        recognizer = rec_
        accept_imu = staticmethod(a.accept_imu)

    feed = ImuFeed(_E, recording)
    x, ts = recording.emg(), recording.time
    for pos in range(0, len(x), 32):
        end = min(pos + 32, len(x))
        feed.before(float(ts[end - 1]))
        a.accept(x[pos:end], ts[pos:end])
        b.accept(x[pos:end], ts[pos:end])
        rec_.decode([a, b])
    a.finish()
    b.finish()
    assert np.abs(np.concatenate(out[id(a)]) - alone_imu).max() <= 1e-4
    assert np.abs(np.concatenate(out[id(b)]) - alone_none).max() <= 1e-4


def test_an_emg_only_bundle_refuses_imu_in_one_line(tiny_bundle):
    from emgrt.errors import ConfigError
    from emgrt.stream import Engine
    from emgrt.stream.live import LiveSource

    with pytest.raises(EmgrtError) as err:
        Engine(tiny_bundle).accept_imu(np.zeros((2, 6)), np.arange(2.0))
    assert "\n" not in str(err.value) and "does not read the IMU" in str(err.value)
    with pytest.raises(ConfigError, match="drop --imu"):
        LiveSource(tiny_bundle, stream="x", imu="x-imu-right")


def test_received_all_waits_for_the_imu_only_while_its_inlet_is_open():
    from types import SimpleNamespace as NS

    from emgrt.stream.live import received_all

    engine = NS(counters={"received": 100, "lost": 0, "imu_received": 3})
    rep = NS(samples_sent=100, imu_sent={"right": 10})
    assert not received_all(engine, rep)  # no inlet named: every IMU row sent is waited for
    assert not received_all(engine, rep, NS(imu=NS(connected=True)))
    assert received_all(engine, rep, NS(imu=NS(connected=False)))  # never found, or lost: nothing more comes
    engine.counters["received"] = 99
    assert not received_all(engine, rep, NS(imu=NS(connected=False)))  # the EMG is always waited for
    assert received_all(NS(counters={"received": 100, "lost": 0}), rep)  # an EMG-only engine


@pytest.mark.slow
def test_the_imu_over_a_real_lsl_loopback(fused_bundle, recording):
    """The replay's IMU stream reaches every step over LSL; without it the model runs with the IMU
    absent after one ``imu_missing`` status; a vanished IMU stream is ``imu_lost``, the band goes on."""
    from emgrt.lsl import keep_local
    from emgrt.lsl.outlet import SessionReplayer
    from emgrt.stream import Engine
    from emgrt.stream.live import LiveSource, LiveThread

    keep_local()
    for with_imu in (True, False):
        name = f"emgrt-test-imu-{with_imu}-{np.random.default_rng().integers(1 << 30)}"
        rep = SessionReplayer(recording.path, name, speed=4.0, wait_for_consumer=10.0, imu=with_imu, max_seconds=4.0)
        rep.start()
        engine, events = Engine(fused_bundle), []
        live = LiveThread(engine, LiveSource(fused_bundle, stream=name), events.append).start()
        assert rep.wait(30.0)
        assert live.drain(rep, 10.0)
        stats = live.finish()
        rep.stop()
        c, statuses = stats["engine"], [e["status"] for e in events if e["type"] == "status"]
        assert c["dropped"] == 0 and c["received"] == rep.samples_sent and c["steps"] > 0
        if with_imu:
            assert c["imu_received"] == rep.imu_sent["right"] > 0 and "imu_missing" not in statuses
            assert c["imu_absent_steps"] <= 1, c  # the first step may precede the IMU's first sample by > 0.25 s
        else:
            assert statuses[:2] == ["connected", "imu_missing"] and c["imu_absent_steps"] == c["steps"]


@pytest.mark.slow
def test_a_vanished_imu_stream_is_reported_and_the_band_goes_on(fused_bundle, recording):
    """An IMU outlet that goes away mid-stream: one ``imu_lost`` status, the later steps run with
    the IMU absent, and not an EMG sample is lost."""
    import threading
    import time

    from emgrt.lsl import keep_local, pylsl_quiet
    from emgrt.lsl.outlet import SessionReplayer
    from emgrt.stream import Engine
    from emgrt.stream.live import LiveSource, LiveThread

    keep_local()
    pylsl = pylsl_quiet()
    name = f"emgrt-test-imu-lost-{np.random.default_rng().integers(1 << 30)}"
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(f"{name}-imu-right", "IMU", 6, 100.0, "float32", name))
    rep = SessionReplayer(recording.path, name, speed=1.0, wait_for_consumer=10.0, imu=False, max_seconds=5.0)
    rep.start()
    engine, events = Engine(fused_bundle), []
    source = LiveSource(fused_bundle, stream=name)
    live = LiveThread(engine, source, events.append).start()

    def send_then_vanish() -> None:
        nonlocal outlet
        give_up = time.monotonic() + 30
        # The EMG is being sent and the engine holds the IMU inlet (on a loaded machine it may open
        # it only on a background retry, after a second of IMU rows would have gone unread).
        while (rep.t0 is None or source.imu is None or not source.imu.connected) and time.monotonic() < give_up:
            time.sleep(0.005)
        end = time.monotonic() + 1.0
        # A second of IMU, and on until the engine has read some of it (a loaded machine may open
        # the data feed late), then gone.
        while time.monotonic() < end or (source.imu.received == 0 and time.monotonic() < end + 2.0):
            now = pylsl.local_clock()
            outlet.push_chunk(np.zeros((2, 6), np.float32), [now - 0.01, now])
            time.sleep(0.02)
        del outlet  # the IMU stream vanishes

    sender = threading.Thread(target=send_then_vanish)
    sender.start()
    assert rep.wait(30.0)
    sender.join()
    assert live.drain(rep, 10.0)
    time.sleep(0.3)
    stats = live.finish()
    rep.stop()
    c = stats["engine"]
    assert [e["status"] for e in events if e["type"] == "status"].count("imu_lost") == 1
    assert c["dropped"] == 0 and c["received"] == rep.samples_sent
    assert 0 < c["imu_absent_steps"] < c["steps"] and c["imu_received"] > 0, str({k: v for k, v in c.items() if "imu" in k or k == "steps"})
