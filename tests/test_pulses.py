"""Pulse trains: expected change, saturation, BL/update management, pulse types.

The reference numbers are written here from aihwkit's update rules (GPU path), not taken
from ``xbrun.physics.pulses``; statistical checks use 5-sigma tolerances derived from the
binomial variance of the coincidence counts.
"""

import copy
import math

import pytest
import torch

from xbrun.composition import compose
from xbrun.physics.array import PulsedArray
from xbrun.physics.cells import ConstantStep, ExpStep, LinearStep, PowStep, SoftBounds
from xbrun.physics.pulses import UpdateParameters, explicit_trains, pulse_trains
from xbrun.training.loop import train

DW = 0.001
# a noiseless constant step with far bounds: the weight change counts pulses exactly
COUNTER = ConstantStep(dw_min=DW, dw_min_dtod=0.0, dw_min_std=0.0, up_down_dtod=0.0,
                       w_max=100.0, w_min=-100.0, w_max_dtod=0.0, w_min_dtod=0.0)

X = torch.tensor([[0.9, -0.4, 0.1, 0.0, -0.7, 0.25]])
D = torch.tensor([[0.5, -0.2, 0.05, -0.35]])


def pulse_counts(update: UpdateParameters, x, d, lr, repeats=1, seed=0):
    """Signed pulse counts per element of ``repeats`` copies of the rank-1 update."""
    array = PulsedArray(d.shape[1], x.shape[1], COUNTER, update, 0)
    array.update(x.repeat(repeats, 1), d.repeat(repeats, 1), lr,
                 torch.Generator().manual_seed(seed))
    return array.weight.double() / DW


def test_small_updates_move_the_weight_by_minus_lr_d_x_on_average():
    lr, repeats = 0.017, 1500
    request = -lr * (D.T @ X).double() / DW  # pulses per repeat, signed
    # gains of aihwkit: BL = ceil(k), p_x = |x|/sqrt(...) so that BL p_x p_d = |request|
    k = lr * 0.9 * 0.5 / DW
    bl = math.ceil(k)
    assert bl < 31
    p = request.abs() / bl  # coincidence probability per slot
    counts = pulse_counts(UpdateParameters(), X, D, lr, repeats)
    sd = torch.sqrt(repeats * bl * p * (1 - p))
    fp32 = 1e-3 * counts.abs()  # the weight accumulates thousands of float32 steps
    assert torch.all((counts - repeats * request).abs() <= 5 * sd + fp32)
    assert float((counts - repeats * request).abs().sum()) > 0  # it is stochastic


def test_large_updates_saturate_on_the_gradient_side():
    lr = 0.5  # k = lr max|x| max|d| / dw = 225 > 31
    trains = pulse_trains(X, D, lr, DW, UpdateParameters())
    assert int(trains.bl[0]) == 31
    k = lr * 0.9 * 0.5 / DW
    x_expected = X.abs() / 0.9  # the x side fires |x| / max|x|
    d_expected = (D.abs() / 0.5 * k / 31).clamp(max=1)  # the d side clips at 1
    torch.testing.assert_close(trains.x_prob.abs(), x_expected)
    torch.testing.assert_close(trains.d_prob.abs(), d_expected)
    assert torch.equal(trains.x_prob.sign(), X.sign())
    repeats = 40
    counts = pulse_counts(UpdateParameters(), X, D, lr, repeats).abs()
    mean = (31 * d_expected.T @ x_expected).double()
    sd = torch.sqrt(repeats * mean * (1 - mean / 31))  # binomial(31, p) per repeat
    assert torch.all((counts - repeats * mean).abs() <= 5 * sd + 1e-3 * counts)
    assert float(counts.max()) < repeats * lr * 0.45 / DW / 5  # far below the request


