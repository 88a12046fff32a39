"""A transfer's whole write on the CPU in one numba call (meaning: ``transfer_write_ref.py``).

Per transferred line: the buffer step (buffered devices), the line's largest value, the train
length and gains of the one-hot write, the one-hot line's slots, each element's coincidences
and its pulses through the cell - what the twin does in some sixty small torch operations
(``transfer_lines_torch``). Random numbers as in ``line_write_cpu``: ``counter_rng_cpu``,
seeded per call from the tile's torch generator.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit

from . import seeds
from .cell_pulse_cpu import table_array
from .counter_rng_cpu import rng_state
from .layout import check_cell
from .line_write_cpu import fired_count, pulse_on_line
from .params import CellParams, TransferWriteParams
from .pulsed_update_cpu import cell_counter
from .pulsed_update_ref import long_train_length


@njit(cache=True)
def _transfer_lines(weight, cp, reads, start, columns, buffered, h, out_sign, in_sign, scale,
                    threshold, max_steps, momentum, forget, buffer_cap, no_buffer, lr, g,
                    desired_bl, long_train, long_bl, um, ubm, um_grad_scale, cell_kind,
                    noise_std, mult_noise, scalars, table, seed, cnt, counting, slots):
    rng = rng_state(seed)
    n, length = reads.shape
    values = np.empty((n, length), dtype=np.float32)
    v_max = np.zeros(n, dtype=np.float32)
    cap = buffer_cap * threshold
    # pass 1, element by element in the buffer's memory order (its rows hold the lines)
    for i in range(length):
        for b in range(n):
            if buffered:  # transfer_buffer_ref
                j = start + b
                signal = (out_sign[i] * in_sign[j]) * reads[b, i] * scale
                omega = signal if no_buffer else h[i, j] + signal
                s = np.float32(min(max(math.trunc(omega / threshold), -max_steps), max_steps))
                if s != 0:
                    if forget:
                        omega = omega * momentum
                    else:
                        omega = omega - (np.float32(1.0) - momentum) * s * threshold
                        if buffer_cap > 0:
                            omega = min(max(omega, -cap), cap)
                h[i, j] = omega
                v = -s
            else:
                v = -reads[b, i]
            values[b, i] = v
            v_max[b] = max(v_max[b], abs(v))
    # pass 2, per line: train length and gains (transfer_write_ref.one_hot_gains), the
    # one-hot line's slots, then each element's coincidences and pulses
    total = 0
    one = np.float32(1.0)
    for b in range(n):
        x_max, d_max = (np.float32(1.0), v_max[b]) if columns else (v_max[b], np.float32(1.0))
        if not (x_max > 0 and d_max > 0) or lr <= 0:
            continue
        # float32 throughout, as the twin computes: the train length is a ceil, where
        # float64 could land one slot off
        d_m = d_max * um_grad_scale
        if ubm:
            bl = min(max(np.float32(math.ceil(lr * x_max * d_m / g)), one), desired_bl)
            amp = np.float32(math.sqrt(lr / (g * bl)))
        elif long_train:
            bl = long_bl
            amp = one
        else:
            bl = desired_bl
            amp = np.float32(math.sqrt(lr / (g * bl)))
        if um or ubm:
            k = lr * x_max * d_m / g
            if k > bl:
                d_m = d_m * bl / k
            ratio = np.float32(math.sqrt(x_max / d_m))
            x_gain, d_gain = amp / ratio, amp * ratio
        else:
            x_gain = d_gain = amp
        one_gain, line_gain = (x_gain, d_gain) if columns else (d_gain, x_gain)
        slots[0] += int(bl)  # the line's train, whether or not its one-hot side fires
        n_fired = fired_count(int(bl), min(max(one_gain, 0.0), 1.0), rng)
        if n_fired == 0:
            continue
        j = start + b
        for i in range(length):
            v = values[b, i]
            if v == 0:
                continue
            count = fired_count(n_fired, min(abs(v) * line_gain, 1.0), rng)
            total += pulse_on_line(weight, cp, cnt, counting, j, i, columns, count, v < 0,
                                   cell_kind, noise_std, mult_noise, scalars, table, rng)
    return total


def transfer_lines_numba(weight: torch.Tensor, cell_params: torch.Tensor, reads: torch.Tensor,
                         start: int, p: TransferWriteParams, cell: CellParams, *,
                         seed: int = 0, buffer: torch.Tensor | None = None,
                         out_sign: torch.Tensor | None = None,
                         in_sign: torch.Tensor | None = None,
                         cell_pulses: torch.Tensor | None = None,
                         train_slots: torch.Tensor | None = None) -> torch.Tensor:
    """Same arguments and result as ``transfer_lines_torch`` (``seed`` instead of a
    generator); float32 CPU tensors, ``weight`` and ``buffer`` updated in place."""
    (columns, lr, granularity, desired_bl, long_train, update_management,
     update_bl_management, um_grad_scale, _) = p
    scale, threshold, max_steps, momentum, forget_buffer, buffer_cap, no_buffer = p.buffer
    cell_kind, noise_std, mult_noise, cell_scalars, cell_table = cell
    slots = np.zeros(1, dtype=np.int64)
    counting, cnt = cell_counter(cell_pulses, tuple(weight.shape))
    f32 = np.float32
    scalars = np.asarray(check_cell(cell_kind, cell_params, cell_scalars, cell_table),
                         dtype=np.float32)
    reads = reads.detach().to(weight.dtype).contiguous()
    buffered = buffer is not None
    if buffered:
        h, o, i = (buffer.detach().numpy(), out_sign.detach().to(weight.dtype).numpy(),
                   in_sign.detach().to(weight.dtype).numpy())
    else:
        h = np.zeros((1, 1), dtype=np.float32)
        o = i = np.zeros(1, dtype=np.float32)
    long_bl = float(long_train_length(lr, granularity)) if long_train else 0.0
    total = _transfer_lines(
        weight.detach().numpy(), cell_params.detach().numpy(), reads.numpy(), int(start),
        bool(columns), buffered, h, o, i, f32(scale), f32(threshold), f32(max_steps),
        f32(momentum), bool(forget_buffer), f32(buffer_cap), bool(no_buffer), f32(lr),
        f32(granularity), f32(desired_bl), bool(long_train), f32(long_bl),
        bool(update_management), bool(update_bl_management), f32(um_grad_scale),
        int(cell_kind), f32(noise_std), bool(mult_noise), scalars, table_array(cell_table),
        seeds.low32(seed), cnt, counting, slots)
    if train_slots is not None:
        train_slots += int(slots[0])
    return torch.tensor(total, dtype=torch.int64)


__all__ = ["transfer_lines_numba"]
