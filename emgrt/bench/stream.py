"""`emgrt bench stream`: what one streaming step costs and how many live streams a process carries.

Measured in one run on one bundle (synthetic band input, seeded):

front end        the live front end (IIR filters + log-spectrogram) per hop per stream on both paths,
                 the native C++ core and the numpy reference, timed hop by hop interleaved, with
                 their outputs compared (``kernels`` names the path everything else runs on).
clock            the sample clock (de-jittered stamps, gaps) the same way, on stamps jittered by
                 +- 0.2 ms as LSL's are.
step vs full     the cached step graph per hop against recomputing the full-window graph (a) over
                 everything a hop's outputs depend on (receptive field + one step + lookahead
                 frames), the least a stream without state caches must redo every hop, and
                 (b) over the training window (4 s + 900 ms past + 100 ms future), what a
                 windowed decoder in the style of emg2qwerty/fairemg recomputes every hop.
flop floor       the cached step at batch 1 against the same step's matrix multiplies alone
                 (numpy, one BLAS thread, best of 7 rounds): how close the step graph comes to
                 the arithmetic it must do on this core.
pipeline         ``Engine.process`` with one hop of samples per call: sanitise, gap check,
                 ring, filters, spectrogram, step, decoder, events (p50/p99), and the same
                 path split into its parts (ring, front end, step, decoder) to show where the
                 time goes; the ring + front end share says whether a native core would pay.
streams          N streams of one Recognizer, each accepting one hop per round, then one
                 ``rec.decode`` of all of them; N is real-time while the mean round takes at most
                 one hop of signal time.  Doubling then bisection finds the largest such N, for
                 greedy and for the LM decoder, each batched (one ONNX call per round for all
                 streams), unbatched (one call per stream) and batched on the numpy reference
                 path (front end, clock and decoder all in Python/numpy).
memory           one engine over a long stream: RSS at the start and end, and the Python heap
                 growth traced by tracemalloc over the second half; greedy, then the LM decoder
                 (whose native search keeps its own beams and LM contexts).
"""

from __future__ import annotations

import gc
import os
import time
import tracemalloc

import numpy as np

from emgrt.constants import PAD_FUTURE, PAD_PAST, WINDOW_LENGTH
from emgrt.dsp.features import FrontEndConfig
from emgrt.stream.engine import Engine
from emgrt.stream.recognizer import Recognizer

SYNTH_SECONDS = 10  # synthetic signal cycled through (seeded normal noise)
WARMUP_HOPS = 50  # untimed hops before a both-paths comparison


def _rss_mb() -> float:
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux: peak RSS is the best the standard library offers
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class SyntheticBand:
    """Endless seeded noise in hop-sized chunks with consecutive stamps.  All bands share one
    block of noise (each starts at its own offset), so N streams do not cost N copies."""

    _noise: dict[tuple, np.ndarray] = {}

    def __init__(self, channels: int, rate: float, hop: int, seed: int = 0) -> None:
        n = int(SYNTH_SECONDS * rate) // hop * hop
        key = (channels, n)
        if key not in self._noise:
            rng = np.random.default_rng(0)
            self._noise[key] = (rng.standard_normal((n, channels)) * 20.0).astype(np.float32)
        self.data = self._noise[key]
        self.rate, self.hop = rate, hop
        self.pos = (seed * 7919 * hop) % n
        self.t = 1000.0

    def next(self) -> tuple[np.ndarray, np.ndarray]:
        x = self.data[self.pos : self.pos + self.hop]
        self.pos = (self.pos + self.hop) % len(self.data)
        ts = self.t + np.arange(self.hop) / self.rate
        self.t += self.hop / self.rate
        return x, ts


def _pcts(a, scale=1000.0) -> dict:
    a = np.asarray(a) * scale
    return {"p50": round(float(np.percentile(a, 50)), 4), "p99": round(float(np.percentile(a, 99)), 4)}


