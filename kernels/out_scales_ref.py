"""Reference twin of the learned output scales' backward (``learn_out_scaling``).

A tile's learned scales ``beta`` multiply its outputs, ``out = y * beta`` (one per output
when column-wise, else one per tile). Their backward is what autograd makes of that
product: the error ``d`` that reaches the tile, ``d * beta`` (its backward MVM and its
queued update read it), and the scales' gradient, ``d * y`` summed over the batch (over
everything for a per-tile scale). Autograd makes three passes of it (two products and a
sum); the Triton kernel makes one. This file is the CPU path and the definition the kernel
is tested against.
"""

from __future__ import annotations

import torch


def out_scales_backward_torch(d: torch.Tensor, y: torch.Tensor, beta: torch.Tensor
                              ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(d * beta, sum of d * y)`` for rows ``d``, ``y`` ``[N, out]`` and ``beta`` of 1 or
    ``out`` values; the gradient has ``beta``'s shape (autograd's numbers, op for op)."""
    scale = beta.reshape(()) if beta.numel() == 1 else beta.reshape(1, -1)
    product = d * y
    grad = product.sum() if beta.numel() == 1 else product.sum(0)
    return d * scale, grad.reshape(beta.shape)
