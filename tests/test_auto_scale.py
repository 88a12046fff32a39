"""``auto_scale`` of the chopped devices (chopped, agad): the running maxima of |x| and |d|
and A's learning rate, kept on the device.

The twin (``kernels/auto_scale_ref.py``) against the host loop it replaced and on its branch
cases; numba and Triton (interpreted here, compiled in the ``gpu`` tests) against the twin;
the device rate folded into the pulse trains (``physics.pulses.fold_rate``); the state in
checkpoints, old ones included; a run through the command line.
"""

import json
import math

import pytest
import torch
from cli_run import run_cli
from triton_modules import triton_function
from xbrun.kernels import auto_scale_torch, line_probabilities_torch

from xbrun import kernels
from xbrun.devices import DEVICES
from xbrun.physics.array import PulsedArray
from xbrun.physics.cells import SoftBounds
from xbrun.physics.io import IOParameters
from xbrun.physics.pulses import UpdateParameters, fold_rate
from xbrun.schema import build


def host_loop(x_rows, d_rows, m_x, m_d, tau):
    """aihwkit's ``updateAutoScale`` as the chopped device ran it before: the maxima read
    back to the host, the running maxima in Python floats."""
    def ema(mean, value):
        if mean <= 0:
            return value
        if value <= 0:
            return mean
        return (1.0 - tau) * mean + tau * value

    for x_max, d_max in torch.stack([x_rows.abs().amax(1), d_rows.abs().amax(1)], 1).tolist():
        m_x, m_d = ema(m_x, x_max), ema(m_d, d_max)
    return m_x, m_d


# (label, k, starting m_x and m_d, zero rows of x, zero rows of d, auto_momentum)
CASES = [
    ("first_call", 5, (0.0, 0.0), [], [], 0.99),
    ("leading_zero_rows_mean_0", 9, (0.0, 0.0), [0, 1, 2, 3], list(range(7)), 0.99),
    ("zero_rows_keep_the_mean", 8, (0.4, 0.02), [1, 3], [2], 0.9),
    ("all_zero_mean_0", 4, (0.0, 0.0), [0, 1, 2, 3], [0, 1, 2, 3], 0.99),
    ("all_zero_keep", 3, (0.3, 0.5), [0, 1, 2], [0, 1, 2], 0.99),
    ("tau_1", 1, (0.3, 0.5), [], [], 0.0),  # auto_momentum 0, one row: m = v
    ("momentum_1", 6, (0.3, 0.0), [], [], 1.0),  # tau 0: a positive mean never moves
    # across several blocks of the Triton kernel (block 16 below), the first positive
    # value of x only in the second block
    ("many_rows", 70, (0.0, 0.0), list(range(21)) + [40, 55, 69], [3, 16, 17, 33], 0.99),
]
CASE_IDS = [c[0] for c in CASES]


def _case(case):
    label, k, start, zero_x, zero_d, momentum = case
    gen = torch.Generator().manual_seed(k)
    x = torch.randn(k, 7, generator=gen)
    d = 0.01 * torch.randn(k, 3, generator=gen)
    x[zero_x] = 0.0
    d[zero_d] = 0.0
    return x, d, start, (1.0 - momentum) / k


def _state(start):
    return tuple(torch.tensor(m, dtype=torch.float64) for m in start)


def _run(update, x, d, start, tau, **kwargs):
    m_x, m_d = _state(start)
    update(x, d, m_x, m_d, tau=tau, **kwargs)
    assert m_x.shape == m_d.shape == () and m_x.dtype == m_d.dtype == torch.float64
    return float(m_x), float(m_d)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_twin_is_the_host_loop_it_replaced(case):
    """Bit for bit: float64 state keeps the CPU results of auto_scale runs as they were."""
    x, d, start, tau = _case(case)
    got = _run(auto_scale_torch, x, d, start, tau)
    assert got == host_loop(x, d, *start, tau)


