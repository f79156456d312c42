"""A dataset folder: session files, ``metadata.csv`` and ``splits.json``.

``metadata.csv`` has emg2qwerty's columns (user, session, duration_mins,
num_keystrokes, num_prompts, quality_check_tags).  ``splits.json`` follows the
paper's protocol::

    {"train_users": [...], "test_users": [...],
     "generic":  {"train": [sessions], "val": [...], "test": [...]},
     "personal": {"<test user>": {"train": [...], "val": [...], "test": [...]}}}

``generic.test`` holds the test users' *test* sessions, so cross-user and
personalized CER are measured on the same recordings.  Session names are file
stems: ``<dir>/<session>.hdf5``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from emgrt.errors import DataFileError
from emgrt.io.atomic import atomic_write_text

METADATA_CSV = "metadata.csv"
SPLITS_JSON = "splits.json"
SPLIT_NAMES = ("train", "val", "test")


@dataclass(frozen=True)
class SessionInfo:
    """One row of metadata.csv."""

    user: str
    session: str
    duration_mins: float
    num_keystrokes: int
    num_prompts: int
    quality_check_tags: str = ""


def write_metadata_csv(dataset_dir: str | Path, rows: list[SessionInfo]) -> Path:
    path = Path(dataset_dir) / METADATA_CSV
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=[f.name for f in fields(SessionInfo)], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(asdict(row))
    atomic_write_text(path, buf.getvalue())
    return path


def read_metadata_csv(dataset_dir: str | Path) -> list[SessionInfo]:
    path = Path(dataset_dir) / METADATA_CSV
    if not path.exists():
        raise DataFileError(path, "no metadata.csv", "is this a dataset folder made by `emgrt synth`?")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        need = {"user", "session"}
        if not reader.fieldnames or not need <= set(reader.fieldnames):
            raise DataFileError(path, f"needs columns user and session, has {reader.fieldnames}")
        out = []
        for i, r in enumerate(reader, start=2):
            try:
                out.append(
                    SessionInfo(
                        user=r["user"],
                        session=r["session"],
                        duration_mins=float(r.get("duration_mins") or 0.0),
                        num_keystrokes=int(float(r.get("num_keystrokes") or 0)),
                        num_prompts=int(float(r.get("num_prompts") or 0)),
                        quality_check_tags=r.get("quality_check_tags") or "",
                    )
                )
            except ValueError as exc:
                raise DataFileError(path, f"line {i}: {exc}") from None
    return out


def write_splits(dataset_dir: str | Path, splits: dict) -> Path:
    path = Path(dataset_dir) / SPLITS_JSON
    atomic_write_text(path, json.dumps(splits, indent=2) + "\n")
    return path


def read_splits(dataset_dir: str | Path) -> dict:
    path = Path(dataset_dir) / SPLITS_JSON
    if not path.exists():
        raise DataFileError(path, "no splits.json", "make one with `emgrt synth` or write it by hand")
    try:
        splits = json.loads(path.read_text())
    except ValueError as exc:
        raise DataFileError(path, f"not valid JSON ({exc})") from None
    for key in ("generic", "personal"):
        if not isinstance(splits.get(key), dict):
            raise DataFileError(path, f"missing object '{key}'")
    for name in SPLIT_NAMES:
        if not isinstance(splits["generic"].get(name), list):
            raise DataFileError(path, f"generic.{name} must be a list of session names")
    return splits


class DatasetDir:
    """A dataset folder: resolves split names to session file paths."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataFileError(self.root, "not a directory", "pass the folder `emgrt synth` wrote")
        self.splits = read_splits(self.root)

    def session_path(self, session: str) -> Path:
        return self.root / f"{session}.hdf5"

    def sessions(self, split: str, user: str | None = None) -> list[Path]:
        """Paths of the sessions in ``split`` (train/val/test): generic, or one test user's personal split."""
        if split not in SPLIT_NAMES:
            raise DataFileError(self.root / SPLITS_JSON, f"unknown split '{split}'", f"use one of {SPLIT_NAMES}")
        if user is None:
            names = self.splits["generic"][split]
        else:
            personal = self.splits["personal"]
            if user not in personal:
                raise DataFileError(
                    self.root / SPLITS_JSON,
                    f"no personal split for user '{user}'",
                    f"users with one: {', '.join(sorted(personal)) or 'none'}",
                )
            names = personal[user][split]
        paths = [self.session_path(n) for n in names]
        missing = [p.name for p in paths if not p.exists()]
        if missing:
            raise DataFileError(self.root, f"{len(missing)} session files of split '{split}' missing, e.g. {missing[0]}")
        return paths

    def all_sessions(self) -> list[Path]:
        return sorted(self.root.glob("*.hdf5"))
