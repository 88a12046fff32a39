"""Crossbar tiles: the raw array (``tile``), its periphery, grids of tiles and the mapping."""

from .grid import TileGrid, split_sizes
from .mapping import FactorizeConfig, MappingConfig
from .periphery import TileWithPeriphery
from .tile import AnalogTile

__all__ = ["AnalogTile", "FactorizeConfig", "MappingConfig", "TileGrid", "TileWithPeriphery",
           "split_sizes"]
