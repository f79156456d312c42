"""Distributed data parallel (DDP) for ``emgrt train`` under ``torchrun``.

``torchrun --nproc-per-node N -m emgrt train ...`` (or the ``emgrt`` script) sets ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address; :func:`init_distributed` reads them,
joins the process group (nccl on CUDA, gloo on CPU) and picks the rank's device.  Without those
variables (or with ``WORLD_SIZE=1``) it is a no-op: one process, rank 0.

Each rank's loader holds its shard of every epoch's global batch plan (emgrt.data.sampler: equal
batch counts per rank); DDP averages the gradients, so N ranks with batches of B give the
update of one process with a global batch of N*B (for equal-size shards of a per-item mean loss).
Only rank 0 writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def env_dist() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from the torchrun environment (0, 1, 0 when absent)."""
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    return rank, world, local


def init_distributed(backend: str | None = None) -> DistInfo:
    """Join the process group described by the environment; returns this rank's info."""
    rank, world, local = env_dist()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local % max(torch.cuda.device_count(), 1)) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1 and not (dist.is_available() and dist.is_initialized()):
        backend = backend or ("nccl" if cuda else "gloo")
        kwargs = {"device_id": device} if backend == "nccl" else {}
        dist.init_process_group(backend=backend, rank=rank, world_size=world, **kwargs)
    return DistInfo(rank, world, local, device)


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def wrap_ddp(model: nn.Module, device: torch.device | str) -> nn.Module:
    """``model`` on ``device``, inside DistributedDataParallel when a process group is up."""
    device = torch.device(device)
    model = model.to(device)
    if not is_distributed():
        return model
    for m in model.modules():  # batch-norm statistics over the global batch (emgrt.train.model)
        if hasattr(m, "sync_stats"):
            m.sync_stats = True
    return nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None
    )


def mean_over_ranks(value: float) -> float:
    """The average of a Python number over the ranks (itself when not distributed)."""
    if not is_distributed():
        return value
    t = torch.tensor([float(value)], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return float(t.item()) / dist.get_world_size()


def any_rank(flag: bool) -> bool:
    """True on every rank when ``flag`` is true on any (so all ranks stop together)."""
    if not is_distributed():
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
