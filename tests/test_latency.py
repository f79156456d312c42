"""emgrt latency: replayed sessions give the report fields, 0 dropped samples, a plot."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emgrt.cli import main
from emgrt.io.session import SessionFile, write_session
from emgrt.stream import Engine
from emgrt.stream import latency as lat

from conftest import make_session_arrays

FIELDS = {
    "mode", "decoder", "provider", "sessions", "signal_s", "keys", "visible_keys", "matched", "display_ms",
    "stable_ms", "latency_ms", "revisions", "revision_rate", "never_shown", "algorithmic_ms",
    "components_ms", "hop_compute_ms", "hops", "real_time_factor", "streamed_cer", "offline_cer",
    "dropped_samples", "per_session",
}


@pytest.fixture
def sessions_dir(tmp_path):
    for i in range(2):
        write_session(tmp_path / f"s{i}.hdf5", **make_session_arrays(n=6000, seed=10 + i))
    return tmp_path


def test_simulated_replay_report(tiny_bundle, sessions_dir, tmp_path):
    engine = Engine(tiny_bundle)
    runs = []
    for path in lat.session_paths(sessions_dir):
        with SessionFile(path) as s:
            run = lat.replay_simulated(engine, s)
            run.offline_keys = lat.offline_keys(tiny_bundle, s, "greedy", {})
        runs.append(run)
        # Streamed greedy keys are the offline full-graph keys.
        assert run.keys == run.offline_keys
        assert np.all(np.diff(run.emit) >= 0) and all(e >= a for e, a in zip(run.emit, run.arrival))
    rep = lat.report(runs, tiny_bundle, "simulated", "greedy")
    assert FIELDS <= set(rep)
    assert rep["dropped_samples"] == 0 and rep["sessions"] == 2
    assert rep["streamed_cer"] == rep["offline_cer"]
    assert rep["hops"] == sum(len(r.hop_ms) for r in runs) > 0
    assert rep["real_time_factor"] > 0
    st = tiny_bundle.manifest["stream"]
    assert rep["algorithmic_ms"] == pytest.approx((st["frames_per_step"] + st["lookahead_frames"]) * 16 / 2.0)
    for s in rep["per_session"]:
        assert s["samples"]["received"] == s["samples"]["processed"] == 6000 and s["samples"]["dropped"] == 0
    out = lat.plot(runs, rep, tmp_path / "lat.png")
    assert out.stat().st_size > 1000


def test_recorded_timeline_gives_display_stable_and_commit_latencies():
    run = lat.SessionRun(name="x", duration_s=10, reference="abcd", key_times=np.array([1.0, 2.0, 3.0, 4.0]))
    events = [
        ({"type": "hypothesis", "text": "a", "t": 1.1}, 1.15), ({"type": "char", "key": "a", "t": 1.5}, 1.6),
        ({"type": "hypothesis", "text": "", "t": 1.5}, 1.6), ({"type": "char", "key": "x", "t": 2.1}, 2.2),
        ({"type": "status", "status": "reset", "t": 2.5}, 2.6), ({"type": "char", "key": "c", "t": 3.1}, 3.2),
        ({"type": "char", "key": "d", "t": 9.4}, 9.5),
    ]
    for ev, emit in events:
        lat.record_event(run, ev, emit, ev["t"])
    assert run.keys == list("axcd") and len(run.timeline) == 6
    rep = lat.report([run], _Bundle(), "simulated", "char-lm")
    assert rep["display_ms"]["p50"] == pytest.approx(175.0) and rep["display_ms"]["n"] == 2  # a 150, c 200 ms
    assert rep["latency_ms"]["n"] == 2  # 'd' is 5.5 s late: over max_match_s, not counted
    assert rep["components_ms"]["compute"]["p50"] == pytest.approx(100.0)
    # b is never shown; d is shown, but too late to count
    assert rep["matched"] == 2 and rep["never_shown"] == 0.25 and rep["revisions"] == 0
    run.max_match_s = 6.0
    assert lat.report([run], _Bundle(), "simulated", "char-lm")["latency_ms"]["n"] == 3


class _Bundle:
    dir = "b"
    manifest = {"signal": {"sample_rate": 2000}, "frontend": {"hop": 16}, "stream": {"frames_per_step": 4, "lookahead_frames": 2}}


@pytest.mark.parametrize("decoder", ["greedy", "char-lm"])
def test_cli_latency_json(tiny_bundle, sessions_dir, tmp_path, capsys, decoder):
    png = tmp_path / "p.png"
    args = ["latency", str(sessions_dir), "--bundle", str(tiny_bundle.dir), "--json", "--limit", "1", "--decoder", decoder]
    code = main(args + ["--plot", str(png)])
    out = capsys.readouterr().out
    assert code == 0
    rep = json.loads(out)
    assert FIELDS <= set(rep) and rep["dropped_samples"] == 0 and rep["sessions"] == 1 and png.exists()
    # The untrained tiny model types noise: the figures are there, consistent and never negative.
    assert rep["keys"] == 8 and rep["visible_keys"] == 6 and rep["matched"] == rep["display_ms"]["n"] <= 6
    for k in ("display_ms", "stable_ms", "latency_ms"):
        d = rep[k]
        assert (d["p50"] is None) == (d["n"] == 0) and (d["n"] == 0 or 0 <= d["p50"] <= d["p90"] <= d["p99"])
    assert rep["revision_rate"] == rep["revisions"] / 8 and 0 <= rep["never_shown"] <= 1


@pytest.mark.slow
def test_cli_latency_live_over_lsl(tiny_bundle, sessions_dir, capsys):
    path = sorted(sessions_dir.glob("*.hdf5"))[0]
    args = ["latency", str(path), "--bundle", str(tiny_bundle.dir), "--json", "--live", "--speed", "10"]
    code = main(args + ["--max-seconds", "2.5"])
    rep = json.loads(capsys.readouterr().out)
    assert code == 0 and rep["mode"] == "live" and rep["dropped_samples"] == 0
    assert rep["per_session"][0]["samples"]["received"] == 5000
    assert rep["streamed_cer"] == rep["offline_cer"]


def test_missing_session_path_is_a_clear_error(tiny_bundle, tmp_path, capsys):
    code = main(["latency", str(tmp_path / "nope.hdf5"), "--bundle", str(tiny_bundle.dir)])
    assert code == 2 and "no such session file" in capsys.readouterr().err


def test_split_picks_the_datasets_split_sessions(tmp_path):
    from test_data_fixtures import make_dataset

    data = make_dataset(tmp_path / "data", (9_000, 9_000, 9_000, 9_000))  # val: s0 s1, test: s2 s3
    assert [p.name for p in lat.session_paths(data, "test")] == ["s2.hdf5", "s3.hdf5"]
    assert len(lat.session_paths(data)) == 4
