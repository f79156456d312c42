"""The training side of a task (emgrt.tasks): its loss, its decoding and its metric over batches.

The trainer, evaluation, distillation and fine-tuning see only :class:`Objective`:

    loss(log_probs, lengths, batch)    the scalar to minimise
    score(log_probs, lengths, batch)   a :class:`Score` of the batch (decoded against its targets)
    empty()                            the zero :class:`Score`, to add batches' scores to

A Score adds with ``+``, has ``value`` (the task's metric, lower is better: it picks best.pt)
and ``details()`` (the extra numbers a validation record carries).  :class:`CtcObjective` serves
typing and handwriting (CTC over the task's charset, greedy CER; :class:`DecoderObjective` decodes
with any emgrt.decode decoder instead, for ``emgrt eval``); :class:`FramewiseObjective` serves the
discrete gestures (a class per output frame, CLER).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from emgrt.constants import SAMPLE_RATE_HZ
from emgrt.decode import decode_offline, make_decoder
from emgrt.metrics import ErrorCounts
from emgrt.tasks import TaskSpec
from emgrt.tasks.cler import ClerCounts, Event, cler
from emgrt.train.outputs import output_sample_times

# ----------------------------------------------------------------------------------------------
# CTC
# ----------------------------------------------------------------------------------------------


def greedy_ctc_decode(log_probs: Tensor, lengths: Tensor, blank: int) -> list[list[int]]:
    """Greedy CTC: best class per frame, collapse repeats, drop blanks.  (N, T, C) -> label lists.
    (Torch-based; the torch-free decoder package will own the canonical one.)"""
    best = log_probs.argmax(-1)
    prev = F.pad(best[:, :-1], (1, 0), value=-1)
    t = torch.arange(best.shape[1], device=best.device)
    keep = (best != blank) & (best != prev) & (t[None, :] < lengths[:, None])
    return [row[k].tolist() for row, k in zip(best, keep)]


def ctc_loss(
    log_probs: Tensor, lengths: Tensor, targets: Tensor, target_lengths: Tensor, blank: int
) -> Tensor:
    """CTC, each item's loss divided by its target length, mean over the batch; impossible
    alignments (too few frames) count as zero."""
    return F.ctc_loss(
        log_probs.transpose(0, 1).float(),
        targets,
        lengths,
        target_lengths,
        blank=blank,
        reduction="mean",
        zero_infinity=True,
    )


def ctc_infeasible(lengths: Tensor, targets: Tensor, target_lengths: Tensor) -> int:
    """Items whose target cannot be aligned: fewer frames than labels plus adjacent repeats."""
    if targets.shape[1] < 2:  # no pair of labels to repeat (a batch with no labels at all, say)
        return int((lengths < target_lengths).sum())
    rep = (targets[:, 1:] == targets[:, :-1]) & (
        torch.arange(1, targets.shape[1], device=targets.device)[None, :] < target_lengths[:, None]
    )
    return int((lengths < target_lengths + rep.sum(1)).sum())


# ----------------------------------------------------------------------------------------------
# Scores
# ----------------------------------------------------------------------------------------------


@dataclass
class Score:
    """A metric's counts plus the items that could not be scored (CTC: infeasible alignments)."""

    counts: ErrorCounts | ClerCounts
    infeasible: int = 0

    def __add__(self, other: Score) -> Score:
        return Score(self.counts + other.counts, self.infeasible + other.infeasible)  # type: ignore[operator]

    @property
    def value(self) -> float:
        return self.counts.cer if isinstance(self.counts, ErrorCounts) else self.counts.cler

    def details(self) -> dict[str, float]:
        """Per-kind rates: insertions / deletions / substitutions (CER), misses and false alarms (CLER)."""
        d = self.counts.to_dict()
        if isinstance(self.counts, ErrorCounts):
            return {k: d[k] for k in ("ins_rate", "del_rate", "sub_rate")}
        return {"miss_rate": d["miss_rate"], "false_alarms": d["false_alarms"], "events": d["matched"]}


# ----------------------------------------------------------------------------------------------
# Objectives
# ----------------------------------------------------------------------------------------------


@dataclass
class Objective:
    """A task's loss and metric for one model (whose output timing framewise targets need)."""

    spec: TaskSpec
    model: nn.Module | None = None
    skip_context: bool = True
    metric: str = field(init=False)

    def __post_init__(self) -> None:
        self.metric = self.spec.metric

    @property
    def blank(self) -> int:
        return self.spec.blank

    def loss(self, log_probs: Tensor, lengths: Tensor, batch: dict) -> Tensor:
        raise NotImplementedError

    def score(self, log_probs: Tensor, lengths: Tensor, batch: dict) -> Score:
        raise NotImplementedError

    def empty(self) -> Score:
        raise NotImplementedError


