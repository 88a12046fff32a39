"""Singular value decompositions of the batch gradient (after ``xbtorch.decomposition.svd``).

- :class:`FullSVD`: exact, ``torch.linalg.svd`` (CPU or GPU).
- :class:`TruncatedSVD`: best rank-``k`` approximation (Eckart and Young, 1936), computed by
  scikit-learn's ``TruncatedSVD`` (default, as in XBTorch), ``torch.svd_lowrank`` (randomized,
  Halko et al. 2011; runs on the GPU) or a truncated ``torch.linalg.svd`` (exact).

Factors are balanced: ``left = sqrt(s) u^T``, ``right = sqrt(s) v^T`` (see :mod:`.base`).
"""

from __future__ import annotations

import numpy as np
import torch

from xbrun.errors import ConfigError

from .base import Factors, GenericDecomposition, balanced_svd_factors, check_rank

__all__ = ["FullSVD", "TruncatedSVD"]

BACKENDS = ("sklearn", "torch_lowrank", "torch")


class FullSVD(GenericDecomposition):
    """Exact singular value decomposition ``G = U diag(S) Vh`` (``torch.linalg.svd``).

    Components whose singular value is below the numerical-rank threshold
    ``max(S) * max(out_dim, in_dim) * eps`` are dropped (at least one is kept): they carry no
    update, and the count of rank-1 updates is then the numerical rank of the gradient (at most
    the batch size). The reconstruction is exact to the working precision.
    """

    name = "svd"
    _uses_gradient = True

    def _factorize(self, input, delta, gradient, group) -> Factors:
        g = self.dense_gradient(input, delta, gradient)
        u, s, vh = torch.linalg.svd(g, full_matrices=False)
        tol = s[0] * max(g.shape) * torch.finfo(g.dtype).eps if s.numel() else 0.0
        keep = max(1, int((s > tol).sum().item()))
        return balanced_svd_factors(u[:, :keep], s[:keep], vh[:keep])


class TruncatedSVD(GenericDecomposition):
    """Rank-``rank`` truncated SVD of the batch gradient.

    Parameters
    ----------
    rank:
        Singular triplets kept. Must be below the number of features (``in_dim``, the columns of
        the gradient), as scikit-learn requires; a layer with fewer outputs than ``rank`` keeps
        ``out_dim`` triplets (then exact).
    backend:
        ``"sklearn"`` (default): ``sklearn.decomposition.TruncatedSVD`` on the CPU;
        ``"torch_lowrank"``: ``torch.svd_lowrank`` (randomized, on the tensors' device, faster);
        ``"torch"``: ``torch.linalg.svd`` truncated to ``rank`` (exact, on the device).
    n_iter:
        Power iterations of the randomized solvers (sklearn ``n_iter``, torch ``niter``).
    oversamples:
        Extra random vectors of ``torch_lowrank`` (its ``q = rank + oversamples``).
    algorithm:
        scikit-learn's ``algorithm`` (``"randomized"`` or ``"arpack"``).
    random_state:
        Seed of the randomized solvers (sklearn ``random_state``; seeds ``torch_lowrank`` by a
        forked RNG so the global one is left alone). ``None`` for fresh randomness.
    """

    name = "truncated_svd"
    _uses_gradient = True

    def __init__(
        self,
        rank: int = 1,
        backend: str = "sklearn",
        n_iter: int = 5,
        oversamples: int = 10,
        algorithm: str = "randomized",
        random_state: int | None = 0,
    ) -> None:
        super().__init__()
        self.rank = check_rank(rank)
        if backend not in BACKENDS:
            raise ConfigError(
                f"decomposition.backend must be one of {', '.join(BACKENDS)}, got {backend!r}"
            )
        if algorithm not in ("randomized", "arpack"):
            raise ConfigError(
                f"decomposition.algorithm must be randomized or arpack, got {algorithm!r}"
            )
        for key, val in (("n_iter", n_iter), ("oversamples", oversamples)):
            if isinstance(val, bool) or not isinstance(val, int) or val < 0:
                raise ConfigError(f"decomposition.{key} must be an integer >= 0, got {val!r}")
        self.backend = backend
        self.n_iter = n_iter
        self.oversamples = oversamples
        self.algorithm = algorithm
        self.random_state = random_state

    def __repr__(self) -> str:
        return f"TruncatedSVD(rank={self.rank}, backend={self.backend!r})"

    def _factorize(self, input, delta, gradient, group) -> Factors:
        g = self.dense_gradient(input, delta, gradient)
        out_dim, in_dim = g.shape
        if self.rank >= in_dim:
            raise ConfigError(
                f"decomposition.rank={self.rank} must be below the number of features "
                f"(in_dim={in_dim}) for truncated_svd; use decomposition=svd for full rank"
            )
        k = min(self.rank, out_dim)
        if not bool(g.any()):  # zero gradient: k zero pairs (and no solver warnings)
            return g.new_zeros(k, out_dim), g.new_zeros(k, in_dim)
        if self.backend == "torch":
            u, s, vh = torch.linalg.svd(g, full_matrices=False)
            return balanced_svd_factors(u[:, :k], s[:k], vh[:k])
        if self.backend == "torch_lowrank":
            q = min(k + self.oversamples, out_dim, in_dim)
            with torch.random.fork_rng(devices=[g.device] if g.is_cuda else []):
                if self.random_state is not None:
                    torch.manual_seed(self.random_state)
                u, s, v = torch.svd_lowrank(g, q=q, niter=self.n_iter)
            return balanced_svd_factors(u[:, :k], s[:k], v[:, :k].T)
        return self._sklearn(g, k)

    def _sklearn(self, g: torch.Tensor, k: int) -> Factors:
        if self.algorithm == "arpack" and k >= min(g.shape):
            raise ConfigError(
                f"decomposition.rank={k} must be below min(out_dim, in_dim)={min(g.shape)} "
                "for truncated_svd with algorithm=arpack"
            )
        # imported here: scikit-learn takes about a second to import, and only this
        # backend needs it
        from sklearn.decomposition import TruncatedSVD as _SkTruncatedSVD

        est = _SkTruncatedSVD(
            n_components=k,
            algorithm=self.algorithm,
            n_iter=self.n_iter,
            random_state=self.random_state,
        )
        us = est.fit_transform(g.detach().cpu().numpy())  # (out, k) = U diag(S)
        s = est.singular_values_
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.where(s > 0, us / np.where(s > 0, s, 1), 0.0)
        to = {"device": g.device, "dtype": g.dtype}
        vh = torch.as_tensor(est.components_, **to)
        return balanced_svd_factors(torch.as_tensor(u, **to), torch.as_tensor(s, **to), vh)
