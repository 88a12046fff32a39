"""Analog MVM periphery: quantization grids, noise levels, noise and bound management."""

import math

import pytest
import torch

from xbrun.composition import compose, group_options
from xbrun.physics.io import IOParameters, analog_mvm
from xbrun.training.loop import train

CLEAN = dict(out_noise=0.0, out_res=0.0, inp_res=0.0, noise_management="none",
             bound_management="none")


def test_dac_steps_are_inp_res_times_the_full_range():
    """aihwkit: a 7-bit DAC (inp_res = 1/126) has 126 steps over [-1, 1]: width 2/126."""
    x = torch.linspace(-1, 1, 1001)[:, None]
    io = IOParameters(**{**CLEAN, "inp_res": 1 / 126})
    out = analog_mvm(torch.ones(1, 1), x, io)
    grid = out / (2 / 126)
    torch.testing.assert_close(grid, torch.round(grid), atol=1e-4, rtol=0)
    assert float((out - x).abs().max()) <= 1 / 126 + 1e-6
    assert torch.unique(torch.round(grid)).numel() == 127  # -63 .. 63
    # a resolution above 1 is a number of steps: the same DAC
    torch.testing.assert_close(analog_mvm(torch.ones(1, 1), x,
                                          IOParameters(**{**CLEAN, "inp_res": 126.0})), out)
    # and the range scales with inp_bound
    io2 = IOParameters(**{**CLEAN, "inp_res": 1 / 126, "inp_bound": 2.0})
    out2 = analog_mvm(torch.ones(1, 1), 2 * x, io2)
    torch.testing.assert_close(out2, 2 * out)


def test_adc_steps_and_clipping():
    w = torch.linspace(-15, 15, 301)[:, None]
    io = IOParameters(**{**CLEAN, "out_res": 1 / 510, "out_bound": 12.0})
    out = analog_mvm(w, torch.ones(1, 1), io)[0]
    step = 24 / 510
    torch.testing.assert_close(out / step, torch.round(out / step), atol=1e-3, rtol=0)
    assert float(out.max()) == 12.0 and float(out.min()) == -12.0
    inside = w[:, 0].abs() < 11.9
    assert float((out[inside] - w[inside, 0]).abs().max()) <= step / 2 + 1e-5


def test_stochastic_rounding_of_the_dac_is_unbiased():
    x = torch.full((20000, 1), 19.25 * 2 / 126)  # a quarter step above a grid point
    io = IOParameters(**{**CLEAN, "inp_res": 1 / 126, "inp_sto_round": True})
    out = analog_mvm(torch.ones(1, 1), x, io, torch.Generator().manual_seed(0))
    sd = (2 / 126) * math.sqrt(0.25 * 0.75)  # Bernoulli(1/4) over one step
    assert abs(float(out.mean()) - float(x[0])) <= 5 * sd / math.sqrt(20000)
    assert float(out.std()) == pytest.approx(sd, rel=0.05)


@pytest.mark.parametrize("kind", ["out_noise", "inp_noise", "additive_constant", "pcm_read"])
def test_noise_has_the_configured_std(kind):
    gen = torch.Generator().manual_seed(1)
    w = 0.3 * torch.randn(8, 20, generator=gen)
    x = torch.rand(1, 20, generator=gen) - 0.5
    n = 5000
    xs = x.repeat(n, 1)
    params = {"out_noise": dict(out_noise=0.05),
              "inp_noise": dict(inp_noise=0.04),
              "additive_constant": dict(w_noise=0.03, w_noise_type="additive_constant"),
              "pcm_read": dict(w_noise=0.03, w_noise_type="pcm_read")}[kind]
    out = analog_mvm(w, xs, IOParameters(**{**CLEAN, **params}), gen)
    err = (out - x @ w.T).double()
    expected = {"out_noise": torch.full((8,), 0.05),
                "inp_noise": 0.04 * w.norm(dim=1),
                "additive_constant": torch.full((8,), 0.03 * float(x.norm())),
                "pcm_read": 0.03 * torch.sqrt(w.abs() @ (x[0] ** 2))}[kind].double()
    assert torch.all(err.mean(0).abs() <= 5 * expected / math.sqrt(n))
    torch.testing.assert_close(err.std(0), expected, rtol=5 / math.sqrt(2 * n), atol=0)


