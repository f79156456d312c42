"""Window index, padding, labels, start jitter and per-item determinism."""

import numpy as np
import pytest
from test_data_fixtures import make_dataset, reference_labels, write_fixture_session

from emgrt.data import DataConfig, WindowedDataset, WindowGeometry
from emgrt.dsp.features import LogSpectrogram
from emgrt.io.session import SessionFile

LENGTHS = (21_000, 9_000, 33_000, 12_500, 7_000)  # the last is shorter than one window
NO_AUG = {
    "augment": {"band_rotation": [], "alignment_jitter": 0, "specaugment": {"n_time_masks": 0, "n_freq_masks": 0}}
}


@pytest.fixture(scope="module")
def ds_root(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("win"), LENGTHS)


def _paths(root):
    return [root / f"s{i}.hdf5" for i in range(len(LENGTHS))]


def _reference_windows(n, w, stride, past, future):
    """(offset, start, stop) of every window of a session of n samples, written out by hand."""
    out, offset = [], 0
    while offset + w <= n:
        out.append((offset, max(offset - past, 0), min(offset + w + future, n)))
        offset += stride
    return out


@pytest.mark.parametrize("stride", [8000, 3000, 5000])
def test_window_count_offsets_and_padded_bounds(ds_root, stride):
    ds = WindowedDataset(_paths(ds_root), DataConfig.from_dict({"stride": stride}), train=False)
    got = [(int(s), it.offset, it.start, it.stop) for s, it in zip(ds.index.session, (ds[i] for i in range(len(ds))))]
    want = [(s, *w) for s, n in enumerate(LENGTHS) for w in _reference_windows(n, 8000, stride, 1800, 200)]
    assert got == want
    # the first window of each session has its past padding clamped, so it is shorter
    firsts = [it for it in (ds[i] for i in range(len(ds))) if it.offset == 0]
    assert all(it.start == 0 and it.stop - it.start == 8200 for it in firsts)
    assert {
        ds[i].stop - ds[i].start
        for i in range(len(ds))
        if ds[i].offset >= 1800 and ds[i].offset + 8200 <= LENGTHS[ds.index.session[i]]
    } == {10_000}
    assert len(firsts) == 4  # the 7000-sample session gives no window


def test_geometry_clamps_future_padding_at_session_end():
    g = WindowGeometry(8000, 8000, 1800, 200)
    assert g.bounds(13_000, 21_000) == (11_200, 21_000)  # 8000 + 200 would pass the end
    assert list(g.offsets(16_000)) == [0, 8000]
    assert list(g.offsets(7_999)) == []


def test_labels_are_exactly_the_keystrokes_in_the_unpadded_window(ds_root):
    ds = WindowedDataset(_paths(ds_root), DataConfig.from_dict({"stride": 2000}), train=False)
    checked = 0
    for i in range(len(ds)):
        it = ds[i]
        want = reference_labels(ds_root / f"{it.session}.hdf5", it.offset, 8000)
        assert it.labels.dtype == np.int64
        assert it.labels.tolist() == want
        checked += len(want)
    assert checked > 50


def test_jittered_windows_keep_exact_labels_and_stay_in_range(ds_root):
    ds = WindowedDataset(_paths(ds_root), DataConfig.from_dict({"stride": 5000}), train=True, seed=3)
    moved = 0
    for epoch in range(3):
        for i in range(len(ds)):
            it = ds.get(i, epoch)
            nominal = int(ds.index.offset[i])
            n = LENGTHS[int(ds.index.session[i])]
            leftover = n - (nominal + 8000)
            assert nominal <= it.offset < nominal + max(1, min(5000, leftover))
            assert (it.start, it.stop) == (max(it.offset - 1800, 0), min(it.offset + 8200, n))
            assert it.labels.tolist() == reference_labels(ds_root / f"{it.session}.hdf5", it.offset, 8000)
            moved += it.offset != nominal
    assert moved > len(ds)  # most windows move


