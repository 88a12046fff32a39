"""One crossbar array: conductance state plus the per-element parameters of its cells.

The array is the only writer of its weight (``update``, ``write_lines``); devices decide
what to write and when, the array how: trains, kernel, seed, and the step after a write."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from .. import kernels
from ..graph_state import DeviceScalar, GraphState
from .cells import IdealCell, PulsedCell
from .lines import LineBuffer, LineRun
from .pulses import (
    UpdateParameters,
    bin_width,
    fold_rate,
    pulse_trains,
    rate_free_length,
)

IDEAL_GRANULARITY = 1e-3  # aihwkit's default dw_min: what thresholds counted in steps use
# A reference cell whose reference is +0.0 everywhere (aihwkit's defaults) becomes a plain
# array (PulsedArray): the same numbers without the hidden conductance, its subtraction
# after every write and the slower transfer paths (issue 22's wu2024-mnist step). Off: the
# hidden path as before (the tests compare the two).
DROP_ZERO_REFERENCE = True
# Under write noise, the reads of a written part are redrawn in place
# (``kernels.noisy_reads``: one numba pass on the CPU instead of five temporaries), and a
# host run's lines are compared and redrawn through views (a slice) instead of gathers and
# a scatter: the same draws and the same numbers bit for bit. Off: the temporaries and
# gathers, as before (the tests compare the two).
FOLLOW_IN_PLACE = True


def build_array(out_size: int, in_size: int, cell: PulsedCell | IdealCell,
                update: UpdateParameters, construction_seed: int) -> CrossbarArray:
    """The array a cell needs: pulses for a pulsed cell, exact floats for an ideal one."""
    kind = PulsedArray if cell.is_pulsed else IdealArray
    return kind(out_size, in_size, cell, update, construction_seed)


class CrossbarArray(nn.Module, GraphState):
    """A ``(out, in)`` array of unit cells: the one writer of its weight.

    Every write goes through one of two methods - :meth:`update` (rank-k updates of the
    whole array) and :meth:`write_lines` (a transfer's writes of a few lines) - which pick
    the kernel and its train bound and end in the one after-write step, so a device never
    touches the weight itself. The weight is a buffer, not a parameter: autograd never
    writes it. ``update_params`` are the trains of :meth:`update`; a line write names its
    own (aihwkit's ``transfer_update``). Subclasses: :class:`PulsedArray` (pulse trains
    through the cell) and :class:`IdealArray` (the update exactly, in floating point).

    The wear ledger, kept where the writes are: ``cell_pulses`` (int32, one per element)
    adds every pulse an element takes, in the kernels (no host sync, so a replayed CUDA
    graph counts too); ``ledger`` (int64) holds ``[train slots, read vectors]``: the time
    slots of this array's pulse trains (row-parallel: one rank-1 update or one line write
    takes its train's slots) and the vectors a transfer read from it. Both are saved in
    the extra state (a resume continues them); ``counting`` False leaves ``cell_pulses``
    alone (the benchmark's "off").

    Graph state: all on the device - the weight, the cells' parameters, the ledger and
    the kernel call counter that keys the CUDA kernels' seeds (``_device_seed``); the
    generator is the tile's.
    """

    graph_device_state = ("weight", "cell_params", "reset_bias", "cell_pulses", "ledger",
                          "kernel_calls")

    def __init__(self, out_size: int, in_size: int, cell, update: UpdateParameters,
                 construction_seed: int):
        super().__init__()
        self.cell = cell
        self.update_params = update
        self._seed_salt = int(construction_seed)
        self.kernel_calls = DeviceScalar()  # keys the kernel seeds (saved in the extra state)
        self.register_buffer("weight", torch.zeros(out_size, in_size))
        self.counting = True
        self.register_buffer("cell_pulses", torch.zeros(out_size, in_size, dtype=torch.int32),
                             persistent=False)
        self.register_buffer("ledger", torch.zeros(2, dtype=torch.int64), persistent=False)

    # -- the wear ledger ----------------------------------------------------------------
    def _counter(self) -> torch.Tensor | None:
        """What the kernels add each element's pulses to (None when not counting)."""
        return self.cell_pulses if self.counting else None

    def count_slots(self, slots) -> None:
        """Add the time slots of a write's trains (an int or a device tensor)."""
        self.ledger[0].add_(slots)  # in place on the view: no __setitem__

    def count_reads(self, vectors: int) -> None:
        """Add ``vectors`` reads of this array (a transfer's one-hot MVMs)."""
        ledger = self.ledger
        if ledger.is_cpu:  # through numpy: a tenth of torch's indexing and add_
            ledger.numpy()[1] += vectors
        else:
            ledger[1].add_(vectors)

    # -- what devices read ------------------------------------------------------------
    @property
    def granularity(self) -> float:
        """Mean step of one pulse: what pulse probabilities and thresholds are scaled by."""
        raise NotImplementedError

    @property
    def n_states(self) -> float:
        """Number of pulse steps across the weight range."""
        raise NotImplementedError

    def stored_weight(self) -> torch.Tensor:
        """The weight the writes act on."""
        return self.weight

    # -- programming ------------------------------------------------------------------
    def set_weight(self, weight: torch.Tensor,
                   generator: torch.Generator | None = None) -> None:
        """Program the read weight ``weight`` exactly (within each element's bounds)."""
        raise NotImplementedError

    def reset(self, mask: torch.Tensor | None = None,
              generator: torch.Generator | None = None) -> None:
        """Reset the elements where ``mask`` is true (all when None) to their reset value."""
        raise NotImplementedError

    # -- the two writes ---------------------------------------------------------------
    def update(self, x_rows: torch.Tensor, d_rows: torch.Tensor, lr: float | torch.Tensor,
               generator: torch.Generator | None, *, params: UpdateParameters | None = None,
               sparse_rows: bool = False,
               signs: tuple[torch.Tensor, torch.Tensor] | None = None,
               add_to: torch.Tensor | None = None,
               rows: torch.Tensor | None = None) -> torch.Tensor:
        """Apply ``W <- W - lr * sum_k d_k x_k^T``; return the pulses applied (0-dim int64).

        ``lr`` may be a 0-dim tensor where the array is (a chopped device's ``auto_scale``
        rate). ``params``: the trains (default ``update_params``). ``sparse_rows``: every
        row is one-hot on one side (``kernels.pulsed_update``). ``signs``: +-1 per row and
        per column that ``d`` and ``x`` are multiplied by (a chopped array is written in
        the choppers' frame; the pulsed array's train kernel applies them). ``add_to``: a
        0-dim int64 count (a tile's) the pulses are added to in place and that is returned
        (on CUDA by the pulsed-update kernels: no launch to sum); ``rows``: a count of
        rank-1 updates the rows are added to (on CUDA by the trains' kernel).
        """
        raise NotImplementedError

    def write_lines(self, lines: LineRun, amounts: torch.Tensor, lr: float,
                    generator: torch.Generator | None, *, params: UpdateParameters,
                    columns: bool, write: bool | torch.Tensor = True,
                    buffer: LineBuffer | None = None,
                    add_to: torch.Tensor | None = None) -> torch.Tensor:
        """A transfer's write: ``line[b] += lr * amounts[b]`` for each line of ``lines``
        (columns, or rows when not ``columns``; ``amounts`` ``(n, out)`` / ``(n, in)``).

        With ``buffer`` (a transfer's digital H), the amounts enter it first
        (``kernels.accumulate_transfer_buffer``) and the whole steps it lets through are
        written instead; its ``chopper`` bookkeeping needs the fused write. ``write``: False
        only updates the buffer; a ``(n,)`` bool tensor writes those lines only.
        ``params``: the write's trains (aihwkit's ``transfer_update``). Returns the pulses
        applied (0-dim int64), or ``add_to`` with them added in place (a transfer's running
        count: on CUDA the fused write adds them in its kernel).
        """
        if self.fused_write(params):
            return self._write_fused(lines, amounts, lr, generator, params, columns, write,
                                     buffer, add_to)
        pulses = self._write_unfused(lines, amounts, lr, generator, params, columns, write,
                                     buffer)
        return pulses if add_to is None else add_to.add_(pulses)

    def _write_unfused(self, lines, amounts, lr, generator, params, columns, write,
                       buffer) -> torch.Tensor:
        """A line write without the fused kernel: the buffer step, then the lines' trains."""
        if buffer is not None and buffer.chopper is not None:
            raise ValueError("the chopper bookkeeping is done by the fused write only")
        index = lines.index(amounts.device)
        if buffer is not None:
            amounts = kernels.accumulate_transfer_buffer(buffer.h, amounts, index,
                                                         buffer.out_sign, buffer.in_sign,
                                                         buffer.params)
        if write is False:
            return _zero(amounts.device)
        if write is not True:
            amounts = amounts * write[:, None]
        part = lines.selector(amounts.device) if FOLLOW_IN_PLACE and lines.on_host else index
        return self._write_index(index, -amounts, lr, generator, params, columns, part)

    def fused_write(self, params: UpdateParameters) -> bool:
        """Whether a line write runs as one fused kernel (``kernels.transfer_lines``)."""
        return False

    def _write_fused(self, lines, amounts, lr, generator, params, columns, write,
                     buffer, add_to) -> torch.Tensor:
        raise NotImplementedError

    def line_writer(self, lr: float, params: UpdateParameters, columns: bool,
                    buffer: LineBuffer | None = None):
        """A host run's :meth:`write_lines` with its arguments made once, where the array
        has one (``PulsedArray``); None: call :meth:`write_lines`."""
        return None

    def _write_index(self, index: torch.Tensor, values: torch.Tensor, lr: float,
                     generator: torch.Generator | None, params: UpdateParameters,
                     columns: bool, part=None) -> torch.Tensor:
        """``W[:, index[b]] -= lr * values[b]`` (``columns``) or ``W[index[b], :] -= ...``;
        ``part``: what selects those lines in a view where it can (a slice), else ``index``."""
        raise NotImplementedError

    # -- kernel seeds -------------------------------------------------------------------
    def _next_call(self) -> torch.Tensor:
        """The call counter advanced by one, on the array's device: a replayed CUDA graph
        reads a new one each step."""
        return self.kernel_calls.add_(1)

    def _kernel_counters(self, on: bool) -> dict | None:
        """The counters a CUDA write's train kernel advances itself (``on``): the train
        slots and the call counter of the seed (``_device_seed(advanced=True)``)."""
        return {"slots": self.ledger[:1], "calls": self.kernel_calls.tensor} if on else None

    def _device_seed(self, generator: torch.Generator | None, *,
                     advanced: bool = False) -> kernels.seeds.KeyedSeed:
        """A fresh CUDA kernel seed per update, derived from the tile generator's seed, this
        array's construction seed and the call counter: reproducible by seed, drawn without
        a GPU sync, and keyed by a device tensor, so a replayed CUDA graph reads a new seed
        each step. The construction seed keeps two arrays of one tile (a transfer device's
        fast and slow) off each other's stream. The update kernels derive the seed from the
        counter in-kernel (``seeds.KeyedSeed``). ``advanced``: the trains' kernel has
        advanced the counter already (``_kernel_counters``): no launch at all."""
        calls = self.kernel_calls.tensor if advanced else self._next_call()
        base = generator.initial_seed() if generator is not None else 0
        return kernels.seeds.array_device_seed(calls, base, self._seed_salt)

    def read_seed_offset(self, generator: torch.Generator | None) -> int:
        """What the CUDA noise seeds of this array's transfer reads add to their key, the
        reads its ledger counted before them (``seeds.read_seed``; the walk's kernel makes
        them, so a read spends no launch on its seed): from the tile generator's seed and
        this array's construction seed, as the update seeds."""
        base = generator.initial_seed() if generator is not None else 0
        return kernels.seeds.read_seed_offset(base, self._seed_salt)

    def _host_seed(self, generator: torch.Generator | None) -> int:
        """A fresh CPU kernel seed per update: a draw from the tile generator (the tile
        checkpoints its state, so a resume continues the same stream) mixed with this
        array's construction seed and the call counter. Reproducible by seed; arrays that
        share a generator never share a stream."""
        calls = int(self._next_call())
        draw = int(kernels.seeds.draw_wide_seed(generator))
        return kernels.seeds.array_host_seed(draw, self._seed_salt, calls)

    def get_extra_state(self):
        return {"kernel_calls": int(self.kernel_calls),
                "cell_pulses": self.cell_pulses.detach().cpu().clone(),
                "ledger": self.ledger.detach().cpu().clone()}

    def set_extra_state(self, state) -> None:
        self.kernel_calls.set_(int(state["kernel_calls"]))
        for name in ("cell_pulses", "ledger"):  # checkpoints from before the ledger: zeros
            saved = state.get(name)
            getattr(self, name).copy_(saved if saved is not None else 0)


class IdealArray(CrossbarArray):
    """An array of ideal cells (aihwkit's IdealDevice): every write is exact, in floating
    point, unbounded; nothing is pulsed, so every write reports 0 pulses."""

    def __init__(self, out_size: int, in_size: int, cell: IdealCell, update: UpdateParameters,
                 construction_seed: int):
        super().__init__(out_size, in_size, cell, update, construction_seed)
        # empty, kept so that checkpoints hold the same keys for every cell
        self.register_buffer("cell_params", torch.zeros(0))
        self.register_buffer("reset_bias", torch.zeros(0))

    @property
    def granularity(self) -> float:
        return IDEAL_GRANULARITY

    @property
    def n_states(self) -> float:
        return 2.0 / IDEAL_GRANULARITY

    def set_weight(self, weight: torch.Tensor,
                   generator: torch.Generator | None = None) -> None:
        self.weight.copy_(weight.to(self.weight))

    def reset(self, mask: torch.Tensor | None = None,
              generator: torch.Generator | None = None) -> None:
        """An ideal cell resets to 0 exactly."""
        target = torch.zeros_like(self.weight)
        if mask is not None:
            mask = mask.to(device=self.weight.device, dtype=torch.bool).expand_as(self.weight)
            target = torch.where(mask, target, self.weight)
        self.weight.copy_(target)

    def update(self, x_rows, d_rows, lr, generator, *, params=None, sparse_rows=False,
               signs=None, add_to=None, rows=None):
        if rows is not None:
            rows.add_(x_rows.shape[0])
        if signs is not None:
            x_rows, d_rows = x_rows * signs[1], d_rows * signs[0]
        if isinstance(lr, torch.Tensor):
            if lr.is_cuda:  # the rate stays on the device
                self.weight.sub_((d_rows.T @ x_rows) * lr.to(self.weight.dtype))
                return _zero(self.weight.device) if add_to is None else add_to
            lr = float(lr)
        self.weight.add_(d_rows.T @ x_rows, alpha=-lr)
        return _zero(self.weight.device) if add_to is None else add_to

    def _write_index(self, index, values, lr, generator, params, columns, part=None):
        if index.numel() == 0 or lr == 0:
            return _zero(self.weight.device)
        values = values.to(self.weight.dtype)
        if columns:
            self.weight[:, index] -= lr * values.T
        else:
            self.weight[index, :] -= lr * values
        return _zero(self.weight.device)


class PulsedArray(CrossbarArray):
    """An array of pulsed cells: writes are pulse trains through the cell response.

    ``weight`` is what reads see; with the cell's ``write_noise_std`` the pulses move a
    hidden ``persistent`` weight and ``weight`` is it plus write noise, drawn anew for the
    elements a write changed (aihwkit redraws it for every element that got a pulse; an
    element pinned at its bound keeps its old noise here). A reference cell
    (``cell.has_reference``) likewise keeps the conductance in ``persistent`` and shows
    ``persistent - reference`` (plus write noise): pulses, resets and bounds act on the
    conductance, reads and :meth:`set_weight` speak the read weight (clipped to the bounds
    as the cell's ``set_clip`` says). Every write ends in :meth:`_after_write`, which makes
    the reads follow. A reference of +0.0 everywhere (aihwkit's defaults: ``reference_mean``
    and ``reference_std`` 0, no symmetry point subtracted) reads the conductance itself,
    ``w - 0.0 == w`` for every float, so the array keeps no hidden copy and writes as a
    plain one (``has_reference`` False; ``DROP_ZERO_REFERENCE``).
    """

    graph_device_state = (*CrossbarArray.graph_device_state, "persistent", "reference",
                          "cell_table")

    def __init__(self, out_size: int, in_size: int, cell: PulsedCell,
                 update: UpdateParameters, construction_seed: int):
        super().__init__(out_size, in_size, cell, update, construction_seed)
        shape = (out_size, in_size)
        seed = cell.construction_seed or construction_seed
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("cell_params", cell.sample(shape, gen))
        self.register_buffer("reset_bias", cell.sample_reset(shape, gen))
        # a table cell's knots, shared by the elements (derived from the config: not saved)
        self.register_buffer("cell_table", getattr(cell, "cell_table", None), persistent=False)
        self.has_reference = cell.has_reference
        if self.has_reference:  # drawn after the rest, so other cells' draws stay as they were
            reference, shift = cell.sample_reference(self.cell_params, gen)
            self.reset_bias += shift
            self.has_reference = not (DROP_ZERO_REFERENCE and _positive_zeros(reference))
        if self.has_reference:
            self.register_buffer("reference", reference)
        self.write_noise = cell.write_noise_std * cell.dw_min
        self._bound_update = (None, None)  # (key, run): ``_host_update``
        if self.hidden:
            self.register_buffer("persistent", torch.zeros(shape))
        if self.has_reference:  # read weight 0: the conductance at the reference
            self.persistent.copy_(self._conductance(torch.zeros(shape)))
            torch.sub(self.persistent, self.reference, out=self.weight)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Checkpoints from before a zero reference was dropped hold its conductance and
        reference too: equal to the weight and zero, so they are left out."""
        if self.cell.has_reference and not self.has_reference:
            state_dict.pop(prefix + "reference", None)
            if not self.hidden:  # (under write noise the conductance stays hidden)
                state_dict.pop(prefix + "persistent", None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def granularity(self) -> float:
        return self.cell.weight_granularity

    @property
    def n_states(self) -> float:
        return self.cell.n_states

    @property
    def hidden(self) -> bool:
        """Whether pulses act on ``persistent`` rather than on the read ``weight``."""
        return self.write_noise > 0 or self.has_reference

    def stored_weight(self) -> torch.Tensor:
        """The weight the pulses act on (the persistent one under write noise or with a
        reference: the conductance)."""
        return self.persistent if self.hidden else self.weight

    def read_of(self, stored: torch.Tensor, lines=None, columns: bool = True) -> torch.Tensor:
        """What reads see of ``stored`` conductances (without write noise): minus the
        reference; ``lines`` (an index or slice of columns, or of rows) says which part."""
        if not self.has_reference:
            return stored
        return stored - _part(self.reference, lines, columns)

    def _clip(self, weight: torch.Tensor) -> torch.Tensor:
        return torch.minimum(torch.maximum(weight, self.cell_params[kernels.ROW_W_MIN]),
                             self.cell_params[kernels.ROW_W_MAX])

    def _noisy(self, weight: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        noise = torch.randn(weight.shape, generator=generator, device=weight.device,
                            dtype=weight.dtype)
        return weight + self.write_noise * noise

    # -- programming ------------------------------------------------------------------
    def _program(self, stored: torch.Tensor, generator: torch.Generator | None) -> None:
        """Set the conductance to ``stored`` (within bounds); reads get fresh write noise."""
        if self.hidden:
            self.persistent.copy_(stored)
            stored = self.read_of(stored)
            if self.write_noise > 0:
                stored = self._noisy(stored, generator)
        self.weight.copy_(stored)

    def _conductance(self, read: torch.Tensor) -> torch.Tensor:
        """A reference cell's conductance for the read weight ``read``, clipped as the
        cell's ``set_clip`` says: the read weight (aihwkit) or the conductance."""
        if self.cell.set_clip == "read":
            return self._clip(read) + self.reference
        return self._clip(read + self.reference)

    def set_weight(self, weight: torch.Tensor,
                   generator: torch.Generator | None = None) -> None:
        """Program the read weight ``weight`` exactly, clipped to each element's bounds (a
        reference cell: its conductance ``weight + reference``, see ``set_clip``)."""
        weight = weight.to(self.weight)
        if self.has_reference:
            self._program(self._conductance(weight), generator)
        else:
            self._program(self._clip(weight), generator)

    def reset(self, mask: torch.Tensor | None = None,
              generator: torch.Generator | None = None) -> None:
        """Each element goes to its own ``reset + reset_dtod*xi`` (drawn at construction)
        plus fresh ``reset_std * xi``, clipped to its bounds (aihwkit ``reset_columns``)."""
        noise = torch.randn(self.weight.shape, generator=generator,
                            device=self.weight.device, dtype=self.weight.dtype)
        target = self._clip(self.reset_bias + self.cell.reset_std * noise)
        if mask is not None:
            mask = mask.to(device=self.weight.device, dtype=torch.bool).expand_as(self.weight)
            target = torch.where(mask, target, self.stored_weight())
        self._program(target, generator)  # redraws the write noise everywhere

    # -- the writes ---------------------------------------------------------------------
    def _train_bound(self, lr: float, params: UpdateParameters) -> tuple[bool, int]:
        """Whether the trains are long (``kernels.long_train``) and a host-side bound on
        every train length (spares the GPU a sync on ``bl.max()``)."""
        long = kernels.long_train(lr, self.granularity, desired_bl=params.desired_bl,
                                  fixed_bl=params.fixed_bl,
                                  update_bl_management=params.update_bl_management)
        return long, (kernels.long_train_length(lr, self.granularity) if long
                      else params.desired_bl)

    def _cell(self) -> kernels.CellParams:
        """The cell's numbers every write kernel takes."""
        cell = self.cell
        return kernels.CellParams(cell.kernel_kind, float(cell.noise_std),
                                  bool(cell.mult_noise), tuple(cell.cell_scalars),
                                  self.cell_table)

    def _after_write(self, before: torch.Tensor | None, generator: torch.Generator | None,
                     lines=None, columns: bool = True) -> None:
        """The one step after every pulsed write of ``lines`` (None: the whole array):
        under write noise, reads of the elements it changed (``before`` was their stored
        value) get fresh noise; with a reference, reads follow the conductance."""
        if before is not None and FOLLOW_IN_PLACE and not isinstance(lines, torch.Tensor):
            new = _part(self.stored_weight(), lines, columns)  # a view: the whole or a slice
            noise = torch.randn(new.shape, generator=generator, device=new.device,
                                dtype=new.dtype)  # the draw of _noisy
            reference = _part(self.reference, lines, columns) if self.has_reference else None
            kernels.noisy_reads(_part(self.weight, lines, columns), new, before, reference,
                                noise, self.write_noise)
        elif before is not None:
            new = _part(self.stored_weight(), lines, columns)
            noisy = self._noisy(self.read_of(new, lines, columns), generator)
            _put(self.weight, lines, columns,
                 torch.where(new != before, noisy, _part(self.weight, lines, columns)))
        elif self.has_reference:
            if lines is None:
                torch.sub(self.persistent, self.reference, out=self.weight)
            else:
                _put(self.weight, lines, columns,
                     self.read_of(_part(self.persistent, lines, columns), lines, columns))

    def _before_write(self, lines=None, columns: bool = True) -> torch.Tensor | None:
        """What :meth:`_after_write` compares with: the written part under write noise."""
        if self.write_noise <= 0:
            return None
        return _part(self.stored_weight(), lines, columns).clone()

    def update(self, x_rows, d_rows, lr, generator, *, params=None, sparse_rows=False,
               signs=None, add_to=None, rows=None):
        """On CUDA a 0-dim tensor ``lr`` never comes to the host: the trains take it folded
        into the rows (``fold_rate``) - except where the longest train follows the rate
        itself (``fixed_bl`` off without BL management), whose host bound needs it: that
        step waits for the GPU (and is not graph-captured). The CPU reads it (free there).
        """
        params = self.update_params if params is None else params
        if isinstance(lr, torch.Tensor):
            if not lr.is_cuda or not rate_free_length(params):
                lr = float(lr)
            else:
                x_rows, d_rows = fold_rate(x_rows, d_rows, lr)
                lr = 1.0
        if signs is None:
            bound = self._host_update(lr, params)
            if bound is not None and x_rows.dtype == d_rows.dtype == bound.dtype:
                return bound(x_rows, d_rows, generator, add_to, rows)
        target = self.stored_weight()
        counted = target.is_cuda and params.pulse_type == "stochastic_compressed"
        counters = self._kernel_counters(counted)
        if rows is not None:  # a tile's rank-1 count: in the trains' kernel where it runs
            if counted:
                counters["rows"] = rows
            else:
                rows.add_(x_rows.shape[0])
        folds = (counted and params.accumulate == "batch"
                 and kernels.folds_input_probabilities(target, x_rows.shape[0]))
        trains = pulse_trains(x_rows, d_rows, lr, self.granularity, params, generator,
                              counters=counters, signs=signs, x_gains=folds)
        before = self._before_write()
        max_bl = None if trains.x_bits is not None else self._train_bound(lr, params)[1]
        seed = (self._device_seed(generator, advanced=counted) if target.is_cuda
                else self._host_seed(generator))
        if params.accumulate == "batch":  # counted over the batch, applied at once
            kernel = kernels.counted_update
        else:  # pulse by pulse, each rank-1 update in turn
            kernel = kernels.pulsed_update
        pulses = kernel(target, self.cell_params, trains.x_prob, trains.d_prob, trains.bl,
                        kernels.UpdateParams(self._cell(), max_bl, sparse_rows),
                        generator=generator, x_bits=trains.x_bits, d_bits=trains.d_bits,
                        seed=seed, cell_pulses=self._counter(), add_to=add_to)
        if not counted:
            self.count_slots(trains.bl.sum())
        self._after_write(before, generator)
        return pulses

    def _host_update(self, lr: float, params: UpdateParameters):
        """:meth:`update` of a CPU array as bound calls (``kernels.bind_trains_update``: the
        trains and their pulses in two numba calls, their arguments made once), the seeds
        drawn as :meth:`update` draws them: a small tile's update (digits' 64-32-10 at
        batch 8) spent more in the Python round its kernels than in them. Made once per
        rate and kept while the array's tensors keep their storage (``storage_watch``) and
        the settings stay. None: :meth:`update` runs (CUDA, the deterministic pulse types,
        ``accumulate=batch``, write noise, a reference, what numba does not take), those
        told apart before the kept binding is looked at (no walk of the module tree)."""
        if (params.pulse_type != "stochastic_compressed" or params.accumulate != "sample"
                or self.hidden or not self.weight.is_cpu):
            return None
        key, run = self._bound_update
        if (key is not None and key[0] == lr and key[1] == params
                and key[2] == self._bound_settings() and key[3]()):
            return run
        run = self._bind_update(lr, params)
        self._bound_update = ((lr, dataclasses.replace(params), self._bound_settings(),
                               storage_watch(self)), run)
        return run

    def _bound_settings(self) -> tuple:
        """What a bound update depends on besides the rate, the parameters and tensors."""
        return (self.counting, self.write_noise, self.has_reference, self.granularity,
                kernels.backends.HAVE_NUMBA)

    def _bind_update(self, lr: float, params: UpdateParameters):
        res = bin_width(params.res)
        run = kernels.bind_trains_update(
            self.stored_weight(), self.cell_params, kernels.UpdateParams(self._cell()), lr,
            self.granularity, cell_pulses=self._counter(), res=res,
            sto_round=params.sto_round, desired_bl=params.desired_bl, fixed_bl=params.fixed_bl,
            update_management=params.update_management,
            update_bl_management=params.update_bl_management,
            um_grad_scale=params.um_grad_scale)
        if run is None:
            return None
        rounding = params.sto_round and res > 0
        draw = kernels.seeds.draw_kernel_seed
        slots = self.ledger.numpy()

        def update(x_rows, d_rows, generator, add_to, rows):
            if rows is not None:
                rows.add_(x_rows.shape[0])
            trains_seed = draw(generator, x_rows.device) if rounding else 0
            pulses, slot_count = run(x_rows, d_rows, trains_seed, self._host_seed(generator))
            slots[0] += slot_count
            if add_to is None:
                return torch.scalar_tensor(pulses, dtype=torch.int64)
            return add_to.add_(pulses)

        update.dtype = self.weight.dtype
        return update

    def __getstate__(self):
        # the bound update (a closure over numpy views of these tensors) is not copied or
        # pickled: a copy binds its own
        return {**super().__getstate__(), "_bound_update": (None, None)}

    def fused_write(self, params: UpdateParameters) -> bool:
        """A cell without write noise and continuous stochastic trains, on CUDA or with
        numba on the CPU: the buffer step, the trains and the pulses in one numba call on
        the CPU, two launches and no host sync on CUDA."""
        return (self.write_noise <= 0 and params.pulse_type == "stochastic_compressed"
                and params.res <= 0
                and kernels.backends.choose("transfer_lines", self.weight) != "torch")

    def _write_fused(self, lines, amounts, lr, generator, params, columns, write,
                     buffer, add_to) -> torch.Tensor:
        """``kernels.transfer_lines``: the lines' trains from the amounts (through the
        buffer) and their pulses (added to ``add_to`` where given); a ``LineRun`` on the
        device wraps, so no host sync."""
        if buffer is not None and buffer.chopper is not None and (write is not True
                                                                   or lr == 0):
            raise ValueError("the chopper bookkeeping needs a write of every line")
        if write is False:
            if buffer is not None:
                kernels.accumulate_transfer_buffer(buffer.h, amounts,
                                                   lines.index(amounts.device),
                                                   buffer.out_sign, buffer.in_sign,
                                                   buffer.params)
            return _zero(amounts.device) if add_to is None else add_to
        n = amounts.shape[0]
        if lr == 0 or n == 0:
            return _zero(amounts.device) if add_to is None else add_to
        pulses = kernels.transfer_lines(**self.fused_call(lines, amounts, lr, generator, params,
                                                          columns, write, buffer, add_to))
        if self.has_reference:  # (the one case where the step after a fused write acts)
            self._after_write(None, generator, lines.selector(amounts.device), columns)
        return pulses

    def fused_call(self, lines, amounts, lr, generator, params, columns, write=True,
                   buffer=None, add_to=None) -> dict:
        """The arguments of ``kernels.transfer_lines`` by name for a fused write of
        ``lines`` (``write`` True or a line mask, ``lr`` not 0, some lines): what
        :meth:`write_lines` launches, and what a group of tiles' write stacks
        (``xbrun/tiles/grouped.py``)."""
        long_train, max_bl = self._train_bound(lr, params)
        write_params = kernels.TransferWriteParams(
            columns, lr, self.granularity, params.desired_bl, long_train,
            params.update_management, params.update_bl_management, params.um_grad_scale,
            kernels.BufferParams() if buffer is None else buffer.params)
        return dict(
            weight=self.stored_weight(), cell_params=self.cell_params, reads=amounts,
            start=lines.start, p=write_params, cell=self._cell(), generator=generator,
            max_bl=max_bl,
            seed=self._device_seed(generator, advanced=True) if amounts.is_cuda else None,
            calls=self.kernel_calls.tensor if amounts.is_cuda else None,
            line_mask=None if isinstance(write, bool) else write,
            cell_pulses=self._counter(), train_slots=self.ledger[:1], add_to=add_to,
            **({} if buffer is None else buffer.tensors()))

    def line_writer(self, lr: float, params: UpdateParameters, columns: bool,
                    buffer: LineBuffer | None = None):
        """:meth:`write_lines` of every line of a host run, its arguments made once (the
        CPU's numba write, ``kernels.bind_transfer_lines``): ``run(amounts, start,
        generator, passes=0)``, the same write and draws (with a reference, the written
        lines' reads then follow their conductance, as :meth:`_after_write` makes them);
        ``passes``: the full passes before the run, which a ``buffer.chopper``'s bookkeeping
        counts (its own ``passes`` and draws are not used: each run brings them). None where
        that write is not the fused one or ``lr`` is 0. It holds while the array's tensors
        (and the buffer's) keep their storage and ``counting`` stays."""
        if not self.fused_write(params) or lr == 0:
            return None
        long_train, _ = self._train_bound(lr, params)
        write_params = kernels.TransferWriteParams(
            columns, lr, self.granularity, params.desired_bl, long_train,
            params.update_management, params.update_bl_management, params.um_grad_scale,
            kernels.BufferParams() if buffer is None else buffer.params)
        run = kernels.bind_transfer_lines(
            self.stored_weight(), self.cell_params, write_params, self._cell(),
            cell_pulses=self._counter(), train_slots=self.ledger[:1],
            **({} if buffer is None else buffer.tensors()))
        if run is None or not self.has_reference:
            return run
        # numpy views made once: torch's indexing and sub cost more than the line itself
        read, conductance, reference = (t.numpy() if columns else t.numpy().T for t in (
            self.weight, self.persistent, self.reference))

        def run_and_follow(amounts, start, generator, passes=0):
            pulses = run(amounts, start, generator, passes)
            lines = slice(start, start + amounts.shape[0])  # a host run stops at the edge
            np.subtract(conductance[:, lines], reference[:, lines], out=read[:, lines])
            return pulses

        return run_and_follow

    def _write_index(self, index, values, lr, generator, params, columns, part=None):
        """The lines' own trains (``kernels.line_write``) on the CPU; on CUDA one launch of
        the pulsed-update kernel with one-hot vectors, whose blocks skip the rows they see
        no coincidence of (``sparse_rows``)."""
        target = self.stored_weight()
        n = index.numel()
        if n == 0 or lr == 0:
            return _zero(target.device)
        values = values.to(target.dtype)
        if target.is_cuda:
            n_out, n_in = target.shape
            onehot = torch.zeros(n, n_in if columns else n_out, dtype=values.dtype,
                                 device=values.device)
            onehot.scatter_(1, index[:, None], 1.0)  # no host sync (index_put_ of 1.0 waits)
            x_rows, d_rows = (onehot, values) if columns else (values, onehot)
            return self.update(x_rows, d_rows, lr, generator, params=params, sparse_rows=True)
        ones = torch.ones(n, 1, dtype=values.dtype, device=values.device)
        if columns:  # x is the one-hot side, d the written column
            trains = pulse_trains(ones, values, lr, self.granularity, params, generator)
            one_bits, line_bits, line_prob = trains.x_bits, trains.d_bits, trains.d_prob
            one_prob = trains.x_prob[:, 0]
        else:
            trains = pulse_trains(values, ones, lr, self.granularity, params, generator)
            one_bits, line_bits, line_prob = trains.d_bits, trains.x_bits, trains.x_prob
            one_prob = trains.d_prob[:, 0]
        counts = None  # deterministic pulse types come as explicit trains
        if one_bits is not None:
            counts = (one_bits[:, :, :1].bool() & line_bits.bool()).sum(1)
        part = index if part is None else part
        before = self._before_write(part, columns)
        pulses = kernels.line_write(target, self.cell_params, index, one_prob, line_prob,
                                    trains.bl, kernels.LineWriteParams(self._cell(), columns),
                                    generator=generator, counts=counts,
                                    cell_pulses=self._counter())
        self.count_slots(trains.bl.sum())
        self._after_write(before, generator, part, columns)
        return pulses


def storage_watch(module: nn.Module):
    """``still()``: whether ``module``'s tree is made of the same modules holding the same
    buffers and parameters (the same tensor objects, and a parameter the same storage), what
    a closure over numpy views of them relies on. A buffer changes storage only by being
    replaced (``Module._apply``, ``load_state_dict(assign=True)``, an assignment), a
    parameter also in place (``param.data = ...``). Only the modules' dicts are read: in an
    epoch, between the kernels, a ``data_ptr`` of each buffer cost some 20 us a transfer
    (cold tensor objects) and ``nn.Module.__getattr__`` more than this whole check."""
    held, params = [], []
    for owner in module.modules():
        for table in (owner._modules, owner._buffers, owner._parameters):
            held += [(table, name, value) for name, value in table.items()]
        params += [(p, p.data_ptr()) for p in owner._parameters.values() if p is not None]

    def still() -> bool:
        for table, name, value in held:
            if table.get(name) is not value:
                return False
        for param, ptr in params:
            if param.data_ptr() != ptr:
                return False
        return True

    return still


def _positive_zeros(tensor: torch.Tensor) -> bool:
    """Whether every element is +0.0 (``w - t`` is then ``w`` bit for bit; -0.0 is not:
    ``-0.0 - -0.0`` is +0.0)."""
    return not bool((tensor != 0).any() or torch.signbit(tensor).any())


def _zero(device) -> torch.Tensor:
    return torch.zeros((), dtype=torch.int64, device=device)


def _part(tensor: torch.Tensor, lines, columns: bool) -> torch.Tensor:
    """Lines ``lines`` of ``tensor`` (None: all of it): columns, or rows."""
    if lines is None:
        return tensor
    return tensor[:, lines] if columns else tensor[lines, :]


def _put(tensor: torch.Tensor, lines, columns: bool, value: torch.Tensor) -> None:
    if lines is None:
        tensor.copy_(value)
    elif columns:
        tensor[:, lines] = value
    else:
        tensor[lines, :] = value
