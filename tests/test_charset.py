import string

import pytest

from emgrt.charset import BACKSPACE, ENTER, SHIFT, CharSet, apply_backspaces, emg2qwerty_charset


@pytest.fixture
def cs() -> CharSet:
    return emg2qwerty_charset()


def test_sizes_and_blank_match_facts(cs):
    # 26 lower + 26 upper + 10 digits + 32 punctuation + backspace, enter, space, shift
    assert cs.num_classes == 98
    assert cs.blank == 98
    assert cs.num_outputs == 99


def test_class_order(cs):
    assert cs.keys[:26] == tuple(string.ascii_lowercase)
    assert cs.keys[26:52] == tuple(string.ascii_uppercase)
    assert cs.keys[52:62] == tuple(string.digits)
    assert cs.keys[62:94] == tuple(string.punctuation)
    assert cs.keys[94:] == ("Key.backspace", "Key.enter", "Key.space", "Key.shift")
    assert cs.chars[94:] == BACKSPACE + ENTER + " " + SHIFT
    assert (BACKSPACE, ENTER, SHIFT) == ("\u232b", "\u23ce", "\u21e7")


@pytest.mark.parametrize(
    "key,label",
    [("a", 0), ("A", 26), ("0", 52), ("!", 62), ("~", 93), ("Key.backspace", 94), ("Key.enter", 95),
     ("Key.space", 96), ("Key.shift", 97), (" ", 96), ("\n", 95), ("\r", 95), ("\b", 94),
     ("\u2019", 62 + string.punctuation.index("'")), ("\u2014", 62 + string.punctuation.index("-")),
     ("\u00e9", 4)],
)
def test_pynput_key_normalisation(cs, key, label):
    assert cs.key_to_label(key) == label


@pytest.mark.parametrize("key", ["Key.shift_r", "Key.shift_l", "Key.tab", "Key.ctrl", "Key.cmd", "\u20ac", ""])
def test_out_of_vocabulary_keys_are_dropped(cs, key):
    assert cs.key_to_label(key) is None
    assert cs.keys_to_labels(["a", key, "b"]) == [0, 1]


def test_string_round_trip(cs):
    text = "Hello, World!\n42 \u232b"
    labels = cs.str_to_labels(text)
    assert cs.labels_to_str(labels) == "Hello, World!" + ENTER + "42 " + BACKSPACE
    assert len(labels) == len(text)


def test_json_round_trip_and_blank_check(cs):
    assert CharSet.from_json(cs.to_json()) == cs
    bad = cs.to_json().replace('"blank": 98', '"blank": 0')
    with pytest.raises(ValueError, match="blank"):
        CharSet.from_json(bad)


def test_apply_backspaces():
    assert apply_backspaces("thw" + BACKSPACE + "e" + SHIFT + "X") == "theX"
    assert apply_backspaces(BACKSPACE * 3 + "a") == "a"
