"""The log-spectrogram front end, one implementation for training and streaming.

emg2qwerty's parameters: per channel, frames of ``n_fft`` = 64 samples every
``hop`` = 16 samples (125 Hz at 2 kHz), a periodic Hann window, no centering
(frame k covers samples [k*hop, k*hop + n_fft)), power normalised by the
window energy (torchaudio's ``normalized=True``), 33 bins, ``log10(power + 1e-6)``.

:func:`log_power` is the only place the spectrum is computed; the offline
:class:`LogSpectrogram` and the frame-by-frame :class:`StreamingLogSpectrogram`
both frame the signal and call it, so their outputs agree bit for bit.

This numpy code is the reference.  When :data:`emgrt.native.ACTIVE`, ``emgrt/dsp/features.cpp``
does the framing, the carried tail and the spectrum up to ``power + eps`` instead (a real FFT
performing pocketfft's operations, so bit-identical to ``scipy.fft.rfft``), and the logarithm
stays numpy's, :func:`_log10`, on both paths: the C library's ``logf`` differs from numpy's
SIMD log by an ulp for about a quarter of inputs, and is slower.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import scipy.fft

from emgrt import native
from emgrt.constants import HOP_LENGTH, LOG_EPS, N_FFT
from emgrt.errors import ConfigError


@dataclass(frozen=True)
class FrontEndConfig:
    n_fft: int = N_FFT  # samples per frame
    hop: int = HOP_LENGTH  # samples between frames
    eps: float = LOG_EPS
    normalized: bool = True

    def __post_init__(self) -> None:
        if self.n_fft < 2 or self.hop < 1 or self.hop > self.n_fft:
            raise ConfigError(f"front end needs n_fft >= 2 and 1 <= hop <= n_fft, got {self.n_fft}, {self.hop}")

    @property
    def n_freq(self) -> int:
        return self.n_fft // 2 + 1

    def num_frames(self, n_samples: int) -> int:
        """Frames produced by ``n_samples`` samples (no centering)."""
        return 0 if n_samples < self.n_fft else 1 + (n_samples - self.n_fft) // self.hop

    def last_samples(self, n_frames: int) -> np.ndarray:
        """(n_frames,) int64: the index of each frame's last sample, counted from the first
        sample of the first frame (what the IMU is read at for a frame: emgrt.data, export verify)."""
        return np.arange(n_frames, dtype=np.int64) * self.hop + self.n_fft - 1

    def to_dict(self) -> dict:
        return asdict(self)


def _window(cfg: FrontEndConfig) -> np.ndarray:
    n = np.arange(cfg.n_fft)
    w = 0.5 - 0.5 * np.cos(2 * np.pi * n / cfg.n_fft)  # periodic Hann, as torch.hann_window
    return w.astype(np.float32)


def _power_scale(window: np.ndarray, cfg: FrontEndConfig) -> float:
    """What the power is divided by: the window energy when normalised, else 1."""
    return float(np.sum(window.astype(np.float64) ** 2)) if cfg.normalized else 1.0


def log_power(frames: np.ndarray, window: np.ndarray, cfg: FrontEndConfig) -> np.ndarray:
    """(..., n_fft) float32 frames -> (..., n_freq) float32 log10 power."""
    spec = scipy.fft.rfft(frames * window, axis=-1)
    power = spec.real**2 + spec.imag**2
    if cfg.normalized:
        power /= _power_scale(window, cfg)
    power = power.astype(np.float32, copy=False)
    power += np.float32(cfg.eps)
    return _log10(power)


_INV_LN10 = np.float32(1.0 / np.log(10.0))  # made once: building it cost ~1 us of every hop


def _log10(power: np.ndarray) -> np.ndarray:
    """log10 of float32 ``power + eps``, in place (the last step of both paths)."""
    # ln(x) / ln(10) in place: float32 log10 is ~2x slower than log in numpy 1.x.
    np.log(power, out=power)
    power *= _INV_LN10
    return power


def _native_args(cfg: FrontEndConfig, window: np.ndarray) -> tuple | None:
    """Arguments of the native spectrum objects, or None where the numpy path runs (not
    ACTIVE, or an n_fft the native FFT does not mirror: it covers powers of two)."""
    if not native.ACTIVE or not native.kernels.rfft_supported(cfg.n_fft):
        return None
    # scale is rounded to float32 in C++, as numpy does dividing float32 power by a Python float.
    return window, cfg.hop, _power_scale(window, cfg), cfg.eps


def _frames_shape(n_frames: int, x: np.ndarray, cfg: FrontEndConfig) -> tuple[int, ...]:
    return (n_frames, *x.shape[1:], cfg.n_freq)


class LogSpectrogram:
    """Offline: (T, *channels) samples -> (F, *channels, n_freq) features."""

    def __init__(self, cfg: FrontEndConfig | None = None) -> None:
        self.cfg = cfg or FrontEndConfig()
        self.window = _window(self.cfg)
        args = _native_args(self.cfg, self.window)
        self._native = native.kernels.PowerSpectrum(*args) if args else None

    def __getstate__(self) -> dict:  # picklable (into worker processes): the path as a flag
        return {**self.__dict__, "_native": self._native is not None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        args = _native_args(self.cfg, self.window) if state["_native"] else None
        self._native = native.kernels.PowerSpectrum(*args) if args else None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        n_frames = self.cfg.num_frames(len(x))
        if n_frames == 0:
            return np.zeros(_frames_shape(0, x, self.cfg), dtype=np.float32)
        if self._native is not None:  # (T, C) -> (F, C, n_freq) power + eps, then the same log
            power = self._native.frames(np.ascontiguousarray(x).reshape(len(x), math.prod(x.shape[1:])))
            return _log10(power).reshape(_frames_shape(n_frames, x, self.cfg))
        view = np.lib.stride_tricks.sliding_window_view(x, self.cfg.n_fft, axis=0)
        frames = view[: (n_frames - 1) * self.cfg.hop + 1 : self.cfg.hop]  # (F, *ch, n_fft)
        return log_power(frames, self.window, self.cfg)


class StreamingLogSpectrogram:
    """Frame-by-frame: push chunks of (n, *channels) samples, get the frames they complete.

    Keeps at most ``n_fft - 1`` samples of history.  Pushing a recording in any
    chunking yields exactly the frames of :class:`LogSpectrogram` on the whole.
    """

    def __init__(self, cfg: FrontEndConfig | None = None) -> None:
        self.offline = LogSpectrogram(cfg)
        self.cfg = self.offline.cfg
        self._carry: np.ndarray | None = None  # samples not yet consumed by a frame
        self.frames_emitted = 0
        args = _native_args(self.cfg, self.offline.window)
        self._native = native.kernels.StreamingPower(*args) if args else None  # carries its own tail

    def reset(self) -> None:
        self._carry = None
        if self._native is not None:
            self._native.reset()
        self.frames_emitted = 0

    def __getstate__(self) -> dict:
        """Picklable on both paths alike: the native tail travels as ``_carry`` (a flat
        (samples, channels) array) and is pushed back into a new native stream on unpickling."""
        state = {**self.__dict__, "_native": self._native is not None}
        if self._native is not None:
            state["_carry"] = self._native.tail()
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        args = _native_args(self.cfg, self.offline.window) if state["_native"] else None
        self._native = native.kernels.StreamingPower(*args) if args else None
        if self._native is not None:
            if self._carry is not None:
                self._native.push(self._carry)  # fewer than n_fft samples: no frame, the tail restored
            self._carry = None

    def push(self, chunk: np.ndarray) -> np.ndarray:
        chunk = np.asarray(chunk, dtype=np.float32)
        if self._native is not None:
            flat = np.ascontiguousarray(chunk).reshape(len(chunk), math.prod(chunk.shape[1:]))
            power = self._native.push(flat)
            out = _log10(power).reshape(_frames_shape(len(power), chunk, self.cfg))
        else:
            buf = chunk if self._carry is None else np.concatenate([self._carry, chunk], axis=0)
            out = self.offline(buf)
            self._carry = buf[len(out) * self.cfg.hop :]
        self.frames_emitted += len(out)
        return out
