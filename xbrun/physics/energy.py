"""The energy and time model of a run (``energy`` config group): what the counted pulses,
MVMs and conversions cost on a chip.

Counting is exact (the kernels count every pulse of every element; the tiles every vector
through an MVM); the prices are first-order models with cited defaults, meant to rank
algorithms and cells, not to sign off a chip. Per tile of ``out x in`` cells:

    write_energy_j   = sum over arrays of pulses * cell.pulse_energy_j
                       (``energy.write_energy_j`` > 0 overrides every cell's)
    read_energy_j    = MVM vectors * out * in * read_energy_j
    convert_energy_j = forward vectors  * (in * E_DAC(fwd inp bits) + out * E_ADC(fwd out bits))
                     + backward vectors * (out * E_DAC(bwd inp bits) + in * E_ADC(bwd out bits))
    E_ADC(b) = adc_fom_j * 2**b   (Walden figure of merit: energy per conversion step)
    E_DAC(b) = dac_unit_j * 2**b  (a binary-weighted switched-capacitor DAC charges 2**b units)
    analog_time_s    = MVM vectors * mvm_time_s + train slots * pulse_time_s

MVMs run one vector after another; a pulse train is row-parallel: a rank-1 update (or one
line write) takes its train's slots whatever the number of coincidences. A transfer's read
of a line (a one-hot MVM) is charged as one forward MVM. The bits of a converter come from
the tile's I/O: ``res`` a bin width ``1/(2**b - 2)`` or a number of steps; a quantizer that
is off (``res`` 0, or ``is_perfect``) is charged ``unquantized_bits``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..schema import check

# NeuroSim (Chen, Peng & Yu, TCAD 2018; MLP_NeuroSim Cell.cpp ``IdealDevice``): conductance
# 100 nS .. 5 uS, read 0.5 V for 5 ns, write 2 V for 10 ns. At the mid conductance 2.55 uS:
NEUROSIM_G_MID = 0.5 * (100e-9 + 5e-6)
NEUROSIM_READ_J = 0.5**2 * NEUROSIM_G_MID * 5e-9     # V_r^2 G t_r  = 3.19e-15 J
NEUROSIM_WRITE_J = 2.0**2 * NEUROSIM_G_MID * 10e-9   # V_w^2 G t_w  = 1.02e-13 J


@dataclass
class EnergyConfig:
    """Prices of a run's analog operations (``energy.*``); each default names its source.

    write_energy_j: energy of one write pulse on one cell for every cell (J); 0 (default):
        each array's own ``cell.pulse_energy_j`` (its preset's number).
    read_energy_j: energy of one cell in one MVM (J). Default: NeuroSim's ``IdealDevice``
        (Chen, Peng & Yu, IEEE TCAD 2018): V_r^2 G t_r = 0.5 V^2 x 2.55 uS x 5 ns.
    adc_fom_j: ADC energy per conversion step, E = adc_fom_j * 2**bits (J). Default 10 fJ:
        the Walden figure of merit of recent SAR ADCs in B. Murmann's "ADC Performance
        Survey 1997-2023" (Stanford).
    dac_unit_j: DAC energy per unit step, E = dac_unit_j * 2**bits (J). Default 1 fJ: a
        1 fF unit capacitor charged to 1 V, the first-order capacitive-DAC estimate of
        Saberi et al., IEEE TCAS-I 58(8), 2011.
    unquantized_bits: bits charged for a converter whose quantizer is off (io res 0).
        Default 8 (NeuroSim's default ADC precision).
    pulse_time_s: one slot of a pulse train (s). Default 1 ns: Gokmen & Vlasov, Front.
        Neurosci. 10:333 (2016), Table 1 (pulse duration of the RPU).
    mvm_time_s: one MVM, the integration of one vector (s). Default 80 ns: Gokmen & Vlasov
        2016's forward/backward integration time t_meas.
    count_cells: keep the per-cell pulse counters (off only to measure what they cost).
    """

    write_energy_j: float = 0.0
    read_energy_j: float = NEUROSIM_READ_J
    adc_fom_j: float = 10e-15
    dac_unit_j: float = 1e-15
    unquantized_bits: int = field(default=8, metadata={"range": (1, 32)})
    pulse_time_s: float = 1e-9
    mvm_time_s: float = 80e-9
    count_cells: bool = True

    def validate(self, key: str) -> None:
        for name in ("write_energy_j", "read_energy_j", "adc_fom_j", "dac_unit_j"):
            value = getattr(self, name)
            check(math.isfinite(value) and value >= 0, f"{key}.{name}",
                  "a number of joules >= 0", value)
        for name in ("pulse_time_s", "mvm_time_s"):
            value = getattr(self, name)
            check(math.isfinite(value) and value > 0, f"{key}.{name}",
                  "a duration in seconds > 0", value)
        check(1 <= self.unquantized_bits <= 32, f"{key}.unquantized_bits",
              "an integer in [1, 32]", self.unquantized_bits)


def converter_bits(res: float, unquantized: int) -> int:
    """Bits of a converter with bin width ``res`` (``1/(2**b - 2)``) or ``res`` steps (> 1);
    ``unquantized`` where the quantizer is off."""
    if res <= 0:
        return unquantized
    steps = res if res > 1 else 1.0 / res
    return max(1, math.ceil(math.log2(steps + 2) - 1e-9))


def adc_energy(config: EnergyConfig, bits: int) -> float:
    return config.adc_fom_j * 2.0**bits


def dac_energy(config: EnergyConfig, bits: int) -> float:
    return config.dac_unit_j * 2.0**bits


__all__ = ["EnergyConfig", "adc_energy", "converter_bits", "dac_energy"]
