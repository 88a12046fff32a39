"""Analog layers: a logical weight on a grid of crossbar tiles, bias digital or analog.

The weight is no autograd leaf: each tile's backward queues ``(x, d)`` and the optimizer's
``step`` turns them into pulses (as aihwkit's AnalogSGD). Digital parts (bias, learned output
scales, input ranges) are ordinary parameters that the same ``step`` trains by SGD.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import TileError
from ..tiles.grid import TileGrid
from ..tiles.periphery import TileWithPeriphery
from .spec import AnalogSpec, TileFactory


class AnalogLayer(nn.Module):
    """Base of analog modules: a :class:`TileGrid` for the ``[out, in]`` weight and the bias.

    ``get_weights`` / ``set_weights`` / ``read_weights`` / ``program_weights`` /
    ``remap_weights`` act on the whole logical weight, whatever the grid.
    """

    @staticmethod
    def _digital_copy(module: nn.Module, weight: torch.Tensor,
                      bias: torch.Tensor | None) -> nn.Module:
        """``module`` (the digital twin of a layer) holding the layer's read weights."""
        with torch.no_grad():
            module.weight.copy_(weight.reshape(module.weight.shape))
            if bias is not None:
                module.bias.copy_(bias)
        return module

    def __init__(self, out_size: int, in_size: int, bias: bool, spec: AnalogSpec,
                 factory: TileFactory | None = None):
        super().__init__()
        mapping = spec.mapping
        self.analog_bias = bias and not mapping.digital_bias
        factory = factory if factory is not None else TileFactory(spec)
        self.tiles = TileGrid(out_size, in_size, factory, mapping.max_input_size,
                              mapping.max_output_size, analog_bias=self.analog_bias)
        self.bias = nn.Parameter(torch.zeros(out_size)) if (bias and not self.analog_bias) \
            else None

    @property
    def tile(self) -> TileWithPeriphery:
        """The layer's only tile (a TileError when the layer is split over several)."""
        if len(self.tiles.tiles) != 1:
            raise TileError(f"layer is split over a {self.tiles.shape} grid of tiles; "
                            f"use .tiles")
        return self.tiles.tiles[0]

    def analog_tiles(self) -> list[TileWithPeriphery]:
        return list(self.tiles.tiles)

    def take_counters(self) -> dict:
        return self.tiles.take_counters()

    # ---- weights in the flat [out, in] layout; subclasses reshape ----
    def _flat_weights(self, weight, bias) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.analog_bias:
            return weight, bias
        return weight, None if self.bias is None else self.bias.detach().cpu().clone()

    def _get(self, apply_weight_scaling=True, realistic=False):
        return self._flat_weights(*self.tiles.get_weights(apply_weight_scaling, realistic))

    def _set(self, weight, bias=None, apply_weight_scaling=True, realistic=False,
             weight_scaling_omega=None) -> None:
        if bias is not None and self.bias is not None:
            with torch.no_grad():
                self.bias.copy_(torch.as_tensor(bias).reshape(-1).to(self.bias))
        self.tiles.set_weights(weight, bias if self.analog_bias else None,
                               apply_weight_scaling=apply_weight_scaling, realistic=realistic,
                               weight_scaling_omega=weight_scaling_omega)

    def read_weights(self, apply_weight_scaling: bool = True, over_sampling: int = 10):
        """Least-squares estimate from forward passes (logical weights by default)."""
        weight, bias = self._flat_weights(*self.tiles.read_weights(apply_weight_scaling,
                                                                   over_sampling))
        return self._shape_weight(weight), bias

    def program_weights(self, **kwargs) -> None:
        self.tiles.program_weights(**kwargs)

    def remap_weights(self, weight_scaling_omega: float | None = 1.0) -> None:
        self.tiles.remap_weights(weight_scaling_omega)

    def get_weights(self, apply_weight_scaling: bool = True, realistic: bool = False):
        weight, bias = self._get(apply_weight_scaling, realistic)
        return self._shape_weight(weight), bias

    def set_weights(self, weight: torch.Tensor, bias: torch.Tensor | None = None,
                    apply_weight_scaling: bool = True, realistic: bool = False,
                    weight_scaling_omega: float | None = None) -> None:
        self._set(torch.as_tensor(weight).reshape(self.tiles.out_size, -1), bias,
                  apply_weight_scaling, realistic, weight_scaling_omega)

    def _shape_weight(self, weight: torch.Tensor) -> torch.Tensor:
        return weight


class AnalogLinear(AnalogLayer):
    """``nn.Linear`` on crossbar tiles."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 spec: AnalogSpec, factory: TileFactory | None = None):
        super().__init__(out_features, in_features, bias, spec, factory)
        self.in_features, self.out_features = in_features, out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias
        if x.dim() == 2:  # the common case: no reshapes
            out = self.tiles(x)
            return out if bias is None else out + bias
        shape = x.shape
        out = self.tiles(x.reshape(-1, shape[-1]))
        if bias is not None:
            out = out + bias
        return out.reshape(*shape[:-1], self.out_features)

    @classmethod
    def from_digital(cls, module: nn.Linear, spec: AnalogSpec,
                     factory: TileFactory | None = None) -> AnalogLinear:
        layer = cls(module.in_features, module.out_features, module.bias is not None,
                    spec=spec, factory=factory)
        layer.set_weights(module.weight.detach(),
                          None if module.bias is None else module.bias.detach())
        return layer.to(module.weight.device)

    def to_digital(self) -> nn.Linear:
        weight, bias = self.get_weights()
        return self._digital_copy(nn.Linear(self.in_features, self.out_features,
                                            bias=bias is not None), weight, bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"analog_bias={self.analog_bias}")
