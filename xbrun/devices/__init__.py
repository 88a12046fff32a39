"""Training algorithms on crossbars (the ``device`` config group)."""

from .base import TrainingDevice
from .chopped import ChoppedTransferConfig, DynamicTransferConfig
from .mixed_precision import MixedPrecisionConfig
from .sgd import AnalogSGDConfig, FloatingPointConfig, SingleArray
from .transfer import BufferedTransferConfig, TransferConfig

DEVICES: dict[str, type] = {
    "fp": FloatingPointConfig,
    "sgd": AnalogSGDConfig,
    "ttv1": TransferConfig,
    "ttv2": BufferedTransferConfig,
    "chopped": ChoppedTransferConfig,
    "agad": DynamicTransferConfig,
    "mixed_precision": MixedPrecisionConfig,
}

__all__ = ["DEVICES", "TrainingDevice", "SingleArray", "AnalogSGDConfig", "FloatingPointConfig",
           "TransferConfig", "BufferedTransferConfig", "ChoppedTransferConfig",
           "DynamicTransferConfig", "MixedPrecisionConfig"]
