"""Batch items with padding and masks (batch-first numpy; the loader converts to torch).

``collate(items)`` returns::

    features         (N, T_max, 2, 16, n_freq) float32, zero after each item's end
    feature_lengths  (N,) int64
    feature_mask     (N, T_max) bool, True = valid frame
    targets          (N, L_max) int64, padded with the blank label
    target_lengths   (N,) int64
    target_mask      (N, L_max) bool, True = valid label
    target_times     (N, L_max) float64 samples after the item's start, NaN-padded (only when
                     the items carry label times: framewise tasks)
    imu, imu_present (N, T_max, 6) float32 zero-padded and (N,) bool (only when the items
                     carry the IMU: fusion recipes, [data] imu)
    sessions, offsets, starts, stops   lists, one entry per item
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np

from emgrt.charset import emg2qwerty_charset

BLANK = emg2qwerty_charset().blank  # 98


class _ItemLike(Protocol):
    features: np.ndarray
    labels: np.ndarray
    session: str
    offset: int
    start: int
    stop: int


def collate(
    items: Sequence[_ItemLike],
    blank: int = BLANK,
    alloc: Callable[[tuple[int, ...], np.dtype], np.ndarray] = np.empty,
) -> dict:
    """Pad and stack ``items``.  ``alloc(shape, dtype)`` makes the (uninitialised) features
    array, e.g. a view of shared memory so a worker can hand it over without a copy."""
    if not items:
        raise ValueError("cannot collate an empty batch")
    n = len(items)
    f_len = np.fromiter((len(it.features) for it in items), dtype=np.int64, count=n)
    l_len = np.fromiter((len(it.labels) for it in items), dtype=np.int64, count=n)
    t_max, l_max = int(f_len.max()), int(l_len.max())
    feat_shape = items[0].features.shape[1:]
    features = alloc((n, t_max, *feat_shape), np.dtype(np.float32))
    targets = np.full((n, l_max), blank, dtype=np.int64)
    for i, it in enumerate(items):
        if it.features.shape[1:] != feat_shape:
            raise ValueError(f"item {i} has feature shape {it.features.shape}, expected (F, *{feat_shape})")
        features[i, : f_len[i]] = it.features
        features[i, f_len[i] :] = 0.0
        targets[i, : l_len[i]] = it.labels
    out = {
        "features": features,
        "feature_lengths": f_len,
        "feature_mask": np.arange(t_max)[None, :] < f_len[:, None],
        "targets": targets,
        "target_lengths": l_len,
        "target_mask": np.arange(l_max)[None, :] < l_len[:, None],
        "sessions": [it.session for it in items],
        "offsets": [int(it.offset) for it in items],
        "starts": [int(it.start) for it in items],
        "stops": [int(it.stop) for it in items],
    }
    if getattr(items[0], "label_times", None) is not None:
        times = np.full((n, l_max), np.nan)
        for i, it in enumerate(items):
            times[i, : l_len[i]] = it.label_times  # type: ignore[attr-defined]
        out["target_times"] = times
    if getattr(items[0], "imu", None) is not None:
        imu = np.zeros((n, t_max, items[0].imu.shape[1]), np.float32)  # type: ignore[attr-defined]
        for i, it in enumerate(items):
            imu[i, : f_len[i]] = it.imu  # type: ignore[attr-defined]
        out["imu"] = imu
        out["imu_present"] = np.array([bool(it.imu_present) for it in items])  # type: ignore[attr-defined]
    return out


def padding_waste(lengths: np.ndarray, batches: Sequence[Sequence[int]]) -> float:
    """Padded frames / total frames of the padded batches (0 = no padding)."""
    lengths = np.asarray(lengths)
    total = padded = 0
    for b in batches:
        lb = lengths[np.asarray(b, dtype=np.int64)]
        if len(lb):
            total += len(lb) * int(lb.max())
            padded += len(lb) * int(lb.max()) - int(lb.sum())
    return padded / total if total else 0.0
