"""The low-rank fit of one matrix: ``Y = X @ W + bias`` by ``X @ Wa @ Wb + new_bias``.

API after MosaicML composer's ``factorize_core`` (names and documented behaviour; own code):
:class:`LowRankSolution` bundles the two factors, the bias and the fit quality;
:func:`factorize_matrix` computes them. ``conv.py`` unfolds a convolution into this problem.

Method
------
The objective ``||Y - (X @ Wa @ Wb + new_bias)||_F^2`` is a reduced-rank regression, which has a
closed-form global optimum. With ``Xc``, ``Yc`` the column-centred data (the bias absorbs the
means) and ``W0`` the current operator (``Wa`` or ``Wa @ Wb``):

1. least squares, as a minimum-norm correction of the current operator:
   ``W_ls = W0 + pinv(Xc) @ (Yc - Xc @ W0)``; directions the calibration data never excites
   keep the behaviour of ``W0`` instead of being zeroed;
2. the fitted outputs ``Xc @ W_ls`` are projected onto their top-``rank`` principal directions
   ``V_k`` (right singular vectors): ``Wa = W_ls @ V_k``, ``Wb = V_k.T``;
3. ``new_bias = mean(Y) - mean(X) @ Wa @ Wb``.

This is the optimum because the least-squares residual is orthogonal to every ``Xc @ W`` and the
best rank-``k`` approximation of the fitted outputs is their truncated SVD (Eckart-Young).
Everything is computed in float64 from the Gram matrices ``Xc.T @ Xc`` and ``Xc.T @ Yc``
(accumulated in chunks, so the calibration set is never copied whole).

``n_iters`` rounds of alternating least squares follow (``Wb`` given ``Wa``, then ``Wa`` given
``Wb``, each a minimum-norm correction). They never increase the error (the best iterate is
kept) and at the closed-form optimum they only polish rounding error; ``n_iters=0`` returns the
closed-form solution. Finally each latent channel is balanced (the column of ``Wa`` and the row
of ``Wb`` get the same norm, the product unchanged), so both factors use a similar conductance
range on a crossbar.

Rank
----
``rank`` is either an ``int`` >= 1 (that many latent features / channels) or a ``float`` in
``(0, 1]``, meaning ``max(1, floor(rank * min(D, M) + 1e-9))`` where ``D``, ``M`` are the input
and output sizes of the matrix problem (for a convolution ``D = in_channels * k_h * k_w`` and
``M = out_channels``); the ``1e-9`` absorbs representation error (``0.29 * 100`` gives 29). The
result is capped at ``min(D, M)`` and, for an already-factorized pair, at its current rank. At
that cap the factorization is exact: a dense matrix is split through its SVD and a factorized
pair asked for a rank >= its current rank is returned unchanged (copies).

nmse
----
``nmse = mean((Y - Y_hat)**2) / mean((Y - mean_rows(Y))**2)``: the mean squared error of the
returned factors' output ``Y_hat`` over all ``N * M`` entries, divided by the per-output-feature
variance (population, ddof 0) averaged over the ``M`` features. 0 means exact; 1 is what the
best constant (the per-feature mean, i.e. the bias alone) achieves. If ``Y`` is constant the nmse
is 0 when the fit is exact and ``inf`` otherwise. For a convolution the rows are all
``N * H_out * W_out`` output positions.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

_CHUNK_ROWS = 16384


@dataclass
class LowRankSolution:
    """Bundles tensors used by a factorized linear operator.

    The operator is split into two smaller linear operators: the first embeds the input in a
    ``rank``-dimensional space, the second maps that space to the original output space.

    Attributes:
        Wa: first linear operation. A matrix ``[D, rank]`` for a factorized linear operation; for
            a factorized convolution the shape of the original weight except along the output
            channel axis, ``[rank, in_channels, k_h, k_w]``.
        Wb: second linear operation: ``[rank, M]`` for a matrix, ``[out_channels, rank, 1, 1]``
            for a convolution.
        bias: vector added to the output of the second operation (length ``M`` /
            ``out_channels``).
        rank: output size of the first operation and input size of the second. Default -1.
        nmse: normalized mean squared error of the approximation on the data it was fitted on
            (see the module docstring): raw MSE divided by the variance of the original output;
            0 is exact, 1 is no better than chance. Default 0.0.
    """

    Wa: Tensor | None = None
    Wb: Tensor | None = None
    bias: Tensor | None = None
    rank: int = -1
    nmse: float = 0.0


# --------------------------------------------------------------------------- helpers


def resolve_rank(rank: int | float, in_size: int, out_size: int) -> int:
    """The integer rank that ``rank`` means for a ``[in_size, out_size]`` problem (uncapped
    for ints; floats as ``max(1, floor(rank * min(in_size, out_size) + 1e-9))``)."""
    if isinstance(rank, bool) or not isinstance(rank, (int, float)):
        raise ValueError(f"rank must be an int >= 1 or a float in (0, 1], got {rank!r}")
    if isinstance(rank, int):
        if rank < 1:
            raise ValueError(f"rank must be an int >= 1 or a float in (0, 1], got {rank!r}")
        return rank
    if not (0.0 < rank <= 1.0) or math.isnan(rank):
        raise ValueError(f"rank must be an int >= 1 or a float in (0, 1], got {rank!r}")
    return max(1, int(math.floor(rank * min(in_size, out_size) + 1e-9)))


def _chunks(n: int) -> Iterator[slice]:
    for start in range(0, n, _CHUNK_ROWS):
        yield slice(start, min(n, start + _CHUNK_ROWS))


def _pinv_psd(S: Tensor) -> Tensor:
    """Pseudo-inverse of a symmetric positive semi-definite float64 matrix."""
    if S.numel() == 0:
        return S.clone()
    evals, evecs = torch.linalg.eigh(S)
    top = evals.max().clamp_min(0.0)
    tol = top * S.shape[0] * 1e-13
    inv = torch.where(evals > tol, 1.0 / evals.clamp_min(1e-300), torch.zeros_like(evals))
    if float(top) <= 0.0:
        inv = torch.zeros_like(evals)
    return (evecs * inv) @ evecs.T


def _moments(X: Tensor, Y: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Means and centred Gram matrices (float64): mx, my, Sxx, Sxy, Syy (Syy only its trace)."""
    n = X.shape[0]
    mx = torch.zeros(X.shape[1], dtype=torch.float64, device=X.device)
    my = torch.zeros(Y.shape[1], dtype=torch.float64, device=X.device)
    for s in _chunks(n):
        mx += X[s].to(torch.float64).sum(0)
        my += Y[s].to(device=X.device, dtype=torch.float64).sum(0)
    mx /= n
    my /= n
    Sxx = torch.zeros(X.shape[1], X.shape[1], dtype=torch.float64, device=X.device)
    Sxy = torch.zeros(X.shape[1], Y.shape[1], dtype=torch.float64, device=X.device)
    syy = torch.zeros((), dtype=torch.float64, device=X.device)
    for s in _chunks(n):
        xc = X[s].to(torch.float64) - mx
        yc = Y[s].to(device=X.device, dtype=torch.float64) - my
        Sxx += xc.T @ xc
        Sxy += xc.T @ yc
        syy += (yc * yc).sum()
    return mx, my, Sxx, Sxy, syy


