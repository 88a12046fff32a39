"""Triton kernel of the buffered transfer step (meaning: ``transfer_buffer_ref.py``).

Program ``(b, block)`` handles ``BLOCK`` elements of transferred line ``b``: it gathers the
line's buffer entries (strided: a column of H), de-chops, accumulates, thresholds and writes
back the buffer and the steps. One launch replaces the dozen small torch operations of the
twin, which on the GPU cost more in launches than in work (a line has only ``out`` elements).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .params import BufferParams


@triton.jit
def buffer_step(h_ptrs, ok, signal, threshold, max_steps, momentum, keep, cap,
                FORGET: tl.constexpr, CAP: tl.constexpr, NO_BUFFER: tl.constexpr):
    """The buffer step of ``transfer_buffer_ref`` on one block of a line: accumulate the
    de-chopped ``signal`` into H at ``h_ptrs``, take out and return the whole steps."""
    if NO_BUFFER:
        h = signal
    else:
        h = tl.load(h_ptrs, mask=ok, other=0.0)
    steps, h = buffer_values(h, signal, threshold, max_steps, momentum, keep, cap, FORGET, CAP,
                             NO_BUFFER)
    # a line shorter than the program's threads is held by several warps, each loading it:
    # none may see H written before every one has read it (their maxima and the fused
    # write's one-hot row, stored by other warps, follow from what they read)
    tl.debug_barrier()
    tl.store(h_ptrs, h, mask=ok)
    return steps


@triton.jit
def buffer_values(h, signal, threshold, max_steps, momentum, keep, cap,
                  FORGET: tl.constexpr, CAP: tl.constexpr, NO_BUFFER: tl.constexpr):
    """:func:`buffer_step` on H's values ``h`` (held in registers by the fused write
    preparation, ``transfer_write_cuda``, across a line's passes): ``(steps, new h)``.
    ``keep`` (``1 - momentum``) and ``cap`` (``buffer_cap * threshold``) come computed in
    double, as the twin's torch operations take them (``BufferParams.keep`` / ``.cap``):
    in float32 here they round differently in the last bit, which H carries on."""
    if NO_BUFFER:
        omega = signal
    else:
        omega = h + signal
    q = omega / threshold
    steps = tl.where(q >= 0, tl.floor(q), tl.ceil(q))
    steps = tl.minimum(tl.maximum(steps, -max_steps), max_steps)
    if FORGET:
        kept = omega * momentum
    else:
        kept = omega - (keep * steps) * threshold
        if CAP:
            kept = tl.minimum(tl.maximum(kept, -cap), cap)
    return steps, tl.where(steps != 0, kept, omega)


@triton.jit
def _transfer_buffer_kernel(h_ptr, r_ptr, idx_ptr, os_ptr, is_ptr, steps_ptr, n_out,
                            sh0, sh1, sr0, sr1, scale, threshold, max_steps, momentum,
                            keep, cap, FORGET: tl.constexpr, CAP: tl.constexpr,
                            NO_BUFFER: tl.constexpr, BLOCK: tl.constexpr):
    b = tl.program_id(0)
    rm = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    ok = rm < n_out
    j = tl.load(idx_ptr + b).to(tl.int64)
    in_s = tl.load(is_ptr + j)
    out_s = tl.load(os_ptr + rm, mask=ok, other=0.0)
    reads = tl.load(r_ptr + b * sr0 + rm * sr1, mask=ok, other=0.0)
    h_ptrs = h_ptr + rm.to(tl.int64) * sh0 + j * sh1
    signal = ((out_s * in_s) * reads) * scale
    steps = buffer_step(h_ptrs, ok, signal, threshold, max_steps, momentum, keep, cap,
                        FORGET, CAP, NO_BUFFER)
    tl.store(steps_ptr + b * n_out + rm, steps, mask=ok)


def transfer_buffer_triton(buffer: torch.Tensor, reads: torch.Tensor, index: torch.Tensor,
                           out_sign: torch.Tensor, in_sign: torch.Tensor, p: BufferParams, *,
                           block: int = 128) -> torch.Tensor:
    """Same arguments and result as ``transfer_buffer_torch``, in one launch."""
    scale, threshold, max_steps, momentum, forget_buffer, _, no_buffer = p
    n_out, n_in = buffer.shape
    n = index.numel()
    if tuple(reads.shape) != (n, n_out):
        raise ValueError(f"reads must be ({n}, {n_out}), got {tuple(reads.shape)}")
    if out_sign.numel() != n_out or in_sign.numel() != n_in:
        raise ValueError("out_sign must have n_out entries and in_sign n_in entries")
    steps = torch.empty((n, n_out), dtype=buffer.dtype, device=buffer.device)
    if n == 0 or n_out == 0:
        return steps
    reads = reads.to(buffer.dtype)
    grid = (n, triton.cdiv(n_out, block))
    _transfer_buffer_kernel[grid](
        buffer, reads, index.contiguous(), out_sign.to(buffer.dtype).contiguous(),
        in_sign.to(buffer.dtype).contiguous(), steps, n_out,
        buffer.stride(0), buffer.stride(1), reads.stride(0), reads.stride(1),
        float(scale), float(threshold), float(max_steps), float(momentum),
        p.keep, p.cap, FORGET=bool(forget_buffer), CAP=p.capped,
        NO_BUFFER=bool(no_buffer), BLOCK=block, num_warps=4,
    )
    return steps


__all__ = ["buffer_step", "buffer_values", "transfer_buffer_triton"]
