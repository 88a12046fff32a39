"""Low-rank factorization of Linear / Conv2d layers, fitted on calibration data.

API after MosaicML composer's ``factorize_core`` (names and documented behaviour; own code):

* :class:`LowRankSolution` bundles the two factors, the bias and the fit quality.
* :func:`factorize_matrix` approximates ``Y = X @ W + bias`` by ``X @ Wa @ Wb + new_bias``.
* :func:`factorize_conv2d` approximates a ``k_h x k_w`` convolution by a ``k_h x k_w``
  convolution with ``rank`` output channels followed by a ``1 x 1`` convolution.
* :func:`factorize_module` does the module surgery: every qualifying ``nn.Linear`` /
  ``nn.Conv2d`` is replaced by a :class:`FactorizedLinear` / :class:`FactorizedConv2d` (two plain
  ``nn.Linear`` / ``nn.Conv2d`` children ``first`` and ``second``) when that saves weights, so an
  analog converter that later replaces Linear/Conv2d maps each factor onto smaller crossbars.
* :func:`count_devices` counts the weights of all Linear / Conv2d layers (crossbar devices).

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
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "LowRankSolution",
    "factorize_matrix",
    "factorize_conv2d",
    "FactorizedLinear",
    "FactorizedConv2d",
    "factorize_module",
    "count_devices",
    "resolve_rank",
]

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


def factorize_matrix(
    X: Tensor,
    Y: Tensor,
    Wa: Tensor,
    Wb: Tensor | None = None,
    bias: Tensor | None = None,
    rank: int | float = 0.25,
    n_iters: int = 3,
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


_CONV_KWARGS = {"stride", "padding", "dilation", "groups", "padding_mode"}


def _pair(v, name: str) -> tuple[int, int]:
    if isinstance(v, int) and not isinstance(v, bool):
        return (v, v)
    if isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(x, int) for x in v):
        return (int(v[0]), int(v[1]))
    raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")


def _conv_geometry(kernel: tuple[int, int], conv2d_kwargs: dict):
    unknown = set(conv2d_kwargs) - _CONV_KWARGS
    if unknown:
        raise TypeError(f"unsupported conv2d arguments: {sorted(unknown)}")
    dilation = conv2d_kwargs.get("dilation", 1)
    if _pair(dilation, "dilation") != (1, 1):
        raise NotImplementedError(f"factorize_conv2d supports only dilation=1, got {dilation!r}")
    groups = conv2d_kwargs.get("groups", 1)
    if groups != 1:
        raise NotImplementedError(f"factorize_conv2d supports only groups=1, got {groups!r}")
    padding_mode = conv2d_kwargs.get("padding_mode", "zeros")
    if padding_mode != "zeros":
        raise NotImplementedError(
            f"factorize_conv2d supports only padding_mode='zeros', got {padding_mode!r}"
        )
    stride = _pair(conv2d_kwargs.get("stride", 1), "stride")
    padding = conv2d_kwargs.get("padding", 0)
    if padding == "valid":
        padding = (0, 0)
    elif padding == "same":
        if stride != (1, 1) or kernel[0] % 2 == 0 or kernel[1] % 2 == 0:
            raise NotImplementedError("padding='same' is supported for stride 1, odd kernels")
        padding = (kernel[0] // 2, kernel[1] // 2)
    else:
        padding = _pair(padding, "padding")
    return stride, padding


def factorize_conv2d(
    X: Tensor,
    Wa: Tensor,
    Wb: Tensor | None = None,
    rank: int | float = 0.25,
    biasA: Tensor | None = None,
    biasB: Tensor | None = None,
    n_iters: int = 3,
    **conv2d_kwargs,
) -> LowRankSolution:
    """Approximates a ``k_h x k_w`` convolution by a ``k_h x k_w`` convolution with fewer
    output channels followed by a ``1 x 1`` convolution.

    Given a weight ``W`` ``[out_channels, in_channels, k_h, k_w]`` and a bias ``[out_channels]``,
    returns ``Wa`` ``[rank, in_channels, k_h, k_w]``, ``Wb`` ``[out_channels, rank, 1, 1]`` and
    ``new_bias`` ``[out_channels]`` minimizing ``||(W * X + bias) - (Wb * (Wa * X) + new_bias)||_F``
    (``*`` = convolution with ``conv2d_kwargs``; the first convolution has no bias). The problem
    is unfolded with im2col into :func:`factorize_matrix` (``D = in_channels * k_h * k_w``,
    ``M = out_channels``, one row per output position), so the same optimum, rank and nmse rules
    hold.

    Args:
        X: inputs ``[N, in_channels, H, W]``.
        Wa: the weight ``[out_channels, in_channels, k_h, k_w]``, or (with ``Wb``) the first
            factor ``[original_rank, in_channels, k_h, k_w]`` (progressive factorization).
        Wb: optional second factor ``[out_channels, original_rank, 1, 1]``.
        rank: latent channels, int >= 1 or float fraction of ``min(D, M)``. Default 0.25.
        biasA: bias of ``Wa``'s convolution: length ``out_channels`` without ``Wb``, else
            ``original_rank``.
        biasB: bias of ``Wb``'s convolution, length ``out_channels``; only with ``Wb``.
        n_iters: alternating least-squares rounds (see :func:`factorize_matrix`). Default 3.
        **conv2d_kwargs: ``stride``, ``padding`` (int, pair, ``'valid'``, or ``'same'`` for
            stride 1 and odd kernels), ``dilation`` (must be 1), ``groups`` (must be 1),
            ``padding_mode`` (must be ``'zeros'``) of the original convolution.

    Raises:
        RuntimeError: if ``biasB`` is given but ``Wb`` is not.
        NotImplementedError: if ``dilation != 1`` or ``groups != 1`` (or another unsupported
            padding mode).
    """
    if biasB is not None and Wb is None:
        raise RuntimeError("biasB was given without Wb: it is the bias of the second factor")
    if Wa.dim() != 4:
        raise ValueError(f"Wa must be 4-D [C, in_channels, k_h, k_w], got {tuple(Wa.shape)}")
    kernel = (Wa.shape[2], Wa.shape[3])
    stride, padding = _conv_geometry(kernel, conv2d_kwargs)
    if X.dim() == 3:
        X = X.unsqueeze(0)
    if X.dim() != 4 or X.shape[1] != Wa.shape[1]:
        raise ValueError(
            f"X must be [N, {Wa.shape[1]}, H, W] for Wa {tuple(Wa.shape)}, got {tuple(X.shape)}"
        )
    c_in = Wa.shape[1]
    D = c_in * kernel[0] * kernel[1]
    d = Wa.shape[0]
    Wa_m = Wa.detach().reshape(d, D).T
    if Wb is None:
        c_out = d
        if biasA is not None and tuple(biasA.shape) != (c_out,):
            raise ValueError(f"biasA must have shape [{c_out}], got {tuple(biasA.shape)}")
        Wb_m = None
        bias = None if biasA is None else biasA.detach()
    else:
        if Wb.dim() != 4 or Wb.shape[1] != d or Wb.shape[2:] != (1, 1):
            raise ValueError(f"Wb must have shape [out_channels, {d}, 1, 1], got {tuple(Wb.shape)}")
        c_out = Wb.shape[0]
        if biasA is not None and tuple(biasA.shape) != (d,):
            raise ValueError(f"biasA must have shape [{d}], got {tuple(biasA.shape)}")
        if biasB is not None and tuple(biasB.shape) != (c_out,):
            raise ValueError(f"biasB must have shape [{c_out}], got {tuple(biasB.shape)}")
        Wb_m = Wb.detach().reshape(c_out, d).T
        bias = Wa_m.new_zeros(c_out)
        if biasA is not None:
            bias = bias + biasA.detach().to(Wa_m.dtype) @ Wb_m
        if biasB is not None:
            bias = bias + biasB.detach().to(Wa_m.dtype)
        if biasA is None and biasB is None:
            bias = None

    cols = F.unfold(X.detach().to(Wa.dtype), kernel, padding=padding, stride=stride)
    rows = cols.transpose(1, 2).reshape(-1, D)  # [N * L, D]
    W_cur = Wa_m if Wb_m is None else Wa_m @ Wb_m
    Y = rows @ W_cur
    if bias is not None:
        Y = Y + bias
    sol = factorize_matrix(rows, Y, Wa_m, Wb_m, bias=bias, rank=rank, n_iters=n_iters)
    k = sol.rank
    sol.Wa = sol.Wa.T.reshape(k, c_in, kernel[0], kernel[1]).contiguous()
    sol.Wb = sol.Wb.T.reshape(c_out, k, 1, 1).contiguous()
    return sol


# --------------------------------------------------------------------------- modules


class FactorizedLinear(nn.Module):
    """``second(first(x))``: ``first`` = ``nn.Linear(in_features, rank, bias=False)``,
    ``second`` = ``nn.Linear(rank, out_features, bias=bias)``."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        rank: int,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.first = nn.Linear(in_features, rank, bias=False, device=device, dtype=dtype)
        self.second = nn.Linear(rank, out_features, bias=bias, device=device, dtype=dtype)

    @property
    def rank(self) -> int:
        return self.first.out_features

    def forward(self, x: Tensor) -> Tensor:
        return self.second(self.first(x))

    @torch.no_grad()
    def set_solution(self, solution: LowRankSolution) -> None:
        """Load ``Wa`` ``[in, rank]``, ``Wb`` ``[rank, out]`` and ``bias`` of a solution."""
        self.first.weight.copy_(solution.Wa.T)
        self.second.weight.copy_(solution.Wb.T)
        if self.second.bias is not None and solution.bias is not None:
            self.second.bias.copy_(solution.bias)

    @classmethod
    def from_solution(
        cls, solution: LowRankSolution, in_features: int, out_features: int
    ) -> FactorizedLinear:
        mod = cls(
            in_features,
            out_features,
            solution.rank,
            bias=solution.bias is not None,
            device=solution.Wa.device,
            dtype=solution.Wa.dtype,
        )
        mod.set_solution(solution)
        return mod

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, rank={self.rank}"


