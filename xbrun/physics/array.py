"""One crossbar array: conductance state plus the per-element parameters of its cells."""

from __future__ import annotations

import torch
from torch import nn

from .. import kernels
from .cells import IdealCell, PulsedCell
from .pulses import UpdateParameters, pulse_probabilities


class PulsedArray(nn.Module):
    """A ``(out, in)`` array of unit cells that learns by pulsed updates.

    The weight is a buffer, not a parameter: autograd never writes it, only pulses do.
    """

    def __init__(self, out_size: int, in_size: int, cell: PulsedCell | IdealCell,
                 update: UpdateParameters, construction_seed: int):
        super().__init__()
        self.cell = cell
        self.update_params = update
        self.register_buffer("weight", torch.zeros(out_size, in_size))
        if cell.is_pulsed:
            seed = cell.construction_seed or construction_seed
            gen = torch.Generator().manual_seed(seed)
            self.register_buffer("cell_params", cell.sample((out_size, in_size), gen))
        else:
            self.register_buffer("cell_params", torch.zeros(0))

    @property
    def dw_min(self) -> float:
        return self.cell.dw_min if self.cell.is_pulsed else 0.0

    def set_weight(self, weight: torch.Tensor) -> None:
        """Program ``weight`` exactly, clipped to each element's bounds."""
        weight = weight.to(self.weight)
        if self.cell.is_pulsed:
            weight = torch.minimum(torch.maximum(weight, self.cell_params[3]), self.cell_params[2])
        self.weight.copy_(weight)

    def update(self, x_rows: torch.Tensor, d_rows: torch.Tensor, lr: float,
               generator: torch.Generator | None) -> torch.Tensor:
        """Apply ``W <- W - lr * sum_k d_k x_k^T`` as pulse trains; return pulses applied."""
        if not self.cell.is_pulsed:
            self.weight.add_(d_rows.T @ x_rows, alpha=-lr)
            return torch.zeros((), dtype=torch.int64, device=self.weight.device)
        x_prob, d_prob, bl = pulse_probabilities(x_rows, d_rows, lr, self.cell.dw_min,
                                                 self.update_params)
        return kernels.pulsed_update(self.weight, self.cell_params, x_prob, d_prob, bl,
                                     cell_kind=self.cell.kernel_kind,
                                     noise_std=self.cell.noise_std,
                                     mult_noise=self.cell.mult_noise, generator=generator)
