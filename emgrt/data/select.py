"""Label filtering: keep or drop classes in the targets, and windows by label count."""

from __future__ import annotations

import numpy as np

from emgrt.charset import CharSet, emg2qwerty_charset
from emgrt.data.config import LabelConfig, resolve_classes


class LabelSelector:
    """Applies a :class:`LabelConfig`: ``selector(labels)`` filters classes, ``selector.keep(n)`` windows."""

    def __init__(self, cfg: LabelConfig | None = None, charset: CharSet | None = None) -> None:
        self.cfg = cfg or LabelConfig()
        charset = charset or emg2qwerty_charset()
        inc = resolve_classes(self.cfg.include, charset, "data.labels.include")
        exc = resolve_classes(self.cfg.exclude, charset, "data.labels.exclude")
        self.include = np.asarray(sorted(set(inc)), dtype=np.int64) if inc else None
        self.exclude = np.asarray(sorted(set(exc)), dtype=np.int64) if exc else None

    @property
    def filters_classes(self) -> bool:
        return self.include is not None or self.exclude is not None

    def __call__(self, labels: np.ndarray) -> np.ndarray:
        """The labels whose class is kept, in order (int64)."""
        labels = np.asarray(labels, dtype=np.int64)
        return labels[self.mask(labels)] if self.filters_classes else labels

    def mask(self, labels: np.ndarray) -> np.ndarray:
        """Which of ``labels`` are kept (bool, same length)."""
        labels = np.asarray(labels, dtype=np.int64)
        keep = np.ones(len(labels), dtype=bool)
        if self.include is not None:
            keep &= np.isin(labels, self.include)
        if self.exclude is not None:
            keep &= ~np.isin(labels, self.exclude)
        return keep

    def keep(self, n_labels: int) -> bool:
        """Whether a window with ``n_labels`` (filtered) labels is used."""
        if n_labels < self.cfg.min_labels:
            return False
        return self.cfg.max_labels is None or n_labels <= self.cfg.max_labels
