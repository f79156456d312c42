"""Synthetic sEMG data (`emgrt synth`): typing in exact emg2qwerty format, discrete gestures and handwriting in the GNI layout.

Modules, one job each:

* :mod:`~emgrt.synth.keyboard`   QWERTY geometry, touch-typing finger map, typo neighbours
* :mod:`~emgrt.synth.text`       prompts (emgrt.text, real English) and typing behaviour -> keystroke events
* :mod:`~emgrt.synth.physiology` per-user forearm anatomy, motor-unit firing, MUAPs on 16 electrodes
* :mod:`~emgrt.synth.noise`      mains hum, drift, broadband noise, motion artifacts, electrode pops
* :mod:`~emgrt.synth.difficulty` the single ``--difficulty`` knob and what it scales
* :mod:`~emgrt.synth.imu`        the band's IMU: arm motion -> accelerometer and gyroscope samples on
  the IMU's own clock (the optional extension of :mod:`emgrt.io.imu`)
* :mod:`~emgrt.synth.session`    one session rendered to arrays and written via :mod:`emgrt.io`
* :mod:`~emgrt.synth.dataset`    users, sessions and splits of a dataset, rendered in parallel
* :mod:`~emgrt.synth.oneband`    what the one-band GNI tasks share: stages, the band rendered in
  volts, the files (:mod:`emgrt.io.gni`), the corpus CSV and the dataset plan
* :mod:`~emgrt.synth.gestures`   the nine GNI discrete gestures (``--task gestures``): gesture
  primitives and schedules driving the same physiology and noise, each gesture's small forearm
  motion for the IMU (difficulty not yet calibrated)
* :mod:`~emgrt.synth.handwriting` GNI handwriting (``--task handwriting``): English words written
  with the fingers along a stroke font's pen paths by per-user writers, the pen's motion driving
  the same physiology and noise, the arm and wrist motion the IMU senses (difficulty not yet
  calibrated)

Everything is deterministic for a seed and independent of the number of workers; the IMU draws
from streams of its own, so it leaves the EMG as it is without it.
"""

from collections.abc import Callable
from typing import Any, NamedTuple

from emgrt.synth.dataset import DatasetConfig, DatasetSummary, generate_dataset, plan_dataset
from emgrt.synth.difficulty import Difficulty
from emgrt.synth.gestures import (
    GestureDatasetConfig,
    GestureSessionSpec,
    GestureSummary,
    generate_gestures,
    plan_gestures,
    render_gesture_session,
)
from emgrt.synth.handwriting import (
    HandwritingDatasetConfig,
    HandwritingSessionSpec,
    HandwritingSummary,
    generate_handwriting,
    plan_handwriting,
    render_handwriting_session,
)
from emgrt.synth.session import RenderedSession, SessionSpec, make_user, render_session, write_rendered


class TaskSynth(NamedTuple):
    """What `emgrt synth --task NAME` uses: the config dataclass, the planner, the generator and
    the summary fields that count its labels."""

    config: Callable[..., Any]
    plan: Callable[..., Any]
    generate: Callable[..., Any]
    counted: tuple[str, ...]


_TASKS = {
    "typing": TaskSynth(DatasetConfig, plan_dataset, generate_dataset, ("keystrokes",)),
    "gestures": TaskSynth(GestureDatasetConfig, plan_gestures, generate_gestures, ("gestures",)),
    "handwriting": TaskSynth(HandwritingDatasetConfig, plan_handwriting, generate_handwriting, ("prompts", "characters")),
}


def task_synth(task: str) -> TaskSynth:
    """The generator of task ``task`` (typing, gestures, handwriting; emgrt.tasks names them)."""
    return _TASKS[task]

__all__ = [
    "DatasetConfig",
    "DatasetSummary",
    "Difficulty",
    "GestureDatasetConfig",
    "GestureSessionSpec",
    "GestureSummary",
    "HandwritingDatasetConfig",
    "HandwritingSessionSpec",
    "HandwritingSummary",
    "RenderedSession",
    "SessionSpec",
    "TaskSynth",
    "generate_dataset",
    "generate_gestures",
    "generate_handwriting",
    "make_user",
    "plan_dataset",
    "plan_gestures",
    "plan_handwriting",
    "render_gesture_session",
    "render_handwriting_session",
    "render_session",
    "task_synth",
    "write_rendered",
]
