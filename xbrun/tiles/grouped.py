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
scales, tile bias, convolution index or replica noise stream; learned output scales through
their fused backward (``autograd.ScaledGridFunction``: each tile's outputs
and errors scaled by its own scales, as tile by tile; its update then tile by tile, as each
tile's error differs); and on CUDA (the CPU gains nothing from it and keeps its results bit
for bit). Otherwise the grid runs tile by tile.

Each tile's counters stay its own: the tiles' MVM seeds and vector counts become views of
one device tensor per group (made again whenever a tile's own was replaced: a move, a
checkpoint load), so one launch advances them all, and a replayed CUDA graph too.

The update, where the grid's tiles write the gradient into one pulsed array each
(stochastic trains, no write noise, reference or decomposition; either
``update.accumulate``): analog SGD's array, or a transfer device's fast array A (ttv1,
ttv2, chopped, agad; A's rate a host float, so no ``auto_scale``). The optimizer hands the
grid's queued ``(x, d)`` to :meth:`TileGroup.update`, which makes every tile's trains and
pulses in the launches of one tile (``kernels.line_probabilities_grouped``, with each
tile's chopper signs; ``kernels.update_grouped``: counted over the batch, or sample by
sample). Each tile still gets its own update management, signs, seed (its array's call
counter and generator) and counters; its weight, cell parameters, wear counter and
choppers become views of one tensor per group, as its counters do. The arrays' ``update``
is what this does, tile by tile. A transfer device's transfers then follow, as its own
``update`` makes them after A's write: where every tile has the same transfers due (one run
of lines, walked on the device with keyed read seeds: CUDA), the schedules walk in one
launch (``kernels.line_walk_grouped``, each tile's read seed keyed by its own read count
and offset, as its own walk keys it) and A's lines are read in one grouped MVM; then the
tiles' writes of their reads into C go in the launches of one tile's write
(``kernels.transfer_lines_grouped``: the tiles on a grid axis of the write's two kernels,
each with its own H, choppers, AGAD means, counters and keyed seed - at 784-4096-4096-10
six launches a step against 176 with constant steps), where each is one plain fused
write (on CUDA; the CPU's twin writes tile by tile; else each tile's own call). Nothing
of a tile's transfer depends on another tile, so the order of the tiles changes nothing.
On CUDA the group's update is one job on the optimizer's side streams, beside the other
tiles' updates; the jobs it returns (transfers not walked as a group, or writes that are
not plain fused writes, tile by tile) run after it, on its stream or on one that waits for it.
"""

from __future__ import annotations

import functools

import torch

from .. import kernels
from ..devices.mixed_precision import MixedPrecision
from ..devices.sgd import SingleArray
from ..devices.transfer import TransferDevice
from ..graph_state import set_host
from ..kernels import seeds
from ..physics.array import PulsedArray
from ..physics.io import analog_mvm_grouped, reads_take_line_elements
from ..physics.lines import LineRun
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
        self._read_offsets: tuple | None = None  # (key, (tiles,) int64): A's read offsets
        self._write_offsets: tuple | None = None  # (key, (tiles,) int64): C's seed offsets
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
        learned = tiles[0].out_scaling_alpha is not None
        return all(t.io is io and t.input_range is None and t.mapping_scales is None
                   and (t.out_scaling_alpha is not None) == learned and t.bias is None
                   and not t.analog_bias and t.conv_index is None and t.noise_stream == 0
                   for t in tiles)

    # -- the passes ---------------------------------------------------------------------
    def parts(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, in]`` -> every tile's forward MVM, ``(grid rows, grid columns, N, out)``."""
        grid = self.grid
        n_rows, n_cols = grid.shape
        width = grid.in_splits[0]
        out = analog_mvm_grouped(self._weights(), x, grid.tiles[0].io.forward, self._next_seeds(),
                                 n_cols, 0, width)
        self._count(0, x.shape[0])
        return out.view(n_rows, n_cols, x.shape[0], -1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, in]`` -> ``[N, out]``: every tile's forward MVM, partial sums in order."""
        grid = self.grid
        parts = self.parts(x)  # summed over the columns in autograd.sum_in_order's order
        return _grid_sum(parts, 1).view(x.shape[0], grid.out_size)

    def backward(self, d: torch.Tensor, per_tile: bool = False) -> torch.Tensor:
        """``[N, out]`` -> ``[N, in]``: every tile's transposed MVM, summed over the grid's
        rows in order. ``per_tile``: ``d`` is ``[N, tiles * out]``, each tile's own error
        (tiles with learned scales), tile ``g`` reading block ``g``."""
        grid = self.grid
        n_rows, n_cols = grid.shape
        width = grid.out_splits[0]
        steps = (n_cols * width, width) if per_tile else (width, 0)
        out = analog_mvm_grouped(self._weights().transpose(1, 2), d, grid.tiles[0].io.backward,
                                 self._next_seeds(), n_cols, *steps)
        self._count(1, d.shape[0])
        parts = out.view(n_rows, n_cols, d.shape[0], -1)
        return _grid_sum(parts, 0).view(d.shape[0], grid.in_size)

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
        """``(tiles, out, in)``: where every tile reads an array's weight buffer (analog
        SGD, mixed precision; a transfer device's C where A is hidden), those buffers bound
        into one tensor (no copy per pass); else the tiles' read weights stacked."""
        tiles = self.grid.tiles
        read = [t.weight() for t in tiles]
        arrays = [_read_array(t.device_state) for t in tiles]
        if all(a is not None and r is a.weight for r, a in zip(read, arrays, strict=True)):
            return self._bind("weight", [(a, "weight") for a in arrays])
        return torch.stack(read)

    # -- the update ---------------------------------------------------------------------
    def update_ready(self) -> bool:
        """Whether :meth:`update` applies the tiles' queued updates (module doc): each tile
        holds only what the grouped backward queued, at one learning rate, and writes it
        into a pulsed array with stochastic trains (analog SGD, or a transfer device's A:
        one device config for all)."""
        if self._queued is None:
            return False
        tiles = self.grid.tiles
        if not (tiles[0].pulses.is_cuda or GROUP_ON_CPU):
            return False
        first = tiles[0].device_state
        if isinstance(first, MixedPrecision):
            return self._mixed_ready()
        array = _written_array(first)
        if array is None:
            return False
        if isinstance(first, TransferDevice) and len(tiles) < TRANSFER_GROUP_MIN_TILES:
            return False
        params = array.update_params
        if (params.pulse_type != "stochastic_compressed"
                or (params.sto_round and params.res > 0) or array.hidden):
            return False
        lr = tiles[0].learning_rate
        config = getattr(first, "config", None)
        for tile, entry in zip(tiles, self._queued[2], strict=True):
            state = tile.device_state
            written = _written_array(state)
            if (len(tile.pending) != 1 or tile.pending[0] is not entry
                    or tile.learning_rate != lr or tile.decomposition is not None
                    or type(state) is not type(first) or type(written) is not type(array)
                    or written.update_params is not params
                    or written.cell is not array.cell or written.hidden
                    or getattr(state, "config", None) is not config):
                return False
        return True

    def update(self) -> list[tuple]:
        """The tiles' queued updates, as their devices' ``update`` makes them one by one
        (module doc); empties their queues. Returns what is left of them: ``(tile, run)``
        for each tile whose transfers fall due, ``run()`` making them (the optimizer runs
        them on its side streams)."""
        tiles = self.grid.tiles
        x, d, _ = self._queued
        self._queued = None
        for tile in tiles:
            tile.pending.clear()
        states = [t.device_state for t in tiles]
        if isinstance(states[0], MixedPrecision):
            return self._mixed_update(tiles, states, x, d, tiles[0].learning_rate)
        arrays = [_written_array(s) for s in states]
        first = arrays[0]
        params = first.update_params
        lr = tiles[0].learning_rate
        n_rows, n_cols = self.grid.shape
        transfer = isinstance(states[0], TransferDevice)
        rate, signs = lr, {}
        if transfer:  # A's rate (a host float: no auto_scale) and, chopped, its signs
            rate = states[0].fast_learning_rate(float(lr))
            for state in states:
                set_host(state, "last_fast_lr", rate)
            if states[0].chopped:
                signs = self._signs(states)
        # A's buffers under keys of their own: the reads bind C's weight as "weight"
        key = "fast." if transfer else ""
        ledger = self._bind(key + "ledger", [(a, "ledger") for a in arrays])
        calls = self._bind(key + "kernel_calls", [(a.kernel_calls, "tensor") for a in arrays])
        x_p, d_p, bl = kernels.line_probabilities_grouped(  # the counters advance with them
            x, d, n_cols, self.grid.in_splits[0], self.grid.out_splits[0], rate,
            first.granularity, desired_bl=params.desired_bl, fixed_bl=params.fixed_bl,
            update_management=params.update_management,
            update_bl_management=params.update_bl_management,
            um_grad_scale=params.um_grad_scale, res=bin_width(params.res),
            slots=ledger[:, 0], calls=calls,
            rows=self._bind("rank1", [(t.rank1_count, "tensor") for t in tiles]), **signs)
        max_bl = first._train_bound(rate, params)[1]
        counting = all(a.counting for a in arrays)
        kernels.update_grouped(  # the pulses added to the tiles' counts
            params.accumulate, self._bind(key + "weight", [(a, "weight") for a in arrays]),
            self._bind(key + "cell_params", [(a, "cell_params") for a in arrays]), x_p, d_p,
            bl, kernels.UpdateParams(first._cell(), max_bl, False),
            seeds=self._update_seeds(arrays, calls),
            cell_pulses=(self._bind(key + "cell_pulses", [(a, "cell_pulses") for a in arrays])
                         if counting else None),
            add_to=self._bind("pulses", [(t, "pulses") for t in tiles]))
        if not transfer:
            return []
        return self._transfers(tiles, states, int(x.shape[0]), float(lr))

    # -- mixed precision ------------------------------------------------------------
    # A grid of mixed-precision tiles updates as one group (``TileGroup._mixed_update``, where
    # ``_mixed_ready``): the layer's d^T x in one matmul, every tile's chi step in one launch
    # (``kernels.chi_steps``), the walks and writes in those of one tile; tile by tile each
    # tile's update is ~16 launches (at 784-4096-4096-10, b256: 1,408 of the step's 1,454 on the
    # side streams; counted on fake CUDA, benchmarks/RESULTS.md 2026-12-07 mpwide). Chi rounds as
    # one matmul (another last bit than a tile's addmm: the stream may then differ). Constant
    # steps take chi's step and the write's trains in one launch (``kernels.chi_write``: the
    # amounts never stored, the one-hot rows one value a row), then the one-hot lines' kernel:
    # two launches a grid instead of three, ~0.27 GB a step less (the same numbers). Timed on
    # one H100 (``MP_GROUPED`` and ``MP_FUSED_WRITE`` in `mp-batch`, with
    # ``pulsed_update_cuda.SKIP_IDLE_LINES``, 2026-12-07 14:58: 4096 mixed precision `batch`
    # 2.58x -> 1.38x fp), their switches removed 2026-12-08.
    def _mixed_ready(self) -> bool:
        """Whether the grid's mixed-precision tiles update as one group: one config (every
        row of chi written a transfer, no quantized x or d), each tile holding only what the
        grouped backward queued, at one learning rate, its schedule where the others' are,
        its array written by the plain fused write (``PulsedArray.fused_write``)."""
        tiles = self.grid.tiles
        first = tiles[0].device_state
        c = first.config
        n_out = first.chi.shape[0]
        if (c.n_x_bins > 0 or c.n_d_bins > 0
                or not (c.n_rows_per_transfer < 0 or c.n_rows_per_transfer >= n_out)
                or first.chi.dtype != torch.float32):
            return False
        lr = tiles[0].learning_rate
        for tile, entry in zip(tiles, self._queued[2], strict=True):
            state = tile.device_state
            array = getattr(state, "array", None)
            if (len(tile.pending) != 1 or tile.pending[0] is not entry
                    or tile.learning_rate != lr or tile.decomposition is not None
                    or type(state) is not type(first) or state.config is not c
                    or state.schedule.n_updates != first.schedule.n_updates
                    or state.granularity != first.granularity
                    or not isinstance(array, PulsedArray) or array.cell is not first.array.cell
                    or not array.fused_write(state.write_params)
                    or getattr(array, "has_reference", True)):
                return False
        return True

    def _mixed_update(self, tiles, states, x, d, lr: float) -> list:
        """``MixedPrecision.update`` of every tile at once: the layer's increment ``d^T x``
        in one matmul, every tile's chi update, whole steps and amounts in one launch
        (``kernels.chi_steps``), the schedules' walks in one (``line_walk_grouped``) and
        the writes in those of one tile's (``transfer_lines_grouped``, each tile's own
        seed and counters), where each tile's would be one fused write; else each tile
        writes its amounts (a schedule walked on the host: the CPU). The same steps as
        tile by tile, chi rounded as one matmul and ``chi + inc * lr`` round it (the last
        bit of ``addmm``'s epilogue: ``chi_steps_ref``). Returns no jobs."""
        first = states[0]
        c = first.config
        k = int(x.shape[0])
        n_cols = self.grid.shape[1]
        self._bind("rank1", [(t.rank1_count, "tensor") for t in tiles]).add_(k)
        chi = self._bind("chi", [(s, "chi") for s in states])
        inc = torch.mm(d.T.to(chi), x.to(chi))
        events = [s.schedule.due(k, c.transfer_every * k) for s in states]
        n_out = chi.shape[1]
        if events[0] == 0 or c.transfer_lr == 0:  # (period >= k: one transfer at most)
            kernels.chi_steps(chi, inc, n_cols, lr, first.granularity)
            return []
        lr_w = first.granularity * c.transfer_lr
        if first.schedule.walks_on_host():
            walks = [s.schedule.walk(n_out, t.generator) for s, t in zip(states, tiles,
                                                                          strict=True)]
            start = torch.tensor([w[0].start for w in walks], dtype=torch.int64)
            amounts = kernels.chi_steps(chi, inc, n_cols, lr, first.granularity, start)
            for g, (s, t, runs) in enumerate(zip(states, tiles, walks, strict=True)):
                offset = 0
                for run in runs:  # a host run stops at the last line
                    s.array.write_lines(run, amounts[g, offset:offset + run.count], lr_w,
                                        t.generator, params=s.write_params, columns=False,
                                        add_to=t.pulses)
                    offset += run.count
            return []
        line = self._bind("line", [(s.schedule.line, "tensor") for s in states])
        passes = self._bind("passes", [(s.schedule.passes, "tensor") for s in states])
        snapshot, _ = kernels.line_walk_grouped(line, passes, n_out, n_out)
        start = snapshot[:, 0]
        group = {"start": start, "passes": snapshot[:, 1]}
        rows = {name: list(value.unbind(0)) for name, value in group.items()}
        runs = [LineRun(rows["start"][g], n_out, n_out, rows["passes"][g])
                for g in range(len(tiles))]
        arrays = [s.array for s in states]
        for name, holders in self._write_state(tiles, states, arrays).items():
            group[name] = self._bind(name, holders)
            rows[name] = self._bound[name][1]

        def write_calls(reads):  # the tiles' fused writes of ``reads``, and as a group's
            group["reads"], rows["reads"] = reads, list(reads.unbind(0))
            calls = [a.fused_call(run, rows["reads"][g], lr_w, t.generator, s.write_params,
                                  False, add_to=t.pulses)
                     for g, (s, a, t, run) in enumerate(zip(states, arrays, tiles, runs,
                                                            strict=True))]
            return (self._stacked(calls, group, rows)
                    if kernels.transfer_lines_groups(group["weight"]) else None)

        # constant steps: chi's step and the write's trains in one launch (note above)
        stacked = write_calls(chi)  # (chi stands for the amounts the fused write never stores)
        if stacked is not None and int(stacked["cell"].kind) == kernels.CELL_CONSTANT:
            kernels.chi_write(chi, inc, n_cols, lr, first.granularity, start,
                              stacked["weights"], stacked["cell_params"], stacked["p"],
                              stacked["cell"], generators=stacked["generators"],
                              key=stacked.get("key"), max_bl=stacked["max_bl"],
                              add_to=stacked["add_to"], train_slots=stacked["train_slots"],
                              calls=stacked.get("calls"), cell_pulses=stacked.get("cell_pulses"))
            return []
        amounts = kernels.chi_steps(chi, inc, n_cols, lr, first.granularity, start)
        stacked = write_calls(amounts)
        if stacked is None:
            for g, (s, a, t, run) in enumerate(zip(states, arrays, tiles, runs, strict=True)):
                a.write_lines(run, rows["reads"][g], lr_w, t.generator, params=s.write_params,
                              columns=False, add_to=t.pulses)
        else:
            kernels.transfer_lines_grouped(**stacked)
        return []

    def _transfers(self, tiles, states, k: int, lr: float) -> list[tuple]:
        """The tiles' transfers after their A was written (``TransferDevice.update``'s
        second half), as ``(tile, run)`` jobs. Where every tile has the same transfers due,
        in one run of lines walked on the device with keyed read seeds, the walks and reads
        are the group's: one walk of every schedule (``kernels.line_walk_grouped``: each
        tile's read seed from its own read count and ``read_seed_offset``) and one MVM of
        every tile's one-hot reads (``analog_mvm_grouped``); each job then writes its tile's
        reads into C and does the bookkeeping after a read. Otherwise each job makes its
        tile's transfers."""
        events = [s.schedule.due(k, s.transfer_period(k)) for s in states]
        first, n = states[0], events[0]
        c = first.config
        count = n * min(c.n_reads_per_transfer, first.n_in)
        offsets = [s.read_seed_offset(t.generator) for s, t in zip(states, tiles, strict=True)]
        if not (n > 0 and all(e == n for e in events) and not c.random_selection
                and first.transfer_learning_rate(lr) != 0 and count <= first.n_in
                and not first.schedule.walks_on_host()
                and all(o is not None for o in offsets)):
            return [(t, functools.partial(_transfer, t, e, lr))
                    for t, e in zip(tiles, events, strict=True) if e > 0]
        n_lines = first.n_in
        fast = [s.fast for s in states]
        line = self._bind("line", [(s.schedule.line, "tensor") for s in states])
        passes = self._bind("passes", [(s.schedule.passes, "tensor") for s in states])
        ledger = self._bind("fast.ledger", [(a, "ledger") for a in fast])
        weights = self._bind("fast.weight", [(a, "weight") for a in fast])
        key = tuple(offsets)
        if self._read_offsets is None or self._read_offsets[0] != (key, line.device):
            self._read_offsets = ((key, line.device),
                                  torch.tensor(offsets, dtype=torch.int64, device=line.device))
        snapshot, onehot = kernels.line_walk_grouped(
            line, passes, count, n_lines, weights.dtype, ledger[:, 1], self._read_offsets[1],
            reads_take_line_elements(c.transfer_io))
        reads = analog_mvm_grouped(weights if first.columns else weights.transpose(1, 2),
                                   onehot, c.transfer_io, snapshot[:, 2],
                                   len(tiles), 0, n_lines, onehot_start=snapshot[:, 0])
        walk = {"start": snapshot[:, 0], "passes": snapshot[:, 1],
                "flip_seed": snapshot[:, 2:3], "reads": reads}
        rows = {key: list(value.unbind(0)) for key, value in walk.items()}
        runs = [LineRun(rows["start"][g], count, n_lines, rows["passes"][g]).with_onehot(
                    onehot[:, g * n_lines:(g + 1) * n_lines], counted=True,
                    read_seed=rows["flip_seed"][g]) for g in range(len(tiles))]
        if _writes_fused(states):  # every tile's write, on this stream
            self._write(tiles, states, runs, lr, walk, rows)
            return []
        made = (reads, snapshot, onehot)  # on the group's stream, used on the others
        return [(t, functools.partial(_write, t, runs[g], rows["reads"][g], lr, made))
                for g, t in enumerate(tiles)]

    def _write(self, tiles, states, runs, lr: float, walk: dict, rows: dict) -> None:
        """Each tile's write of its reads into C, then its bookkeeping after a read
        (``TransferDevice.transfer_lines`` given the reads), the pulses added to its count:
        where every write is one plain fused write (``PulsedArray.fused_call``) that
        ``kernels.transfer_lines_grouped`` makes as each tile's own call would, all in its
        launches (on CUDA, constant steps: two for the group, against two per tile; other
        cells seven against three); otherwise tile by tile. ``walk``: the group's tensors
        of the walk and reads (``(tiles, ...)``); ``rows``: their rows, which the runs and
        the writes hold."""
        lr_t = states[0].transfer_learning_rate(lr)
        group, rows = {**walk}, {**rows}
        for name, holders in self._write_state(tiles, states).items():  # views, then plans
            group[name] = self._bind(name, holders)
            rows[name] = self._bound[name][1]
        plans = [s.write_plan(run, rows["reads"][g], lr_t, t.generator)
                 for g, (s, t, run) in enumerate(zip(states, tiles, runs, strict=True))]
        calls = [s.slow.fused_call(run, add_to=t.pulses, **plan) if _fused(s.slow, plan)
                 else None for s, t, run, plan in zip(states, tiles, runs, plans, strict=True)]
        stacked = self._stacked(calls, group, rows) if all(calls) else None
        if stacked is None:
            for s, t, run, plan in zip(states, tiles, runs, plans, strict=True):
                s.slow.write_lines(run, add_to=t.pulses, **plan)
        else:
            kernels.transfer_lines_grouped(**stacked)
        for s, t, run in zip(states, tiles, runs, strict=True):
            s.after_reads(run, t.generator)

    @staticmethod
    def _write_state(tiles, states, arrays=None) -> dict:
        """The buffers a transfer's write reads or changes, per name of the group tensor
        their tiles' views make (``_bind``): C's weight (under the reads' key), cell
        parameters and counters, the tiles' pulse counts, H, the choppers, AGAD's means.
        ``arrays``: the written arrays where they are not C (mixed precision's one array,
        under C's names)."""
        slows = arrays if arrays is not None else [s.slow for s in states]
        names = {"weight": [(a, "weight") for a in slows],
                 "slow.cell_params": [(a, "cell_params") for a in slows],
                 "slow.cell_pulses": [(a, "cell_pulses") for a in slows],
                 "slow.ledger": [(a, "ledger") for a in slows],
                 "slow.kernel_calls": [(a.kernel_calls, "tensor") for a in slows],
                 "pulses": [(t, "pulses") for t in tiles]}
        for name in ("buffer", "out_chopper", "in_chopper", "running_mean", "past_mean",
                     "switched"):
            if isinstance(getattr(states[0], name, None), torch.Tensor):
                names[name] = [(s, name) for s in states]
        return names

    def _stacked(self, calls: list[dict], group: dict, rows: dict) -> dict | None:
        """The arguments of ``kernels.transfer_lines_grouped`` for the tiles' fused-write
        ``calls`` (``PulsedArray.fused_call``), where each tensor of call ``g`` is row
        ``g`` of a group tensor and everything else is the same in every call; else None."""
        first = calls[0]
        cell = first["cell"]
        if (not kernels.transfer_lines_groups(first["weight"])
                or any(c.get(key) is not None for c in calls for key in _UNSTACKED)
                or any(tuple(c["cell"][:4]) != tuple(cell[:4]) or c["cell"].table is not
                       cell.table for c in calls)):
            return None
        out = {"generators": [c["generator"] for c in calls], "cell": cell,
               # the trains' slots: the ledgers' first entries (each call's ``ledger[:1]``)
               "train_slots": group["slow.ledger"][:, 0]}
        for key, value in first.items():
            name = _SOURCES.get(key)
            if name is not None:  # a tensor of each tile's: a row of the group's
                if value is None:
                    if any(c.get(key) is not None for c in calls):
                        return None
                elif name not in group or any(c.get(key) is not rows[name][g]
                                              for g, c in enumerate(calls)):
                    return None
                out["weights" if key == "weight" else key] = None if value is None \
                    else group[name]
            elif key in ("p", "max_bl", "chopper"):  # numbers: the same for every tile
                if any(c.get(key) != value for c in calls[1:]):
                    return None
                out[key] = value
            elif key not in ("generator", "seed", "cell", "train_slots", *_UNSTACKED):
                return None  # an argument the group does not know
        if first["seed"] is not None:  # keyed by each array's call counter (CUDA)
            if any(c["seed"].calls is not c["calls"] for c in calls):
                return None
            key = (tuple(int(c["seed"].offset) for c in calls), group["weight"].device)
            if self._write_offsets is None or self._write_offsets[0] != key:
                self._write_offsets = (key, torch.tensor(key[0], dtype=torch.int64,
                                                         device=key[1]))
            out["key"] = seeds.KeyedSeed(group["slow.kernel_calls"], self._write_offsets[1])
        return out

    def _signs(self, states) -> dict:
        """Every tile's chopper signs of A's lines (``TransferDevice.signs``), as rows of
        one tensor each (the choppers become its views: no copy per step)."""
        ins = self._bind("in_chopper", [(s, "in_chopper") for s in states])
        outs = self._bind("out_chopper", [(s, "out_chopper") for s in states])
        rows, cols = (outs, ins) if states[0].columns else (ins, outs)
        return {"d_sign": rows, "x_sign": cols}

    def _update_seeds(self, arrays, calls: torch.Tensor) -> torch.Tensor:
        """Each array's CUDA update seed (``CrossbarArray._device_seed``) from its call
        counter ``calls`` (advanced by the trains' kernel), at once."""
        if self._offsets is None or self._offsets.device != calls.device:
            self._offsets = torch.tensor(
                [seeds.array_seed_offset(t.generator.initial_seed(), a._seed_salt)
                 for t, a in zip(self.grid.tiles, arrays, strict=True)],
                dtype=torch.int64, device=calls.device)
        return seeds.array_device_seeds(calls, self._offsets)

    def _bind(self, key: str, holders: list) -> torch.Tensor:
        """One tensor whose rows are the buffers ``getattr(module, name)`` of ``holders``:
        made (and the buffers replaced by its views) where a holder's buffer is not the
        view it was given, e.g. after a move. The buffers it replaces are freed while the
        current stream may still read them: the caching allocator keeps them until it
        has (``record_stream``), whichever stream they were made on. The names of
        ``_LINE_STATE`` store each ``(L, lines)`` buffer with its lines' elements adjacent
        (strides ``(1, L)``; the same values, another layout)."""
        bound = self._bound.get(key)
        if bound is None or any(getattr(m, n) is not v
                                for (m, n), v in zip(holders, bound[1], strict=True)):
            buffers = [getattr(m, n) for m, n in holders]
            if key in _LINE_STATE:
                group = torch.stack([b.transpose(-2, -1) for b in buffers]).transpose(-2, -1)
            else:
                group = torch.stack(buffers)
            if group.is_cuda:  # read here (a side stream: the update), freed on their own
                stream = torch.cuda.current_stream(group.device)
                for buffer in buffers:
                    buffer.record_stream(stream)
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


