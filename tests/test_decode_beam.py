"""pyctcdecode beam decoders ("beam", "beam-lm"): greedy agreement, LM fusion, streaming."""

import numpy as np
import pytest

pytest.importorskip("pyctcdecode")
pytest.importorskip("kenlm")

from emgrt.decode import CharEvent, FinalEvent, decode_offline, keys_of, make_decoder  # noqa: E402
from emgrt.errors import ConfigError  # noqa: E402
from emgrt.lm import build_lm  # noqa: E402
from test_decode import BLANK, LABELS, peaked, random_log_probs  # noqa: E402
from test_decode_charlm import ambiguous  # noqa: E402

SENTENCES = ["the cat sat on the mat", "a cat and a dog", "the dog sat on a log", "my cat is on the mat"] * 5


@pytest.fixture(scope="module")
def word_lm(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("lm") / "word3.arpa"
    build_lm("word", 3, SENTENCES, path)
    return str(path)


def test_peaked_path_equals_greedy_including_key_glyphs():
    lp = peaked("__t_hh_e__ __c_a_t⌫__d⇧_⇧O__g ___ _⏎_a")
    greedy = decode_offline("greedy", lp, LABELS, BLANK)
    beam = decode_offline("beam", lp, LABELS, BLANK)
    # pyctcdecode keeps one space between words: the only difference allowed is a doubled space
    assert "".join(beam) == "".join(greedy).replace("  ", " ") == "the cat⌫d⇧⇧Og ⏎a"


@pytest.mark.parametrize("seed", range(3))
def test_sharp_random_paths_equal_greedy(seed):
    lp = random_log_probs(300, seed) * 8
    lp -= np.logaddexp.reduce(lp, axis=1, keepdims=True)
    greedy = "".join(decode_offline("greedy", lp, LABELS, BLANK))
    beam = "".join(decode_offline("beam", lp, LABELS, BLANK, pause_frames=4))
    assert beam.split() == greedy.split() and len(beam) > 20


def test_word_lm_moves_a_borderline_word(word_lm):
    prefix = "t_h_e_ _c"  # "the c?t": "o" is likelier acoustically, "cat" is the LM's word
    lp = np.concatenate([ambiguous(prefix, {"o": 0.5, "a": 0.4, "_": 0.1}, ""), peaked("_t_ _")])
    assert "".join(decode_offline("beam", lp, LABELS, BLANK)) == "the cot "
    assert "".join(decode_offline("beam-lm", lp, LABELS, BLANK, lm=word_lm)) == "the cat "


@pytest.mark.parametrize("kind", ["beam", "beam-lm"])
def test_streaming_matches_offline_for_any_chunking(word_lm, kind):
    words = "the cat sat on the mat a dog sat on a log ".split(" ")
    path = "_".join("__".join(w) + "_ " for w in words if w) * 3  # ~300 frames, no pause
    lp = peaked(path, low=-6.0)
    lp[150:170] = peaked("_" * 20)  # one pause
    opts = {"lm": word_lm} if kind == "beam-lm" else {}
    offline = decode_offline(kind, lp, LABELS, BLANK, **opts)
    rng = np.random.default_rng(0)
    dec = make_decoder(kind, LABELS, BLANK, **opts)
    events, t = [], 0
    while t < len(lp):
        m = int(rng.integers(1, 7))
        events += dec.push(lp[t : t + m], t)
        t += m
    before_flush = len(keys_of(events))
    events += dec.flush()
    assert keys_of(events) == offline
    assert "".join(offline).split() == "".join(decode_offline("greedy", lp, LABELS, BLANK)).split()
    assert before_flush > len(offline) // 2  # words were committed while streaming
    finals = [e for e in events if isinstance(e, FinalEvent)]
    assert len(finals) == 2 and "".join(f.text for f in finals) == "".join(offline)
    frames = [e.frame for e in events if isinstance(e, CharEvent)]
    assert frames == sorted(frames) and 0 <= frames[0] and frames[-1] < len(lp)


def test_trailing_space_before_a_pause_is_kept():
    lp = peaked("_h_i_ " + "_" * 20 + "y_o")
    assert "".join(decode_offline("beam", lp, LABELS, BLANK)) == "hi yo"


def test_beam_lm_needs_an_lm(tmp_path):
    with pytest.raises(ConfigError, match="word LM"):
        make_decoder("beam-lm", LABELS, BLANK, lm=None)


def test_a_full_window_commits_and_never_overflows():
    lp = random_log_probs(400, 5, blank_bias=1.0)  # no spaces, no pauses: the window fills up
    lp[:, LABELS.index(" ")] = -30.0
    lp -= np.logaddexp.reduce(lp, axis=1, keepdims=True)
    dec = make_decoder("beam", LABELS, BLANK, max_window=16, update_every=4, beam_size=4)
    events = []
    for t in range(len(lp)):
        events += dec.push(lp[t : t + 1], t)
        assert dec._n <= 16
    assert len(keys_of(events)) > 20  # committed on the way, without a pause
    run = peaked("a" * 40)  # one key held for longer than the window: one key, no overflow
    dec.reset()
    assert keys_of(dec.push(run, 0) + dec.flush()) == ["a"]


def test_shipped_word_lm_is_the_default():
    dec = make_decoder("beam-lm", LABELS, BLANK)
    assert dec.lm_path.endswith("models/lm/word3.arpa.gz")
    lp = peaked("_⇧_T_h_e_ _d_o_g_ _s_a_t_." + "_" * 20)
    assert "".join(decode_offline("beam-lm", lp, LABELS, BLANK)) == "⇧The dog sat."
