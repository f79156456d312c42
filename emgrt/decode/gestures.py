"""Streaming gesture decoding: per-frame class posteriors -> debounced gesture events.

The runtime side of the gestures task (:mod:`emgrt.tasks`): a framewise model gives one
distribution per output frame over the nine gestures and the no-gesture class (the last output,
the "blank" of the bundle's charset).  :class:`GestureDecoder` turns the frames into events
exactly as the task's metric detects them (:class:`emgrt.tasks.cler.GestureDetector`: a class's
probability rising to the threshold, then the release's 50 ms debounce), so any chunking of the
same log-probs gives the events of the whole recording at once, and those are the events
``emgrt eval`` scores.  Time inside the decoder is the output frame's index times ``frame_s``
(the model's output period): only differences of times matter to the debounce.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from emgrt.decode.events import Event, GestureEvent
from emgrt.errors import ConfigError, EmgrtError
from emgrt.tasks.cler import DEBOUNCE_S, THRESHOLD, GestureDetector


class GestureDecoder:
    """``push`` (frames, classes + 1) log-probs, get :class:`GestureEvent` s; ``flush`` has nothing
    to add (an event is final the frame it is detected); ``reset`` starts a new stream."""

    def __init__(
        self,
        labels: Sequence[str],
        blank: int,
        threshold: float = THRESHOLD,
        debounce_s: float = DEBOUNCE_S,
        frame_s: float = 0.032,
    ) -> None:
        if blank != len(labels) - 1:
            raise ConfigError(f"gesture decoder: the no-gesture class must be the last of the {len(labels)} labels, got {blank}")
        if not 0.0 < threshold < 1.0:
            raise ConfigError(f"gesture decoder: threshold must be in (0, 1), got {threshold}")
        if debounce_s < 0 or frame_s <= 0:
            raise ConfigError(f"gesture decoder: need debounce_s >= 0 and frame_s > 0, got {debounce_s} and {frame_s}")
        self.labels, self.blank = list(labels), int(blank)
        self.threshold, self.debounce_s, self.frame_s = float(threshold), float(debounce_s), float(frame_s)
        self.reset()

    def reset(self) -> None:
        self._detector = GestureDetector(self.blank, self.threshold, self.debounce_s)

    def push(self, log_probs: np.ndarray, first_frame: int) -> list[Event]:
        lp = np.asarray(log_probs, dtype=np.float32)
        if lp.ndim != 2 or lp.shape[1] != len(self.labels):
            raise EmgrtError(f"gesture decoder got log-probs of shape {lp.shape}; expected (frames, {len(self.labels)})")
        probs = np.exp(lp[:, : self.blank].astype(np.float64))
        frames = first_frame + np.arange(len(lp))
        events = []
        for ev in self._detector.push(probs, frames * self.frame_s):
            frame = int(round(ev.time / self.frame_s))
            events.append(GestureEvent(self.labels[ev.label], frame, float(probs[frame - first_frame, ev.label])))
        return events

    def flush(self) -> list[Event]:
        return []
