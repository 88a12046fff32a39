"""Mixed precision's digital step for a grid of tiles in one launch (``kernels/chi_steps_*``,
``grouped.TileGroup._mixed_update``): the kernel against its twin bit for bit, the twin against the
device's own steps (``MixedPrecision.update``'s arithmetic, tile by tile); and its write's
lines without pulses skipped (``pulsed_update_cuda.SKIP_IDLE_LINES``) as written."""

import pytest
import torch
from pulse_cases import make_cell, signed_probs, start_weight
from triton_modules import triton_function
from xbrun.kernels import CELL_CONSTANT, chi_steps_torch

from xbrun import kernels

SHAPES = [(2, 3, 5, 7), (1, 2, 4, 40), (3, 1, 6, 3)]  # grid rows, grid columns, tile shape


def _problem(n_rows, n_cols, rows, cols, seed=0):
    gen = torch.Generator().manual_seed(seed)
    chi = torch.randn(n_rows * n_cols, rows, cols, generator=gen) * 0.05
    inc = torch.randn(n_rows * rows, n_cols * cols, generator=gen)
    start = torch.randint(0, rows, (n_rows * n_cols,), generator=gen)
    return chi, inc, start


@pytest.mark.parametrize("shape", SHAPES)
def test_interpreted_chi_steps_is_the_twin(shape):
    """Interpreted: chi after the step and the written amounts (in each tile's run order,
    from its own first line) equal the twin's bit for bit, with and without a write."""
    launch = triton_function("chi_steps_cuda", "chi_steps_triton", interpret=True)
    chi, inc, start = _problem(*shape)
    for write in (start, None):
        got, want = chi.clone(), chi.clone()
        amounts = launch(got, inc, shape[1], 0.013, 0.01, write)
        expected = chi_steps_torch(want, inc, shape[1], 0.013, 0.01, write)
        assert torch.equal(got, want)
        if write is None:
            assert amounts is None and expected is None
        else:
            assert torch.equal(amounts, expected) and (expected != 0).any()


def test_chi_steps_twin_is_the_devices_steps():
    """The twin is what ``MixedPrecision`` does tile by tile: chi plus ``lr`` times its own
    block of ``d^T x``, the whole steps taken out, the amounts ``-steps`` of the run's lines
    from ``start`` (wrapping). Bit for bit on values whose products and sums are exact (a
    block's matmul and the layer's, ``addmm``'s epilogue and the twin's multiply, round
    apart otherwise: in the last bit, the stream of a GPU training then differs)."""
    n_rows, n_cols, rows, cols = 2, 3, 5, 4
    gen = torch.Generator().manual_seed(3)
    d = torch.randint(-8, 9, (6, n_rows * rows), generator=gen) / 16
    x = torch.randint(-8, 9, (6, n_cols * cols), generator=gen) / 8
    chi = torch.randint(-64, 65, (n_rows * n_cols, rows, cols), generator=gen) / 1024
    start = torch.tensor([0, 2, 4, 1, 3, 0])
    got = chi.clone()
    amounts = chi_steps_torch(got, d.T @ x, n_cols, 0.25, 0.01, start)
    for g in range(n_rows * n_cols):
        r, c = divmod(g, n_cols)
        own = chi[g].clone().addmm_(d[:, r * rows:(r + 1) * rows].T,
                                    x[:, c * cols:(c + 1) * cols], alpha=0.25)
        order = (start[g] + torch.arange(rows)) % rows
        steps = torch.trunc(own[order] / 0.01)
        own[order] -= steps * 0.01
        assert torch.equal(amounts[g], -steps) and torch.equal(got[g], own)


def test_chi_steps_refuses_another_grid():
    with pytest.raises(ValueError, match="grid"):
        chi_steps_torch(torch.zeros(4, 2, 3), torch.zeros(4, 6), 3, 0.1, 0.01)


