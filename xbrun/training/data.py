"""Data sets as in-memory tensors: small enough for that, and it keeps the loop simple.

Each ``dataset=`` option has its own config dataclass, so only keys that mean something for
it are offered; all share ``root``, ``download``, ``limit_train`` and ``limit_test`` so one
sweep can span several data sets (``-m dataset=digits,mnist dataset.root=/data``). Images
come as ``[N, C, H, W]`` floats in ``[0, 1]`` (digits as ``1x8x8``), so convolutional models
see images and the MLP flattens them. The digits' test split and every validation split
(``val_fraction``, carved from the training samples) are stratified by class and seeded
with :data:`SPLIT_SEED`, as scikit-learn's ``train_test_split(stratify=y)``: every run of
every seed is selected and scored on the same samples. ``regression`` is the one task that is not
classification: float targets ``y = W* x`` of a fixed random matrix ``W*``, which the split
carries (``DataSplit.target``) so the loop can score the learned weights against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch

from ..errors import ConfigError
from ..schema import check, pick

SPLIT_SEED = 20240501  # fixed: every run of every seed is scored on the same test split
DIGITS = 1797  # samples of scikit-learn's digits


@dataclass
class DataSplit:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int  # outputs of the model (classes, or out_features of a regression)
    target: torch.Tensor | None = None  # W* [out, in] of a regression task, else None
    x_val: torch.Tensor | None = None  # the validation split (dataset.val_fraction > 0)
    y_val: torch.Tensor | None = None

    @property
    def is_regression(self) -> bool:
        return self.target is not None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


@dataclass
class _DatasetBase:
    """Keys every data set takes. ``root``/``download`` matter to the torchvision sets only
    (kept everywhere so a sweep over data sets can set them once)."""

    name: str = "digits"
    root: str = "data"
    download: bool = False
    limit_train: int = 0  # use only the first N training samples (0: all)
    limit_test: int = 0  # score only the first N test samples (0: all)
    # share of the training samples held out as a validation split (stratified, seeded),
    # on which `objective` and early stopping select; null: 0.1 when a sweeper optimises or
    # early_stop is on, else 0 (no validation split)
    val_fraction: float | None = None

    def validate(self, key: str) -> None:
        for name in ("limit_train", "limit_test"):
            check(getattr(self, name) >= 0, f"{key}.{name}",
                  "an integer >= 0 (0: all samples)", getattr(self, name))
        if self.val_fraction is not None:
            check(0 <= self.val_fraction < 1, f"{key}.val_fraction",
                  "a number in [0, 1) (0: no validation split) or null", self.val_fraction)

    @property
    def images(self) -> tuple[int, ...] | None:
        """``(C, H, W)`` of its samples, or None for flat feature vectors."""
        return None


@dataclass
class DigitsConfig(_DatasetBase):
    """scikit-learn's 8x8 handwritten digits (1797 images, shipped with the library)."""

    name: Literal["digits"] = "digits"
    test_fraction: float = 0.2

    def validate(self, key: str) -> None:
        super().validate(key)
        n_test = int(round(self.test_fraction * DIGITS))
        check(0 < self.test_fraction < 1 and 1 <= n_test < DIGITS, f"{key}.test_fraction",
              f"a number in (0, 1) that leaves both splits of the {DIGITS} digits non-empty "
              f"([{0.5 / DIGITS:.2g}, {1 - 0.5 / DIGITS:.4g}])", self.test_fraction)

    @property
    def images(self) -> tuple[int, ...]:
        return (1, 8, 8)


