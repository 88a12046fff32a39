"""Reference twin of a tile grid's partial sums (``xbrun/tiles/grouped.py``).

A grid of tiles makes its MVMs as one batched launch, ``parts`` ``(rows, columns, N, W)``:
tile ``(i, j)``'s outputs. The forward MVM sums each grid row's parts over the columns,
the backward each grid column's over the rows, in index order (``sum_in_order``'s order,
as the tiles' own passes give them), and joins the blocks side by side into ``[N, rows *
W]`` (``[N, columns * W]``). In torch that is one add a part and a copy for the joining
permute: at 784-4096-4096-10 (grids of 8 x 8 tiles of 512) 7 adds and a copy a pass; the
Triton kernel (``grid_sum_cuda``) reads each part once and writes the joined rows once.
This file is the CPU path and the definition the kernel is tested against.
"""

from __future__ import annotations

import torch


def grid_sum_torch(parts: torch.Tensor, dim: int) -> torch.Tensor:
    """``[N, kept * W]``: ``parts`` ``(rows, columns, N, W)`` summed over ``dim`` (1: the
    columns, a forward pass; 0: the rows, a backward pass) in index order, the kept axis's
    blocks joined side by side."""
    if dim not in (0, 1):
        raise ValueError("grid_sum sums over the grid's rows (0) or columns (1)")
    if dim == 1:
        acc = parts[:, 0]
        for j in range(1, parts.shape[1]):
            acc = acc + parts[:, j]
    else:
        acc = parts[0]
        for i in range(1, parts.shape[0]):
            acc = acc + parts[i]
    return acc.permute(1, 0, 2).reshape(parts.shape[2], -1)
