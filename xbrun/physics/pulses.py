"""From a requested rank-1 update to pulse trains (aihwkit ``UpdateParameters``).

A rank-1 update ``-lr * d x^T`` becomes, per line, a firing probability and a train of
``BL`` slots; an element receives one pulse per coincidence of its two lines. With ``g`` the
weight granularity of the cell (its mean step), the probabilities are scaled so that, while
none of them saturates, ``E[pulses_ij] * g = lr * |x_j| * |d_i|``. The rules below are those
of aihwkit's GPU path (``pulsed_weight_updater`` / ``bit_line_maker`` /
``update_management_helper``):

- ``update_bl_management``: ``BL = ceil(lr * max|x| * um_grad_scale * max|d| / g)``, at most
  ``desired_bl``; the base gain is ``A = sqrt(lr / (g * BL))``. It implies update management.
- otherwise the train is ``desired_bl`` long with the same ``A`` - unless ``fixed_bl`` is
  off and a single pulse per slot cannot carry the update (``g * desired_bl < lr``): then
  ``BL = ceil(lr / g)`` and ``A = 1``.
- ``update_management`` balances the two sides: with ``m_x = max|x|`` and ``m_d =
  um_grad_scale * max|d|``, ``p_x = |x| A / s`` and ``p_d = |d| A s`` for ``s =
  sqrt(m_x / m_d)``. When the request needs more than ``BL`` pulses (``k = lr m_x m_d / g
  > BL``) ``m_d`` is first shrunk by ``BL / k``: the x side then fires exactly
  ``|x|/max|x|`` and the d side saturates at 1 - the update is clipped on the gradient
  side, as aihwkit's GPU does (its CPU path clips both sides symmetrically).
  ``um_grad_scale < 1`` clips the largest gradients earlier.
- ``res`` (bin width in [0, 1], or a number of steps when > 1; 0: off) discretizes each
  probability, with stochastic rounding when ``sto_round``; probabilities are clipped to 1.

``pulse_type`` picks how the trains are made:

- ``stochastic_compressed`` (aihwkit's default): Bernoulli bits per line and slot, drawn in
  the update kernel; each element gets the pulses of one sign.
- ``deterministic_implicit``: no randomness in the counts. The scaled values are quantized
  (``x_res_implicit`` / ``d_res_implicit``, clipped to [0, 1]) and an element receives
  ``round(BL * x_q * d_q)`` pulses.
- ``mean_count``: each line fires ``round(BL * p)`` times and an element receives
  ``round(n_x * n_d / BL)`` pulses.

The two deterministic types are handed to the kernel as explicit trains (``x_bits``,
``d_bits``): per rank-1 row the lines of equal quantized value on the side with fewer
distinct values share a group, and each group gets as many slots as its largest count -
which reproduces every element's count exactly. Their cost grows with BL times the number
of distinct levels, so keep ``*_res_implicit`` coarse for large layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from .. import kernels
from ..schema import check

PulseType = Literal["stochastic_compressed", "deterministic_implicit", "mean_count"]
Accumulate = Literal["sample", "batch"]


@dataclass
class UpdateParameters:
    """How a rank-1 update becomes pulse trains (the top-level ``update:`` node)."""

    desired_bl: int = 31  # longest pulse train of one rank-1 update
    fixed_bl: bool = True  # without BL management: always desired_bl slots
    update_management: bool = True  # balance the x and d sides of the train
    update_bl_management: bool = True  # shorten the train when the update is small (implies UM)
    um_grad_scale: float = 1.0  # < 1 clips the largest gradients earlier
    pulse_type: PulseType = "stochastic_compressed"
    res: float = 0.0  # bin width of the firing probabilities (0: continuous)
    sto_round: bool = False  # stochastic rounding of that discretization
    x_res_implicit: float = 0.0  # deterministic_implicit: bin width of the scaled x
    d_res_implicit: float = 0.0  # deterministic_implicit: bin width of the scaled d
    # sample: the rank-1 trains one after another (aihwkit); batch: each element's pulses
    # counted over the whole batch, then applied at once (kernels/counted_update_ref.py)
    accumulate: Accumulate = "sample"

    def validate(self, key: str) -> None:
        p = f"{key}." if key else ""
        check(1 <= self.desired_bl <= 1000, p + "desired_bl", "an integer in [1, 1000]",
              self.desired_bl)
        check(0 < self.um_grad_scale <= 1e6, p + "um_grad_scale", "a number in (0, 1e6]",
              self.um_grad_scale)
        for name in ("res", "x_res_implicit", "d_res_implicit"):
            value = getattr(self, name)
            check(math.isfinite(value) and value >= 0, p + name,
                  "a bin width in [0, 1] or a number of steps > 1 (0: off)", value)


@dataclass
class PulseTrains:
    """What the update kernel needs: signed line probabilities ``(k, in)``/``(k, out)``,
    train lengths ``(k,)`` and, for the deterministic types, the explicit trains."""

    x_prob: torch.Tensor
    d_prob: torch.Tensor
    bl: torch.Tensor
    x_bits: torch.Tensor | None = None
    d_bits: torch.Tensor | None = None


def bin_width(res: float) -> float:
    """aihwkit's ``res`` convention: a width in (0, 1], a number of steps above 1, 0 off."""
    return 0.0 if res <= 0 else (1.0 / res if res > 1 else res)


