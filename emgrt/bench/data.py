"""`emgrt bench data`: naive vs tuned training-data loading, and padding waste.

Both loaders produce the same items (same windows, same epoch, same
augmentation draws; checked) through the same transform code; they differ only
in how they get there:

naive   one process; for every window a new SessionFile (opens the HDF5 file,
        parses the metadata and keystroke JSON, loads the timestamps), reads the
        slice, computes the labels, transforms, closes; plain random batches.
tuned   ``emgrt.train.loader``: worker processes with prefetch, sessions opened
        once per worker and decoded whole into a bounded cache, features
        collated straight into shared memory, length-bucketed batches.

A third row, ``single process``, is the tuned dataset without workers: it
separates what caching saves from what parallelism adds.  Timings exclude
warm-up (a few windows for the naive loader; for the tuned one the first epoch,
which includes building the dataset and loader, filling the session cache and
starting the workers, reported as ``tuned_cold``).  The loaders run in
interleaved rounds (background load on a shared machine then hits all of them
alike); each figure is the median round.  MB/s counts the raw float32 EMG of
the padded windows (128 bytes per sample).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from emgrt.data.collate import collate
from emgrt.data.config import DataConfig
from emgrt.data.dataset import Item, WindowedDataset
from emgrt.data.pipeline import WindowTransform, item_rngs
from emgrt.data.sampler import LengthBucketSampler
from emgrt.data.select import LabelSelector
from emgrt.data.windows import WindowGeometry
from emgrt.errors import ConfigError
from emgrt.io.dataset import DatasetDir
from emgrt.io.session import SessionFile

BYTES_PER_SAMPLE = 2 * 16 * 4  # float32 EMG, both bands
MEASURED_EPOCH = 1  # epoch whose items both loaders produce (the tuned loader warms up on epoch 0)
# The dataset made when no --data is given: `emgrt synth` defaults (train split: 10 sessions, 300 windows).
SYNTH_USERS, SYNTH_SESSIONS, SYNTH_MINUTES = 6, 3, 2.0


# -- the naive loader ------------------------------------------------------------------
class NaiveLoader:
    """Straightforward loading: single process, every window opens and parses its session file."""

    def __init__(
        self,
        paths: list[Path],
        windows: list[tuple[int, int, int]],  # (index, session, nominal offset)
        cfg: DataConfig,
        *,
        seed: int,
        epoch: int,
        batch_size: int,
        timings: dict[str, float] | None = None,
    ) -> None:
        self.paths = paths
        self.windows = windows
        self.cfg = cfg
        self.seed, self.epoch, self.batch_size = seed, epoch, batch_size
        self.geometry = WindowGeometry(cfg.window_length, cfg.stride, cfg.padding[0], cfg.padding[1])
        self.selector = LabelSelector(cfg.labels)
        self.transform = WindowTransform(cfg, train=True)
        self.timings = timings

    def item(self, index: int, session: int, nominal: int) -> Item:
        t = self.timings
        t0 = time.perf_counter()
        sf = SessionFile(self.paths[session])
        try:
            rngs = item_rngs(self.seed, self.epoch, index)
            n = len(sf.time)
            jitter = self.cfg.jitter and not self.cfg.whole_session
            offset = self.geometry.jitter(nominal, n, rngs.window) if jitter else nominal
            start, stop = self.geometry.bounds(offset, n)
            t1 = time.perf_counter()
            raw = sf.emg(start, stop)
            t2 = time.perf_counter()
            labels = self.selector(sf.ground_truth(*self.geometry.label_span(sf.time, offset))[0])
            t3 = time.perf_counter()
            feats = self.transform(raw, rngs, t)
        finally:
            sf.close()
        if t is not None:
            for k, v in (("open", t1 - t0), ("read", t2 - t1), ("labels", t3 - t2)):
                t[k] = t.get(k, 0.0) + v
        return Item(feats, labels, sf.session_name, offset, start, stop, len(feats))

    def __iter__(self) -> Iterator[dict]:
        for b in range(0, len(self.windows), self.batch_size):
            yield collate([self.item(*w) for w in self.windows[b : b + self.batch_size]])


# -- measuring -------------------------------------------------------------------------
def _cpu_ticks() -> tuple[int, int] | None:
    """(ticks used by this process and its descendants, ticks the whole machine was busy), Linux only."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]  # user nice system irq softirq steal
        own, todo, seen = 0, [os.getpid()], set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            own += int(fields[11]) + int(fields[12])  # utime + stime, all threads
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        return own, busy
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class Run:
    name: str
    windows: int
    seconds: float
    emg_bytes: int
    batches: int
    others_cpu: float | None = None  # CPU cores used meanwhile by processes not ours (background load)

    @property
    def windows_per_s(self) -> float:
        return self.windows / self.seconds if self.seconds > 0 else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.emg_bytes / 1e6 / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            "windows": self.windows,
            "batches": self.batches,
            "seconds": round(self.seconds, 4),
            "windows_per_s": round(self.windows_per_s, 2),
            "mb_per_s": round(self.mb_per_s, 2),
            "others_cpu": None if self.others_cpu is None else round(self.others_cpu, 2),
        }


