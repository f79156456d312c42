"""A preallocated FIFO ring buffer over the first axis of a numpy array.

Writes and reads copy at most two slices (the part before and after the wrap);
nothing is allocated per chunk and nothing is shifted (no ``np.roll``).  Used for
the engine's sample queue (samples waiting for the next model step), its
timestamps, and the per-band queues that align two band streams.
"""

from __future__ import annotations

import numpy as np


class RingBuffer:
    """Fixed-capacity FIFO of items of shape ``item_shape``."""

    def __init__(self, capacity: int, item_shape: tuple[int, ...] = (), dtype=np.float32) -> None:
        if capacity < 1:
            raise ValueError(f"ring capacity must be >= 1, got {capacity}")
        self.data = np.zeros((capacity, *item_shape), dtype=dtype)
        self.capacity = capacity
        self._start = 0  # index of the oldest item
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def free(self) -> int:
        return self.capacity - self._size

    def clear(self) -> None:
        self._start = self._size = 0

    def write(self, items: np.ndarray) -> None:
        """Append ``items`` (n, *item_shape); raises OverflowError if they do not fit."""
        n = len(items)
        if n > self.free:
            raise OverflowError(f"ring buffer: {n} items do not fit in {self.free} free slots")
        end = (self._start + self._size) % self.capacity
        first = min(n, self.capacity - end)
        self.data[end : end + first] = items[:first]
        if first < n:
            self.data[: n - first] = items[first:]
        self._size += n

    def peek(self, n: int, out: np.ndarray) -> np.ndarray:
        """Copy the oldest ``n`` items into ``out[:n]`` without consuming them; returns ``out[:n]``."""
        if n > self._size:
            raise ValueError(f"ring buffer: asked for {n} items, {self._size} buffered")
        first = min(n, self.capacity - self._start)
        out[:first] = self.data[self._start : self._start + first]
        if first < n:
            out[first:n] = self.data[: n - first]
        return out[:n]

    def read(self, n: int, out: np.ndarray) -> np.ndarray:
        """Copy the oldest ``n`` items into ``out[:n]`` and consume them; returns ``out[:n]``."""
        self.peek(n, out)
        self.discard(n)
        return out[:n]

    def discard(self, n: int) -> None:
        """Drop the oldest ``n`` items."""
        n = min(n, self._size)
        self._start = (self._start + n) % self.capacity
        self._size -= n

    def last(self) -> np.ndarray:
        """A view of the newest item (the ring must not be empty)."""
        if not self._size:
            raise IndexError("ring buffer is empty")
        return self.data[(self._start + self._size - 1) % self.capacity]

    def first(self) -> np.ndarray:
        """A view of the oldest item (the ring must not be empty)."""
        if not self._size:
            raise IndexError("ring buffer is empty")
        return self.data[self._start]
