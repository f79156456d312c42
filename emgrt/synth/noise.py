"""Recording noise for one band: mains hum, drift, broadband noise, motion artifacts, electrode pops.

Amplitudes are in the same microvolt-like units as the EMG (rest RMS a few
units, keystroke bursts tens).  The recordings are high-pass filtered, so the
drift is small and artifacts return to zero.  ``scale`` (the difficulty's
noise factor) multiplies every amplitude and the artifact rates.
"""

from __future__ import annotations

import numpy as np

from emgrt.constants import CHANNELS_PER_BAND, SAMPLE_RATE_HZ

FS = SAMPLE_RATE_HZ
N_EL = CHANNELS_PER_BAND
_HARMONICS = np.array([1.0, 0.15, 0.35])  # relative amplitude of the 1st-3rd mains harmonics


def smooth_noise(rng: np.random.Generator, n: int, cols: int, knot_hz: float, fs: float = FS) -> np.ndarray:
    """Smooth unit-variance noise (n, cols): random knots every 1/knot_hz s, linearly interpolated."""
    n_knots = int(n / fs * knot_hz) + 2
    knots = rng.standard_normal((n_knots, cols))
    pos = np.arange(n) * (knot_hz / fs)
    grid = np.arange(n_knots)
    return np.stack([np.interp(pos, grid, knots[:, c]) for c in range(cols)], axis=1)


def mix(sources: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``sources @ weights`` as float32, (n, k) x (k, c) -> (n, c), on one thread.

    A small-k product like this would be spread by BLAS over every core and
    oversubscribe a worker pool; einsum's own loop is as fast on one core.
    """
    return np.einsum("nk,kc->nc", sources.astype(np.float32, copy=False), weights.astype(np.float32))


def _ring_bump(rng: np.random.Generator, kappa: float) -> np.ndarray:
    """A smooth random pattern over the electrode ring, peak 1."""
    centre = rng.uniform(0, 2 * np.pi)
    el = 2 * np.pi * np.arange(N_EL) / N_EL
    return np.exp(kappa * (np.cos(el - centre) - 1))


def mains_hum(rng: np.random.Generator, n: int, mains_hz: float, level: float) -> np.ndarray:
    """Power-line hum with harmonics, slowly wandering amplitude and phase, (n, 16) float32."""
    t = np.arange(n) / FS
    phase = 2 * np.pi * mains_hz * t + 0.5 * smooth_noise(rng, n, 1, 0.2)[:, 0]
    z = np.exp(1j * phase) * (1 + 0.25 * smooth_noise(rng, n, 1, 0.5)[:, 0])
    basis = np.empty((n, 2 * len(_HARMONICS)), dtype=np.float32)
    zh = z
    for h in range(len(_HARMONICS)):
        basis[:, 2 * h] = zh.real
        basis[:, 2 * h + 1] = zh.imag
        zh = zh * z
    coupling = level * (0.4 + 0.6 * _ring_bump(rng, 1.0)) * rng.uniform(0.7, 1.3, N_EL)  # per channel
    psi = rng.uniform(0, 2 * np.pi, (len(_HARMONICS), 1)) + rng.normal(0, 0.3, (len(_HARMONICS), N_EL))
    weights = np.empty((2 * len(_HARMONICS), N_EL))
    weights[0::2] = _HARMONICS[:, None] * np.cos(psi) * coupling
    weights[1::2] = -_HARMONICS[:, None] * np.sin(psi) * coupling
    return mix(basis, weights)


def drift(rng: np.random.Generator, n: int, level: float, sources: int = 3) -> np.ndarray:
    """Small slow baseline wander (what survives the high-pass filter), (n, 16) float32.

    A few slow sources (cable sway, sweat, skin stretch) mixed onto the electrodes.
    """
    weights = rng.normal(0, 1.0, (sources, N_EL)) / np.sqrt(sources)
    weights[0] = 0.6 + 0.2 * rng.standard_normal(N_EL)  # common-mode part
    return mix(smooth_noise(rng, n, sources, 1.5), level * weights)


def motion_artifacts(rng: np.random.Generator, out: np.ndarray, rate_per_min: float, level: float) -> int:
    """Add low-frequency multi-channel transients (arm or cable movement) to ``out``; returns the count."""
    n = len(out)
    count = int(rng.poisson(rate_per_min * n / FS / 60))
    for _ in range(count):
        dur = int(rng.uniform(0.2, 0.8) * FS)
        start = int(rng.integers(0, max(1, n - dur)))
        m = min(dur, n - start)
        t = np.arange(m) / FS
        wave = np.hanning(dur)[:m] * np.sin(2 * np.pi * rng.uniform(2, 8) * t + rng.uniform(0, 2 * np.pi))
        pattern = level * rng.lognormal(np.log(40), 0.5) * _ring_bump(rng, 1.5) * rng.uniform(0.7, 1.3, N_EL)
        out[start : start + m] += (wave[:, None] * pattern[None, :]).astype(np.float32)
    return count


def electrode_pops(rng: np.random.Generator, out: np.ndarray, rate_per_min: float, level: float) -> int:
    """Add step-and-decay pops (an electrode briefly losing contact) on single channels; returns the count."""
    n = len(out)
    count = int(rng.poisson(rate_per_min * n / FS / 60))
    for _ in range(count):
        tau = rng.uniform(0.02, 0.2)
        start = int(rng.integers(0, n))
        m = min(int(5 * tau * FS), n - start)
        amp = level * rng.lognormal(np.log(120), 0.6) * rng.choice([-1.0, 1.0])
        decay = amp * np.exp(-np.arange(m) / (tau * FS))
        out[start : start + m, int(rng.integers(N_EL))] += decay.astype(np.float32)
    return count


def band_noise(
    rng: np.random.Generator,
    n: int,
    *,
    mains_hz: float,
    scale: float,
    channel_sigma: np.ndarray,
) -> np.ndarray:
    """All noise of one band, (n, 16) float32; ``channel_sigma`` is each channel's broadband RMS."""
    out = rng.standard_normal((n, N_EL), dtype=np.float32)
    out *= channel_sigma.astype(np.float32)
    out += mains_hum(rng, n, mains_hz, 1.2 * scale * rng.uniform(0.4, 1.6))
    out += drift(rng, n, 0.8 * scale)
    motion_artifacts(rng, out, 1.0 * scale, 1.0)
    electrode_pops(rng, out, 0.5 * scale, 1.0)
    return out
