"""Tiny on-disk datasets for the data-pipeline tests (random EMG + random keystrokes)."""

from __future__ import annotations

import json
import string
from pathlib import Path

import h5py
import numpy as np

from emgrt.constants import SAMPLE_RATE_HZ
from emgrt.io.dataset import write_splits
from emgrt.io.session import SessionFile, write_session

T0 = 1_700_000_000.0
KEYS = ["a", "b", "Key.space", "Key.shift", "C", "Key.backspace", "7", "?", "Key.enter", "Key.tab"]


def write_fixture_session(
    path: Path, n: int, seed: int, keys_per_s: float = 3.0, user: str = "u0", emg: np.ndarray | None = None
) -> Path:
    """Session of ``n`` samples; keystrokes at random times (some exactly on sample times)."""
    rng = np.random.default_rng(seed)
    time = T0 + seed * 1000.0 + np.arange(n) / SAMPLE_RATE_HZ
    if emg is None:
        emg = rng.standard_normal((n, 2, 16)).astype(np.float32)
    n_keys = int(keys_per_s * n / SAMPLE_RATE_HZ)
    press = np.sort(rng.uniform(time[0], time[-1], n_keys))
    # presses exactly on the first and the last sample of windows (window starts are multiples of
    # 2000 samples in the label tests) check that both ends of the label span are inclusive
    k = len(press[::3])
    edges = 2000 * rng.integers(1, max(2, n // 2000), k) - rng.integers(0, 2, k)
    press[::3] = time[np.clip(edges, 0, n - 1)]
    press.sort()
    keystrokes = [{"key": str(rng.choice(KEYS)), "start": float(t), "end": float(t) + 0.05} for t in press]
    return write_session(
        path,
        time=time,
        emg_left=np.ascontiguousarray(emg[:, 0]),
        emg_right=np.ascontiguousarray(emg[:, 1]),
        keystrokes=keystrokes,
        prompts=[],
        session_name=path.stem,
        user=user,
    )


def make_dataset(root: Path, lengths=(21_000, 9_000, 33_000, 12_500), seed: int = 0) -> Path:
    """Dataset folder: sessions s0.. of the given sample counts, all in the generic train split."""
    root.mkdir(parents=True, exist_ok=True)
    names = []
    for i, n in enumerate(lengths):
        write_fixture_session(root / f"s{i}.hdf5", n, seed * 100 + i, user=f"u{i % 2}")
        names.append(f"s{i}")
    write_splits(
        root,
        {
            "train_users": ["u0", "u1"],
            "test_users": [],
            "generic": {"train": names, "val": names[:2], "test": names[2:]},
            "personal": {},
        },
    )
    return root


_NAMED = {"Key.backspace": "\u232b", "Key.enter": "\u23ce", "Key.space": " ", "Key.shift": "\u21e7"}
_VOCAB = string.ascii_letters + string.digits + string.punctuation + "".join(_NAMED.values())


def reference_labels(path: Path, offset: int, window_length: int) -> list[int]:
    """Independent restatement: vocabulary keys pressed at time[offset] <= t <= time[offset + W - 1]."""
    with h5py.File(path, "r") as f:
        g = f["emg2qwerty"]
        time = g["timeseries"]["time"]
        t0, t1 = float(time[offset]), float(time[offset + window_length - 1])
        keys = json.loads(g.attrs["keystrokes"])
    out = []
    for k in sorted(keys, key=lambda k: k["start"]):
        c = _NAMED.get(k["key"], k["key"])
        if t0 <= k["start"] <= t1 and len(c) == 1 and c in _VOCAB:
            out.append(_VOCAB.index(c))
    return out


def test_fixture_session_round_trip(tmp_path):
    path = write_fixture_session(tmp_path / "x.hdf5", 5000, seed=3)
    sf = SessionFile(path)
    assert len(sf) == 5000 and sf.emg(0, 10).shape == (10, 2, 16)
    assert len(sf.keystrokes) == int(3.0 * 5000 / SAMPLE_RATE_HZ)
    assert 0 < len(sf.key_labels) < len(sf.keystrokes)  # Key.tab is out of vocabulary
