"""A model bundle: the folder `emgrt export` writes and the torch-free runtime reads.

::

    BUNDLE/
      manifest.json   every runtime parameter (see export/README.md for each key)
      step.onnx       the streaming step: new frames + state in, log-probs + new state out
      full.onnx       the whole-window graph (offline evaluation, the recompute baseline)
      MODEL_CARD.md   what the model is, how it was made, what was measured
      *.int8.onnx     optional dynamic-int8 versions of both graphs
      *.arpa.gz       optional language models named by the manifest's decoder table

:meth:`Bundle.load` checks the format, the version, that every listed file exists with the
sha256 the manifest records, and that the sections the engine needs are there; any problem is
one :class:`BundleError` naming the file and the fix.  Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emgrt.errors import EmgrtError

FORMAT = "emgrt-bundle"
VERSION = 1
MANIFEST = "manifest.json"
STEP_GRAPH = "step.onnx"
FULL_GRAPH = "full.onnx"
MODEL_CARD = "MODEL_CARD.md"
REQUIRED_SECTIONS = ("signal", "frontend", "stream", "charset", "step_graph", "full_graph", "model", "files")
STREAM_KEYS = (
    "frames_per_step",
    "samples_per_step",
    "outputs_per_step",
    "subsample",
    "output_time_offset",
    "lookahead_frames",
    "skip_outputs",
    "left_context_frames",
    "receptive_field_frames",
)


class BundleError(EmgrtError):
    """A bundle folder is missing, incomplete, corrupt or from an incompatible exporter."""


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Bundle:
    dir: Path
    manifest: dict[str, Any]

    @classmethod
    def load(cls, path: str | Path, verify_hashes: bool = True) -> Bundle:
        d = Path(path)
        mf = d / MANIFEST
        if not d.is_dir():
            raise BundleError(f"{d}: no such bundle folder (make one with `emgrt export RUN_DIR --out {d}`)")
        if not mf.is_file():
            raise BundleError(f"{mf}: missing (not a bundle folder? make one with `emgrt export`)")
        try:
            manifest = json.loads(mf.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise BundleError(f"{mf}: not valid JSON ({exc}); re-export the bundle") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise BundleError(f"{mf}: not an emgrt bundle manifest (format {manifest.get('format')!r})"
                              if isinstance(manifest, dict) else f"{mf}: not an emgrt bundle manifest")
        if manifest.get("version") != VERSION:
            raise BundleError(
                f"{mf}: bundle version {manifest.get('version')!r}, this emgrt reads version {VERSION}; "
                "re-export it with this emgrt"
            )
        missing = [s for s in REQUIRED_SECTIONS if not isinstance(manifest.get(s), dict)]
        missing += [f"stream.{k}" for k in STREAM_KEYS if k not in manifest.get("stream", {})]
        if missing:
            raise BundleError(f"{mf}: missing {', '.join(missing)}; re-export the bundle")
        for name, digest in manifest["files"].items():
            f = d / name
            if not f.is_file():
                raise BundleError(f"{f}: listed in the manifest but missing (copy the whole bundle folder)")
            if verify_hashes and sha256(f) != digest:
                raise BundleError(f"{f}: sha256 differs from the manifest (corrupt or edited; re-export or re-copy)")
        labels = manifest["charset"].get("labels")
        if not isinstance(labels, list) or not 0 <= manifest["charset"].get("blank", -1) < len(labels):
            raise BundleError(f"{mf}: charset needs labels and a blank index inside them; re-export the bundle")
        return cls(d, manifest)

    # -- paths ---------------------------------------------------------------------------------
    def path(self, name: str) -> Path:
        return self.dir / name

    @property
    def step_path(self) -> Path:
        return self.dir / self.manifest["step_graph"]["file"]

    @property
    def full_path(self) -> Path:
        return self.dir / self.manifest["full_graph"]["file"]

    def int8_path(self, graph: str) -> Path | None:
        """``graph`` is "step_graph" or "full_graph"; None when the bundle has no int8 version."""
        name = self.manifest[graph].get("int8_file")
        return self.dir / name if name else None

    # -- what the engine reads -----------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        return list(self.manifest["charset"]["labels"])

    @property
    def blank(self) -> int:
        return int(self.manifest["charset"]["blank"])

    @property
    def sample_rate(self) -> float:
        return float(self.manifest["signal"]["sample_rate"])

    @property
    def channels(self) -> int:
        return int(self.manifest["signal"]["channels"])

    @property
    def stream(self) -> dict[str, Any]:
        return self.manifest["stream"]

    def describe(self) -> str:
        m = self.manifest["model"]
        return f"{self.dir} ({m.get('name') or 'model'}, {m['params'] / 1e6:.2f}M params)"


def write_manifest(bundle_dir: str | Path, manifest: dict[str, Any]) -> Path:
    """Fill ``files`` with the sha256 of every file the manifest names, then write it."""
    d = Path(bundle_dir)
    names = [manifest["step_graph"]["file"], manifest["full_graph"]["file"]]
    names += [manifest[g].get("int8_file") for g in ("step_graph", "full_graph")]
    names += [manifest.get("decoder", {}).get(k) for k in ("char_lm", "word_lm")]
    names += [MODEL_CARD] if (d / MODEL_CARD).exists() else []
    manifest["files"] = {n: sha256(d / n) for n in names if n}
    out = d / MANIFEST
    out.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out
