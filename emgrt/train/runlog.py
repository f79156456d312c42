"""A run's records and how they are shown: metrics.jsonl (append-only, truncated on resume),
curves.png (loss, the task's metric, learning rate) and the training progress bar."""

from __future__ import annotations

import json
import os
from pathlib import Path


class MetricsLog:
    """Append-only JSON lines (rank 0 only); on resume, lines after the checkpoint step are dropped."""

    def __init__(self, path: Path | None) -> None:
        self.path = path

    def truncate_after(self, step: int) -> None:
        if self.path is None or not self.path.exists():
            return
        keep = [
            ln
            for ln in self.path.read_text().splitlines()
            if ln.strip() and json.loads(ln).get("step", 0) <= step
        ]
        self.path.write_text("".join(ln + "\n" for ln in keep))

    def write(self, record: dict) -> None:
        if self.path is None:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")

    def read(self) -> list[dict]:
        if self.path is None or not self.path.exists():
            return []
        return [json.loads(ln) for ln in self.path.read_text().splitlines() if ln.strip()]


METRIC_TITLES = {"cer": ("character error rate", "CER %"), "cler": ("gesture classification error rate", "CLER")}


def curve_panels(metric: str = "cer") -> tuple:
    """curves.png panels: (title, y label, [(record kind, key, line label, matplotlib format)])."""
    title, ylabel = METRIC_TITLES[metric]
    return (
        ("loss", "loss", [("train", "loss", "train", "-"), ("val", "val_loss", "val", "o-")]),
        (title, ylabel, [("train", metric, "train", "-"), ("val", f"val_{metric}", "val", "o-")]),
        ("learning rate", "lr", [("train", "lr", None, "-")]),
    )


def plot_curves(records: list[dict], path: Path, metric: str = "cer") -> Path | None:
    """Train/val loss, the task's metric and learning rate against step, one PNG."""
    by_kind = {kind: [r for r in records if r.get("kind") == kind] for kind in ("train", "val")}
    if not any(by_kind.values()):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = curve_panels(metric)
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4))
    for ax, (title, ylabel, lines) in zip(axes, panels):
        labelled = False
        for kind, key, label, fmt in lines:
            rows = [r for r in by_kind[kind] if key in r]
            if rows:
                ax.plot([r["step"] for r in rows], [r[key] for r in rows], fmt, label=label)
                labelled |= label is not None
        ax.set(xlabel="step", ylabel=ylabel, title=title)
        if labelled:
            ax.legend()
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return path


class TrainProgress:
    """A rich progress bar showing the loss and the task's metric (no-op when disabled)."""

    def __init__(self, total: int, start: int, enabled: bool, metric: str = "cer") -> None:
        self.enabled = enabled
        self.metric = metric
        self.val_metric = float("nan")
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.p = Progress(
            TextColumn("train"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self.p.start()
        self.task = self.p.add_task("train", total=total, completed=start, info="")

    def update(self, step: int, rec: dict | None = None) -> None:
        if not self.enabled:
            return
        if rec is not None:
            m = self.metric
            info = f"loss {rec['loss']:.3f} {m.upper()} {rec[m]:.2f} val {self.val_metric:.2f} {rec['sec_per_step']:.2f}s/step"
            self.p.update(self.task, completed=step, info=info)
        else:
            self.p.update(self.task, completed=step)

    def note(self, val_metric: float) -> None:
        self.val_metric = val_metric

    def close(self) -> None:
        if self.enabled:
            self.p.stop()
