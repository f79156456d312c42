"""A whole synthetic dataset: users, dated sessions, splits, rendered in parallel.

The plan (user ids, session names and start times, which users are held out)
is drawn from the dataset seed alone; each session is then rendered from its
own seeds, so the files are identical whatever the number of workers.
Splits follow the emg2qwerty/fairemg protocol: training users give their last
``val_sessions`` sessions to ``generic.val`` and the rest to
``generic.train``; each held-out test user has a personal split (train / val /
test in time order) and their test sessions form ``generic.test``.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np

from emgrt.errors import ConfigError
from emgrt.synth.difficulty import DEFAULT_DIFFICULTY, Difficulty
from emgrt.synth.session import SessionResult, SessionSpec, WrittenSession, stream, synth_session
from emgrt.synth.text import prompt_table

SYNTH_JSON = "synth.json"  # the generation settings, also marks the folder as an emgrt dataset
SESSION_TAG = "keystrokes-emgrt-synth@1"
MIN_MINUTES = 0.1
TAG_PLAN = 301
_EPOCH_START = datetime(2021, 3, 1, tzinfo=timezone.utc).timestamp()
S = TypeVar("S")  # a session spec
R = TypeVar("R", bound=WrittenSession)  # what rendering one session returns
SS = TypeVar("SS", bound="SynthSummary")


@dataclass(frozen=True)
class SynthConfig:
    """The settings every `emgrt synth` task shares (each task's config adds its own)."""

    users: int = 6
    sessions: int = 3  # per user
    minutes: float = 2.0  # per session
    seed: int = 0
    difficulty: float = DEFAULT_DIFFICULTY
    test_users: int = 1  # users held out of generic training
    val_sessions: int = 1  # last sessions of each training user


@dataclass(frozen=True)
class DatasetConfig(SynthConfig):
    """What `emgrt synth` makes."""

    test_sessions: int = 1
    imu: bool = False  # each band's IMU stream too (the optional extension, emgrt.io.imu)

    def validate(self) -> None:
        """Raise ConfigError (one line naming the fix) for impossible settings."""
        if self.users < 1:
            raise ConfigError(f"--users must be at least 1, got {self.users}")
        if self.sessions < 1:
            raise ConfigError(f"--sessions must be at least 1, got {self.sessions}")
        if not self.minutes > 0:
            raise ConfigError(f"--minutes must be > 0, got {self.minutes}")
        if self.minutes < MIN_MINUTES:
            raise ConfigError(f"--minutes {self.minutes} is too short for a prompt; use --minutes >= {MIN_MINUTES}")
        if self.seed < 0:
            raise ConfigError(f"--seed must be >= 0, got {self.seed}")
        if min(self.test_users, self.val_sessions, self.test_sessions) < 0:
            raise ConfigError("--test-users, --val-sessions and --test-sessions must be >= 0")
        Difficulty.from_level(self.difficulty)
        if self.users - self.test_users < 1:
            raise ConfigError(
                f"--users {self.users} leaves no training user after holding out {self.test_users} test "
                f"user(s); use --users >= {self.test_users + 1} or fewer --test-users"
            )
        if self.sessions < self.val_sessions + 1:
            raise ConfigError(
                f"--sessions {self.sessions} leaves training users no training session after "
                f"{self.val_sessions} validation session(s); use --sessions >= {self.val_sessions + 1}"
            )
        need = self.val_sessions + self.test_sessions
        if self.test_users and self.sessions < max(need, 1):
            raise ConfigError(
                f"--sessions {self.sessions} is too few for test users ({self.val_sessions} val + "
                f"{self.test_sessions} test); use --sessions >= {need} or fewer --val-sessions/--test-sessions"
            )

    @property
    def personal_train_sessions(self) -> int:
        """Sessions each test user has for personalization (0: personalized training impossible)."""
        return self.sessions - self.val_sessions - self.test_sessions if self.test_users else 0


@dataclass(frozen=True)
class DatasetPlan:
    config: DatasetConfig
    user_ids: list[str]
    test_users: list[str]
    specs: list[SessionSpec]  # user-major, chronological within a user
    splits: dict


def _user_ids(rng: np.random.Generator, n: int) -> list[str]:
    ids: list[str] = []
    while len(ids) < n:
        uid = str(int(rng.integers(10**7, 10**8)))
        if uid not in ids:
            ids.append(uid)
    return ids


def plan_dataset(cfg: DatasetConfig) -> DatasetPlan:
    """User ids, session names/times and splits, all from ``cfg.seed``."""
    cfg.validate()
    rng = stream(cfg.seed, 0, 0, TAG_PLAN)
    ids = _user_ids(rng, cfg.users)
    test_idx = set(int(i) for i in rng.choice(cfg.users, size=cfg.test_users, replace=False))
    specs: list[SessionSpec] = []
    by_user: dict[str, list[str]] = {}
    for u, uid in enumerate(ids):
        start = _EPOCH_START + rng.uniform(0, 365) * 86400 + rng.uniform(9, 17) * 3600
        names = []
        for s in range(cfg.sessions):
            day = datetime.fromtimestamp(start, tz=timezone.utc).strftime("%Y-%m-%d")
            tag = uuid.UUID(bytes=rng.bytes(16), version=4)
            name = f"{day}-{int(start)}-{SESSION_TAG}-{tag}"
            specs.append(SessionSpec(cfg.seed, u, s, uid, name, round(start, 3), cfg.minutes, cfg.difficulty, cfg.imu))
            names.append(name)
            start += cfg.minutes * 60 + rng.uniform(600, 3 * 86400)
        by_user[uid] = names
    test_users = [ids[i] for i in sorted(test_idx)]
    return DatasetPlan(cfg, ids, test_users, specs, make_splits(cfg, ids, test_users, by_user))


def make_splits(
    cfg: DatasetConfig, user_ids: list[str], test_users: list[str], by_user: dict[str, list[str]]
) -> dict:
    """splits.json for chronologically ordered sessions per user."""
    generic: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    personal: dict[str, dict[str, list[str]]] = {}
    v, t = cfg.val_sessions, cfg.test_sessions
    for uid in user_ids:
        names = by_user[uid]
        if uid in test_users:
            n_train = len(names) - v - t
            personal[uid] = {
                "train": names[:n_train],
                "val": names[n_train : n_train + v],
                "test": names[n_train + v :],
            }
            generic["test"] += personal[uid]["test"]
        else:
            generic["train"] += names[: len(names) - v]
            generic["val"] += names[len(names) - v :]
    return {
        "train_users": [u for u in user_ids if u not in test_users],
        "test_users": list(test_users),
        "generic": generic,
        "personal": personal,
    }


@dataclass(frozen=True)
class SynthSummary:
    """What every `emgrt synth` task reports (each task's summary adds its label counts)."""

    out_dir: str
    users: int
    train_users: int
    test_users: int
    sessions: int
    hours: float
    seconds: float  # wall clock
    realtime_factor: float  # recorded time / wall time
    per_core_realtime_factor: float  # recorded time / summed per-session CPU time (render + write)
    workers: int
    bytes: int
    seed: int
    difficulty: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DatasetSummary(SynthSummary):
    keystrokes: int
    prompts: int


def is_synth_dataset(path: Path) -> bool:
    return any((path / f).exists() for f in (SYNTH_JSON, "metadata.csv", "splits.json"))


def prepare_out_dir(out_dir: str | Path, *, force: bool = False) -> Path:
    """Create ``out_dir``; clear a previous emgrt dataset there; refuse other non-empty folders."""
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{path} exists and is not a folder; pick another OUT_DIR")
    if path.is_dir() and any(path.iterdir()):
        if is_synth_dataset(path):
            old = set(path.glob(f"*-{SESSION_TAG}-*.hdf5"))
            try:
                from emgrt.io.dataset import read_metadata_csv

                old |= {path / f"{r.session}.hdf5" for r in read_metadata_csv(path)}
            except Exception:  # no or broken metadata: the name pattern is enough
                pass
            for f in old:
                f.unlink(missing_ok=True)
        elif not force:
            raise ConfigError(
                f"{path} is not empty and holds no emgrt dataset; pick an empty OUT_DIR or pass --force"
            )
    path.mkdir(parents=True, exist_ok=True)
    return path


def _pool_context() -> mp.context.BaseContext:
    """fork (fast: the word list is already loaded) unless other threads make forking unsafe."""
    safe = "fork" in mp.get_all_start_methods() and threading.active_count() == 1
    return mp.get_context("fork" if safe else "spawn")


def check_workers(workers: int) -> None:
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")


@dataclass(frozen=True)
class SessionRun(Generic[R]):
    """What :func:`render_sessions` did: every job's result, in the order of the specs."""

    results: list[R]
    seconds: float  # wall clock
    workers: int  # the processes used (never more than there are sessions)

    def summary(self, cls: type[SS], out_dir: Path, cfg: SynthConfig, **counts: object) -> SS:
        """The task's summary (``cls``) of this run: the shared fields, plus the task's ``counts``."""
        recorded = sum(r.duration_mins for r in self.results) * 60
        return cls(
            out_dir=str(out_dir),
            users=cfg.users,
            train_users=cfg.users - cfg.test_users,
            test_users=cfg.test_users,
            sessions=len(self.results),
            hours=recorded / 3600,
            seconds=self.seconds,
            realtime_factor=recorded / max(self.seconds, 1e-9),
            per_core_realtime_factor=recorded / max(sum(r.cpu_seconds for r in self.results), 1e-9),
            workers=self.workers,
            bytes=sum(r.nbytes for r in self.results),
            seed=cfg.seed,
            difficulty=cfg.difficulty,
            **counts,
        )


def render_sessions(
    job: Callable[[S, Path], R],
    specs: Sequence[S],
    out_dir: Path,
    *,
    workers: int = 1,
    on_session: Callable[[R], None] | None = None,
    prepare: Callable[[], object] | None = None,
) -> SessionRun[R]:
    """Run ``job(spec, out_dir)`` for every spec: here with one worker, else over a process pool.

    ``job`` renders and writes one session from its spec alone (a picklable module-level
    function), so the files do not depend on ``workers``.  ``on_session`` sees each result as it
    finishes; ``prepare`` runs here first (what it loads, forked workers share).  A failed
    session or Ctrl-C cancels the sessions not started.
    """
    t0 = time.perf_counter()
    results: list[R | None] = [None] * len(specs)
    workers = min(workers, len(specs))
    if prepare:
        prepare()
    if workers == 1:
        for i, spec in enumerate(specs):
            results[i] = res = job(spec, out_dir)
            if on_session:
                on_session(res)
    else:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context())
        try:
            futures = {pool.submit(job, spec, out_dir): i for i, spec in enumerate(specs)}
            for fut in as_completed(futures):
                results[futures[fut]] = res = fut.result()
                if on_session:
                    on_session(res)
        except BaseException:  # Ctrl-C or a failed session: do not render the rest
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
    return SessionRun(results, time.perf_counter() - t0, workers)  # type: ignore[arg-type]


