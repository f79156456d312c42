"""`emgrt calibrate`: a personal bundle from a few minutes of one person's typing.

    recordings ──┬── calibration part (the first --minutes, in order)
                 │        └── train pieces + a val piece in a temporary dataset folder
                 └── held-out part: --held-out FILE, else the last recording's last HOLDOUT_FRAC
                     (at least MIN_HOLDOUT_S); never trained on

1. the bundle's weights (``weights.pt``, read with ``torch.load(weights_only=True)``) and its
   training recipe (manifest ``provenance.recipe``) are fine-tuned on the calibration part with
   the calibration schedule below (the recipe's data pipeline, a gentle learning rate);
2. the best checkpoint (by CER on the val piece) is exported as a bundle next to the source's
   language model, decoder options and adaptation statistics, and verified (step == full graph);
3. the held-out part is decoded offline by both bundles (greedy and the bundle's default decoder):
   the CER before and after.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from emgrt.errors import ConfigError, DataFileError

HOLDOUT_FRAC = 0.2
MIN_HOLDOUT_S = 20.0
VAL_FRAC = 0.15  # of the calibration part, for picking the checkpoint
DEFAULT_STEPS = 150
# The calibration schedule (as models/recipes/finetune.toml, which personalised every held-out
# user in models/README.md): a lower peak LR than training, warm-up, cosine to 2 %.
OPTIM = {"lr": 3e-4, "weight_decay": 0.01, "betas": [0.9, 0.98], "warmup_frac": 0.05, "min_lr_ratio": 0.02, "grad_clip": 1.0}


def calibration_recipe(bundle, steps: int, threads: int = 0, lr: float | None = None):
    """The bundle's training recipe with the calibration schedule (``steps`` updates, peak ``lr``)."""
    from emgrt.train.recipe import Recipe

    recipe = (bundle.manifest.get("provenance") or {}).get("recipe")
    if not isinstance(recipe, dict):
        raise ConfigError(f"{bundle.dir}: the manifest has no provenance.recipe to fine-tune with; re-export the bundle")
    doc = json.loads(json.dumps(recipe))  # a deep copy
    doc.pop("distill", None)
    doc["model"] = dict(bundle.manifest["model"]["config"])
    doc["optim"] = {**OPTIM, **({"lr": lr} if lr else {})}
    doc["train"] = {"max_steps": steps, "max_minutes": 0, "val_every": max(10, steps // 5), "val_max_batches": 8,
                    "log_every": 10, "seed": 0, "threads": threads}
    loader = dict(doc.get("data", {}).get("loader", {}))
    loader["num_workers"] = 0  # minutes of data: loading in-process is enough and forks nothing
    doc.setdefault("data", {})["loader"] = loader
    doc["name"] = f"{recipe.get('name') or 'model'}-calibrated"
    return Recipe.from_dict(doc)


def load_weights(bundle):
    """The bundle's model (torch, eval mode) from its sealed ``weights.pt``."""
    import torch

    from emgrt.train.model import ModelConfig, StreamingCTCModel

    name = bundle.manifest["model"].get("weights")
    if not name:
        raise ConfigError(f"{bundle.dir}: this bundle carries no weights.pt to fine-tune (bundles exported before "
                          "calibration existed); re-export it from its run with `emgrt export`")
    model = StreamingCTCModel(ModelConfig.from_dict(bundle.manifest["model"]["config"]))
    try:
        state = torch.load(bundle.path(name), map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as exc:  # a truncated or foreign file: one line, not a torch traceback
        raise DataFileError(bundle.path(name), f"cannot be loaded as this model's weights ({str(exc).splitlines()[0][:160]})",
                            "re-export the bundle") from None
    return model.eval()


def split_recordings(
    recordings: list[Path], folder: Path, minutes: float | None, held_out: Path | None = None,
) -> tuple[Path, Path, float, float]:
    """Cut ``recordings`` (one person's typing, in order) into a calibration dataset in ``folder``
    (train pieces + one val piece) and a held-out session: ``held_out`` when given, else the last
    HOLDOUT_FRAC (at least MIN_HOLDOUT_S) of the last recording.  Calibration is the first
    ``minutes`` of what remains.  Returns (dataset folder, held-out session, calibration s, held-out s)."""
    from emgrt.io.dataset import SessionInfo, write_metadata_csv, write_splits
    from emgrt.io.session import SessionFile, cut_session

    lengths, users = [], set()
    for rec in recordings:
        with SessionFile(rec) as s:
            lengths.append(float(s.time[-1] - s.time[0]))
            users.add(s.user)
    if held_out is not None:
        with SessionFile(held_out) as s:
            holdout = float(s.time[-1] - s.time[0])
        usable = list(lengths)
    else:
        holdout = max(MIN_HOLDOUT_S, HOLDOUT_FRAC * lengths[-1])
        usable = lengths[:-1] + [lengths[-1] - holdout]
    available = sum(max(0.0, u) for u in usable)
    calib = available if minutes is None else min(60.0 * minutes, available)
    if calib < 20.0:
        raise DataFileError(recordings[-1], f"holds {sum(lengths):.0f} s of typing: too little to calibrate on",
                            f"record at least {MIN_HOLDOUT_S + 40:.0f} s (calibration needs >= 20 s plus a held-out part)")
    data = folder / "data"
    data.mkdir(parents=True)
    val_s = max(5.0, VAL_FRAC * calib)
    stretches: list[tuple[Path, float, float]] = []  # (recording, start, seconds) of the calibration part
    left = calib
    for rec, u in zip(recordings, usable):
        take = min(max(0.0, u), left)
        if take >= 1.0:  # a sliver (a recording a sample shorter than asked) is no piece
            stretches.append((rec, 0.0, take))
        left -= take
    # The val piece is the last val_s seconds of the longest stretch (the last one can be short).
    j = max(range(len(stretches)), key=lambda i: stretches[i][2])
    rec, start, seconds = stretches[j]
    val_s = min(val_s, seconds - 1.0)
    pieces = [(f"calib-train-{i}", r, a, b) for i, (r, a, b) in enumerate(stretches) if i != j]
    pieces += [(f"calib-train-{j}", rec, start, seconds - val_s), ("calib-val", rec, start + seconds - val_s, val_s)]
    infos, train = [], []
    user = sorted(users)[0] if users else "user"
    for name, r, a, b in pieces:
        if b < 1.0:
            continue
        out = cut_session(r, data / f"{name}.hdf5", a, b, compression=None)
        with SessionFile(out) as piece:
            infos.append(SessionInfo(user=user, session=name, duration_mins=round(len(piece) / 2000 / 60, 3),
                                     num_keystrokes=len(piece.keystrokes), num_prompts=len(piece.prompts),
                                     quality_check_tags=""))
        if name != "calib-val":
            train.append(name)
    if held_out is not None:
        held = held_out
    else:
        held = cut_session(recordings[-1], folder / "held-out.hdf5", lengths[-1] - holdout, holdout + 1.0, compression=None)
    write_metadata_csv(data, infos)
    write_splits(data, {"train_users": [user], "test_users": [], "generic": {"train": train, "val": ["calib-val"], "test": []},
                        "personal": {}})
    return data, held, calib, holdout


def held_out_cer(bundle, session: Path) -> dict:
    """CER % of ``bundle`` on ``session`` decoded offline: greedy and the bundle's default decoder."""
    from emgrt.io.session import SessionFile
    from emgrt.metrics import ErrorCounts
    from emgrt.stream.latency import offline_keys

    kinds = ["greedy"] + ([bundle.manifest["decoder"]["default"]] if bundle.manifest["decoder"]["default"] != "greedy" else [])
    out = {}
    with SessionFile(session) as s:
        labels, _ = s.ground_truth()
        ref = s.charset.labels_to_str(labels)
        for kind in kinds:
            out[kind] = round(ErrorCounts().update(ref, "".join(offline_keys(bundle, s, kind, {}))).cer, 3)
    return out


def calibrate(
    bundle_dir: str | Path, recordings: list[str | Path], out: str | Path, *, minutes: float | None = None,
    held_out: str | Path | None = None,
    steps: int = DEFAULT_STEPS, threads: int = 0, lr: float | None = None, keep_run: str | Path | None = None,
    on_stage: Callable[[str], None] = lambda stage: None, progress: bool = False,
) -> dict:
    """Fine-tune ``bundle_dir`` on ``recordings`` into the personal bundle ``out``; the report."""
    from emgrt.bundle import Bundle
    from emgrt.train.export import export_model, verify_bundle
    from emgrt.train.trainer import load_model, train_from_recipe

    bundle = Bundle.load(bundle_dir)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty; pick a new folder for the personal bundle")
    recordings = [Path(r) for r in recordings]
    model = load_weights(bundle)
    recipe = calibration_recipe(bundle, steps, threads, lr)
    with tempfile.TemporaryDirectory(prefix="emgrt-calibrate-") as tmp:
        tmp = Path(tmp)
        on_stage("preparing the recording")
        data, held, calib_s, held_s = split_recordings(recordings, tmp, minutes, Path(held_out) if held_out else None)
        before = held_out_cer(bundle, held)
        run = Path(keep_run) if keep_run else tmp / "run"
        on_stage(f"fine-tuning on {calib_s / 60:.1f} min ({steps} steps)")
        t0 = time.perf_counter()
        summary = train_from_recipe(recipe, data, run, init_state=model.state_dict(), progress=progress,
                                    info={"calibrated_from": str(bundle.dir), "recordings": [str(r) for r in recordings]})
        train_s = time.perf_counter() - t0
        on_stage("exporting and verifying the personal bundle")
        tuned, ckpt = load_model(run)
        dec = bundle.manifest["decoder"]
        decoder = {"default": dec["default"], "options": dec.get("options", {})}
        char_lm = bundle.path(dec["char_lm"]) if dec.get("char_lm") else None
        provenance = {"run": str(run) if keep_run else None, "checkpoint": None, "step": ckpt.get("step"),
                      "data": [str(r) for r in recordings], "calibrated_from": str(bundle.dir), "source_digest": bundle.digest}
        export_model(tuned, ckpt["recipe"], out, provenance=provenance, char_lm=char_lm, decoder=decoder)
        if bundle.manifest.get("adapt"):
            _copy_adaptation(bundle, out)
        verify = verify_bundle(out, data, windows=2)
        personal = Bundle.load(out)
        after = held_out_cer(personal, held)
        on_stage("done")
    return {
        "bundle": str(out), "source": str(bundle.dir), "recordings": [str(r) for r in recordings],
        "held_out": str(held_out) if held_out else "the last recording's last 20 %",
        "calibration_s": round(calib_s, 1), "held_out_s": round(held_s, 1), "steps": summary["step"],
        "fine_tune_s": round(train_s, 1), "best_val_cer": summary["best_val_cer"],
        "cer_before": before, "cer_after": after,
        "verify_ok": bool(verify["step_vs_full_ok"]), "digest": personal.short_digest,
    }


def _copy_adaptation(source, out: Path) -> None:
    """The source bundle's adaptation table and statistics into the personal bundle (re-sealed)."""
    from emgrt.bundle import Bundle, _write, read_manifest, sealed_manifest

    spec = source.manifest["adapt"]
    shutil.copyfile(source.path(spec["stats"]), out / spec["stats"])
    manifest = {**read_manifest(out), "adapt": dict(spec)}
    sealed = sealed_manifest(out, manifest)
    Bundle.check(out, sealed)
    _write(out, sealed)
