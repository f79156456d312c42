"""Write one emg2qwerty session file while it is being recorded, so that a kill loses at most a second.

:class:`SessionRecorder` takes samples (unix-time stamps, 32 channels), keystrokes and
prompts as they come and writes the layout :func:`emgrt.io.session.write_session` writes
(group ``emg2qwerty``: compound dataset ``timeseries``, attributes ``session_name``, ``user``,
``condition``, ``duration_mins``, ``keystrokes``, ``prompts``), plus two of its own:
``gaps`` (JSON list of ``{"start", "end", "missing", "reason"}``: where the stamps say samples
never arrived; nothing is filled in) and ``recording`` (JSON: how it was recorded, counters).
Samples are buffered in memory and written every :data:`FLUSH_INTERVAL_S` by
:meth:`maybe_flush` (or :meth:`flush`); the dataset is chunked and resizable.

A process killed at any moment (SIGKILL, power cut excepted: nothing is fsync'ed) leaves a file
that :class:`~emgrt.io.session.SessionFile` opens, holding everything up to the last flush.
What makes that so (each point was needed in kill tests, hundreds of them at random moments
while writing; tests/test_record.py keeps a few):

- HDF5 reuses freed file space before the next flush, and an attribute rewrite frees the old
  value, whose place the last flushed metadata still points to: a kill before the next flush
  then leaves a garbled or missing attribute.  So the file is created with
  ``fs_strategy="none"`` (freed space is never reused) and the JSON attributes are stored as
  fixed-capacity byte strings (NUL-padded; readers see the JSON) that each flush rewrites *in
  place*; only when a value outgrows its capacity is it recreated, with twice the room.
- Fixed-size attributes over 64 KiB need HDF5's dense attribute storage, so the file uses the
  1.8 object format (``libver=("v108", ...)``), readable by h5py and emg2qwerty's reader.
- A flush writes the samples and flushes the file first, then the attributes: a keystroke
  is written only once samples up to its press time are on disk, so the file never holds a
  key after its last sample (SessionFile refuses keys over 1 s outside the recording).  A
  kill inside a flush leaves that flush's samples with the previous flush's labels.

Not SWMR: HDF5's single-writer/multiple-reader mode marks the file "open for writing" in its
superblock until a clean close, and h5py (so SessionFile and emg2qwerty's reader) then refuse
to open a file whose writer was killed until ``h5clear -s`` is run on it.  The flip side: while recording, HDF5's file lock keeps other
processes from opening the file.

:meth:`close` rewrites the JSON attributes as ordinary variable-length strings, exactly as
``write_session`` stores them.  Stamps must not go back: samples stamped before the last
written one are not written (counted in ``rejected``); NaN/Inf values are stored as 0 (counted
in ``nonfinite_values``).  Keystrokes pressed more than 1 s before the first or after the last
sample cannot go in ``keystrokes`` (SessionFile would refuse the file); at close they are kept
in the attribute ``keystrokes_outside`` and counted.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from emgrt.charset import BACKSPACE, ENTER, emg2qwerty_charset
from emgrt.constants import (
    CHANNELS_PER_BAND,
    CONDITION_KEYBOARD,
    FIELD_LEFT,
    FIELD_RIGHT,
    FIELD_TIME,
    HDF5_GROUP,
    N_CHANNELS,
    SAMPLE_RATE_HZ,
    TIMESERIES,
)
from emgrt.errors import DataFileError
from emgrt.io.session import KEYSTROKE_TOLERANCE_S, TIMESERIES_DTYPE

FLUSH_INTERVAL_S = 1.0  # samples and labels reach the file at least this often
CHUNK_ROWS = 4000  # HDF5 chunk: 2 s at 2 kHz, 544 KB
GAP_PERIODS = 1.5  # a stamp step over this many sample periods is a gap
MIN_CAPACITY = 4096  # bytes first reserved for a JSON attribute
LIBVER = ("v108", "latest")
# Inside the recording by this much less than SessionFile's tolerance, so rounding never matters.
_KEY_MARGIN_S = KEYSTROKE_TOLERANCE_S * 0.99

_MARKER_CHARS = {"\n": ENTER, "\r": ENTER, "\b": BACKSPACE, "\x7f": BACKSPACE}


def pynput_key(marker: str) -> str:
    """The pynput name emg2qwerty stores for a keystroke marker: vocabulary characters as
    ``emgrt replay`` sends them ("a", "⌫", "⏎", " ", "⇧") and control characters ("\\n", "\\b",
    DEL) become "a", "Key.backspace", "Key.enter", "Key.space", "Key.shift"; a pynput name
    ("Key.space", "Key.tab") and any other string are kept as they are (the charset decides
    later what is in the vocabulary)."""
    cs = emg2qwerty_charset()
    if marker in cs.keys:
        return marker
    if len(marker) == 1:
        i = cs.chars.find(_MARKER_CHARS.get(marker, marker))
        if i >= 0:
            return cs.keys[i]
    return marker


class SessionRecorder:
    """``SessionRecorder(path).open()``, then :meth:`append` / :meth:`append_key` /
    :meth:`append_prompt` / :meth:`maybe_flush` as data comes, then :meth:`close`.

    Times are unix seconds.  ``info`` (a JSON-able dict: streams, clock offset, ...) goes into
    the ``recording`` attribute beside the counters.  ``force`` overwrites an existing file.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        session_name: str | None = None,
        user: str = "unknown",
        condition: str = CONDITION_KEYBOARD,
        rate: float = SAMPLE_RATE_HZ,
        force: bool = False,
        info: dict | None = None,
        flush_interval: float = FLUSH_INTERVAL_S,
        chunk_rows: int = CHUNK_ROWS,
    ) -> None:
        self.path = Path(path)
        self.session_name = session_name or self.path.stem
        self.user, self.condition = user, condition
        self.rate = float(rate)
        self.force = force
        self.info = dict(info or {})
        self.flush_interval = float(flush_interval)
        self.chunk_rows = int(chunk_rows)
        self._file: h5py.File | None = None
        self._group: h5py.Group | None = None
        self._ts: h5py.Dataset | None = None
        self._capacity: dict[str, int] = {}
        self._rows: list[np.ndarray] = []  # buffered sample rows, written at the next flush
        self._buffered = 0
        self._first_t: float | None = None  # first sample written or buffered
        self._last_t: float | None = None  # last sample written or buffered
        self._flushed_last_t: float | None = None  # last sample on disk
        self._keys_pending: list[tuple[float, int, dict]] = []  # (start, arrival, entry), sorted
        self._key_seq = 0
        self._keys_json: list[str] = []  # committed keystrokes, one JSON text each
        self._keys_outside: list[dict] = []
        self.prompts: list[dict] = []
        self.gaps: list[dict] = []
        self._lost_at: float | None = None  # stream_lost() called and no sample since
        self._last_flush = time.monotonic()
        self.closed = False
        self.counters = {
            "samples_received": 0,  # handed to append()
            "samples_written": 0,  # on disk
            "rejected": 0,  # not written: stamp not finite or before the last written one
            "nonfinite_values": 0,  # NaN/Inf values stored as 0
            "keys_received": 0,
            "keys_written": 0,  # in the keystrokes attribute
            "keys_outside": 0,  # pressed outside the recording's time span (keystrokes_outside)
            "prompts": 0,
            "gaps": 0,
            "missing_samples": 0,  # summed over gaps (estimated from the nominal rate)
            "dropouts": 0,  # stream_lost() calls
            "flushes": 0,
        }

    # -- lifetime --------------------------------------------------------------------------------
    def open(self) -> "SessionRecorder":
        """Create the file (refusing an existing one unless ``force``); DataFileError if it cannot."""
        path = self.path
        if path.is_dir():
            raise DataFileError(path, "is a folder", "give a file name ending in .hdf5")
        if path.exists() and not self.force:
            raise DataFileError(path, "already exists", "pass --force to overwrite it, or pick another name")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataFileError(path, f"cannot create its folder ({exc.strerror})", "record into a writable folder") from None
        try:
            flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if self.force else os.O_EXCL)
            os.close(os.open(path, flags, 0o666))  # a plain errno for the message, before HDF5 tries
        except FileExistsError:
            raise DataFileError(path, "already exists", "pass --force to overwrite it, or pick another name") from None
        except OSError as exc:
            raise DataFileError(path, f"cannot create the file ({exc.strerror})", "record into a writable folder") from None
        try:
            f = h5py.File(path, "w", libver=LIBVER, fs_strategy="none")
        except OSError as exc:
            raise DataFileError(path, f"cannot create the HDF5 file ({exc})", "record into a writable folder") from None
        self._file = f
        g = self._group = f.create_group(HDF5_GROUP)
        self._ts = g.create_dataset(
            TIMESERIES, shape=(0,), maxshape=(None,), dtype=TIMESERIES_DTYPE, chunks=(self.chunk_rows,)
        )
        g.attrs["session_name"] = self.session_name
        g.attrs["user"] = self.user
        g.attrs["condition"] = self.condition
        g.attrs["duration_mins"] = 0.0
        self._write_attrs()
        f.flush()
        self._last_flush = time.monotonic()
        return self

    def close(self) -> dict:
        """Write what is buffered, settle the keystrokes, store the JSON attributes as
        ``write_session`` does and close the file; returns :meth:`stats`."""
        if self.closed or self._file is None:
            return self.stats()
        if self._lost_at is not None:
            self.gaps.append({
                "start": self._last_t, "end": None, "missing": None,
                "reason": "stream lost; it had not come back when the recording stopped",
            })
            self.counters["gaps"] += 1
            self._lost_at = None
        self.flush(final=True)
        g = self._group
        assert g is not None
        for name, text in self._json_texts().items():
            g.attrs[name] = text  # variable-length strings, as write_session stores them
        self._file.close()
        self._file = None
        self.closed = True
        return self.stats()

    def __enter__(self) -> "SessionRecorder":
        return self.open() if self._file is None else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- data ------------------------------------------------------------------------------------
    def append(self, t: np.ndarray, emg: np.ndarray) -> int:
        """Buffer samples: ``t`` (n,) unix seconds, ``emg`` (n, 32) or (n, 2, 16), left band
        first.  Returns how many were accepted (the rest are counted in ``rejected``)."""
        t = np.asarray(t, dtype=np.float64).reshape(-1)
        x = np.asarray(emg).reshape(len(t), N_CHANNELS) if len(t) else np.zeros((0, N_CHANNELS), np.float32)
        n = len(t)
        self.counters["samples_received"] += n
        if n == 0:
            return 0
        prev = -np.inf if self._last_t is None else self._last_t
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(t)
            # A sample must not be stamped before any sample stored before it.
            run = np.maximum.accumulate(np.where(finite, t, -np.inf))
            before = np.concatenate([[prev], run[:-1]])
            keep = finite & (t >= np.maximum(before, prev))
        if not keep.all():
            self.counters["rejected"] += int(n - np.count_nonzero(keep))
            t, x = t[keep], x[keep]
            n = len(t)
            if n == 0:
                return 0
        self._note_gaps(t)
        rows = np.empty(n, dtype=TIMESERIES_DTYPE)
        rows[FIELD_TIME] = t
        rows[FIELD_LEFT] = x[:, :CHANNELS_PER_BAND]
        rows[FIELD_RIGHT] = x[:, CHANNELS_PER_BAND:]
        for field in (FIELD_LEFT, FIELD_RIGHT):
            bad = ~np.isfinite(rows[field])
            if bad.any():
                self.counters["nonfinite_values"] += int(np.count_nonzero(bad))
                rows[field][bad] = 0.0
        self._rows.append(rows)
        self._buffered += n
        if self._first_t is None:
            self._first_t = float(t[0])
        self._last_t = float(t[-1])
        return n

    def _note_gaps(self, t: np.ndarray) -> None:
        """Record the steps in ``t`` (and from the last stored sample to ``t[0]``) that are gaps."""
        limit = GAP_PERIODS / self.rate
        stamps = t if self._last_t is None else np.concatenate([[self._last_t], t])
        steps = np.diff(stamps)
        for i in np.flatnonzero(steps > limit).tolist():
            start, end = float(stamps[i]), float(stamps[i + 1])
            missing = max(1, int(round((end - start) * self.rate)) - 1)
            lost = self._lost_at is not None and i == 0 and self._last_t is not None
            self.gaps.append({
                "start": start, "end": end, "missing": missing,
                "reason": "stream lost and reconnected" if lost else "missing in the stamps",
            })
            self.counters["gaps"] += 1
            self.counters["missing_samples"] += missing
        self._lost_at = None

    def stream_lost(self, t: float | None = None) -> None:
        """The source went away (at about unix time ``t``): the next gap in the stamps is recorded
        as that dropout; if no sample comes back, :meth:`close` records it as open-ended."""
        self.counters["dropouts"] += 1
        self._lost_at = time.time() if t is None else float(t)

    def append_key(self, key: str, start: float, end: float | None = None) -> None:
        """One keystroke (a pynput name, see :func:`pynput_key`), pressed at ``start`` unix
        seconds; ``end`` (release) defaults to ``start``.  Written once samples reach ``start``."""
        start = float(start)
        entry = {"key": str(key), "start": start, "end": start if end is None else float(end)}
        self.counters["keys_received"] += 1
        self._key_seq += 1
        bisect.insort(self._keys_pending, (start, self._key_seq, entry), key=lambda k: (k[0], k[1]))

    def append_prompt(self, text: str | None, start: float, end: float, name: str = "text_prompt") -> None:
        """One prompt shown from ``start`` to ``end`` (unix seconds); ``text`` None stores a null payload."""
        self.prompts.append({
            "name": name, "start": float(start), "end": float(end),
            "payload": None if text is None else {"text": str(text)},
        })
        self.counters["prompts"] += 1

    # -- writing ---------------------------------------------------------------------------------
    def maybe_flush(self) -> bool:
        """:meth:`flush` if the last one is :attr:`flush_interval` old; True if it flushed."""
        if time.monotonic() - self._last_flush < self.flush_interval:
            return False
        self.flush()
        return True

    def flush(self, final: bool = False) -> None:
        """Samples to disk, then the labels that fit them (``final``: every keystroke settled)."""
        f, ts = self._file, self._ts
        if f is None or ts is None:
            raise DataFileError(self.path, "recorder is not open")
        if self._rows:
            rows = np.concatenate(self._rows) if len(self._rows) > 1 else self._rows[0]
            n = ts.shape[0]
            ts.resize((n + len(rows),))
            ts[n:] = rows
            self._rows, self._buffered = [], 0
            self.counters["samples_written"] = n + len(rows)
            self._flushed_last_t = self._last_t
            f.flush()  # the samples are on disk before any label that refers to them
        self._settle_keys(final)
        if self._first_t is not None and self._flushed_last_t is not None:
            self._group.attrs.modify("duration_mins", (self._flushed_last_t - self._first_t) / 60.0)
        self.counters["flushes"] += 1
        self._write_attrs()
        f.flush()
        self._last_flush = time.monotonic()

    def _settle_keys(self, final: bool) -> None:
        """Move pending keystrokes whose press time the samples on disk now cover into the
        written list (all of them at the end; those outside the recording aside)."""
        if self._first_t is None or self._flushed_last_t is None:
            if final:  # no samples at all: nothing can be aligned
                self._keys_outside += [e for _, _, e in self._keys_pending]
                self._keys_pending = []
            self._count_keys()
            return
        lo = self._first_t - _KEY_MARGIN_S
        hi = self._flushed_last_t + (_KEY_MARGIN_S if final else 0.0)
        done = 0
        for start, _, entry in self._keys_pending:
            if start > hi:
                break
            if start < lo:
                self._keys_outside.append(entry)
            else:
                self._keys_json.append(json.dumps(entry))
            done += 1
        self._keys_pending = self._keys_pending[done:]
        if final:
            self._keys_outside += [e for _, _, e in self._keys_pending]
            self._keys_pending = []
        self._count_keys()

    def _count_keys(self) -> None:
        self.counters["keys_written"] = len(self._keys_json)
        self.counters["keys_outside"] = len(self._keys_outside)

    def _json_texts(self) -> dict[str, str]:
        texts = {
            "keystrokes": "[" + ", ".join(self._keys_json) + "]",
            "prompts": json.dumps(self.prompts),
            "gaps": json.dumps(self.gaps),
            "recording": json.dumps({**self.info, "counters": self.stats()}),
        }
        if self._keys_outside:
            texts["keystrokes_outside"] = json.dumps(self._keys_outside)
        return texts

    def _write_attrs(self) -> None:
        """The JSON attributes, each rewritten in place within its reserved capacity (see the
        module doc); recreated with twice the room when it has outgrown it."""
        g = self._group
        assert g is not None
        for name, text in self._json_texts().items():
            data = text.encode("utf-8")  # json.dumps escapes non-ASCII: one byte per character
            cap = self._capacity.get(name, 0)
            if len(data) > cap:
                cap = max(MIN_CAPACITY, 2 * len(data))
                self._capacity[name] = cap
                g.attrs.create(name, np.array(data, dtype=f"S{cap}"))
            else:
                g.attrs.modify(name, np.array(data, dtype=f"S{cap}"))

    # -- state -----------------------------------------------------------------------------------
    @property
    def samples(self) -> int:
        """Samples accepted so far (written or buffered)."""
        return self.counters["samples_written"] + self._buffered

    @property
    def seconds(self) -> float:
        """Seconds of signal accepted so far, at the nominal rate."""
        return self.samples / self.rate

    def stats(self) -> dict[str, Any]:
        """Counters: ``samples_received == samples_written + buffered + rejected`` at all times;
        ``keys_received == keys_written + keys_pending + keys_outside``."""
        c = dict(self.counters)
        c["buffered"] = self._buffered
        c["keys_pending"] = len(self._keys_pending)
        c["seconds"] = round(self.samples / self.rate, 4)
        if self._first_t is not None and self._last_t is not None and not math.isclose(self._first_t, self._last_t):
            c["span_s"] = round(self._last_t - self._first_t, 4)
        return c
