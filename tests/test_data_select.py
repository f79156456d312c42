"""Label filtering: classes kept in the targets, windows dropped by label count."""

import numpy as np
import pytest
from test_data_fixtures import make_dataset, reference_labels

from emgrt.charset import emg2qwerty_charset
from emgrt.data import DataConfig, LabelConfig, LabelSelector, WindowedDataset
from emgrt.errors import ConfigError

CS = emg2qwerty_charset()
SHIFT, SPACE, BKSP = CS.key_to_label("Key.shift"), CS.key_to_label("Key.space"), CS.key_to_label("Key.backspace")
A, B = CS.key_to_label("a"), CS.key_to_label("b")
LENGTHS = (21_000, 9_000, 33_000, 12_500)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("sel"), LENGTHS)


def test_selector_by_key_name_or_character():
    labels = np.array([A, SHIFT, B, SPACE, BKSP, A])
    assert LabelSelector(LabelConfig(exclude=("Key.shift",)))(labels).tolist() == [A, B, SPACE, BKSP, A]
    assert LabelSelector(LabelConfig(exclude=("\u21e7", " ")))(labels).tolist() == [A, B, BKSP, A]
    assert LabelSelector(LabelConfig(exclude=("shift", "backspace")))(labels).tolist() == [A, B, SPACE, A]
    assert LabelSelector(LabelConfig(include=("a", "\u232b")))(labels).tolist() == [A, BKSP, A]
    both = LabelSelector(LabelConfig(include=("a", "b"), exclude=("b",)))
    assert both(labels).tolist() == [A, A]
    assert LabelSelector()(labels).tolist() == labels.tolist()
    with pytest.raises(ConfigError, match="data.labels.include: unknown class 'Key.f1'"):
        LabelSelector(LabelConfig(include=("Key.f1",)))


def test_min_max_labels():
    sel = LabelSelector(LabelConfig(min_labels=2, max_labels=4))
    assert [sel.keep(n) for n in range(6)] == [False, False, True, True, True, False]


def _ref(root, it, exclude=()):
    return [x for x in reference_labels(root / f"{it.session}.hdf5", it.offset, 8000) if x not in exclude]


def test_dataset_targets_exclude_classes(root):
    cfg = DataConfig.from_dict({"stride": 3000, "labels": {"exclude": ["Key.shift", "a"]}})
    ds = WindowedDataset([root / f"s{i}.hdf5" for i in range(4)], cfg, train=False)
    dropped = 0
    for i in range(len(ds)):
        it = ds[i]
        assert it.labels.tolist() == _ref(root, it, exclude=(SHIFT, A))
        assert int(ds.index.n_labels[i]) == len(it.labels)
        dropped += len(_ref(root, it)) - len(it.labels)
    assert dropped > 0


def test_dataset_drops_windows_by_label_count(root):
    paths = [root / f"s{i}.hdf5" for i in range(4)]
    all_ = WindowedDataset(paths, DataConfig.from_dict({"stride": 2000}), train=False)
    counts = [len(all_[i].labels) for i in range(len(all_))]
    lo, hi = int(np.percentile(counts, 30)), int(np.percentile(counts, 70))
    cfg = DataConfig.from_dict({"stride": 2000, "labels": {"min_labels": lo, "max_labels": hi}})
    kept = WindowedDataset(paths, cfg, train=False)
    want = [(int(s), int(o)) for s, o, n in zip(all_.index.session, all_.index.offset, counts) if lo <= n <= hi]
    assert list(zip(kept.index.session.tolist(), kept.index.offset.tolist())) == want
    assert 0 < len(kept) < len(all_)
    assert all(lo <= len(kept[i].labels) <= hi for i in range(len(kept)))
