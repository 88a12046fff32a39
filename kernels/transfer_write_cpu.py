"""A transfer's whole write on the CPU in one numba call (meaning: ``transfer_write_ref.py``).

Per transferred line: the buffer step (buffered devices), the line's largest value, the train
length and gains of the one-hot write, the one-hot line's slots, each element's coincidences
and its pulses through the cell - what the twin does in some sixty small torch operations
(``transfer_lines_torch``). Random numbers as in ``line_write_cpu``: ``counter_rng_cpu``,
seeded per call from the tile's torch generator.
"""

from __future__ import annotations

import functools
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

# the float32 numbers of one write, packed in one array (``_numbers``): a numba call pays
# for each argument it types, and a transfer is a few microseconds of work
(_COLUMNS, _BUFFERED, _SCALE, _THRESHOLD, _MAX_STEPS, _MOMENTUM, _FORGET, _CAP, _NO_BUFFER,
 _LR, _G, _DESIRED_BL, _LONG, _LONG_BL, _UM, _UBM, _UM_GRAD, _KIND, _NOISE, _MULT,
 _N_NUMBERS) = range(21)


@njit(cache=True)
def _transfer_lines(weight, cp, reads, start, h, out_sign, in_sign, numbers, scalars, table,
                    seed, cnt, counting, slots):
    columns, buffered = numbers[_COLUMNS] != 0, numbers[_BUFFERED] != 0
    scale, threshold, max_steps = numbers[_SCALE], numbers[_THRESHOLD], numbers[_MAX_STEPS]
    momentum, forget, buffer_cap = numbers[_MOMENTUM], numbers[_FORGET] != 0, numbers[_CAP]
    no_buffer, lr, g = numbers[_NO_BUFFER] != 0, numbers[_LR], numbers[_G]
    desired_bl, long_train, long_bl = numbers[_DESIRED_BL], numbers[_LONG] != 0, numbers[_LONG_BL]
    um, ubm, um_grad_scale = numbers[_UM] != 0, numbers[_UBM] != 0, numbers[_UM_GRAD]
    cell_kind, noise_std, mult_noise = int(numbers[_KIND]), numbers[_NOISE], numbers[_MULT] != 0
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
    cell_kind, noise_std, mult_noise, cell_scalars, cell_table = cell
    counting, cnt = cell_counter(cell_pulses, tuple(weight.shape))
    buffered = buffer is not None
    numbers, scalars = _numbers(p, buffered, cell_kind, noise_std, mult_noise,
                                check_cell(cell_kind, cell_params, cell_scalars, cell_table))
    f32 = weight.dtype
    reads = reads.detach()
    if reads.dtype != f32 or not reads.is_contiguous():
        reads = reads.to(f32).contiguous()
    if buffered:
        h, o, i = (buffer.detach().numpy(), _signs(out_sign, f32), _signs(in_sign, f32))
    else:
        h, o, i = _NO_BUFFER_H, _NO_SIGNS, _NO_SIGNS
    # the trains' slots go straight into the ledger entry (an int64 CPU tensor's view)
    slots = (train_slots.numpy() if train_slots is not None and train_slots.dtype == torch.int64
             and train_slots.is_contiguous() else np.zeros(1, dtype=np.int64))
    total = _transfer_lines(
        weight.detach().numpy(), cell_params.detach().numpy(), reads.numpy(), int(start), h,
        o, i, numbers, scalars, table_array(cell_table), seeds.low32(seed), cnt, counting,
        slots)
    if train_slots is not None and slots.base is None:  # not a view of it: add
        train_slots += int(slots[0])
    return torch.scalar_tensor(total, dtype=torch.int64)  # (torch.tensor: 3x slower)


_NO_BUFFER_H = np.zeros((1, 1), dtype=np.float32)
_NO_SIGNS = np.zeros(1, dtype=np.float32)


def _signs(sign: torch.Tensor, dtype: torch.dtype) -> np.ndarray:
    sign = sign.detach()
    return (sign if sign.dtype == dtype else sign.to(dtype)).numpy()


@functools.lru_cache(maxsize=256)
def _numbers(p: TransferWriteParams, buffered: bool, cell_kind: int, noise_std: float,
             mult_noise: bool, scalars: tuple) -> tuple[np.ndarray, np.ndarray]:
    """The write's numbers as the kernel reads them (float32, as the twin computes), and the
    cell's scalars (``check_cell``'s): built once per setting, not per transfer."""
    (columns, lr, granularity, desired_bl, long_train, update_management,
     update_bl_management, um_grad_scale, _) = p
    scale, threshold, max_steps, momentum, forget_buffer, buffer_cap, no_buffer = p.buffer
    long_bl = float(long_train_length(lr, granularity)) if long_train else 0.0
    numbers = np.zeros(_N_NUMBERS, dtype=np.float32)
    for index, value in ((_COLUMNS, columns), (_BUFFERED, buffered), (_SCALE, scale),
                         (_THRESHOLD, threshold), (_MAX_STEPS, max_steps),
                         (_MOMENTUM, momentum), (_FORGET, forget_buffer), (_CAP, buffer_cap),
                         (_NO_BUFFER, no_buffer), (_LR, lr), (_G, granularity),
                         (_DESIRED_BL, desired_bl), (_LONG, long_train), (_LONG_BL, long_bl),
                         (_UM, update_management), (_UBM, update_bl_management),
                         (_UM_GRAD, um_grad_scale), (_KIND, cell_kind), (_NOISE, noise_std),
                         (_MULT, mult_noise)):
        numbers[index] = np.float32(float(value))
    return numbers, np.asarray(scalars, dtype=np.float32)


__all__ = ["transfer_lines_numba"]
