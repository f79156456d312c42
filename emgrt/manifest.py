"""The typed view of a bundle's manifest.json: what each key must hold and how the keys agree.

``emgrt.validate.parse(Manifest, data)`` checks a manifest dict: types, ranges, required keys,
unknown keys, and the rules across sections (the step graph's declared state, frames input and
log-probs output agree with each other and with ``stream``, ``signal``, ``frontend`` and
``charset``; the ``task`` names the head the charset and decoder must fit, and whether every graph
takes the IMU inputs), one line naming the key.  Checking the files themselves (inside
the bundle, hashes, the graphs' real inputs) is :mod:`emgrt.bundle`'s job.  export/README.md
documents every key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator

from emgrt.decode import CTC_DECODERS, DECODER_KINDS
from emgrt.errors import ConfigError
from emgrt.io.imu import AXES
from emgrt.tasks import TASK_NAMES, task_spec
from emgrt.validate import (
    AnyFloat,
    Bool,
    Doc,
    FilterTable,
    Float,
    Invalid,
    Name,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Sha256,
    Str,
    need,
    table,
)

Probability = Float(gt=0, le=1)

FORMAT = "emgrt-bundle"
VERSION = 1
DTYPES = ("float32", "float16", "int64")


def _relative(name: str) -> str:
    p = PurePosixPath(name)
    if p.is_absolute() or ".." in p.parts or "\\" in name or "\0" in name or name in ("", "."):
        raise ValueError("must be a file name inside the bundle folder (relative, without '..')")
    return name


BundleFile = Annotated[Str, AfterValidator(_relative), Doc("a file name inside the bundle folder (relative, without '..')")]
Dim = Annotated[NonNegativeInt | Name, Doc("a size (integer >= 0) or a named dynamic axis (string)")]
DType = Literal[DTYPES]  # type: ignore[valid-type]
DecoderKind = Literal[DECODER_KINDS]  # type: ignore[valid-type]
TaskName = Literal[TASK_NAMES]  # type: ignore[valid-type]
INPUTS = ("emg", "imu")
# A model that reads "imu" (task.inputs) takes the band's IMU at each frame: `imu` (accel x y z
# m/s^2, gyro x y z rad/s) and `imu_present` (1.0 / 0.0) in every graph, after the frames.
IMU_INPUTS = ("imu", "imu_present")
IMU_CHANNELS = 2 * AXES
UNITS = {"uV": 1.0, "V": 1e6}  # a stream's unit -> the factor to the pipeline's microvolts


@table
@dataclass(frozen=True)
class Signal:
    sample_rate: PositiveFloat
    bands: Annotated[tuple[Name, ...], Doc("a list of band names such as ['left', 'right']")]
    channels_per_band: PositiveInt
    channels: PositiveInt
    channel_order: Str = ""
    filters: tuple[FilterTable, ...] = ()
    unit: Annotated[Literal[tuple(UNITS)], Doc("the unit of the band's samples: 'uV' (emg2qwerty) or 'V' (GNI)")] = "uV"  # type: ignore[valid-type]

    @property
    def to_microvolts(self) -> float:
        """The factor the front end applies to incoming samples (the model was trained in uV)."""
        return UNITS[self.unit]

    def __post_init__(self) -> None:
        need(len(self.bands) > 0, "bands", "a list of band names such as ['left', 'right']", list(self.bands))
        n = len(self.bands) * self.channels_per_band
        need(self.channels == n, "channels", f"len(bands) x channels_per_band = {n}", self.channels)
        from emgrt.dsp.filters import FilterSpec  # imports scipy: only once a manifest is read

        for i, f in enumerate(self.filters):
            try:
                FilterSpec(**f).validate(self.sample_rate)
            except ConfigError as exc:  # which frequency the kind needs, the Nyquist limit
                raise Invalid(f"filters[{i}]", str(exc)) from None


@table
@dataclass(frozen=True)
class Frontend:
    n_fft: PositiveInt
    hop: PositiveInt
    eps: PositiveFloat
    normalized: Bool

    def __post_init__(self) -> None:
        try:
            self.config()
        except ConfigError as exc:  # n_fft and hop that do not make frames
            raise Invalid("n_fft", str(exc)) from None

    def config(self):
        """The :class:`emgrt.dsp.features.FrontEndConfig` this table describes."""
        from emgrt.dsp.features import FrontEndConfig

        return FrontEndConfig(self.n_fft, self.hop, self.eps, self.normalized)


@table
@dataclass(frozen=True)
class Stream:
    frames_per_step: PositiveInt
    samples_per_step: PositiveInt
    outputs_per_step: PositiveInt
    subsample: PositiveInt
    output_time_offset: NonNegativeInt
    lookahead_frames: NonNegativeInt
    skip_outputs: NonNegativeInt
    left_context_frames: NonNegativeInt
    receptive_field_frames: PositiveInt

    def __post_init__(self) -> None:
        n = self.frames_per_step // self.subsample
        need(self.frames_per_step % self.subsample == 0, "frames_per_step", f"a multiple of subsample ({self.subsample})",
             self.frames_per_step)
        need(self.outputs_per_step == n, "outputs_per_step", f"frames_per_step / subsample = {n}", self.outputs_per_step)


@table
@dataclass(frozen=True)
class Charset:
    labels: Annotated[tuple[Str, ...], Doc("a list of the output labels (strings)")]
    blank: NonNegativeInt

    def __post_init__(self) -> None:
        need(self.blank < len(self.labels), "blank", f"an index into labels (0..{len(self.labels) - 1})", self.blank)


@table
@dataclass(frozen=True)
class Task:
    """What the model does (emgrt.tasks: its labels, decoding and metric follow from the name)
    and which of the band's streams it reads."""

    name: TaskName = "typing"
    inputs: Annotated[tuple[Literal[INPUTS], ...], Doc("the modalities the model reads: ['emg'] or ['emg', 'imu']")] = ("emg",)  # type: ignore[valid-type]

    def __post_init__(self) -> None:
        need("emg" in self.inputs and len(set(self.inputs)) == len(self.inputs), "inputs",
             "a list of distinct modalities including 'emg'", list(self.inputs))


