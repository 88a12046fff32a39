"""The Triton pulsed-update kernel against its torch twin (``kernels/pulsed_update_ref.py``).

On the CPU the kernel runs under Triton's interpreter (small shapes); the ``gpu`` tests run
the compiled kernel on CUDA at layer sizes. Exact where the pulse trains are given and noise
is off; in distribution (means and variances of the weight change per element, with
tolerances from the sample variances) where kernel and twin draw different random numbers.
"""

import functools
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import triton
import triton.language as tl
from pulse_cases import (
    CELL_IDS,
    CELLS,
    EXP_DEFAULT,
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
from triton_modules import CheckedLaunches, triton_function
from xbrun.kernels import (
    CELL_CONSTANT,
    CELL_EXP,
    CELL_LINEAR,
    CELL_POW,
    single_pulse_torch,
)

from xbrun import kernels

pulsed_update_torch = loose(kernels.pulsed_update_torch)


def _load_launcher(interpret: bool):
    return loose(triton_function("pulsed_update_cuda", "pulsed_update_triton", interpret))


# --------------------------------------------------------------------------------------
# cells

KINDS = [CELLS[0], CELLS[1], CELLS[3], CELLS[5]]  # one per kind
KIND_IDS = [c[0] for c in KINDS]


# --------------------------------------------------------------------------------------
# scenarios shared by the CPU (interpreted) and GPU (compiled) tests


def run_exact(launch, cell, m, n, k, bls, device, seed=0, blocks=None, atol=1e-6):
    """Given trains, noise off: kernel == twin, pulse counts equal, bounds reached."""
    _, kind, mult, scalars = cell
    gen = torch.Generator().manual_seed(seed)
    cp = make_cell(kind, m, n, gen)
    w0 = start_weight(cp, gen)
    xp, dp = signed_probs(k, n, gen), signed_probs(k, m, gen)
    bl = torch.tensor(bls)
    max_bl = max(bls)
    x_bits = torch.rand(k, max_bl, n, generator=gen) < xp.abs()[:, None, :]
    d_bits = torch.rand(k, max_bl, m, generator=gen) < dp.abs()[:, None, :]
    to = dict(device=device)
    cp, w0, xp, dp, bl = cp.to(**to), w0.to(**to), xp.to(**to), dp.to(**to), bl.to(**to)
    x_bits, d_bits = x_bits.to(**to), d_bits.to(**to)

    w_ref, w_ker = w0.clone(), w0.clone()
    n_ref = pulsed_update_torch(w_ref, cp, xp, dp, bl, cell_kind=kind, noise_std=0.0,
                                mult_noise=mult, x_bits=x_bits, d_bits=d_bits,
                                cell_scalars=scalars)
    extra = {} if blocks is None else dict(block_m=blocks[0], block_n=blocks[1])
    n_ker = launch(w_ker, cp, xp, dp, bl, cell_kind=kind, noise_std=0.0, mult_noise=mult,
                   seed=seed, x_bits=x_bits, d_bits=d_bits, cell_scalars=scalars, **extra)
    assert n_ker.dim() == 0 and n_ker.dtype == torch.int64
    assert int(n_ker) == int(n_ref) > 0
    torch.testing.assert_close(w_ker, w_ref, atol=atol, rtol=0)
    assert (w_ref != w0).sum() > w0.numel() // 3  # the update did something
    at_bound = (w_ref == cp[2]) | (w_ref == cp[3])
    at_bound[0, 0] = False  # the degenerate element sits on its bounds anyway
    assert at_bound.any()  # and clipping was exercised
    return (w_ker - w_ref).abs().max().item()


def replicated_problem(cell, m0, n0, k, bls, reps, device, seed=0, noise=0.0, given=False):
    """A small pattern tiled ``reps x reps`` times; the diagonal blocks are independent
    replicas (disjoint input and output lines)."""
    _, kind, mult, scalars = cell
    gen = torch.Generator().manual_seed(seed)
    cp = make_cell(kind, m0, n0, gen, degenerate=False)
    w0 = start_weight(cp, gen)
    xp, dp = signed_probs(k, n0, gen, 0.1, 0.9), signed_probs(k, m0, gen, 0.1, 0.9)
    bl = torch.tensor(bls)
    prob = dict(
        cp=cp.repeat(1, reps, reps).to(device), w0=w0.repeat(reps, reps).to(device),
        xp=xp.repeat(1, reps).to(device), dp=dp.repeat(1, reps).to(device),
        bl=bl.to(device), kind=kind, mult=mult, scalars=scalars, noise=noise,
        m0=m0, n0=n0, reps=reps, x_bits=None, d_bits=None)
    if given:
        max_bl = max(bls)
        xb = torch.rand(k, max_bl, n0, generator=gen) < xp.abs()[:, None, :]
        db = torch.rand(k, max_bl, m0, generator=gen) < dp.abs()[:, None, :]
        prob["x_bits"] = xb.repeat(1, 1, reps).to(device)
        prob["d_bits"] = db.repeat(1, 1, reps).to(device)
    return prob


def diagonal_samples(prob, w):
    """(reps, m0 * n0) weight changes of the independent diagonal replicas."""
    m0, n0, reps = prob["m0"], prob["n0"], prob["reps"]
    dw = (w - prob["w0"]).view(reps, m0, reps, n0)
    idx = torch.arange(reps, device=w.device)
    return dw[idx, :, idx, :].reshape(reps, m0 * n0)


def sample_kernel(launch, prob, seeds, blocks=None):
    out, counts = [], []
    extra = {} if blocks is None else dict(block_m=blocks[0], block_n=blocks[1])
    for s in seeds:
        w = prob["w0"].clone()
        c = launch(w, prob["cp"], prob["xp"], prob["dp"], prob["bl"], cell_kind=prob["kind"],
                   noise_std=prob["noise"], mult_noise=prob["mult"], seed=s,
                   x_bits=prob["x_bits"], d_bits=prob["d_bits"], cell_scalars=prob["scalars"],
                   **extra)
        out.append(diagonal_samples(prob, w))
        counts.append(int(c))
    return torch.cat(out), counts


def sample_reference(prob, seeds):
    out = []
    for s in seeds:
        w = prob["w0"].clone()
        gen = torch.Generator(device=w.device).manual_seed(10_000 + s)
        pulsed_update_torch(w, prob["cp"], prob["xp"], prob["dp"], prob["bl"],
                            cell_kind=prob["kind"], noise_std=prob["noise"],
                            mult_noise=prob["mult"], generator=gen, x_bits=prob["x_bits"],
                            d_bits=prob["d_bits"], cell_scalars=prob["scalars"])
        out.append(diagonal_samples(prob, w))
    return torch.cat(out)


def check_pulse_total(prob, counts):
    mean, var = expected_pulses(prob["xp"], prob["dp"], prob["bl"])
    n = len(counts)
    got = sum(counts)
    assert abs(got - n * mean) <= 5 * math.sqrt(n * var), (got, n * mean, math.sqrt(n * var))


def run_single_line(launch, device, m=5, n=7, blocks=(2, 4)):
    """x_prob = 1 on one column and d_prob = 1 on one row: only that element moves."""
    gen = torch.Generator().manual_seed(3)
    cp = make_cell(CELL_CONSTANT, m, n, gen, step=0.01, bound=1.0, degenerate=False).to(device)
    w0 = torch.zeros(m, n, device=device)
    xp = torch.zeros(2, n, device=device)
    dp = torch.zeros(2, m, device=device)
    xp[0, n - 2], dp[0, m - 2] = 1.0, -1.0  # up pulses
    xp[1, 1], dp[1, 3] = -1.0, -1.0  # down pulses
    bl = torch.tensor([7, 5], device=device)
    w = w0.clone()
    c = launch(w, cp, xp, dp, bl, cell_kind=CELL_CONSTANT, noise_std=0.0, mult_noise=True,
               seed=11, block_m=blocks[0], block_n=blocks[1])
    assert int(c) == 12
    expect = torch.zeros(m, n, device=device)
    expect[m - 2, n - 2] = 7 * cp[0, m - 2, n - 2]
    expect[3, 1] = -5 * cp[1, 3, 1]
    torch.testing.assert_close(w, expect, atol=1e-6, rtol=0)


def run_shared_lines(launch, device, m, n, blocks, bl=36):
    """Every program must see the same bit of a line: with d_prob = 1 on all rows the
    pulse count of (i, j) is the number of firings of x_j, the same on every row, and
    symmetrically for columns."""
    gen = torch.Generator().manual_seed(5)
    cp = torch.zeros(4, m, n, device=device)
    cp[0], cp[1], cp[2], cp[3] = 1.0, 1.0, 1e6, -1e6  # unit steps, no bounds
    for half, (xv, dv) in enumerate([(0.5, 1.0), (1.0, 0.5)]):
        xp = torch.full((3, n), xv, device=device)
        dp = torch.full((3, m), dv, device=device)
        xp[1] *= -1  # a down row in between
        w = torch.zeros(m, n, device=device)
        launch(w, cp, xp, dp, torch.tensor([bl, bl, bl], device=device),
               cell_kind=CELL_CONSTANT, noise_std=0.0, mult_noise=True,
               seed=int(torch.randint(0, 2**31 - 1, (1,), generator=gen)),
               block_m=blocks[0], block_n=blocks[1])
        counts = w.round()
        assert torch.equal(counts, w)
        if half == 0:  # columns differ, rows agree
            assert torch.equal(counts, counts[:1].expand_as(counts))
            assert counts[0].unique().numel() > 1
        else:
            assert torch.equal(counts, counts[:, :1].expand_as(counts))
            assert counts[:, 0].unique().numel() > 1


# --------------------------------------------------------------------------------------
# CPU: the kernel under Triton's interpreter


# the interpreter's cost is per operation, not per element: one program covers the
# replicated problems (up to 64 replicas of 3 x 4 elements)
ONE_BLOCK = (256, 256)


@pytest.fixture(scope="module")
def interp():
    return _load_launcher(interpret=True)


@pytest.mark.parametrize("blocks", [None, (2, 4)], ids=["one_block", "many_blocks"])
@pytest.mark.parametrize("cell", KINDS, ids=KIND_IDS)
def test_exact_given_trains(interp, cell, blocks):
    # bl 40 spans two 32-slot words; bl 0 skips the row
    run_exact(interp, cell, 5, 7, 4, [8, 0, 40, 3], "cpu", blocks=blocks)


@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_noise_in_distribution_given_trains(interp, cell):
    """Fixed trains, noise on: the spread comes from the cycle-to-cycle noise alone."""
    prob = replicated_problem(cell, 3, 4, 3, [6, 4, 6], reps=64, device="cpu", noise=0.3,
                              given=True)
    a, counts = sample_kernel(interp, prob, range(6), ONE_BLOCK)
    b = sample_reference(prob, range(6))
    assert len(set(counts)) == 1  # given trains: the same pulses every time
    assert (a.var(0) > 0).sum() >= a.shape[1] // 2  # the rest pinned at a bound or idle
    # the noise is drawn per element, so with fixed trains the elements are independent
    assert_same_distribution(a, b, what=cell[0], pooled=True)


def one_hot_rows(gen, m, n, k, columns, first, step, value, kind=CELL_CONSTANT):
    """A transfer's line writes on an m x n tile: k rows one-hot on one side (``value`` on
    line ``(first + step * row) % width``, a column where ``columns``) against k dense
    signed rows; ``(cells, start weights, x probabilities, d probabilities)`` from ``gen``."""
    cp = make_cell(kind, m, n, gen)
    w0 = start_weight(cp, gen)
    width = n if columns else m
    onehot = torch.zeros(k, width)
    onehot[torch.arange(k), (first + step * torch.arange(k)) % width] = value
    dense = signed_probs(k, m if columns else n, gen)
    xp, dp = (onehot, dense) if columns else (dense, onehot)
    return cp, w0, xp, dp


def one_hot_problem(m, n, k, columns, device, seed=0, kind=CELL_CONSTANT):
    """A transfer's line writes: each row one-hot on one side (lines ``0, 2, 4, ...``)."""
    rows = one_hot_rows(torch.Generator().manual_seed(seed), m, n, k, columns, 0, 2, 1.0, kind)
    return [t.to(device) for t in (*rows, torch.full((k,), 9, dtype=torch.int32))]


def sparse_and_dense(launch, cell, m, n, k, columns, device, **blocks):
    """The same one-hot write, noise off and one seed, walking every row and only the
    listed rows: ``(start weight, (weight, pulses) dense, (weight, pulses) sparse)``; the
    pulse counts are equal and not zero."""
    _, kind, mult, scalars = cell
    cp, w0, xp, dp, bl = one_hot_problem(m, n, k, columns, device, kind=kind)
    out = []
    for sparse in (False, True):
        w = w0.clone()
        c = launch(w, cp, xp, dp, bl, cell_kind=kind, noise_std=0.0, mult_noise=mult,
                   cell_scalars=scalars, seed=7, sparse_rows=sparse, **blocks)
        out.append((w, int(c)))
    assert out[0][1] == out[1][1] > 0
    return w0, out[0], out[1]


@pytest.mark.parametrize("cell", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("columns", [True, False], ids=["columns", "rows"])
def test_sparse_rows_change_nothing_but_the_work(interp, columns, cell):
    """Noise off, same seed: walking only the rows a block sees coincidences of gives the
    same weights and pulses as walking every row (small blocks, so most rows skip)."""
    w0, (dense, _), (sparse, _) = sparse_and_dense(interp, cell, 6, 10, 5, columns, "cpu",
                                                   block_m=2, block_n=4)
    assert torch.equal(dense, sparse)
    assert (dense != w0).sum() >= 5


def listed_problem(m, n, k, max_bl, device, tiles=None, seed=1, fire=(0.3, 0.2)):
    """Constant steps with noise on sparse rows, as training makes them: most lines of a
    row silent (``fire``: the fractions of input and output lines with a probability)."""
    from xbrun.physics.cells import ConstantStep

    gen = torch.Generator().manual_seed(seed)
    lead = () if tiles is None else (tiles,)
    cell = ConstantStep(dw_min=0.05, dw_min_std=0.3)
    cp = torch.stack([cell.sample((m, n), gen) for _ in range(tiles or 1)]).reshape(
        *lead, -1, m, n)
    w0 = 0.2 * torch.randn(*lead, m, n, generator=gen)
    xp = (torch.rand(*lead, k, n, generator=gen) - 0.5) * (
        torch.rand(*lead, k, n, generator=gen) < fire[0])
    dp = (torch.rand(*lead, k, m, generator=gen) - 0.5) * (
        torch.rand(*lead, k, m, generator=gen) < fire[1])
    bl = torch.randint(0, max_bl + 1, (*lead, k), generator=gen, dtype=torch.int32)
    p = kernels.UpdateParams(kernels.CellParams(CELL_CONSTANT, 0.3, True, ()), max_bl)
    return [t.to(device) for t in (cp, w0, xp, dp, bl)] + [p]


def listed_and_blocks(launch, problem, seed, window=None, **blocks):
    """The update with ``_listed_rows_kernel`` (listing ``window`` rows at a time, if
    given) and with the block kernel walking every row (``LISTED_ROWS`` off): ``[(weight,
    pulses, wear)] * 2``."""
    cp, w0, xp, dp, bl, p = problem
    out = []
    module = launch.__globals__
    for listed in (True, False):
        saved = module["LISTED_ROWS"], module["LISTED_WINDOW"]
        module["LISTED_ROWS"] = listed
        module["LISTED_WINDOW"] = window or saved[1]
        try:
            w, worn = w0.clone(), torch.zeros(w0.shape, dtype=torch.int32, device=w0.device)
            n = launch(w, cp, xp, dp, bl, p, seed=seed, cell_pulses=worn, **blocks)
        finally:
            module["LISTED_ROWS"], module["LISTED_WINDOW"] = saved
        out.append((w, n, worn))
    assert int(out[0][1].sum()) > 0 and (out[0][0] != w0).any()
    return out


@pytest.mark.parametrize("m, k, max_bl, blocks", [
    (10, 6, 12, {}), (10, 6, 40, {}), (6, 4, 31, dict(block_m=4, block_n=16)),
    (2, 40, 9, dict(window=32))], ids=["sign_bit", "two_words", "small_blocks", "windows"])
def test_listed_rows_are_the_block_kernel(m, k, max_bl, blocks):
    """Constant steps, noise on, one seed: walking only the rows with a coincidence in the
    block gives the block kernel's weights, pulses, wear and normals bit for bit (several
    blocks a side, rows of no coincidence and of none at all, two-word trains, rows listed
    in windows)."""
    launch = triton_function("pulsed_update_cuda", "pulsed_update_triton", True)
    (w, n, worn), (w_ref, n_ref, worn_ref) = listed_and_blocks(
        launch, listed_problem(m, 40, k, max_bl, "cpu"), 5, **blocks)
    assert torch.equal(w, w_ref) and int(n) == int(n_ref) and torch.equal(worn, worn_ref)


def test_listed_rows_config_is_flat():
    """One warp, 128 elements on as few output lines as the input lines allow."""
    config = triton_function("pulsed_update_cuda", "_listed_config", True)
    assert config(512, 512) == (1, 128, 1)
    assert config(512, 392) == (1, 128, 1)
    assert config(10, 16) == (8, 16, 1)
    assert config(3, 10) == (4, 16, 1)


@pytest.mark.parametrize("columns, bl", [(True, 9), (False, 40)],
                         ids=["columns_one_word", "rows_two_words"])
def test_one_hot_lines_kernel_is_the_block_kernel(interp, columns, bl):
    """Constant steps on one-hot rows (``one_hot``: a kernel over the written lines alone)
    give exactly the block kernel's weights, pulses and wear counts, noise on, one seed;
    the start may be a device tensor and the lines wrap."""
    run_one_hot_lines(interp, 6, 10, 5, columns, bl, "cpu")


@pytest.mark.parametrize("case", ["blocks", "row_chunks", "one_hot"])
def test_add_to_takes_the_pulses_in_the_kernels(interp, case):
    """``add_to`` (a tile's running count): the kernels add the pulses to it and it is
    returned - the same weights and count as a fresh count, for each launch path."""
    gen = torch.Generator().manual_seed(8)
    cp = make_cell(CELL_CONSTANT, 6, 10, gen)
    w0 = start_weight(cp, gen)
    xp, dp = signed_probs(5, 10, gen), signed_probs(5, 6, gen)
    extra = {"blocks": dict(block_m=8, block_n=16), "row_chunks": dict(row_chunk=2),
             "one_hot": dict(one_hot=(3, True), sparse_rows=True)}[case]
    if case == "one_hot":
        xp = torch.zeros(5, 10)
        xp[torch.arange(5), (3 + torch.arange(5)) % 10] = 0.8
    out = []
    for add_to in (None, torch.tensor(7)):
        w = w0.clone()
        got = interp(w, cp, xp, dp, torch.full((5,), 9, dtype=torch.int32),
                     cell_kind=CELL_CONSTANT, noise_std=0.3, mult_noise=True, seed=5, max_bl=9,
                     add_to=add_to, **extra)
        assert add_to is None or got is add_to
        out.append((w, int(got)))
    assert torch.equal(out[0][0], out[1][0]) and out[1][1] == out[0][1] + 7 > 7


@pytest.mark.parametrize("columns, noise", [(True, 0.3), (False, 0.0)],
                         ids=["columns_noise", "rows"])
def test_one_hot_passes_split_are_the_one_kernel(columns, noise):
    """A one-hot write of many passes (a chopped step's transfers into a narrow tile): its
    draws made for every row at once, then applied pass after pass per line
    (from ``SPLIT_MIN_PASSES`` passes a line), give the one kernel's weights, pulses and
    wear bit for bit (a keyed seed, the start a host int or a device tensor, more passes
    than are loaded ahead: 4-5 passes of 3 lines; the draws in one block of rows, the
    passes in trips)."""
    launch = triton_function("pulsed_update_cuda", "pulsed_update_triton", True)
    run_split_passes(launch, 3, 3, 13, columns, noise, "cpu")


@pytest.mark.gpu
@pytest.mark.parametrize("columns, noise", [(True, 0.3), (True, 0.0), (False, 0.0)])
def test_one_hot_passes_in_trips_compiled(columns, noise):
    """Compiled, the whole split write (its passes in trips of 16) of a ResNet conv tile's
    16 x 27 at 4,096 one-hot rows is the one kernel's."""
    launch = triton_function("pulsed_update_cuda", "pulsed_update_triton", False)
    run_split_passes(launch, 16, 27, 4096, columns, noise, "cuda")


# a subprocess: kernels compiled (the CPU tests interpret them, which leaves Triton's
# language patched for the interpreter); the one-hot apply's launch at the ResNet chopped
# step's stem (a 16-element column, noise, the start on the device), trips of 16 passes
_APPLY_COST = """
import json, os, sys
os.environ["TRITON_INTERPRET"] = "0"
sys.path.insert(0, sys.argv[1])
import ptx_forms
from xbrun.kernels import pulsed_update_cuda as pu
kernel = pu._one_hot_apply_kernel
types = {"w_ptr": "*fp32", "p_ptr": "*fp32", "count_ptr": "*i64", "cells_ptr": "*i32",
         "start_ptr": "*i64", "sc_ptr": "*i32", "xi_ptr": "*fp32", "noise_std": "fp32"}
signature = {p.name: "constexpr" if p.is_constexpr else types.get(p.name, "i32")
             for p in kernel.params}
print(json.dumps(ptx_forms.coalescing_cost(ptx_forms.ttir(kernel, signature, dict(
    COLUMNS=True, NOISE=True, START_PTR=True, COUNT_CELLS=False, BLOCK=16),
    num_warps=2))))
"""


def test_one_hot_apply_compiles_in_seconds():
    """The one-hot apply's walk (trips of 16 passes) within
    ``ptx_forms.COALESCING_BUDGET``: its tensor loads x its TTIR operations^2, the work of
    Triton's coalescing pass (a walk of 128 unrolled passes each loaded alone, 262 loads x
    3,520 ops = 3.2e9, spent 60-170 s a launch in that pass on this CPU). The interpreter
    (the bit-for-bit tests) never compiles; this builds the TTIR alone (no GPU; ~2.5 s, most
    of it the subprocess importing torch)."""
    scripts = Path(__file__).resolve().parents[1] / "scripts"
    spec = importlib.util.spec_from_file_location("ptx_forms", scripts / "ptx_forms.py")
    forms = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(forms)
    out = subprocess.run([sys.executable, "-c", _APPLY_COST, str(scripts)], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    trip_loads, trip_ops, trips = json.loads(out)
    assert trip_loads >= 8 + 2 * 2 and trip_ops > 900  # the line's loads, the trips'
    assert trips <= forms.COALESCING_BUDGET, (trip_loads, trip_ops, trips)


@pytest.mark.parametrize("m, n, k, columns, noise, block", [
    (5, 3, 3 * 36 + 1, True, 0.3, 8), (5, 3, 3 * 36 + 2, True, 0.0, 4),
    (5, 4, 5 * 8, False, 0.3, 8)], ids=["columns_noise", "columns_two_blocks", "rows_noise"])
def test_one_hot_passes_are_their_twin(m, n, k, columns, noise, block):
    """The split write's serial walk (``_apply_passes``: ``_one_hot_apply_kernel``, the
    module's trips) is its twin ``one_hot_passes_torch`` bit for bit: 3 columns of 36-37
    passes (5 elements in blocks of 8, or of 4: two programs a line; the start a device
    tensor), rows of 5 lines of 8 passes; signed counts -4 .. 4 (40 % zeros), two weights
    outside their bounds that come in, some reaching them."""
    from xbrun.kernels.pulsed_update_ref import one_hot_passes_torch

    module = triton_function("pulsed_update_cuda", "pulsed_update_triton", True).__globals__
    gen = torch.Generator().manual_seed(3)
    cp = make_cell(CELL_CONSTANT, m, n, gen)
    w0 = start_weight(cp, gen)
    w0[0, 0], w0[-1, -1] = 0.6, -0.6  # outside their bounds
    length = m if columns else n
    signed = torch.randint(-4, 5, (k, length), generator=gen, dtype=torch.int32)
    signed[torch.rand(k, length, generator=gen) < 0.4] = 0
    normals = torch.randn(k, length, generator=gen)
    first = 2
    w, counter = w0.clone(), torch.zeros((), dtype=torch.int64)
    cells = torch.zeros(m, n, dtype=torch.int32)
    start = torch.tensor(first) if columns else None
    module["_apply_passes"](w, cp, counter, cells, counter if start is None else start,
                            signed, normals, 0 if columns else first, columns, k=k,
                            noise_std=noise, on_device=start is not None, block=block,
                            count_cells=True)
    w_t, cells_t = w0.clone(), torch.zeros(m, n, dtype=torch.int32)
    pulses = one_hot_passes_torch(w_t, cp, signed, normals, first, columns, noise_std=noise,
                                  cell_pulses=cells_t)
    assert torch.equal(w, w_t) and int(counter) == pulses > 0 and torch.equal(cells, cells_t)
    assert ((w == cp[2]) | (w == cp[3])).sum() >= 2  # walked into the bounds
    assert (w[0, 0] <= cp[2, 0, 0]) and (w[-1, -1] >= cp[3, -1, -1])  # ... and in from outside
    assert (w != w0).float().mean() > 0.8


@pytest.mark.parametrize("columns, noise", [(True, 0.3), (False, 0.0)],
                         ids=["columns_noise", "rows"])
def test_one_hot_draws_in_row_blocks_are_the_one_row_draws(columns, noise, monkeypatch):
    """The split write's draws 4 rows a program (``DRAW_ROW_ELEMENTS`` lowered; 13 rows of 3
    lines, trains of 0-9 slots, the last program's rows cut short): the one kernel's
    weights, pulses and wear bit for bit; the passes applied in trips."""
    launch = triton_function("pulsed_update_cuda", "pulsed_update_triton", True)
    monkeypatch.setitem(launch.__globals__, "DRAW_ROW_ELEMENTS", 16)
    run_split_passes(launch, 3, 3, 13, columns, noise, "cpu")


@pytest.mark.gpu
@pytest.mark.parametrize("columns, noise", [(True, 0.3), (False, 0.0)])
def test_one_hot_draws_in_row_blocks_compiled(columns, noise):
    """The same compiled, at the module's block: 16 x 27 tiles' 4,096 one-hot rows."""
    launch = triton_function("pulsed_update_cuda", "pulsed_update_triton", False)
    run_split_passes(launch, 16, 27, 4096, columns, noise, "cuda")


def run_split_passes(launch, m, n, k, columns, noise, device):
    module = launch.__globals__
    gen = torch.Generator().manual_seed(6)
    start = 2 if columns else 4
    cp, w0, xp, dp = one_hot_rows(gen, m, n, k, columns, start, 1, 0.9)
    lengths = torch.randint(0, 10, (k,), generator=gen, dtype=torch.int32)
    cp, w0, xp, dp, lengths = (t.to(device) for t in (cp, w0, xp, dp, lengths))
    p = kernels.UpdateParams(kernels.CellParams(CELL_CONSTANT, noise, True, ()), 9, True)
    saved = module["SPLIT_MIN_PASSES"]
    out = []
    try:
        for split in (False, True):  # the start a device tensor where columns
            module["SPLIT_MIN_PASSES"] = 2 if split else 1 << 30
            at = torch.tensor(start, device=device) if split and columns else start
            w, cells = w0.clone(), torch.zeros(m, n, dtype=torch.int32, device=device)
            c = launch(w, cp, xp, dp, lengths, p, one_hot=(at, columns), cell_pulses=cells,
                       seed=kernels.seeds.KeyedSeed(torch.tensor(3, device=device), 11))
            out.append((w, int(c), cells))
    finally:
        module["SPLIT_MIN_PASSES"] = saved
    (w, c, cells), (w_s, c_s, cells_s) = out
    # compiled, two kernels may contract floats apart
    torch.testing.assert_close(w_s, w, rtol=0, atol=0 if device == "cpu" else 1e-6)
    assert c_s == c and torch.equal(cells_s, cells)
    assert c > 0 and (w != w0).sum() >= m * n // 2


def test_one_hot_columns_wide_are_the_one_kernel():
    """Columns a program (``WIDE_LINES``: blocks of 2 columns x 4 rows here) give the
    one-line kernel's weights, pulses and wear bit for bit: a group of two tiles (device
    starts, keyed seeds with offsets), 1-2 passes of 3 columns from column 4 on (mod 3),
    the blocks of columns and rows cut short."""
    launch = triton_function("pulsed_update_cuda", "pulsed_update_triton", True)
    run_wide_lines(launch.__globals__, 3, 3, 5, 0.3, 9, "cpu", (4, 2))


def test_one_hot_columns_in_short_blocks_are_the_one_kernel(monkeypatch):
    """Blocks of ``WIDE_SHORT_BLOCK_R`` rows (2 x 2 here, 2 row blocks on 4 rows): the
    one-line kernel's weights, pulses and wear bit for bit, a group of two tiles."""
    launch = triton_function("pulsed_update_cuda", "pulsed_update_triton", True)
    monkeypatch.setitem(launch.__globals__, "WIDE_SHORT_BLOCK_R", 2)
    run_wide_lines(launch.__globals__, 4, 3, 4, 0.3, 9, "cpu", (4, 2))


@pytest.mark.gpu
@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_one_hot_columns_in_short_blocks_compiled(noise):
    """The same compiled, at the module's block: a 4096-wide grid's 512 x 512 tiles, 256
    columns, trains of 0-1 slots (chopped's transfers) and of 0-31."""
    launch = triton_function("pulsed_update_cuda", "pulsed_update_triton", False)
    for max_bl in (1, 31):
        run_wide_lines(launch.__globals__, 512, 512, 256, noise, max_bl, "cuda")


def test_one_hot_columns_in_quad_blocks_are_the_one_kernel(monkeypatch):
    """``WIDE_QUAD_BLOCKS`` (blocks of more rows than ``WIDE_SHORT_BLOCK_R``: 4 x 2 here
    on 5 rows, the last block cut short): the one-line kernel's weights, pulses and wear bit
    for bit, a group of two tiles."""
    launch = triton_function("pulsed_update_cuda", "pulsed_update_triton", True)
    monkeypatch.setitem(launch.__globals__, "WIDE_QUAD_BLOCKS", True)
    monkeypatch.setitem(launch.__globals__, "WIDE_QUAD_BLOCK_R", 4)
    run_wide_lines(launch.__globals__, 5, 3, 4, 0.3, 9, "cpu", (4, 2))


@pytest.mark.gpu
@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_one_hot_columns_in_quad_blocks_compiled(noise, monkeypatch):
    """The same compiled, at the module's block (16 rows): a 4096-wide grid's 512 x 512
    tiles, 256 columns, trains of 0-1 slots (chopped's transfers) and of 0-31."""
    launch = triton_function("pulsed_update_cuda", "pulsed_update_triton", False)
    monkeypatch.setitem(launch.__globals__, "WIDE_QUAD_BLOCKS", True)
    for max_bl in (1, 31):
        run_wide_lines(launch.__globals__, 512, 512, 256, noise, max_bl, "cuda")


def _sure_probs(tiles, k, m, n, start, gen, kind, share):
    """A transfer's one-hot columns and line probabilities: ``sure``, chopped's (one-hot
    values 1, lines' values -1, 0 or 1, ``share`` of them not 0); ``mixed``, the same with
    one fractional one-hot value and fractional line values in one column (their blocks
    drawn, the others' bits certain); ``drawn``, all fractional (``run_wide_lines``')."""
    xp = torch.zeros(tiles, k, n)
    rows, cols = torch.arange(k), (start + torch.arange(k)) % n
    if kind == "drawn":
        xp[:, rows, cols] = 0.2 + 0.7 * torch.rand(tiles, k, generator=gen)
        return xp, torch.stack([signed_probs(k, m, gen) for _ in range(tiles)])
    xp[:, rows, cols] = 1.0
    on = torch.rand(tiles, k, m, generator=gen) < share
    sign = torch.where(torch.rand(tiles, k, m, generator=gen) < 0.5, -1.0, 1.0)
    dp = torch.where(on, sign, 0.0)
    if kind == "mixed":
        xp[0, 1, cols[1]] = 0.6
        dp[:, 0, : m // 2] = 0.5 * sign[:, 0, : m // 2]
    return xp, dp


def _one_hot_writes(module, kernels, device, start, w0, cp, xp, dp, lengths, p, calls, k,
                    n_chunks, max_bl, noise, offsets) -> list:
    """Column writes from line ``start`` as ``(weights, pulses, wear)``: on the GPU one tile's
    call with the start a host int and a device tensor, then the group's launch (that of
    ``transfer_lines_grouped_triton``) everywhere."""
    tiles, m, n = w0.shape
    got = []
    for at in () if device == "cpu" else (start, torch.tensor(start, device=device)):
        w, cells = w0[0].clone(), torch.zeros(m, n, dtype=torch.int32, device=device)
        c = module["pulsed_update_triton"](
            w, cp[0], xp[0], dp[0], lengths[0], p, one_hot=(at, True), cell_pulses=cells,
            seed=kernels.seeds.KeyedSeed(calls[0], 11))
        got.append((w, c.reshape(1), cells))
    w, cells = w0.clone(), torch.zeros(tiles, m, n, dtype=torch.int32, device=device)
    c = torch.zeros(tiles, dtype=torch.int64, device=device)
    module["_one_hot_lines"](
        w, cp, xp, dp, lengths, c, calls, 0, cells,
        (torch.full((tiles,), start, device=device), True), k=k, n_chunks=n_chunks,
        max_len=n_chunks * 32 - (max_bl <= 31), noise_std=noise,
        seed_mode=module["SEED_KEYED"], offsets=offsets)
    got.append((w, c, cells))
    return got


def _assert_alike_and_drawn(got, ref, w0, cp, xp, dp, lengths, tiles, device):
    """Two writes' ``(weights, pulses, wear)`` alike (compiled, two kernels may contract
    floats apart) and every tile's pulses as its probabilities drew them."""
    (w, c, cells), (w_s, c_s, cells_s) = got, ref
    torch.testing.assert_close(w_s, w, rtol=0, atol=0 if device == "cpu" else 1e-6)
    assert torch.equal(c_s, c) and torch.equal(cells_s, cells) and int(c.min()) > 0
    one = w.dim() == 2
    for t in range(1 if one else tiles):
        assert_pulses_as_drawn(w if one else w[t], w0[t], cp[t], cells if one else cells[t],
                               int(c[t]), xp[t], dp[t], lengths[t])


def run_sure_lines(module, m, n, k, noise, max_bl, device, kind, share=0.3, blocks=None):
    """``SURE_PULSES`` off, then on (the wide kernel's launches checked for its ``SURE``):
    the same weights, pulses and wear; a group of two tiles (keyed seeds with offsets,
    device starts) and, on the GPU, one tile's call."""
    gen = torch.Generator().manual_seed(9)
    tiles, start = 2, 3
    cp = torch.stack([make_cell(CELL_CONSTANT, m, n, gen) for _ in range(tiles)])
    w0 = torch.stack([start_weight(c, gen) for c in cp])
    xp, dp = _sure_probs(tiles, k, m, n, start, gen, kind, share)
    lengths = torch.randint(0, max_bl + 1, (tiles, k), generator=gen, dtype=torch.int32)
    cp, w0, xp, dp, lengths = (t.to(device) for t in (cp, w0, xp, dp, lengths))
    calls, offsets = torch.tensor([3, 5], device=device), torch.tensor([11, 13], device=device)
    p = kernels.UpdateParams(kernels.CellParams(CELL_CONSTANT, noise, True, ()), max_bl, True)
    n_chunks = triton.cdiv(max_bl, 32)
    names = ("WIDE_LINES", "SURE_PULSES", "WIDE_SHORT_BLOCK_R", "WIDE_LINES_BLOCK",
             "_one_hot_wide_kernel")
    saved = {name: module[name] for name in names}
    out, checked = [], []
    try:
        module["WIDE_LINES"] = True
        if blocks:
            module["WIDE_SHORT_BLOCK_R"], module["WIDE_LINES_BLOCK"] = blocks
        for sure in (False, True):
            module["SURE_PULSES"] = sure
            checked.append(CheckedLaunches(saved["_one_hot_wide_kernel"], SURE=sure))
            module["_one_hot_wide_kernel"] = checked[-1]
            out.append(_one_hot_writes(module, kernels, device, start, w0, cp, xp, dp, lengths,
                                       p, calls, k, n_chunks, max_bl, noise, offsets))
    finally:
        for name, value in saved.items():
            module[name] = value
    assert all(c.launches == len(out[0]) for c in checked)
    for got, ref in zip(*out, strict=True):
        _assert_alike_and_drawn(got, ref, w0, cp, xp, dp, lengths, tiles, device)
        if blocks and kind != "drawn":  # some blocks without a pulse (left out), some with
            rows, lines = blocks
            used = got[2][:, :, (start + torch.arange(min(k, n))) % n]
            used = torch.nn.functional.pad(used, (0, -used.shape[2] % lines,
                                                  0, -used.shape[1] % rows))
            per_block = used.reshape(tiles, used.shape[1] // rows, rows, -1, lines).sum((2, 4))
            assert (per_block == 0).any() and (per_block > 0).any()


@pytest.mark.parametrize(("kind", "k", "max_bl", "share"), [
    ("sure", 3, 1, 0.3), ("mixed", 3, 9, 0.1), ("drawn", 3, 9, 0), ("sure", 9, 1, 0.3),
    ("mixed", 6, 9, 0.1)], ids=["sure", "mixed", "drawn", "sure-passes", "mixed-passes"])
def test_one_hot_columns_of_sure_pulses_are_the_wide_kernel(kind, k, max_bl, share):
    """``SURE_PULSES`` (blocks of 2 rows x 2 columns on 6 x 4 tiles, cut short; 3 columns
    of one pass, or 6-9 rows: 2-3 passes a column): the wide kernel's weights, pulses and wear
    bit for bit, whether a block's bits are all certain (chopped's probabilities 0 or 1),
    some drawn or all drawn."""
    launch = triton_function("pulsed_update_cuda", "pulsed_update_triton", True)
    run_sure_lines(launch.__globals__, 6, 4, k, 0.3, max_bl, "cpu", kind, share=share,
                   blocks=(2, 2))


def test_sure_bits_are_the_drawn_bits():
    """``_sure_bits`` gives ``_draw_bits``' words for probabilities 0, 1, above 1 and
    fractional, trains of 0-40 slots (chunk 1: 8 of them past the chunk), with and without
    a fractional cell in the block."""
    module = triton_function("pulsed_update_cuda", "pulsed_update_triton", True).__globals__

    @triton.jit
    def words(out_ptr, p_ptr, t_ptr, N: tl.constexpr, SURE: tl.constexpr):
        i = tl.arange(0, N)
        p = tl.load(p_ptr + i)
        t_ok = tl.load(t_ptr + i) - 32
        c0 = (i * 7).to(tl.uint32)
        c2 = (i + 3).to(tl.uint32)
        n_groups = tl.minimum(tl.maximum(tl.cdiv(tl.max(t_ok, axis=0), 4), 0), 8)
        if SURE:
            word = _sure_bits(1234, c0, c2, 1, p, t_ok, n_groups)
        else:
            word = _draw_bits(1234, c0, c2, 1, p, t_ok, n_groups)
        tl.store(out_ptr + i, word.to(tl.int32, bitcast=True))

    _sure_bits, _draw_bits = module["_sure_bits"], module["_draw_bits"]  # noqa: F841
    words.fn.__globals__.update(_sure_bits=_sure_bits, _draw_bits=_draw_bits)
    gen = torch.Generator().manual_seed(2)
    t = torch.randint(0, 41, (64,), generator=gen, dtype=torch.int32)
    certain = torch.tensor([0.0, 1.0, 1.5, 1.0])[torch.randint(0, 4, (64,), generator=gen)]
    for p in (certain, torch.where(torch.arange(64) == 5, 0.4, certain)):
        got = [torch.zeros(64, dtype=torch.int32) for _ in range(2)]
        for sure, g in zip((False, True), got, strict=True):
            words[(1,)](g, p, t, N=64, SURE=sure)
        assert torch.equal(got[0], got[1]) and (got[0] != 0).any()
        assert ((got[0] == -1) == ((p >= 1) & (t >= 64))).all()  # whole chunks set


@pytest.mark.parametrize(("kind", "k", "max_bl", "share"), [
    ("sure", 3, 1, 0.3), ("mixed", 6, 9, 0.1)], ids=["sure", "mixed-passes"])
def test_one_hot_columns_of_sure_pulses_in_quad_blocks_are_the_wide_kernel(
        kind, k, max_bl, share, monkeypatch):
    """``SURE_PULSES`` with ``WIDE_QUAD_BLOCKS`` (blocks of 4 rows x 2 columns here, on 6
    rows: the last cut short): the wide kernel's weights, pulses and wear bit for bit."""
    launch = triton_function("pulsed_update_cuda", "pulsed_update_triton", True)
    monkeypatch.setitem(launch.__globals__, "WIDE_QUAD_BLOCKS", True)
    monkeypatch.setitem(launch.__globals__, "WIDE_QUAD_BLOCK_R", 4)
    run_sure_lines(launch.__globals__, 6, 4, k, 0.3, max_bl, "cpu", kind, share=share,
                   blocks=(4, 2))


@pytest.mark.gpu
@pytest.mark.parametrize("quad", [False, True], ids=["short", "quad"])
@pytest.mark.parametrize("noise", [0.0, 0.3])
@pytest.mark.parametrize("kind", ["sure", "mixed", "drawn"])
def test_one_hot_columns_of_sure_pulses_compiled(kind, noise, quad, monkeypatch):
    """The same compiled, at the module's blocks (8 rows, or ``WIDE_QUAD_BLOCKS``' 16): a
    4096-wide grid's 512 x 512 tiles, 256 columns (one pass) and 1,100 rows (3 passes),
    chopped's trains of 0-1 slots, 3 % of the line's values not 0 (``sure``), or of 0-31
    slots."""
    launch = triton_function("pulsed_update_cuda", "pulsed_update_triton", False)
    monkeypatch.setitem(launch.__globals__, "WIDE_QUAD_BLOCKS", quad)
    for k, max_bl in ((256, 1), (1100, 1), (256, 31)):
        run_sure_lines(launch.__globals__, 512, 512, k, noise, max_bl, "cuda", kind,
                       share=0.03)


def run_wide_lines(module, m, n, k, noise, max_bl, device, blocks=None):
    gen = torch.Generator().manual_seed(8)
    tiles, start = 2, 4
    cp = torch.stack([make_cell(CELL_CONSTANT, m, n, gen) for _ in range(tiles)])
    w0 = torch.stack([start_weight(c, gen) for c in cp])
    xp = torch.zeros(tiles, k, n)
    xp[:, torch.arange(k), (start + torch.arange(k)) % n] = 0.2 + 0.7 * torch.rand(tiles, k,
                                                                                 generator=gen)
    dp = torch.stack([signed_probs(k, m, gen) for _ in range(tiles)])
    lengths = torch.randint(0, max_bl + 1, (tiles, k), generator=gen, dtype=torch.int32)
    cp, w0, xp, dp, lengths = (t.to(device) for t in (cp, w0, xp, dp, lengths))
    calls = torch.tensor([3, 5], device=device)
    offsets = torch.tensor([11, 13], device=device)
    p = kernels.UpdateParams(kernels.CellParams(CELL_CONSTANT, noise, True, ()), max_bl, True)
    n_chunks = triton.cdiv(max_bl, 32)
    saved = module["WIDE_LINES"], module["WIDE_SHORT_BLOCK_R"], module["WIDE_LINES_BLOCK"]
    out = []
    try:
        for wide in (False, True):
            module["WIDE_LINES"] = wide
            if blocks:
                module["WIDE_SHORT_BLOCK_R"], module["WIDE_LINES_BLOCK"] = blocks
            # one tile, the start a host int or a device tensor (on the GPU: the CPU test
            # keeps to the group, whose tiles take the paths of one tile's call)
            out.append(_one_hot_writes(module, kernels, device, start, w0, cp, xp, dp, lengths,
                                       p, calls, k, n_chunks, max_bl, noise, offsets))
    finally:
        module["WIDE_LINES"], module["WIDE_SHORT_BLOCK_R"], module["WIDE_LINES_BLOCK"] = saved
    for got, ref in zip(*out, strict=True):
        _assert_alike_and_drawn(got, ref, w0, cp, xp, dp, lengths, tiles, device)


def assert_pulses_as_drawn(w, w0, cp, cells, count, xp, dp, lengths, z=5.0):
    """Not vacuous, and true of any correct write (a fixed share of changed cells is
    neither: a 512 x 512 tile's 256 one-hot columns are half its cells, of which a train of
    0-31 slots pulses ~82 %, so 41 % changed on an H100; trains of 0-1 slots 7.7 %): the
    pulse count within ``z`` standard deviations of its expectation from the probabilities
    and train lengths (``expected_pulses``), the wear summing to it, every changed cell
    pulsed, and every pulsed cell changed unless it started at a bound (a constant step,
    noisy or not, only stays put pushed into the bound it sits at)."""
    mean, var = expected_pulses(xp, dp, lengths)
    assert abs(count - mean) <= z * math.sqrt(var) + 1, (count, mean, math.sqrt(var))
    assert int(cells.sum()) == count
    changed, pulsed = w != w0, cells > 0
    assert not (changed & ~pulsed).any()
    at_bound = (w0 == cp[2]) | (w0 == cp[3])
    assert not (pulsed & ~changed & ~at_bound).any()


def run_one_hot_lines(launch, m, n, k, columns, bl, device):
    gen = torch.Generator().manual_seed(4)
    start = 7 if columns else 3
    cp, w0, xp, dp = one_hot_rows(gen, m, n, k, columns, start, 1, 0.8)
    lengths = torch.full((k,), bl, dtype=torch.int32)
    cp, w0, xp, dp, lengths = (t.to(device) for t in (cp, w0, xp, dp, lengths))
    out = []
    for one_hot in (None, (start, columns), (torch.tensor(start, device=device), columns)):
        w, cells = w0.clone(), torch.zeros(m, n, dtype=torch.int32, device=device)
        c = launch(w, cp, xp, dp, lengths, cell_kind=CELL_CONSTANT, noise_std=0.3,
                   mult_noise=True,
                   seed=kernels.seeds.KeyedSeed(torch.tensor(3, device=device), 11),
                   sparse_rows=True, cell_pulses=cells, one_hot=one_hot, max_bl=bl,
                   **({"block_m": 8, "block_n": 16} if device == "cpu" else {}))
        out.append((w, int(c), cells))
    for w, c, cells in out[1:]:  # compiled, two kernels may contract floats apart
        torch.testing.assert_close(w, out[0][0], rtol=0, atol=0 if device == "cpu" else 1e-6)
        assert c == out[0][1] > 0 and torch.equal(cells, out[0][2])
    assert (out[0][0] != w0).sum() >= k


def test_sparse_rows_noise_in_distribution(interp):
    """With noise, sparse rows draw one normal per worked row: the same law as the twin."""
    # 384 samples an element (32 replicas x 12 seeds); a 96 x 128 tile, 2 x 2 programs
    prob = replicated_problem(CELLS[0], 3, 4, 3, [6, 4, 6], reps=32, device="cpu",
                              noise=0.3, given=True)
    assert prob["kind"] == CELL_CONSTANT
    a, _ = sample_kernel(functools.partial(interp, sparse_rows=True), prob, range(12),
                         (64, 64))
    b = sample_reference(prob, range(12))
    assert (a.var(0) > 0).sum() >= a.shape[1] // 2
    assert_same_distribution(a, b, what="sparse rows", pooled=True)


@pytest.mark.parametrize("noise", [0.0, 0.3], ids=["quiet", "noisy"])
@pytest.mark.parametrize("cell", KINDS, ids=KIND_IDS)
def test_drawn_trains_in_distribution(interp, cell, noise):
    prob = replicated_problem(cell, 3, 4, 3, [8, 5, 8], reps=48, device="cpu", noise=noise)
    a, counts = sample_kernel(interp, prob, range(4), ONE_BLOCK)
    b = sample_reference(prob, range(4))
    assert_same_distribution(a, b, what=cell[0])
    check_pulse_total(prob, counts)


def test_pulse_total_matches_expectation(interp):
    cp, xp, dp, bl = pulse_total_case()
    prob = dict(xp=xp, dp=dp, bl=bl)
    counts = []
    for s in range(6):  # one 32 x 64 block over the 24 x 40 tile: the default blocks'
        w = torch.zeros_like(cp[0])  # counts (blocks_do_not_change_draws), fewer programs
        counts.append(int(interp(w, cp, xp, dp, bl, cell_kind=CELL_CONSTANT, noise_std=0.0,
                                 mult_noise=True, seed=s, block_m=32, block_n=64)))
    check_pulse_total(prob, counts)


def run_every_slot(launch, device, m, n, blocks=None):
    """Probability 1 fires in every slot: each element gets exactly bl pulses per row."""
    bls = [1, 3, 7, 31, 32, 33, 45, 0, 64]
    k = len(bls)
    cp = torch.zeros(4, m, n, device=device)
    cp[0], cp[1], cp[2], cp[3] = 1.0, 1.0, 1e6, -1e6  # unit steps, no bounds
    sign = torch.tensor([(-1.0) ** b for b in range(k)], device=device)
    xp = sign[:, None] * torch.ones(k, n, device=device)
    dp = -torch.ones(k, m, device=device)  # x > 0, d < 0: up; x < 0, d < 0: down
    w = torch.zeros(m, n, device=device)
    extra = {} if blocks is None else dict(block_m=blocks[0], block_n=blocks[1])
    c = launch(w, cp, xp, dp, torch.tensor(bls, device=device), cell_kind=CELL_CONSTANT,
               noise_std=0.0, mult_noise=True, seed=1, **extra)
    assert int(c) == m * n * sum(bls)
    expect = float(sum(s * b for s, b in zip(sign.tolist(), bls, strict=True)))
    assert torch.equal(w, torch.full_like(w, expect))


def test_probability_one_fires_every_slot(interp):
    run_every_slot(interp, "cpu", 5, 7)


def test_single_line_moves_one_element(interp):
    run_single_line(interp, "cpu")


def test_lines_are_shared_across_programs(interp):
    run_shared_lines(interp, "cpu", 8, 16, blocks=(4, 8))


def test_seed_determinism(interp):
    gen = torch.Generator().manual_seed(2)
    cp = make_cell(CELL_LINEAR, 6, 9, gen)
    w0 = start_weight(cp, gen)
    xp, dp = signed_probs(3, 9, gen), signed_probs(3, 6, gen)
    bl = torch.tensor([6, 6, 6])
    outs = []
    for s in (7, 7, 8):
        w = w0.clone()
        c = interp(w, cp, xp, dp, bl, cell_kind=CELL_LINEAR, noise_std=0.2, mult_noise=True,
                   seed=s)
        outs.append((w, int(c)))
    assert torch.equal(outs[0][0], outs[1][0]) and outs[0][1] == outs[1][1]
    assert not torch.equal(outs[0][0], outs[2][0])


def test_seed_on_the_device_is_the_int_seed(interp):
    """A seed tensor (what CUDA graphs replay) keys the same draws as the int."""
    gen = torch.Generator().manual_seed(6)
    cp = make_cell(CELL_CONSTANT, 6, 9, gen)
    w0 = start_weight(cp, gen)
    xp, dp = signed_probs(5, 9, gen), signed_probs(5, 6, gen)
    bl = torch.tensor([6, 6, 6, 6, 6])
    outs = []
    for s in (123, torch.tensor(123), torch.tensor([2**32 + 123])):
        w = w0.clone()
        c = interp(w, cp, xp, dp, bl, cell_kind=CELL_CONSTANT, noise_std=0.3,
                   mult_noise=True, seed=s)
        outs.append((w, int(c)))
    for w, c in outs[1:]:
        assert torch.equal(w, outs[0][0]) and c == outs[0][1] > 0
    with pytest.raises(ValueError, match="seed tensor"):
        interp(w0.clone(), cp, xp, dp, bl, cell_kind=CELL_CONSTANT, noise_std=0.3,
               mult_noise=True, seed=torch.tensor([1.0]))


@pytest.mark.parametrize("kind", [CELL_CONSTANT])
def test_keyed_seed_is_the_seed_it_stands_for(interp, kind):
    """An array's keyed seed (its call counter on the device, derived in the kernel) keys
    the same draws as the seed ``KeyedSeed.tensor`` makes with three torch launches."""
    gen = torch.Generator().manual_seed(8)
    cp = make_cell(kind, 6, 9, gen)
    w0 = start_weight(cp, gen)
    xp, dp = signed_probs(4, 9, gen), signed_probs(4, 6, gen)
    bl = torch.tensor([6, 5, 6, 4])
    key = kernels.seeds.array_device_seed(torch.tensor(2**33 + 5), 1234, 99)
    outs = []
    for s in (key, key.tensor(), (int(key.calls) * 7919 + key.offset) & 0x7FFFFFFF):
        w = w0.clone()
        c = interp(w, cp, xp, dp, bl, cell_kind=kind, noise_std=0.3, mult_noise=True, seed=s)
        outs.append((w, int(c)))
    for w, c in outs[1:]:
        assert torch.equal(w, outs[0][0]) and c == outs[0][1] > 0


def test_noisy_constant_closed_form_is_the_walk_inside_the_bounds():
    """Away from the bounds the summed noise of n constant steps (one normal) has the
    distribution of n noisy steps one by one."""
    from xbrun.kernels.pulsed_update_ref import constant_train

    gen = torch.Generator().manual_seed(12)
    cp = make_cell(CELL_CONSTANT, 1, 24, gen, step=0.01, bound=10.0, degenerate=False)
    up = torch.rand(1, 24, generator=gen) < 0.5
    counts = torch.randint(1, 9, (1, 24), generator=gen).float()
    reps, sigma = 4000, 0.3
    w0 = torch.zeros(reps, 24)
    xi = torch.randn(reps, 24, generator=gen)
    closed = constant_train(w0, up, counts, cp, sigma, xi)
    walk = w0.clone()
    for p in range(8):
        stepped = single_pulse_torch(walk, up.expand_as(walk), cp, cell_kind=CELL_CONSTANT,
                                     noise_std=sigma, mult_noise=True,
                                     xi=torch.randn(reps, 24, generator=gen))
        walk = torch.where(counts > p, stepped, walk)
    assert_same_distribution(closed, walk, what="constant+noise", pooled=True)


def test_bad_arguments(interp):
    w = torch.zeros(3, 4)
    cp = torch.zeros(4, 3, 4)
    xp, dp, bl = torch.zeros(1, 4), torch.zeros(1, 3), torch.tensor([1])
    with pytest.raises(ValueError, match="linear"):
        interp(w, cp, xp, dp, bl, cell_kind=CELL_LINEAR, noise_std=0.0, mult_noise=True,
               seed=0)
    with pytest.raises(ValueError, match="cell_scalars"):
        interp(w, cp, xp, dp, bl, cell_kind=CELL_EXP, noise_std=0.0, mult_noise=True, seed=0)
    with pytest.raises(ValueError, match="x_prob"):
        interp(w, cp, dp, xp, bl, cell_kind=CELL_CONSTANT, noise_std=0.0, mult_noise=True,
               seed=0)
    with pytest.raises(ValueError, match="unknown cell kind"):
        pulsed_update_torch(w, cp, xp, dp, bl, cell_kind=9, noise_std=0.0, mult_noise=True)


# --------------------------------------------------------------------------------------
# the twin's new cells against the formulas written out (aihwkit's update functors)


def test_exp_step_formula():
    a_up, a_down, g_up, g_down, a, b = EXP_DEFAULT
    w = torch.tensor([[-0.5, -0.1, 0.0, 0.2, 0.45]])
    cp = torch.zeros(4, 1, 5)
    cp[0], cp[1], cp[2], cp[3] = 0.01, 0.02, 0.5, -0.6
    for up in (True, False):
        got = single_pulse_torch(w, torch.full_like(w, up, dtype=torch.bool), cp,
                                 cell_kind=CELL_EXP, noise_std=0.0, mult_noise=True, xi=None,
                                 cell_scalars=EXP_DEFAULT)
        for i, wi in enumerate(w[0].tolist()):
            z = 2 * a * wi / (0.5 + 0.6) + b
            if up:
                new = wi + 0.01 * max(1 - a_up * math.exp(g_up * z), 0)
            else:
                new = wi - 0.02 * max(1 - a_down * math.exp(-g_down * z), 0)
            assert got[0, i].item() == pytest.approx(min(max(new, -0.6), 0.5), abs=1e-7)


def test_pow_step_formula():
    w = torch.tensor([[-0.6, -0.1, 0.0, 0.3, 0.5]])
    cp = torch.zeros(8, 1, 5)
    cp[0], cp[1], cp[2], cp[3], cp[6], cp[7] = 0.01, 0.02, 0.5, -0.6, 1.7, 0.6
    for up in (True, False):
        got = single_pulse_torch(w, torch.full_like(w, up, dtype=torch.bool), cp,
                                 cell_kind=CELL_POW, noise_std=0.0, mult_noise=True, xi=None)
        for i, wi in enumerate(w[0].tolist()):
            if up:
                new = wi + 0.01 * (max(0.5 - wi, 0.0) / 1.1) ** 1.7
            else:
                new = wi - 0.02 * (max(wi + 0.6, 0.0) / 1.1) ** 0.6
            assert got[0, i].item() == pytest.approx(min(max(new, -0.6), 0.5), abs=1e-7)


def test_noisy_constant_steps_into_a_bound_stay_at_it(interp):
    """The Triton kernel (interpreted): an element at its bound pushed further, noise on,
    stays there. Constant steps only: their closed form is the kernel's own code, the other
    cells step through ``_pulse`` pulse by pulse (held to the twin by the exact tests; all
    cells on the twin and numba: ``test_kernel_pulsed_update_cpu``)."""
    def launch(w, cp, xp, dp, bl, seed, **kw):
        return interp(w, cp, xp, dp, bl, cell_kind=CELL_CONSTANT, noise_std=0.2,
                      mult_noise=True, seed=seed, **kw)

    run_pushed_into_the_bound(launch, CELLS[0], rows=4)


def test_constant_closed_form_is_clipped_steps_one_by_one():
    """The twin's closed form for noise-free constant steps (used by the kernel too) ends
    where the clipped single pulses end, also from outside the bounds."""
    from xbrun.kernels.pulsed_update_ref import constant_train

    gen = torch.Generator().manual_seed(8)
    cp = make_cell(CELL_CONSTANT, 6, 50, gen, step=0.07, bound=0.3)
    w0 = (torch.rand(6, 50, generator=gen) - 0.5) * 1.2  # some start outside the bounds
    up = torch.rand(6, 50, generator=gen) < 0.5
    counts = torch.randint(0, 12, (6, 50), generator=gen).float()
    w = w0.clone()
    for p in range(12):
        stepped = single_pulse_torch(w, up, cp, cell_kind=CELL_CONSTANT, noise_std=0.0,
                                     mult_noise=True, xi=None)
        w = torch.where(counts > p, stepped, w)
    torch.testing.assert_close(constant_train(w0, up, counts, cp), w, atol=1e-6, rtol=0)


def test_soft_bounds_rows_reach_zero_step_at_the_bounds():
    cp = torch.zeros(6, 1, 2)
    cp[0], cp[1], cp[2], cp[3] = 0.01, 0.01, 0.4, -0.5
    cp[4], cp[5] = 1 / cp[2], 1 / cp[3]
    w = torch.tensor([[0.4, -0.5]])
    up = torch.tensor([[True, False]])
    got = single_pulse_torch(w, up, cp, cell_kind=CELL_LINEAR, noise_std=0.0,
                             mult_noise=True, xi=None)
    assert torch.equal(got, w)


def run_blocks_do_not_change_draws(launch, device, m, n, blocks):
    """The line bits are drawn once per line, so the launch shape does not change them:
    the same seed gives the same weights and pulse count under any blocks."""
    gen = torch.Generator().manual_seed(9)
    cp = make_cell(CELL_CONSTANT, m, n, gen, degenerate=False).to(device)
    w0 = start_weight(cp.cpu(), gen).to(device)
    xp, dp = signed_probs(5, n, gen).to(device), signed_probs(5, m, gen).to(device)
    bl = torch.tensor([31, 7, 40, 0, 31], device=device)
    out = []
    for shape in blocks:
        w = w0.clone()
        extra = {} if shape is None else dict(block_m=shape[0], block_n=shape[1])
        c = launch(w, cp, xp, dp, bl, cell_kind=CELL_CONSTANT, noise_std=0.0,
                   mult_noise=True, seed=21, **extra)
        out.append((w, int(c)))
    assert out[0][1] > 0 and (out[0][0] != w0).any()
    for w, c in out[1:]:
        assert c == out[0][1]
        torch.testing.assert_close(w, out[0][0], atol=0, rtol=0)


def test_blocks_do_not_change_draws(interp):
    run_blocks_do_not_change_draws(interp, "cpu", 6, 10, [ONE_BLOCK, (2, 4), (4, 2)])


@pytest.fixture(scope="module")
def interp_prep():
    return triton_function("pulsed_update_cuda", "line_probabilities_triton", True)


@pytest.mark.parametrize("lr", [0.0, 0.01, 0.1, 3.0])
@pytest.mark.parametrize("res", [0.0, 0.013])
def test_line_probabilities_match_the_twin(interp_prep, lr, res):
    # 10 rows (one interpreted program each) keep the rows without an update (3, 5) and
    # the lines without a pulse (7); the numba twin of this test runs the full 40
    x, d = prep_rows(k=10)
    run_line_probabilities(interp_prep, x, d, lr, res)


def test_line_probabilities_long_rows_and_strides(interp_prep):
    """Rows longer than one block (1024) and transposed (strided) inputs."""
    x, d = prep_rows(k=8, n_in=1500, n_out=20)
    run_line_probabilities(interp_prep, x.T.contiguous().T, d, 0.1, 0.0)


def test_line_probabilities_row_blocks_equal_one_row_a_program(monkeypatch):
    """The row-block kernel (several programs, a partial last block) gives the one-row
    kernel's numbers bit for bit (BL and update management on, then both off), for a 2 x 2
    grid of tiles with their own signs and strided counters."""
    from pulse_cases import PREP_MODES, prep_rows

    lines = triton_function("pulsed_update_cuda", "line_probabilities_grouped_triton", True)
    x, d = prep_rows(k=9, n_in=24, n_out=14)
    gen = torch.Generator().manual_seed(5)
    signs = [torch.where(torch.rand(4, n, generator=gen) < 0.5, -1.0, 1.0) for n in (12, 7)]
    for ubm, um, fixed, scale in (PREP_MODES[0], PREP_MODES[-1]):
        got = []
        for row_blocks in (False, True):
            monkeypatch.setitem(lines.__globals__, "ROW_MIN_ROWS", 1 if row_blocks else 1 << 30)
            monkeypatch.setitem(lines.__globals__, "ROW_ELEMENTS", 64)
            ledger = torch.zeros(4, 3, dtype=torch.int64)
            out = lines(x.T.contiguous().T, d, 2, 12, 7, 0.1, 1e-3, desired_bl=31,
                        fixed_bl=fixed, update_management=um, update_bl_management=ubm,
                        um_grad_scale=scale, res=0.013, x_sign=signs[0], d_sign=signs[1],
                        slots=ledger[:, 0], calls=ledger[:, 1], rows=ledger[:, 2])
            got.append((*out, ledger))
        assert all(torch.equal(a, b) for a, b in zip(*got, strict=True))
        assert int(got[1][3][:, 0].sum()) > 0



def test_interpreted_line_probabilities_in_row_blocks_only_from_row_min_rows(monkeypatch):
    """The row-block line probabilities serve a call of ``ROW_MIN_ROWS`` rows or more, the
    one-row kernel a call of fewer (as the MVM's row blocks: slower at the bench MLP's
    32-256 rows on an H200, faster at a convolution's im2col rows)."""
    from pulse_cases import prep_rows

    lines = triton_function("pulsed_update_cuda", "line_probabilities_grouped_triton", True)
    module = lines.__globals__
    kernel, used = module["_line_probabilities_rows_kernel"], []

    class Spy:  # records a launch of the row-block kernel, then launches it
        def __getitem__(self, grid):
            used.append(grid)
            return kernel[grid]
    monkeypatch.setitem(module, "_line_probabilities_rows_kernel", Spy())
    monkeypatch.setitem(module, "ROW_ELEMENTS", 64)
    x, d = prep_rows(k=9, n_in=24, n_out=14)
    got = []
    for min_rows in (10, 9):
        monkeypatch.setitem(module, "ROW_MIN_ROWS", min_rows)
        got.append(lines(x, d, 2, 12, 7, 0.1, 1e-3, desired_bl=31, fixed_bl=False,
                         update_management=True, update_bl_management=True,
                         um_grad_scale=1.0, res=0.013))
        assert len(used) == (min_rows == 9)
    assert all(torch.equal(a, b) for a, b in zip(*got, strict=True))


def test_line_probabilities_refuse_stochastic_rounding(interp_prep):
    x, d = prep_rows(k=8)
    with pytest.raises(ValueError, match="stochastic rounding"):
        interp_prep(x, d, 0.1, 1e-3, desired_bl=31, fixed_bl=True, update_management=True,
                    update_bl_management=True, um_grad_scale=1.0, res=0.01, sto_round=True)


# --------------------------------------------------------------------------------------
# GPU: the compiled kernel at layer sizes (run with -m gpu on the device machine)

gpu = pytest.mark.gpu
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture
def compiled(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    return _load_launcher(interpret=False)


@gpu
@needs_cuda
@pytest.mark.parametrize("columns", [True, False], ids=["columns", "rows"])
def test_gpu_one_hot_lines_kernel_is_the_block_kernel(compiled, columns):
    run_one_hot_lines(compiled, 256, 784, 64, columns, 31, "cuda")
    run_one_hot_lines(compiled, 128, 256, 100, columns, 40, "cuda")


@pytest.mark.gpu
@pytest.mark.parametrize("columns", [True, False], ids=["columns", "rows"])
def test_gpu_one_hot_passes_split_are_the_one_kernel(columns):
    """A chopped conv tile's transfer write (16 x 27, 4,096 rows: 152 passes of 27 columns,
    256 of 16 rows), noise on."""
    launch = triton_function("pulsed_update_cuda", "pulsed_update_triton", False)
    run_split_passes(launch, 16, 27, 4096, columns, 0.3, "cuda")


@pytest.mark.gpu
def test_gpu_one_hot_columns_wide_are_the_one_kernel():
    """A chopped transfer's write into 4096-wide layers' tiles, medium: 200 x 300 (3
    passes of 300 columns, and a part; trains of two chunks), the module's blocks."""
    launch = triton_function("pulsed_update_cuda", "pulsed_update_triton", False)
    run_wide_lines(launch.__globals__, 200, 300, 700, 0.3, 40, "cuda")


@gpu
@needs_cuda
@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_gpu_exact_given_trains(compiled, cell):
    # FMA contraction and fast exp/log2 on the GPU: a few ulp per pulse, ~1000 pulses
    err = run_exact(compiled, cell, 256, 784, 32, [31] * 30 + [0, 45], "cuda", atol=2e-5)
    print(f"{cell[0]}: max |kernel - twin| = {err:.2e}")


@gpu
@needs_cuda
@pytest.mark.parametrize("noise", [0.0, 0.3], ids=["quiet", "noisy"])
@pytest.mark.parametrize("cell", CELLS, ids=CELL_IDS)
def test_gpu_drawn_trains_in_distribution(compiled, cell, noise):
    prob = replicated_problem(cell, 4, 8, 32, [31] * 32, reps=64, device="cuda", noise=noise)
    a, counts = sample_kernel(compiled, prob, range(16))
    b = sample_reference(prob, range(16))
    assert_same_distribution(a, b, what=cell[0])
    check_pulse_total(prob, counts)


@gpu
@needs_cuda
def test_gpu_pulse_total_at_layer_size(compiled):
    gen = torch.Generator().manual_seed(4)
    m, n, k = 256, 784, 32
    cp = make_cell(CELL_CONSTANT, m, n, gen, degenerate=False).cuda()
    xp = signed_probs(k, n, gen, 0.0, 0.6).cuda()
    dp = signed_probs(k, m, gen, 0.0, 0.6).cuda()
    bl = torch.full((k,), 31, device="cuda")
    prob = dict(xp=xp, dp=dp, bl=bl)
    counts = []
    for s in range(8):
        w = torch.zeros(m, n, device="cuda")
        counts.append(int(compiled(w, cp, xp, dp, bl, cell_kind=CELL_CONSTANT, noise_std=0.0,
                                   mult_noise=True, seed=s)))
    check_pulse_total(prob, counts)


@gpu
@needs_cuda
@pytest.mark.parametrize("cell", INTO_BOUND_CELLS, ids=[c[0] for c in INTO_BOUND_CELLS])
def test_gpu_noisy_pulses_into_a_bound_stay_at_it(compiled, cell):
    """Compiled Triton: an element at its bound pushed further, noise on, stays there."""
    _, kind, mult, scalars = cell

    def launch(w, cp, xp, dp, bl, seed, **kw):
        return compiled(w, cp, xp, dp, bl, cell_kind=kind, noise_std=0.2, mult_noise=mult,
                        cell_scalars=scalars, seed=seed, **kw)

    run_pushed_into_the_bound(launch, cell, device="cuda", rows=40)


@gpu
@needs_cuda
def test_gpu_coincidence_structure(compiled):
    run_every_slot(compiled, "cuda", 256, 784)
    run_single_line(compiled, "cuda", 256, 784, blocks=(32, 64))
    run_shared_lines(compiled, "cuda", 256, 784, blocks=(32, 64))


@gpu
@needs_cuda
def test_gpu_dispatch_uses_the_kernel(compiled):
    gen = torch.Generator(device="cuda").manual_seed(0)
    w = torch.zeros(64, 96, device="cuda")
    cp = make_cell(CELL_CONSTANT, 64, 96, torch.Generator().manual_seed(0)).cuda()
    xp = torch.full((2, 96), 0.5, device="cuda")
    dp = torch.full((2, 64), 0.5, device="cuda")
    c = loose(kernels.pulsed_update)(w, cp, xp, dp, torch.tensor([31, 31], device="cuda"),
                                     cell_kind=CELL_CONSTANT, noise_std=0.1,
                                     mult_noise=True, generator=gen)
    assert c.is_cuda and int(c) > 0


@gpu
@needs_cuda
def test_gpu_blocks_do_not_change_draws(compiled):
    run_blocks_do_not_change_draws(compiled, "cuda", 256, 784, [None, (32, 64), (16, 32)])


@gpu
@needs_cuda
@pytest.mark.parametrize("lr", [0.01, 0.1, 3.0])
@pytest.mark.parametrize("res", [0.0, 0.013])
def test_gpu_line_probabilities_match_the_twin(lr, res):
    launch = triton_function("pulsed_update_cuda", "line_probabilities_triton", False)
    x, d = prep_rows(k=64, n_in=784, n_out=256, device="cuda")
    run_line_probabilities(launch, x, d, lr, res)


# --------------------------------------------------------------------------------------
# the kernel's normals (a per-element hash, not Philox): standard and independent

_INTERPRET = not torch.cuda.is_available()
_normals4 = triton_function("pulsed_update_cuda", "_normals4", _INTERPRET)


@triton.jit
def _normals_probe(out_ptr, seed, n, GROUPS: tl.constexpr, BLOCK: tl.constexpr,
                   NATIVE: tl.constexpr):
    elem = tl.arange(0, BLOCK)
    for g in range(GROUPS):
        a, b, c, d = _normals4(seed, elem, g, 3, NATIVE)
        tl.store(out_ptr + (4 * g + 0) * n + elem, a)
        tl.store(out_ptr + (4 * g + 1) * n + elem, b)
        tl.store(out_ptr + (4 * g + 2) * n + elem, c)
        tl.store(out_ptr + (4 * g + 3) * n + elem, d)


def test_update_normals_are_standard_and_independent():
    n, groups = 4096, 8
    device = "cpu" if _INTERPRET else "cuda"
    out = torch.empty(4 * groups, n, device=device)
    _normals_probe[(1,)](out, 1234, n, GROUPS=groups, BLOCK=n, NATIVE=not _INTERPRET)
    z = out.double().cpu()
    tol = 5.0 / math.sqrt(z.numel())
    assert abs(z.mean()) < tol
    assert abs(z.var() - 1.0) < 5.0 * math.sqrt(2.0 / z.numel())
    assert abs((z.abs() > 1.959964).double().mean() - 0.05) < 5.0 * math.sqrt(0.05 * 0.95
                                                                             / z.numel())
    # draws of one element (four outputs, eight groups) and of neighbouring elements
    corr = torch.corrcoef(z)
    off = corr - torch.eye(len(z), dtype=corr.dtype)
    assert off.abs().max() < 5.0 / math.sqrt(n)
    assert abs(torch.corrcoef(torch.stack([z[:, :-1].reshape(-1), z[:, 1:].reshape(-1)]))[0, 1]
               ) < tol
    # another seed gives other numbers
    other = torch.empty_like(out)
    _normals_probe[(1,)](other, 1235, n, GROUPS=groups, BLOCK=n, NATIVE=not _INTERPRET)
    assert abs(torch.corrcoef(torch.stack([out.reshape(-1), other.reshape(-1)]).double().cpu()
                              )[0, 1]) < tol


@gpu
@needs_cuda
@pytest.mark.parametrize("cell", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("columns", [True, False], ids=["columns", "rows"])
def test_gpu_sparse_rows_change_nothing_but_the_work(compiled, columns, cell):
    _, (dense, _), (sparse, _) = sparse_and_dense(compiled, cell, 256, 512, 128, columns,
                                                  "cuda")
    # two compiled variants: the same arithmetic, up to the compiler's FMA choices
    torch.testing.assert_close(dense, sparse, atol=1e-6, rtol=0)


@gpu
@needs_cuda
@pytest.mark.parametrize("max_bl", [31, 40], ids=["sign_bit", "two_words"])
def test_gpu_listed_rows_are_the_block_kernel(monkeypatch, max_bl):
    """Compiled, at layer size (a group of two 512 x 512 tiles, 64 sparse rows): the
    listed-rows kernel gives the block kernel's pulses and wear exactly and its weights up
    to the compiler's FMA choices (two compiled variants of the same arithmetic)."""
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    launch = triton_function("pulsed_update_cuda", "pulsed_update_triton", False)
    (w, n, worn), (w_ref, n_ref, worn_ref) = listed_and_blocks(
        launch, listed_problem(512, 512, 64, max_bl, "cuda", tiles=2),
        torch.tensor([3, 4], device="cuda"))
    assert torch.equal(n, n_ref) and torch.equal(worn, worn_ref)
    torch.testing.assert_close(w, w_ref, atol=1e-6, rtol=0)


@gpu
@needs_cuda
def test_gpu_sparse_rows_noise_in_distribution(compiled):
    prob = replicated_problem(CELLS[0], 4, 8, 32, [31] * 32, reps=64, device="cuda", noise=0.3,
                              given=True)
    a, _ = sample_kernel(functools.partial(compiled, sparse_rows=True), prob, range(16))
    b = sample_reference(prob, range(16))
    assert_same_distribution(a, b, what="sparse rows", pooled=True)


@pytest.mark.parametrize("cell_name", ["constant", "soft_bounds"])
def test_interpreted_group_is_each_tile_with_its_own_seed(cell_name):
    """Three tiles in the two launches of one: each tile updated as its own call with its
    own seed (an array's keyed seed) updates it (closed form and pulse loop, noise on, wear
    counted)."""
    from xbrun.kernels.pulsed_update_cpu import pulsed_update_grouped_numba, pulsed_update_numba

    from xbrun.physics.cells import ConstantStep, SoftBounds

    one = triton_function("pulsed_update_cuda", "pulsed_update_triton", True)
    group = triton_function("pulsed_update_cuda", "pulsed_update_grouped_triton", True)
    cell = (ConstantStep if cell_name == "constant" else SoftBounds)(dw_min=0.01, dw_min_std=0.3)
    gen = torch.Generator().manual_seed(3)
    params = torch.stack([cell.sample((5, 6), gen) for _ in range(3)])
    start = 0.1 * torch.randn(3, 5, 6, generator=gen)
    x_prob = torch.rand(3, 4, 6, generator=gen) - 0.5
    d_prob = torch.rand(3, 4, 5, generator=gen) - 0.5
    bl = torch.randint(1, 9, (3, 4), generator=gen, dtype=torch.int32)
    p = kernels.UpdateParams(kernels.CellParams(cell.kernel_kind, float(cell.noise_std),
                                                bool(cell.mult_noise), tuple(cell.cell_scalars)),
                             8)
    calls = torch.tensor([31, 32, 2**33 + 3])  # the arrays' call counters, their offsets
    offsets = torch.tensor([kernels.seeds.array_seed_offset(b, 99 + b) for b in range(3)])
    seeds = kernels.seeds.array_device_seeds(calls, offsets)
    weights, worn = start.clone(), torch.zeros(3, 5, 6, dtype=torch.int32)
    pulses = group(weights, params, x_prob, d_prob, bl, p, seeds=seeds, cell_pulses=worn)
    for g in (0, 2):  # each tile's own call, its seed keyed in the kernel
        w, c = start[g].clone(), torch.zeros(5, 6, dtype=torch.int32)
        key = kernels.seeds.array_device_seed(calls[g:g + 1], g, 99 + g)
        n = one(w, params[g], x_prob[g], d_prob[g], bl[g], p, seed=key, cell_pulses=c)
        assert int(n) == int(pulses[g]) > 0
        assert torch.equal(w, weights[g]) and torch.equal(c, worn[g])
    fast = start.clone()
    got = pulsed_update_grouped_numba(fast, params, x_prob, d_prob, bl, p, seeds=[5, 6, 7])
    w = start[1].clone()
    assert int(pulsed_update_numba(w, params[1], x_prob[1], d_prob[1], bl[1], p, seed=6)) \
        == int(got[1])
    assert torch.equal(w, fast[1])


@gpu
@needs_cuda
def test_gpu_line_probabilities_row_blocks_equal_one_row_a_program(monkeypatch):
    """Compiled, at a convolution's shape (4,000 rows of 144 and 16 lines): the row-block
    kernel gives the one-row kernel's numbers and counters bit for bit."""
    launch = triton_function("pulsed_update_cuda", "line_probabilities_triton", False)
    from pulse_cases import prep_rows

    x, d = prep_rows(k=4000, n_in=144, n_out=16, device="cuda")
    got = []
    for row_blocks in (False, True):
        monkeypatch.setitem(launch.__globals__, "ROW_MIN_ROWS", 1 if row_blocks else 1 << 30)
        slots = torch.zeros(1, dtype=torch.int64, device="cuda")
        out = launch(x, d, 0.1, 1e-3, desired_bl=31, fixed_bl=False, update_management=True,
                     update_bl_management=True, um_grad_scale=1.0, res=0.0, slots=slots)
        got.append((*out, slots))
    assert all(torch.equal(a, b) for a, b in zip(*got, strict=True))
