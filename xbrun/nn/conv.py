"""``AnalogConv2d``: a convolution as im2col rows on crossbar tiles, by the tiles' index.

Every output position of every image is one row ``[C_in * k_h * k_w]`` through the tiles,
so the forward is one batched analog MVM, the backward the transposed MVM folded back onto
the image (col2im), and the update has ``N * H_out * W_out`` rank-1 terms (the
decomposition, if any, compresses them). The rows are never an ``unfold``: the layer gives
its tiles the im2col index of the input size (``TileGrid.set_indexed``, once per size) and
they gather them (``xbrun.tiles.indexed``).
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError, TileError
from ..tiles.indexed import conv_indices
from .linear import AnalogLayer
from .spec import AnalogSpec, TileFactory


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


class AnalogConv2d(AnalogLayer):
    """``nn.Conv2d`` (any stride, padding, dilation; ``groups=1``, zero padding) on tiles."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 *, spec: AnalogSpec, factory: TileFactory | None = None):
        if groups != 1:
            raise ConfigError(f"AnalogConv2d: groups must be 1, got {groups}")
        if padding_mode != "zeros":
            raise ConfigError(f"AnalogConv2d: padding_mode must be 'zeros', got {padding_mode!r}")
        kh, kw = _pair(kernel_size)
        super().__init__(out_channels, in_channels * kh * kw, bias, spec, factory)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.dilation = (kh, kw), _pair(stride), _pair(dilation)
        self.groups = 1
        self.padding = padding if isinstance(padding, str) else _pair(padding)
        self._pad4 = None  # (left, right, top, bottom) when padding is 'same'
        self._indexed_size: tuple[int, int] | None = None  # images the tiles' index is for
        if padding == "same":
            if self.stride != (1, 1):
                raise ConfigError("AnalogConv2d: padding='same' needs stride 1")
            total = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size, strict=True)]
            self._pad4 = (total[1] // 2, total[1] - total[1] // 2,
                          total[0] // 2, total[0] - total[0] // 2)
        elif padding == "valid":
            self.padding = (0, 0)
        elif isinstance(padding, str):
            raise ConfigError(f"AnalogConv2d: padding must be an int, a pair, 'same' or "
                              f"'valid', got {padding!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        unbatched = x.dim() == 3
        if unbatched:
            x = x.unsqueeze(0)
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise TileError(f"AnalogConv2d: expected images [N, {self.in_channels}, H, W], "
                            f"got {tuple(x.shape)}")
        self._index_images(x.shape[2], x.shape[3])
        out = self.tiles(x)
        if self.bias is not None:
            out = out + self.bias.reshape(1, -1, 1, 1)
        return out.squeeze(0) if unbatched else out

    def _index_images(self, height: int, width: int) -> None:
        """Give the tiles the im2col index of ``height x width`` images (once per size)."""
        if self._indexed_size == (height, width) and self.tiles.tiles[0].is_indexed():
            return
        if self._pad4 is not None:
            left, right, top, bottom = self._pad4
            padding = (top, bottom, left, right)
        else:
            padding = self.padding
        indices, sizes = conv_indices(self.in_channels, height, width, self.kernel_size,
                                      self.stride, padding, self.dilation)
        self.tiles.set_indexed(indices, sizes)
        self._indexed_size = (height, width)

    def _shape_weight(self, weight: torch.Tensor) -> torch.Tensor:
        return weight.reshape(self.out_channels, self.in_channels, *self.kernel_size)

    @classmethod
    def from_digital(cls, module: nn.Conv2d, spec: AnalogSpec,
                     factory: TileFactory | None = None) -> AnalogConv2d:
        layer = cls(module.in_channels, module.out_channels, module.kernel_size,
                    stride=module.stride, padding=module.padding, dilation=module.dilation,
                    groups=module.groups, bias=module.bias is not None,
                    padding_mode=module.padding_mode, spec=spec, factory=factory)
        layer.set_weights(module.weight.detach(),
                          None if module.bias is None else module.bias.detach())
        return layer.to(module.weight.device)

    def to_digital(self) -> nn.Conv2d:
        weight, bias = self.get_weights()
        conv = nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size,
                         stride=self.stride, padding=self.padding, dilation=self.dilation,
                         bias=bias is not None)
        return self._digital_copy(conv, weight, bias)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
                f"analog_bias={self.analog_bias}, grid={self.tiles.shape}")
