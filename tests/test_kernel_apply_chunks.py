"""A split one-hot write's passes composed in chunks (``pulsed_update_cuda.APPLY_CHUNKS``)
against its twin (``one_hot_passes_chunked_torch``: bit for bit, interpreted), against the
serial walk (``_one_hot_apply_kernel``; its twin ``one_hot_passes_torch``): the same pulses
and wear, the weights up to rounding, and bit for bit where the sums are exact (steps,
bounds and weights on a power-of-two grid, no noise). Interpreted on the CPU, compiled on a
GPU at the ResNet stem's shape (16 x 27 cells, 131,072 one-hot rows: 4,855 passes a column)."""

import pytest
import torch
from pulse_cases import make_cell, start_weight
from triton_modules import triton_function
from xbrun.kernels import CELL_CONSTANT
from xbrun.kernels.pulsed_update_ref import one_hot_passes_chunked_torch, one_hot_passes_torch


def _module(interpret: bool) -> dict:
    return triton_function("pulsed_update_cuda", "_apply_passes", interpret).__globals__


def passes_problem(m, n, k, columns, seed=3, grid=False):
    """A constant-step tile's cells, start weights (two outside the bounds, two on them) and
    the signed counts (``-4 .. 4``, 40 % zeros) and normals of ``k`` one-hot rows.
    ``grid``: steps, bounds and weights on a power-of-two grid (every sum exact)."""
    gen = torch.Generator().manual_seed(seed)
    cp = make_cell(CELL_CONSTANT, m, n, gen)
    w0 = start_weight(cp, gen)
    if grid:
        cp[0] = torch.randint(1, 5, (m, n), generator=gen) / 64.0
        cp[1] = torch.randint(1, 5, (m, n), generator=gen) / 64.0
        cp[2] = torch.randint(12, 20, (m, n), generator=gen) / 64.0
        cp[3] = -torch.randint(12, 20, (m, n), generator=gen) / 64.0
        w0 = torch.round(w0 * 1024.0) / 1024.0
    w0[0, 0], w0[-1, -1] = 0.6, -0.6  # outside their bounds
    length = m if columns else n
    signed = torch.randint(-4, 5, (k, length), generator=gen, dtype=torch.int32)
    signed[torch.rand(k, length, generator=gen) < 0.4] = 0
    return cp, w0, signed, torch.randn(k, length, generator=gen)


def run_apply(module, cp, w0, signed, normals, first, columns, noise, device, chunks,
              chunk=None, block=None):
    """``_apply_passes`` (``chunks``: ``APPLY_CHUNKS`` on, from 1 pass a line; ``chunk``
    passes a chunk; ``block`` elements a program) from ``w0``: ``(weights, pulses, wear)``."""
    k = signed.shape[0]
    m, n = w0.shape
    cp, w, signed, normals = (t.to(device) for t in (cp, w0.clone(), signed, normals))
    counter = torch.zeros((), dtype=torch.int64, device=device)
    cells = torch.zeros(m, n, dtype=torch.int32, device=device)
    start = torch.tensor(first, device=device) if columns else None
    args = (w, cp, counter, cells, counter if start is None else start, signed, normals,
            0 if columns else first, columns)
    opts = dict(k=k, noise_std=noise, on_device=start is not None,
                block=block or (16 if (m if columns else n) > 8 else 8), count_cells=True)
    saved = module["APPLY_CHUNKS"], module["APPLY_CHUNKS_MIN_PASSES"]
    try:
        module["APPLY_CHUNKS"], module["APPLY_CHUNKS_MIN_PASSES"] = chunks, 1
        if chunks and chunk is not None:
            module["_apply_chunked"](*args, **opts, chunk=chunk)
        else:
            module["_apply_passes"](*args, **opts)
    finally:
        module["APPLY_CHUNKS"], module["APPLY_CHUNKS_MIN_PASSES"] = saved
    return w.cpu(), int(counter), cells.cpu()


