"""Training algorithms on crossbars (the ``device`` config group)."""

from .base import TrainingDevice
from .sgd import AnalogSGD, AnalogSGDConfig, FloatingPointConfig

DEVICES: dict[str, type] = {
    "fp": FloatingPointConfig,
    "sgd": AnalogSGDConfig,
}

__all__ = ["DEVICES", "TrainingDevice", "AnalogSGD", "AnalogSGDConfig", "FloatingPointConfig"]
