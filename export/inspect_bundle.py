"""Print a bundle's graphs as onnxruntime sees them and check them against its manifest.

    python export/inspect_bundle.py BUNDLE_DIR

Torch-free (onnxruntime + emgrt.bundle).  Exit status 1 when a graph's inputs or outputs differ
from what manifest.json promises (names, order, shapes), which is what a runtime relies on.
"""

from __future__ import annotations

import sys

import onnxruntime as ort

from emgrt.bundle import Bundle
from emgrt.errors import EmgrtError


def check(bundle: Bundle, graph: str) -> list[str]:
    spec = bundle.manifest[graph]
    sess = ort.InferenceSession(str(bundle.dir / spec["file"]), providers=["CPUExecutionProvider"])
    problems = []
    print(f"{spec['file']} (opset {spec['opset']})")
    for kind, actual, promised in (("input", sess.get_inputs(), spec["inputs"]), ("output", sess.get_outputs(), spec["outputs"])):
        for i, a in enumerate(actual):
            print(f"  {kind:6} {a.name:14} {a.type:16} {a.shape}")
            p = promised[i] if i < len(promised) else None
            if p is None or p["name"] != a.name:
                problems.append(f"{spec['file']}: {kind} {i} is {a.name!r}, manifest says {p and p['name']!r}")
            elif all(isinstance(d, int) for d in a.shape) and list(a.shape) != list(p["shape"]):
                problems.append(f"{spec['file']}: {kind} {a.name} has shape {a.shape}, manifest says {p['shape']}")
        if len(actual) != len(promised):
            problems.append(f"{spec['file']}: {len(actual)} {kind}s, manifest lists {len(promised)}")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    try:
        bundle = Bundle.load(argv[0])
    except EmgrtError as exc:
        print(f"inspect_bundle: error: {exc}", file=sys.stderr)
        return 2
    print(bundle.describe())
    problems = check(bundle, "step_graph") + check(bundle, "full_graph")
    for p in problems:
        print(f"MISMATCH {p}")
    print("ok: graphs match the manifest" if not problems else f"{len(problems)} mismatches")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
