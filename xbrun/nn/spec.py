"""What every tile of a converted model shares, and the factory that numbers the tiles."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..kernels import seeds
from ..tiles.mapping import MappingConfig
from ..tiles.periphery import TileWithPeriphery


@dataclass
class AnalogSpec:
    """Device, cell, I/O, update, decomposition and mapping shared by all layers of a model.

    ``digital_bias`` is a shortcut for ``mapping.digital_bias`` when no mapping is given.
    """

    device: Any
    cell: Any
    io: Any
    update: Any
    decomposition: Any = None
    digital_bias: bool = True
    seed: int = 0
    mapping: MappingConfig | None = None

    def __post_init__(self) -> None:
        if self.mapping is None:
            self.mapping = MappingConfig(digital_bias=self.digital_bias)
        self.digital_bias = self.mapping.digital_bias


class TileFactory:
    """Makes the tiles of one model in order: tile ``i`` draws its cells from
    ``seed * 1000 + i + 1`` and keeps decomposition state under ``group_param_idx = i``, so a
    seed fixes the device-to-device variation of every tile."""

    def __init__(self, spec: AnalogSpec):
        self.spec = spec
        self.count = 0

    def __call__(self, out_size: int, in_size: int, analog_bias: bool) -> TileWithPeriphery:
        index = self.count
        self.count += 1
        s = self.spec
        return TileWithPeriphery(out_size, in_size, device_config=s.device, cell=s.cell,
                                 io=s.io, update=s.update, decomposition=s.decomposition,
                                 seed=seeds.tile_seed(s.seed, index), group_param_idx=index,
                                 mapping=s.mapping, analog_bias=analog_bias)
