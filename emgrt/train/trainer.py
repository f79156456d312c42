"""The training loop: AdamW + warmup/cosine, the task's loss, validation with the task's metric
(greedy CER for the CTC tasks, CLER for gestures), atomic checkpoints, exact resume,
metrics.jsonl and PNG curves.

The loop is task-agnostic: the recipe's task (emgrt.tasks) gives an
:class:`~emgrt.train.objective.Objective` (loss, decoding, metric), and everything here goes
through it.

Rank-aware from the start (``rank``/``world_size``; only rank 0 writes files or draws progress)
so DDP, profiling and distillation can be added around :meth:`Trainer.train_step` and
:meth:`Trainer.loss` without changing the loop.

Exact resume.  A checkpoint holds the model, optimizer, scheduler, the global RNG states, the
epoch, the batches already used in it, and the RNG state the data iterator was created under (one
endless iterator for an emgrt loader, ``run_from``; else one iterator per epoch).  Iterators are
always created under a given RNG state and the live state is put back afterwards, so creating them
never shifts the random numbers training draws (dropout); resuming re-creates the iterator the
same way, skips the used batches (in the sampler, without loading them, for an emgrt loader) and
continues with the saved state, giving the same next loss as the uninterrupted run.  This holds for loaders whose
randomness is fixed when the epoch's iterator starts (shuffle seed, worker seeds) or keyed by
``set_epoch`` and the item index (emgrt.train.loader); a dataset drawing augmentations from the
global RNG in the training process would need its batches replayed.
"""

from __future__ import annotations

import ctypes
import itertools
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from emgrt.tasks import task_spec
from emgrt.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, seed_everything, set_rng_state
from emgrt.train.dist import any_rank, mean_over_ranks, wrap_ddp
from emgrt.train.model import ModelConfig, StreamingCTCModel
from emgrt.train.objective import (  # noqa: F401  (ctc helpers re-exported for their users)
    Objective,
    Score,
    ctc_infeasible,
    ctc_loss,
    greedy_ctc_decode,
    make_objective,
)
from emgrt.train.outputs import context_outputs, drop_leading, model_outputs, runnable_batch  # noqa: F401
from emgrt.train.profile import StepProfiler
from emgrt.train.recipe import Recipe, model_config_from_dict
from emgrt.train.rnn import RecurrentModel, RNNConfig
from emgrt.train.runlog import METRIC_TITLES, MetricsLog, TrainProgress, curve_panels, plot_curves  # noqa: F401
from emgrt.train.schedule import WarmupCosine, make_scheduler
from emgrt.train.tds import TDSConfig, TDSConvCTC

METRICS_FILE = "metrics.jsonl"
LAST = "last.pt"
BEST = "best.pt"
CURVES = "curves.png"


# ----------------------------------------------------------------------------------------------
# Small utilities
# ----------------------------------------------------------------------------------------------


