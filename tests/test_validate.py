"""emgrt.validate, the one validation layer: CLI values, recipe tables, bundle manifests.

Whatever a user writes, the only error that comes out is an EmgrtError with a one-line message
naming the key (property-based: garbage CLI values, manifests and recipe tables); valid input
still loads.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import shutil
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emgrt.cli import build_parser, main
from emgrt.errors import ConfigError, EmgrtError

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "models" / "default"
RECIPES = ROOT / "models" / "recipes"
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# JSON-like garbage: what a hand edit or a broken generator can put anywhere.
SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8)
           | st.sampled_from(["", "32", "1e3", "nan", "inf", "thirty-two", "../x", "/etc/passwd"]))
JSONISH = st.recursive(SCALARS, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
                       max_leaves=6)


def one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert msg and "\n" not in msg, repr(msg)
    return msg


def options(parser: argparse.ArgumentParser, prog: str = "emgrt"):
    """(command, action) for every option of every (sub)command."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from options(sub, f"{prog} {name}")
        elif action.option_strings:
            yield prog, action


# -- CLI values ---------------------------------------------------------------------------------
def test_every_numeric_option_has_a_validated_type():
    bare = [f"{prog} {a.option_strings[-1]}" for prog, a in options(build_parser()) if a.type in (int, float)]
    assert not bare, f"plain int/float (no range check): {bare}"


REFUSED = [
    ["serve", "--port", "99999"],
    ["serve", "--port", "-1"],
    ["serve", "--ws-port", "70000"],
    ["listen", "--port", "0"],
    ["run", "--resolve-timeout", "-1"],
    ["run", "--resolve-timeout", "inf"],
    ["replay", "s.hdf5", "--max-seconds", "-5"],
    ["latency", "s.hdf5", "--limit", "-1"],
    ["demo", "--max-seconds", "-1"],
    ["bench", "stream", "--minutes", "-2"],
    ["synth", "out", "--minutes", "-1"],
    ["run", "--threads", "-1"],
    ["train", "--recipe", "r.toml", "--data", "d", "--out", "o", "--threads", "-3"],
    ["run", "--lm-weight", "nan"],
    ["eval", "ckpt", "--data", "d", "--beam-size", "0"],
    ["serve", "--queue", "1.5"],
]


@pytest.mark.parametrize("argv", REFUSED, ids=[" ".join(a) for a in REFUSED])
def test_out_of_range_values_are_refused_when_parsed(argv):
    with pytest.raises(EmgrtError) as exc:
        build_parser().parse_args(argv)
    msg = one_line(exc.value)
    assert argv[-2] in msg and repr(argv[-1]) in msg, msg