def test_bl_management_and_fixed_bl():
    x, d = torch.tensor([[1.0, 0.5]]), torch.tensor([[0.3]])
    for lr, bl in ((0.001 * 2.3 / 0.3, 3), (0.0001, 1), (1.0, 31)):
        assert int(pulse_trains(x, d, lr, DW, UpdateParameters()).bl[0]) == bl
    # without BL management the train is desired_bl long...
    plain = UpdateParameters(update_bl_management=False, update_management=False)
    t = pulse_trains(x, d, 0.01, DW, plain)
    amp = math.sqrt(0.01 / (DW * 31))
    assert int(t.bl[0]) == 31
    torch.testing.assert_close(t.x_prob, x * amp)
    # ... unless fixed_bl is off and one pulse per slot cannot carry the update
    t = pulse_trains(x, d, 0.1, DW, UpdateParameters(update_bl_management=False,
                                                     update_management=False, fixed_bl=False))
    assert int(t.bl[0]) == 100
    torch.testing.assert_close(t.x_prob, x)
    torch.testing.assert_close(t.d_prob, d)
    # an all-zero row makes no train
    assert int(pulse_trains(torch.zeros(1, 2), d, 0.1, DW, UpdateParameters()).bl[0]) == 0


def test_update_management_balances_the_two_sides():
    x, d = torch.tensor([[0.02, 0.01]]), torch.tensor([[2.0, -1.0]])
    on = pulse_trains(x, d, 0.001, DW, UpdateParameters(update_bl_management=False))
    off = pulse_trains(x, d, 0.001, DW, UpdateParameters(update_bl_management=False,
                                                         update_management=False))
    assert float(on.x_prob.abs().max()) == pytest.approx(float(on.d_prob.abs().max()))
    assert float(off.x_prob.abs().max()) < 0.01 * float(off.d_prob.abs().max())
    for t in (on, off):  # same expected update either way
        expected = 0.001 * (d.T @ x).abs() / DW
        torch.testing.assert_close(31 * t.d_prob.abs().T @ t.x_prob.abs(), expected)


def test_um_grad_scale_clips_the_largest_gradients_earlier():
    lr = 0.01
    t = pulse_trains(X, D, lr, DW, UpdateParameters(um_grad_scale=0.5))
    product = t.bl[0] * t.d_prob.abs().T @ t.x_prob.abs()
    request = lr * (D.abs().T @ X.abs()) / DW
    small = D.abs()[0] <= 0.25  # at most um_grad_scale * max|d|
    torch.testing.assert_close(product[small], request[small])
    assert float(t.d_prob.abs().max()) == 1.0
    clipped = ~small[:, None] & (X.abs() > 0)
    assert torch.all(product[clipped] < request[clipped])


def test_probability_resolution_and_stochastic_rounding():
    x = torch.rand(1, 50, generator=torch.Generator().manual_seed(0))
    d = torch.rand(1, 40, generator=torch.Generator().manual_seed(1))
    for res, width in ((0.1, 0.1), (20.0, 0.05)):
        t = pulse_trains(x, d, 0.02, DW, UpdateParameters(res=res))
        for p in (t.x_prob, t.d_prob):
            torch.testing.assert_close(p / width, torch.round(p / width))
    exact = pulse_trains(x, d, 0.02, DW, UpdateParameters()).x_prob
    gen = torch.Generator().manual_seed(2)
    draws = torch.stack([pulse_trains(x, d, 0.02, DW, UpdateParameters(res=0.1, sto_round=True),
                                      gen).x_prob for _ in range(2000)])
    # stochastic rounding to a 0.1 grid is unbiased; its std is at most 0.05
    assert torch.all((draws.mean(0) - exact).abs() <= 5 * 0.05 / math.sqrt(2000))


def quantize(v, width):
    return torch.round(v / width) * width if width > 0 else v


def test_deterministic_implicit_counts_round_bl_xq_dq():
    lr = 0.02
    upd = UpdateParameters(pulse_type="deterministic_implicit", x_res_implicit=0.05,
                           d_res_implicit=0.1)
    counts = pulse_counts(upd, X, D, lr)
    assert torch.equal(counts, pulse_counts(upd, X, D, lr, seed=9))  # no randomness
    k = lr * 0.9 * 0.5 / DW
    bl = math.ceil(k)
    amp, scale = math.sqrt(lr / (DW * bl)), math.sqrt(0.9 / 0.5)
    xq = quantize(X.abs() * amp / scale, 0.05).clamp(0, 1)
    dq = quantize(D.abs() * amp * scale, 0.1).clamp(0, 1)
    expected = -torch.round(bl * dq.T @ xq) * (D.T @ X).sign()
    torch.testing.assert_close(counts, expected.double())