# A grid pass's partial sums and their joining in one launch on CUDA (``_grid_sum``:
# each part read once, the joined rows written once; at 784-4096-4096-10 b256, 7 adds and a
# copy a 4096-wide pass, ~100 -> ~38 MB), where torch's adds and copy (the twin) took eight.
# The same float32 additions in the same order, so the same numbers bit for bit. Timed on
# one H100 (``ORDERED_SUMS`` in `wide-batch`, with ``ONE_ACCUMULATOR`` and ``QUAD_LOOP``,
# 2026-12-07 07:42: 4096 sgd `batch` 2.47x -> 2.02x fp), its switch removed 2026-12-08.
def _grid_sum(parts: torch.Tensor, dim: int) -> torch.Tensor:
    """``parts`` ``(rows, columns, N, W)`` summed in order over ``dim``, joined into ``[N,
    kept * W]`` (``kernels.grid_sum``: one launch on CUDA)."""
    return kernels.grid_sum(parts, dim)


def _transfer(tile, events: int, lr: float) -> None:
    """A tile's transfers after its A was written (``TransferDevice.update``'s second half;
    their pulses added to the tile's count in place)."""
    tile.device_state.transfer(events, lr, tile.generator, tile.pulses)


def _write(tile, lines: LineRun, reads: torch.Tensor, lr: float, made: tuple) -> None:
    """A tile's part of a grouped transfer after the group's reads (its ``reads``;
    ``TransferDevice.transfer_lines`` given them): write them into C, then the bookkeeping
    after a read; the pulses added to the tile's count in place. ``made``: the group's
    tensors made on the group's stream, used on this one."""
    if reads.is_cuda:
        stream = torch.cuda.current_stream(reads.device)
        for tensor in made:
            tensor.record_stream(stream)
    state = tile.device_state
    state.transfer_lines(lines, state.transfer_learning_rate(lr), tile.generator, reads,
                         tile.pulses)


