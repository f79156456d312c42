"""A bundle's manifest is not trusted blindly: the digest seals it, every file the runtime opens
is inside the folder and hash-listed, the declared graph inputs are the real ones, and
`emgrt export seal` re-seals a bundle edited on purpose.  Torch-free (the shipped bundle)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from emgrt.bundle import Bundle, BundleError

DEFAULT = Path(__file__).resolve().parents[1] / "models" / "default"


def digest_of(manifest: dict) -> str:
    """The documented digest (export/README.md), computed independently of emgrt.bundle."""
    body = {k: v for k, v in manifest.items() if k != "digest"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.fixture
def bundle(tmp_path) -> Path:
    """A copy of the shipped bundle."""
    d = tmp_path / "bundle"
    shutil.copytree(DEFAULT, d)
    return d


def edit(d: Path, change, *, redigest: bool = False) -> None:
    """Apply ``change(manifest)`` to d/manifest.json; ``redigest``: also recompute the digest, as
    someone who knows the format would, so that only the other checks stand in the way."""
    mf = d / "manifest.json"
    m = json.loads(mf.read_text(encoding="utf-8"))
    change(m)
    if redigest:
        m["digest"] = digest_of(m)
    mf.write_text(json.dumps(m, indent=2, ensure_ascii=False), encoding="utf-8")


def refused(d: Path, *needles: str) -> str:
    with pytest.raises(BundleError) as exc:
        Bundle.load(d)
    msg = str(exc.value)
    assert "\n" not in msg, msg
    for needle in needles:
        assert needle in msg, msg
    return msg


# -- the shipped bundle -------------------------------------------------------------------------
def test_shipped_default_bundle_is_sealed_and_loads():
    b = Bundle.load(DEFAULT)
    assert b.digest == b.manifest["digest"] == digest_of(b.manifest)
    assert b.short_digest == b.digest[:12] and b.short_digest in b.describe()
    assert set(b.manifest["files"]) >= {"step.onnx", "full.onnx", "step.int8.onnx", "full.int8.onnx", "char6.arpa.gz"}
    assert b.demo_session == DEFAULT / "demo-session.hdf5" and "demo-session.hdf5" in b.manifest["files"]


def test_the_demo_recording_is_sealed_too(bundle):
    with open(bundle / "demo-session.hdf5", "r+b") as f:
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 1]))
    refused(bundle, "demo-session.hdf5", "sha256 differs")


def test_version_prints_the_default_bundle_digest(bundle, monkeypatch, capsys):
    from emgrt.cli import main

    monkeypatch.setenv("EMGRT_BUNDLE", str(bundle))
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert f"digest {Bundle.load(bundle).short_digest}" in capsys.readouterr().out
    edit(bundle, lambda m: m["signal"]["filters"][1].update(freq=70.0))
    with pytest.raises(SystemExit):
        main(["--version"])
    assert "edited since it was sealed" in capsys.readouterr().out


# -- tampering ----------------------------------------------------------------------------------
def test_edited_manifest_value_is_refused(bundle):
    edit(bundle, lambda m: m["signal"]["filters"][1].update(freq=70.0))  # the notch, 60 -> 70 Hz
    refused(bundle, "manifest.json", "edited since it was sealed", f"emgrt export seal {bundle}")


def test_a_file_named_by_the_manifest_must_be_hash_listed(bundle):
    (bundle / "step.onnx").write_bytes((bundle / "full.onnx").read_bytes())  # another graph...
    edit(bundle, lambda m: m["files"].pop("step.onnx"), redigest=True)  # ...whose check is gone
    refused(bundle, "step_graph.file", "'step.onnx'", "no sha256 in `files`", "emgrt export seal")
    for key in ("int8_file", "char_lm"):  # every file the manifest names, not just the step graph
        shutil.copytree(DEFAULT, bundle, dirs_exist_ok=True)
        name = "step.int8.onnx" if key == "int8_file" else "char6.arpa.gz"
        edit(bundle, lambda m: m["files"].pop(name), redigest=True)
        refused(bundle, repr(name), "no sha256")


def _point_step_graph_at(bundle: Path, name: str) -> None:
    digest = hashlib.sha256((DEFAULT / "step.onnx").read_bytes()).hexdigest()

    def change(m):
        m["step_graph"]["file"] = name
        m["files"][name] = digest

    edit(bundle, change, redigest=True)


@pytest.mark.parametrize("kind", ["absolute", "dotdot"])
def test_graph_paths_outside_the_bundle_are_refused(bundle, tmp_path, kind):
    outside = tmp_path / "elsewhere" / "step.onnx"
    outside.parent.mkdir()
    shutil.copyfile(DEFAULT / "step.onnx", outside)
    _point_step_graph_at(bundle, str(outside) if kind == "absolute" else "../elsewhere/step.onnx")
    refused(bundle, "step_graph.file", "inside the bundle")


def test_symlinks_leading_out_of_the_bundle_are_refused(bundle, tmp_path):
    outside = tmp_path / "step.onnx"
    shutil.copyfile(DEFAULT / "step.onnx", outside)
    (bundle / "step.onnx").unlink()
    os.symlink(outside, bundle / "step.onnx")  # same bytes, same hash: only the path gives it away
    refused(bundle, "symlink leading out of the bundle", "step.onnx")


# -- hand-edited values (digest recomputed: the typed view must catch them) ----------------------
@pytest.mark.parametrize(
    "change, needles",
    [
        (lambda m: m["signal"].update(channels="thirty-two"), ("signal.channels", "integer", "'thirty-two'")),
        (lambda m: m["stream"].update(frames_per_step=0), ("stream.frames_per_step", ">= 1", "got 0")),
        (lambda m: m.update(frontend={}), ("frontend.n_fft", "missing")),
        (lambda m: m["step_graph"]["state"][1].update(shape=[7, 128]), ("step_graph.state[1].shape", "[6, 128]")),
        (lambda m: m["charset"].update(blank=99), ("charset.blank", "got 99")),
        (lambda m: m["decoder"]["options"]["char-lm"].update(lm_weight="high"), ("lm_weight", "'high'")),
        (lambda m: m.update(fronted={}), ("unknown key 'fronted'", "frontend")),
    ],
    ids=["channels-text", "frames_per_step-0", "empty-frontend", "state-shape", "blank", "lm_weight", "unknown-key"],
)
def test_hand_edited_values_are_one_line_errors(bundle, change, needles):
    edit(bundle, change, redigest=True)
    refused(bundle, "manifest.json", *needles, "emgrt export seal")


def test_declared_shapes_must_match_the_real_graph(bundle):
    def change(m):  # consistent with itself, not with step.onnx
        g = m["step_graph"]
        for t in g["inputs"][2], g["outputs"][2], g["state"][1]:
            t["shape"] = [7, 128]
        b = m.get("batched_step_graph")  # the batched graph's state must match the step graph's
        if b:
            b["state"][1]["shape"] = [7, 128]
            for t in b["inputs"][2], b["outputs"][2]:
                t["shape"] = ["batch", 7, 128]

    edit(bundle, change, redigest=True)
    refused(bundle, "step.onnx", "conv_buf", "[6, 128]", "[7, 128]")


# -- re-sealing ---------------------------------------------------------------------------------
def test_seal_makes_an_intentionally_edited_bundle_load(bundle, capsys):
    from emgrt.cli import main

    before = Bundle.load(bundle).digest
    edit(bundle, lambda m: m["signal"]["filters"][1].update(freq=50.0))  # a 50 Hz mains country
    card = bundle / "MODEL_CARD.md"
    card.write_text(card.read_text(encoding="utf-8") + "\nNotch moved to 50 Hz.\n", encoding="utf-8")
    assert main(["export", "seal", str(bundle)]) == 0
    out = capsys.readouterr().out
    assert "manifest.json: edited since it was sealed" in out and "MODEL_CARD.md: sha256" in out
    b = Bundle.load(bundle)
    assert b.manifest["signal"]["filters"][1]["freq"] == 50.0
    assert b.digest != before and b.short_digest in out
    assert main(["export", "seal", str(bundle)]) == 0
    assert "nothing changed" in capsys.readouterr().out
    for name in ("step.onnx", "full.onnx", "step.int8.onnx", "full.int8.onnx", "char6.arpa.gz"):
        assert (bundle / name).read_bytes() == (DEFAULT / name).read_bytes()  # graphs untouched


def test_seal_refuses_what_it_cannot_vouch_for(bundle, capsys):
    from emgrt.cli import main

    edit(bundle, lambda m: m["stream"].update(frames_per_step=0))
    assert main(["export", "seal", str(bundle)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "stream.frames_per_step" in err[0]
    edit(bundle, lambda m: m["stream"].update(frames_per_step=4))
    edit(bundle, lambda m: m["step_graph"].update(file="/etc/hostname"))
    assert main(["export", "seal", str(bundle)]) == 2
    assert "inside the bundle" in capsys.readouterr().err
    assert main(["export", "seal"]) == 2
    assert "emgrt export seal BUNDLE_DIR" in capsys.readouterr().err


def test_exported_bundles_are_sealed(tiny_bundle):
    assert tiny_bundle.digest == digest_of(tiny_bundle.manifest)
    assert {"step.onnx", "full.onnx", "MODEL_CARD.md"} <= set(tiny_bundle.manifest["files"])


def test_export_tune_sets_decoder_options_and_reseals(bundle, capsys):
    from emgrt.cli import main
    from emgrt.stream.decoders import decoder_options

    before = Bundle.load(bundle)
    assert main(["export", "tune", str(bundle), "--decoder", "char-lm", "--decoder-option", "commit_depth=3",
                 "--decoder-option", "commit_prob=off", "--decoder-option", "endpoint_frames=6"]) == 0
    assert "re-sealed" in capsys.readouterr().out
    b = Bundle.load(bundle)  # loads: sealed
    assert b.digest != before.digest
    opts = decoder_options(b, "char-lm", {})
    assert opts["commit_depth"] == 3 and opts["endpoint_frames"] == 6 and "commit_prob" not in opts
    assert opts["beam_size"] == before.spec.decoder.options["char-lm"].beam_size  # the rest kept
    # A value the decoder refuses is one line, and the bundle stays as it was.
    assert main(["export", "tune", str(bundle), "--decoder", "char-lm", "--decoder-option", "commit_prob=2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "commit_prob" in err[0]
    assert Bundle.load(bundle).digest == b.digest
    assert main(["export", "tune", str(bundle), "--decoder", "char-lm"]) == 2
    assert "--decoder-option KEY=VALUE" in capsys.readouterr().err
