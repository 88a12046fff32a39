"""Cells, starting weights, pulse probabilities and statistics shared by the pulsed-update
kernel tests (Triton in ``test_kernel_pulsed_update.py``, numba in
``test_kernel_pulsed_update_cpu.py``): both kernels are held to the same twin on the same
cases."""

import torch
from xbrun.kernels import (
    CELL_CONSTANT,
    CELL_EXP,
    CELL_LINEAR,
    CELL_POW,
    ROWS_REQUIRED,
    BufferParams,
    CellParams,
    LineWriteParams,
    TransferWriteParams,
    UpdateParams,
)

# (label, kind, mult_noise, scalars)
EXP_DEFAULT = (0.00081, 0.36833, 12.44625, 12.78785, 0.244, 0.2425)  # aihwkit ExpStepDevice
EXP_COMPLEX = (-0.5, 0.3, 2.0, 3.0, 0.5, 0.1, 0.01, 0.2)  # with dw_min_std_add / _slope
CELLS = [
    ("constant", CELL_CONSTANT, True, ()),
    ("linear_mult", CELL_LINEAR, True, ()),
    ("linear_add", CELL_LINEAR, False, ()),
    ("exp", CELL_EXP, True, EXP_DEFAULT),
    ("exp_complex", CELL_EXP, True, EXP_COMPLEX),
    ("pow", CELL_POW, True, ()),
]
CELL_IDS = [c[0] for c in CELLS]


def make_cell(kind, m, n, gen, step=0.06, bound=0.3, degenerate=True):
    """Per-element parameters with spread; element (0, 0) has w_max == w_min if asked."""
    def u(lo, hi):
        return lo + (hi - lo) * torch.rand(m, n, generator=gen)

    cp = torch.zeros(ROWS_REQUIRED[kind], m, n)
    cp[0] = u(0.7, 1.3) * step
    cp[1] = u(0.7, 1.3) * step
    cp[2] = u(0.8, 1.2) * bound
    cp[3] = -u(0.8, 1.2) * bound
    if kind == CELL_LINEAR:
        cp[4] = u(0.2, 1.0) / cp[2]
        cp[5] = u(0.2, 1.0) / cp[3]
    if kind == CELL_POW:
        cp[6] = u(0.3, 2.5)
        cp[7] = u(0.3, 2.5)
        cp[6, -1, -1] = 0.0  # gamma 0: a constant step
    if degenerate:
        cp[2, 0, 0] = cp[3, 0, 0] = 0.05
    return cp


def start_weight(cp, gen):
    w_max, w_min = cp[2], cp[3]
    w = w_min + (w_max - w_min) * torch.rand(w_max.shape, generator=gen)
    w[-1, 0] = w_max[-1, 0]  # start on the bounds too
    w[0, -1] = w_min[0, -1]
    return w


def signed_probs(k, n, gen, lo=0.2, hi=1.0):
    mag = lo + (hi - lo) * torch.rand(k, n, generator=gen)
    sign = torch.where(torch.rand(k, n, generator=gen) < 0.5, -1.0, 1.0)
    return mag * sign


def assert_same_distribution(a: torch.Tensor, b: torch.Tensor, z: float = 5.0, what="",
                             pooled: bool = False):
    """Per column: equal means and variances within ``z`` standard errors of the samples.

    ``pooled`` (independent columns only) also tests the summed differences over all
    columns, which sees a small bias common to all of them.
    """
    a, b = a.double(), b.double()
    na, nb = a.shape[0], b.shape[0]
    ma, mb = a.mean(0), b.mean(0)
    va, vb = a.var(0), b.var(0)
    se_mean = torch.sqrt(va / na + vb / nb)
    bad = (ma - mb).abs() > z * se_mean + 1e-7
    assert not bad.any(), f"{what} means differ: {ma[bad]} vs {mb[bad]} (se {se_mean[bad]})"
    # variance of a sample variance: (mu4 - sigma^4) / n
    m4a = ((a - ma) ** 4).mean(0)
    m4b = ((b - mb) ** 4).mean(0)
    se_var = torch.sqrt((m4a - va**2).clamp_min(0) / na + (m4b - vb**2).clamp_min(0) / nb)
    bad = (va - vb).abs() > z * se_var + 1e-9
    assert not bad.any(), f"{what} variances differ: {va[bad]} vs {vb[bad]} (se {se_var[bad]})"
    if pooled:
        t_mean = (ma - mb).sum() / torch.sqrt((se_mean**2).sum())
        t_var = (va - vb).sum() / torch.sqrt((se_var**2).sum())
        assert abs(t_mean) < z and abs(t_var) < z, f"{what} pooled z: {t_mean}, {t_var}"


def expected_pulses(x_prob, d_prob, bl):
    """Mean and variance of the total pulse count: per slot (sum of d bits)(sum of x bits)."""
    px, pd = x_prob.abs().double(), d_prob.abs().double()
    ex, vx = px.sum(1), (px * (1 - px)).sum(1)
    ed, vd = pd.sum(1), (pd * (1 - pd)).sum(1)
    bl = bl.double().to(px.device)
    mean = (bl * ex * ed).sum()
    var = (bl * ((vx + ex**2) * (vd + ed**2) - ex**2 * ed**2)).sum()
    return mean.item(), var.item()


