"""Triton kernel of a schedule's walk on the device (meaning: ``line_walk_ref.py``).

One program reads the schedule's line and passes, stores the snapshot and the one-hot
reads, waits for all its threads (``debug_barrier``: no thread may advance the line before
every thread read it), then advances both: one launch instead of the twin's dozen (two
clones, the advance's integer ops, the one-hot's zeros, line numbers and scatter).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _line_walk_kernel(line_ptr, passes_ptr, snap_ptr, onehot_ptr, reads_ptr, count, n_lines,
                      ONEHOT: tl.constexpr, READS: tl.constexpr, BLOCK_R: tl.constexpr,
                      BLOCK_W: tl.constexpr):
    start = tl.load(line_ptr)
    passes = tl.load(passes_ptr)
    if READS:
        tl.store(reads_ptr, tl.load(reads_ptr) + count)
    if ONEHOT:
        for r0 in range(0, count, BLOCK_R):
            rows = r0 + tl.arange(0, BLOCK_R)
            lines = (start + rows) % n_lines
            for w0 in range(0, n_lines, BLOCK_W):
                cols = w0 + tl.arange(0, BLOCK_W)
                one = tl.where(cols[None, :] == lines[:, None], 1.0, 0.0)
                tl.store(onehot_ptr + rows[:, None].to(tl.int64) * n_lines + cols[None, :],
                         one.to(onehot_ptr.dtype.element_ty),
                         mask=(rows < count)[:, None] & (cols < n_lines)[None, :])
    tl.store(snap_ptr, start)
    tl.store(snap_ptr + 1, passes)
    tl.debug_barrier()  # every thread has read line and passes
    end = start + count
    tl.store(passes_ptr, passes + end // n_lines)
    tl.store(line_ptr, end % n_lines)


def line_walk_triton(line: torch.Tensor, passes: torch.Tensor, count: int, n_lines: int,
                     dtype: torch.dtype | None = None, reads: torch.Tensor | None = None):
    """Same arguments and result as ``line_walk_torch``, in one launch."""
    if line.dtype != torch.int64 or passes.dtype != torch.int64:
        raise ValueError("line and passes must be int64 device scalars")
    snapshot = torch.empty(2, dtype=torch.int64, device=line.device)
    onehot = None if dtype is None else torch.empty(count, n_lines, dtype=dtype,
                                                    device=line.device)
    block_w = min(256, triton.next_power_of_2(max(n_lines, 16)))
    _line_walk_kernel[(1,)](
        line, passes, snapshot, snapshot if onehot is None else onehot,
        snapshot if reads is None else reads, count, n_lines, ONEHOT=onehot is not None,
        READS=onehot is not None and reads is not None, BLOCK_R=max(1, 2048 // block_w),
        BLOCK_W=block_w, num_warps=8)
    return snapshot, onehot


__all__ = ["line_walk_triton"]
