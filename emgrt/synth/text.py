"""Prompts and typing behaviour: English text in, timed keystroke events out.

Prompts are real English sentences of 3-14 words (WordNet 3.0's example sentences,
:mod:`emgrt.text`; the shipped language models never saw them), drawn uniformly.  A
:class:`Typist` types them like a person: log-normal inter-key intervals
(user-specific speed) shaped by bigram effects (same finger slower, hand
alternation faster, word starts slower), log-normal key holds, shift pressed
before and released after the shifted key by the opposite little finger, and
typos (adjacent-key substitutions, transpositions, doubled or skipped letters)
noticed after 0-3 more keys and corrected with backspaces, so the final text on
screen always equals the prompt.  Times are seconds from the recording start.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from emgrt.synth.keyboard import (
    LEFT,
    RIGHT,
    KeyPlace,
    neighbours,
    needs_shift,
    place_of,
    pynput_name,
    shift_place,
    space_place,
    SHIFT,
)

PROMPT_NAME = "text_prompt"
MAX_WORDS = 14


@dataclass(frozen=True)
class KeyEvent:
    """One keystroke: pynput key name, press/release times (s) and the finger that made it."""

    key: str
    start: float
    end: float
    place: KeyPlace

    def as_dict(self, t0: float) -> dict:
        return {"key": self.key, "start": t0 + self.start, "end": t0 + self.end}


@dataclass(frozen=True)
class Typist:
    """One user's typing habits."""

    wpm: float  # words (5 characters) per minute
    iki_sigma: float  # log-normal sigma of inter-key intervals
    hold_s: float  # median key hold
    hold_sigma: float
    typo_rate: float  # probability of an error per letter
    word_pause: float  # interval multiplier before the first letter of a word
    space_thumb: int | None  # LEFT/RIGHT thumb, or None: opposite to the last letter's hand
    shift_lead_s: float  # shift press before the shifted key's press
    backspace_iki_s: float  # interval between repeated backspaces
    notice_s: float  # pause before the first corrective backspace
    read_s: float  # pause between a prompt appearing and the first key


def sample_typist(rng: np.random.Generator) -> Typist:
    """A random typist: 30-80 wpm, 1-5 % typos, individual rhythm."""
    thumb = rng.choice(3, p=[0.2, 0.5, 0.3])
    return Typist(
        wpm=float(rng.uniform(30, 80)),
        iki_sigma=float(rng.uniform(0.25, 0.45)),
        hold_s=float(rng.uniform(0.075, 0.13)),
        hold_sigma=float(rng.uniform(0.15, 0.3)),
        typo_rate=float(rng.uniform(0.01, 0.05)),
        word_pause=float(rng.uniform(1.1, 1.6)),
        space_thumb=(LEFT, RIGHT, None)[int(thumb)],
        shift_lead_s=float(rng.uniform(0.05, 0.12)),
        backspace_iki_s=float(rng.uniform(0.11, 0.18)),
        notice_s=float(rng.uniform(0.3, 0.7)),
        read_s=float(rng.uniform(0.6, 1.5)),
    )


# -- prompts -------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def prompt_table() -> tuple[tuple[str, ...], np.ndarray]:
    """The shipped prompts sorted by word count (stable), and the word counts."""
    from emgrt.text import prompts

    ordered = sorted(prompts(), key=lambda t: len(t.split()))
    return tuple(ordered), np.array([len(t.split()) for t in ordered])


def make_prompt(rng: np.random.Generator, max_words: int = MAX_WORDS) -> str:
    """One prompt sentence of at most ``max_words`` words.

    Below the shortest prompts (3 words) it is the first ``max_words`` words of one: a
    recording's last seconds still hold some typing.
    """
    texts, words = prompt_table()
    n = int(np.searchsorted(words, max_words, side="right"))
    if n:
        return texts[int(rng.integers(n))]
    n = int(np.searchsorted(words, words[0], side="right"))
    return " ".join(texts[int(rng.integers(n))].split()[: max(1, max_words)])