def test_no_jitter_when_not_training_or_disabled(ds_root):
    for cfg, train in ((DataConfig(), False), (DataConfig.from_dict({"jitter": False, **NO_AUG}), True)):
        ds = WindowedDataset(_paths(ds_root), cfg, train=train, seed=1)
        offsets = [[ds.get(i, e).offset for i in range(len(ds))] for e in (0, 5)]
        assert offsets[0] == offsets[1] == ds.index.offset.tolist()


def test_items_deterministic_per_seed_epoch_index(ds_root):
    cfg = DataConfig.from_dict({"stride": 4000})
    a = WindowedDataset(_paths(ds_root), cfg, train=True, seed=7)
    b = WindowedDataset(_paths(ds_root), cfg, train=True, seed=7)
    c = WindowedDataset(_paths(ds_root), cfg, train=True, seed=8)
    i = 2
    x = a.get(i, 4)
    for y in (b.get(i, 4), a.get(i, 4)):  # another instance, and the same one again after others
        assert y.offset == x.offset and np.array_equal(y.features, x.features)
    b.set_epoch(4)
    assert np.array_equal(b[i].features, x.features) and np.array_equal(b[(i, 4)].features, x.features)
    assert not np.array_equal(a.get(i, 5).features, x.features)
    assert not np.array_equal(c.get(i, 4).features, x.features)


def test_features_equal_log_spectrogram_of_the_raw_slice(ds_root):
    ds = WindowedDataset(_paths(ds_root), DataConfig(), train=False)
    spec = LogSpectrogram()
    for i in (0, 1, len(ds) - 1):
        it = ds[i]
        raw = SessionFile(ds_root / f"{it.session}.hdf5").emg(it.start, it.stop)
        want = spec(raw)
        assert it.features.dtype == np.float32 and it.features.shape == want.shape == (it.n_frames, 2, 16, 33)
        np.testing.assert_array_equal(it.features, want)


def test_whole_session_items(ds_root):
    cfg = DataConfig.from_dict({"window_length": 0, "padding": [0, 0]})
    ds = WindowedDataset(_paths(ds_root), cfg, train=True, seed=0)  # whole sessions never jitter
    assert len(ds) == len(LENGTHS)
    for i, n in enumerate(LENGTHS):
        it = ds[i]
        assert (it.offset, it.start, it.stop) == (0, 0, n)
        assert it.labels.tolist() == reference_labels(ds_root / f"s{i}.hdf5", 0, n)
        assert ds.lengths[i] == 1 + (n - 64) // 16
        assert ds.lengths[i] - 8 <= it.n_frames <= ds.lengths[i]  # alignment jitter trims <= 120 samples


def test_session_cache_does_not_change_items(ds_root):
    cached = WindowedDataset(_paths(ds_root), DataConfig(), train=True, seed=2)
    cached.preload()
    plain = WindowedDataset(_paths(ds_root), DataConfig().with_loader(cache_mb=0), train=True, seed=2)
    assert cached.cache_stats()["sessions"]["items"] == len(LENGTHS)
    for i in range(len(cached)):
        assert np.array_equal(cached.get(i, 1).features, plain.get(i, 1).features)
    assert plain.cache_stats()["sessions"]["items"] == 0


def test_eval_items_are_cached_and_read_only(ds_root):
    ds = WindowedDataset(_paths(ds_root), DataConfig(), train=False)
    a = ds[0]
    assert ds[0] is a and not a.features.flags.writeable
    assert ds.cache_stats()["items"]["hits"] == 1


def test_too_short_and_empty_inputs(tmp_path):
    p = write_fixture_session(tmp_path / "short.hdf5", 3000, seed=1)
    ds = WindowedDataset([p], DataConfig(), train=True)
    assert len(ds) == 0
    with pytest.raises(IndexError):
        ds[0]
