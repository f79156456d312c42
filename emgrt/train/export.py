"""Export a trained streaming model to a bundle (ONNX step + full graphs, manifest, model card).

The step graph is one fixed-shape streaming step.  Its wrapper below drives the model's own
modules (InputBlock.frames/stack/temporal, Block.step) exactly as StreamingCTCModel.step does,
with two differences that make every shape static:

* a step takes ``frames_per_step`` frames, a multiple of the model's stride, so no frames wait
  for a full stride (StreamingCTCModel.step's ``stack_buf`` is not needed);
* the convolution's warm-up (the first ``lookahead // subsample`` outputs of a fresh stream, which
  are centred on the zero history) is tracked by a ``warmup`` state counter inside the graph: those
  outputs never enter the key/value caches as valid, and the runtime drops their log-probs
  (manifest ``stream.skip_outputs``).

A model that fuses the band's IMU (``cfg.imu``) takes two more inputs after the frames, ``imu``
(the IMU at each frame) and ``imu_present`` (1.0 / 0.0), through BandStack.imu_features.

All state starts as zeros.  The contract (names, shapes, how to drive the step) is written down in
``export/README.md``.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from emgrt import __version__
from emgrt.bundle import BATCHED_STEP_GRAPH, FORMAT, FULL_GRAPH, MODEL_CARD, STEP_GRAPH, VERSION, WEIGHTS, write_manifest
from emgrt.constants import CHANNELS_PER_BAND, N_FREQ, SAMPLE_RATE_HZ
from emgrt.dsp.features import FrontEndConfig
from emgrt.errors import ConfigError
from emgrt.manifest import IMU_CHANNELS, IMU_INPUTS
from emgrt.stream.imu_track import imu_feed
from emgrt.train.model import StreamingCTCModel, flops_per_hop

if TYPE_CHECKING:
    import numpy as np

DEFAULT_OPSET = 20  # 20: GELU is one Gelu node (onnxruntime >= 1.18), not five


def feature_shape(model: StreamingCTCModel) -> tuple[int, int, int]:
    """One frame of the model's input: (bands, electrodes, frequencies)."""
    return (model.cfg.bands, CHANNELS_PER_BAND, N_FREQ)


