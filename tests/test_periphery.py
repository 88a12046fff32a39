"""Each periphery method of the tile against its documented behaviour."""

from functools import cache

import pytest
import torch

from xbrun.composition import compose
from xbrun.errors import ConfigError, TileError
from xbrun.nn import AnalogSGD
from xbrun.tiles import MappingConfig, TileWithPeriphery


@cache
def _cfg(overrides: tuple[str, ...]):
    return compose(list(overrides))


def make_tile(out_size=6, in_size=10, *, cell="ideal", io="perfect", extra=(), seed=1,
              **options):
    cfg = _cfg((f"cell={cell}", f"io={io}", *extra))
    mapping_keys = set(MappingConfig.__dataclass_fields__) - {"digital_bias"}
    mapping = MappingConfig(**{k: v for k, v in options.items() if k in mapping_keys})
    rest = {k: v for k, v in options.items() if k not in mapping_keys}
    return TileWithPeriphery(out_size, in_size, device_config=cfg.device, cell=cfg.cell,
                             io=cfg.io, update=cfg.update, seed=seed, mapping=mapping, **rest)


def weights(out_size=6, in_size=10, seed=0, scale=0.3):
    gen = torch.Generator().manual_seed(seed)
    return scale * torch.randn(out_size, in_size, generator=gen)


# ----------------------------------------------------------------- weights and scaling ---
def test_set_get_weights_without_scaling_is_an_exact_copy():
    tile = make_tile()
    w = weights()
    tile.set_weights(w)
    got, bias = tile.get_weights()
    torch.testing.assert_close(got, w)
    assert bias is None and tile.get_scales() is None and tile.get_mapping_scales() is None


@pytest.mark.parametrize("columnwise", [False, True])
def test_weight_scaling_maps_abs_max_to_omega_and_get_weights_returns_the_original(columnwise):
    tile = make_tile(weight_scaling_omega=0.8, weight_scaling_columnwise=columnwise)
    w = weights()
    tile.set_weights(w)
    conductances, _ = tile.get_weights(apply_weight_scaling=False)
    if columnwise:
        torch.testing.assert_close(conductances.abs().amax(1), torch.full((6,), 0.8))
        torch.testing.assert_close(tile.get_mapping_scales(), w.abs().amax(1) / 0.8)
    else:
        torch.testing.assert_close(conductances.abs().max(), torch.tensor(0.8))
        torch.testing.assert_close(tile.get_mapping_scales(), w.abs().max().reshape(1) / 0.8)
    logical, _ = tile.get_weights(apply_weight_scaling=True)
    torch.testing.assert_close(logical, w)
    # the forward pass computes with the logical weight
    x = torch.randn(5, 10)
    torch.testing.assert_close(tile.joint_forward(x), x @ w.T, rtol=1e-5, atol=1e-5)


def test_apply_weight_scaling_keeps_zero_rows_and_explicit_omega_wins():
    tile = make_tile(weight_scaling_omega=1.0, weight_scaling_columnwise=True)
    w = weights()
    w[2] = 0
    scaled = tile.apply_weight_scaling(w.clone(), weight_scaling_omega=0.5)
    assert scaled[2].abs().sum() == 0 and tile.get_mapping_scales()[2] == 1.0
    torch.testing.assert_close(scaled.abs().amax(1)[[0, 1, 3]], torch.full((3,), 0.5))
    with pytest.raises(ConfigError):
        tile.apply_weight_scaling(w, weight_scaling_omega=-1.0)
    no_scaling = make_tile()
    assert no_scaling.apply_weight_scaling(w) is w and no_scaling.get_scales() is None


def test_set_weights_with_explicit_omega_and_no_scaling():
    tile = make_tile(weight_scaling_omega=1.0)
    w = weights()
    tile.set_weights(w, weight_scaling_omega=0.25)
    assert torch.isclose(tile.get_weights(apply_weight_scaling=False)[0].abs().max(),
                         torch.tensor(0.25))
    scales = tile.get_scales().clone()
    tile.set_weights(0.5 * w, apply_weight_scaling=False)  # written as given, scales kept
    torch.testing.assert_close(tile.get_weights(apply_weight_scaling=False)[0], 0.5 * w)
    torch.testing.assert_close(tile.get_scales(), scales)


