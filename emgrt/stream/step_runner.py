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


class StepRunner:
    """Runs the step graph once per hop; ``step(frames) -> (log_probs (m, 99), first_output_index)``."""

    def __init__(self, bundle, providers: Sequence[str] | None = None, threads: int = 1, int8: bool = False) -> None:
        import onnxruntime as ort

        m = bundle.manifest
        stream, graph = m["stream"], m["step_graph"]
        path = bundle.step_path
        if int8:
            name = graph.get("int8_file")
            if not name:
                raise EmgrtError(f"{bundle.dir}: the bundle has no int8 step graph (export it with `emgrt export --int8`)")
            path = bundle.dir / name
        self.frames_per_step = int(stream["frames_per_step"])
        self.outputs_per_step = int(stream["outputs_per_step"])
        self.skip_outputs = int(stream["skip_outputs"])
        self.path = path
        self.session = shared_session(path, providers, threads)
        self.provider = self.session.get_providers()[0]
        device = "cuda" if self.provider == CUDA else "cpu"
        state = graph["state"]
        state_inputs = {s["input"] for s in state}
        state_outputs = {s["output"] for s in state}
        frames_in = [i for i in graph["inputs"] if i["name"] not in state_inputs]
        lp_out = [o for o in graph["outputs"] if o["name"] not in state_outputs]
        if len(frames_in) != 1 or len(lp_out) != 1:
            raise EmgrtError(
                f"{path}: step graph needs exactly one non-state input and output, got "
                f"{[i['name'] for i in frames_in]} / {[o['name'] for o in lp_out]} (re-export the bundle)"
            )
        self.frames_name, self.lp_name = frames_in[0]["name"], lp_out[0]["name"]
        frames_shape = tuple(frames_in[0]["shape"])
        self.frames = np.zeros(frames_shape, dtype=np.float32)  # filled in place before each step
        self.log_probs = np.zeros(tuple(lp_out[0]["shape"]), dtype=np.float32)
        self._frames_ov = ort.OrtValue.ortvalue_from_numpy(self.frames, device, 0)
        self._lp_ov = ort.OrtValue.ortvalue_from_numpy(self.log_probs, "cpu", 0)
        self._device = device
        self._zeros = [np.zeros(tuple(s["shape"]), dtype=_NP_DTYPES[s.get("dtype", "float32")]) for s in state]
        self._sets = [
            [ort.OrtValue.ortvalue_from_numpy(z.copy(), device, 0) for z in self._zeros] for _ in range(2)
        ]
        self._bindings = []
        for a in range(2):
            b = self.session.io_binding()
            b.bind_ortvalue_input(self.frames_name, self._frames_ov)
            for s, ov_in, ov_out in zip(state, self._sets[a], self._sets[1 - a]):
                b.bind_ortvalue_input(s["input"], ov_in)
                b.bind_ortvalue_output(s["output"], ov_out)
            b.bind_ortvalue_output(self.lp_name, self._lp_ov)
            self._bindings.append(b)
        self.reset()

    def reset(self) -> None:
        """Fresh stream: zero state, skip the warm-up outputs again."""
        for ov, z in zip(self._sets[0], self._zeros):
            ov.update_inplace(z)
        self._current = 0
        self._to_skip = self.skip_outputs
        self.outputs = 0  # output frames returned since the last reset
        self.steps = 0

    def step(self, frames: np.ndarray | None = None) -> tuple[np.ndarray, int]:
        """One step on ``frames`` (F, 2, 16, 33) (or on ``self.frames`` already filled in place).

        Returns the kept log-probs (m, 99), a copy, and the index of the first of them counted
        from the stream start (output frame indices, warm-up outputs excluded)."""
        if frames is not None:
            self.frames[0] = frames
        if self._device != "cpu":
            self._frames_ov.update_inplace(self.frames)
        self.session.run_with_iobinding(self._bindings[self._current])
        self._current = 1 - self._current
        self.steps += 1
        lp = self.log_probs[0]
        if self._to_skip:
            skip = min(self._to_skip, len(lp))
            self._to_skip -= skip
            lp = lp[skip:]
        first = self.outputs
        self.outputs += len(lp)
        return lp.copy(), first
