"""Digital model definitions; the analog twin is made by ``xbrun.nn.convert_to_analog``.

``model=`` options: ``linear`` (one linear layer: the regression task's model, a linear
classifier otherwise), ``mlp`` (the Tiki-taka papers' network), ``lenet5``, ``resnet`` (the
CIFAR ResNet of He et al. with ``6n+2`` layers) and ``custom``: any callable that returns a
``torch.nn.Module``, named by its dotted path in ``model._target_`` (imported with
``pkgutil.resolve_name``; ``num_classes`` is passed when the callable takes it, extra keyword
arguments with ``+model.KEY=VALUE``).
"""

from __future__ import annotations

import inspect
import math
import pkgutil
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import torch
from torch import nn

from ..errors import ConfigError
from ..schema import check, pick

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh}
Activation = Literal["sigmoid", "relu", "tanh"]


@dataclass
class LinearConfig:
    """One linear layer from the flattened input to the outputs: on ``dataset=regression``
    the layer that learns ``W*``. ``init=constant`` sets every weight (and the bias) to
    ``init_value``, as the papers' least-squares runs start from (``default``: torch's)."""

    name: Literal["linear"] = "linear"
    bias: bool = False
    init: Literal["default", "constant"] = "default"
    init_value: float = 0.0
    needs_images = False

    def validate(self, key: str) -> None:
        check(self.init == "constant" or self.init_value == 0, f"{key}.init_value",
              "0 unless model.init=constant (the value is used only then)", self.init_value)


@dataclass
class MLPConfig:
    """Fully connected layers; the input layer adapts to the data (64 for digits)."""

    name: Literal["mlp"] = "mlp"
    hidden: list[int] = field(default_factory=lambda: [256, 128])
    activation: Activation = "sigmoid"
    needs_images = False

    def validate(self, key: str) -> None:
        for i, h in enumerate(self.hidden):
            check(h >= 1, f"{key}.hidden[{i}]", "a positive layer width", h)


@dataclass
class LeNet5Config:
    """Two 5x5 convolutions with pooling, then three fully connected layers (LeCun 1998).

    The first convolution is padded by 2 (the usual MNIST variant); the second is padded by 2
    too when the image is smaller than 20x20, so 8x8 digits work (16 x 2 x 2 features).
    """

    name: Literal["lenet5"] = "lenet5"
    channels: list[int] = field(default_factory=lambda: [6, 16])
    hidden: list[int] = field(default_factory=lambda: [120, 84])
    activation: Activation = "tanh"
    pool: Literal["max", "avg"] = "max"
    # the learning rate it trains well with (the top-level lr follows it unless given;
    # LeNet-5 at the MLP's lr of 1.0 stays at chance)
    lr: float = 0.1
    needs_images = True

    def validate(self, key: str) -> None:
        check(self.lr > 0, f"{key}.lr", "a number > 0", self.lr)
        check(len(self.channels) == 2 and all(c >= 1 for c in self.channels),
              f"{key}.channels", "two positive channel counts", self.channels)
        for i, h in enumerate(self.hidden):
            check(h >= 1, f"{key}.hidden[{i}]", "a positive layer width", h)


@dataclass
class ResNetConfig:
    """The CIFAR ResNet (He et al. 2016): ``depth = 6n + 2``, stages of width ``w, 2w, 4w``."""

    name: Literal["resnet"] = "resnet"
    depth: int = 20
    width: int = 16
    needs_images = True

    def validate(self, key: str) -> None:
        check(self.depth >= 8 and (self.depth - 2) % 6 == 0, f"{key}.depth",
              "6n+2 with n >= 1 (8, 14, 20, 32, 44, 56, 110)", self.depth)
        check(self.width >= 1, f"{key}.width", "an integer >= 1", self.width)


@dataclass
class CustomModelConfig:
    """Any ``torch.nn.Module`` factory by dotted path, e.g. ``torchvision.models.resnet18``.

    ``num_classes``: ``auto`` passes the data set's class count when the callable accepts
    ``num_classes``; an integer passes that; null passes nothing. ``kwargs`` (or keys added
    with ``+model.KEY=VALUE``) are further keyword arguments.
    """

    name: Literal["custom"] = "custom"
    _target_: str | None = None
    num_classes: int | str | None = "auto"
    kwargs: dict = field(default_factory=dict)
    needs_images = False

    def validate(self, key: str) -> None:
        check(isinstance(self._target_, str) and "." in self._target_, f"{key}._target_",
              "the dotted path of a callable that returns a torch.nn.Module "
              "(e.g. torchvision.models.resnet18)", self._target_)
        check(not isinstance(self.num_classes, str) or self.num_classes == "auto",
              f"{key}.num_classes", "auto, an integer or null", self.num_classes)
        resolve_target(self._target_, f"{key}._target_")


MODELS: dict[str, type] = {"linear": LinearConfig, "mlp": MLPConfig, "lenet5": LeNet5Config,
                           "resnet": ResNetConfig, "custom": CustomModelConfig}


def model_config(data: Any, key: str = "model"):
    """The typed config of a ``model`` group dict (picked by ``name``); for ``custom``, keys
    that are not fields become keyword arguments of the target."""
    if isinstance(data, dict) and data.get("name") == "custom":
        known = {f.name for f in fields(CustomModelConfig)}
        extra = {k: v for k, v in data.items() if k not in known}
        data = {k: v for k, v in data.items() if k in known}
        data["kwargs"] = {**(data.get("kwargs") or {}), **extra}
    return pick(MODELS, data, key, "name")


