"""The native C++ core (emgrt._native) against the numpy reference: identical outputs, chunked any
way, after reset; EMGRT_NATIVE=0 and a missing extension fall back to numpy and say so."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emgrt import native
from emgrt.dsp.features import FrontEndConfig, LogSpectrogram, StreamingLogSpectrogram
from emgrt.dsp.filters import FilterSpec, SosFilter, design_sos
from emgrt.errors import ConfigError
from emgrt.stream.frontend import LiveFrontEnd

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "models" / "default" / "demo-session.hdf5"
FILTERS = [FilterSpec("bandpass", low=20.0, high=450.0), FilterSpec("notch", freq=60.0)]  # the default bundle's
CHUNKINGS = ["1", "7", "64", "1000", "random"]

needs_native = pytest.mark.skipif(
    not native.AVAILABLE, reason=f"emgrt._native is not built ({native.import_error}); `pip install -e .` builds it"
)


def chunks(x: np.ndarray, how: str, seed: int = 0):
    """x split along axis 0: fixed sizes, or random sizes 1..300 (empty chunks included)."""
    rng = np.random.default_rng(seed)
    pos = 0
    while pos < len(x):
        n = int(rng.integers(0, 300)) if how == "random" else int(how)
        yield x[pos : pos + n]
        pos += n


def both(build):
    """(numpy object, native object) built by ``build()`` on each path."""
    with native.use(False):
        ref = build()
    with native.use(True):
        nat = build()
    return ref, nat


def push_all(obj, x: np.ndarray, how: str) -> np.ndarray:
    push = obj.push if hasattr(obj, "push") else obj
    return np.concatenate([push(c) for c in chunks(x, how)])


@pytest.fixture(scope="module")
def band() -> np.ndarray:
    """Random band samples with a DC offset (the filters' seeding from the first sample matters)."""
    rng = np.random.default_rng(1)
    return (rng.standard_normal((6001, 2, 16)) * 30 + 5).astype(np.float32)


@pytest.fixture(scope="module")
def session_emg() -> np.ndarray:
    """10 s of the shipped demo recording: a synthetic user typing (real session file)."""
    from emgrt.io.session import SessionFile

    with SessionFile(DEMO) as s:
        return s.emg(0, 20000)


# -- the dispatch -------------------------------------------------------------------------------
def test_describe_names_the_path():
    assert native.ACTIVE == (native.AVAILABLE and os.environ.get(native.ENV) != "0")
    expected = {True: "native C++ core"}.get(native.ACTIVE) or (
        "numpy reference path (EMGRT_NATIVE=0)" if native.AVAILABLE else "numpy reference path (extension not built)"
    )
    assert native.describe() == expected


@pytest.mark.parametrize("env", ["0", None])
def test_version_says_which_path_runs(env):
    environ = {k: v for k, v in os.environ.items() if k != native.ENV}
    if env is not None:
        environ[native.ENV] = env
    out = subprocess.run([sys.executable, "-m", "emgrt", "--version"], env=environ, capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    if env == "0":
        expected = "numpy reference path (EMGRT_NATIVE=0)" if native.AVAILABLE else "numpy reference path (extension not built)"
    else:
        expected = "native C++ core" if native.AVAILABLE else "numpy reference path (extension not built)"
    assert out.startswith("emgrt ") and f"; {expected}" in out


def test_missing_extension_falls_back_to_numpy(monkeypatch, band):
    import emgrt

    with native.use(False):
        expected = push_all(LiveFrontEnd(FILTERS, FrontEndConfig(), 2000.0), band.reshape(len(band), 32), "64")
    try:
        with monkeypatch.context() as m:
            m.delattr(emgrt, "_native", raising=False)
            m.setitem(sys.modules, "emgrt._native", None)  # `from emgrt import _native` now raises ImportError
            importlib.reload(native)
            assert not native.AVAILABLE and not native.ACTIVE and native.kernels is None
            assert native.describe() == "numpy reference path (extension not built)"
            fe = LiveFrontEnd(FILTERS, FrontEndConfig(), 2000.0)
            assert fe.filter._kernels is None and fe.spectrogram._native is None
            np.testing.assert_array_equal(push_all(fe, band.reshape(len(band), 32), "64"), expected)
            with pytest.raises(ConfigError, match="native core is not built"):
                with native.use(True):
                    pass
    finally:
        importlib.reload(native)  # the real extension again, for the tests after this one


def test_use_restores_the_path():
    before = native.ACTIVE
    with native.use(False):
        assert not native.ACTIVE and SosFilter(design_sos(FILTERS))._kernels is None
    assert native.ACTIVE == before


# -- the filters --------------------------------------------------------------------------------
@needs_native
@pytest.mark.parametrize("how", CHUNKINGS)
def test_filter_native_equals_numpy(band, how):
    ref, nat = both(lambda: SosFilter(design_sos(FILTERS)))
    assert ref._kernels is None and nat._kernels is not None
    np.testing.assert_array_equal(push_all(nat, band, how), push_all(ref, band, how))
    np.testing.assert_array_equal(nat.zi, ref.zi)  # the carried state too


@needs_native
@pytest.mark.parametrize("dtype", [np.float64, np.int16, np.float16])
def test_filter_keeps_dtype_and_precision(band, dtype):
    x = (band[:3000, 0] * 10).astype(dtype)  # (n, 16), also a 1-D channel below
    for signal in (x, x[:, 3]):
        ref, nat = both(lambda: SosFilter(design_sos([FilterSpec("highpass", low=20.0)])))
        out = push_all(nat, signal, "random")
        assert out.dtype == dtype and out.shape == signal.shape
        np.testing.assert_array_equal(out, push_all(ref, signal, "random"))


@needs_native
def test_filter_reset_starts_fresh(band):
    ref, nat = both(lambda: SosFilter(design_sos(FILTERS)))
    for f in (ref, nat):
        f(band[:500])
        f.reset()
    np.testing.assert_array_equal(nat(band[500:1500]), ref(band[500:1500]))


# -- the log-spectrogram ------------------------------------------------------------------------
@needs_native
@pytest.mark.parametrize("n_fft,hop", [(64, 16), (2, 1), (8, 3), (32, 32), (128, 16), (256, 64)])
def test_offline_spectrogram_native_equals_numpy(band, n_fft, hop):
    """Powers of two take both FFT passes (radix 4 and 2): bit-identical to scipy.fft.rfft."""
    cfg = FrontEndConfig(n_fft=n_fft, hop=hop)
    ref, nat = both(lambda: LogSpectrogram(cfg))
    assert nat._native is not None
    for x in (band, band[:, 1, 5], band[: n_fft - 1], band * 1e-4):
        out = nat(x)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, ref(x))


@needs_native
@pytest.mark.parametrize("normalized", [True, False])
def test_unnormalised_and_other_eps(band, normalized):
    cfg = FrontEndConfig(eps=1e-3, normalized=normalized)
    ref, nat = both(lambda: LogSpectrogram(cfg))
    np.testing.assert_array_equal(nat(band), ref(band))


def test_other_lengths_stay_on_numpy(band):
    """The native FFT mirrors pocketfft's radix-4/2 passes only: other n_fft run the reference."""
    cfg = FrontEndConfig(n_fft=48, hop=12)
    s = LogSpectrogram(cfg)
    assert s._native is None and StreamingLogSpectrogram(cfg)._native is None
    assert s(band).shape == (cfg.num_frames(len(band)), 2, 16, 25)


@needs_native
@pytest.mark.parametrize("how", CHUNKINGS)
def test_streaming_spectrogram_native_equals_numpy(band, how):
    ref, nat = both(StreamingLogSpectrogram)
    out = push_all(nat, band, how)
    np.testing.assert_array_equal(out, push_all(ref, band, how))
    np.testing.assert_array_equal(out, LogSpectrogram()(band))  # and the offline frames of the whole
    assert nat.frames_emitted == ref.frames_emitted == len(out)


@needs_native
def test_streaming_spectrogram_reset_and_channel_change(band):
    ref, nat = both(StreamingLogSpectrogram)
    for s in (ref, nat):
        s.push(band[:100])
    with pytest.raises(ValueError, match="channels"):
        nat.push(band[:10, 0])  # 16 channels after 32: refused, as numpy's concatenate refuses
    for s in (ref, nat):
        s.reset()
        assert s.frames_emitted == 0
    np.testing.assert_array_equal(nat.push(band[:200, 0]), ref.push(band[:200, 0]))


# -- the whole front end, on a real session -----------------------------------------------------
@needs_native
@pytest.mark.parametrize("how", CHUNKINGS)
def test_live_front_end_on_a_session(session_emg, how):
    x = session_emg.reshape(len(session_emg), 32)
    ref, nat = both(lambda: LiveFrontEnd(FILTERS, FrontEndConfig(), 2000.0))
    expected = push_all(ref, x, how)
    assert expected.shape == (FrontEndConfig().num_frames(len(x)), 2, 16, 33)
    np.testing.assert_array_equal(push_all(nat, x, how), expected)
    # after a reset mid-stream, both start a fresh stream alike
    for fe in (ref, nat):
        fe.push(x[:777])
        fe.reset()
    np.testing.assert_array_equal(push_all(nat, x[5000:9000], how), push_all(ref, x[5000:9000], how))


@needs_native
def test_bundle_front_end_is_native_by_default():
    from emgrt.bundle import Bundle

    fe = LiveFrontEnd.from_manifest(Bundle.load(ROOT / "models" / "default").spec)
    assert (fe.filter._kernels is not None) == native.ACTIVE
    assert (fe.spectrogram._native is not None) == native.ACTIVE


@needs_native
@pytest.mark.parametrize("active", [False, True])
def test_pickled_mid_stream_goes_on_alike(band, active):
    """Front ends pickle into worker processes on either path, state (zi, carried tail) included."""
    import pickle

    x = band.reshape(len(band), 32)
    with native.use(active):
        fe = LiveFrontEnd(FILTERS, FrontEndConfig(), 2000.0)
        offline = LogSpectrogram()
    fe.push(x[:1010])  # leaves a tail and a filter state
    clone = pickle.loads(pickle.dumps(fe))
    assert (clone.spectrogram._native is not None) == active and (clone.filter._kernels is not None) == active
    np.testing.assert_array_equal(push_all(clone, x[1010:], "random"), push_all(fe, x[1010:], "random"))
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(offline))(band), offline(band))