def test_remap_weights_rescales_but_keeps_the_logical_weight():
    tile = make_tile(weight_scaling_omega=0.3)
    w = weights()
    tile.set_weights(w)
    tile.remap_weights(weight_scaling_omega=1.0)
    torch.testing.assert_close(tile.get_weights(apply_weight_scaling=False)[0].abs().max(),
                               torch.tensor(1.0))
    torch.testing.assert_close(tile.get_weights()[0], w)


def test_mapping_and_learned_scales_combine():
    tile = make_tile(learn_out_scaling=True, out_scaling_columnwise=True)
    assert tile.get_mapping_scales() is None
    alpha = tile.get_learned_out_scales()
    assert isinstance(alpha, torch.nn.Parameter) and alpha.shape == (6,)
    torch.testing.assert_close(tile.get_scales(), torch.ones(6))
    tile.set_learned_out_scales(2.0)
    torch.testing.assert_close(tile.get_scales(), torch.full((6,), 2.0))
    tile.set_mapping_scales(3.0)
    torch.testing.assert_close(tile.get_scales(), torch.full((6,), 6.0))
    tile.set_scales(torch.arange(1.0, 7.0))  # mapping scales := scales, learned := 1
    torch.testing.assert_close(tile.get_learned_out_scales().detach(), torch.ones(6))
    torch.testing.assert_close(tile.get_scales(), torch.arange(1.0, 7.0))
    v = torch.ones(2, 6)
    torch.testing.assert_close(tile.apply_out_scaling(v), v)
    with pytest.raises(TileError):
        tile.set_mapping_scales(torch.ones(4))
    scalar = make_tile(learn_out_scaling=True)
    assert scalar.get_learned_out_scales().shape == (1,)
    plain = make_tile()
    plain.set_learned_out_scales(5.0)  # a no-op when out scales are not learned
    assert plain.get_learned_out_scales() is None and plain.get_scales() is None


def test_init_methods_follow_the_mapping():
    tile = make_tile(weight_scaling_omega=0.5, weight_scaling_columnwise=True,
                     learn_out_scaling=True, learn_input_range=True, input_range_init=2.0)
    torch.testing.assert_close(tile.get_mapping_scales(), torch.ones(6))
    torch.testing.assert_close(tile.input_range.detach(), torch.tensor([2.0]))
    tile.set_mapping_scales(None)
    tile.init_mapping_scales()
    assert tile.get_mapping_scales().shape == (6,)
    tile.set_learned_out_scales(4.0)
    tile.init_learned_out_scales()
    torch.testing.assert_close(tile.get_learned_out_scales().detach(), torch.ones(1))
    assert tile.init_input_processing() is True
    assert make_tile().init_input_processing() is False


def test_learned_out_scales_get_gradients_and_are_trained_by_analog_sgd():
    tile = make_tile(learn_out_scaling=True, out_scaling_columnwise=True)
    tile.set_weights(weights())
    opt = AnalogSGD(tile.parameters(), lr=0.1)
    before = tile.get_learned_out_scales().detach().clone()
    x = torch.randn(8, 10)
    tile(x).pow(2).sum().backward()
    grad = tile.get_learned_out_scales().grad
    assert grad is not None and grad.abs().sum() > 0
    # d/dalpha of sum((alpha * z)^2) = 2 alpha z^2
    z = tile.joint_forward(x)
    torch.testing.assert_close(grad, (2 * z.pow(2)).sum(0), rtol=1e-4, atol=1e-4)
    opt.step()
    assert not torch.equal(tile.get_learned_out_scales().detach(), before)


# ----------------------------------------------------------------- input range ----------
def test_set_input_range_needs_it_enabled():
    with pytest.raises(ConfigError, match="learn_input_range"):
        make_tile().set_input_range(2.0)
    tile = make_tile(learn_input_range=True)
    tile.set_input_range(torch.tensor([-1.5]))
    torch.testing.assert_close(tile.input_range.detach(), torch.tensor([1.5]))


def test_input_range_is_initialised_from_data_then_fixed():
    tile = make_tile(learn_input_range=True, init_input_range_from_data=3,
                     input_range_std_alpha=2.0)
    tile.set_weights(weights())
    gen = torch.Generator().manual_seed(0)
    batches = [s * torch.randn(64, 10, generator=gen) for s in (1.0, 2.0, 3.0, 10.0)]
    for b in batches:
        tile(b)
    expected = 2.0 * sum(b.std() for b in batches[:3]) / 3  # the running mean of 3 batches
    torch.testing.assert_close(tile.input_range.detach(), expected.reshape(1), rtol=1e-5,
                               atol=1e-6)
    assert int(tile.input_range_update_idx) == 3
    tile.eval()
    tile(100 * torch.randn(4, 10))  # eval never updates it
    torch.testing.assert_close(tile.input_range.detach(), expected.reshape(1), rtol=1e-5,
                               atol=1e-6)


