"""Triton kernel of mixed precision's digital step for a grid of tiles (meaning:
``chi_steps_ref.py``).

One program a line of a tile (a row of its chi, ``BLOCK`` columns of it): it loads the
line's chi and its block of the layer's increment ``inc`` (one matmul for the whole layer,
made before), adds ``inc * lr``, and, where a transfer writes, takes the whole steps out and
stores them negated at the line's place in the tile's run (from the walk's first line, a
device tensor: a replayed graph reads it anew). So chi is read and written once a step,
where tile by tile it is read and written some seven times over 16 launches. Divisions are
IEEE (``div_rn``) and the launch forbids fused multiply-adds (``enable_fp_fusion=False``),
so the numbers are the twin's bit for bit.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .layout import CELL_CONSTANT
from .params import CellParams, TransferWriteParams
from .pulsed_update_ref import long_train_length
from .seeds import KeyedSeed
from .transfer_write_cuda import _line_gains


@triton.jit
def _chi_line(chi_ptr, inc_ptr, g, j, k, ok, rows, cols, n_cols, inc_stride, lr,
              granularity, WRITE: tl.constexpr):
    """Elements ``k`` of row ``j`` of tile ``g``'s chi plus its block of ``inc`` times
    ``lr``, stored back (``WRITE``: the whole steps taken out first); the steps (zeros
    without ``WRITE``)."""
    here = (g.to(tl.int64) * rows + j) * cols + k
    there = ((g // n_cols).to(tl.int64) * rows + j) * inc_stride \
        + (g % n_cols).to(tl.int64) * cols + k
    omega = tl.load(chi_ptr + here, mask=ok, other=0.0) \
        + tl.load(inc_ptr + there, mask=ok, other=0.0) * lr
    steps = omega * 0.0
    if WRITE:
        q = tl.div_rn(omega, granularity)
        steps = tl.where(q >= 0, tl.floor(q), tl.ceil(q))
        omega = tl.where(steps != 0, omega - steps * granularity, omega)
    tl.store(chi_ptr + here, omega, mask=ok)
    return steps


@triton.jit
def _chi_steps_kernel(chi_ptr, inc_ptr, amt_ptr, start_ptr, rows, cols, n_cols, inc_stride,
                      lr, granularity, WRITE: tl.constexpr, BLOCK: tl.constexpr):
    line = tl.program_id(0)  # g * rows + b: line b of tile g's run
    g = line // rows
    b = line % rows
    if WRITE:
        j = (tl.load(start_ptr + g) + b) % rows  # the run's line b is chi's row j
    else:
        j = b.to(tl.int64)
    k = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    ok = k < cols
    steps = _chi_line(chi_ptr, inc_ptr, g, j, k, ok, rows, cols, n_cols, inc_stride, lr,
                      granularity, WRITE)
    if WRITE:
        tl.store(amt_ptr + line.to(tl.int64) * cols + k, -steps, mask=ok)


def chi_steps_triton(chi: torch.Tensor, inc: torch.Tensor, n_cols: int, lr: float,
                     granularity: float, start: torch.Tensor | None = None
                     ) -> torch.Tensor | None:
    """Same arguments and result as ``chi_steps_torch`` (float32, ``chi`` contiguous, ``inc``
    with contiguous rows), in one launch."""
    tiles, rows, cols = chi.shape
    if not chi.is_contiguous():
        raise ValueError("chi_steps: chi must be contiguous (a grid's bound buffer)")
    n_rows = tiles // n_cols
    if n_rows * n_cols != tiles or tuple(inc.shape) != (n_rows * rows, n_cols * cols):
        raise ValueError(f"chi_steps: a {tuple(inc.shape)} increment is not a grid of "
                         f"{tiles} tiles of {rows} x {cols} with {n_cols} columns")
    if inc.stride(1) != 1:
        inc = inc.contiguous()
    write = start is not None
    if write and (start.dtype != torch.int64 or start.shape != (tiles,)):
        raise ValueError("chi_steps: start must be an int64 (tiles,) tensor")
    if write:
        start = start.contiguous()  # (a walk's snapshot column is: no copy)
    amounts = torch.empty_like(chi) if write else chi  # (a placeholder when not written)
    if chi.numel() == 0:
        return amounts if write else None
    block = min(1024, triton.next_power_of_2(cols))
    _chi_steps_kernel[(tiles * rows, triton.cdiv(cols, block))](
        chi, inc, amounts, start if write else chi, rows, cols, n_cols, inc.stride(0),
        float(lr), float(granularity), WRITE=write, BLOCK=block,
        num_warps=4 if block >= 512 else 1, enable_fp_fusion=False)
    return amounts if write else None


@triton.jit
def _chi_write_kernel(chi_ptr, inc_ptr, x_ptr, d_ptr, bl_ptr, start_ptr, slots_ptr, calls_ptr,
                      rows, cols, n_cols, inc_stride, lr, granularity, w_lr, w_granularity,
                      desired_bl, um_grad_scale, long_bl, g_slots, g_calls,
                      UBM: tl.constexpr, UM: tl.constexpr, LONG: tl.constexpr,
                      IDLE_UNSTORED: tl.constexpr, BLOCK: tl.constexpr):
    """``_chi_steps_kernel``'s step of line ``b`` of tile ``g`` (one pass: every row of chi,
    the whole line in one block), then ``_transfer_write_kernel``'s trains of the row write
    of its amounts, without a buffer (``_line_gains``; its values are the steps, the
    negated amounts): the line's probabilities, its one-hot value (one a row: the one-hot
    rows are a broadcast column) and its train; the slots added to the tile's ledger, its
    call counter advanced by one (program ``b == 0``). ``IDLE_UNSTORED``: a line without a
    train stores no probabilities (the one-hot lines' kernel skips it unread)."""
    line = tl.program_id(0)  # g * rows + b
    g = line // rows
    b = line % rows
    if b == 0:
        c_ptr = calls_ptr + g.to(tl.int64) * g_calls
        tl.store(c_ptr, tl.load(c_ptr) + 1)
    j = (tl.load(start_ptr + g) + b) % rows
    k = tl.arange(0, BLOCK)
    ok = k < cols
    values = _chi_line(chi_ptr, inc_ptr, g, j, k, ok, rows, cols, n_cols, inc_stride, lr,
                       granularity, True)  # the write's values: minus its amounts, -steps
    mag, bl, one_gain, line_gain = _line_gains(values, w_lr, w_granularity, desired_bl,
                                               um_grad_scale, long_bl, False, UBM, UM, LONG,
                                               0)
    sign = tl.where(values > 0, 1.0, tl.where(values < 0, -1.0, 0.0))
    stored = ok
    if IDLE_UNSTORED:  # a line without a train is not read (SKIP_IDLE_LINES)
        stored = ok & (k * 0.0 + bl > 0.0)
    tl.store(x_ptr + line.to(tl.int64) * cols + k, tl.minimum(mag * line_gain, 1.0) * sign,
             mask=stored)
    tl.store(d_ptr + line, tl.minimum(tl.maximum(one_gain, 0.0), 1.0))
    tl.store(bl_ptr + line, bl.to(tl.int32))
    tl.atomic_add(slots_ptr + g.to(tl.int64) * g_slots, bl.to(tl.int64))


def chi_write_triton(chi: torch.Tensor, inc: torch.Tensor, n_cols: int, lr: float,
                     granularity: float, start: torch.Tensor, weights: torch.Tensor,
                     cell_params: torch.Tensor, p: TransferWriteParams, cell: CellParams, *,
                     key: KeyedSeed, max_bl: int, add_to: torch.Tensor,
                     train_slots: torch.Tensor, calls: torch.Tensor,
                     cell_pulses: torch.Tensor | None = None) -> torch.Tensor:
    """:func:`chi_steps_triton` and the grid's row writes of its amounts
    (``transfer_lines_grouped_triton`` on them, constant steps, no buffer) in two launches
    instead of three, the amounts never stored and the one-hot rows one value a row: chi,
    the weights, the counts, wear, train slots and call counters as that pair makes them.
    ``add_to`` (returned), ``train_slots``, ``calls`` and ``key``: ``(tiles,)``."""
    from . import pulsed_update_cuda
    from .pulsed_update_cuda import SEED_KEYED, _one_hot_lines

    tiles, rows, cols = chi.shape
    if not chi.is_contiguous() or tuple(weights.shape) != (tiles, rows, cols):
        raise ValueError("chi_write: chi contiguous, the weights (tiles, rows, cols) as chi")
    if p.columns or int(cell.kind) != CELL_CONSTANT:
        raise ValueError("chi_write writes rows of constant steps (no buffer: the amounts)")
    n_rows = tiles // n_cols
    if n_rows * n_cols != tiles or tuple(inc.shape) != (n_rows * rows, n_cols * cols):
        raise ValueError(f"chi_write: a {tuple(inc.shape)} increment is not a grid of "
                         f"{tiles} tiles of {rows} x {cols} with {n_cols} columns")
    if (start.dtype != torch.int64 or start.shape != (tiles,) or add_to.shape != (tiles,)
            or train_slots.shape != (tiles,) or calls.shape != (tiles,)):
        raise ValueError("chi_write: start, counts, slots and calls are (tiles,) tensors")
    if inc.stride(1) != 1:
        inc = inc.contiguous()
    start = start.contiguous()
    line = torch.empty_like(chi)  # x: the lines' probabilities
    one = torch.empty(tiles, rows, 1, dtype=chi.dtype, device=chi.device)
    bl = torch.empty(tiles, rows, dtype=torch.int32, device=chi.device)
    long_bl = float(long_train_length(p.lr, p.granularity)) if p.long_train else 0.0
    _chi_write_kernel[(tiles * rows,)](
        chi, inc, line, one, bl, start, train_slots, calls, rows, cols, n_cols, inc.stride(0),
        float(lr), float(granularity), float(p.lr), float(p.granularity), float(p.desired_bl),
        float(p.um_grad_scale), long_bl, train_slots.stride(0), calls.stride(0),
        UBM=bool(p.update_bl_management), UM=bool(p.update_management),
        LONG=bool(p.long_train) and not p.update_bl_management,
        IDLE_UNSTORED=bool(pulsed_update_cuda.SKIP_IDLE_LINES),
        BLOCK=triton.next_power_of_2(max(cols, 16)), num_warps=4, enable_fp_fusion=False)
    if max_bl <= 0:
        return add_to
    n_chunks = triton.cdiv(int(max_bl), 32)
    _one_hot_lines(weights, cell_params.to(torch.float32), line,
                   one.expand(tiles, rows, rows), bl, add_to, key.calls, 0, cell_pulses,
                   (start, False), k=rows, n_chunks=n_chunks,
                   max_len=n_chunks * 32 - (int(max_bl) <= 31), noise_std=cell.noise_std,
                   seed_mode=SEED_KEYED, offsets=key.offset)
    return add_to


__all__ = ["chi_steps_triton", "chi_write_triton"]