class StreamingStep(nn.Module):
    """forward(frames, [imu, imu_present,] warmup, conv_buf, kv_valid, k0, v0, ...) -> (log_probs,
    warmup', conv_buf', ...); ``imu`` and ``imu_present`` only for a model that fuses the IMU."""

    def __init__(self, model: StreamingCTCModel, frames_per_step: int) -> None:
        super().__init__()
        c = model.cfg
        if frames_per_step < c.subsample or frames_per_step % c.subsample:
            raise ConfigError(f"--frames-per-step must be a positive multiple of the model's subsample ({c.subsample})")
        self.model = model.eval()
        self.frames_per_step = frames_per_step
        self.outputs = frames_per_step // c.subsample
        # The input normalisation (a fixed affine at inference) folded into each band's stacked
        # rolled weights: (bands, electrodes * freq, rotations * band_width) and a bias.
        with torch.no_grad():
            norm = model.input.norm
            scale = torch.rsqrt(norm.running_var + norm.eps) * norm.weight
            shift = norm.bias - norm.running_mean * scale
            weights, biases = [], []
            for b, mlp in enumerate(model.input.bands):
                w = mlp.rolled_weight()  # (R * width, E * freq)
                part = slice(b * w.shape[1], (b + 1) * w.shape[1])
                weights.append((w * scale[part]).T)
                biases.append(mlp.linear.bias.repeat(len(mlp.rotations)) + w @ shift[part])
        self.register_buffer("band_weight", torch.stack(weights))  # (bands, E * freq, R * width)
        self.register_buffer("band_bias", torch.stack(biases)[:, None])  # (bands, 1, R * width)

    def band_features(self, frames: Tensor) -> Tensor:
        """InputBlock.frames on (F, bands, 16, 33) -> (F, bands * band_width), the normalisation folded
        into the band weights (two Gemms with onnxruntime's prepacked weights; one batched MatMul
        over both bands measured slower)."""
        x = frames.flatten(-2)  # (F, bands, E * freq)
        bands = self.model.input.bands
        return torch.cat(
            [mlp.pool(x[:, b] @ self.band_weight[b] + self.band_bias[b]) for b, mlp in enumerate(bands)], dim=-1
        )

    def fuse(self, z: Tensor, imu: tuple[Tensor, ...]) -> Tensor:
        """Band features ``z`` (..., F, C) with the IMU features appended when the model fuses the
        IMU: ``imu`` is (imu (B, F, 6), imu_present (B,)), or () for an EMG-only model."""
        if not imu:
            return z
        y = self.model.input.imu_features(*imu)  # (B, F, imu_width)
        return torch.cat([z, y.reshape(*z.shape[:-1], y.shape[-1])], dim=-1)

    def imu_specs(self) -> list[tuple[str, tuple[int, ...]]]:
        """The IMU inputs between the frames and the state, batch 1 like the frames (the batched
        step has ``batch`` for that 1); none for an EMG-only model."""
        return list(zip(IMU_INPUTS, [(1, self.frames_per_step, IMU_CHANNELS), (1,)])) if self.model.cfg.imu else []

    def split(self, inputs: tuple[Tensor, ...]) -> tuple[tuple[Tensor, ...], tuple[Tensor, ...]]:
        """The inputs after the frames -> (the IMU inputs, the state inputs)."""
        n = len(self.imu_specs())
        return inputs[:n], inputs[n:]

    def state_specs(self) -> list[tuple[str, tuple[int, ...]]]:
        c = self.model.cfg
        specs = [("warmup", (1,)), ("conv_buf", (c.conv_kernel - 1, c.dim)), ("kv_valid", (c.window,))]
        for i in range(c.layers):
            specs += [(f"k{i}", (c.heads, c.window, c.head_dim)), (f"v{i}", (c.heads, c.window, c.head_dim))]
        return specs

    def temporal(self, u: Tensor) -> Tensor:
        """InputBlock.temporal on (conv_kernel - 1 + g, dim): the depthwise convolution as a
        weighted sum over its taps (unfold, multiply, sum), which onnxruntime runs faster than a
        Conv node producing a handful of frames."""
        inp = self.model.input
        taps = u.unfold(0, inp.conv.kernel_size[0], 1)  # (g, dim, K)
        return inp.residual(u, (taps * inp.conv.weight[:, 0]).sum(-1) + inp.conv.bias)

    def forward(self, frames: Tensor, *inputs: Tensor):
        m, c, g = self.model, self.model.cfg, self.outputs
        imu, (warmup, conv_buf, kv_valid, *kv) = self.split(inputs)
        # Everything after the input runs without the batch axis: each Linear is then one Gemm,
        # with no reshapes around it (a tenth of the step's time on a small model).
        u = m.input.stack(self.fuse(self.band_features(frames[0]), imu))  # (g, dim)
        u = torch.cat([conv_buf, u], dim=0)
        new_conv = u[g:]
        x = self.temporal(u)  # (g, dim)
        # Outputs still in the warm-up are computed but are never valid keys: not for the other
        # new frames of this step (F > subsample) and not in the caches.
        real = (torch.arange(g, dtype=warmup.dtype) + warmup) >= c.lookahead_out
        new_warmup = torch.clamp(warmup + g, max=float(c.lookahead_out))
        valid = kv_valid > 0.5
        new_kv = []
        for i, block in enumerate(m.blocks):
            x, k_i, v_i = block.step(x, kv[2 * i], kv[2 * i + 1], valid, real)
            new_kv += [k_i, v_i]
        new_valid = torch.cat([kv_valid, real.to(kv_valid.dtype)])[g:]
        log_probs = torch.log_softmax(m.head(m.ln_out(x)), dim=-1)[None]
        return (log_probs, new_warmup, new_conv, new_valid, *new_kv)


class BatchedStreamingStep(StreamingStep):
    """The same step for B streams at once (``rec.decode(streams)``): every input and output gets a
    leading ``batch`` axis, each stream with its own state (its own warm-up and valid cache
    slots).  Row b of the outputs is what :class:`StreamingStep` computes for stream b alone (up
    to float rounding in the batched matrix products); a dynamic batch axis, so any number of
    streams share one onnxruntime call."""

    def band_features(self, frames: Tensor) -> Tensor:
        """(B, F, bands, 16, 33) -> (B, F, bands * band_width), as StreamingStep.band_features."""
        x = frames.flatten(-2)  # (B, F, bands, E * freq)
        bands = self.model.input.bands
        return torch.cat(
            [mlp.pool(x[..., b, :] @ self.band_weight[b] + self.band_bias[b]) for b, mlp in enumerate(bands)], dim=-1
        )

    def attend_step(self, block, x: Tensor, k_cache: Tensor, v_cache: Tensor, valid: Tensor, real: Tensor):
        """Block.step with a per-stream key mask: x (B, g, dim), caches (B, H, window, d),
        ``valid`` (B, window) and ``real`` (B, g) the cache slots and new frames that are real."""
        attn, g = block.attn, x.shape[1]
        q, k_new, v_new = attn.project(block.ln1(x))  # (B, H, g, d)
        k = torch.cat([k_cache, k_new], dim=-2)
        v = torch.cat([v_cache, v_new], dim=-2)
        w = attn.window
        k_pos = torch.arange(w + g)
        dist = k_pos[w:, None] - k_pos[None, :]  # (g, w + g)
        inside = (dist >= 0) & (dist <= w)
        k_valid = torch.cat([valid, real], dim=1)  # (B, w + g)
        inside = inside[None] & (k_valid[:, None, :] | (dist == 0)[None])  # a query always sees itself
        bias = attn.rel_bias[:, dist.clamp(0, w)][None].masked_fill(~inside[:, None], float("-inf"))
        y = attn.merge(attn.attend(q, k, v, bias))
        return block.ffn(x + block.drop(y)), k[..., g:, :], v[..., g:, :]

    def forward(self, frames: Tensor, *inputs: Tensor):
        m, c, g = self.model, self.model.cfg, self.outputs
        imu, (warmup, conv_buf, kv_valid, *kv) = self.split(inputs)
        u = m.input.stack(self.fuse(self.band_features(frames), imu))  # (B, g, dim)
        u = torch.cat([conv_buf, u], dim=1)
        new_conv = u[:, g:]
        taps = u.unfold(1, m.input.conv.kernel_size[0], 1)  # (B, g, dim, K)
        x = m.input.residual(u, (taps * m.input.conv.weight[:, 0]).sum(-1) + m.input.conv.bias)
        real = (torch.arange(g, dtype=warmup.dtype)[None] + warmup) >= c.lookahead_out  # (B, g)
        new_warmup = torch.clamp(warmup + g, max=float(c.lookahead_out))
        valid = kv_valid > 0.5
        new_kv = []
        for i, block in enumerate(m.blocks):
            x, k_i, v_i = self.attend_step(block, x, kv[2 * i], kv[2 * i + 1], valid, real)
            new_kv += [k_i, v_i]
        new_valid = torch.cat([kv_valid, real.to(kv_valid.dtype)], dim=1)[:, g:]
        log_probs = torch.log_softmax(m.head(m.ln_out(x)), dim=-1)
        return (log_probs, new_warmup, new_conv, new_valid, *new_kv)


