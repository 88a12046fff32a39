"""The ``decomposition`` config group this package registers: ``DecompositionConfig``, its
options' defaults (the keywords of each method's class) and the check of its values."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, fields
from typing import Literal

from ..schema import check
from . import DECOMPOSITIONS


@dataclass
class DecompositionConfig:
    """How the batch gradient becomes the rank-1 updates the crossbar applies.

    An option has only its method's keys (Hydra rejects the others), their defaults those of
    the method's class in ``xbrun.decompositions`` (:func:`method_defaults`); ``None`` means
    "the method's default" (or "not an option of this method").
    """

    name: Literal["outer_product", "svd", "truncated_svd", "streaming_pca", "nmf"] = (
        "outer_product")
    rank: int = 1  # k rank-1 updates per step (outer_product and svd: unused)
    # truncated_svd: sklearn (XBTorch's choice) | torch_lowrank (GPU, randomized) | torch (exact)
    backend: Literal["sklearn", "torch_lowrank", "torch"] | None = None
    n_iter: int | None = None  # truncated_svd: power iterations of the randomized solvers
    oversamples: int | None = None  # truncated_svd: extra random directions of those solvers
    side: Literal["input", "delta", "both"] | None = None  # streaming_pca: subspace tracked
    # streaming_pca: what the subspace is the principal space of
    covariance: Literal["gradient", "activation"] | None = None
    beta: float | None = None  # streaming_pca: memory of the running covariance (0: none)
    # nmf: multiplicative-update iterations; streaming_pca: power iterations per step
    n_iters: int | None = None
    init_iters: int | None = None  # streaming_pca: power iterations on the first batch

    def validate(self, key: str) -> None:
        check(self.rank >= 1, f"{key}.rank", "an integer >= 1", self.rank)
        if self.beta is not None:
            check(0 <= self.beta < 1, f"{key}.beta", "a number in [0, 1)", self.beta)
        for name in ("n_iter", "oversamples", "n_iters", "init_iters"):
            value = getattr(self, name)
            if value is not None:
                check(value >= 0, f"{key}.{name}", "an integer >= 0", value)


#: decompositions that use ``decomposition.rank`` (the others ignore it)
RANKED = ("truncated_svd", "streaming_pca", "nmf")


def method_defaults(name: str) -> DecompositionConfig:
    """``decomposition=NAME``: the keywords of its class's constructor that the config has,
    at the class's defaults (the one place they are written)."""
    keys = {f.name for f in fields(DecompositionConfig)} - {"name"}
    params = inspect.signature(DECOMPOSITIONS[name]).parameters.values()
    return DecompositionConfig(name=name, **{p.name: p.default for p in params
                                             if p.name in keys and p.default is not p.empty})


#: the options of the group by name, at their defaults (``config.SCHEMAS`` gathers them)
SCHEMAS = {"decomposition": {name: method_defaults(name) for name in DECOMPOSITIONS}}
