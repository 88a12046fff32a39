"""The wear ledger in the kernels: every update kernel adds each element's pulses to an
optional int32 counter (``cell_pulses``), exactly the pulses it applies.

Given trains (deterministic): the count of element (i, j) is the number of slots in which
both its lines fire, summed over the rows - the twin, numba and the interpreted Triton kernel
must all add exactly that, leave the weight as they do without counting, and add to what the
counter already holds. Drawn trains (line writes, a transfer's fused write): the counter adds
up to the returned total and lands on the written lines only.
"""

import pytest
import torch
from pulse_cases import (
    CELLS,
    loose,
    loose_lines,
    loose_transfer,
    loose_write,
    make_cell,
    signed_probs,
    start_weight,
)
from triton_modules import triton_function
from xbrun.kernels import line_write_torch, pulsed_update_torch

from xbrun import kernels

KINDS = [CELLS[0], CELLS[1], CELLS[5]]  # constant (closed form), linear, pow (one by one)


def _given_case(kind, m=6, n=9, k=4, max_bl=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    cp = make_cell(kind, m, n, gen)
    w0 = start_weight(cp, gen)
    xp, dp = signed_probs(k, n, gen), signed_probs(k, m, gen)
    bl = torch.tensor(([max_bl, 3, 0, 2] * k)[:k])
    x_bits = torch.rand(k, max_bl, n, generator=gen) < xp.abs()[:, None, :]
    d_bits = torch.rand(k, max_bl, m, generator=gen) < dp.abs()[:, None, :]
    x_bits[:, :, 0] = False  # a silent input line: a column of zero counts
    slots = torch.arange(max_bl)[None, :] < bl[:, None]  # (k, L): slots inside each train
    expected = torch.einsum("kt,kti,ktj->ij", slots.int(), d_bits.int(), x_bits.int())
    return cp, w0, xp, dp, bl, x_bits, d_bits, expected.to(torch.int32)


def _numba(*args, **kw):
    from xbrun.kernels.pulsed_update_cpu import pulsed_update_numba

    return loose(pulsed_update_numba)(*args, seed=3, **kw)


def _triton(*args, **kw):
    return loose(triton_function("pulsed_update_cuda", "pulsed_update_triton", True))(
        *args, seed=3, **kw)


@pytest.mark.parametrize("cell", KINDS, ids=[c[0] for c in KINDS])
@pytest.mark.parametrize("launch", ["twin", "numba", "triton"])
def test_update_counts_are_the_coincidences(cell, launch):
    _, kind, mult, scalars = cell
    cp, w0, xp, dp, bl, xb, db, expected = _given_case(kind)
    assert int(expected.sum()) > 0 and (expected == 0).any()
    run = {"twin": loose(pulsed_update_torch), "numba": _numba, "triton": _triton}[launch]
    args = dict(cell_kind=kind, noise_std=0.0, mult_noise=mult, x_bits=xb, d_bits=db,
                cell_scalars=scalars)
    plain, counted = w0.clone(), w0.clone()
    total = run(plain, cp, xp, dp, bl, **args)
    cells = torch.full(w0.shape, 7, dtype=torch.int32)  # adds to what it holds
    assert int(run(counted, cp, xp, dp, bl, cell_pulses=cells, **args)) == int(total)
    assert torch.equal(cells - 7, expected)
    assert int(expected.sum()) == int(total)
    assert torch.equal(counted, plain)  # counting changes no weight


@pytest.mark.parametrize("columns", [True, False])
@pytest.mark.parametrize("numba", [False, True])
def test_line_write_given_counts(columns, numba):
    _, kind, mult, scalars = CELLS[1]
    gen = torch.Generator().manual_seed(1)
    m, n = 5, 7
    cp = make_cell(kind, m, n, gen)
    w = start_weight(cp, gen)
    index = torch.tensor([4, 1] if columns else [3, 0])
    length = m if columns else n
    counts = torch.randint(0, 4, (2, length), generator=gen)
    probs = signed_probs(2, length, gen)
    cells = torch.zeros(m, n, dtype=torch.int32)
    args = dict(columns=columns, cell_kind=kind, noise_std=0.0, mult_noise=mult,
                cell_scalars=scalars, counts=counts, cell_pulses=cells)
    one, bl = torch.ones(2), torch.full((2,), 4)
    if numba:
        from xbrun.kernels.line_write_cpu import line_write_numba

        total = loose_lines(line_write_numba)(w, cp, index, one, probs, bl, seed=0, **args)
    else:
        total = loose_lines(line_write_torch)(w, cp, index, one, probs, bl, **args)
    expected = torch.zeros(m, n, dtype=torch.int32)
    if columns:
        expected[:, index] = counts.T.to(torch.int32)
    else:
        expected[index, :] = counts.to(torch.int32)
    assert torch.equal(cells, expected) and int(total) == int(counts.sum())


@pytest.mark.parametrize("fused", ["twin", "numba", "dispatch"])
def test_transfer_write_counts_its_pulses_on_its_lines(fused):
    _, kind, mult, scalars = CELLS[0]
    gen = torch.Generator().manual_seed(2)
    m, n = 6, 8
    cp = make_cell(kind, m, n, gen, degenerate=False)
    w = start_weight(cp, gen)
    reads = torch.randn(3, m, generator=gen) * torch.tensor([[0.2], [1.0], [3.0]])
    cells = torch.zeros(m, n, dtype=torch.int32)
    slots = torch.full((1,), 4, dtype=torch.int64)
    trains = dict(lr=0.1, granularity=0.06, desired_bl=10, long_train=False,
                  update_management=True, update_bl_management=True, um_grad_scale=1.0)
    options = dict(columns=True, cell_kind=kind, noise_std=0.0, mult_noise=mult,
                   cell_scalars=scalars, cell_pulses=cells, train_slots=slots, **trains)
    if fused == "twin":
        total = loose_transfer(kernels.transfer_lines_torch)(w, cp, reads, 2, generator=gen,
                                                             **options)
    elif fused == "numba":
        from xbrun.kernels.transfer_write_cpu import transfer_lines_numba

        total = loose_transfer(transfer_lines_numba)(w, cp, reads, 2, seed=5, **options)
    else:
        total = loose_transfer(kernels.transfer_lines)(w, cp, reads, 2, generator=gen, **options)
    assert int(total) > 0 and int(cells.sum()) == int(total)
    assert not cells[:, [0, 1, 5, 6, 7]].any()  # lines 2, 3, 4 only
    # the trains' lengths (BL management: each line its own) are added to train_slots
    _, _, bl = loose_write(kernels.transfer_write_torch)(reads, 2, n, columns=True, **trains)
    assert 4 < int(slots) == 4 + int(bl.sum()) and len(set(bl.tolist())) > 1


def test_bad_counter_refused():
    from xbrun.kernels.pulsed_update_cpu import cell_counter

    with pytest.raises(ValueError, match="int32"):
        cell_counter(torch.zeros(2, 3, dtype=torch.int64), (2, 3))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("sparse_rows", [False, True])
@pytest.mark.parametrize("cell", KINDS, ids=[c[0] for c in KINDS])
def test_gpu_compiled_counts_are_the_coincidences(cell, sparse_rows, monkeypatch):
    """The compiled kernel at a layer size: the counter is the coincidences, exactly."""
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    launch = loose(triton_function("pulsed_update_cuda", "pulsed_update_triton", False))
    _, kind, mult, scalars = cell
    cp, w0, xp, dp, bl, xb, db, expected = (
        t.cuda() for t in _given_case(kind, m=256, n=784, k=32, max_bl=31))
    cells = torch.zeros(256, 784, dtype=torch.int32, device="cuda")
    total = launch(w0.clone(), cp, xp, dp, bl, cell_kind=kind, noise_std=0.0,
                   mult_noise=mult, seed=1, x_bits=xb, d_bits=db, cell_scalars=scalars,
                   sparse_rows=sparse_rows, cell_pulses=cells)
    assert torch.equal(cells, expected) and int(total) == int(expected.sum())