@table
@dataclass(frozen=True)
class Tensor:
    name: Name
    shape: tuple[Dim, ...]
    dtype: DType = "float32"


@table
@dataclass(frozen=True)
class State:
    name: Name
    input: Name
    output: Name
    shape: tuple[NonNegativeInt, ...]
    dtype: DType = "float32"
    init: Literal["zeros"] = "zeros"


@table
@dataclass(frozen=True)
class FullGraph:
    file: BundleFile
    opset: PositiveInt
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    int8_file: BundleFile | None = None

    def __post_init__(self) -> None:
        need(len(self.inputs) > 0, "inputs", "a list of the graph's inputs (name, shape, dtype)", [])
        need(len(self.outputs) > 0, "outputs", "a list of the graph's outputs (name, shape, dtype)", [])
        for kind, tensors in (("inputs", self.inputs), ("outputs", self.outputs)):
            names = [t.name for t in tensors]
            dup = next((n for n in names if names.count(n) > 1), None)
            need(dup is None, kind, "tensors with distinct names", dup)

    @property
    def imu_inputs(self) -> list[Tensor]:
        """The inputs that carry the band's IMU, in IMU_INPUTS order (``imu``, ``imu_present``);
        none for an EMG-only model."""
        by_name = {t.name: t for t in self.inputs}
        return [by_name[n] for n in IMU_INPUTS if n in by_name]


@table
@dataclass(frozen=True)
class StepGraph(FullGraph):
    state: tuple[State, ...] = ()
    batch_axis: ClassVar[tuple[str, ...]] = ()  # what every tensor's shape starts with beyond a state's own

    def __post_init__(self) -> None:
        super().__post_init__()
        declared = {"inputs": {t.name: t for t in self.inputs}, "outputs": {t.name: t for t in self.outputs}}
        for i, s in enumerate(self.state):
            for end, kind in ((s.input, "inputs"), (s.output, "outputs")):
                t = declared[kind].get(end)
                need(t is not None, f"state[{i}].{kind[:-1]}", f"one of the graph's {kind} {sorted(declared[kind])}", end)
                need(list(t.shape) == [*self.batch_axis, *s.shape], f"state[{i}].shape",
                     f"the shape of {kind[:-1]} {end!r} ({list(t.shape)}){' after its batch axis' * bool(self.batch_axis)}",
                     list(s.shape))
                need(t.dtype == s.dtype, f"state[{i}].dtype", f"the dtype of {kind[:-1]} {end!r} ({t.dtype})", s.dtype)
        need(len(self.frames_input) == 1, "inputs", "exactly one input besides the state (the frames)",
             [t.name for t in self.frames_input])
        need(len(self.log_probs_output) == 1, "outputs", "exactly one output besides the state (the log-probs)",
             [t.name for t in self.log_probs_output])

    @property
    def frames_input(self) -> list[Tensor]:
        other = {s.input for s in self.state} | set(IMU_INPUTS)
        return [t for t in self.inputs if t.name not in other]

    @property
    def log_probs_output(self) -> list[Tensor]:
        state = {s.output for s in self.state}
        return [t for t in self.outputs if t.name not in state]


