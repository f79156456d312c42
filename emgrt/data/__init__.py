"""The training data pipeline, torch-free (numpy only).

    config.py    DataConfig: the declarative [data] table (windows, filters, augment, labels, loader)
    windows.py   window geometry (emg2qwerty semantics) and the window index
    select.py    label filtering (classes in targets, windows by label count)
    augment.py   band rotation, band alignment jitter, SpecAugment
    pipeline.py  per-item transform and per-item random streams
    cache.py     byte-bounded caches, whole-session EMG decoding
    dataset.py   WindowedDataset composing the above -> Item
    collate.py   padding + masks -> batch dict of numpy arrays
    sampler.py   length-bucketing batch sampler, rank sharding

The torch DataLoader around these is :func:`emgrt.train.loader.build_loader`.
"""

from emgrt.data.collate import BLANK, collate, padding_waste
from emgrt.data.config import AugmentConfig, DataConfig, LabelConfig, LoaderConfig, SpecAugmentConfig
from emgrt.data.dataset import Item, WindowedDataset
from emgrt.data.pipeline import ItemRngs, WindowTransform, item_rngs
from emgrt.data.sampler import LengthBucketSampler
from emgrt.data.select import LabelSelector
from emgrt.data.windows import WindowGeometry, WindowIndex, build_window_index

__all__ = [
    "BLANK",
    "AugmentConfig",
    "DataConfig",
    "Item",
    "ItemRngs",
    "LabelConfig",
    "LabelSelector",
    "LengthBucketSampler",
    "LoaderConfig",
    "SpecAugmentConfig",
    "WindowGeometry",
    "WindowIndex",
    "WindowTransform",
    "WindowedDataset",
    "build_window_index",
    "collate",
    "item_rngs",
    "padding_waste",
]
