"""The discrete-gesture event metric: CLER, the classification error rate over detected events.

As the generic-neuromotor-interface release defines it (``shared/reference/neuromotor-facts.md``):

1. **Detect**: a class's probability crossing :data:`THRESHOLD` (0.35) from below is an event of
   that class at that frame's time (one event per run of frames above the threshold).
2. **Debounce** within :data:`DEBOUNCE_S` (50 ms): an event is dropped when a kept event lies
   less than 50 ms before it; a release (``*_release``) is debounced only against a release of
   the same kind, every other gesture only against the other non-release gestures (so a release
   following its press closely is never swallowed by it).
3. **Match**: prompts in time order each take the earliest still unmatched event in
   ``[prompt - 50 ms, prompt + 250 ms]`` (:data:`MATCH_BEFORE_S`, :data:`MATCH_AFTER_S`).
4. **CLER** = matched events whose class differs from their prompt's / matched events.  Prompts
   without an event (misses) and events without a prompt (false alarms) are counted separately
   and do not enter the CLER.

Everything here is numpy only, so the runtime can score a stream without torch; a stream detects
with :class:`GestureDetector` (the same detect and debounce, chunk by chunk, the same events).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from emgrt.io.gni import GESTURES
from emgrt.metrics import AdditiveCounts

THRESHOLD = 0.35
DEBOUNCE_S = 0.05
MATCH_BEFORE_S = 0.05
MATCH_AFTER_S = 0.25
RELEASES = frozenset(i for i, g in enumerate(GESTURES) if g.endswith("_release"))


@dataclass(frozen=True)
class Event:
    """One gesture event: class index (into GESTURES) and time (s)."""

    label: int
    time: float


def detect(
    probs: np.ndarray, times: np.ndarray, threshold: float = THRESHOLD, before: np.ndarray | None = None
) -> list[Event]:
    """Events where a class's probability rises to ``threshold`` or above.

    ``probs`` (T, C) per-frame class probabilities (the gesture classes only), ``times`` (T,)
    seconds.  ``before`` (C,) bool: which classes were above the threshold on the frame before
    the first (a stream's previous chunk); without it a class already above the threshold at
    the first frame starts an event there.  Events come sorted by time (then class)."""
    probs = np.asarray(probs, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if probs.ndim != 2 or len(times) != len(probs):
        raise ValueError(f"probs must be (T, C) with T = len(times), got {probs.shape} and {times.shape}")
    above = probs >= threshold
    first = np.zeros((1, probs.shape[1]), dtype=bool) if before is None else np.asarray(before, dtype=bool)[None, :]
    rising = above & ~np.vstack([first, above[:-1]])
    frames, labels = np.nonzero(rising)
    return [Event(int(c), float(times[f])) for f, c in zip(frames, labels)]


def debounce(events: Sequence[Event], window_s: float = DEBOUNCE_S, kept: list[Event] | None = None) -> list[Event]:
    """``events`` (time-sorted) without those less than ``window_s`` after a kept conflicting one.

    ``kept``: the events kept so far in a stream (earlier than these; appended to in place), so
    that chunk by chunk a stream keeps exactly what the whole recording at once would."""
    kept = [] if kept is None else kept
    start = len(kept)
    for ev in sorted(events, key=lambda e: (e.time, e.label)):
        release = ev.label in RELEASES

        def conflicts(k: Event) -> bool:
            return k.label == ev.label if release else k.label not in RELEASES

        if not any(ev.time - k.time < window_s and conflicts(k) for k in kept[-16:]):
            kept.append(ev)
    return kept[start:]


class GestureDetector:
    """Streaming detect + debounce: feed per-frame probabilities chunk by chunk, get the new
    events; the events of all chunks are those of :func:`debounce` (:func:`detect`) over the
    whole recording at once."""

    def __init__(self, num_classes: int, threshold: float = THRESHOLD, window_s: float = DEBOUNCE_S) -> None:
        self.threshold, self.window_s = threshold, window_s
        self.above = np.zeros(num_classes, dtype=bool)
        self.kept: list[Event] = []

    def push(self, probs: np.ndarray, times: np.ndarray) -> list[Event]:
        """The events that ``probs`` (T, C) at ``times`` (T,) s, after every earlier chunk, add."""
        probs = np.asarray(probs, dtype=np.float64)
        if len(probs) == 0:
            return []
        events = detect(probs, times, self.threshold, before=self.above)
        self.above = probs[-1] >= self.threshold
        new = debounce(events, self.window_s, kept=self.kept)
        del self.kept[:-16]  # debounce looks back at most 16 kept events
        return new


def match(prompts: Sequence[Event], detections: Sequence[Event]) -> list[tuple[Event, Event | None]]:
    """Each prompt (in time order) with the earliest still unmatched detection inside
    ``[prompt - 50 ms, prompt + 250 ms]``, or None (a miss)."""
    dets = sorted(detections, key=lambda e: (e.time, e.label))
    used = [False] * len(dets)
    pairs: list[tuple[Event, Event | None]] = []
    for p in sorted(prompts, key=lambda e: e.time):
        hit = next(
            (i for i, d in enumerate(dets) if not used[i] and p.time - MATCH_BEFORE_S <= d.time <= p.time + MATCH_AFTER_S),
            None,
        )
        if hit is not None:
            used[hit] = True
        pairs.append((p, None if hit is None else dets[hit]))
    return pairs


@dataclass
class ClerCounts(AdditiveCounts):
    """Corpus counts behind the CLER; add them up over items with ``+``."""

    matched: int = 0  # prompts with a detected event
    wrong: int = 0  # of those, events of another class
    missed: int = 0  # prompts without an event
    false_alarms: int = 0  # events without a prompt

    def update(self, prompts: Sequence[Event], detections: Sequence[Event]) -> ClerCounts:
        """Match ``detections`` (already debounced) to ``prompts`` and count."""
        return self.add_pairs(match(prompts, detections), len(detections))

    def add_pairs(self, pairs: Sequence[tuple[Event, Event | None]], detections: int) -> ClerCounts:
        """Count :func:`match`'s ``pairs`` of ``detections`` events."""
        matched = [(p, d) for p, d in pairs if d is not None]
        self.matched += len(matched)
        self.wrong += sum(d.label != p.label for p, d in matched)
        self.missed += len(pairs) - len(matched)
        self.false_alarms += detections - len(matched)
        return self

    @property
    def cler(self) -> float:
        """Wrong / matched, in [0, 1]; 0 when nothing was matched and nothing was prompted, 1 when
        prompts were all missed (no event, no right answer)."""
        if self.matched == 0:
            return 1.0 if self.missed else 0.0
        return self.wrong / self.matched

    @property
    def prompts(self) -> int:
        return self.matched + self.missed

    def to_dict(self) -> dict:
        d = asdict(self)
        d["cler"] = self.cler
        d["miss_rate"] = self.missed / self.prompts if self.prompts else 0.0
        return d


def cler(prompts: Sequence[Event], probs: np.ndarray, times: np.ndarray) -> ClerCounts:
    """Detect, debounce and match one recording's per-frame probabilities against its prompts."""
    return ClerCounts().update(prompts, debounce(detect(probs, times)))
