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
from typing import Any

from emgrt.charset import CharSet, emg2qwerty_charset
from emgrt.constants import N_FREQ, PAD_FUTURE, PAD_PAST, WINDOW_LENGTH
from emgrt.dsp.filters import FilterSpec
from emgrt.errors import ConfigError
from emgrt.tomlfile import load_toml

# Sub-tables of [data] holding overrides: the mode tables, then the split tables.
MODE_TABLES = ("train", "eval")
SPLIT_TABLES = ("val", "test")
OVERRIDE_TABLES = MODE_TABLES + SPLIT_TABLES


# -- value checks: one line naming the key, the allowed values and the value --------
def _fail(path: str, allowed: str, got: Any) -> ConfigError:
    return ConfigError(f"{path}: must be {allowed}, got {got!r}")


def _int(d: Mapping, key: str, path: str, lo: int = 0, default: Any = None, none_ok: bool = False) -> Any:
    v = d.get(key, default)
    if v is None and none_ok:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        allowed = f"an integer >= {lo}" + (" or absent" if none_ok else "")
        raise _fail(f"{path}.{key}", allowed, v)
    return v


def _float(d: Mapping, key: str, path: str, default: float) -> float:
    v = d.get(key, default)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _fail(f"{path}.{key}", "a number", v)
    return float(v)


def _bool(d: Mapping, key: str, path: str, default: bool) -> bool:
    v = d.get(key, default)
    if not isinstance(v, bool):
        raise _fail(f"{path}.{key}", "true or false", v)
    return v


def _table(d: Mapping, key: str, path: str) -> Mapping:
    v = d.get(key, {})
    if not isinstance(v, Mapping):
        raise _fail(f"{path}.{key}", "a table", v)
    return v


def _check_keys(d: Any, cls: type, path: str, extra: tuple[str, ...] = ()) -> None:
    if not isinstance(d, Mapping):
        raise _fail(path, "a table", d)
    allowed = sorted({f.name for f in fields(cls) if f.name != "overrides"} | set(extra))
    unknown = sorted(set(d) - set(allowed))
    if unknown:
        raise ConfigError(f"{path}: unknown key '{unknown[0]}' (allowed: {', '.join(allowed)})")


