"""One model step per hop on ONNX Runtime, the state fed back from output to input.

The bundle's step graph takes ``frames`` (1, F, 2, 16, 33) plus every state tensor
and returns ``log_probs`` (1, F // subsample, 99) plus the new state.  The state
lives in two preallocated sets of OrtValues (on the GPU with the CUDA provider)
bound through two fixed IOBindings that alternate, A -> B then B -> A: nothing is
allocated, copied back to the host or re-bound per step except the frames going in
and the log-probs coming out.  The first ``skip_outputs`` outputs of a fresh stream
(the lookahead convolution's warm-up) are dropped here, as the manifest says.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from emgrt.errors import EmgrtError

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"


def choose_providers(requested: Sequence[str] | None = None) -> list[str]:
    """CUDA when onnxruntime offers it (onnxruntime-gpu), else CPU; or ``requested`` if given."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if requested:
        missing = [p for p in requested if p not in available]
        if missing:
            raise EmgrtError(
                f"onnxruntime has no {', '.join(missing)} here (available: {', '.join(available)}); "
                "install onnxruntime-gpu for CUDA (pip install 'emgrt[gpu]')"
            )
        return list(requested)
    return [CUDA, CPU] if CUDA in available else [CPU]


_SHARED: dict[tuple, object] = {}


def shared_session(path, providers: Sequence[str] | None = None, threads: int = 1):
    """One InferenceSession per (graph, providers, threads) per process, shared by every engine:
    ONNX Runtime sessions are thread-safe and the streaming state lives outside them, so N
    streams cost one copy of the weights."""
    key = (str(path), tuple(providers or ()), threads)
    if key not in _SHARED:
        _SHARED[key] = make_session(path, providers, threads)
    return _SHARED[key]


def make_session(path, providers: Sequence[str] | None = None, threads: int = 1):
    """An InferenceSession for ``path`` on the chosen providers, ``threads`` intra-op threads on CPU
    (0: onnxruntime's default, one per core)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=choose_providers(providers))
    except EmgrtError:
        raise
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
        raise EmgrtError(f"{path}: onnxruntime cannot load the graph ({str(exc).splitlines()[0]})") from None


_NP_DTYPES = {"float32": np.float32, "float16": np.float16, "int64": np.int64}


def set_imu(arrays: list[np.ndarray], row: int, imu: tuple[np.ndarray, bool] | None) -> None:
    """Fill row ``row`` of a fused graph's ``imu`` (B, F, 6) and ``imu_present`` (B,) buffers
    from a stream's step IMU (samples, present); None or not present: zeros and 0, the absent IMU."""
    x, present = imu if imu is not None else (None, False)
    samples, flag = arrays
    if present:
        samples[row] = x
        flag[row] = 1.0
    else:
        samples[row] = 0.0
        flag[row] = 0.0


class OutputCursor:
    """One stream segment's output frames: drops the first ``skip`` (the lookahead convolution's
    warm-up, manifest ``stream.skip_outputs``) and numbers the rest from the segment start."""

    def __init__(self, skip: int) -> None:
        self.skip = skip
        self.reset()

    def reset(self) -> None:
        self._to_skip = self.skip
        self.outputs = 0  # output frames handed out since the last reset

    def take(self, lp: np.ndarray) -> tuple[np.ndarray, int]:
        """A step's log-probs (m, 99) -> the kept ones (a copy) and the index of the first."""
        if self._to_skip:
            skip = min(self._to_skip, len(lp))
            self._to_skip -= skip
            lp = lp[skip:]
        first = self.outputs
        self.outputs += len(lp)
        return lp.copy(), first


