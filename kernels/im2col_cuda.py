"""Triton kernels of the indexed convolution's gather and col2im (meaning: ``im2col_ref.py``).

The gather writes each patch row once, straight from the image (``F.unfold`` writes
``[N, K, L]`` and the rows then need a transposing copy). col2im is a gather too, over
``inverse``: each program sums the few positions that read its image elements in the
twin's order, so it needs no atomic adds and equals the twin bit for bit.
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


def im2col_triton(images: torch.Tensor, index: torch.Tensor, block_r: int = 32,
                  block_k: int = 32) -> torch.Tensor:
    """Same arguments and result as ``im2col_torch`` (float32 CUDA images; int64 index)."""
    flat = images.reshape(images.shape[0], -1).contiguous()
    patches, width = index.shape
    rows = flat.shape[0] * patches
    out = torch.empty(rows, width, dtype=flat.dtype, device=flat.device)
    if out.numel():
        grid = (triton.cdiv(rows, block_r), triton.cdiv(width, block_k))
        _im2col_kernel[grid](flat, index.contiguous(), out, rows, patches, width,
                             flat.shape[1], BLOCK_R=block_r, BLOCK_K=block_k)
    return out


def col2im_triton(rows: torch.Tensor, inverse: torch.Tensor, n: int,
                  block: int = 256) -> torch.Tensor:
    """Same arguments and result as ``col2im_torch`` (float32 CUDA rows; int64 inverse)."""
    flat = rows.reshape(n, -1).contiguous()
    size, width = inverse.shape
    out = torch.empty(n, size, dtype=flat.dtype, device=flat.device)
    if out.numel():
        _col2im_kernel[(triton.cdiv(n * size, block),)](flat, inverse.contiguous(), out, n,
                                                        size, flat.shape[1], width,
                                                        BLOCK=block)
    return out


__all__ = ["col2im_triton", "im2col_triton"]