def _merge(base: Mapping, over: Mapping) -> dict:
    """Deep merge of two config dicts: tables merge key by key, everything else is replaced."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


# -- the config tables ----------------------------------------------------------------
@dataclass(frozen=True)
class SpecAugmentConfig:
    """Time and frequency masks on the log-spectrogram (emg2qwerty's defaults).

    Each of ``n_time_masks`` masks zeroes a run of ``floor(u * time_mask_param)``
    frames (u uniform in [0, 1)) at a uniform start; the same for frequency bins.
    ``iid``: every channel (2 bands x 16 electrodes) draws its own masks.
    """

    n_time_masks: int = 3
    time_mask_param: int = 25  # frames (8 ms each), width < this
    n_freq_masks: int = 2
    freq_mask_param: int = 4  # bins, width < this
    iid: bool = True
    mask_value: float = 0.0  # written into masked log10-power cells

    @classmethod
    def from_dict(cls, d: Mapping, path: str = "data.augment.specaugment") -> SpecAugmentConfig:
        _check_keys(d, cls, path)
        cfg = cls(
            n_time_masks=_int(d, "n_time_masks", path, default=cls.n_time_masks),
            time_mask_param=_int(d, "time_mask_param", path, default=cls.time_mask_param),
            n_freq_masks=_int(d, "n_freq_masks", path, default=cls.n_freq_masks),
            freq_mask_param=_int(d, "freq_mask_param", path, default=cls.freq_mask_param),
            iid=_bool(d, "iid", path, cls.iid),
            mask_value=_float(d, "mask_value", path, cls.mask_value),
        )
        if cfg.freq_mask_param > N_FREQ:
            raise _fail(f"{path}.freq_mask_param", f"an integer in [0, {N_FREQ}]", cfg.freq_mask_param)
        return cfg

    def validate(self, path: str = "data.augment.specaugment") -> None:
        self.from_dict(self.to_dict(), path)

    @property
    def active(self) -> bool:
        return (self.n_time_masks > 0 and self.time_mask_param > 0) or (
            self.n_freq_masks > 0 and self.freq_mask_param > 0
        )

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class AugmentConfig:
    """Train-time augmentations; all are off when a dataset is built with ``train=False``."""

    band_rotation: tuple[int, ...] = (-1, 0, 1)  # electrode offsets each band draws from; () = off
    alignment_jitter: int = 120  # samples, max shift between the two bands; 0 = off
    specaugment: SpecAugmentConfig = field(default_factory=SpecAugmentConfig)

    @classmethod
    def from_dict(cls, d: Mapping, path: str = "data.augment") -> AugmentConfig:
        _check_keys(d, cls, path)
        rot = d.get("band_rotation", list(cls.band_rotation))
        if not isinstance(rot, (list, tuple)) or any(isinstance(r, bool) or not isinstance(r, int) for r in rot):
            raise _fail(f"{path}.band_rotation", "a list of integer electrode offsets such as [-1, 0, 1]", rot)
        return cls(
            band_rotation=tuple(rot),
            alignment_jitter=_int(d, "alignment_jitter", path, default=cls.alignment_jitter),
            specaugment=SpecAugmentConfig.from_dict(_table(d, "specaugment", path), f"{path}.specaugment"),
        )

    def validate(self, path: str = "data.augment") -> None:
        self.from_dict(self.to_dict(), path)

    def to_dict(self) -> dict:
        return {
            "band_rotation": list(self.band_rotation),
            "alignment_jitter": self.alignment_jitter,
            "specaugment": self.specaugment.to_dict(),
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
            raise ConfigError(
                f"{path}: unknown class {name!r} (use a key name such as 'a', 'Key.backspace' or "
                f"'space', or one vocabulary character such as '\u232b')"
            )
        out.append(lab)
    return out


@dataclass(frozen=True)
class LabelConfig:
    """Label filtering: which classes the targets keep, which windows are used.

    ``include`` (when not empty) keeps only those classes in the targets,
    ``exclude`` removes classes; then windows whose (filtered) label count is
    below ``min_labels`` or above ``max_labels`` are dropped from the index.
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    min_labels: int = 0
    max_labels: int | None = None  # None = no upper bound

    @classmethod
    def from_dict(cls, d: Mapping, path: str = "data.labels") -> LabelConfig:
        _check_keys(d, cls, path)
        lists = {}
        for key in ("include", "exclude"):
            v = d.get(key, [])
            if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
                raise _fail(f"{path}.{key}", "a list of key names or characters", v)
            lists[key] = tuple(v)
        cfg = cls(
            include=lists["include"],
            exclude=lists["exclude"],
            min_labels=_int(d, "min_labels", path, default=0),
            max_labels=_int(d, "max_labels", path, default=None, none_ok=True),
        )
        if cfg.max_labels is not None and cfg.max_labels < cfg.min_labels:
            raise ConfigError(f"{path}.max_labels: must be >= min_labels ({cfg.min_labels}), got {cfg.max_labels}")
        charset = emg2qwerty_charset()
        resolve_classes(cfg.include, charset, f"{path}.include")
        resolve_classes(cfg.exclude, charset, f"{path}.exclude")
        return cfg

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


@dataclass(frozen=True)
class LoaderConfig:
    """Batching and loading.  Caches are per worker process."""

    batch_size: int = 32
    num_workers: int = 2  # 0 = load in the training process
    prefetch_factor: int = 4  # batches queued per worker
    bucket: bool = True  # group items of similar length into batches
    bucket_pool: int = 50  # batches per shuffled pool that is sorted by length
    drop_last: bool = False  # drop the remainder so every batch is full
    cache_mb: int = 512  # LRU of whole decoded sessions (float32 EMG), 0 = off
    feature_cache_mb: int = 256  # LRU of finished eval items (deterministic only), 0 = off

    @classmethod
    def from_dict(cls, d: Mapping, path: str = "data.loader") -> LoaderConfig:
        _check_keys(d, cls, path)
        return cls(
            batch_size=_int(d, "batch_size", path, lo=1, default=cls.batch_size),
            num_workers=_int(d, "num_workers", path, default=cls.num_workers),
            prefetch_factor=_int(d, "prefetch_factor", path, lo=1, default=cls.prefetch_factor),
            bucket=_bool(d, "bucket", path, cls.bucket),
            bucket_pool=_int(d, "bucket_pool", path, lo=1, default=cls.bucket_pool),
            drop_last=_bool(d, "drop_last", path, cls.drop_last),
            cache_mb=_int(d, "cache_mb", path, default=cls.cache_mb),
            feature_cache_mb=_int(d, "feature_cache_mb", path, default=cls.feature_cache_mb),
        )

    def validate(self, path: str = "data.loader") -> None:
        self.from_dict(self.to_dict(), path)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class DataConfig:
    """The whole data pipeline: windows, signal filters, augmentations, labels, loading.

    ``window_length`` and ``stride`` are samples at 2 kHz; ``window_length = 0``
    makes one item per whole session (evaluation).  ``padding`` is (past, future)
    context in samples, clamped at the session edges.  ``stride`` absent = the
    window length (no overlap).  ``jitter`` randomises window starts when training.
    ``overrides`` holds the raw ``train``/``eval``/``val``/``test`` sub-tables.
    """

    window_length: int = WINDOW_LENGTH
    padding: tuple[int, int] = (PAD_PAST, PAD_FUTURE)
    stride: int | None = None
    jitter: bool = True
    filters: tuple[FilterSpec, ...] = ()
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    labels: LabelConfig = field(default_factory=LabelConfig)
    loader: LoaderConfig = field(default_factory=LoaderConfig)
    overrides: Mapping[str, Mapping] = field(default_factory=dict, compare=True, hash=False)

    # -- construction ------------------------------------------------------------
    @classmethod
    def from_dict(cls, d: Mapping | None = None, path: str = "data") -> DataConfig:
        d = dict(d or {})
        _check_keys(d, cls, path, extra=OVERRIDE_TABLES)
        if "overrides" in d:
            raise ConfigError(f"{path}: unknown key 'overrides' (write [{path}.train], [{path}.eval], ...)")
        overrides = {}
        for name in OVERRIDE_TABLES:
            if name in d:
                over = d.pop(name)
                _check_keys(over, cls, f"{path}.{name}")
                overrides[name] = dict(over)
        cfg = cls._from_flat(d, path)
        cfg = replace(cfg, overrides=overrides)
        for name, over in overrides.items():  # every override must give a valid config
            cls._from_flat(_merge(cfg._flat_dict(), over), f"{path}.{name}")
        return cfg

    @classmethod
    def _from_flat(cls, d: Mapping, path: str) -> DataConfig:
        wl = d.get("window_length", WINDOW_LENGTH)
        wl = 0 if wl is None else wl
        if isinstance(wl, bool) or not isinstance(wl, int) or wl < 0:
            raise _fail(f"{path}.window_length", "an integer >= 0 (samples; 0 = whole session)", wl)
        pad = d.get("padding", [PAD_PAST, PAD_FUTURE])
        if (
            not isinstance(pad, (list, tuple))
            or len(pad) != 2
            or any(isinstance(p, bool) or not isinstance(p, int) or p < 0 for p in pad)
        ):
            raise _fail(f"{path}.padding", "[past, future] non-negative sample counts", pad)
        stride = d.get("stride")
        if stride is not None and (isinstance(stride, bool) or not isinstance(stride, int) or stride < 1):
            raise _fail(f"{path}.stride", "an integer >= 1 (samples) or absent", stride)
        flist = d.get("filters", [])
        if not isinstance(flist, (list, tuple)):
            raise _fail(f"{path}.filters", "a list of filter tables", flist)
        filters = []
        for i, f in enumerate(flist):
            if isinstance(f, FilterSpec):
                f = f.to_dict()
            if not isinstance(f, Mapping) or "kind" not in f:
                raise _fail(f"{path}.filters[{i}]", "a table with 'kind' (bandpass, highpass, lowpass, notch)", f)
            try:
                filters.append(FilterSpec.from_dict(f))
            except ConfigError as exc:
                raise ConfigError(f"{path}.filters[{i}]: {exc}") from None
            except TypeError as exc:
                raise ConfigError(f"{path}.filters[{i}]: {exc}") from None
        return cls(
            window_length=wl,
            padding=(pad[0], pad[1]),
            stride=stride,
            jitter=_bool(d, "jitter", path, True),
            filters=tuple(filters),
            augment=AugmentConfig.from_dict(_table(d, "augment", path), f"{path}.augment"),
            labels=LabelConfig.from_dict(_table(d, "labels", path), f"{path}.labels"),
            loader=LoaderConfig.from_dict(_table(d, "loader", path), f"{path}.loader"),
        )

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
        return self.window_length == 0

    def with_loader(self, **changes: Any) -> DataConfig:
        """A copy with some loader settings changed (validated)."""
        cfg = replace(self, loader=replace(self.loader, **changes))
        cfg.loader.validate()
        return cfg
