"""emgrt run / bench stream from the command line (tiny bundle, LSL loopback)."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

from emgrt.cli import main
from emgrt.lsl import pylsl_quiet
from emgrt.lsl.outlet import SessionReplayer


def unique() -> str:
    return f"emgrt-cli-{uuid.uuid4().hex[:10]}"


def _lines(stream, q: queue.Queue) -> None:
    """Forward a pipe's lines to q, then None at EOF (the only reader of that pipe)."""
    for line in stream:
        q.put(line)
    q.put(None)


def _rest(q: queue.Queue, timeout: float) -> list[str]:
    """The lines still coming on q until its EOF marker."""
    out, end = [], time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            line = q.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            return out
        out.append(line)
    raise AssertionError(f"no EOF within {timeout} s")


@pytest.mark.slow
def test_run_json_prints_events_until_ctrl_c(tiny_bundle, session_path):
    name = unique()
    rep = SessionReplayer(session_path, name, speed=4, loop=True).start()
    proc = subprocess.Popen(
        [sys.executable, "-m", "emgrt", "run", "--bundle", str(tiny_bundle.dir), "--stream", name, "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    q: queue.Queue = queue.Queue()
    errq: queue.Queue = queue.Queue()
    # One reader thread per pipe and no communicate(): communicate() would read and close stdout
    # under the thread that reads it (a CI run failed on exactly that race).
    threading.Thread(target=_lines, args=(proc.stdout, q), daemon=True).start()
    threading.Thread(target=_lines, args=(proc.stderr, errq), daemon=True).start()
    events, line = [], ""
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end and not any(e["type"] == "char" for e in events):
            try:
                line = q.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                break
            events.append(json.loads(line))
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        if line is not None:
            _rest(q, 30)
        err = "".join(_rest(errq, 30))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
        rep.stop()
    assert proc.returncode == 0, err
    assert events[0] == {"type": "status", "status": "connected", "streams": [name], "t": None}
    assert any(e["type"] == "char" for e in events)
    assert "onnxruntime provider" in err and "stopped" in err and "Traceback" not in err


def test_run_wrong_channel_count_is_one_line_error(tiny_bundle, capsys):
    pylsl = pylsl_quiet()
    name = unique()
    outlet = pylsl.StreamOutlet(pylsl.StreamInfo(name, "EMG", 8, 2000, "float32", name))
    code = main(["run", "--bundle", str(tiny_bundle.dir), "--stream", name, "--resolve-timeout", "5"])
    err = capsys.readouterr().err
    del outlet
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.startswith("emgrt run: error")]
    assert len(lines) == 1 and "has 8 channels but the bundle expects 32" in lines[0]


def test_run_without_stream_times_out(tiny_bundle, capsys):
    code = main(["run", "--bundle", str(tiny_bundle.dir), "--stream", unique(), "--resolve-timeout", "0.2"])
    assert code == 2 and "found within 0.2 s" in capsys.readouterr().err


def test_bench_stream_json_fields(tiny_bundle, capsys):
    code = main([
        "bench", "stream", "--bundle", str(tiny_bundle.dir), "--json", "--repeats", "20", "--rounds", "3",
        "--max-streams", "2", "--minutes", "0.05",
    ])
    assert code == 0
    r = json.loads(capsys.readouterr().out)
    assert r["step_vs_full"]["speedup"] > 0 and r["step_vs_full"]["full_window_frames"] > 0
    assert set(r["pipeline"]["parts_us_p50"]) == {"clock", "ring", "frontend", "step", "decoder"}
    assert 0 < r["pipeline"]["ring_frontend_share"] < 1
    greedy = r["streams"]["greedy"]  # batched (the recognizer's own), unbatched, batched on numpy
    assert set(greedy) == {"batched", "unbatched", "batched_numpy"}
    assert 0 <= greedy["batched"]["streams"] <= 2 and greedy["batched"]["batched"]
    assert greedy["unbatched"].get("batched") is False or "skipped" in greedy["unbatched"]
    assert "beam-lm" in r["streams"]
    assert r["memory"]["dropped"] == 0 and r["memory"]["decoder"] == "greedy"
    if "skipped" in r["streams"]["beam-lm"]:
        assert "memory_lm" not in r
    else:  # the LM decoder's memory over the same stream
        assert r["memory_lm"]["decoder"] == "beam-lm" and r["memory_lm"]["dropped"] == 0
    ff = r["flop_floor"]  # the step against its own matmuls on one BLAS thread
    assert ff["floor_us"] > 0 and ff["step_over_floor"] == pytest.approx(ff["step_us"] / ff["floor_us"], rel=0.02)
    assert 0.5 * ff["model_flops_per_hop"] < ff["matmul_flops"] <= ff["model_flops_per_hop"]
    assert r["bundle_digest"] == tiny_bundle.digest
    from emgrt import native

    assert r["kernels"] == native.describe()  # the path the engine runs on, named
    for key in ("frontend", "clock"):  # the front end and the sample clock on both paths side by side
        fe = r[key]
        assert fe["numpy_us"]["p50"] > 0 and ("skipped" in fe["native_us"]) == (not native.AVAILABLE)
        assert not native.AVAILABLE or (fe["identical"] and fe["native_us"]["p50"] > 0)


def test_decoder_option_overrides_and_drops_bundle_tuning(tmp_path):
    from types import SimpleNamespace

    from emgrt.errors import ConfigError
    from emgrt.stream.decoders import decoder_options, parse_decoder_options

    from emgrt.manifest import Decoder, DecoderTuning

    tuning = DecoderTuning(beam_size=50, commit_depth=4, commit_prob=0.99)
    bundle = SimpleNamespace(dir=tmp_path, spec=SimpleNamespace(decoder=Decoder(char_lm="c.arpa", options={"char-lm": tuning})))
    over = parse_decoder_options(["commit_depth=off", "hypothesis_hold=1.5", "beam_size = 8"])
    opts = decoder_options(bundle, "char-lm", {"lm_weight": None, **over})
    assert opts == {"beam_size": 8, "commit_prob": 0.99, "hypothesis_hold": 1.5, "lm": str(tmp_path / "c.arpa")}
    for bad in ("commit_depth", "nope=1", "commit_prob=high"):
        with pytest.raises(ConfigError, match="--decoder-option"):
            parse_decoder_options([bad])


def test_imu_options_that_cannot_apply_are_one_line_errors(tiny_bundle, capsys):
    """--imu names a fused bundle's live IMU stream: with an EMG-only bundle, with a replay, or
    with several served bands it is refused in one line, before anything connects."""
    cases = [
        (["run", "--bundle", str(tiny_bundle.dir), "--stream", unique(), "--imu", "x"], "emgrt run", "drop --imu"),
        (["demo", "--bundle", str(tiny_bundle.dir), "--imu", "x", "--plain"], "emgrt demo", "with --stream"),
        (["serve", "--bundle", str(tiny_bundle.dir), "--stream", "a", "--stream", "b", "--imu", "x"], "emgrt serve",
         "drop --imu"),
    ]
    for argv, prog, fix in cases:
        code = main(argv)
        lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith(f"{prog}: error")]
        assert code == 2 and len(lines) == 1 and fix in lines[0], (argv, lines)
