"""A model bundle: the folder `emgrt export` writes and the torch-free runtime reads.

::

    BUNDLE/
      manifest.json   every runtime parameter (see export/README.md for each key), the sha256
                      of every file, and the bundle digest that seals it all
      step.onnx       the streaming step: new frames + state in, log-probs + new state out
      full.onnx       the whole-window graph (offline evaluation, the recompute baseline)
      MODEL_CARD.md   what the model is, how it was made, what was measured
      *.int8.onnx     optional dynamic-int8 versions of both graphs
      *.arpa.gz       optional language models named by the manifest's decoder table

:meth:`Bundle.load` trusts nothing it has not checked: the manifest's values (the typed view
:class:`emgrt.manifest.Manifest`), its digest (sha256 of the canonical JSON of everything but
the digest, so of every value and file hash), that every file it names lies inside the folder
and is listed in ``files`` with the sha256 it has, and that the graphs' real inputs and outputs
are the ones declared.  Any problem is one :class:`BundleError` naming the file and the fix.
:func:`seal` re-seals an intentionally edited bundle (`emgrt export seal DIR`).  Nothing here
imports torch.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emgrt.errors import EmgrtError
from emgrt.manifest import FORMAT, VERSION, FullGraph, Manifest

MANIFEST = "manifest.json"
STEP_GRAPH = "step.onnx"
BATCHED_STEP_GRAPH = "step.batched.onnx"  # the same step with a leading batch axis (several streams per call)
FULL_GRAPH = "full.onnx"
WEIGHTS = "weights.pt"  # the model's state_dict, for fine-tuning (`emgrt calibrate`); torch.load(weights_only=True)
MODEL_CARD = "MODEL_CARD.md"
DEMO_SESSION = "demo-session.hdf5"  # optional: the recording `emgrt demo` replays
OPTIONAL_FILES = (MODEL_CARD, DEMO_SESSION)  # sealed when present, like the files the manifest names
SHORT_DIGEST = 12  # hex digits of the digest that logs, `emgrt --version` and benches print
_ORT_DTYPES = {"float32": "tensor(float)", "float16": "tensor(float16)", "int64": "tensor(int64)"}


class BundleError(EmgrtError):
    """A bundle folder is missing, incomplete, corrupt, edited or from an incompatible exporter."""


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest_digest(manifest: Mapping[str, Any]) -> str:
    """sha256 of the manifest without its ``digest`` key, as canonical JSON (sorted keys, no
    spaces, UTF-8): it covers every runtime value and, through ``files``, every file."""
    body = {k: v for k, v in manifest.items() if k != "digest"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _reseal_hint(d: Path) -> str:
    return f"re-export the bundle, or re-seal it with `emgrt export seal {d}` if the edit is intended"


@dataclass(frozen=True)
class Bundle:
    dir: Path
    manifest: dict[str, Any]  # the checked manifest.json as read (what the runtime indexes)
    spec: Manifest = field(repr=False, compare=False)  # the same, typed

    @classmethod
    def load(cls, path: str | Path) -> Bundle:
        d = Path(path)
        return cls.check(d, read_manifest(d))

    @classmethod
    def check(cls, d: Path, manifest: dict[str, Any]) -> Bundle:
        """A Bundle of folder ``d`` with ``manifest``, once every check passed (see the module doc)."""
        mf = d / MANIFEST
        spec = _typed(d, manifest)
        if manifest["digest"] != manifest_digest(manifest):
            raise BundleError(
                f"{mf}: edited since it was sealed (its content does not hash to its digest "
                f"{manifest['digest'][:SHORT_DIGEST]}); {_reseal_hint(d)}"
            )
        for key, name in spec.named_files().items():
            if name not in spec.files:
                raise BundleError(f"{mf}: {key} names {name!r}, which has no sha256 in `files`; {_reseal_hint(d)}")
        for name, digest in spec.files.items():
            f = inside(d, name)
            if not f.is_file():
                raise BundleError(f"{f}: listed in the manifest but missing (copy the whole bundle folder)")
            if sha256(f) != digest:
                raise BundleError(f"{f}: sha256 differs from the manifest (corrupt or edited); re-export or re-copy "
                                  f"the bundle, or re-seal it with `emgrt export seal {d}` if the edit is intended")
        graphs = [(spec.step_graph, "step_graph"), (spec.full_graph, "full_graph")]
        if spec.batched_step_graph is not None:
            graphs.append((spec.batched_step_graph, "batched_step_graph"))
        for graph, key in graphs:
            for name in (graph.file, graph.int8_file):
                if name:
                    check_graph(d / name, graph, key, d)
        return cls(d, manifest, spec)

    # -- identity ------------------------------------------------------------------------------
    @property
    def digest(self) -> str:
        """sha256 sealing the manifest and, through its file hashes, every file of the bundle."""
        return self.spec.digest

    @property
    def short_digest(self) -> str:
        """The first 12 hex digits of :attr:`digest`: what logs, `emgrt --version` and benches print."""
        return self.spec.digest[:SHORT_DIGEST]

    # -- paths ---------------------------------------------------------------------------------
    def path(self, name: str) -> Path:
        return inside(self.dir, name)

    @property
    def demo_session(self) -> Path | None:
        """The bundle's demo recording, if it ships one (sealed like every other file), else None."""
        return self.dir / DEMO_SESSION if DEMO_SESSION in self.spec.files else None

    @property
    def step_path(self) -> Path:
        return self.dir / self.spec.step_graph.file

    @property
    def full_path(self) -> Path:
        return self.dir / self.spec.full_graph.file

    @property
    def batched_step_path(self) -> Path | None:
        """The step graph with a batch axis; None for bundles exported before it existed."""
        g = self.spec.batched_step_graph
        return self.dir / g.file if g is not None else None

    def int8_path(self, graph: str) -> Path | None:
        """``graph`` is "step_graph", "batched_step_graph" or "full_graph"; None when the bundle
        has no int8 version (or no such graph)."""
        spec = getattr(self.spec, graph)
        name = spec.int8_file if spec is not None else None
        return self.dir / name if name else None

    # -- what the engine reads -----------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        return list(self.spec.charset.labels)

    @property
    def blank(self) -> int:
        return self.spec.charset.blank

    @property
    def sample_rate(self) -> float:
        return float(self.spec.signal.sample_rate)

    @property
    def channels(self) -> int:
        return self.spec.signal.channels

    @property
    def stream(self) -> dict[str, Any]:
        return self.manifest["stream"]

    def describe(self) -> str:
        m = self.spec.model
        return f"{self.dir} ({m.name or 'model'}, {m.params / 1e6:.2f}M params, digest {self.short_digest})"


