"""Which lines a transfer reads and writes: runs of consecutive lines of an array.

A transfer reads lines of the fast array (columns, or rows) and writes the same lines of the
slow one (``CrossbarArray.write_lines``: there a one-hot vector on one side means that only
those lines can receive pulses, so the write costs the written lines alone).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch

from .. import kernels


def line_runs(start: int, count: int, n_lines: int) -> list[tuple[int, int]]:
    """``count`` consecutive lines from ``start`` modulo ``n_lines``, as runs
    ``(first, length)`` of distinct lines that stop at the edge."""
    runs = []
    while count > 0:
        run = min(count, n_lines - start)
        runs.append((start, run))
        start, count = (start + run) % n_lines, count - run
    return runs


@dataclass(frozen=True)
class LineRun:
    """``count`` distinct consecutive lines of ``n_lines`` from ``start``, taken after
    ``passes`` full passes over the lines: what one transfer reads and writes.

    On the host (``start`` and ``passes`` ints) a run stops at the last line. On the device
    they are 0-dim int64 tensors, so a replayed CUDA graph reads where the schedule stands,
    and the run wraps past the last line (line ``(start + b) % n_lines``, of pass
    ``passes + (start + b) // n_lines``) - once, or, where the walk made one run of all of
    a step's lines (``TransferSchedule.walk(whole=True)``), as many times as it goes round:
    then ``count > n_lines`` and its lines repeat, pass after pass.

    A transfer asks for its line numbers and passes several times (reads, buffer, write,
    chopper periods): each is made once per run and device and then reused - on the
    device that saves three or four small launches a time in every replayed step.
    """

    start: int | torch.Tensor
    count: int
    n_lines: int
    passes: int | torch.Tensor = 0
    _made: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def _once(self, name: str, device, make):
        key = (name, torch.device(device))
        if key not in self._made:
            self._made[key] = make()
        return self._made[key]

    def with_onehot(self, onehot: torch.Tensor, counted: bool = False,
                    read_seed: torch.Tensor | None = None,
                    walked: torch.Tensor | None = None) -> LineRun:
        """The run, its one-hot reads already made (by the walk's kernel; ``counted``: and
        counted in the read array's ledger; ``read_seed``: with their noise seed, a
        one-element device tensor - one per pass where the run makes several (its
        ``read_seeds``; the reads are drawn under the first); ``walked``: the one-hot reads
        of the whole walk, whose first rows are this run's)."""
        self._made[(f"onehot:{onehot.dtype}", onehot.device)] = onehot
        self._made[("reads counted", onehot.device)] = counted
        self._made[("read seeds", onehot.device)] = read_seed
        self._made[("read seed", onehot.device)] = (
            read_seed if read_seed is None or read_seed.numel() == 1 else read_seed[:1])
        self._made[("walked", onehot.device)] = walked
        return self

    def walked(self, device) -> torch.Tensor | None:
        """The one-hot reads of the whole walk that began with this run (``with_onehot``),
        else None."""
        return self._made.get(("walked", torch.device(device)))

    def reads_counted(self, device) -> bool:
        """Whether the walk has counted the run's reads already (``with_onehot``)."""
        return self._made.get(("reads counted", torch.device(device)), False)

    def read_seed(self, device) -> torch.Tensor | None:
        """The reads' noise seed the walk made (``with_onehot``), else None: the read
        draws one."""
        return self._made.get(("read seed", torch.device(device)))

    def read_seeds(self, device) -> torch.Tensor | None:
        """The read seed of each pass of the run (the walk's runs of one pass each would
        have had them; the chopper switches of pass ``r`` are drawn from entry ``r``)."""
        return self._made.get(("read seeds", torch.device(device)))

    @property
    def on_host(self) -> bool:
        return isinstance(self.start, int)

    def index(self, device) -> torch.Tensor:
        """The line numbers, ``(count,)`` int64 (one tensor per device: not to be written)."""
        return self._once("index", device, lambda: kernels.line_numbers(
            self.start, self.count, self.n_lines, device))

    def selector(self, device) -> slice | torch.Tensor:
        """What indexes the run's lines: a slice on the host (a view: no gather, no
        scatter), the line numbers on the device."""
        if self.on_host:
            return slice(self.start, self.start + self.count)
        if self.count > self.n_lines:  # several passes: every line
            return slice(0, self.n_lines)
        return self.index(device)

    def pass_of(self, device) -> torch.Tensor:
        """The pass each line is read in, ``(count,)`` int64 (one tensor per device)."""
        return self._once("pass", device, lambda: self.passes + (
            self.start + torch.arange(self.count, device=device)) // self.n_lines)

    def pass_done(self) -> bool | torch.Tensor:
        """Whether the run reads the last line (ends a pass): a bool, or a 0-dim tensor."""
        return self.start + self.count >= self.n_lines

    def onehot(self, dtype, device) -> torch.Tensor:
        """``(count, n_lines)``: row b is the one-hot input that reads line b of the run
        (one tensor per dtype and device: not to be written)."""
        return self._once(f"onehot:{dtype}", device, lambda: self._make_onehot(dtype, device))

    def _make_onehot(self, dtype, device) -> torch.Tensor:
        onehot = torch.zeros(self.count, self.n_lines, dtype=dtype, device=device)
        if self.on_host:
            onehot.diagonal(self.start).fill_(1.0)
        else:
            onehot.scatter_(1, self.index(device)[:, None], 1.0)
        return onehot


class LineChopper(NamedTuple):
    """The chopped devices' bookkeeping of a transfer's read lines, done by the fused write
    in the same kernel (``kernels.ChopperParams`` says what): ``flip_draws``, one uniform
    per line (None: no random switches, or drawn in the kernel from ``flip_seed``, the
    run's read seed: ``LineRun.read_seed``); ``passes``, the full passes before the run;
    ``means``, AGAD's ``(running_mean, past_mean, switched)`` (None for TTv3)."""

    params: kernels.ChopperParams
    flip_draws: torch.Tensor | None
    passes: int | torch.Tensor
    means: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
    flip_seed: torch.Tensor | None = None

    def tensors(self) -> dict:
        """The bookkeeping's arguments as the kernels name them."""
        out = {"chopper": self.params, "flip_draws": self.flip_draws, "passes": self.passes}
        if self.flip_seed is not None:
            out["flip_seed"] = self.flip_seed
        if self.means is not None:
            out.update(zip(("running_mean", "past_mean", "switched"), self.means, strict=True))
        return out


class LineBuffer(NamedTuple):
    """A transfer's digital buffer H (``(L, n_lines)``, updated in place) with the chopper
    signs its reads are de-chopped by and the step's numbers (``kernels.BufferParams``):
    what the amounts of a buffered line write enter first. ``chopper``: the bookkeeping
    the write does as well (only where the write is fused, ``CrossbarArray.fused_write``)."""

    h: torch.Tensor
    out_sign: torch.Tensor
    in_sign: torch.Tensor
    params: kernels.BufferParams
    chopper: LineChopper | None = None

    def tensors(self) -> dict:
        """The buffer's tensors as the kernels name them."""
        out = {"buffer": self.h, "out_sign": self.out_sign, "in_sign": self.in_sign}
        if self.chopper is not None:
            out.update(self.chopper.tensors())
        return out