def generate_dataset(
    out_dir: str | Path,
    cfg: DatasetConfig,
    *,
    workers: int = 1,
    force: bool = False,
    on_session: Callable[[SessionResult], None] | None = None,
) -> DatasetSummary:
    """Render every session of ``cfg`` into ``out_dir`` with metadata.csv, splits.json and synth.json."""
    from emgrt.io.dataset import SessionInfo, write_metadata_csv, write_splits

    check_workers(workers)
    plan = plan_dataset(cfg)
    path = prepare_out_dir(out_dir, force=force)
    (path / SYNTH_JSON).write_text(json.dumps({"generator": "emgrt synth", **asdict(cfg)}, indent=2) + "\n")
    # prepare: read the prompts once, before workers fork
    run = render_sessions(synth_session, plan.specs, path, workers=workers, on_session=on_session, prepare=prompt_table)
    ordered = run.results
    write_metadata_csv(
        path,
        [
            SessionInfo(r.spec.user, r.spec.session_name, round(r.duration_mins, 4), r.num_keystrokes, r.num_prompts)
            for r in ordered
        ],
    )
    write_splits(path, plan.splits)
    return run.summary(
        DatasetSummary,
        path,
        cfg,
        keystrokes=sum(r.num_keystrokes for r in ordered),
        prompts=sum(r.num_prompts for r in ordered),
    )
