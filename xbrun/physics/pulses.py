"""From a requested rank-1 update to pulse-train statistics (aihwkit ``UpdateParameters``).

A rank-1 update ``-lr * d x^T`` becomes, per line, a firing probability and a train length
BL. The probabilities are scaled so that the expected change equals the request when no
probability saturates: ``BL * p_x * p_d * dw_min = lr * |x| * |d|``. Update management
balances the x and d sides (so neither saturates first); BL management shortens the train
to the fewest slots that can carry the largest requested step, at most ``desired_bl``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..schema import check


@dataclass
class UpdateParameters:
    desired_bl: int = 31
    update_management: bool = True
    update_bl_management: bool = True

    def validate(self, key: str) -> None:
        p = f"{key}." if key else ""
        check(1 <= self.desired_bl <= 1000, p + "desired_bl", "an integer in [1, 1000]",
              self.desired_bl)


def pulse_probabilities(x_rows: torch.Tensor, d_rows: torch.Tensor, lr: float, dw_min: float,
                        params: UpdateParameters):
    """Signed firing probabilities ``(k, in)``, ``(k, out)`` and train lengths ``(k,)``."""
    x_max = x_rows.abs().amax(dim=1)
    d_max = d_rows.abs().amax(dim=1)
    active = (x_max > 0) & (d_max > 0) & (lr > 0)
    x_max = torch.where(active, x_max, torch.ones_like(x_max))
    d_max = torch.where(active, d_max, torch.ones_like(d_max))
    if params.update_bl_management:
        bl = torch.ceil(lr * x_max * d_max / dw_min).clamp(1, params.desired_bl)
    else:
        bl = torch.full_like(x_max, float(params.desired_bl))
    amp = torch.sqrt(lr / (dw_min * bl))
    if params.update_management:
        x_gain = amp * torch.sqrt(d_max / x_max)
        d_gain = amp * torch.sqrt(x_max / d_max)
    else:
        x_gain = d_gain = amp
    x_prob = (x_rows * x_gain[:, None]).clamp(-1, 1)
    d_prob = (d_rows * d_gain[:, None]).clamp(-1, 1)
    bl = torch.where(active, bl, torch.zeros_like(bl)).to(torch.int32)
    return x_prob, d_prob, bl

