"""The display/stable/commit latency definitions (emgrt.stream.display) on hand-made event timelines."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emgrt.decode import apply_keys
from emgrt.stream.display import key_times, revisions, snapshots, type_key

BS, SHIFT, ENTER = "\u232b", "\u21e7", "\u23ce"


def char(t, key):
    return (t, {"type": "char", "key": key, "t": t})


def hyp(t, text):
    return (t, {"type": "hypothesis", "text": text, "t": t})


def test_shown_in_hypothesis_before_commit():
    tl = [hyp(1.2, "a"), hyp(2.1, "ab"), char(3.0, "a"), hyp(3.0, "b"), char(3.5, "b"), hyp(3.5, "")]
    kt = key_times("ab", np.array([1.0, 2.0]), tl)
    assert kt.display == pytest.approx([0.2, 0.1])
    assert kt.stable == pytest.approx([0.2, 0.1])
    assert kt.commit == pytest.approx([2.0, 1.5])
    assert list(kt.commit_event) == [0, 1] and kt.revisions == 0 and kt.never_shown == 0


def test_revised_away_and_back_counts_a_revision_and_stable_is_the_later_time():
    tl = [hyp(1.1, "c"), hyp(1.4, "x"), hyp(1.9, "c"), char(2.5, "c"), hyp(2.5, "")]
    kt = key_times("c", np.array([1.0]), tl)
    assert kt.display == pytest.approx([0.1])
    assert kt.stable == pytest.approx([0.9])
    assert kt.commit == pytest.approx([1.5])
    assert kt.revisions == 2  # c -> x, x -> c


def test_never_shown_correctly():
    tl = [hyp(1.2, "ax"), char(2.0, "a"), char(2.0, "x"), hyp(2.0, "")]
    kt = key_times("ab", np.array([1.0, 1.1]), tl)
    assert kt.display[0] == pytest.approx(0.2) and np.isnan(kt.display[1])
    assert np.isnan(kt.stable[1]) and np.isnan(kt.commit[1]) and kt.never_shown == 1


def test_backspaces_in_reference_and_decoded_keys():
    # Typed "ax⌫b": x is a target only until its ⌫; the ⌫ puts nothing on screen.
    # Decoded: a, x, then ⌫ and b committed.
    tl = [char(1.1, "a"), char(1.3, "x"), char(1.6, BS), char(2.2, "b")]
    kt = key_times("ax" + BS + "b", np.array([1.0, 1.2, 1.5, 2.0]), tl)
    assert list(kt.target) == [True, True, False, True]
    assert kt.display[[0, 1, 3]] == pytest.approx([0.1, 0.1, 0.2])
    assert kt.stable[[0, 1, 3]] == pytest.approx([0.1, 0.1, 0.2])  # x stayed until it was erased
    assert np.isnan(kt.display[2]) and kt.never_shown == 0
    assert kt.revisions == 1  # the erased x


def test_extra_inserted_char_does_not_shift_the_match():
    tl = [char(1.1, "a"), char(1.2, "z"), char(2.1, "b")]
    kt = key_times("ab", np.array([1.0, 2.0]), tl)
    assert kt.display == pytest.approx([0.1, 0.1]) and list(kt.commit_event) == [0, 2]


def test_a_char_shown_before_its_press_is_shown_at_the_press_not_matched_to_a_later_key():
    # Decoded "e" early: it is the first e (pressed at 1.0), never the later one at 3.0, even though
    # an alignment against the whole reference "e e" would put it on the later e.
    tl = [char(0.9, "e"), char(3.4, " "), char(3.5, "e")]
    kt = key_times("e e", np.array([1.0, 2.0, 3.0]), tl)
    assert kt.commit == pytest.approx([0.0, 1.4, 0.5]) and list(kt.commit_event) == [0, 1, 2]
    # Ties go to the earliest keystroke: "ab" shown against "aXbYab" is keys 0 and 2.
    kt = key_times("aXbYab", np.arange(6.0), [char(5.5, "a"), char(5.5, "b")])
    assert list(np.flatnonzero(np.isfinite(kt.display))) == [0, 2]


def test_steps_events_change_the_screen_together():
    # A commit and the shrunk hypothesis of the same step: no transient "aa" on screen.
    tl = [hyp(1.1, "a"), char(1.5, "a"), hyp(1.5, "")]
    displayed, committed = snapshots(tl)
    assert [s[1] for s in displayed] == ["a"] and [s[1] for s in committed] == ["", "a"]
    assert revisions(displayed) == 0


@given(st.lists(st.sampled_from(["a", "b", " ", BS, SHIFT, ENTER]), max_size=30))
def test_screen_with_owners_is_apply_keys(keys):
    chars: list[str] = []
    owners: list[int] = []
    for i, k in enumerate(keys):
        type_key(chars, owners, k, i)
    assert "".join(chars) == apply_keys("", keys)
    assert all(apply_keys("", [keys[o]]) == c for c, o in zip(chars, owners))


KEYS = st.sampled_from(["a", "b", "c", " ", BS])


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(KEYS, st.floats(0.0, 2.0)), min_size=1, max_size=15),
    st.lists(st.tuples(st.sampled_from(["char", "hypothesis"]), st.text("abc " + BS, max_size=4), st.floats(0.0, 2.0)), max_size=25),
)
def test_no_latency_is_negative_and_stable_follows_display(typed, decoded):
    reference = "".join(k for k, _ in typed)
    presses = np.cumsum([dt for _, dt in typed])
    tl, t = [], 0.0
    for kind, text, dt in decoded:
        t += dt
        tl.append(char(t, text[:1] or "a") if kind == "char" else hyp(t, text))
    kt = key_times(reference, presses, tl)
    for v in (kt.display, kt.stable, kt.commit):
        assert np.all(np.isnan(v) | (v >= 0))
    assert np.all(np.isnan(kt.stable) | (kt.stable >= kt.display))
    assert np.all(np.isnan(kt.display[~kt.target]))  # ⌫ keystrokes put nothing on screen
