"""Turn any ``torch.nn.Module`` into its analog twin layer by layer, and back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..tiles.tile import AnalogTile
from .linear import AnalogLayer, AnalogLinear


@dataclass
class AnalogSpec:
    """Everything a tile needs, shared by all layers of one model."""

    device: Any
    cell: Any
    io: Any
    update: Any
    decomposition: Any = None
    digital_bias: bool = True
    seed: int = 0


def convert_to_analog(model: nn.Module, spec: AnalogSpec) -> nn.Module:
    """Replace every ``nn.Linear`` by an ``AnalogLinear`` holding the same weights.

    Layers are numbered in module order; layer i's tile draws its cells from
    ``spec.seed * 1000 + i`` so a seed fixes the device-to-device variation.
    """
    counter = [0]

    def make(module: nn.Module) -> nn.Module:
        if isinstance(module, nn.Linear):
            index = counter[0]
            counter[0] += 1
            has_bias = module.bias is not None
            in_size = module.in_features + (0 if (spec.digital_bias or not has_bias) else 1)
            tile = AnalogTile(module.out_features, in_size, device_config=spec.device,
                              cell=spec.cell, io=spec.io, update=spec.update,
                              decomposition=spec.decomposition,
                              seed=spec.seed * 1000 + index + 1, group_param_idx=index)
            layer = AnalogLinear(module.in_features, module.out_features, tile,
                                 bias=has_bias, digital_bias=spec.digital_bias)
            layer.set_weights(module.weight.detach(),
                              None if module.bias is None else module.bias.detach())
            return layer
        for name, child in module.named_children():
            setattr(module, name, make(child))
        return module

    return make(model)


def convert_to_digital(model: nn.Module) -> nn.Module:
    """Export: replace analog layers by plain ``nn.Linear`` with their current weights."""

    def make(module: nn.Module) -> nn.Module:
        if isinstance(module, AnalogLinear):
            weight, bias = module.get_weights()
            linear = nn.Linear(module.in_features, module.out_features, bias=bias is not None)
            with torch.no_grad():
                linear.weight.copy_(weight)
                if bias is not None:
                    linear.bias.copy_(bias)
            return linear
        for name, child in module.named_children():
            setattr(module, name, make(child))
        return module

    return make(model)


def analog_layers(model: nn.Module) -> list[AnalogLayer]:
    return [m for m in model.modules() if isinstance(m, AnalogLayer)]
