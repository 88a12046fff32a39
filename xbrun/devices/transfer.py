"""Tiki-taka: a fast array A takes the gradient, a slow array C receives it by transfer.

``device=ttv1`` is aihwkit's ``TransferCompound`` (Gokmen & Haensch 2020): every
``transfer_every`` updates, ``n_reads_per_transfer`` consecutive columns of A are read (a
forward pass with one-hot inputs through the transfer I/O) and written into C by a pulsed
update scaled by ``transfer_lr``. ``device=ttv2`` is ``BufferedTransferCompound`` (Gokmen
2021): the reads accumulate in a digital buffer H and C receives whole pulses only where
``|H|`` passes ``thres_scale`` steps of C, H keeping the remainder. The chopped (TTv3) and
AGAD (TTv4) variants build on these in ``chopped.py``. Parameter names, meanings and
defaults are aihwkit's (``simulator/configs/compounds.py``, ``rpucuda/rpu_*transfer_device``),
with its pull request 764 (non-zero ``gamma`` with choppers, ``scale_fast_lr``).

The visible weight is ``W = gamma_fast * A_true + gamma_slow * C`` (``gamma``, or the two
entries of ``gamma_vec``); ``gamma = 0`` (the default) keeps A hidden.

As on aihwkit's GPU path, a mini-batch (the k rank-1 factors a tile hands over) is written to
A as a whole, and the transfers that fall due within it - one per ``transfer_every``
mat-vecs, or mini-batches with ``units_in_mbatch`` - follow it, reading consecutive lines.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from .. import kernels
from ..errors import ConfigError
from ..graph_state import set_host
from ..physics.array import build_array, storage_watch
from ..physics.cells import CELLS
from ..physics.io import (
    IOParameters,
    analog_mvm,
    bind_onehot_reads,
    reads_take_line_elements,
    settings_key,
)
from ..physics.lines import LineBuffer, LineChopper, LineRun
from ..physics.pulses import UpdateParameters
from ..schema import check, pick
from .base import TrainingDevice
from .schedule import TransferSchedule


def transfer_read_io() -> IOParameters:
    """aihwkit reads transfers with default I/O but turns bound management off."""
    return IOParameters(bound_management="none")


def _finite(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


@dataclass
class TransferConfig:
    """``device=ttv1``: Tiki-taka with two arrays (aihwkit ``TransferCompound``).

    fast_cell / slow_cell: the unit cell of A / C (a ``cell`` option name or a mapping with
    ``kind``); None uses the run's ``cell`` for both. transfer_io: the I/O of the transfer
    read. transfer_update: the pulse trains of the write into C. fast_lr: the fast array's
    learning rate (0: the optimizer's), multiplied by the optimizer's current rate when
    ``scale_fast_lr``. Only two devices (A, C) are modelled, so aihwkit's ``*_vec`` chain
    settings beyond ``gamma_vec`` do not apply.
    """

    kind: str = "ttv1"
    gamma: float = 0.0  # visible weight W = gamma * A + C (0: A hidden)
    # [g_fast, g_slow] instead of gamma: W = g_fast * A + g_slow * C
    gamma_vec: list[float] = field(default_factory=list)
    transfer_every: float = 1.0  # transfers every n mini-batches (units_in_mbatch) or mat-vecs
    units_in_mbatch: bool = True
    n_reads_per_transfer: int = 1  # consecutive columns read per transfer, wrapping around
    transfer_columns: bool = True  # read columns (forward pass); false: rows (backward pass)
    with_reset_prob: float = 0.0  # chance to reset a column of A after it was read
    random_selection: bool = False  # start each transfer at a random column
    fast_lr: float = 1.0  # learning rate of A (0: the optimizer's)
    transfer_lr: float = 1.0  # learning rate of the write into C
    scale_transfer_lr: bool = True  # transfer_lr is multiplied by the optimizer's current lr
    scale_fast_lr: bool = True  # fast_lr is multiplied by the optimizer's current lr
    # I/O of the transfer read (aihwkit IOParameters defaults)
    transfer_io: IOParameters = field(default_factory=transfer_read_io)
    # pulse trains of the write into C (aihwkit UpdateParameters)
    transfer_update: UpdateParameters = field(default_factory=UpdateParameters)
    fast_cell: Any = None  # cell of A: a cell option name or {kind: ..., ...}; null: `cell`
    slow_cell: Any = None  # cell of C, likewise

    def validate(self, key: str) -> None:
        p = f"{key}." if key else ""
        # A and C both learn along -gradient of W, so a negative weight of either in W
        # turns its descent into ascent (the run diverges); aihwkit does not check this
        check(_finite(self.gamma) and self.gamma >= 0, p + "gamma",
              "a finite number >= 0 (W = gamma * A + C; 0: A hidden)", self.gamma)
        check(len(self.gamma_vec) in (0, 2)
              and all(_finite(g) and g >= 0 for g in self.gamma_vec),
              p + "gamma_vec", "[] or two numbers >= 0 [fast, slow]", self.gamma_vec)
        check(not self.gamma_vec or self.gamma_vec[1] > 0, p + "gamma_vec",
              "a non-zero weight of the slow array (else nothing it learns is visible)",
              self.gamma_vec)
        check(_finite(self.transfer_every) and (self.transfer_every >= 0 or self.auto_period),
              p + "transfer_every", "a number >= 0 (0: no transfer)", self.transfer_every)
        check(self.n_reads_per_transfer >= 1, p + "n_reads_per_transfer", "an integer >= 1",
              self.n_reads_per_transfer)
        check(0 <= self.with_reset_prob <= 1, p + "with_reset_prob", "a probability in [0, 1]",
              self.with_reset_prob)
        check(self.with_reset_prob == 0 or self.transfer_columns, p + "with_reset_prob",
              "0 when transfer_columns is false (aihwkit resets columns only)",
              self.with_reset_prob)
        for name in ("fast_lr", "transfer_lr"):
            value = getattr(self, name)
            check(_finite(value) and value >= 0, p + name, "a number >= 0", value)
        for name in ("fast_cell", "slow_cell"):
            value = getattr(self, name)
            check(value is None or isinstance(value, (str, dict))
                  or dataclasses.is_dataclass(value), p + name,
                  "a cell option name or a mapping with kind", value)

    auto_period = False  # chopped devices take transfer_every < 0 as "from the cell"

    def gammas(self) -> tuple[float, float]:
        """Weights of A and C in the visible weight."""
        if self.gamma_vec:
            return float(self.gamma_vec[0]), float(self.gamma_vec[1])
        return float(self.gamma), 1.0

    def build(self, out_size, in_size, cell, update, seed) -> TrainingDevice:
        return TransferDevice(self, out_size, in_size, cell, update, seed)


@dataclass
class BufferedTransferConfig(TransferConfig):
    """``device=ttv2``: reads go into a digital buffer; C gets whole pulses only
    (aihwkit ``BufferedTransferCompound``).

    thres_scale: the buffer threshold in steps of C. step: pulses per write where the
    threshold is passed. momentum: the fraction of the transferred amount left in the
    buffer. forget_buffer: after a write, keep only ``momentum * H`` (else subtract what was
    written, times ``1 - momentum``).
    """

    kind: str = "ttv2"
    thres_scale: float = 1.0  # buffer threshold, in steps (dw_min) of C
    step: float = 1.0  # pulses written where the threshold is passed
    momentum: float = 0.1  # fraction of the transferred amount left in H
    # after a write keep momentum * H (false: subtract what was written)
    forget_buffer: bool = True
    # pulse trains of the write into C (aihwkit UpdateParameters)
    transfer_update: UpdateParameters = field(default_factory=lambda: UpdateParameters(
        desired_bl=1, update_management=False, update_bl_management=False))

    def validate(self, key: str) -> None:
        super().validate(key)
        p = f"{key}." if key else ""
        for name in ("thres_scale", "step"):
            value = getattr(self, name)
            check(_finite(value) and value > 0, p + name, "a number > 0", value)
        check(0 <= self.momentum <= 1, p + "momentum", "a number in [0, 1]", self.momentum)

    def build(self, out_size, in_size, cell, update, seed) -> TrainingDevice:
        return BufferedTransfer(self, out_size, in_size, cell, update, seed)


def resolve_cell(value: Any, default: Any, key: str) -> Any:
    """The cell of one array: ``default`` (the run's cell) unless the device names one."""
    if value is None:
        return default
    if isinstance(value, dict):
        return pick(CELLS, value, key, "kind")
    if isinstance(value, str):
        raise ConfigError(f"{key}: the cell option {value!r} is read by xbrun.config.load; "
                          f"from Python give a mapping with kind")
    return value


class TransferDevice(TrainingDevice):
    """Fast array A, slow array C and the transfer between them (TTv1).

    Lines are columns (``transfer_columns``) or rows; ``n_in`` counts the lines and
    ``n_out`` the elements of one line. ``in_chopper``/``out_chopper`` are the signs A is
    written with (all +1 here; the chopped devices flip them). ``schedule`` says when
    transfers fall due and which lines they read. A transfer of lines is one sequence for
    every variant (``transfer_lines``): read A through the transfer I/O, move the reads into
    C (``write_reads``: directly here, through the buffer H in TTv2 and its descendants),
    then the bookkeeping after a read (``after_reads``: resets here, chopper switches in
    TTv3/TTv4). The hooks take the lines as a ``LineRun``: host ints on the CPU, device
    tensors on CUDA, where the step then never reads the schedule back.
    """

    chopped = False
    _SAVED: tuple[str, ...] = ("last_fast_lr",)  # host values a checkpoint keeps
    graph_device_state = ("in_chopper", "out_chopper")

    def __init__(self, config: TransferConfig, out_size: int, in_size: int, cell,
                 update: UpdateParameters, seed: int):
        super().__init__()
        self.config = config
        fast_cell = resolve_cell(config.fast_cell, cell, "device.fast_cell")
        slow_cell = resolve_cell(config.slow_cell, cell, "device.slow_cell")
        slow_seed, slow_construction = kernels.seeds.slow_array_seed(
            seed, slow_cell.construction_seed)
        if slow_construction:
            slow_cell = dataclasses.replace(slow_cell, construction_seed=slow_construction)
        self.update_params = update
        self.fast = build_array(out_size, in_size, fast_cell, update, seed)
        self.slow = build_array(out_size, in_size, slow_cell, config.transfer_update,
                                slow_seed)
        self.columns = config.transfer_columns
        self.n_in = in_size if self.columns else out_size
        self.n_out = out_size if self.columns else in_size
        self.gamma_fast, self.gamma_slow = config.gammas()
        self.register_buffer("in_chopper", torch.ones(self.n_in))
        self.register_buffer("out_chopper", torch.ones(self.n_out))
        self.schedule = TransferSchedule(self.n_in)
        self.last_fast_lr = 0.0
        # host writes bound once per rate (``_host_writer``; the chopped devices' where
        # their write does the bookkeeping, ``binds``): (key, writer)
        self._writer = (None, None)
        # a host walk's whole transfer (reads and writes) bound once per rate
        # (``_host_mover``): (key, mover)
        self._mover = (None, None)

    @property
    def slice_index(self) -> int:
        """The next line a transfer reads (read back from the schedule)."""
        return int(self.schedule.line)

    def get_extra_state(self):
        # a rate that lives on the device (auto_scale) is saved as the float it is
        return {name: float(value) if isinstance(value := getattr(self, name), torch.Tensor)
                else value for name in self._SAVED}

    def set_extra_state(self, state) -> None:
        for name in self._SAVED:
            setattr(self, name, state[name])

    def reset_state(self) -> None:
        """Start the transfer schedule afresh (after weights are programmed)."""
        self.schedule.restart()

    def signs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Chopper signs per row ``(out,)`` and per column ``(in,)`` of A."""
        if self.columns:
            return self.out_chopper, self.in_chopper
        return self.in_chopper, self.out_chopper

    # -- what the tile sees -----------------------------------------------------------
    def visible_weight(self) -> torch.Tensor:
        if self.gamma_fast == 0:  # A fully hidden
            return self.slow.weight if self.gamma_slow == 1 else \
                self.gamma_slow * self.slow.weight
        rows, cols = self.signs()
        return kernels.reduce_to_weight(self.fast.weight, self.slow.weight, rows, cols,
                                        self.gamma_fast, self.gamma_slow)

    def set_weight(self, weight: torch.Tensor) -> None:
        """All of the weight goes to C (scaled by its significance); A starts at zero."""
        self.fast.set_weight(torch.zeros_like(self.fast.weight))
        self.slow.set_weight(weight.to(self.slow.weight) / self.gamma_slow)
        self.reset_state()

    # -- learning rates ---------------------------------------------------------------
    def fast_learning_rate(self, lr: float) -> float | torch.Tensor:
        """The pulse-count learning rate of A (aihwkit ``getPulseCountLearningRate``): a
        float, or a 0-dim tensor where the arrays are (chopped ``auto_scale``)."""
        c = self.config
        if c.fast_lr > 0:
            return c.fast_lr * lr if c.scale_fast_lr else c.fast_lr
        return lr

    def transfer_learning_rate(self, lr: float) -> float:
        c = self.config
        return c.transfer_lr * lr if c.scale_transfer_lr else c.transfer_lr

    def transfer_period(self, k: int) -> int:
        """Mat-vecs between transfers for a mini-batch of ``k`` (0: never)."""
        every = self.config.transfer_every
        if self.config.units_in_mbatch:
            return max(math.ceil(every * k), 0)
        return max(math.floor(every + 0.5), 0)

    # -- one update -------------------------------------------------------------------
    def observe(self, x_rows: torch.Tensor, d_rows: torch.Tensor) -> None:
        """Hook for statistics of the incoming gradient (auto_scale)."""

    def update(self, x_rows, d_rows, lr, generator, add_to=None, rows=None):
        lr = float(lr)
        k = int(x_rows.shape[0])
        self.observe(x_rows, d_rows)
        set_host(self, "last_fast_lr", self.fast_learning_rate(lr))
        # A is written in the chopped frame (the signs go into its train kernel)
        signs = self.signs() if self.chopped else None
        pulses = self.fast.update(x_rows, d_rows, self.last_fast_lr, generator, signs=signs,
                                  add_to=add_to, rows=rows)
        events = self.schedule.due(k, self.transfer_period(k))
        if events > 0:  # the transfers' pulses are added to A's count (no launch on CUDA)
            pulses = self.transfer(events, lr, generator, pulses)
        return pulses

    def transfer(self, events: int, lr: float, generator,
                 pulses: torch.Tensor | None = None) -> torch.Tensor:
        """Make ``events`` transfers of ``n_reads_per_transfer`` lines each: consecutive
        lines from where the last ended (or, with ``random_selection``, from a random line
        per transfer), batched into runs of distinct lines. Returns their pulses, added in
        place to ``pulses`` where given (a fresh count of the caller's)."""
        c = self.config
        n_reads = min(c.n_reads_per_transfer, self.n_in)
        lr_t = self.transfer_learning_rate(lr)
        if not c.random_selection:
            mover = self._host_mover(lr_t)
            if mover is not None:
                return mover(events * n_reads, generator, pulses)
        if c.random_selection:
            runs = [run for _ in range(events)
                    for run in self.schedule.walk(n_reads, generator, random_start=True)]
        elif self.schedule.walks_on_host():  # host runs: the reads made and counted later
            runs = self.schedule.walk(events * n_reads)
        else:
            runs = self.schedule.walk(events * n_reads, onehot=self.fast.weight.dtype,
                                      reads=self.fast.ledger[1:],
                                      seed_offset=self.read_seed_offset(generator),
                                      whole=self.whole_walks(),
                                      line_only=reads_take_line_elements(c.transfer_io))
        if lr_t != 0:  # each run adds to the count (the first run's is it, where none is given)
            ahead = self.read_ahead(runs, generator)
            for r, lines in enumerate(runs):
                pulses = self.transfer_lines(lines, lr_t, generator,
                                             None if ahead is None else ahead[r], pulses)
        if pulses is None:
            return torch.zeros((), dtype=torch.int64, device=self.fast.weight.device)
        return pulses

    def whole_walks(self) -> bool:
        """Whether a device walk's transfers go in one run whatever the passes (read once,
        written in one call that walks each line's passes in order): where A is not
        written between them and the write does every line's bookkeeping itself (the
        chopped devices, ``ChoppedTransfer.whole_walks``). Here: no, each run of at most
        one pass is a call of its own (``with_reset_prob`` resets A between them)."""
        return False

    def read_seed_offset(self, generator) -> int | None:
        """Where the walk makes the reads' noise seeds, on CUDA (a launch less per read
        run), their offset (``CrossbarArray.read_seed_offset``); None on the CPU, whose
        reads draw their seeds from the generator as they always did."""
        fast = self.fast
        return fast.read_seed_offset(generator) if fast.weight.is_cuda else None

    def read_ahead(self, runs: list[LineRun], generator) -> tuple | None:
        """The reads of every run of a CUDA walk that passes the last line (its runs read the
        same lines again) in one MVM, split by run; None: each run reads its own. A
        transfer writes C and leaves A as it was (without resets), so the later runs' reads
        are drawn from the same A as they would be, noise keyed by the first run's seed
        (each run keeps its own for the rest): two launches less per further run."""
        if len(runs) < 2 or self.config.with_reset_prob > 0:
            return None
        device = self.fast.weight.device
        walked, seed = runs[0].walked(device), runs[0].read_seed(device)
        if walked is None or seed is None or not runs[0].reads_counted(device):
            return None
        weight = self.fast.weight if self.columns else self.fast.weight.T
        reads = analog_mvm(weight, walked, self.config.transfer_io, generator, seed=seed,
                           onehot_start=runs[0].start)
        return reads.split([run.count for run in runs])

    def transfer_lines(self, lines: LineRun, lr_t: float, generator,
                       reads: torch.Tensor | None = None,
                       add_to: torch.Tensor | None = None) -> torch.Tensor:
        """One run of distinct lines: read A (unless ``reads`` were read ahead), move the
        reads into C, then the bookkeeping after a read. The one sequence every transfer
        device runs. Returns the write's pulses (added to ``add_to`` where given)."""
        if reads is None:
            reads = self.read_lines(lines, generator)
        writer = self._host_writer(lr_t) if lines.on_host and self.binds(lines) else None
        if writer is not None:
            pulses = writer(reads, lines.start, generator, lines.passes)
            if add_to is not None:
                pulses = add_to.add_(pulses)
        else:
            pulses = self.write_reads(lines, reads, lr_t, generator, add_to)
        self.after_reads(lines, generator)
        return pulses

    def _host_writer(self, lr_t: float):
        """``write_reads`` of a host run as one bound numba call (``slow.line_writer``),
        made once per rate and kept while the tensors it writes keep their storage: on the
        CPU a transfer is some 50 us of kernels, and as much Python was spent making the
        write's arguments anew. None: ``write_reads`` runs."""
        slow = self.slow
        tensors = (slow.stored_weight(), slow.weight, slow.cell_params, slow.cell_pulses,
                   slow.ledger, *self._written())
        key = (lr_t, slow.counting, *self._writer_key(), *(t.data_ptr() for t in tensors))
        if self._writer[0] != key:
            self._writer = (key, self.line_writer(lr_t))
        return self._writer[1]

    def __getstate__(self):
        # the bound writer and mover (closures over numpy views of these tensors) are not
        # copied or pickled: a copy binds its own
        return {**super().__getstate__(), "_writer": (None, None), "_mover": (None, None)}

    def _host_mover(self, lr_t: float):
        """The whole of :meth:`transfer` for a host walk as bound calls: the walk on numpy
        views of the schedule, per run the read (``io.bind_onehot_reads``, the seed drawn
        as :meth:`read_lines` draws it), its count in A's ledger, and the bound write
        (:meth:`line_writer`). On the CPU a one-line transfer was some 100 us, two thirds
        of it Python round 20 us of kernels (the read's one-hot rows, seed and dispatch, the
        run objects, the writer's key). Made once per rate and kept while the device's
        modules and their tensors' storage stay, and the settings the write and read take
        (``_mover_settings``). None: the general path runs (the chopped devices, whose reads
        feed their bookkeeping; resets after the reads; no bound write or read)."""
        if self.chopped or not self.fast.ledger.is_cpu:
            # before any key: a CUDA device's rates may be 0-dim tensors where the arrays are
            # (auto_scale), which a comparison would read back (a host sync in the step)
            return None
        key, move = self._mover
        if key is not None and key[0] == lr_t and key[1]() and key[2] == self._mover_settings():
            return move
        if self.config.with_reset_prob > 0 or lr_t == 0:
            move = None  # (a rate of 0 walks without reads: the general path)
        else:
            move = self._bind_mover(lr_t)
        self._mover = ((lr_t, storage_watch(self), self._mover_settings()), move)
        return move

    def _mover_settings(self) -> tuple:
        """What a bound transfer's numbers depend on besides the rate and the tensors."""
        return (self.slow.counting, *self._writer_key(), self.config.with_reset_prob,
                self.config.random_selection, settings_key(self.config.transfer_io))

    def _bind_mover(self, lr_t: float):
        fast, schedule = self.fast, self.schedule
        if not schedule.walks_on_host():  # (a CUDA device never gets here: _host_mover)
            return None
        weight = fast.weight if self.columns else fast.weight.T
        read = bind_onehot_reads(weight, self.config.transfer_io)
        write = None if read is None else self.line_writer(lr_t)
        if write is None:
            return None
        ledger = fast.ledger.numpy()

        def move(count: int, generator, pulses: torch.Tensor | None) -> torch.Tensor:
            # as transfer: the walk, then per run read_lines (count_reads, the read) and
            # the bound write
            runs = schedule.host_runs(count)
            for first, n, before in runs:
                ledger[1] += n
                written = write(read(first, n, generator), first, generator, before)
                pulses = written if pulses is None else pulses.add_(written)
            if pulses is None:
                return torch.zeros((), dtype=torch.int64)
            return pulses

        return move

    def binds(self, lines: LineRun) -> bool:
        """Whether a host run's write goes through the bound writer (``_host_writer``):
        TTv1/TTv2's always; the chopped devices' where their write does the bookkeeping."""
        return not self.chopped

    def _writer_key(self) -> tuple:
        """What the bound write's numbers depend on besides the rate (none here)."""
        return ()

    def _written(self) -> tuple[torch.Tensor, ...]:
        """The device's own tensors a write changes or reads (TTv2: the buffer, the signs)."""
        return ()

    def line_writer(self, lr_t: float):
        """:meth:`write_reads`, its arguments made once (``CrossbarArray.line_writer``)."""
        return self.slow.line_writer(lr_t, self.config.transfer_update, self.columns)

    def read_lines(self, lines: LineRun, generator) -> torch.Tensor:
        """Read the lines of A through the transfer I/O: ``(count, n_out)``.

        Columns are read with a forward pass, rows with a backward pass (aihwkit reads rows
        with ``transfer_io`` too).
        """
        fast = self.fast
        weight = fast.weight if self.columns else fast.weight.T
        onehot = lines.onehot(weight.dtype, weight.device)
        if not lines.reads_counted(weight.device):
            fast.count_reads(onehot.shape[0])
        return analog_mvm(weight, onehot, self.config.transfer_io, generator,
                          seed=lines.read_seed(weight.device), onehot_start=lines.start)

    def line_index(self, lines: LineRun) -> torch.Tensor:
        return lines.index(self.fast.weight.device)

    def write_reads(self, lines: LineRun, reads, lr_t: float, generator,
                    add_to: torch.Tensor | None = None) -> torch.Tensor:
        """TTv1: ``C[:, j] += lr_t * read(A[:, j])`` by pulses (added to ``add_to``)."""
        return self.slow.write_lines(lines, add_to=add_to,
                                     **self.write_plan(lines, reads, lr_t, generator))

    def write_plan(self, lines: LineRun, reads, lr_t: float, generator) -> dict:
        """What :meth:`write_reads` hands C's ``write_lines`` besides the lines and the
        count, by name (made once per write: it may draw or change state)."""
        return dict(amounts=reads, lr=lr_t, generator=generator,
                    params=self.config.transfer_update, columns=self.columns)

    def after_reads(self, lines: LineRun, generator) -> None:
        """Reset each read line of A with probability ``with_reset_prob`` (columns only)."""
        prob = self.config.with_reset_prob
        if prob > 0:
            hit = torch.rand(lines.count, generator=generator,
                             device=self.fast.weight.device) < prob
            mask = torch.zeros(self.fast.weight.shape[1], dtype=torch.bool, device=hit.device)
            mask[self.line_index(lines)] = hit
            self.fast.reset(mask[None, :], generator)


class BufferedTransfer(TransferDevice):
    """TTv2: reads of A accumulate in the digital buffer H; C gets whole pulses only."""

    graph_device_state = (*TransferDevice.graph_device_state, "buffer")

    def __init__(self, config: BufferedTransferConfig, out_size, in_size, cell, update, seed):
        super().__init__(config, out_size, in_size, cell, update, seed)
        self.register_buffer("buffer", torch.zeros(self.n_out, self.n_in))

    def reset_state(self) -> None:
        super().reset_state()
        self.buffer.zero_()

    def transfer_learning_rate(self, lr: float) -> float:
        """aihwkit scales the buffered transfer by the ratio of the arrays' significances."""
        lr_t = super().transfer_learning_rate(lr)
        if self.gamma_fast > 0 and self.gamma_slow > 0:
            lr_t *= self.gamma_fast / self.gamma_slow
        return lr_t

    # -- the hooks of the buffered variants -------------------------------------------
    def buffer_signal(self, lines: LineRun, reads) -> torch.Tensor:
        """What enters H for the read lines (TTv4 subtracts its reference)."""
        return reads

    def buffer_options(self, lines: LineRun, lr_t: float) -> dict:
        """Scale, threshold and options of the buffer step (``kernels.BufferParams``)."""
        return {"scale": abs(lr_t),
                "threshold": self.config.thres_scale * self.slow.granularity}

    def writes_ready(self, lines: LineRun) -> bool | torch.Tensor:
        """Whether C is written at all yet (TTv4 waits for its first reference): a bool,
        or per line a bool tensor."""
        return True

    def bound_chopper(self) -> LineChopper | None:
        """The bookkeeping a bound host write does (``line_writer``; its passes and draws
        come with each run); None here."""
        return None

    def line_chopper(self, lines: LineRun, generator) -> LineChopper | None:
        """The bookkeeping of the read lines that C's fused write does in its kernel (the
        chopped devices, on CUDA); None: ``buffer_signal`` and ``after_reads`` do it."""
        return None

    def _options(self, lines: LineRun | None, lr_t: float) -> dict:
        """The buffer step's numbers (``kernels.BufferParams``)."""
        c = self.config
        return {"max_steps": c.transfer_update.desired_bl,
                "momentum": min(max(c.momentum, 0.0), 1.0),
                "forget_buffer": c.forget_buffer, **self.buffer_options(lines, lr_t)}

    def _written(self) -> tuple[torch.Tensor, ...]:
        return self.buffer, self.out_chopper, self.in_chopper

    def line_writer(self, lr_t: float):
        c = self.config
        options = self._options(None, lr_t)
        if isinstance(options["scale"], torch.Tensor):  # a rate on the device: per call
            return None
        buffer = LineBuffer(self.buffer, self.out_chopper, self.in_chopper,
                            kernels.BufferParams(**options), self.bound_chopper())
        slow = self.slow
        return slow.line_writer(c.step * slow.granularity, c.transfer_update, self.columns,
                                buffer)

    def write_plan(self, lines: LineRun, reads, lr_t: float, generator) -> dict:
        """Read -> de-chop -> H -> threshold, then the whole steps into C: the arguments
        of C's ``write_lines`` (:meth:`TransferDevice.write_plan`)."""
        c = self.config
        chopper = self.line_chopper(lines, generator)
        signal = reads if chopper is not None else self.buffer_signal(lines, reads)
        options = self._options(lines, lr_t)
        scale = options["scale"]
        if isinstance(scale, torch.Tensor):  # from a rate on the device (auto_scale)
            if scale.is_cuda:  # the kernels take host floats: it scales the signal instead
                signal = signal * scale.to(signal.dtype)  # (the same floats: the +-1 signs
                options["scale"] = 1.0                    # the kernels apply are exact)
            else:
                options["scale"] = float(scale)  # the host reads it for free
        buffer = LineBuffer(self.buffer, self.out_chopper, self.in_chopper,
                            kernels.BufferParams(**options), chopper)
        return dict(amounts=signal, lr=c.step * self.slow.granularity, generator=generator,
                    params=c.transfer_update, columns=self.columns,
                    write=True if chopper is not None else self.writes_ready(lines),
                    buffer=buffer)


__all__ = ["TransferConfig", "BufferedTransferConfig", "TransferDevice", "BufferedTransfer",
           "resolve_cell"]
