"""Triton kernel of a tile grid's partial sums (``grid_sum_ref.py``).

One launch instead of one add a part and the joining copy: each program owns a row
segment of one output block (a batch row ``n``, a kept tile ``k``, ``BLOCK`` of its ``W``
outputs), adds the parts in index order (``p0 + p1``, then ``+ p2``, ...: the twin's
float32 additions, so the same numbers bit for bit) and stores the sum at its place in the
joined ``[N, kept * W]`` rows. Each part is read once and the output written once: at
784-4096-4096-10, b256, a 4096-wide pass moves ~38 MB instead of ~100 MB.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _grid_sum_kernel(parts_ptr, out_ptr, n_sum, n_keep, width, stride_sum, stride_keep,
                     stride_n, BLOCK: tl.constexpr):
    row = tl.program_id(0)  # n * n_keep + k
    n = row // n_keep
    k = row % n_keep
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    ok = cols < width
    src = parts_ptr + k.to(tl.int64) * stride_keep + n.to(tl.int64) * stride_n + cols
    acc = tl.load(src, mask=ok, other=0.0)
    for j in range(1, n_sum):
        acc = acc + tl.load(src + j * stride_sum, mask=ok, other=0.0)
    tl.store(out_ptr + row.to(tl.int64) * width + cols, acc, mask=ok)


def grid_sum_triton(parts: torch.Tensor, dim: int) -> torch.Tensor:
    """Same arguments and result as ``grid_sum_torch`` (float32 ``parts`` whose last axis
    is contiguous), in one launch."""
    if dim not in (0, 1):
        raise ValueError("grid_sum sums over the grid's rows (0) or columns (1)")
    rows, cols, n, width = parts.shape
    if parts.stride(3) != 1:
        parts = parts.contiguous()
    n_sum, n_keep = (cols, rows) if dim == 1 else (rows, cols)
    stride_sum, stride_keep = ((parts.stride(1), parts.stride(0)) if dim == 1
                               else (parts.stride(0), parts.stride(1)))
    out = torch.empty(n, n_keep * width, dtype=parts.dtype, device=parts.device)
    if out.numel() == 0:
        return out
    if n_sum == 0:
        return out.zero_()
    block = min(1024, triton.next_power_of_2(width))
    _grid_sum_kernel[(n * n_keep, triton.cdiv(width, block))](
        parts, out, n_sum, n_keep, width, stride_sum, stride_keep, parts.stride(2),
        BLOCK=block, num_warps=4 if block >= 512 else 1)
    return out


__all__ = ["grid_sum_triton"]