def test_twin_branches_by_hand():
    tau = 0.25
    x = torch.tensor([[0.0, 0.0], [2.0, -4.0], [0.0, 0.0], [-8.0, 1.0]])
    d = torch.tensor([[1.0], [0.0], [3.0], [-1.0]])
    # x: 0 (mean 0 -> 0), 4 (mean 0 -> 4), 0 (kept), 8 -> 0.75 * 4 + 0.25 * 8 = 5
    # d: 1 (mean 0 -> 1), 0 (kept), 3 -> 0.75 + 0.75 = 1.5, 1 -> 1.125 + 0.25 = 1.375
    assert _run(auto_scale_torch, x, d, (0.0, 0.0), tau) == (5.0, 1.375)
    assert _run(auto_scale_torch, x[:0], d[:0], (0.5, 0.25), tau) == (0.5, 0.25)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_numba_matches_twin_exactly(case):
    from xbrun.kernels.auto_scale_cpu import auto_scale_numba

    x, d, start, tau = _case(case)
    assert _run(auto_scale_numba, x, d, start, tau) == _run(auto_scale_torch, x, d, start, tau)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_triton_interpreted_matches_twin(case):
    launch = triton_function("auto_scale_cuda", "auto_scale_triton", interpret=True)
    x, d, start, tau = _case(case)
    want = _run(auto_scale_torch, x, d, start, tau)
    for block in (16, 1024):
        got = _run(launch, x, d, start, tau, block=block)
        assert got == pytest.approx(want, rel=1e-13, abs=0.0), block


def test_a_nan_value_stays_nan_in_every_kernel():
    from xbrun.kernels.auto_scale_cpu import auto_scale_numba

    launch = triton_function("auto_scale_cuda", "auto_scale_triton", interpret=True)
    x = torch.ones(4, 3)
    x[1, 2] = float("nan")
    d = torch.ones(4, 2)
    for start in ((0.0, 0.0), (0.5, 0.5)):
        for update in (auto_scale_torch, auto_scale_numba, launch):
            m_x, m_d = _run(update, x, d, start, 0.1)
            assert math.isnan(m_x) and not math.isnan(m_d), update


def test_dispatch_runs_numba_on_float32_and_the_twin_otherwise():
    x, d, start, tau = _case(CASES[-1])
    want = _run(auto_scale_torch, x, d, start, tau)
    assert _run(kernels.update_auto_scale, x, d, start, tau) == want
    assert _run(kernels.update_auto_scale, x.double(), d.double(), start, tau) == want


# ------------------------------------------------------------------ the device's rate ---
def chopped(kind="chopped", cell=None, update=None, **options):
    config = build(DEVICES[kind], {"kind": kind, "auto_scale": True,
                                   "transfer_io": IOParameters(is_perfect=True), **options},
                   "device")
    return config.build(4, 6, cell or SoftBounds(), update or UpdateParameters(), 1)


def test_fast_rate_divides_by_the_running_maxima():
    dev = chopped(fast_lr=0.5, scale_fast_lr=True)
    count = 0.5 * 0.1 * dev.update_params.desired_bl * dev.fast.granularity
    assert float(dev.fast_learning_rate(0.1)) == count  # nothing seen: the plain rate
    dev.m_x.fill_(0.3)
    dev.m_d.fill_(0.02)
    rate = dev.fast_learning_rate(0.1)
    assert rate.dtype == torch.float64 and rate.shape == ()
    assert float(rate) == count / (0.3 * 0.02)  # Python's float arithmetic, bit for bit
    dev.m_d.zero_()
    assert float(dev.fast_learning_rate(0.1)) == count


UPDATES = [  # (update_bl_management, fixed_bl, update_management, um_grad_scale, res)
    (True, True, True, 1.0, 0.0),
    (True, False, True, 0.5, 0.0),
    (False, True, True, 1.0, 0.0),
    (False, True, False, 1.0, 0.0),
    (False, True, True, 1.0, 0.05),
]


@pytest.mark.parametrize("ubm, fixed_bl, um, ugs, res", UPDATES)
def test_rate_folded_into_the_rows_gives_the_same_trains(ubm, fixed_bl, um, ugs, res):
    """Rows times sqrt(lr) at rate 1 are the trains of rate lr (what CUDA does with
    auto_scale's device rate), in the twin and in the numba kernel."""
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(12, 9, generator=gen) * torch.randn(12, 1, generator=gen).sign()
    d = 0.03 * torch.randn(12, 5, generator=gen)
    x[3] = 0.0
    options = dict(desired_bl=31, fixed_bl=fixed_bl, update_management=um,
                   update_bl_management=ubm, um_grad_scale=ugs, res=res, sto_round=False)
    for lr in (0.0371, 2.93, 147.0):
        want = line_probabilities_torch(x, d, lr, 0.01, **options)
        xf, df = fold_rate(x, d, torch.tensor(lr, dtype=torch.float64))
        for prepare in (line_probabilities_torch, kernels.line_probabilities):
            got = prepare(xf, df, 1.0, 0.01, **options)
            assert torch.equal(got[2], want[2]), lr  # train lengths
            live = want[2] > 0  # rows without a train fire nothing, whatever their
            assert live.any() and not live.all()  # probabilities
            for g, w in zip(got[:2], want[:2], strict=True):
                torch.testing.assert_close(g[live], w[live], rtol=2e-6, atol=1e-7)
    for lr in (0.0, -1.0, float("nan")):  # no pulses, as at such a rate
        xf, df = fold_rate(x, d, torch.tensor(lr, dtype=torch.float64))
        assert not line_probabilities_torch(xf, df, 1.0, 0.01, **options)[2].any()