@dataclass
class SyntheticConfig(_DatasetBase):
    """A random-teacher task: labels are the argmax of a fixed random linear map of uniform
    inputs. ``image_shape=[C, H, W]`` makes them images (then ``n_features`` is C*H*W)."""

    name: Literal["synthetic"] = "synthetic"
    n_train: int = 2000
    n_test: int = 500
    n_features: int = 64
    n_classes: int = 10
    image_shape: list[int] = field(default_factory=list)

    def validate(self, key: str) -> None:
        super().validate(key)
        for name in ("n_train", "n_test", "n_features"):
            check(getattr(self, name) >= 1, f"{key}.{name}", "an integer >= 1",
                  getattr(self, name))
        check(self.n_classes >= 2, f"{key}.n_classes", "an integer >= 2", self.n_classes)
        shape = self.image_shape
        check(not shape or (len(shape) == 3 and all(s >= 1 for s in shape)),
              f"{key}.image_shape", "[] (flat vectors) or [C, H, W] with positive sizes", shape)

    @property
    def images(self) -> tuple[int, ...] | None:
        return tuple(self.image_shape) if self.image_shape else None


@dataclass
class RegressionConfig(_DatasetBase):
    """Learn a fixed random matrix: inputs ``x ~ N(0, 1)``, targets ``y = W* x``, loss
    ``1/2 ||W x - W* x||^2`` per sample (summed over outputs, averaged over samples).

    One generator seeded with ``target_seed`` draws ``W* = target_scale * randn(out, in)``,
    then the training inputs, then the test inputs: with one output this is exactly
    ``torch.manual_seed(seed); w = scale * randn(in); A = randn(n_train, in)`` of the least
    squares scripts of Wu et al. (NeurIPS 2024/2025). ``seed`` does not change the task.
    """

    name: Literal["regression"] = "regression"
    in_features: int = 50
    out_features: int = 1
    n_train: int = 100
    n_test: int = 100
    target_seed: int = field(default=42, metadata={"range": (0, 2**63 - 1)})
    target_scale: float = 0.5

    def validate(self, key: str) -> None:
        super().validate(key)
        for name in ("in_features", "out_features", "n_train", "n_test"):
            check(getattr(self, name) >= 1, f"{key}.{name}", "an integer >= 1",
                  getattr(self, name))
        check(self.target_scale > 0, f"{key}.target_scale", "a number > 0", self.target_scale)

    @property
    def n_features(self) -> int:
        return self.in_features

    @property
    def n_classes(self) -> int:
        return self.out_features


#: torchvision data set -> (class name, folder under root that holds its files, files, shape)
TORCHVISION = {
    "mnist": ("MNIST", "MNIST/raw", ["train-images-idx3-ubyte", "t10k-images-idx3-ubyte"],
              (1, 28, 28)),
    "fashion_mnist": ("FashionMNIST", "FashionMNIST/raw",
                      ["train-images-idx3-ubyte", "t10k-images-idx3-ubyte"], (1, 28, 28)),
    "cifar10": ("CIFAR10", "cifar-10-batches-py", ["data_batch_1", "test_batch"], (3, 32, 32)),
}


@dataclass
class TorchvisionConfig(_DatasetBase):
    """MNIST, Fashion-MNIST or CIFAR-10 from torchvision's files under ``root``; offline by
    default (``download=true`` fetches them)."""

    name: Literal["mnist", "fashion_mnist", "cifar10"] = "mnist"

    @property
    def images(self) -> tuple[int, ...]:
        return TORCHVISION[self.name][3]

    @property
    def folder(self) -> Path:
        return Path(self.root).expanduser().resolve() / TORCHVISION[self.name][1]


DATASETS: dict[str, type] = {"digits": DigitsConfig, "synthetic": SyntheticConfig,
                             "regression": RegressionConfig,
                             "mnist": TorchvisionConfig, "fashion_mnist": TorchvisionConfig,
                             "cifar10": TorchvisionConfig}


def dataset_config(data: Any, key: str = "dataset"):
    """The typed config of a ``dataset`` group dict (picked by its ``name``)."""
    return pick(DATASETS, data, key, "name")


