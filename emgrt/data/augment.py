"""Train-time augmentations (emg2qwerty's), pure functions of the data and a Generator.

Raw window ``x`` is (T, 2, 16) float32 (time, band, electrode); features are
(F, 2, 16, n_freq).  None of them modifies its input.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from emgrt.data.config import SpecAugmentConfig


def rotate_bands(x: np.ndarray, shifts: Sequence[int]) -> np.ndarray:
    """Roll each band's electrodes: ``out[:, b, e] = x[:, b, (e - shifts[b]) % C]`` (np.roll per band)."""
    n_ch = x.shape[2]
    out = np.empty_like(x)
    for b, shift in enumerate(shifts):
        r = int(shift) % n_ch
        if r == 0:
            out[:, b] = x[:, b]
        else:  # two slice copies: cheaper than a gather
            out[:, b, r:] = x[:, b, : n_ch - r]
            out[:, b, :r] = x[:, b, n_ch - r :]
    return out


def random_band_rotation(x: np.ndarray, offsets: Sequence[int], rng: np.random.Generator) -> np.ndarray:
    """Each band independently rolled by an offset drawn uniformly from ``offsets``."""
    if not offsets or all(o == 0 for o in offsets):
        return x
    shifts = rng.choice(np.asarray(offsets, dtype=np.int64), size=x.shape[1])
    return rotate_bands(x, shifts)


def shift_bands(x: np.ndarray, shift: int) -> np.ndarray:
    """Misalign the two bands by ``shift`` samples, trimming |shift| samples.

    shift > 0: ``out[:, 0] = x[shift:, 0]``, ``out[:, 1] = x[:-shift, 1]`` (the
    left band is moved earlier relative to the right one); shift < 0 the reverse.
    """
    n = len(x)
    shift = int(np.clip(shift, -(n - 1), n - 1)) if n else 0
    if shift == 0:
        return x
    a = abs(shift)
    out = np.empty((n - a, *x.shape[1:]), dtype=x.dtype)
    if shift > 0:
        out[:, 0] = x[a:, 0]
        out[:, 1] = x[: n - a, 1]
    else:
        out[:, 0] = x[: n - a, 0]
        out[:, 1] = x[a:, 1]
    return out


def random_alignment_jitter(x: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """``shift_bands`` by a shift uniform in [-max_shift, max_shift]."""
    if max_shift <= 0:
        return x
    return shift_bands(x, int(rng.integers(-max_shift, max_shift + 1)))


def _mask_runs(size: int, param: int, n_masks: int, lead: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Boolean (*lead, size): the union of ``n_masks`` runs per lead cell, each < param+1 long.

    torchaudio's rule: value = u * param, lo = v * (size - value), mask [floor(lo), floor(lo + value)).
    """
    value = rng.random((*lead, n_masks, 1)) * param
    lo = rng.random((*lead, n_masks, 1)) * (size - value)
    start = np.floor(lo)
    end = np.floor(lo + value)
    pos = np.arange(size)
    return ((pos >= start) & (pos < end)).any(axis=-2)


def spec_augment(
    feats: np.ndarray, cfg: SpecAugmentConfig, rng: np.random.Generator, *, inplace: bool = False
) -> np.ndarray:
    """Time and frequency masking of (F, bands, C, n_freq) features.

    Returns a masked copy, or ``feats`` itself masked in place if ``inplace``.
    """
    if not cfg.active or feats.size == 0:
        return feats
    n_frames, n_bands, n_ch, n_freq = feats.shape
    lead = (n_bands, n_ch) if cfg.iid else (1, 1)
    out = feats if inplace else feats.copy()
    if cfg.n_time_masks > 0 and cfg.time_mask_param > 0:
        tm = _mask_runs(n_frames, cfg.time_mask_param, cfg.n_time_masks, lead, rng)  # (b, c, F)
        tm = np.broadcast_to(tm, (n_bands, n_ch, n_frames))
        out[np.moveaxis(tm, -1, 0)] = cfg.mask_value
    if cfg.n_freq_masks > 0 and cfg.freq_mask_param > 0:
        fm = _mask_runs(n_freq, cfg.freq_mask_param, cfg.n_freq_masks, lead, rng)  # (b, c, Q)
        fm = np.broadcast_to(fm, (n_bands, n_ch, n_freq))
        out[:, fm] = cfg.mask_value
    return out
