"""Triton kernels of the indexed convolution's gather and col2im (meaning: ``im2col_ref.py``).

The gather writes each patch row once, straight from the image (``F.unfold`` writes
``[N, K, L]`` and the rows then need a transposing copy). col2im is a gather too, over
``inverse``: each program sums the few positions that read its image elements in the
twin's order, so it needs no atomic adds and equals the twin bit for bit.

Every image of a batch shares the index: a program of either kernel covers a block of
images, so it reads its block of the index once for all of them (int64, twice the bytes of
the float32 it moves: read once an element, it was most of the traffic; one image a program
before ``IMAGE_BLOCKS``, timed faster on one H200 in `narrow-rows`, 2026-12-06 23:00: ResNet
sgd `batch` 4.74x -> 3.30x fp with the other narrow-row paths; its switch removed
2026-12-08, benchmarks/RESULTS.md).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _im2col_images_kernel(img_ptr, index_ptr, out_ptr, n, patches, width, size,
                          BLOCK_P: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_B: tl.constexpr):
    """Patch rows ``r = b * patches + p``: element ``k`` of row ``r`` is image ``b``'s
    element ``index[p, k]`` (zero where it is -1), for the patches ``BLOCK_P`` x ``BLOCK_K``
    of ``BLOCK_B`` images: the index block read once."""
    p = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    k = tl.program_id(1) * BLOCK_K + tl.arange(0, BLOCK_K)
    ok = (p < patches)[:, None] & (k < width)[None, :]
    e = tl.load(index_ptr + p[:, None] * width + k[None, :], mask=ok, other=-1)
    at = p[:, None].to(tl.int64) * width + k[None, :]
    b0 = tl.program_id(2) * BLOCK_B
    for i in range(BLOCK_B):
        b = (b0 + i).to(tl.int64)
        live = ok & (b < n)
        v = tl.load(img_ptr + b * size + e, mask=live & (e >= 0), other=0.0)
        tl.store(out_ptr + b * patches * width + at, v, mask=live)


@triton.jit
def _col2im_images_kernel(rows_ptr, inverse_ptr, out_ptr, n, size, per_image, width,
                          BLOCK: tl.constexpr, BLOCK_B: tl.constexpr):
    """Image ``b``'s element ``e``: the sum over ``j`` of its patch rows' positions
    ``inverse[e, j]`` (-1: nothing), in the twin's order, for ``BLOCK`` elements of
    ``BLOCK_B`` images: each column of ``inverse`` read once for all of them."""
    e = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    b = tl.program_id(1).to(tl.int64) * BLOCK_B + tl.arange(0, BLOCK_B)
    ok_e = e < size
    ok = (b < n)[:, None] & ok_e[None, :]
    acc = tl.zeros((BLOCK_B, BLOCK), tl.float32)
    for j in range(width):
        p = tl.load(inverse_ptr + e * width + j, mask=ok_e, other=-1)
        acc += tl.load(rows_ptr + b[:, None] * per_image + p[None, :],
                       mask=ok & (p >= 0)[None, :], other=0.0)
    tl.store(out_ptr + b[:, None] * size + e[None, :], acc, mask=ok)


@triton.jit
def _col2im_channels_kernel(rows_ptr, first_ptr, out_ptr, n, plane, channels, per_image,
                            width, shift, c_lo, c_count, BLOCK_P: tl.constexpr,
                            BLOCK_C: tl.constexpr, BLOCK_B: tl.constexpr):
    """``_col2im_images_kernel``'s sums over ``BLOCK_P`` pixels of every channel of
    ``BLOCK_B`` images, the positions of a :func:`channel_form` (channel ``c`` of pixel
    ``q`` reads ``first[q, j] + (c - c_lo) * shift``): neighbouring lanes take neighbouring
    channels, whose positions lie ``shift`` (a kernel's taps: 9 floats) apart in a patch
    row, so a warp's load spans some ten 128-byte lines where 32 pixels of one channel
    (``_col2im_images_kernel``), a patch row apart, spanned 32 (the L1 wavefronts that
    bound it). The same sums in the same order (from zero, ``j`` increasing, zeros added
    for padding): the twin's bit for bit."""
    pix = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    c = tl.arange(0, BLOCK_C)
    ok_p = pix < plane
    ok = ok_p[:, None] & (c < channels)[None, :]
    read = ok & ((c >= c_lo) & (c < c_lo + c_count))[None, :]
    off = ((c - c_lo) * shift)[None, :]
    at = c[None, :].to(tl.int64) * plane + pix[:, None]
    for i in range(BLOCK_B):
        b = (tl.program_id(1) * BLOCK_B + i).to(tl.int64)
        live = b < n
        acc = tl.zeros((BLOCK_P, BLOCK_C), tl.float32)
        for j in range(width):
            p = tl.load(first_ptr + pix * width + j, mask=ok_p, other=-1)
            acc += tl.load(rows_ptr + b * per_image + (p[:, None] + off),
                           mask=read & (p >= 0)[:, None] & live, other=0.0)
        tl.store(out_ptr + b * channels * plane + at, acc, mask=ok & live)


# col2im of a convolution's index (its ``channel_form``: every channel's positions one
# channel's shifted) by ``_col2im_channels_kernel``: a program's lanes over the channels of
# a block of pixels, a warp's loads some ten 128-byte lines instead of 32 (a pixel's patch
# rows lie 576 bytes apart at 144 inputs). The profile's second kernel (2.4 ms of a ResNet sgd
# `batch` step, 25 launches) reads ~0.9 GB a step: at 3 TB/s 0.3 ms. The same numbers.
# Timed faster (``CHANNEL_TILES``, one H100, 2026-12-07 14:58, `bench_switches` `conv-counts`
# with three count paths: ResNet sgd `batch` 2.89x -> 2.51x fp, chopped `batch` 3.93x ->
# 3.57x), its switch removed 2026-12-08. Without a form, or wider: ``_col2im_images_kernel``.
# elements a program (pixels x the channels rounded up to a power of 2): 512 is a row of 32
# pixels of 16 channels (the 32 x 32 layers), whose patch rows a tap reads span ~18 KB; a
# kernel row's 3 taps read the same rows' sectors (a pixel's neighbour's), so they may hit in
# L1 while a SM's programs together read less than it holds (2,048 elements: ~74 KB a tap)
CHANNEL_TILE_ELEMENTS = 512


def im2col_triton(images: torch.Tensor, index: torch.Tensor, block_r: int = 32,
                  block_k: int = 32, block_b: int = 8) -> torch.Tensor:
    """Same arguments and result as ``im2col_torch`` (float32 CUDA images; int64 index);
    ``block_b`` images a program."""
    flat = images.reshape(images.shape[0], -1).contiguous()
    n, patches, width = images.shape[0], *index.shape
    rows = n * patches
    out = torch.empty(rows, width, dtype=flat.dtype, device=flat.device)
    if out.numel():
        grid = (triton.cdiv(patches, block_r), triton.cdiv(width, block_k),
                triton.cdiv(n, block_b))
        _im2col_images_kernel[grid](flat, index.contiguous(), out, n, patches, width,
                                    flat.shape[1], BLOCK_P=block_r, BLOCK_K=block_k,
                                    BLOCK_B=block_b)
    return out


def col2im_triton(rows: torch.Tensor, inverse: torch.Tensor, n: int,
                  block: int = 256, block_b: int = 4, *, form=None) -> torch.Tensor:
    """Same arguments and result as ``col2im_torch`` (float32 CUDA rows; int64 inverse);
    ``block_b`` images a program. ``form``: ``(channel_form(inverse, channels), channels)``,
    taken by :func:`col2im_channels_triton` (up to ``CHANNEL_TILE_ELEMENTS`` channels)."""
    if form is not None and form[1] <= CHANNEL_TILE_ELEMENTS:
        return col2im_channels_triton(rows, form[0], n, form[1])
    flat = rows.reshape(n, -1).contiguous()
    size, width = inverse.shape
    out = torch.empty(n, size, dtype=flat.dtype, device=flat.device)
    if out.numel():
        grid = (triton.cdiv(size, block), triton.cdiv(n, block_b))
        _col2im_images_kernel[grid](flat, inverse.contiguous(), out, n, size, flat.shape[1],
                                    width, BLOCK=block, BLOCK_B=block_b)
    return out


def col2im_channels_triton(rows: torch.Tensor, form, n: int, channels: int, *,
                           block_p: int | None = None, block_b: int = 1) -> torch.Tensor:
    """``col2im_torch(rows, inverse_of_form(form, channels), n)`` (float32 CUDA rows; ``form``
    a ``channel_form``) by ``_col2im_channels_kernel``: ``block_p`` pixels (default: the
    program's ``CHANNEL_TILE_ELEMENTS`` over the channels' power of 2) and ``block_b``
    images a program."""
    first, shift, lo, count = form
    plane, width = first.shape
    flat = rows.reshape(n, -1).contiguous()
    out = torch.empty(n, channels * plane, dtype=flat.dtype, device=flat.device)
    block_c = triton.next_power_of_2(channels)
    block_p = block_p or min(max(1, CHANNEL_TILE_ELEMENTS // block_c),
                             triton.next_power_of_2(plane))
    if out.numel():
        grid = (triton.cdiv(plane, block_p), triton.cdiv(n, block_b))
        _col2im_channels_kernel[grid](flat, first.contiguous(), out, n, plane, channels,
                                      flat.shape[1], width, shift, lo, count, BLOCK_P=block_p,
                                      BLOCK_C=block_c, BLOCK_B=block_b)
    return out


__all__ = ["col2im_channels_triton", "col2im_triton", "im2col_triton"]
