"""The one validation layer for what a user writes: recipe tables, bundle manifests, CLI values.

Types say what is allowed; pydantic (v2) checks values against them; every problem comes out as
ONE line naming the key, the allowed values, the value given (and, from the caller, the fix)::

    optim.lr: must be a number > 0, got 'fast'
    stream.frames_per_step: must be an integer >= 1, got 0
    --port: must be an integer in [1, 65535], got '99999'

Building blocks:

* value types: :func:`Int`, :func:`Float` (finite), :data:`Bool`, :data:`Str`, :data:`Port`, ...
  Scalars are strict (``true`` is not 1, ``"3"`` is not 3, ``1.5`` is not an integer); lists
  become tuples where a field says ``tuple``.  ``Annotated[..., Doc("...")]`` overrides the
  generated description of the allowed values.
* tables: a frozen dataclass decorated with :func:`table` (unknown keys refused); its
  ``__post_init__`` raises :class:`Invalid` for rules across keys (``min <= max``).
* :func:`parse` (a value of any such type from TOML/JSON data), :func:`arg` (an argparse
  ``type=`` from the same types), :func:`fields_of` (a strict table view of someone else's
  dataclass, e.g. ``ModelConfig``).

Errors are :class:`~emgrt.errors.ConfigError` by default; the bundle passes its BundleError.

pydantic does the checking (types, strictness, bounds, nested tables, unknown keys, strings from
argv).  What is written here is the wording: pydantic's own report is several lines per error and
does not state the whole allowed range, so :func:`one_line` walks the type to the error's place
and :func:`describe` says what is allowed there.  Tables stay frozen stdlib dataclasses (pydantic
validates them without owning them), so ``dataclasses.replace``/``asdict`` work as before.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import annotated_types as at
from pydantic import AfterValidator, ConfigDict, Field, Strict, TypeAdapter, ValidationError, with_config
from pydantic.fields import FieldInfo
from typing_extensions import NotRequired, Required, TypedDict, is_typeddict

from emgrt.errors import ConfigError, EmgrtError

T = TypeVar("T")
MAX_SHOWN = 60  # characters of a given value quoted in a message


# -- value types ------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Doc:
    """``Annotated[..., Doc("...")]``: the allowed values in words, instead of the generated ones."""

    text: str


def Int(*, ge: int | None = None, gt: int | None = None, le: int | None = None, lt: int | None = None) -> Any:
    """An integer (not a bool, not 1.0) within the bounds."""
    return Annotated[int, Strict(), Field(ge=ge, gt=gt, le=le, lt=lt)]


def Float(
    *, ge: float | None = None, gt: float | None = None, le: float | None = None, lt: float | None = None,
    finite: bool = True,
) -> Any:
    """A number (an integer is fine, a bool or a string is not) within the bounds; finite unless
    ``finite=False`` lets ``inf`` through (never nan)."""
    if finite:
        return Annotated[float, Strict(), Field(ge=ge, gt=gt, le=le, lt=lt, allow_inf_nan=False)]
    return Annotated[float, Strict(), Field(ge=ge, gt=gt, le=le, lt=lt), AfterValidator(_not_nan)]


def _not_nan(x: float) -> float:
    if x != x:
        raise ValueError("must be a number, not nan")
    return x


Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]
Name = Annotated[str, Strict(), Field(min_length=1)]
PositiveInt = Int(ge=1)
NonNegativeInt = Int(ge=0)
AnyFloat = Float()
PositiveFloat = Float(gt=0)
NonNegativeFloat = Float(ge=0)
Port = Int(ge=1, le=65535)
PortOrAny = Annotated[Int(ge=0, le=65535), Doc("a port in [0, 65535] (0: any free port)")]
Sha256 = Annotated[str, Strict(), Field(pattern=r"^[0-9a-f]{64}$"), Doc("a sha256 (64 lower-case hex digits)")]


@with_config(ConfigDict(extra="forbid"))
class FilterTable(TypedDict, total=False):
    """One entry of a filter cascade (``data.filters``, a manifest's ``signal.filters``), as
    written; :class:`emgrt.dsp.filters.FilterSpec` checks the kind and the rules across keys
    (which frequencies a kind needs, the Nyquist limit): importing it here would import scipy."""

    kind: Required[Name]
    low: PositiveFloat | None
    high: PositiveFloat | None
    freq: PositiveFloat | None
    q: PositiveFloat
    order: PositiveInt


# -- tables -----------------------------------------------------------------------------------
class Invalid(ConfigError, ValueError):
    """A rule across keys is broken; raised by a table's ``__post_init__``.  ``key`` is relative
    to the table, :func:`parse` puts the table's path in front.  (A ValueError too, so pydantic
    reports it at the table's place.)"""

    def __init__(self, key: str, problem: str) -> None:
        self.key, self.problem = key, problem
        super().__init__(_at(key, problem))


def need(ok: bool, key: str, allowed: str, got: Any) -> None:
    """Raise :class:`Invalid` (``KEY: must be ALLOWED, got GOT``) unless ``ok``."""
    if not ok:
        raise Invalid(key, f"must be {allowed}, got {_shown(got)}")


def table(cls: type[T]) -> type[T]:
    """Decorator for a dataclass that is a user-written table: unknown keys are refused."""
    return with_config(ConfigDict(extra="forbid"))(cls)


@lru_cache(maxsize=None)
def fields_of(cls: type) -> type:
    """A strict table type for the init fields of someone else's dataclass: every key optional,
    unknown keys refused, ``int``/``float``/``bool``/``str`` checked strictly.  Parse with it,
    then build ``cls(**values)`` so the class's own checks run."""
    hints = typing.get_type_hints(cls, include_extras=True)
    keys = {f.name: NotRequired[_strict(hints[f.name])] for f in dataclasses.fields(cls) if f.init}
    return with_config(ConfigDict(extra="forbid"))(TypedDict(cls.__name__, keys))  # type: ignore[operator]


_STRICT = {int: Int(), float: Float(), bool: Bool, str: Str}


def _strict(tp: Any) -> Any:
    if tp in _STRICT:
        return _STRICT[tp]
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        return Annotated[(_strict(args[0]), *args[1:])]  # type: ignore[misc]
    if origin in (Union, types.UnionType):
        return Union[tuple(_strict(a) for a in args)]  # type: ignore[return-value]
    if origin in (tuple, list) and args:
        return origin[tuple(_strict(a) if a is not Ellipsis else a for a in args)]
    return tp


# -- parsing ----------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _adapter(tp: Any) -> TypeAdapter:
    return TypeAdapter(tp)


def parse(tp: Any, value: Any, where: str = "", *, error: type[EmgrtError] = ConfigError, fix: str = "") -> Any:
    """``value`` (TOML/JSON data) as ``tp``; else ``error`` with one line: ``WHERE.KEY: must be
    ALLOWED, got VALUE`` (+ ``; FIX``)."""
    try:
        return _adapter(tp).validate_python(value)
    except ValidationError as exc:
        raise error(_with_fix(one_line(exc, tp, where), fix)) from None


def arg(tp: Any) -> Callable[[str], Any]:
    """An argparse ``type=`` for ``tp``: argparse then prints ``argument --port: must be an
    integer in [1, 65535], got '99999'`` and exits 2."""

    def convert(text: str) -> Any:
        try:
            return _adapter(tp).validate_strings(text)
        except ValidationError:
            raise argparse.ArgumentTypeError(f"must be {describe(tp)}, got {_shown(text)}") from None

    convert.__name__ = describe(tp)  # what argparse names the type in its own messages
    convert.value_type = tp  # type: ignore[attr-defined]  # for tests that walk the CLI's options
    return convert


def check_keys(d: Mapping, allowed: list[str] | tuple[str, ...], where: str, error: type[EmgrtError] = ConfigError) -> None:
    """Refuse a key of ``d`` that is not in ``allowed`` (for tables whose keys are not one type's)."""
    unknown = sorted((k for k in d if k not in allowed), key=str)
    if unknown:
        raise error(_unknown(where, unknown[0], allowed))


def one_line(exc: ValidationError, tp: Any, where: str = "") -> str:
    """The first problem of a pydantic ValidationError as one line, in the house format."""
    err = exc.errors(include_url=False)[0]
    loc = err["loc"]
    kind = err["type"]
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        path, parent = _locate(tp, loc[:-1], where)
        return _unknown(path, loc[-1], _keys(parent))
    if kind == "missing" and loc and isinstance(loc[-1], int):  # a fixed-length list is too short
        loc = loc[:-1]
    path, at_loc = _locate(tp, loc, where)
    if kind == "value_error":
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, Invalid):
            return _flat(f"{_join(path, cause.key)}: {cause.problem}")
        return _at(path, f"{cause if cause is not None else err['msg']}, got {_shown(err['input'])}")
    if kind == "missing" and not isinstance(err["input"], (list, tuple)):
        return _at(path, f"missing (must be {describe(at_loc)})")
    if kind == "invalid_key":
        return _at(path, f"keys must be strings, got {_shown(loc[-1])}")
    return _at(path, f"must be {describe(at_loc)}, got {_shown(err['input'])}")


