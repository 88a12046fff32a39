"""The indexed convolution's gather and col2im: twin, numba and Triton equal F.unfold and its
autograd (torch's col2im) bit for bit. Triton runs interpreted on the CPU at tiny shapes;
``-m gpu`` runs it compiled."""

import pytest
import torch
import torch.nn.functional as F
from triton_modules import triton_function
from xbrun.kernels import col2im_torch, im2col_torch, inverse_index
from xbrun.kernels.im2col_cpu import col2im_numba, im2col_numba

from xbrun.tiles import conv_indices

# (channels, height, width, kernel, stride, padding, dilation)
SHAPES = [(2, 5, 6, 3, 1, 1, 1), (3, 7, 5, (2, 3), (2, 1), (1, 0), (1, 2)), (1, 4, 4, 1, 1, 0, 1)]


def unfold_reference(shape, n, seed):
    """Images, their unfold rows, an error for the rows and its autograd image gradient."""
    c, h, w, k, s, p, d = shape
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=gen, requires_grad=True)
    cols = F.unfold(x, k, dilation=d, padding=p, stride=s)
    rows = cols.transpose(1, 2).reshape(-1, cols.shape[1])
    g = torch.randn(rows.shape, generator=gen)
    (grad,) = torch.autograd.grad(rows, x, g)
    indices, sizes = conv_indices(c, h, w, k, stride=s, padding=p, dilation=d)
    return x.detach(), rows.detach(), g, grad.reshape(n, -1), indices, sizes


@pytest.mark.parametrize("shape", SHAPES)
def test_twin_and_numba_equal_unfold_and_col2im(shape):
    x, rows, g, grad, indices, sizes = unfold_reference(shape, 3, 0)
    inverse = inverse_index(indices, x[0].numel())
    for gather, scatter in ((im2col_torch, col2im_torch), (im2col_numba, col2im_numba)):
        assert torch.equal(gather(x, indices), rows)
        assert torch.equal(scatter(g, inverse, 3), grad)


def test_inverse_index_lists_each_reader_once_by_kernel_position():
    indices, _ = conv_indices(2, 4, 5, 3, stride=1, padding=1)
    inverse = inverse_index(indices, 2 * 4 * 5)
    width = indices.shape[1]
    for e in range(inverse.shape[0]):
        listed = [int(p) for p in inverse[e] if p >= 0]
        readers = (indices.reshape(-1) == e).nonzero().reshape(-1).tolist()
        assert sorted(listed) == sorted(readers)
        assert [p % width for p in listed] == sorted(p % width for p in listed)
    assert inverse.shape[1] == 9  # an inner pixel is read by all nine kernel positions


def test_parallel_numba_equals_serial(monkeypatch):
    from xbrun.kernels import im2col_cpu

    x, rows, g, grad, indices, _ = unfold_reference(SHAPES[0], 4, 1)
    inverse = inverse_index(indices, x[0].numel())
    monkeypatch.setattr(im2col_cpu, "PARALLEL_MIN_ELEMENTS", 1)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert torch.equal(im2col_numba(x, indices), rows)
    assert torch.equal(col2im_numba(g, inverse, 4), grad)


def _check_triton(interpret: bool, device: str):
    """Both kernels (a program per block of images, with a partial last block) equal unfold
    and its autograd."""
    gather = triton_function("im2col_cuda", "im2col_triton", interpret)
    scatter = triton_function("im2col_cuda", "col2im_triton", interpret)
    for seed, shape in enumerate(SHAPES[:2]):
        x, rows, g, grad, indices, _ = unfold_reference(shape, 3, seed)
        inverse = inverse_index(indices, x[0].numel())
        out = gather(x.to(device), indices.to(device), block_r=8, block_k=16, block_b=2)
        assert torch.equal(out.cpu(), rows)
        back = scatter(g.to(device), inverse.to(device), 3, block=64, block_b=2)
        assert torch.equal(back.cpu(), grad)


def test_triton_interpreted_equals_unfold():
    _check_triton(True, "cpu")