class StepRunner:
    """Runs the step graph once per hop; ``step(frames) -> (log_probs (m, 99), first_output_index)``."""

    def __init__(self, bundle, providers: Sequence[str] | None = None, threads: int = 1, int8: bool = False) -> None:
        import onnxruntime as ort

        stream, graph = bundle.spec.stream, bundle.spec.step_graph
        path = bundle.int8_path("step_graph") if int8 else bundle.step_path
        if path is None:
            raise EmgrtError(f"{bundle.dir}: the bundle has no int8 step graph (export it with `emgrt export --int8`)")
        self.frames_per_step = stream.frames_per_step
        self.outputs_per_step = stream.outputs_per_step
        self.skip_outputs = stream.skip_outputs
        self.cursor = OutputCursor(self.skip_outputs)
        self.path = path
        self.session = shared_session(path, providers, threads)
        self.provider = self.session.get_providers()[0]
        device = "cuda" if self.provider == CUDA else "cpu"
        state = graph.state
        (frames_in,) = graph.frames_input  # the typed manifest checked: exactly one of each
        (lp_out,) = graph.log_probs_output
        self.frames_name, self.lp_name = frames_in.name, lp_out.name
        frames_shape = tuple(frames_in.shape)
        self.frames = np.zeros(frames_shape, dtype=np.float32)  # filled in place before each step
        self.log_probs = np.zeros(tuple(lp_out.shape), dtype=np.float32)
        self._frames_ov = ort.OrtValue.ortvalue_from_numpy(self.frames, device, 0)
        self._lp_ov = ort.OrtValue.ortvalue_from_numpy(self.log_probs, "cpu", 0)
        self._device = device
        # A fused model's IMU inputs (manifest task.inputs with "imu"), filled in place per step.
        self.imu_names = [t.name for t in graph.imu_inputs]
        self._imu_arrays = [np.zeros(tuple(t.shape), np.float32) for t in graph.imu_inputs]
        self._imu_ovs = [ort.OrtValue.ortvalue_from_numpy(a, device, 0) for a in self._imu_arrays]
        self._zeros = [np.zeros(tuple(s.shape), dtype=_NP_DTYPES[s.dtype]) for s in state]
        self._sets = [
            [ort.OrtValue.ortvalue_from_numpy(z.copy(), device, 0) for z in self._zeros] for _ in range(2)
        ]
        self._bindings = []
        for a in range(2):
            b = self.session.io_binding()
            b.bind_ortvalue_input(self.frames_name, self._frames_ov)
            for name, ov in zip(self.imu_names, self._imu_ovs):
                b.bind_ortvalue_input(name, ov)
            for s, ov_in, ov_out in zip(state, self._sets[a], self._sets[1 - a]):
                b.bind_ortvalue_input(s.input, ov_in)
                b.bind_ortvalue_output(s.output, ov_out)
            b.bind_ortvalue_output(self.lp_name, self._lp_ov)
            self._bindings.append(b)
        self.reset()

    def reset(self) -> None:
        """Fresh stream: zero state, skip the warm-up outputs again."""
        for ov, z in zip(self._sets[0], self._zeros):
            ov.update_inplace(z)
        self._current = 0
        self.cursor.reset()
        self.steps = 0

    def step(self, frames: np.ndarray | None = None, imu: tuple[np.ndarray, bool] | None = None) -> tuple[np.ndarray, int]:
        """One step on ``frames`` (F, 2, 16, 33) (or on ``self.frames`` already filled in place);
        a fused model's ``imu`` is (F, 6) samples at the frames and whether they are present.

        Returns the kept log-probs (m, 99), a copy, and the index of the first of them counted
        from the stream start (output frame indices, warm-up outputs excluded)."""
        if frames is not None:
            self.frames[0] = frames
        if self.imu_names:
            set_imu(self._imu_arrays, 0, imu)
        if self._device != "cpu":
            self._frames_ov.update_inplace(self.frames)
            for ov, a in zip(self._imu_ovs, self._imu_arrays):
                ov.update_inplace(a)
        self.session.run_with_iobinding(self._bindings[self._current])
        self._current = 1 - self._current
        self.steps += 1
        return self.cursor.take(self.log_probs[0])

    @property
    def outputs(self) -> int:
        """Output frames returned since the last reset."""
        return self.cursor.outputs


