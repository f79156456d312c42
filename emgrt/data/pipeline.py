"""The per-item transform: raw padded window -> features, and the per-item random streams.

Order (emg2qwerty's, with optional filters first)::

    raw (T, 2, 16) -> IIR filters -> band rotation -> alignment jitter
        -> LogSpectrogram (F, 2, 16, 33) -> SpecAugment

Every random draw of an item comes from :func:`item_rngs` ``(seed, epoch, index)``:
one independent stream per stage, so results do not depend on which worker
loads the item, and turning one augmentation off leaves the others' draws unchanged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from emgrt.data.augment import random_alignment_jitter, random_band_rotation, spec_augment
from emgrt.data.config import DataConfig
from emgrt.dsp.features import FrontEndConfig, LogSpectrogram
from emgrt.dsp.filters import SosFilter, design_sos


@dataclass(frozen=True)
class ItemRngs:
    """One Generator per random stage of an item."""

    window: np.random.Generator  # start jitter
    rotation: np.random.Generator  # band rotation
    alignment: np.random.Generator  # band alignment jitter
    specaugment: np.random.Generator  # time / frequency masks
    modality: np.random.Generator  # IMU dropout (fusion models)


def item_rngs(seed: int, epoch: int, index: int) -> ItemRngs:
    """Independent streams derived from (seed, epoch, index) only."""
    if min(seed, epoch, index) < 0:
        raise ValueError(f"seed, epoch and index must be >= 0, got {seed}, {epoch}, {index}")
    children = np.random.SeedSequence([int(seed), int(epoch), int(index)]).spawn(5)  # the first 4 as before
    return ItemRngs(*(np.random.Generator(np.random.PCG64(c)) for c in children))


class WindowTransform:
    """Raw padded window -> features; augmentations only when ``train``."""

    def __init__(self, cfg: DataConfig, *, train: bool, frontend: FrontEndConfig | None = None) -> None:
        self.cfg = cfg
        self.train = train
        sos = design_sos(cfg.filters)
        self._filter = SosFilter(sos) if len(sos) else None
        self.spectrogram = LogSpectrogram(frontend)
        aug = cfg.augment
        self.augments = train and (
            any(o != 0 for o in aug.band_rotation) or aug.alignment_jitter > 0 or aug.specaugment.active
        )

    @property
    def deterministic(self) -> bool:
        """True when the features of an item never depend on the random streams."""
        return not self.augments

    def filter(self, raw: np.ndarray) -> np.ndarray:
        """The configured IIR cascade over the padded window, state seeded from its first sample."""
        if self._filter is None:
            return raw
        self._filter.reset()
        return self._filter(raw)

    def __call__(
        self, raw: np.ndarray, rngs: ItemRngs | None = None, timings: dict[str, float] | None = None
    ) -> np.ndarray:
        """(T, 2, 16) float32 -> (F, 2, 16, n_freq) float32.  ``raw`` is never modified.

        ``timings``, when given, accumulates the seconds spent in each stage.
        """
        clock = _Clock(timings)
        x = self.filter(raw)
        clock("filter")
        if self.augments:
            if rngs is None:
                raise ValueError("a training transform needs the item's random streams")
            aug = self.cfg.augment
            x = random_band_rotation(x, aug.band_rotation, rngs.rotation)
            x = random_alignment_jitter(x, aug.alignment_jitter, rngs.alignment)
            clock("augment")
            feats = self.spectrogram(x)
            clock("spectrogram")
            feats = spec_augment(feats, aug.specaugment, rngs.specaugment, inplace=True)  # fresh array
            clock("specaugment")
            return feats
        feats = self.spectrogram(x)
        clock("spectrogram")
        return feats


class _Clock:
    """Adds the time since the previous call to ``timings[stage]`` (no-op without timings)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.t = time.perf_counter() if timings is not None else 0.0

    def __call__(self, stage: str) -> None:
        if self.timings is not None:
            now = time.perf_counter()
            self.timings[stage] = self.timings.get(stage, 0.0) + now - self.t
            self.t = now
