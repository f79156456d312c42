"""Declarative config of the training data pipeline: the ``[data]`` table of a recipe.

Nested frozen dataclasses, built from a dict (a TOML table) with
:meth:`DataConfig.from_dict`, written back with :meth:`DataConfig.to_dict`.
Unknown keys and out-of-range values raise one :class:`~emgrt.errors.ConfigError`
whose single line names the key (``data.loader.batch_size``), the allowed
values and what was given.

Per-split overrides are sub-tables applied on top of the base table by
:meth:`DataConfig.resolve`: ``[data.train]`` when training, ``[data.eval]``
when not, then ``[data.val]`` / ``[data.test]`` when evaluating that split::

    [data]
    window_length = 8000          # samples (4 s at 2 kHz); 0 = whole session
    [data.test]
    window_length = 0             # emg2qwerty tests on whole sessions...
    padding = [0, 0]              # ...without context padding
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator

from emgrt.charset import CharSet, emg2qwerty_charset
from emgrt.constants import N_FREQ, PAD_FUTURE, PAD_PAST, WINDOW_LENGTH
from emgrt.dsp.filters import FilterSpec
from emgrt.errors import ConfigError
from emgrt.tomlfile import load_toml
from emgrt.validate import (
    AnyFloat,
    Bool,
    Doc,
    FilterTable,
    Float,
    Int,
    Invalid,
    NonNegativeInt,
    PositiveInt,
    Str,
    check_keys,
    need,
    parse,
    table,
)

# Sub-tables of [data] holding overrides: the mode tables, then the split tables.
MODE_TABLES = ("train", "eval")
SPLIT_TABLES = ("val", "test")
OVERRIDE_TABLES = MODE_TABLES + SPLIT_TABLES
Probability = Float(ge=0, le=1)


# -- value types of the [data] table (emgrt.validate checks them, one line per problem) ------
def _filter_spec(d: FilterTable) -> FilterSpec:
    spec = FilterSpec(**d)
    try:
        spec.validate()
    except ConfigError as exc:  # which frequencies the kind needs, the Nyquist limit
        raise Invalid("", str(exc)) from None
    return spec


Filter = Annotated[
    FilterTable,
    BeforeValidator(lambda v: v.to_dict() if isinstance(v, FilterSpec) else v),
    AfterValidator(_filter_spec),
    Doc("a filter table with 'kind' (bandpass, highpass, lowpass, notch)"),
]
WindowLength = Annotated[
    NonNegativeInt, BeforeValidator(lambda v: 0 if v is None else v), Doc("an integer >= 0 (samples; 0 = whole session)")
]
Padding = Annotated[tuple[NonNegativeInt, NonNegativeInt], Doc("[past, future] non-negative sample counts")]
Stride = Annotated[PositiveInt | None, Doc("an integer >= 1 (samples) or absent")]
Offsets = Annotated[tuple[Int(), ...], Doc("a list of integer electrode offsets such as [-1, 0, 1]")]
MaskBins = Int(ge=0, le=N_FREQ)


def _merge(base: Mapping, over: Mapping) -> dict:
    """Deep merge of two config dicts: tables merge key by key, everything else is replaced."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def _keys_of(cls: type) -> list[str]:
    return [f.name for f in fields(cls) if f.name != "overrides"]


# -- the config tables ----------------------------------------------------------------
@table
@dataclass(frozen=True)
class SpecAugmentConfig:
    """Time and frequency masks on the log-spectrogram (emg2qwerty's defaults).

    Each of ``n_time_masks`` masks zeroes a run of ``floor(u * time_mask_param)``
    frames (u uniform in [0, 1)) at a uniform start; the same for frequency bins.
    ``iid``: every channel (2 bands x 16 electrodes) draws its own masks.
    """

    n_time_masks: NonNegativeInt = 3
    time_mask_param: NonNegativeInt = 25  # frames (8 ms each), width < this
    n_freq_masks: NonNegativeInt = 2
    freq_mask_param: MaskBins = 4  # bins, width < this
    iid: Bool = True
    mask_value: AnyFloat = 0.0  # written into masked log10-power cells

    @classmethod
    def from_dict(cls, d: Mapping, path: str = "data.augment.specaugment") -> SpecAugmentConfig:
        return parse(cls, d, path)

    def validate(self, path: str = "data.augment.specaugment") -> None:
        self.from_dict(self.to_dict(), path)

    @property
    def active(self) -> bool:
        return (self.n_time_masks > 0 and self.time_mask_param > 0) or (
            self.n_freq_masks > 0 and self.freq_mask_param > 0
        )

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@table
@dataclass(frozen=True)
class AugmentConfig:
    """Train-time augmentations; all are off when a dataset is built with ``train=False``."""

    band_rotation: Offsets = (-1, 0, 1)  # electrode offsets each band draws from; () = off
    alignment_jitter: NonNegativeInt = 120  # samples, max shift between the two bands; 0 = off
    specaugment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)
    imu_dropout: Probability = 0.0  # chance a training window's IMU is dropped ([data] imu)

    @classmethod
    def from_dict(cls, d: Mapping, path: str = "data.augment") -> AugmentConfig:
        return parse(cls, d, path)

    def validate(self, path: str = "data.augment") -> None:
        self.from_dict(self.to_dict(), path)

    def to_dict(self) -> dict:
        return {
            "band_rotation": list(self.band_rotation),
            "alignment_jitter": self.alignment_jitter,
            "specaugment": self.specaugment.to_dict(),
            "imu_dropout": self.imu_dropout,
        }


