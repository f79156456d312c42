"""Decoders on hand-made log-probs: greedy, streaming vs offline, events, make_decoder."""

import numpy as np
import pytest

from emgrt.charset import BACKSPACE, ENTER, SHIFT, emg2qwerty_charset
from emgrt.decode import (
    CharEvent,
    FinalEvent,
    HypothesisEvent,
    apply_keys,
    decode_offline,
    greedy_labels,
    keys_of,
    make_decoder,
)
from emgrt.errors import ConfigError, EmgrtError

CS = emg2qwerty_charset()
LABELS = list(CS.chars) + [""]
BLANK = CS.blank


def peaked(path: str | list, low: float = -12.0) -> np.ndarray:
    """(T, 99) log-probs with all mass on one label per frame; '_' (or BLANK) is the blank."""
    lp = np.full((len(path), len(LABELS)), low, dtype=np.float32)
    for t, c in enumerate(path):
        lp[t, BLANK if c in ("_", BLANK) else (c if isinstance(c, int) else LABELS.index(c))] = 0.0
    return lp


def random_log_probs(t: int, seed: int, blank_bias: float = 4.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(t, len(LABELS))).astype(np.float32) * 2
    x[:, BLANK] += blank_bias
    x[:, 10:] -= 3  # few distinct labels, so repeats happen
    return x - np.logaddexp.reduce(x, axis=1, keepdims=True)


def test_greedy_collapses_repeats_and_drops_blanks():
    lp = peaked("aa_a bb__b" + "c")
    assert "".join(decode_offline("greedy", lp, LABELS, BLANK)) == "aa bbc"
    assert greedy_labels(lp, BLANK) == CS.str_to_labels("aa bbc")
    assert decode_offline("greedy", lp[:0], LABELS, BLANK) == []


@pytest.mark.parametrize("seed", range(5))
def test_streaming_greedy_equals_offline_for_any_chunking(seed):
    lp = random_log_probs(300, seed)
    lp[100:104] = lp[200:205] = peaked("_")  # two pauses
    offline = [LABELS[i] for i in greedy_labels(lp, BLANK)]
    assert len(offline) > 20
    rng = np.random.default_rng(seed)
    dec = make_decoder("greedy", LABELS, BLANK, pause_frames=3)
    events, t = [], 0
    while t < len(lp):
        m = int(rng.integers(0, 7))  # empty pushes too
        events += dec.push(lp[t : t + m], t)
        t += m
    events += dec.flush()
    assert keys_of(events) == offline
    finals = [e for e in events if isinstance(e, FinalEvent)]
    assert len(finals) > 1 and "".join(f.text for f in finals) == "".join(offline)
    assert decode_offline("greedy", lp, LABELS, BLANK) == offline


def test_greedy_matches_the_trainers_greedy():
    torch = pytest.importorskip("torch")
    from emgrt.train.trainer import greedy_ctc_decode

    for seed in range(4):
        lp = random_log_probs(200, seed)
        (ref,) = greedy_ctc_decode(torch.from_numpy(lp)[None], torch.tensor([len(lp)]), BLANK)
        assert greedy_labels(lp, BLANK) == ref
        assert decode_offline("greedy", lp, LABELS, BLANK) == [LABELS[i] for i in ref]


def test_greedy_events_and_pause_finals():
    dec = make_decoder("greedy", LABELS, BLANK, pause_frames=3)
    ev = dec.push(peaked("hh_i"), 10)
    assert ev == [CharEvent("h", 10), CharEvent("i", 13)]
    ev = dec.push(peaked("__"), 14)
    assert ev == []  # two blanks after "i": no pause yet
    ev = dec.push(peaked("_"), 16)
    assert ev == [FinalEvent("hi", 16)]
    assert dec.push(peaked("____"), 17) == []  # a longer pause gives one final
    ev = dec.push(peaked("i"), 21) + dec.flush()
    assert ev == [CharEvent("i", 21), FinalEvent("i", 21)]
    assert ev[0].to_dict() == {"key": "i", "frame": 21, "committed": True, "kind": "char"}
    assert FinalEvent("x", 3).to_dict() == {"text": "x", "frame": 3, "kind": "final"}
    assert HypothesisEvent("ab", 4).to_dict()["kind"] == "hypothesis"


def test_label_carried_across_pushes():
    dec = make_decoder("greedy", LABELS, BLANK)
    assert keys_of(dec.push(peaked("a"), 0)) == ["a"]
    assert keys_of(dec.push(peaked("a"), 1)) == []  # same run: no repeat
    dec.reset()
    assert keys_of(dec.push(peaked("a"), 0)) == ["a"]


def test_apply_keys():
    assert apply_keys("", ["a", "b", BACKSPACE, "c"]) == "ac"
    assert apply_keys("x", [BACKSPACE, BACKSPACE, "y", ENTER, SHIFT, "Z"]) == "y\nZ"
    assert apply_keys("a\n", [BACKSPACE]) == "a"


def test_bad_kind_options_and_shapes_are_one_line_errors():
    with pytest.raises(ConfigError, match="unknown decoder"):
        make_decoder("viterbi", LABELS, BLANK)
    with pytest.raises(ConfigError, match="greedy"):
        make_decoder("greedy", LABELS, BLANK, beam_sise=3)
    with pytest.raises(ConfigError, match="blank"):
        make_decoder("greedy", LABELS, 120)
    with pytest.raises(EmgrtError, match="expected"):
        make_decoder("greedy", LABELS, BLANK).push(np.zeros((3, 50), np.float32), 0)

