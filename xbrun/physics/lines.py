"""Writing a few whole lines of an array: the one-hot pulsed updates of transfer devices.

A transfer writes column ``j`` of the slow array with the input vector ``e_j`` (or row ``i``
with the output vector ``e_i``), so only that line can receive pulses. The crossbar
statistics then reduce to one train on the one-hot line, shared by every element of the
written line, and one train per element on the other side. Drawing exactly those and
stepping only the touched elements through the cell response gives the same pulses as a
full-array pulsed update with a one-hot vector (``kernels.pulsed_update_ref``) at the cost
of the written lines alone - which is what makes writing ``out`` rows per mini-batch
(mixed precision) or a column per sample (chopped TTv2) affordable on the CPU. On CUDA the
write goes through the pulsed-update kernel with one-hot vectors instead (same statistics,
one launch; the kernel's blocks without a coincidence skip the row).
"""

from __future__ import annotations

import torch

from .. import kernels
from .array import PulsedArray
from .pulses import UpdateParameters, pulse_trains


def granularity(array: PulsedArray) -> float:
    """The array's mean pulse step; an ideal cell has none, so thresholds that are counted
    in steps use aihwkit's default ``dw_min`` (0.001) for it."""
    if not array.cell.is_pulsed:
        return 1e-3
    return float(getattr(array, "granularity", array.dw_min))


def n_states(array: PulsedArray) -> float:
    """Number of pulse steps across the weight range (2000 for an ideal cell, as above)."""
    cell = array.cell
    if not cell.is_pulsed:
        return 2.0 / granularity(array)
    return float(getattr(cell, "n_states", (cell.w_max - cell.w_min) / cell.dw_min))


def write_lines(array: PulsedArray, index: torch.Tensor, values: torch.Tensor, lr: float,
                params: UpdateParameters, generator: torch.Generator | None, *,
                columns: bool = True) -> torch.Tensor:
    """Pulsed ``W[:, index[b]] -= lr * values[b]`` (``columns``) or ``W[index[b], :] -= ...``.

    ``index`` holds distinct line numbers; ``values`` is ``(n, out)`` for columns and
    ``(n, in)`` for rows. ``params`` are the update parameters of the write (aihwkit's
    ``transfer_update``). Returns the number of pulses applied (0-dim int64 tensor).
    """
    target = array.stored_weight() if hasattr(array, "stored_weight") else array.weight
    zero = torch.zeros((), dtype=torch.int64, device=target.device)
    n = index.numel()
    if n == 0 or lr == 0:
        return zero
    values = values.to(target.dtype)
    if not array.cell.is_pulsed:  # an ideal cell takes the update exactly
        if columns:
            target[:, index] -= lr * values.T
        else:
            target[index, :] -= lr * values
        return zero
    if target.is_cuda:  # one launch of the pulsed-update kernel beats a loop of small ops
        return _write_with_kernel(array, index, values, lr, params, generator, columns)
    ones = torch.ones(n, 1, dtype=values.dtype, device=values.device)
    step = granularity(array)
    if columns:  # x is the one-hot side, d the written column
        trains = pulse_trains(ones, values, lr, step, params, generator)
        one_bits, line_bits, line_prob = trains.x_bits, trains.d_bits, trains.d_prob
        one_prob = trains.x_prob[:, 0]
    else:
        trains = pulse_trains(values, ones, lr, step, params, generator)
        one_bits, line_bits, line_prob = trains.d_bits, trains.x_bits, trains.x_prob
        one_prob = trains.d_prob[:, 0]
    if one_bits is not None:  # deterministic pulse types come as explicit trains
        counts = (one_bits[:, :, :1].bool() & line_bits.bool()).sum(1)
    else:
        bl = trains.bl.to(torch.int64)
        length = int(bl.max())
        if length == 0:
            return zero
        slots = torch.arange(length, device=bl.device)[None, :] < bl[:, None]
        fire = torch.rand((n, length), generator=generator, device=values.device)
        one = (fire < one_prob.abs()[:, None]) & slots
        fire = torch.rand((n, length, line_prob.shape[1]), generator=generator,
                          device=values.device)
        counts = (one[:, :, None] & (fire < line_prob.abs()[:, None, :])).sum(1)
    up = line_prob < 0  # the one-hot side is positive: up where the value is negative
    if columns:
        old, cell_params, counts, up = (target[:, index], array.cell_params[:, :, index],
                                        counts.T, up.T)
    else:
        old, cell_params = target[index, :], array.cell_params[:, index, :]
    new = _pulse(array, old, cell_params, counts, up, generator)
    if columns:
        target[:, index] = new
    else:
        target[index, :] = new
    write_noise = float(getattr(array, "write_noise", 0.0))
    if write_noise > 0:  # reads see the written elements with fresh write noise
        noisy = new + write_noise * torch.randn(new.shape, generator=generator,
                                                device=new.device, dtype=new.dtype)
        if columns:
            array.weight[:, index] = torch.where(new != old, noisy, array.weight[:, index])
        else:
            array.weight[index, :] = torch.where(new != old, noisy, array.weight[index, :])
    return counts.sum().to(torch.int64)


def _write_with_kernel(array, index, values, lr, params, generator, columns) -> torch.Tensor:
    """The same write as rank-1 updates with one-hot vectors through the array's kernel (its
    blocks without a coincidence skip each row), under the write's update parameters."""
    n_out, n_in = array.weight.shape
    onehot = torch.zeros(index.numel(), n_in if columns else n_out, dtype=values.dtype,
                         device=values.device)
    onehot[torch.arange(index.numel(), device=index.device), index] = 1.0
    x_rows, d_rows = (onehot, values) if columns else (values, onehot)
    saved = array.update_params
    array.update_params = params
    try:
        return array.update(x_rows, d_rows, lr, generator)
    finally:
        array.update_params = saved


def _pulse(array: PulsedArray, weight: torch.Tensor, cell_params: torch.Tensor,
           counts: torch.Tensor, up: torch.Tensor,
           generator: torch.Generator | None) -> torch.Tensor:
    """``counts`` pulses of one sign per element, one after another through the cell."""
    cell = array.cell
    noise = float(cell.noise_std)
    n_max = int(counts.max()) if counts.numel() else 0
    for p in range(n_max):
        xi = (torch.randn(weight.shape, generator=generator, device=weight.device,
                          dtype=weight.dtype) if noise > 0 else None)
        stepped = kernels.single_pulse_torch(
            weight, up, cell_params, cell_kind=cell.kernel_kind, noise_std=noise,
            mult_noise=bool(cell.mult_noise), xi=xi,
            cell_scalars=tuple(getattr(cell, "cell_scalars", ())))
        weight = torch.where(counts > p, stepped, weight)
    return weight
