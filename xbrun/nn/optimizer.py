"""``AnalogSGD``: SGD for digital parameters, pulsed tile updates for analog weights."""

from __future__ import annotations

import torch


class AnalogSGD(torch.optim.SGD):
    """Drop-in SGD. ``step`` first updates the digital parameters (biases, learned output
    scales, input ranges, ...), then every tile applies its queued update with the current
    learning rate of its parameter group, so schedulers drive the analog updates too.

    Queued ``(x, d)`` pairs behave like ``.grad``: they accumulate over backward passes and
    ``zero_grad`` drops them (so e.g. an ``autograd.grad`` call before it leaves no trace).
    """

    def _tiles(self):
        for group in self.param_groups:
            for param in group["params"]:
                tile = getattr(param, "analog_tile", None)
                if tile is not None:
                    yield group, tile

    @torch.no_grad()
    def step(self, closure=None, analog: bool = True):
        """Plain SGD on the digital parameters (tile weights have no ``.grad``), then, unless
        ``analog`` is False (the caller makes it a call of its own), ``analog_step``."""
        loss = super().step(closure)
        if analog:
            self.analog_step()
        return loss

    @torch.no_grad()
    def analog_step(self) -> None:
        """The analog update: every tile turns its queued ``(x, d)`` into pulse trains on
        its arrays (``apply_pending`` -> training device ``update`` ->
        ``kernels.pulsed_update``), at its parameter group's learning rate."""
        for group, tile in self._tiles():
            tile.clip_input_range()
            tile.set_learning_rate(group["lr"])
            tile.apply_pending()

    def zero_grad(self, set_to_none: bool = True) -> None:
        super().zero_grad(set_to_none)
        for _, tile in self._tiles():
            tile.pending.clear()
