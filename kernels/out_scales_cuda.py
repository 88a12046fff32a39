"""Triton kernel of the learned output scales' backward (``out_scales_ref.py``).

One launch instead of autograd's three (``d * beta``, ``d * y``, the sum): at batch 10 a
CUDA step is launch-bound, and a tile with learned scales paid them on every step. Per
output scales: each program owns a block of outputs and walks the rows in order. A
per-tile scale: one program walks the whole ``[N, out]`` in blocks (the tiles are small;
larger ones take the twin's three launches rather than one slow program).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

# the most elements one program sums for a per-tile scale (above it: the twin)
SCALAR_MAX = 1 << 18


@triton.jit
def _columns_kernel(d_ptr, sd0, sd1, y_ptr, sy0, sy1, beta_ptr, out_ptr, grad_ptr, n, n_out,
                    BLOCK: tl.constexpr):
    cols = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    ok = cols < n_out
    beta = tl.load(beta_ptr + cols, mask=ok, other=0.0)
    acc = tl.zeros((BLOCK,), dtype=tl.float32)
    for row in range(n):
        d = tl.load(d_ptr + row * sd0 + cols * sd1, mask=ok, other=0.0)
        y = tl.load(y_ptr + row * sy0 + cols * sy1, mask=ok, other=0.0)
        acc += d * y
        tl.store(out_ptr + row * n_out + cols, d * beta, mask=ok)
    tl.store(grad_ptr + cols, acc, mask=ok)


@triton.jit
def _scalar_kernel(d_ptr, sd0, sd1, y_ptr, sy0, sy1, beta_ptr, out_ptr, grad_ptr, n, n_out,
                   BLOCK: tl.constexpr):
    beta = tl.load(beta_ptr)
    acc = tl.zeros((BLOCK,), dtype=tl.float32)
    for start in range(0, n * n_out, BLOCK):
        at = start + tl.arange(0, BLOCK)
        ok = at < n * n_out
        row, col = at // n_out, at % n_out
        d = tl.load(d_ptr + row * sd0 + col * sd1, mask=ok, other=0.0)
        y = tl.load(y_ptr + row * sy0 + col * sy1, mask=ok, other=0.0)
        acc += d * y
        tl.store(out_ptr + at, d * beta, mask=ok)
    tl.store(grad_ptr, tl.sum(acc, axis=0))


def out_scales_backward_triton(d: torch.Tensor, y: torch.Tensor, beta: torch.Tensor
                               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Same arguments and results as ``out_scales_backward_torch`` (float32), in one
    launch; a per-tile scale over more than ``SCALAR_MAX`` elements takes the twin."""
    from .out_scales_ref import out_scales_backward_torch

    n, n_out = d.shape
    if beta.numel() == 1 and n * n_out > SCALAR_MAX:
        return out_scales_backward_torch(d, y, beta)
    out = torch.empty((n, n_out), dtype=torch.float32, device=d.device)
    grad = torch.empty_like(beta)
    if n == 0 or n_out == 0:
        return out, grad.zero_()
    args = (d, d.stride(0), d.stride(1), y, y.stride(0), y.stride(1), beta, out, grad, n,
            n_out)
    if beta.numel() == 1:
        _scalar_kernel[(1,)](*args, BLOCK=1024, num_warps=4)
    else:
        block = min(256, triton.next_power_of_2(n_out))
        _columns_kernel[(triton.cdiv(n_out, block),)](*args, BLOCK=block, num_warps=4)
    return out, grad


__all__ = ["out_scales_backward_triton"]
