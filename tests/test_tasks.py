"""The task seam, torch-free: task specs, the handwriting labels, the CLER metric on hand-made
event timelines, GNI sources and the windows the data pipeline cuts from them, recipe checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emgrt.charset import BACKSPACE, SPACE, emg2qwerty_charset
from emgrt.data.config import DataConfig
from emgrt.data.dataset import WindowedDataset
from emgrt.data.sources import GNI_TO_PIPELINE, GniSource, split_sources
from emgrt.errors import ConfigError, DataFileError
from emgrt.io.gni import GESTURES, HW_BACKSPACE, HW_PAUSE, HW_SPACE, GniSession, read_corpus
from emgrt.metrics import ErrorCounts
from emgrt.synth.gestures import GestureDatasetConfig, generate_gestures
from emgrt.synth.handwriting import HandwritingDatasetConfig, generate_handwriting
from emgrt.tasks import TASK_NAMES, task_spec
from emgrt.tasks.cler import ClerCounts, Event, GestureDetector, cler, debounce, detect
from emgrt.tasks.labels import PAUSE, handwriting_charset, prompt_labels

G = {name: i for i, name in enumerate(GESTURES)}
TINY = dict(users=3, sessions=2, minutes=0.25, seed=11, test_users=1, val_sessions=1)


@pytest.fixture(scope="module")
def gestures_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tasks") / "gestures"
    generate_gestures(out, GestureDatasetConfig(**TINY), workers=1)
    return out


@pytest.fixture(scope="module")
def handwriting_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tasks") / "handwriting"
    generate_handwriting(out, HandwritingDatasetConfig(**TINY), workers=1)
    return out


# -- specs and labels ----------------------------------------------------------------------------


def test_task_specs_lay_out_classes_then_blank():
    assert TASK_NAMES == ("typing", "handwriting", "gestures")
    typing, hw, gestures = (task_spec(n) for n in TASK_NAMES)
    assert (typing.num_classes, typing.blank, typing.num_outputs, typing.bands) == (98, 98, 99, 2)
    assert typing.charset == emg2qwerty_charset() and not typing.gni and typing.decoding == "ctc"
    assert (hw.num_classes, hw.blank, hw.num_outputs, hw.bands) == (99, 99, 100, 1) and hw.gni
    assert hw.charset.chars[-1] == PAUSE and hw.charset.chars[:98] == typing.charset.chars
    assert gestures.labels == GESTURES and (gestures.blank, gestures.num_outputs) == (9, 10)
    assert (gestures.decoding, gestures.metric, gestures.label_span) == ("framewise", "cler", "slice")


def test_unknown_task_is_a_one_line_config_error():
    with pytest.raises(ConfigError, match="task: must be one of typing, handwriting, gestures, got 'gesture'"):
        task_spec("gesture")


def test_prompt_labels_map_the_release_arrows_and_pause():
    cs = handwriting_charset()
    labels = prompt_labels(f"ab{HW_BACKSPACE}c{HW_SPACE}d{HW_PAUSE}\u00e9\u2603")
    # é normalises to e as typed keys do; the snowman has no class and is dropped
    assert cs.labels_to_str(labels.tolist()) == f"ab{BACKSPACE}c{SPACE}d{PAUSE}e"
    assert labels.dtype == np.int64 and labels[-2] == cs.num_classes - 1  # the pause key: the last class


# -- CLER on hand-made timelines -----------------------------------------------------------------


def test_detect_takes_rising_edges_one_event_per_run():
    times = np.arange(8) * 0.01
    probs = np.zeros((8, 3))
    probs[0, 0] = 0.9  # above at the first frame: an event there
    probs[3:6, 1] = [0.35, 0.8, 0.5]  # one run from 0.35 (inclusive) up: one event
    probs[7, 1] = 0.4  # a second run of the same class
    probs[4, 2] = 0.34  # below the threshold
    assert detect(probs, times) == [Event(0, 0.0), Event(1, 0.03), Event(1, 0.07)]
    with pytest.raises(ValueError, match="probs must be"):
        detect(probs, times[:-1])


def test_debounce_keeps_releases_apart_from_presses():
    press, release, tap = G["index_press"], G["index_release"], G["thumb_up"]
    events = [
        Event(press, 1.00),
        Event(release, 1.02),  # a release 20 ms after its press: kept (not a conflict)
        Event(tap, 1.03),  # another non-release 30 ms after the press: dropped
        Event(release, 1.05),  # a release 30 ms after the kept release: dropped
        Event(tap, 1.051),  # 51 ms after the press (the tap at 1.03 was dropped): kept
    ]
    assert debounce(events) == [Event(press, 1.0), Event(release, 1.02), Event(tap, 1.051)]


def test_matching_window_misses_false_alarms_and_the_cler():
    a, b = G["thumb_in"], G["thumb_out"]
    prompts = [Event(a, 1.0), Event(a, 2.0), Event(b, 3.0), Event(b, 4.0)]
    detections = [
        Event(a, 0.96),  # 40 ms early: inside [-50, +250] ms -> right
        Event(b, 2.24),  # 240 ms late, wrong class -> wrong
        Event(b, 3.26),  # 260 ms late: outside -> prompt 3 missed, this a false alarm
        Event(b, 3.95),  # prompt 4, right
        Event(a, 5.0),  # nothing prompted: a false alarm
    ]
    counts = ClerCounts().update(prompts, detections)
    assert (counts.matched, counts.wrong, counts.missed, counts.false_alarms) == (3, 1, 1, 2)
    assert counts.cler == pytest.approx(1 / 3) and counts.prompts == 4
    d = counts.to_dict()
    assert d["cler"] == pytest.approx(1 / 3) and d["miss_rate"] == 0.25
    assert (counts + counts).matched == 6 and (counts + counts).cler == pytest.approx(1 / 3)
    assert ClerCounts(missed=2).cler == 1.0 and ClerCounts().cler == 0.0


def test_each_prompt_takes_the_earliest_unmatched_event():
    a = G["middle_press"]
    prompts = [Event(a, 1.0), Event(a, 1.1)]
    # two events inside both windows: the first prompt takes the earlier, the second the later
    counts = ClerCounts().update(prompts, [Event(a, 1.12), Event(a, 1.02)])
    assert (counts.matched, counts.missed, counts.false_alarms) == (2, 0, 0)


def test_cler_end_to_end_from_probabilities():
    times = np.arange(200) * 0.01
    probs = np.zeros((200, len(GESTURES)))
    probs[108:112, G["thumb_click"]] = 0.9  # 80 ms after a thumb click prompted at 1.0 s
    probs[150, G["thumb_up"]] = 0.9  # a wrong class for the prompt at 1.45 s
    prompts = [Event(G["thumb_click"], 1.0), Event(G["thumb_down"], 1.45)]
    counts = cler(prompts, probs, times)
    assert (counts.matched, counts.wrong, counts.missed, counts.false_alarms) == (2, 1, 0, 0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_streaming_detector_matches_the_whole_recording(seed):
    """Chunk by chunk (random chunk sizes, empty chunks too) the detector emits exactly the
    debounced events of the whole recording, with runs that cross chunk boundaries."""
    rng = np.random.default_rng(seed)
    t = 3000
    times = np.arange(t) * 0.008  # 125 Hz: debouncing matters (50 ms = 6 frames)
    # bursty probabilities: short runs above the threshold, some straddling chunk edges
    probs = np.clip(rng.normal(0.1, 0.12, (t, len(GESTURES))) + (rng.random((t, len(GESTURES))) < 0.01) * 0.6, 0, 1)
    probs = np.maximum(probs, np.roll(probs, 1, axis=0) * (rng.random((t, 1)) < 0.5))
    for start in rng.integers(0, t - 40, 30):  # long runs (up to 320 ms), longer than the debounce window
        probs[start : start + rng.integers(10, 40), rng.integers(len(GESTURES))] = 0.9
    offline = debounce(detect(probs, times))
    assert len(offline) > 50  # enough events to compare, and some were debounced away
    assert len(offline) < len(detect(probs, times))
    det = GestureDetector(len(GESTURES))
    edges = np.sort(rng.integers(0, t, 300))
    streamed = []
    for a, b in zip(np.r_[0, edges], np.r_[edges, t]):
        streamed += det.push(probs[a:b], times[a:b])
    assert streamed == offline


def test_error_counts_add_field_by_field():
    total = ErrorCounts(1, 2, 3, 10) + ErrorCounts(0, 1, 0, 5)
    assert total == ErrorCounts(1, 3, 3, 15) and total.cer == pytest.approx(100 * 7 / 15)
    with pytest.raises(TypeError):
        ErrorCounts() + ClerCounts()


# -- GNI sources ---------------------------------------------------------------------------------


def test_gesture_source_reads_a_partition_in_microvolts(gestures_dir):
    part = read_corpus(gestures_dir / "discrete_gestures_corpus.csv")[1]
    src = GniSource(part.path(gestures_dir), part.start, part.end)
    whole = GniSession(part.path(gestures_dir))
    lo, hi = whole.sample_range(part.start, part.end)
    assert src.bands == 1 and len(src.time) == hi - lo and src.session_name.startswith(part.path(gestures_dir).stem + "@")
    emg = src.emg(10, 20)
    assert emg.shape == (10, 1, 16) and emg.dtype == np.float32
    np.testing.assert_allclose(emg[:, 0], whole.emg(lo + 10, lo + 20) * GNI_TO_PIPELINE, rtol=1e-6)
    assert not src.emg_all().flags.writeable
    prompts = whole.prompts()
    inside = prompts[(prompts["time"] >= src.time[0]) & (prompts["time"] <= src.time[-1])]
    labels, times = src.labels(src.time[0], src.time[-1])
    assert len(labels) == len(inside) > 0
    assert [GESTURES[i] for i in labels] == list(inside.sort_values("time", kind="stable")["name"])
    assert np.all(np.diff(times) >= 0) and np.all((times >= src.time[0]) & (times <= src.time[-1]))


def test_handwriting_source_labels_each_prompt_once(handwriting_dir):
    sources = split_sources(task_spec("handwriting"), handwriting_dir, "train")
    assert sources and all(s.bands == 1 and s.task == "handwriting" for s in sources)
    n_windows = n_prompts = 0
    for src in sources:
        offsets, lengths = src.prompt_windows()
        n_windows += len(offsets)
        for off, w in zip(offsets, lengths):
            labels, times = src.labels(src.time[off], src.time[off + w - 1])
            assert len(labels) > 0 and np.isnan(times).all()  # its own prompt, untimed
        everything, _ = src.labels(src.time[0], src.time[-1])
        n_prompts += len(everything) > 0
    assert n_windows >= n_prompts > 0


def test_split_sources_errors_name_the_problem(gestures_dir, handwriting_dir, tmp_path):
    with pytest.raises(DataFileError, match="handwriting_corpus.csv.*no such file.*synth --task handwriting"):
        split_sources(task_spec("handwriting"), gestures_dir, "train")
    with pytest.raises(DataFileError, match="no partition in split 'nope'"):
        split_sources(task_spec("gestures"), gestures_dir, "nope")
    with pytest.raises(DataFileError, match=r"user 000 has 2 recording\(s\); a personal split needs 3"):
        split_sources(task_spec("gestures"), gestures_dir, "train", user="000")
    with pytest.raises(DataFileError, match=r"no recording of user '999'.*users: 000, 001, 002"):
        split_sources(task_spec("gestures"), gestures_dir, "train", user="999")
    # a corpus CSV naming files of the other task
    (tmp_path / "discrete_gestures_corpus.csv").write_text(
        (handwriting_dir / "handwriting_corpus.csv").read_text().replace("handwriting_user", "discrete_gestures_user")
    )
    for f in handwriting_dir.glob("*.hdf5"):
        (tmp_path / f.name.replace("handwriting_user", "discrete_gestures_user")).symlink_to(f)
    with pytest.raises(DataFileError, match="is a 'handwriting' file, the gestures task reads 'discrete_gestures'"):
        split_sources(task_spec("gestures"), tmp_path, "train")


# -- windows of the one-band tasks ---------------------------------------------------------------


def test_prompt_windows_give_one_item_per_prompt(handwriting_dir):
    spec = task_spec("handwriting")
    sources = split_sources(spec, handwriting_dir, "train")
    cfg = DataConfig.from_dict({"windows": "prompts", "padding": [400, 200], "filters": [], "labels": {"min_labels": 1}})
    ds = WindowedDataset(sources, cfg.resolve("val", train=False), train=False, task=spec)
    assert len(ds) == sum(len(s.prompt_windows()[0]) for s in sources) > 0
    for i in range(len(ds)):
        item = ds[i]
        src = next(s for s in sources if s.session_name == item.session)
        offsets, lengths = src.prompt_windows()
        j = list(offsets).index(item.offset)
        assert item.stop == min(item.offset + lengths[j] + 200, len(src.time)) and item.start == max(item.offset - 400, 0)
        assert item.features.shape[1:3] == (1, 16) and item.label_times is None
        expect, _ = src.labels(src.time[item.offset], src.time[item.offset + lengths[j] - 1])
        np.testing.assert_array_equal(item.labels, expect)


def test_framewise_items_carry_every_event_of_their_slice_timed(gestures_dir):
    spec = task_spec("gestures")
    sources = split_sources(spec, gestures_dir, "train")
    cfg = DataConfig.from_dict({"window_length": 4000, "stride": 4000, "padding": [1000, 200], "filters": []})
    ds = WindowedDataset(sources, cfg.resolve("val", train=False), train=False, task=spec)
    seen = 0
    for i in range(len(ds)):
        item = ds[i]
        src = next(s for s in sources if s.session_name == item.session)
        labels, times = src.labels(src.time[item.start], src.time[item.stop - 1])  # the padded slice's
        np.testing.assert_array_equal(item.labels, labels)
        at = item.label_times
        assert at is not None and len(at) == len(labels) and np.all((at >= 0) & (at < item.stop - item.start))
        idx = item.start + at.astype(int)  # the first sample at or after each event
        assert np.all(src.time[idx] >= times) and np.all((idx == 0) | (src.time[np.maximum(idx - 1, 0)] < times))
        seen += len(labels)
    assert seen > 0


# -- recipes -------------------------------------------------------------------------------------


def test_recipe_task_checks(tmp_path):
    pytest.importorskip("torch")
    from emgrt.train.recipe import Recipe

    recipes = Path(__file__).resolve().parents[1] / "models" / "recipes"
    g = Recipe.from_toml(recipes / "gestures.toml")
    assert g.task == "gestures" and (g.model.num_outputs, g.model.blank, g.model.bands) == (10, 9, 1)
    h = Recipe.from_toml(recipes / "handwriting.toml")
    assert (h.model.num_outputs, h.model.blank, h.model.bands) == (100, 99, 1) and h.data_cfg.prompt_windows
    assert Recipe.from_dict(h.to_dict()).task == "handwriting"
    with pytest.raises(ConfigError, match="model.num_outputs: the gestures task needs 10, got 99"):
        Recipe.from_toml(recipes / "gestures.toml", ["model.num_outputs=99"])
    with pytest.raises(ConfigError, match="model.bands: the handwriting task needs 1, got 2"):
        Recipe.from_toml(recipes / "handwriting.toml", ["model.bands=2"])
    with pytest.raises(ConfigError, match="task: must be one of"):
        Recipe.from_toml(recipes / "gestures.toml", ["task=swiping"])
    with pytest.raises(ConfigError, match="alignment_jitter: the gestures task records one band"):
        Recipe.from_toml(recipes / "gestures.toml", ["data.augment.alignment_jitter=40"])
    bad = tmp_path / "tds.toml"
    bad.write_text('task = "gestures"\n[model]\narch = "tds"\n[train]\nmax_steps = 1\n')
    with pytest.raises(ConfigError, match="TDS baseline reads emg2qwerty's two bands"):
        Recipe.from_toml(bad)


def test_a_gni_users_personal_split_is_their_recordings_in_time_order():
    """Last recording test, the one before val, the rest train; every partition of a recording
    follows it; `user_003` and `003` name the same user; other users' recordings never enter."""
    from emgrt.data.sources import gni_personal_split
    from emgrt.io.gni import GniPartition

    def part(user, ds, start):
        return GniPartition(f"discrete_gestures_user_{user}_dataset_{ds:03d}", start, start + 5.0, "test")

    parts = [part("003", 2, 300.0), part("003", 0, 100.0), part("003", 3, 400.0), part("003", 1, 200.0),
             part("003", 3, 405.0), part("004", 0, 50.0)]
    split = gni_personal_split(parts, "user_003", Path("corpus.csv"))
    assert gni_personal_split(parts, "003", Path("corpus.csv")) == split
    names = {k: sorted({p.dataset[-3:] for p in v}) for k, v in split.items()}
    assert names == {"train": ["000", "001"], "val": ["002"], "test": ["003"]}
    assert len(split["test"]) == 2 and sum(map(len, split.values())) == 5
