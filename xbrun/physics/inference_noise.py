"""Conductance noise of a deployed crossbar: programming error, drift and read noise over time.

The trained weights are programmed once into inference tiles and read back at times ``t``
after programming. The models keep the names of aihwkit's inference noise models
(``aihwkit.inference.noise``, documented at
https://aihwkit.readthedocs.io/en/latest/api/aihwkit.inference.noise.pcm.html)
so results can be compared; the code is ours. Weights map to conductances as aihwkit's
``SinglePairConductanceConverter`` does: ``max|W|`` of a layer to ``g_max``, positive weights
on one device of a pair, negative on the other (:func:`weights_to_conductances`).

Global drift compensation (aihwkit's ``GlobalDriftCompensation``) reads the array once with
an all-ones input right after programming and again at ``t``; the outputs at ``t`` are
scaled by the ratio (:func:`global_drift_readout`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

_ZERO_CLIP = 1e-7  # aihwkit's floor on g/g_max before the logarithm of the drift fit


@dataclass
class PCMLikeNoiseModel:
    """Phase-change memory fitted on measured devices: Nandakumar et al., "Phase-change
    memory models for deep learning training and inference", ICECS 2019
    (https://ieeexplore.ieee.org/abstract/document/8964852), as aihwkit's
    ``PCMLikeNoiseModel`` states it (same parameters and defaults; conductances in uS).

    - programming noise: additive Gaussian, sd ``sum_i prog_coeff[i] (g_t/g_max)^i`` uS
      (fitted at ``prog_coeff_g_max_reference`` = 25 uS, rescaled to ``g_max``);
    - drift: ``g(t) = g_prog ((t + t_0)/t_0)^-nu``, ``nu`` drawn per device from a normal whose
      mean and spread depend on ``g_t/g_max`` (clipped to [0.049, 0.1] and [0.008, 0.045]);
    - 1/f read noise accumulated since programming: relative sd
      ``q_s sqrt(log((t + t_0 + t_read) / (2 t_read)))``, ``q_s = min(0.0088/(g/g_max)^0.65, 0.2)``.
    """

    prog_coeff: tuple[float, ...] = (0.26348, 1.9650, -1.1731)
    g_max: float = 25.0
    t_read: float = 250.0e-9
    t_0: float = 20.0
    prog_noise_scale: float = 1.0
    read_noise_scale: float = 1.0
    drift_scale: float = 1.0
    prog_coeff_g_max_reference: float = 25.0

    def apply_programming_noise_to_conductance(self, g_target: torch.Tensor,
                                               gen: torch.Generator) -> torch.Tensor:
        ratio, power = g_target / self.g_max, torch.ones_like(g_target)
        sig_prog = torch.full_like(g_target, self.prog_coeff[0])
        for coeff in self.prog_coeff[1:]:
            power = power * ratio
            sig_prog = sig_prog + coeff * power
        sig_prog = sig_prog * (self.g_max / self.prog_coeff_g_max_reference)
        noise = torch.randn(g_target.shape, generator=gen, dtype=g_target.dtype)
        return (g_target + self.prog_noise_scale * sig_prog * noise).clamp(min=0.0)

    def generate_drift_coefficients(self, g_target: torch.Tensor,
                                    gen: torch.Generator) -> torch.Tensor:
        g_relative = (g_target / self.g_max).abs().clamp(min=_ZERO_CLIP)
        mu_drift = (-0.0155 * g_relative.log() + 0.0244).clamp(min=0.049, max=0.1)
        sig_drift = (-0.0125 * g_relative.log() - 0.0059).clamp(min=0.008, max=0.045)
        noise = torch.randn(g_target.shape, generator=gen, dtype=g_target.dtype)
        return (mu_drift + sig_drift * noise).abs() * self.drift_scale

    def apply_drift_noise_to_conductance(self, g_prog: torch.Tensor, nu: torch.Tensor,
                                         t_inference: float, gen: torch.Generator
                                         ) -> torch.Tensor:
        t = t_inference + self.t_0
        g_drift = g_prog * (t / self.t_0) ** (-nu) if t > self.t_0 else g_prog
        q_s = (0.0088 / ((g_prog.abs() / self.g_max) ** 0.65).clamp(min=1e-3)).clamp(max=0.2)
        sig_noise = q_s * math.sqrt(math.log((t + self.t_read) / (2 * self.t_read)))
        noise = torch.randn(g_prog.shape, generator=gen, dtype=g_prog.dtype)
        return (g_drift + g_drift.abs() * self.read_noise_scale * sig_noise * noise).clamp(min=0)


@dataclass
class ReRAMLikeNoiseModel:
    """A simple ReRAM-like model (xbrun's, documented here; not aihwkit's fitted
    ``ReRamWan2022NoiseModel`` of Wan et al., Nature 608, 2022): filamentary devices
    program with a conductance-independent Gaussian error of ``prog_std * g_max`` and do not
    drift systematically (``nu = 0``); instead the conductance relaxes randomly, an additive
    Gaussian whose sd grows with ``log10(1 + t / t_0)`` by ``relax_std * g_max`` per decade,
    read with a relative ``read_std``. Its parameters are illustrative, not fitted to data:
    use it to compare against drift-free relaxation, not to predict a chip."""

    g_max: float = 25.0
    t_0: float = 20.0
    prog_std: float = 0.03
    relax_std: float = 0.01
    read_std: float = 0.01

    def apply_programming_noise_to_conductance(self, g_target: torch.Tensor,
                                               gen: torch.Generator) -> torch.Tensor:
        noise = torch.randn(g_target.shape, generator=gen, dtype=g_target.dtype)
        return (g_target + self.prog_std * self.g_max * noise).clamp(0.0, self.g_max)

    def generate_drift_coefficients(self, g_target: torch.Tensor,
                                    gen: torch.Generator) -> torch.Tensor:
        return torch.zeros_like(g_target)

    def apply_drift_noise_to_conductance(self, g_prog: torch.Tensor, nu: torch.Tensor,
                                         t_inference: float, gen: torch.Generator
                                         ) -> torch.Tensor:
        sd = self.relax_std * self.g_max * math.log10(1 + t_inference / self.t_0)
        relax = torch.randn(g_prog.shape, generator=gen, dtype=g_prog.dtype)
        read = torch.randn(g_prog.shape, generator=gen, dtype=g_prog.dtype)
        g_t = g_prog + sd * relax
        return (g_t + g_t.abs() * self.read_std * read).clamp(0.0, self.g_max)


NOISE_MODELS = {"pcm": PCMLikeNoiseModel, "reram": ReRAMLikeNoiseModel}


def weights_to_conductances(weight: torch.Tensor, g_max: float
                            ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """``(g_plus, g_minus, scale)`` with ``weight = (g_plus - g_minus) / scale``: aihwkit's
    single-pair converter (``max|W|`` to ``g_max``, ``g_min`` 0)."""
    scale = g_max / max(float(weight.abs().max()), 1e-12)
    return weight.clamp(min=0) * scale, (-weight).clamp(min=0) * scale, scale


def global_drift_readout(weight: torch.Tensor) -> float:
    """aihwkit's ``GlobalDriftCompensation.readout``: the mean |output| for an all-ones
    input (floored at 1e-4 so a dead array does not divide by zero)."""
    return max(float((weight @ torch.ones(weight.shape[1], dtype=weight.dtype)).abs().mean()),
               1e-4)


class ProgrammedWeight:
    """One layer's weight as programmed once: a device pair per element, its programmed
    conductances and drift exponents; :meth:`read` gives the weight read at time ``t``."""

    def __init__(self, weight: torch.Tensor, model, gen: torch.Generator,
                 compensate: bool):
        self.model, self.gen, self.compensate = model, gen, compensate
        g_plus, g_minus, self.scale = weights_to_conductances(weight.double(), model.g_max)
        self.g = [model.apply_programming_noise_to_conductance(g, gen) for g in (g_plus, g_minus)]
        self.nu = [model.generate_drift_coefficients(g, gen) for g in (g_plus, g_minus)]
        # aihwkit takes the reference read right after programming (t = 0)
        self.reference = global_drift_readout(self._read(0.0)) if compensate else None

    def _read(self, t: float) -> torch.Tensor:
        g = [self.model.apply_drift_noise_to_conductance(g, nu, t, self.gen)
             for g, nu in zip(self.g, self.nu, strict=True)]
        return (g[0] - g[1]) / self.scale

    def read(self, t: float, dtype=torch.float32) -> torch.Tensor:
        weight = self._read(t)
        if self.compensate:
            weight = weight * (self.reference / global_drift_readout(weight))
        return weight.to(dtype)
