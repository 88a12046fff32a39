"""Weights through the analog periphery, as on a chip: write-and-verify, least-squares read.

``program_weights`` writes a target by pulses (read, compare, update, until close enough);
``read_weights`` estimates the logical weight from noisy forward passes. Both are what
``set_weights(realistic=True)`` / ``get_weights(realistic=True)`` do. :class:`Programming` is
a mixin of :class:`~xbrun.tiles.periphery.TileWithPeriphery` and uses its passes.
"""

from __future__ import annotations

import torch

from ..errors import TileError


class Programming:
    """Pulsed write-and-verify and least-squares read-back of a tile's weights."""

    reference_combined_weights: torch.Tensor | None
    programming: dict | None

    @torch.no_grad()
    def program_weights(self, from_reference: bool = True, x_values: torch.Tensor | None = None,
                        learning_rate: float = 0.1, max_iter: int = 10000,
                        tolerance: float | None = 0.01, w_init: float | torch.Tensor = 0.01
                        ) -> None:
        """Write the target conductances by pulses: iterate forward read, compare, update.

        The target is the reference set by :meth:`set_weights` (or, without one or with
        ``from_reference=False``, the current conductances). The array starts from ``w_init``
        (a ``[d_size, x_size]`` tensor, or a float ``a`` for uniform ``[-a, a]``); each round
        reads ``y = x_values @ W^T`` through the forward I/O (``x_values`` default: unit
        vectors) and applies the device update ``W <- W - lr * err^T x`` (no decomposition),
        until the mean output error relative to the largest target output is below
        ``tolerance`` or ``max_iter`` rounds. ``self.programming`` records the outcome.
        """
        if not from_reference or self.reference_combined_weights is None:
            self.reference_combined_weights = self.get_conductances()
        where = self.pulses.device
        target = self.reference_combined_weights.to(where)
        if x_values is None:
            x_values = torch.eye(self.x_size, device=where)
        x_values = x_values.to(where, torch.float32)
        self._check_width(x_values, self.x_size, "program_weights x_values")
        target_values = x_values @ target.T
        target_max = float(target_values.abs().max()) or 1.0
        if isinstance(w_init, torch.Tensor):
            self.set_conductances(w_init)
        else:
            noise = torch.rand(target.shape, generator=self.generator, device=where)
            self.set_conductances((2 * noise - 1) * float(w_init))
        rel, rounds = float("inf"), 0
        while rounds < max_iter:
            rounds += 1
            error = self.mvm(x_values) - target_values
            rel = float(error.abs().mean()) / target_max
            if tolerance is not None and rel < tolerance:
                break
            self.pulse_update(x_values, error, learning_rate, decompose=False)
        self.programming = {"rounds": rounds, "relative_error": rel}

    @torch.no_grad()
    def read_weights(self, apply_weight_scaling: bool = False,
                     x_values: torch.Tensor | None = None, over_sampling: int = 10
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Estimate ``(weight, bias)`` by least squares from noisy forward passes.

        Inputs are ``x_values`` (default: ``over_sampling * in_size`` standard normal rows);
        outputs come from the full periphery in eval mode, so the estimate is the logical
        weight. ``apply_weight_scaling=False`` divides the scales out again (conductance
        units), as ``get_weights(apply_weight_scaling=False)``.
        """
        where = self.pulses.device
        if x_values is None:
            if over_sampling < 1:
                raise TileError(f"over_sampling must be >= 1, got {over_sampling}")
            x_values = torch.randn(self.in_size * over_sampling, self.in_size,
                                   generator=self.generator, device=where)
        x_values = x_values.to(where, torch.float32)
        self._check_width(x_values, self.in_size, "read_weights x_values")
        y = self.apply_out_scaling(self.joint_forward(x_values, is_test=True)).detach()
        design = self._with_bias_column(x_values)
        if design.shape[0] < design.shape[1]:
            raise TileError(f"read_weights: need at least {design.shape[1]} input rows, "
                            f"got {design.shape[0]}")
        estimate = torch.linalg.lstsq(design.cpu().double(), y.cpu().double()).solution.T
        weight, bias = self._separate(estimate.float())
        if apply_weight_scaling:
            return weight, bias
        return self.apply_scales(weight, bias, inverse=True)