class FullWindow(nn.Module):
    """forward(features (1, T, bands, 16, 33) [, imu (1, T, 6), imu_present (1,)]) -> log_probs
    (1, T // k - lookahead // k, outputs); the IMU inputs only for a model that fuses the IMU."""

    def __init__(self, model: StreamingCTCModel) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).eval()
        for block in self.model.blocks:
            block.attn.chunked = False  # no Python branch on T inside the graph

    def forward(self, features: Tensor, *imu: Tensor) -> Tensor:
        return self.model(features, None, *imu)[0]


def _export(module: nn.Module, args: tuple, path: Path, in_names, out_names, opset: int, dynamic=None) -> None:
    """torch.export-based exporter (dynamo=True, needs onnxscript): sizes stay symbolic, so the
    whole-window graph takes any T (the TorchScript exporter froze ``T // subsample`` at the
    example's length).  The step graph has static shapes either way."""
    import contextlib
    import io
    import logging
    import warnings

    quiet = [logging.getLogger(n) for n in ("torch.onnx", "onnxscript", "torch._dynamo", "torch.export")]
    levels = [q.level for q in quiet]
    for q in quiet:
        q.setLevel(logging.ERROR)
    try:
        with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")  # exporter chatter (deprecations, optional torchvision ops)
            program = torch.onnx.export(
                module,
                args,
                input_names=list(in_names),
                output_names=list(out_names),
                opset_version=opset,
                dynamic_shapes=dynamic,
                dynamo=True,
                verbose=False,
                optimize=True,
            )
    finally:
        for q, level in zip(quiet, levels):
            q.setLevel(level)
    program.save(str(path))


def _run_info(source: str | Path) -> dict:
    """The run folder's run.json (data folder, seed, ...), or {} for a bare checkpoint file."""
    src = Path(source)
    run_json = (src if src.is_dir() else src.parent) / "run.json"
    return json.loads(run_json.read_text()) if run_json.is_file() else {}


def _io(names, shapes) -> list[dict]:
    return [{"name": n, "shape": list(s), "dtype": "float32"} for n, s in zip(names, shapes)]


def export_bundle(source: str | Path, out: str | Path, **options) -> Path:
    """Write a bundle for the checkpoint (or run folder) ``source`` into ``out``; returns ``out``.
    ``options``: those of :func:`export_model` (frames_per_step, opset, int8, char_lm, decoder)."""
    from emgrt.train.trainer import load_model

    model, ckpt = load_model(source)
    if not isinstance(model, StreamingCTCModel):
        raise ConfigError(f"{source}: only streaming transformer models export to a streaming bundle (this is {type(model).__name__})")
    src = Path(source)
    info = _run_info(source)
    metric = ckpt.get("metric", "cer")
    best = ckpt.get("best_metric", ckpt.get("best_cer"))
    provenance = {
        "run": str(src if src.is_dir() else src.parent) if info else None,
        "checkpoint": str(src),
        "step": ckpt.get("step"),
        "data": info.get("data_dir"),
        "data_seed": info.get("seed"),
        f"best_val_{metric}": best if isinstance(best, float) and math.isfinite(best) else None,
    }
    return export_model(model, ckpt["recipe"], out, provenance=provenance, **options)