@pytest.mark.gpu
def test_gpu_chi_steps_is_the_twin():
    """Compiled, at the 4096-wide grid's shape (8 x 8 tiles of 512) and the 784-wide one's
    (8 x 2 of 512 x 392): the launch equals the twin bit for bit (IEEE division, no fused
    multiply-adds)."""
    launch = triton_function("chi_steps_cuda", "chi_steps_triton", interpret=False)
    for shape in ((8, 8, 512, 512), (8, 2, 512, 392)):
        chi, inc, start = (t.cuda() for t in _problem(*shape))
        got, want = chi.clone(), chi.clone()
        amounts = launch(got, inc, shape[1], 0.013, 0.01, start)
        assert torch.equal(amounts, chi_steps_torch(want, inc, shape[1], 0.013, 0.01, start))
        assert torch.equal(got, want)


def run_idle_lines(module, m, n, k, noise, device):
    """A group of two tiles' one-hot row writes (``transfer_lines_grouped``'s launch), most
    trains empty (a tile's every line in one pass, one line busy in another), with
    ``SKIP_IDLE_LINES`` off then on: weights, counts and wear."""
    gen = torch.Generator().manual_seed(5)
    tiles, start, max_bl = 2, 1, 9
    cp = torch.stack([make_cell(CELL_CONSTANT, m, n, gen) for _ in range(tiles)])
    w0 = torch.stack([start_weight(c, gen) for c in cp])
    xp = torch.stack([signed_probs(k, n, gen) for _ in range(tiles)])
    dp = torch.zeros(tiles, k, m)
    dp[:, torch.arange(k), (start + torch.arange(k)) % m] = 0.9
    lengths = torch.randint(1, max_bl + 1, (tiles, k), generator=gen, dtype=torch.int32)
    lengths[0] = 0  # tile 0: no pulse at all
    lengths[1, ::2] = 0  # tile 1: every other row (line) idle, some lines idle every pass
    cp, w0, xp, dp, lengths = (t.to(device) for t in (cp, w0, xp, dp, lengths))
    calls, offsets = torch.tensor([3, 5], device=device), torch.tensor([11, 13], device=device)
    saved = module["SKIP_IDLE_LINES"]
    out = []
    try:
        for skip in (False, True):
            module["SKIP_IDLE_LINES"] = skip
            w, cells = w0.clone(), torch.zeros(tiles, m, n, dtype=torch.int32, device=device)
            c = torch.zeros(tiles, dtype=torch.int64, device=device)
            module["_one_hot_lines"](
                w, cp, xp, dp, lengths, c, calls, 0, cells,
                (torch.full((tiles,), start, device=device), False), k=k, n_chunks=1,
                max_len=31, noise_std=noise, seed_mode=module["SEED_KEYED"], offsets=offsets)
            out.append((w, c, cells))
    finally:
        module["SKIP_IDLE_LINES"] = saved
    (w, c, cells), (w_s, c_s, cells_s) = out
    assert torch.equal(w_s, w) and torch.equal(c_s, c) and torch.equal(cells_s, cells)
    assert int(c[0]) == 0 and torch.equal(w[0], w0[0]) and int(c[1]) > 0
    assert (w[1] != w0[1]).any()


def test_interpreted_idle_lines_skipped_as_written():
    """Interpreted: ``SKIP_IDLE_LINES`` leaves weights, pulse counts and wear bit for bit
    as the full walk of the lines (4 rows on 3 lines: a line twice, noise on)."""
    launch = triton_function("pulsed_update_cuda", "pulsed_update_triton", True)
    run_idle_lines(launch.__globals__, 3, 4, 4, 0.3, "cpu")


@pytest.mark.gpu
def test_gpu_idle_lines_skipped_as_written():
    """Compiled, at a 4096-wide grid's tile (512 x 512, every row once) and with passes."""
    launch = triton_function("pulsed_update_cuda", "pulsed_update_triton", False)
    run_idle_lines(launch.__globals__, 512, 512, 512, 0.0, "cuda")
    run_idle_lines(launch.__globals__, 8, 40, 20, 0.3, "cuda")


