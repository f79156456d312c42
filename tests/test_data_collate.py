"""Collate: padding values, lengths and masks."""

import numpy as np
import pytest

from emgrt.data import BLANK, Item, collate, padding_waste


def _item(f, labels, name="s", offset=0):
    feats = np.random.default_rng(f).standard_normal((f, 2, 16, 33)).astype(np.float32) + 5.0
    return Item(feats, np.asarray(labels, dtype=np.int64), name, offset, max(offset - 10, 0), offset + 50, f)


def test_padding_lengths_and_masks():
    items = [_item(7, [3, 1, 4]), _item(12, []), _item(5, [9, 2, 6, 5, 3], "t", 99)]
    b = collate(items)
    assert BLANK == 98
    assert b["features"].shape == (3, 12, 2, 16, 33) and b["features"].dtype == np.float32
    assert b["feature_lengths"].tolist() == [7, 12, 5] and b["feature_lengths"].dtype == np.int64
    assert b["targets"].shape == (3, 5) and b["targets"].dtype == np.int64
    assert b["target_lengths"].tolist() == [3, 0, 5]
    for i, it in enumerate(items):
        f, n = len(it.features), len(it.labels)
        np.testing.assert_array_equal(b["features"][i, :f], it.features)
        assert np.all(b["features"][i, f:] == 0.0)
        assert b["feature_mask"][i].tolist() == [True] * f + [False] * (12 - f)
        assert b["targets"][i, :n].tolist() == it.labels.tolist()
        assert np.all(b["targets"][i, n:] == BLANK)
        assert b["target_mask"][i].tolist() == [True] * n + [False] * (5 - n)
    assert b["feature_mask"].dtype == bool and b["target_mask"].dtype == bool
    assert b["sessions"] == ["s", "s", "t"] and b["offsets"] == [0, 0, 99] and b["starts"] == [0, 0, 89]


def test_padding_is_zero_even_in_reused_memory():
    items = [_item(3, [1]), _item(6, [1, 2])]
    b = collate(items, alloc=lambda shape, dtype: np.full(shape, np.nan, dtype=dtype))
    assert np.all(b["features"][0, 3:] == 0.0) and not np.isnan(b["features"]).any()
    assert collate(items, blank=7)["targets"][0].tolist() == [1, 7]


def test_collate_rejects_mismatched_or_empty():
    with pytest.raises(ValueError, match="empty"):
        collate([])
    bad = Item(np.zeros((3, 2, 16, 20), np.float32), np.zeros(0, np.int64), "s", 0, 0, 1, 3)
    with pytest.raises(ValueError, match="feature shape"):
        collate([_item(3, []), bad])


def test_padding_waste():
    lengths = np.array([10, 10, 5, 1])
    assert padding_waste(lengths, [[0, 1], [2, 3]]) == pytest.approx(4 / 30)
    assert padding_waste(lengths, [[0, 3]]) == pytest.approx(9 / 20)
    assert padding_waste(lengths, []) == 0.0