@pytest.mark.slow
def test_the_front_end_test_files_pass_on_the_numpy_path_too():
    """The suite runs on the native path; the files that exercise the front end, the clock and the
    decoders run again here with EMGRT_NATIVE=0, so both paths are tested end to end."""
    here = Path(__file__).parent
    files = [str(here / f) for f in ("test_dsp.py", "test_stream_frontend.py", "test_adapt.py", "test_stream_clock.py",
                                     "test_decode.py", "test_decode_charlm.py")]
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files],
                       env={**os.environ, "EMGRT_NATIVE": "0"}, capture_output=True, text=True, timeout=600,
                       cwd=here.parent)
    assert r.returncode == 0, r.stdout[-3000:]


def hostile_stamps(n: int = 30_000, seed: int = 5) -> np.ndarray:
    """Stamps with everything the clock decides on: heavy jitter (jitter candidates), a one-sample gap,
    a 50 ms and a 2 s gap, a clock step back, NaN/Inf stamps, and stamps past the 1024-sample block."""
    rng = np.random.default_rng(seed)
    ts = 1000.0 + np.arange(n) / 2000.0 + rng.uniform(-2e-3, 2e-3, n) * (np.arange(n) > 9000)
    ts[3000:] += 1 / 2000.0
    ts[6000:] += 100 / 2000.0
    ts[12000:] += 2.0
    ts[18000:] -= 0.5
    ts[[100, 2047, 20000]] = [np.nan, np.inf, np.nan]
    return ts


