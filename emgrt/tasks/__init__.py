"""What a model is trained to do: the task seam, torch-free.

A :class:`TaskSpec` names a task's labels (the class set; the blank / no-gesture class is the
last output), how its targets are decoded (``ctc`` or ``framewise``), its metric, and the data it
reads (emg2qwerty two-band sessions, or one band of a generic-neuromotor-interface task).  The
training code turns a spec into a loss and a metric (:mod:`emgrt.train.objective`); the runtime
can use the same spec (labels, metric) without torch.

    typing       CTC over the 98 emg2qwerty keys, CER (emgrt.metrics)
    handwriting  CTC over the release's handwriting characters (emgrt.tasks.labels), CER
    gestures     framewise classifier over the nine discrete gestures + no-gesture, CLER
                 (emgrt.tasks.cler)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from emgrt.charset import CharSet, ClassesThenBlank, emg2qwerty_charset
from emgrt.constants import BANDS
from emgrt.errors import ConfigError
from emgrt.io.gni import BAND, GESTURES, TASK_GESTURES, TASK_HANDWRITING, UNIT
from emgrt.tasks.labels import handwriting_charset

TYPING, HANDWRITING, GESTURE_TASK = "typing", "handwriting", "gestures"
EMG2QWERTY = "emg2qwerty"  # the data format of the typing task


@dataclass(frozen=True)
class TaskSpec(ClassesThenBlank):
    """One task: labels, decoding, metric and data format.

    ``labels``: one string per class in label order (key characters, or gesture names); the
    model has ``len(labels) + 1`` outputs, the last one the CTC blank or the no-gesture class.
    ``data``: ``"emg2qwerty"`` or the GNI task name its files carry (``data.attrs["task"]``).
    ``label_span``: which labels an item gets: those of its unpadded window (``window``, what
    CTC targets are) or of its whole padded slice (``slice``: framewise targets need every event
    whose target frames the outputs cover).
    """

    name: str
    labels: tuple[str, ...]
    decoding: Literal["ctc", "framewise"]
    metric: Literal["cer", "cler"]
    data: str
    bands: int
    label_span: Literal["window", "slice"] = "window"
    charset: CharSet | None = None  # CTC tasks: label <-> string

    def _class_labels(self) -> tuple[str, ...]:
        return self.labels

    @property
    def gni(self) -> bool:
        """Whether the task reads generic-neuromotor-interface files."""
        return self.data != EMG2QWERTY

    @property
    def band_names(self) -> tuple[str, ...]:
        """The bands a bundle of this task reads, in channel order."""
        return BANDS if not self.gni else (BAND,)

    @property
    def unit(self) -> str:
        """The unit of the task's recordings and live streams: emg2qwerty's microvolts, GNI volts."""
        return UNIT if self.gni else "uV"

    @property
    def output_labels(self) -> list[str]:
        """A bundle's charset labels: one per class, then "" for the blank / no-gesture output."""
        return [*self.labels, ""]


def _typing() -> TaskSpec:
    cs = emg2qwerty_charset()
    return TaskSpec(TYPING, tuple(cs.chars), "ctc", "cer", EMG2QWERTY, bands=2, charset=cs)


def _handwriting() -> TaskSpec:
    cs = handwriting_charset()
    return TaskSpec(HANDWRITING, tuple(cs.chars), "ctc", "cer", TASK_HANDWRITING, bands=1, charset=cs)


def _gestures() -> TaskSpec:
    return TaskSpec(GESTURE_TASK, GESTURES, "framewise", "cler", TASK_GESTURES, bands=1, label_span="slice")


_BUILDERS = {TYPING: _typing, HANDWRITING: _handwriting, GESTURE_TASK: _gestures}
TASK_NAMES = tuple(_BUILDERS)


def task_spec(name: str) -> TaskSpec:
    """The spec of task ``name`` (typing, handwriting, gestures), or a one-line ConfigError."""
    if name not in _BUILDERS:
        raise ConfigError(f"task: must be one of {', '.join(TASK_NAMES)}, got {name!r}")
    return _BUILDERS[name]()


__all__ = ["TASK_NAMES", "TaskSpec", "task_spec"]