def discretize(values: torch.Tensor, res: float, sto_round: bool,
               generator: torch.Generator | None) -> torch.Tensor:
    """Round ``values`` to multiples of ``res`` (stochastically with ``sto_round``)."""
    return kernels.discretize_torch(values, res, sto_round, generator)


def _update_options(params: UpdateParameters) -> dict:
    return dict(desired_bl=params.desired_bl, fixed_bl=params.fixed_bl,
                update_management=params.update_management,
                update_bl_management=params.update_bl_management,
                um_grad_scale=params.um_grad_scale)


def train_lengths_and_gains(x_max: torch.Tensor, d_max: torch.Tensor, lr: float,
                            granularity: float, params: UpdateParameters):
    """Per rank-1 row: train length ``BL``, and the gains of the x and d sides."""
    return kernels.train_gains_torch(x_max, d_max, lr, granularity, **_update_options(params))


def rate_free_length(params: UpdateParameters) -> bool:
    """Whether the trains' mode and longest length (``desired_bl``) are known without the
    learning rate: under BL management or ``fixed_bl``. Otherwise a train is ``ceil(lr /
    g)`` long where ``g * desired_bl < lr``."""
    return params.update_bl_management or params.fixed_bl


def fold_rate(x_rows: torch.Tensor, d_rows: torch.Tensor,
              lr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows that carry the learning rate ``lr`` (a 0-dim tensor) into trains made at rate 1.

    Where ``rate_free_length`` holds, the trains depend on the rate only through ``lr *
    |x| * |d|`` (train lengths, update management's balance) and ``sqrt(lr) * |x|``, ``sqrt(lr)
    * |d|`` (the probabilities): rows scaled by ``sqrt(lr)`` at rate 1 give the same trains,
    to float rounding, without the host reading the rate (a row without a train, ``BL =
    0``, may get other probabilities, which fire nothing). A rate <= 0 (or NaN) gives zero
    rows: no pulses, as such a rate gives none."""
    root = torch.where(lr > 0, lr, 0.0).sqrt().to(x_rows.dtype)
    return x_rows * root, d_rows * root


def pulse_trains(x_rows: torch.Tensor, d_rows: torch.Tensor, lr: float, granularity: float,
                 params: UpdateParameters,
                 generator: torch.Generator | None = None, *,
                 counters: dict | None = None,
                 signs: tuple[torch.Tensor, torch.Tensor] | None = None,
                 x_gains: bool = False) -> PulseTrains:
    """Pulse trains for the rank-1 updates ``-lr * d_rows[k] x_rows[k]^T``. ``counters``
    (the stochastic type only): an array's ``slots`` and ``calls``, advanced with the
    trains, in their kernel (``kernels.line_probabilities``). ``signs``: +-1 per row and
    per column of the array that ``d_rows`` and ``x_rows`` are multiplied by (a chopped
    array's choppers; in the kernel for the stochastic type). ``x_gains`` (the stochastic
    type, where ``kernels.folds_input_probabilities``): ``x_prob`` may come as a
    ``RowProbabilities``, made by the counted update's kernel where it reads them."""
    if params.pulse_type == "stochastic_compressed":  # numba on the CPU, Triton on CUDA
        x_p, d_p, bl = kernels.line_probabilities(
            x_rows, d_rows, lr, granularity, res=bin_width(params.res),
            sto_round=params.sto_round, generator=generator, **(counters or {}),
            **({} if signs is None else {"d_sign": signs[0], "x_sign": signs[1]}),
            **({"x_gains": True} if x_gains else {}), **_update_options(params))
        return PulseTrains(x_p, d_p, bl)
    if counters:
        raise ValueError("only the stochastic trains advance an array's counters")
    if signs is not None:
        x_rows, d_rows = x_rows * signs[1], d_rows * signs[0]
    x_max = x_rows.abs().amax(dim=1)
    d_max = d_rows.abs().amax(dim=1)
    bl, x_gain, d_gain = train_lengths_and_gains(x_max, d_max, lr, granularity, params)
    x_scaled = x_rows.abs() * x_gain[:, None]
    d_scaled = d_rows.abs() * d_gain[:, None]
    blf = bl.to(x_rows.dtype)[:, None]
    if params.pulse_type == "deterministic_implicit":
        x_q = discretize(x_scaled, bin_width(params.x_res_implicit), params.sto_round,
                         generator).clamp(0, 1)
        d_q = discretize(d_scaled, bin_width(params.d_res_implicit), params.sto_round,
                         generator).clamp(0, 1)
        factor = blf  # pulses_ij = round(BL * x_q * d_q)
    else:  # mean_count
        res = bin_width(params.res)
        x_q = torch.minimum(torch.round(blf * discretize(x_scaled, res, params.sto_round,
                                                         generator)), blf).clamp(min=0)
        d_q = torch.minimum(torch.round(blf * discretize(d_scaled, res, params.sto_round,
                                                         generator)), blf).clamp(min=0)
        factor = 1.0 / blf.clamp(min=1)  # pulses_ij = round(n_x * n_d / BL)
    x_bits, d_bits, lengths = explicit_trains(x_q, d_q, factor)
    sign_x = torch.where(x_rows < 0, -1.0, 1.0).to(x_rows.dtype)
    sign_d = torch.where(d_rows < 0, -1.0, 1.0).to(d_rows.dtype)
    return PulseTrains(sign_x * (x_q > 0), sign_d * (d_q > 0), lengths, x_bits, d_bits)


def explicit_trains(a: torch.Tensor, c: torch.Tensor, factor: torch.Tensor):
    """0/1 trains whose coincidences are ``round(factor[k] * a[k, j] * c[k, i])`` exactly
    (``kernels.explicit_trains_torch`` says how; numba on the CPU)."""
    return kernels.explicit_trains(a, c, factor)


def pulse_probabilities(x_rows: torch.Tensor, d_rows: torch.Tensor, lr: float, dw_min: float,
                        params: UpdateParameters):
    """Signed firing probabilities ``(k, in)``, ``(k, out)`` and train lengths ``(k,)`` of
    the stochastic pulse type (kept for callers that only need the statistics)."""
    trains = pulse_trains(x_rows, d_rows, lr, dw_min,
                          UpdateParameters(**{**params.__dict__,
                                              "pulse_type": "stochastic_compressed"}))
    return trains.x_prob, trains.d_prob, trains.bl
