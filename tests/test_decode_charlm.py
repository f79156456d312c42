"""The char-level beam decoder with a char KenLM: backspace, shift, LM preference, streaming."""

import itertools
import numpy as np
import pytest

pytest.importorskip("kenlm")

from emgrt import native  # noqa: E402
from emgrt.charset import BACKSPACE, SHIFT  # noqa: E402
from emgrt.decode import CharEvent, FinalEvent, HypothesisEvent, decode_offline, keys_of, make_decoder  # noqa: E402
from emgrt.errors import ConfigError, DataFileError  # noqa: E402
from emgrt.lm import build_lm  # noqa: E402
from emgrt.text import lm_sentences  # noqa: E402
from test_decode import BLANK, LABELS, peaked, random_log_probs  # noqa: E402


@pytest.fixture(scope="module")
def char_lm(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("lm") / "char5.arpa"
    build_lm("char", 5, itertools.islice(lm_sentences(), 0, None, 40), path)  # 4,268 sentences
    return str(path)


def ambiguous(prefix: str, options: dict[str, float], suffix: str = "__") -> np.ndarray:
    """Peaked frames for ``prefix``, one frame split between ``options`` (probabilities), then ``suffix``."""
    lp = peaked(prefix + "_" + suffix)
    row = np.full(len(LABELS), 1e-4)
    for c, p in options.items():
        row[LABELS.index(c)] = p
    lp[len(prefix)] = np.log(row / row.sum())
    return lp


def test_peaked_path_is_decoded_as_is(char_lm):
    lp = peaked("__t_hh_e__ __c_a_t⌫__d__")
    for lm in (char_lm, None):
        assert "".join(decode_offline("char-lm", lp, LABELS, BLANK, lm=lm)) == "the cat⌫d"


def test_without_lm_on_peaked_path_equals_greedy():
    lp = random_log_probs(200, 3)
    lp = 8 * lp  # sharpen: one path dominates
    lp -= np.logaddexp.reduce(lp, axis=1, keepdims=True)
    assert decode_offline("char-lm", lp, LABELS, BLANK, lm=None) == decode_offline("greedy", lp, LABELS, BLANK)


def test_lm_moves_a_borderline_char_toward_english(char_lm):
    lp = ambiguous("t_h", {"x": 0.5, "e": 0.4, "_": 0.1}, "__ __")
    assert "".join(decode_offline("greedy", lp, LABELS, BLANK)) == "thx "
    assert "".join(decode_offline("char-lm", lp, LABELS, BLANK, lm=None)) == "thx "
    assert "".join(decode_offline("char-lm", lp, LABELS, BLANK, lm=char_lm)) == "the "
    # a weak LM weight leaves the acoustics in charge
    assert "".join(decode_offline("char-lm", lp, LABELS, BLANK, lm=char_lm, lm_weight=0.01, insertion_bonus=0)) == "thx "


def test_backspace_keys_and_lm_state(char_lm):
    lp = peaked("_a__b__⌫__c__")
    assert decode_offline("char-lm", lp, LABELS, BLANK, lm=char_lm) == ["a", "b", BACKSPACE, "c"]
    dec = make_decoder("char-lm", LABELS, BLANK, lm=char_lm)
    assert dec.lm_text_state("ab" + BACKSPACE) == dec.lm_text_state("a")
    assert dec.lm_text_state("ab") != dec.lm_text_state("a")
    assert dec.lm_text_state("ab" + BACKSPACE + "c") == dec.lm_text_state("ac")
    assert dec.lm_text_state(BACKSPACE * 3 + "a") == dec.lm_text_state("a")  # nothing to erase
    assert dec.lm_text_state(SHIFT + "A") == dec.lm_text_state("A")  # shift scores nothing


def test_backspace_undoes_the_lm_score(char_lm):
    """A corrected typo costs the LM nothing: after 'thx⌫e' the LM prefers the same next char as after 'the'."""
    lp_fix = ambiguous("t_h_x_⌫_e_", {"n": 0.45, "q": 0.55}, "__")
    lp_ref = ambiguous("t_h_e_", {"n": 0.45, "q": 0.55}, "__")
    out_fix = decode_offline("char-lm", lp_fix, LABELS, BLANK, lm=char_lm)
    out_ref = decode_offline("char-lm", lp_ref, LABELS, BLANK, lm=char_lm)
    assert out_fix == ["t", "h", "x", BACKSPACE, "e", "n"] and out_ref == ["t", "h", "e", "n"]


@pytest.mark.parametrize("seed", range(3))
def test_streaming_events_match_offline_for_any_chunking(char_lm, seed):
    lp = random_log_probs(240, seed, blank_bias=5.0)
    lp[80:100] = peaked("_" * 20)  # a pause
    offline = decode_offline("char-lm", lp, LABELS, BLANK, lm=char_lm, pause_frames=8, beam_size=8)
    rng = np.random.default_rng(seed)
    dec = make_decoder("char-lm", LABELS, BLANK, lm=char_lm, pause_frames=8, beam_size=8)
    events, t = [], 0
    while t < len(lp):
        m = int(rng.integers(1, 9))
        events += dec.push(lp[t : t + m], t)
        t += m
    events += dec.flush()
    assert keys_of(events) == offline and len(offline) > 5
    finals = [e for e in events if isinstance(e, FinalEvent)]
    assert len(finals) >= 2 and "".join(f.text for f in finals) == "".join(offline)
    chars = [e for e in events if isinstance(e, CharEvent)]
    assert all(a.frame <= b.frame for a, b in zip(chars, chars[1:]))
    assert any(isinstance(e, HypothesisEvent) and e.text for e in events)
    assert [e for e in events if isinstance(e, HypothesisEvent)][-1].text == ""


def test_commits_before_the_end_when_beams_agree(char_lm):
    dec = make_decoder("char-lm", LABELS, BLANK, lm=char_lm, pause_frames=100)
    events = dec.push(peaked("_h_e_l_l_o_", low=-20.0), 0)
    assert "".join(keys_of(events)).startswith("hel")  # committed without a pause or flush


def test_pending_text_is_bounded(char_lm):
    """With max_pending 4 the decoder commits early even while beams disagree."""
    lp = random_log_probs(300, 1, blank_bias=0.0)
    dec = make_decoder("char-lm", LABELS, BLANK, lm=char_lm, max_pending=4, pause_frames=1000)
    for t in range(len(lp)):
        dec.push(lp[t : t + 1], t)
        assert all(len(key) <= 5 for key, _ in dec.beams())


def test_missing_lm_is_a_one_line_error(tmp_path):
    with pytest.raises(DataFileError, match="not found"):
        make_decoder("char-lm", LABELS, BLANK, lm=str(tmp_path / "nope.arpa"))
    bad = tmp_path / "bad.arpa"
    bad.write_text("not an arpa file\n")
    with pytest.raises(DataFileError, match="KenLM cannot load"):
        make_decoder("char-lm", LABELS, BLANK, lm=str(bad))


def test_shipped_char_lm_is_the_default(monkeypatch, tmp_path):
    from emgrt.decode import lmfiles
    from emgrt.errors import ConfigError

    dec = make_decoder("char-lm", LABELS, BLANK)
    assert dec.lm_path.endswith("models/lm/char6.arpa.gz")
    lp = ambiguous("t_h_e_ _q_u_i_c", {"k": 0.4, "l": 0.5, "_": 0.1}, "__ __")
    assert "".join(decode_offline("greedy", lp, LABELS, BLANK)) == "the quicl "
    assert "".join(decode_offline("char-lm", lp, LABELS, BLANK)) == "the quick "
    monkeypatch.setattr(lmfiles, "SHIPPED_DIR", tmp_path)
    with pytest.raises(ConfigError, match="--lm"):
        make_decoder("char-lm", LABELS, BLANK)


def test_commit_lag_commits_the_best_beam_after_the_lag():
    """Two readings stay close for many frames: without a lag nothing is committed until the
    pause; with commit_lag=3 the best beam's first key is committed 3 frames after it appeared."""
    import numpy as np

    from emgrt.decode.charlm import CharLMDecoder

    labels = ["a", "b", ""]
    row_ab = np.log(np.array([0.5, 0.45, 0.05], dtype=np.float32))
    blank = np.log(np.array([0.02, 0.02, 0.96], dtype=np.float32))
    lp = np.stack([row_ab, blank, blank, blank, blank])
    eager = CharLMDecoder(labels, 2, lm=None, commit_lag=3, pause_frames=100)
    patient = CharLMDecoder(labels, 2, lm=None, pause_frames=100)
    got = [e for e in eager.push(lp, 0) if e.kind == "char"]
    assert [(e.key, e.frame) for e in got] == [("a", 0)]
    assert [e for e in patient.push(lp, 0) if e.kind == "char"] == []


def _ab_then_blanks(p_a: float, p_b: float, blanks: int = 5) -> tuple[list[str], np.ndarray]:
    """Labels a, b, blank: one frame reading a (p_a) or b (p_b), then blank frames."""
    labels = ["a", "b", ""]
    row = np.log(np.array([p_a, p_b, 1.0 - p_a - p_b], dtype=np.float32))
    blank = np.log(np.array([0.02, 0.02, 0.96], dtype=np.float32))
    return labels, np.stack([row] + [blank] * blanks)


def _chars_by_frame(dec, lp) -> list[tuple[int, str, int]]:
    """(push frame, key, key frame) of the char events, pushing one frame at a time."""
    out = []
    for t in range(len(lp)):
        out += [(t, e.key, e.frame) for e in dec.push(lp[t : t + 1], t) if e.kind == "char"]
    return out


def test_commit_prob_commits_the_prefix_holding_most_of_the_mass():
    """'a' holds ~90% of the beam's mass: the margin rule waits (b is within 10 nats), the
    posterior rule commits it on its first frame; a 0.95 threshold waits too."""
    from emgrt.decode.charlm import CharLMDecoder

    labels, lp = _ab_then_blanks(0.9, 0.08)
    assert _chars_by_frame(CharLMDecoder(labels, 2, lm=None, pause_frames=100), lp) == []
    assert _chars_by_frame(CharLMDecoder(labels, 2, lm=None, pause_frames=100, commit_prob=0.8), lp) == [(0, "a", 0)]
    assert _chars_by_frame(CharLMDecoder(labels, 2, lm=None, pause_frames=100, commit_prob=0.95), lp) == []


def test_commit_prob_keeps_a_close_call_pending():
    from emgrt.decode.charlm import CharLMDecoder

    labels, lp = _ab_then_blanks(0.5, 0.45)
    dec = CharLMDecoder(labels, 2, lm=None, pause_frames=100, commit_prob=0.8)
    assert _chars_by_frame(dec, lp) == []
    assert {key for key, _ in dec.beams()} >= {(0,), (1,)}  # both readings still alive
    with pytest.raises(ConfigError):
        CharLMDecoder(labels, 2, lm=None, commit_prob=0.0)


def test_endpoint_commits_the_best_beam_after_trailing_blanks():
    """A close call between a and b: with endpoint_frames=3 the best beam's 'a' is committed
    on the 3rd frame of blank as the best class (no FinalEvent: that waits for the pause); without, nothing."""
    from emgrt.decode.charlm import CharLMDecoder

    labels, lp = _ab_then_blanks(0.5, 0.45, blanks=6)
    assert _chars_by_frame(CharLMDecoder(labels, 2, lm=None, pause_frames=100), lp) == []
    dec = CharLMDecoder(labels, 2, lm=None, pause_frames=100, endpoint_frames=3)
    events = []
    for t in range(4):
        events += [(t, e) for e in dec.push(lp[t : t + 1], t)]
    assert [(t, e.key, e.frame) for t, e in events if e.kind == "char"] == [(3, "a", 0)]
    assert not any(e.kind == "final" for _, e in events)
    assert all(f > 0 for _, frames in dec.beams() for f in frames)  # the frame-0 "b" reading is gone
    with pytest.raises(ConfigError):
        CharLMDecoder(labels, 2, lm=None, endpoint_frames=0)


def test_endpoint_waits_while_the_best_path_is_still_on_a_key():
    """Held key frames (a, a, a, ...) are not trailing blanks: no endpoint commit until blanks follow."""
    from emgrt.decode.charlm import CharLMDecoder

    labels = ["a", "b", ""]
    key = np.log(np.array([0.9, 0.05, 0.05], dtype=np.float32))
    blank = np.log(np.array([0.02, 0.02, 0.96], dtype=np.float32))
    lp = np.stack([key] * 5 + [blank] * 3)
    dec = CharLMDecoder(labels, 2, lm=None, pause_frames=100, endpoint_frames=2, commit_margin=1e9)
    assert _chars_by_frame(dec, lp) == [(6, "a", 0)]


def test_new_commit_options_default_off(char_lm):
    """Defaults keep the margin rule alone: same events as passing the options as None."""
    from emgrt.decode.charlm import CharLMDecoder

    dec = make_decoder("char-lm", LABELS, BLANK, lm=char_lm)
    assert dec.commit_prob is None and dec.endpoint_frames is None and dec.commit_lag is None
    assert dec.hypothesis_hold is None and dec.commit_stable is None and dec.commit_depth is None
    lp = random_log_probs(200, 4, blank_bias=3.0)
    explicit = CharLMDecoder(
        LABELS, BLANK, lm=char_lm, commit_prob=None, endpoint_frames=None, hypothesis_hold=None, commit_stable=None,
        commit_depth=None,
    )
    ref = make_decoder("char-lm", LABELS, BLANK, lm=char_lm)
    got = [e.to_dict() for e in explicit.push(lp, 0) + explicit.flush()]
    assert got == [e.to_dict() for e in ref.push(lp, 0) + ref.flush()]


def test_hypothesis_hold_keeps_the_shown_reading_while_a_rival_leads_narrowly():
    """Frame 0 reads a (0.5) over b (0.45); frame 1 tips the beam to b by ~0.43 nats.  The best
    beam is shown by default (a, then b: a revision); with hypothesis_hold=1 the screen keeps
    'a' (still within 1 nat), with 0.1 it follows the best.  Committed keys are the same."""
    from emgrt.decode.charlm import CharLMDecoder

    labels = ["a", "b", ""]
    rows = np.log(np.array([[0.5, 0.45, 0.05], [0.05, 0.45, 0.5]] + [[0.01, 0.01, 0.98]] * 3, dtype=np.float32))

    def shown(**kw):
        dec = CharLMDecoder(labels, 2, lm=None, pause_frames=100, **kw)
        events = []
        for t in range(len(rows)):
            events += dec.push(rows[t : t + 1], t)
        events += dec.flush()
        return [e.text for e in events if e.kind == "hypothesis"], keys_of(events)

    assert shown() == (["a", "b", ""], ["b"])
    assert shown(hypothesis_hold=0.1) == (["a", "b", ""], ["b"])
    assert shown(hypothesis_hold=1.0) == (["a", ""], ["b"])
    with pytest.raises(ConfigError):
        CharLMDecoder(labels, 2, lm=None, hypothesis_hold=-1.0)


def test_commit_stable_commits_what_the_best_beam_kept_for_n_frames():
    """The best beam reads a at frame 0, b from frame 1 on (a close call throughout, so the margin
    rule never commits): with commit_stable=n, b is committed n frames after the flip, a never."""
    from emgrt.decode.charlm import CharLMDecoder

    labels = ["a", "b", ""]
    rows = np.log(np.array([[0.5, 0.45, 0.05], [0.05, 0.45, 0.5]] + [[0.01, 0.01, 0.98]] * 4, dtype=np.float32))
    assert _chars_by_frame(CharLMDecoder(labels, 2, lm=None, pause_frames=100), rows) == []
    for n in (2, 3):
        assert _chars_by_frame(CharLMDecoder(labels, 2, lm=None, pause_frames=100, commit_stable=n), rows) == [(n, "b", 0)]
        with native.use(False):  # the history, as the reference path keeps it
            dec = CharLMDecoder(labels, 2, lm=None, pause_frames=100, commit_stable=n)
        assert _chars_by_frame(dec, rows) == [(n, "b", 0)]
        assert dec._best_history and all(k == () for k in dec._best_history)
    with pytest.raises(ConfigError):
        CharLMDecoder(labels, 2, lm=None, commit_stable=0)


def test_commit_depth_commits_labels_with_enough_labels_after_them():
    """A close call (a over b) at frame 0, then clear a's: with commit_depth=2 the first a is
    committed when the best beam has two labels after it (frame 4), never on time alone."""
    from emgrt.decode.charlm import CharLMDecoder

    labels = ["a", "b", ""]
    close, a, blank = [0.5, 0.45, 0.05], [0.98, 0.01, 0.01], [0.01, 0.01, 0.98]
    rows = np.log(np.array([close, blank, a, blank, a, blank], dtype=np.float32))
    assert _chars_by_frame(CharLMDecoder(labels, 2, lm=None, pause_frames=100), rows) == []
    dec = CharLMDecoder(labels, 2, lm=None, pause_frames=100, commit_depth=2)
    assert _chars_by_frame(dec, rows) == [(4, "a", 0)]
    waiting = np.log(np.array([close] + [blank] * 8, dtype=np.float32))
    assert _chars_by_frame(CharLMDecoder(labels, 2, lm=None, pause_frames=100, commit_depth=2), waiting) == []
    with pytest.raises(ConfigError):
        CharLMDecoder(labels, 2, lm=None, commit_depth=0)
