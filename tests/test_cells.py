"""Unit cells: pulse responses against aihwkit's formulas, spreads, bounds, reset, presets.

Statistical checks use fixed seeds and tolerances of 5 standard errors derived from the
variance of the quantity tested, so they fail for a wrong formula, not by chance.
"""

import math
import pathlib
from dataclasses import replace

import pytest
import torch

from xbrun import kernels
from xbrun.cells_info import cell_stats, sweep
from xbrun.cli import main
from xbrun.composition import compose, group_options
from xbrun.physics.array import PulsedArray
from xbrun.physics.cells import ConstantStep, ExpStep, LinearStep, PowStep, SoftBounds
from xbrun.physics.pulses import UpdateParameters
from xbrun.training.loop import train

N = 20000  # elements per single-pulse statistic
NO_SPREAD = dict(dw_min_dtod=0.0, up_down_dtod=0.0, w_max_dtod=0.0, w_min_dtod=0.0)


def mean_steps(cell, w: float, up: bool, n: int = N, seed: int = 0):
    """Mean and std of the step (along the pulse's direction) at ``w`` over ``n`` elements."""
    gen = torch.Generator().manual_seed(seed)
    params = cell.sample((1, n), gen).double()
    weight = torch.full((1, n), w, dtype=torch.float64)
    xi = torch.randn((1, n), generator=gen, dtype=torch.float64)
    new = kernels.single_pulse_torch(
        weight, torch.full((1, n), up), params, cell_kind=cell.kernel_kind,
        noise_std=cell.noise_std, mult_noise=cell.mult_noise, xi=xi,
        cell_scalars=cell.cell_scalars)
    step = (new - weight) if up else (weight - new)
    return float(step.mean()), float(step.std())


def aihwkit_step(cell, w: float, up: bool) -> float:
    """The mean step of the nominal device, written from aihwkit's documented models."""
    su = cell.dw_min * (1 + min(cell.up_down, 0))
    sd = cell.dw_min * (1 - max(cell.up_down, 0))
    if isinstance(cell, LinearStep):
        return su * (1 - cell.gamma_up * w / cell.w_max) if up else \
            sd * (1 - cell.gamma_down * w / cell.w_min)
    if isinstance(cell, SoftBounds):
        return su * (1 - w / cell.w_max) if up else sd * (1 - w / cell.w_min)
    if isinstance(cell, ExpStep):
        z = 2 * cell.a * w / (cell.w_max - cell.w_min) + cell.b
        if up:
            return su * max(1 - cell.A_up * math.exp(cell.gamma_up * z), 0)
        return sd * max(1 - cell.A_down * math.exp(-cell.gamma_down * z), 0)
    if isinstance(cell, PowStep):
        rng = cell.w_max - cell.w_min
        g_up = cell.pow_gamma * (1 + min(cell.pow_up_down, 0))
        g_down = cell.pow_gamma * (1 - max(cell.pow_up_down, 0))
        return su * ((cell.w_max - w) / rng) ** g_up if up else \
            sd * ((w - cell.w_min) / rng) ** g_down
    return su if up else sd


