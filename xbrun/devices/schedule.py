"""The transfer schedule the scheduled devices share: when transfers fall due, which lines
they read next, and what a checkpoint keeps of both.

When is counted on the host: ``n_updates`` counts the mat-vecs seen, and one transfer falls
due every ``period`` of them, so deciding how many transfers a step makes never reads the
accelerator. Which lines is kept where the arrays are: ``line`` (the next line) and
``passes`` (full passes over the lines so far) are device scalars. On the CPU the host
reads them for free and splits a walk into runs that stop at the last line; on CUDA the
kernels read them and a run wraps past the last line, so a CUDA graph captured once replays
every later step exactly, the line moving on inside the graph.

A replayed graph cannot count on the host, so the schedule declares its host counters in
the graph-state protocol (``xbrun.graph_state``): the number of transfers a step made
(``last_events``) is its phase, part of the graph's key; ``next_events`` predicts it from
the last step's mini-batch (``last_due``), and ``advance`` counts a replayed step. With
``period`` mat-vecs between transfers and ``k`` per step, a step makes ``k // period`` or
one more, so a tile's schedule needs at most two graphs per batch shape, whatever the
tile's size.
"""

from __future__ import annotations

import random

import torch
from torch import nn

from .. import kernels
from ..graph_state import DeviceScalar, GraphState, set_host
from ..physics.lines import LineRun, line_runs


