"""The streaming transformer-CTC model (fairemg's vanilla transformer, streaming by construction).

Read top to bottom, smallest piece first:

1. :class:`MaskedBatchNorm`   per-feature normalisation of the log-spectrogram (band x electrode x
   freq), statistics over valid frames only; a fixed affine at eval.
2. :class:`RotationMLP`       per band, one MLP applied to the electrode ring rolled by each offset in
   ``rotations`` (-1, 0, +1), averaged over offsets (robust to the band sitting one electrode off).
3. :class:`ModelConfig`       sizes by name (``tiny``, ``small``, ``large``, ``L{layers}d{dim}``),
   contexts in 8 ms input frames.
4. :class:`InputBlock`        1 + 2, stack ``subsample`` frames, project to ``dim``, then a depthwise
   temporal convolution that sees ``lookahead`` future frames.  The ONLY place with lookahead.
5. :class:`CausalAttention`   hand-written multi-head attention, strictly causal, each query sees
   itself and ``window`` past frames, with a learned relative-position bias over distances
   [0, window] (initialised to ALiBi slopes).  No absolute positions: a stream can run for hours.
6. :class:`Block`             pre-LayerNorm transformer block (attention + 4x feed-forward).
7. :class:`StreamingCTCModel` input block, blocks, final LayerNorm, linear CTC head (99 outputs),
   whole-window ``forward`` and streaming ``init_state`` / ``step``.

``count_params`` and ``flops_per_hop`` count a config analytically (nothing allocated).

Time bookkeeping.  Input frames are the 125 Hz spectrogram frames.  Output frame ``j`` stacks input
frames ``[j*k, j*k + k - 1]`` (``k`` = ``stride`` = ``subsample``); its *time* is its last input frame,
``j*k + k - 1``.  It depends on input frames up to ``time + lookahead`` and back to
``time - receptive_field`` (``left_context`` per layer, so the whole stack reaches
``layers * left_context`` plus the convolution's past).  The whole-window forward is "valid" on the
right: a window of ``T`` input frames yields ``T // k - lookahead // k`` output frames, exactly the
frames a stream fed the same ``T`` frames has emitted, so :meth:`StreamingCTCModel.step` with its
fixed-size key/value caches reproduces :meth:`StreamingCTCModel.forward`.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from emgrt.constants import CHANNELS_PER_BAND, N_FREQ
from emgrt.errors import ConfigError

N_BANDS = 2  # emg2qwerty's two bands: the TDS baseline's input (the transformer takes cfg.bands)

# ----------------------------------------------------------------------------------------------
# 1. Normalisation
# ----------------------------------------------------------------------------------------------


class _AllRanksSum(torch.autograd.Function):
    """Sum over the DDP ranks; the gradient is summed over the ranks too (each rank's loss
    depends on every rank's input through the sum)."""

    @staticmethod
    def forward(ctx, t: Tensor) -> Tensor:  # type: ignore[override]
        import torch.distributed as dist

        out = t.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        import torch.distributed as dist

        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


def _all_ranks_sum(t: Tensor) -> Tensor:
    """Differentiable sum over the DDP ranks (``t`` itself without a process group)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return t
    return _AllRanksSum.apply(t)


class MaskedBatchNorm(nn.Module):
    """BatchNorm over the last axis of (N, T, C), ignoring padded frames when training.

    At eval (and in :meth:`StreamingCTCModel.step`) it is the fixed affine
    ``(x - running_mean) / sqrt(running_var + eps) * weight + bias``.

    ``sync_stats`` (set by emgrt.train.dist.wrap_ddp): under DDP the batch statistics are summed
    over all ranks (differentiably, like SyncBatchNorm), so N ranks equal one global batch.
    """

    sync_stats = False

    def __init__(self, num_features: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.momentum, self.eps = momentum, eps
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if self.training:
            flat = x.reshape(-1, x.shape[-1])
            if mask is None:
                weights = flat.new_full((len(flat), 1), 1.0)
            else:
                weights = mask.reshape(-1, 1).to(x.dtype)
            sums = torch.cat([(flat * weights).sum(0), weights.sum().reshape(1)])
            if self.sync_stats:
                sums = _all_ranks_sum(sums)
            n = float(sums[-1])
            if n > 1:
                mean = sums[:-1] / n
                sq = (((flat - mean) ** 2) * weights).sum(0)
                var = (_all_ranks_sum(sq) if self.sync_stats else sq) / n
                with torch.no_grad():
                    self.running_mean.lerp_(mean, self.momentum)
                    self.running_var.lerp_(var * n / (n - 1), self.momentum)
                return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias
        return self.affine(x)

    def affine(self, x: Tensor) -> Tensor:
        scale = torch.rsqrt(self.running_var + self.eps) * self.weight
        return x * scale + (self.bias - self.running_mean * scale)


# ----------------------------------------------------------------------------------------------
# 2. Rotation-robust band MLP
# ----------------------------------------------------------------------------------------------


class RotationMLP(nn.Module):
    """(..., electrodes, freq) -> (..., width): Linear+ReLU on each rolled ring, mean over rolls.

    Rolling the input ring by r equals rolling the weight's electrode axis by -r, so the rolls are
    one matmul against the stacked rolled weights (no rolled copies of the input)."""

    def __init__(self, electrodes: int, freq: int, width: int, rotations: tuple[int, ...]) -> None:
        super().__init__()
        self.rotations = tuple(rotations)
        self.electrodes, self.freq, self.width = electrodes, freq, width
        self.linear = nn.Linear(electrodes * freq, width)

    def rolled_weight(self) -> Tensor:
        w = self.linear.weight.reshape(self.width, self.electrodes, self.freq)
        return torch.cat([torch.roll(w, -r, dims=1) for r in self.rotations]).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(F.linear(x.flatten(-2), self.rolled_weight(), self.linear.bias.repeat(len(self.rotations))))

    def pool(self, y: Tensor) -> Tensor:
        """(..., rotations * width) pre-activations of the stacked rolled weights -> (..., width):
        ReLU, then the mean over rotations."""
        return F.relu(y).unflatten(-1, (len(self.rotations), self.width)).mean(-2)


# ----------------------------------------------------------------------------------------------
# 3. Config
# ----------------------------------------------------------------------------------------------

NAMED_SIZES = {"tiny": (10, 128), "small": (6, 256), "large": (8, 1024)}
# The fairemg paper's parameter counts for the named sizes (tests pin ours within 10%).
PAPER_PARAMS = {"tiny": 2.2e6, "small": 5.4e6, "large": 109e6}
_GRID_NAME = re.compile(r"^L(\d+)d(\d+)$")


class ArchConfig:
    """``from_dict`` / ``to_dict`` of the comparison models' configs (TDSConfig, RNNConfig): frozen
    dataclasses with an ``arch`` field and a ``rotations`` tuple."""

    @classmethod
    def from_dict(cls, d: dict):
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(d) - known)
        if unknown:
            arch = cls.__dataclass_fields__["arch"].default  # type: ignore[attr-defined]
            raise ConfigError(f"[model] unknown keys {unknown} for arch {arch!r}; known: {sorted(known)}")
        return cls(**d)

    def to_dict(self) -> dict:
        d = asdict(self)  # type: ignore[call-overload]
        d["rotations"] = list(d["rotations"])
        return d


@dataclass(frozen=True)
class ModelConfig:
    """Architecture.  Times are in 125 Hz input frames (8 ms)."""

    layers: int = 10
    dim: int = 128
    heads: int = 0  # 0: dim // 64
    ffn_mult: int = 4
    band_width: int = 0  # rotation-MLP width per band; 0: dim
    subsample: int = 4  # input frames stacked per output frame (1, 2 or 4); 4 = 31 Hz output
    left_context: int = 112  # past input frames each attention layer sees (896 ms)
    lookahead: int = 12  # future input frames the input block sees (96 ms); nowhere else
    conv_past: int = 12  # past input frames of the input block's temporal convolution
    dropout: float = 0.1
    rotations: tuple[int, ...] = (-1, 0, 1)
    num_outputs: int = 99  # 98 keys + CTC blank (the task's classes + blank / no-gesture)
    blank: int = 98
    bands: int = 2  # EMG bands in the input: 2 (emg2qwerty), 1 (the GNI band)
    imu: int = 0  # IMU channels fused with the EMG (6: accel + gyro of the band; 0: EMG only)
    imu_width: int = 16  # features the IMU adds per input frame
    name: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.rotations, list):
            object.__setattr__(self, "rotations", tuple(self.rotations))
        if self.imu not in (0, 6) or self.imu_width < 1:
            raise ConfigError(f"model config: imu must be 0 or 6 (channels) and imu_width >= 1, got {self.imu}, {self.imu_width}")
        if self.heads == 0:
            object.__setattr__(self, "heads", max(1, self.dim // 64))
        if self.band_width == 0:
            object.__setattr__(self, "band_width", self.dim)
        k = self.subsample
        problems = []
        if self.layers < 1:
            problems.append(f"layers must be >= 1, got {self.layers}")
        if self.dim % self.heads:
            problems.append(f"dim {self.dim} is not divisible by heads {self.heads}")
        if k < 1:
            problems.append(f"subsample must be >= 1, got {k}")
        for field_name in ("left_context", "lookahead", "conv_past"):
            v = getattr(self, field_name)
            if v < 0 or (k >= 1 and v % k):
                problems.append(f"{field_name} must be a non-negative multiple of subsample {k}, got {v}")
        if self.left_context < k:
            problems.append(f"left_context must be >= subsample ({k}), got {self.left_context}")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout must be in [0, 1), got {self.dropout}")
        if self.bands not in (1, 2):
            problems.append(f"bands must be 1 or 2, got {self.bands}")
        if not 0 <= self.blank < self.num_outputs:
            problems.append(f"blank {self.blank} outside [0, {self.num_outputs})")
        if problems:
            raise ConfigError("model config: " + "; ".join(problems))

    # -- derived sizes (output frames unless named otherwise) ----------------------------------
    @property
    def window(self) -> int:
        """Past output frames each attention query sees (besides itself)."""
        return self.left_context // self.subsample

    @property
    def lookahead_out(self) -> int:
        return self.lookahead // self.subsample

    @property
    def conv_past_out(self) -> int:
        return self.conv_past // self.subsample

    @property
    def conv_kernel(self) -> int:
        return self.conv_past_out + 1 + self.lookahead_out

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def from_name(cls, name: str, **overrides) -> ModelConfig:
        """``tiny`` | ``small`` | ``large`` | ``L{layers}d{dim}`` (layers 2-10, dim 128-1024)."""
        if name in NAMED_SIZES:
            layers, dim = NAMED_SIZES[name]
        else:
            m = _GRID_NAME.match(name)
            if not m:
                raise ConfigError(
                    f"unknown model '{name}': use tiny, small, large or L{{layers}}d{{dim}} (e.g. L6d256)"
                )
            layers, dim = int(m.group(1)), int(m.group(2))
            if not (2 <= layers <= 10 and 128 <= dim <= 1024 and dim % 64 == 0):
                raise ConfigError(
                    f"model '{name}' outside the grid: layers 2-10, dim 128-1024 (multiple of 64)"
                )
        return cls(**{"layers": layers, "dim": dim, "name": name, **overrides})

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """From a recipe's ``[model]`` table: ``name = "small"`` plus overrides, or every field."""
        d = dict(d)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"[model] unknown keys {unknown}; known: {sorted(known)}")
        name = d.pop("name", "")
        if name and ("layers" not in d and "dim" not in d):
            return cls.from_name(name, **d)
        return cls(name=name, **d)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["rotations"] = list(self.rotations)
        return d