def run_twin(twin, cp, w0, signed, normals, first, columns, noise, **chunk):
    w, cells = w0.clone(), torch.zeros(w0.shape, dtype=torch.int32, device=w0.device)
    pulses = twin(w, cp, signed, normals, first, columns, **chunk, noise_std=noise,
                  cell_pulses=cells)
    return w.cpu(), pulses, cells.cpu()


def assert_same(a, b, atol=0.0):
    torch.testing.assert_close(a[0], b[0], rtol=0, atol=atol)
    assert a[1] == b[1] > 0 and torch.equal(a[2], b[2])


# 3 columns of 36-37 passes in chunks of 4 (10 chunks: two groups of the walk, the second
# short; lines of different pass counts; 5 elements in blocks of 8, or of 4: two programs a
# line), rows of 5 lines of 8 passes a chunk of 3
CASES = {"columns_noise": (5, 3, 3 * 36 + 1, True, 0.3, 4, 8),
         "columns_two_blocks": (5, 3, 3 * 36 + 2, True, 0.0, 4, 4),
         "rows_noise": (5, 4, 5 * 8, False, 0.3, 3, 8)}


@pytest.mark.parametrize("case", sorted(CASES))
def test_interpreted_chunked_apply_is_its_twin_and_near_the_walk(case):
    """The chunked kernels are their twin bit for bit; the serial kernel its twin bit for
    bit; the two walks the same pulses and wear, the weights within rounding; some weights
    reach their bounds and the two outside come in."""
    m, n, k, columns, noise, chunk, block = CASES[case]
    module = _module(True)
    cp, w0, signed, normals = passes_problem(m, n, k, columns)
    first = 2
    chunked = run_apply(module, cp, w0, signed, normals, first, columns, noise, "cpu", True,
                        chunk, block)
    serial = run_apply(module, cp, w0, signed, normals, first, columns, noise, "cpu", False,
                       block=block)
    assert_same(chunked, run_twin(one_hot_passes_chunked_torch, cp, w0, signed, normals,
                                  first, columns, noise, chunk=chunk))
    assert_same(serial, run_twin(one_hot_passes_torch, cp, w0, signed, normals, first,
                                 columns, noise))
    assert_same(chunked, serial, atol=2e-6)
    w = serial[0]
    assert ((w == cp[2]) | (w == cp[3])).sum() >= 2  # walked into the bounds
    assert (w[0, 0] <= cp[2, 0, 0]) and (w[-1, -1] >= cp[3, -1, -1])  # ... and in from outside
    assert (w != w0).float().mean() > 0.8


@pytest.mark.parametrize("columns", [True, False], ids=["columns", "rows"])
def test_interpreted_chunked_apply_exact_on_a_grid(columns):
    """Steps, bounds and weights on a power-of-two grid, no noise: every sum is exact, so
    the chunked walk is the serial one bit for bit (70-71 passes in chunks of 16)."""
    module = _module(True)
    m, n = (4, 3) if columns else (3, 4)
    width = n if columns else m
    cp, w0, signed, normals = passes_problem(m, n, width * 70 + 1, columns, seed=5,
                                             grid=True)
    chunked = run_apply(module, cp, w0, signed, normals, 1, columns, 0.0, "cpu", True, 16)
    serial = run_apply(module, cp, w0, signed, normals, 1, columns, 0.0, "cpu", False)
    assert_same(chunked, serial)
    assert ((serial[0] == cp[2]) | (serial[0] == cp[3])).any()


