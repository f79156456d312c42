"""Label sets of the one-band tasks: the handwriting character set and GNI prompt text.

The release's handwriting classes are the emg2qwerty keys (ASCII letters, digits, punctuation,
backspace, enter, space, shift) plus a pause key: 99 classes, the CTC blank at 99.  In its
prompts a left arrow is a backspace, a right arrow an explicit space and a pinching-hand emoji
the pause key; here they map to the typing charset's backspace and space characters and to the
emoji itself (the pause key's character), so a handwriting label string reads like a typed one.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from emgrt.charset import BACKSPACE, SPACE, CharSet, emg2qwerty_charset
from emgrt.io.gni import HW_BACKSPACE, HW_PAUSE, HW_SPACE

PAUSE_KEY = "Key.pause"  # the pynput name of the pause key
PAUSE = HW_PAUSE  # its character in label strings
_PROMPT_KEYS = str.maketrans({HW_BACKSPACE: BACKSPACE, HW_SPACE: SPACE})


@lru_cache(maxsize=1)
def handwriting_charset() -> CharSet:
    """The emg2qwerty keys plus the pause key (99 classes + blank at 99)."""
    cs = emg2qwerty_charset()
    return CharSet(keys=cs.keys + (PAUSE_KEY,), chars=cs.chars + PAUSE)


def prompt_labels(prompt: str) -> np.ndarray:
    """Handwriting labels (int64) of one GNI prompt; characters outside the set are dropped."""
    return np.asarray(handwriting_charset().str_to_labels(str(prompt).translate(_PROMPT_KEYS)), dtype=np.int64)
