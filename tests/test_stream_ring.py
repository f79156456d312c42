"""RingBuffer: FIFO order across wraparound, capacity limits, views."""

from collections import deque

import numpy as np
import pytest

from emgrt.stream.ring import RingBuffer


def test_fifo_matches_a_deque_across_many_wraparounds():
    rng = np.random.default_rng(0)
    ring = RingBuffer(37, (3,), np.float32)
    ref: deque = deque()
    out = np.zeros((37, 3), np.float32)
    counter = 0
    for _ in range(2000):
        if rng.random() < 0.55 and ring.free:
            n = int(rng.integers(1, ring.free + 1))
            items = np.arange(counter, counter + n, dtype=np.float32)[:, None] * np.ones(3, np.float32)
            counter += n
            ring.write(items)
            ref.extend(items[:, 0].tolist())
        elif len(ring):
            n = int(rng.integers(1, len(ring) + 1))
            got = ring.read(n, out)
            want = [ref.popleft() for _ in range(n)]
            np.testing.assert_array_equal(got[:, 0], want)
            np.testing.assert_array_equal(got[:, 2], want)
        assert len(ring) == len(ref)
        if ref:
            assert ring.first()[0] == ref[0] and ring.last()[0] == ref[-1]
    assert counter > 37 * 20  # wrapped many times


def test_peek_does_not_consume_and_discard_does():
    ring = RingBuffer(4, (), np.float64)
    ring.write(np.array([1.0, 2.0, 3.0]))
    ring.discard(2)
    ring.write(np.array([4.0, 5.0, 6.0]))  # wraps
    out = np.zeros(4)
    np.testing.assert_array_equal(ring.peek(4, out), [3, 4, 5, 6])
    assert len(ring) == 4 and ring.free == 0
    ring.discard(3)
    np.testing.assert_array_equal(ring.read(1, out), [6])
    assert len(ring) == 0


def test_overflow_and_underflow_are_refused():
    ring = RingBuffer(3, (2,))
    ring.write(np.zeros((2, 2)))
    with pytest.raises(OverflowError):
        ring.write(np.zeros((2, 2)))
    assert len(ring) == 2  # nothing half-written
    with pytest.raises(ValueError):
        ring.read(3, np.zeros((3, 2)))
    with pytest.raises(ValueError):
        RingBuffer(0)


def test_storage_is_allocated_once():
    ring = RingBuffer(8, (2,))
    buf = ring.data
    for i in range(50):
        ring.write(np.full((3, 2), i, np.float32))
        ring.discard(3)
    assert ring.data is buf