def resolve_classes(names: tuple[str, ...], charset: CharSet, path: str) -> list[int]:
    """Labels of class names: pynput key names ("a", "Key.backspace"), the short names
    backspace/enter/space/shift, or one vocabulary character ("⌫")."""
    out = []
    for name in names:
        lab = None
        if isinstance(name, str):
            lab = charset.key_to_label(name)
            if lab is None and name.lower() in ("backspace", "enter", "space", "shift"):
                lab = charset.key_to_label(f"Key.{name.lower()}")
        if lab is None:
            raise Invalid(
                path,
                f"unknown class {name!r} (use a key name such as 'a', 'Key.backspace' or "
                f"'space', or one vocabulary character such as '\u232b')",
            )
        out.append(lab)
    return out


def _known_classes(names: tuple[str, ...]) -> tuple[str, ...]:
    resolve_classes(names, emg2qwerty_charset(), "")
    return names


Classes = Annotated[tuple[Str, ...], AfterValidator(_known_classes), Doc("a list of key names or characters")]


@table
@dataclass(frozen=True)
class LabelConfig:
    """Label filtering: which classes the targets keep, which windows are used.

    ``include`` (when not empty) keeps only those classes in the targets,
    ``exclude`` removes classes; then windows whose (filtered) label count is
    below ``min_labels`` or above ``max_labels`` are dropped from the index.
    """

    include: Classes = ()
    exclude: Classes = ()
    min_labels: NonNegativeInt = 0
    max_labels: NonNegativeInt | None = None  # None = no upper bound

    def __post_init__(self) -> None:
        if self.max_labels is not None:
            need(self.max_labels >= self.min_labels, "max_labels", f">= min_labels ({self.min_labels})", self.max_labels)

    @classmethod
    def from_dict(cls, d: Mapping, path: str = "data.labels") -> LabelConfig:
        return parse(cls, d, path)

    def validate(self, path: str = "data.labels") -> None:
        self.from_dict(self.to_dict(), path)

    def to_dict(self) -> dict:
        d: dict[str, Any] = {
            "include": list(self.include),
            "exclude": list(self.exclude),
            "min_labels": self.min_labels,
        }
        if self.max_labels is not None:
            d["max_labels"] = self.max_labels
        return d


@table
@dataclass(frozen=True)
class LoaderConfig:
    """Batching and loading.  Caches are per worker process."""

    batch_size: PositiveInt = 32
    num_workers: NonNegativeInt = 2  # 0 = load in the training process
    prefetch_factor: PositiveInt = 4  # batches queued per worker
    bucket: Bool = True  # group items of similar length into batches
    bucket_pool: PositiveInt = 50  # batches per shuffled pool that is sorted by length
    drop_last: Bool = False  # drop the remainder so every batch is full
    cache_mb: NonNegativeInt = 512  # LRU of whole decoded sessions (float32 EMG), 0 = off
    feature_cache_mb: NonNegativeInt = 256  # LRU of finished eval items (deterministic only), 0 = off

    @classmethod
    def from_dict(cls, d: Mapping, path: str = "data.loader") -> LoaderConfig:
        return parse(cls, d, path)

    def validate(self, path: str = "data.loader") -> None:
        self.from_dict(self.to_dict(), path)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@table
