"""Analog matrix-vector products with the non-idealities of real periphery.

One MVM on a crossbar, as aihwkit's ``ForwardBackwardPassIOManaged`` computes it, row by
row of the batch:

1. noise management picks a scale ``alpha`` and the input becomes ``x / alpha``
   (``abs_max``: ``max|x|``; ``max``: ``max x`` - an all-negative input then reads as 0;
   ``constant``: ``nm_thres``; ``abs_max_np_sum``: large enough that an assumed weight of
   ``nm_assumed_wmax`` cannot clip the output; ``nm_thres > 0`` caps the first two);
2. the DAC rounds to steps of ``inp_res * 2 * inp_bound`` (optionally stochastically),
   clips to ``[-inp_bound, inp_bound]`` and adds ``inp_noise``;
3. the array sums currents: ``W v`` plus weight read noise (``additive_constant``: std
   ``w_noise * ||v||``; ``pcm_read``: std ``w_noise * sqrt(sum_j |w_ij| v_j^2)``);
4. the ADC adds ``out_noise``, rounds to steps of ``out_res * 2 * out_bound`` and clips to
   ``[-out_bound, out_bound]``;
5. bound management: while an output clipped (the negative side too with
   ``bm_test_negative_bound``) the input is halved and the row recomputed, until the
   reduction exceeds ``max_bm_factor`` or ``max_bm_res / (inp_res * 2 * inp_bound)``
   (``iterative_worst_case``: the second pass switches to ``abs_max_np_sum``);
6. the digital result is ``out_scale * alpha * reduction * y``.

Resolutions follow aihwkit: a bin width relative to the full range ``2 * bound``
(``inp_res = 1/(2**7-2)`` is a 7-bit DAC: 126 steps over ``[-1, 1]``), or a number of
steps when > 1; 0 turns the quantizer off. ``is_perfect`` is an exact ``out_scale * W x``.
aihwkit ignores bound management in the backward pass; here it is honoured when asked for,
and ``io=default`` turns it off there as aihwkit does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch

from ..schema import check
from .pulses import bin_width, discretize


@dataclass
class IOParameters:
    """One direction (forward or backward) of the analog MVM (aihwkit ``IOParameters``)."""

    is_perfect: bool = False
    inp_bound: float = 1.0
    inp_res: float = 1.0 / (2**7 - 2)
    inp_sto_round: bool = False
    inp_noise: float = 0.0
    out_bound: float = 12.0
    out_res: float = 1.0 / (2**9 - 2)
    out_sto_round: bool = False
    out_noise: float = 0.06
    out_scale: float = 1.0
    w_noise: float = 0.0
    w_noise_type: Literal["none", "additive_constant", "pcm_read"] = "none"
    noise_management: Literal["none", "abs_max", "max", "constant",
                              "abs_max_np_sum"] = "abs_max"
    nm_thres: float = 0.0
    nm_assumed_wmax: float = 0.6
    bound_management: Literal["none", "iterative", "iterative_worst_case"] = "iterative"
    max_bm_factor: int = 1000
    max_bm_res: float = 0.25
    bm_test_negative_bound: bool = True

    def validate(self, key: str) -> None:
        p = f"{key}." if key else ""
        for name in ("inp_bound", "out_bound", "max_bm_res", "nm_assumed_wmax"):
            value = getattr(self, name)
            check(math.isfinite(value) and value > 0, p + name, "a finite number > 0", value)
        for name in ("inp_res", "out_res", "inp_noise", "out_noise", "w_noise", "nm_thres"):
            value = getattr(self, name)
            check(math.isfinite(value) and value >= 0, p + name,
                  "a number >= 0 (0 turns it off)", value)
        check(math.isfinite(self.out_scale) and self.out_scale != 0, p + "out_scale",
              "a non-zero number", self.out_scale)
        check(self.max_bm_factor >= 1, p + "max_bm_factor", "an integer >= 1",
              self.max_bm_factor)
        check(self.noise_management != "constant" or self.nm_thres > 0, p + "nm_thres",
              "a number > 0 with noise_management=constant", self.nm_thres)

    @property
    def inp_step(self) -> float:
        return bin_width(self.inp_res) * 2 * self.inp_bound

    @property
    def out_step(self) -> float:
        return bin_width(self.out_res) * 2 * self.out_bound


@dataclass
class IOConfig:
    """Forward and backward I/O of a tile (the ``io`` config group)."""

    name: str = "default"
    forward: IOParameters = field(default_factory=IOParameters)
    backward: IOParameters = field(default_factory=lambda: IOParameters(bound_management="none"))


def noise_management_scale(x: torch.Tensor, io: IOParameters,
                           kind: str | None = None) -> torch.Tensor:
    """The per-row input scale ``alpha`` of noise management, shape ``(N, 1)``."""
    kind = kind or io.noise_management
    ones = torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)
    if kind == "none":
        return ones
    if kind == "constant":
        return ones * io.nm_thres
    amax = x.abs().amax(dim=1, keepdim=True)
    if io.nm_thres > 0:
        amax = amax.clamp(max=io.nm_thres)
    if kind == "abs_max":
        return amax
    if kind == "max":
        value = x.amax(dim=1, keepdim=True)
        return value.clamp(max=io.nm_thres) if io.nm_thres > 0 else value
    # abs_max_np_sum
    total = torch.maximum(x.clamp(min=0).sum(1, keepdim=True),
                          -x.clamp(max=0).sum(1, keepdim=True))
    npsum = total * io.nm_assumed_wmax / io.out_bound
    if io.inp_step > 0:
        npsum = torch.minimum(amax / io.inp_step * io.max_bm_res, npsum)
    return torch.maximum(amax, npsum)


def _randn(shape, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)


def mvm_once(weight: torch.Tensor, v: torch.Tensor, io: IOParameters,
             generator: torch.Generator | None = None):
    """One pass through DAC, array and ADC of already scaled inputs ``v`` ``(N, in)``.

    Returns the outputs and, per row, whether no output hit the bound.
    """
    v = discretize(v, io.inp_step, io.inp_sto_round, generator)
    v = v.clamp(-io.inp_bound, io.inp_bound)
    if io.inp_noise > 0:
        v = v + io.inp_noise * _randn(v.shape, v, generator)
    out = v @ weight.T
    if io.w_noise > 0 and io.w_noise_type == "additive_constant":
        std = io.w_noise * v.norm(dim=1, keepdim=True)
        out = out + std * _randn(out.shape, out, generator)
    elif io.w_noise > 0 and io.w_noise_type == "pcm_read":
        std = io.w_noise * torch.sqrt((v * v) @ weight.abs().T)
        out = out + std * _randn(out.shape, out, generator)
    if io.out_noise > 0:
        out = out + io.out_noise * _randn(out.shape, out, generator)
    out = discretize(out, io.out_step, io.out_sto_round, generator)
    hit = out > io.out_bound
    if io.bm_test_negative_bound:
        hit = hit | (out < -io.out_bound)
    return out.clamp(-io.out_bound, io.out_bound), ~hit.any(dim=1)


def analog_mvm(weight: torch.Tensor, x: torch.Tensor, io: IOParameters,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """``x @ weight.T`` for ``x`` of shape ``(N, in)`` as the crossbar computes it."""
    if io.is_perfect:
        out = x @ weight.T
        return out * io.out_scale if io.out_scale != 1 else out
    raw = noise_management_scale(x, io)
    alpha = torch.where(raw > 0, raw, torch.ones_like(raw))
    # a row whose scale is <= 0 reads as zeros (aihwkit's short cut; e.g. `max` of x <= 0)
    silent = (raw <= 0).squeeze(1) & (io.noise_management != "none") & (io.inp_noise <= 0)
    bm_on = io.bound_management != "none"
    out = torch.zeros(x.shape[0], weight.shape[0], dtype=x.dtype, device=x.device)
    reduction = torch.ones_like(alpha)
    todo = ~silent
    limit = io.max_bm_res / io.inp_step if io.inp_step > 0 else math.inf
    bm_round = 0
    while bool(todo.any()):
        rows = todo.nonzero().squeeze(1)
        if bm_round == 1 and io.bound_management == "iterative_worst_case" \
                and io.noise_management != "abs_max_np_sum":
            worst = noise_management_scale(x[rows], io, "abs_max_np_sum")
            alpha[rows] = torch.where(worst > 0, worst, alpha[rows])
            reduction[rows] = 1.0
        scale = alpha[rows] * reduction[rows]
        out[rows], passed = mvm_once(weight, x[rows] / scale, io, generator)
        out[rows] = out[rows] * scale
        if not bm_on:
            break
        r = reduction[rows].squeeze(1)
        passed = passed | (r > io.max_bm_factor) | (r > limit)
        todo = torch.zeros_like(todo)
        todo[rows[~passed]] = True
        reduction[rows[~passed]] *= 2
        bm_round += 1
    return out * io.out_scale if io.out_scale != 1 else out
