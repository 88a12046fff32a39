"""The numba pulsed-update kernel against its torch twin (``kernels/pulsed_update_ref.py``).

Exact (to float32 rounding) where the pulse trains are given and noise is off; in
distribution where kernel and twin draw different random numbers: means and variances of
the weight change per element, each a z-test with the standard error of the samples, on
small patterns replicated along the diagonal of a tile (the diagonal replicas share no
line, so they are independent samples).
"""

import copy
import math
import os
import subprocess
import sys

import pytest
import torch

pytest.importorskip("numba")

from pulse_cases import (  # noqa: E402
    CELL_IDS,
    CELLS,
    INTO_BOUND_CELLS,
    assert_same_distribution,
    expected_pulses,
    loose,
    make_cell,
    prep_rows,
    pulse_total_case,
    run_line_probabilities,
    run_pushed_into_the_bound,
    signed_probs,
    start_weight,
)
from xbrun.kernels import (  # noqa: E402
    CELL_CONSTANT,
    CELL_EXP,
    CELL_LINEAR,
    single_pulse_torch,
)
from xbrun.kernels import pulsed_update_cpu as cpu  # noqa: E402

from xbrun import kernels  # noqa: E402

pulsed_update_torch = loose(kernels.pulsed_update_torch)
pulsed_update_numba = loose(cpu.pulsed_update_numba)

IDS = CELL_IDS


def given_trains(xp, dp, max_bl, gen):
    x_bits = torch.rand(xp.shape[0], max_bl, xp.shape[1], generator=gen) < xp.abs()[:, None]
    d_bits = torch.rand(dp.shape[0], max_bl, dp.shape[1], generator=gen) < dp.abs()[:, None]
    return x_bits, d_bits


def run_numba(w, cp, xp, dp, bl, cell, seed, noise=0.0, **kw):
    _, kind, mult, scalars = cell
    return pulsed_update_numba(w, cp, xp, dp, bl, cell_kind=kind, noise_std=noise,
                               mult_noise=mult, seed=seed, cell_scalars=scalars, **kw)


def run_twin(w, cp, xp, dp, bl, cell, seed, noise=0.0, **kw):
    _, kind, mult, scalars = cell
    return pulsed_update_torch(w, cp, xp, dp, bl, cell_kind=kind, noise_std=noise,
                               mult_noise=mult, generator=torch.Generator().manual_seed(seed),
                               cell_scalars=scalars, **kw)


# --------------------------------------------------------------------------------------
# exact: given trains, noise off


@pytest.mark.parametrize("cell", CELLS, ids=IDS)
def test_exact_given_trains(cell):
    gen = torch.Generator().manual_seed(0)
    m, n, k, bls = 5, 7, 4, [8, 0, 40, 3]  # bl 0 skips a row
    cp = make_cell(cell[1], m, n, gen)
    w0 = start_weight(cp, gen)
    xp, dp = signed_probs(k, n, gen), signed_probs(k, m, gen)
    x_bits, d_bits = given_trains(xp, dp, max(bls), gen)
    bl = torch.tensor(bls)
    w_ref, w_ker = w0.clone(), w0.clone()
    n_ref = run_twin(w_ref, cp, xp, dp, bl, cell, 0, x_bits=x_bits, d_bits=d_bits)
    n_ker = run_numba(w_ker, cp, xp, dp, bl, cell, 123, x_bits=x_bits, d_bits=d_bits)
    assert n_ker.dim() == 0 and n_ker.dtype == torch.int64
    assert int(n_ker) == int(n_ref) > 0
    torch.testing.assert_close(w_ker, w_ref, atol=1e-6, rtol=1e-6)
    assert (w_ref != w0).sum() > w0.numel() // 3  # the update did something
    at_bound = (w_ref == cp[2]) | (w_ref == cp[3])
    at_bound[0, 0] = False  # the degenerate element sits on its bounds anyway
    assert at_bound.any()  # and clipping was exercised


