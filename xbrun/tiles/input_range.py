"""The learned input range ``r`` of a tile (``learn_input_range``).

Inputs are clipped to ``[-r, r]`` and divided by ``r`` so the DAC range is used; ``r``
multiplies the output again. ``r`` starts from the data (a running mean of
``std_alpha * std(x)`` over the first training batches) and is then trained by the
straight-through gradient of the clip plus a small decay. :class:`InputRange` is a mixin of
:class:`~xbrun.tiles.periphery.TileWithPeriphery`; it reads ``mapping``, ``analog_bias`` and
``pulses`` (for the torch device) from the tile.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import ConfigError


class InputRange:
    """The range (a parameter ``input_range``) and its data-initialisation count (a buffer
    ``input_range_update_idx``); both None without ``learn_input_range``."""

    input_range: nn.Parameter | None
    input_range_update_idx: torch.Tensor | None
    _range_initialised: bool

    @torch.no_grad()
    def init_input_processing(self) -> bool:
        """Create the input range (a parameter) if ``learn_input_range``; True when enabled."""
        if self.analog_bias and self.mapping.learn_input_range:
            raise ConfigError("mapping.learn_input_range: needs a digital bias "
                              "(set mapping.digital_bias=true)")
        if not self.mapping.learn_input_range:
            self.input_range = None
            return False
        device = self.pulses.device
        self.input_range = nn.Parameter(torch.full((1,), self.mapping.input_range_init,
                                                   device=device))
        self.input_range_update_idx = torch.zeros((), device=device)  # a buffer of the tile
        self._range_initialised = False
        return True

    @torch.no_grad()
    def set_input_range(self, value: torch.Tensor | float) -> None:
        if self.input_range is None:
            raise ConfigError("input range is not enabled (set mapping.learn_input_range=true)")
        value = float(torch.as_tensor(value).flatten()[0])
        self.input_range.data.fill_(abs(value))

    def _range(self) -> torch.Tensor:
        return self.input_range.detach().abs().clamp_min(1e-8)

    @torch.no_grad()
    def apply_input_range(self, values: torch.Tensor, update_from_data: bool = False
                          ) -> torch.Tensor:
        """Clip to ``[-r, r]``; while initialising from data, first move ``r`` towards
        ``std_alpha * std(values)`` (a running mean over the first batches)."""
        if self.input_range is None:
            return values
        idx = self.input_range_update_idx
        if update_from_data and not self._range_initialised and not idx.is_cuda:
            # on the CPU reading the count is free; the flag ends the initialisation
            self._range_initialised = bool(idx >= self.mapping.init_input_range_from_data)
        if update_from_data and not self._range_initialised:
            # masked, so that CUDA never waits for the count (there it stays masked)
            std = values.std()
            use = (std > 0) & (idx < self.mapping.init_input_range_from_data)
            target = self.mapping.input_range_std_alpha * std
            moved = (self.input_range.data * idx + target) / (idx + 1)
            self.input_range.data.copy_(torch.where(use, moved, self.input_range.data).abs())
            idx += use.to(idx.dtype)
        r = self._range()
        return torch.maximum(torch.minimum(values, r), -r)

    def input_range_gradient(self, d_output: torch.Tensor, ctx: Any = None) -> torch.Tensor:
        """Gradient through the input clip: zero where clipped, and the range's own gradient.

        ``d(clip(x, r))/dr = sign(x)`` where ``|x| >= r``; plus ``decay * r`` when fewer than
        5% of the inputs clip (aihwkit's ``input_min_percentage``), so an unused range shrinks
        and the DAC resolution is not wasted. With a ``ctx`` the gradient is left on it for
        autograd, else accumulated into ``input_range.grad``.
        """
        x = getattr(ctx, "saved_input", None) if ctx is not None else None
        if self.input_range is None or x is None:
            return d_output
        r = self._range()
        clipped = x.abs() >= r
        grad = (d_output * torch.sign(x) * clipped).sum().reshape(1)
        if self.mapping.input_range_decay > 0:  # a mask, not a branch: no wait on CUDA
            unused = (~clipped).float().mean() > 0.95
            grad = grad + self.mapping.input_range_decay * r * unused
        if isinstance(ctx, torch.autograd.function.FunctionCtx):
            ctx.grad_input_range = grad.to(self.input_range.dtype)
        elif self.input_range.grad is None:
            self.input_range.grad = grad.clone()
        else:
            self.input_range.grad += grad
        return d_output * (~clipped)

    @torch.no_grad()
    def clip_input_range(self) -> None:
        """Keep a trained input range positive (SGD may push it through zero)."""
        if self.input_range is not None:
            self.input_range.data.abs_().clamp_(min=1e-6)
