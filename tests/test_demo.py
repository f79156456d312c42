"""`emgrt demo` without a terminal: a replayed session decoded live, ending in a summary."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from test_serve_live import synth_session  # noqa: F401  (fixture)

TIMEOUT = 120


@pytest.mark.slow
def test_demo_speed_20_without_tty_finishes_with_a_summary(tiny_bundle, synth_session):  # noqa: F811
    r = subprocess.run(
        [sys.executable, "-m", "emgrt", "demo", "--bundle", str(tiny_bundle.dir), "--session", str(synth_session),
         "--speed", "20"],
        capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "\x1b[" not in out  # plain lines, no terminal control codes
    assert re.search(r"^prompt: \S", out, re.M) and re.search(r"^typed:  \S", out, re.M)
    m = re.search(r"summary: (\d+) keys typed, (\d+) decoded, 30\.0 s of signal", out)
    assert m and int(m.group(1)) > 0 and int(m.group(2)) > 0, out
    assert re.search(r"^  CER \d+\.\d+%$", out, re.M)
    assert re.search(r"^  latency p50 (\d+ ms|-), p99 (\d+ ms|-) \(\d+ keys matched", out, re.M)
    m = re.search(r"real-time factor ([\d.]+) .*60000 samples processed, 0 dropped", out)
    assert m and float(m.group(1)) > 0, out


def test_demo_without_a_session_is_one_line(tiny_bundle):
    r = subprocess.run(
        [sys.executable, "-m", "emgrt", "demo", "--bundle", str(tiny_bundle.dir)],
        capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--session" in r.stderr


def test_default_bundle_is_found_from_any_folder(tmp_path, monkeypatch):
    """$EMGRT_BUNDLE first, then ./models/default, then the checkout the package runs from."""
    from pathlib import Path

    import emgrt
    from emgrt.cli.run import default_bundle, resolve_bundle
    from emgrt.errors import EmgrtError

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EMGRT_BUNDLE", raising=False)
    checkout = Path(emgrt.__file__).resolve().parent.parent / "models" / "default"
    assert default_bundle() == (checkout if checkout.is_dir() else None)
    (tmp_path / "models" / "default").mkdir(parents=True)
    assert default_bundle() == Path("models/default")
    monkeypatch.setenv("EMGRT_BUNDLE", str(tmp_path / "elsewhere"))
    assert default_bundle() == tmp_path / "elsewhere"
    with pytest.raises(EmgrtError, match="elsewhere"):
        resolve_bundle(None)  # a missing $EMGRT_BUNDLE folder is named in the error


@pytest.mark.slow
def test_demo_compare_decodes_the_same_replay_with_two_bundles(tiny_bundle, synth_session, tmp_path):  # noqa: F811
    import shutil

    other = tmp_path / "personal"
    shutil.copytree(tiny_bundle.dir, other)
    r = subprocess.run(
        [sys.executable, "-m", "emgrt", "demo", "--bundle", str(tiny_bundle.dir), "--session", str(synth_session),
         "--speed", "20", "--compare", str(other)],
        capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert re.search(r"^typed:  \[personal\] \S", out, re.M) and re.search(rf"^typed:  \[{tiny_bundle.dir.name}\] \S", out, re.M)
    # Both lanes got every sample of the one replay (the replay waits for both), so the same model
    # decodes the same text.
    assert len(re.findall(r"60000 samples processed, 0 dropped", out)) == 2, out
    cers = re.findall(r"^  CER (\d+\.\d+)%$", out, re.M)
    assert len(cers) == 2 and cers[0] == cers[1]
    table = out[out.index("compare (same replay)"):]
    assert "personal" in table and tiny_bundle.dir.name in table


def test_demo_compare_with_a_band_is_one_line(tiny_bundle):
    r = subprocess.run(
        [sys.executable, "-m", "emgrt", "demo", "--bundle", str(tiny_bundle.dir), "--stream", "X", "--compare"],
        capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--compare" in r.stderr


@pytest.mark.slow
def test_demo_task_gestures_replays_the_shipped_gestures_bundle(tmp_path):
    """`emgrt demo --task gestures` from any folder: the gestures bundle's own recording replayed,
    prompted and detected gestures shown, and a summary with CLER, misses and event latency."""
    r = subprocess.run(
        [sys.executable, "-m", "emgrt", "demo", "--task", "gestures", "--speed", "10"],
        capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL, cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert re.search(r"^prompt: (index|middle|thumb)_\w+$", out, re.M) and re.search(r"^gesture \w+ \(p 0\.\d\d\)", out, re.M)
    m = re.search(r"summary: (\d+) gestures prompted, (\d+) detected, 30\.0 s of signal", out)
    assert m and int(m.group(1)) > 0 and int(m.group(2)) > 0, out
    assert re.search(r"^  CLER \d+\.\d\d% \(\d+ of \d+ matched .*missed \d+ .*false alarms \d+$", out, re.M)
    assert re.search(r"gesture-to-event latency p50/p90/p99 \d+/\d+/\d+ ms", out)
    assert "60000 samples processed, 0 dropped" in out


def test_demo_of_a_recording_of_another_task_is_one_line(tmp_path):
    root = Path(__file__).resolve().parents[1] / "models"
    r = subprocess.run(
        [sys.executable, "-m", "emgrt", "demo", "--bundle", str(root / "default"), "--session",
         str(root / "default-gestures" / "demo-session.hdf5")],
        capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "is a gestures recording but" in r.stderr and "--task gestures" in r.stderr


def test_demo_task_handwriting_replays_the_shipped_handwriting_bundle(tmp_path):
    """`emgrt demo --task handwriting`: the prompt being written, the decoded text, and a summary
    with the CER of the prompts written through."""
    r = subprocess.run(
        [sys.executable, "-m", "emgrt", "demo", "--task", "handwriting", "--speed", "10"],
        capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL, cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert re.search(r"^prompt: \S", out, re.M), out
    m = re.search(r"summary: (\d+) prompts written through, (\d+) characters decoded, 30\.0 s of signal", out)
    assert m and int(m.group(1)) > 0 and int(m.group(2)) > 0, out
    assert re.search(r"^  CER \d+\.\d\d% over those prompts \(ins ", out, re.M)
    assert "60000 samples processed, 0 dropped" in out


def test_prompt_score_assigns_characters_to_the_prompt_being_written():
    """Characters count for the prompt whose span (its start to the next one's) holds their frame;
    the last prompt, not written through within the replay, is left out."""
    from types import SimpleNamespace

    from emgrt.stream.prompt_score import PromptScore

    starts = [10.0, 12.0, 15.0]
    rep = SimpleNamespace(t0=10.0, n_samples=2000 * 7, rate=2000.0, markers=["ab", "c←d", "ef"],
                          key_stamp=lambda i: starts[i])
    score = PromptScore(rep)
    for t, k in [(10.5, "a"), (11.0, "x"), (11.5, "b"), (12.5, "c"), (13.0, "←"), (14.0, "d"), (15.5, "e")]:
        score.record({"type": "char", "key": k, "frame_t": t}, 0.0)
    score.record({"type": "hypothesis", "text": "zz", "t": 11.0}, 0.0)
    assert score.prompt(9.0) == "" and score.prompt(12.5) == "c←d" and score.prompt(16.0) == "ef"
    s = score.summary()
    assert s["pairs"] == [("ab", "axb"), ("c←d", "c←d")]  # "ef" runs past the replay's end (17 s)
    assert s["prompts"] == 2 and s["insertions"] == 1 and s["reference_length"] == 5 and abs(s["cer"] - 20.0) < 1e-9