def _timed(name: str, batches: Iterable[dict]) -> Run:
    n = nbytes = nb = 0
    c0 = _cpu_ticks()
    t0 = time.perf_counter()
    for batch in batches:
        nb += 1
        n += len(batch["starts"])
        nbytes += sum(b - a for a, b in zip(batch["starts"], batch["stops"])) * BYTES_PER_SAMPLE
    run = Run(name, n, time.perf_counter() - t0, nbytes, nb)
    c1 = _cpu_ticks()
    if c0 is not None and c1 is not None and run.seconds > 0:
        hz = os.sysconf("SC_CLK_TCK")
        run.others_cpu = max(0.0, ((c1[1] - c0[1]) - (c1[0] - c0[0])) / hz / run.seconds)
    return run


def _waste(lengths: np.ndarray, batch_size: int, *, shuffle: bool, bucket: bool, pool: int, epochs: int = 5) -> float:
    s = LengthBucketSampler(lengths, batch_size, shuffle=shuffle, bucket=bucket, pool_batches=pool)
    return float(np.mean([s.padding_waste(e) for e in range(epochs if shuffle else 1)]))


def padding_report(lengths: np.ndarray, batch_size: int, pool: int, *, eval_order: bool) -> dict:
    """Padding waste of length-bucketed vs plain random batches (mean of 5 shuffles)."""
    return {
        "items": int(len(lengths)),
        "batch_size": batch_size,
        "frames_min": int(lengths.min()) if len(lengths) else 0,
        "frames_max": int(lengths.max()) if len(lengths) else 0,
        "random": round(_waste(lengths, batch_size, shuffle=True, bucket=False, pool=pool), 4),
        "bucketed": round(_waste(lengths, batch_size, shuffle=not eval_order, bucket=True, pool=pool), 4),
    }


def synthesize(out_dir: Path, seed: int = 0) -> Path:
    """A small dataset written by `emgrt synth` (its Python API)."""
    try:
        from emgrt.synth.dataset import DatasetConfig, generate_dataset
    except ImportError as exc:  # pragma: no cover - synth is part of the package
        raise ConfigError(f"emgrt synth is unavailable ({exc}); pass --data DIR") from None
    cfg = DatasetConfig(users=SYNTH_USERS, sessions=SYNTH_SESSIONS, minutes=SYNTH_MINUTES, seed=seed)
    generate_dataset(out_dir, cfg, workers=max(1, min(2, os.cpu_count() or 1)), force=True)
    return out_dir


def bench_data(
    data_dir: str | Path | None = None,
    *,
    windows: int = 256,
    cfg: DataConfig | None = None,
    workers: int = 2,
    seed: int = 0,
    rounds: int = 3,
    profile: bool = True,
) -> dict:
    """Run the benchmark; returns the JSON-able report."""
    if windows < 1:
        raise ConfigError(f"--windows must be >= 1, got {windows}")
    if rounds < 1:
        raise ConfigError(f"--rounds must be >= 1, got {rounds}")
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1 for the tuned loader, got {workers}")
    cfg = cfg or DataConfig()
    with tempfile.TemporaryDirectory(prefix="emgrt-bench-data-") as tmp:
        synthesized = data_dir is None
        root = synthesize(Path(tmp), seed) if synthesized else Path(data_dir)
        report = _bench(root, cfg, windows=windows, workers=workers, seed=seed, rounds=rounds, profile=profile)
        report["dataset"]["synthesized"] = synthesized
        if synthesized:
            report["dataset"]["dir"] = (
                f"(temporary: emgrt synth --users {SYNTH_USERS} --sessions {SYNTH_SESSIONS} --minutes {SYNTH_MINUTES})"
            )
        return report