def test_noise_management_keeps_small_inputs_above_the_dac_step():
    gen = torch.Generator().manual_seed(2)
    w, x = torch.randn(5, 30, generator=gen), 0.003 * torch.randn(4, 30, generator=gen)
    base = dict(out_noise=0.0, out_res=0.0, inp_res=1 / 126, bound_management="none")
    lost = analog_mvm(w, x, IOParameters(**base, noise_management="none"))
    kept = analog_mvm(w, x, IOParameters(**base, noise_management="abs_max"))
    assert float(lost.abs().max()) == 0.0  # every input rounds to 0 without it
    exact = x @ w.T
    assert float((kept - exact).norm() / exact.norm()) < 0.05
    # `max` uses the signed maximum: an all-negative input reads as zeros (as aihwkit)
    neg = analog_mvm(w, -x.abs(), IOParameters(**base, noise_management="max"))
    assert float(neg.abs().max()) == 0.0
    # `constant` divides by nm_thres and multiplies back
    const = analog_mvm(w, 100 * x, IOParameters(**base, noise_management="constant",
                                                nm_thres=2.0))
    assert float((const - 100 * exact).norm() / (100 * exact).norm()) < 0.05


def test_bound_management_recovers_outputs_that_would_clip():
    w = torch.full((3, 10), 0.9)
    x = torch.ones(2, 10)  # W x = 9 per output, out_bound 2
    base = dict(out_noise=0.0, out_res=0.0, inp_res=1 / 126, out_bound=2.0)
    clipped = analog_mvm(w, x, IOParameters(**base, bound_management="none"))
    assert torch.all(clipped == 2.0)
    managed = analog_mvm(w, x, IOParameters(**base, bound_management="iterative"))
    torch.testing.assert_close(managed, x @ w.T, rtol=0.02, atol=0)
    # the reduction stops at max_bm_res / DAC step = 0.25 * 63 (-> 16): 40 cannot come back;
    # the clipped output is rescaled by the abs-max (1.1) and the reduction (16)
    big = analog_mvm(4 * w, 1.1 * x, IOParameters(**base, bound_management="iterative"))
    torch.testing.assert_close(big, torch.full_like(big, 2.0 * 1.1 * 16))
    # worst case: the second pass rescales by the abs-max-np-sum bound (3 here), then halves;
    # the input lands on a coarse DAC step, hence the looser match
    worst = analog_mvm(w, x, IOParameters(**base, bound_management="iterative_worst_case"))
    torch.testing.assert_close(worst, x @ w.T, rtol=0.06, atol=0)


def test_perfect_io_is_exact_with_out_scale():
    w, x = torch.randn(4, 6), torch.randn(3, 6)
    torch.testing.assert_close(analog_mvm(w, x, IOParameters(is_perfect=True, out_scale=2.0)),
                               2 * x @ w.T)


# aihwkit 1.2.0's IOParameters defaults, written out from its source
# (src/aihwkit/simulator/parameters/io.py, class IOParameters), for the keys xbrun models
AIHWKIT_IO_DEFAULTS = {
    "is_perfect": False, "inp_bound": 1.0, "inp_noise": 0.0, "inp_res": 1 / (2**7 - 2),
    "inp_sto_round": False, "out_bound": 12.0, "out_noise": 0.06, "out_res": 1 / (2**9 - 2),
    "out_sto_round": False, "out_scale": 1.0, "bound_management": "iterative",
    "noise_management": "abs_max", "w_noise": 0.0, "w_noise_type": "none",
    "max_bm_factor": 1000, "max_bm_res": 0.25, "bm_test_negative_bound": True,
    "nm_thres": 0.0,
}


def test_default_io_matches_aihwkit_defaults():
    io = compose(["io=default"]).io
    for key, value in AIHWKIT_IO_DEFAULTS.items():
        assert getattr(io.forward, key) == pytest.approx(value) if isinstance(value, float) \
            else getattr(io.forward, key) == value, key
    assert io.forward == IOParameters()  # and the dataclass defaults are the same
    assert io.backward.bound_management == "none"  # aihwkit ignores it in backward
    assert io.forward.inp_step == pytest.approx(2 / 126)
    assert io.forward.out_step == pytest.approx(24 / 510)


@pytest.mark.parametrize("option", group_options("io"))
def test_every_io_option_trains(option, tmp_path):
    cfg = compose([f"io={option}", "debug=tiny"])
    summary = train(cfg, tmp_path, log=lambda *a: None)
    assert summary["status"] == "finished" and math.isfinite(summary["test_loss"])