def export_model(
    model: StreamingCTCModel,
    recipe_dict: dict,
    out: str | Path,
    *,
    provenance: dict | None = None,
    frames_per_step: int | None = None,
    opset: int = DEFAULT_OPSET,
    int8: bool = False,
    char_lm: str | Path | None = None,
    decoder: dict | None = None,
) -> Path:
    """Write a bundle for an in-memory ``model`` trained with the recipe ``recipe_dict``."""
    from emgrt.train.recipe import Recipe

    recipe = Recipe.from_dict(recipe_dict)
    task = recipe.spec
    model = model.eval()
    c = model.cfg
    if (c.num_outputs, c.bands) != (task.num_outputs, task.bands):
        raise ConfigError(f"the model ({c.bands} band(s), {c.num_outputs} outputs) does not fit its recipe's "
                          f"{task.name} task ({task.bands} band(s), {task.num_outputs} outputs)")
    f = frames_per_step or c.subsample
    shape = feature_shape(model)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    step = StreamingStep(model, f)
    specs = step.state_specs()
    ins = [("frames", (1, f, *shape)), *step.imu_specs()]  # batch 1: the batched step has `batch` for it
    in_names = [n for n, _ in ins + specs]
    out_names = ["log_probs"] + [f"{n}_out" for n, _ in specs]
    _export(step, tuple(torch.zeros(s) for _, s in ins + specs), out / STEP_GRAPH, in_names, out_names, opset)
    # The batched step: the same inputs and outputs with a leading dynamic `batch` axis.
    batch = torch.export.Dim("batch", min=1, max=4096)
    example_b = 2  # not 1: torch.export would specialise a size-1 axis
    _export(
        BatchedStreamingStep(model, f),
        (*[torch.zeros(example_b, *s[1:]) for _, s in ins], *[torch.zeros(example_b, *s) for _, s in specs]),
        out / BATCHED_STEP_GRAPH, in_names, out_names, opset,
        dynamic=({0: batch}, tuple({0: batch} for _ in ins[1:] + specs)),  # forward(frames, *inputs)
    )

    full = FullWindow(model)
    t_in = 8 * c.subsample + c.lookahead
    t_dim = torch.export.Dim("frames", min=c.subsample + c.lookahead + 1)
    full_names = ["features", *IMU_INPUTS] if c.imu else ["features"]
    imu = (torch.zeros(1, t_in, IMU_CHANNELS), torch.ones(1)) if c.imu else ()
    _export(
        full, (torch.zeros(1, t_in, *shape), *imu), out / FULL_GRAPH, full_names, ["log_probs"], opset,
        dynamic=({1: t_dim}, ({1: t_dim}, None)) if c.imu else ({1: t_dim},),  # forward(features, *imu): T shared
    )

    bands = task.band_names
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "task": {"name": task.name, "inputs": ["emg", "imu"] if c.imu else ["emg"]},
        "signal": {
            "sample_rate": SAMPLE_RATE_HZ,
            "bands": list(bands),
            "channels_per_band": CHANNELS_PER_BAND,
            "channels": len(bands) * CHANNELS_PER_BAND,
            "channel_order": "left band electrodes 0-15, then right band electrodes 0-15 "
            "(emg2qwerty's emg_left, emg_right columns)" if not task.gni else
            "the band's electrodes 0-15 (the generic-neuromotor-interface release's emg column)",
            "filters": [s.to_dict() for s in recipe.data_cfg.filters],
            "unit": task.unit,
        },
        "frontend": FrontEndConfig().to_dict(),
        "stream": {
            "frames_per_step": f,
            "samples_per_step": f * FrontEndConfig().hop,
            "outputs_per_step": f // c.subsample,
            "subsample": c.subsample,
            "output_time_offset": model.output_time_offset,
            "lookahead_frames": c.lookahead,
            "skip_outputs": c.lookahead_out,
            "left_context_frames": model.left_context,
            "receptive_field_frames": model.receptive_field,
        },
        "charset": {"labels": task.output_labels, "blank": c.blank},
        "step_graph": {
            "file": STEP_GRAPH,
            "opset": opset,
            "inputs": _io(in_names, [s for _, s in ins + specs]),
            "outputs": _io(out_names, [(1, f // c.subsample, c.num_outputs)] + [s for _, s in specs]),
            "state": [
                {"name": n, "input": n, "output": f"{n}_out", "shape": list(s), "dtype": "float32", "init": "zeros"}
                for n, s in specs
            ],
        },
        "batched_step_graph": {
            "file": BATCHED_STEP_GRAPH,
            "opset": opset,
            "inputs": _io(in_names, [["batch", *s[1:]] for _, s in ins] + [["batch", *s] for _, s in specs]),
            "outputs": _io(out_names, [["batch", f // c.subsample, c.num_outputs]] + [["batch", *s] for _, s in specs]),
            "state": [
                {"name": n, "input": n, "output": f"{n}_out", "shape": list(s), "dtype": "float32", "init": "zeros"}
                for n, s in specs
            ],
        },
        "full_graph": {
            "file": FULL_GRAPH,
            "opset": opset,
            "inputs": _io(full_names, [[1, "T", *shape], [1, "T", IMU_CHANNELS], [1]][: len(full_names)]),
            "outputs": [{"name": "log_probs", "shape": [1, f"T // {c.subsample} - {c.lookahead_out}", c.num_outputs],
                         "dtype": "float32"}],
        },
        "model": {
            "name": c.name,
            "config": c.to_dict(),
            "params": model.num_params,
            "flops_per_hop": flops_per_hop(c, f),
            "weights": WEIGHTS,
        },
        "decoder": {
            "default": "greedy" if task.decoding == "ctc" else "gesture",
            # Tuning per decoder kind (emg2qwerty's char-LM settings); kinds not listed use their
            # own defaults (the word-LM decoder's differ: see emgrt.decode.beam).
            "options": {"char-lm": {"beam_size": 50, "lm_weight": 2.0, "insertion_bonus": 2.0}} if task.decoding == "ctc" else {},
            "char_lm": None,
            "word_lm": None,
            **(decoder or {}),
        },
        "provenance": {
            "checkpoint": None,
            "step": None,
            "data": None,
            **(provenance or {}),
            "recipe": recipe_dict,
            "exported_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "emgrt_version": __version__,
            "torch_version": torch.__version__,
        },
    }
    if char_lm:
        import shutil

        lm = Path(char_lm)
        shutil.copyfile(lm, out / lm.name)
        manifest["decoder"]["char_lm"] = lm.name
        if not (decoder or {}).get("default"):
            manifest["decoder"]["default"] = "char-lm"
    if int8:
        import tempfile

        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.quantization.shape_inference import quant_pre_process

        for graph in ("step_graph", "batched_step_graph", "full_graph"):
            src = out / manifest[graph]["file"]
            dst = src.with_name(src.stem + ".int8.onnx")
            with tempfile.TemporaryDirectory() as tmp:  # onnxruntime's recommended pre-processing first
                pre = Path(tmp) / "pre.onnx"
                quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
                quantize_dynamic(str(pre), str(dst), weight_type=QuantType.QInt8)
            manifest[graph]["int8_file"] = dst.name
    # Tensors only (no pickled code), so `torch.load(..., weights_only=True)` reads it safely.
    torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, out / WEIGHTS)
    write_model_card(out, manifest)
    write_manifest(out, manifest)
    return out


def write_model_card(out: Path, manifest: dict, measured: str = "") -> None:
    from emgrt.tasks import task_spec

    m, s, p = manifest["model"], manifest["stream"], manifest["provenance"]
    recipe = p["recipe"]
    task = task_spec(manifest.get("task", {}).get("name", "typing"))
    head = "CTC" if task.decoding == "ctc" else "framewise classifier"
    bands = manifest["signal"]["bands"]
    lines = [
        f"# Model card: {m['name'] or 'model'}",
        "",
        f"A streaming transformer {head} for the {task.name} task ({len(task.labels)} classes, {task.metric.upper()}; "
        f"{len(bands)} band(s): {', '.join(bands)}) exported by `emgrt export`.",
        "",
        f"- parameters: {m['params']:,}; {m['flops_per_hop'] / 1e6:.2f} MFLOP per step "
        f"({s['samples_per_step']} samples = {1000 * s['samples_per_step'] / manifest['signal']['sample_rate']:.0f} ms)",
        "- reads: EMG + IMU (the band's accelerometer and gyroscope at each frame; a missing IMU stream is fed as "
        "zeros with imu_present 0)" if "imu" in manifest.get("task", {}).get("inputs", ()) else "- reads: EMG",
        f"- layers x dim: {m['config']['layers']} x {m['config']['dim']}; attention left context "
        f"{s['left_context_frames'] * 8} ms per layer; lookahead {s['lookahead_frames'] * 8} ms (input block only)",
        f"- trained from `{p['checkpoint']}` (step {p['step']}), recipe `{recipe.get('name', '?')}`, "
        f"data `{p.get('data')}`",
    ]
    best = p.get(f"best_val_{task.metric}")
    if best is not None:
        how = " (greedy)" if task.decoding == "ctc" else ""
        lines += [f"- best validation {task.metric.upper()} during training{how}: {best:.2f}"]
    lines += [
        f"- signal filters: {json.dumps(manifest['signal']['filters'])}",
        f"- exported {p['exported_at']} with emgrt {p['emgrt_version']}, torch {p['torch_version']}, "
        f"ONNX opset {manifest['step_graph']['opset']}",
    ]
    if measured:
        lines += ["", "## Measured", "", measured]
    (out / MODEL_CARD).write_text("\n".join(lines) + "\n", encoding="utf-8")


# ----------------------------------------------------------------------------------------------
# verify
# ----------------------------------------------------------------------------------------------

PARITY_TOLERANCE = 1e-4


def _windows(bundle, data_dir: str | Path, n_windows: int, sessions: int | None = None, seed: int = 0):
    """Feature windows (1, T, bands, 16, 33) of uneven lengths from real recordings of the bundle's
    task, each with its ground-truth labels: the manifest's filters + the log-spectrogram, as the
    engine computes them.  ``sessions``: draw the windows from this many recordings (default: all,
    round robin).  Returns the windows, the recordings used, and each window's IMU: for a bundle
    that reads it, (1, T, 6) float32 at the last sample of each frame (the training definition,
    emgrt.data.dataset), None where the recording has none (and for an EMG-only bundle)."""
    import numpy as np

    from emgrt.data.sources import all_sources
    from emgrt.dsp.features import LogSpectrogram
    from emgrt.dsp.filters import FilterSpec, design_sos, filter_offline
    from emgrt.tasks import task_spec

    sos = design_sos([FilterSpec.from_dict(f) for f in bundle.manifest["signal"]["filters"]])
    spec = LogSpectrogram()
    rng = np.random.default_rng(seed)
    sources = all_sources(task_spec(bundle.spec.task.name), data_dir)
    if sessions is not None:
        if sessions < 1:
            raise ConfigError(f"--sessions must be at least 1, got {sessions}")
        sources = [sources[k] for k in sorted(rng.choice(len(sources), min(sessions, len(sources)), replace=False))]
    fused = "imu" in bundle.spec.task.inputs
    fe = spec.cfg
    out, imus = [], []
    for i in range(n_windows):
        src = sources[i % len(sources)]
        total = len(src.time)
        n = min(total, int(rng.integers(5 * 2000, 12 * 2000)) + int(rng.integers(0, 64)))  # 5-12 s, any phase
        start = int(rng.integers(0, max(1, total - n)))
        x = src.emg(start, start + n)
        labels, _ = src.labels(float(src.time[start]), float(src.time[start + n - 1]))
        feats = spec(filter_offline(sos, x))[None].astype(np.float32)
        out.append((feats, labels))
        imu = src.imu_at(src.time[start + fe.last_samples(feats.shape[1])]) if fused else None
        imus.append(None if imu is None else imu[None])
    for src in sources:
        src.close()
    return out, min(len(sources), n_windows), imus  # recordings actually used


def _synthetic_dataset(root: Path, task: str = "typing") -> Path:
    """Two short `emgrt synth` sessions of ``task`` (seed 0) for bundles whose training data is not here."""
    from emgrt.synth import task_synth

    make = task_synth(task)
    extra = {"test_sessions": 0} if task == "typing" else {}
    cfg = make.config(users=1, sessions=2, minutes=0.4, seed=0, test_users=0, val_sessions=1, **extra)
    cfg.validate()
    return Path(make.generate(root / "synth", cfg).out_dir)


def stream_step_graph(session, bundle, feats, imu: np.ndarray | None = None):
    """Drive the step graph (an onnxruntime ``session``) over (1, T, ...) ``feats`` from a fresh
    state, F frames per step, warm-up outputs dropped: the outputs a live stream emits.  A graph
    that reads the IMU gets ``imu`` (1, T, 6) at the frames (None: absent, see :func:`imu_feed`)."""
    import numpy as np

    m = bundle.manifest
    spec = m["step_graph"]["state"]
    state = {s["input"]: np.zeros(s["shape"], np.float32) for s in spec}
    f = m["stream"]["frames_per_step"]
    outs = []
    for i in range(feats.shape[1] // f):
        at = slice(i * f, (i + 1) * f)
        imu_in = imu_feed(bundle.spec.step_graph, None if imu is None else imu[:, at], f)
        res = session.run(None, {"frames": feats[:, at], **imu_in, **state})
        outs.append(res[0][0])
        state = {s["input"]: r for s, r in zip(spec, res[1:])}
    return np.concatenate(outs)[m["stream"]["skip_outputs"] :]


def stream_batched_step_graph(session, bundle, feats: list, starts: list[int], imu: list | None = None) -> list:
    """Drive the batched step graph over several streams at once: stream b's (1, T_b, ...)
    features from step ``starts[b]`` on (streams join late and leave when their frames run out),
    each with its own state (and, for a graph that reads the IMU, ``imu[b]`` (1, T_b, 6) or None:
    absent; all absent when ``imu`` is None).  Returns each stream's outputs, as
    :func:`stream_step_graph` gives them for that stream alone."""
    import numpy as np

    m = bundle.manifest
    spec, graph = m["batched_step_graph"]["state"], bundle.spec.batched_step_graph
    f, skip = m["stream"]["frames_per_step"], m["stream"]["skip_outputs"]
    ends = [s + x.shape[1] // f for s, x in zip(starts, feats)]
    state: list = [[np.zeros(x["shape"], np.float32) for x in spec] for _ in feats]
    outs: list[list] = [[] for _ in feats]
    for i in range(min(starts), max(ends)):
        live = [b for b in range(len(feats)) if starts[b] <= i < ends[b]]
        if not live:
            continue
        j0 = [(i - starts[b]) * f for b in live]
        feed = {"frames": np.stack([feats[b][0, j : j + f] for b, j in zip(live, j0)])}
        rows = [imu_feed(graph, None if imu is None or imu[b] is None else imu[b][:, j : j + f], f)
                for b, j in zip(live, j0)]
        feed.update({name: np.concatenate([r[name] for r in rows]) for name in rows[0]})
        for k, x in enumerate(spec):
            feed[x["input"]] = np.stack([state[b][k] for b in live])
        res = session.run(None, feed)
        for row, b in enumerate(live):
            outs[b].append(res[0][row])
            state[b] = [r[row] for r in res[1:]]
    return [np.concatenate(o)[skip:] for o in outs]


def verify_bundle(
    bundle_dir: str | Path,
    data_dir: str | Path | None = None,
    windows: int = 4,
    progress=None,
    *,
    sessions: int | None = None,
    providers: list[str] | None = None,
    write_card: bool = False,
) -> dict:
    """Parity of the bundle's graphs on real windows; int8 graphs report their CER change.  A bundle
    that reads the IMU is checked with each window's IMU (present where the recording has one) and
    once more, step vs whole window, with the IMU absent.

    Data: ``data_dir``, else the dataset named by the bundle's provenance, else two synthetic
    sessions made by `emgrt synth` in a temporary folder.  ``write_card``: append the figures to
    MODEL_CARD.md (and refresh the manifest's hashes)."""
    import tempfile

    import numpy as np

    from emgrt.bundle import Bundle, write_manifest
    from emgrt.decode import decode_offline
    from emgrt.metrics import ErrorCounts
    from emgrt.stream.step_runner import make_session
    from emgrt.train.trainer import load_model

    bundle = Bundle.load(bundle_dir)
    prov = bundle.manifest["provenance"]
    if data_dir is not None and not Path(data_dir).is_dir():
        raise ConfigError(f"{data_dir}: no such dataset folder (pass --data DIR with session files)")
    with tempfile.TemporaryDirectory(prefix="emgrt-verify-") as tmp:
        if data_dir is None and prov.get("data") and Path(prov["data"]).is_dir():
            data_dir = prov["data"]
        task = bundle.spec.task.name
        source = str(data_dir) if data_dir else f"synthetic (emgrt synth --task {task}, 2 sessions, seed 0)"
        data_dir = data_dir or _synthetic_dataset(Path(tmp), task)
        wins, n_sessions, imus = _windows(bundle, data_dir, windows, sessions)
    full = make_session(bundle.full_path, providers, threads=0)
    step = make_session(bundle.step_path, providers, threads=0)
    ckpt = prov.get("checkpoint")
    model = load_model(ckpt)[0] if ckpt and Path(ckpt).exists() else None
    torch_diff, stream_diff, batched_diff, absent_diff, int8_prob_diff = [], [], [], [], []
    fused = bool(bundle.spec.full_graph.imu_inputs)
    batched = make_session(bundle.batched_step_path, providers, threads=0) if bundle.batched_step_path else None
    counts = {"fp32": ErrorCounts(), "int8": ErrorCounts()}
    int8 = bundle.int8_path("full_graph")
    int8_sess = make_session(int8, providers, threads=0) if int8 else None
    labels = bundle.labels
    for i, ((feats, truth), imu) in enumerate(zip(wins, imus)):
        imu_in = imu_feed(bundle.spec.full_graph, imu, feats.shape[1])
        lp = full.run(None, {"features": feats, **imu_in})[0][0]
        if model is not None:
            with torch.no_grad():
                ref = model(torch.from_numpy(feats), None, *map(torch.from_numpy, imu_in.values()))[0][0].numpy()
            torch_diff.append(float(np.abs(ref - lp).max()))
        # The stream has seen whole steps only (T // F * F frames): its outputs are a prefix of the
        # whole window's, which are causal, so the prefix is compared.
        streamed = stream_step_graph(step, bundle, feats, imu)
        n = len(streamed)
        if not 0 < n <= len(lp) or len(lp) - n > bundle.stream["outputs_per_step"]:
            raise ConfigError(f"{bundle.step_path}: the stream emitted {n} outputs where the whole window has {len(lp)}; "
                              "the bundle's stream parameters do not match its graphs (re-export it)")
        stream_diff.append(float(np.abs(streamed - lp[:n]).max()))
        if batched is not None:  # this window streamed beside the previous one, which joins 3 steps later
            pair = [feats] + ([wins[i - 1][0]] if i else [])
            got = stream_batched_step_graph(batched, bundle, pair, [0, 3][: len(pair)], [imu] + imus[i - 1 : i])
            batched_diff.append(float(np.abs(got[0] - streamed).max()))
        if fused:  # the band's IMU stream missing: zeros, imu_present 0
            absent = full.run(None, {"features": feats, **imu_feed(bundle.spec.full_graph, None, feats.shape[1])})[0][0]
            absent_diff.append(float(np.abs(stream_step_graph(step, bundle, feats) - absent[:n]).max()))
        if int8_sess is not None and bundle.spec.task.name == "gestures":  # no text: the posteriors' change
            q = int8_sess.run(None, {"features": feats, **imu_in})[0][0]
            int8_prob_diff.append(float(np.abs(np.exp(q) - np.exp(lp)).max()))
        elif int8_sess is not None:
            ref_keys = "".join(labels[t] for t in truth)
            for name, out in (("fp32", lp), ("int8", int8_sess.run(None, {"features": feats, **imu_in})[0][0])):
                hyp = "".join(decode_offline("greedy", out, labels, bundle.blank))
                counts[name].update(ref_keys, hyp)
        if progress:
            progress(i + 1, len(wins))
    report = {
        "bundle": str(bundle.dir),
        "data": source,
        "sessions": n_sessions,
        "providers": full.get_providers(),
        "windows": len(wins),
        "frames": [int(f.shape[1]) for f, _ in wins],
        "tolerance": PARITY_TOLERANCE,
        "checkpoint": ckpt if model is not None else None,
        "torch_vs_onnx_max_abs": max(torch_diff) if torch_diff else None,
        "step_vs_full_max_abs": max(stream_diff),
        "batched_vs_step_max_abs": max(batched_diff) if batched_diff else None,
        "imu_windows": sum(x is not None for x in imus) if fused else None,  # windows with the IMU present
        "step_vs_full_imu_absent_max_abs": max(absent_diff) if fused else None,
    }
    report["torch_vs_onnx_ok"] = None if model is None else report["torch_vs_onnx_max_abs"] <= PARITY_TOLERANCE
    report["step_vs_full_ok"] = report["step_vs_full_max_abs"] <= PARITY_TOLERANCE
    report["batched_vs_step_ok"] = None if batched is None else report["batched_vs_step_max_abs"] <= PARITY_TOLERANCE
    report["step_vs_full_imu_absent_ok"] = None if not fused else report["step_vs_full_imu_absent_max_abs"] <= PARITY_TOLERANCE
    if int8_prob_diff:
        report["int8"] = {"max_abs_prob_change": max(int8_prob_diff)}
    elif int8_sess is not None:
        report["int8"] = {"greedy_cer_fp32": counts["fp32"].cer, "greedy_cer_int8": counts["int8"].cer,
                          "cer_change": counts["int8"].cer - counts["fp32"].cer}
    if write_card:
        write_model_card(bundle.dir, bundle.manifest, measured=_card_figures(report))
        write_manifest(bundle.dir, bundle.manifest)
    return report


def _card_figures(rep: dict) -> str:
    """The verify figures as model-card lines (measured, nothing else)."""
    frames = f"{min(rep['frames'])}-{max(rep['frames'])} frames"
    lines = [f"`emgrt export verify` on {rep['windows']} windows ({frames}) from {rep['sessions']} sessions of "
             f"{rep['data']}, {rep['providers'][0]}:", ""]
    if rep["torch_vs_onnx_max_abs"] is not None:
        lines.append(f"- torch vs ONNX Runtime, max abs log-prob difference: {rep['torch_vs_onnx_max_abs']:.2e}")
    lines.append(f"- streaming step vs whole window, max abs log-prob difference: {rep['step_vs_full_max_abs']:.2e}")
    if rep.get("batched_vs_step_max_abs") is not None:
        lines.append(f"- batched step (2 streams) vs the step alone, max abs log-prob difference: {rep['batched_vs_step_max_abs']:.2e}")
    if rep.get("step_vs_full_imu_absent_max_abs") is not None:
        lines.append(f"- the IMU present in {rep['imu_windows']} of the {rep['windows']} windows above; with it absent "
                     f"(imu_present 0), streaming step vs whole window: {rep['step_vs_full_imu_absent_max_abs']:.2e}")
    if "int8" in rep and "max_abs_prob_change" in rep["int8"]:
        lines.append(f"- int8 vs fp32 whole window, max abs change of a class probability: {rep['int8']['max_abs_prob_change']:.2e}")
    elif "int8" in rep:
        q = rep["int8"]
        lines.append(f"- greedy CER on those windows: fp32 {q['greedy_cer_fp32']:.2f}, int8 {q['greedy_cer_int8']:.2f} "
                     f"({q['cer_change']:+.2f} points)")
    return "\n".join(lines)
