"""The TDS-ConvNet baseline of emg2qwerty (offline comparison model, about 5.3M parameters).

Written from the published description: per-band normalisation, a rotation-robust MLP per band
(384 features each), then four time-depth-separable blocks over the 768 concatenated features,
each a convolution over time (``kernel`` frames, "valid", 24 channels x 32 features) followed by a
two-layer fully connected block, both residual with LayerNorm, and a linear CTC head.  Output at
125 Hz; receptive field ``blocks * (kernel - 1) + 1`` = 125 frames (1 s).

Timing: output ``j`` sees input frames ``[j, j + 124]``.  As in emg2qwerty, where windows carry
900 ms of past and 100 ms of future context, its *time* is ``j + 124 - lookahead`` with
``lookahead`` = 12 frames, i.e. ``output_time_offset`` = 112.  Not a streaming model: no
``step`` (its convolutions are centred, so a stream would need their full receptive field).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from emgrt.constants import CHANNELS_PER_BAND, N_FREQ
from emgrt.errors import ConfigError
from emgrt.train.model import N_BANDS, ArchConfig, MaskedBatchNorm, RotationMLP


@dataclass(frozen=True)
class TDSConfig(ArchConfig):
    arch: str = "tds"
    band_width: int = 384  # rotation-MLP features per band
    channels: int = 24  # TDS channels; features = 2 * band_width = channels * width
    blocks: int = 4
    kernel: int = 32  # frames per temporal convolution
    lookahead: int = 12  # frames after an output's time inside its receptive field (timing only)
    rotations: tuple[int, ...] = (-1, 0, 1)
    num_outputs: int = 99
    blank: int = 98
    name: str = "tds"

    def __post_init__(self) -> None:
        if isinstance(self.rotations, list):
            object.__setattr__(self, "rotations", tuple(self.rotations))
        problems = []
        if self.arch != "tds":
            problems.append(f"arch must be 'tds', got {self.arch!r}")
        if (N_BANDS * self.band_width) % self.channels:
            problems.append(
                f"2 * band_width ({2 * self.band_width}) must be divisible by channels ({self.channels})"
            )
        if self.blocks < 1 or self.kernel < 1:
            problems.append("blocks and kernel must be >= 1")
        if not 0 <= self.lookahead <= self.receptive_field - 1:
            problems.append(f"lookahead must be in [0, {self.receptive_field - 1}], got {self.lookahead}")
        if problems:
            raise ConfigError("tds config: " + "; ".join(problems))

    @property
    def features(self) -> int:
        return N_BANDS * self.band_width

    @property
    def receptive_field(self) -> int:
        return self.blocks * (self.kernel - 1) + 1


class TDSConv(nn.Module):
    """(N, T, C*W) -> (N, T - kernel + 1, C*W): Conv2d over time per feature column, ReLU,
    residual (cropped to the valid frames), LayerNorm."""

    def __init__(self, channels: int, width: int, kernel: int) -> None:
        super().__init__()
        self.channels, self.width = channels, width
        self.conv = nn.Conv2d(channels, channels, kernel_size=(kernel, 1))
        self.norm = nn.LayerNorm(channels * width)

    def forward(self, x: Tensor) -> Tensor:
        n, t, f = x.shape
        y = x.reshape(n, t, self.channels, self.width).permute(0, 2, 1, 3)  # (N, C, T, W)
        y = F.relu(self.conv(y)).permute(0, 2, 1, 3).reshape(n, -1, f)
        return self.norm(y + x[:, t - y.shape[1] :])


class TDSFullyConnected(nn.Module):
    def __init__(self, features: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(features, features)
        self.fc2 = nn.Linear(features, features)
        self.norm = nn.LayerNorm(features)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x + self.fc2(F.relu(self.fc1(x))))


class TDSConvCTC(nn.Module):
    """Log-spectrogram (N, T, 2, 16, 33) -> CTC log-probs (N, T - 124, 99), offline only."""

    def __init__(self, cfg: TDSConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.norm = MaskedBatchNorm(N_BANDS * CHANNELS_PER_BAND * N_FREQ)
        self.bands = nn.ModuleList(
            RotationMLP(CHANNELS_PER_BAND, N_FREQ, cfg.band_width, cfg.rotations) for _ in range(N_BANDS)
        )
        width = cfg.features // cfg.channels
        layers: list[nn.Module] = []
        for _ in range(cfg.blocks):
            layers += [TDSConv(cfg.channels, width, cfg.kernel), TDSFullyConnected(cfg.features)]
        self.encoder = nn.Sequential(*layers)
        self.head = nn.Linear(cfg.features, cfg.num_outputs)

    stride = 1

    @property
    def lookahead(self) -> int:
        return self.cfg.lookahead

    @property
    def output_time_offset(self) -> int:
        """Output ``j``'s time is input frame ``j * stride + output_time_offset``."""
        return self.cfg.receptive_field - 1 - self.cfg.lookahead

    @property
    def receptive_field(self) -> int:
        return self.cfg.receptive_field

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def flops_per_hop(self, hop_frames: int) -> int:
        return tds_flops_per_hop(self.cfg, hop_frames)

    def forward(self, features: Tensor, feature_lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        n, t = features.shape[:2]
        if feature_lengths is None:
            feature_lengths = torch.full((n,), t, dtype=torch.long, device=features.device)
        mask = torch.arange(t, device=features.device)[None, :] < feature_lengths[:, None]
        x = self.norm(features.reshape(n, t, -1), mask).reshape(n, t, N_BANDS, CHANNELS_PER_BAND, N_FREQ)
        x = torch.cat([mlp(x[:, :, b]) for b, mlp in enumerate(self.bands)], dim=-1)
        x = self.encoder(x)
        lengths = (feature_lengths - (self.cfg.receptive_field - 1)).clamp(min=0)
        return torch.log_softmax(self.head(x), dim=-1), lengths


def tds_count_params(cfg: TDSConfig) -> int:
    f = cfg.features
    n = 2 * N_BANDS * CHANNELS_PER_BAND * N_FREQ
    n += N_BANDS * (CHANNELS_PER_BAND * N_FREQ * cfg.band_width + cfg.band_width)
    conv = cfg.channels * cfg.channels * cfg.kernel + cfg.channels + 2 * f
    fc = 2 * (f * f + f) + 2 * f
    return n + cfg.blocks * (conv + fc) + f * cfg.num_outputs + cfg.num_outputs


def tds_flops_per_hop(cfg: TDSConfig, hop_frames: int) -> int:
    """2 per multiply-add, matmuls and convolutions, ``hop_frames`` new outputs (stride 1)."""
    f = cfg.features
    per_frame = N_BANDS * len(cfg.rotations) * CHANNELS_PER_BAND * N_FREQ * cfg.band_width
    per_frame += cfg.blocks * (cfg.channels * cfg.kernel * f + 2 * f * f) + f * cfg.num_outputs
    return 2 * hop_frames * per_frame
