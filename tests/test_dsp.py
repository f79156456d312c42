"""Filters and the front end: chunked (streaming) output equals offline output."""

import numpy as np
import pytest

from emgrt.dsp.features import FrontEndConfig, LogSpectrogram, StreamingLogSpectrogram
from emgrt.dsp.filters import FilterSpec, SosFilter, design_sos, filter_offline
from emgrt.errors import ConfigError

FS = 2000


def _chunks(x, rng):
    i = 0
    while i < len(x):
        n = int(rng.integers(1, 400))
        yield x[i : i + n]
        i += n


@pytest.fixture
def signal():
    rng = np.random.default_rng(1)
    return (rng.standard_normal((20000, 2, 16)) * 20).astype(np.float32)


def test_streaming_filter_equals_offline(signal):
    sos = design_sos([FilterSpec("bandpass", low=20, high=450), FilterSpec("notch", freq=60)])
    ref = filter_offline(sos, signal)
    f = SosFilter(sos)
    out = np.concatenate([f(c) for c in _chunks(signal, np.random.default_rng(2))])
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-4)


def test_no_startup_transient_on_constant_input():
    sos = design_sos([FilterSpec("lowpass", high=100)])
    x = np.full((2000, 3), 7.0, dtype=np.float32)
    np.testing.assert_allclose(SosFilter(sos)(x), 7.0, atol=1e-4)


def test_notch_removes_mains_hum():
    t = np.arange(FS * 4) / FS
    hum = np.sin(2 * np.pi * 60 * t)[:, None].astype(np.float32)
    out = filter_offline(design_sos([FilterSpec("notch", freq=60, q=10)]), hum)
    assert np.std(out[FS:]) < 0.05 * np.std(hum)


def test_highpass_removes_drift_keeps_emg_band():
    t = np.arange(FS * 4) / FS
    drift = np.sin(2 * np.pi * 0.5 * t)
    emg = 0.5 * np.sin(2 * np.pi * 150 * t)
    out = filter_offline(design_sos([FilterSpec("highpass", low=20)]), (drift + emg)[:, None])[FS:, 0]
    assert np.std(out) == pytest.approx(np.std(emg[FS:]), rel=0.05)


@pytest.mark.parametrize(
    "spec,match",
    [(dict(kind="bandpass", low=450, high=20), "low < high"), (dict(kind="notch", freq=1500), "freq < 1000"),
     (dict(kind="comb"), "unknown; use one of"), (dict(kind="notch", freq=60, width=3), "unknown keys")],
)
def test_bad_filter_specs(spec, match):
    with pytest.raises(ConfigError, match=match):
        FilterSpec.from_dict(spec)


def test_front_end_shapes():
    cfg = FrontEndConfig()
    assert (cfg.n_fft, cfg.hop, cfg.n_freq) == (64, 16, 33)
    assert cfg.num_frames(63) == 0 and cfg.num_frames(64) == 1 and cfg.num_frames(10000) == 622
    assert LogSpectrogram()(np.zeros((10000, 2, 16), np.float32)).shape == (622, 2, 16, 33)
    assert LogSpectrogram()(np.zeros((10, 2, 16), np.float32)).shape == (0, 2, 16, 33)


def test_frame_by_frame_equals_offline(signal):
    offline = LogSpectrogram()(signal)
    for seed in range(3):
        s = StreamingLogSpectrogram()
        out = np.concatenate([s.push(c) for c in _chunks(signal, np.random.default_rng(seed))])
        assert out.shape == offline.shape
        np.testing.assert_allclose(out, offline, rtol=0, atol=1e-6)
    # Sample-by-sample too (the hardest chunking).
    s = StreamingLogSpectrogram()
    out = np.concatenate([s.push(signal[i : i + 1]) for i in range(2000)])
    np.testing.assert_allclose(out, LogSpectrogram()(signal[:2000]), rtol=0, atol=1e-6)


def test_frame_k_covers_samples_k_hop_to_k_hop_plus_n_fft(signal):
    x = signal[:, 0, 0]
    feats = LogSpectrogram()(x)
    k = 17
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(64) / 64)
    seg = x[k * 16 : k * 16 + 64].astype(np.float64)
    power = np.abs(np.fft.rfft(seg * w)) ** 2 / np.sum(w**2)
    np.testing.assert_allclose(feats[k], np.log10(power + 1e-6), atol=1e-4)


def test_matches_torchaudio_style_spectrogram(signal):
    torch = pytest.importorskip("torch")
    x = torch.from_numpy(signal[:4000]).movedim(0, -1).reshape(32, -1).double()
    w = torch.hann_window(64, dtype=torch.float64)
    spec = torch.stft(x, n_fft=64, hop_length=16, window=w, center=False, return_complex=True).abs() ** 2
    ref = torch.log10(spec / (w**2).sum() + 1e-6).reshape(2, 16, 33, -1).movedim(-1, 0).numpy()
    np.testing.assert_allclose(LogSpectrogram()(signal[:4000]), ref, atol=2e-3)