def test_refused_command_line_is_one_line_and_status_2(capsys):
    assert main(["run", "--bundle", "/nonexistent", "--lm-weight", "nan"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["emgrt run: error: --lm-weight: must be a number >= 0, got 'nan' (see `emgrt run --help`)"]


def test_valid_values_still_parse():
    args = build_parser().parse_args(["serve", "--port", "0", "--ws-port", "8765", "--stall-timeout", "2.5"])
    assert (args.port, args.ws_port, args.stall_timeout) == (0, 8765, 2.5)
    args = build_parser().parse_args(["run", "--resolve-timeout", "1e1", "--insertion-bonus", "-3", "--threads", "0"])
    assert (args.resolve_timeout, args.insertion_bonus, args.threads) == (10.0, -3.0, 0)
    assert build_parser().parse_args(["replay", "s.hdf5", "--wait", "inf"]).wait == math.inf


NUMERIC_TEXT = st.one_of(
    st.text(max_size=10),
    st.from_regex(r"[ +-]?\d{0,7}(\.\d{0,3})?([eE][+-]?\d{1,3})?", fullmatch=True),
    st.sampled_from(["nan", "-nan", "inf", "-inf", "1e309", "0x10", "1_000", " 7 ", "\u0663", "True", "65536"]),
)


TYPED = [(p, a) for p, a in options(build_parser()) if hasattr(a.type, "value_type")]


@PROPERTY
@given(data=st.data(), text=NUMERIC_TEXT)
def test_any_text_for_a_numeric_option_is_a_value_or_one_line(data, text):
    assert len(TYPED) >= 60  # every numeric option of every command
    prog, action = data.draw(st.sampled_from(TYPED))
    try:
        value = action.type(text)
    except argparse.ArgumentTypeError as exc:
        assert one_line(exc).startswith("must be ")
        return
    assert type(value) in (int, float) and not math.isnan(value)


# -- recipe tables ------------------------------------------------------------------------------
def test_recipe_files_that_are_not_toml_text_are_one_line(tmp_path):
    from emgrt.data import DataConfig

    binary = tmp_path / "r.toml"
    binary.write_bytes(b"\xff\xfe[data]\nwindow_length = 1\n")
    for path, needle in ((binary, "not a UTF-8 text file"), (tmp_path, "a folder, not a recipe file")):
        with pytest.raises(ConfigError) as exc:
            DataConfig.from_toml(path)
        assert needle in one_line(exc.value)


def test_recipe_folder_on_the_command_line_is_one_line(tmp_path, capsys):
    pytest.importorskip("torch")
    assert main(["train", "--recipe", str(tmp_path), "--data", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a folder, not a recipe file" in err[0]


@pytest.mark.parametrize(
    "table, key",
    [
        ({"optim": {"lr": "fast"}}, "optim.lr"),
        ({"optim": {"betas": [0.9]}}, "optim.betas"),
        ({"train": {"max_minutes": -1}}, "train.max_minutes"),
        ({"train": {"seed": True}}, "train.seed"),
        ({"model": {"name": "tiny", "layers": "two"}}, "model.layers"),
        ({"model": {"rotations": [0, "a"]}}, "model.rotations[1]"),
        ({"model": {"arch": "rnn"}}, "model.arch"),
        ({"distill": {"alpha": "x"}}, "distill.alpha"),
        ({"distill": {"alpha": 0, "beta": 0}}, "distill.alpha + beta"),
        ({"data": []}, "data"),
        ({"data": {"window_lenght": 8000}}, "data"),
        ({"data": {"loader": {"batch_size": 0}}}, "data.loader.batch_size"),
        ({"data": {"test": {"padding": [0]}}}, "data.test.padding"),
        ({"task": "gestures", "data": {"augment": {"alignment_jitter": 40}}}, "data.augment.alignment_jitter"),
        ({"model": {"name": "tiny", "imu": 6}}, "model.imu"),
    ],
)
def test_recipe_values_name_the_key(table, key):
    pytest.importorskip("torch")
    from emgrt.train.recipe import Recipe

    recipe = {"model": {"name": "tiny"}, "train": {"max_steps": 1}}
    for name, value in table.items():
        recipe[name] = {**recipe[name], **value} if isinstance(value, dict) and name in recipe else value
    with pytest.raises(ConfigError) as exc:
        Recipe.from_dict(recipe)  # the [data] table is checked at load too
    assert one_line(exc.value).startswith(f"{key}:"), str(exc.value)


def _paths(node, prefix=()):
    """Every (path, value) inside a JSON-like tree."""
    yield prefix
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        yield from _paths(v, prefix + (k,))


def _mutate(tree, path, value, delete: bool):
    """A copy of ``tree`` with the node at ``path`` replaced by ``value`` (or deleted)."""
    tree = copy.deepcopy(tree)
    if not path:
        return value
    parent = tree
    for k in path[:-1]:
        parent = parent[k]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return tree


DATA_TABLE = tomllib.loads((RECIPES / "data-default.toml").read_text(encoding="utf-8"))["data"]


@PROPERTY
@given(data=st.data(), value=JSONISH, delete=st.booleans())
def test_garbage_in_a_data_table_is_one_line(data, value, delete):
    from emgrt.data import DataConfig

    path = data.draw(st.sampled_from(list(_paths(DATA_TABLE))))
    table = _mutate(DATA_TABLE, path, value, delete and bool(path))
    try:
        cfg = DataConfig.from_dict(table)
    except EmgrtError as exc:
        one_line(exc)
        return
    for split in ("train", "val", "test"):
        cfg.resolve(split, train=split == "train")


@PROPERTY
@given(data=st.data(), value=JSONISH, delete=st.booleans(), extra=st.dictionaries(st.text(max_size=6), JSONISH, max_size=2))
def test_garbage_in_a_recipe_is_one_line(data, value, delete, extra):
    pytest.importorskip("torch")
    from emgrt.train.recipe import Recipe

    recipe = tomllib.loads((RECIPES / "student.toml").read_text(encoding="utf-8"))
    path = data.draw(st.sampled_from(list(_paths(recipe))))
    mutated = _mutate(recipe, path, value, delete and bool(path))
    if isinstance(mutated, dict) and data.draw(st.booleans()):
        mutated.update(extra)
    try:
        Recipe.from_dict(mutated)
    except EmgrtError as exc:
        one_line(exc)


def test_every_shipped_recipe_still_loads():
    pytest.importorskip("torch")
    from emgrt.train.recipe import Recipe

    for path in RECIPES.glob("*.toml"):
        if "model" in tomllib.loads(path.read_text(encoding="utf-8")):
            Recipe.from_toml(path)


# -- bundle manifests ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bundle_copy(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("garbage") / "bundle"
    shutil.copytree(DEFAULT, d)
    return d


MANIFEST = json.loads((DEFAULT / "manifest.json").read_text(encoding="utf-8"))


@PROPERTY
@given(data=st.data(), value=JSONISH, delete=st.booleans(), redigest=st.booleans())
def test_garbage_in_a_manifest_is_one_bundle_error(bundle_copy, data, value, delete, redigest):
    from emgrt.bundle import Bundle, BundleError, manifest_digest

    path = data.draw(st.sampled_from([p for p in _paths(MANIFEST) if p]))
    m = _mutate(MANIFEST, path, value, delete)
    if redigest and isinstance(m, dict):  # as a careful hand edit would: only the typed view stands guard
        m["digest"] = manifest_digest(m)
    (bundle_copy / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    try:
        b = Bundle.load(bundle_copy)
    except BundleError as exc:
        assert one_line(exc)
        return
    assert b.labels and b.channels == 32 and b.stream["frames_per_step"] >= 1  # what did load is usable


def test_the_unchanged_manifest_loads(bundle_copy):
    from emgrt.bundle import Bundle

    (bundle_copy / "manifest.json").write_text(json.dumps(MANIFEST), encoding="utf-8")
    assert Bundle.load(bundle_copy).digest == MANIFEST["digest"]


# -- the layer's own words ----------------------------------------------------------------------
def test_values_are_strict_and_messages_name_what_is_allowed():
    from emgrt.validate import Float, Int, Port, PositiveFloat, arg, describe, parse

    assert describe(Port) == "an integer in [1, 65535]" and describe(Float(ge=0, lt=1)) == "a number in [0, 1)"
    assert parse(PositiveFloat, 3) == 3.0 and isinstance(parse(PositiveFloat, 3), float)
    for tp, bad in ((Int(), True), (Int(), "3"), (Int(), 1.5), (PositiveFloat, "1.5"), (PositiveFloat, math.inf)):
        with pytest.raises(ConfigError) as exc:
            parse(tp, bad, "key")
        assert one_line(exc.value) == f"key: must be {describe(tp)}, got {bad!r}"
    with pytest.raises(argparse.ArgumentTypeError, match=r"^must be an integer in \[1, 65535\], got '0'$"):
        arg(Port)("0")


def test_someone_elses_dataclass_gets_a_strict_view():
    from emgrt.dsp.filters import FilterSpec
    from emgrt.validate import fields_of, parse

    assert parse(fields_of(FilterSpec), {"kind": "notch", "freq": 60}) == {"kind": "notch", "freq": 60.0}
    with pytest.raises(ConfigError, match=r"^f: unknown key 'width' \(allowed: freq, high, kind, low, order, q\)$"):
        parse(fields_of(FilterSpec), {"kind": "notch", "width": 2}, "f")
    with pytest.raises(ConfigError, match=r"^f\.order: must be an integer, got 4\.0$"):
        parse(fields_of(FilterSpec), {"kind": "notch", "order": 4.0}, "f")
