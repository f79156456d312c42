"""The streaming transformer-CTC model: sizes, streaming parity, lookahead, receptive field, FLOPs."""

import pytest

torch = pytest.importorskip("torch")

from emgrt.errors import ConfigError  # noqa: E402
from emgrt.train.model import (  # noqa: E402
    PAPER_PARAMS,
    MaskedBatchNorm,
    ModelConfig,
    RotationMLP,
    StreamingCTCModel,
    count_params,
    flops_per_hop,
)

pytestmark = pytest.mark.torch


def small_cfg(**kw) -> ModelConfig:
    """A few-second config: 2 layers of 64, short contexts so windows cover them several times."""
    base = dict(layers=2, dim=64, heads=2, band_width=16, subsample=2, left_context=8, lookahead=4, conv_past=4)
    base.update(kw)
    return ModelConfig(**base)


def model_of(cfg: ModelConfig, seed: int = 0) -> StreamingCTCModel:
    torch.manual_seed(seed)
    m = StreamingCTCModel(cfg).eval()
    with torch.no_grad():  # non-trivial normalisation and position biases
        m.input.norm.running_mean.normal_()
        m.input.norm.running_var.uniform_(0.5, 2.0)
        for b in m.blocks:
            b.attn.rel_bias.normal_()
    return m


def feats(n: int, t: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, t, 2, 16, 33, generator=g)


def stream(model: StreamingCTCModel, x: torch.Tensor, hop: int) -> torch.Tensor:
    state = model.init_state(x.shape[0])
    outs = []
    with torch.no_grad():
        for i in range(0, x.shape[1], hop):
            o, state = model.step(x[:, i : i + hop], state)
            outs.append(o)
    return torch.cat(outs, dim=1)


# -- sizes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["tiny", "small", "large"])
def test_named_sizes_match_the_paper_within_10_percent(name):
    cfg = ModelConfig.from_name(name)
    n = count_params(cfg)
    assert abs(n - PAPER_PARAMS[name]) / PAPER_PARAMS[name] < 0.10, (name, n)
    with torch.device("meta"):  # no allocation, even for large
        model = StreamingCTCModel(cfg)
    assert model.num_params == n
    assert (cfg.layers, cfg.dim, cfg.heads, cfg.ffn_mult) == {
        "tiny": (10, 128, 2, 4), "small": (6, 256, 4, 4), "large": (8, 1024, 16, 4)
    }[name]


@pytest.mark.parametrize("subsample", [1, 2, 4])
def test_named_sizes_stay_within_10_percent_for_every_subsample(subsample):
    for name, paper in PAPER_PARAMS.items():
        n = count_params(ModelConfig.from_name(name, subsample=subsample))
        assert abs(n - paper) / paper < 0.10, (name, subsample, n)


def test_grid_names_and_errors():
    cfg = ModelConfig.from_name("L4d512")
    assert (cfg.layers, cfg.dim, cfg.heads) == (4, 512, 8)
    with pytest.raises(ConfigError, match="outside the grid"):
        ModelConfig.from_name("L12d128")
    with pytest.raises(ConfigError, match="unknown model"):
        ModelConfig.from_name("huge")
    with pytest.raises(ConfigError, match="lookahead must be a non-negative multiple of subsample"):
        ModelConfig.from_name("tiny", subsample=4, lookahead=10)
    assert ModelConfig.from_dict(ModelConfig.from_name("small").to_dict()) == ModelConfig.from_name("small")


# -- building blocks ----------------------------------------------------------------------------


def test_rotation_mlp_equals_rolling_the_input():
    torch.manual_seed(0)
    mlp = RotationMLP(16, 33, 8, (-1, 0, 1))
    x = torch.randn(3, 5, 16, 33)
    ref = torch.stack(
        [torch.relu(mlp.linear(torch.roll(x, r, dims=-2).flatten(-2))) for r in (-1, 0, 1)]
    ).mean(0)
    torch.testing.assert_close(mlp(x), ref, atol=1e-5, rtol=1e-5)
    # robust to the band sitting one electrode off: the mean over {-1, 0, 1} of a rolled ring
    # shares two of its three terms with the unrolled one; over all 16 rolls it is invariant
    full = RotationMLP(16, 33, 8, tuple(range(16)))
    torch.testing.assert_close(full(torch.roll(x, 1, dims=-2)), full(x), atol=1e-5, rtol=1e-5)


