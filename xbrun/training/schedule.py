"""Learning-rate schedules (the ``schedule`` config group), stepped once per epoch.

The analog optimizer hands each tile the current learning rate of its parameter group, so a
schedule moves the transfer rate (``scale_transfer_lr``) and, with ``scale_fast_lr``, the
fast array's pulse-count rate of the Tiki-taka devices as well as plain analog SGD.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from ..schema import check


@dataclass
class ScheduleConfig:
    """constant: lr throughout. step: lr * factor every ``step_size`` epochs (torch StepLR).
    cosine: from lr down to ``min_lr`` over ``t_max`` epochs (0: the run's epochs;
    torch CosineAnnealingLR)."""

    name: Literal["constant", "step", "cosine"] = "constant"
    step_size: int = 10
    factor: float = 0.1
    t_max: int = 0
    min_lr: float = 0.0

    def validate(self, key: str) -> None:
        p = f"{key}." if key else ""
        check(self.step_size >= 1, p + "step_size", "an integer >= 1 (epochs)", self.step_size)
        check(0 < self.factor <= 1, p + "factor", "a number in (0, 1]", self.factor)
        check(self.t_max >= 0, p + "t_max", "an integer >= 0 (0: the run's epochs)", self.t_max)
        check(self.min_lr >= 0, p + "min_lr", "a number >= 0", self.min_lr)


def build_scheduler(config: ScheduleConfig, optimizer: torch.optim.Optimizer,
                    epochs: int) -> torch.optim.lr_scheduler.LRScheduler:
    """The torch scheduler of ``config``; call ``step()`` after each epoch."""
    if config.name == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.step_size,
                                               gamma=config.factor)
    if config.name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=config.t_max or max(epochs, 1), eta_min=config.min_lr)
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


__all__ = ["ScheduleConfig", "build_scheduler"]