def clock_items(clock, ts: np.ndarray, how: str) -> list:
    x = np.arange(len(ts), dtype=np.float32)[:, None]
    items, pos = [], 0
    for c in chunks(ts, how, seed=11):
        items += clock.push(x[pos : pos + len(c)], c)
        pos += len(c)
    return items + clock.flush()


def same_items(a: list, b: list) -> None:
    from emgrt.stream.clock import Gap, Samples

    assert [type(i) for i in a] == [type(i) for i in b]
    for p, q in zip(a, b):
        if isinstance(p, Samples):
            np.testing.assert_array_equal(p.x, q.x)
            np.testing.assert_array_equal(p.t, q.t)  # bit for bit
        elif isinstance(p, Gap):
            assert (p.missing, p.seconds) == (q.missing, q.seconds)
        else:
            assert p.seconds == q.seconds


@needs_native
@pytest.mark.parametrize("how", CHUNKINGS)
def test_stamp_clock_native_equals_numpy(how):
    from emgrt.stream.clock import Gap, StampClock, StepBack

    ref, nat = both(lambda: StampClock(2000.0))
    assert ref._kernel is None and nat._kernel is not None
    ts = hostile_stamps()
    a, b = clock_items(ref, ts, how), clock_items(nat, ts, how)
    same_items(a, b)
    moves = [i for i in a if isinstance(i, (Gap, StepBack))]
    assert len(moves) >= 4 and ref.candidates > len(moves)  # the gaps, the step back and jitter candidates
    assert (ref.candidates, ref.bad_stamps, ref._next, ref._off, ref._var) == (
        nat.candidates, nat.bad_stamps, nat._next, nat._off, nat._var)


