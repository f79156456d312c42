"""What a person sees: per-keystroke display, stable and commit times from the event timeline.

The one definition ``emgrt latency`` (simulated and ``--live``) and ``emgrt demo`` use.  Inputs are
the reference keystrokes (the session's key string and press stamps) and the engine's ``char`` and
``hypothesis`` events with the time each was emitted (on the keystrokes' clock).

- **Displayed text** at a moment: the committed keys typed onto the screen (:func:`apply_keys`:
  ⌫ erases, ⏎ is a newline, ⇧ shows nothing) followed by the current hypothesis shown the same
  way -- what the demo's terminal and the web page render.  Events of one engine step (same
  trigger stamp ``t``) change the screen together, at the last one's emission.
- **Reference screen** at a moment: the keystrokes pressed so far typed onto a screen the same
  way; each of its characters belongs to the keystroke that typed it.  ⌫ and ⇧ keystrokes put no
  character on it, so they have no display time; a character later erased by a reference ⌫ is a
  target only while it is on the reference screen.
- A keystroke is **shown** at a moment when an edit-distance alignment (rapidfuzz Levenshtein
  opcodes) of the displayed text against the reference screen pairs one of its displayed
  characters, unchanged, with the keystroke's character.  Aligning against the keys pressed *so
  far* (not the whole session) means a character can only ever be credited to a keystroke that
  has happened, and ties go to the earliest such keystroke: no latency is negative.  The
  alignment is evaluated at every display change and at every key press (a character shown just
  before its press counts as shown at the press: latency 0).
- **display** time: the first moment the keystroke is shown; **stable** time: the start of the
  last stretch in which it is shown, if that stretch lasts while it is on the reference screen
  (to the end for a character never erased); **commit** time: the display time computed from the
  committed text alone.
- **revisions**: displayed characters changed or removed from one displayed text to the next
  (replace + delete operations of their edit-distance alignment), summed over the timeline.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz.distance import Levenshtein

from emgrt.charset import BACKSPACE, SHIFT
from emgrt.decode.events import apply_keys

Snapshot = tuple[float, str, Sequence[int]]  # (time, displayed text, owner id of each character)


def type_key(chars: list[str], owners: list[int], key: str, owner: int) -> None:
    """Type ``key`` onto a screen held as ``chars`` with each character's ``owners`` (in place),
    as :func:`apply_keys` does."""
    if key == BACKSPACE:
        if chars:
            chars.pop()
            owners.pop()
    elif key != SHIFT:
        shown = apply_keys("", key)
        chars.append(shown)
        owners.append(owner)


def snapshots(events: Iterable[tuple[float, dict]]) -> tuple[list[Snapshot], list[Snapshot]]:
    """(displayed, committed) snapshots of a timeline of ``(emission time, event)`` pairs.

    Characters of the committed snapshots are owned by the index of the char event that typed
    them (the index into the run's emitted keys); displayed snapshots carry no owners.  A snapshot
    is taken after each group of consecutive events with the same trigger stamp ``t``."""
    displayed: list[Snapshot] = []
    committed: list[Snapshot] = []
    chars: list[str] = []
    owners: list[int] = []
    hyp = ""
    n_chars = 0
    group: object = object()
    pending: float | None = None

    def snap(when: float) -> None:
        text = "".join(chars)
        if not committed or committed[-1][1] != text:
            committed.append((when, text, list(owners)))
        if not displayed or displayed[-1][1] != text + hyp:
            displayed.append((when, text + hyp, ()))

    for when, ev in events:
        if ev["type"] not in ("char", "hypothesis"):
            continue
        if pending is not None and ev.get("t") != group:
            snap(pending)
        group, pending = ev.get("t"), when
        if ev["type"] == "char":
            type_key(chars, owners, ev["key"], n_chars)
            n_chars += 1
        else:
            hyp = apply_keys("", ev["text"])
    if pending is not None:
        snap(pending)
    return displayed, committed


@dataclass
class Shown:
    """Per reference keystroke: when it was first and stably shown (NaN: never), and the owner of
    the displayed character at its first showing (-1: never shown)."""

    first: np.ndarray
    stable: np.ndarray
    owner: np.ndarray
    target: np.ndarray  # bool: the keystroke put a character on the reference screen


def shown_times(reference: str, key_times: np.ndarray, snaps: Sequence[Snapshot]) -> Shown:
    """When each keystroke of ``reference`` (pressed at ``key_times``; NaN: untimed, on the screen
    from the start) is shown correctly by the displayed texts ``snaps`` (sorted by time)."""
    k = len(reference)
    press = np.where(np.isfinite(key_times), key_times, -np.inf).astype(np.float64)
    first, run_start = np.full(k, np.nan), np.full(k, np.nan)
    owner, target = np.full(k, -1, dtype=np.int64), np.zeros(k, dtype=bool)
    showing = np.zeros(k, dtype=bool)
    times = np.unique(np.concatenate([press[np.isfinite(press)], [s[0] for s in snaps]]))
    if len(press) and not np.isfinite(press).all():
        times = np.concatenate([[-np.inf], times])
    ref_chars: list[str] = []
    ref_ids: list[int] = []
    text, owners = "", ()
    p = si = 0
    for now in times:
        while p < k and press[p] <= now:
            before = len(ref_chars)
            type_key(ref_chars, ref_ids, reference[p], p)
            target[p] = len(ref_chars) > before
            p += 1
        while si < len(snaps) and snaps[si][0] <= now:
            _, text, owners = snaps[si]
            si += 1
        ids = np.asarray(ref_ids, dtype=np.int64)
        ok = np.zeros(k, dtype=bool)
        m = len(ids)
        # Different last characters: rapidfuzz strips a common suffix first, which would credit the
        # newest keystroke; without it ties go to the earliest keystroke.
        for op in Levenshtein.opcodes(text + "\0", "".join(ref_chars) + "\1"):
            if op.tag == "equal" and op.dest_start < m:
                keys = ids[op.dest_start : min(op.dest_end, m)]
                ok[keys] = True
                if len(owners):
                    src = np.asarray(owners[op.src_start : op.src_start + len(keys)])
                    new = np.isnan(first[keys])
                    owner[keys[new]] = src[new]
        on = np.zeros(k, dtype=bool)
        on[ids] = True
        first[ok & np.isnan(first)] = now
        run_start[on & ok & ~showing] = now
        showing[on] = ok[on]
    stable = np.where(showing, run_start, np.nan)
    return Shown(first=first, stable=stable, owner=owner, target=target)


def revisions(snaps: Sequence[Snapshot]) -> int:
    """Displayed characters changed or removed from each displayed text to the next."""
    return sum(
        sum(1 for op in Levenshtein.editops(a[1], b[1]) if op.tag != "insert") for a, b in zip(snaps, snaps[1:])
    )


@dataclass
class KeyTimes:
    """The display figures of one timeline: per keystroke latencies in s (NaN: none) and counts."""

    display: np.ndarray
    stable: np.ndarray
    commit: np.ndarray
    commit_event: np.ndarray  # index of the char event whose character first showed the key committed
    target: np.ndarray  # bool: the keystroke puts a character on the screen (not ⌫/⇧)
    timed: np.ndarray  # bool: the keystroke has a press stamp
    revisions: int

    @property
    def never_shown(self) -> int:
        """Timed target keystrokes never shown correctly."""
        return int(np.sum(self.target & self.timed & np.isnan(self.display)))


def key_times(reference: str, presses: np.ndarray, events: Iterable[tuple[float, dict]]) -> KeyTimes:
    """The display, stable and commit latencies of ``reference``'s keystrokes (pressed at
    ``presses``) from the timeline ``events`` of ``(emission time, char/hypothesis event)``."""
    presses = np.asarray(presses, dtype=np.float64)
    displayed, committed = snapshots(events)
    shown = shown_times(reference, presses, displayed)
    done = shown_times(reference, presses, committed)
    return KeyTimes(
        display=shown.first - presses,
        stable=shown.stable - presses,
        commit=done.first - presses,
        commit_event=done.owner,
        target=shown.target,
        timed=np.isfinite(presses),
        revisions=revisions(displayed),
    )