# ----------------------------------------- pulse-train preparation: line probabilities
def prep_rows(seed=0, k=40, n_in=30, n_out=20, device="cpu"):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(k, n_in, generator=gen)
    x = x * torch.where(torch.rand(k, n_in, generator=gen) < 0.3, -1.0, 1.0)
    d = 0.05 * torch.randn(k, n_out, generator=gen)
    x[3], d[5], x[7, :5] = 0.0, 0.0, 0.0  # rows without an update, lines without a pulse
    return x.to(device), d.to(device)


PREP_MODES = [(True, True, True, 1.0), (False, True, True, 0.5), (False, False, True, 1.0),
              (False, True, False, 1.0), (False, False, False, 0.5)]


def run_line_probabilities(launch, x, d, lr, res):
    """``launch`` against ``line_probabilities_torch`` in every BL/update-management mode:
    the train lengths agree exactly, the probabilities to float32 rounding (torch's sqrt is
    not always correctly rounded), or by one bin where a rounding lands on a bin's edge."""
    from xbrun.kernels import line_probabilities_torch

    for ubm, um, fixed, scale in PREP_MODES:
        opts = dict(desired_bl=31, fixed_bl=fixed, update_management=um,
                    update_bl_management=ubm, um_grad_scale=scale, res=res, sto_round=False)
        want = line_probabilities_torch(x, d, lr, 1e-3, **opts)
        got = launch(x, d, lr, 1e-3, **opts)
        assert got[2].dtype == torch.int32 and torch.equal(got[2], want[2]), opts
        for g, w in zip(got[:2], want[:2], strict=True):
            close = (g - w).abs() <= 1e-6 * w.abs() + 1e-12
            assert torch.equal(g.sign(), w.sign())
            assert close.float().mean() > 0.99 and ((g - w).abs() <= res + 1e-6).all(), opts
        if lr > 0:
            assert (got[2] > 0).sum() == x.shape[0] - 2  # two rows without an update
            assert (got[0][7, :5] == 0).all()
    # the array's counters, advanced with the trains: slots by their lengths, calls by one;
    # a tile's rank-1 count by the rows
    counters = [torch.tensor([5], dtype=torch.int64, device=x.device),
                torch.tensor(2**40, dtype=torch.int64, device=x.device),
                torch.tensor(7, dtype=torch.int64, device=x.device)]
    got = launch(x, d, lr, 1e-3, desired_bl=31, fixed_bl=True, update_management=True,
                 update_bl_management=True, um_grad_scale=1.0, res=res, sto_round=False,
                 slots=counters[0][:1], calls=counters[1], rows=counters[2])
    assert counters[0].item() == 5 + int(got[2].sum()) and counters[1].item() == 2**40 + 1
    assert counters[2].item() == 7 + x.shape[0]
    # a chopped array's line signs: the trains of the rows times the signs
    x_sign = torch.where(torch.arange(x.shape[1], device=x.device) % 3 == 0, -1.0, 1.0)
    d_sign = torch.where(torch.arange(d.shape[1], device=d.device) % 2 == 0, -1.0, 1.0)
    opts = dict(desired_bl=31, fixed_bl=True, update_management=True,
                update_bl_management=True, um_grad_scale=1.0, res=res, sto_round=False)
    got = launch(x, d, lr, 1e-3, x_sign=x_sign, d_sign=d_sign, **opts)
    want = line_probabilities_torch(x * x_sign, d * d_sign, lr, 1e-3, **opts)
    assert torch.equal(got[2], want[2])
    for g, w in zip(got[:2], want[:2], strict=True):
        assert torch.equal(g.sign(), w.sign()) and torch.allclose(g, w, rtol=1e-6, atol=res)


def pulse_total_case(m: int = 24, n: int = 40):
    """``(cell params, xp, dp, bl)`` for the pulse-total check: constant steps, one row
    without pulses, train lengths 0 to 45."""
    gen = torch.Generator().manual_seed(9)
    cp = make_cell(CELL_CONSTANT, m, n, gen, degenerate=False)
    xp, dp = signed_probs(6, n, gen, 0.0, 1.0), signed_probs(6, m, gen, 0.0, 1.0)
    xp[2] = 0.0  # a row without any pulse
    return cp, xp, dp, torch.tensor([31, 1, 31, 0, 45, 7])


# ----------------------------------------- an element pushed into the bound it sits at
# cells whose step at a bound, noisy, points into it (the additive linear noise and the exp
# cell's added std can step back out: aihwkit's functors do the same)
INTO_BOUND_CELLS = [c for c in CELLS if c[0] not in ("linear_add", "exp_complex")]


