"""Crossbar tiles: the raw array (``tile``), its periphery, grids of tiles and the mapping."""

from .grid import TileGrid, split_sizes
from .indexed import conv_indices
from .mapping import FactorizeConfig, MappingConfig
from .periphery import TileWithPeriphery
from .tile import AnalogTile

__all__ = ["AnalogTile", "FactorizeConfig", "MappingConfig", "TileGrid", "TileWithPeriphery",
           "conv_indices", "split_sizes"]
