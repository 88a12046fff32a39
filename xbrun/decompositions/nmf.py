"""Non-negative matrix factorization of the split gradient.

A signed gradient has no non-negative factorization, so it is split ``G = G+ - G-`` with
``G+ = max(G, 0)`` and ``G- = max(-G, 0)``, and each part is factorized with Lee and Seung's
multiplicative updates for the Frobenius loss (Nature 1999; NIPS 2001), initialized by NNDSVDa
(Boutsidis and Gallopoulos, Pattern Recognition 2008). Written in torch, so it runs on the
tensors' device. This suits crossbars that update a differential pair (G+ and G- devices) or that
can only pulse one polarity per phase: every factor pair has one sign.
"""

from __future__ import annotations

import torch
from torch import Tensor

from xbrun.errors import ConfigError

from .base import Factors, GenericDecomposition, check_rank

__all__ = ["NMF"]


def _nndsvda(p: Tensor, r: int) -> tuple[Tensor, Tensor]:
    """NNDSVD initialization of ``p ~= w @ h`` with zeros filled by ``mean(p)`` (NNDSVDa)."""
    u, s, vh = torch.linalg.svd(p, full_matrices=False)
    m, n = p.shape
    w = torch.zeros(m, r, dtype=p.dtype, device=p.device)
    h = torch.zeros(r, n, dtype=p.dtype, device=p.device)
    w[:, 0] = s[0].sqrt() * u[:, 0].abs()
    h[0] = s[0].sqrt() * vh[0].abs()
    for j in range(1, r):
        x, y = u[:, j], vh[j]
        xp, xn, yp, yn = x.clamp_min(0), (-x).clamp_min(0), y.clamp_min(0), (-y).clamp_min(0)
        xpn, xnn, ypn, ynn = xp.norm(), xn.norm(), yp.norm(), yn.norm()
        mp, mn = xpn * ypn, xnn * ynn
        if mp >= mn:
            a, b, sigma = xp / xpn.clamp_min(1e-30), yp / ypn.clamp_min(1e-30), mp
        else:
            a, b, sigma = xn / xnn.clamp_min(1e-30), yn / ynn.clamp_min(1e-30), mn
        lbd = (s[j] * sigma).sqrt()
        w[:, j] = lbd * a
        h[j] = lbd * b
    avg = p.mean()
    w = torch.where(w == 0, avg, w)
    h = torch.where(h == 0, avg, h)
    return w, h


def nmf_multiplicative(p: Tensor, r: int, n_iters: int, eps: float) -> tuple[Tensor, Tensor]:
    """Non-negative ``w (m, r)``, ``h (r, n)`` with ``p ~= w @ h`` (Lee-Seung updates)."""
    if not bool((p > 0).any()):
        return (
            torch.zeros(p.shape[0], r, dtype=p.dtype, device=p.device),
            torch.zeros(r, p.shape[1], dtype=p.dtype, device=p.device),
        )
    w, h = _nndsvda(p, r)
    for _ in range(n_iters):
        h = h * (w.T @ p) / ((w.T @ w) @ h + eps)
        w = w * (p @ h.T) / (w @ (h @ h.T) + eps)
    return w, h


class NMF(GenericDecomposition):
    """Split positive/negative NMF: ``2 * k`` signed rank-1 factors, ``k = min(rank, out, in)``.

    ``G+ ~= W+ H+`` and ``G- ~= W- H-`` with non-negative ``W, H``; ``left = [W+^T; -W-^T]`` and
    ``right = [H+; H-]``, so the first ``k`` rows of ``left`` are >= 0 (positive part), the last
    ``k`` are <= 0 (negative part) and every row of ``right`` is >= 0. Each component is rescaled
    so that its two vectors have equal norms (balance, see :mod:`.base`).

    Parameters
    ----------
    rank:
        Components per part (``2 * rank`` rank-1 updates in all).
    n_iters:
        Multiplicative-update iterations per part and batch.
    eps:
        Added to the update denominators (avoids division by zero).
    """

    name = "nmf"
    _uses_gradient = True

    def __init__(self, rank: int = 1, n_iters: int = 50, eps: float = 1e-12) -> None:
        super().__init__()
        self.rank = check_rank(rank)
        if isinstance(n_iters, bool) or not isinstance(n_iters, int) or n_iters < 0:
            raise ConfigError(f"decomposition.n_iters must be an integer >= 0, got {n_iters!r}")
        if not isinstance(eps, (int, float)) or not eps > 0:
            raise ConfigError(f"decomposition.eps must be a positive number, got {eps!r}")
        self.n_iters = n_iters
        self.eps = float(eps)

    def __repr__(self) -> str:
        return f"NMF(rank={self.rank}, n_iters={self.n_iters})"

    def _factorize(self, input, delta, gradient, group) -> Factors:
        g = self.dense_gradient(input, delta, gradient)
        k = min(self.rank, *g.shape)
        lefts, rights = [], []
        for sign, part in ((1.0, g.clamp_min(0)), (-1.0, (-g).clamp_min(0))):
            w, h = nmf_multiplicative(part, k, self.n_iters, self.eps)
            wn, hn = w.norm(dim=0), h.norm(dim=1)
            scale = torch.where((wn > 0) & (hn > 0), (hn / wn.clamp_min(1e-30)).sqrt(), 1.0)
            lefts.append(sign * (w * scale).T)
            rights.append(h / scale.unsqueeze(1))
        return torch.cat(lefts), torch.cat(rights)
