"""The low-rank fit of a convolution: a ``k_h x k_w`` convolution with ``rank`` output
channels followed by a ``1 x 1`` convolution, fitted as a matrix on im2col rows
(:func:`~.matrix.factorize_matrix`; the same optimum, rank and nmse rules)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .matrix import LowRankSolution, factorize_matrix

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
        raise NotImplementedError(f"factorize_conv2d supports only padding_mode='zeros', "
                                  f"got {padding_mode!r}")
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


def factorize_conv2d(X: Tensor, Wa: Tensor, Wb: Tensor | None = None, rank: int | float = 0.25,
                     biasA: Tensor | None = None, biasB: Tensor | None = None, n_iters: int = 3,
                     **conv2d_kwargs) -> LowRankSolution:
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
        raise ValueError(f"X must be [N, {Wa.shape[1]}, H, W] for Wa {tuple(Wa.shape)}, "
                         f"got {tuple(X.shape)}")
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