# -- reading and checking -------------------------------------------------------------------------
def read_manifest(d: Path) -> dict[str, Any]:
    """manifest.json of folder ``d`` as a dict, with format and version checked."""
    mf = d / MANIFEST
    if not d.is_dir():
        raise BundleError(f"{d}: no such bundle folder (make one with `emgrt export RUN_DIR --out {d}`)")
    if not mf.is_file():
        raise BundleError(f"{mf}: missing (not a bundle folder? make one with `emgrt export`)")
    inside(d, MANIFEST)
    try:
        manifest = json.loads(mf.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BundleError(f"{mf}: not valid JSON ({str(exc).splitlines()[0][:120]}); re-export the bundle") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BundleError(f"{mf}: not an emgrt bundle manifest (format {manifest.get('format')!r})"
                          if isinstance(manifest, dict) else f"{mf}: not an emgrt bundle manifest")
    version = manifest.get("version")
    if version != VERSION or isinstance(version, bool):
        raise BundleError(f"{mf}: bundle version {version!r}, this emgrt reads version {VERSION}; "
                          "re-export it with this emgrt")
    return manifest


def _typed(d: Path, manifest: dict[str, Any]) -> Manifest:
    from emgrt.validate import parse

    mf = d / MANIFEST
    if "digest" not in manifest:
        raise BundleError(f"{mf}: not sealed (no digest; exported before bundles were sealed?); "
                          f"seal it with `emgrt export seal {d}`")
    try:
        return parse(Manifest, manifest, error=BundleError)
    except BundleError as exc:
        raise BundleError(f"{mf}: {exc}; {_reseal_hint(d).replace('re-seal it', 'correct it and re-seal it')}") from None


def inside(d: Path, name: str) -> Path:
    """``d / name``, refused unless it stays inside the bundle folder ``d`` (no absolute path, no
    '..', no symlink leading out)."""
    p = d / name
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise BundleError(f"{d / MANIFEST}: {name!r} is outside the bundle folder (file names are relative, "
                          "without '..'); re-export the bundle")
    real, root = p.resolve(), d.resolve()
    if real != root and root not in real.parents:
        raise BundleError(f"{p}: a symlink leading out of the bundle (to {real}); copy the file into the bundle "
                          f"and re-seal it with `emgrt export seal {d}`")
    return p


def check_graph(path: Path, graph: FullGraph, key: str, d: Path) -> None:
    """The graph's real inputs and outputs (onnxruntime's session metadata) are the ones
    ``graph`` declares: names in order, dtypes, and every fixed size."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # metadata only: load fast
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    try:
        sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types  # noqa: BLE001
        raise BundleError(f"{path}: onnxruntime cannot load the graph ({str(exc).splitlines()[0][:160]}); "
                          "re-export the bundle") from None
    for kind, actual, declared in (("inputs", sess.get_inputs(), graph.inputs), ("outputs", sess.get_outputs(), graph.outputs)):
        got = [(a.name, a.type, list(a.shape)) for a in actual]
        want = [(t.name, _ORT_DTYPES[t.dtype], list(t.shape)) for t in declared]
        if len(got) != len(want) or any(not _same(g, w) for g, w in zip(got, want)):
            bad = next((i for i, (g, w) in enumerate(zip(got, want)) if not _same(g, w)), min(len(got), len(want)))
            has = f"{got[bad][0]!r} {got[bad][1]} {got[bad][2]}" if bad < len(got) else "nothing"
            says = f"{want[bad][0]!r} {want[bad][1]} {want[bad][2]}" if bad < len(want) else "nothing"
            raise BundleError(f"{path}: {kind[:-1]} {bad} of the graph is {has}, the manifest's {key}.{kind}[{bad}] "
                              f"says {says}; {_reseal_hint(d).replace('re-seal it', 'correct the manifest and re-seal it')}")


def _same(got: tuple, want: tuple) -> bool:
    """Same name and dtype; shapes of one rank whose sizes agree where both are fixed (a named
    axis matches any dynamic one)."""
    (gn, gt, gs), (wn, wt, ws) = got, want
    return gn == wn and gt == wt and len(gs) == len(ws) and all(
        g == w if isinstance(g, int) and isinstance(w, int) else not isinstance(g, int) and not isinstance(w, int)
        for g, w in zip(gs, ws)
    )


# -- writing and sealing --------------------------------------------------------------------------
@dataclass(frozen=True)
class SealReport:
    bundle: Path
    digest: str
    previous: str | None  # the digest the manifest had (None: it had none)
    changes: list[str]  # one line per change, "" when nothing changed


def seal(bundle_dir: str | Path) -> SealReport:
    """Re-seal a bundle whose manifest or files were edited on purpose: recompute the sha256 of
    every file it names (and MODEL_CARD.md, and what ``files`` listed that is still there) and the
    digest, check the result loads, then write manifest.json.  Torch-free."""
    d = Path(bundle_dir)
    manifest = read_manifest(d)
    old_files = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
    previous = manifest.get("digest") if isinstance(manifest.get("digest"), str) else None
    sealed = sealed_manifest(d, manifest)
    changes = []
    if previous is None:
        changes.append(f"{MANIFEST}: was not sealed")
    elif previous != manifest_digest(manifest):
        changes.append(f"{MANIFEST}: edited since it was sealed")
    for name in sorted(set(old_files) | set(sealed["files"]), key=str):
        old, new = old_files.get(name), sealed["files"].get(name)
        if old != new:
            changes.append(f"{name}: " + ("added" if old is None else "dropped (no longer in the bundle)" if new is None
                                          else f"sha256 {str(old)[:SHORT_DIGEST]} -> {new[:SHORT_DIGEST]}"))
    Bundle.check(d, sealed)
    _write(d, sealed)
    return SealReport(d, sealed["digest"], previous, changes)


def sealed_manifest(bundle_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``manifest`` with ``files`` (the sha256 of every file it names, MODEL_CARD.md and
    any other listed file still in the folder) and ``digest`` recomputed."""
    d = Path(bundle_dir)
    draft = {**manifest, "files": {}, "digest": "0" * 64}
    listed = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
    names = list(_typed(d, draft).named_files().values()) + list(OPTIONAL_FILES) + [n for n in listed if isinstance(n, str)]
    files = {}
    for name in dict.fromkeys(names):
        if name in files:
            continue
        f = inside(d, name)
        if f.is_file():
            files[name] = sha256(f)
        elif name not in OPTIONAL_FILES and name not in listed:
            raise BundleError(f"{f}: named by the manifest but missing (copy the whole bundle folder)")
    out = {k: v for k, v in manifest.items() if k != "digest"}
    out["files"] = files
    out["digest"] = manifest_digest(out)
    return out


def write_manifest(bundle_dir: str | Path, manifest: dict[str, Any]) -> Path:
    """Seal ``manifest`` (file hashes + digest, see :func:`sealed_manifest`) and write it; the
    exporter's way to finish a bundle.  ``manifest`` is updated in place."""
    d = Path(bundle_dir)
    manifest.update(sealed_manifest(d, manifest))
    return _write(d, manifest)


def _write(d: Path, manifest: dict[str, Any]) -> Path:
    out = d / MANIFEST
    tmp = out.with_name(MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    return out


def sealed_digest(bundle_dir: str | Path) -> str:
    """The digest of a bundle's manifest once it matches the manifest's content (cheap: reads
    manifest.json only; the files are checked by :meth:`Bundle.load`)."""
    d = Path(bundle_dir)
    manifest = read_manifest(d)
    digest = manifest.get("digest")
    if not isinstance(digest, str):
        raise BundleError(f"{d / MANIFEST}: not sealed; seal it with `emgrt export seal {d}`")
    if digest != manifest_digest(manifest):
        raise BundleError(f"{d / MANIFEST}: edited since it was sealed; {_reseal_hint(d)}")
    return digest
