"""Digital model definitions; the analog twin is made by ``xbrun.nn.convert_to_analog``."""

from __future__ import annotations

import math

from torch import nn

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh}


def build_model(cfg, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """The model of ``cfg``; ``mlp`` adapts its input layer to the data (64 for digits)."""
    in_features = math.prod(input_shape)
    layers: list[nn.Module] = [nn.Flatten()]
    for width in cfg.hidden:
        layers += [nn.Linear(in_features, width), ACTIVATIONS[cfg.activation]()]
        in_features = width
    layers.append(nn.Linear(in_features, n_classes))
    return nn.Sequential(*layers)