@needs_native
def test_stamp_clock_pickles_on_its_path():
    import pickle

    from emgrt.stream.clock import StampClock

    ts = hostile_stamps()
    ref, nat = both(lambda: StampClock(2000.0))
    x = np.zeros((len(ts), 1), np.float32)
    ref.push(x[:5001], ts[:5001])
    nat.push(x[:5001], ts[:5001])
    clone = pickle.loads(pickle.dumps(nat))
    assert clone._kernel is not None
    same_items(ref.push(x[5001:], ts[5001:]) + ref.flush(), clone.push(x[5001:], ts[5001:]) + clone.flush())


# -- the char-LM beam search ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_logits():
    """The shipped bundle and its full-window log-probs over the demo recording (real model output)."""
    from emgrt.bundle import Bundle
    from emgrt.io.session import SessionFile
    from emgrt.stream.latency import offline_log_probs

    bundle = Bundle.load(ROOT / "models" / "default")
    with SessionFile(DEMO) as s:
        n = len(s)
        return bundle, offline_log_probs(bundle, s.emg(0, n).reshape(n, -1))


def char_lm_events(build, lp: np.ndarray, how: str) -> tuple[list, list]:
    """The events of a char-LM decoder built on each path, fed the same chunks of ``lp``."""
    out = []
    for dec in both(build):
        events, pos = [], 0
        for c in chunks(lp, how, seed=3):
            events += dec.push(c, pos)
            pos += len(c)
        out.append(events + dec.flush())
    return out[0], out[1]


def stress_logits(frames: int = 1200, seed: int = 4) -> np.ndarray:
    """Ambiguous log-probs with many space, backspace, shift and enter frames (every LM branch)."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from test_decode import BLANK, LABELS, random_log_probs

    from emgrt.charset import BACKSPACE, ENTER, SHIFT

    lp = random_log_probs(frames, seed, blank_bias=1.0).copy()
    rng = np.random.default_rng(seed)
    for lab, share in ((BACKSPACE, 0.08), (SHIFT, 0.04), (ENTER, 0.02), (" ", 0.1)):
        rows = rng.random(frames) < share
        lp[rows, LABELS.index(lab)] += 5.0
    lp[:, BLANK] += 0.5
    for start in range(150, frames, 200):  # pauses: segments end (FinalEvents)
        lp[start : start + 15, BLANK] += 30.0
    return (lp - np.logaddexp.reduce(lp, axis=1, keepdims=True)).astype(np.float32)


CHAR_LM_RULES = [
    {},  # decoder defaults (every close beam agrees)
    {"commit_depth": 5, "commit_prob": 0.99, "hypothesis_hold": 1.0},  # the default bundle's
    {"commit_lag": 20, "commit_stable": 8},
    {"endpoint_frames": 4, "commit_prob": 0.9, "hypothesis_hold": 0.5},
]


@needs_native
@pytest.mark.parametrize("rules,how", list(zip(CHAR_LM_RULES, ["1", "7", "random", "64"])))
def test_char_lm_native_equals_numpy_on_a_session(demo_logits, rules, how):
    from emgrt.decode import make_decoder
    from emgrt.decode.events import CharEvent, HypothesisEvent
    from emgrt.stream.decoders import decoder_options

    bundle, lp = demo_logits
    opts = {**decoder_options(bundle, "char-lm", {}), "commit_depth": None, "commit_prob": None,
            "hypothesis_hold": None, **rules}
    ref, nat = char_lm_events(lambda: make_decoder("char-lm", bundle.labels, bundle.blank, **opts), lp, how)
    assert ref == nat
    assert sum(isinstance(e, CharEvent) for e in ref) > 50 and sum(isinstance(e, HypothesisEvent) for e in ref) > 3


@needs_native
@pytest.mark.parametrize("lm", ["shipped", None])
def test_char_lm_native_equals_numpy_under_stress(demo_logits, lm):
    """Backspaces past the committed text, forced commits of long pending suffixes, LM history
    released (small max_pending and max_undo), shift and enter, every rule on, with and without an LM."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from test_decode import BLANK, LABELS

    from emgrt.decode.charlm import CharLMDecoder
    from emgrt.decode.events import CharEvent, FinalEvent

    bundle, _ = demo_logits
    path = str(bundle.path("char6.arpa.gz")) if lm else None
    lp = stress_logits()
    build = lambda: CharLMDecoder(LABELS, BLANK, lm=path, beam_size=16, max_pending=6, max_undo=4, pause_frames=12,  # noqa: E731
                                  commit_prob=0.95, commit_depth=3, commit_stable=6, commit_lag=9, endpoint_frames=3,
                                  hypothesis_hold=0.5)
    ref, nat = char_lm_events(build, lp, "random")
    assert ref == nat
    assert sum(isinstance(e, CharEvent) for e in ref) > 300 and sum(isinstance(e, FinalEvent) for e in ref) > 3


