"""Analog SGD: the gradient is written straight into one array by pulse trains."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..physics.array import CrossbarArray, build_array
from ..schema import check
from .base import TrainingDevice


@dataclass
class FloatingPointConfig:
    """``device=fp``: plain digital layers and SGD, the reference every analog run is held to.

    ``grad_noise_std``: Gaussian noise of this std added to every gradient element before each
    step (digital SGD with noisy gradients, the baseline of Wu et al., NeurIPS 2024)."""

    kind: str = "fp"
    grad_noise_std: float = 0.0

    def validate(self, key: str) -> None:
        check(self.grad_noise_std >= 0, f"{key}.grad_noise_std", "a number >= 0",
              self.grad_noise_std)


@dataclass
class AnalogSGDConfig:
    """``device=sgd``: one array, pulsed updates of the gradient (aihwkit SingleRPUConfig)."""

    kind: str = "sgd"

    def validate(self, key: str) -> None:
        pass

    def build(self, out_size, in_size, cell, update, seed) -> TrainingDevice:
        return SingleArray(build_array(out_size, in_size, cell, update, seed))


class SingleArray(TrainingDevice):
    """``device=sgd``: the gradient goes straight into one array (not to be confused with
    the optimizer ``xbrun.nn.AnalogSGD``, which hands it to whatever device a tile has)."""

    def __init__(self, array: CrossbarArray):
        super().__init__()
        self.array = array

    def visible_weight(self) -> torch.Tensor:
        return self.array.weight

    def set_weight(self, weight: torch.Tensor) -> None:
        self.array.set_weight(weight)

    def update(self, x_rows, d_rows, lr, generator, add_to=None, rows=None):
        return self.array.update(x_rows, d_rows, lr, generator, add_to=add_to, rows=rows)
