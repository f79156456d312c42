"""The ``--difficulty`` knob: one number that makes the synthetic data harder.

``d`` >= 0 (0 = easy, 2 = very hard; default :data:`DEFAULT_DIFFICULTY` = 0.7) moves
every factor below monotonically in the harder direction:

==================  ==============================  =========  =========  =========
factor              formula                         d = 0      d = 1      d = 2
==================  ==============================  =========  =========  =========
noise               0.25 + 0.75 d                   0.25       1.0        1.75
user_variability    0.3 + 0.7 d                     0.3        1.0        1.7
session_variability 0.4 + 0.6 d                     0.4        1.0        1.6
key_overlap         min(0.9, 0.15 + 0.3 d)          0.15       0.45       0.75
onset_jitter_s      0.004 + 0.016 d                 4 ms       20 ms      36 ms
==================  ==============================  =========  =========  =========

* ``noise`` multiplies broadband noise, mains hum and drift amplitudes and the
  rates of motion artifacts and electrode pops.
* ``user_variability`` multiplies the spread of every per-user anatomical
  deviation from the population template (muscle angles, band rotation, unit
  counts, MUAP widths, gains, enslaving), so held-out users are further away.
* ``session_variability`` multiplies the per-session band re-placement shift and
  channel gain/impedance changes.
* ``key_overlap`` is how far the keys of one finger collapse onto that finger's
  home-key recruitment pattern (0: fully key-specific, 1: identical).
* ``onset_jitter_s`` is the per-keystroke standard deviation of the EMG onset
  lead before the key press.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from emgrt.errors import ConfigError

MAX_DIFFICULTY = 5.0
# Calibrated (README, "Difficulty calibration"): the `small` model trained for the models
# recipe's one-hour CPU budget reaches about 40 greedy CER on held-out users at 0.7
# (41.2 measured), where 1.0 gave 46.6: the default leaves room for models, like real data.
DEFAULT_DIFFICULTY = 0.7


@dataclass(frozen=True)
class Difficulty:
    level: float
    noise: float
    user_variability: float
    session_variability: float
    key_overlap: float
    onset_jitter_s: float

    @classmethod
    def from_level(cls, d: float) -> "Difficulty":
        d = float(d)
        if not math.isfinite(d) or d < 0 or d > MAX_DIFFICULTY:
            raise ConfigError(
                f"--difficulty must be in [0, {MAX_DIFFICULTY:g}] (0 easy, {DEFAULT_DIFFICULTY:g} default, 2 very hard); got {d}"
            )
        return cls(
            level=d,
            noise=0.25 + 0.75 * d,
            user_variability=0.3 + 0.7 * d,
            session_variability=0.4 + 0.6 * d,
            key_overlap=min(0.9, 0.15 + 0.3 * d),
            onset_jitter_s=0.004 + 0.016 * d,
        )
