"""Augmentations do what they say; the transform applies filters, augmentations and features in order."""

import numpy as np
import pytest
from test_data_fixtures import T0, write_fixture_session

from emgrt.data import DataConfig, SpecAugmentConfig, WindowedDataset, item_rngs
from emgrt.data.augment import (
    random_alignment_jitter,
    random_band_rotation,
    rotate_bands,
    shift_bands,
    spec_augment,
)
from emgrt.dsp.features import LogSpectrogram
from emgrt.dsp.filters import FilterSpec, SosFilter, design_sos


def _raw(n=500, seed=0):
    return np.random.default_rng(seed).standard_normal((n, 2, 16)).astype(np.float32)


def test_rotate_bands_rolls_each_band_by_its_own_offset():
    x = _raw()
    out = rotate_bands(x, [1, -2])
    np.testing.assert_array_equal(out[:, 0], np.roll(x[:, 0], 1, axis=-1))
    np.testing.assert_array_equal(out[:, 1], np.roll(x[:, 1], -2, axis=-1))
    assert out[:, 0, 1].tolist() == x[:, 0, 0].tolist()  # electrode 0 moved to position 1
    np.testing.assert_array_equal(rotate_bands(x, [16, 0]), x)


def test_random_band_rotation_draws_from_the_offsets():
    x = np.tile(np.arange(16, dtype=np.float32), (3, 2, 1))  # value = electrode index
    seen = set()
    for s in range(60):
        out = random_band_rotation(x, [-1, 0, 1], np.random.default_rng(s))
        for b in range(2):
            shift = int((-out[0, b, 0]) % 16)  # out[.., 0] = x[.., -shift]
            assert shift in (15, 0, 1)
            np.testing.assert_array_equal(out[:, b], np.roll(x[:, b], shift, axis=-1))
            seen.add((b, shift))
    assert len(seen) == 6  # every offset, for both bands independently
    assert random_band_rotation(x, [], np.random.default_rng(0)) is x


@pytest.mark.parametrize("shift", [7, -7])
def test_shift_bands_moves_one_band_against_the_other(shift):
    x = _raw()
    out = shift_bands(x, shift)
    a = abs(shift)
    assert out.shape == (500 - a, 2, 16)
    if shift > 0:
        np.testing.assert_array_equal(out[:, 0], x[a:, 0])
        np.testing.assert_array_equal(out[:, 1], x[:-a, 1])
    else:
        np.testing.assert_array_equal(out[:, 0], x[:-a, 0])
        np.testing.assert_array_equal(out[:, 1], x[a:, 1])
    assert shift_bands(x, 0) is x


def test_alignment_jitter_is_bounded_and_varies():
    x = _raw(1000)
    lengths = {len(random_alignment_jitter(x, 120, np.random.default_rng(s))) for s in range(200)}
    assert min(lengths) >= 880 and max(lengths) <= 1000 and len(lengths) > 30


def _runs(mask_1d):
    """(start, length) of the True runs of a boolean vector."""
    d = np.diff(np.concatenate([[0], mask_1d.astype(int), [0]]))
    starts, ends = np.flatnonzero(d == 1), np.flatnonzero(d == -1)
    return list(zip(starts, ends - starts))


