"""Label-free adaptation to a new wrist: running standardisation of the log-spectrogram.

A band on a new wrist (or re-seated) changes each electrode's gain, impedance and noise floor,
which shifts and scales that electrode's log-power features.  The model's input BatchNorm
normalises with the training data's fixed statistics, so those shifts reach the network.
:class:`RunningNorm` follows the user's own statistics instead and maps them onto the training
ones, per feature (band x electrode x frequency bin)::

    mu  <- mu  + a * (x - mu)                    a = 1 / (tau_s * frame rate)
    var <- var + a * ((x - mu)^2 - var)
    y    = (x - mu) * sqrt(var_train / var) + mu_train

with ``mu, var`` starting at the training values, so the first frames pass unchanged and the
correction grows as the user's signal is seen.  This is test-time BatchNorm adaptation
("AdaBN") made causal: it needs no labels, no torch and no gradient, and because it is a
per-frame recursion it gives the same frames whatever the chunking (streamed == offline).

The recursions are first-order IIR filters, run by ``scipy.signal.lfilter`` with carried state.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

from emgrt.errors import ConfigError

VAR_FLOOR = 1e-6  # log10-power variance floor (a dead electrode is constant)


class RunningNorm:
    """Per-feature running standardisation onto ``(mean, var)`` with time constant ``tau_frames``."""

    def __init__(self, mean: np.ndarray, var: np.ndarray, tau_frames: float) -> None:
        mean = np.asarray(mean, dtype=np.float64).ravel()
        var = np.asarray(var, dtype=np.float64).ravel()
        if mean.shape != var.shape or not (np.isfinite(mean).all() and np.isfinite(var).all() and (var >= 0).all()):
            raise ConfigError("adaptation statistics: mean and var must be finite arrays of one shape, var >= 0")
        if not tau_frames >= 1:
            raise ConfigError(f"adaptation time constant must be at least one frame, got {tau_frames}")
        self.mean, self.var = mean, np.maximum(var, VAR_FLOOR)
        self.tau_frames = float(tau_frames)
        a = 1.0 / self.tau_frames
        self._b, self._a = np.array([a]), np.array([1.0, -(1.0 - a)])
        self.reset()

    def reset(self) -> None:
        """Forget the user's statistics (a new stream starts from the training ones)."""
        self._zi_mu = (self.mean * (1.0 - 1.0 / self.tau_frames))[None, :]
        self._zi_var = (self.var * (1.0 - 1.0 / self.tau_frames))[None, :]

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """(k, ...) float32 feature frames -> adapted frames of the same shape (state carried)."""
        if len(frames) == 0:
            return frames
        shape = frames.shape
        x = frames.reshape(len(frames), -1).astype(np.float64)
        if x.shape[1] != self.mean.size:
            raise ConfigError(f"adaptation statistics hold {self.mean.size} features, the frames {x.shape[1]}")
        mu, self._zi_mu = scipy.signal.lfilter(self._b, self._a, x, axis=0, zi=self._zi_mu)
        dev = x - mu
        var, self._zi_var = scipy.signal.lfilter(self._b, self._a, dev * dev, axis=0, zi=self._zi_var)
        y = dev * np.sqrt(self.var / np.maximum(var, VAR_FLOOR)) + self.mean
        return y.astype(np.float32).reshape(shape)


def feature_stats(frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance per feature over all frames of several (k, ...) arrays (float64)."""
    n = sum(len(f) for f in frames)
    if n == 0:
        raise ConfigError("no feature frames to take statistics of")
    total = sum(f.reshape(len(f), -1).astype(np.float64).sum(axis=0) for f in frames)
    mean = total / n
    sq = sum(np.square(f.reshape(len(f), -1).astype(np.float64) - mean).sum(axis=0) for f in frames)
    return mean, sq / n