@pytest.mark.parametrize("fixed_bl", [True, False])
def test_array_takes_a_cpu_rate_as_its_float(fixed_bl):
    """On the CPU a 0-dim rate is read (free there): the same pulses as the float."""
    update = UpdateParameters(fixed_bl=fixed_bl, update_bl_management=False)
    arrays = [PulsedArray(5, 7, SoftBounds(), update, 3) for _ in range(2)]
    gen = torch.Generator().manual_seed(0)
    x, d = torch.randn(4, 7, generator=gen), torch.randn(4, 5, generator=gen)
    rate = 0.9 / 7.0  # long trains without fixed_bl (g * desired_bl < lr)
    for array, lr in zip(arrays, (rate, torch.tensor(rate, dtype=torch.float64)),
                         strict=True):
        pulses = array.update(x, d, lr, torch.Generator().manual_seed(1))
        assert int(pulses) > 0
    assert torch.equal(arrays[0].weight, arrays[1].weight)


# ------------------------------------------------------------------ checkpoints ---------
def _trained(kind, **options):
    dev = chopped(kind, **options)
    gen = torch.Generator().manual_seed(2)
    for _ in range(5):
        dev.update(torch.rand(3, 6, generator=gen), 0.1 * torch.randn(3, 4, generator=gen),
                   0.1, gen)
    assert float(dev.m_x) > 0 and float(dev.m_d) > 0
    return dev


@pytest.mark.parametrize("kind", ["chopped", "agad"])
def test_maxima_are_buffers_and_old_checkpoints_load(kind):
    """The maxima are 0-dim float64 buffers (they follow ``.to(device)`` and are saved);
    a checkpoint from before, with them as floats in the extra state, loads as well."""
    dev = _trained(kind, in_chop_prob=0.5)
    state = dev.state_dict()
    assert state["m_x"].dtype == torch.float64 and state["m_x"].shape == ()
    assert isinstance(state["_extra_state"]["last_fast_lr"], float)
    fresh = chopped(kind, in_chop_prob=0.5)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.m_x, dev.m_x) and torch.equal(fresh.m_d, dev.m_d)
    old = {key: value for key, value in state.items() if key not in ("m_x", "m_d")}
    old["_extra_state"] = {**state["_extra_state"], "m_x": float(dev.m_x),
                           "m_d": float(dev.m_d)}
    fresh = chopped(kind, in_chop_prob=0.5)
    fresh.load_state_dict(old)  # strict: nothing missing
    assert torch.equal(fresh.m_x, dev.m_x) and torch.equal(fresh.m_d, dev.m_d)


@pytest.mark.parametrize("kind", ["chopped", "agad"])
def test_auto_scale_trains_through_the_cli(kind, tmp_path, capsys):
    code, out = run_cli(["train", f"device={kind}", "device.auto_scale=true", "debug=tiny",
                         "epochs=1", f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 0, out.err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["pulses"] > 0
    assert math.isfinite(summary["test_loss"])
    model = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["model"]
    maxima = [value for key, value in model.items() if key.endswith((".m_x", ".m_d"))]
    assert maxima and all(m.dtype == torch.float64 and float(m) > 0 for m in maxima)


# ------------------------------------------------------------------ GPU -----------------
@pytest.mark.gpu
@pytest.mark.parametrize("k", [1, 33, 5000])
def test_triton_compiled_matches_twin_without_a_host_sync(k):
    launch = triton_function("auto_scale_cuda", "auto_scale_triton", interpret=False)
    gen = torch.Generator().manual_seed(k)
    x, d = torch.randn(k, 300, generator=gen), 0.01 * torch.randn(k, 100, generator=gen)
    x[: k // 3] = 0.0
    d[k // 2:: 7] = 0.0
    tau = 0.01 / k
    for start in ((0.0, 0.0), (0.8, 0.004)):
        want = _run(auto_scale_torch, x, d, start, tau)
        m_x, m_d = (m.cuda() for m in _state(start))
        xc, dc = x.cuda(), d.cuda()
        launch(xc, dc, m_x, m_d, tau=tau)  # compiled once, outside the check
        m_x, m_d = (m.cuda() for m in _state(start))
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            launch(xc, dc, m_x, m_d, tau=tau)
        finally:
            torch.cuda.set_sync_debug_mode(0)
        assert (float(m_x), float(m_d)) == pytest.approx(want, rel=1e-12, abs=0.0)