class FactorizedConv2d(nn.Module):
    """``second(first(x))``: ``first`` = ``nn.Conv2d(in_channels, rank, kernel_size, stride,
    padding, bias=False)``, ``second`` = ``nn.Conv2d(rank, out_channels, 1, bias=bias)``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        rank: int,
        stride=1,
        padding=0,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.first = nn.Conv2d(
            in_channels,
            rank,
            kernel_size,
            stride=stride,
            padding=padding,
            bias=False,
            device=device,
            dtype=dtype,
        )
        self.second = nn.Conv2d(rank, out_channels, 1, bias=bias, device=device, dtype=dtype)

    @property
    def rank(self) -> int:
        return self.first.out_channels

    @property
    def kernel_size(self) -> tuple[int, int]:
        return self.first.kernel_size

    def forward(self, x: Tensor) -> Tensor:
        return self.second(self.first(x))

    @torch.no_grad()
    def set_solution(self, solution: LowRankSolution) -> None:
        self.first.weight.copy_(solution.Wa)
        self.second.weight.copy_(solution.Wb)
        if self.second.bias is not None and solution.bias is not None:
            self.second.bias.copy_(solution.bias)

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"rank={self.rank}, kernel_size={tuple(self.kernel_size)}"
        )


def count_devices(model: nn.Module) -> int:
    """Number of weights (crossbar devices) in all ``nn.Linear`` / ``nn.Conv2d`` layers of
    ``model`` (biases not counted; the factors of factorized layers are counted)."""
    return sum(
        m.weight.numel()
        for m in model.modules()
        if isinstance(m, (nn.Linear, nn.Conv2d)) and m.weight is not None
    )


def _conv_supported(m: nn.Conv2d) -> bool:
    return (
        m.groups == 1
        and tuple(m.dilation) == (1, 1)
        and m.padding_mode == "zeros"
        and not (isinstance(m.padding, str) and m.padding == "same" and tuple(m.stride) != (1, 1))
    )


def _plan(m: nn.Module, rank: int | float, min_features: int, min_channels: int) -> int | None:
    """The new rank for ``m`` if it qualifies for (re)factorization, else None."""
    if isinstance(m, FactorizedLinear):
        D, M, cur = m.in_features, m.out_features, m.rank
    elif isinstance(m, FactorizedConv2d):
        if not _conv_supported(m.first):
            return None
        kh, kw = m.kernel_size
        D, M, cur = m.in_channels * kh * kw, m.out_channels, m.rank
        if min(m.in_channels, m.out_channels) < min_channels:
            return None
    elif isinstance(m, nn.Linear):
        D, M, cur = m.in_features, m.out_features, None
    elif isinstance(m, nn.Conv2d):
        if not _conv_supported(m):
            return None
        kh, kw = m.kernel_size
        D, M, cur = m.in_channels * kh * kw, m.out_channels, None
        if min(m.in_channels, m.out_channels) < min_channels:
            return None
    else:
        return None
    if isinstance(m, (nn.Linear, FactorizedLinear)) and min(D, M) < min_features:
        return None
    k = min(resolve_rank(rank, D, M), D, M)
    if k * (D + M) >= D * M:
        return None
    if cur is not None and k >= cur:
        return None
    return k


@torch.no_grad()
def factorize_module(
    model: nn.Module,
    calibration_input,
    rank: int | float = 0.25,
    min_features: int = 256,
    min_channels: int = 512,
    n_iters: int = 3,
) -> dict:
    """Replace qualifying Linear / Conv2d layers of ``model`` (in place) by factorized pairs.

    A layer qualifies when it is an ``nn.Linear`` with ``min(in, out) >= min_features`` or an
    ``nn.Conv2d`` (groups 1, dilation 1, zero padding) with ``min(in_ch, out_ch) >=
    min_channels``, and the factorization at ``rank`` (resolved per layer as in
    :func:`factorize_matrix`; for conv ``D = in_ch * k_h * k_w``, ``M = out_ch``) saves weights:
    ``rank * (D + M) < D * M``. Existing :class:`FactorizedLinear` / :class:`FactorizedConv2d`
    layers are factorized again (progressive) when the resolved rank is below their current
    rank; otherwise they are left alone, so calling twice with the same rank changes nothing.
    The root module itself is never replaced, and layers not called by the calibration forward
    are skipped.

    The inputs of all candidates are recorded with forward hooks in one forward pass of
    ``calibration_input`` (a tensor, a tuple of positional arguments or a dict of keyword
    arguments) with the model in eval mode (its training flags are restored), and each layer is
    fitted to reproduce its own original output on them. The new modules have a bias on
    ``second`` (the fitted ``new_bias``) and live on the original weight's device and dtype.

    Returns:
        ``{layer name: {"rank": int, "params_before": int, "params_after": int, "nmse": float}}``
        for each replaced layer (parameters counted with biases).
    """
    candidates: dict[str, tuple[nn.Module, int]] = {}
    inside: set[int] = set()
    for name, m in model.named_modules():
        if id(m) in inside:
            continue
        if isinstance(m, (FactorizedLinear, FactorizedConv2d)):
            inside.update(id(c) for c in m.modules() if c is not m)
        if name == "":
            continue
        k = _plan(m, rank, min_features, min_channels)
        if k is not None:
            candidates[name] = (m, k)
    if not candidates:
        return {}

    recorded: dict[str, list[Tensor]] = {name: [] for name in candidates}

    def make_hook(name: str):
        def hook(_mod, args, _out):
            recorded[name].append(args[0].detach())

        return hook

    handles = [m.register_forward_hook(make_hook(n)) for n, (m, _) in candidates.items()]
    flags = {m: m.training for m in model.modules()}
    try:
        model.eval()
        if isinstance(calibration_input, dict):
            model(**calibration_input)
        elif isinstance(calibration_input, (tuple, list)):
            model(*calibration_input)
        else:
            model(calibration_input)
    finally:
        for h in handles:
            h.remove()
        for m, flag in flags.items():
            m.train(flag)

    report: dict[str, dict] = {}
    for name, (m, k) in candidates.items():
        xs = recorded[name]
        if not xs:
            continue
        params_before = sum(p.numel() for p in m.parameters())
        if isinstance(m, (nn.Linear, FactorizedLinear)):
            D = m.in_features
            X = torch.cat([x.reshape(-1, D) for x in xs], 0)
            if isinstance(m, nn.Linear):
                Y = F.linear(X, m.weight, m.bias)
                sol = factorize_matrix(X, Y, m.weight.T, None, m.bias, rank=k, n_iters=n_iters)
            else:
                Y = m(X)
                Wa_cur, Wb_cur = m.first.weight.T, m.second.weight.T
                bias = m.second.bias
                if m.first.bias is not None:  # fold a bias of the first factor into the output
                    bias = m.first.bias @ Wb_cur + (0 if bias is None else bias)
                sol = factorize_matrix(X, Y, Wa_cur, Wb_cur, bias, rank=k, n_iters=n_iters)
            new = FactorizedLinear.from_solution(sol, m.in_features, m.out_features)
        else:
            X = torch.cat([x if x.dim() == 4 else x.unsqueeze(0) for x in xs], 0)
            conv = m if isinstance(m, nn.Conv2d) else m.first
            kwargs = dict(stride=conv.stride, padding=conv.padding)
            if isinstance(m, nn.Conv2d):
                sol = factorize_conv2d(X, m.weight, rank=k, biasA=m.bias, n_iters=n_iters, **kwargs)
                c_in, c_out = m.in_channels, m.out_channels
            else:
                sol = factorize_conv2d(
                    X,
                    m.first.weight,
                    m.second.weight,
                    rank=k,
                    biasA=m.first.bias,
                    biasB=m.second.bias,
                    n_iters=n_iters,
                    **kwargs,
                )
                c_in, c_out = m.in_channels, m.out_channels
            new = FactorizedConv2d(
                c_in,
                c_out,
                conv.kernel_size,
                sol.rank,
                stride=conv.stride,
                padding=conv.padding,
                bias=True,
                device=sol.Wa.device,
                dtype=sol.Wa.dtype,
            )
            new.set_solution(sol)
        new.train(m.training)
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, new)
        report[name] = {
            "rank": int(sol.rank),
            "params_before": int(params_before),
            "params_after": int(sum(p.numel() for p in new.parameters())),
            "nmse": float(sol.nmse),
        }
    return report
