"""The buffered transfer step on the CPU (meaning: ``transfer_buffer_ref.py``).

One compiled pass over the read lines replaces the dozen small torch operations of the twin
(gather the buffer's columns, de-chop, accumulate, threshold, keep the remainder, scatter):
at a few hundred elements per transfer their dispatch costs far more than the arithmetic.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit

from .params import BufferParams


@njit(cache=True)
def _transfer_buffer(h, reads, index, out_sign, in_sign, steps, scale, threshold, max_steps,
                     momentum, forget_buffer, buffer_cap, no_buffer):
    n, n_out = reads.shape
    cap = buffer_cap * threshold
    for i in range(n_out):  # the buffer's memory order: its rows hold the read lines
        for b in range(n):
            j = index[b]
            signal = (out_sign[i] * in_sign[j]) * reads[b, i] * scale
            omega = signal if no_buffer else h[i, j] + signal
            s = math.trunc(omega / threshold)
            s = min(max(s, -max_steps), max_steps)
            if s != 0:
                if forget_buffer:
                    omega = omega * momentum
                else:
                    omega = omega - (1.0 - momentum) * s * threshold
                    if buffer_cap > 0:
                        omega = min(max(omega, -cap), cap)
            h[i, j] = omega
            steps[b, i] = s


def transfer_buffer_numba(buffer: torch.Tensor, reads: torch.Tensor, index: torch.Tensor,
                          out_sign: torch.Tensor, in_sign: torch.Tensor,
                          p: BufferParams) -> torch.Tensor:
    """Same arguments and result as ``transfer_buffer_torch``; ``buffer`` a float32 CPU
    tensor (updated in place)."""
    scale, threshold, max_steps, momentum, forget_buffer, buffer_cap, no_buffer = p
    n = index.numel()
    steps = torch.zeros((n, buffer.shape[0]), dtype=buffer.dtype)
    if n == 0:
        return steps
    f32 = np.float32
    _transfer_buffer(buffer.detach().numpy(), reads.detach().to(buffer.dtype).numpy(),
                     index.detach().to(torch.int64).numpy(),
                     out_sign.detach().to(buffer.dtype).numpy(),
                     in_sign.detach().to(buffer.dtype).numpy(), steps.numpy(), f32(scale),
                     f32(threshold), f32(max_steps), f32(momentum), bool(forget_buffer),
                     f32(buffer_cap), bool(no_buffer))
    return steps


__all__ = ["transfer_buffer_numba"]
