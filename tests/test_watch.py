"""ReplayScore on hand-made event timelines: key events once committed, the figures of
emgrt.stream.display, the prompt, the running CER and the summary (no LSL)."""

from __future__ import annotations

import numpy as np
import pytest

from emgrt.io.session import SessionFile
from emgrt.stream import watch
from emgrt.stream.display import key_times
from emgrt.stream.watch import ReplayScore, summary_event


class FakeReplayer:
    """What ReplayScore reads of a SessionReplayer: the session, its clock (t0 = the session's own
    first stamp, speed 1) and the keystrokes' stamps."""

    def __init__(self, path) -> None:
        self.session = SessionFile(path)
        self.n_samples = len(self.session)
        self.rate = 2000.0
        self.speed = 1.0
        self.t0 = float(self.session.time[0])

    def key_stamp(self, i: int) -> float:
        return float(self.session.key_times[i])


@pytest.fixture
def score(session_path, monkeypatch):
    monkeypatch.setattr(watch, "MIN_INTERVAL_S", 0.0)
    monkeypatch.setattr(watch, "MAX_SHARE", 1e9)  # match on every update (no throttle)
    return ReplayScore(FakeReplayer(session_path))


def feed(score: ReplayScore, events: list[tuple[float, dict]]) -> None:
    """Events recorded as arriving exactly at their stamp + ``delay`` (wall time since the push)."""
    for delay, ev in events:
        score.record(ev, now=score.replayer.t0 + (ev["t"] - score.replayer.t0) + delay)


def test_keys_are_reported_once_committed_with_the_display_definitions(score):
    ref = score.run.reference  # "⇧Hi x⌫t⏎" (tab is not a key of the charset)
    assert ref.startswith("⇧Hi")
    press = score.replayer.session.key_times
    hi = [  # hypothesis "H" shortly after its press, committed later; then "i" committed at once
        (0.0, {"type": "hypothesis", "text": "⇧H", "t": float(press[1]) + 0.1}),
        (0.0, {"type": "char", "key": "⇧", "t": float(press[1]) + 0.4}),
        (0.0, {"type": "char", "key": "H", "t": float(press[1]) + 0.4}),
        (0.0, {"type": "hypothesis", "text": "", "t": float(press[1]) + 0.4}),
    ]
    feed(score, hi)
    assert score.update(float(press[1]) + 0.5).keys[0]["key"] == "H"
    got = score.update(float(press[1]) + 0.5).keys
    assert got == []  # reported once
    feed(score, [(0.0, {"type": "char", "key": "i", "t": float(press[2]) + 0.2})])
    (key,) = score.update(float(press[2]) + 0.3).keys
    kt = key_times(ref, np.asarray(press[: len(ref)]), score.run.timeline)
    assert key["key"] == "i" and key["index"] == 2
    assert key["commit_ms"] == pytest.approx(1000 * kt.commit[2], abs=0.1) == pytest.approx(200.0, abs=0.1)
    assert key["display_ms"] == key["stable_ms"] == key["commit_ms"]


def test_display_before_commit_and_the_summary(score):
    press = score.replayer.session.key_times
    feed(score, [
        (0.0, {"type": "hypothesis", "text": "⇧H", "t": float(press[1]) + 0.1}),
        (0.0, {"type": "char", "key": "⇧", "t": float(press[1]) + 0.6}),
        (0.0, {"type": "char", "key": "H", "t": float(press[1]) + 0.6}),
    ])
    (key,) = score.update(float(press[1]) + 0.7).keys
    assert key["display_ms"] == pytest.approx(100.0, abs=0.1) and key["commit_ms"] == pytest.approx(600.0, abs=0.1)
    assert score.prompt(float(press[1])) == "Hi t" and score.prompt(score.replayer.t0) == ""
    assert not score.first_pass_done(float(press[1]))
    assert score.first_pass_done(float(score.replayer.session.time[-1]))
    ev = summary_event(score.summary(_Bundle(), "char-lm", {"dropped": 0}))
    assert ev["type"] == "summary" and ev["keys"] == len(score.run.reference) and ev["matched"] >= 1
    assert set(ev["display_ms"]) == {"p50", "p90", "p99"} and ev["cer"] > 0


def test_events_after_the_first_pass_are_not_scored(score):
    end = float(score.replayer.session.time[-1])
    score.ready()
    feed(score, [(0.0, {"type": "char", "key": "z", "t": end + 1.0})])
    assert score.run.keys == []


class _Bundle:
    """The manifest keys latency.report reads."""

    dir = "fake"
    manifest = {"signal": {"sample_rate": 2000.0}, "frontend": {"hop": 16},
                "stream": {"frames_per_step": 4, "lookahead_frames": 12}}


def test_matching_is_throttled_unless_forced(session_path, monkeypatch):
    clock = [100.0]
    score = ReplayScore(FakeReplayer(session_path))
    score._clock = lambda: clock[0]
    press = score.replayer.session.key_times
    feed(score, [(0.0, {"type": "char", "key": "⇧", "t": float(press[1]) + 0.2}),
                 (0.0, {"type": "char", "key": "H", "t": float(press[1]) + 0.2})])
    assert [k["key"] for k in score.update(float(press[1]) + 0.3).keys] == ["H"]
    feed(score, [(0.0, {"type": "char", "key": "i", "t": float(press[2]) + 0.2})])
    clock[0] += 0.01  # within MIN_INTERVAL_S of the last match
    assert score.update(float(press[2]) + 0.3).keys == []
    assert [k["key"] for k in score.update(float(press[2]) + 0.3, force=True).keys] == ["i"]