CASES = {
    "constant": ConstantStep(up_down=0.2, **NO_SPREAD),
    "linear_mult": LinearStep(gamma_up=0.4, gamma_down=0.2, up_down=-0.1, gamma_up_dtod=0.0,
                              gamma_down_dtod=0.0, **NO_SPREAD),
    "linear_add": LinearStep(gamma_up=0.3, gamma_down=0.3, mult_noise=False,
                             gamma_up_dtod=0.0, gamma_down_dtod=0.0, **NO_SPREAD),
    "soft_bounds": SoftBounds(up_down=0.1, **NO_SPREAD),
    "soft_bounds_add": SoftBounds(mult_noise=False, **NO_SPREAD),
    "exp_default": ExpStep(**NO_SPREAD),
    "exp_reram": ExpStep(dw_min=0.00135, up_down=0.259359, w_max=1.0, w_min=-1.0, a=-0.5,
                         b=-0.5, gamma_up=5.0, gamma_down=5.0, A_up=-1.18445,
                         A_down=-0.081404, dw_min_std=0.5, **NO_SPREAD),
    "pow": PowStep(pow_gamma=2.0, pow_up_down=0.2, pow_gamma_dtod=0.0, **NO_SPREAD),
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("w", [-0.3, 0.0, 0.3])
def test_single_pulse_mean_and_spread_follow_the_model(name, w):
    cell = CASES[name]
    for up in (True, False):
        mean, std = mean_steps(cell, w, up)
        step = aihwkit_step(cell, w, up)
        additive = isinstance(cell, (LinearStep, SoftBounds)) and not cell.mult_noise
        scale = cell.dw_min * (1 + min(cell.up_down, 0) if up else 1 - max(cell.up_down, 0))
        sigma = cell.dw_min_std * (scale if additive else step)
        assert abs(mean - step) <= 5 * sigma / math.sqrt(N) + 1e-12, (up, mean, step)
        assert abs(std - sigma) <= 5 * sigma / math.sqrt(2 * N) + 1e-12, (up, std, sigma)


def test_soft_bounds_step_shrinks_linearly_to_zero_at_the_bound():
    cell = SoftBounds(dw_min_std=0.0, **NO_SPREAD)
    steps = [mean_steps(cell, f * cell.w_max, True, n=4)[0] for f in (0.0, 0.5, 0.9, 1.0)]
    assert steps == pytest.approx([1e-3, 5e-4, 1e-4, 0.0], rel=1e-6, abs=1e-9)
    steps = [mean_steps(cell, f * cell.w_min, False, n=4)[0] for f in (0.0, 0.5, 1.0)]
    assert steps == pytest.approx([1e-3, 5e-4, 0.0], rel=1e-6, abs=1e-9)
    # with multiplicative noise a pulse at the bound does nothing at all
    assert mean_steps(SoftBounds(**NO_SPREAD), cell.w_max, True) == pytest.approx((0, 0),
                                                                                 abs=1e-9)


def test_constant_step_is_flat_across_the_range():
    cell = ConstantStep(dw_min_std=0.0, **NO_SPREAD)
    steps = [mean_steps(cell, w, up, n=4)[0] for w in (-0.5, 0, 0.5) for up in (True, False)]
    assert steps == pytest.approx([1e-3] * 6, rel=1e-6)


def test_device_to_device_draw_matches_aihwkit_populate():
    cell = ConstantStep(dw_min=0.01, dw_min_dtod=0.2, up_down=0.2, up_down_dtod=0.05,
                        w_max=0.8, w_max_dtod=0.2, w_min=-0.5, w_min_dtod=0.1, reset=0.1,
                        reset_dtod=0.03)
    n = 300 * 300
    p = cell.sample((300, 300), torch.Generator().manual_seed(3)).double() / cell.dw_min
    up, down = p[kernels.ROW_SCALE_UP], p[kernels.ROW_SCALE_DOWN]
    se = 5 / math.sqrt(n)
    # scale_up = (gain + r) dw, scale_down = (gain - 0.2 - r) dw (up_down > 0 weakens down)
    assert float(up.mean()) == pytest.approx(1.0, abs=math.hypot(0.2, 0.05) * se)
    assert float(down.mean()) == pytest.approx(0.8, abs=math.hypot(0.2, 0.05) * se)
    assert float(((up + down) / 2).std()) == pytest.approx(0.2, rel=5 / math.sqrt(2 * n))
    assert float(((up - down) / 2).std()) == pytest.approx(0.05, rel=5 / math.sqrt(2 * n))
    w_max = p[kernels.ROW_W_MAX] * cell.dw_min
    assert float(w_max.mean()) == pytest.approx(0.8, abs=0.16 * se)
    assert float(w_max.std()) == pytest.approx(0.16, rel=5 / math.sqrt(2 * n))
    reset = cell.sample_reset((300, 300), torch.Generator().manual_seed(4)).double()
    assert float(reset.mean()) == pytest.approx(0.1, abs=0.03 * se)
    assert float(reset.std()) == pytest.approx(0.03, rel=5 / math.sqrt(2 * n))


def test_pow_and_linear_shape_spreads():
    n = 200 * 200
    pow_cell = PowStep(pow_gamma=2.0, pow_gamma_dtod=0.1, pow_up_down=-0.2,
                       pow_up_down_dtod=0.05)
    p = pow_cell.sample((200, 200), torch.Generator().manual_seed(5)).double()
    g_up, g_down = p[kernels.ROW_GAMMA_UP] / 2, p[kernels.ROW_GAMMA_DOWN] / 2
    se = math.hypot(0.1, 0.05) * 5 / math.sqrt(n)
    assert float(g_up.mean()) == pytest.approx(0.8, abs=se)  # pow_up_down < 0: up weaker
    assert float(g_down.mean()) == pytest.approx(1.0, abs=se)
    lin = LinearStep(gamma_up=0.5, gamma_up_dtod=0.05, w_max=0.6)
    p = lin.sample((200, 200), torch.Generator().manual_seed(6)).double()
    slope = p[kernels.ROW_SLOPE_UP] * 0.6  # gamma_ij (mean bound reference)
    assert float(slope.mean()) == pytest.approx(0.5, abs=0.05 * 5 / math.sqrt(n))
    assert float(slope.std()) == pytest.approx(0.05, rel=5 / math.sqrt(2 * n))


def test_construction_draw_is_reproducible():
    cell = ConstantStep()
    upd = UpdateParameters()
    a, b, c = (PulsedArray(6, 5, cell, upd, s) for s in (7, 7, 8))
    assert torch.equal(a.cell_params, b.cell_params)
    assert torch.equal(a.reset_bias, b.reset_bias)
    assert not torch.equal(a.cell_params, c.cell_params)
    fixed = replace(cell, construction_seed=11)
    assert torch.equal(PulsedArray(6, 5, fixed, upd, 1).cell_params,
                       PulsedArray(6, 5, fixed, upd, 2).cell_params)


CELL_OPTIONS = [c for c in group_options("cell") if c != "ideal"]


@pytest.mark.parametrize("option", CELL_OPTIONS)
def test_weights_never_leave_each_elements_bounds(option):
    cell = compose([f"cell={option}"]).cell
    array = PulsedArray(8, 6, cell, UpdateParameters(), 0)
    gen = torch.Generator().manual_seed(0)
    w_min, w_max = array.cell_params[kernels.ROW_W_MIN], array.cell_params[kernels.ROW_W_MAX]
    for bound, sign in ((w_min, 1.0), (w_max, -1.0)):  # start at a bound, push beyond it
        array.set_weight(bound.clone())
        for _ in range(4):
            x, d = torch.rand(3, 6, generator=gen), torch.rand(3, 8, generator=gen)
            array.update(x, sign * d, 5.0, gen)
            w = array.stored_weight()
            assert bool(((w >= w_min) & (w <= w_max)).all())


def test_symmetry_point_of_asymmetric_soft_bounds():
    """Alternating up/down pulses drive soft bounds to w* = (su-sd)/(su/w_max - sd/w_min)."""
    cell = SoftBounds(up_down=0.2, dw_min=0.002, dw_min_std=0.0, **NO_SPREAD)
    su, sd = cell.dw_min, 0.8 * cell.dw_min
    expected = (su - sd) / (su / cell.w_max - sd / cell.w_min)
    params = cell.sample((1, 1), torch.Generator())
    w = torch.zeros(1, 1)
    for i in range(6000):
        w = kernels.single_pulse_torch(w, torch.tensor([[i % 2 == 0]]), params,
                                       cell_kind=cell.kernel_kind, noise_std=0.0,
                                       mult_noise=True, xi=None)
    assert float(w) == pytest.approx(expected, abs=2 * cell.dw_min)
    assert float(cell_stats(cell)["symmetry_point"]) == pytest.approx(expected, abs=1e-4)
    assert cell_stats(replace(cell, up_down=0.0))["symmetry_point"] == "+0.0000"


def test_up_down_sweep_shows_the_asymmetry():
    cell = ConstantStep(up_down=0.25, dw_min=0.01, dw_min_std=0.0, **NO_SPREAD)
    trace = sweep(cell, pulses=40, devices=1, noise=False)[0]
    up_part, down_part = trace[40] - trace[0], trace[40] - trace[80]
    assert float(up_part) == pytest.approx(40 * 0.01, rel=1e-5)
    assert float(down_part) == pytest.approx(40 * 0.0075, rel=1e-5)  # (1 - up_down) dw
    assert cell_stats(cell)["symmetry_point"] == "w_max (drifts up)"
    assert cell_stats(cell)["asymmetry"] == pytest.approx(0.25 / 1.75, rel=1e-6)


def test_reset_puts_masked_elements_at_their_reset_value():
    cell = ConstantStep(reset=0.1, reset_dtod=0.05, reset_std=0.02)
    array = PulsedArray(200, 100, cell, UpdateParameters(), 0)
    array.set_weight(torch.full((200, 100), 0.5))
    mask = torch.zeros(1, 100, dtype=torch.bool)
    mask[:, :50] = True
    array.reset(mask, torch.Generator().manual_seed(1))
    w = array.weight
    assert torch.all(w[:, 50:] == torch.minimum(torch.tensor(0.5),
                                                array.cell_params[kernels.ROW_W_MAX][:, 50:]))
    dev = (w[:, :50] - array.reset_bias[:, :50]).double()
    n = dev.numel()
    assert float(dev.mean()) == pytest.approx(0.0, abs=5 * 0.02 / math.sqrt(n))
    assert float(dev.std()) == pytest.approx(0.02, rel=5 / math.sqrt(2 * n))
    assert float(array.reset_bias.double().std()) == pytest.approx(0.05, rel=0.05)


def test_corrupt_devices_are_stuck():
    cell = ConstantStep(corrupt_devices_prob=0.3)
    array = PulsedArray(100, 100, cell, UpdateParameters(), 0)
    p = array.cell_params
    stuck = (p[kernels.ROW_W_MAX] == p[kernels.ROW_W_MIN]) & (p[kernels.ROW_SCALE_UP] == 0)
    assert float(stuck.double().mean()) == pytest.approx(0.3, abs=5 * math.sqrt(.21 / 1e4))
    # uniform within the bounds and within +-corrupt_devices_range (aihwkit's default 0.1)
    values = p[kernels.ROW_W_MAX][stuck]
    assert cell.corrupt_devices_range == 0.1
    assert float(values.abs().max()) <= 0.1 and float(values.max() - values.min()) > 0.19
    before = array.weight.clone()
    gen = torch.Generator().manual_seed(0)
    array.update(torch.rand(4, 100, generator=gen), torch.randn(4, 100, generator=gen), 1.0,
                 gen)
    assert torch.equal(array.weight[stuck], p[kernels.ROW_W_MAX][stuck])
    assert not torch.equal(array.weight[~stuck], before[~stuck])


def test_write_noise_is_seen_by_reads_and_redrawn_where_written():
    cell = ConstantStep(write_noise_std=10.0, dw_min_std=0.0)
    array = PulsedArray(100, 100, cell, UpdateParameters(), 0)
    gen = torch.Generator().manual_seed(0)
    array.set_weight(torch.zeros(100, 100), gen)
    assert float(array.persistent.abs().max()) == 0.0
    assert float(array.weight.double().std()) == pytest.approx(0.01, rel=5 / math.sqrt(2e4))
    noise_before = array.weight.clone()
    x = torch.zeros(1, 100)
    x[0, :10] = 1.0
    array.update(x, torch.ones(1, 100), 0.05, gen)
    changed = array.persistent != 0
    assert bool(changed[:, :10].any()) and not bool(changed[:, 10:].any())
    assert torch.equal(array.weight[:, 10:], noise_before[:, 10:])
    assert not torch.equal(array.weight[changed], noise_before[changed])


def test_bad_cell_value_exits_2_with_one_line(capsys):
    with pytest.raises(SystemExit) as err:
        main(["train", "cell=soft_bounds", "cell.w_min=0.5"])
    assert err.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "cell.w_min" in lines[0]
    with pytest.raises(SystemExit) as err:
        main(["train", "cell=exp_step", "cell.gamma_up=fast"])
    assert err.value.code == 2


def test_cells_command_prints_the_table_and_plots(tmp_path, capsys):
    out = tmp_path / "cells.png"
    main(["cells", "soft_bounds", "reram_es", "--plot", str(out), "--pulses", "300",
          "--devices", "2"])
    text = capsys.readouterr().out
    assert "soft_bounds" in text and "reram_es" in text and "symmetry" in text
    assert out.stat().st_size > 10_000
    with pytest.raises(SystemExit) as err:
        main(["cells", "no_such_cell"])
    assert err.value.code == 2
    assert "choose one of" in capsys.readouterr().err


@pytest.mark.parametrize("option", group_options("cell"))
def test_every_cell_option_trains(option, tmp_path: pathlib.Path):
    summary = train(compose([f"cell={option}", "debug=tiny"]), tmp_path, log=lambda *a: None)
    assert summary["status"] == "finished"
    assert math.isfinite(summary["test_loss"])