class TransferSchedule(nn.Module, GraphState):
    """The schedule of one device over ``n_lines`` lines (see the module docstring)."""

    graph_device_state = ("line", "passes")
    graph_host_state = ("n_updates", "line_draws", "last_due", "last_events")

    def __init__(self, n_lines: int) -> None:
        super().__init__()
        self.n_lines = n_lines
        self.n_updates = 0
        self.line_draws = 0
        self.last_due: tuple[int, int] | None = None  # (k, period) of the last update
        self.last_events = 0
        self.line = DeviceScalar(persistent=True)
        self.passes = DeviceScalar(persistent=True)

    # -- the checkpoint: the host counters (the device scalars are in the state dict) -----
    def get_extra_state(self):
        return {"n_updates": self.n_updates, "line_draws": self.line_draws}

    def set_extra_state(self, state) -> None:
        self.n_updates = int(state["n_updates"])
        self.line_draws = int(state["line_draws"])

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        DeviceScalar.upgrade_state_dict(state_dict, prefix, self.graph_device_state)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def restart(self) -> None:
        """Count mat-vecs afresh from the first line (after the weights are programmed)."""
        self.n_updates = 0
        self.line.set_(0)

    # -- when ---------------------------------------------------------------------------
    def due(self, k: int, period: int) -> int:
        """Count ``k`` more mat-vecs; return how many transfers (one per ``period``; 0:
        never) fall due among them."""
        before = self.n_updates
        set_host(self, "n_updates", before + k)
        set_host(self, "last_due", (k, period))
        events = 0
        if period > 0 and k > 0:
            events = self.n_updates // period - before // period
        set_host(self, "last_events", events)
        return events

    def next_events(self, due: tuple[int, int] | None) -> int:
        """How many transfers ``due(*due)`` would make now (None: the device did not
        update)."""
        if due is None:
            return 0
        k, period = due
        if period <= 0 or k <= 0:
            return 0
        return (self.n_updates + k) // period - self.n_updates // period

    def advance(self, due: tuple[int, int] | None) -> None:
        """Count a step a replayed graph made (with the mini-batch of ``due``)."""
        if due is not None:
            self.due(*due)

    # -- the graph-state protocol: the phase is the number of transfers of a step --------
    def start_step(self) -> None:
        self.last_due, self.last_events = None, 0

    def step_record(self) -> tuple:
        return self.last_due, self.last_events

    def next_phase(self, record) -> int:
        return self.next_events(record)

    def replayed(self, record) -> None:
        self.advance(record)

    # -- which lines -------------------------------------------------------------------
    def walk(self, count: int, generator: torch.Generator | None = None, *,
             random_start: bool = False, onehot: torch.dtype | None = None,
             reads: torch.Tensor | None = None,
             seed_offset: int | None = None, whole: bool = False,
             line_only: bool = False) -> list[LineRun]:
        """The next ``count`` consecutive lines (from a random line with ``random_start``),
        as runs of distinct lines; the schedule moves past them. ``onehot``: the dtype of
        the reads' one-hot inputs, made with the walk on the device (``LineRun.onehot``),
        which then counts them into ``reads`` (an array's ledger entry) as well, and, with
        ``seed_offset``, makes each run's read noise seed (``LineRun.read_seed``,
        ``seeds.read_seed``). ``whole`` (a device walk with read seeds): one run of all
        ``count`` lines, pass after pass, holding each pass's read seed (``read_seeds``),
        for a device whose transfers of a step can be written in one call (chopped: A is
        not written between them). ``line_only``: the reads take each row's line element
        alone (``io.reads_take_line_elements``; ``kernels.line_walk``)."""
        if count <= 0:
            return []
        if self.walks_on_host():
            return self._host_walk(count, generator, random_start)
        seeded = False
        if not random_start:  # snapshot, one-hot reads and advance in one launch
            seeded = seed_offset is not None and onehot is not None and reads is not None
            snapshot, inputs = kernels.line_walk(self.line.tensor, self.passes.tensor, count,
                                                 self.n_lines, onehot, reads,
                                                 seed_offset if seeded else None, line_only)
            start, passes = snapshot[0], snapshot[1]
        else:
            start = torch.randint(0, self.n_lines, (), generator=generator,
                                  device=self.line.device)
            passes, inputs = self.passes.tensor.clone(), None
            end = start + count
            self.passes.add_(end // self.n_lines)
            self.line.set_(end % self.n_lines)
        n_runs = -(-count // self.n_lines)
        if whole and seeded and n_runs > 1:
            return [LineRun(start, count, self.n_lines, snapshot[1]).with_onehot(
                inputs, counted=True, read_seed=snapshot[1 + n_runs:1 + 2 * n_runs])]
        runs = []
        for r, offset in enumerate(range(0, count, self.n_lines)):
            n = min(self.n_lines, count - offset)
            if random_start:
                run = LineRun(start, n, self.n_lines, passes + r if r else passes)
            else:  # the walk's snapshot holds each run's pass (a view: no launch)
                run = LineRun(start, n, self.n_lines, snapshot[1 + r])
            runs.append(run if inputs is None else run.with_onehot(
                inputs[offset:offset + n], counted=reads is not None,
                read_seed=snapshot[1 + n_runs + r:2 + n_runs + r] if seeded else None,
                walked=inputs if r == 0 else None))
        return runs

    def walks_on_host(self) -> bool:
        """On the CPU the host reads the lines (free there) and keeps runs within a pass:
        the results stay those of the per-run numba kernels."""
        return self.line.tensor.is_cpu

    def _host_walk(self, count, generator, random_start) -> list[LineRun]:
        return [LineRun(first, n, self.n_lines, passes)
                for first, n, passes in self.host_runs(count, generator, random_start)]

    def host_runs(self, count, generator=None, random_start=False) -> list[tuple[int, int, int]]:
        """The host walk's runs as ``(first, length, passes before)``, the schedule moved on:
        what :meth:`walk` returns as :class:`LineRun` objects, without building them (a CPU
        transfer's bound mover reads them directly)."""
        # the two scalars read and set through numpy views (CPU tensors: a tenth of the
        # cost of int() and fill_ on them)
        line, passes_now = self.line.tensor.numpy(), self.passes.tensor.numpy()
        start = self.random_line(generator) if random_start else int(line)
        passes = int(passes_now)
        runs = []
        for first, run in line_runs(start, count, self.n_lines):
            runs.append((first, run, passes))
            passes += (first + run) // self.n_lines
        passes_now[()] = passes
        line[()] = (start + count) % self.n_lines
        return runs

    def random_line(self, generator: torch.Generator | None) -> int:
        """A uniformly random line, reproducible by the generator's seed (host, no draw
        from the generator)."""
        self.line_draws += 1
        base = generator.initial_seed() if generator is not None else 0
        return random.Random(f"{base}:{self.line_draws}").randrange(self.n_lines)


__all__ = ["TransferSchedule"]