# a fused write's tensors (``PulsedArray.fused_call``) and the group tensors they are rows
# of (``TileGroup._write``); the arguments a grouped write leaves to the tiles' own
_SOURCES = {"weight": "weight", "cell_params": "slow.cell_params",
            "cell_pulses": "slow.cell_pulses", "calls": "slow.kernel_calls",
            "add_to": "pulses", "reads": "reads", "start": "start", "passes": "passes",
            "flip_seed": "flip_seed", "buffer": "buffer", "out_sign": "out_chopper",
            "in_sign": "in_chopper", "running_mean": "running_mean",
            "past_mean": "past_mean", "switched": "switched"}
_UNSTACKED = ("line_mask", "flip_draws")


# A grouped transfer's writes into C are the group's launches (``TileGroup._write``) where
# each tile's write would be a plain fused write, not a job of its own on the optimizer's
# side streams (two launches a tile): timed faster on one H200 (``GROUPED_WRITE``,
# 2026-12-06 23:00, 784-4096-4096-10 b256 chopped `batch` 4.30x -> 4.14x fp, agad 4.69x ->
# 4.60x), its switch removed 2026-12-08 (benchmarks/RESULTS.md).
def _writes_fused(states) -> bool:
    """Whether the devices' writes into C are fused writes that
    ``kernels.transfer_lines_grouped`` makes as a group on their device (else their writes
    stay jobs of their own, which the optimizer spreads over its side streams)."""
    return kernels.transfer_lines_groups(states[0].slow.weight) and all(
        s.slow.fused_write(s.config.transfer_update)
        and not getattr(s.slow, "has_reference", True) for s in states)


