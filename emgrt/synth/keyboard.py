"""QWERTY geometry: key positions, the touch-typing finger map and typo neighbours.

Positions are in key widths.  ``x`` runs left to right with the usual row
stagger; ``y`` is the row (0 = number row, 1 = top, 2 = home, 3 = bottom,
4 = space bar).  For the physiology a key is described relative to the home
key of the finger that presses it: ``dy`` > 0 reaches towards the bottom row
(more flexion), ``dy`` < 0 towards the number row (extension); ``dx`` > 0
reaches towards the little-finger side of that hand (ulnar), ``dx`` < 0 towards
the thumb (radial), so the two hands are described alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

LEFT, RIGHT = 0, 1
HANDS = ("left", "right")
THUMB, INDEX, MIDDLE, RING, PINKY = range(5)
FINGERS = ("thumb", "index", "middle", "ring", "pinky")

SPACE, ENTER, BACKSPACE, SHIFT = "Key.space", "Key.enter", "Key.backspace", "Key.shift"

# (row, x of the first key, unshifted keys, shifted keys)
_ROWS = (
    (0, 0.0, "`1234567890-=", "~!@#$%^&*()_+"),
    (1, 1.5, "qwertyuiop[]\\", "QWERTYUIOP{}|"),
    (2, 1.75, "asdfghjkl;'", 'ASDFGHJKL:"'),
    (3, 2.25, "zxcvbnm,./", "ZXCVBNM<>?"),
)

# Touch-typing assignment of the unshifted characters.
_FINGER_OF: dict[str, tuple[int, int]] = {}
for _hand, _finger, _keys in (
    (LEFT, PINKY, "qaz1`"),
    (LEFT, RING, "wsx2"),
    (LEFT, MIDDLE, "edc3"),
    (LEFT, INDEX, "rtfgvb45"),
    (RIGHT, INDEX, "yuhjnm67"),
    (RIGHT, MIDDLE, "ik,8"),
    (RIGHT, RING, "ol.9"),
    (RIGHT, PINKY, "p;/'[]-=0\\"),
):
    for _k in _keys:
        _FINGER_OF[_k] = (_hand, _finger)

_HOME = {
    (LEFT, PINKY): "a", (LEFT, RING): "s", (LEFT, MIDDLE): "d", (LEFT, INDEX): "f",
    (RIGHT, INDEX): "j", (RIGHT, MIDDLE): "k", (RIGHT, RING): "l", (RIGHT, PINKY): ";",
}


@dataclass(frozen=True)
class KeyPlace:
    """Where a keystroke happens: which finger, and the reach from its home key."""

    hand: int  # LEFT / RIGHT
    finger: int  # THUMB .. PINKY
    dx: float  # + towards the little-finger side, key widths
    dy: float  # + towards the bottom row, rows


@lru_cache(maxsize=1)
def _positions() -> dict[str, tuple[float, float]]:
    """Centre (x, y) of every printable character's key, shifted characters included."""
    pos: dict[str, tuple[float, float]] = {}
    for row, x0, plain, shifted in _ROWS:
        for i, (a, b) in enumerate(zip(plain, shifted)):
            pos[a] = pos[b] = (x0 + i, float(row))
    return pos


def base_char(ch: str) -> str:
    """The unshifted character on the same key ("A" -> "a", "?" -> "/")."""
    for _, _, plain, shifted in _ROWS:
        i = shifted.find(ch)
        if i >= 0:
            return plain[i]
    return ch


def needs_shift(ch: str) -> bool:
    """True for characters typed with shift (capitals and the upper symbols)."""
    return len(ch) == 1 and base_char(ch) != ch


def pynput_name(ch: str) -> str:
    """The pynput key string emg2qwerty records for a typed character."""
    return {" ": SPACE, "\n": ENTER, "\b": BACKSPACE}.get(ch, ch)


def _reach(hand: int, finger: int, x: float, y: float) -> KeyPlace:
    hx, hy = _positions()[_HOME[(hand, finger)]]
    dx = (x - hx) if hand == RIGHT else (hx - x)
    return KeyPlace(hand, finger, dx, y - hy)


def place_of(ch: str) -> KeyPlace:
    """Finger and reach for a character (or "\\n" enter, "\\b" backspace; not space/shift)."""
    if ch == "\n":  # enter: right pinky, far to the little-finger side on the home row
        return KeyPlace(RIGHT, PINKY, 2.0, 0.0)
    if ch == "\b":  # backspace: right pinky, up two rows and far out
        return KeyPlace(RIGHT, PINKY, 3.2, -2.0)
    b = base_char(ch)
    if b not in _FINGER_OF:
        raise ValueError(f"no key for character {ch!r}")
    hand, finger = _FINGER_OF[b]
    x, y = _positions()[b]
    return _reach(hand, finger, x, y)


def space_place(hand: int) -> KeyPlace:
    """Space bar pressed by one thumb."""
    return KeyPlace(hand, THUMB, 0.0, 0.0)


def shift_place(hand: int) -> KeyPlace:
    """A shift key pressed by the little finger of ``hand`` (one row down, one key out)."""
    return KeyPlace(hand, PINKY, 1.3, 1.0)


@lru_cache(maxsize=None)
def neighbours(ch: str) -> tuple[str, ...]:
    """Letters on keys adjacent to ``ch``'s key (same case), for substitution typos."""
    pos = _positions()
    b = base_char(ch)
    if b not in pos or not b.isalpha():
        return ()
    x, y = pos[b]
    out = []
    for other in "abcdefghijklmnopqrstuvwxyz":
        if other == b:
            continue
        ox, oy = pos[other]
        if abs(oy - y) <= 1 and (ox - x) ** 2 + (oy - y) ** 2 <= 1.3**2:
            out.append(other.upper() if ch.isupper() else other)
    return tuple(out)