@table
@dataclass(frozen=True)
class BatchedStepGraph(StepGraph):
    """The step graph with a leading dynamic ``batch`` axis on every input and output; ``state``
    gives one stream's shapes."""

    batch_axis: ClassVar[tuple[str, ...]] = ("batch",)


@table
@dataclass(frozen=True)
class ModelInfo:
    params: NonNegativeInt
    flops_per_hop: NonNegativeInt = 0
    name: Str = ""
    config: dict[str, Any] = field(default_factory=dict)
    weights: BundleFile | None = None  # state_dict for fine-tuning (emgrt calibrate); not used at run time


@table
@dataclass(frozen=True)
class DecoderTuning:
    beam_size: PositiveInt | None = None
    lm_weight: NonNegativeFloat | None = None
    insertion_bonus: AnyFloat | None = None
    commit_lag: NonNegativeInt | None = None
    # char-lm commit and hypothesis policies (emgrt.decode.charlm; the decoder checks the ranges)
    commit_margin: NonNegativeFloat | None = None
    commit_prob: Probability | None = None
    commit_stable: PositiveInt | None = None
    commit_depth: PositiveInt | None = None
    endpoint_frames: PositiveInt | None = None
    hypothesis_hold: NonNegativeFloat | None = None


@table
@dataclass(frozen=True)
class Decoder:
    default: DecoderKind = "greedy"
    options: dict[DecoderKind, DecoderTuning] = field(default_factory=dict)
    char_lm: BundleFile | None = None
    word_lm: BundleFile | None = None


@table
@dataclass(frozen=True)
class Adapt:
    """Label-free adaptation (emgrt.dsp.adapt.RunningNorm): ``stats`` is a float32 .npy of shape
    (2, bands x channels_per_band x n_freq), the training mean and variance of each feature."""

    stats: BundleFile
    tau_s: PositiveFloat = 30.0
    enabled: Bool = False