def test_masked_batchnorm_ignores_padding():
    torch.manual_seed(0)
    bn = MaskedBatchNorm(4).train()
    x = torch.randn(2, 10, 4)
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[1, 6:] = False
    padded = x.clone()
    padded[1, 6:] = 1e3  # garbage where the mask is False
    y = bn(padded, mask)
    valid = x[mask]
    ref = (valid - valid.mean(0)) / torch.sqrt(valid.var(0, unbiased=False) + bn.eps)
    torch.testing.assert_close(y[mask], ref, atol=1e-5, rtol=1e-5)
    bn.eval()
    torch.testing.assert_close(bn(x), bn.affine(x))


# -- streaming ----------------------------------------------------------------------------------


STREAM_CFGS = {
    1: dict(subsample=1, left_context=8, lookahead=3, conv_past=2),
    2: dict(subsample=2, left_context=8, lookahead=4, conv_past=4),
    4: dict(subsample=4, left_context=16, lookahead=8, conv_past=4),
}


@pytest.mark.parametrize("length", ["short", "long"])  # one (T, T) attention band / chunked bands
@pytest.mark.parametrize("subsample", [1, 2, 4])
@pytest.mark.parametrize("hop", [1, 3, 8, 17])
def test_streaming_equals_whole_window(subsample, hop, length):
    model = model_of(small_cfg(**STREAM_CFGS[subsample]))
    frames = {"short": {1: 25, 2: 25, 4: 41}[subsample], "long": 121}[length]
    x = feats(2, frames)
    with torch.no_grad():
        whole, lengths = model(x, torch.tensor([frames, frames]))
    streamed = stream(model, x, hop)
    assert streamed.shape == whole.shape and int(lengths[0]) == whole.shape[1] > model.cfg.window
    assert (streamed - whole).abs().max().item() <= 1e-4


def test_streaming_parity_for_a_named_size_over_a_long_window():
    """tiny with its real contexts (112 / 12 frames) on a 5 s window: the chunked band attention."""
    model = model_of(ModelConfig.from_name("tiny", layers=2))
    x = feats(1, 625)
    with torch.no_grad():
        whole, _ = model(x)
    assert whole.shape[1] > model.cfg.window * 3  # several attention chunks
    assert (stream(model, x, 16) - whole).abs().max().item() <= 1e-4


def test_state_is_fixed_size_for_hours():
    model = model_of(small_cfg())
    state = model.init_state(1)
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    with torch.no_grad():
        for _ in range(20):
            _, state = model.step(feats(1, 7, seed=5), state)
    assert {k: tuple(v.shape) for k, v in state.items()} == shapes
    assert not any("pos" in k for k in state)  # no position counter


def test_lookahead_is_bounded_by_the_input_block():
    """Changing input frame s changes no output whose time + lookahead < s, and does change
    the first output that can see it (whatever the depth)."""
    for layers in (1, 4):
        cfg = small_cfg(layers=layers, subsample=2, lookahead=4)
        model = model_of(cfg)
        x = feats(1, 90)
        s = 60
        y = x.clone()
        y[:, s] += 5.0
        with torch.no_grad():
            a, _ = model(x)
            b, _ = model(y)
        k = model.stride
        times = torch.arange(a.shape[1]) * k + k - 1
        before = times + model.lookahead < s
        assert (a[:, before] - b[:, before]).abs().max().item() == 0.0
        first = int(before.sum())
        assert (a[:, first] - b[:, first]).abs().max().item() > 1e-4


def test_old_frames_beyond_the_receptive_field_do_not_matter():
    for layers in (1, 3):
        cfg = small_cfg(layers=layers, subsample=2, left_context=6, conv_past=2)
        model = model_of(cfg)
        if layers == 1:  # one layer: the attention's left_context plus the conv's past
            assert model.receptive_field == model.left_context + cfg.conv_past + model.stride - 1
        x = feats(1, 120)
        with torch.no_grad():
            a, _ = model(x)
        k = model.stride
        j = a.shape[1] - 1
        t = j * k + k - 1  # time of the last output
        oldest = t - model.receptive_field  # oldest input frame it may depend on
        y = x.clone()
        y[:, : oldest] += 5.0  # everything older
        z = x.clone()
        z[:, oldest] += 5.0  # the oldest frame it sees
        with torch.no_grad():
            b, _ = model(y)
            c, _ = model(z)
        assert (a[:, j] - b[:, j]).abs().max().item() == 0.0
        assert (a[:, j] - c[:, j]).abs().max().item() > 1e-5


