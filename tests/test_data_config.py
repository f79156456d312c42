"""DataConfig: defaults, round trips, the recipe file, per-split overrides, one-line errors."""

from pathlib import Path

import pytest

from emgrt.data import DataConfig
from emgrt.dsp.filters import FilterSpec
from emgrt.errors import ConfigError

RECIPE = Path(__file__).resolve().parents[1] / "models" / "recipes" / "data-default.toml"


def test_defaults_are_emg2qwerty():
    c = DataConfig()
    assert (c.window_length, c.padding, c.stride, c.jitter, c.filters) == (8000, (1800, 200), None, True, ())
    assert c.augment.band_rotation == (-1, 0, 1) and c.augment.alignment_jitter == 120
    s = c.augment.specaugment
    assert (s.n_time_masks, s.time_mask_param, s.n_freq_masks, s.freq_mask_param) == (3, 25, 2, 4)
    c.validate()


def test_round_trip_and_recipe_file():
    c = DataConfig.from_toml(RECIPE)
    assert c.filters == (FilterSpec("bandpass", low=20.0, high=450.0), FilterSpec("notch", freq=60.0))
    assert c.labels.min_labels == 1 and c.loader.batch_size == 32 and c.loader.num_workers == 2
    assert DataConfig.from_dict(c.to_dict()) == c
    c.validate()


def test_per_split_overrides():
    c = DataConfig.from_toml(RECIPE)
    train = c.resolve("train", train=True)
    val = c.resolve("val", train=False)
    test = c.resolve("test", train=False)
    assert (train.window_length, train.labels.min_labels) == (8000, 1)
    assert (val.window_length, val.labels.min_labels, val.labels.max_labels) == (8000, 0, 1000)  # tables merge
    assert (test.window_length, test.padding, test.loader.batch_size, test.whole_session) == (0, (0, 0), 4, True)
    assert test.loader.num_workers == 2  # untouched keys of a merged table stay
    assert not test.overrides and test.filters == c.filters
    # evaluating the train split without training uses [eval] only
    assert c.resolve("train", train=False).labels.min_labels == 0


def test_toml_null_like_values():
    assert DataConfig.from_dict({"window_length": None}).window_length == 0
    assert DataConfig.from_dict({"stride": None}).stride is None


@pytest.mark.parametrize(
    "bad, key, allowed",
    [
        ({"window_lenght": 8000}, "data: unknown key 'window_lenght'", "window_length"),
        ({"window_length": -1}, "data.window_length", ">= 0"),
        ({"window_length": 8000.5}, "data.window_length", "integer"),
        ({"padding": [1800]}, "data.padding", "[past, future]"),
        ({"stride": 0}, "data.stride", ">= 1"),
        ({"jitter": "yes"}, "data.jitter", "true or false"),
        ({"filters": [{"kind": "notch"}]}, "data.filters[0]", "freq"),
        ({"filters": [{"kind": "comb", "freq": 3.0}]}, "data.filters[0]", "bandpass"),
        ({"filters": [{"kind": "notch", "freq": 60.0, "width": 2}]}, "data.filters[0]", "width"),
        ({"augment": {"band_rotation": [0.5]}}, "data.augment.band_rotation", "integer"),
        ({"augment": {"specaugment": {"n_time_mask": 3}}}, "data.augment.specaugment: unknown key", "n_time_masks"),
        ({"augment": {"specaugment": {"freq_mask_param": 40}}}, "data.augment.specaugment.freq_mask_param", "[0, 33]"),
        ({"labels": {"exclude": ["Key.f13"]}}, "data.labels.exclude", "key name"),
        ({"labels": {"min_labels": 5, "max_labels": 2}}, "data.labels.max_labels", ">= min_labels"),
        ({"loader": {"batch_size": 0}}, "data.loader.batch_size", ">= 1"),
        ({"loader": {"bucket": 1}}, "data.loader.bucket", "true or false"),
        ({"loader": []}, "data.loader", "a table"),
        ({"eval": {"loader": {"num_workers": -2}}}, "data.eval.loader.num_workers", ">= 0"),
        ({"test": {"bogus": 1}}, "data.test: unknown key 'bogus'", "window_length"),
        ({"train": {"train": {}}}, "data.train: unknown key 'train'", "stride"),
    ],
)
def test_errors_are_one_clear_line(bad, key, allowed):
    with pytest.raises(ConfigError) as exc:
        DataConfig.from_dict(bad)
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(key), msg
    assert allowed in msg, msg


def test_validate_catches_directly_built_configs():
    from dataclasses import replace

    bad = replace(DataConfig(), padding=(-5, 0))
    with pytest.raises(ConfigError, match=r"^data\.padding"):
        bad.validate()
    with pytest.raises(ConfigError, match=r"^data\.loader\.cache_mb"):
        DataConfig().with_loader(cache_mb=-1)


def test_recipe_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such recipe"):
        DataConfig.from_toml(tmp_path / "missing.toml")
    p = tmp_path / "r.toml"
    p.write_text("[data]\nwindow_length = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        DataConfig.from_toml(p)
    p.write_text("[model]\nx = 1\n")
    assert DataConfig.from_toml(p) == DataConfig()
