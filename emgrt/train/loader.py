"""The torch DataLoader over :class:`emgrt.data.WindowedDataset` (the only torch file of the data path).

``build_loader(cfg, dataset_dir, split, train=...)`` composes everything from the
config: sessions of the split -> windowed dataset -> length-bucketing batch sampler
(rank-sharded) -> worker processes with prefetch -> collate (padding + masks) ->
torch tensors.  Call ``loader.set_epoch(epoch)`` before each epoch: it reshuffles
and re-draws the augmentations; workers stay alive between epochs
(``persistent_workers``) and keep their caches, and every batch of indices carries
its epoch, so a worker never uses a stale one.  The trainer instead calls
``loader.run_from(epoch, batch)`` once and reads one endless iterator, so the workers
prefetch across epoch boundaries.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, get_worker_info

from emgrt.data.collate import BLANK, collate
from emgrt.data.config import DataConfig
from emgrt.data.dataset import WindowedDataset
from emgrt.data.sampler import LengthBucketSampler
from emgrt.data.sources import split_sources
from emgrt.errors import ConfigError
from emgrt.tasks import TaskSpec, task_spec


class EpochKeyedBatches:
    """Batch sampler yielding ``[(index, epoch), ...]``: the epoch travels with the indices.

    One epoch per ``iter()`` by default; after :meth:`run_from` the next ``iter()`` starts at a
    given batch of a given epoch and runs on through the following epochs without end, so the
    DataLoader's workers prefetch across epoch boundaries instead of idling until the training
    loop asks for the next epoch's iterator (each epoch's plan still comes from (seed, epoch))."""

    def __init__(self, sampler: LengthBucketSampler) -> None:
        self.sampler = sampler
        self.endless = False
        self.start_batch = 0

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def run_from(self, epoch: int, batch: int = 0) -> None:
        self.sampler.set_epoch(epoch)
        self.endless, self.start_batch = True, batch

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch = self.sampler.epoch
        if not self.endless:
            return iter([[(i, epoch) for i in b] for b in self.sampler.batches(epoch)])
        return self._epochs(epoch, self.start_batch)

    def _epochs(self, epoch: int, skip: int) -> Iterator[list[tuple[int, int]]]:
        for e in itertools.count(epoch):
            for b in self.sampler.batches(e)[skip:]:
                yield [(i, e) for i in b]
            skip = 0

    def __len__(self) -> int:
        return len(self.sampler)


def _empty_tensor(shape: tuple[int, ...], shared: bool) -> torch.Tensor:
    """Uninitialised float32 tensor; in shared memory when ``shared`` (what a worker returns
    is then handed to the training process without the copy into shared memory)."""
    if not shared:
        return torch.empty(shape, dtype=torch.float32)
    storage = torch.UntypedStorage._new_shared(int(np.prod(shape)) * 4)
    return torch.empty(0, dtype=torch.float32).set_(storage, 0, shape)


class TorchCollate:
    """:func:`emgrt.data.collate` then ``torch.from_numpy`` on every array (runs in the worker).

    The features (the only large array, about 2.6 MB per 5 s window) are written
    straight into a tensor, in shared memory inside a worker.
    """

    def __init__(self, blank: int = BLANK) -> None:
        self.blank = blank

    def __call__(self, items: Sequence) -> dict:
        shared = get_worker_info() is not None
        made: list[torch.Tensor] = []

        def alloc(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
            assert dtype == np.float32
            made.append(_empty_tensor(shape, shared))
            return made[-1].numpy()

        batch = collate(items, self.blank, alloc)
        out = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in batch.items()}
        out["features"] = made[0]
        return out


def worker_init(worker_id: int) -> None:
    """Per worker: one compute thread, a distinct global numpy seed (items use their own streams)."""
    info = get_worker_info()
    torch.set_num_threads(1)
    np.random.seed((info.seed if info is not None else worker_id) % 2**32)


class EmgLoader(DataLoader):
    """A DataLoader with ``set_epoch`` (forwarded to the batch sampler) and ``run_from``."""

    def set_epoch(self, epoch: int) -> None:
        self.batch_sampler.set_epoch(epoch)  # type: ignore[union-attr]

    def run_from(self, epoch: int, batch: int = 0) -> EmgLoader:
        """Make the next ``iter(self)`` start at ``batch`` of ``epoch`` (the batches before it
        are not loaded) and run on through the following epochs without end; returns self."""
        self.batch_sampler.run_from(epoch, batch)  # type: ignore[union-attr]
        return self


def make_loader(
    dataset: WindowedDataset,
    *,
    train: bool,
    rank: int = 0,
    world_size: int = 1,
    seed: int = 0,
    indices: Sequence[int] | None = None,
) -> EmgLoader:
    """A loader over an existing dataset (optionally a subset of its indices), settings from ``dataset.cfg.loader``.

    With worker processes started by fork, the session cache is filled here
    first, so the workers share one copy of the decoded sessions instead of
    each decoding its own.
    """
    lc = dataset.cfg.loader
    sampler = LengthBucketSampler(
        dataset.lengths,
        lc.batch_size,
        shuffle=train,
        bucket=lc.bucket,
        pool_batches=lc.bucket_pool,
        drop_last=train and lc.drop_last,
        rank=rank,
        world_size=world_size,
        seed=seed,
        indices=indices,
    )
    workers = lc.num_workers
    fork = "fork" in torch.multiprocessing.get_all_start_methods()
    if workers and fork:
        dataset.preload()  # decoded once here, shared by the forked workers
    return EmgLoader(
        dataset,
        batch_sampler=EpochKeyedBatches(sampler),
        num_workers=workers,
        collate_fn=TorchCollate(dataset.task.blank),
        pin_memory=torch.cuda.is_available(),
        worker_init_fn=worker_init if workers else None,
        prefetch_factor=lc.prefetch_factor if workers else None,
        persistent_workers=workers > 0,
        multiprocessing_context=("fork" if fork else None) if workers else None,
    )


def build_loader(
    cfg: DataConfig,
    dataset_dir: str | Path,
    split: str,
    user: str | None = None,
    *,
    train: bool,
    rank: int = 0,
    world_size: int = 1,
    seed: int = 0,
    task: TaskSpec | None = None,
) -> EmgLoader:
    """Loader over one split (generic, or ``user``'s personal split) of a dataset folder.

    ``cfg`` is the whole [data] table; its [train] / [eval] / [val] / [test]
    overrides are applied here.  ``train`` turns on shuffling, start jitter and
    augmentation.  ``task`` (default typing) says which sessions the folder holds
    (:func:`emgrt.data.sources.split_sources`) and how they are labelled.  Batches are
    dicts of tensors (see :mod:`emgrt.data.collate`).
    """
    task = task or task_spec("typing")
    resolved = cfg.resolve(split, train=train)
    sources = split_sources(task, dataset_dir, split, user)
    dataset = WindowedDataset(sources, resolved, train=train, seed=seed, task=task)
    if train and len(dataset) == 0:
        longest = max(len(s.time) for s in sources)
        windows = "prompt spans" if resolved.prompt_windows else f"window_length {resolved.window_length}"
        raise ConfigError(
            f"data: the {split} split of {dataset_dir} gives no training windows ({len(sources)} recordings, the longest "
            f"{longest} samples; {windows}, labels.min_labels {resolved.labels.min_labels}): "
            "lower data.window_length or data.labels.min_labels, or use a larger dataset"
        )
    return make_loader(dataset, train=train, rank=rank, world_size=world_size, seed=seed)