def test_apply_input_range_clips_and_forward_uses_it():
    tile = make_tile(learn_input_range=True, init_input_range_from_data=0, input_range_init=1.0)
    w = weights()
    tile.set_weights(w)
    x = torch.tensor([[-3.0, -0.5, 0.2, 2.0] + [0.0] * 6])
    torch.testing.assert_close(tile.apply_input_range(x), x.clamp(-1, 1))
    torch.testing.assert_close(tile.joint_forward(x), x.clamp(-1, 1) @ w.T)
    torch.testing.assert_close(tile.pre_forward(x), x.clamp(-1, 1))  # divided by r = 1


def test_input_range_gradient_matches_finite_differences():
    """d loss / d r through the clip (straight-through elsewhere), decay off."""
    tile = make_tile(learn_input_range=True, init_input_range_from_data=0, input_range_init=0.8,
                     input_range_decay=0.0)
    w = weights()
    tile.set_weights(w)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(16, 10, generator=gen).requires_grad_(True)
    target = torch.randn(16, 6, generator=gen)

    def loss_at(r):
        return ((x.detach().clamp(-r, r) @ w.T - target) ** 2).sum()

    loss = ((tile(x) - target) ** 2).sum()
    loss.backward()
    eps = 1e-3
    numeric = (loss_at(0.8 + eps) - loss_at(0.8 - eps)) / (2 * eps)
    torch.testing.assert_close(tile.input_range.grad, numeric.reshape(1), rtol=2e-2, atol=2e-2)
    clipped = x.detach().abs() >= 0.8
    assert clipped.any() and (x.grad[clipped] == 0).all() and (x.grad[~clipped] != 0).any()


def test_input_range_decay_shrinks_an_unused_range():
    tile = make_tile(learn_input_range=True, init_input_range_from_data=0, input_range_init=5.0,
                     input_range_decay=0.01)
    tile.set_weights(weights())
    tile(0.1 * torch.randn(8, 10)).sum().backward()
    torch.testing.assert_close(tile.input_range.grad, torch.tensor([0.05]))  # decay * r


def test_input_range_trains_and_stays_positive():
    tile = make_tile(learn_input_range=True, init_input_range_from_data=0, input_range_init=0.5)
    tile.set_weights(weights())
    opt = AnalogSGD(tile.parameters(), lr=1e3)
    x = 3 * torch.randn(32, 10)
    target = x @ weights().T
    ((tile(x) - target) ** 2).sum().backward()
    opt.step()
    # inputs of std 3 clipped at 0.5: a wider range lowers the error, so the range grows
    assert tile.input_range.item() > 0.5


def test_analog_bias_and_input_range_do_not_mix():
    with pytest.raises(ConfigError, match="digital"):
        make_tile(analog_bias=True, learn_input_range=True)


