"""A recurrent comparison model: the transformer's input block, then a causal LSTM (issue 15).

The generic-neuromotor-interface release detects discrete gestures with a convolution and a
3-layer LSTM; the seed names recurrent models for these tasks.  This model keeps everything but
the sequence layers equal to the streaming transformer's, so a comparison at similar size
measures the LSTM against attention and nothing else: the same log-spectrogram input and
normalisation, the same rotation-invariant MLP per band, the same stacking of ``subsample`` frames
into one output step, then a unidirectional (causal, streamable) LSTM instead of the
convolution + attention blocks, and a linear head.

Timing: LSTM output ``i`` has seen input frames up to ``i * subsample + subsample - 1``.  To give
it the transformer's lookahead, output ``j`` is the LSTM's output ``j + lookahead // subsample``
and is timed at frame ``j * subsample + subsample - 1`` (``output_time_offset``); the last
``lookahead // subsample`` outputs of a window have no future and are dropped.  Trained and
evaluated with the same trainer and objectives; not exported (the runtime's step graph is the
transformer's).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from emgrt.errors import ConfigError
from emgrt.train.model import ArchConfig, BandStack, SubsampledOutputs


@dataclass(frozen=True)
class RNNConfig(ArchConfig):
    arch: str = "lstm"
    bands: int = 1
    band_width: int = 56  # rotation-MLP features per band
    rotations: tuple[int, ...] = (-1, 0, 1)
    subsample: int = 4  # input frames per output
    hidden: int = 160
    layers: int = 2
    lookahead: int = 12  # input frames after an output's time (a multiple of subsample)
    dropout: float = 0.1
    num_outputs: int = 10
    blank: int = 9
    name: str = "lstm"

    def __post_init__(self) -> None:
        if isinstance(self.rotations, list):
            object.__setattr__(self, "rotations", tuple(self.rotations))
        problems = []
        if self.arch != "lstm":
            problems.append(f"arch must be 'lstm', got {self.arch!r}")
        if self.bands not in (1, 2):
            problems.append(f"bands must be 1 or 2, got {self.bands}")
        if min(self.band_width, self.subsample, self.hidden, self.layers) < 1:
            problems.append("band_width, subsample, hidden and layers must be >= 1")
        if self.lookahead < 0 or self.lookahead % self.subsample:
            problems.append(f"lookahead must be a multiple of subsample ({self.subsample}), got {self.lookahead}")
        if not 0 <= self.blank < self.num_outputs:
            problems.append(f"blank must be in [0, {self.num_outputs}), got {self.blank}")
        if problems:
            raise ConfigError("lstm config: " + "; ".join(problems))


class RecurrentModel(SubsampledOutputs):
    """Log-spectrogram (N, T, bands, 16, 33) -> log-probs (N, T // subsample - lookahead // subsample, outputs)."""

    def __init__(self, cfg: RNNConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.input = BandStack(cfg, cfg.hidden)
        self.lstm = nn.LSTM(cfg.hidden, cfg.hidden, num_layers=cfg.layers, batch_first=True,
                            dropout=cfg.dropout if cfg.layers > 1 else 0.0)
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden, cfg.num_outputs)

    # stride, lookahead, output_time_offset, num_params: SubsampledOutputs (the LSTM sees the whole
    # past, so no receptive field bounds it but the window's start)

    def forward(self, features: Tensor, feature_lengths: Tensor | None = None, imu: Tensor | None = None,
                imu_present: Tensor | None = None) -> tuple[Tensor, Tensor]:
        c = self.cfg
        n, t = features.shape[:2]
        if feature_lengths is None:
            feature_lengths = torch.full((n,), t, dtype=torch.long, device=features.device)
        mask = torch.arange(t, device=features.device)[None, :] < feature_lengths[:, None]
        z = self.input.frames(features, mask, imu, imu_present)  # (N, T, bands * width)
        u = self.input.stack(z[:, : t // c.subsample * c.subsample])  # (N, T // k, hidden)
        y, _ = self.lstm(self.drop(u))
        shift = c.lookahead // c.subsample
        log_probs = torch.log_softmax(self.head(self.drop(y[:, shift:])), dim=-1)
        lengths = (feature_lengths // c.subsample - shift).clamp(min=0)
        return log_probs, lengths
