"""Streaming batch eigenupdates (Hoskins et al., Front. Neurosci. 13:793, 2019).

The idea of the paper: the principal singular subspaces of successive batch gradients of a
layer change slowly, so a crossbar can keep a small estimate of them (O(k (in + out)) memory,
instead of the O(in * out) of an accumulated gradient), refresh it from each batch with streaming
matrix-vector products over the samples, and apply the batch gradient as ``k`` rank-1 updates
along the tracked directions.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from xbrun.errors import ConfigError

from .base import Factors, GenericDecomposition, balanced_svd_factors, check_rank

__all__ = ["StreamingBatchPCA"]

SIDES = ("both", "input", "delta")
COVARIANCES = ("gradient", "activation")


class StreamingBatchPCA(GenericDecomposition):
    """Streaming batch PCA / eigenupdate of the gradient, with state per ``group_param_idx``.

    For every parameter group (``group_param_idx``, any hashable; one per weight matrix) it
    tracks an orthonormal basis ``V`` ``(in_dim, k)`` of the input side and/or ``U``
    ``(out_dim, k)`` of the delta side, with eigenvalue estimates, of a running covariance:

    - ``covariance="gradient"`` (default): ``C_t = beta * C_{t-1} + (1 - beta) * G_t^T G_t`` on
      the input side and ``... G_t G_t^T`` on the delta side, with ``G_t = delta_t^T x_t`` the
      batch gradient: the tracked subspaces are the running top-``k`` right/left singular
      subspaces of the gradient stream.
    - ``covariance="activation"``: ``x_t^T x_t`` and ``delta_t^T delta_t`` instead (the input and
      delta covariances); needs the per-sample ``input`` and ``delta``.

    ``C_{t-1}`` is kept only in its rank-``k`` form ``Q diag(lam) Q^T``. Each step runs
    ``n_iters`` block power (subspace) iterations on ``C_t``, warm-started from the previous
    basis: ``Y = (1 - beta) * C_batch Q + beta * Q_prev diag(lam_prev) Q_prev^T Q``, where
    ``C_batch Q`` is streamed over the samples (``x^T (d (d^T (x Q))))`` on the input side: no
    ``(out, in)`` or ``(dim, dim)`` matrix is formed, memory is ``O(k (in + out))``); then
    ``Q, lam`` = left singular vectors / values of ``Y`` (ordered; the eigenpairs at
    convergence). A group's first batch starts from a seeded random basis and runs ``init_iters``
    iterations.

    Defaults: ``beta=0`` (the basis follows each batch; it is carried across steps as the warm
    start of a single streamed power iteration, the eigen-*update*), ``side="input"``. On a
    digits MLP these gave the lowest reconstruction error and best accuracy at rank 2 and 4
    (``beta`` 0.5-0.9 smooths the subspace over batches and lagged the moving gradient; ``side=
    "both"`` adds a second projection). ``beta`` close to 1 estimates the stationary top-``k``
    eigenvectors of the stream (what the tests check).

    Factors: the batch gradient projected onto the tracked subspace(s): ``G V V^T``
    (``side="input"``), ``U U^T G`` (``"delta"``) or ``U U^T G V V^T`` (``"both"``), written as
    ``k`` balanced rank-1 pairs through the SVD of the small projected matrix (``G V`` is
    ``(out, k)``, ``U^T G V`` is ``k x k``); ``k = min(rank, dim)`` per side. Every call to
    :meth:`factors` / :meth:`decompose` is one step of the state.

    This is an own rendering of the paper's idea (eigenvectors tracked across batches, refreshed
    from each batch by streamed products, the gradient applied as a few rank-1 updates along
    them); the paper's exact per-sample update rule may differ.

    State: :meth:`state_dict` / :meth:`load_state_dict` (checkpoint and resume), :meth:`reset`.
    """

    name = "streaming_pca"

    def __init__(
        self,
        rank: int = 1,
        side: str = "input",
        covariance: str = "gradient",
        beta: float = 0.0,
        n_iters: int = 1,
        init_iters: int = 8,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.rank = check_rank(rank)
        if side not in SIDES:
            raise ConfigError(f"decomposition.side must be one of {', '.join(SIDES)}, got {side!r}")
        if covariance not in COVARIANCES:
            raise ConfigError(
                f"decomposition.covariance must be one of {', '.join(COVARIANCES)}, "
                f"got {covariance!r}"
            )
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 <= beta < 1:
            raise ConfigError(f"decomposition.beta must be a number in [0, 1), got {beta!r}")
        for key, val in (("n_iters", n_iters), ("init_iters", init_iters)):
            if isinstance(val, bool) or not isinstance(val, int) or val < 1:
                raise ConfigError(f"decomposition.{key} must be a positive integer, got {val!r}")
        self.side = side
        self.covariance = covariance
        self.beta = float(beta)
        self.n_iters = n_iters
        self.init_iters = init_iters
        self.seed = int(seed)
        self._groups: dict[Any, dict[str, Any]] = {}

    def __repr__(self) -> str:
        return (
            f"StreamingBatchPCA(rank={self.rank}, side={self.side!r}, "
            f"covariance={self.covariance!r}, beta={self.beta})"
        )

    # -- state -----------------------------------------------------------------------------
    def reset(self) -> None:
        self._groups.clear()

    def state_dict(self) -> dict[str, Any]:
        groups = {
            key: {
                name: (val.detach().clone() if isinstance(val, Tensor) else val)
                for name, val in st.items()
            }
            for key, st in self._groups.items()
        }
        return {
            "rank": self.rank,
            "side": self.side,
            "covariance": self.covariance,
            "groups": groups,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("rank", "side", "covariance"):
            if state.get(key) != getattr(self, key):
                raise ConfigError(
                    f"decomposition.{key}={getattr(self, key)!r} does not match the checkpoint's "
                    f"{state.get(key)!r}"
                )
        self._groups = {
            key: {
                name: (val.detach().clone() if isinstance(val, Tensor) else val)
                for name, val in st.items()
            }
            for key, st in state["groups"].items()
        }

    def subspace(self, group_param_idx: Any = None, side: str = "input") -> Tensor | None:
        """The tracked orthonormal basis of a group: ``V`` (``side="input"``) or ``U``
        (``"delta"``), columns ordered by decreasing eigenvalue; ``None`` before its first step."""
        st = self._groups.get(group_param_idx)
        if st is None:
            return None
        return st.get("V" if side == "input" else "U")

    def steps(self, group_param_idx: Any = None) -> int:
        """Batches a group has seen since the last reset."""
        st = self._groups.get(group_param_idx)
        return 0 if st is None else int(st["steps"])

    # -- computation -----------------------------------------------------------------------
    def _factorize(self, input, delta, gradient, group) -> Factors:
        if input is None:
            if self.covariance == "activation":
                raise ValueError("covariance='activation' needs the per-sample input and delta")
            # a dense gradient is the sum of its columns' outer products
            g = gradient
            input = torch.eye(g.shape[1], device=g.device, dtype=g.dtype)
            delta = g.T
        x, d = input, delta
        out_dim, in_dim = d.shape[1], x.shape[1]
        st = self._groups.get(group)
        if st is not None and st.get("shape") != (out_dim, in_dim):
            raise ValueError(
                f"group_param_idx={group!r} was tracked with gradient shape {st.get('shape')}, "
                f"got {(out_dim, in_dim)}: give each parameter its own group_param_idx"
            )
        first = st is None
        if first:
            st = {"shape": (out_dim, in_dim), "steps": 0}
        iters = self.init_iters if first else self.n_iters
        if self.side in ("both", "input"):
            st["V"], st["lam_v"] = self._update(
                st.get("V"), st.get("lam_v"), in_dim, x, d, "input", iters
            )
        if self.side in ("both", "delta"):
            st["U"], st["lam_u"] = self._update(
                st.get("U"), st.get("lam_u"), out_dim, x, d, "delta", iters
            )
        st["steps"] = int(st["steps"]) + 1
        self._groups[group] = st

        if self.side == "both":
            u, v = st["U"], st["V"]
            core = (d @ u).T @ (x @ v)  # U^T G V, (ku, kv)
            a, s, bh = torch.linalg.svd(core, full_matrices=False)
            return balanced_svd_factors(u @ a, s, bh @ v.T)
        if self.side == "input":
            v = st["V"]
            p = d.T @ (x @ v)  # G V, (out, k)
            a, s, bh = torch.linalg.svd(p, full_matrices=False)
            return balanced_svd_factors(a, s, bh @ v.T)
        u = st["U"]
        p = x.T @ (d @ u)  # G^T U, (in, k)
        a, s, bh = torch.linalg.svd(p, full_matrices=False)  # U^T G = bh^T s a^T
        return balanced_svd_factors(u @ bh.T, s, a.T)

    def _apply_batch_cov(self, q: Tensor, x: Tensor, d: Tensor, side: str) -> Tensor:
        """``C_batch @ q`` from the samples, without forming any ``(dim, dim)`` matrix."""
        if self.covariance == "activation":
            z = x if side == "input" else d
            return z.T @ (z @ q)
        if side == "input":  # G^T G q = x^T d d^T x q
            return x.T @ (d @ (d.T @ (x @ q)))
        return d.T @ (x @ (x.T @ (d @ q)))  # G G^T q

    def _update(
        self,
        q_prev: Tensor | None,
        lam_prev: Tensor | None,
        dim: int,
        x: Tensor,
        d: Tensor,
        side: str,
        iters: int,
    ) -> tuple[Tensor, Tensor]:
        k = min(self.rank, dim)
        to = {"device": x.device, "dtype": x.dtype}
        if q_prev is None:
            gen = torch.Generator().manual_seed(self.seed)
            q0 = torch.randn(dim, k, generator=gen, dtype=torch.float64)
            q = torch.linalg.qr(q0).Q.to(**to)
            beta = 0.0
        else:
            q_prev, lam_prev = q_prev.to(**to), lam_prev.to(**to)
            q = q_prev
            beta = self.beta
        lam = torch.zeros(k, **to)
        for _ in range(iters):
            y = (1.0 - beta) * self._apply_batch_cov(q, x, d, side)
            if beta > 0.0:
                y = y + beta * (q_prev * lam_prev) @ (q_prev.T @ q)
            q, lam, _ = torch.linalg.svd(y, full_matrices=False)
        return q, lam