def load_dataset(cfg) -> DataSplit:
    loaders = {"digits": _digits, "synthetic": _synthetic, "regression": _regression}
    split = loaders.get(cfg.name, _torchvision)(cfg)
    if cfg.limit_train:
        split.x_train = split.x_train[: cfg.limit_train]
        split.y_train = split.y_train[: cfg.limit_train]
    if cfg.limit_test:
        split.x_test = split.x_test[: cfg.limit_test]
        split.y_test = split.y_test[: cfg.limit_test]
    if cfg.val_fraction:
        train, val = stratified_split(split.y_train, cfg.val_fraction,
                                      not split.is_regression, "dataset.val_fraction")
        split.x_val, split.y_val = split.x_train[val], split.y_train[val]
        split.x_train, split.y_train = split.x_train[train], split.y_train[train]
    return split


def stratified_split(y: torch.Tensor, fraction: float | int, stratify: bool = True,
                     key: str = "dataset") -> tuple[torch.Tensor, torch.Tensor]:
    """``(kept, held out)`` indices of ``y``, ``fraction`` held out (an int: that many):
    exactly scikit-learn's ``train_test_split(stratify=y, random_state=SPLIT_SEED)`` (each
    class in proportion; ``StratifiedShuffleSplit``'s draws, tests/test_evaluate.py checks
    them against scikit-learn's), or its seeded shuffle for float targets. Written out in
    numpy because importing scikit-learn costs more than a tiny run trains. Too few
    samples of a class is one line naming ``key``."""
    import numpy as np

    n = len(y)
    n_test = fraction if isinstance(fraction, int) else int(np.ceil(fraction * n))
    n_train = n - n_test
    rng = np.random.RandomState(SPLIT_SEED)
    if not stratify:
        order = rng.permutation(n)
        return torch.as_tensor(order[n_test:]), torch.as_tensor(order[:n_test])
    classes, inverse = np.unique(y.numpy(), return_inverse=True)
    counts = np.bincount(inverse)
    if counts.min() < 2 or min(n_train, n_test) < len(classes):
        raise ConfigError(f"{key}: {fraction} of {n} samples cannot be split by class ({n_test}"
                          f" held out, {len(classes)} classes, the rarest has {counts.min()} "
                          f"samples); use more samples or another fraction")
    members = np.split(np.argsort(inverse, kind="mergesort"), np.cumsum(counts)[:-1])
    kept_n = _approximate_mode(counts, n_train, rng)
    held_n = _approximate_mode(counts - kept_n, n_test, rng)
    kept, held = [], []
    for i in range(len(classes)):
        drawn = members[i].take(rng.permutation(counts[i]), mode="clip")
        kept.extend(drawn[: kept_n[i]])
        held.extend(drawn[kept_n[i]: kept_n[i] + held_n[i]])
    return (torch.as_tensor(rng.permutation(kept), dtype=torch.int64),
            torch.as_tensor(rng.permutation(held), dtype=torch.int64))


def _approximate_mode(counts, draws: int, rng):
    """scikit-learn's ``_approximate_mode``: ``draws`` shared out in proportion to
    ``counts``, the remainders handed out largest first (ties drawn by ``rng``)."""
    import numpy as np

    continuous = counts / counts.sum() * draws
    floored = np.floor(continuous)
    missing = int(draws - floored.sum())
    if missing > 0:
        remainder = continuous - floored
        ordered = np.sort(remainder)  # its distinct values: np.unique of floats would
        # import numpy.ma (numpy 2.4), a tenth of a second of a tiny run
        for value in ordered[np.append(ordered[1:] != ordered[:-1], True)][::-1]:
            (where,) = np.where(remainder == value)
            now = min(len(where), missing)
            floored[rng.choice(where, size=now, replace=False)] += 1
            missing -= now
            if missing == 0:
                break
    return floored.astype(int)


def digits_arrays():
    """scikit-learn's digits ``(data [1797, 64], target [1797])`` as ``load_digits`` gives
    them, read from the file scikit-learn ships: importing scikit-learn takes longer (about
    a second on two cores) than a tiny run trains."""
    import gzip
    import importlib.util

    import numpy as np

    spec = importlib.util.find_spec("sklearn")  # finds the package without importing it
    roots = spec.submodule_search_locations if spec is not None else None
    path = Path(roots[0]) / "datasets" / "data" / "digits.csv.gz" if roots else None
    if path is None or not path.is_file():  # another layout: ask scikit-learn itself
        from sklearn.datasets import load_digits

        return load_digits(return_X_y=True)
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        data = np.loadtxt(handle, delimiter=",")
    return data[:, :-1], data[:, -1].astype(int, copy=False)


