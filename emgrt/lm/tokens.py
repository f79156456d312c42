"""How text becomes language-model tokens (KenLM splits on whitespace, so every token is
whitespace-free).

Character LM (``kind="char"``): one token per character of the text, space written
``<sp>``; shift, backspace and enter are never LM tokens (the char-LM decoder skips
shift, undoes backspace and ends the sentence at enter).

Word LM (``kind="word"``, for pyctcdecode): the words pyctcdecode will see, i.e. the
key string between spaces as typed, with ⇧ (U+21E7) before every character typed
with shift (capitals, upper symbols), as emg2qwerty's key labels have it; so
"Hi, Bob!" gives "⇧Hi," and "⇧Bob⇧!".
"""

from __future__ import annotations

from emgrt.charset import SHIFT, SPACE

SPACE_TOKEN = "<sp>"


def char_token(c: str) -> str:
    return SPACE_TOKEN if c == SPACE else c


def char_tokens(text: str) -> list[str]:
    """Character LM tokens of one line of plain text."""
    return [char_token(c) for c in text if not c.isspace() or c == SPACE]


def key_string(text: str) -> str:
    """``text`` as typed keys: ⇧ before every shifted character."""
    from emgrt.synth.keyboard import needs_shift

    return "".join(SHIFT + c if needs_shift(c) else c for c in text)


def word_tokens(text: str) -> list[str]:
    """Word LM tokens of one line of plain text (key-string words)."""
    return key_string(text).split()
