"""What every training algorithm on a crossbar (an aihwkit "device") provides to a tile, and
the host-side schedule the transfer devices share."""

from __future__ import annotations

import random

import torch
from torch import nn


class TrainingDevice(nn.Module):
    """Owns one or more arrays and turns rank-1 updates into pulses on them.

    ``visible_weight`` is what the forward and backward MVMs see; ``update`` receives the
    rank-1 factors of the batch gradient and returns the number of device pulses it made.
    """

    def visible_weight(self) -> torch.Tensor:
        raise NotImplementedError

    def set_weight(self, weight: torch.Tensor) -> None:
        raise NotImplementedError

    def update(self, x_rows: torch.Tensor, d_rows: torch.Tensor, lr: float,
               generator: torch.Generator | None) -> torch.Tensor:
        raise NotImplementedError


class ScheduledDevice(TrainingDevice):
    """A device that moves lines from one store to another on a schedule of mat-vecs.

    The schedule lives on the host: ``n_updates`` counts the mat-vecs seen, and every
    ``period`` of them one transfer falls due, so deciding what to transfer never reads the
    accelerator. Random line choices come from the host too (``random_line``: the
    generator's seed and a draw counter), so a step on CUDA never waits for the device. The
    names in ``_COUNTERS`` are saved with the module (``extra_state``): a checkpoint
    resumes the schedule exactly.
    """

    _COUNTERS: tuple[str, ...] = ("n_updates", "line_draws")

    def __init__(self) -> None:
        super().__init__()
        self.n_updates = 0
        self.line_draws = 0

    def get_extra_state(self):
        return {name: getattr(self, name) for name in self._COUNTERS}

    def set_extra_state(self, state) -> None:
        for name in self._COUNTERS:
            setattr(self, name, state[name])

    def transfers_due(self, k: int, period: int) -> int:
        """Count ``k`` more mat-vecs; return how many transfers (one per ``period``; 0:
        never) fall due among them."""
        before = self.n_updates
        self.n_updates += k
        if period <= 0 or k <= 0:
            return 0
        return self.n_updates // period - before // period

    def random_line(self, generator: torch.Generator | None, n_lines: int) -> int:
        """A uniformly random line in ``[0, n_lines)``, reproducible by the generator's seed."""
        self.line_draws += 1
        base = generator.initial_seed() if generator is not None else 0
        return random.Random(f"{base}:{self.line_draws}").randrange(n_lines)