def test_exact_given_trains_of_uint8_and_a_transposed_weight():
    """Explicit trains come as uint8 (``pulses.explicit_trains``); a non-contiguous weight
    is updated in place all the same."""
    cell = CELLS[1]
    gen = torch.Generator().manual_seed(1)
    cp = make_cell(cell[1], 6, 5, gen)
    w0 = start_weight(cp, gen)
    xp, dp = signed_probs(3, 5, gen), signed_probs(3, 6, gen)
    x_bits, d_bits = given_trains(xp, dp, 9, gen)
    bl = torch.tensor([9, 4, 9], dtype=torch.int32)
    w_ref = w0.clone()
    run_twin(w_ref, cp, xp, dp, bl, cell, 0, x_bits=x_bits, d_bits=d_bits)
    w_t = w0.T.contiguous().T  # same values, column-major
    assert not w_t.is_contiguous()
    run_numba(w_t, cp, xp, dp, bl, cell, 5, x_bits=x_bits.to(torch.uint8),
              d_bits=d_bits.to(torch.uint8))
    torch.testing.assert_close(w_t, w_ref, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("cell", INTO_BOUND_CELLS, ids=[c[0] for c in INTO_BOUND_CELLS])
def test_noisy_pulses_into_a_bound_stay_at_it(cell):
    """Twin and numba kernel: an element at its bound pushed further, noise on, stays."""
    _, kind, mult, scalars = cell

    def twin(w, cp, xp, dp, bl, seed, **kw):
        return pulsed_update_torch(w, cp, xp, dp, bl, cell_kind=kind, noise_std=0.2,
                                   mult_noise=mult, cell_scalars=scalars,
                                   generator=torch.Generator().manual_seed(seed), **kw)

    def numba_kernel(w, cp, xp, dp, bl, seed, x_bits, d_bits):
        return pulsed_update_numba(w, cp, xp, dp, bl, cell_kind=kind, noise_std=0.2,
                                   mult_noise=mult, cell_scalars=scalars, seed=seed,
                                   x_bits=x_bits.to(torch.uint8), d_bits=d_bits.to(torch.uint8))

    run_pushed_into_the_bound(twin, cell)
    run_pushed_into_the_bound(numba_kernel, cell)


def test_constant_closed_form_from_outside_the_bounds():
    """Noise-free constant steps take the closed form in the kernel too; it ends where the
    clipped single pulses end, also from outside the bounds (one rank-1 row, all lines
    firing in the first ``c`` slots: every element gets ``c`` pulses)."""
    cell = CELLS[0]
    gen = torch.Generator().manual_seed(8)
    m, n, length = 6, 40, 12
    cp = make_cell(CELL_CONSTANT, m, n, gen, step=0.07, bound=0.3)
    w0 = (torch.rand(m, n, generator=gen) - 0.5) * 1.2  # some start outside the bounds
    xp = signed_probs(1, n, gen, 1.0, 1.0)
    dp = signed_probs(1, m, gen, 1.0, 1.0)
    counts = torch.randint(1, length + 1, (m,), generator=gen)
    x_bits = torch.ones(1, length, n, dtype=torch.bool)
    d_bits = torch.arange(length)[None, :, None] < counts[None, None, :]
    w = w0.clone()
    pulses = run_numba(w, cp, xp, dp, torch.tensor([length]), cell, 0, x_bits=x_bits,
                       d_bits=d_bits)
    assert int(pulses) == int(counts.sum()) * n
    up = (dp[0] < 0)[:, None] != (xp[0] < 0)[None, :]
    expect = w0.clone()
    for p in range(length):
        stepped = single_pulse_torch(expect, up, cp, cell_kind=CELL_CONSTANT, noise_std=0.0,
                                     mult_noise=True, xi=None)
        expect = torch.where(counts[:, None] > p, stepped, expect)
    torch.testing.assert_close(w, expect, atol=1e-6, rtol=0)


# --------------------------------------------------------------------------------------
# structure of the drawn trains


@pytest.mark.parametrize("cell", [CELLS[0], CELLS[1]], ids=["constant", "linear_mult"])
def test_short_rows_take_the_general_draws(cell):
    """Rows of at most 64 drawn slots take vector draws and a branch-free gather of their
    firing lines (and, for constant steps and one slot, a lean element loop); a last row of
    65 slots that never fires makes the kernel take the general path for the same rows (two
    mask words): the same weights, pulse counters and count, bit for bit."""
    gen = torch.Generator().manual_seed(21)
    m, n = 24, 150
    cp = make_cell(cell[1], m, n, gen)
    w0 = start_weight(cp, gen)
    xp, dp = signed_probs(6, n, gen, 0.0, 1.0), signed_probs(6, m, gen, 0.0, 1.0)
    xp[0, :4], dp[1, :3] = 1.0, -1.0  # certain lines, and lines that never fire
    xp[2, 4:9], dp[3, 3:6] = 0.0, 0.0
    bl = torch.tensor([1, 2, 0, 1, 3, 64], dtype=torch.int32)
    outs = []
    for extra in (False, True):
        x, d, b = xp, dp, bl
        if extra:
            x, d = torch.cat([xp, torch.zeros(1, n)]), torch.cat([dp, torch.zeros(1, m)])
            b = torch.cat([bl, torch.tensor([65], dtype=torch.int32)])
        w, cnt = w0.clone(), torch.zeros(m, n, dtype=torch.int32)
        c = run_numba(w, cp, x, d, b, cell, 9, noise=0.3, cell_pulses=cnt)
        outs.append((w, cnt, int(c)))
    assert outs[0][2] == outs[1][2] > 0
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])


