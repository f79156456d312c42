"""Per-process caches: an LRU bounded in bytes, and whole-session EMG decoding.

Raw EMG costs 128 bytes per sample (2 bands x 16 electrodes x float32):
15.4 MB per session-minute, so a 512 MB cache holds about 33 minutes.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

import numpy as np

from emgrt.constants import FIELD_LEFT, FIELD_RIGHT
from emgrt.errors import DataFileError
from emgrt.io.session import SessionFile

MB = 1 << 20


class LruCache:
    """Least-recently-used cache bounded by the total ``nbytes`` of its values.

    ``put(..., evict=False)`` only admits a value that fits in the free space:
    under uniformly shuffled access to more data than fits, an evicting LRU
    misses almost always (and a miss that loads a whole session costs far more
    than the window it serves), whereas filling once and keeping gives a hit
    rate of budget / total.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = int(max_bytes)
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self.nbytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def get(self, key: Hashable) -> Any | None:
        item = self._items.get(key)
        if item is None:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return item[0]

    def fits(self, nbytes: int, evict: bool = True) -> bool:
        """Whether ``put`` would store a value of ``nbytes``."""
        return nbytes <= (self.max_bytes if evict else self.max_bytes - self.nbytes)

    def put(self, key: Hashable, value: Any, nbytes: int, evict: bool = True) -> bool:
        """Store ``value``, evicting the least recently used values if ``evict``; False if not stored."""
        if key in self._items:
            self.nbytes -= self._items.pop(key)[1]
        if not self.fits(nbytes, evict):
            return False
        while self._items and self.nbytes + nbytes > self.max_bytes:
            self.nbytes -= self._items.popitem(last=False)[1][1]
        self._items[key] = (value, nbytes)
        self.nbytes += nbytes
        return True

    def clear(self) -> None:
        self._items.clear()
        self.nbytes = 0

    def stats(self) -> dict:
        return {"items": len(self), "mb": self.nbytes / MB, "hits": self.hits, "misses": self.misses}


def session_nbytes(sf: SessionFile) -> int:
    """Bytes of a session's decoded EMG: (T, 2, 16) float32."""
    return len(sf.time) * 2 * 16 * 4


def read_session_emg(sf: SessionFile) -> np.ndarray:
    """The whole session's EMG as one contiguous read-only (T, 2, 16) float32 array.

    One read of the compound dataset in its stored layout (no field conversion
    in HDF5), then two strided copies out of the rows.  Values are identical to
    :meth:`SessionFile.emg`.
    """
    rows = sf.read()
    out = np.empty((len(rows), 2, 16), dtype=np.float32)
    out[:, 0] = rows[FIELD_LEFT]
    out[:, 1] = rows[FIELD_RIGHT]
    del rows
    finite = np.isfinite(out).all(axis=(1, 2))
    if not finite.all():
        raise DataFileError(sf.path, f"EMG contains NaN/Inf (first at sample {int(np.flatnonzero(~finite)[0])})")
    out.flags.writeable = False
    return out
