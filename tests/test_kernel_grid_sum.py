"""A tile grid's partial sums in one launch (``kernels/grid_sum_*``,
``grouped._grid_sum``) against the twin's adds: the same float32 numbers bit for bit."""

import pytest
import torch
from triton_modules import triton_function
from xbrun.kernels import grid_sum_torch

from xbrun.tiles import grouped


def _parts(rows, cols, n, width, seed=0):
    gen = torch.Generator().manual_seed(seed)  # magnitudes far apart: the order shows
    scale = torch.logspace(-4, 4, rows * cols).reshape(rows, cols, 1, 1)
    return torch.randn(rows, cols, n, width, generator=gen) * scale


@pytest.mark.parametrize("shape", [(3, 4, 5, 7), (1, 3, 2, 40), (4, 1, 3, 33), (2, 2, 1, 1)])
@pytest.mark.parametrize("dim", [0, 1])
def test_interpreted_grid_sum_is_the_twins_adds(shape, dim):
    """Interpreted: both sums (over columns, a forward; over rows, a backward), partial
    blocks and single parts, equal the twin's ordered adds and joining bit for bit; the
    twin is the order the tiles' own passes sum in (a reordered sum differs)."""
    launch = triton_function("grid_sum_cuda", "grid_sum_triton", interpret=True)
    parts = _parts(*shape)
    want = grid_sum_torch(parts, dim)
    got = launch(parts, dim)
    assert got.shape == want.shape == (shape[2], shape[1 - dim] * shape[3])
    assert torch.equal(got, want)
    blocks = [sum(parts[i, j] for j in range(shape[1])) for i in range(shape[0])] if dim == 1 \
        else [sum(parts[i, j] for i in range(shape[0])) for j in range(shape[1])]
    assert torch.equal(want, torch.cat(blocks, dim=1))


def test_grid_sum_refuses_another_axis():
    with pytest.raises(ValueError, match="rows"):
        grid_sum_torch(torch.zeros(2, 2, 1, 1), 2)


@pytest.mark.gpu
@pytest.mark.parametrize("dim", [0, 1])
def test_gpu_grid_sum_is_the_twins_adds(dim):
    """Compiled at the 4096-wide grid's shape (8 x 8 tiles of 512, batch 256) and the
    784-wide one's (8 x 2 of 392): the launch equals the twin's adds bit for bit, and a
    grouped layer's sums (``grouped._grid_sum``) equal it."""
    launch = triton_function("grid_sum_cuda", "grid_sum_triton", interpret=False)
    for shape in ((8, 8, 256, 512), (8, 2, 256, 392)):
        parts = _parts(*shape).cuda()
        assert torch.equal(launch(parts, dim), grid_sum_torch(parts, dim))
    parts = _parts(8, 8, 64, 512, seed=1).cuda()
    assert torch.equal(grouped._grid_sum(parts, dim), grid_sum_torch(parts, dim))
