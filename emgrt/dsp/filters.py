"""Causal IIR filters (scipy.signal second-order sections) with carried state.

The same :class:`SosFilter` filters a whole recording offline and a live stream
chunk by chunk; carrying ``zi`` between chunks makes both give the same output.
The state is seeded from the first sample (steady state for a constant input),
so there is no start-up transient.

This numpy/scipy code is the reference; ``emgrt/dsp/filters.cpp`` mirrors the recursion of
``scipy.signal.sosfilt`` and runs instead when :data:`emgrt.native.ACTIVE` (bit-identical
output and state).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

import numpy as np
from scipy import signal

from emgrt import native
from emgrt.constants import SAMPLE_RATE_HZ
from emgrt.errors import ConfigError

FILTER_KINDS = ("bandpass", "highpass", "lowpass", "notch")


@dataclass(frozen=True)
class FilterSpec:
    """One filter stage.  Frequencies in Hz.

    bandpass: ``low``..``high``; highpass: ``low``; lowpass: ``high``
    (Butterworth of ``order``); notch: ``freq`` with quality ``q``.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    freq: float | None = None
    q: float = 30.0
    order: int = 4

    @classmethod
    def from_dict(cls, d: Mapping) -> "FilterSpec":
        unknown = set(d) - {"kind", "low", "high", "freq", "q", "order"}
        if unknown:
            raise ConfigError(f"filter {dict(d)}: unknown keys {sorted(unknown)}")
        spec = cls(**d)
        spec.validate()
        return spec

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def validate(self, fs: float = SAMPLE_RATE_HZ) -> None:
        nyq = fs / 2
        need = {"bandpass": ("low", "high"), "highpass": ("low",), "lowpass": ("high",), "notch": ("freq",)}
        if self.kind not in need:
            raise ConfigError(f"filter kind '{self.kind}' unknown; use one of {', '.join(FILTER_KINDS)}")
        for name in need[self.kind]:
            v = getattr(self, name)
            if v is None or not 0 < float(v) < nyq:
                raise ConfigError(f"{self.kind} filter needs 0 < {name} < {nyq:g} Hz, got {v}")
        if self.kind == "bandpass" and not self.low < self.high:  # type: ignore[operator]
            raise ConfigError(f"bandpass filter needs low < high, got {self.low} >= {self.high}")
        if self.order < 1 or self.q <= 0:
            raise ConfigError(f"filter order must be >= 1 and q > 0, got order={self.order} q={self.q}")

    def sos(self, fs: float = SAMPLE_RATE_HZ) -> np.ndarray:
        self.validate(fs)
        if self.kind == "notch":
            b, a = signal.iirnotch(self.freq, self.q, fs=fs)
            return signal.tf2sos(b, a)
        edges = {"bandpass": [self.low, self.high], "highpass": self.low, "lowpass": self.high}[self.kind]
        return signal.butter(self.order, edges, btype=self.kind, fs=fs, output="sos")


def design_sos(specs: Iterable[FilterSpec], fs: float = SAMPLE_RATE_HZ) -> np.ndarray:
    """Cascade of all stages as one (n_sections, 6) SOS array; empty -> (0, 6)."""
    parts = [s.sos(fs) for s in specs]
    return np.concatenate(parts, axis=0) if parts else np.zeros((0, 6))


class SosFilter:
    """Stateful causal filter over the time axis (0) of (n, ...) chunks.

    The path (native or numpy) is fixed when the filter is built; the state ``zi`` lives here
    either way (the native kernel updates it in place), so ``reset`` and seeding are shared.
    """

    def __init__(self, sos: np.ndarray) -> None:
        self.sos = np.ascontiguousarray(sos, dtype=np.float64)
        self._zi_unit = signal.sosfilt_zi(self.sos) if len(self.sos) else None  # (n_sections, 2)
        self.zi: np.ndarray | None = None  # (n_sections, 2, ...) once started
        self._kernels = native.kernels if native.ACTIVE else None

    def reset(self) -> None:
        self.zi = None

    def __getstate__(self) -> dict:  # picklable (into worker processes): the path as a flag
        return {**self.__dict__, "_kernels": self._kernels is not None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._kernels = native.kernels if state["_kernels"] and native.AVAILABLE else None

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        if self._zi_unit is None or len(chunk) == 0:
            return chunk
        if self.zi is None:
            # Steady state for a constant input equal to the first sample.
            first = np.asarray(chunk[0], dtype=np.float64)
            self.zi = self._zi_unit.reshape(self._zi_unit.shape + (1,) * first.ndim) * first
        chunk = np.asarray(chunk)
        if self._kernels is not None and chunk.dtype.kind in "fiub":  # complex input stays on scipy
            return self._native(chunk)
        out, self.zi = signal.sosfilt(self.sos, chunk, axis=0, zi=self.zi)
        return out.astype(chunk.dtype, copy=False)

    def _native(self, chunk: np.ndarray) -> np.ndarray:
        """The same call through emgrt/dsp/filters.cpp: channels flattened to (n, C), computed in
        float64 as scipy does (float32 and float64 as they are, other dtypes widened first)."""
        work = chunk if chunk.dtype in (np.float32, np.float64) else chunk.astype(np.float64)
        flat = np.ascontiguousarray(work).reshape(len(work), math.prod(work.shape[1:]))
        if not self.zi.flags.c_contiguous:
            self.zi = np.ascontiguousarray(self.zi)
        zi = self.zi.reshape(len(self.sos), 2, flat.shape[1])  # a view: updated in place
        out = self._kernels.sosfilt(self.sos, flat, zi)
        return out.reshape(chunk.shape).astype(chunk.dtype, copy=False)


def filter_offline(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Filter a whole (n, ...) array exactly as a fresh stream would."""
    return SosFilter(sos)(x)