def keep_freed_memory() -> bool:
    """glibc: keep freed memory in the heap instead of returning it to the OS.  A CPU training
    step allocates and frees hundreds of MB; returning them costs page faults on every step
    (about 0.5 s of a 1.8 s tiny step measured on this 2-core machine).  Process-wide; call it
    from a training entry point, not from library code.  Returns whether it applied."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(-4, 0) and libc.mallopt(-1, 1 << 30))  # M_MMAP_MAX, M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        return False


def iter_under_rng(loader: Iterable, state: dict | None = None) -> Iterator:
    """``iter(loader)`` and its first batch made under RNG ``state`` (default: the current one),
    leaving the live RNG state untouched.  A DataLoader draws its worker base seed when the
    iterator is made and a shuffling sampler its permutation seed when the first batch is
    fetched; both now come from ``state`` and never shift what training draws afterwards."""
    live = rng_state()
    if state is not None:
        set_rng_state(state)
    try:
        it = iter(loader)
        try:
            first = next(it)
        except StopIteration:
            return iter(())
    finally:
        set_rng_state(live)
    return itertools.chain([first], it)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay on matrices/kernels only (not biases, norms, relative-position biases)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or name.endswith("rel_bias") else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if isinstance(v, Tensor) else v for k, v in batch.items()}


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    *,
    skip_context: bool = True,
    device: str | torch.device = "cpu",
    max_batches: int = 0,
    objective: Objective | None = None,
) -> dict:
    """Mean loss (per item) and the corpus metric of ``model`` over ``loader``: the task's
    ``objective`` (default typing: CTC loss, greedy CER).  The result names the metric
    (``"cer"`` or ``"cler"``) and also gives it as ``"metric"``; ``"counts"`` are its counts.
    The one evaluation loop: the trainer's validation and ``emgrt eval`` (any decoder, through
    :class:`~emgrt.train.objective.DecoderObjective`).  Batches too short for the model's first
    output are padded so the forward runs (:func:`runnable_batch`)."""
    if objective is None:
        objective = make_objective(task_spec("typing"), model, skip_context)
    was_training = model.training
    model.eval()
    score = objective.empty()
    loss_sum, items, batches = 0.0, 0, 0
    t0 = time.perf_counter()
    for batch in iter_under_rng(loader):
        batch = to_device(batch, torch.device(device))
        log_probs, lengths = model_outputs(model, runnable_batch(batch, model), skip_context)
        n = int(batch["feature_lengths"].shape[0])
        loss_sum += float(objective.loss(log_probs, lengths, batch)) * n
        items += n
        score = score + objective.score(log_probs, lengths, batch)
        batches += 1
        if max_batches and batches >= max_batches:
            break
    model.train(was_training)
    return {
        "loss": loss_sum / max(items, 1),
        objective.metric: score.value,
        "metric": score.value,
        "score": score,
        "counts": score.counts,
        "items": items,
        "infeasible": score.infeasible,
        "seconds": time.perf_counter() - t0,
    }


# ----------------------------------------------------------------------------------------------
# Trainer
# ----------------------------------------------------------------------------------------------


class Trainer:
    """Owns the model, optimizer, schedule and loop state; ``fit()`` runs the recipe."""

    def __init__(
        self,
        recipe: Recipe,
        model: nn.Module,
        train_loader: Iterable,
        val_loader: Iterable | None = None,
        out_dir: str | Path | None = None,
        *,
        rank: int = 0,
        world_size: int = 1,
        device: str | torch.device = "cpu",
        max_minutes: float | None = None,
        progress: bool | None = None,
        log: Callable[[str], None] | None = None,
        profile: int = 0,
    ) -> None:
        self.recipe = recipe
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.module = getattr(model, "module", model)  # unwrapped (DDP later)
        self.train_loader, self.val_loader = train_loader, val_loader
        self.rank, self.world_size = rank, world_size
        self.is_main = rank == 0
        self.out_dir = Path(out_dir) if out_dir is not None else None
        if self.out_dir is not None and self.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        tc, oc = recipe.train, recipe.optim
        self.total_steps = tc.max_steps or tc.epochs * len(train_loader)  # type: ignore[arg-type]
        self.max_minutes = tc.max_minutes if max_minutes is None else max_minutes
        self.optimizer = torch.optim.AdamW(
            param_groups(self.model, oc.weight_decay), lr=oc.lr, betas=oc.betas, eps=oc.eps
        )
        self.scheduler = make_scheduler(self.optimizer, self.total_steps, oc.warmup_frac, oc.min_lr_ratio)
        self.objective = make_objective(recipe.spec, self.module, recipe.train.skip_context_outputs)
        self.metric = self.objective.metric  # "cer" or "cler"
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.epoch_rng: dict | None = None
        self.best_metric = math.inf
        self.last_val: dict | None = None
        self.metrics = MetricsLog(
            self.out_dir / METRICS_FILE if self.out_dir is not None and self.is_main else None
        )
        interactive = sys.stderr.isatty()
        self.progress = (interactive if progress is None else progress) and self.is_main
        self._log = log if log is not None else (lambda s: print(s, file=sys.stderr, flush=True))
        self.profile_steps = profile  # --profile: steps to capture (emgrt.train.profile)
        self.profiler = StepProfiler(None)  # a no-op until fit() starts a capture

    def log(self, msg: str) -> None:
        if self.is_main:
            self._log(msg)

    # -- one step ----------------------------------------------------------------------------
    def forward(self, batch: dict) -> tuple[Tensor, Tensor]:
        return model_outputs(self.model, batch, self.recipe.train.skip_context_outputs)

    def loss(self, batch: dict, log_probs: Tensor, lengths: Tensor) -> Tensor:
        """The task's training loss (distillation adds its term here)."""
        return self.objective.loss(log_probs, lengths, batch)

    def train_step(self, batch: dict) -> dict:
        self.model.train()
        phase = self.profiler.phase
        bf16 = self.recipe.train.precision == "bf16"
        with phase("forward"), torch.autocast(torch.device(self.device).type, dtype=torch.bfloat16, enabled=bf16):
            batch = to_device(batch, self.device)
            log_probs, lengths = self.forward(batch)
            loss = self.loss(batch, log_probs, lengths)
        with phase("backward"):
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        with phase("optimizer"):
            clip = self.recipe.optim.grad_clip
            if clip > 0:
                grad_norm = float(nn.utils.clip_grad_norm_(self.model.parameters(), clip))
            else:
                grad_norm = float(
                    torch.norm(
                        torch.stack([p.grad.norm() for p in self.model.parameters() if p.grad is not None])
                    )
                )
            lr = self.optimizer.param_groups[0]["lr"]
            self.optimizer.step()
            self.scheduler.step()
        with torch.no_grad():
            score = self.objective.score(log_probs.detach(), lengths, batch)
        return {
            "loss": mean_over_ranks(float(loss.detach())),  # DDP: the global batch's loss
            "lr": lr,
            "grad_norm": grad_norm,
            "score": score,
            "items": int(batch["feature_lengths"].shape[0]),
        }

    def evaluate(self, loader: Iterable, max_batches: int = 0) -> dict:
        return evaluate(
            self.module,  # unwrapped: no DDP collectives, every rank may validate on its own
            loader,
            skip_context=self.recipe.train.skip_context_outputs,
            device=self.device,
            max_batches=max_batches,
            objective=self.objective,
        )

    # -- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "model_config": self.module.cfg.to_dict(),
            "recipe": self.recipe.to_dict(),
            "model": self.module.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": rng_state(),
            "epoch_rng": self.epoch_rng,
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "total_steps": self.total_steps,
            "metric": self.metric,
            "best_metric": self.best_metric,
        }

    def load_state_dict(self, ckpt: dict) -> None:
        self.module.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        # LambdaLR restores its schedule object from the checkpoint; keep this run's (the recipe
        # may have changed its length) and set the next update's lr from it
        oc = self.recipe.optim
        schedule = WarmupCosine(self.total_steps, oc.warmup_frac, oc.min_lr_ratio)
        self.scheduler.lr_lambdas = [schedule] * len(self.optimizer.param_groups)
        for group, base in zip(self.optimizer.param_groups, self.scheduler.base_lrs):
            group["lr"] = base * schedule(self.scheduler.last_epoch)
        self.step, self.epoch, self.batch_in_epoch = ckpt["step"], ckpt["epoch"], ckpt["batch_in_epoch"]
        self.epoch_rng = ckpt["epoch_rng"]
        self.best_metric = ckpt["best_metric"] if "best_metric" in ckpt else ckpt["best_cer"]  # older runs
        set_rng_state(ckpt["rng"])

    def save(self, name: str = LAST) -> Path | None:
        if self.out_dir is None or not self.is_main:
            return None
        return save_checkpoint(self.out_dir / name, self.state_dict())

    def resume(self, path: str | Path | None = None) -> None:
        path = Path(path) if path is not None else self.out_dir / LAST  # type: ignore[operator]
        ckpt = load_checkpoint(path, map_location=self.device)
        if ckpt["total_steps"] != self.total_steps:
            self.log(f"resume: schedule was sized for {ckpt['total_steps']} steps, now {self.total_steps}")
        self.load_state_dict(ckpt)
        self.metrics.truncate_after(self.step)
        self.log(f"resumed from {path} at step {self.step} (epoch {self.epoch}, batch {self.batch_in_epoch})")

    # -- the loop ----------------------------------------------------------------------------
    def _validate_and_save(self) -> dict | None:
        result = None
        if self.val_loader is not None:
            result = self.evaluate(self.val_loader, self.recipe.train.val_max_batches)
            m = self.metric
            self.metrics.write(
                {
                    "kind": "val",
                    "step": self.step,
                    "epoch": self.epoch,
                    "val_loss": result["loss"],
                    f"val_{m}": result["metric"],
                    **{f"val_{k}": v for k, v in result["score"].details().items()},
                    "val_items": result["items"],
                    "val_infeasible": result["infeasible"],
                    "val_seconds": result["seconds"],
                    "time": time.time(),
                }
            )
            self.log(f"step {self.step}: val loss {result['loss']:.4f}  val {m.upper()} {result['metric']:.2f}")
            self.last_val = result
            if result["metric"] < self.best_metric:
                self.best_metric = result["metric"]
                self.save(BEST)
        self.save(LAST)
        return result

    def fit(self, resume: bool = False, stop_at_step: int | None = None) -> dict:
        """Train to ``total_steps`` (or the time budget, or ``stop_at_step``), validating every
        ``val_every`` steps (or each epoch) and at the end; returns a summary dict."""
        tc = self.recipe.train
        if resume:
            self.resume()
        elif self.out_dir is not None and self.is_main and self.metrics.path is not None:
            self.metrics.path.write_text("")
        t_start = time.monotonic()
        deadline = t_start + 60 * self.max_minutes if self.max_minutes else math.inf
        stop_reason = "done"
        window: list[dict] = []
        last_val_step = -1
        n_batches = len(self.train_loader)  # type: ignore[arg-type]
        if n_batches == 0:
            raise RuntimeError("the training loader yields no batches")
        bar = TrainProgress(self.total_steps, self.step, enabled=self.progress, metric=self.metric)
        self.profiler = StepProfiler(
            self.out_dir, self.profile_steps, start_step=self.step, write=self.is_main, log=self.log
        )
        # An emgrt loader (run_from) gives one endless iterator from the current batch on, so its
        # workers prefetch across epoch boundaries (a new iterator per epoch left them idle until
        # it was asked for: a wait at every epoch start, found with --profile); any other
        # iterable gets a new iterator per epoch.
        endless = hasattr(self.train_loader, "run_from")
        it: Iterator | None = None
        try:
            while self.step < self.total_steps:
                t_iter = time.perf_counter()
                if endless and it is None:
                    if self.epoch_rng is None:
                        self.epoch_rng = rng_state()
                    with self.profiler.phase("dataloader"):  # the first batch
                        it = iter_under_rng(
                            self.train_loader.run_from(self.epoch, self.batch_in_epoch),  # type: ignore[attr-defined]
                            self.epoch_rng,
                        )
                elif not endless:
                    if hasattr(self.train_loader, "set_epoch"):
                        self.train_loader.set_epoch(self.epoch)
                    resuming_mid_epoch = self.batch_in_epoch > 0
                    if not resuming_mid_epoch:
                        self.epoch_rng = rng_state()
                    with self.profiler.phase("dataloader"):  # worker start-up and the first batch
                        it = iter_under_rng(self.train_loader, self.epoch_rng)
                        for _ in range(self.batch_in_epoch):  # resume: the batches already used
                            next(it)
                assert it is not None
                start_wait = time.perf_counter() - t_iter  # counted in the epoch's first step
                stopped = exhausted = False
                while self.step < self.total_steps:
                    t0 = time.perf_counter()
                    try:
                        with self.profiler.phase("dataloader"):
                            batch = next(it)
                    except StopIteration:
                        exhausted = True
                        break
                    t1 = time.perf_counter()
                    out = self.train_step(batch)
                    t2 = time.perf_counter()
                    self.step += 1
                    self.batch_in_epoch += 1
                    out.update(data_wait=t1 - t0 + start_wait, step_time=t2 - t1)
                    start_wait = 0.0
                    window.append(out)
                    if self.step % tc.log_every == 0 or self.step == self.total_steps:
                        rec = self._train_record(window)
                        self.metrics.write(rec)
                        bar.update(self.step, rec)
                        if not self.progress:
                            self.log(
                                f"step {self.step}/{self.total_steps} loss {rec['loss']:.4f} "
                                f"{self.metric.upper()} {rec[self.metric]:.2f} "
                                f"lr {rec['lr']:.2e} {rec['sec_per_step']:.2f} s/step wait {rec['data_wait']:.2f} s"
                            )
                        window = []
                    else:
                        bar.update(self.step)
                    self.profiler.step()
                    if tc.val_every and self.step % tc.val_every == 0:
                        val = self._validate_and_save()
                        last_val_step = self.step
                        if val is not None:
                            bar.note(val["metric"])
                    if deadline < math.inf and any_rank(time.monotonic() > deadline):  # DDP: all stop
                        stop_reason, stopped = "time budget", True
                        break
                    if stop_at_step is not None and self.step >= stop_at_step:
                        stop_reason, stopped = "stop_at_step", True
                        break
                    if self.batch_in_epoch >= n_batches:
                        break
                if exhausted and self.batch_in_epoch == 0:
                    raise RuntimeError("the training loader yielded no batches this epoch")
                if exhausted or self.batch_in_epoch >= n_batches:  # epoch complete
                    self.epoch += 1
                    self.batch_in_epoch = 0
                    if not tc.val_every and self.step != last_val_step:
                        val = self._validate_and_save()
                        last_val_step = self.step
                        if val is not None:
                            bar.note(val["metric"])
                if stopped:
                    break
        finally:
            bar.close()
            self.profiler.close()
        if window:
            self.metrics.write(self._train_record(window))
        if self.step != last_val_step:
            self._validate_and_save()
        else:
            self.save(LAST)
        if self.is_main and self.out_dir is not None:
            try:
                plot_curves(self.metrics.read(), self.out_dir / CURVES, self.metric)
            except Exception as exc:  # plotting must never lose a run
                self.log(f"curves not written: {exc}")
        summary = {
            "step": self.step,
            "epoch": self.epoch,
            "total_steps": self.total_steps,
            "stopped": stop_reason,
            "task": self.recipe.task,
            f"best_val_{self.metric}": self.best_metric,
            "minutes": (time.monotonic() - t_start) / 60,
        }
        if self.last_val is not None:
            summary.update({"val_loss": self.last_val["loss"], f"val_{self.metric}": self.last_val["metric"]})
        return summary

    def _train_record(self, window: list[dict]) -> dict:
        score = self.objective.empty()
        for w in window:
            score = score + w["score"]
        n = len(window)
        step_time = sum(w["step_time"] for w in window) / n
        wait = sum(w["data_wait"] for w in window) / n
        return {
            "kind": "train",
            "step": self.step,
            "epoch": self.epoch,
            "loss": sum(w["loss"] for w in window) / n,
            self.metric: score.value,
            "lr": window[-1]["lr"],
            "grad_norm": sum(w["grad_norm"] for w in window) / n,
            "sec_per_step": step_time,
            "data_wait": wait,
            "items_per_sec": sum(w["items"] for w in window)
            / max(sum(w["step_time"] + w["data_wait"] for w in window), 1e-9),
            "infeasible": score.infeasible,
            "time": time.time(),
        }


