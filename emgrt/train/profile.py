"""``--profile``: a torch.profiler capture of a few training steps, written as a Chrome trace
(RUN_DIR/trace/*.json; opens in https://ui.perfetto.dev, summarised by ``emgrt trace summary``).

The trainer labels each step's phases with ``record_function`` ("dataloader", "forward" (model
and loss), "backward" (zero-grad and backward), "optimizer" (clipping, step, schedule)); collectives (DDP's
gradient all-reduce, gloo or nccl) show under their own names.  The schedule skips ``wait``
steps (the first one pays for loader start-up), records ``warmup`` steps unsaved (profiler
start-up), then ``active`` steps, exports the trace and stops: the rest of the run is
unprofiled.  Every rank profiles (the same overhead everywhere, so collectives wait as in an
unprofiled run); only the writing rank exports.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile, record_function, schedule

TRACE_DIR = "trace"
PHASES = ("dataloader", "forward", "backward", "optimizer")


class StepProfiler:
    """Profiles ``active`` steps after ``wait`` + ``warmup``; a no-op when ``active`` is 0.

    Use :meth:`phase` around a step's parts and call :meth:`step` after each step; :meth:`close`
    at the end (exports a partial capture if the run ended during the active steps)."""

    def __init__(
        self,
        out_dir: str | Path | None,
        active: int = 0,
        *,
        wait: int = 1,
        warmup: int = 1,
        name: str = "train",
        start_step: int = 0,
        write: bool = True,
        log: Callable[[str], None] = print,
    ) -> None:
        self.active, self.wait, self.warmup = max(int(active), 0), wait, warmup
        self.trace_dir = Path(out_dir) / TRACE_DIR if out_dir is not None else None
        self.name, self.write, self._log = name, write and self.trace_dir is not None, log
        self.trace_path: Path | None = None
        self.steps = 0  # steps ended since the profiler started
        self.start_step = start_step  # the run's step count then (trace names use run steps)
        self._prof: profile | None = None
        if self.active:
            activities = [ProfilerActivity.CPU]
            if torch.cuda.is_available():
                activities.append(ProfilerActivity.CUDA)
            self._prof = profile(
                activities=activities,
                schedule=schedule(wait=wait, warmup=warmup, active=self.active, repeat=1),
                on_trace_ready=self._export,
            )
            self._prof.start()

    @property
    def running(self) -> bool:
        return self._prof is not None

    def phase(self, name: str) -> contextlib.AbstractContextManager:
        """A ``record_function`` label while profiling, else nothing."""
        return record_function(name) if self._prof is not None else contextlib.nullcontext()

    def step(self) -> None:
        """Mark the end of a training step; stops once the active steps are exported."""
        if self._prof is None:
            return
        self.steps += 1
        self._prof.step()
        if self.steps >= self.wait + self.warmup + self.active:
            self.close()

    def close(self) -> None:
        if self._prof is None:
            return
        prof, self._prof = self._prof, None
        prof.stop()
        if self.trace_path is None and self.write:
            self._log(
                f"profile: no trace written; the run ended after {self.steps} steps, before recorded step "
                f"{self.wait + self.warmup + 1} ended (the profile skips {self.wait} step and warms up "
                f"{self.warmup}; run more steps)"
            )

    def _export(self, prof: profile) -> None:
        first = self.start_step + self.wait + self.warmup + 1
        last = self.start_step + min(self.steps, self.wait + self.warmup + self.active)
        if not self.write or self.trace_dir is None or last < first:  # no recorded step ended
            return
        self.trace_dir.mkdir(parents=True, exist_ok=True)
        path = self.trace_dir / f"{self.name}-steps{first}-{last}.json"
        tmp = path.with_suffix(".tmp.json")
        prof.export_chrome_trace(str(tmp))
        tmp.replace(path)
        self.trace_path = path
        self._log(
            f"profile: trace of steps {first}-{last} written to {path} "
            f"(open it in https://ui.perfetto.dev; summary: emgrt trace summary {path})"
        )
