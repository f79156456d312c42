"""The windowed dataset: window index + label filtering + transform + caches.

``dataset[i]`` (or ``dataset[(i, epoch)]``, which is what the loader's batch
sampler passes so persistent workers follow the epoch) returns an :class:`Item`::

    read padded EMG slice (session cache or HDF5) -> labels of the unpadded window
    (or of the whole slice, for framewise tasks) -> WindowTransform (filters, augmentations,
    LogSpectrogram, SpecAugment)

Sessions are :mod:`~emgrt.data.sources` (emg2qwerty files, GNI partitions); the task
(:class:`emgrt.tasks.TaskSpec`, default typing) gives the charset and the label span.
torch-free; the DataLoader wrapper is :mod:`emgrt.train.loader`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emgrt.charset import CharSet
from emgrt.data.cache import MB, LruCache
from emgrt.data.config import DataConfig
from emgrt.data.pipeline import ItemRngs, WindowTransform, item_rngs
from emgrt.data.select import LabelSelector
from emgrt.data.sources import SessionSource, as_source, source_nbytes
from emgrt.data.windows import WindowGeometry, WindowIndex, build_window_index
from emgrt.dsp.features import FrontEndConfig
from emgrt.io.session import SessionFile
from emgrt.tasks import TaskSpec, task_spec


@dataclass(frozen=True)
class Item:
    """One window, ready to collate."""

    features: np.ndarray  # (F, bands, 16, n_freq) float32
    labels: np.ndarray  # (L,) int64 class labels
    session: str  # session name
    offset: int  # start of the unpadded window (samples, after jitter)
    start: int  # padded slice [start, stop) read from the session (samples)
    stop: int
    n_frames: int  # F
    label_times: np.ndarray | None = None  # (L,) float64 samples after ``start``; NaN = untimed
    imu: np.ndarray | None = None  # (F, 6) float32 the band's IMU at each frame ([data] imu)
    imu_present: bool = True  # False: the recording has no IMU, or training dropped it

    @property
    def nbytes(self) -> int:
        return self.features.nbytes + self.labels.nbytes + (0 if self.label_times is None else self.label_times.nbytes)


class WindowedDataset:
    """Map-style dataset of windows over ``sessions`` (sources, or emg2qwerty paths or open
    :class:`SessionFile`).

    ``cfg`` should be resolved for its use (:meth:`DataConfig.resolve`); a config
    that still carries override tables is resolved here for ``train`` (the
    ``[data.val]``/``[data.test]`` tables then need the split, so resolve first).
    Random draws come from ``item_rngs(seed, epoch, index)`` only.
    """

    def __init__(
        self,
        sessions: Sequence[str | Path | SessionFile | SessionSource],
        cfg: DataConfig | None = None,
        *,
        train: bool,
        seed: int = 0,
        charset: CharSet | None = None,
        frontend: FrontEndConfig | None = None,
        task: TaskSpec | None = None,
    ) -> None:
        cfg = cfg or DataConfig()
        cfg.validate()
        if cfg.overrides:
            cfg = cfg.resolve(None, train=train)
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.cfg = cfg
        self.train = train
        self.seed = int(seed)
        self.epoch = 0
        self.task = task or task_spec("typing")
        charset = charset or self.task.charset
        self.sessions = [as_source(s, charset) for s in sessions]
        self.geometry = WindowGeometry(cfg.window_length, cfg.stride, cfg.padding[0], cfg.padding[1])
        self.selector = LabelSelector(cfg.labels, charset)
        self.transform = WindowTransform(cfg, train=train, frontend=frontend)
        self.index: WindowIndex = build_window_index(
            self.sessions,
            self.geometry,
            self.selector,
            self.selector.keep,
            self.transform.spectrogram.cfg,
            prompts=cfg.prompt_windows,
        )
        self.jitters = train and cfg.jitter and not cfg.whole_session and not cfg.prompt_windows
        # Items depend on no random draw: cache them (eval) and skip the RNG.
        self.deterministic = self.transform.deterministic and not self.jitters
        self._emg = LruCache(cfg.loader.cache_mb * MB)
        self._items = LruCache(cfg.loader.feature_cache_mb * MB if self.deterministic else 0)
        for sf in self.sessions:  # workers reopen their own handles (SessionFile is per process)
            sf.close()

    # -- size ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.index)

    @property
    def lengths(self) -> np.ndarray:
        """Nominal feature frames per item (before jitter), for length bucketing."""
        return self.index.n_frames

    def set_epoch(self, epoch: int) -> None:
        """Epoch used by plain integer indexing (the loader passes (index, epoch) keys instead)."""
        self.epoch = int(epoch)

    # -- items ---------------------------------------------------------------------
    def __getitem__(self, key: int | tuple[int, int]) -> Item:
        if isinstance(key, tuple):
            index, epoch = key
        else:
            index, epoch = key, self.epoch
        return self.get(int(index), int(epoch))

    def get(self, index: int, epoch: int | None = None) -> Item:
        if not 0 <= index < len(self):
            raise IndexError(f"window {index} out of range (dataset has {len(self)})")
        epoch = self.epoch if epoch is None else epoch
        if self.deterministic:
            cached = self._items.get(index)
            if cached is not None:
                return cached
        rngs = None if self.deterministic else item_rngs(self.seed, epoch, index)
        raw, labels, s, offset, start, stop = self.window(index, rngs)
        times = None
        if self.task.label_span == "slice":  # framewise targets: every event of the slice, timed
            labels, times = self.label_times(s, start, stop)
        feats = self.transform(raw, rngs)
        imu, present = self.imu_frames(s, start, len(feats), rngs) if self.cfg.imu else (None, True)
        item = Item(feats, labels, self.sessions[s].session_name, offset, start, stop, len(feats), times, imu, present)
        if self.deterministic and self._items.fits(item.nbytes, evict=False):
            feats.flags.writeable = False
            labels.flags.writeable = False
            if times is not None:
                times.flags.writeable = False
            self._items.put(index, item, item.nbytes, evict=False)
        return item

    def window(self, index: int, rngs: ItemRngs | None = None) -> tuple[np.ndarray, np.ndarray, int, int, int, int]:
        """Raw padded EMG, filtered labels, session, offset, start, stop of one window (before the transform)."""
        s = int(self.index.session[index])
        sf = self.sessions[s]
        n = len(sf.time)
        offset, length = int(self.index.offset[index]), int(self.index.length[index])
        if self.jitters and rngs is not None:
            offset = self.geometry.jitter(offset, n, rngs.window)
        start, stop = self.geometry.bounds(offset, n, length)
        t0, t1 = self.geometry.label_span(sf.time, offset, length)
        labels = self.selector(sf.labels(t0, t1)[0]).copy()  # not a view of the session's labels
        return self.read(s, start, stop), labels, s, offset, start, stop

    def imu_frames(self, s: int, start: int, n_frames: int, rngs: ItemRngs | None) -> tuple[np.ndarray, bool]:
        """The IMU of session ``s`` at the last sample of each of the ``n_frames`` frames of the
        slice starting at ``start``, and whether it is there: zeros and False for a recording
        without IMU, or (training) for a window whose IMU the modality dropout took."""
        sf = self.sessions[s]
        fe = self.transform.spectrogram.cfg
        idx = np.minimum(start + fe.last_samples(n_frames), len(sf.time) - 1)
        x = sf.imu_at(sf.time[idx])
        p = self.cfg.augment.imu_dropout
        if x is None or (self.train and rngs is not None and p > 0 and rngs.modality.random() < p):
            return np.zeros((n_frames, 6), np.float32), False
        return x, True

    def label_times(self, s: int, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """The kept labels of the padded slice [start, stop) of session ``s`` and their times in
        samples after ``start`` (the first sample at or after each label's time)."""
        sf = self.sessions[s]
        labels, times = sf.labels(float(sf.time[start]), float(sf.time[stop - 1]))
        keep = self.selector.mask(labels)
        at = np.searchsorted(sf.time, times[keep], side="left").astype(np.float64) - start
        return labels[keep].copy(), np.where(np.isfinite(times[keep]), at, np.nan)

    def read(self, s: int, start: int, stop: int) -> np.ndarray:
        """EMG samples [start, stop) of session ``s``: (n, bands, 16) float32, read-only."""
        emg = self._emg.get(s)
        if emg is None:
            sf = self.sessions[s]
            nbytes = source_nbytes(sf)
            if not self._emg.fits(nbytes, evict=False):
                return sf.emg(start, stop)
            emg = sf.emg_all()
            self._emg.put(s, emg, nbytes, evict=False)
        return emg[start:stop]

    def preload(self) -> int:
        """Decode sessions into the session cache until it is full; returns how many are cached.

        Called before worker processes are forked, the cached arrays are shared
        by all workers (copy-on-write pages that are never written).
        """
        for s, sf in enumerate(self.sessions):
            if s in self._emg:
                continue
            nbytes = source_nbytes(sf)
            if self._emg.fits(nbytes, evict=False):
                self._emg.put(s, sf.emg_all(), nbytes, evict=False)
                sf.close()  # no HDF5 handle crosses a fork
        return len(self._emg)

    # -- process lifetime ------------------------------------------------------------
    def cache_stats(self) -> dict:
        return {"sessions": self._emg.stats(), "items": self._items.stats()}

    def close(self) -> None:
        for sf in self.sessions:
            sf.close()
        self._emg.clear()
        self._items.clear()