def _check_copied(interpret: bool, device: str):
    """Images that are not contiguous (a channels-last view, a transposed one) are copied
    contiguous, then gathered: the rows of unfold."""
    gather = triton_function("im2col_cuda", "im2col_triton", interpret)
    for seed, shape in enumerate([*SHAPES, (2, 1, 6, (1, 3), 1, 0, 1)]):
        x, rows, *_, indices, _ = unfold_reference(shape, 3, seed)
        for images in (x.contiguous(memory_format=torch.channels_last),
                       x.transpose(2, 3).contiguous().transpose(2, 3)):
            out = gather(images.to(device), indices.to(device), block_r=8, block_k=16,
                         block_b=2)
            assert torch.equal(out.cpu(), rows)


def test_triton_interpreted_copied_images_equal_unfold():
    _check_copied(True, "cpu")


@pytest.mark.gpu
def test_triton_compiled_equals_unfold():
    _check_triton(False, "cuda")
    _check_copied(False, "cuda")


def test_channel_form_of_a_convolutions_index():
    """A convolution's inverse is one channel's positions shifted (``channel_form``), also
    a grid tile's range of its channels; a hand-made index (columns swapped) has none."""
    from xbrun.kernels import channel_form
    from xbrun.kernels.im2col_ref import inverse_of_form

    for c, h, w, k, s, p, d in SHAPES:
        indices, _ = conv_indices(c, h, w, k, stride=s, padding=p, dilation=d)
        inverse = inverse_index(indices, c * h * w)
        form = channel_form(inverse, c)
        assert form is not None and (form[2], form[3]) == (0, c)
        assert torch.equal(inverse_of_form(form, c), inverse)
    indices, _ = conv_indices(4, 5, 5, 3, padding=1)
    part = inverse_index(indices[:, 18:27], 100)  # a tile of channel 2's columns alone
    form = channel_form(part, 4)
    assert (form[2], form[3]) == (2, 1) and torch.equal(inverse_of_form(form, 4), part)
    swapped = indices[:, [1, 0, *range(2, 36)]]
    assert channel_form(inverse_index(swapped, 100), 4) is None


def _check_channel_tiles(interpret: bool, device: str, shapes, n, blocks):
    """col2im over a channel form (``col2im_channels_triton``) equals unfold's autograd bit
    for bit (partial pixel and image blocks), also as a grid tile's range of the channels
    (``col2im_triton`` with the form) against the twin."""
    from xbrun.kernels import channel_form

    scatter = triton_function("im2col_cuda", "col2im_triton", interpret)
    channels = triton_function("im2col_cuda", "col2im_channels_triton", interpret)
    for seed, shape in enumerate(shapes):
        x, rows, g, grad, indices, _ = unfold_reference(shape, n, seed)
        c = shape[0]
        form = channel_form(inverse_index(indices, x[0].numel()), c)
        form = (form[0].to(device), *form[1:])
        for block_p, block_b in blocks:
            back = channels(g.to(device), form, n, c, block_p=block_p, block_b=block_b)
            assert torch.equal(back.cpu(), grad), (shape, block_p, block_b)
        cols = indices.shape[1] // c
        lo, count = c // 2, c - c // 2
        part = inverse_index(indices[:, lo * cols:], x[0].numel())
        rows_part = g[:, lo * cols:].contiguous()
        tile = channel_form(part, c)
        assert (tile[2], tile[3]) == (lo, count)
        tile = (tile[0].to(device), *tile[1:])
        got = scatter(rows_part.to(device), part.to(device), n, form=(tile, c))
        assert torch.equal(got.cpu(), col2im_torch(rows_part, part, n))


def test_triton_interpreted_channel_tiles_equal_unfold():
    _check_channel_tiles(True, "cpu", [(3, 5, 4, 3, 2, 1, 1)], 3,
                         [(4, 2)])


@pytest.mark.gpu
def test_triton_compiled_channel_tiles_equal_unfold():
    """Compiled, at the ResNet's shapes (16 channels of 32 x 32, 32 of 16 x 16 from a
    stride 2, 64 of 8 x 8) and the small ones."""
    _check_channel_tiles(False, "cuda",
                         [*SHAPES[:2], (16, 32, 32, 3, 1, 1, 1), (16, 32, 32, 3, 2, 1, 1),
                          (64, 8, 8, 3, 1, 1, 1)], 6, [(None, 1), (None, 2), (32, 4)])
