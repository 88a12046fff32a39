"""Data sets as in-memory tensors: small enough for that, and it keeps the loop simple."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import ConfigError

SPLIT_SEED = 20240501  # fixed: every run of every seed is scored on the same test split


@dataclass
class DataSplit:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def load_dataset(cfg) -> DataSplit:
    loaders = {"digits": _digits, "synthetic": _synthetic, "mnist": _mnist}
    split = loaders[cfg.name](cfg)
    if cfg.limit_train:
        split.x_train = split.x_train[: cfg.limit_train]
        split.y_train = split.y_train[: cfg.limit_train]
    return split


def _digits(cfg) -> DataSplit:
    """scikit-learn's 8x8 handwritten digits (1797 images, shipped with the library)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.data, dtype=torch.float32) / 16.0
    y = torch.tensor(bunch.target, dtype=torch.int64)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(SPLIT_SEED))
    n_test = int(round(cfg.test_fraction * len(y)))
    test, train = perm[:n_test], perm[n_test:]
    return DataSplit(x[train], y[train], x[test], y[test], 10)


def _synthetic(cfg) -> DataSplit:
    """A random-teacher classification task: labels are the argmax of a fixed random
    linear map of Gaussian inputs (learnable, no files, any size)."""
    gen = torch.Generator().manual_seed(SPLIT_SEED)
    n = cfg.n_train + cfg.n_test
    x = torch.rand(n, cfg.n_features, generator=gen)
    teacher = torch.randn(cfg.n_features, cfg.n_classes, generator=gen)
    logits = (x - 0.5) @ teacher
    y = logits.argmax(dim=1)
    return DataSplit(x[: cfg.n_train], y[: cfg.n_train], x[cfg.n_train:], y[cfg.n_train:],
                     cfg.n_classes)


def _mnist(cfg) -> DataSplit:
    from torchvision import datasets

    root = Path(cfg.root).expanduser().resolve()
    try:
        train = datasets.MNIST(str(root), train=True, download=cfg.download)
        test = datasets.MNIST(str(root), train=False, download=cfg.download)
    except RuntimeError as err:
        raise ConfigError(f"dataset.root: MNIST not found under {root / 'MNIST' / 'raw'} "
                          f"({err}); put the files there or set dataset.download=true") from None

    def tensors(ds):
        return ds.data.reshape(len(ds.data), -1).float() / 255.0, ds.targets.long()

    (xtr, ytr), (xte, yte) = tensors(train), tensors(test)
    return DataSplit(xtr, ytr, xte, yte, 10)