# ----------------------------------------------------------------------------------------------
# 4. Input block
# ----------------------------------------------------------------------------------------------


class BandStack(nn.Module):
    """normalise -> rotation MLP per band -> concat bands -> stack ``cfg.subsample`` frames ->
    Linear to ``out_dim``: the input of the streaming transformer (:class:`InputBlock`) and of the
    LSTM comparison model (emgrt.train.rnn).  ``cfg``: anything with bands, band_width,
    rotations and subsample."""

    def __init__(self, cfg, out_dim: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.norm = MaskedBatchNorm(cfg.bands * CHANNELS_PER_BAND * N_FREQ)
        self.bands = nn.ModuleList(
            RotationMLP(CHANNELS_PER_BAND, N_FREQ, cfg.band_width, cfg.rotations) for _ in range(cfg.bands)
        )
        self.imu = getattr(cfg, "imu", 0)
        per_frame = cfg.bands * cfg.band_width
        if self.imu:  # fusion: the IMU's samples at each frame, normalised, through a Linear + ReLU
            self.imu_norm = MaskedBatchNorm(self.imu)
            self.imu_proj = nn.Linear(self.imu, cfg.imu_width)
            per_frame += cfg.imu_width
        self.stack_proj = nn.Linear(cfg.subsample * per_frame, out_dim)

    def frames(self, x: Tensor, mask: Tensor | None = None, imu: Tensor | None = None,
               imu_present: Tensor | None = None) -> Tensor:
        """(N, T, bands, 16, 33) -> (N, T, bands * band_width [+ imu_width]) per-frame features.

        A fusing model also takes ``imu`` (N, T, 6) at the frames and ``imu_present`` (N,), bool or
        1.0 / 0.0; an absent IMU (no stream, or dropped in training) contributes zeros."""
        x = self.norm(x.flatten(-3), mask).unflatten(-1, (self.cfg.bands, CHANNELS_PER_BAND, N_FREQ))
        z = torch.cat([mlp(x[..., b, :, :]) for b, mlp in enumerate(self.bands)], dim=-1)
        if not self.imu:
            return z
        if imu is None:
            return torch.cat([z, z.new_zeros((*z.shape[:-1], self.cfg.imu_width))], dim=-1)
        present = z.new_ones(imu.shape[0]) if imu_present is None else imu_present.to(z.dtype)
        on = present[:, None] > 0
        keep = mask & on if mask is not None else on.expand(imu.shape[:2])
        return torch.cat([z, self.imu_features(imu, present, keep)], dim=-1)

    def imu_features(self, imu: Tensor, present: Tensor, keep: Tensor | None = None) -> Tensor:
        """(N, T, 6) IMU at the frames, ``present`` (N,) 1.0 / 0.0 -> (N, T, imu_width):
        relu(imu_proj(imu_norm(imu))) * present (the norm a fixed affine at eval; in training its
        statistics count the frames ``keep`` (N, T) marks).  Exported step graphs call it too."""
        return F.relu(self.imu_proj(self.imu_norm(imu, keep))) * present[:, None, None]

    def stack(self, z: Tensor) -> Tensor:
        """(N, G*k, C) -> (N, G, out_dim): k consecutive frames concatenated, then projected."""
        k = self.cfg.subsample
        return self.stack_proj(z.unflatten(-2, (z.shape[-2] // k, k)).flatten(-2))


class InputBlock(BandStack):
    """(N, T, 2, 16, 33) log-spectrogram -> (N, T // k - lookahead // k, dim).

    :class:`BandStack` (normalise, rotation MLP per band, stack k frames, Linear to dim) ->
    u + Linear(GELU(depthwise_conv(u))), the convolution spanning ``conv_past`` past and
    ``lookahead`` future input frames (zero history before the first frame, "valid" at the end).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__(cfg, cfg.dim)
        self.conv = nn.Conv1d(cfg.dim, cfg.dim, cfg.conv_kernel, groups=cfg.dim)
        self.mix = nn.Linear(cfg.dim, cfg.dim)

    # The three stages (frames, stack: BandStack; temporal) are separate so that step() can run
    # them on pieces of a stream.  They take any leading dims ((N, T, ...) or (T, ...)).

    def temporal(self, u: Tensor) -> Tensor:
        """(N, conv_kernel - 1 + m, dim) -> (N, m, dim): the lookahead convolution, 'valid'."""
        return self.residual(u, self.conv(u.transpose(-1, -2)).transpose(-1, -2))

    def residual(self, u: Tensor, c: Tensor) -> Tensor:
        """The convolution's output ``c`` (..., m, dim) into the block's output: the centre frames
        of ``u`` plus Linear(GELU(c))."""
        centre = u[..., self.cfg.conv_past_out : self.cfg.conv_past_out + c.shape[-2], :]
        return centre + self.mix(F.gelu(c))

    def forward(self, x: Tensor, mask: Tensor | None = None, imu: Tensor | None = None,
                imu_present: Tensor | None = None) -> Tensor:
        k = self.cfg.subsample
        t = (x.shape[1] // k) * k
        u = self.stack(self.frames(x[:, :t], None if mask is None else mask[:, :t],
                                   None if imu is None else imu[:, :t], imu_present))
        u = F.pad(u, (0, 0, self.cfg.conv_past_out, 0))  # zero history before the stream starts
        return self.temporal(u)


# ----------------------------------------------------------------------------------------------
# 5. Attention
# ----------------------------------------------------------------------------------------------


def alibi_slopes(heads: int) -> Tensor:
    return torch.tensor([2.0 ** (-8.0 * (h + 1) / heads) for h in range(heads)])


class CausalAttention(nn.Module):
    """Multi-head attention where query at position i sees keys at i - window .. i.

    Positions enter only through ``rel_bias[h, i - j]`` (learned, distances 0..window), so the
    computation is the same whether keys come from this window or from a cache.
    """

    # False: always the one (T, T) band (the whole-window ONNX export sets it: the chunked path
    # branches on T in Python, which an exported graph would freeze at the example's length).
    chunked = True

    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        self.heads, self.head_dim, self.window = heads, dim // heads, window
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        dist = torch.arange(window + 1, dtype=torch.float32)
        self.rel_bias = nn.Parameter(-alibi_slopes(heads)[:, None] * dist[None, :])

    # project/merge/step take any leading dims ((N, T, dim) or (T, dim)): the exported step graph
    # runs on (T, dim), where every Linear is one Gemm without reshapes around it.
    def project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(..., T, dim) -> q, k, v each (..., heads, T, head_dim)."""
        qkv = self.qkv(x).unflatten(-1, (3, self.heads, self.head_dim))  # (..., T, 3, H, d)
        qkv = qkv.movedim(-3, 0).transpose(-2, -3)  # (3, ..., H, T, d)
        return qkv[0], qkv[1], qkv[2]

    def band_bias(self, q_pos: Tensor, k_pos: Tensor, k_valid: Tensor | None = None) -> Tensor:
        """(heads, Tq, Tk) additive bias: rel_bias inside the band, -inf outside (or invalid keys;
        a query always sees its own key, so an invalid query's row stays finite)."""
        dist = q_pos[:, None] - k_pos[None, :]
        inside = (dist >= 0) & (dist <= self.window)
        if k_valid is not None:
            inside = inside & (k_valid[None, :] | (dist == 0))
        bias = self.rel_bias[:, dist.clamp(0, self.window)]
        return bias.masked_fill(~inside, float("-inf"))

    def attend(self, q: Tensor, k: Tensor, v: Tensor, bias: Tensor) -> Tensor:
        """q (..., Tq, d), k/v (..., Tk, d), bias broadcastable to (..., Tq, Tk) -> (..., Tq, d)."""
        scores = (q * (1.0 / math.sqrt(self.head_dim))) @ k.transpose(-1, -2) + bias
        return torch.softmax(scores, dim=-1) @ v

    def merge(self, y: Tensor) -> Tensor:
        """(..., H, T, d) -> (..., T, dim) through the output projection."""
        return self.out(y.transpose(-2, -3).flatten(-2))

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = self.project(x)
        t, w = x.shape[1], self.window
        chunk = max(w, 16)
        if not self.chunked or t <= chunk + w:  # short window: one (T, T) band
            pos = torch.arange(t, device=x.device)
            return self.merge(self.attend(q, k, v, self.band_bias(pos, pos)))
        # Long window: queries in chunks of C, each against its C + window keys (C = window),
        # about 2 * window keys per query instead of T.  Same masked softmax, same bias.
        n_chunks = -(-t // chunk)
        padded = n_chunks * chunk
        q = F.pad(q, (0, 0, 0, padded - t)).reshape(*q.shape[:2], n_chunks, chunk, self.head_dim)
        span = chunk + w
        k = F.pad(k, (0, 0, w, padded - t)).unfold(2, span, chunk).transpose(-1, -2)
        v = F.pad(v, (0, 0, w, padded - t)).unfold(2, span, chunk).transpose(-1, -2)
        q_pos = torch.arange(w, span, device=x.device)  # chunk-local; keys start `window` earlier
        bias = self.band_bias(q_pos, torch.arange(span, device=x.device))[:, None]  # (H, 1, C, span)
        before_start = torch.zeros(n_chunks, 1, span, dtype=torch.bool, device=x.device)
        before_start[0, :, :w] = True  # keys left of frame 0 (zero padding)
        bias = bias.masked_fill(before_start, float("-inf"))
        y = self.attend(q, k, v, bias)  # (N, H, n_chunks, C, d)
        return self.merge(y.reshape(*y.shape[:2], padded, self.head_dim)[:, :, :t])

    def step(
        self, x: Tensor, k_cache: Tensor, v_cache: Tensor, valid: Tensor, new_valid: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """x (N, m, dim) new frames; caches (N, H, window, d) of the previous frames, ``valid``
        (window,) marks cache slots holding real frames, ``new_valid`` (m,) the new frames that
        are real (default: all; the fixed-shape ONNX step masks its warm-up frames with it).
        Returns output and the updated caches.  (Without the N axis the same holds.)"""
        m = x.shape[-2]
        q, k_new, v_new = self.project(x)
        k = torch.cat([k_cache, k_new], dim=-2)
        v = torch.cat([v_cache, v_new], dim=-2)
        w = self.window
        k_pos = torch.arange(w + m, device=x.device)
        if new_valid is None:
            new_valid = torch.ones(m, dtype=torch.bool, device=x.device)
        k_valid = torch.cat([valid, new_valid])
        y = self.attend(q, k, v, self.band_bias(k_pos[w:], k_pos, k_valid))
        return self.merge(y), k[..., m:, :], v[..., m:, :]


# ----------------------------------------------------------------------------------------------
# 6. Transformer block
# ----------------------------------------------------------------------------------------------


class Block(nn.Module):
    """Pre-LayerNorm: x + attn(LN(x)); x + FFN(LN(x)), FFN = Linear-GELU-Linear (ffn_mult x dim).

    Dropout only on the two residual branches (dropout on the attention weights costs a quarter of
    a CPU training step in random numbers for little gain)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.dim)
        self.attn = CausalAttention(cfg.dim, cfg.heads, cfg.window)
        self.ln2 = nn.LayerNorm(cfg.dim)
        self.ff1 = nn.Linear(cfg.dim, cfg.ffn_mult * cfg.dim)
        self.ff2 = nn.Linear(cfg.ffn_mult * cfg.dim, cfg.dim)
        self.drop = nn.Dropout(cfg.dropout)

    def ffn(self, x: Tensor) -> Tensor:
        return x + self.drop(self.ff2(F.gelu(self.ff1(self.ln2(x)))))

    def forward(self, x: Tensor) -> Tensor:
        return self.ffn(x + self.drop(self.attn(self.ln1(x))))

    def step(
        self, x: Tensor, k_cache: Tensor, v_cache: Tensor, valid: Tensor, new_valid: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        y, k_cache, v_cache = self.attn.step(self.ln1(x), k_cache, v_cache, valid, new_valid)
        return self.ffn(x + self.drop(y)), k_cache, v_cache


# ----------------------------------------------------------------------------------------------
# 7. The model
# ----------------------------------------------------------------------------------------------


def output_lengths(feature_lengths: Tensor, cfg: ModelConfig) -> Tensor:
    """Output frames produced by windows of ``feature_lengths`` input frames."""
    return (feature_lengths // cfg.subsample - cfg.lookahead_out).clamp(min=0)


class SubsampledOutputs(nn.Module):
    """Output timing of a model that stacks ``cfg.subsample`` input frames per output and looks
    ``cfg.lookahead`` frames ahead (the streaming transformer, the LSTM of emgrt.train.rnn)."""

    cfg: ModelConfig

    @property
    def stride(self) -> int:
        """Input frames per output frame."""
        return self.cfg.subsample

    @property
    def lookahead(self) -> int:
        """Future input frames an output depends on (the whole model's algorithmic lookahead)."""
        return self.cfg.lookahead

    @property
    def output_time_offset(self) -> int:
        """Output ``j``'s time is input frame ``j * stride + output_time_offset`` (its last frame)."""
        return self.cfg.subsample - 1

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


class StreamingCTCModel(SubsampledOutputs):
    """Log-spectrogram frames in, CTC log-probabilities over the 99 outputs out."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.input = InputBlock(cfg)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.ln_out = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.num_outputs)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    # -- properties (stride, lookahead, output_time_offset, num_params: SubsampledOutputs) ------
    @property
    def left_context(self) -> int:
        """Past input frames each attention layer sees."""
        return self.cfg.window * self.cfg.subsample

    @property
    def receptive_field(self) -> int:
        """Past input frames (before an output's time) that can influence it, over all layers."""
        c = self.cfg
        return (c.conv_past_out + c.layers * c.window) * c.subsample + c.subsample - 1

    def flops_per_hop(self, hop_frames: int) -> int:
        """Multiply-add FLOPs (2 per MAC, matmuls/convolutions only) to stream ``hop_frames`` input
        frames in steady state (full caches); ``hop_frames`` should be a multiple of ``stride``."""
        return flops_per_hop(self.cfg, hop_frames)

    # -- whole window ----------------------------------------------------------------------------
    def forward(self, features: Tensor, feature_lengths: Tensor | None = None, imu: Tensor | None = None,
                imu_present: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """features (N, T, 2, 16, 33), zero-padded on the right -> log_probs (N, T', 99), lengths.
        A fusing model (``cfg.imu``) also takes the IMU at the frames (BandStack.frames).

        Padding never reaches valid outputs: attention is causal and the right edge is 'valid',
        so no key mask is needed; only the training BatchNorm statistics use the mask.
        """
        n, t = features.shape[:2]
        if feature_lengths is None:
            feature_lengths = torch.full((n,), t, dtype=torch.long, device=features.device)
        mask = torch.arange(t, device=features.device)[None, :] < feature_lengths[:, None]
        x = self.input(features, mask, imu, imu_present)
        for block in self.blocks:
            x = block(x)
        log_probs = torch.log_softmax(self.head(self.ln_out(x)), dim=-1)
        return log_probs, output_lengths(feature_lengths, self.cfg)

    # -- streaming -------------------------------------------------------------------------------
    def init_state(self, batch: int = 1, device: torch.device | str | None = None) -> dict[str, Tensor]:
        """Fixed-size streaming state (all zeros / empty), every entry a named tensor:

        ``stack_buf`` (N, k-1, 2*band_width) and ``stack_fill`` (): input frames waiting for a full
        stride; ``conv_buf`` (N, conv_kernel-1, dim): past projected frames for the lookahead
        convolution; ``conv_skip`` (): convolution outputs still to drop at stream start;
        ``kv_valid`` (window,): which cache slots hold real frames; ``k{i}``/``v{i}``
        (N, heads, window, head_dim): per-layer key/value caches.
        """
        c = self.cfg
        p = next(self.parameters())
        dev = p.device if device is None else torch.device(device)
        dt = p.dtype
        state = {
            "stack_buf": torch.zeros(batch, c.subsample - 1, c.bands * c.band_width, device=dev, dtype=dt),
            "stack_fill": torch.zeros((), dtype=torch.long, device=dev),
            "conv_buf": torch.zeros(batch, c.conv_kernel - 1, c.dim, device=dev, dtype=dt),
            "conv_skip": torch.full((), c.lookahead_out, dtype=torch.long, device=dev),
            "kv_valid": torch.zeros(c.window, dtype=torch.bool, device=dev),
        }
        for i in range(c.layers):
            state[f"k{i}"] = torch.zeros(batch, c.heads, c.window, c.head_dim, device=dev, dtype=dt)
            state[f"v{i}"] = torch.zeros(batch, c.heads, c.window, c.head_dim, device=dev, dtype=dt)
        return state

    def step(self, new_frames: Tensor, state: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """Feed (N, n, 2, 16, 33) new input frames (any n >= 0); return the log-probs of the output
        frames they complete, (N, m, 99), and the new state.  Use in eval mode.  Concatenating the
        outputs of any chunking equals :meth:`forward` on the whole recording."""
        c = self.cfg
        k = c.subsample
        state = dict(state)
        n_batch = new_frames.shape[0]
        # per-frame features; BatchNorm is its fixed affine here
        z = self.input.frames(new_frames) if new_frames.shape[1] else new_frames.new_zeros(
            n_batch, 0, c.bands * c.band_width)
        # stride stacking: prepend the waiting frames, keep the incomplete tail
        fill = int(state["stack_fill"])
        z = torch.cat([state["stack_buf"][:, k - 1 - fill :], z], dim=1) if fill else z
        groups = z.shape[1] // k
        tail = z[:, groups * k :]
        state["stack_buf"] = torch.cat(
            [state["stack_buf"].new_zeros(n_batch, k - 1 - tail.shape[1], z.shape[2]), tail], dim=1
        )
        state["stack_fill"] = torch.full_like(state["stack_fill"], tail.shape[1])
        empty = torch.zeros(n_batch, 0, c.num_outputs, dtype=new_frames.dtype, device=new_frames.device)
        if groups == 0:
            return empty, state
        u = self.input.stack(z[:, : groups * k])
        # lookahead convolution over [past context | new frames]
        u = torch.cat([state["conv_buf"], u], dim=1)
        state["conv_buf"] = u[:, u.shape[1] - (c.conv_kernel - 1) :]
        x = self.input.temporal(u)
        skip = min(int(state["conv_skip"]), x.shape[1])
        state["conv_skip"] = state["conv_skip"] - skip
        x = x[:, skip:]
        m = x.shape[1]
        if m == 0:
            return empty, state
        valid = state["kv_valid"]
        for i, block in enumerate(self.blocks):
            x, state[f"k{i}"], state[f"v{i}"] = block.step(x, state[f"k{i}"], state[f"v{i}"], valid)
        state["kv_valid"] = torch.cat([valid, torch.ones(m, dtype=torch.bool, device=valid.device)])[m:]
        return torch.log_softmax(self.head(self.ln_out(x)), dim=-1), state


# ----------------------------------------------------------------------------------------------
# Counting without building
# ----------------------------------------------------------------------------------------------


def count_params(cfg: ModelConfig) -> int:
    """Parameters of ``StreamingCTCModel(cfg)``, computed analytically (no allocation)."""
    d, w, k = cfg.dim, cfg.band_width, cfg.subsample
    b = cfg.bands
    feats = b * CHANNELS_PER_BAND * N_FREQ
    inp = 2 * feats  # batchnorm affine
    inp += b * (CHANNELS_PER_BAND * N_FREQ * w + w)
    inp += k * b * w * d + d  # stack projection
    inp += d * cfg.conv_kernel + d  # depthwise conv
    inp += d * d + d  # mix
    f = cfg.ffn_mult * d
    block = 4 * d  # two layernorms
    block += 3 * d * d + 3 * d + d * d + d  # qkv, out
    block += cfg.heads * (cfg.window + 1)  # relative bias
    block += d * f + f + f * d + d  # ffn
    head = 2 * d + d * cfg.num_outputs + cfg.num_outputs
    return inp + cfg.layers * block + head


def flops_per_hop(cfg: ModelConfig, hop_frames: int) -> int:
    """See :meth:`StreamingCTCModel.flops_per_hop`."""
    d, w, k = cfg.dim, cfg.band_width, cfg.subsample
    outs = hop_frames / k
    per_in = cfg.bands * len(cfg.rotations) * CHANNELS_PER_BAND * N_FREQ * w  # rotation MLPs
    per_out = k * cfg.bands * w * d + d * cfg.conv_kernel + d * d  # stack proj, conv, mix
    f = cfg.ffn_mult * d
    keys = cfg.window + outs  # steady state: cache + the new frames (masked keys still computed)
    per_layer = 4 * d * d + 2 * d * f  # qkv, out, ffn
    attn = 2 * keys * d  # q.k and weights.v, per query
    per_out += cfg.layers * (per_layer + attn) + d * cfg.num_outputs
    return round(2 * (hop_frames * per_in + outs * per_out))
