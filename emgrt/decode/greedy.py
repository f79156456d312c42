"""Streaming greedy CTC: best class per frame, repeats collapsed, blanks dropped.

Every key is committed on the frame it first wins (greedy has no tentative
text), and the previous frame's label is carried across pushes, so any
chunking of the same log-probs gives the same keys as decoding them at once.
On the native core (``emgrt/decode/greedy.cpp``, when :data:`emgrt.native.ACTIVE`)
the same loop runs in C++ with identical events; this module is the reference.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from emgrt import native
from emgrt.decode.base import DEFAULT_PAUSE_FRAMES, DecoderBase
from emgrt.decode.events import Event


def greedy_labels(log_probs: np.ndarray, blank: int) -> list[int]:
    """Offline greedy CTC of one (T, C) array: the label sequence."""
    best = np.asarray(log_probs).argmax(axis=1)
    if best.size == 0:
        return []
    keep = best != blank
    keep[1:] &= best[1:] != best[:-1]
    return best[keep].tolist()


class GreedyDecoder(DecoderBase):
    def __init__(self, labels: Sequence[str], blank: int, pause_frames: int = DEFAULT_PAUSE_FRAMES) -> None:
        self._kernel = native.kernels.GreedySearch(int(blank), int(pause_frames)) if native.ACTIVE else None
        super().__init__(labels, blank, pause_frames)

    def reset(self) -> None:
        super().reset()
        self._prev = -1
        if self._kernel is not None:
            self._kernel.reset()

    def push(self, log_probs: np.ndarray, first_frame: int) -> list[Event]:
        lp = self._check(log_probs)
        if self._kernel is not None:
            events = self._replay(self._kernel.push(np.ascontiguousarray(lp), int(first_frame)))
            self._blank_run, self._last_frame = self._kernel.blank_run, self._kernel.last_frame
            return events
        best = lp.argmax(axis=1)
        events: list[Event] = []
        for i, b in enumerate(best.tolist()):
            frame = first_frame + i
            if b != self.blank and b != self._prev:
                events.append(self._commit(self.labels[b], frame))
            self._prev = b
            if self._pause_tick(b == self.blank, frame):
                events += self._final(frame)
        return events

    def flush(self) -> list[Event]:
        events = self._final(self._last_frame)
        self._prev = -1
        if self._kernel is not None:
            self._kernel.end()
        return events
