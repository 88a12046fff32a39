"""Writing a few whole lines of an array: the one-hot pulsed updates of transfer devices.

A transfer writes column ``j`` of the slow array with the input vector ``e_j`` (or row ``i``
with the output vector ``e_i``), so only that line can receive pulses. The crossbar
statistics then reduce to one train on the one-hot line, shared by every element of the
written line, and one train per element on the other side. Drawing exactly those and
stepping only the touched elements through the cell response gives the same pulses as a
full-array pulsed update with a one-hot vector (``kernels.pulsed_update_ref``) at the cost
of the written lines alone - which is what makes writing ``out`` rows per mini-batch
(mixed precision) or a column per sample (chopped TTv2) affordable on the CPU, where the
draws and the cell steps are one numba call (``kernels.line_write``). On CUDA the
write goes through the pulsed-update kernel with one-hot vectors instead (same statistics,
one launch; with ``sparse_rows`` each block of the kernel walks only the rows it sees
coincidences of).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import kernels
from .array import PulsedArray
from .pulses import UpdateParameters, pulse_trains


def granularity(array: PulsedArray) -> float:
    """The array's mean pulse step; an ideal cell has none, so thresholds that are counted
    in steps use aihwkit's default ``dw_min`` (0.001) for it."""
    return array.granularity if array.cell.is_pulsed else 1e-3


def n_states(array: PulsedArray) -> float:
    """Number of pulse steps across the weight range (2000 for an ideal cell, as above)."""
    return array.cell.n_states if array.cell.is_pulsed else 2.0 / granularity(array)


def line_runs(start: int, count: int, n_lines: int) -> list[tuple[int, int]]:
    """``count`` consecutive lines from ``start`` modulo ``n_lines``, as runs
    ``(first, length)`` of distinct lines that stop at the edge."""
    runs = []
    while count > 0:
        run = min(count, n_lines - start)
        runs.append((start, run))
        start, count = (start + run) % n_lines, count - run
    return runs


@dataclass(frozen=True)
class LineRun:
    """``count`` distinct consecutive lines of ``n_lines`` from ``start``, taken after
    ``passes`` full passes over the lines: what one transfer reads and writes.

    On the host (``start`` and ``passes`` ints) a run stops at the last line. On the device
    they are 0-dim int64 tensors, so a replayed CUDA graph reads where the schedule stands,
    and the run wraps past the last line (line ``(start + b) % n_lines``, of pass
    ``passes + (start + b) // n_lines``).
    """

    start: int | torch.Tensor
    count: int
    n_lines: int
    passes: int | torch.Tensor = 0

    @property
    def on_host(self) -> bool:
        return isinstance(self.start, int)

    def index(self, device) -> torch.Tensor:
        """The line numbers, ``(count,)`` int64."""
        return kernels.line_numbers(self.start, self.count, self.n_lines, device)

    def selector(self, device) -> slice | torch.Tensor:
        """What indexes the run's lines: a slice on the host (a view: no gather, no
        scatter), the line numbers on the device."""
        if self.on_host:
            return slice(self.start, self.start + self.count)
        return self.index(device)

    def pass_of(self, device) -> torch.Tensor:
        """The pass each line is read in, ``(count,)`` int64."""
        return self.passes + (self.start + torch.arange(self.count, device=device)) \
            // self.n_lines

    def pass_done(self) -> bool | torch.Tensor:
        """Whether the run reads the last line (ends a pass): a bool, or a 0-dim tensor."""
        return self.start + self.count >= self.n_lines

    def onehot(self, dtype, device) -> torch.Tensor:
        """``(count, n_lines)``: row b is the one-hot input that reads line b of the run."""
        onehot = torch.zeros(self.count, self.n_lines, dtype=dtype, device=device)
        if self.on_host:
            onehot.diagonal(self.start).fill_(1.0)
        else:
            onehot.scatter_(1, self.index(device)[:, None], 1.0)
        return onehot


def write_lines(array: PulsedArray, index: torch.Tensor, values: torch.Tensor, lr: float,
                params: UpdateParameters, generator: torch.Generator | None, *,
                columns: bool = True) -> torch.Tensor:
    """Pulsed ``W[:, index[b]] -= lr * values[b]`` (``columns``) or ``W[index[b], :] -= ...``.

    ``index`` holds distinct line numbers; ``values`` is ``(n, out)`` for columns and
    ``(n, in)`` for rows. ``params`` are the update parameters of the write (aihwkit's
    ``transfer_update``). Returns the number of pulses applied (0-dim int64 tensor).
    """
    target = array.stored_weight()
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
    if columns:  # x is the one-hot side, d the written column
        trains = pulse_trains(ones, values, lr, granularity(array), params, generator)
        one_bits, line_bits, line_prob = trains.x_bits, trains.d_bits, trains.d_prob
        one_prob = trains.x_prob[:, 0]
    else:
        trains = pulse_trains(values, ones, lr, granularity(array), params, generator)
        one_bits, line_bits, line_prob = trains.d_bits, trains.x_bits, trains.x_prob
        one_prob = trains.d_prob[:, 0]
    counts = None  # deterministic pulse types come as explicit trains
    if one_bits is not None:
        counts = (one_bits[:, :, :1].bool() & line_bits.bool()).sum(1)
    before = None
    if array.write_noise > 0:
        before = target[:, index].clone() if columns else target[index, :].clone()
    cell = array.cell
    pulses = kernels.line_write(target, array.cell_params, index, one_prob, line_prob,
                                trains.bl, generator=generator, columns=columns,
                                cell_kind=cell.kernel_kind, noise_std=float(cell.noise_std),
                                mult_noise=bool(cell.mult_noise),
                                cell_scalars=tuple(cell.cell_scalars), counts=counts)
    if before is not None:  # reads see the written elements with fresh write noise
        _redraw_write_noise(array, index, before, columns, generator)
    elif array.has_reference:  # reads see the written lines' conductance minus reference
        array.refresh_lines(index, columns)
    return pulses