def run_pushed_into_the_bound(launch, cell, device="cpu", rows=12, pulses=(1, 3)):
    """Every element sits at a bound and every row pushes it further into that bound, with
    ``pulses`` per row (given trains) and cycle-to-cycle noise on: each element stays at its
    bound exactly (aihwkit clips after the noisy step: ``w = min(w + dw (1 + sigma xi),
    w_max)``). Clipping before adding the noise would leave about half of them below.
    ``launch(w, cp, xp, dp, bl, x_bits=, d_bits=, seed=)`` applies the trains."""
    _, kind, _, _ = cell
    gen = torch.Generator().manual_seed(31)
    m, n = 4, 6
    cp = make_cell(kind, m, n, gen, degenerate=False).to(device)
    sign_x = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0, -1.0], device=device)
    dp = torch.ones(rows, m, device=device)
    dp[:, m // 2:] = -1.0  # the lower half of the rows pushes up, the upper half down
    xp = sign_x.expand(rows, n).contiguous()
    up = (dp[0] < 0)[:, None] != (xp[0] < 0)[None, :]
    w0 = torch.where(up, cp[2], cp[3])  # at the bound each element is pushed into
    for count in pulses:
        x_bits = torch.ones(rows, count, n, dtype=torch.bool, device=device)
        d_bits = torch.ones(rows, count, m, dtype=torch.bool, device=device)
        bl = torch.full((rows,), count, device=device)
        w = w0.clone()
        applied = launch(w, cp, xp, dp, bl, x_bits=x_bits, d_bits=d_bits, seed=7 + count)
        assert int(applied) == rows * count * m * n
        assert torch.equal(w, w0), f"{cell[0]}, {count} pulses a row: {(w != w0).sum()} of " \
            f"{w.numel()} elements left their bound, mean {float((w - w0).mean()):.3g}"


def loose(launch):
    """``launch`` (any backend of the pulsed or counted update) called with the loose
    keywords these tests speak - ``cell_kind``, ``noise_std``, ``mult_noise``,
    ``cell_scalars``, ``cell_table``, ``max_bl``, ``sparse_rows`` - which become its
    ``UpdateParams``."""

    def call(w, cp, xp, dp, bl, *, cell_kind, noise_std, mult_noise, cell_scalars=(),
             cell_table=None, max_bl=None, sparse_rows=False, **rest):
        cell = CellParams(cell_kind, noise_std, mult_noise, cell_scalars, cell_table)
        return launch(w, cp, xp, dp, bl, UpdateParams(cell, max_bl, sparse_rows), **rest)

    return call


def loose_lines(launch):
    """``launch`` (a backend of the line write) called with loose keywords: ``columns`` and
    the cell's become its ``LineWriteParams``."""

    def call(w, cp, index, one, line, bl, *, columns, cell_kind, noise_std, mult_noise,
             cell_scalars=(), cell_table=None, **rest):
        cell = CellParams(cell_kind, noise_std, mult_noise, cell_scalars, cell_table)
        return launch(w, cp, index, one, line, bl, LineWriteParams(cell, columns), **rest)

    return call


BUFFER_KEYS = ("scale", "threshold", "max_steps", "momentum", "forget_buffer", "buffer_cap",
               "no_buffer")
WRITE_KEYS = ("columns", "lr", "granularity", "desired_bl", "long_train", "update_management",
              "update_bl_management", "um_grad_scale")


def _split(kw: dict, keys) -> dict:
    return {k: kw.pop(k) for k in keys if k in kw}


def loose_buffer(launch):
    """A backend of the transfer's buffer step called with its numbers as keywords."""

    def call(buffer, reads, index, out_sign, in_sign, **kw):
        params = BufferParams(**_split(kw, BUFFER_KEYS))
        return launch(buffer, reads, index, out_sign, in_sign, params, **kw)

    return call


def _write_params(kw: dict) -> TransferWriteParams:
    buffer = BufferParams(**_split(kw, BUFFER_KEYS))
    return TransferWriteParams(**_split(kw, WRITE_KEYS), buffer=buffer)


def loose_write(launch):
    """A backend of the transfer write's trains called with loose keywords."""

    def call(reads, start, width, **kw):
        return launch(reads, start, width, _write_params(kw), **kw)

    return call


def loose_transfer(launch):
    """A backend of the transfer's whole write called with loose keywords (the cell's, the
    trains', the buffer step's)."""

    def call(weight, cp, reads, start, *, cell_kind, noise_std, mult_noise, cell_scalars=(),
             cell_table=None, **kw):
        cell = CellParams(cell_kind, noise_std, mult_noise, cell_scalars, cell_table)
        return launch(weight, cp, reads, start, _write_params(kw), cell, **kw)

    return call


def loose_apply(launch):
    """A backend of the counted update's apply step called with the cell's loose keywords."""

    def call(w, cp, up, down, *, cell_kind, noise_std, mult_noise, cell_scalars=(),
             cell_table=None, **rest):
        cell = CellParams(cell_kind, noise_std, mult_noise, cell_scalars, cell_table)
        return launch(w, cp, up, down, cell, **rest)

    return call
