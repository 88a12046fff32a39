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

The update, where the grid's tiles are analog SGD on pulsed arrays (stochastic trains, no
write noise, reference or decomposition; either ``update.accumulate``): the optimizer
hands the grid's queued ``(x, d)`` to :meth:`TileGroup.update`, which makes every tile's
trains and pulses in the launches of one tile (``kernels.line_probabilities_grouped``,
``kernels.update_grouped``: counted over the batch, or sample by sample). Each tile
still gets its own update management, seed (its array's call counter and generator) and
counters; its weight, cell parameters and wear counter become views of one tensor per
group, as its counters do. The arrays' ``update`` is what this does, tile by tile.
"""

from __future__ import annotations

import torch

from .. import kernels
from ..devices.sgd import SingleArray
from ..kernels import seeds
from ..physics.array import PulsedArray
from ..physics.io import analog_mvm_grouped
from ..physics.pulses import bin_width


class TileGroup:
    """The grouped passes of one ``TileGrid`` (``grid.group``); see the module doc."""

    def __init__(self, grid):
        self.grid = grid
        self._seeds: torch.Tensor | None = None  # (tiles,) int64: the tiles' MVM seeds
        self._seed_views: list[torch.Tensor] = []
        self._vectors: torch.Tensor | None = None  # (tiles, 2) int64: their mvm_vectors
        self._vector_views: list[torch.Tensor] = []
        self._bound: dict[str, tuple[torch.Tensor, list[torch.Tensor]]] = {}  # update state
        self._queued: tuple | None = None  # the last (x, d, entries) the backward queued
        self._offsets: torch.Tensor | None = None  # the arrays' seed offsets
        for tile in grid.tiles:
            tile.tile_group = self

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
        out = analog_mvm_grouped(self._weights(), x, grid.tiles[0].io.forward, self._next_seeds(),
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
        out = analog_mvm_grouped(self._weights().transpose(1, 2), d, grid.tiles[0].io.backward,
                                 self._next_seeds(), n_cols, width, 0)
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
        entries = [(xs[g % n_cols], ds[g // n_cols]) for g in range(len(grid.tiles))]
        for tile, entry in zip(grid.tiles, entries, strict=True):
            tile.pending.append(entry)
        self._queued = (x, d, entries)

    def _weights(self) -> torch.Tensor:
        """``(tiles, out, in)``: where every tile reads its array's weight buffer (analog
        SGD, mixed precision), those buffers bound into one tensor (no copy per pass);
        else the tiles' read weights stacked."""
        tiles = self.grid.tiles
        read = [t.weight() for t in tiles]
        arrays = [getattr(t.device_state, "array", None) for t in tiles]
        if all(a is not None and r is a.weight for r, a in zip(read, arrays, strict=True)):
            return self._bind("weight", [(a, "weight") for a in arrays])
        return torch.stack(read)

    # -- the update ---------------------------------------------------------------------
    def update_ready(self) -> bool:
        """Whether :meth:`update` applies the tiles' queued updates (module doc): each tile
        holds only what the grouped backward queued, at one learning rate, and is analog
        SGD on a pulsed array with stochastic trains."""
        if self._queued is None:
            return False
        tiles = self.grid.tiles
        if not (tiles[0].pulses.is_cuda or GROUP_ON_CPU):
            return False
        first = tiles[0].device_state
        if not isinstance(first, SingleArray) or not isinstance(first.array, PulsedArray):
            return False
        array = first.array
        params = array.update_params
        if (params.pulse_type != "stochastic_compressed"
                or (params.sto_round and params.res > 0) or array.hidden):
            return False
        lr = tiles[0].learning_rate
        for tile, entry in zip(tiles, self._queued[2], strict=True):
            state = tile.device_state
            if (len(tile.pending) != 1 or tile.pending[0] is not entry
                    or tile.learning_rate != lr or tile.decomposition is not None
                    or type(state) is not type(first) or type(state.array) is not type(array)
                    or state.array.update_params is not params
                    or state.array.cell is not array.cell or state.array.hidden):
                return False
        return True

    def update(self) -> None:
        """The tiles' queued updates, as their arrays' ``update`` makes them one by one
        (module doc); empties their queues."""
        tiles = self.grid.tiles
        x, d, _ = self._queued
        self._queued = None
        for tile in tiles:
            tile.pending.clear()
        arrays = [t.device_state.array for t in tiles]
        first = arrays[0]
        params = first.update_params
        lr = tiles[0].learning_rate
        n_rows, n_cols = self.grid.shape
        x_p, d_p, bl = kernels.line_probabilities_grouped(
            x, d, n_cols, self.grid.in_splits[0], self.grid.out_splits[0], lr,
            first.granularity, desired_bl=params.desired_bl, fixed_bl=params.fixed_bl,
            update_management=params.update_management,
            update_bl_management=params.update_bl_management,
            um_grad_scale=params.um_grad_scale, res=bin_width(params.res))
        max_bl = first._train_bound(lr, params)[1]
        counting = all(a.counting for a in arrays)
        pulses = kernels.update_grouped(
            params.accumulate, self._bind("weight", [(a, "weight") for a in arrays]),
            self._bind("cell_params", [(a, "cell_params") for a in arrays]), x_p, d_p, bl,
            kernels.UpdateParams(first._cell(), max_bl, False), seeds=self._update_seeds(arrays),
            cell_pulses=(self._bind("cell_pulses", [(a, "cell_pulses") for a in arrays])
                         if counting else None))
        self._bind("ledger", [(a, "ledger") for a in arrays])[:, 0].add_(bl.sum(1))
        self._bind("rank1", [(t.rank1_count, "tensor") for t in tiles]).add_(x.shape[0])
        self._bind("pulses", [(t, "pulses") for t in tiles]).add_(pulses)

    def _update_seeds(self, arrays) -> torch.Tensor:
        """Each array's next CUDA update seed (``CrossbarArray._device_seed``), at once."""
        calls = self._bind("kernel_calls", [(a.kernel_calls, "tensor") for a in arrays])
        calls.add_(1)
        if self._offsets is None or self._offsets.device != calls.device:
            self._offsets = torch.tensor(
                [seeds.array_seed_offset(t.generator.initial_seed(), a._seed_salt)
                 for t, a in zip(self.grid.tiles, arrays, strict=True)],
                dtype=torch.int64, device=calls.device)
        return seeds.array_device_seeds(calls, self._offsets)

    def _bind(self, key: str, holders: list) -> torch.Tensor:
        """One tensor whose rows are the buffers ``getattr(module, name)`` of ``holders``:
        made (and the buffers replaced by its views) where a holder's buffer is not the
        view it was given, e.g. after a move."""
        bound = self._bound.get(key)
        if bound is None or any(getattr(m, n) is not v
                                for (m, n), v in zip(holders, bound[1], strict=True)):
            group = torch.stack([getattr(m, n) for m, n in holders])
            views = list(group.unbind(0))
            for (module, name), view in zip(holders, views, strict=True):
                setattr(module, name, view)
            bound = self._bound[key] = (group, views)
        return bound[0]

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
