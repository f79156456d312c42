"""The emg2qwerty character set: 98 key classes plus the CTC blank (index 98).

Class order (it defines the labels): ``string.ascii_letters`` (a-z then A-Z),
``string.digits``, ``string.punctuation``, then the keys backspace, enter,
space and shift.  Internally every key is one unicode character, so a label
sequence maps 1:1 to a string: backspace is U+232B, enter U+23CE, space " ",
shift U+21E7.  Keys arrive as pynput names ("a", "A", "Key.space",
"Key.backspace", "Key.enter", "Key.shift"); single characters outside the
vocabulary are normalised when an equivalent exists and dropped otherwise,
as are other pynput keys ("Key.shift_r", "Key.tab", ...).
"""

from __future__ import annotations

import json
import string
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

BACKSPACE = "\u232b"  # ⌫
ENTER = "\u23ce"  # ⏎
SPACE = " "
SHIFT = "\u21e7"  # ⇧

# pynput names of the modifier keys in the vocabulary, in label order.
_MODIFIERS: tuple[tuple[str, str], ...] = (
    ("Key.backspace", BACKSPACE),
    ("Key.enter", ENTER),
    ("Key.space", SPACE),
    ("Key.shift", SHIFT),
)

# Single characters that stand for a vocabulary character.
_SUBSTITUTIONS = {
    "\n": ENTER,
    "\r": ENTER,
    "\b": BACKSPACE,
    "\u2019": "'",  # right single quote
    "\u201c": '"',
    "\u201d": '"',
    "\u2014": "-",  # em dash
}


class ClassesThenBlank:
    """The output layout of every head here: the classes in label order, then one more output,
    the blank (the CTC blank, or a framewise head's no-gesture class)."""

    def _class_labels(self) -> Sequence[str]:
        raise NotImplementedError

    @property
    def num_classes(self) -> int:
        """Number of classes, blank excluded (98 keys for emg2qwerty)."""
        return len(self._class_labels())

    @property
    def blank(self) -> int:
        """Label of the blank: the last output."""
        return self.num_classes

    @property
    def num_outputs(self) -> int:
        """Model output size: the classes plus the blank."""
        return self.num_classes + 1


@dataclass(frozen=True)
class CharSet(ClassesThenBlank):
    """Key vocabulary and label mapping.  Immutable; ships in model bundles as JSON."""

    keys: tuple[str, ...] = field(
        default=tuple(string.ascii_letters + string.digits + string.punctuation)
        + tuple(k for k, _ in _MODIFIERS)
    )
    chars: str = string.ascii_letters + string.digits + string.punctuation + "".join(
        c for _, c in _MODIFIERS
    )

    def __post_init__(self) -> None:
        if len(self.keys) != len(self.chars) or len(set(self.chars)) != len(self.chars):
            raise ValueError("CharSet needs one distinct character per key")
        object.__setattr__(self, "_key_index", {k: i for i, k in enumerate(self.keys)})
        object.__setattr__(self, "_char_index", {c: i for i, c in enumerate(self.chars)})

    def _class_labels(self) -> Sequence[str]:
        return self.keys

    # -- keys ----------------------------------------------------------------
    def normalize_char(self, c: str) -> str | None:
        """Map one unicode character to a vocabulary character, or None."""
        c = _SUBSTITUTIONS.get(c, c)
        if c in self._char_index:  # type: ignore[attr-defined]
            return c
        # Strip accents (é -> e).  emg2qwerty uses the GPL `unidecode` package
        # here; the standard library's NFKD decomposition covers the Latin
        # letters typed on a QWERTY keyboard without that licence.
        base = unicodedata.normalize("NFKD", c)[:1]
        return base if base in self._char_index else None  # type: ignore[attr-defined]

    def key_to_char(self, key: str) -> str | None:
        """Map a pynput key name to its vocabulary character, or None if out of vocabulary."""
        idx = self._key_index.get(key)  # type: ignore[attr-defined]
        if idx is not None:
            return self.chars[idx]
        if len(key) == 1:
            return self.normalize_char(key)
        return None

    def key_to_label(self, key: str) -> int | None:
        c = self.key_to_char(key)
        return None if c is None else self._char_index[c]  # type: ignore[attr-defined]

    def keys_to_labels(self, keys: Iterable[str]) -> list[int]:
        """Labels of the in-vocabulary keys, out-of-vocabulary ones dropped."""
        out = []
        for k in keys:
            lab = self.key_to_label(k)
            if lab is not None:
                out.append(lab)
        return out

    # -- strings -------------------------------------------------------------
    def clean_str(self, text: str) -> str:
        """Normalise a text to vocabulary characters, dropping the rest ("\\n" -> ⏎)."""
        out = (self.normalize_char(c) for c in text)
        return "".join(c for c in out if c is not None)

    def str_to_labels(self, text: str) -> list[int]:
        return [self._char_index[c] for c in self.clean_str(text)]  # type: ignore[attr-defined]

    def labels_to_str(self, labels: Sequence[int] | Iterable[int]) -> str:
        return "".join(self.chars[int(i)] for i in labels)

    def label_to_key(self, label: int) -> str:
        return self.keys[int(label)]

    # -- serialisation -------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps(
            {"keys": list(self.keys), "chars": self.chars, "blank": self.blank}, ensure_ascii=False
        )

    @classmethod
    def from_json(cls, text: str) -> "CharSet":
        d = json.loads(text)
        cs = cls(keys=tuple(d["keys"]), chars=d["chars"])
        if d.get("blank", cs.blank) != cs.blank:
            raise ValueError(f"charset blank index {d['blank']} != {cs.blank} (must be last)")
        return cs


@lru_cache(maxsize=1)
def emg2qwerty_charset() -> CharSet:
    """The default emg2qwerty character set (98 keys + blank at 98)."""
    return CharSet()


def apply_backspaces(text: str) -> str:
    """What ends up on screen: each ⌫ erases the previous character; shift is invisible."""
    out: list[str] = []
    for c in text:
        if c == BACKSPACE:
            if out:
                out.pop()
        elif c != SHIFT:
            out.append(c)
    return "".join(out)


_GLYPHS = {BACKSPACE: "⌫", ENTER: "⏎", SPACE: "␣", SHIFT: "⇧"}


def glyph(c: str) -> str:
    """A visible symbol for one key character (space becomes ␣)."""
    return _GLYPHS.get(c, c)


def display(text: str) -> str:
    """Human-readable form of a key string: ⏎ becomes a newline."""
    return text.replace(ENTER, "\n")