def _fused(array, plan: dict) -> bool:
    """Whether C's write of a ``plan`` (``TransferDevice.write_plan``) is one fused write
    of every line and nothing after it (``PulsedArray.fused_call``)."""
    return (array.fused_write(plan["params"]) and plan.get("write", True) is True
            and plan["lr"] != 0 and plan["amounts"].shape[0] > 0
            and not getattr(array, "has_reference", True))


def _written_array(state):
    """The pulsed array a device writes the gradient into (analog SGD's array, a transfer
    device's A without ``auto_scale``); None where the group does not update it."""
    if isinstance(state, SingleArray):
        array = state.array
    elif isinstance(state, TransferDevice) and not getattr(state.config, "auto_scale", False):
        array = state.fast
    else:
        return None
    return array if isinstance(array, PulsedArray) else None


def _read_array(state):
    """The array whose weight buffer a device's reads may be (analog SGD, mixed precision:
    its array; a transfer device: C, read as it is where A is hidden)."""
    array = getattr(state, "array", None)
    return array if array is not None else getattr(state, "slow", None)


# the grouped passes on the CPU too (the tests' way to run them without a GPU)
GROUP_ON_CPU = False
# H and AGAD's running and past means of a grid's buffered transfer devices (``(L, lines)``
# each, a transfer's line one of their columns) stored line by line: bound as group tensors
# with strides (L * lines, 1, L) (``_bind``), so that the write kernel's program of a line
# (``_transfer_write_kernel``) loads and stores it as whole sectors, where row-major each of
# its elements is a 32-byte sector of its own, 2 KB from the next (at 784-4096-4096-10,
# b256, 256 lines of 512 a tile and step: H's load + store ~8 MB of sectors a 512x512 tile,
# AGAD's two means twice that again; CPU estimate, benchmarks/RESULTS.md 2026-12-07
# agadgap). The same values in another layout, so the same numbers bit for bit. Timed on one
# H100 (``LINE_MAJOR_STATE`` with ``analog_mvm_cuda.GROUPED_ONEHOT``, 2026-12-07 08:50,
# `agad-transfers`: 4096 chopped `batch` 3.23x -> 2.76x fp, agad 3.72x -> 2.81x), its switch
# removed 2026-12-08.
_LINE_STATE = ("buffer", "running_mean", "past_mean")  # the bound names stored line by line
# the fewest tiles of a transfer device's grid that update (A, then the transfers) as one
# group. Measured on one H100 (2026-12-06, bench MLP, whose first layer is a 2-tile grid):
# with the group's update on the step's stream, 2 made chopped 2.39x -> 2.80x fp at batch
# 256; with it as one side-stream job (now), 2 against 4 gave chopped 1.69x against 1.50x
# at batch 32 and 2.42-2.48x against 2.26-2.37x at 256 (benchmarks/RESULTS.md). So 4
TRANSFER_GROUP_MIN_TILES = 4

__all__ = ["TileGroup"]