@pytest.fixture(scope="module")
def pruned_char_lm(tmp_path_factory) -> str:
    """A small pruned char 4-gram (n-grams seen once dropped above the bigrams): back-off everywhere."""
    import itertools

    from emgrt.lm import build_lm
    from emgrt.text import lm_sentences

    path = tmp_path_factory.mktemp("lm") / "char4.arpa"
    build_lm("char", 4, itertools.islice(lm_sentences(), 0, None, 60), path, prune=(0, 0, 1, 1))
    return str(path)


def random_tokens(n: int, seed: int) -> list[list[str]]:
    """Sentences of character tokens (common ones, space, punctuation, a word the LM lacks, </s>)."""
    rng = np.random.default_rng(seed)
    vocab = list("etaoinshrdlucmfwypvbgkqjxz") + ["<sp>", ",", ".", "T", "I", "?", "</s>", "zz"]
    return [[vocab[i] for i in rng.integers(0, len(vocab), rng.integers(1, 40))] for _ in range(n)]


@needs_native
@pytest.mark.parametrize("which", ["shipped", "pruned"])
def test_native_ngram_scores_equal_kenlm(demo_logits, pruned_char_lm, which):
    """Every log10 probability the native ARPA reader gives equals kenlm's BaseScore, bit for bit."""
    import kenlm

    from emgrt.decode.lmfiles import load_kenlm, load_native_ngram

    bundle, _ = demo_logits
    path = str(bundle.path("char6.arpa.gz")) if which == "shipped" else pruned_char_lm
    ours, ref = load_native_ngram(path), load_kenlm(path)
    assert ours is not None and ours.order == ref.order
    for words in random_tokens(300, seed=7):
        state = kenlm.State()
        ref.BeginSentenceWrite(state)
        expected = []
        for w in words:
            out = kenlm.State()
            expected.append(ref.BaseScore(state, w, out))
            state = out
        assert ours.sentence_scores(words) == expected


@needs_native
def test_native_ngram_rejects_bad_files_and_the_search_falls_back_to_kenlm(tmp_path, pruned_char_lm, monkeypatch):
    from emgrt.decode import charlm, lmfiles

    bad = tmp_path / "bad.arpa"
    bad.write_text("\\data\\\nngram 1=2\n\n\\1-grams:\n-1.0\t<s>\nnot-a-number\t</s>\n\\end\\\n")
    with pytest.raises(ValueError, match="line 6: 'not-a-number' is not a number"):
        native.kernels.NgramLM(bad.read_bytes())
    assert lmfiles.load_native_ngram(str(bad)) is None  # the search asks kenlm instead
    broken = tmp_path / "broken.arpa.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 20)  # a truncated gzip file
    assert lmfiles.load_native_ngram(str(broken)) is None
    # with the reader unavailable the native search scores through kenlm: the same events
    monkeypatch.setattr(charlm, "load_native_ngram", lambda path: None)
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from test_decode import BLANK, LABELS

    build = lambda: charlm.CharLMDecoder(LABELS, BLANK, lm=pruned_char_lm, beam_size=16, commit_depth=4)  # noqa: E731
    ref, nat = char_lm_events(build, stress_logits(400), "7")
    assert ref == nat and len(ref) > 100


@needs_native
@pytest.mark.parametrize("how", CHUNKINGS)
def test_greedy_native_equals_numpy(demo_logits, how):
    """Real logits with ties, NaN rows and pauses added: the same keys, frames and segment ends."""
    from emgrt.decode import make_decoder
    from emgrt.decode.events import CharEvent, FinalEvent

    bundle, lp = demo_logits
    lp = np.concatenate([lp, stress_logits(600, seed=9)[:, : lp.shape[1]]])
    lp[[5, 300]] = np.nan  # a broken row: argmax is its first NaN on both paths
    lp[[40, 41], :] = 0.0  # all-equal rows: the first label wins
    out = []
    for dec in both(lambda: make_decoder("greedy", bundle.labels, bundle.blank, pause_frames=8)):
        events, pos = [], 0
        for c in chunks(lp, how, seed=5):
            events += dec.push(c, pos)
            pos += len(c)
        out.append(events + dec.flush() + dec.push(lp[:50], pos) + dec.flush())  # and a push after the flush
    assert out[0] == out[1]
    assert sum(isinstance(e, CharEvent) for e in out[0]) > 100 and sum(isinstance(e, FinalEvent) for e in out[0]) > 3