def test_specaugment_masks_bounded_regions_per_channel():
    cfg = SpecAugmentConfig(n_time_masks=3, time_mask_param=25, n_freq_masks=2, freq_mask_param=4)
    feats = np.ones((300, 2, 16, 33), dtype=np.float32)
    total_masked = 0
    for s in range(20):
        out = spec_augment(feats, cfg, np.random.default_rng(s))
        assert np.all(feats == 1.0)  # input untouched
        assert set(np.unique(out)) <= {0.0, 1.0}
        zero = out == 0.0
        for b in range(2):
            for c in range(16):
                z = zero[:, b, c, :]  # (F, Q)
                time_masked = z.all(axis=1)
                freq_masked = z.all(axis=0)
                # every zero is explained by a masked frame or a masked bin
                assert np.array_equal(z, time_masked[:, None] | freq_masked[None, :])
                # masks may touch or overlap, so a run needs ceil(len / param) masks to cover it
                assert sum(-(-n // 25) for _, n in _runs(time_masked)) <= 3
                assert sum(-(-n // 4) for _, n in _runs(freq_masked)) <= 2
        total_masked += zero.sum()
        # iid: channels draw their own masks
        assert not all(np.array_equal(zero[:, 0, 0], zero[:, b, c]) for b in range(2) for c in range(16))
    assert total_masked > 0


def test_specaugment_shared_masks_and_off():
    feats = np.ones((200, 2, 16, 33), dtype=np.float32)
    out = spec_augment(feats, SpecAugmentConfig(iid=False, mask_value=-3.0), np.random.default_rng(1))
    assert all(np.array_equal(out[:, 0, 0], out[:, b, c]) for b in range(2) for c in range(16))
    assert (out == -3.0).any()
    off = SpecAugmentConfig(n_time_masks=0, n_freq_masks=0)
    assert spec_augment(feats, off, np.random.default_rng(1)) is feats


def test_training_item_is_the_documented_composition(tmp_path):
    """features = SpecAugment(LogSpectrogram(jitter(rotate(filter(raw))))) with the item's streams."""
    path = write_fixture_session(tmp_path / "s.hdf5", 20_000, seed=4)
    cfg = DataConfig.from_dict({"filters": [{"kind": "highpass", "low": 30.0}], "stride": 4000})
    ds = WindowedDataset([path], cfg, train=True, seed=11)
    idx, epoch = 1, 3
    it = ds.get(idx, epoch)
    rngs = item_rngs(11, epoch, idx)
    nominal = int(ds.index.offset[idx])
    assert it.offset == ds.geometry.jitter(nominal, 20_000, rngs.window)
    raw = ds.read(0, it.start, it.stop).copy()
    x = SosFilter(design_sos([FilterSpec("highpass", low=30.0)]))(raw)
    x = random_band_rotation(x, [-1, 0, 1], rngs.rotation)
    x = random_alignment_jitter(x, 120, rngs.alignment)
    want = spec_augment(LogSpectrogram()(x), cfg.augment.specaugment, rngs.specaugment)
    np.testing.assert_array_equal(it.features, want)
    np.testing.assert_array_equal(ds.read(0, it.start, it.stop), raw)  # the cached session is untouched


def test_notch_config_removes_60hz(tmp_path):
    n = 12_000
    t = np.arange(n) / 2000.0
    rng = np.random.default_rng(0)
    hum = 5.0 * np.sin(2 * np.pi * 60.0 * t)[:, None, None]
    emg = (hum + 0.1 * rng.standard_normal((n, 2, 16))).astype(np.float32)
    path = write_fixture_session(tmp_path / "hum.hdf5", n, seed=0, emg=emg)
    plain = WindowedDataset([path], DataConfig(), train=False)
    notched = WindowedDataset([path], DataConfig.from_dict({"filters": [{"kind": "notch", "freq": 60.0}]}), train=False)
    raw, *_ = notched.window(0)
    y = notched.transform.filter(raw)
    tail = slice(4000, None)  # after the filter's settling time
    assert np.sqrt(np.mean(raw[tail] ** 2)) > 3.0
    assert np.sqrt(np.mean(y[tail] ** 2)) < 0.2  # hum gone, noise (0.1 rms) kept
    # and in the features: the bins around 60 Hz (31.25 Hz per bin) lose most of their power
    f_plain, f_notch = plain[0].features, notched[0].features
    assert f_plain.shape == f_notch.shape
    hum_bins = f_plain[300:, :, :, 2].mean() - f_notch[300:, :, :, 2].mean()
    assert hum_bins > 2.0  # log10 power: > 100x less
    assert T0 > 0


def test_single_masks_use_the_whole_width_range_and_no_more():
    cfg = SpecAugmentConfig(n_time_masks=1, time_mask_param=25, n_freq_masks=1, freq_mask_param=4)
    feats = np.ones((300, 2, 16, 33), dtype=np.float32)
    t_widths, f_widths = [], []
    for s in range(10):
        zero = spec_augment(feats, cfg, np.random.default_rng(s)) == 0.0
        for b in range(2):
            for c in range(16):
                z = zero[:, b, c, :]
                t_runs, f_runs = _runs(z.all(axis=1)), _runs(z.all(axis=0))
                assert len(t_runs) <= 1 and len(f_runs) <= 1
                t_widths += [n for _, n in t_runs]
                f_widths += [n for _, n in f_runs]
    assert max(t_widths) <= 25 and max(t_widths) >= 20
    assert max(f_widths) <= 4 and max(f_widths) >= 3