# -- describing types in words ----------------------------------------------------------------
def describe(tp: Any) -> str:
    """The values ``tp`` allows, in words: ``an integer in [1, 65535]``, ``true or false``, ..."""
    origin, args = get_origin(tp), get_args(tp)
    if origin in (Required, NotRequired):
        return describe(args[0])
    if origin is Annotated:
        meta = _metadata(args[1:])
        for m in meta:
            if isinstance(m, Doc):
                return m.text
        return describe(args[0]) + _bounds(meta)
    if origin in (Union, types.UnionType):
        options = [describe(a) for a in args if a is not type(None)]
        return " or ".join(options) + (" or null" if type(None) in args else "")
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (tuple, list):
        if args and args[-1] is not Ellipsis:
            return f"a list of {len(args)}: [{', '.join(describe(a) for a in args)}]"
        return f"a list, each {describe(args[0])}" if args else "a list"
    if origin in (dict, Mapping) or tp in (dict, Mapping) or _keys(tp) is not None:
        return "a table"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(tp, getattr(tp, "__name__", str(tp)))


def _metadata(meta: tuple) -> list:
    out: list = []
    for m in meta:
        out += [m, *m.metadata] if isinstance(m, FieldInfo) else [m]
    return out


def _bounds(meta: list) -> str:
    lo = hi = None
    for m in meta:
        if isinstance(m, (at.Ge, at.Gt)):
            lo = ("[", m.ge) if isinstance(m, at.Ge) else ("(", m.gt)
        elif isinstance(m, (at.Le, at.Lt)):
            hi = ("]", m.le) if isinstance(m, at.Le) else (")", m.lt)
        elif isinstance(m, at.MinLen) and m.min_length > 0:
            return " (not empty)"
    if lo and hi:
        return f" in {lo[0]}{lo[1]:g}, {hi[1]:g}{hi[0]}"
    if lo:
        return f" {'>=' if lo[0] == '[' else '>'} {lo[1]:g}"
    if hi:
        return f" {'<=' if hi[0] == ']' else '<'} {hi[1]:g}"
    return ""


