"""`emgrt trace summary`: exact attribution on a hand-made trace, gzip, bad files (torch-free)."""

import gzip
import json

import pytest

from emgrt.cli import main
from emgrt.errors import EmgrtError
from emgrt.trace import CATEGORIES, TraceError, load_trace, summarize


def X(name, ts, dur, tid=1, cat="cpu_op", pid=7):
    return {"ph": "X", "name": name, "cat": cat, "ts": ts, "dur": dur, "pid": pid, "tid": tid}


def label(name, ts, dur, tid=1):
    return X(name, ts, dur, tid, cat="user_annotation")


def one_step(t0: float) -> list[dict]:
    """A 1000 us step whose attribution is known by construction (see EXPECTED_US)."""
    return [
        label("ProfilerStep#3", t0, 1000),
        label("dataloader", t0 + 0, 100),  # no operator: waiting for a batch
        label("forward", t0 + 100, 300),
        X("aten::addmm", t0 + 120, 260),  # self 260 - 70
        X("aten::relu", t0 + 150, 70),  # nested in addmm
        label("backward", t0 + 400, 300),
        X("autograd::engine::evaluate_function: AddmmBackward0", t0 + 400, 200),
        # 600-690: the step thread waits while gloo reduces gradients on another thread
        label("gloo:all_reduce", t0 + 550, 140, tid=2),  # 550-600 hidden behind backward ops
        label("optimizer", t0 + 700, 100),
        X("aten::_foreach_add_", t0 + 700, 100),
        X("aten::argmax", t0 + 800, 50),  # metrics, outside the phases
        X("c10d::allreduce_", t0 + 850, 50),  # the loss all-reduce on the step thread
        # 900-1000: nothing recorded
    ]


EXPECTED_US = {
    "dataloader": 100,
    "forward": 300,
    "backward": 200 + 10,  # ops 400-600, label-only 690-700
    "optimizer": 100,
    "communication": 90 + 50,  # exposed gloo wait 600-690, c10d op 850-900
    "other": 50,
    "idle": 100,
}


def write_trace(path, events, gz: bool = False) -> str:
    data = json.dumps({"traceEvents": events, "displayTimeUnit": "ms"}).encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return str(path)


def test_hand_made_trace_gives_the_known_fractions(tmp_path):
    noise = [X("aten::empty", 5000, 10), {"ph": "M", "name": "process_name", "pid": 7, "args": {}}]
    path = write_trace(tmp_path / "t.json", one_step(0) + one_step(2000) + noise)
    s = summarize(path, top=3)
    assert len(s.steps) == 2 and s.total_ms == pytest.approx(2.0)
    assert set(s.fractions) == set(CATEGORIES)
    for c, us in EXPECTED_US.items():
        assert s.fractions[c] == pytest.approx(us / 1000, abs=1e-12), c
        assert s.steps[1][f"{c}_ms"] == pytest.approx(us / 1000, abs=1e-12), c
    assert sum(s.fractions.values()) == pytest.approx(1.0, abs=1e-12)
    assert s.overlapped_communication_ms == pytest.approx(2 * 0.05)
    # self time: addmm minus its nested relu; the op outside every step (aten::empty) is not counted
    top = {op["name"]: op for op in s.top_ops}
    assert [op["name"] for op in s.top_ops] == [
        "autograd::engine::evaluate_function: AddmmBackward0",
        "aten::addmm",
        "aten::_foreach_add_",
    ]
    assert top["aten::addmm"]["self_ms"] == pytest.approx(2 * 0.19) and top["aten::addmm"]["calls"] == 2
    assert top["aten::addmm"]["fraction"] == pytest.approx(0.19)


def test_begin_end_pairs_gzip_and_array_form(tmp_path):
    events = [
        {"ph": "B", "name": "ProfilerStep#1", "ts": 0, "pid": 1, "tid": 1, "cat": "user_annotation"},
        {"ph": "B", "name": "forward", "ts": 0, "pid": 1, "tid": 1, "cat": "user_annotation"},
        {"ph": "E", "ts": 40, "pid": 1, "tid": 1},
        {"ph": "E", "ts": 100, "pid": 1, "tid": 1},
    ]
    path = tmp_path / "t.json.gz"
    path.write_bytes(gzip.compress(json.dumps(events).encode()))  # JSON Array format, gzipped
    s = summarize(path)
    assert s.fractions["forward"] == pytest.approx(0.4) and s.fractions["idle"] == pytest.approx(0.6)


def test_without_step_markers_the_busiest_thread_is_one_step(tmp_path):
    path = write_trace(tmp_path / "t.json", [X("aten::mm", 0, 30), X("aten::mm", 50, 50), X("aten::add", 0, 5, tid=9)])
    s = summarize(path)
    assert len(s.steps) == 1 and s.total_ms == pytest.approx(0.1) and "ProfilerStep" in s.note
    assert s.fractions["other"] == pytest.approx(0.8) and s.fractions["idle"] == pytest.approx(0.2)


@pytest.mark.parametrize(
    "content, problem",
    [
        (None, "no such file"),
        (b"not json at all", "not a Chrome trace JSON"),
        (b"\x1f\x8b\x08\x00broken", "broken gzip"),
        (b'{"hello": 1}', "without a traceEvents list"),
        (b'{"traceEvents": [{"ph": "M", "name": "x"}]}', "without timed events"),
    ],
)
def test_bad_trace_files_give_one_line_errors(tmp_path, capsys, content, problem):
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(TraceError, match=problem):
        load_trace(path)
    assert issubclass(TraceError, EmgrtError)
    assert main(["trace", "summary", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert problem in err and len(err.splitlines()) == 1


def test_cli_table_and_json(tmp_path, capsys):
    path = write_trace(tmp_path / "t.json", one_step(0))
    assert main(["trace", "summary", path, "--json", "--top", "2"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["steps"] == 1 and len(doc["top_ops"]) == 2
    assert doc["fractions"]["communication"] == pytest.approx(0.14)
    assert main(["trace", "summary", path]) == 0
    out = capsys.readouterr().out
    assert "communication" in out and "14.0%" in out and "aten::addmm" in out


def test_the_summary_never_imports_torch(tmp_path):
    import subprocess
    import sys

    path = write_trace(tmp_path / "t.json", one_step(0))
    code = (
        "import sys; from emgrt.cli import main; rc = main(['trace', 'summary', sys.argv[1], '--json']); "
        "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)"
    )
    r = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