class CtcObjective(Objective):
    """CTC over the task's charset; greedy decoding; CER (emg2qwerty's definition)."""

    def loss(self, log_probs: Tensor, lengths: Tensor, batch: dict) -> Tensor:
        return ctc_loss(log_probs, lengths, batch["targets"], batch["target_lengths"], self.blank)

    def empty(self) -> Score:
        return Score(ErrorCounts())

    def hypotheses(self, log_probs: Tensor, lengths: Tensor) -> list[str]:
        """Each item's decoded text: greedy, batched in torch."""
        charset = self.spec.charset
        assert charset is not None
        return [charset.labels_to_str(hyp) for hyp in greedy_ctc_decode(log_probs, lengths, self.blank)]

    def score(self, log_probs: Tensor, lengths: Tensor, batch: dict) -> Score:
        charset = self.spec.charset
        assert charset is not None
        targets, target_lengths = batch["targets"], batch["target_lengths"]
        counts = ErrorCounts()
        for hyp, tgt, n in zip(self.hypotheses(log_probs, lengths), targets, target_lengths):
            counts.update(charset.labels_to_str(tgt[: int(n)].tolist()), hyp)
        return Score(counts, ctc_infeasible(lengths, targets, target_lengths))


@dataclass
class DecoderObjective(CtcObjective):
    """CTC scored by one of emgrt.decode's streaming decoders (``decoder``, its keyword arguments
    ``decoder_opts``) run over each item's whole output: the engine's own decoding, for
    ``emgrt eval --decoder``.  Its greedy scores the same CER as the batched one."""

    decoder: str = "greedy"
    decoder_opts: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        make_decoder(self.decoder, self.labels, self.blank, **self.decoder_opts)  # bad options fail before any compute

    @property
    def labels(self) -> list[str]:
        """The decoders' output labels: the charset's, then the blank's."""
        assert self.spec.charset is not None
        return list(self.spec.charset.chars) + [""]

    def hypotheses(self, log_probs: Tensor, lengths: Tensor) -> list[str]:
        lp, labels = log_probs.float().cpu().numpy(), self.labels
        return ["".join(decode_offline(self.decoder, lp[i, : int(n)], labels, self.blank, **self.decoder_opts))
                for i, n in enumerate(lengths)]


# Framewise targets: a gesture's class on the output frames timed 80-120 ms after it (the
# release's 40 ms pulses), no-gesture (the last output) everywhere else.
TARGET_DELAY_S = (0.08, 0.12)


class FramewiseObjective(Objective):
    """One class per output frame, the no-gesture class between gestures; CLER.

    Framewise rather than CTC: the event metric scores *when* a gesture is detected (from 50 ms
    before to 250 ms after it), and a streaming detector's latency should be a trained property.
    CTC places its spikes anywhere its alignment likes (often late, after more context), so its
    timing is neither bounded nor trained; framewise targets pin each gesture to a fixed delay
    after the event, as the release's pulse targets do, and the detection is a thresholded
    posterior.  Gestures are sparse single events, so CTC's sequence alignment buys little.
    The loss is the mean cross-entropy over the valid output frames (a softmax over the nine
    gestures and no-gesture, so the classes of one frame exclude each other)."""

    def targets(self, log_probs: Tensor, lengths: Tensor, batch: dict) -> tuple[Tensor, Tensor]:
        """(N, T) class per output frame and (N, T) bool validity."""
        n, t = log_probs.shape[:2]
        assert self.model is not None, "a framewise objective needs the model's output timing"
        at = output_sample_times(self.model, batch, t, self.skip_context)  # (N, T) samples
        times = torch.as_tensor(batch["target_times"], dtype=torch.float64).cpu()  # (N, L)
        labels = batch["targets"].cpu()
        lo, hi = (d * SAMPLE_RATE_HZ for d in TARGET_DELAY_S)
        delay = at[:, :, None] - times[:, None, :]  # (N, T, L); NaN for padding
        hit = (delay >= lo) & (delay < hi)
        target = torch.full((n, t), self.blank, dtype=torch.long)
        if labels.shape[1]:
            any_hit = hit.any(-1)
            first = hit.double().argmax(-1)  # the earliest event whose pulse covers the frame
            target[any_hit] = labels.gather(1, first)[any_hit]
        valid = torch.arange(t)[None, :] < lengths.cpu()[:, None]
        return target.to(log_probs.device), valid.to(log_probs.device)

    def loss(self, log_probs: Tensor, lengths: Tensor, batch: dict) -> Tensor:
        target, valid = self.targets(log_probs, lengths, batch)
        if not bool(valid.any()):
            return log_probs.sum() * 0.0
        return F.nll_loss(log_probs[valid].float(), target[valid])

    def empty(self) -> Score:
        return Score(ClerCounts())

    def score(self, log_probs: Tensor, lengths: Tensor, batch: dict) -> Score:
        assert self.model is not None
        at = output_sample_times(self.model, batch, log_probs.shape[1], self.skip_context).numpy() / SAMPLE_RATE_HZ
        probs = log_probs.detach().float().exp()[..., : self.spec.num_classes].cpu().numpy()
        times = np.asarray(batch["target_times"], dtype=np.float64) / SAMPLE_RATE_HZ
        labels = batch["targets"].cpu().numpy()
        counts = ClerCounts()
        for i in range(len(probs)):
            m, k = int(lengths[i]), int(batch["target_lengths"][i])
            prompts = [Event(int(c), float(s)) for c, s in zip(labels[i, :k], times[i, :k])]
            counts = counts + cler(prompts, probs[i, :m], at[i, :m])
        return Score(counts)


def make_objective(spec: TaskSpec, model: nn.Module | None = None, skip_context: bool = True) -> Objective:
    """The objective of task ``spec`` for ``model`` (framewise targets are timed by its outputs)."""
    cls = CtcObjective if spec.decoding == "ctc" else FramewiseObjective
    return cls(spec, model, skip_context)
