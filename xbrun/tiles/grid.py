"""A logical weight matrix on a grid of tiles no larger than the crossbars of the chip.

A ``[out_size, in_size]`` weight is cut into row blocks of at most ``max_output_size`` and
column blocks of at most ``max_input_size`` (balanced: block sizes differ by at most one).
Each block is its own :class:`~xbrun.tiles.periphery.TileWithPeriphery` with its own device
state, scales and input range; the partial outputs of a row of blocks are summed digitally
and the row blocks concatenated. An analog bias column lives in the last column block.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from ..errors import TileError
from .autograd import GridFunction, ScaledGridFunction, count_use, joined, sum_in_order
from .grouped import TileGroup
from .periphery import TileWithPeriphery


def split_sizes(total: int, limit: int) -> list[int]:
    """``total`` cut into the fewest parts of at most ``limit`` (0: no limit), balanced."""
    if limit <= 0 or total <= limit:
        return [total]
    n = math.ceil(total / limit)
    base, extra = divmod(total, n)
    return [base + 1] * extra + [base] * (n - extra)


class TileGrid(nn.Module):
    """Tiles ``tiles[i * n_in + j]`` hold rows ``out_splits[i]`` x columns ``in_splits[j]``."""

    def __init__(self, out_size: int, in_size: int,
                 make_tile: Callable[[int, int, bool], TileWithPeriphery],
                 max_input_size: int = 0, max_output_size: int = 0, analog_bias: bool = False):
        super().__init__()
        self.out_size, self.in_size, self.analog_bias = out_size, in_size, analog_bias
        columns = split_sizes(in_size + int(analog_bias), max_input_size)
        if analog_bias:
            columns[-1] -= 1  # the last block's extra column is the bias
        self.in_splits, self.out_splits = columns, split_sizes(out_size, max_output_size)
        last = len(self.in_splits) - 1
        self.tiles = nn.ModuleList(
            make_tile(rows, cols, analog_bias and j == last)
            for rows in self.out_splits for j, cols in enumerate(self.in_splits))
        self.group = TileGroup(self)  # equal plain tiles on CUDA: all MVMs at once

    @property
    def shape(self) -> tuple[int, int]:
        """Tiles along outputs and along inputs."""
        return len(self.out_splits), len(self.in_splits)

    def tile(self, i: int, j: int) -> TileWithPeriphery:
        return self.tiles[i * len(self.in_splits) + j]

    def _blocks(self):
        """``(tile, row slice, column slice)`` for every tile."""
        r0 = 0
        for i, rows in enumerate(self.out_splits):
            c0 = 0
            for j, cols in enumerate(self.in_splits):
                yield self.tile(i, j), slice(r0, r0 + rows), slice(c0, c0 + cols)
                c0 += cols
            r0 += rows

    def set_indexed(self, indices: torch.Tensor, image_sizes) -> None:
        """A convolution's im2col index (``TileWithPeriphery.set_indexed``): each tile takes
        the columns of its block; :meth:`forward` then maps images to images."""
        c0 = 0
        for j, cols in enumerate(self.in_splits):
            for i in range(len(self.out_splits)):
                self.tile(i, j).set_indexed(indices[:, c0:c0 + cols], image_sizes)
            c0 += cols

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rows ``[N, in_size]`` -> ``[N, out_size]`` (or, indexed, images ``[N, C, H, W]``
        -> ``[N, out_size, H_out, W_out]``); partial sums are digital."""
        if len(self.tiles) == 1:
            return self.tiles[0](x)
        if self.group.applies(x):
            count_use(self.group, self.tiles[0].analog_ctx)
            if self.tiles[0].out_scaling_alpha is not None:
                return ScaledGridFunction.apply(x, self.tiles[0].analog_ctx, self.group,
                                                *(t.out_scaling_alpha for t in self.tiles))
            return GridFunction.apply(x, self.tiles[0].analog_ctx, self.group)
        columns = range(len(self.in_splits))
        if x.dim() == 4:  # indexed: every tile gathers its own columns from the images
            return joined([sum_in_order(self.tile(i, j)(x) for j in columns)
                            for i in range(len(self.out_splits))], dim=1)
        parts = x.split(self.in_splits, dim=-1)
        return joined([sum_in_order(self.tile(i, j)(parts[j]) for j in columns)
                        for i in range(len(self.out_splits))], dim=-1)

    # ------------------------------------------------------------ weights --------------
    @torch.no_grad()
    def set_weights(self, weight: torch.Tensor, bias: torch.Tensor | None = None,
                    apply_weight_scaling: bool = True, realistic: bool = False,
                    weight_scaling_omega: float | None = None) -> None:
        """The logical weight (and analog bias) cut into the tiles' blocks."""
        weight = torch.as_tensor(weight, dtype=torch.float32).detach().cpu()
        if tuple(weight.shape) != (self.out_size, self.in_size):
            raise TileError(f"set_weights: expected a [{self.out_size}, {self.in_size}] "
                            f"weight, got {tuple(weight.shape)}")
        if self.analog_bias and bias is None:
            raise TileError("set_weights: the layer has an analog bias; give the bias too")
        for tile, rows, cols in self._blocks():
            b = bias.detach().cpu().reshape(-1)[rows] if tile.analog_bias else None
            tile.set_weights(weight[rows, cols], b, apply_weight_scaling=apply_weight_scaling,
                             realistic=realistic, weight_scaling_omega=weight_scaling_omega)

    def _assemble(self, per_tile) -> tuple[torch.Tensor, torch.Tensor | None]:
        weight = torch.zeros(self.out_size, self.in_size)
        bias = torch.zeros(self.out_size) if self.analog_bias else None
        for tile, rows, cols in self._blocks():
            w, b = per_tile(tile)
            weight[rows, cols] = w
            if tile.analog_bias:
                bias[rows] = b
        return weight, bias

    @torch.no_grad()
    def get_weights(self, apply_weight_scaling: bool = True, realistic: bool = False
                    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self._assemble(lambda t: t.get_weights(apply_weight_scaling, realistic))

    @torch.no_grad()
    def read_weights(self, apply_weight_scaling: bool = False, over_sampling: int = 10
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self._assemble(lambda t: t.read_weights(apply_weight_scaling,
                                                       over_sampling=over_sampling))

    @torch.no_grad()
    def program_weights(self, **kwargs) -> None:
        for tile in self.tiles:
            tile.program_weights(**kwargs)

    @torch.no_grad()
    def remap_weights(self, weight_scaling_omega: float | None = 1.0) -> None:
        for tile in self.tiles:
            tile.remap_weights(weight_scaling_omega)

    # ------------------------------------------------------------ bookkeeping ----------
    def take_counters(self) -> dict:
        total: dict = {}
        for tile in self.tiles:
            for key, value in tile.take_counters().items():
                total[key] = total.get(key, 0) + value
        return total

    def extra_repr(self) -> str:
        return (f"out_size={self.out_size}, in_size={self.in_size}, grid={self.shape}, "
                f"analog_bias={self.analog_bias}")
