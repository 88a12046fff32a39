"""Mixed precision: the gradient is summed exactly in digital, the array gets whole pulses.

aihwkit's ``MixedPrecisionCompound`` (Nandakumar et al. 2020): the outer products of the
(optionally quantized) activations and errors accumulate in a floating-point matrix chi;
every ``transfer_every`` mini-batches, ``n_rows_per_transfer`` rows of chi (-1: all) are
written to the analog array as ``trunc(chi / granularity)`` pulses each - a row at a time
with a one-hot output vector, update and BL management on - and chi keeps the remainder.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from ..physics.array import build_array
from ..physics.pulses import UpdateParameters
from ..schema import check
from .base import TrainingDevice
from .schedule import TransferSchedule


@dataclass
class MixedPrecisionConfig:
    """``device=mixed_precision`` (aihwkit ``MixedPrecisionCompound``; cell: ``cell``).

    granularity: size of one written step (0: the cell's dw_min). transfer_lr: scale of the
    write. n_x_bins / n_d_bins: quantize x and d to that many levels of their abs-max before
    the outer product (0: off), with stochastic rounding when ``stoc_round_*``.
    """

    kind: str = "mixed_precision"
    transfer_every: int = 1  # mini-batches between writes
    n_rows_per_transfer: int = -1  # rows written per transfer (-1: all)
    random_row: bool = False
    granularity: float = 0.0  # size of one written step (0: the cell's dw_min)
    transfer_lr: float = 1.0
    n_x_bins: int = 0  # quantize x to this many levels before the outer product (0: off)
    n_d_bins: int = 0
    stoc_round_x: bool = True
    stoc_round_d: bool = True

    def validate(self, key: str) -> None:
        p = f"{key}." if key else ""
        check(self.transfer_every >= 0, p + "transfer_every", "an integer >= 0 (0: never)",
              self.transfer_every)
        check(self.n_rows_per_transfer >= -1, p + "n_rows_per_transfer",
              "an integer >= 0, or -1 for all rows", self.n_rows_per_transfer)
        for name in ("granularity", "transfer_lr"):
            value = getattr(self, name)
            check(math.isfinite(value) and value >= 0, p + name, "a number >= 0", value)
        for name in ("n_x_bins", "n_d_bins"):
            check(getattr(self, name) >= 0, p + name, "an integer >= 0 (0: no quantization)",
                  getattr(self, name))

    def build(self, out_size, in_size, cell, update, seed) -> TrainingDevice:
        return MixedPrecision(self, out_size, in_size, cell, update, seed)


def quantize(values: torch.Tensor, n_bins: int, stochastic: bool,
             generator: torch.Generator | None) -> torch.Tensor:
    """Each row to ``n_bins`` levels symmetric about 0, bin width ``abs-max / (n_bins // 2)``."""
    if n_bins <= 0:
        return values
    half = n_bins // 2
    width = values.abs().amax(dim=1, keepdim=True) / max(half, 1)
    width = torch.where(width > 0, width, torch.ones_like(width))
    scaled = values / width
    if stochastic:
        scaled = scaled + torch.rand(values.shape, generator=generator,
                                     device=values.device, dtype=values.dtype) - 0.5
    return torch.round(scaled).clamp(-half, half) * width


class MixedPrecision(TrainingDevice):
    """One array and the digital accumulator chi; ``schedule`` walks the rows of chi."""

    graph_device_state = ("chi",)

    def __init__(self, config: MixedPrecisionConfig, out_size: int, in_size: int, cell,
                 update: UpdateParameters, seed: int):
        super().__init__()
        self.config = config
        self.array = build_array(out_size, in_size, cell, update, seed)
        # aihwkit writes with both managements on, whatever the tile's update settings
        self.write_params = dataclasses.replace(update, update_management=True,
                                                update_bl_management=True)
        self.granularity = config.granularity or self.array.granularity
        self.register_buffer("chi", torch.zeros(out_size, in_size))
        self.schedule = TransferSchedule(out_size)

    def visible_weight(self) -> torch.Tensor:
        return self.array.weight

    def set_weight(self, weight: torch.Tensor) -> None:
        self.array.set_weight(weight)
        self.chi.zero_()
        self.schedule.restart()

    def update(self, x_rows, d_rows, lr, generator, add_to=None, rows=None):
        c = self.config
        if rows is not None:
            rows.add_(x_rows.shape[0])
        x = quantize(x_rows, c.n_x_bins, c.stoc_round_x, generator)
        d = quantize(d_rows, c.n_d_bins, c.stoc_round_d, generator)
        self.chi.addmm_(d.T.to(self.chi), x.to(self.chi), alpha=float(lr))
        k = int(x_rows.shape[0])
        pulses = add_to  # the writes add to the caller's count, or to a fresh one
        for _ in range(self.schedule.due(k, c.transfer_every * k)):
            pulses = self.transfer(generator, pulses)
        if pulses is None:
            return torch.zeros((), dtype=torch.int64, device=self.chi.device)
        return pulses

    def transfer(self, generator, pulses: torch.Tensor | None = None) -> torch.Tensor | None:
        """Write whole steps of ``n_rows_per_transfer`` rows of chi, in order; their pulses
        added to ``pulses`` (in place; None: the first write's count is it)."""
        c = self.config
        n_out = self.chi.shape[0]
        count = n_out if c.n_rows_per_transfer < 0 else min(c.n_rows_per_transfer, n_out)
        if count == 0 or c.transfer_lr == 0:
            return pulses
        lr_w = self.granularity * c.transfer_lr
        for lines in self.schedule.walk(count, generator,
                                        random_start=c.random_row and count < n_out):
            rows = lines.selector(self.chi.device)
            steps = torch.trunc(self.chi[rows] / self.granularity)
            self.chi[rows] -= steps * self.granularity
            pulses = self.array.write_lines(lines, -steps, lr_w, generator,
                                            params=self.write_params, columns=False,
                                            add_to=pulses)
        return pulses


__all__ = ["MixedPrecisionConfig", "MixedPrecision", "quantize"]
