"""Window geometry and the window index of a set of sessions (emg2qwerty's semantics).

A session of ``n`` samples gives ``(n - W) // stride + 1`` windows of ``W``
samples (none when ``n < W``); window ``i`` starts at ``offset = i * stride``.
Training jitters the start by ``r`` in ``[0, min(stride, leftover))`` where
``leftover = n - (offset + W)``.  The slice read is the window plus
``(past, future)`` context, clamped at both session edges::

    [max(offset - past, 0), min(offset + W + future, n))

so the first windows of a session are shorter.  The labels are the keystrokes
pressed inside the *unpadded* window: ``time[offset] <= t <= time[offset + W - 1]``.
``W = 0`` means the whole session: one window, ``offset = 0``, ``W = n``.

Prompt-aligned windows (``[data] windows = "prompts"``) instead take each prompt's own span as
the unpadded window (its start and length, from the source's ``prompt_windows``); padding,
clamping and the label span follow the same rules, with ``length`` passed explicitly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from emgrt.dsp.features import FrontEndConfig
from emgrt.data.sources import SessionSource


@dataclass(frozen=True)
class WindowGeometry:
    window_length: int  # samples; 0 = whole session
    stride: int | None = None  # samples; None = window_length
    pad_past: int = 0  # samples of left context
    pad_future: int = 0  # samples of right context

    def length(self, n_samples: int) -> int:
        """Unpadded window length W in a session of ``n_samples``."""
        return n_samples if self.window_length == 0 else self.window_length

    def step(self, n_samples: int) -> int:
        if self.window_length == 0:
            return max(n_samples, 1)
        return self.stride or self.window_length

    def offsets(self, n_samples: int) -> np.ndarray:
        """Nominal (un-jittered) window starts, int64."""
        w = self.length(n_samples)
        if n_samples < w or n_samples == 0:
            return np.zeros(0, dtype=np.int64)
        return np.arange((n_samples - w) // self.step(n_samples) + 1, dtype=np.int64) * self.step(n_samples)

    def jitter(self, offset: int, n_samples: int, rng: np.random.Generator) -> int:
        """Training start: offset + r, r uniform in [0, min(stride, leftover))."""
        leftover = n_samples - (offset + self.length(n_samples))
        if leftover <= 0:
            return int(offset)
        return int(offset) + int(rng.integers(0, min(self.step(n_samples), leftover)))

    def bounds(self, offset: int, n_samples: int, length: int | None = None) -> tuple[int, int]:
        """Padded slice [start, stop) of the window starting at ``offset`` (of ``length`` samples
        when given, else the geometry's)."""
        w = self.length(n_samples) if length is None else int(length)
        return max(int(offset) - self.pad_past, 0), min(int(offset) + w + self.pad_future, n_samples)

    def label_span(self, time: np.ndarray, offset: int, length: int | None = None) -> tuple[float, float]:
        """Press-time span (inclusive) of the unpadded window."""
        w = self.length(len(time)) if length is None else int(length)
        return float(time[offset]), float(time[offset + w - 1])


@dataclass(frozen=True)
class WindowIndex:
    """All windows of a dataset, one row each (parallel arrays)."""

    session: np.ndarray  # (N,) int64, index into the session list
    offset: np.ndarray  # (N,) int64, nominal window start (samples)
    n_labels: np.ndarray  # (N,) int64, labels after class filtering
    n_frames: np.ndarray  # (N,) int64, feature frames of the nominal padded window
    length: np.ndarray  # (N,) int64, unpadded window length (samples)

    def __len__(self) -> int:
        return len(self.offset)


def build_window_index(
    sessions: Sequence[SessionSource],
    geometry: WindowGeometry,
    labels_of: Callable[[np.ndarray], np.ndarray] = lambda lab: lab,
    keep: Callable[[int], bool] = lambda n: True,
    frontend: FrontEndConfig | None = None,
    prompts: bool = False,
) -> WindowIndex:
    """Index every window of ``sessions`` (fixed windows, or each prompt's span when
    ``prompts``); drop those whose filtered label count ``keep`` rejects.

    Label counts use the nominal window (training jitter moves it by less than a stride).
    """
    fe = frontend or FrontEndConfig()
    cols: dict[str, list[int]] = {"session": [], "offset": [], "n_labels": [], "n_frames": [], "length": []}
    for s, sf in enumerate(sessions):
        n = len(sf.time)
        if prompts:
            offsets, lengths = sf.prompt_windows()
        else:
            offsets = geometry.offsets(n)
            lengths = np.full(len(offsets), geometry.length(n), dtype=np.int64)
        for off, w in zip(offsets, lengths):
            t0, t1 = geometry.label_span(sf.time, int(off), int(w))
            n_lab = len(labels_of(sf.labels(t0, t1)[0]))
            if not keep(n_lab):
                continue
            start, stop = geometry.bounds(int(off), n, int(w))
            cols["session"].append(s)
            cols["offset"].append(int(off))
            cols["n_labels"].append(n_lab)
            cols["n_frames"].append(fe.num_frames(stop - start))
            cols["length"].append(int(w))
    return WindowIndex(**{k: np.asarray(v, dtype=np.int64) for k, v in cols.items()})