# -- typing --------------------------------------------------------------------------------------
def _plan_presses(text: str, typist: Typist, rng: np.random.Generator) -> list[tuple[str, str]]:
    """Characters actually pressed ("\\b" backspace, "\\n" enter) with the kind of pause before each.

    Kinds: "type" (normal), "notice" (first backspace after spotting an error),
    "backspace" (repeated backspace), "resume" (first key after a correction).
    """
    target = text + "\n"
    screen: list[str] = []
    out: list[tuple[str, str]] = []
    kind = "type"
    i = 0

    def press(ch: str) -> None:
        nonlocal kind
        out.append((ch, kind))
        screen.append(ch)
        kind = "type"

    while i < len(target):
        c = target[i]
        if not (c.isalpha() and rng.random() < typist.typo_rate):
            press(c)
            i += 1
            continue
        nxt = target[i + 1] if i + 1 < len(target) - 1 else ""
        r = rng.random()
        if r < 0.6 and neighbours(c):
            wrong, i = [str(rng.choice(neighbours(c)))], i + 1  # adjacent key
        elif r < 0.75 and nxt:
            wrong, i = [nxt], i + 2  # skipped letter
        elif r < 0.88 or not nxt.isalpha():
            wrong, i = [c, c], i + 1  # doubled letter
        else:
            wrong, i = [nxt, c], i + 2  # transposition
        for ch in wrong:
            press(ch)
        for _ in range(int(rng.choice(4, p=[0.35, 0.35, 0.2, 0.1]))):
            if i >= len(target) - 1:  # the error is always noticed before enter
                break
            press(target[i])
            i += 1
        lcp = 0
        while lcp < len(screen) and screen[lcp] == target[lcp]:
            lcp += 1
        n_back = len(screen) - lcp
        if n_back:
            for j in range(n_back):
                out.append(("\b", "notice" if j == 0 else "backspace"))
            del screen[lcp:]
            kind = "resume"
        i = lcp if n_back else len(screen)
    assert "".join(screen) == target
    return out


def type_text(
    text: str, t_first: float, typist: Typist, rng: np.random.Generator, *, prev_hand: int = RIGHT
) -> list[KeyEvent]:
    """Keystrokes that type ``text`` and enter, the first press at about ``t_first`` (s)."""
    median_iki = 12.0 / typist.wpm  # 60 s / (5 chars x wpm)
    events: list[KeyEvent] = []
    finger_free: dict[tuple[int, int], float] = {}
    t_press = t_first - 1.0  # no key constrains the first one
    prev: tuple[str, KeyPlace] | None = None
    for ch, kind in _plan_presses(text, typist, rng):
        if ch == " ":
            place = space_place(typist.space_thumb if typist.space_thumb is not None else 1 - prev_hand)
        else:
            place = place_of(ch)
        if kind == "notice":
            gap = typist.notice_s * rng.lognormal(0, 0.3)
        elif kind == "backspace":
            gap = typist.backspace_iki_s * rng.lognormal(0, 0.15)
        else:
            f = 1.6 if kind == "resume" else 1.0
            if prev is not None:
                pch, pplace = prev
                if pch == " ":
                    f *= typist.word_pause
                if (pplace.hand, pplace.finger) == (place.hand, place.finger):
                    f *= 1.2 if pch == ch else 1.45
                elif pplace.hand != place.hand:
                    f *= 0.8
            if needs_shift(ch):
                f *= 1.3
            gap = median_iki * f * rng.lognormal(0, typist.iki_sigma)
        if events:
            press = max(t_press + max(gap, 0.04), finger_free.get((place.hand, place.finger), -1.0) + 0.03)
        else:
            press = t_first
        hold = typist.hold_s * rng.lognormal(0, typist.hold_sigma) * (1.1 if ch == " " else 1.0)
        hold = float(np.clip(hold, 0.03, 0.3))
        if needs_shift(ch):
            sp = shift_place(1 - place.hand)
            shift_key = (sp.hand, sp.finger)
            s_press = press - typist.shift_lead_s * rng.lognormal(0, 0.25)
            s_press = max(s_press, t_press + 0.02, finger_free.get(shift_key, -1.0) + 0.03)
            press = max(press, s_press + 0.04)
            s_release = press + hold + rng.uniform(0.02, 0.1)
            events.append(KeyEvent(SHIFT, s_press, s_release, sp))
            finger_free[shift_key] = s_release
        events.append(KeyEvent(pynput_name(ch), press, press + hold, place))
        finger_free[(place.hand, place.finger)] = press + hold
        t_press = press
        prev = (ch, place)
        if ch not in " \n\b":
            prev_hand = place.hand
    return events


def type_session(
    duration_s: float, typist: Typist, rng: np.random.Generator, *, tail_s: float = 0.5
) -> tuple[list[KeyEvent], list[dict]]:
    """Prompts typed one after another until the next one no longer fits in ``duration_s``.

    Returns keystroke events sorted by press and prompt dicts (times in s from the start).
    """
    events: list[KeyEvent] = []
    prompts: list[dict] = []
    t = float(rng.uniform(0.8, 2.0))  # rest before the first prompt appears
    while True:
        for attempt in range(5):  # shorter prompts when time runs out
            text = make_prompt(rng, (MAX_WORDS, 10, 6, 3, 1)[attempt])
            read = typist.read_s * rng.lognormal(0, 0.3)
            evs = type_text(text, t + read, typist, rng)
            end = max(e.end for e in evs)
            if end + tail_s <= duration_s:
                break
        else:
            break
        prompt_end = end + float(rng.uniform(0.05, 0.25))
        prompts.append({"name": PROMPT_NAME, "start": t, "end": prompt_end, "payload": {"text": text}})
        events.extend(evs)
        t = prompt_end + float(rng.uniform(0.3, 1.0))
    events.sort(key=lambda e: e.start)
    return events, prompts
