"""Triton kernel of a transfer's write preparation (meaning: ``transfer_write_ref.py``).

One program per transferred line holds the whole line: it de-chops the reads into the
buffer H and takes out the whole steps (buffered devices), reduces the line's largest value,
derives the train length and gains of the one-hot write from it, and stores the line's
probabilities, the one-hot row and the train length. That is one launch where the torch twin
takes some forty small ones (buffer, one-hot vectors, train lengths, gains, probabilities),
and nothing is read back to the host: the pulsed-update kernel takes the trains next.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .params import CellParams, TransferWriteParams, UpdateParams
from .pulsed_update_ref import long_train_length
from .transfer_buffer_cuda import buffer_step
from .transfer_write_ref import line_width, masked_lengths


@triton.jit(do_not_specialize=["start"])
def _transfer_write_kernel(r_ptr, h_ptr, os_ptr, is_ptr, x_ptr, d_ptr, bl_ptr, start,
                           start_ptr, n_len,
                           width, sr0, sr1, sh0, sh1, sx0, sd0, scale, threshold, max_steps,
                           momentum, buffer_cap, lr, granularity, desired_bl, um_grad_scale,
                           long_bl, COLUMNS: tl.constexpr, BUFFERED: tl.constexpr,
                           FORGET: tl.constexpr, CAP: tl.constexpr, NO_BUFFER: tl.constexpr,
                           UBM: tl.constexpr, UM: tl.constexpr, LONG: tl.constexpr,
                           START_PTR: tl.constexpr, BLOCK_L: tl.constexpr,
                           BLOCK_W: tl.constexpr):
    b = tl.program_id(0)
    if START_PTR:  # the first line from a device tensor: a replayed graph reads it anew
        j = (tl.load(start_ptr).to(tl.int32) + b) % width
    else:
        j = start + b
    rm = tl.arange(0, BLOCK_L)
    ok = rm < n_len
    reads = tl.load(r_ptr + b * sr0 + rm * sr1, mask=ok, other=0.0)
    if BUFFERED:
        in_s = tl.load(is_ptr + j)
        out_s = tl.load(os_ptr + rm, mask=ok, other=0.0)
        h_ptrs = h_ptr + rm.to(tl.int64) * sh0 + j.to(tl.int64) * sh1
        signal = ((out_s * in_s) * reads) * scale
        steps = buffer_step(h_ptrs, ok, signal, threshold, max_steps, momentum, buffer_cap,
                            FORGET, CAP, NO_BUFFER)
        values = -steps
    else:
        values = -reads
    mag = tl.abs(values)
    v_max = tl.max(mag, axis=0)
    if COLUMNS:
        x_max = v_max * 0.0 + 1.0
        d_max = v_max
    else:
        x_max = v_max
        d_max = v_max * 0.0 + 1.0
    active = (x_max > 0) & (d_max > 0)
    x_m = tl.where(active, x_max, 1.0)
    d_m = tl.where(active, d_max, 1.0) * um_grad_scale
    if UBM:
        bl = tl.minimum(tl.maximum(tl.ceil(lr * x_m * d_m / granularity), 1.0), desired_bl)
        amp = tl.sqrt_rn(lr / (granularity * bl))
    elif LONG:
        bl = x_m * 0.0 + long_bl
        amp = x_m * 0.0 + 1.0
    else:
        bl = x_m * 0.0 + desired_bl
        amp = tl.sqrt_rn(lr / (granularity * bl))
    if UM or UBM:
        k = lr * x_m * d_m / granularity
        d_m = tl.where(k > bl, d_m * bl / k, d_m)
        s = tl.sqrt_rn(x_m / d_m)
        x_gain = amp / s
        d_gain = amp * s
    else:
        x_gain = amp
        d_gain = amp
    bl = tl.where(active & (lr > 0), bl, 0.0)
    if COLUMNS:
        one_gain = x_gain
        line_gain = d_gain
    else:
        one_gain = d_gain
        line_gain = x_gain
    sign = tl.where(values > 0, 1.0, tl.where(values < 0, -1.0, 0.0))
    line_prob = tl.minimum(mag * line_gain, 1.0) * sign
    one_prob = tl.minimum(tl.maximum(one_gain, 0.0), 1.0)
    if COLUMNS:
        line_ptr = d_ptr + b * sd0
        one_ptr = x_ptr + b * sx0
    else:
        line_ptr = x_ptr + b * sx0
        one_ptr = d_ptr + b * sd0
    tl.store(line_ptr + rm, line_prob, mask=ok)
    for w0 in range(0, width, BLOCK_W):
        cols = w0 + tl.arange(0, BLOCK_W)
        tl.store(one_ptr + cols, tl.where(cols == j, one_prob, 0.0), mask=cols < width)
    tl.store(bl_ptr + b, bl.to(tl.int32))


def transfer_write_triton(reads: torch.Tensor, start: int | torch.Tensor, width: int,
                          p: TransferWriteParams, *, buffer: torch.Tensor | None = None,
                          out_sign: torch.Tensor | None = None,
                          in_sign: torch.Tensor | None = None, block_w: int = 1024):
    """Same arguments and result as ``transfer_write_torch``, in one launch."""
    (columns, lr, granularity, desired_bl, long_train, update_management,
     update_bl_management, um_grad_scale, _) = p
    scale, threshold, max_steps, momentum, forget_buffer, buffer_cap, no_buffer = p.buffer
    n, n_len = reads.shape
    dtype = reads.dtype
    line = torch.empty((n, n_len), dtype=dtype, device=reads.device)
    one_hot = torch.empty((n, width), dtype=dtype, device=reads.device)
    bl = torch.empty(n, dtype=torch.int32, device=reads.device)
    x_prob, d_prob = (one_hot, line) if columns else (line, one_hot)
    if n == 0:
        return x_prob, d_prob, bl
    buffered = buffer is not None
    on_device = isinstance(start, torch.Tensor)
    if buffered:
        if buffer.shape[0] != n_len or (not on_device and start + n > buffer.shape[1]):
            raise ValueError(f"buffer {tuple(buffer.shape)} does not hold lines {start}.."
                             f"{start + n - 1} of {n_len} elements")
        out_sign = out_sign.to(dtype).contiguous()
        in_sign = in_sign.to(dtype).contiguous()
    else:
        buffer = out_sign = in_sign = reads  # unused pointers
    long_bl = float(long_train_length(lr, granularity)) if long_train else 0.0
    _transfer_write_kernel[(n,)](
        reads, buffer, out_sign, in_sign, x_prob, d_prob, bl, 0 if on_device else start,
        start if on_device else bl, n_len, width,
        reads.stride(0), reads.stride(1), buffer.stride(0) if buffered else 0,
        buffer.stride(1) if buffered else 0, x_prob.stride(0), d_prob.stride(0),
        float(scale), float(threshold), float(max_steps), float(momentum), float(buffer_cap),
        float(lr), float(granularity), float(desired_bl), float(um_grad_scale), long_bl,
        COLUMNS=bool(columns), BUFFERED=buffered, FORGET=bool(forget_buffer),
        CAP=(not forget_buffer) and buffer_cap > 0, NO_BUFFER=bool(no_buffer),
        UBM=bool(update_bl_management), UM=bool(update_management),
        LONG=bool(long_train) and not update_bl_management, START_PTR=on_device,
        BLOCK_L=triton.next_power_of_2(max(n_len, 16)),
        BLOCK_W=min(block_w, triton.next_power_of_2(max(width, 16))), num_warps=4,
    )
    return x_prob, d_prob, bl


def transfer_lines_triton(weight: torch.Tensor, cell_params: torch.Tensor, reads: torch.Tensor,
                          start: int | torch.Tensor, p: TransferWriteParams, cell: CellParams,
                          *, seed: int | torch.Tensor, max_bl: int | None = None,
                          line_mask: torch.Tensor | None = None,
                          cell_pulses: torch.Tensor | None = None,
                          train_slots: torch.Tensor | None = None, **buffer) -> torch.Tensor:
    """``transfer_lines_torch`` in two launches and no host sync: the trains
    (:func:`transfer_write_triton`), then the pulsed-update kernel on them (``seed``,
    ``max_bl`` from the host; the rows are one-hot, ``sparse_rows``)."""
    from .pulsed_update_cuda import pulsed_update_triton

    width = line_width(weight, p.columns)
    x_prob, d_prob, bl = transfer_write_triton(reads, start, width, p, **buffer)
    bl = masked_lengths(bl, line_mask, train_slots)
    return pulsed_update_triton(weight, cell_params, x_prob, d_prob, bl,
                                UpdateParams(cell, max_bl, sparse_rows=True), seed=seed,
                                cell_pulses=cell_pulses)


__all__ = ["transfer_lines_triton", "transfer_write_triton"]
