"""A transfer's whole write on the CPU in one numba call (meaning: ``transfer_write_ref.py``).

Per transferred line: AGAD's reference means (with a chopper), the buffer step (buffered
devices), the line's largest value, the train length and gains of the one-hot write, the
one-hot line's slots, each element's coincidences and its pulses through the cell, then the
chopped devices' switches of the lines' input choppers - what the twin does in some sixty
small torch operations (``transfer_lines_torch``). Random numbers as in ``line_write_cpu``:
``counter_rng_cpu``, seeded per call from the tile's torch generator.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from numba import njit, types
from numba.extending import intrinsic

from . import seeds
from .cell_pulse_cpu import table_array
from .counter_rng_cpu import rng_state
from .layout import check_cell
from .line_write_cpu import fired_count, pulse_on_line
from .params import CellParams, ChopperParams, TransferWriteParams
from .pulsed_update_cpu import cell_counter
from .pulsed_update_ref import long_train_length
from .transfer_buffer_cpu import buffer_numbers, buffer_value

# the float32 numbers of one write, packed in one array (``_numbers``): a numba call pays
# for each argument it types, and a transfer is a few microseconds of work
(_COLUMNS, _BUFFERED, _SCALE, _THRESHOLD, _MAX_STEPS, _MOMENTUM, _KEEP, _CAP, _FORGET,
 _CAPPED, _NO_BUFFER, _LR, _G, _DESIRED_BL, _LONG, _LONG_BL, _UM, _UBM, _UM_GRAD, _KIND,
 _NOISE, _MULT, _CHOPPED, _FLIP_PROB, _PERIOD, _MEAN_M, _MEAN_KEEP, _READY_AFTER,
 _N_NUMBERS) = range(29)


@intrinsic
def _fma32(typingctx, a, b, c):
    """``a * b + c`` in float32, rounded once (LLVM's fma): torch's ``add_(x, alpha=m)``
    on an FMA CPU, which AGAD's running mean is defined by (``reference_reads_torch``)."""
    if not all(isinstance(t, types.Float) and t.bitwidth == 32 for t in (a, b, c)):
        return None

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return types.float32(types.float32, types.float32, types.float32), codegen


@njit(cache=True)
def _transfer_lines(weight, cp, reads, start, h, out_sign, in_sign, numbers, scalars, table,
                    seed, cnt, counting, slots, passes, flip_draws, running, past, switched):
    columns, buffered = numbers[_COLUMNS] != 0, numbers[_BUFFERED] != 0
    scale, threshold, max_steps = numbers[_SCALE], numbers[_THRESHOLD], numbers[_MAX_STEPS]
    momentum, keep, cap = numbers[_MOMENTUM], numbers[_KEEP], numbers[_CAP]
    forget, capped = numbers[_FORGET] != 0, numbers[_CAPPED] != 0
    no_buffer, lr, g = numbers[_NO_BUFFER] != 0, numbers[_LR], numbers[_G]
    desired_bl, long_train, long_bl = numbers[_DESIRED_BL], numbers[_LONG] != 0, numbers[_LONG_BL]
    um, ubm, um_grad_scale = numbers[_UM] != 0, numbers[_UBM] != 0, numbers[_UM_GRAD]
    cell_kind, noise_std, mult_noise = int(numbers[_KIND]), numbers[_NOISE], numbers[_MULT] != 0
    chopped, flip_prob, period = numbers[_CHOPPED] != 0, numbers[_FLIP_PROB], int(numbers[_PERIOD])
    mean_m, mean_keep, ready_after = numbers[_MEAN_M], numbers[_MEAN_KEEP], numbers[_READY_AFTER]
    means = chopped and running.shape[0] > 0
    rng = rng_state(seed)
    n, length = reads.shape
    width = weight.shape[1] if columns else weight.shape[0]
    values = np.empty((n, length), dtype=np.float32)
    v_max = np.zeros(n, dtype=np.float32)
    # pass 1, element by element in the buffer's memory order (its rows hold the lines)
    for i in range(length):
        for b in range(n):
            j = start + b
            read = reads[b, i]
            if means:  # transfer_write_ref.reference_reads_torch
                mean = running[i, j]
                reference = mean if switched[j] else past[i, j]
                running[i, j] = _fma32(read, mean_m, mean * mean_keep)
                past[i, j] = reference
                read = read - reference
            if buffered:  # transfer_buffer_ref
                signal = (out_sign[i] * in_sign[j]) * read * scale
                s, h[i, j] = buffer_value(h[i, j], signal, threshold, max_steps, momentum,
                                          keep, cap, forget, capped, no_buffer)
                v = -s
            else:
                v = -read
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
        if chopped and ready_after >= 0 and passes + (start + b) // width <= ready_after:
            continue  # AGAD: no reference yet, nothing written (nor counted)
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
    if chopped:  # transfer_write_ref.switch_choppers_torch, after the write
        for b in range(n):
            j = start + b
            line_pass = passes + j // width
            flip = period > 0 and line_pass % period + 1 == period
            if flip_draws.shape[0] > 0 and flip_draws[b] < flip_prob:
                flip = True
            if flip:
                in_sign[j] = -in_sign[j]
            if means:
                switched[j] = flip
    return total


def transfer_lines_numba(weight: torch.Tensor, cell_params: torch.Tensor, reads: torch.Tensor,
                         start: int, p: TransferWriteParams, cell: CellParams, *,
                         seed: int = 0, buffer: torch.Tensor | None = None,
                         out_sign: torch.Tensor | None = None,
                         in_sign: torch.Tensor | None = None,
                         chopper: ChopperParams | None = None,
                         flip_draws: torch.Tensor | None = None, passes: int = 0,
                         running_mean: torch.Tensor | None = None,
                         past_mean: torch.Tensor | None = None,
                         switched: torch.Tensor | None = None,
                         cell_pulses: torch.Tensor | None = None,
                         train_slots: torch.Tensor | None = None) -> torch.Tensor:
    """Same arguments and result as ``transfer_lines_torch`` (``seed`` instead of a
    generator, a host ``start`` and ``passes``, no ``line_mask``); float32 CPU tensors,
    ``weight``, ``buffer``, the input choppers and AGAD's means updated in place."""
    cell_kind, noise_std, mult_noise, cell_scalars, cell_table = cell
    counting, cnt = cell_counter(cell_pulses, tuple(weight.shape))
    buffered = buffer is not None
    if chopper is not None and not buffered:
        raise ValueError("the chopper bookkeeping comes with a buffered write")
    numbers, scalars = _numbers(p, buffered, chopper, cell_kind, noise_std, mult_noise,
                                check_cell(cell_kind, cell_params, cell_scalars, cell_table))
    f32 = weight.dtype
    reads = reads.detach()
    if reads.dtype != f32 or not reads.is_contiguous():
        reads = reads.to(f32).contiguous()
    if buffered:
        h, o, i = (buffer.detach().numpy(), _signs(out_sign, f32), _signs(in_sign, f32))
    else:
        h, o, i = _NO_BUFFER_H, _NO_SIGNS, _NO_SIGNS
    draws, running, past, flags = _NO_SIGNS[:0], _NO_BUFFER_H[:0], _NO_BUFFER_H[:0], _NO_FLAGS
    if chopper is not None:  # written in place: views of the tensors themselves
        means = () if running_mean is None else (running_mean, past_mean)
        if in_sign.dtype != f32 or any(t.dtype != f32 for t in means) or (
                means and switched.dtype != torch.bool):
            raise ValueError("the chopper bookkeeping needs float32 signs and means and a "
                             "bool switched (it writes them in place)")
        if chopper.flip_prob > 0:
            if flip_draws is None:
                raise ValueError("chopper.flip_prob > 0 needs flip_draws, one per line")
            draws = flip_draws.detach().to(torch.float32).numpy()
        if means:
            running, past, flags = (t.detach().numpy() for t in (*means, switched))
    # the trains' slots go straight into the ledger entry (an int64 CPU tensor's view)
    slots = (train_slots.numpy() if train_slots is not None and train_slots.dtype == torch.int64
             and train_slots.is_contiguous() else np.zeros(1, dtype=np.int64))
    total = _transfer_lines(
        weight.detach().numpy(), cell_params.detach().numpy(), reads.numpy(), int(start), h,
        o, i, numbers, scalars, table_array(cell_table), seeds.low32(seed), cnt, counting,
        slots, int(passes), draws, running, past, flags)
    if train_slots is not None and slots.base is None:  # not a view of it: add
        train_slots += int(slots[0])
    return torch.scalar_tensor(total, dtype=torch.int64)  # (torch.tensor: 3x slower)


def bind_transfer_lines(weight: torch.Tensor, cell_params: torch.Tensor,
                        p: TransferWriteParams, cell: CellParams, *,
                        buffer: torch.Tensor | None = None,
                        out_sign: torch.Tensor | None = None,
                        in_sign: torch.Tensor | None = None,
                        chopper: ChopperParams | None = None,
                        running_mean: torch.Tensor | None = None,
                        past_mean: torch.Tensor | None = None,
                        switched: torch.Tensor | None = None,
                        cell_pulses: torch.Tensor | None = None,
                        train_slots: torch.Tensor | None = None):
    """``transfer_lines_numba``, every argument but the reads, ``start``, ``seed`` and (with
    a ``chopper``) ``passes`` and ``flip_draws`` made once: ``run(reads, start, seed,
    passes=0, flip_draws=None)`` -> pulses (0-dim int64). A transfer's write is a few
    microseconds of kernel, its Python as much again. The numpy views write through to the
    tensors, so ``run`` holds while their storage does (the caller keys it on their
    ``data_ptr``); None where a tensor is no float32 (int64 for ``train_slots``, bool for
    ``switched``) contiguous view - ``transfer_lines_numba`` converts those per call."""
    cell_kind, noise_std, mult_noise, cell_scalars, cell_table = cell
    f32 = torch.float32
    buffered = buffer is not None
    if chopper is not None and not buffered:
        raise ValueError("the chopper bookkeeping comes with a buffered write")
    means = () if chopper is None or running_mean is None else (running_mean, past_mean)
    views = [t for t in (weight, cell_params, buffer, out_sign, in_sign, *means)
             if t is not None]
    if (weight.dtype != f32 or any(t.dtype != f32 or not t.is_contiguous() for t in views)
            or train_slots is None or train_slots.dtype != torch.int64
            or not train_slots.is_contiguous()
            or (means and (switched.dtype != torch.bool or not switched.is_contiguous()))):
        return None
    counting, cnt = cell_counter(cell_pulses, tuple(weight.shape))
    numbers, scalars = _numbers(p, buffered, chopper, cell_kind, noise_std, mult_noise,
                                check_cell(cell_kind, cell_params, cell_scalars, cell_table))
    if buffered:
        h, o, i = (t.detach().numpy() for t in (buffer, out_sign, in_sign))
    else:
        h, o, i = _NO_BUFFER_H, _NO_SIGNS, _NO_SIGNS
    w, cp, table = weight.detach().numpy(), cell_params.detach().numpy(), table_array(cell_table)
    slots = train_slots.detach().numpy()
    no_draws, running, past, flags = _NO_SIGNS[:0], _NO_BUFFER_H[:0], _NO_BUFFER_H[:0], _NO_FLAGS
    if means:  # written in place: views of the tensors themselves
        running, past, flags = (t.detach().numpy() for t in (*means, switched))
    scalar, int64 = torch.scalar_tensor, torch.int64

    def run(reads: torch.Tensor, start: int, seed: int, passes: int = 0,
            flip_draws: torch.Tensor | None = None) -> torch.Tensor:
        reads = reads.detach()
        if reads.dtype != f32 or not reads.is_contiguous():
            reads = reads.to(f32).contiguous()
        draws = no_draws if flip_draws is None else flip_draws.detach().to(f32).numpy()
        total = _transfer_lines(w, cp, reads.numpy(), start, h, o, i, numbers, scalars,
                                table, seeds.low32(seed), cnt, counting, slots, passes, draws,
                                running, past, flags)
        return scalar(total, dtype=int64)

    return run


_NO_BUFFER_H = np.zeros((1, 1), dtype=np.float32)
_NO_SIGNS = np.zeros(1, dtype=np.float32)
_NO_FLAGS = np.zeros(0, dtype=np.bool_)


def _signs(sign: torch.Tensor, dtype: torch.dtype) -> np.ndarray:
    sign = sign.detach()
    return (sign if sign.dtype == dtype else sign.to(dtype)).numpy()


@functools.lru_cache(maxsize=256)
def _numbers(p: TransferWriteParams, buffered: bool, chopper: ChopperParams | None,
             cell_kind: int, noise_std: float, mult_noise: bool,
             scalars: tuple) -> tuple[np.ndarray, np.ndarray]:
    """The write's numbers as the kernel reads them (float32, as the twin computes), and the
    cell's scalars (``check_cell``'s): built once per setting, not per transfer."""
    (columns, lr, granularity, desired_bl, long_train, update_management,
     update_bl_management, um_grad_scale, _) = p
    forget_buffer, _, no_buffer = p.buffer[4:]
    long_bl = float(long_train_length(lr, granularity)) if long_train else 0.0
    numbers = np.zeros(_N_NUMBERS, dtype=np.float32)
    numbers[_SCALE:_CAP + 1] = buffer_numbers(p.buffer)  # as the twin rounds them
    for index, value in ((_COLUMNS, columns), (_BUFFERED, buffered), (_FORGET, forget_buffer),
                         (_CAPPED, p.buffer.capped),
                         (_NO_BUFFER, no_buffer), (_LR, lr), (_G, granularity),
                         (_DESIRED_BL, desired_bl), (_LONG, long_train), (_LONG_BL, long_bl),
                         (_UM, update_management), (_UBM, update_bl_management),
                         (_UM_GRAD, um_grad_scale), (_KIND, cell_kind), (_NOISE, noise_std),
                         (_MULT, mult_noise)):
        numbers[index] = np.float32(float(value))
    if chopper is not None:  # (1 - momentum) as the twin's mul_ takes it: rounded once
        flip_prob, period, momentum, ready_after = chopper
        for index, value in ((_CHOPPED, 1.0), (_FLIP_PROB, flip_prob), (_PERIOD, period),
                             (_MEAN_M, momentum), (_MEAN_KEEP, 1.0 - momentum),
                             (_READY_AFTER, ready_after)):
            numbers[index] = np.float32(float(value))
    return numbers, np.asarray(scalars, dtype=np.float32)


__all__ = ["bind_transfer_lines", "transfer_lines_numba"]
