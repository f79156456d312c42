"""Length-bucketing batch sampler, sharded by rank with equal batch counts (DDP).

Per epoch (all ranks compute the same global plan from ``(seed, epoch)``):

1. shuffle the indices (training) or keep their order (eval);
2. with ``bucket``: cut the order into pools of ``pool_batches * batch_size``
   indices, sort each pool by length and cut it into batches (eval: one pool,
   so batches are globally sorted); without: cut the order into batches;
3. split the largest batches until the batch count is a multiple of
   ``world_size`` (every index still used exactly once; only when there are
   fewer indices than ranks are some repeated);
4. shuffle the batch order (training); batch ``k`` goes to rank ``k % world_size``.

Plain Python iterable of ``list[int]``: pass it as a DataLoader ``batch_sampler``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from emgrt.data.collate import padding_waste


class LengthBucketSampler:
    def __init__(
        self,
        lengths: Sequence[int] | np.ndarray,
        batch_size: int,
        *,
        shuffle: bool = True,
        bucket: bool = True,
        pool_batches: int = 50,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        indices: Sequence[int] | np.ndarray | None = None,
    ) -> None:
        if batch_size < 1 or pool_batches < 1:
            raise ValueError(f"batch_size and pool_batches must be >= 1, got {batch_size}, {pool_batches}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank} world_size={world_size}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.indices = (
            np.arange(len(self.lengths), dtype=np.int64) if indices is None else np.asarray(indices, dtype=np.int64)
        )
        if len(self.indices) and (self.indices.min() < 0 or self.indices.max() >= len(self.lengths)):
            raise ValueError("indices out of range of lengths")
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.bucket = bucket
        self.pool_batches = int(pool_batches)
        self.drop_last = drop_last
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.seed = int(seed)
        self.epoch = 0
        self._plan: tuple[int, list[np.ndarray]] | None = None

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle for ``epoch`` (call with the same value on every rank)."""
        self.epoch = int(epoch)

    # -- the plan ------------------------------------------------------------------
    def global_batches(self, epoch: int | None = None) -> list[np.ndarray]:
        """Every rank's batches for ``epoch``; batch k belongs to rank k % world_size."""
        epoch = self.epoch if epoch is None else int(epoch)
        if self._plan is not None and self._plan[0] == epoch:
            return self._plan[1]
        batches = self._plan_epoch(epoch)
        self._plan = (epoch, batches)
        return batches

    def _plan_epoch(self, epoch: int) -> list[np.ndarray]:
        b, w = self.batch_size, self.world_size
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(self.indices) if self.shuffle else self.indices.copy()
        if self.drop_last:
            order = order[: (len(order) // (b * w)) * b * w]
        if len(order) == 0:
            return []
        pool = b * self.pool_batches if (self.bucket and self.shuffle) else len(order)
        batches: list[np.ndarray] = []
        for p in range(0, len(order), pool):
            chunk = order[p : p + pool]
            if self.bucket:
                chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[i : i + b] for i in range(0, len(chunk), b)]
        extra = 0
        while len(batches) % w:
            k = max(range(len(batches)), key=lambda i: len(batches[i]))
            if len(batches[k]) >= 2:  # split the largest batch in two
                half = (len(batches[k]) + 1) // 2
                batches[k : k + 1] = [batches[k][:half], batches[k][half:]]
            else:  # fewer indices than ranks: repeat some
                batches.append(order[extra % len(order) : extra % len(order) + 1])
                extra += 1
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches

    def batches(self, epoch: int | None = None) -> list[list[int]]:
        """This rank's batches for ``epoch``."""
        return [[int(i) for i in bb] for bb in self.global_batches(epoch)[self.rank :: self.world_size]]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches())

    def __len__(self) -> int:
        return len(self.global_batches()) // self.world_size

    def padding_waste(self, epoch: int | None = None) -> float:
        """Padded / total frames over all ranks' batches of ``epoch``."""
        return padding_waste(self.lengths, self.global_batches(epoch))
