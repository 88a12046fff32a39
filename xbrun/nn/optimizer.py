"""``AnalogSGD``: SGD for digital parameters, pulsed tile updates for analog layers."""

from __future__ import annotations

import torch


class AnalogSGD(torch.optim.SGD):
    """Drop-in SGD: on ``step`` every analog layer applies its pending update with the
    current learning rate of its parameter group, so schedulers drive analog updates too."""

    @torch.no_grad()
    def step(self, closure=None):
        loss = super().step(closure)
        for group in self.param_groups:
            for param in group["params"]:
                layer = getattr(param, "analog_layer", None)
                if layer is not None:
                    layer.apply_update(group["lr"])
        return loss
