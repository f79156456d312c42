"""Shared fixtures: tiny session files written in the emg2qwerty layout."""

from __future__ import annotations

import numpy as np
import pytest

from emgrt.constants import SAMPLE_RATE_HZ
from emgrt.io.session import write_session

pytest_plugins = ["bundle_fixtures"]  # tiny_bundle: a small exported model, once per session

T0 = 1_622_681_518.0  # a plausible unix start time


def make_session_arrays(n: int = 6000, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    time = T0 + np.arange(n) / SAMPLE_RATE_HZ
    keys = ["Key.shift", "H", "i", "Key.space", "x", "Key.backspace", "t", "Key.enter", "Key.tab"]
    press = np.linspace(time[100], time[-200], len(keys))
    keystrokes = [{"key": k, "start": float(p), "end": float(p) + 0.08} for k, p in zip(keys, press)]
    keystrokes[0]["end"] = keystrokes[1]["end"]  # shift held over the capital
    prompts = [{"name": "p0", "start": float(time[50]), "end": float(time[-100]), "payload": {"text": "Hi t"}}]
    return dict(
        time=time,
        emg_left=rng.standard_normal((n, 16)).astype(np.float32),
        emg_right=rng.standard_normal((n, 16)).astype(np.float32),
        keystrokes=keystrokes,
        prompts=prompts,
        session_name="test-session",
        user="user-a",
    )


@pytest.fixture
def session_arrays() -> dict:
    return make_session_arrays()


@pytest.fixture
def session_path(tmp_path, session_arrays):
    return write_session(tmp_path / "test-session.hdf5", **session_arrays)
