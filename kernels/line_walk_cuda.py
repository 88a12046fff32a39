"""Triton kernel of a schedule's walk on the device (meaning: ``line_walk_ref.py``).

One program per schedule (a group of tiles' schedules in one launch) reads the schedule's
line and passes, stores the snapshot and the one-hot reads, waits for all its threads
(``debug_barrier``: no thread may advance the line before every thread read it), then
advances both: one launch instead of the twin's dozen (two clones, the advance's integer
ops, the one-hot's zeros, line numbers and scatter). With a
seed offset it stores each run's read seed after the snapshot (which holds each run's pass),
from the reads counter as it was before the walk: the reads then need no launch to draw one.

The one-hot reads (``count x n_lines`` per schedule: a chopped step on a convolution's tile
reads one line per row of its update, 131,072 rows of 144 lines = 75 MB) are filled by a
second launch over row blocks (``_onehot_fill_kernel``, the whole GPU) from the snapshot's
start, where the walk's one program per schedule stored them row block after row block
before (on the ResNet's chopped step some 16,000 sequential iterations for each of its
largest tiles; one H100, 2026-12-07, ``parallel-onehot``: ResNet chopped 8.93x -> 8.13x fp,
agad 8.86x -> 7.98x, then the switch ``PARALLEL_ONEHOT``).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import seeds

_MVM_STEP = tl.constexpr(seeds.MVM_STEP)
_MASK63 = tl.constexpr(seeds.MASK63)


@triton.jit(do_not_specialize=["seed_offset"])
def _line_walk_kernel(line_ptr, passes_ptr, snap_ptr, onehot_ptr, reads_ptr, offsets_ptr,
                      count, n_lines, seed_offset, s_snap, s_line, s_passes, s_reads,
                      READS: tl.constexpr, SEEDS: tl.constexpr, OFFSETS: tl.constexpr,
                      RUN_BLOCK: tl.constexpr = 0, ONE: tl.constexpr = False):
    # program g: schedule g of a group (its line, passes and reads ``s_*`` elements on; its
    # snapshot from g on, its entries s_snap apart: the group's entry j of every schedule
    # side by side, a contiguous (tiles,) vector; OFFSETS: its seed offset at offsets[g],
    # else seed_offset)
    g = tl.program_id(0).to(tl.int64)
    if ONE:  # ONES_IN_WALK: onehot_ptr is the broadcast column's one element, set here
        if g == 0:
            tl.store(onehot_ptr + tl.arange(0, 1),
                     tl.full((1,), 1.0, tl.float32).to(onehot_ptr.dtype.element_ty))
    line_ptr += g * s_line
    passes_ptr += g * s_passes
    reads_ptr += g * s_reads
    snap_ptr += g
    if OFFSETS:
        seed_offset = tl.load(offsets_ptr + g)
    start = tl.load(line_ptr)
    passes = tl.load(passes_ptr)
    runs = tl.maximum(tl.cdiv(count, n_lines), 1)
    if RUN_BLOCK:  # the runs' entries RUN_BLOCK at a time (the module note at RUN_BLOCK)
        for r0 in range(0, runs, RUN_BLOCK):
            r = r0 + tl.arange(0, RUN_BLOCK)
            tl.store(snap_ptr + (1 + r) * s_snap, passes + r, mask=(r >= 1) & (r < runs))
    else:
        for r in range(1, runs):  # each further run's pass (the first's is stored below)
            tl.store(snap_ptr + (1 + r) * s_snap, passes + r)
    if READS:
        before = tl.load(reads_ptr)
        if SEEDS:  # seeds.read_seed of each run, keyed by the reads before it
            if RUN_BLOCK:
                for r0 in range(0, runs, RUN_BLOCK):
                    r = r0 + tl.arange(0, RUN_BLOCK)
                    key = before + r.to(tl.int64) * n_lines  # (past the last run too)
                    tl.store(snap_ptr + (1 + runs + r) * s_snap,
                             (key * _MVM_STEP + seed_offset) & _MASK63, mask=r < runs)
            else:
                for r in range(0, runs):
                    key = before + r * n_lines  # (r * n_lines < count: no overflow)
                    tl.store(snap_ptr + (1 + runs + r) * s_snap,
                             (key * _MVM_STEP + seed_offset) & _MASK63)
        tl.store(reads_ptr, before + count)
    tl.store(snap_ptr, start)
    tl.store(snap_ptr + s_snap, passes)
    tl.debug_barrier()  # every thread has read line and passes
    end = start + count
    tl.store(passes_ptr, passes + end // n_lines)
    tl.store(line_ptr, end % n_lines)


@triton.jit
def _onehot_fill_kernel(snap_ptr, onehot_ptr, count, n_lines, ld,
                        BLOCK_R: tl.constexpr, BLOCK_W: tl.constexpr):
    # program (row block, g): rows of schedule g's one-hot reads from its snapshot's start
    # (entry 0 of its snapshot, stored by the walk before it), in columns g * n_lines on
    g = tl.program_id(1).to(tl.int64)
    start = tl.load(snap_ptr + g)
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    lines = (start + rows) % n_lines
    row_ptr = onehot_ptr + g * n_lines + rows[:, None].to(tl.int64) * ld
    for w0 in range(0, n_lines, BLOCK_W):
        cols = w0 + tl.arange(0, BLOCK_W)
        one = tl.where(cols[None, :] == lines[:, None], 1.0, 0.0)
        tl.store(row_ptr + cols[None, :], one.to(onehot_ptr.dtype.element_ty),
                 mask=(rows < count)[:, None] & (cols < n_lines)[None, :])


# A walk of many runs (a chopped step on a convolution's tile: conv 3->16's 131,072 reads of
# 27 lines are 4,855 runs) stores its runs' passes and read seeds ``RUN_BLOCK`` runs a store,
# where one scalar store a loop trip took ~9,700 trips in the walk's one program (one H100,
# 2026-12-07, graph-replayed ResNet chopped `batch` step: 260 us for that tile's walk, 815 us
# a step over the 27 tiles, each ahead of its tile's reads on its stream); a walk of one run
# keeps the scalar stores. The same entries. Timed on one H100 (2026-12-07 14:58,
# ``bench_switches chopped-serial`` with its other five paths, then the switch
# ``BLOCK_RUNS``: ResNet chopped `batch` 3.92x -> 3.14x fp, AGAD `batch` 3.93x -> 3.14x,
# chopped `sample` 7.42x -> 6.68x).
RUN_BLOCK = 1024  # runs a store (8 warps: 4 entries a thread)

# Where the caller says the reads take each row's line element alone (``line_only``:
# ``analog_mvm_cuda.reads_line_only``), the walk hands them a column of ones broadcast over
# the rows and lines (strides 0) instead of filling the one-hot rows: a chopped ResNet
# step's fills wrote ~0.8 GB (one H100, 2026-12-07: 0.6 ms a step, 51 us ahead of each
# 144-line tile's reads). The reads' numbers are the same: their line elements are ones.
# Timed on one H100 (2026-12-07 14:58, ``chopped-serial`` and ``wide-reads-writes``, then
# the switch ``BROADCAST_ONEHOT``: see ``RUN_BLOCK``).

# ``ONES_IN_WALK`` (``bench_switches`` ``ones-in-walk``, ``lean-transfers-ones``): the
# broadcast column's one element (``line_only``'s) stored by the walk's program 0
# instead of made by ``torch.ones``, its own launch (an aten fill of 4 bytes) on the
# transfer's side stream ahead of the walk. Its readers (the one-hot reads) launch after
# the walk on the same stream, so they see the 1 as before: the same reads bit for bit.
# COUNTED (``count_launches --large --on ones-in-walk``, fake CUDA): 784-4096-4096-10
# ttv1/ttv2/chopped/agad ``batch`` 90 -> 87 launches a step (sgd 75), one a layer's
# transfer; bytes nothing. ESTIMATE: ~1-2 us a launch replayed in a graph, the three on
# three side streams beside each other, so ~2-6 us a step of a ~2.2 ms step (~0.1-0.3 %):
# it removes one of the 15 launches the transfer adds over sgd, not the gap to 2x fp.
ONES_IN_WALK = False


def line_walk_triton(line: torch.Tensor, passes: torch.Tensor, count: int, n_lines: int,
                     dtype: torch.dtype | None = None, reads: torch.Tensor | None = None,
                     seed_offset: int | None = None, line_only: bool = False):
    """Same arguments and result as ``line_walk_torch``, in one launch (two with the one-hot
    reads filled). ``line_only`` (the reads take each row's line element alone): the
    one-hot reads are a broadcast column of ones, equal to the twin's at every row's line
    element."""
    _check(line, passes, dtype, reads, seed_offset is not None)
    snapshot, onehot = _launch(line.reshape(1), passes.reshape(1), count, n_lines, dtype,
                               None if reads is None else reads.reshape(1), seed_offset, None,
                               line_only)
    return snapshot[0], onehot


def line_walk_grouped_triton(line: torch.Tensor, passes: torch.Tensor, count: int,
                             n_lines: int, dtype: torch.dtype | None = None,
                             reads: torch.Tensor | None = None,
                             seed_offsets: torch.Tensor | None = None,
                             line_only: bool = False):
    """Same arguments and result as ``line_walk_grouped_torch`` (the schedules of a group of
    tiles, ``(tiles,)`` each, any stride; ``seed_offsets`` an int64 ``(tiles,)`` tensor), in
    one launch (two with the one-hot reads; ``line_only``: as :func:`line_walk_triton`)."""
    _check(line, passes, dtype, reads, seed_offsets is not None)
    if seed_offsets is not None and seed_offsets.dtype != torch.int64:
        raise ValueError("the seed offsets must be int64")
    return _launch(line, passes, count, n_lines, dtype, reads, None, seed_offsets, line_only)


def _check(line, passes, dtype, reads, seeded: bool) -> None:
    if line.dtype != torch.int64 or passes.dtype != torch.int64:
        raise ValueError("line and passes must be int64 device scalars")
    if seeded and (dtype is None or reads is None):
        raise ValueError("read seeds are keyed by the reads counted with the one-hot reads")
    if seeded and reads.dtype != torch.int64:
        raise ValueError("the reads counter must be int64 to key the read seeds")


def _launch(line, passes, count, n_lines, dtype, reads, seed_offset, seed_offsets,
            line_only=False):
    """One program per schedule of ``line``/``passes`` (``(tiles,)``): snapshots
    ``(tiles, width)`` (entry-major: ``snapshot[:, j]`` contiguous), one-hot reads
    ``(count, tiles * n_lines)``."""
    tiles = line.shape[0]
    seeded = seed_offset is not None or seed_offsets is not None
    runs = max(-(-count // n_lines), 1)
    width = 1 + runs * (2 if seeded else 1)
    # entry-major: each entry of the tiles' snapshots (e.g. run r's read seed) a contiguous
    # (tiles,) vector, as a group's MVM takes its seeds
    snapshot = torch.empty(width, tiles, dtype=torch.int64, device=line.device).T
    broadcast = dtype is not None and line_only
    one = broadcast and ONES_IN_WALK  # (the module note at ONES_IN_WALK)
    if broadcast:  # (the module note above ONES_IN_WALK)
        make = torch.empty if one else torch.ones
        onehot = make((1, 1), dtype=dtype, device=line.device).expand(count, tiles * n_lines)
    else:
        onehot = None if dtype is None else torch.empty(count, tiles * n_lines, dtype=dtype,
                                                        device=line.device)
    block_w = min(256, triton.next_power_of_2(max(n_lines, 16)))
    block_r = max(1, 2048 // block_w)
    _line_walk_kernel[(tiles,)](
        line, passes, snapshot, snapshot if onehot is None else onehot,
        snapshot if reads is None else reads,
        snapshot if seed_offsets is None else seed_offsets, count, n_lines,
        int(seed_offset) if seed_offset is not None else 0, tiles,
        line.stride(0), passes.stride(0), 0 if reads is None else reads.stride(0),
        READS=onehot is not None and reads is not None, SEEDS=seeded,
        OFFSETS=seed_offsets is not None, RUN_BLOCK=RUN_BLOCK if runs > 1 else 0, ONE=one,
        num_warps=8)
    if onehot is not None and not broadcast and count > 0:
        _onehot_fill_kernel[(triton.cdiv(count, block_r), tiles)](
            snapshot, onehot, count, n_lines, tiles * n_lines,
            BLOCK_R=block_r, BLOCK_W=block_w, num_warps=4)
    return snapshot, onehot


__all__ = ["line_walk_grouped_triton", "line_walk_triton"]
