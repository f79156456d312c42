"""The replays emgrt opens for itself are discovered on this machine, by emgrt, only."""

from __future__ import annotations

import subprocess
import sys
import uuid

OUTLET = """
import sys, time
from emgrt.lsl import keep_local, pylsl_quiet
keep_local()
pylsl = pylsl_quiet()
outlet = pylsl.StreamOutlet(pylsl.StreamInfo(sys.argv[1], "EMG", 2, 2000, "float32", sys.argv[1]))
print("up", flush=True)
sys.stdin.read()
"""

RESOLVE = """
import sys
from emgrt.lsl import keep_local, pylsl_quiet
if sys.argv[2] == "local":
    keep_local()
print(len(pylsl_quiet().resolve_byprop("name", sys.argv[1], 1, 2.0)))
"""


def test_private_replay_streams_are_not_announced_to_default_lsl_resolvers():
    name = f"emgrt-private-{uuid.uuid4().hex[:8]}"
    outlet = subprocess.Popen([sys.executable, "-c", OUTLET, name], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert outlet.stdout.readline().strip() == "up"
        found = {
            mode: subprocess.run([sys.executable, "-c", RESOLVE, name, mode], capture_output=True, text=True, timeout=30)
            .stdout.strip()
            for mode in ("default", "local")
        }
    finally:
        outlet.communicate("", timeout=10)
    assert found == {"default": "0", "local": "1"}


def test_pylsl_is_used_only_inside_emgrt_lsl():
    """One LSL seam: every other module goes through emgrt.lsl (local_clock, list_streams, inlets, outlets)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "emgrt"
    offenders = [
        str(p.relative_to(root)) for p in root.rglob("*.py")
        if p.parent.name != "lsl" and re.search(r"^\s*(import pylsl|from pylsl)|pylsl_quiet\(\)", p.read_text(), re.M)
    ]
    assert offenders == []
