"""How much of the pen's stroke directions the synthetic handwriting EMG carries: a linear probe.

Renders one 3-minute `emgrt synth --task handwriting` session (seed 0, user 0) with the stroke drive
gain given, then fits a ridge regression (first half of the session; scored on the second) from the
16 channels' log RMS at 50 Hz (40 Hz high-passed, +-100 ms of lags) to the four half-wave rectified
finger-velocity directions that drive the forearm (flex / extend / ulnar / radial) and prints R^2.
models/README.md ("Handwriting") quotes it:

    .venv/bin/python models/probe_handwriting.py --gain 0.45   # the generator before session 18
    .venv/bin/python models/probe_handwriting.py --gain 1.2    # the default now
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.signal import butter, sosfiltfilt

import emgrt.synth.handwriting as hw

HOP = 40  # samples: 50 Hz at 2 kHz
LAGS = range(-5, 6)
RIDGE = 100.0


def probe(gain: float, difficulty: float) -> np.ndarray:
    hw.DRIVE_GAIN = gain
    spec = hw.HandwritingSessionSpec(seed=0, user_index=0, session_index=0, start_unix=1.7e9, minutes=3, difficulty=difficulty)
    r = hw.render_handwriting_session(spec)
    x = sosfiltfilt(butter(4, 40, "hp", fs=2000, output="sos"), np.asarray(r.emg, np.float64), axis=0)
    n = len(x) // HOP
    env = np.log(np.sqrt((x[: n * HOP].reshape(n, HOP, -1) ** 2).mean(1)) + 1e-9)
    v = np.gradient(r.kinematics.pen[: n * HOP : HOP], axis=0) * (2000 / HOP)
    target = np.stack([np.maximum(-v[:, 1], 0), np.maximum(v[:, 1], 0), np.maximum(v[:, 0], 0), np.maximum(-v[:, 0], 0)], 1)
    feats = np.concatenate([np.roll(env, lag, 0) for lag in LAGS], 1)
    feats = np.c_[(feats - feats.mean(0)) / (feats.std(0) + 1e-9), np.ones(n)]
    half = n // 2
    a, b = feats[:half], feats[half:]
    w = np.linalg.solve(a.T @ a + RIDGE * np.eye(a.shape[1]), a.T @ target[:half])
    resid = ((b @ w - target[half:]) ** 2).sum(0)
    return 1 - resid / ((target[half:] - target[half:].mean(0)) ** 2).sum(0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--gain", type=float, default=hw.DRIVE_GAIN, help="stroke drive gain (default: the generator's)")
    p.add_argument("--difficulty", type=float, default=0.7)
    args = p.parse_args()
    r2 = probe(args.gain, args.difficulty)
    print(f"gain {args.gain:g}: R^2 flex {r2[0]:.2f}, extend {r2[1]:.2f}, ulnar {r2[2]:.2f}, radial {r2[3]:.2f}")


if __name__ == "__main__":
    main()
