"""``AnalogLinear``: a ``torch.nn.Linear`` whose weight lives on a crossbar tile."""

from __future__ import annotations

import torch
from torch import nn

from ..tiles.tile import AnalogTile


class _AnalogMVM(torch.autograd.Function):
    """Forward and backward go through the tile's noisy MVMs; the update is deferred.

    The weight is not a leaf autograd can write to: the backward pass stores (x, d) on the
    layer, and the optimizer's ``step`` turns them into pulses (as aihwkit's AnalogSGD).
    """

    @staticmethod
    def forward(ctx, x, analog_ctx, layer):
        ctx.layer = layer
        ctx.save_for_backward(x)
        return layer.tile.forward(x)

    @staticmethod
    def backward(ctx, d):
        (x,) = ctx.saved_tensors
        layer = ctx.layer
        layer.pending.append((x.detach(), d.detach()))
        grad_x = layer.tile.backward(d) if ctx.needs_input_grad[0] else None
        return grad_x, None, None


class AnalogLayer(nn.Module):
    """Base of analog modules: a tile, pending (x, d) pairs and a context parameter.

    ``analog_ctx`` is an empty parameter whose only job is to make autograd call our
    backward (and to let the optimizer find the layer and its learning rate group).
    """

    def __init__(self, tile: AnalogTile):
        super().__init__()
        self.tile = tile
        self.analog_ctx = nn.Parameter(torch.empty(0))
        self.analog_ctx.analog_layer = self  # type: ignore[attr-defined]
        self.pending: list[tuple[torch.Tensor, torch.Tensor]] = []

    def apply_update(self, lr: float) -> None:
        if not self.pending:
            return
        x = torch.cat([p[0] for p in self.pending])
        d = torch.cat([p[1] for p in self.pending])
        self.pending.clear()
        self.tile.update(x, d, lr)


class AnalogLinear(AnalogLayer):
    def __init__(self, in_features: int, out_features: int, tile: AnalogTile,
                 bias: bool = True, digital_bias: bool = True):
        in_size = in_features if (digital_bias or not bias) else in_features + 1
        assert tile.in_size == in_size and tile.out_size == out_features
        super().__init__(tile)
        self.in_features, self.out_features = in_features, out_features
        self.analog_bias = bias and not digital_bias
        self.bias = nn.Parameter(torch.zeros(out_features)) if (bias and digital_bias) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        if self.analog_bias:
            x = torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)], 1)
        out = _AnalogMVM.apply(x, self.analog_ctx, self)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*shape[:-1], self.out_features)

    def get_weights(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        weight = self.tile.get_weights()
        if self.analog_bias:
            return weight[:, :-1].clone(), weight[:, -1].clone()
        return weight, None if self.bias is None else self.bias.detach().cpu().clone()

    def set_weights(self, weight: torch.Tensor, bias: torch.Tensor | None = None) -> None:
        if self.analog_bias:
            weight = torch.cat([weight, bias.reshape(-1, 1)], 1)
        elif bias is not None and self.bias is not None:
            with torch.no_grad():
                self.bias.copy_(bias)
        self.tile.set_weights(weight)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"analog_bias={self.analog_bias}")
