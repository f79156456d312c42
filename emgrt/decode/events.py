"""Decoder events and the one function that turns keys into displayed text.

Every streaming decoder returns lists of these small frozen records; ``to_dict``
gives the JSON-ready form the engine and the server send on.

- :class:`CharEvent` -- one committed key (a charset character: "a", " ", "⌫",
  "⏎", "⇧"), with the output frame where it was decided (its first frame).
  Committed keys never change; concatenated they are the decoded key string.
- :class:`HypothesisEvent` -- the current tentative text after the committed
  keys (backspaces inside it applied), sent when it changes.  May be "".
- :class:`GestureEvent` -- one detected gesture (the gestures task, :mod:`emgrt.decode.gestures`):
  its name, the output frame it was detected on and the class's probability there.
- :class:`FinalEvent` -- at a pause (>= N blank output frames) and at flush:
  ``text`` is the key string committed since the previous final (charset
  characters, ⌫ included; the finals of a stream concatenate to the whole
  decoded key string, and :func:`apply_keys` turns keys into screen text).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Union

from emgrt.charset import apply_backspaces, display


@dataclass(frozen=True)
class CharEvent:
    key: str
    frame: int
    committed: bool = True
    kind: str = "char"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class HypothesisEvent:
    text: str
    frame: int = -1  # last output frame the decoder had seen
    kind: str = "hypothesis"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FinalEvent:
    text: str
    frame: int
    kind: str = "final"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GestureEvent:
    gesture: str
    frame: int
    prob: float
    kind: str = "gesture"

    def to_dict(self) -> dict:
        return asdict(self)


Event = Union[CharEvent, HypothesisEvent, FinalEvent, GestureEvent]


def apply_keys(text: str, keys: Iterable[str]) -> str:
    """Displayed ``text`` after typing ``keys``: ⌫ erases the last character, ⏎ becomes a
    newline, ⇧ shows nothing.  ``text`` is screen text (no ⌫ in it)."""
    return display(apply_backspaces(text + "".join(keys)))


def keys_of(events: Iterable[Event]) -> list[str]:
    """The committed keys among ``events``, in order."""
    return [e.key for e in events if isinstance(e, CharEvent)]