# ----------------------------------------------------------------------------------------------
# Building from a recipe / checkpoint
# ----------------------------------------------------------------------------------------------


def build_model(cfg: ModelConfig | TDSConfig | RNNConfig) -> nn.Module:
    """The model of a config: the streaming transformer, the TDS-ConvNet baseline or the LSTM."""
    if isinstance(cfg, RNNConfig):
        return RecurrentModel(cfg)
    return TDSConvCTC(cfg) if isinstance(cfg, TDSConfig) else StreamingCTCModel(cfg)


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """A checkpoint's model (eval mode) and the checkpoint dict.  ``path`` may be a run directory
    (its best.pt, else last.pt)."""
    path = Path(path)
    if path.is_dir():
        path = path / BEST if (path / BEST).exists() else path / LAST
    ckpt = load_checkpoint(path, map_location=map_location)
    model = build_model(model_config_from_dict(ckpt["model_config"]))
    model.load_state_dict(ckpt["model"])
    return model.eval(), ckpt


def set_threads(threads: int = 0) -> int:
    n = threads or os.cpu_count() or 1
    torch.set_num_threads(n)
    return n


def train_from_recipe(
    recipe: Recipe,
    data_dir: str | Path,
    out_dir: str | Path,
    *,
    resume: bool = False,
    max_minutes: float | None = None,
    seed: int | None = None,
    rank: int = 0,
    world_size: int = 1,
    progress: bool | None = None,
    device: str | torch.device = "cpu",
    user: str | None = None,
    init_state: dict | None = None,
    make_trainer: Callable[..., Trainer] | None = None,
    info: dict | None = None,
    profile: int = 0,
) -> dict:
    """``emgrt train``: loaders from the [data] table, model from [model], then :meth:`Trainer.fit`.

    ``user``: that user's personal train/val splits (``emgrt finetune``); ``init_state``: initial
    model weights; ``make_trainer``: a Trainer subclass or factory taking Trainer's arguments
    (``emgrt distill``); ``info``: extra entries for run.json.  With ``world_size > 1`` (a process
    group already initialised, emgrt.train.dist) the model is wrapped in DDP, the training loader
    shards by rank and every rank validates on the whole val split (identical decisions)."""
    from emgrt.train.loader import build_loader

    seed = recipe.train.seed if seed is None else seed
    set_threads(recipe.train.threads)
    seed_everything(seed)
    data_cfg = recipe.data_cfg
    spec = recipe.spec
    train_loader = build_loader(
        data_cfg, data_dir, "train", user, train=True, rank=rank, world_size=world_size, seed=seed, task=spec
    )
    val_loader = build_loader(data_cfg, data_dir, "val", user, train=False, seed=seed, task=spec)
    model = build_model(recipe.model)
    if init_state is not None:
        model.load_state_dict(init_state)
    num_params = model.num_params
    model = wrap_ddp(model, device) if world_size > 1 else model
    out_dir = Path(out_dir)
    trainer = (make_trainer or Trainer)(
        recipe,
        model,
        train_loader,
        val_loader,
        out_dir,
        rank=rank,
        world_size=world_size,
        device=device,
        max_minutes=max_minutes,
        progress=progress,
        profile=profile,
    )
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        info: dict[str, Any] = {
            "recipe": recipe.to_dict(),
            "task": recipe.task,
            "data_dir": str(data_dir),
            "seed": seed,
            "params": num_params,
            "train_batches_per_epoch": len(train_loader),
            "total_steps": trainer.total_steps,
            "threads": torch.get_num_threads(),
            "world_size": world_size,
            "user": user,
            "train_sessions": _session_names(train_loader),
            "val_sessions": _session_names(val_loader),
            **(info or {}),
        }
        (out_dir / "run.json").write_text(json.dumps(info, indent=2) + "\n")
    trainer.log(
        f"{recipe.name or 'recipe'} ({recipe.task}): {num_params / 1e6:.2f}M params, {len(train_loader)} batches/epoch, "
        f"{trainer.total_steps} steps"
    )
    return trainer.fit(resume=resume)


def _session_names(loader: Any) -> list[str]:
    """Names of the session files a loader's dataset reads (for run.json)."""
    sessions = getattr(getattr(loader, "dataset", None), "sessions", None) or []
    return [Path(getattr(sf, "path", sf)).stem for sf in sessions]
