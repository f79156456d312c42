"""What every streaming decoder shares: input checks, committed-key bookkeeping, pause finals.

A *pause* is ``pause_frames`` consecutive output frames whose best class is the
blank (default 16, about 0.5 s at the 31.25 Hz output rate of a 4x-subsampled
model); it ends the current segment with a :class:`FinalEvent`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from emgrt.decode.events import CharEvent, Event, FinalEvent, HypothesisEvent
from emgrt.errors import ConfigError, EmgrtError

DEFAULT_PAUSE_FRAMES = 16


@runtime_checkable
class StreamingDecoder(Protocol):
    """``push`` log-probs as they arrive, ``flush`` at end of stream, ``reset`` to start over."""

    def push(self, log_probs: np.ndarray, first_frame: int) -> list[Event]: ...

    def flush(self) -> list[Event]: ...

    def reset(self) -> None: ...


class DecoderBase:
    """Committed keys of the current segment, the last hypothesis sent, the blank run."""

    def __init__(self, labels: Sequence[str], blank: int, pause_frames: int = DEFAULT_PAUSE_FRAMES) -> None:
        if not 0 <= blank < len(labels):
            raise ConfigError(f"blank index {blank} is outside the {len(labels)} labels (use the bundle's charset)")
        if pause_frames < 1:
            raise ConfigError(f"pause_frames must be >= 1, got {pause_frames}")
        self.labels = list(labels)
        self.blank = int(blank)
        self.pause_frames = int(pause_frames)
        self.reset()

    def reset(self) -> None:
        self._segment: list[str] = []
        self._hypothesis = ""
        self._blank_run = 0
        self._last_frame = -1

    # -- helpers for subclasses --------------------------------------------------------------
    def _check(self, log_probs: np.ndarray) -> np.ndarray:
        lp = np.asarray(log_probs, dtype=np.float32)
        if lp.ndim != 2 or lp.shape[1] != len(self.labels):
            raise EmgrtError(
                f"decoder got log-probs of shape {lp.shape}; expected (frames, {len(self.labels)}) "
                "(one row per output frame, one column per label)"
            )
        return lp

    def _commit(self, key: str, frame: int) -> CharEvent:
        self._segment.append(key)
        return CharEvent(key=key, frame=int(frame))

    def _hypothesis_event(self, text: str, frame: int) -> list[Event]:
        if text == self._hypothesis:
            return []
        self._hypothesis = text
        return [HypothesisEvent(text=text, frame=int(frame))]

    def _pause_tick(self, is_blank: bool, frame: int) -> bool:
        """Count the blank run; True on the frame it reaches ``pause_frames``."""
        self._blank_run = self._blank_run + 1 if is_blank else 0
        self._last_frame = frame
        return self._blank_run == self.pause_frames

    def _replay(self, ops) -> list[Event]:
        """A native kernel's (label, frame) commits and (-1, frame) segment ends as events."""
        events: list[Event] = []
        for label, frame in ops:
            if label < 0:
                events += self._final(frame)
            else:
                events.append(self._commit(self.labels[label], frame))
        return events

    def _final(self, frame: int) -> list[Event]:
        """A FinalEvent for the segment (none if nothing was committed since the last one)."""
        if not self._segment:
            return []
        text, self._segment = "".join(self._segment), []
        return [FinalEvent(text=text, frame=int(frame))]
