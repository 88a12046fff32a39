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
    here = (g.to(tl.int64) * rows + j) * cols + k
    there = ((g // n_cols).to(tl.int64) * rows + j) * inc_stride \
        + (g % n_cols).to(tl.int64) * cols + k
    omega = tl.load(chi_ptr + here, mask=ok, other=0.0) \
        + tl.load(inc_ptr + there, mask=ok, other=0.0) * lr
    if WRITE:
        q = tl.div_rn(omega, granularity)
        steps = tl.where(q >= 0, tl.floor(q), tl.ceil(q))
        omega = tl.where(steps != 0, omega - steps * granularity, omega)
        tl.store(amt_ptr + line.to(tl.int64) * cols + k, -steps, mask=ok)
    tl.store(chi_ptr + here, omega, mask=ok)


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


__all__ = ["chi_steps_triton"]
