"""Where a profiled training step's wall time goes, from a Chrome trace (``emgrt trace summary``).

Each profiled step (torch.profiler's ``ProfilerStep#N`` span, from one ``prof.step()`` to the
next) is cut into elementary time segments, and each segment goes to exactly one category, so a
step's fractions sum to 1:

- ``communication``: the step's thread runs a collective (``c10d::allreduce_``, ``nccl:*``,
  ``gloo:*``...), or it runs no operator while a collective is in progress on another thread of
  the process (waiting for gradients to arrive: the exposed part of DDP's all-reduce);
- ``dataloader`` / ``forward`` / ``backward`` / ``optimizer``: inside that phase's label
  (emgrt's ``record_function`` labels, or torch's own ``enumerate(DataLoader)#...``,
  ``DistributedDataParallel.forward``, ``Optimizer.step#...``);
- ``other``: an operator runs outside the labelled phases (metrics, logging, validation);
- ``idle``: nothing recorded on the step's thread (Python between phases, sleeping).

Collectives hidden behind computation are reported apart (``overlapped_communication_ms``).
The top operators are ranked by self time (own duration minus directly nested operators).
Without ``ProfilerStep`` spans the busiest thread's whole recorded span counts as one step.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from emgrt.trace.chrome import Span, load_trace

PHASES = ("dataloader", "forward", "backward", "optimizer")
CATEGORIES = (*PHASES, "communication", "other", "idle")

STEP_RE = re.compile(r"^ProfilerStep#\d+$")
_PHASE_NAMES = {
    "dataloader": ("dataloader", "enumerate(DataLoader)"),
    "forward": ("forward", "DistributedDataParallel.forward"),
    "backward": ("backward",),
    "optimizer": ("optimizer", "Optimizer.step#", "Optimizer.zero_grad#"),
}
# Collectives as torch records them: c10d::allreduce_ (dispatcher op), gloo:all_reduce /
# nccl:all_reduce (backend work), record_param_comms, ncclKernel_* / ncclDevKernel_* (GPU).
_COMM_RE = re.compile(
    r"c10d::|gloo:|nccl|record_param_comms|all_?reduce|all_?gather|reduce_?scatter|all_?to_?all", re.IGNORECASE
)
_ANNOTATION_CATS = {"user_annotation", "gpu_user_annotation", "python_function", "Trace", "trace"}


def phase_of(name: str) -> str | None:
    """The phase a label names (exact emgrt label, or a torch label's prefix), else None."""
    for phase, names in _PHASE_NAMES.items():
        if name == names[0] or any(name.startswith(n) for n in names[1:]):
            return phase
    return None


def is_comm(name: str) -> bool:
    return bool(_COMM_RE.search(name))


def is_operator(span: Span) -> bool:
    """A recorded operator (not a label, step marker or the profiler's own span)."""
    return not (span.cat in _ANNOTATION_CATS or STEP_RE.match(span.name) or phase_of(span.name))


@dataclass
class TraceSummary:
    path: str
    steps: list[dict]  # per step: name, ms, and ms per category
    ms: dict[str, float]  # per category, summed over steps
    total_ms: float
    overlapped_communication_ms: float
    top_ops: list[dict] = field(default_factory=list)
    note: str = ""

    @property
    def fractions(self) -> dict[str, float]:
        return {c: (self.ms[c] / self.total_ms if self.total_ms > 0 else 0.0) for c in CATEGORIES}

    @property
    def mean_step_ms(self) -> float:
        return self.total_ms / max(len(self.steps), 1)

    def to_dict(self) -> dict:
        return {
            "trace": self.path,
            "steps": len(self.steps),
            "mean_step_ms": self.mean_step_ms,
            "total_ms": self.total_ms,
            "fractions": self.fractions,
            "ms": dict(self.ms),
            "overlapped_communication_ms": self.overlapped_communication_ms,
            "per_step": self.steps,
            "top_ops": self.top_ops,
            "note": self.note,
        }


def _windows(spans: list[Span]) -> tuple[list[tuple[Span, str, str]], str]:
    """(step span, pid, step thread) per profiled step, in time order, and a note."""
    steps = sorted((s for s in spans if STEP_RE.match(s.name)), key=lambda s: s.ts)
    if steps:
        return [(s, s.pid, s.tid) for s in steps], ""
    count: dict[tuple[str, str], int] = defaultdict(int)
    for s in spans:
        if s.cat not in ("Trace", "trace"):
            count[(s.pid, s.tid)] += 1
    if not count:
        return [], "no events"
    pid, tid = max(count, key=count.__getitem__)
    own = [s for s in spans if (s.pid, s.tid) == (pid, tid)]
    start, end = min(s.ts for s in own), max(s.end for s in own)
    whole = Span("whole trace", "", start, end - start, pid, tid)
    return [(whole, pid, tid)], "no ProfilerStep#N spans: the busiest thread's whole span counts as one step"


def _attribute(step: Span, tid: str, spans: list[Span]) -> tuple[dict[str, float], float]:
    """Milliseconds of ``step`` per category, and collective time hidden behind other work."""
    a, b = step.ts, step.end
    edges: list[tuple[float, int, str]] = []
    for s in spans:
        if s is step or s.end <= a or s.ts >= b or s.cat in ("Trace", "trace"):
            continue
        main = s.tid == tid
        if is_comm(s.name):
            kind = "main_comm" if main else "bg_comm"
        elif not main:
            continue
        elif is_operator(s):
            kind = "op"
        else:
            phase = phase_of(s.name)
            if phase is None:
                continue
            kind = phase
        edges.append((max(s.ts, a), 1, kind))
        edges.append((min(s.end, b), -1, kind))
    edges.sort(key=lambda e: e[0])
    active: dict[str, int] = defaultdict(int)
    us = dict.fromkeys(CATEGORIES, 0.0)
    hidden = 0.0
    t = a
    for when, delta, kind in [*edges, (b, 0, "")]:
        if when > t:
            phase = next((p for p in ("dataloader", "optimizer", "backward", "forward") if active[p] > 0), None)
            if active["main_comm"] > 0:
                cat = "communication"
            elif active["op"] > 0:
                cat = phase or "other"
            elif active["bg_comm"] > 0:
                cat = "communication"
            else:
                cat = phase or "idle"
            us[cat] += when - t
            if active["bg_comm"] > 0 and cat != "communication":
                hidden += when - t
            t = when
        if kind:
            active[kind] += delta
    return {c: v / 1000.0 for c, v in us.items()}, hidden / 1000.0


def _self_times(spans: list[Span], windows: list[tuple[Span, str, str]]) -> dict[str, list[float]]:
    """Per operator name: [calls, self microseconds] over operators starting inside a step."""
    by_thread: dict[tuple[str, str], list[Span]] = defaultdict(list)
    for s in spans:
        if is_operator(s) and s.cat not in ("Trace", "trace"):
            by_thread[(s.pid, s.tid)].append(s)
    bounds = defaultdict(list)
    for step, pid, _ in windows:
        bounds[pid].append((step.ts, step.end))
    out: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for (pid, _), ops in by_thread.items():
        if pid not in bounds:
            continue
        ops.sort(key=lambda s: (s.ts, -s.dur))
        children = [0.0] * len(ops)
        stack: list[int] = []
        for i, s in enumerate(ops):
            while stack and ops[stack[-1]].end <= s.ts:
                stack.pop()
            if stack:
                children[stack[-1]] += s.dur
            stack.append(i)
        for s, child in zip(ops, children):
            if any(lo <= s.ts < hi for lo, hi in bounds[pid]):
                rec = out[s.name]
                rec[0] += 1
                rec[1] += max(s.dur - child, 0.0)
    return out


def summarize(path: str | Path, top: int = 10) -> TraceSummary:
    """Step-time attribution and top operators of the trace at ``path`` (TraceError if unreadable)."""
    spans = load_trace(path)
    windows, note = _windows(spans)
    by_pid: dict[str, list[Span]] = defaultdict(list)
    for s in spans:
        by_pid[s.pid].append(s)
    steps, totals, hidden_total = [], dict.fromkeys(CATEGORIES, 0.0), 0.0
    for step, pid, tid in windows:
        ms, hidden = _attribute(step, tid, by_pid[pid])
        steps.append({"name": step.name, "ms": step.dur / 1000.0, **{f"{c}_ms": v for c, v in ms.items()}})
        for c in CATEGORIES:
            totals[c] += ms[c]
        hidden_total += hidden
    total_ms = sum(totals.values())  # = the steps' durations, up to rounding of large timestamps
    ranked = sorted(_self_times(spans, windows).items(), key=lambda kv: -kv[1][1])[: max(top, 0)]
    top_ops = [
        {
            "name": name,
            "calls": int(calls),
            "self_ms": us / 1000.0,
            "fraction": (us / 1000.0) / total_ms if total_ms > 0 else 0.0,
        }
        for name, (calls, us) in ranked
    ]
    return TraceSummary(str(path), steps, totals, total_ms, hidden_total, top_ops, note)
