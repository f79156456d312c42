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
    from emgrt.io.recording import recording_format

    if recording_format(paths[0]) == "gni":
        return gni_stats(root, paths)
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


def gni_stats(root: Path, paths: list[Path]) -> dict:
    """A generic-neuromotor-interface folder: hours, users, recordings, labels (gestures, or the
    prompts and their characters), the label histogram and the corpus CSV's partitions per split."""
    from rich.progress import track

    from emgrt.data.sources import gni_user
    from emgrt.io.gni import read_corpus
    from emgrt.io.recording import open_recording

    hist: Counter[str] = Counter()
    users: Counter[str] = Counter()
    seconds, n_labels, kinds = 0.0, 0, set()
    for path in track(paths, description="reading", transient=True, disable=not sys.stderr.isatty()):
        with open_recording(path) as rec:
            seconds += float(rec.time[-1] - rec.time[0])
            users[gni_user(path.stem) or "?"] += 1
            n_labels += len(rec.markers)
            kinds.add(rec.marker_kind)
            hist.update(rec.markers if rec.marker_kind == "gestures" else "".join(rec.markers))
    kind = "/".join(sorted(kinds))
    out: dict = {"dir": str(root), "sessions": len(paths), "users": len(users), "hours": seconds / 3600.0,
                 "labels": n_labels, "label_kind": kind, "labels_per_second": n_labels / seconds if seconds else 0.0,
                 "sessions_per_user": dict(sorted(users.items())), "class_histogram": dict(hist.most_common())}
    corpora = sorted(root.glob("*_corpus.csv"))
    if corpora:
        parts = read_corpus(corpora[0])
        out["splits"] = {f"{s}_partitions": sum(p.split == s for p in parts) for s in ("train", "val", "test")}
    return out


def print_stats(stats: dict, top: int = 20) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    t = Table(title=f"dataset {stats['dir']}", show_header=False)
    keys = ("sessions", "users", "hours", "keystrokes", "keystrokes_out_of_vocabulary", "keys_per_second")
    if "labels" in stats:  # a GNI folder
        keys = ("sessions", "users", "hours", "label_kind", "labels", "labels_per_second")
    for key in keys:
        v = stats[key]
        t.add_row(key.replace("_", " "), f"{v:.3f}" if isinstance(v, float) else str(v))
    for key, v in stats.get("splits", {}).items():
        t.add_row(f"split {key.replace('_', ' ')}", str(v))
    console.print(t)
    h = Table(title=f"top {top} {'key' if 'keystrokes' in stats else 'label'} classes")
    h.add_column("key" if "keystrokes" in stats else "label")
    h.add_column("count", justify="right")
    h.add_column("share", justify="right")
    total = max(sum(stats["class_histogram"].values()), 1)
    for c, n in list(stats["class_histogram"].items())[:top]:
        h.add_row(glyph(c), str(n), f"{100 * n / total:.1f}%")
    console.print(h)
