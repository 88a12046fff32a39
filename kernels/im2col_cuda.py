"""Triton kernels of the indexed convolution's gather and col2im (meaning: ``im2col_ref.py``).

The gather writes each patch row once, straight from the image (``F.unfold`` writes
``[N, K, L]`` and the rows then need a transposing copy). col2im is a gather too, over
``inverse``: each program sums the few positions that read its image elements in the
twin's order, so it needs no atomic adds and equals the twin bit for bit.

Every image of a batch shares the index: a program of either kernel covers a block of
images (``IMAGE_BLOCKS``), so it reads its block of the index once for all of them (int64,
twice the bytes of the float32 it moves: read once an element, it was most of the traffic).

A convolution's output images are channels-last views of its rows, and batch norm and ReLU
keep that layout, so the next convolution's images are rarely contiguous: the gather then
reads them through their strides (``STRIDED_IMAGES``) instead of copying them first.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _im2col_kernel(img_ptr, index_ptr, out_ptr, rows, patches, width, size,
                   BLOCK_R: tl.constexpr, BLOCK_K: tl.constexpr):
    r = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    k = tl.program_id(1) * BLOCK_K + tl.arange(0, BLOCK_K)
    ok = (r < rows)[:, None] & (k < width)[None, :]
    r64 = r.to(tl.int64)
    b, p = r64 // patches, r64 % patches
    e = tl.load(index_ptr + p[:, None] * width + k[None, :], mask=ok, other=-1)
    v = tl.load(img_ptr + b[:, None] * size + e, mask=ok & (e >= 0), other=0.0)
    tl.store(out_ptr + r64[:, None] * width + k[None, :], v, mask=ok)


@triton.jit
def _col2im_kernel(rows_ptr, inverse_ptr, out_ptr, n, size, per_image, width,
                   BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ok = i < n * size
    b, e = i // size, i % size
    acc = tl.zeros((BLOCK,), tl.float32)
    for j in range(width):
        p = tl.load(inverse_ptr + e * width + j, mask=ok, other=-1)
        acc += tl.load(rows_ptr + b * per_image + p, mask=ok & (p >= 0), other=0.0)
    tl.store(out_ptr + i, acc, mask=ok)


@triton.jit
def _im2col_images_kernel(img_ptr, index_ptr, out_ptr, n, patches, width, size, plane,
                          s_channel, s_pixel,
                          BLOCK_P: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_B: tl.constexpr,
                          STRIDED: tl.constexpr = False):
    """``_im2col_kernel`` for the patches ``BLOCK_P`` x ``BLOCK_K`` of ``BLOCK_B`` images:
    the index block read once. ``STRIDED``: image ``b`` starts ``b * size`` elements in and
    flat element ``e`` (channel ``e // plane``, pixel ``e % plane``) sits ``s_channel`` and
    ``s_pixel`` elements apart (a channels-last image: its pixels ``C`` apart)."""
    p = tl.program_id(0) * BLOCK_P + tl.arange(0, BLOCK_P)
    k = tl.program_id(1) * BLOCK_K + tl.arange(0, BLOCK_K)
    ok = (p < patches)[:, None] & (k < width)[None, :]
    e = tl.load(index_ptr + p[:, None] * width + k[None, :], mask=ok, other=-1)
    if STRIDED:
        e = tl.where(e >= 0, (e // plane) * s_channel + (e % plane) * s_pixel, -1)
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
    """``_col2im_kernel`` for ``BLOCK`` elements of ``BLOCK_B`` images: each column of
    ``inverse`` read once for all of them; the same sums in the same order."""
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


# False: one image per program (the kernels before IMAGE_BLOCKS; the same numbers)
IMAGE_BLOCKS = True  # measured faster on one H200, 2026-12-06 23:00 UTC: benchmarks/RESULTS.md
# With IMAGE_BLOCKS: 4-D images whose rows and columns merge (contiguous or channels-last)
# gathered through their strides, not copied contiguous first (the copy: a launch and the
# images read and written once more, each convolution's forward and update). False: the copy
# (the same numbers; off until a GPU times it).
STRIDED_IMAGES = False


def _image_strides(images: torch.Tensor) -> tuple[int, int, int, int] | None:
    """``(plane, s_image, s_channel, s_pixel)`` of non-contiguous ``[N, C, H, W]`` images
    whose pixel ``h * W + w`` sits ``s_pixel`` elements from the channel's start (rows and
    columns merge); None where the gather needs a contiguous copy."""
    if not (STRIDED_IMAGES and IMAGE_BLOCKS) or images.dim() != 4 or images.is_contiguous():
        return None
    _, _, h, w = images.shape
    s_n, s_c, s_h, s_w = images.stride()
    s_pixel = s_h if w == 1 else s_w
    if h > 1 and w > 1 and s_h != w * s_w:
        return None
    return h * w, s_n, s_c, s_pixel


def im2col_triton(images: torch.Tensor, index: torch.Tensor, block_r: int = 32,
                  block_k: int = 32, block_b: int = 8) -> torch.Tensor:
    """Same arguments and result as ``im2col_torch`` (float32 CUDA images; int64 index);
    ``block_b`` images a program."""
    strides = _image_strides(images)
    strided = strides is not None
    if strided:  # the images in place: the kernel takes their first element's address
        flat = images
    else:
        flat = images.reshape(images.shape[0], -1).contiguous()
        strides = (flat.shape[1], flat.shape[1], 0, 1)
    n, patches, width = images.shape[0], *index.shape
    rows = n * patches
    out = torch.empty(rows, width, dtype=flat.dtype, device=flat.device)
    if out.numel() and IMAGE_BLOCKS:
        plane, size, s_channel, s_pixel = strides
        grid = (triton.cdiv(patches, block_r), triton.cdiv(width, block_k),
                triton.cdiv(n, block_b))
        _im2col_images_kernel[grid](flat, index.contiguous(), out, n, patches, width, size,
                                    plane, s_channel, s_pixel, BLOCK_P=block_r,
                                    BLOCK_K=block_k, BLOCK_B=block_b,
                                    STRIDED=strided)
    elif out.numel():
        grid = (triton.cdiv(rows, block_r), triton.cdiv(width, block_k))
        _im2col_kernel[grid](flat, index.contiguous(), out, rows, patches, width,
                             flat.shape[1], BLOCK_R=block_r, BLOCK_K=block_k)
    return out


def col2im_triton(rows: torch.Tensor, inverse: torch.Tensor, n: int,
                  block: int = 256, block_b: int = 4) -> torch.Tensor:
    """Same arguments and result as ``col2im_torch`` (float32 CUDA rows; int64 inverse);
    ``block_b`` images a program."""
    flat = rows.reshape(n, -1).contiguous()
    size, width = inverse.shape
    out = torch.empty(n, size, dtype=flat.dtype, device=flat.device)
    if out.numel() and IMAGE_BLOCKS:
        grid = (triton.cdiv(size, block), triton.cdiv(n, block_b))
        _col2im_images_kernel[grid](flat, inverse.contiguous(), out, n, size, flat.shape[1],
                                    width, BLOCK=block, BLOCK_B=block_b)
    elif out.numel():
        _col2im_kernel[(triton.cdiv(n * size, block),)](flat, inverse.contiguous(), out, n,
                                                        size, flat.shape[1], width,
                                                        BLOCK=block)
    return out


__all__ = ["col2im_triton", "im2col_triton"]