class BatchedStepRunner:
    """Runs the batched step graph (manifest ``batched_step_graph``) once for any number of
    streams: ``run(states, frames) -> log_probs (B, outputs_per_step, 99)``.

    Each stream owns its state as a list of arrays (:meth:`new_state`; zero = a fresh stream).
    The runner keeps two stacked sets of state buffers that alternate, like
    :class:`StepRunner`'s two bindings: after a call, every stream's state arrays are *views*
    of its row in the output set, so when the next call has the same streams in the same order
    (the steady state of a server with N bands) nothing is gathered or scattered: the outputs
    of one call are bound as the inputs of the next.  When the set of streams changes, the
    states are gathered once into the other set, and a stream that sits a call out is given its
    own copy first, so no stream's state is ever overwritten by another's.  Buffers live in host
    memory (bound for CUDA too, which then copies them per call).
    """

    def __init__(self, bundle, providers: Sequence[str] | None = None, threads: int = 1, int8: bool = False) -> None:
        graph = bundle.spec.batched_step_graph
        if graph is None:
            raise EmgrtError(f"{bundle.dir}: the bundle has no batched step graph (re-export it with `emgrt export`)")
        path = bundle.int8_path("batched_step_graph") if int8 else bundle.batched_step_path
        if path is None:
            raise EmgrtError(f"{bundle.dir}: the bundle has no int8 batched step graph (export it with `emgrt export --int8`)")
        self.path = path
        self.session = shared_session(path, providers, threads)
        self.provider = self.session.get_providers()[0]
        self.state_spec = [(s.input, s.output, tuple(s.shape), _NP_DTYPES[s.dtype]) for s in graph.state]
        (frames,) = graph.frames_input
        (lp,) = graph.log_probs_output
        self.frames_name, self.lp_name = frames.name, lp.name
        self.frames_shape, self.lp_shape = tuple(frames.shape[1:]), tuple(lp.shape[1:])
        self.imu_spec = [(t.name, tuple(t.shape[1:])) for t in graph.imu_inputs]  # a fused model's
        self.calls = 0
        self._capacity = 0
        self._grow(1)

    def new_state(self) -> list[np.ndarray]:
        """A fresh stream's state (zeros)."""
        return [np.zeros(shape, dtype) for _, _, shape, dtype in self.state_spec]

    def _grow(self, n: int) -> None:
        for owner in getattr(self, "_owners", ()):  # the old buffers go: their owners keep copies
            owner.state = [x.copy() for x in owner.state]
        cap = max(n, 2 * self._capacity)
        self._sets = [[np.zeros((cap, *shape), dtype) for _, _, shape, dtype in self.state_spec] for _ in range(2)]
        self._frames = np.zeros((cap, *self.frames_shape), np.float32)
        self._imu = [np.zeros((cap, *shape), np.float32) for _, shape in self.imu_spec]
        self._lp = np.zeros((cap, *self.lp_shape), np.float32)
        self._views = [[[buf[row] for buf in bufs] for row in range(cap)] for bufs in self._sets]
        self._capacity = cap
        self._owners: list = []  # the streams whose state is a view of a row of self._sets[self._out]
        self._out = 0
        self._bindings: dict[tuple[int, int], object] = {}

    def _binding(self, b: int, src: int):
        """IOBinding for batch size ``b`` reading set ``src`` and writing the other (cached)."""
        key = (b, src)
        if key not in self._bindings:
            io = self.session.io_binding()
            io.bind_input(self.frames_name, "cpu", 0, np.float32, [b, *self.frames_shape], self._frames.ctypes.data)
            for (name, shape), buf in zip(self.imu_spec, self._imu):
                io.bind_input(name, "cpu", 0, np.float32, [b, *shape], buf.ctypes.data)
            for (name_in, name_out, shape, dtype), x_in, x_out in zip(self.state_spec, self._sets[src], self._sets[1 - src]):
                io.bind_input(name_in, "cpu", 0, dtype, [b, *shape], x_in.ctypes.data)
                io.bind_output(name_out, "cpu", 0, dtype, [b, *shape], x_out.ctypes.data)
            io.bind_output(self.lp_name, "cpu", 0, np.float32, [b, *self.lp_shape], self._lp.ctypes.data)
            self._bindings[key] = io
        return self._bindings[key]

    def run(self, streams: Sequence, frames: Sequence[np.ndarray],
            imu: Sequence[tuple[np.ndarray, bool]] | None = None) -> np.ndarray:
        """One step for each of ``streams`` (objects with a ``state`` list from :meth:`new_state`)
        on its ``frames`` (F, bands, channels, n_freq) and, for a fused model, its ``imu``
        ((F, 6) samples, present).  Returns the log-probs (B, m, 99), a view valid until the next
        call; each stream's ``state`` is updated."""
        b = len(streams)
        if b > self._capacity:
            self._grow(b)
        src = self._out
        if list(streams) != self._owners:  # identity: a stream defines no __eq__
            src = 1 - self._out  # gather into the set no stream's view points at
            kept = {id(s) for s in streams}
            for owner in self._owners:
                if id(owner) not in kept:
                    owner.state = [x.copy() for x in owner.state]
            for row, s in enumerate(streams):
                for buf, x in zip(self._sets[src], s.state):
                    buf[row] = x
        for row, f in enumerate(frames):
            self._frames[row] = f
        if self.imu_spec:
            for row in range(b):
                set_imu(self._imu, row, None if imu is None else imu[row])
        self.session.run_with_iobinding(self._binding(b, src))
        self.calls += 1
        out = 1 - src
        views = self._views[out]
        for row, s in enumerate(streams):
            s.state = views[row]
        self._owners, self._out = list(streams), out
        return self._lp[:b]