@table
@dataclass(frozen=True)
class Manifest:
    format: Literal["emgrt-bundle"]
    version: Literal[1]
    signal: Signal
    frontend: Frontend
    stream: Stream
    charset: Charset
    step_graph: StepGraph
    full_graph: FullGraph
    model: ModelInfo
    files: dict[BundleFile, Sha256]
    digest: Sha256
    batched_step_graph: BatchedStepGraph | None = None
    decoder: Decoder = field(default_factory=Decoder)
    adapt: Adapt | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    task: Task = field(default_factory=Task)  # bundles written before tasks are typing bundles

    def __post_init__(self) -> None:
        s, sig, fe = self.stream, self.signal, self.frontend
        spec = task_spec(self.task.name)
        need(len(sig.bands) == spec.bands, "signal.bands", f"{spec.bands} band(s) for the {spec.name} task", list(sig.bands))
        need(len(self.charset.labels) == spec.num_outputs and self.charset.blank == spec.blank, "charset",
             f"the {spec.name} task's {spec.num_outputs} outputs with blank {spec.blank}",
             f"{len(self.charset.labels)} labels, blank {self.charset.blank}")
        kinds = self.decoders
        need(self.decoder.default in kinds, "decoder.default", f"one of {', '.join(kinds)} for the {spec.name} task",
             self.decoder.default)
        need(s.samples_per_step == s.frames_per_step * fe.hop, "stream.samples_per_step",
             f"frames_per_step x frontend.hop = {s.frames_per_step * fe.hop}", s.samples_per_step)
        frames = [1, s.frames_per_step, len(sig.bands), sig.channels_per_band, fe.n_fft // 2 + 1]
        (t,) = self.step_graph.frames_input
        need(list(t.shape) == frames, f"step_graph.inputs.{t.name}.shape",
             "[1, stream.frames_per_step, len(signal.bands), signal.channels_per_band, frontend.n_fft // 2 + 1] = "
             f"{frames}", list(t.shape))
        log_probs = [1, s.outputs_per_step, len(self.charset.labels)]
        (t,) = self.step_graph.log_probs_output
        need(list(t.shape) == log_probs, f"step_graph.outputs.{t.name}.shape",
             f"[1, stream.outputs_per_step, len(charset.labels)] = {log_probs}", list(t.shape))
        b = self.batched_step_graph
        if b is not None:
            (t,) = b.frames_input
            need(list(t.shape) == ["batch", *frames[1:]], f"batched_step_graph.inputs.{t.name}.shape",
                 f"step_graph's frames shape with 'batch' first = {['batch', *frames[1:]]}", list(t.shape))
            (t,) = b.log_probs_output
            need(list(t.shape) == ["batch", *log_probs[1:]], f"batched_step_graph.outputs.{t.name}.shape",
                 f"step_graph's log-probs shape with 'batch' first = {['batch', *log_probs[1:]]}", list(t.shape))
            need([(x.name, list(x.shape), x.dtype) for x in b.state] == [(x.name, list(x.shape), x.dtype) for x in self.step_graph.state],
                 "batched_step_graph.state", "the step graph's state (same names, shapes, dtypes)",
                 [x.name for x in b.state])
        self._check_imu_inputs()

    def _check_imu_inputs(self) -> None:
        """A model that reads the IMU (task.inputs) declares `imu` and `imu_present` in every graph,
        one per frame like the frames; an EMG-only one declares neither."""
        f = self.stream.frames_per_step
        features = [t for t in self.full_graph.inputs if t.name not in IMU_INPUTS]
        t_axis = features[0].shape[1] if features and len(features[0].shape) > 1 else "T"
        want = {"step_graph": ([1, f, IMU_CHANNELS], [1]), "batched_step_graph": (["batch", f, IMU_CHANNELS], ["batch"]),
                "full_graph": ([1, t_axis, IMU_CHANNELS], [1])}
        fused = "imu" in self.task.inputs
        for key, shapes in want.items():
            graph = getattr(self, key)
            if graph is None:
                continue
            declared = {t.name: t for t in graph.imu_inputs}
            if not fused:
                need(not declared, f"{key}.inputs", f"free of {list(IMU_INPUTS)} unless task.inputs has 'imu'",
                     sorted(declared))
                continue
            for name, shape in zip(IMU_INPUTS, shapes):
                t = declared.get(name)
                need(t is not None, f"{key}.inputs", f"a list with {name!r} {shape} float32 (task.inputs has 'imu')",
                     [x.name for x in graph.inputs])
                need(list(t.shape) == shape, f"{key}.inputs.{name}.shape", str(shape), list(t.shape))
                need(t.dtype == "float32", f"{key}.inputs.{name}.dtype", "float32", t.dtype)

    @property
    def decoders(self) -> tuple[str, ...]:
        """The decoder kinds that fit the task's head: the CTC ones, or ``gesture`` for framewise."""
        return ("gesture",) if task_spec(self.task.name).decoding == "framewise" else CTC_DECODERS

    def named_files(self) -> dict[str, str]:
        """Every file the runtime opens, by the manifest key that names it."""
        named = {"step_graph.file": self.step_graph.file, "full_graph.file": self.full_graph.file,
                 "step_graph.int8_file": self.step_graph.int8_file, "full_graph.int8_file": self.full_graph.int8_file,
                 "batched_step_graph.file": self.batched_step_graph.file if self.batched_step_graph else None,
                 "batched_step_graph.int8_file": self.batched_step_graph.int8_file if self.batched_step_graph else None,
                 "decoder.char_lm": self.decoder.char_lm, "decoder.word_lm": self.decoder.word_lm,
                 "adapt.stats": self.adapt.stats if self.adapt else None, "model.weights": self.model.weights}
        return {key: name for key, name in named.items() if name}


