"""A bundle's label-free adaptation (:class:`emgrt.dsp.adapt.RunningNorm`): building it from the
manifest's ``adapt`` table, and adding that table and its statistics to a bundle
(``emgrt export adapt BUNDLE --data DATA``, torch-free)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emgrt.errors import ConfigError

STATS_FILE = "feature-stats.npy"
DEFAULT_TAU_S = 30.0  # chosen on the held-out users' non-test sessions (30 and 60 s tied; 15 and 120 s worse)


def adaptation(bundle, enabled: bool | None = None):
    """The bundle's RunningNorm when adaptation is on (``enabled``, else the manifest's
    ``adapt.enabled``), else None."""
    spec = bundle.spec.adapt
    on = enabled if enabled is not None else bool(spec and spec.enabled)
    if not on:
        return None
    if not spec:
        raise ConfigError(
            f"{bundle.dir}: this bundle has no adaptation statistics; add them with "
            f"`emgrt export adapt {bundle.dir} --data DATA` (or run with --adapt off)"
        )
    from emgrt.dsp.adapt import RunningNorm

    stats = np.load(bundle.path(spec.stats), allow_pickle=False)
    frame_rate = bundle.sample_rate / bundle.spec.frontend.hop
    return RunningNorm(stats[0], stats[1], float(spec.tau_s) * frame_rate)


def add_adaptation(
    bundle_dir: str | Path, data: str | Path, split: str = "train", every: int = 1,
    tau_s: float = DEFAULT_TAU_S, enabled: bool = True, progress=None,
) -> dict:
    """Feature statistics of ``data``'s ``split`` sessions (every ``every``-th) through the bundle's
    own front end, written to the bundle with an ``adapt`` table; the bundle is re-sealed.
    Returns the adapt table and counts."""
    from emgrt.bundle import Bundle, _write, sealed_manifest
    from emgrt.dsp.adapt import feature_stats
    from emgrt.io.dataset import DatasetDir
    from emgrt.io.session import SessionFile
    from emgrt.stream.frontend import LiveFrontEnd

    if not tau_s > 0:
        raise ConfigError(f"--tau must be > 0 s, got {tau_s}")
    bundle = Bundle.load(bundle_dir)
    paths = DatasetDir(Path(data)).sessions(split)[::every]
    if not paths:
        raise ConfigError(f"{data}: no {split} sessions to take feature statistics of")
    frames = []
    for i, path in enumerate(paths):
        fe = LiveFrontEnd.from_bundle(bundle, adapt=False)
        with SessionFile(path) as s:
            frames.append(fe.push(s.emg(0, len(s)).reshape(len(s), -1)))
        if progress:
            progress(i + 1, len(paths))
    mean, var = feature_stats(frames)
    np.save(Path(bundle.dir) / STATS_FILE, np.stack([mean, var]).astype(np.float32), allow_pickle=False)
    table = {"stats": STATS_FILE, "tau_s": float(tau_s), "enabled": bool(enabled)}
    manifest = {**bundle.manifest, "adapt": table}
    manifest.setdefault("provenance", {})
    manifest["provenance"] = {**manifest["provenance"], "adapt": {
        "data": str(data), "split": split, "sessions": len(paths), "frames": int(sum(len(f) for f in frames))}}
    sealed = sealed_manifest(Path(bundle.dir), manifest)
    Bundle.check(Path(bundle.dir), sealed)
    _write(Path(bundle.dir), sealed)
    return {**table, "sessions": len(paths), "frames": int(sum(len(f) for f in frames))}
