"""Reference twin of a transfer schedule's step on the device: take the next lines.

A schedule keeps the next line ``line`` and the full passes ``passes`` as 0-dim int64
tensors where the arrays are, so that a replayed CUDA graph walks on. Taking ``count``
lines snapshots both (what the transfer's kernels read), advances them past the lines -
``passes += (line + count) // n_lines``, ``line = (line + count) % n_lines`` - and, given a
``dtype``, makes the one-hot inputs that read the lines: row ``b`` is 1 at line
``(start + b) % n_lines``. The walk is read in runs of ``n_lines`` lines at most (the last
may be shorter); run ``r`` reads in pass ``passes + r``, which the snapshot holds for each
run (a view per run: no launch to add). Given a ``seed_offset`` as well (and the ``reads``
counter), it makes each run's read noise seed (``seeds.read_seed``), keyed by the reads
counted before it, ``reads + r * n_lines``. This file is the definition the Triton kernel
(``line_walk_cuda``: one launch for what takes the twin about a dozen) is tested against;
the CPU walks on the host (``devices/schedule.py``) and needs no kernel.
"""

from __future__ import annotations

import torch

from .seeds import read_seed


def line_walk_torch(line: torch.Tensor, passes: torch.Tensor, count: int, n_lines: int,
                    dtype: torch.dtype | None = None, reads: torch.Tensor | None = None,
                    seed_offset: int | None = None, line_only: bool = False):
    """Take ``count`` lines: returns ``(snapshot, onehot)`` - ``snapshot`` an int64 tensor
    ``[start, passes, passes + 1, .., passes + R - 1]`` from before the walk (``R`` runs of
    at most ``n_lines`` lines: each run's pass), ``onehot`` ``(count, n_lines)`` of
    ``dtype`` (None without one) - and advances ``line`` and ``passes`` in place.
    ``reads``: an integer counter of the read vectors (the array's ledger), advanced by
    ``count`` with the one-hot reads. ``seed_offset`` (with ``dtype`` and ``reads``): the
    snapshot goes on with one read seed per run. ``line_only`` (the reads take each row's
    line element alone) changes nothing here: the CUDA walk may then hand a broadcast
    column of ones, equal to these rows at their line elements."""
    runs = torch.arange(max(-(-count // n_lines), 1), device=line.device)
    snapshot = torch.cat((line.reshape(1), passes.reshape(1) + runs)).to(torch.int64)
    if seed_offset is not None:
        if dtype is None or reads is None:
            raise ValueError("read seeds are keyed by the reads counted with the one-hot reads")
        keys = reads.reshape(()).to(torch.int64) + runs * n_lines
        snapshot = torch.cat((snapshot, read_seed(keys, seed_offset)))
    onehot = None
    if dtype is not None:
        onehot = torch.zeros(count, n_lines, dtype=dtype, device=line.device)
        index = (snapshot[0] + torch.arange(count, device=line.device)) % n_lines
        onehot.scatter_(1, index[:, None], 1.0)
        if reads is not None:
            reads += count
    end = snapshot[0] + count
    passes.add_(end // n_lines)
    line.copy_(end % n_lines)
    return snapshot, onehot


def line_walk_grouped_torch(line: torch.Tensor, passes: torch.Tensor, count: int,
                            n_lines: int, dtype: torch.dtype | None = None,
                            reads: torch.Tensor | None = None,
                            seed_offsets: torch.Tensor | None = None,
                            line_only: bool = False):
    """The walks of a group of tiles' schedules at once (``(tiles,)`` ``line``, ``passes``,
    ``reads`` and ``seed_offsets``), each :func:`line_walk_torch`: ``snapshot`` ``(tiles,
    1 + runs * (2 if seeded else 1))`` and ``onehot`` ``(count, tiles * n_lines)``, tile
    ``g``'s one-hot rows in its columns ``g * n_lines`` on (the layout in which a group's
    MVM reads each tile's own block); ``snapshot[:, j]`` is contiguous (entry ``j`` of every
    tile: run 0's read seeds ``snapshot[:, 2]`` are a group MVM's seeds as they are)."""
    walks = [line_walk_torch(line[g], passes[g], count, n_lines, dtype,
                             None if reads is None else reads[g:g + 1],
                             None if seed_offsets is None else seed_offsets[g])
             for g in range(line.shape[0])]
    snapshot = torch.stack([w[0] for w in walks], dim=1).T  # entry-major, as the kernel's
    onehot = None if dtype is None else torch.cat([w[1] for w in walks], dim=1)
    return snapshot, onehot


__all__ = ["line_walk_grouped_torch", "line_walk_torch"]