# -- finding the type at an error's place -----------------------------------------------------
def _bare(tp: Any) -> Any:
    """``tp`` without Annotated / Required / Optional wrappers."""
    while True:
        origin, args = get_origin(tp), get_args(tp)
        if origin in (Annotated, Required, NotRequired):
            tp = args[0]
        elif origin in (Union, types.UnionType) and type(None) in args and len(args) == 2:
            tp = next(a for a in args if a is not type(None))
        else:
            return tp


def _keys(tp: Any) -> list[str] | None:
    """The keys of a table type (dataclass or TypedDict), else None."""
    tp = _bare(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return [f.name for f in dataclasses.fields(tp) if f.init]
    if is_typeddict(tp):
        return list(typing.get_type_hints(tp))
    return None


def _child(tp: Any, key: Any) -> Any:
    bare = _bare(tp)
    keys = _keys(bare)
    if keys is not None:
        return typing.get_type_hints(bare, include_extras=True).get(key, Any) if key in keys else Any
    origin, args = get_origin(bare), get_args(bare)
    if origin in (tuple, list) and args:
        if args[-1] is Ellipsis or len(args) == 1:
            return args[0]
        return args[key] if isinstance(key, int) and key < len(args) else Any
    if origin in (dict, Mapping) and len(args) == 2:
        return args[1]
    return Any


def _locate(tp: Any, loc: tuple, where: str) -> tuple[str, Any]:
    """The dotted path of ``loc`` (``optim.betas[1]``) and the type found there.  A union stops
    the walk: pydantic's further ``loc`` entries name its members, not keys."""
    path, parent = where, Any
    for key in loc:
        if get_origin(_bare(tp)) in (Union, types.UnionType):
            break
        if key == "[key]":  # the key of a dict entry is wrong, not its value
            return path, (get_args(_bare(parent)) or (Any,))[0]
        parent, tp = tp, _child(tp, key)
        path = f"{path}[{key}]" if isinstance(key, int) else _join(path, _key(key))
    return path, tp


# -- message pieces ---------------------------------------------------------------------------
def _key(key: Any) -> str:
    """A table key as written in a path: bare when plain, else quoted (``files['a b']``)."""
    text = str(key)
    return text if text and text.isprintable() and not any(c in text for c in " .[]'\"") else f"[{text!r}]"


def _join(path: str, key: str) -> str:
    if key.startswith("["):
        return f"{path}{key}"
    return f"{path}.{key}" if path and key else path or key


def _at(path: str, text: str) -> str:
    return _flat(f"{path}: {text}" if path else text)


def _unknown(where: str, key: Any, allowed: Any) -> str:
    listed = f" (allowed: {', '.join(sorted(allowed))})" if allowed else ""
    return _at(where, f"unknown key {_shown(key)}{listed}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def _flat(text: str) -> str:
    return " ".join(str(text).split())


def _with_fix(msg: str, fix: str) -> str:
    return _flat(f"{msg}; {fix}" if fix else msg)