def test_mean_count_counts_round_nx_nd_over_bl():
    lr = 0.02
    counts = pulse_counts(UpdateParameters(pulse_type="mean_count"), X, D, lr)
    bl = math.ceil(lr * 0.9 * 0.5 / DW)
    amp, scale = math.sqrt(lr / (DW * bl)), math.sqrt(0.9 / 0.5)
    nx = torch.round(bl * X.abs() * amp / scale)
    nd = torch.round(bl * D.abs() * amp * scale)
    expected = -torch.round(nd.T @ nx / bl) * (D.T @ X).sign()
    torch.testing.assert_close(counts, expected.double())


def test_explicit_trains_reproduce_any_rank1_count_matrix():
    gen = torch.Generator().manual_seed(3)
    a = torch.round(torch.rand(4, 30, generator=gen) * 10) / 10
    c = torch.rand(4, 7, generator=gen)
    factor = torch.tensor([5.0, 31.0, 1.0, 12.0])
    x_bits, d_bits, lengths = explicit_trains(a, c, factor)
    for b in range(4):
        n = int(lengths[b])
        got = d_bits[b, :n].double().T @ x_bits[b, :n].double()
        torch.testing.assert_close(got, torch.round(factor[b] * c[b][:, None] * a[b][None])
                                   .double())


@pytest.mark.parametrize("override", ["update.pulse_type=deterministic_implicit",
                                      "update.pulse_type=mean_count",
                                      "update.update_bl_management=false"])
def test_update_options_train(override, tmp_path):
    cfg = compose([override, "debug=tiny", "update.x_res_implicit=0.05",
                   "update.d_res_implicit=0.05"])
    summary = train(cfg, tmp_path, log=lambda *a: None)
    assert summary["status"] == "finished" and summary["pulses"] > 0


@pytest.mark.parametrize("cell,update", [
    (ConstantStep(), UpdateParameters()),
    (SoftBounds(dw_min_std=0.3), UpdateParameters(desired_bl=5, fixed_bl=False,
                                                  update_bl_management=False)),
    (LinearStep(), UpdateParameters(um_grad_scale=0.5, res=0.1, sto_round=True)),
    (ExpStep(), UpdateParameters(update_management=False, update_bl_management=False)),
    (PowStep(), UpdateParameters(desired_bl=64)),
])
def test_bound_host_update_is_the_general_path(cell, update, monkeypatch):
    """A CPU array's update bound once per rate (``PulsedArray._host_update``: trains and
    pulses in two bound numba calls) leaves the weight, its ledgers and counters, the
    pulses, the tile's row count and the generator as the general path does, bit for bit;
    across rates, a weight given new storage, counting turned off, strided rows and both
    ways of returning the pulses. A copy binds its own (it never writes the original)."""
    def run(bound):
        array = PulsedArray(5, 7, cell, update, 3)
        if not bound:
            monkeypatch.setattr(PulsedArray, "_host_update", lambda self, lr, params: None)
        gen, data = torch.Generator().manual_seed(2), torch.Generator().manual_seed(0)
        total, rows, returned = (torch.zeros((), dtype=torch.int64) for _ in range(3))
        for step in range(9):
            if step == 3:  # new storage: a bound update must write the new tensor
                array.weight = array.weight.clone()
            if step == 6:
                array.counting = False
            x = torch.rand(7, 4, generator=data).T - 0.3  # strided rows
            d = torch.randn(4, 5, generator=data)
            out = array.update(x, d, (0.5, 0.75)[step // 5], gen,
                               add_to=total if step % 2 else None, rows=rows)
            if not step % 2:
                returned += out
        monkeypatch.undo()
        return array, (total, rows, returned, gen.get_state(), array.weight,
                       array.cell_pulses, array.ledger, array.kernel_calls.tensor)

    (bound, got), (general, want) = run(True), run(False)
    assert bound._bound_update[1] is not None and general._bound_update == (None, None)
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype and torch.equal(a.reshape(-1).view(torch.uint8),
                                                  b.reshape(-1).view(torch.uint8))
    assert int(got[0]) > 0 and int(got[2]) > 0
    before = bound.weight.clone()
    clone = copy.deepcopy(bound)
    clone.update(torch.rand(4, 7), torch.randn(4, 5), 0.5, torch.Generator().manual_seed(1))
    assert torch.equal(bound.weight, before) and not torch.equal(clone.weight, before)
