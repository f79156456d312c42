"""The live front end equals the offline filters + LogSpectrogram, in any chunking."""

import numpy as np
import pytest

from emgrt.dsp.features import FrontEndConfig, LogSpectrogram
from emgrt.dsp.filters import FilterSpec, design_sos, filter_offline
from emgrt.stream.frontend import LiveFrontEnd

FILTERS = [FilterSpec("highpass", low=20.0), FilterSpec("notch", freq=60.0)]


@pytest.mark.parametrize("chunks", ["band", "ones", "big"])
def test_live_front_end_equals_offline(chunks):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((3001, 32)) * 30 + 5).astype(np.float32)  # DC offset: filter seeding matters
    fe = LiveFrontEnd(FILTERS, FrontEndConfig(), 2000.0)
    sizes = {"band": lambda: int(rng.integers(20, 41)), "ones": lambda: 1, "big": lambda: 1000}[chunks]
    frames, pos = [], 0
    while pos < len(x):
        n = sizes()
        frames.append(fe.push(x[pos : pos + n]))
        pos += n
    live = np.concatenate(frames)
    offline = LogSpectrogram()(filter_offline(design_sos(FILTERS), x.reshape(-1, 2, 16)))
    assert live.shape == offline.shape == (1 + (3001 - 64) // 16, 2, 16, 33)
    np.testing.assert_allclose(live, offline, rtol=0, atol=1e-6)  # bit-identical in practice


def test_reset_starts_a_fresh_stream():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((500, 32)).astype(np.float32)
    fe = LiveFrontEnd(FILTERS, FrontEndConfig(), 2000.0)
    first = fe.push(x)
    fe.push(rng.standard_normal((123, 32)).astype(np.float32))
    fe.reset()
    np.testing.assert_array_equal(fe.push(x), first)


def test_samples_for_frames():
    fe = LiveFrontEnd([], FrontEndConfig(), 2000.0)
    assert fe.samples_for_frames(1) == 64 and fe.samples_for_frames(5) == 128 and fe.samples_for_frames(0) == 0