@dataclass(frozen=True)
class DataConfig:
    """The whole data pipeline: windows, signal filters, augmentations, labels, loading.

    ``window_length`` and ``stride`` are samples at 2 kHz; ``window_length = 0``
    makes one item per whole session (evaluation).  ``padding`` is (past, future)
    context in samples, clamped at the session edges.  ``stride`` absent = the
    window length (no overlap).  ``jitter`` randomises window starts when training.
    ``windows = "prompts"`` makes one window per prompt instead (its own span, plus the
    padding; ``window_length``, ``stride`` and ``jitter`` then do not apply), as the
    handwriting task of the generic-neuromotor-interface release trains and tests.
    ``overrides`` holds the raw ``train``/``eval``/``val``/``test`` sub-tables.
    """

    window_length: WindowLength = WINDOW_LENGTH
    padding: Padding = (PAD_PAST, PAD_FUTURE)
    stride: Stride = None
    jitter: Bool = True
    windows: Literal["fixed", "prompts"] = "fixed"
    imu: Bool = False  # items carry the band's IMU at each frame (GNI files with the IMU extension)
    filters: tuple[Filter, ...] = ()
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    labels: LabelConfig = field(default_factory=LabelConfig)
    loader: LoaderConfig = field(default_factory=LoaderConfig)
    overrides: Mapping[str, Mapping] = field(default_factory=dict, compare=True, hash=False)

    # -- construction ------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Mapping | None = None, path: str = "data") -> DataConfig:
        need(d is None or isinstance(d, Mapping), path, "a table", d)
        d = dict(d or {})
        if "overrides" in d:
            raise ConfigError(f"{path}: unknown key 'overrides' (write [{path}.train], [{path}.eval], ...)")
        check_keys(d, _keys_of(cls) + list(OVERRIDE_TABLES), path)
        overrides = {}
        for name in OVERRIDE_TABLES:
            if name in d:
                over = d.pop(name)
                need(isinstance(over, Mapping), f"{path}.{name}", "a table", over)
                check_keys(over, _keys_of(cls), f"{path}.{name}")
                overrides[name] = dict(over)
        cfg = cls._from_flat(d, path)
        cfg = replace(cfg, overrides=overrides)
        for name, over in overrides.items():  # every override must give a valid config
            cls._from_flat(_merge(cfg._flat_dict(), over), f"{path}.{name}")
        return cfg

    @classmethod
    def _from_flat(cls, d: Mapping, path: str) -> DataConfig:
        return parse(cls, d, path)

    @classmethod
    def from_toml(cls, path: str | Path, table: str = "data") -> DataConfig:
        """The ``[data]`` table of a TOML recipe (defaults when the recipe has none)."""
        path = Path(path)
        doc = load_toml(path)
        return cls.from_dict(doc.get(table, {}), table)

    # -- serialisation -------------------------------------------------------------
    def _flat_dict(self) -> dict:
        d: dict[str, Any] = {"window_length": self.window_length, "padding": list(self.padding)}
        if self.stride is not None:
            d["stride"] = self.stride
        d["jitter"] = self.jitter
        d["windows"] = self.windows
        d["imu"] = self.imu
        d["filters"] = [f.to_dict() for f in self.filters]
        d["augment"] = self.augment.to_dict()
        d["labels"] = self.labels.to_dict()
        d["loader"] = self.loader.to_dict()
        return d

    def to_dict(self) -> dict:
        """A dict that :meth:`from_dict` turns back into an equal config (TOML-writable)."""
        d = self._flat_dict()
        for name in OVERRIDE_TABLES:
            if name in self.overrides:
                d[name] = dict(self.overrides[name])
        return d

    def validate(self) -> None:
        """Raise ConfigError (one line, naming the key) unless every value is in range."""
        self.from_dict(self.to_dict())

    # -- per-split view ------------------------------------------------------------
    def resolve(self, split: str | None = None, *, train: bool) -> DataConfig:
        """The config for one use: [train] when training; else [eval], then [val]/[test] for that split."""
        if split is not None and split not in ("train",) + SPLIT_TABLES:
            raise ConfigError(f"split: must be one of train, val, test, got {split!r}")
        d = self._flat_dict()
        if train:
            tables = ["train"]
        else:
            tables = ["eval"] + ([split] if split in SPLIT_TABLES else [])
        for name in tables:
            if name in self.overrides:
                d = _merge(d, self.overrides[name])
        return self._from_flat(d, "data")

    # -- derived -------------------------------------------------------------------
    @property
    def whole_session(self) -> bool:
        return self.window_length == 0 and self.windows == "fixed"

    @property
    def prompt_windows(self) -> bool:
        return self.windows == "prompts"

    def with_loader(self, **changes: Any) -> DataConfig:
        """A copy with some loader settings changed (validated)."""
        cfg = replace(self, loader=replace(self.loader, **changes))
        cfg.loader.validate()
        return cfg