# ----------------------------------------------------------------- passes ---------------
def test_pre_post_forward_backward_and_update_keep_the_logical_layer_exact():
    """Weight scaling + input range + ideal physics: forward, backward and the update of the
    logical weight are exactly those of a digital linear layer (the lr is adjusted)."""
    tile = make_tile(weight_scaling_omega=0.6, weight_scaling_columnwise=True,
                     learn_input_range=True, init_input_range_from_data=0, input_range_init=10.0)
    w = weights()
    tile.set_weights(w)
    x, d = torch.randn(7, 10), torch.randn(7, 6)
    torch.testing.assert_close(tile.joint_forward(x), x @ w.T, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(tile.backward(d), d @ w, rtol=1e-5, atol=1e-5)
    m = tile.get_mapping_scales()
    torch.testing.assert_close(tile.post_forward(torch.ones(2, 6)), (10.0 * m).expand(2, 6))
    torch.testing.assert_close(tile.pre_backward(torch.ones(2, 6)), m.expand(2, 6))
    xs, ds = tile.pre_update(x, -1, d, -1)
    torch.testing.assert_close(xs, x / 10.0)
    torch.testing.assert_close(ds, d * 10.0 / m)
    tile.set_learning_rate(0.05)
    tile.update(x, d)
    torch.testing.assert_close(tile.get_weights()[0], w - 0.05 * d.T @ x, rtol=1e-5, atol=1e-5)


def test_learning_rate_accessors():
    tile = make_tile()
    tile.set_learning_rate(0.3)
    assert tile.get_learning_rate() == 0.3
    tile.set_learning_rate(None)
    assert tile.get_learning_rate() == 0.3
    with pytest.raises(TileError):
        tile.set_learning_rate(-1.0)


def test_analog_bias_and_digital_bias():
    w, b = weights(), torch.randn(6)
    analog = make_tile(analog_bias=True)
    assert analog.x_size == 11
    with pytest.raises(TileError, match="bias"):
        analog.set_weights(w)
    analog.set_weights(w, b)
    got_w, got_b = analog.get_weights()
    torch.testing.assert_close(got_w, w)
    torch.testing.assert_close(got_b, b)
    x = torch.randn(3, 10)
    torch.testing.assert_close(analog(x), x @ w.T + b)
    digital = make_tile(digital_bias=True)
    digital.set_weights(w, b)
    assert isinstance(digital.bias, torch.nn.Parameter)
    torch.testing.assert_close(digital(x), x @ w.T + b)
    torch.testing.assert_close(digital.get_weights()[1], b)
    with pytest.raises(TileError):
        make_tile(analog_bias=True, digital_bias=True)
    with pytest.raises(TileError):
        digital.set_weights(torch.zeros(3, 3))


def test_cpu_returns_the_tile_and_drops_queued_updates():
    tile = make_tile()
    tile.set_weights(weights())
    tile(torch.randn(2, 10)).sum().backward()
    assert len(tile.pending) == 1
    assert tile.cpu() is tile and tile.pending == []


@pytest.mark.gpu
def test_cuda_moves_everything():
    tile = make_tile(weight_scaling_omega=0.5, learn_out_scaling=True, learn_input_range=True)
    w = weights()
    tile.set_weights(w)
    assert tile.cuda() is tile
    assert tile.get_mapping_scales().is_cuda and tile.input_range.is_cuda
    x = torch.randn(4, 10, device="cuda")
    torch.testing.assert_close(tile.joint_forward(x).cpu(), x.cpu() @ w.T, rtol=1e-4,
                               atol=1e-4)
    torch.testing.assert_close(tile.cpu().get_weights()[0], w)


@pytest.mark.gpu
@pytest.mark.parametrize("io", ["default", "perfect"])
def test_cuda_forward_and_backward_make_no_host_sync(io):
    """No .item(), nonzero, boolean indexing or data-dependent branch in a tile's forward
    and backward on CUDA (input range, scales and bias included)."""
    tile = make_tile(cell="constant_step", io=io, weight_scaling_omega=0.5,
                     learn_out_scaling=True, learn_input_range=True, digital_bias=True)
    tile.set_weights(weights())
    tile.cuda()
    x = torch.randn(8, 10, device="cuda", requires_grad=True)

    def step():
        out = tile(x)
        out.square().sum().backward()
        tile.pending.clear()
        return out

    step()  # compile the kernels first
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(out).all() and x.grad is not None
    assert tile.input_range.grad is not None


@pytest.mark.parametrize("where", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_mvm_noise_follows_the_seed_and_resumes_exactly(where):
    """Each MVM draws a fresh seed from the tile's seed and a counter kept in its state
    (on CUDA a device tensor): two calls differ, a copy loaded from the state continues
    exactly, a fresh tile of the same seed repeats the first call."""
    def tile_at(seed=1):
        tile = make_tile(io="default", seed=seed)
        tile.set_weights(weights())
        return tile.cuda() if where == "cuda" else tile

    tile = tile_at()
    x = torch.rand(4, 10, device=where)
    first, second = tile.joint_forward(x), tile.joint_forward(x)
    assert not torch.equal(first, second)
    other = tile_at(seed=tile.seed)
    other.load_state_dict(tile.state_dict())
    assert torch.equal(other.joint_forward(x), tile.joint_forward(x))
    assert torch.equal(tile_at(seed=tile.seed).joint_forward(x), first)


def test_state_dict_round_trip_keeps_the_periphery():
    opts = dict(weight_scaling_omega=0.5, learn_out_scaling=True, learn_input_range=True)
    tile = make_tile(**opts)
    tile.set_weights(weights())
    tile.set_learned_out_scales(1.7)
    tile.set_input_range(2.5)
    other = make_tile(**opts, seed=9)
    other.load_state_dict(tile.state_dict())
    x = torch.randn(4, 10)
    torch.testing.assert_close(other.joint_forward(x), tile.joint_forward(x))
    torch.testing.assert_close(other.get_scales(), tile.get_scales())


# ----------------------------------------------------------------- realistic read/write --
def test_read_weights_recovers_the_weights_within_the_noise():
    tile = make_tile(io="default", weight_scaling_omega=0.5)
    w = weights()
    tile.set_weights(w)
    exact, _ = tile.get_weights()
    errors = {}
    for over in (4, 40):
        estimate, bias = tile.read_weights(apply_weight_scaling=True, over_sampling=over)
        assert bias is None
        errors[over] = (estimate - exact).abs().mean().item()
    # out_noise 0.06 after abs-max scaling of normal inputs: a few 0.01 for 40 rows per input
    assert errors[40] < 0.02 and errors[40] < errors[4]
    conductances, _ = tile.read_weights(apply_weight_scaling=False, over_sampling=40)
    ref = tile.get_weights(apply_weight_scaling=False)[0]
    assert (conductances - ref).abs().mean() < 0.02 / tile.get_scales().item()
    realistic, _ = tile.get_weights(realistic=True)
    assert (realistic - exact).abs().mean() < 0.05
    with pytest.raises(TileError):
        tile.read_weights(x_values=torch.randn(5, 10))  # fewer rows than unknowns
    with pytest.raises(TileError):
        tile.read_weights(x_values=torch.randn(50, 3))


def test_read_weights_with_analog_bias_and_perfect_io_is_exact():
    tile = make_tile(analog_bias=True)
    w, b = weights(), torch.randn(6)
    tile.set_weights(w, b)
    est_w, est_b = tile.read_weights(apply_weight_scaling=True)
    torch.testing.assert_close(est_w, w, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(est_b, b, rtol=1e-4, atol=1e-4)


# a fine ADC and little read noise, so a 1% write-and-verify tolerance is reachable (with the
# default 9-bit ADC the read itself is ~1.3% off on these weights)
PULSED = ("io.forward.out_noise=0.002", "io.forward.out_res=0", "cell.dw_min=0.002")


def test_program_weights_reaches_its_tolerance_with_pulses():
    tile = make_tile(8, 12, cell="constant_step", io="default", extra=PULSED)
    target = weights(8, 12, scale=0.15)
    tile.set_weights(target, apply_weight_scaling=False)  # exact write: the reference
    tile.program_weights(tolerance=0.02, learning_rate=0.2, max_iter=500, w_init=0.02)
    assert tile.programming["relative_error"] < 0.02
    assert tile.programming["rounds"] < 500
    got = tile.get_weights(apply_weight_scaling=False)[0]
    assert (got - target).abs().mean() < 0.02 * target.abs().max() + 0.002
    assert tile.take_counters()["pulses"] > 0  # it was written by pulses


def test_set_weights_realistic_programs_by_pulses():
    tile = make_tile(8, 12, cell="constant_step", io="default", extra=PULSED)
    target = weights(8, 12, scale=0.15)
    tile.set_weights(target, apply_weight_scaling=False, realistic=True)
    assert tile.programming["relative_error"] < 0.01  # the default tolerance
    assert 1 < tile.programming["rounds"] < 10000
    assert (tile.get_weights()[0] - target).abs().mean() < 0.01 * target.abs().max() + 0.002


def test_program_weights_stops_at_max_iter_and_checks_inputs():
    tile = make_tile(4, 5, cell="constant_step", io="default", extra=PULSED)
    tile.set_weights(weights(4, 5))
    tile.program_weights(max_iter=3, tolerance=1e-9, w_init=torch.zeros(4, 5))
    assert tile.programming["rounds"] == 3
    with pytest.raises(TileError):
        tile.program_weights(x_values=torch.eye(3))


def test_joint_forward_checks_shapes():
    tile = make_tile()
    with pytest.raises(TileError):
        tile.joint_forward(torch.randn(2, 9))
    with pytest.raises(TileError):
        tile.backward(torch.randn(2, 5))
