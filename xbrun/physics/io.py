"""Analog matrix-vector products with the non-idealities of real periphery.

An MVM on a crossbar drives inputs through DACs (clipped to ``inp_bound``, quantized with
``inp_res``), sums currents with read noise on the weights (``w_noise``) and on the outputs
(``out_noise``), clips at the ADC range (``out_bound``) and quantizes with ``out_res``.
Noise management scales each input vector by its abs-max so the DAC range is used;
bound management halves the input and retries when an output clips. Names and defaults
follow aihwkit's ``IOParameters``; resolutions are given relative to the bound
(``inp_res = 1/(2**7-2)`` is a 7-bit DAC over ``[-inp_bound, inp_bound]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from ..schema import check


@dataclass
class IOParameters:
    """One direction (forward or backward) of the analog MVM."""

    is_perfect: bool = False
    inp_bound: float = 1.0
    inp_res: float = 1.0 / (2**7 - 2)
    inp_sto_round: bool = False
    out_bound: float = 12.0
    out_res: float = 1.0 / (2**9 - 2)
    out_noise: float = 0.06
    w_noise: float = 0.0
    w_noise_type: Literal["none", "additive_constant"] = "none"
    noise_management: Literal["none", "abs_max"] = "abs_max"
    bound_management: Literal["none", "iterative"] = "iterative"
    max_bm_factor: int = 1000

    def validate(self, key: str) -> None:
        p = f"{key}." if key else ""
        check(self.inp_bound > 0, p + "inp_bound", "a number > 0", self.inp_bound)
        check(self.out_bound > 0, p + "out_bound", "a number > 0", self.out_bound)
        for name in ("inp_res", "out_res", "out_noise", "w_noise"):
            value = getattr(self, name)
            check(value >= 0, p + name, "a number >= 0 (0 turns it off)", value)
        check(self.inp_res < 1 and self.out_res < 1, p + "inp_res/out_res",
              "a resolution below 1 (e.g. 1/254)", (self.inp_res, self.out_res))
        check(self.max_bm_factor >= 1, p + "max_bm_factor", "an integer >= 1",
              self.max_bm_factor)


@dataclass
class IOConfig:
    """Forward and backward I/O of a tile (the ``io`` config group)."""

    name: str = "default"
    forward: IOParameters = field(default_factory=IOParameters)
    backward: IOParameters = field(default_factory=IOParameters)


def _quantize(values: torch.Tensor, step: float, stochastic: bool,
              generator: torch.Generator | None) -> torch.Tensor:
    if step <= 0:
        return values
    scaled = values / step
    if stochastic:
        noise = torch.rand(values.shape, generator=generator, device=values.device)
        return torch.floor(scaled + noise) * step
    return torch.round(scaled) * step


def analog_mvm(weight: torch.Tensor, x: torch.Tensor, io: IOParameters,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """``x @ weight.T`` for ``x`` of shape ``(N, in)`` as the crossbar computes it."""
    if io.is_perfect:
        return x @ weight.T
    scale = torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)
    if io.noise_management == "abs_max":
        scale = x.abs().amax(dim=1, keepdim=True)
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    x = x / scale
    out = _mvm_once(weight, x, io, generator)
    if io.bound_management == "iterative":
        factor = torch.ones_like(scale)
        clipped = (out.abs() >= io.out_bound).any(dim=1)
        while clipped.any() and float(factor[clipped].max()) * 2 <= io.max_bm_factor:
            factor[clipped] *= 2
            rows = clipped.nonzero().squeeze(1)
            out[rows] = _mvm_once(weight, x[rows] / factor[rows], io, generator)
            clipped = torch.zeros_like(clipped)
            clipped[rows] = (out[rows].abs() >= io.out_bound).any(dim=1)
        scale = scale * factor
    return out * scale


def _mvm_once(weight: torch.Tensor, x: torch.Tensor, io: IOParameters,
              generator: torch.Generator | None) -> torch.Tensor:
    x = x.clamp(-io.inp_bound, io.inp_bound)
    x = _quantize(x, io.inp_res * io.inp_bound, io.inp_sto_round, generator)
    out = x @ weight.T
    if io.w_noise > 0 and io.w_noise_type == "additive_constant":
        # Gaussian read noise on every weight is, summed over the line, Gaussian noise of
        # std w_noise * ||x||_2 on each output.
        norm = x.norm(dim=1, keepdim=True)
        out = out + io.w_noise * norm * torch.randn(out.shape, generator=generator,
                                                    device=out.device)
    if io.out_noise > 0:
        out = out + io.out_noise * torch.randn(out.shape, generator=generator,
                                               device=out.device)
    out = out.clamp(-io.out_bound, io.out_bound)
    return _quantize(out, io.out_res * io.out_bound, False, generator)
