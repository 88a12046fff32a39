"""Output scales of a tile: the fixed mapping scales ``M`` and the learned scales ``beta``.

``M`` (``weight_scaling_omega``) lets the conductances use their range: weights are stored as
``W/M`` with their abs-max at ``omega``, and the outputs are multiplied by ``M`` again.
``beta`` (``learn_out_scaling``) are trainable digital factors on the outputs, in the autograd
graph. :class:`OutputScales` is a mixin of
:class:`~xbrun.tiles.periphery.TileWithPeriphery`; it reads ``mapping``, ``out_size`` and
``pulses`` (for the torch device) from the tile.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import kernels
from ..errors import ConfigError, TileError

# Learned output scales on rows with their backward in one kernel (``OutScalesFunction``:
# ``kernels.out_scales_backward``, one Triton launch on CUDA) instead of autograd's three
# (two products and a sum) a tile and step, and a grid of such tiles read as one group
# (``grouped.py``); the same numbers. Timed on one H100 (``FUSED_BACKWARD``, 2026-12-07
# 03:33, `fused-scales`: a wu2024-mnist step 0.27 -> 0.20 ms, Tiki-Taka; 0.26 -> 0.19 ms,
# Analog SGD), its switch removed 2026-12-08 (``benchmarks/RESULTS.md``).


def view_along(vector: torch.Tensor, ndim: int, dim: int) -> torch.Tensor:
    """``vector`` shaped to broadcast along dimension ``dim`` of an ``ndim`` tensor."""
    if vector.numel() == 1:
        return vector.reshape(())
    shape = [1] * ndim
    shape[dim] = -1
    return vector.reshape(shape)


class OutScalesFunction(torch.autograd.Function):
    """``y * beta`` on rows ``[N, out]`` whose backward is one pass
    (``kernels.out_scales_backward``: ``d * beta`` and the scales' gradient)."""

    @staticmethod
    def forward(ctx, y, beta):
        ctx.save_for_backward(y, beta)
        return y * view_along(beta, 2, -1)

    @staticmethod
    def backward(ctx, d):
        y, beta = ctx.saved_tensors
        return kernels.out_scales_backward(d, y, beta)


class OutputScales:
    """Mapping scales (a buffer ``mapping_scales``) and learned output scales (a parameter
    ``out_scaling_alpha``), each one value per tile or one per output."""

    mapping_scales: torch.Tensor | None
    out_scaling_alpha: nn.Parameter | None

    @torch.no_grad()
    def init_mapping_scales(self) -> None:
        """Ones (one per output when column-wise) when weight scaling is on, else None."""
        if not self.mapping.weight_scaling:
            self.set_mapping_scales(None)
            return
        size = self.out_size if self.mapping.weight_scaling_columnwise else 1
        self.set_mapping_scales(torch.ones(size))

    def get_mapping_scales(self) -> torch.Tensor | None:
        """Digital factors from conductance units back to logical weights (not learned)."""
        return self.mapping_scales

    @torch.no_grad()
    def set_mapping_scales(self, mapping_scales: torch.Tensor | float | None) -> None:
        if mapping_scales is None:
            self.mapping_scales = None
            return
        value = torch.as_tensor(mapping_scales, dtype=torch.float32).flatten()
        if value.numel() not in (1, self.out_size):
            raise TileError(f"mapping scales need 1 or {self.out_size} values, "
                            f"got {value.numel()}")
        self.mapping_scales = value.to(self.pulses.device).clone()

    @torch.no_grad()
    def init_learned_out_scales(self) -> None:
        """A trainable output scale (per output when column-wise) if ``learn_out_scaling``."""
        if not self.mapping.learn_out_scaling:
            self.out_scaling_alpha = None
            return
        size = self.out_size if self.mapping.out_scaling_columnwise else 1
        self.out_scaling_alpha = nn.Parameter(torch.ones(size, device=self.pulses.device))

    def get_learned_out_scales(self) -> nn.Parameter | None:
        return self.out_scaling_alpha

    @torch.no_grad()
    def set_learned_out_scales(self, alpha: torch.Tensor | float) -> None:
        """Overwrite the learned scales (broadcast); a no-op when they are not learned."""
        if self.out_scaling_alpha is None:
            return
        value = torch.as_tensor(alpha, dtype=self.out_scaling_alpha.dtype).flatten()
        self.out_scaling_alpha.data.copy_(value.to(self.out_scaling_alpha.device)
                                          .expand_as(self.out_scaling_alpha))

    def get_scales(self) -> torch.Tensor | None:
        """All output scales combined (mapping x learned), or None when there are none."""
        mapping, learned = self.get_mapping_scales(), self.get_learned_out_scales()
        if mapping is None and learned is None:
            return None
        if mapping is None:
            return learned.detach().clone()
        if learned is None:
            return mapping.clone()
        return mapping * learned.detach()

    @torch.no_grad()
    def set_scales(self, scales: torch.Tensor | float) -> None:
        """Put ``scales`` into the mapping scales and reset the learned ones to 1."""
        self.set_mapping_scales(scales)
        self.set_learned_out_scales(1.0)

    def apply_out_scaling(self, values: torch.Tensor, dim: int = -1) -> torch.Tensor:
        """Multiply by the learned output scales (differentiable); identity when unlearned."""
        alpha = self.out_scaling_alpha
        if alpha is None:
            return values
        if values.dim() == 2 and dim in (-1, 1) and torch.is_grad_enabled():
            return OutScalesFunction.apply(values, alpha)
        return values * view_along(alpha, values.dim(), dim)

    @torch.no_grad()
    def apply_weight_scaling(self, combined_weights: torch.Tensor,
                             weight_scaling_omega: float | None = None) -> torch.Tensor:
        """Scale ``[d_size, x_size]`` weights so their abs-max is ``omega``; keep the factor.

        Layer-wise: ``alpha = max|W| / omega``; column-wise (one per output): ``alpha_i =
        max_j |W_ij| / omega``. ``alpha`` becomes the mapping scale (learned scales reset to
        1) and ``W / alpha`` is returned. ``omega`` defaults to the mapping's; 0 is a no-op.
        """
        omega = self.mapping.weight_scaling_omega if weight_scaling_omega is None \
            else weight_scaling_omega
        if omega < 0:
            raise ConfigError(f"weight_scaling_omega: expected a number >= 0, got {omega!r}")
        if omega == 0:
            return combined_weights
        if self.mapping.weight_scaling_columnwise:
            w_max = combined_weights.abs().amax(dim=1)
        else:
            w_max = combined_weights.abs().max().reshape(1)
        alpha = w_max / omega
        alpha[alpha == 0] = 1.0
        self.set_scales(alpha)
        return combined_weights / alpha.reshape(-1, 1)

    def apply_scales(self, weight: torch.Tensor, bias: torch.Tensor | None,
                     inverse: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Conductance units -> logical ``(weight, bias)``: multiplied by all output scales
        (``inverse``: divided, logical -> conductance units). An analog bias is scaled with
        its row, a digital one is not; unchanged when there are no scales."""
        alpha = self.get_scales()
        if alpha is None:
            return weight, bias
        alpha = alpha.cpu()
        op = torch.div if inverse else torch.mul
        if self.analog_bias:
            bias = op(bias, alpha)
        return op(weight, alpha.reshape(-1, 1)), bias