def fused_write(array: PulsedArray, params: UpdateParameters) -> bool:
    """Whether ``write_transferred`` can write this array with these trains: a pulsed cell
    without write noise, continuous stochastic trains, on CUDA or with numba on the CPU."""
    weight = array.weight
    return (array.cell.is_pulsed and array.write_noise <= 0
            and params.pulse_type == "stochastic_compressed" and params.res <= 0
            and (weight.is_cuda or (kernels.HAVE_NUMBA and weight.dtype == torch.float32)))


def write_transferred(array: PulsedArray, lines: LineRun, reads: torch.Tensor, lr: float,
                      params: UpdateParameters, generator: torch.Generator | None, *,
                      columns: bool, write: bool | torch.Tensor = True,
                      buffer: torch.Tensor | None = None, **buffer_options) -> torch.Tensor:
    """The ``lines`` of ``array`` written from a transfer's reads ``(n, L)``:
    ``line -= lr * values`` with ``values = -reads``, or, given the digital ``buffer``, the
    whole steps it lets through (``buffer_options``: ``kernels.accumulate_transfer_buffer``).

    For ``fused_write`` arrays only: the buffer step, the trains and the pulses in one numba
    call on the CPU, two launches and no host sync on CUDA (``kernels.transfer_lines``).
    ``write``: False only updates the buffer; a ``(n,)`` bool tensor writes those lines
    only. Returns the pulses applied (0-dim int64).
    """
    zero = torch.zeros((), dtype=torch.int64, device=reads.device)
    n = reads.shape[0]
    if write is False:
        if buffer is not None:
            kernels.accumulate_transfer_buffer(buffer, reads, lines.index(reads.device),
                                               **buffer_options)
        return zero
    if lr == 0 or n == 0:
        return zero
    g = array.granularity
    long_train = kernels.long_train(lr, g, desired_bl=params.desired_bl,
                                    fixed_bl=params.fixed_bl,
                                    update_bl_management=params.update_bl_management)
    cell = array.cell
    pulses = kernels.transfer_lines(
        array.stored_weight(), array.cell_params, reads, lines.start, columns=columns,
        cell_kind=cell.kernel_kind, noise_std=float(cell.noise_std),
        mult_noise=bool(cell.mult_noise), cell_scalars=tuple(cell.cell_scalars),
        generator=generator, max_bl=kernels.long_train_length(lr, g) if long_train else
        params.desired_bl, seed=array._device_seed(generator) if reads.is_cuda else None,
        lr=lr, granularity=g, desired_bl=params.desired_bl, long_train=long_train,
        update_management=params.update_management,
        update_bl_management=params.update_bl_management, um_grad_scale=params.um_grad_scale,
        buffer=buffer, line_mask=None if isinstance(write, bool) else write, **buffer_options)
    if array.has_reference:  # a reference cell's written lines are read anew
        array.refresh_lines(slice(lines.start, lines.start + n) if lines.on_host
                            else lines.index(reads.device), columns)
    return pulses


def _redraw_write_noise(array, index, before, columns, generator) -> None:
    new = array.stored_weight()[:, index] if columns else array.stored_weight()[index, :]
    noisy = array.read_of(new, index, columns) + array.write_noise * torch.randn(
        new.shape, generator=generator, device=new.device, dtype=new.dtype)
    if columns:
        array.weight[:, index] = torch.where(new != before, noisy, array.weight[:, index])
    else:
        array.weight[index, :] = torch.where(new != before, noisy, array.weight[index, :])


def _write_with_kernel(array, index, values, lr, params, generator, columns) -> torch.Tensor:
    """The same write as rank-1 updates with one-hot vectors through the array's kernel (its
    blocks without a coincidence skip each row), under the write's update parameters."""
    n_out, n_in = array.weight.shape
    onehot = torch.zeros(index.numel(), n_in if columns else n_out, dtype=values.dtype,
                         device=values.device)
    onehot.scatter_(1, index[:, None], 1.0)  # no host sync (an index_put_ of 1.0 waits)
    x_rows, d_rows = (onehot, values) if columns else (values, onehot)
    saved = array.update_params
    array.update_params = params
    try:
        return array.update(x_rows, d_rows, lr, generator, sparse_rows=True)
    finally:
        array.update_params = saved
