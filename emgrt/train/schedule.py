"""Learning-rate schedule: linear warmup over the first ``warmup_frac`` of updates, then cosine.

``lr_factor(step, total)`` is the multiplier of the base learning rate used for update ``step``
(0-based): ``(step + 1) / W`` while ``step < W`` with ``W = ceil(warmup_frac * total)``, then
``min_ratio + (1 - min_ratio) * (1 + cos(pi * (step - W) / (total - W))) / 2``.
"""

from __future__ import annotations

import math

import torch


def warmup_steps(total_steps: int, warmup_frac: float) -> int:
    return min(total_steps, math.ceil(warmup_frac * total_steps))


def lr_factor(step: int, total_steps: int, warmup_frac: float = 0.05, min_ratio: float = 0.0) -> float:
    w = warmup_steps(total_steps, warmup_frac)
    if step < w:
        return (step + 1) / w
    if step >= total_steps:
        return min_ratio
    progress = (step - w) / max(1, total_steps - w)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


class WarmupCosine:
    """Picklable ``lr_lambda`` for :class:`torch.optim.lr_scheduler.LambdaLR`."""

    def __init__(self, total_steps: int, warmup_frac: float = 0.05, min_ratio: float = 0.0) -> None:
        self.total_steps, self.warmup_frac, self.min_ratio = total_steps, warmup_frac, min_ratio

    def __call__(self, step: int) -> float:
        return lr_factor(step, self.total_steps, self.warmup_frac, self.min_ratio)


def make_scheduler(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_frac: float = 0.05, min_ratio: float = 0.0
) -> torch.optim.lr_scheduler.LambdaLR:
    """Step it once after every optimizer update; ``get_last_lr()`` is then the next update's lr."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(total_steps, warmup_frac, min_ratio))
