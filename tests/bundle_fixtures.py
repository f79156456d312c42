"""``tiny_bundle``: a small streaming model exported once per test session (shared by the export,
engine, LSL, latency, serve and demo tests).

The model is tiny (1 layer x 32) and untrained but seeded, with the blank's bias lowered so it
emits a steady mix of keys: enough to check that streamed and offline decoding agree exactly.
"""

from __future__ import annotations

import pytest

TINY_RECIPE = {
    "model": {"layers": 1, "dim": 32, "heads": 2, "band_width": 16, "left_context": 16, "lookahead": 12, "conv_past": 4},
    "train": {"max_steps": 1},
    "data": {"filters": [{"kind": "bandpass", "low": 20.0, "high": 450.0}, {"kind": "notch", "freq": 60.0}]},
}


def make_tiny_model(seed: int = 0):
    import torch

    from emgrt.train.model import ModelConfig, StreamingCTCModel

    torch.manual_seed(seed)
    model = StreamingCTCModel(ModelConfig.from_dict(TINY_RECIPE["model"])).eval()
    with torch.no_grad():
        for p in model.parameters():  # larger than the init's 0.02 so frames differ visibly
            if p.dim() > 1:
                p.mul_(10.0)
        model.head.bias[model.cfg.blank] = -2.0
    return model


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory):
    pytest.importorskip("torch")
    from emgrt.bundle import Bundle
    from emgrt.train.export import export_model

    out = export_model(make_tiny_model(), TINY_RECIPE, tmp_path_factory.mktemp("bundle") / "tiny")
    return Bundle.load(out)
