"""The buffered transfer step on the CPU (meaning: ``transfer_buffer_ref.py``).

One compiled pass over the read lines replaces the dozen small torch operations of the twin
(gather the buffer's columns, de-chop, accumulate, threshold, keep the remainder, scatter):
at a few hundred elements per transfer their dispatch costs far more than the arithmetic.

Bit for bit the twin's numbers: every operation in float32, in the twin's order, on the
constants as torch rounds them (``buffer_numbers``). H carries its last bit from transfer to
transfer, and reads quantized by the ADC land exactly on a threshold often enough that a
last bit (a remainder kept in float64, ``1 - momentum`` rounded differently) flips a step.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit

from .params import BufferParams


def buffer_numbers(p: BufferParams) -> tuple[np.float32, ...]:
    """``(scale, threshold, max_steps, momentum, keep, cap)`` in float32, rounded as the
    twin's torch operations round their Python numbers: once, after any arithmetic on them
    in double (``BufferParams.keep`` multiplies the steps, ``BufferParams.cap`` bounds the
    clamp)."""
    f32 = np.float32
    return (f32(p.scale), f32(p.threshold), f32(p.max_steps), f32(p.momentum),
            f32(p.keep), f32(p.cap))


@njit(cache=True)
def buffer_value(h, signal, threshold, max_steps, momentum, keep, cap, forget, capped,
                 no_buffer):
    """One element's buffer step (float32 scalars): ``(steps, new h)``. Comparisons, not
    ``min``/``max`` or an integer ``trunc``, so that inf and NaN go where torch's
    ``trunc``/``clamp`` take them."""
    omega = signal if no_buffer else h + signal
    s = np.trunc(omega / threshold)
    if s > max_steps:
        s = max_steps
    elif s < -max_steps:
        s = -max_steps
    if s != 0:
        if forget:
            return s, omega * momentum
        omega = omega - (keep * s) * threshold
        if capped:
            if omega > cap:
                omega = cap
            elif omega < -cap:
                omega = -cap
    return s, omega


@njit(cache=True)
def _transfer_buffer(h, reads, index, out_sign, in_sign, steps, scale, threshold, max_steps,
                     momentum, keep, cap, forget_buffer, capped, no_buffer):
    n, n_out = reads.shape
    for i in range(n_out):  # the buffer's memory order: its rows hold the read lines
        for b in range(n):
            j = index[b]
            signal = (out_sign[i] * in_sign[j]) * reads[b, i] * scale
            s, h[i, j] = buffer_value(h[i, j], signal, threshold, max_steps, momentum, keep,
                                      cap, forget_buffer, capped, no_buffer)
            steps[b, i] = s


def transfer_buffer_numba(buffer: torch.Tensor, reads: torch.Tensor, index: torch.Tensor,
                          out_sign: torch.Tensor, in_sign: torch.Tensor,
                          p: BufferParams) -> torch.Tensor:
    """Same arguments and result as ``transfer_buffer_torch``; ``buffer`` a float32 CPU
    tensor (updated in place)."""
    n = index.numel()
    steps = torch.zeros((n, buffer.shape[0]), dtype=buffer.dtype)
    if n == 0:
        return steps
    _transfer_buffer(buffer.detach().numpy(), reads.detach().to(buffer.dtype).numpy(),
                     index.detach().to(torch.int64).numpy(),
                     out_sign.detach().to(buffer.dtype).numpy(),
                     in_sign.detach().to(buffer.dtype).numpy(), steps.numpy(),
                     *buffer_numbers(p), bool(p.forget_buffer),
                     p.capped, bool(p.no_buffer))
    return steps


__all__ = ["buffer_numbers", "buffer_value", "transfer_buffer_numba"]
