"""Analog ``torch.nn`` modules and the conversion of digital models onto tiles."""

from .convert import convert_to_analog, convert_to_digital, analog_layers
from .linear import AnalogLayer, AnalogLinear
from .optimizer import AnalogSGD

__all__ = ["AnalogLayer", "AnalogLinear", "AnalogSGD", "convert_to_analog",
           "convert_to_digital", "analog_layers"]