def check_model_data(model_cfg, dataset_cfg) -> None:
    """Convolutional models need image data, LeNet-5 of at least 4x4 pixels (its two 5x5
    convolutions and poolings); say how to get it. Called as the typed config is built."""
    if getattr(model_cfg, "needs_images", False) and dataset_cfg.images is None:
        raise ConfigError(f"model={model_cfg.name}: needs images [C, H, W] but "
                          f"dataset={dataset_cfg.name} gives flat vectors "
                          f"(e.g. dataset.image_shape=[1,28,28])")
    if model_cfg.name == "lenet5" and len(dataset_cfg.images) == 3:
        _, h, w = dataset_cfg.images
        if min(h, w) < 4:
            raise ConfigError(f"model=lenet5: needs images of at least 4x4, got {h}x{w}")


def resolve_target(path: str, key: str = "model._target_"):
    """Import ``package.module.attr[.attr]``: the standard library's ``pkgutil.resolve_name``
    (what ``hydra.utils.get_object`` does, without Hydra in the core)."""
    try:
        obj = pkgutil.resolve_name(path)
    except (ImportError, AttributeError, ValueError):
        obj = None
    if not callable(obj):
        raise ConfigError(f"{key}: cannot import a callable {path!r}")
    return obj


def _accepts(fn, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in params)


def build_model(cfg, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    """The model of ``cfg`` for samples of ``input_shape`` and ``n_classes`` classes."""
    if cfg.name == "mlp":
        return _mlp(cfg, input_shape, n_classes)
    if cfg.name == "linear":
        return _linear(cfg, input_shape, n_classes)
    if cfg.name in ("lenet5", "resnet") and len(input_shape) != 3:
        raise ConfigError(f"model={cfg.name}: needs images [C, H, W], got samples of shape "
                          f"{list(input_shape)}")
    if cfg.name == "lenet5":
        return LeNet5(input_shape, n_classes, cfg.channels, cfg.hidden,
                      ACTIVATIONS[cfg.activation], cfg.pool)
    if cfg.name == "resnet":
        return CifarResNet(input_shape[0], n_classes, cfg.depth, cfg.width)
    fn = resolve_target(cfg._target_)
    kwargs = dict(cfg.kwargs)
    if cfg.num_classes == "auto":
        if _accepts(fn, "num_classes"):
            kwargs.setdefault("num_classes", n_classes)
    elif cfg.num_classes is not None:
        kwargs["num_classes"] = cfg.num_classes
    try:
        model = fn(**kwargs)
    except TypeError as err:
        raise ConfigError(f"model._target_: {cfg._target_}(**{kwargs}) failed: {err}") from None
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model._target_: {cfg._target_} returned a "
                          f"{type(model).__name__}, not a torch.nn.Module")
    return model


def _linear(cfg: LinearConfig, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    layer = nn.Linear(math.prod(input_shape), n_classes, bias=cfg.bias)
    if cfg.init == "constant":
        with torch.no_grad():
            for param in layer.parameters():
                param.fill_(cfg.init_value)
    return nn.Sequential(nn.Flatten(), layer)


def _mlp(cfg: MLPConfig, input_shape: tuple[int, ...], n_classes: int) -> nn.Module:
    in_features = math.prod(input_shape)
    layers: list[nn.Module] = [nn.Flatten()]
    for width in cfg.hidden:
        layers += [nn.Linear(in_features, width), ACTIVATIONS[cfg.activation]()]
        in_features = width
    layers.append(nn.Linear(in_features, n_classes))
    return nn.Sequential(*layers)


class LeNet5(nn.Module):
    def __init__(self, input_shape, n_classes: int, channels=(6, 16), hidden=(120, 84),
                 activation=nn.Tanh, pool: str = "max"):
        super().__init__()
        c, h, w = input_shape  # at least 4x4: checked with the config (check_model_data)
        pooling = nn.MaxPool2d if pool == "max" else nn.AvgPool2d
        pad2 = 2 if min(h, w) // 2 < 10 else 0
        self.features = nn.Sequential(
            nn.Conv2d(c, channels[0], 5, padding=2), activation(), pooling(2),
            nn.Conv2d(channels[0], channels[1], 5, padding=pad2), activation(), pooling(2))
        with torch.no_grad():
            n_flat = self.features(torch.zeros(1, c, h, w)).numel()
        layers: list[nn.Module] = [nn.Flatten()]
        for width in hidden:
            layers += [nn.Linear(n_flat, width), activation()]
            n_flat = width
        layers.append(nn.Linear(n_flat, n_classes))
        self.classifier = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and a shortcut (1x1 convolution on a shape
    change: option B of He et al.)."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, in_channels: int, n_classes: int, depth: int = 20, width: int = 16):
        super().__init__()
        n = (depth - 2) // 6
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        blocks, c = [], width
        for stage, c_out in enumerate((width, 2 * width, 4 * width)):
            for i in range(n):
                blocks.append(BasicBlock(c, c_out, 2 if (stage > 0 and i == 0) else 1))
                c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))
