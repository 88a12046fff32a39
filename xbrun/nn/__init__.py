"""Analog ``torch.nn`` modules and the conversion of digital models onto tiles."""

from .conv import AnalogConv2d
from .convert import (
    analog_layers,
    analog_tiles,
    convert_to_analog,
    convert_to_digital,
    factorize_model,
    mapping_summary,
)
from .linear import AnalogLayer, AnalogLinear
from .optimizer import AnalogSGD
from .spec import AnalogSpec, TileFactory

__all__ = ["AnalogConv2d", "AnalogLayer", "AnalogLinear", "AnalogSGD", "AnalogSpec",
           "TileFactory", "analog_layers", "analog_tiles", "convert_to_analog",
           "convert_to_digital", "factorize_model", "mapping_summary"]