def run_chi_write(chi_write, chi_steps, lines_grouped, shape, device, skip=False):
    """The fused chi step and trains (``chi_write_triton``) against ``chi_steps_triton``
    then ``transfer_lines_grouped_triton`` on its amounts: chi, weights, pulse counts,
    wear, train slots and call counters; ``skip``: with ``SKIP_IDLE_LINES`` (then the
    fused kernel leaves idle lines' probabilities unstored)."""
    from xbrun.kernels import pulsed_update_cuda  # (the write kernels' module, as loaded)

    saved = pulsed_update_cuda.SKIP_IDLE_LINES
    pulsed_update_cuda.SKIP_IDLE_LINES = skip
    try:
        out = _chi_write_pair(chi_write, chi_steps, lines_grouped, shape, device)
    finally:
        pulsed_update_cuda.SKIP_IDLE_LINES = saved
    for name, a, b in zip(("chi", "weights", "pulses", "slots", "calls", "wear"), *out,
                          strict=True):
        assert torch.equal(a, b), name
    assert int(out[0][2].min()) > 0 and (out[0][5] == 0).any()


def _chi_write_pair(chi_write, chi_steps, lines_grouped, shape, device):
    n_rows, n_cols, rows, cols = shape
    tiles = n_rows * n_cols
    gen = torch.Generator().manual_seed(2)
    chi, inc, start = _problem(*shape, seed=4)
    chi = chi * 0.3  # some lines without a whole step
    cp = torch.stack([make_cell(CELL_CONSTANT, rows, cols, gen) for _ in range(tiles)])
    w0 = torch.stack([start_weight(c, gen) for c in cp])
    p = kernels.TransferWriteParams(False, 0.01, 0.01, 31, False, True, True, 1.0)
    cell = kernels.CellParams(CELL_CONSTANT, 0.3, True, ())
    out = []
    for fused in (False, True):
        state = [t.clone().to(device) for t in (chi, w0)]
        ints = dict(dtype=torch.int64, device=device)
        add_to, slots = torch.zeros(tiles, **ints), torch.zeros(tiles, 3, **ints)[:, 0]
        calls = torch.arange(tiles, **ints) * 7
        cells = torch.zeros(tiles, rows, cols, dtype=torch.int32, device=device)
        key = kernels.seeds.KeyedSeed(calls, torch.arange(tiles, **ints) + 11)
        args = dict(key=key, max_bl=31, add_to=add_to, train_slots=slots, cell_pulses=cells)
        inc_d, start_d, cp_d = inc.to(device), start.to(device), cp.to(device)
        if fused:
            chi_write(state[0], inc_d, n_cols, 0.07, 0.01, start_d, state[1], cp_d, p, cell,
                      calls=calls, **args)
        else:
            amounts = chi_steps(state[0], inc_d, n_cols, 0.07, 0.01, start_d)
            lines_grouped(state[1], cp_d, amounts, start_d, p, cell, calls=calls, **args)
        out.append((*state, add_to, slots, calls, cells))
    return out


@pytest.mark.parametrize("skip", [False, True], ids=["all_lines", "idle_skipped"])
def test_interpreted_chi_write_is_the_step_then_the_write(skip):
    """Interpreted, a 2 x 1 grid of 3 x 5 tiles, each from its own first line: bit for bit."""
    run_chi_write(triton_function("chi_steps_cuda", "chi_write_triton", True),
                  triton_function("chi_steps_cuda", "chi_steps_triton", True),
                  triton_function("transfer_write_cuda", "transfer_lines_grouped_triton", True),
                  (2, 1, 3, 5), "cpu", skip)


@pytest.mark.gpu
def test_gpu_chi_write_is_the_step_then_the_write():
    """Compiled, at the 784-wide grid's shape (8 x 2 tiles of 512 x 392)."""
    run_chi_write(triton_function("chi_steps_cuda", "chi_write_triton", False),
                  triton_function("chi_steps_cuda", "chi_steps_triton", False),
                  triton_function("transfer_write_cuda", "transfer_lines_grouped_triton",
                                  False), (8, 2, 512, 392), "cuda", skip=True)