def test_batch_padding_does_not_change_valid_outputs():
    model = model_of(small_cfg())
    x = feats(2, 80)
    x[1, 50:] = 0.0
    with torch.no_grad():
        batched, lengths = model(x, torch.tensor([80, 50]))
        alone, alone_len = model(x[1:, :50], torch.tensor([50]))
    n = int(lengths[1])
    assert n == int(alone_len[0]) == alone.shape[1]
    torch.testing.assert_close(batched[1, :n], alone[0], atol=1e-5, rtol=1e-5)


def test_output_lengths_and_properties():
    model = model_of(small_cfg(subsample=2, lookahead=4, left_context=8))
    assert (model.stride, model.lookahead, model.left_context) == (2, 4, 8)
    x = feats(3, 40)
    with torch.no_grad():
        lp, lengths = model(x, torch.tensor([40, 21, 3]))
    assert lp.shape == (3, 40 // 2 - 2, 99)
    assert lengths.tolist() == [18, 8, 0]
    torch.testing.assert_close(lp.exp().sum(-1), torch.ones(3, 18), atol=1e-5, rtol=1e-5)


# -- FLOPs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("hop", [4, 8, 16])
def test_flops_per_hop_matches_the_flop_counter(hop):
    from torch.utils.flop_counter import FlopCounterMode

    cfg = small_cfg(subsample=4, left_context=16, lookahead=4, conv_past=4)
    model = model_of(cfg)
    state = model.init_state(1)
    with torch.no_grad():
        _, state = model.step(feats(1, 64), state)  # caches full: steady state
        counter = FlopCounterMode(display=False)
        with counter:
            model.step(feats(1, hop, seed=3), state)
    assert counter.get_total_flops() == model.flops_per_hop(hop) == flops_per_hop(cfg, hop)
    big = ModelConfig.from_name("large")
    assert flops_per_hop(big, 8) > 100 * flops_per_hop(small_cfg(subsample=4), 8)


# -- the TDS-ConvNet baseline -------------------------------------------------------------------


def test_tds_baseline_size_shapes_and_flops():
    from torch.utils.flop_counter import FlopCounterMode

    from emgrt.train.tds import TDSConfig, TDSConvCTC, tds_count_params

    cfg = TDSConfig()
    assert abs(tds_count_params(cfg) - 5.3e6) / 5.3e6 < 0.05  # emg2qwerty's ~5.3M
    torch.manual_seed(0)
    model = TDSConvCTC(cfg).eval()
    assert model.num_params == tds_count_params(cfg)
    assert model.receptive_field == 125 and model.output_time_offset == 112
    with torch.no_grad():
        lp, lengths = model(feats(2, 150), torch.tensor([150, 130]))
    assert lp.shape == (2, 26, 99) and lengths.tolist() == [26, 6]

    def counted(frames: int) -> int:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(feats(1, frames))
        return counter.get_total_flops()

    # each extra input frame adds one frame at every level: the steady-state cost per hop
    assert counted(125 + 8) - counted(125) == model.flops_per_hop(8)


def test_arch_dispatch_in_recipes():
    from emgrt.train.recipe import model_config_from_dict
    from emgrt.train.tds import TDSConfig

    assert isinstance(model_config_from_dict({"arch": "tds"}), TDSConfig)
    assert model_config_from_dict({"name": "tiny"}) == ModelConfig.from_name("tiny")
    assert model_config_from_dict(TDSConfig(kernel=16).to_dict()) == TDSConfig(kernel=16)
    from emgrt.train.rnn import RNNConfig

    assert model_config_from_dict({"arch": "lstm", "hidden": 64}) == RNNConfig(hidden=64)
    assert model_config_from_dict(RNNConfig(hidden=64).to_dict()) == RNNConfig(hidden=64)
    with pytest.raises(ConfigError, match="arch"):
        model_config_from_dict({"arch": "gru"})