def _objective(Wa: Tensor, Wb: Tensor, Sxx: Tensor, Sxy: Tensor, syy: Tensor) -> float:
    """||Yc - Xc Wa Wb||^2 from the Gram matrices."""
    W = Wa @ Wb
    return float(syy - 2.0 * (W * Sxy).sum() + (W * (Sxx @ W)).sum())


def _balance(Wa: Tensor, Wb: Tensor) -> tuple[Tensor, Tensor]:
    na = Wa.norm(dim=0)
    nb = Wb.norm(dim=1)
    ok = (na > 0) & (nb > 0)
    s = torch.where(ok, torch.sqrt(nb / na.clamp_min(1e-300)), torch.ones_like(na))
    return Wa * s, Wb / s[:, None]


def _svd_split(W: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Exact split W = Wa @ Wb with k >= rank(W) columns (balanced through the SVD)."""
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)
    r = S.shape[0]
    root = S.sqrt()
    Wa = U * root
    Wb = root[:, None] * Vh
    if k > r:  # pad with zero latent channels (only when k > min(D, M), which is capped)
        Wa = torch.cat([Wa, Wa.new_zeros(Wa.shape[0], k - r)], 1)
        Wb = torch.cat([Wb, Wb.new_zeros(k - r, Wb.shape[1])], 0)
    return Wa[:, :k], Wb[:k]


def _nmse(X: Tensor, Y: Tensor, Wa: Tensor, Wb: Tensor, bias: Tensor) -> float:
    Wa64 = Wa.to(device=X.device, dtype=torch.float64)
    Wb64 = Wb.to(device=X.device, dtype=torch.float64)
    b64 = bias.to(device=X.device, dtype=torch.float64)
    n = Y.shape[0]
    my = torch.zeros(Y.shape[1], dtype=torch.float64, device=X.device)
    for s in _chunks(n):
        my += Y[s].to(device=X.device, dtype=torch.float64).sum(0)
    my /= n
    sse = torch.zeros((), dtype=torch.float64, device=X.device)
    var = torch.zeros((), dtype=torch.float64, device=X.device)
    for s in _chunks(n):
        y = Y[s].to(device=X.device, dtype=torch.float64)
        r = y - (X[s].to(torch.float64) @ Wa64 @ Wb64 + b64)
        sse += (r * r).sum()
        var += ((y - my) ** 2).sum()
    sse_f, var_f = float(sse), float(var)
    if var_f <= 0.0:
        return 0.0 if sse_f <= 0.0 else float("inf")
    return sse_f / var_f


# --------------------------------------------------------------------------- core


def factorize_matrix(X: Tensor, Y: Tensor, Wa: Tensor, Wb: Tensor | None = None,
                     bias: Tensor | None = None, rank: int | float = 0.25, n_iters: int = 3
                     ) -> LowRankSolution:
    """Approximates a matrix by factorizing it into a product of two smaller matrices.

    Given ``W`` of shape ``[D, M]`` (or an already-factorized pair ``W = Wa @ Wb``) and a bias of
    length ``M``, returns ``Wa`` ``[D, rank]``, ``Wb`` ``[rank, M]`` and ``new_bias`` ``[M]``
    minimizing ``||Y - (X @ Wa @ Wb + new_bias)||_F`` where ``Y = X @ W + bias``. When rows of
    ``X`` are samples of the input distribution this minimizes the expected output MSE. The
    solution is the closed-form global optimum (see the module docstring for the method, the
    meaning of a float ``rank`` and the ``nmse`` definition).

    Args:
        X: inputs ``[N, D]``.
        Y: outputs of the original operator on ``X``, ``[N, M]``.
        Wa: the matrix ``[D, M]`` to factorize, or (with ``Wb``) the first factor ``[D, d]``.
        Wb: optional second factor ``[d, M]`` (progressive factorization).
        bias: optional vector ``[M]`` added after the product (only used for ``M`` checks and
            as part of the current operator; the new bias is fitted).
        rank: latent size, int >= 1 or float fraction of ``min(D, M)``. Default 0.25.
        n_iters: alternating least-squares rounds after the closed form (>= 0). Default 3.

    Returns:
        A :class:`LowRankSolution` with tensors in ``Wa``'s dtype and device.
    """
    if X.dim() != 2 or Y.dim() != 2:
        raise ValueError(f"X and Y must be 2-D, got shapes {tuple(X.shape)}, {tuple(Y.shape)}")
    N, D = X.shape
    if Y.shape[0] != N:
        raise ValueError(f"X and Y need the same number of rows, got {N} and {Y.shape[0]}")
    if N < 1:
        raise ValueError("X must have at least one row")
    M = Y.shape[1]
    if Wa.dim() != 2 or Wa.shape[0] != D:
        raise ValueError(f"Wa must have shape [{D}, *], got {tuple(Wa.shape)}")
    if Wb is None:
        if Wa.shape[1] != M:
            raise ValueError(f"Wa must have shape [{D}, {M}], got {tuple(Wa.shape)}")
        cap = min(D, M)
    else:
        if Wb.dim() != 2 or Wb.shape != (Wa.shape[1], M):
            raise ValueError(f"Wb must have shape [{Wa.shape[1]}, {M}], got {tuple(Wb.shape)}")
        cap = min(D, M, Wa.shape[1])
    if bias is not None and tuple(bias.shape) != (M,):
        raise ValueError(f"bias must have shape [{M}], got {tuple(bias.shape)}")
    if isinstance(n_iters, bool) or not isinstance(n_iters, int) or n_iters < 0:
        raise ValueError(f"n_iters must be an int >= 0, got {n_iters!r}")
    k = min(resolve_rank(rank, D, M), cap)
    out_dtype, out_device = Wa.dtype, Wa.device

    f64 = dict(dtype=torch.float64, device=X.device)
    W0a = Wa.detach().to(**f64)
    W0b = None if Wb is None else Wb.detach().to(**f64)
    mx, my, Sxx, Sxy, syy = _moments(X.detach(), Y.detach())

    if W0b is not None and k == W0a.shape[1]:
        # asked for a rank >= the current one: keep the pair as it is
        A, B = W0a.clone(), W0b.clone()
        if bias is not None:
            b = bias.detach().to(**f64)
        else:
            b = my - (mx @ A) @ B
    else:
        W0 = W0a if W0b is None else W0a @ W0b
        Sxx_pinv = _pinv_psd(Sxx)
        W_ls = W0 + Sxx_pinv @ (Sxy - Sxx @ W0)
        if k >= min(D, M):
            A, B = _svd_split(W_ls, k)
        else:
            G = W_ls.T @ Sxx @ W_ls  # Gram of the fitted outputs, [M, M]
            G = 0.5 * (G + G.T)
            _, evecs = torch.linalg.eigh(G)
            Vk = evecs[:, -k:].flip(1)  # top-k principal directions, descending
            A, B = W_ls @ Vk, Vk.T.contiguous()
            best = (_objective(A, B, Sxx, Sxy, syy), A, B)
            for _ in range(n_iters):
                # Wb given Wa, then Wa given Wb; minimum-norm corrections of the current factors
                AtSA = A.T @ Sxx @ A
                B = B + _pinv_psd(0.5 * (AtSA + AtSA.T)) @ (A.T @ (Sxy - Sxx @ A @ B))
                BBt = B @ B.T
                A = A + Sxx_pinv @ (Sxy - Sxx @ A @ B) @ B.T @ _pinv_psd(0.5 * (BBt + BBt.T))
                obj = _objective(A, B, Sxx, Sxy, syy)
                if obj < best[0]:
                    best = (obj, A, B)
            _, A, B = best
            A, B = _balance(A, B)
        b = my - (mx @ A) @ B

    Wa_out = A.to(dtype=out_dtype, device=out_device)
    Wb_out = B.to(dtype=out_dtype, device=out_device)
    b_out = b.to(dtype=out_dtype, device=out_device)
    nmse = _nmse(X.detach(), Y.detach(), Wa_out, Wb_out, b_out)
    return LowRankSolution(Wa=Wa_out, Wb=Wb_out, bias=b_out, rank=k, nmse=nmse)
