"""The factorized pairs that replace a layer: two plain ``nn.Linear`` / ``nn.Conv2d``
children ``first`` and ``second``, so the analog converter maps each factor onto its own
(smaller) crossbars."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .matrix import LowRankSolution


class FactorizedLinear(nn.Module):
    """``second(first(x))``: ``first`` = ``nn.Linear(in_features, rank, bias=False)``,
    ``second`` = ``nn.Linear(rank, out_features, bias=bias)``."""

    def __init__(self, in_features: int, out_features: int, rank: int, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.first = nn.Linear(in_features, rank, bias=False, device=device, dtype=dtype)
        self.second = nn.Linear(rank, out_features, bias=bias, device=device, dtype=dtype)

    @property
    def rank(self) -> int:
        return self.first.out_features

    def forward(self, x: Tensor) -> Tensor:
        return self.second(self.first(x))

    @torch.no_grad()
    def set_solution(self, solution: LowRankSolution) -> None:
        """Load ``Wa`` ``[in, rank]``, ``Wb`` ``[rank, out]`` and ``bias`` of a solution."""
        self.first.weight.copy_(solution.Wa.T)
        self.second.weight.copy_(solution.Wb.T)
        if self.second.bias is not None and solution.bias is not None:
            self.second.bias.copy_(solution.bias)

    @classmethod
    def from_solution(cls, solution: LowRankSolution, in_features: int, out_features: int
                      ) -> FactorizedLinear:
        mod = cls(in_features, out_features, solution.rank, bias=solution.bias is not None,
                  device=solution.Wa.device, dtype=solution.Wa.dtype)
        mod.set_solution(solution)
        return mod

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, rank={self.rank}"


class FactorizedConv2d(nn.Module):
    """``second(first(x))``: ``first`` = ``nn.Conv2d(in_channels, rank, kernel_size, stride,
    padding, bias=False)``, ``second`` = ``nn.Conv2d(rank, out_channels, 1, bias=bias)``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, rank: int, stride=1,
                 padding=0, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.first = nn.Conv2d(in_channels, rank, kernel_size, stride=stride, padding=padding,
                               bias=False, device=device, dtype=dtype)
        self.second = nn.Conv2d(rank, out_channels, 1, bias=bias, device=device, dtype=dtype)

    @property
    def rank(self) -> int:
        return self.first.out_channels

    @property
    def kernel_size(self) -> tuple[int, int]:
        return self.first.kernel_size

    def forward(self, x: Tensor) -> Tensor:
        return self.second(self.first(x))

    @torch.no_grad()
    def set_solution(self, solution: LowRankSolution) -> None:
        self.first.weight.copy_(solution.Wa)
        self.second.weight.copy_(solution.Wb)
        if self.second.bias is not None and solution.bias is not None:
            self.second.bias.copy_(solution.bias)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
                f"rank={self.rank}, kernel_size={tuple(self.kernel_size)}")