def _median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]


def _bench(root: Path, cfg: DataConfig, *, windows: int, workers: int, seed: int, rounds: int, profile: bool) -> dict:
    from emgrt.train.loader import make_loader  # torch only here

    ds_dir = DatasetDir(root)
    paths = ds_dir.sessions("train")
    train_cfg = cfg.resolve("train", train=True)
    tuned_cfg = train_cfg.with_loader(num_workers=workers)
    probe = WindowedDataset(paths, train_cfg.with_loader(num_workers=0, cache_mb=0), train=True, seed=seed)
    if len(probe) == 0:
        raise ConfigError(f"{root}: the train split has no windows of {train_cfg.window_length} samples")
    rng = np.random.default_rng(seed)
    subset = np.sort(rng.permutation(len(probe))[: min(windows, len(probe))])
    order = rng.permutation(subset)  # the naive loader's plain random batches
    keys = [(int(i), int(probe.index.session[i]), int(probe.index.offset[i])) for i in order]
    batch_size = train_cfg.loader.batch_size

    # naive: warm-up on a few windows (imports, FFT plans, page cache)
    naive = NaiveLoader(paths, keys, train_cfg, seed=seed, epoch=MEASURED_EPOCH, batch_size=batch_size)
    for k in keys[: min(4, len(keys))]:
        naive.item(*k)
    # same items? (same windows, same epoch, same random draws)
    for k in keys[:2]:
        a, b = naive.item(*k), probe.get(k[0], MEASURED_EPOCH)
        if not (np.array_equal(a.features, b.features) and np.array_equal(a.labels, b.labels)):
            raise AssertionError(f"naive and tuned loaders disagree on window {k[0]}")

    # single process: the tuned dataset without workers; its cold pass is epoch 0
    t0 = time.perf_counter()
    single_ds = WindowedDataset(paths, train_cfg.with_loader(num_workers=0), train=True, seed=seed)
    single = make_loader(single_ds, train=True, seed=seed, indices=subset)
    single_cold = _timed("single process (cold)", single)
    single_cold.seconds = time.perf_counter() - t0
    # tuned: the cold pass (epoch 0) includes building the dataset and loader, preloading, starting workers
    t0 = time.perf_counter()
    dataset = WindowedDataset(paths, tuned_cfg, train=True, seed=seed)
    loader = make_loader(dataset, train=True, seed=seed, indices=subset)
    cold = _timed("tuned (cold)", loader)
    cold.seconds = time.perf_counter() - t0

    # measured rounds, interleaved so that background load hits all loaders alike
    runs: dict[str, list[Run]] = {"naive": [], "single_process": [], "tuned": []}
    for _ in range(rounds):
        runs["naive"].append(_timed("naive", naive))
        single.set_epoch(MEASURED_EPOCH)
        runs["single_process"].append(_timed("single process", single))
        loader.set_epoch(MEASURED_EPOCH)
        runs["tuned"].append(_timed("tuned", loader))
    del loader
    med = {k: _median_run(v) for k, v in runs.items()}

    report: dict = {
        "dataset": {"dir": str(root), "train_sessions": len(paths), "train_windows": len(probe)},
        "windows": int(len(subset)),
        "batch_size": batch_size,
        "workers": workers,
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "rounds": rounds,
        "filters": [f.to_dict() for f in train_cfg.filters],
        "naive": med["naive"].to_dict(),
        "single_process": med["single_process"].to_dict(),
        "tuned": med["tuned"].to_dict(),
        "tuned_cold": cold.to_dict(),
        "single_process_cold": single_cold.to_dict(),
        "speedup": round(med["tuned"].windows_per_s / med["naive"].windows_per_s, 2),
        "speedup_cold": round(cold.windows_per_s / med["naive"].windows_per_s, 2),
        "speedup_single_process": round(med["single_process"].windows_per_s / med["naive"].windows_per_s, 2),
        "windows_per_s_all_rounds": {k: [round(r.windows_per_s, 1) for r in v] for k, v in runs.items()},
        # CPU cores that other processes used during the measured rounds (max over rounds); the
        # tuned loader needs every core, so background load understates its speedup
        "background_cpu": max((r.others_cpu or 0.0) for v in runs.values() for r in v),
    }
    if profile:  # where a naive window's time goes (one more pass over a quarter of the windows)
        timings: dict[str, float] = {}
        part = keys[: max(1, len(keys) // 4)]
        prof = NaiveLoader(
            paths, part, train_cfg, seed=seed, epoch=MEASURED_EPOCH, batch_size=batch_size, timings=timings
        )
        t0 = time.perf_counter()
        for w in part:
            prof.item(*w)
        total = time.perf_counter() - t0
        report["naive_ms_per_window"] = {k: round(v / len(part) * 1e3, 3) for k, v in timings.items()}
        report["naive_ms_per_window"]["total"] = round(total / len(part) * 1e3, 3)

    # padding waste: training windows, and whole sessions of the evaluation config
    lc = train_cfg.loader
    report["padding_waste"] = {
        "train_windows": padding_report(probe.lengths, lc.batch_size, lc.bucket_pool, eval_order=False)
    }
    test_cfg = cfg.resolve("test", train=False)
    if not test_cfg.whole_session:
        test_cfg = replace(test_cfg, window_length=0, padding=(0, 0))
    whole = WindowedDataset(ds_dir.all_sessions(), test_cfg, train=False, seed=seed)
    report["padding_waste"]["eval_sessions"] = padding_report(
        whole.lengths, test_cfg.loader.batch_size, test_cfg.loader.bucket_pool, eval_order=True
    )
    report["target_met"] = report["speedup"] >= 3.0
    return report


# -- printing --------------------------------------------------------------------------
def print_report(r: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    ds = r["dataset"]
    console.print(
        f"[bold]emgrt bench data[/]: {r['windows']} training windows of {ds['train_windows']} "
        f"({ds['train_sessions']} train sessions; {ds['dir']}), batch {r['batch_size']}, "
        f"{r['cpus']} CPUs, filters: {len(r['filters'])}"
    )
    t = Table(title="loading throughput (train mode, augmentation on, same windows)")
    for col in ("loader", "windows/s", "MB/s (raw EMG)", "seconds", "vs naive"):
        t.add_column(col, justify="left" if col == "loader" else "right")
    naive_rate = r["naive"]["windows_per_s"]
    rows = [
        ("naive", r["naive"]),
        ("single process", r["single_process"]),
        ("single process, cold", r["single_process_cold"]),
        ("tuned, cold", r["tuned_cold"]),
        ("tuned", r["tuned"]),
    ]
    for name, m in rows:
        t.add_row(
            name,
            f"{m['windows_per_s']:.1f}",
            f"{m['mb_per_s']:.1f}",
            f"{m['seconds']:.2f}",
            f"{m['windows_per_s'] / naive_rate:.2f}x",
        )
    console.print(t)
    console.print(
        f"naive: 1 process, opens and parses the session file for every window; single process: the "
        f"tuned dataset (session cache) without workers; tuned: {r['workers']} workers, prefetch, shared "
        f"session cache, shared-memory batches; cold = first epoch incl. dataset build, cache fill and "
        f"worker start.  Median of {r['rounds']} interleaved rounds; load average {r['load_average']}."
    )
    if r["background_cpu"] > 0.25:
        console.print(
            f"[yellow]warning:[/] other processes used up to {r['background_cpu']:.2f} CPU cores during "
            "the measurement; the tuned loader needs all cores, so its figures are understated"
        )
    verdict = "[green]met[/]" if r["target_met"] else "[red]not met[/]"
    console.print(f"speedup tuned/naive: [bold]{r['speedup']:.2f}x[/] (target >= 3x: {verdict})")
    if "naive_ms_per_window" in r:
        parts = ", ".join(f"{k} {v:.2f}" for k, v in r["naive_ms_per_window"].items())
        console.print(f"naive ms per window: {parts}")
    p = Table(title="padding waste (padded frames / total frames)")
    for col in ("items", "n", "batch", "frames min..max", "random batches", "length-bucketed"):
        p.add_column(col, justify="left" if col == "items" else "right")
    for name, w in r["padding_waste"].items():
        p.add_row(
            name.replace("_", " "),
            str(w["items"]),
            str(w["batch_size"]),
            f"{w['frames_min']}..{w['frames_max']}",
            f"{100 * w['random']:.2f}%",
            f"{100 * w['bucketed']:.2f}%",
        )
    console.print(p)