def test_short_words_and_constant_trains_match_the_general_helpers():
    """``_fires_pair`` over a line's pairs makes ``_drawn_word`` of 1-64 slots, and
    ``_constant_train`` is ``_pulse_train`` of the constant cell, bit for bit (noise on and
    off, from inside and outside the bounds, trains of 1-4 pulses)."""
    import numpy as np
    from numba import njit

    @njit
    def compare(probs, ws, key, consts):
        bad = 0
        for e in range(probs.shape[0]):
            p = abs(probs[e])
            n_slots = 1 + e % 64
            word = cpu._drawn_word(key, e * 7 + 3, p, 0, n_slots, np.uint64(0))[0]
            pairs = np.uint64(0)
            for tp in range((n_slots + 1) // 2):
                pairs |= cpu._fires_pair(key, e * 7 + 3, tp, p, n_slots)
            bad += word != pairs
        up_s, down_s = np.float32(0.011), np.float32(0.013)
        hi, lo = np.float32(0.3), np.float32(-0.25)
        for e in range(ws.shape[0]):
            n, up, noisy = np.int64(1 + e % 4), e % 3 == 0, e % 5 != 0
            first = np.int64(e % 6)
            pair = cpu._hash2(key, e, first >> 1) if first & 1 else np.uint64(0)
            # kind and mult typed as the kernels pass them (no literal 0 / True: no compile
            # of its own of _pulse_train)
            a = cpu._pulse_train(ws[e], n, up, up_s, down_s, hi, lo, up_s, down_s,
                                 np.int64(0), noisy, np.bool_(True), consts, key, e, first,
                                 pair)
            b = cpu._constant_train(ws[e], n, up_s if up else -down_s, hi, lo, noisy,
                                    consts[0], key, e, first, pair)
            bad += a[0] != b[0] or a[1] != b[1]
        return bad

    gen = np.random.default_rng(5)
    probs = np.concatenate([gen.uniform(-1.2, 1.2, 4000), [0.0, 1.0, -1.0, 1e-7]])
    ws = gen.uniform(-0.4, 0.4, 3000).astype(np.float32)  # some outside [lo, hi]
    consts = tuple(np.float32(v) for v in [0.3] + [0.0] * 8 + [1.0, 0.0])
    assert compare(probs.astype(np.float32), ws, np.uint64(0x1234567), consts) == 0


def test_probability_one_fires_every_slot():
    bls = [1, 3, 7, 31, 32, 33, 0, 64]
    m, n, k = 5, 7, len(bls)
    cp = torch.zeros(4, m, n)
    cp[0], cp[1], cp[2], cp[3] = 1.0, 1.0, 1e6, -1e6  # unit steps, no bounds
    sign = torch.tensor([(-1.0) ** b for b in range(k)])
    xp = sign[:, None] * torch.ones(k, n)
    dp = -torch.ones(k, m)  # x > 0, d < 0: up; x < 0, d < 0: down
    w = torch.zeros(m, n)
    c = run_numba(w, cp, xp, dp, torch.tensor(bls), CELLS[0], 1)
    assert int(c) == m * n * sum(bls)
    assert torch.equal(w, torch.full_like(w, float((sign * torch.tensor(bls)).sum())))


def test_a_line_fires_alike_for_every_element_it_crosses():
    """With d_prob = 1 on all rows the pulse count of (i, j) is the number of firings of
    x_j, the same on every row (and symmetrically): the crossbar's coincidences."""
    m, n, length = 9, 11, 36
    cp = torch.zeros(4, m, n)
    cp[0], cp[1], cp[2], cp[3] = 1.0, 1.0, 1e6, -1e6
    for xv, dv in [(0.5, 1.0), (1.0, 0.5)]:
        xp, dp = torch.full((3, n), xv), torch.full((3, m), dv)
        xp[1] *= -1  # a down row in between
        w = torch.zeros(m, n)
        run_numba(w, cp, xp, dp, torch.tensor([length] * 3), CELLS[0], 77)
        assert torch.equal(w.round(), w)
        if xv < 1:  # columns differ, rows agree
            assert torch.equal(w, w[:1].expand_as(w)) and w[0].unique().numel() > 1
        else:
            assert torch.equal(w, w[:, :1].expand_as(w)) and w[:, 0].unique().numel() > 1


def test_single_line_moves_one_element():
    m, n = 5, 7
    cp = make_cell(CELL_CONSTANT, m, n, torch.Generator().manual_seed(3), step=0.01,
                   bound=1.0, degenerate=False)
    xp, dp = torch.zeros(2, n), torch.zeros(2, m)
    xp[0, n - 2], dp[0, m - 2] = 1.0, -1.0  # up pulses
    xp[1, 1], dp[1, 3] = -1.0, -1.0  # down pulses
    w = torch.zeros(m, n)
    c = run_numba(w, cp, xp, dp, torch.tensor([7, 5]), CELLS[0], 11)
    assert int(c) == 12
    expect = torch.zeros(m, n)
    expect[m - 2, n - 2] = 7 * cp[0, m - 2, n - 2]
    expect[3, 1] = -5 * cp[1, 3, 1]
    torch.testing.assert_close(w, expect, atol=1e-6, rtol=0)


# --------------------------------------------------------------------------------------
# in distribution


def replicated_problem(cell, m0, n0, k, bls, reps, seed=0, noise=0.0, given=False):
    """A small pattern tiled ``reps x reps`` times; the diagonal blocks are independent
    replicas (disjoint input and output lines)."""
    gen = torch.Generator().manual_seed(seed)
    cp = make_cell(cell[1], m0, n0, gen, degenerate=False)
    w0 = start_weight(cp, gen)
    xp, dp = signed_probs(k, n0, gen, 0.1, 0.9), signed_probs(k, m0, gen, 0.1, 0.9)
    prob = dict(cp=cp.repeat(1, reps, reps), w0=w0.repeat(reps, reps),
                xp=xp.repeat(1, reps), dp=dp.repeat(1, reps), bl=torch.tensor(bls),
                cell=cell, noise=noise, m0=m0, n0=n0, reps=reps, trains={})
    if given:
        xb, db = given_trains(xp, dp, max(bls), gen)
        prob["trains"] = dict(x_bits=xb.repeat(1, 1, reps), d_bits=db.repeat(1, 1, reps))
    return prob


def diagonal_samples(prob, w):
    m0, n0, reps = prob["m0"], prob["n0"], prob["reps"]
    dw = (w - prob["w0"]).view(reps, m0, reps, n0)
    idx = torch.arange(reps)
    return dw[idx, :, idx, :].reshape(reps, m0 * n0)


def sample(run, prob, seeds):
    out, counts = [], []
    for s in seeds:
        w = prob["w0"].clone()
        counts.append(int(run(w, prob["cp"], prob["xp"], prob["dp"], prob["bl"], prob["cell"],
                              s, noise=prob["noise"], **prob["trains"])))
        out.append(diagonal_samples(prob, w))
    return torch.cat(out), counts


def check_pulse_total(prob, counts, z=5.0):
    mean, var = expected_pulses(prob["xp"], prob["dp"], prob["bl"])
    n = len(counts)
    assert abs(sum(counts) - n * mean) <= z * math.sqrt(n * var), (sum(counts), n * mean)


@pytest.mark.parametrize("cell", CELLS, ids=IDS)
def test_noise_in_distribution_given_trains(cell):
    """Fixed trains, noise on: the spread comes from the cycle-to-cycle noise alone."""
    prob = replicated_problem(cell, 3, 4, 3, [6, 4, 6], reps=64, noise=0.3, given=True)
    a, counts = sample(run_numba, prob, range(6))
    b, _ = sample(run_twin, prob, range(100, 106))
    assert len(set(counts)) == 1  # given trains: the same pulses every time
    assert (a.var(0) > 0).sum() >= a.shape[1] // 2  # the rest pinned at a bound or idle
    assert_same_distribution(a, b, what=cell[0], pooled=True)


@pytest.mark.parametrize("noise", [0.0, 0.3], ids=["quiet", "noisy"])
@pytest.mark.parametrize("cell", CELLS, ids=IDS)
def test_drawn_trains_in_distribution(cell, noise):
    prob = replicated_problem(cell, 3, 4, 3, [8, 5, 8], reps=48, noise=noise)
    a, counts = sample(run_numba, prob, range(5))
    b, counts_ref = sample(run_twin, prob, range(100, 105))
    assert_same_distribution(a, b, what=cell[0], pooled=True)
    check_pulse_total(prob, counts)
    check_pulse_total(prob, counts_ref)


def test_pulse_total_matches_expectation():
    cp, xp, dp, bl = pulse_total_case()
    counts = [int(run_numba(torch.zeros_like(cp[0]), cp, xp, dp, bl, CELLS[0], s))
              for s in range(12)]
    check_pulse_total(dict(xp=xp, dp=dp, bl=bl), counts)
    assert len(set(counts)) > 1


def test_bits_fire_at_their_probability():
    """Every line's firing rate over many slots: a binomial z-test per line, including
    probabilities near 0 and 1 (the 24-bit uniform)."""
    n, length = 64, 1000
    p = torch.linspace(0.0, 1.0, n)
    p[1], p[-2] = 1e-3, 1 - 1e-3
    cp = torch.zeros(4, 1, n)
    cp[0], cp[1], cp[2], cp[3] = 1.0, 1.0, 1e6, -1e6
    w = torch.zeros(1, n)
    run_numba(w, cp, p[None, :], -torch.ones(1, 1), torch.tensor([length]), CELLS[0], 4)
    sd = torch.sqrt(length * p * (1 - p))
    assert ((w[0] - length * p).abs() <= 5 * sd + 1e-6).all()
    assert w[0, 0] == 0 and w[0, -1] == length


def test_noise_is_standard_normal():
    """The per-pulse normals (ziggurat on hashed counters): moments, tails and quantiles
    of a large sample, each within 5 standard errors."""
    import numpy as np
    from numba import njit

    @njit
    def draw(n):  # both normals of each hash, as the pulses of an element take them
        out = np.empty(n)
        for e in range(n):
            out[e] = cpu._normal(cpu._hash2(np.uint64(99), e >> 1, np.int64(0)), e & 1)
        return out

    n = 400_000
    xi = draw(n)
    assert abs(xi.mean()) < 5 / math.sqrt(n)
    assert abs(xi.var() - 1) < 5 * math.sqrt(2 / n)
    assert abs((xi**4).mean() - 3) < 5 * math.sqrt(96 / n)
    for q in (1.0, 2.0, 3.0, 3.5):  # P(|xi| > q): the tail beyond the base layer too
        p = math.erfc(q / math.sqrt(2))
        assert abs((np.abs(xi) > q).mean() - p) < 5 * math.sqrt(p * (1 - p) / n) + 1e-6
    cdf = np.array([0.5 * math.erfc(-v / math.sqrt(2)) for v in np.sort(xi)[::997]])
    grid = (np.arange(0, n, 997) + 0.5) / n
    assert np.abs(cdf - grid).max() < 1.36 * 2 / math.sqrt(n) * 5


# --------------------------------------------------------------------------------------
# seeds and threads


def noisy_problem(seed=2):
    gen = torch.Generator().manual_seed(seed)
    cp = make_cell(CELL_LINEAR, 24, 40, gen)
    w0 = start_weight(cp, gen)
    return cp, w0, signed_probs(5, 40, gen), signed_probs(5, 24, gen), torch.tensor([6] * 5)


def test_same_seed_same_result():
    cp, w0, xp, dp, bl = noisy_problem()
    outs = []
    for s in (7, 7, 8):
        w = w0.clone()
        c = run_numba(w, cp, xp, dp, bl, CELLS[1], s, noise=0.2)
        outs.append((w, int(c)))
    assert torch.equal(outs[0][0], outs[1][0]) and outs[0][1] == outs[1][1]
    assert not torch.equal(outs[0][0], outs[2][0])


@pytest.mark.parametrize("given", [False, True], ids=["drawn", "given"])
def test_threads_give_the_same_result(monkeypatch, given):
    """The threaded kernel (forced on a small tile) equals the serial one bit for bit."""
    cp, w0, xp, dp, bl = noisy_problem(3)
    trains = {}
    if given:
        xb, db = given_trains(xp, dp, 6, torch.Generator().manual_seed(4))
        trains = dict(x_bits=xb, d_bits=db)
    w1, w2 = w0.clone(), w0.clone()
    c1 = run_numba(w1, cp, xp, dp, bl, CELLS[1], 5, noise=0.3, threads=1, **trains)
    launched = []
    parallel = cpu._update_parallel
    monkeypatch.setattr(cpu, "PARALLEL_MIN_WORK", 0)
    monkeypatch.setattr(cpu, "_update_parallel",
                        lambda *a: launched.append(a[-1]) or parallel(*a))
    c2 = run_numba(w2, cp, xp, dp, bl, CELLS[1], 5, noise=0.3, threads=2, **trains)
    assert launched and launched[0] > 1  # several chunks of output lines
    assert int(c1) == int(c2) > 0
    assert torch.equal(w1, w2)


# --------------------------------------------------------------------------------------
# dispatch, arguments, import


def test_dispatch_on_the_cpu_runs_the_kernel():
    cp, w0, xp, dp, bl = noisy_problem()
    w_a, w_b, w_c = w0.clone(), w0.clone(), w0.clone()
    args = dict(cell_kind=CELL_LINEAR, noise_std=0.2, mult_noise=True)
    c = loose(kernels.pulsed_update)(w_a, cp, xp, dp, bl, seed=13, **args)
    run_numba(w_b, cp, xp, dp, bl, CELLS[1], 13, noise=0.2)
    assert torch.equal(w_a, w_b) and int(c) > 0
    # without a seed, one is drawn from the generator: reproducible by its seed
    for w, gen_seed in ((w_b, 1), (w_c, 1), (w_a, 2)):
        w.copy_(w0)
        loose(kernels.pulsed_update)(w, cp, xp, dp, bl,
                                     generator=torch.Generator().manual_seed(gen_seed), **args)
    assert torch.equal(w_b, w_c) and not torch.equal(w_a, w_b)


def test_array_resume_continues_the_same_stream():
    """``PulsedArray`` seeds the kernel from its call counter (extra state) and the tile
    generator (checkpointed by the tile): restoring both continues bit for bit."""
    from xbrun.physics.array import PulsedArray
    from xbrun.physics.cells import LinearStep
    from xbrun.physics.pulses import UpdateParameters

    cell = LinearStep(dw_min_std=0.3)
    gen = torch.Generator().manual_seed(5)
    x, d = torch.rand(4, 8, generator=gen), 0.3 * torch.randn(4, 6, generator=gen)
    first = PulsedArray(6, 8, cell, UpdateParameters(), 1)
    for _ in range(2):
        first.update(x, d, 0.05, gen)
    state, gen_state = copy.deepcopy(first.state_dict()), gen.get_state()
    for _ in range(3):
        first.update(x, d, 0.05, gen)
    resumed = PulsedArray(6, 8, cell, UpdateParameters(), 1)
    resumed.load_state_dict(state)
    gen2 = torch.Generator()
    gen2.set_state(gen_state)
    for _ in range(3):
        resumed.update(x, d, 0.05, gen2)
    assert torch.equal(first.weight, resumed.weight)
    assert not torch.equal(first.weight, PulsedArray(6, 8, cell, UpdateParameters(), 1).weight)


def test_bad_arguments():
    w = torch.zeros(3, 4)
    cp = torch.zeros(4, 3, 4)
    xp, dp, bl = torch.zeros(1, 4), torch.zeros(1, 3), torch.tensor([1])
    args = dict(noise_std=0.0, mult_noise=True, seed=0)
    with pytest.raises(ValueError, match="linear"):
        pulsed_update_numba(w, cp, xp, dp, bl, cell_kind=CELL_LINEAR, **args)
    with pytest.raises(ValueError, match="cell_scalars"):
        pulsed_update_numba(w, cp, xp, dp, bl, cell_kind=CELL_EXP, **args)
    with pytest.raises(ValueError, match="x_prob"):
        pulsed_update_numba(w, cp, dp, xp, bl, cell_kind=CELL_CONSTANT, **args)
    with pytest.raises(ValueError, match="unknown cell kind"):
        pulsed_update_numba(w, cp, xp, dp, bl, cell_kind=9, **args)
    with pytest.raises(ValueError, match="shorter"):
        pulsed_update_numba(w, cp, xp, dp, torch.tensor([3]), cell_kind=CELL_CONSTANT,
                            x_bits=torch.ones(1, 2, 4), d_bits=torch.ones(1, 2, 3), **args)


def test_importing_xbrun_kernels_imports_neither_numba_nor_triton():
    """One interpreter for both (each start costs seconds of the suite): the Triton check
    was test_kernel_pulsed_update.py's, run as it was without TRITON_INTERPRET."""
    code = ("import sys, xbrun.kernels, xbrun.physics.array; "
            "bad = [m for m in ('numba', 'triton') if m in sys.modules]; "
            "assert not bad, f'{bad} imported'")
    subprocess.run([sys.executable, "-c", code], check=True,
                   env={k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"})


# --------------------------------------------------------------------------------------
# pulse-train preparation: line probabilities and train lengths


@pytest.mark.parametrize("lr", [0.0, 0.01, 0.1, 3.0])
@pytest.mark.parametrize("res", [0.0, 0.013])
def test_line_probabilities_match_the_twin(lr, res):
    from xbrun.kernels.pulsed_update_cpu import line_probabilities_numba

    x, d = prep_rows()
    run_line_probabilities(line_probabilities_numba, x, d, lr, res)


def test_stochastic_rounding_is_unbiased_and_on_the_grid():
    from xbrun.kernels import line_probabilities_torch
    from xbrun.kernels.pulsed_update_cpu import line_probabilities_numba

    x, d = prep_rows(1)
    opts = dict(desired_bl=31, fixed_bl=True, update_management=True,
                update_bl_management=True, um_grad_scale=1.0, res=0.05)
    exact = line_probabilities_torch(x, d, 0.05, 1e-3, sto_round=False, res=0.0,
                                     **{k: v for k, v in opts.items() if k != "res"})[0]
    got = torch.stack([line_probabilities_numba(x, d, 0.05, 1e-3, sto_round=True, seed=s,
                                                **opts)[0] for s in range(200)])
    ref = torch.stack([line_probabilities_torch(x, d, 0.05, 1e-3, sto_round=True,
                                                generator=torch.Generator().manual_seed(s),
                                                **opts)[0] for s in range(200)])
    steps = got / 0.05
    assert torch.allclose(steps, steps.round(), atol=1e-4)  # multiples of the bin
    inside = exact.abs() < 0.95  # away from the clip at 1
    n = got.shape[0]
    frac = (exact.abs() / 0.05).double().frac()
    se = 0.05 * torch.sqrt(frac * (1 - frac) / n)  # a Bernoulli(frac) step of one bin
    for sample in (got, ref):
        diff = (sample.abs().double().mean(0) - exact.abs())[inside]
        assert (diff.abs() <= 5 * se[inside] + 0.05 / n).all()  # a single rare step: 1/n
        assert abs(diff.sum() / torch.sqrt((se[inside] ** 2).sum())) < 5  # pooled
        var = sample.abs().double().var(0)[inside]  # that step's variance, pooled
        want = (0.05**2 * frac * (1 - frac))[inside]
        assert abs(var.sum() / want.sum() - 1) < 0.05
    assert not torch.equal(got[0], got[1])


@pytest.mark.parametrize("factor_kind", ["bl", "inverse_bl", "scalar"])
def test_explicit_trains_match_the_twin(factor_kind):
    """Bit for bit: the grouping side, the order of the levels and the slots."""
    from xbrun.kernels import explicit_trains_torch
    from xbrun.kernels.pulsed_update_cpu import explicit_trains_numba

    gen = torch.Generator().manual_seed(3)
    k = 6
    a = torch.round(torch.rand(k, 30, generator=gen) * 10) / 10  # few levels: groups x
    c = torch.rand(k, 9, generator=gen) * (torch.rand(k, 9, generator=gen) < 0.7)
    c[1] = torch.round(c[1] * 3) / 3  # a row grouped on the d side
    a[2] = 0.0  # a row without pulses
    factor = {"bl": torch.randint(1, 40, (k,), generator=gen).float(),
              "inverse_bl": 1.0 / torch.randint(1, 40, (k,), generator=gen).float(),
              "scalar": 31.0}[factor_kind]
    want = explicit_trains_torch(a, c, factor)
    got = explicit_trains_numba(a, c, factor)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and torch.equal(g, w)
    if factor_kind != "inverse_bl":
        assert int(got[2][2]) == 0 and int(got[2].max()) > 0