def bench_step_vs_full(bundle, eo: dict, repeats: int) -> dict:
    """Per-call time of the cached step and of the full graph over the receptive field and over
    the training window, timed interleaved round by round so that load from other processes on a
    shared machine falls on all three alike and the ratios stay fair."""
    from emgrt.stream.step_runner import StepRunner, make_session

    st = bundle.spec.stream
    F, k = st.frames_per_step, st.subsample
    runner = StepRunner(bundle, **eo)
    rng = np.random.default_rng(0)
    frames = rng.standard_normal((F, 2, 16, 33)).astype(np.float32)
    for _ in range(max(20, st.receptive_field_frames // F + 2)):  # fill the caches
        runner.step(frames)
    window = st.receptive_field_frames + F + st.lookahead_frames
    window = -(-window // k) * k
    # The windowed alternative: re-run the model over the training window (4 s + 900 ms past +
    # 100 ms future, as emg2qwerty and fairemg decode) every hop.
    train_frames = FrontEndConfig().num_frames(WINDOW_LENGTH + PAD_PAST + PAD_FUTURE)
    train_frames -= train_frames % k
    path = (bundle.int8_path("full_graph") if eo.get("int8") else None) or bundle.full_path
    # One session per window length: a session alternating between two input shapes re-plans its
    # memory on every call, which would bill the baseline for onnxruntime's allocator.
    sessions = {n: make_session(path, eo["providers"], eo["threads"]) for n in (window, train_frames)}
    feeds = {
        n: {s.get_inputs()[0].name: rng.standard_normal((1, n, 2, 16, 33)).astype(np.float32)}
        for n, s in sessions.items()
    }
    for n, s in sessions.items():
        s.run(None, feeds[n])
    # Each round times a block of steps, then a block of calls of each full graph (per-call means);
    # the figures are medians over rounds.  Within a block a graph runs with its weights warm in
    # cache (both sides alike); the rounds spread other processes' load over all three.
    step_block, full_block = 50, 5
    times: dict = {"step": [], window: [], train_frames: []}
    for _ in range(max(10, repeats // 30)):
        t0 = time.perf_counter()
        for _ in range(step_block):
            runner.step(frames)
        times["step"].append((time.perf_counter() - t0) / step_block)
        for n, s in sessions.items():
            t0 = time.perf_counter()
            for _ in range(full_block):
                s.run(None, feeds[n])
            times[n].append((time.perf_counter() - t0) / full_block)
    step_ms, receptive_ms, train_ms = (float(np.median(times[key])) * 1e3 for key in ("step", window, train_frames))
    return {
        "step_ms": round(step_ms, 4),
        "full_window_ms": round(receptive_ms, 4),
        "full_window_frames": window,
        "speedup": round(receptive_ms / step_ms, 1),
        "training_window_ms": round(train_ms, 4),
        "training_window_frames": train_frames,
        "training_window_speedup": round(train_ms / step_ms, 1),
    }


_FLOOR_CODE = """
import json, sys, time
import numpy as np
shapes, reps = json.loads(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
pairs = [(rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((k, n)).astype(np.float32))
         for m, k, n in shapes]
outs = [np.empty((m, n), np.float32) for m, k, n in shapes]
best = float("inf")
for _ in range(7):  # the best of 7 rounds: the floor is what the core can do when nothing else runs
    t0 = time.perf_counter()
    for _ in range(reps):
        for (a, b), o in zip(pairs, outs):
            np.matmul(a, b, out=o)
    best = min(best, (time.perf_counter() - t0) / reps)
print(json.dumps({"step_matmuls_us": best * 1e6}))
"""


def step_matmul_shapes(bundle) -> list[tuple[int, int, int]] | None:
    """The (m, k, n) matrix multiplies of one step of the bundle's transformer (the per-band
    rotation MLPs on the step's input frames, the frame-stacking projection, the mixer, each
    layer's q/k/v/out and feed-forward, the output head: ``emgrt.train.model.flops_per_hop``
    counts the same), or None for another architecture."""
    c, spec = bundle.spec.model.config, bundle.spec
    need = ("layers", "dim", "ffn_mult", "band_width", "subsample", "rotations", "num_outputs")
    if not all(k in c for k in need):
        return None
    d, w, k, f = c["dim"], c["band_width"], c["subsample"], c["ffn_mult"] * c["dim"]
    bands, ch, n_freq = len(spec.signal.bands), spec.signal.channels_per_band, spec.frontend.n_fft // 2 + 1
    F, outs = spec.stream.frames_per_step, spec.stream.outputs_per_step
    shapes = [(F * bands * len(c["rotations"]), ch * n_freq, w), (outs, k * bands * w, d), (outs, d, d)]
    shapes += [(outs, d, 3 * d), (outs, d, d), (outs, d, f), (outs, f, d)] * c["layers"]
    return shapes + [(outs, d, c["num_outputs"])]


def bench_flop_floor(bundle, step_ms: float) -> dict:
    """The cached step at batch 1 against its floor on this core: the step's own matrix multiplies
    (:func:`step_matmul_shapes`, float32, one call each, no graph) timed by numpy on one BLAS
    thread in a child process (the step runs on one onnxruntime thread), in the same run."""
    import json
    import subprocess
    import sys

    shapes = step_matmul_shapes(bundle)
    if shapes is None:
        return {"skipped": "not the transformer the shapes are known for"}
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-c", _FLOOR_CODE, json.dumps(shapes), "200"], env=env,
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        return {"skipped": f"the floor measurement failed ({r.stderr.strip().splitlines()[-1:]})"}
    floor_us = json.loads(r.stdout)["step_matmuls_us"]
    macs = sum(m * k * n for m, k, n in shapes)
    return {
        "step_us": round(step_ms * 1000, 2),
        "matmuls": len(shapes),
        "matmul_flops": 2 * macs,
        "model_flops_per_hop": bundle.spec.model.flops_per_hop,
        "floor_us": round(floor_us, 2),
        "step_over_floor": round(step_ms * 1000 / floor_us, 2),
    }


def _both_paths(build, feed, same, inputs: list, warmup: int = WARMUP_HOPS) -> dict:
    """One object per path (numpy reference, native core) from ``build()``, each fed ``inputs`` in
    order by ``feed(obj, item)``: the first ``warmup`` untimed, the rest timed interleaved (the first
    path alternating) so that load from other processes falls on both alike; ``identical`` says
    whether ``same(a, b)`` held for every timed item."""
    from emgrt import native

    paths = {"numpy": False, "native": True} if native.AVAILABLE else {"numpy": False}
    objs = {}
    for name, active in paths.items():
        with native.use(active):
            objs[name] = build()
    for item in inputs[:warmup]:
        for obj in objs.values():
            feed(obj, item)
    times: dict[str, list[float]] = {name: [] for name in objs}
    order = list(objs)
    identical = True
    for i, item in enumerate(inputs[warmup:]):
        out = {}
        for name in order if i % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            out[name] = feed(objs[name], item)
            times[name].append(time.perf_counter() - t0)
        identical &= len(out) == 1 or same(out["numpy"], out["native"])
    report: dict = {"path": native.describe()}
    report.update({f"{name}_us": _pcts(t, 1e6) for name, t in times.items()})
    if "native" in times:
        report["speedup"] = round(report["numpy_us"]["p50"] / report["native_us"]["p50"], 1)
        report["identical"] = bool(identical)
    else:
        report["native_us"] = {"skipped": f"not built ({native.import_error})"}
    return report


def _hops(bundle, n: int, jitter_s: float = 0.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` hops of the synthetic band, stamps jittered by up to +- ``jitter_s`` (seeded)."""
    band = SyntheticBand(bundle.channels, bundle.sample_rate, bundle.spec.stream.samples_per_step)
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        x, ts = band.next()
        out.append((x, ts + rng.uniform(-jitter_s, jitter_s, len(ts)) if jitter_s else ts))
    return out


def bench_frontend(bundle, hops: int) -> dict:
    """The front end (IIR filters + log-spectrogram) per hop per stream (us), native vs numpy."""
    from emgrt.stream.frontend import LiveFrontEnd

    return _both_paths(lambda: LiveFrontEnd.from_manifest(bundle.spec), lambda fe, hop: fe.push(hop[0]),
                       np.array_equal, _hops(bundle, WARMUP_HOPS + hops))


def bench_clock(bundle, hops: int, jitter_s: float = 2e-4) -> dict:
    """The sample clock per hop per stream (us), native vs numpy, on stamps with LSL-like jitter."""
    from emgrt.stream.clock import Samples, StampClock

    def same(a: list, b: list) -> bool:
        return len(a) == len(b) and all(
            type(p) is type(q) and (np.array_equal(p.t, q.t) if isinstance(p, Samples) else p == q) for p, q in zip(a, b))

    return _both_paths(lambda: StampClock(bundle.sample_rate), lambda c, hop: c.push(*hop), same,
                       _hops(bundle, WARMUP_HOPS + hops, jitter_s))


def bench_pipeline(bundle, eo: dict, hops: int, decoder: str = "greedy") -> dict:
    """``Engine.process`` with one hop of samples per call (p50/p99), and the same calls split
    into their parts by the stream's own part timers (:data:`~emgrt.stream.recognizer.PARTS`)."""
    from emgrt.stream.recognizer import PARTS

    engine = Engine(bundle, decoder=decoder, **eo)
    band = SyntheticBand(engine.channels, engine.rate, engine.step_samples)
    for _ in range(50):
        engine.process(*band.next())
    t_all = []
    for _ in range(hops):
        x, ts = band.next()
        t0 = time.perf_counter()
        engine.process(x, ts)
        t_all.append(time.perf_counter() - t0)
    # The same path again with the parts timed (the timers cost a little, so apart from the above).
    parts: dict[str, list[float]] = {k: [] for k in PARTS}
    for _ in range(hops):
        engine.stream.parts = {}
        engine.process(*band.next())
        for k in PARTS:
            parts[k].append(engine.stream.parts.get(k, 0.0))
    engine.stream.parts = None
    med = {k: float(np.median(v)) * 1e6 for k, v in parts.items()}
    total = sum(med.values())
    return {
        "process_ms": _pcts(t_all),
        "parts_us_p50": {k: round(v, 1) for k, v in med.items()},
        "ring_frontend_share": round((med["ring"] + med["frontend"]) / total, 3),
        "hop_budget_ms": round(1000.0 * engine.step_samples / engine.rate, 3),
    }


def _round_time(rec, streams, bands, rounds: int) -> np.ndarray:
    """Per round: every stream accepts one hop, then one ``rec.decode`` runs all their steps."""
    times = np.empty(rounds)
    for r in range(rounds):
        t0 = time.perf_counter()
        for s, b in zip(streams, bands):
            s.accept(*b.next())
        rec.decode(streams)
        for s in streams:
            s.take_events()
        times[r] = time.perf_counter() - t0
    return times


def bench_streams(
    bundle, eo: dict, decoder: str, rounds: int, max_streams: int, decoder_opts: dict, batched: bool = True,
    native_core: bool = True,
) -> dict:
    """Largest N streams of one Recognizer (one hop each per round, then one decode of all of
    them: one batched ONNX call, or one call per stream) with mean round <= one hop."""
    from emgrt import native

    with native.use(native_core and native.AVAILABLE):
        rec = Recognizer(bundle, decoder=decoder, batched=batched, **eo, **decoder_opts)
        budget = rec.step_samples / rec.rate
        pool: list = []
        bands: list = []
        results: dict[int, np.ndarray] = {}

        def trial(n: int) -> bool:
            while len(pool) < n:
                pool.append(rec.create_stream())
                bands.append(SyntheticBand(rec.channels, rec.rate, rec.step_samples, seed=len(bands)))
            _round_time(rec, pool[:n], bands[:n], 5)  # warm-up
            t = _round_time(rec, pool[:n], bands[:n], rounds)
            results[n] = t
            return float(np.mean(t)) <= budget

        good, bad = 0, None
        n = 1
        while n <= max_streams:
            if trial(n):
                good, n = n, n * 2
            else:
                bad = n
                break
        if bad is not None:
            lo, hi = good, bad
            while hi - lo > max(1, lo // 16):
                mid = (lo + hi) // 2
                if trial(mid):
                    lo = mid
                else:
                    hi = mid
            good = lo
    out = {"streams": good, "budget_ms": round(budget * 1000, 3), "capped": bad is None, "batched": rec.batched,
           "kernels": "native" if native_core and native.AVAILABLE else "numpy"}
    if good:
        t = results[good]
        out["round_ms"] = _pcts(t)
        out["per_stream_ms"] = round(float(np.mean(t)) * 1000 / good, 4)
    return out


STREAM_VARIANTS = {  # name: (batched, native core); "batched" is the engine's own configuration
    "batched": (True, True),
    "unbatched": (False, True),
    "batched_numpy": (True, False),
}


def bench_stream_counts(bundle, eo: dict, decoder: str, rounds: int, max_streams: int, decoder_opts: dict) -> dict:
    """:func:`bench_streams` for each of :data:`STREAM_VARIANTS` the bundle and build allow."""
    from emgrt import native

    out = {}
    for name, (batched, native_core) in STREAM_VARIANTS.items():
        if batched and bundle.batched_step_path is None:
            out[name] = {"skipped": "the bundle has no batched step graph (re-export it)"}
        elif native_core and not native.AVAILABLE and name != "batched":
            out[name] = {"skipped": "the native core is not built"}
        else:
            out[name] = bench_streams(bundle, eo, decoder, rounds, max_streams, decoder_opts, batched, native_core)
    return out


def bench_memory(bundle, eo: dict, minutes: float, decoder: str | None = None, decoder_opts: dict | None = None) -> dict:
    """One engine (``decoder``, default the bundle's first: greedy, or gesture for a gestures bundle)
    over ``minutes`` of synthetic signal."""
    engine = Engine(bundle, decoder or bundle.spec.decoders[0], **eo, **(decoder_opts or {}))
    band = SyntheticBand(engine.channels, engine.rate, engine.step_samples)
    hops = int(minutes * 60 * engine.rate / engine.step_samples)
    warm = max(1, hops // 10)
    for _ in range(warm):
        engine.process(*band.next())
    gc.collect()
    rss0 = _rss_mb()
    half = (hops - warm) // 2
    for _ in range(half):
        engine.process(*band.next())
    gc.collect()
    tracemalloc.start()
    heap0 = tracemalloc.get_traced_memory()[0]
    for _ in range(hops - warm - half):
        engine.process(*band.next())
    gc.collect()
    heap1 = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    rss1 = _rss_mb()
    s = engine.stats()
    return {
        "decoder": decoder or bundle.spec.decoders[0],
        "signal_minutes": round(hops * engine.step_samples / engine.rate / 60, 2),
        "rss_start_mb": round(rss0, 2),
        "rss_end_mb": round(rss1, 2),
        "rss_growth_mb": round(rss1 - rss0, 2),
        "heap_growth_kb_second_half": round((heap1 - heap0) / 1024, 2),
        "dropped": s["dropped"],
    }


def bench_stream(
    bundle,
    providers=None,
    threads: int = 1,
    repeats: int = 300,
    rounds: int = 30,
    max_streams: int = 1024,
    minutes: float = 10.0,
    lm_decoder: str = "beam-lm",
    decoder_opts: dict | None = None,
    int8: bool = False,
) -> dict:
    """All five measurements; ``lm_decoder`` (with ``decoder_opts``) is the second decoder of the
    stream-count search."""
    from emgrt import native
    from emgrt.errors import EmgrtError

    eo = {"providers": providers, "threads": threads, "int8": int8}
    probe = Engine(bundle, bundle.spec.decoders[0], **eo)
    model = bundle.spec.model
    report = {
        "bundle": str(bundle.dir),
        "bundle_digest": bundle.digest,
        "provider": probe.provider,
        "threads": threads,
        "int8": int8,
        "model": {"name": model.name, "params": model.params, "flops_per_hop": model.flops_per_hop},
        "frames_per_step": probe.frames_per_step,
        "hop_ms": round(1000.0 * probe.step_samples / probe.rate, 3),
        "cpu_count": os.cpu_count(),
        "kernels": native.describe(),
    }
    report["frontend"] = bench_frontend(bundle, max(repeats, 1000))
    report["clock"] = bench_clock(bundle, max(repeats, 1000))
    report["step_vs_full"] = bench_step_vs_full(bundle, eo, repeats)
    report["flop_floor"] = bench_flop_floor(bundle, report["step_vs_full"]["step_ms"])
    report["pipeline"] = bench_pipeline(bundle, eo, repeats)
    report["streams"] = {"greedy": bench_stream_counts(bundle, eo, "greedy", rounds, max_streams, {})}
    try:
        report["streams"][lm_decoder] = bench_stream_counts(bundle, eo, lm_decoder, rounds, max_streams, decoder_opts or {})
    except (EmgrtError, ImportError) as exc:  # no LM in the bundle / decoder not installed
        report["streams"][lm_decoder] = {"skipped": str(exc)}
    report["memory"] = bench_memory(bundle, eo, minutes)
    if "skipped" not in report["streams"][lm_decoder]:  # the LM decoder's own state over as long a stream
        report["memory_lm"] = bench_memory(bundle, eo, minutes, lm_decoder, decoder_opts)
    return report


def print_report(r: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    c = Console()
    c.print(
        f"bundle {r['bundle']} (digest {r['bundle_digest'][:12]}, {r['model'].get('name')}, "
        f"{r['model'].get('params')} params), {r['provider']}, "
        f"{r['threads']} thread(s), one step = {r['frames_per_step']} frames = {r['hop_ms']} ms of signal; "
        f"kernels: {r['kernels']}"
    )
    t = Table(title="emgrt bench stream")
    t.add_column("figure")
    t.add_column("value", justify="right")
    for label, key in (("front end", "frontend"), ("sample clock", "clock")):
        fe = r[key]
        if "skipped" in fe["native_us"]:
            t.add_row(f"{label} per hop per stream, numpy (us, p50)", f"{fe['numpy_us']['p50']:.1f}")
            t.add_row("  native C++ core", fe["native_us"]["skipped"])
        else:
            t.add_row(
                f"{label} per hop per stream, native / numpy (us, p50)",
                f"{fe['native_us']['p50']:.1f} / {fe['numpy_us']['p50']:.1f} ({fe['speedup']:.1f}x)",
            )
            t.add_row("  native output identical to numpy", "yes" if fe["identical"] else "NO")
    sv = r["step_vs_full"]
    t.add_row("cached step per hop (ms, p50)", f"{sv['step_ms']:.3f}")
    t.add_row(f"full window over {sv['full_window_frames']} frames (ms, p50)", f"{sv['full_window_ms']:.3f}")
    t.add_row("step speedup over the receptive field", f"{sv['speedup']:.1f}x")
    t.add_row(f"full window over the {sv['training_window_frames']}-frame training window (ms, p50)",
              f"{sv['training_window_ms']:.3f}")
    t.add_row("step speedup over the training window (target >= 30x)", f"{sv['training_window_speedup']:.1f}x")
    ff = r.get("flop_floor", {})
    if "skipped" in ff:
        t.add_row("step vs its matmul floor", f"skipped: {ff['skipped']}")
    elif ff:
        t.add_row(f"step vs its {ff['matmuls']} matmuls alone, one BLAS thread (us)",
                  f"{ff['step_us']:.1f} vs {ff['floor_us']:.1f}: {ff['step_over_floor']:.2f}x (target <= 1.6x)")
    p = r["pipeline"]
    t.add_row("pipeline per hop p50 / p99 (ms)", f"{p['process_ms']['p50']:.3f} / {p['process_ms']['p99']:.3f}")
    t.add_row("  parts p50 (us): clock / ring / front end / step / decoder", " / ".join(f"{v:.0f}" for v in p["parts_us_p50"].values()))
    t.add_row("  ring + front end share of a hop", f"{100 * p['ring_frontend_share']:.0f}%")
    for kind, variants in r["streams"].items():
        if "skipped" in variants:  # the decoder itself (no LM in the bundle, not installed)
            t.add_row(f"real-time streams, {kind}", f"skipped: {variants['skipped']}")
            continue
        for name, s in variants.items():
            label = f"real-time streams, {kind}, {name.replace('_', ', ')}"
            if "skipped" in s:
                t.add_row(label, f"skipped: {s['skipped']}")
            else:
                cap = " (cap reached)" if s["capped"] else ""
                t.add_row(label, f"{s['streams']}{cap} ({s.get('per_stream_ms', 0):.3f} ms per stream-hop)")
    for mem in (r["memory"], r.get("memory_lm")):
        if mem is None:
            continue
        t.add_row(f"RSS over {mem['signal_minutes']} min of signal, {mem['decoder']} (MB)",
                  f"{mem['rss_start_mb']:.1f} -> {mem['rss_end_mb']:.1f}")
        t.add_row(f"Python heap growth, second half, {mem['decoder']} (KB)", f"{mem['heap_growth_kb_second_half']:.1f}")
    c.print(t)
