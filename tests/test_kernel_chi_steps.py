"""Mixed precision's digital step for a grid of tiles in one launch (``kernels/chi_steps_*``,
``grouped.MP_GROUPED``): the kernel against its twin bit for bit, the twin against the
device's own steps (``MixedPrecision.update``'s arithmetic, tile by tile)."""

import pytest
import torch
from triton_modules import triton_function
from xbrun.kernels import chi_steps_torch

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
