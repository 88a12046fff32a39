"""A grid of equal tiles read as one group on CUDA: the MVMs of all its tiles at once.

A layer wider than a crossbar is cut into a grid of tiles (``grid.py``), each a crossbar
of its own with its own periphery: its own noise-management scale per input row, ADC,
bound management and noise seed. Run tile by tile, a 4096 x 4096 layer on 512 x 512 tiles
is 64 small matmuls in a row, each filling a few SMs, and 64 times the launches. Nothing
in the physics couples the tiles, so here all tiles of a grid run in one prologue, one
batched matmul and one epilogue (``kernels.analog_mvm_grouped``), each tile still with its
own scale, ADC, bound management and seed - the tile's own, advanced as its own MVM
advances it. The digital partial sums follow ``grid.py``'s order.

Only where every tile is plain: same shapes and I/O, no analog bias, input range, mapping
or learned output scales, tile bias, convolution index or replica noise stream; and on
CUDA (the CPU gains nothing from it and keeps its results bit for bit). Otherwise the grid
runs tile by tile.

Each tile's counters stay its own: the tiles' MVM seeds and vector counts become views of
one device tensor per group (made again whenever a tile's own was replaced: a move, a
checkpoint load), so one launch advances them all, and a replayed CUDA graph too.
"""

from __future__ import annotations

import torch

from ..kernels import seeds
from ..physics.io import analog_mvm_grouped


class TileGroup:
    """The grouped passes of one ``TileGrid`` (``grid.group``); see the module doc."""

    def __init__(self, grid):
        self.grid = grid
        self._seeds: torch.Tensor | None = None  # (tiles,) int64: the tiles' MVM seeds
        self._seed_views: list[torch.Tensor] = []
        self._vectors: torch.Tensor | None = None  # (tiles, 2) int64: their mvm_vectors
        self._vector_views: list[torch.Tensor] = []

    # -- when ---------------------------------------------------------------------------
    def applies(self, x: torch.Tensor) -> bool:
        """Whether ``x`` (rows) goes through the group (module doc)."""
        grid = self.grid
        tiles = grid.tiles
        if len(tiles) < 2 or x.dim() != 2 or not (x.is_cuda or GROUP_ON_CPU):
            return False
        if grid.analog_bias or len(set(grid.in_splits)) > 1 or len(set(grid.out_splits)) > 1:
            return False
        io = tiles[0].io
        return all(t.io is io and t.input_range is None and t.mapping_scales is None
                   and t.out_scaling_alpha is None and t.bias is None and not t.analog_bias
                   and t.conv_index is None and t.noise_stream == 0 for t in tiles)

    # -- the passes ---------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, in]`` -> ``[N, out]``: every tile's forward MVM, partial sums in order."""
        grid = self.grid
        n_rows, n_cols = grid.shape
        width = grid.in_splits[0]
        weights = torch.stack([t.weight() for t in grid.tiles])
        out = analog_mvm_grouped(weights, x, grid.tiles[0].io.forward, self._next_seeds(),
                                 n_cols, 0, width)
        self._count(0, x.shape[0])
        parts = out.view(n_rows, n_cols, x.shape[0], -1)
        acc = parts[:, 0]
        for j in range(1, n_cols):  # grid.sum_in_order's order
            acc = acc + parts[:, j]
        return acc.permute(1, 0, 2).reshape(x.shape[0], grid.out_size)

    def backward(self, d: torch.Tensor) -> torch.Tensor:
        """``[N, out]`` -> ``[N, in]``: every tile's transposed MVM, summed over the grid's
        rows in order."""
        grid = self.grid
        n_rows, n_cols = grid.shape
        width = grid.out_splits[0]
        weights = torch.stack([t.weight() for t in grid.tiles]).transpose(1, 2)
        out = analog_mvm_grouped(weights, d, grid.tiles[0].io.backward, self._next_seeds(),
                                 n_cols, width, 0)
        self._count(1, d.shape[0])
        parts = out.view(n_rows, n_cols, d.shape[0], -1)
        acc = parts[0]
        for i in range(1, n_rows):
            acc = acc + parts[i]
        return acc.permute(1, 0, 2).reshape(d.shape[0], grid.in_size)

    def queue(self, x: torch.Tensor, d: torch.Tensor) -> None:
        """Each tile's share of the update, queued as its own backward queues it."""
        grid = self.grid
        xs = x.split(grid.in_splits, dim=-1)
        ds = d.split(grid.out_splits, dim=-1)
        n_cols = len(grid.in_splits)
        for g, tile in enumerate(grid.tiles):
            tile.pending.append((xs[g % n_cols], ds[g // n_cols]))

    # -- the tiles' counters as views of one tensor -------------------------------------
    def _next_seeds(self) -> torch.Tensor:
        """The tiles' MVM seeds advanced by one MVM each: a ``(tiles,)`` tensor on CUDA,
        whose entries the tiles' own seed tensors view; host ints on the CPU."""
        tiles = self.grid.tiles
        if not tiles[0].pulses.is_cuda:
            return torch.tensor([t.mvm_seed() for t in tiles], dtype=torch.int64)
        views = self._seed_views
        if len(views) != len(tiles) or any(t._mvm_seed_device is not v
                                           for t, v in zip(tiles, views, strict=True)):
            self._seeds = torch.cat([t.mvm_seed_tensor(t.mvm_calls) for t in tiles])
            self._seed_views = [self._seeds[g:g + 1] for g in range(len(tiles))]
            for tile, view in zip(tiles, self._seed_views, strict=True):
                tile._mvm_seed_device = view
        for tile in tiles:
            tile._mvm_counter[0] += 1
        return self._seeds.add_(seeds.MVM_STEP)

    def _count(self, direction: int, vectors: int) -> None:
        """Add ``vectors`` to every tile's ``mvm_vectors[direction]`` in one launch."""
        tiles = self.grid.tiles
        views = self._vector_views
        if len(views) != len(tiles) or any(t.mvm_vectors is not v
                                           for t, v in zip(tiles, views, strict=True)):
            self._vectors = torch.stack([t.mvm_vectors for t in tiles])
            self._vector_views = list(self._vectors.unbind(0))
            for tile, view in zip(tiles, self._vector_views, strict=True):
                tile.mvm_vectors = view
        self._vectors[:, direction].add_(vectors)


# the grouped passes on the CPU too (the tests' way to run them without a GPU)
GROUP_ON_CPU = False

__all__ = ["TileGroup"]
