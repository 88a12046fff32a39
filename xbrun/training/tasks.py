"""The two tasks a run trains on, told apart by the targets' dtype.

Classification (integer labels): cross-entropy, scored by accuracy. Regression (float
targets, ``dataset=regression``): ``1/2 ||W x - W* x||^2`` per sample, summed over the
outputs and averaged over the samples, scored by how far the layer's visible weights are
from the target matrix ``W*``. Picking the loss by dtype keeps the training step one
function, the same shape for CUDA graphs whatever the task.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..nn.linear import AnalogLinear


def task_loss(out: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy for labels; half the squared error summed over outputs for float
    targets. ``reduction``: ``mean`` or ``sum`` over the samples."""
    if not y.is_floating_point():
        return F.cross_entropy(out, y, reduction=reduction)
    per_sample = 0.5 * (out.reshape(y.shape) - y).pow(2).sum(dim=1)
    return per_sample.mean() if reduction == "mean" else per_sample.sum()


def single_linear(model: nn.Module) -> nn.Module | None:
    """The model's only linear layer (digital or analog), or None when it has other or more
    layers with weights (then no weight matrix stands for the model)."""
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, AnalogLinear))]
    if len(layers) != 1:
        return None
    own = {id(p) for p in layers[0].parameters()}
    return layers[0] if all(id(p) in own for p in model.parameters()) else None


@torch.no_grad()
def visible_weights(layer: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(W, b)`` as the layer applies them, in float64 on the CPU: an analog layer's
    logical weights read digitally (``get_weights``: no read noise, no I/O)."""
    if isinstance(layer, AnalogLinear):
        weight, bias = layer.get_weights()
    else:
        weight, bias = layer.weight, layer.bias
    weight = weight.detach().to("cpu", torch.float64)
    return weight, None if bias is None else bias.detach().to("cpu", torch.float64)


@torch.no_grad()
def weight_metrics(layer: nn.Module, target: torch.Tensor,
                   x_train: torch.Tensor | None = None) -> dict[str, float]:
    """How far the visible weights ``W`` are from ``W*`` (``target``):

    - ``weight_error``: ``||W - W*||_F / ||W*||_F``;
    - ``weight_rmse``: ``sqrt(mean((W - W*)^2))``;
    - ``weight_std``: the standard deviation of the elements of ``W - W*`` around their mean
      (population std);
    - ``exact_loss`` (with ``x_train``): the training-set loss of ``W`` (and the bias)
      computed digitally, ``mean_i 1/2 ||(W - W*) x_i + b||^2``.
    """
    weight, bias = visible_weights(layer)
    target = target.to(torch.float64)
    diff = weight - target
    out = {"weight_error": float(diff.norm() / target.norm()),
           "weight_rmse": float(diff.pow(2).mean().sqrt()),
           "weight_std": float(diff.std(correction=0))}
    if x_train is not None:
        residual = x_train.to(torch.float64).reshape(len(x_train), -1) @ diff.T
        if bias is not None:
            residual = residual + bias
        out["exact_loss"] = float(0.5 * residual.pow(2).sum(dim=1).mean())
    return out
