"""Read a Chrome trace (JSON Object or JSON Array format, optionally gzipped) into spans.

Hand-written on the standard library: the format is plain JSON, and the maintained reader,
Perfetto's trace processor (the ``perfetto`` PyPI package), downloads a native binary at run
time, which fails offline.  Only what the summary needs is read: complete events (``ph`` "X",
``ts``/``dur`` in microseconds) and begin/end pairs (``ph`` "B"/"E", matched per thread).
"""

from __future__ import annotations

import gzip
import json
import zlib
from dataclasses import dataclass
from pathlib import Path

from emgrt.errors import EmgrtError


class TraceError(EmgrtError):
    """A trace file that cannot be read or holds no timed events."""


@dataclass(frozen=True)
class Span:
    """One timed event: ``[ts, ts + dur)`` microseconds on thread ``tid`` of process ``pid``."""

    name: str
    cat: str
    ts: float
    dur: float
    pid: str
    tid: str

    @property
    def end(self) -> float:
        return self.ts + self.dur


def _read_json(path: Path) -> object:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise TraceError(f"{path}: no such file (give the .json a --profile run wrote under RUN_DIR/trace/)") from None
    except OSError as exc:
        raise TraceError(f"{path}: cannot read ({exc.strerror})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise TraceError(f"{path}: broken gzip data ({exc}); re-export the trace") from None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TraceError(
            f"{path}: not a Chrome trace JSON file ({exc.__class__.__name__}: {exc}); "
            "give the file torch.profiler's export_chrome_trace wrote"
        ) from None


def load_trace(path: str | Path) -> list[Span]:
    """The timed spans of a Chrome trace file (``.json`` or ``.json.gz``); TraceError if the file
    is unreadable, not a trace, or holds no timed events."""
    path = Path(path)
    doc = _read_json(path)
    events = doc.get("traceEvents") if isinstance(doc, dict) else doc
    if not isinstance(events, list):
        raise TraceError(f"{path}: JSON without a traceEvents list, so not a Chrome trace")
    spans: list[Span] = []
    open_: dict[tuple[str, str], list[dict]] = {}
    for ev in events:
        if not isinstance(ev, dict):
            continue
        ph = ev.get("ph")
        if ph not in ("X", "B", "E"):
            continue
        ts = ev.get("ts")
        if not isinstance(ts, (int, float)):
            continue
        key = (str(ev.get("pid", "")), str(ev.get("tid", "")))
        if ph == "X":
            dur = ev.get("dur")
            if isinstance(dur, (int, float)) and dur >= 0:
                spans.append(Span(str(ev.get("name", "")), str(ev.get("cat", "")), float(ts), float(dur), *key))
        elif ph == "B":
            open_.setdefault(key, []).append(ev)
        elif open_.get(key):
            begin = open_[key].pop()
            if ts >= begin["ts"]:
                spans.append(
                    Span(str(begin.get("name", "")), str(begin.get("cat", "")), float(begin["ts"]),
                         float(ts - begin["ts"]), *key)
                )
    if not spans:
        raise TraceError(f"{path}: a trace without timed events (no 'X' or 'B'/'E' events with ts/dur)")
    return spans
