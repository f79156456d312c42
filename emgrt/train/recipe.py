"""A training recipe: one TOML file -> frozen dataclasses.

    task      "typing" (default), "handwriting" or "gestures" (emgrt.tasks): labels, loss,
              metric and data format; the model's outputs and bands follow from it
    [model]   ModelConfig   (``name = "small"`` plus overrides, see emgrt.train.model), or
              TDSConfig     with ``arch = "tds"`` (emgrt.train.tds, the emg2qwerty baseline)
    [optim]   OptimConfig   AdamW, warmup + cosine, gradient clipping
    [train]   TrainConfig   length (epochs or max_steps), budget, validation, logging, seed
    [data]    DataConfig    (emgrt.data), parsed and checked against the task and model at load;
              the raw table is kept too, as written, for checkpoints
    [distill] DistillConfig (optional; `emgrt distill` only): alpha, beta, temperature

Unknown keys and out-of-range values raise one ConfigError naming the key (emgrt.validate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from emgrt.data.config import DataConfig
from emgrt.errors import ConfigError
from emgrt.tasks import TaskSpec, task_spec
from emgrt.tomlfile import apply_settings, load_toml
from emgrt.train.model import ModelConfig
from emgrt.train.rnn import RNNConfig
from emgrt.train.tds import TDSConfig
from emgrt.validate import Bool, Float, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Str, check_keys
from emgrt.validate import fields_of, need, parse, table

Beta = Float(ge=0, lt=1)
WarmupFrac = Float(ge=0, lt=1)
Ratio = Float(ge=0, le=1)


def model_config_from_dict(d: Mapping, task: TaskSpec | None = None) -> ModelConfig | TDSConfig | RNNConfig:
    """A [model] table (or a checkpoint's model_config): ``arch = "transformer"`` (default),
    ``"tds"`` (the TDS-ConvNet baseline) or ``"lstm"`` (the recurrent comparison model,
    emgrt.train.rnn).  Values are type-checked here, ranges by the config.

    With ``task``, the head (``num_outputs``, ``blank``) and the input ``bands`` default to the
    task's and must agree with it when given."""
    need(isinstance(d, Mapping), "model", "a table", d)
    d = dict(d)
    arch = d.pop("arch", "transformer")
    if arch == "tds":
        if task is not None and task.bands != 2:
            raise ConfigError(f"model.arch: the TDS baseline reads emg2qwerty's two bands, not the {task.name} task's one band (use 'transformer')")
        cfg: ModelConfig | TDSConfig | RNNConfig = TDSConfig.from_dict(parse(fields_of(TDSConfig), d, "model"))
    elif arch == "lstm":
        if task is not None:
            d = {"num_outputs": task.num_outputs, "blank": task.blank, "bands": task.bands, **d}
        cfg = RNNConfig.from_dict(parse(fields_of(RNNConfig), {**d, "arch": "lstm"}, "model"))
    else:
        need(arch == "transformer", "model.arch", "'transformer', 'tds' or 'lstm'", arch)
        if task is not None:
            d = {"num_outputs": task.num_outputs, "blank": task.blank, "bands": task.bands, **d}
        cfg = ModelConfig.from_dict(parse(fields_of(ModelConfig), d, "model"))
    if task is not None:
        for key, want in (("num_outputs", task.num_outputs), ("blank", task.blank), ("bands", task.bands)):
            got = getattr(cfg, key, want)
            if got != want:
                raise ConfigError(f"model.{key}: the {task.name} task needs {want}, got {got} (leave it out)")
    return cfg


@table
@dataclass(frozen=True)
class OptimConfig:
    """AdamW with linear warmup over the first ``warmup_frac`` of updates, then cosine to
    ``min_lr_ratio * lr``; gradients clipped to ``grad_clip`` total L2 norm (0 = off)."""

    lr: PositiveFloat = 1e-3
    weight_decay: NonNegativeFloat = 0.01
    betas: tuple[Beta, Beta] = (0.9, 0.98)
    eps: PositiveFloat = 1e-8
    warmup_frac: WarmupFrac = 0.05
    min_lr_ratio: Ratio = 0.0
    grad_clip: NonNegativeFloat = 1.0  # 0 = off

    @classmethod
    def from_dict(cls, d: Mapping) -> OptimConfig:
        return parse(cls, d, "optim")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["betas"] = list(self.betas)
        return d


@table
@dataclass(frozen=True)
class TrainConfig:
    """Run length and bookkeeping.  Exactly one of ``epochs`` / ``max_steps`` sizes the schedule
    (``max_steps`` wins when both are set); ``max_minutes`` (0 = none) stops early but saves."""

    epochs: NonNegativeInt = 0
    max_steps: NonNegativeInt = 0
    max_minutes: NonNegativeFloat = 0.0
    val_every: NonNegativeInt = 0  # optimizer steps between validations; 0 = once per epoch
    val_max_batches: NonNegativeInt = 0  # cap on validation batches; 0 = the whole split
    log_every: PositiveInt = 10  # steps between train lines in metrics.jsonl
    seed: NonNegativeInt = 0
    threads: NonNegativeInt = 0  # torch compute threads; 0 = all cores
    skip_context_outputs: Bool = True  # CTC ignores outputs timed in a window's past padding
    # "bf16": forward and loss under torch.autocast(bfloat16): matrix products in bfloat16, weights,
    # optimizer and CTC in float32 (validation stays float32); faster on CPUs with AVX512-BF16 or
    # AMX (compare sec_per_step in two runs' metrics.jsonl).
    precision: Literal["fp32", "bf16"] = "fp32"

    def __post_init__(self) -> None:
        need(self.epochs > 0 or self.max_steps > 0, "max_steps", "> 0, or epochs > 0 (the run's length)", self.max_steps)

    @classmethod
    def from_dict(cls, d: Mapping) -> TrainConfig:
        return parse(cls, d, "train")

    def to_dict(self) -> dict:
        return asdict(self)


@table
@dataclass(frozen=True)
class DistillConfig:
    """Knowledge distillation (``emgrt distill``): loss = ``alpha`` * KD + ``beta`` * CTC, KD the
    per-frame KL(teacher || student) of the posteriors softened by ``temperature``, times
    ``temperature**2`` (fairemg: alpha = 0.5, beta = 1.0)."""

    alpha: NonNegativeFloat = 0.5
    beta: NonNegativeFloat = 1.0
    temperature: PositiveFloat = 1.0

    def __post_init__(self) -> None:
        need(self.alpha + self.beta > 0, "alpha + beta", "> 0", self.alpha + self.beta)

    @classmethod
    def from_dict(cls, d: Mapping) -> DistillConfig:
        return parse(cls, d, "distill")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Recipe:
    """A whole recipe.  ``data_cfg`` is the ``data`` table parsed and checked against the task
    and the model when the recipe is made (from_dict, the constructor, dataclasses.replace), so a
    bad [data] table fails at load; ``data`` stays the table as written, what to_dict stores."""

    model: ModelConfig | TDSConfig
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=1))
    data: Mapping[str, Any] = field(default_factory=dict)  # raw [data] table, as written (to_dict)
    name: str = ""
    distill: DistillConfig | None = None  # [distill]: only `emgrt distill` reads it
    task: str = "typing"  # emgrt.tasks: typing, handwriting, gestures
    data_cfg: DataConfig = field(init=False, repr=False, compare=False)  # `data` parsed, what the pipeline reads

    def __post_init__(self) -> None:
        task_spec(self.task)  # a known task, or a ConfigError
        object.__setattr__(self, "data_cfg", self._parse_data())

    @property
    def spec(self) -> TaskSpec:
        return task_spec(self.task)

    @classmethod
    def from_dict(cls, d: Mapping, name: str = "") -> Recipe:
        need(isinstance(d, Mapping), "recipe", "a table", d)
        check_keys(d, ("task", "model", "optim", "train", "data", "name", "distill"), "recipe")
        if "model" not in d:
            raise ConfigError('recipe: needs a [model] table (e.g. name = "tiny")')
        data = d.get("data", {})
        need(isinstance(data, Mapping), "data", "a table", data)
        task = task_spec(parse(Str, d.get("task", "typing"), "task"))
        return cls(
            task=task.name,
            model=model_config_from_dict(d["model"], task),
            optim=OptimConfig.from_dict(d.get("optim", {})),
            train=TrainConfig.from_dict(d.get("train", {"epochs": 1})),
            data=dict(data),
            name=parse(Str, d.get("name", name), "name"),
            distill=DistillConfig.from_dict(d["distill"]) if "distill" in d else None,
        )

    @classmethod
    def from_toml(cls, path: str | Path, settings: tuple[str, ...] | list[str] = ()) -> Recipe:
        """The recipe in ``path`` with the command line's ``--set TABLE.KEY=VALUE`` applied."""
        path = Path(path)
        doc = apply_settings(load_toml(path), settings)
        try:
            return cls.from_dict(doc, name=path.stem)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    def to_dict(self) -> dict:
        d = {
            "name": self.name,
            "task": self.task,
            "model": self.model.to_dict(),
            "optim": self.optim.to_dict(),
            "train": self.train.to_dict(),
            "data": dict(self.data),
        }
        if self.distill is not None:
            d["distill"] = self.distill.to_dict()
        return d

    def _parse_data(self) -> DataConfig:
        """The [data] table as a DataConfig, checked against the task's bands and the model's IMU."""
        cfg = DataConfig.from_dict(self.data)
        jitter = cfg.resolve("train", train=True).augment.alignment_jitter  # augmentations: training only
        if self.spec.bands == 1 and jitter:
            raise ConfigError(
                f"data.augment.alignment_jitter: the {self.task} task records one band, nothing to misalign; "
                f"set it to 0 (got {jitter})"
            )
        fuses = getattr(self.model, "imu", 0) > 0
        if fuses and not self.spec.gni:
            raise ConfigError(f"model.imu: IMU fusion is for the one-band tasks (gestures, handwriting), not {self.task}")
        if fuses != cfg.imu:
            raise ConfigError(f"model.imu = {getattr(self.model, 'imu', 0)} needs data.imu = {str(fuses).lower()} "
                              "(the model reads the IMU exactly when the items carry it)")
        return cfg
