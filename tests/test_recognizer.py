"""Recognizer/Stream: batched streams equal each stream run alone, join/leave at any step, results."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emgrt.decode import decode_offline
from emgrt.decode.events import apply_keys
from emgrt.stream import Engine
from emgrt.stream.recognizer import Recognizer
from test_stream_engine import feed, keys, offline_log_probs, signal


def comparable(events: list[dict]) -> list[dict]:
    """Events without what depends on wall-clock time (none do today: the whole dict)."""
    return [dict(e) for e in events]


def alone(bundle, x, ts, seed) -> list[dict]:
    return feed(Engine(bundle), x, ts, seed)


def test_recognizer_is_batched_when_the_bundle_has_the_graph(tiny_bundle):
    assert tiny_bundle.batched_step_path is not None
    assert Recognizer(tiny_bundle).batched
    assert not Recognizer(tiny_bundle, batched=False).batched
    assert not Engine(tiny_bundle).recognizer.batched  # one stream: the step graph, state bound once


def test_batched_streams_equal_each_stream_alone_joining_and_leaving(tiny_bundle):
    """Three bands of different lengths and chunkings: b sits rounds out, c joins late, a leaves
    early, b has a gap that resets its segment; every stream's events equal its own Engine's."""
    sigs = {name: signal(n, seed) for name, n, seed in (("a", 7000, 1), ("b", 12000, 2), ("c", 8000, 3))}
    x_b, ts_b = sigs["b"]
    ts_b = ts_b.copy()
    ts_b[8000:] += 0.5  # a 0.5 s gap: too long to fill, the segment ends and a new one starts
    sigs["b"] = (x_b, ts_b)
    expected = {name: alone(tiny_bundle, x, ts, seed=7) for name, (x, ts) in sigs.items()}
    assert any(e["type"] == "status" for e in expected["b"])  # the gap did reset b

    rec = Recognizer(tiny_bundle)
    assert rec.batched
    batch_sizes = []
    run = rec._batch.run
    rec._batch.run = lambda streams, frames, imu=None: batch_sizes.append(len(streams)) or run(streams, frames, imu)
    rng = np.random.default_rng(7)
    streams: dict = {}
    pos = dict.fromkeys(sigs, 0)
    got: dict = {name: [] for name in sigs}
    start_round = {"a": 0, "b": 0, "c": 4}
    for r in range(10_000):
        for name, (x, ts) in sigs.items():
            if r < start_round[name] or pos[name] >= len(x):
                continue
            s = streams.setdefault(name, rec.create_stream())
            if name == "b" and r % 5 == 0:
                continue  # b sends nothing this round
            n = int(rng.integers(1, 800))
            s.accept(x[pos[name] : pos[name] + n], ts[pos[name] : pos[name] + n])
            pos[name] += n
            if pos[name] >= len(x):
                s.finish()  # leaves: its queued steps decoded alone, decoder flushed
        rec.decode(list(streams.values()))
        for name, s in streams.items():
            got[name] += s.take_events()
            c = s.counts()
            assert c["received"] + c["filled"] == c["processed"] + c["buffered"]
        if all(pos[k] >= len(sigs[k][0]) for k in sigs):
            break
    assert {1, 2, 3} <= set(batch_sizes)  # the rounds did run 1, 2 and 3 streams in one call
    for name in sigs:
        assert keys(got[name]) == keys(expected[name]), name
        assert comparable(got[name]) == comparable(expected[name]), name
        assert streams[name].counts()["dropped"] == 0


def test_batched_stream_equals_offline_decoding(tiny_bundle):
    x, ts = signal()
    rec = Recognizer(tiny_bundle)
    s = rec.create_stream()
    for i in range(0, len(x), 512):  # several steps queued per accept, decoded in one decode()
        s.accept(x[i : i + 512], ts[i : i + 512])
        rec.decode([s])
    s.finish()
    offline = decode_offline("greedy", offline_log_probs(tiny_bundle, x), tiny_bundle.labels, tiny_bundle.blank)
    res = s.result()
    assert list(res.keys) == offline
    assert res.text == apply_keys("", offline)
    assert json.loads(res.to_json())["keys"] == res.keys
    with pytest.raises(AttributeError):
        res.text = "x"  # frozen
    assert s.result().events == ()  # events are handed out once


def test_steps_wait_for_decode_and_nothing_is_lost(tiny_bundle):
    x, ts = signal(4000)
    rec = Recognizer(tiny_bundle)
    s = rec.create_stream()
    s.accept(x, ts)
    assert s.ready and s.counts()["queued_steps"] > 1 and s.counts()["steps"] == 0
    calls = rec.calls
    rec.decode([s])
    assert not s.ready and s.counts()["steps"] == rec.calls - calls
    c = s.counts()
    assert c["received"] == c["processed"] + c["buffered"] and c["dropped"] == 0


def test_unbatched_recognizer_equals_batched(tiny_bundle):
    """The fallback for bundles without a batched graph (one step-graph call per stream)."""
    (xa, ta), (xb, tb) = signal(6000, 4), signal(6000, 5)
    out = {}
    for batched in (True, False):
        rec = Recognizer(tiny_bundle, batched=batched)
        a, b = rec.create_stream(), rec.create_stream()
        for i in range(0, 6000, 300):
            a.accept(xa[i : i + 300], ta[i : i + 300])
            b.accept(xb[i : i + 300], tb[i : i + 300])
            rec.decode([a, b])
        a.finish()
        b.finish()
        out[batched] = (a.result(), b.result())
    assert out[True] == out[False]
