"""Which model outputs the loss and the metric see, and when each one is.

Output ``j`` of a window is timed at input frame ``j * stride + time_offset`` (its last frame;
``time_offset`` defaults to ``stride - 1``); input frame ``f`` covers samples
``[f * HOP_LENGTH, f * HOP_LENGTH + N_FFT)`` of the slice read.  Outputs timed inside a
window's past padding are context, not targets: :func:`model_outputs` drops them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from emgrt.constants import HOP_LENGTH, N_FFT


def context_outputs(batch: dict, stride: int, time_offset: int | None = None) -> Tensor | None:
    """Per item, the leading output frames timed inside the window's past padding (None if the
    batch does not say where its windows start).  Output ``j``'s time is input frame
    ``j * stride + time_offset`` (default ``stride - 1``, its last frame); input frame ``f``
    starts ``f * HOP_LENGTH`` samples into the slice."""
    if "offsets" not in batch or "starts" not in batch:
        return None
    if time_offset is None:
        time_offset = stride - 1
    past = torch.tensor(batch["offsets"], dtype=torch.long) - torch.tensor(batch["starts"], dtype=torch.long)
    first = (past + HOP_LENGTH - 1) // HOP_LENGTH  # first input frame inside the unpadded window
    return ((first - time_offset).clamp(min=0) + stride - 1) // stride


def drop_leading(log_probs: Tensor, lengths: Tensor, skip: Tensor) -> tuple[Tensor, Tensor]:
    """Shift each item left by ``skip[i]`` output frames."""
    skip = skip.to(log_probs.device).clamp(max=lengths)
    if not bool((skip > 0).any()):
        return log_probs, lengths
    t = log_probs.shape[1]
    idx = (skip[:, None] + torch.arange(t, device=log_probs.device)[None, :]).clamp(max=t - 1)
    out = log_probs.gather(1, idx[:, :, None].expand(-1, -1, log_probs.shape[2]))
    return out, lengths - skip


def model_outputs(model: nn.Module, batch: dict, skip_context: bool = True) -> tuple[Tensor, Tensor]:
    """Model log-probs and lengths restricted to the frames the loss and CER use (outputs timed
    in a window's past padding dropped when ``skip_context``)."""
    imu = {"imu": batch["imu"], "imu_present": batch["imu_present"]} if "imu" in batch else {}
    log_probs, lengths = model(batch["features"], batch["feature_lengths"], **imu)
    if skip_context:
        module = getattr(model, "module", model)
        skip = context_outputs(batch, module.stride, module.output_time_offset)
        if skip is not None:
            log_probs, lengths = drop_leading(log_probs, lengths, skip)
    return log_probs, lengths


def runnable_batch(batch: dict, model: nn.Module) -> dict:
    """``batch``, its features right-padded with zero frames when every item is too short for the
    model's first output (the whole-window forward cannot run on less); ``feature_lengths`` still
    give such items no output frame, so they decode to nothing, as the stream and the bundle do."""
    from emgrt.stream.latency import frames_for_one_output

    module = getattr(model, "module", model)
    features = batch["features"]
    short = frames_for_one_output(module.output_time_offset, module.lookahead) - features.shape[1]
    if short <= 0:
        return batch
    out = {**batch, "features": torch.cat([features, features.new_zeros((features.shape[0], short, *features.shape[2:]))], dim=1)}
    if batch.get("imu") is not None:  # a fused model's IMU, one row per frame: padded alike
        imu = torch.as_tensor(batch["imu"])
        out["imu"] = torch.cat([imu, imu.new_zeros((imu.shape[0], short, *imu.shape[2:]))], dim=1)
    return out


def output_sample_times(model: nn.Module, batch: dict, frames: int, skip_context: bool = True) -> Tensor:
    """(N, frames) float64: the slice sample (after each item's start) that the outputs
    :func:`model_outputs` returns are timed at: the last sample of their time frame."""
    module = getattr(model, "module", model)
    n = len(batch["feature_lengths"])
    skip = context_outputs(batch, module.stride, module.output_time_offset) if skip_context else None
    first = torch.zeros(n, dtype=torch.long) if skip is None else skip
    j = first[:, None] + torch.arange(frames)[None, :]
    return ((j * module.stride + module.output_time_offset) * HOP_LENGTH + N_FFT - 1).double()
