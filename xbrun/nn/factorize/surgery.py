"""Module surgery: which layers of a model qualify, recording their inputs in one forward
pass, and replacing each by its fitted factorized pair (``mapping.factorize``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .conv import factorize_conv2d
from .layers import FactorizedConv2d, FactorizedLinear
from .matrix import factorize_matrix, resolve_rank


def count_devices(model: nn.Module) -> int:
    """Number of weights (crossbar devices) in all ``nn.Linear`` / ``nn.Conv2d`` layers of
    ``model`` (biases not counted; the factors of factorized layers are counted)."""
    return sum(m.weight.numel() for m in model.modules()
               if isinstance(m, (nn.Linear, nn.Conv2d)) and m.weight is not None)


def _conv_supported(m: nn.Conv2d) -> bool:
    return (m.groups == 1 and tuple(m.dilation) == (1, 1) and m.padding_mode == "zeros"
            and not (isinstance(m.padding, str) and m.padding == "same"
                     and tuple(m.stride) != (1, 1)))


def planned_rank(m: nn.Module, rank: int | float, min_features: int, min_channels: int
                 ) -> int | None:
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
def factorize_module(model: nn.Module, calibration_input, rank: int | float = 0.25,
                     min_features: int = 256, min_channels: int = 512, n_iters: int = 3) -> dict:
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
        k = planned_rank(m, rank, min_features, min_channels)
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
                sol = factorize_conv2d(X, m.first.weight, m.second.weight, rank=k,
                                       biasA=m.first.bias, biasB=m.second.bias,
                                       n_iters=n_iters, **kwargs)
                c_in, c_out = m.in_channels, m.out_channels
            new = FactorizedConv2d(c_in, c_out, conv.kernel_size, sol.rank, stride=conv.stride,
                                   padding=conv.padding, bias=True, device=sol.Wa.device,
                                   dtype=sol.Wa.dtype)
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
