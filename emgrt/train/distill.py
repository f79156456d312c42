"""Knowledge distillation of a CTC model (``emgrt distill``).

The student learns from the teacher's softened CTC posteriors plus the CTC loss on the labels::

    loss = alpha * KD + beta * CTC
    KD   = T**2 * mean over valid frames of  sum_c p_t(c) * (log p_t(c) - log p_s(c))
           p_t = softmax(teacher_logits / T),  p_s = softmax(student_logits / T)

(fairemg: alpha = 0.5, beta = 1.0; the ``[distill]`` table of the recipe).  The models emit
log-probabilities; ``log_softmax(log_probs / T)`` equals ``log_softmax(logits / T)`` (a frame's
log-normaliser is a constant shift), so the loss works on what the models return.  Frames are
valid when they are inside both the student's and the teacher's output length.  The ``T**2``
factor keeps the KD gradient's scale independent of ``T`` (Hinton et al.).

:class:`DistillTrainer` is the ordinary :class:`~emgrt.train.trainer.Trainer` with its
``loss`` hook replaced; the teacher runs in eval mode without gradients and is not saved in the
student's checkpoints.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from emgrt.errors import ConfigError
from emgrt.train.recipe import DistillConfig, Recipe
from emgrt.train.trainer import Trainer, model_outputs


def frame_mask(lengths: Tensor, frames: int) -> Tensor:
    """(N, T) bool: frame ``t`` of item ``i`` is valid when ``t < lengths[i]``."""
    return torch.arange(frames, device=lengths.device)[None, :] < lengths[:, None]


class DistillLoss(nn.Module):
    """``alpha * KD + beta * CTC``; :meth:`kd` alone is the distillation term."""

    def __init__(self, alpha: float = 0.5, beta: float = 1.0, temperature: float = 1.0) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.alpha, self.beta, self.temperature = float(alpha), float(beta), float(temperature)

    @classmethod
    def from_config(cls, cfg: DistillConfig) -> DistillLoss:
        return cls(cfg.alpha, cfg.beta, cfg.temperature)

    def kd(self, student_log_probs: Tensor, teacher_log_probs: Tensor, mask: Tensor) -> Tensor:
        """``T**2`` times the mean over valid frames (``mask``, (N, T)) of KL(teacher_T || student_T)
        (summed over classes).  Inputs (N, T, C) log-probabilities (or logits)."""
        t = self.temperature
        log_ps = F.log_softmax(student_log_probs.float() / t, dim=-1)
        log_pt = F.log_softmax(teacher_log_probs.detach().float() / t, dim=-1)
        kl = (log_pt.exp() * (log_pt - log_ps)).sum(-1)  # (N, T)
        mask = mask.to(kl.dtype)
        return (kl * mask).sum() / mask.sum().clamp(min=1.0) * t * t

    def forward(
        self,
        student_log_probs: Tensor,
        teacher_log_probs: Tensor,
        mask: Tensor,
        ctc: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """(total loss, KD term); ``ctc`` is the student's CTC loss on the labels."""
        kd = self.kd(student_log_probs, teacher_log_probs, mask)
        return self.alpha * kd + self.beta * ctc, kd


def check_compatible(teacher: nn.Module, student: nn.Module) -> None:
    """Teacher and student must emit output frames at the same rate and times."""
    t = getattr(teacher, "module", teacher)
    s = getattr(student, "module", student)
    if t.stride != s.stride:
        raise ConfigError(
            f"teacher and student must share the output frame rate: teacher stride {t.stride} input "
            f"frames per output, student stride {s.stride} (set the student's model.subsample = {t.stride})"
        )
    if t.output_time_offset != s.output_time_offset:
        raise ConfigError(
            f"teacher and student outputs are timed differently (both stride {s.stride}, output time "
            f"offset teacher {t.output_time_offset}, student {s.output_time_offset} input frames)"
        )


class DistillTrainer(Trainer):
    """:class:`Trainer` whose loss is ``alpha * KD(teacher) + beta * CTC``."""

    def __init__(
        self,
        recipe: Recipe,
        model: nn.Module,
        teacher: nn.Module,
        train_loader: Iterable,
        val_loader: Iterable | None = None,
        out_dir: str | Path | None = None,
        **kwargs,
    ) -> None:
        super().__init__(recipe, model, train_loader, val_loader, out_dir, **kwargs)
        check_compatible(teacher, self.module)
        self.teacher = teacher.to(self.device).eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.distill_loss = DistillLoss.from_config(recipe.distill or DistillConfig())
        self.last_terms: dict[str, float] = {}

    def loss(self, batch: dict, log_probs: Tensor, lengths: Tensor) -> Tensor:
        ctc = super().loss(batch, log_probs, lengths)
        self.teacher.eval()
        with torch.no_grad():
            t_log_probs, t_lengths = model_outputs(self.teacher, batch, self.recipe.train.skip_context_outputs)
        frames = min(log_probs.shape[1], t_log_probs.shape[1])
        mask = frame_mask(torch.minimum(lengths, t_lengths.to(lengths.device)), frames)
        total, kd = self.distill_loss(log_probs[:, :frames], t_log_probs[:, :frames], mask, ctc)
        self.last_terms = {"kd": float(kd.detach()), "ctc": float(ctc.detach())}
        return total
