"""Dataset summaries for `emgrt data stats`."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from emgrt.charset import glyph
from emgrt.errors import DataFileError
from emgrt.io.dataset import SPLITS_JSON, read_splits
from emgrt.io.session import SessionFile


def dataset_stats(root: Path) -> dict:
    """Hours, users, sessions, keystrokes and the key-class histogram of every session in ``root``."""
    from rich.progress import track

    paths = sorted(root.glob("*.hdf5"))
    if not paths:
        raise DataFileError(root, "no .hdf5 session files", "run `emgrt synth DIR` first")
    hist: Counter[str] = Counter()
    users: Counter[str] = Counter()
    seconds = 0.0
    n_keys = n_dropped = 0
    for path in track(paths, description="reading", transient=True, disable=not sys.stderr.isatty()):
        with SessionFile(path) as s:
            dur = float(s.time[-1] - s.time[0])
            seconds += dur
            users[s.user] += 1
            n_keys += len(s.key_labels)
            n_dropped += len(s.keystrokes) - len(s.key_labels)
            hist.update(s.charset.labels_to_str(s.key_labels))
    out = {
        "dir": str(root),
        "sessions": len(paths),
        "users": len(users),
        "hours": seconds / 3600.0,
        "keystrokes": n_keys,
        "keystrokes_out_of_vocabulary": n_dropped,
        "keys_per_second": n_keys / seconds if seconds else 0.0,
        "sessions_per_user": dict(sorted(users.items())),
        "class_histogram": dict(hist.most_common()),
    }
    if (root / SPLITS_JSON).exists():
        splits = read_splits(root)
        out["splits"] = {
            "train_users": len(splits.get("train_users", [])),
            "test_users": len(splits.get("test_users", [])),
            **{f"generic_{k}": len(v) for k, v in splits["generic"].items()},
            "personal_users": len(splits["personal"]),
        }
    return out


def print_stats(stats: dict, top: int = 20) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    t = Table(title=f"dataset {stats['dir']}", show_header=False)
    for key in ("sessions", "users", "hours", "keystrokes", "keystrokes_out_of_vocabulary", "keys_per_second"):
        v = stats[key]
        t.add_row(key.replace("_", " "), f"{v:.3f}" if isinstance(v, float) else str(v))
    for key, v in stats.get("splits", {}).items():
        t.add_row(f"split {key.replace('_', ' ')}", str(v))
    console.print(t)
    h = Table(title=f"top {top} key classes")
    h.add_column("key")
    h.add_column("count", justify="right")
    h.add_column("share", justify="right")
    total = max(stats["keystrokes"], 1)
    for c, n in list(stats["class_histogram"].items())[:top]:
        h.add_row(glyph(c), str(n), f"{100 * n / total:.1f}%")
    console.print(h)
