"""A training recipe: one TOML file -> frozen dataclasses.

    [model]   ModelConfig   (``name = "small"`` plus overrides, see emgrt.train.model), or
              TDSConfig     with ``arch = "tds"`` (emgrt.train.tds, the emg2qwerty baseline)
    [optim]   OptimConfig   AdamW, warmup + cosine, gradient clipping
    [train]   TrainConfig   length (epochs or max_steps), budget, validation, logging, seed
    [data]    the raw table, handed to emgrt.data.DataConfig.from_dict
    [distill] DistillConfig (optional; `emgrt distill` only): alpha, beta, temperature

Unknown keys and out-of-range values raise one ConfigError naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from emgrt.errors import ConfigError
from emgrt.tomlfile import load_toml
from emgrt.train.model import ModelConfig
from emgrt.train.tds import TDSConfig


def model_config_from_dict(d: Mapping) -> ModelConfig | TDSConfig:
    """A [model] table (or a checkpoint's model_config): ``arch = "transformer"`` (default) or
    ``"tds"`` (the TDS-ConvNet baseline)."""
    if not isinstance(d, Mapping):
        raise ConfigError(f"[model] must be a table, got {d!r}")
    d = dict(d)
    arch = d.pop("arch", "transformer")
    if arch == "tds":
        return TDSConfig.from_dict(d)
    if arch != "transformer":
        raise ConfigError(f"model.arch: must be 'transformer' or 'tds', got {arch!r}")
    return ModelConfig.from_dict(d)


def _check(d: Mapping, cls: type, table: str) -> None:
    if not isinstance(d, Mapping):
        raise ConfigError(f"[{table}] must be a table, got {d!r}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ConfigError(f"[{table}] unknown key '{unknown[0]}' (allowed: {', '.join(sorted(known))})")


def _need(ok: bool, key: str, allowed: str, got: Any) -> None:
    if not ok:
        raise ConfigError(f"{key}: must be {allowed}, got {got!r}")


@dataclass(frozen=True)
class OptimConfig:
    """AdamW with linear warmup over the first ``warmup_frac`` of updates, then cosine to
    ``min_lr_ratio * lr``; gradients clipped to ``grad_clip`` total L2 norm (0 = off)."""

    lr: float = 1e-3
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-8
    warmup_frac: float = 0.05
    min_lr_ratio: float = 0.0
    grad_clip: float = 1.0

    @classmethod
    def from_dict(cls, d: Mapping) -> OptimConfig:
        _check(d, cls, "optim")
        d = dict(d)
        if "betas" in d:
            b = d["betas"]
            _need(isinstance(b, (list, tuple)) and len(b) == 2, "optim.betas", "[beta1, beta2]", b)
            d["betas"] = (float(b[0]), float(b[1]))
        cfg = cls(**d)
        _need(cfg.lr > 0, "optim.lr", "> 0", cfg.lr)
        _need(cfg.weight_decay >= 0, "optim.weight_decay", ">= 0", cfg.weight_decay)
        _need(all(0 <= b < 1 for b in cfg.betas), "optim.betas", "in [0, 1)", cfg.betas)
        _need(0 <= cfg.warmup_frac < 1, "optim.warmup_frac", "in [0, 1)", cfg.warmup_frac)
        _need(0 <= cfg.min_lr_ratio <= 1, "optim.min_lr_ratio", "in [0, 1]", cfg.min_lr_ratio)
        _need(cfg.grad_clip >= 0, "optim.grad_clip", ">= 0 (0 = off)", cfg.grad_clip)
        return cfg

    def to_dict(self) -> dict:
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d


@dataclass(frozen=True)
class TrainConfig:
    """Run length and bookkeeping.  Exactly one of ``epochs`` / ``max_steps`` sizes the schedule
    (``max_steps`` wins when both are set); ``max_minutes`` (0 = none) stops early but saves."""

    epochs: int = 0
    max_steps: int = 0
    max_minutes: float = 0.0
    val_every: int = 0  # optimizer steps between validations; 0 = once per epoch
    val_max_batches: int = 0  # cap on validation batches; 0 = the whole split
    log_every: int = 10  # steps between train lines in metrics.jsonl
    seed: int = 0
    threads: int = 0  # torch compute threads; 0 = all cores
    skip_context_outputs: bool = True  # CTC ignores outputs timed in a window's past padding

    @classmethod
    def from_dict(cls, d: Mapping) -> TrainConfig:
        _check(d, cls, "train")
        cfg = cls(**d)
        for key in ("epochs", "max_steps", "val_every", "val_max_batches", "seed", "threads"):
            v = getattr(cfg, key)
            _need(
                isinstance(v, int) and not isinstance(v, bool) and v >= 0,
                f"train.{key}",
                "an integer >= 0",
                v,
            )
        _need(cfg.log_every >= 1, "train.log_every", "an integer >= 1", cfg.log_every)
        _need(cfg.max_minutes >= 0, "train.max_minutes", ">= 0 (0 = no limit)", cfg.max_minutes)
        _need(cfg.epochs > 0 or cfg.max_steps > 0, "train.epochs / train.max_steps", "set (one > 0)", 0)
        return cfg

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DistillConfig:
    """Knowledge distillation (``emgrt distill``): loss = ``alpha`` * KD + ``beta`` * CTC, KD the
    per-frame KL(teacher || student) of the posteriors softened by ``temperature``, times
    ``temperature**2`` (fairemg: alpha = 0.5, beta = 1.0)."""

    alpha: float = 0.5
    beta: float = 1.0
    temperature: float = 1.0

    @classmethod
    def from_dict(cls, d: Mapping) -> DistillConfig:
        _check(d, cls, "distill")
        cfg = cls(**{k: float(v) for k, v in d.items()})
        _need(cfg.alpha >= 0, "distill.alpha", ">= 0", cfg.alpha)
        _need(cfg.beta >= 0, "distill.beta", ">= 0", cfg.beta)
        _need(cfg.alpha + cfg.beta > 0, "distill.alpha + distill.beta", "> 0", cfg.alpha + cfg.beta)
        _need(cfg.temperature > 0, "distill.temperature", "> 0", cfg.temperature)
        return cfg

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Recipe:
    model: ModelConfig | TDSConfig
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=1))
    data: Mapping[str, Any] = field(default_factory=dict)  # raw [data] table
    name: str = ""
    distill: DistillConfig | None = None  # [distill]: only `emgrt distill` reads it

    @classmethod
    def from_dict(cls, d: Mapping, name: str = "") -> Recipe:
        known = {"model", "optim", "train", "data", "name", "distill"}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"recipe: unknown table '{unknown[0]}' (allowed: {', '.join(sorted(known))})")
        if "model" not in d:
            raise ConfigError('recipe: needs a [model] table (e.g. name = "tiny")')
        data = d.get("data", {})
        if not isinstance(data, Mapping):
            raise ConfigError(f"[data] must be a table, got {data!r}")
        return cls(
            model=model_config_from_dict(d["model"]),
            optim=OptimConfig.from_dict(d.get("optim", {})),
            train=TrainConfig.from_dict(d.get("train", {"epochs": 1})),
            data=dict(data),
            name=str(d.get("name", name)),
            distill=DistillConfig.from_dict(d["distill"]) if "distill" in d else None,
        )

    @classmethod
    def from_toml(cls, path: str | Path) -> Recipe:
        path = Path(path)
        doc = load_toml(path)
        try:
            return cls.from_dict(doc, name=path.stem)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    def to_dict(self) -> dict:
        d = {
            "name": self.name,
            "model": self.model.to_dict(),
            "optim": self.optim.to_dict(),
            "train": self.train.to_dict(),
            "data": dict(self.data),
        }
        if self.distill is not None:
            d["distill"] = self.distill.to_dict()
        return d

    def data_config(self):
        """The [data] table as an emgrt.data.DataConfig."""
        from emgrt.data.config import DataConfig

        return DataConfig.from_dict(self.data)
