"""Gradient decompositions: the batch gradient as ``k`` rank-1 (crossbar) updates.

Names follow XBTorch (``xbtorch.decomposition``)::

    from xbrun.decompositions import GenericDecomposition, FullOuterProduct, FullSVD
    from xbrun.decompositions import TruncatedSVD, StreamingBatchPCA, NMF

and :func:`build_decomposition` builds one from the ``decomposition=`` config.
"""

from __future__ import annotations

from typing import Any

from xbrun.errors import ConfigError

from .base import Factors, FullOuterProduct, GenericDecomposition, check_rank
from .nmf import NMF
from .pca import StreamingBatchPCA
from .svd import FullSVD, TruncatedSVD

__all__ = [
    "DECOMPOSITIONS",
    "Factors",
    "FullOuterProduct",
    "FullSVD",
    "GenericDecomposition",
    "NMF",
    "StreamingBatchPCA",
    "TruncatedSVD",
    "build_decomposition",
]

#: ``decomposition=`` name -> class
DECOMPOSITIONS: dict[str, type[GenericDecomposition]] = {
    "outer_product": FullOuterProduct,
    "svd": FullSVD,
    "truncated_svd": TruncatedSVD,
    "streaming_pca": StreamingBatchPCA,
    "nmf": NMF,
}

#: options each name accepts besides ``rank`` (``outer_product`` and ``svd`` ignore ``rank``)
OPTIONS: dict[str, tuple[str, ...]] = {
    "outer_product": (),
    "svd": (),
    "truncated_svd": ("backend", "n_iter", "oversamples", "algorithm", "random_state"),
    "streaming_pca": ("side", "covariance", "beta", "n_iters", "init_iters", "seed"),
    "nmf": ("n_iters", "eps"),
}


def build_decomposition(name: str, rank: int = 1, **options: Any) -> GenericDecomposition:
    """Build the decomposition ``name`` (one of :data:`DECOMPOSITIONS`) of rank ``rank``.

    ``rank`` is validated for every name (a positive integer) but only used by the low-rank
    ones. Options set to ``None`` are ignored (left at their defaults, even when the name has
    no such option). Raises :class:`ConfigError` with a
    one-line message on an unknown name, a bad rank or an unknown / invalid option.
    """
    if name not in DECOMPOSITIONS:
        raise ConfigError(f"decomposition must be one of {', '.join(DECOMPOSITIONS)}, got {name!r}")
    rank = check_rank(rank)
    allowed = OPTIONS[name]
    kwargs = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(k for k in kwargs if k not in allowed)
    if unknown:
        raise ConfigError(
            f"decomposition.{unknown[0]} is not an option of decomposition={name} "
            f"(allowed: {', '.join(('rank',) + allowed) if allowed else 'rank'})"
        )
    cls = DECOMPOSITIONS[name]
    if name in ("outer_product", "svd"):
        return cls(**kwargs)
    return cls(rank=rank, **kwargs)