def _digits(cfg: DigitsConfig) -> DataSplit:
    data, target = digits_arrays()
    x = torch.tensor(data, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    y = torch.tensor(target, dtype=torch.int64)
    n_test = int(round(cfg.test_fraction * len(y)))
    train, test = stratified_split(y, n_test, key="dataset.test_fraction")
    return DataSplit(x[train], y[train], x[test], y[test], 10)


def _synthetic(cfg: SyntheticConfig) -> DataSplit:
    gen = torch.Generator().manual_seed(SPLIT_SEED)
    n = cfg.n_train + cfg.n_test
    shape = cfg.images or (cfg.n_features,)
    features = 1
    for s in shape:
        features *= s
    x = torch.rand(n, features, generator=gen)
    teacher = torch.randn(features, cfg.n_classes, generator=gen)
    y = ((x - 0.5) @ teacher).argmax(dim=1)
    x = x.reshape(n, *shape)
    return DataSplit(x[: cfg.n_train], y[: cfg.n_train], x[cfg.n_train:], y[cfg.n_train:],
                     cfg.n_classes)


def _regression(cfg: RegressionConfig) -> DataSplit:
    gen = torch.Generator().manual_seed(cfg.target_seed)
    target = cfg.target_scale * torch.randn(cfg.out_features, cfg.in_features, generator=gen)
    x_train = torch.randn(cfg.n_train, cfg.in_features, generator=gen)
    x_test = torch.randn(cfg.n_test, cfg.in_features, generator=gen)
    return DataSplit(x_train, x_train @ target.T, x_test, x_test @ target.T,
                     cfg.out_features, target)


def require_files(cfg) -> None:
    """A torchvision set without ``download`` needs its files under ``root`` (checked before a
    run starts, so a missing set costs no run folder)."""
    if cfg.name not in TORCHVISION or cfg.download:
        return
    cls_name, _, files, _ = TORCHVISION[cfg.name]
    try:
        found = all((cfg.folder / f).is_file() for f in files)
    except OSError as err:  # a folder on the way that this user may not read
        raise ConfigError(f"dataset.root: cannot read {cfg.folder} ({err.strerror or err})"
                          ) from None
    if not found:
        root = Path(cfg.root).expanduser().resolve()
        raise ConfigError(f"dataset.root: {cls_name} not found under {cfg.folder} (expected "
                          f"{', '.join(files)}, ...); fetch it once with `python -c \"from "
                          f"torchvision import datasets; datasets.{cls_name}('{root}', "
                          f"download=True)\"`, set dataset.download=true, or point "
                          f"dataset.root at a folder that holds it")


def _torchvision(cfg: TorchvisionConfig) -> DataSplit:
    from torchvision import datasets

    cls_name = TORCHVISION[cfg.name][0]
    root = Path(cfg.root).expanduser().resolve()
    require_files(cfg)
    cls = getattr(datasets, cls_name)
    try:
        train = cls(str(root), train=True, download=cfg.download)
        test = cls(str(root), train=False, download=cfg.download)
    except Exception as err:  # torchvision raises RuntimeError / URLError / OSError
        raise ConfigError(f"dataset.root: could not read {cls_name} under {cfg.folder} "
                          f"({type(err).__name__}: {err}); put the files there or set "
                          f"dataset.download=true") from None

    def tensors(ds):
        data = torch.as_tensor(ds.data)
        if data.dim() == 3:  # MNIST-like [N, H, W]
            data = data.unsqueeze(1)
        else:  # CIFAR [N, H, W, C]
            data = data.permute(0, 3, 1, 2)
        return data.float() / 255.0, torch.as_tensor(ds.targets).long()

    (xtr, ytr), (xte, yte) = tensors(train), tensors(test)
    return DataSplit(xtr.contiguous(), ytr, xte.contiguous(), yte, 10)
