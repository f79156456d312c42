"""The sample clock: stamp jitter never creates or drops samples; real gaps are still found."""

from __future__ import annotations

import numpy as np
import pytest

from emgrt.stream import Engine
from emgrt.stream.clock import Gap, Samples, StampClock, StepBack

RATE = 2000.0
JITTERS = [0.0, 1e-4, 3e-4, 1e-3, 2e-3]  # +- seconds, uniform
CHUNKS = [1, 7, 64, 1000]


def jittered(n: int, jitter: float, seed: int = 0, t0: float = 1000.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return t0 + np.arange(n) / RATE + rng.uniform(-jitter, jitter, n)


def run_clock(ts: np.ndarray, chunk: int) -> list:
    clock = StampClock(RATE)
    x = np.arange(len(ts), dtype=np.float32)[:, None]
    items = []
    for i in range(0, len(ts), chunk):
        items += clock.push(x[i : i + chunk], ts[i : i + chunk])
    return items + clock.flush()


def samples_of(items: list) -> tuple[np.ndarray, np.ndarray]:
    s = [it for it in items if isinstance(it, Samples)]
    return np.concatenate([it.x[:, 0] for it in s]), np.concatenate([it.t for it in s])


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("jitter", JITTERS)
def test_jitter_creates_and_drops_nothing(jitter, chunk):
    n = 12_000
    ts = jittered(n, jitter, seed=int(jitter * 1e5) + chunk)
    items = run_clock(ts, chunk)
    assert not [it for it in items if isinstance(it, (Gap, StepBack))]
    x, t = samples_of(items)
    np.testing.assert_array_equal(x, np.arange(n))  # every sample once, in order
    true = 1000.0 + np.arange(n) / RATE
    # De-jittered stamps sit closer to the true sample times than the raw ones (after warm-up).
    assert np.abs(t - true)[4000:].max() <= max(jitter, 1e-9) * 0.5 + 1e-4


@pytest.mark.parametrize("jitter", JITTERS)
def test_chunking_does_not_change_the_timeline(jitter):
    ts = jittered(6000, jitter, seed=7)
    ref = samples_of(run_clock(ts, 6000))[1]
    for chunk in (1, 33, 1000):
        np.testing.assert_allclose(samples_of(run_clock(ts, chunk))[1], ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("jitter", [0.0, 3e-4, 2e-3])
def test_real_gaps_are_found_through_jitter(jitter, chunk):
    n = 16_000
    ts = jittered(n, jitter, seed=3)
    ts[6000:] += 100 / RATE  # 50 ms: 100 samples missing
    ts[11000:] += 2.0  # 2 s: 4000 samples missing
    items = run_clock(ts, chunk)
    gaps = [it.missing for it in items if isinstance(it, Gap)]
    slack = int(np.ceil(jitter * RATE)) + 1
    assert len(gaps) == 2
    assert abs(gaps[0] - 100) <= slack and abs(gaps[1] - 4000) <= slack
    x, _ = samples_of(items)
    np.testing.assert_array_equal(x, np.arange(n))


def test_single_missing_sample_is_seen_on_a_clean_clock():
    ts = 5.0 + np.arange(8000) / RATE
    ts[5000:] += 1 / RATE
    gaps = [it.missing for it in run_clock(ts, 40) if isinstance(it, Gap)]
    assert gaps == [1]


def test_clock_step_back_is_followed_and_nan_stamps_are_patched():
    ts = 5.0 + np.arange(8000) / RATE
    ts[5000:] -= 0.5
    ts[100] = np.nan
    clock = StampClock(RATE)
    items = clock.push(np.zeros((8000, 1), np.float32), ts) + clock.flush()
    assert [it for it in items if isinstance(it, StepBack)] and not [it for it in items if isinstance(it, Gap)]
    assert clock.bad_stamps == 1
    assert sum(len(it.t) for it in items if isinstance(it, Samples)) == 8000
    assert all(np.isfinite(it.t).all() for it in items if isinstance(it, Samples))


def _keys(events):
    return [e["key"] for e in events if e["type"] == "char"]


def _feed(engine, x, ts, chunk):
    events = []
    for i in range(0, len(x), chunk):
        events += engine.process(x[i : i + chunk], ts[i : i + chunk])
        s = engine.stats()
        assert s["received"] + s["filled"] == s["processed"] + s["buffered"]
    return events + engine.finish()


@pytest.mark.parametrize("jitter,chunk", [(3e-4, 1), (3e-4, 37), (1e-3, 1000), (2e-3, 64)])
def test_engine_on_a_jittered_band_decodes_as_on_a_clean_one(tiny_bundle, jitter, chunk):
    rng = np.random.default_rng(0)
    n = 8000
    x = (rng.standard_normal((n, 32)) * 20).astype(np.float32)
    clean = Engine(tiny_bundle)
    ref = _keys(_feed(clean, x, jittered(n, 0.0), 40))
    engine = Engine(tiny_bundle)
    got = _keys(_feed(engine, x, jittered(n, jitter, seed=1), chunk))
    s = engine.stats()
    assert s["filled"] == 0 and s["gaps_filled"] == 0 and s["lost"] == 0 and s["resets"] == 0
    assert s["received"] == s["processed"] == n
    assert got == ref


def test_engine_counts_a_disconnects_loss_from_the_stamps(tiny_bundle):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((6000, 32)) * 20).astype(np.float32)
    ts = jittered(6000, 3e-4)
    ts[3000:] += 0.478  # the band was gone 0.478 s (956 samples) and came back on the same clock
    engine = Engine(tiny_bundle)
    engine.process(x[:3000], ts[:3000])
    engine.reset("stream lost")  # what run_live does when the outlet vanishes
    engine.process(x[3000:], ts[3000:])
    engine.finish()
    s = engine.stats()
    assert abs(s["lost"] - 956) <= 1 and s["filled"] == 0 and s["gap_resets"] == 0
    assert s["received"] == s["processed"] == 6000


def test_engine_reports_the_measured_jitter_after_finish(tiny_bundle):
    """`emgrt run` prints stats after finish(): the spread of the stream that ended, not the prior."""
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((12_000, 32)) * 20).astype(np.float32)
    engine = Engine(tiny_bundle)
    _feed(engine, x, jittered(12_000, 5e-4, seed=4), 64)
    jitter_ms = engine.stats()["jitter_ms"]
    assert 0.2 < jitter_ms < 0.4  # uniform +-0.5 ms: sd 0.29 ms (the prior is 1 ms)