def test_chunked_apply_only_from_its_passes(monkeypatch):
    """``APPLY_CHUNKS`` takes lines of ``APPLY_CHUNKS_MIN_PASSES`` passes or more; fewer keep
    the serial walk (the kernels' twins tell them apart: a grid case would not)."""
    module = _module(True)
    cp, w0, signed, normals = passes_problem(5, 3, 3 * 10, True)
    calls = []
    monkeypatch.setitem(module, "_apply_chunked", lambda *a, **o: calls.append(o["k"]))
    monkeypatch.setitem(module, "APPLY_CHUNKS", True)
    for passes in (10, 11):
        monkeypatch.setitem(module, "APPLY_CHUNKS_MIN_PASSES", passes)
        counter = torch.zeros((), dtype=torch.int64)
        module["_apply_passes"](w0.clone(), cp, counter, counter, counter, signed, normals, 0,
                                True, k=30, noise_std=0.0, on_device=False, block=8,
                                count_cells=False)
    assert calls == [30]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("noise", [0.3, 0.0], ids=["noise", "no_noise"])
def test_chunked_apply_compiled(noise):
    """The ResNet stem's transfer write (16 x 27 cells, 131,072 rows one-hot on the columns:
    4,855 passes a column, 76 chunks), compiled: the chunked walk near the serial one (the
    same pulses and wear) and the twin on the GPU; on a power-of-two grid bit for bit."""
    module = _module(False)
    cp, w0, signed, normals = passes_problem(16, 27, 131072, True)
    chunked = run_apply(module, cp, w0, signed, normals, 5, True, noise, "cuda", True)
    serial = run_apply(module, cp, w0, signed, normals, 5, True, noise, "cuda", False)
    assert_same(chunked, serial, atol=1e-5)
    twin = run_twin(one_hot_passes_chunked_torch, *(t.cuda() for t in (cp, w0, signed,
                                                                      normals)),
                    5, True, noise, chunk=module["APPLY_CHUNK_PASSES"])
    assert_same(chunked, twin, atol=1e-5)
    cp, w0, signed, normals = passes_problem(16, 27, 131072, True, grid=True)
    assert_same(run_apply(module, cp, w0, signed, normals, 5, True, 0.0, "cuda", True),
                run_apply(module, cp, w0, signed, normals, 5, True, 0.0, "cuda", False))


def test_interpreted_split_write_with_chunked_apply(monkeypatch):
    """The whole one-hot write through ``pulsed_update_triton`` (its draws, then the passes:
    ``_one_hot_split``) with ``APPLY_CHUNKS`` on and off, 3 columns of 8-9 passes in
    one chunk of 64 (``APPLY_CHUNKS_MIN_PASSES`` lowered): the same pulses and wear, the
    weights within rounding."""
    from xbrun import kernels

    launch = triton_function("pulsed_update_cuda", "pulsed_update_triton", True)
    module = launch.__globals__
    monkeypatch.setitem(module, "SPLIT_MIN_PASSES", 2)
    monkeypatch.setitem(module, "APPLY_CHUNKS_MIN_PASSES", 1)
    gen = torch.Generator().manual_seed(8)
    m, n, k = 4, 3, 3 * 8 + 2
    cp = make_cell(CELL_CONSTANT, m, n, gen)
    w0 = start_weight(cp, gen)
    xp = torch.zeros(k, n)
    xp[torch.arange(k), (1 + torch.arange(k)) % n] = 0.9
    dp = (0.2 + 0.8 * torch.rand(k, m, generator=gen)) * torch.where(
        torch.rand(k, m, generator=gen) < 0.5, -1.0, 1.0)
    bl = torch.randint(0, 10, (k,), generator=gen, dtype=torch.int32)
    p = kernels.UpdateParams(kernels.CellParams(CELL_CONSTANT, 0.3, True, ()), 9, True)
    out = []
    for on in (False, True):
        monkeypatch.setitem(module, "APPLY_CHUNKS", on)
        w, cells = w0.clone(), torch.zeros(m, n, dtype=torch.int32)
        c = launch(w, cp, xp, dp, bl, p, one_hot=(torch.tensor(1), True), cell_pulses=cells,
                   seed=kernels.seeds.KeyedSeed(torch.tensor(3), 11))
        out.append((w, int(c), cells))
    assert_same(out[1], out[0], atol=1e-6)
    assert (out[0][0] != w0).float().mean() > 0.5
