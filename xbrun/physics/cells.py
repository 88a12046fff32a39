"""Unit cells: the physics of one resistive element, with aihwkit's parameter names.

A cell config draws the per-element parameters of a whole array once (device-to-device
spread, reproducible from the generator it is given) in the row layout the update kernel
reads (``kernels.layout``), and names the pulse response the kernel applies
(``kernel_kind``, ``noise_std``, ``mult_noise``, ``cell_scalars``). The response itself
lives in ``xbrun.kernels`` so the Triton kernel and its torch twin share one definition.

How the spreads are drawn follows aihwkit's C++ ``populate`` (``rpu_pulsed_device.cpp``),
not its docstrings where the two differ (``xi`` are independent standard normals per
element)::

    w_max_ij   = w_max * (1 + w_max_dtod * xi)      w_min_ij = w_min * (1 + w_min_dtod * xi)
    gain       = 1 + dw_min_dtod * xi               r = up_down_dtod * xi
                 (exp(dw_min_dtod * xi) with dw_min_dtod_log_normal)
    scale_up   = (min(up_down, 0) + gain + r) * dw_min
    scale_down = (-max(up_down, 0) + gain - r) * dw_min
    reset_ij   = reset + reset_dtod * xi            (additive spread, absolute units)

so ``up_down > 0`` weakens the down step (``dw_min * (1 - up_down)``) and leaves the up
step at ``dw_min``; ``up_down < 0`` weakens the up step. With ``enforce_consistency`` (the
default) steps are made positive and bounds are made to straddle 0 (swapped first if
drawn the wrong way round); without it an element whose bounds cross is stuck at their
midpoint. ``corrupt_devices_prob`` sticks an element at a uniform value within its bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Literal

import torch

from .. import kernels
from ..schema import check
from .energy import NEUROSIM_WRITE_J


def _check_keys(cell, p: str, names: tuple[str, ...], ok, allowed: str) -> None:
    """``check`` of each key in ``names`` (``p``: the keys' prefix): every cell validates
    its groups of like keys (spreads >= 0, finite shape constants) this one way."""
    for name in names:
        value = getattr(cell, name)
        check(ok(value), p + name, allowed, value)


def _non_negative(value: float) -> bool:
    return value >= 0


def _finite_non_negative(value: float) -> bool:
    return math.isfinite(value) and value >= 0

ROWS = kernels.ROWS  # rows of the kernels' layout (kernels/layout.py); a cell keeps the first


@dataclass
class IdealCell:
    """No pulses: the update is applied exactly in floating point (aihwkit's IdealDevice)."""

    kind: str = "ideal"
    construction_seed: int = 0

    @property
    def is_pulsed(self) -> bool:
        return False

    def validate(self, key: str) -> None:
        p = f"{key}." if key else ""
        check(self.construction_seed >= 0, p + "construction_seed", "an integer >= 0",
              self.construction_seed)

    def summary(self) -> str:
        return "ideal (exact floating-point update)"


@dataclass
class PulsedCell:
    """Parameters every pulsed cell shares (aihwkit ``PulsedDevice``).

    dw_min: mean step of one pulse (at w = 0 for most cells); ``*_dtod``: device-to-device
    spread drawn once per element (relative to the mean, except ``reset_dtod``);
    dw_min_dtod_log_normal: the step's spread is log-normal, gain ``exp(dw_min_dtod*xi)``;
    dw_min_std: cycle-to-cycle noise of each pulse, relative to the step; up_down:
    systematic up/down bias (see the module docstring). reset / reset_dtod / reset_std:
    where :meth:`PulsedArray.reset` puts an element - its own reset value
    ``reset + reset_dtod*xi`` (drawn once) plus fresh ``reset_std*xi`` each reset, clipped
    to the element's bounds (aihwkit's ``reset_columns``; used by transfer devices).
    write_noise_std: aihwkit's write noise, in units of dw_min: the array keeps a hidden
    persistent weight that pulses move, and reads see it plus Gaussian noise drawn anew
    whenever an element is written. construction_seed: non-zero fixes the
    device-to-device draw of every array built from this cell (0: from the run seed).
    endurance: write pulses a cell survives (the cost ledger's ``lifetime_used``). Default
    1e9: an assumed order of magnitude for oxide ReRAM (reviews report 1e6 to 1e12, e.g.
    S. Yu, Proc. IEEE 106(2), 2018), not a measurement; presets set their device's.
    pulse_energy_j: energy of one write pulse on one cell (J). Default: NeuroSim's
    ``IdealDevice`` (Chen, Peng & Yu, IEEE TCAD 2018), V_w^2 G t_w = 2 V^2 x 2.55 uS x
    10 ns = 1.02e-13 J; presets set their device's.
    """

    kind: str = "constant_step"
    dw_min: float = 0.001
    dw_min_dtod: float = 0.3
    dw_min_dtod_log_normal: bool = False
    dw_min_std: float = 0.3
    up_down: float = 0.0
    up_down_dtod: float = 0.01
    w_max: float = 0.6
    w_min: float = -0.6
    w_max_dtod: float = 0.3
    w_min_dtod: float = 0.3
    enforce_consistency: bool = True
    corrupt_devices_prob: float = 0.0
    corrupt_devices_range: float = 0.1  # aihwkit 1.2.0 configs/devices.py (its C++: max)
    reset: float = 0.0
    reset_dtod: float = 0.0
    reset_std: float = 0.01
    write_noise_std: float = 0.0
    construction_seed: int = 0
    endurance: float = 1e9
    pulse_energy_j: float = NEUROSIM_WRITE_J

    kernel_kind = kernels.CELL_CONSTANT

    @property
    def is_pulsed(self) -> bool:
        return True

    @property
    def mult_noise(self) -> bool:
        return True

    @property
    def noise_std(self) -> float:
        return self.dw_min_std

    @property
    def cell_scalars(self) -> tuple:
        return ()

    @property
    def has_reference(self) -> bool:
        """Whether reads subtract a per-element reference (``ReferenceCell``)."""
        return False

    # -- checks --------------------------------------------------------------------
    def validate(self, key: str) -> None:
        p = f"{key}." if key else ""
        check(math.isfinite(self.dw_min) and self.dw_min > 0, p + "dw_min", "a number > 0",
              self.dw_min)
        _check_keys(self, p, ("dw_min_dtod", "dw_min_std", "up_down_dtod", "w_max_dtod",
                              "w_min_dtod", "reset_dtod", "reset_std", "write_noise_std"),
                    _finite_non_negative, "a number >= 0")
        check(-1 < self.up_down < 1, p + "up_down", "a number in (-1, 1)", self.up_down)
        check(math.isfinite(self.endurance) and self.endurance > 0, p + "endurance",
              "a number of pulses > 0", self.endurance)
        check(math.isfinite(self.pulse_energy_j) and self.pulse_energy_j >= 0,
              p + "pulse_energy_j", "a number of joules >= 0", self.pulse_energy_j)
        check(self.w_max >= 0, p + "w_max", "a number >= 0 ([w_min, w_max] must contain 0)",
              self.w_max)
        check(self.w_min <= 0, p + "w_min", "a number <= 0 ([w_min, w_max] must contain 0)",
              self.w_min)
        check(self.w_max > self.w_min, p + "w_max", f"a number > w_min = {self.w_min}",
              self.w_max)
        check(self.dw_min < self.w_max - self.w_min, p + "dw_min",
              f"a step smaller than the range w_max - w_min = {self.w_max - self.w_min:g}",
              self.dw_min)
        check(0 <= self.corrupt_devices_prob <= 1, p + "corrupt_devices_prob",
              "a probability in [0, 1]", self.corrupt_devices_prob)
        check(self.corrupt_devices_range > 0, p + "corrupt_devices_range", "a number > 0",
              self.corrupt_devices_range)
        check(math.isfinite(self.reset), p + "reset", "a finite number", self.reset)
        check(self.construction_seed >= 0, p + "construction_seed", "an integer >= 0",
              self.construction_seed)

    # -- the device-to-device draw ---------------------------------------------------
    def sample(self, shape: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
        """Draw the ``(ROWS, out, in)`` per-element parameters of one array (on the CPU)."""
        ref = kernels.layout

        def xi() -> torch.Tensor:
            return torch.randn(shape, generator=generator, dtype=torch.float64)

        w_max = self.w_max * (1 + self.w_max_dtod * xi())
        w_min = self.w_min * (1 + self.w_min_dtod * xi())
        gain = (torch.exp(self.dw_min_dtod * xi()) if self.dw_min_dtod_log_normal
                else 1 + self.dw_min_dtod * xi())
        r = self.up_down_dtod * xi()
        scale_up = (min(self.up_down, 0.0) + gain + r) * self.dw_min
        scale_down = (-max(self.up_down, 0.0) + gain - r) * self.dw_min
        if self.enforce_consistency:
            scale_up, scale_down = scale_up.abs(), scale_down.abs()
            swap = w_min > w_max
            w_max, w_min = torch.where(swap, w_min, w_max), torch.where(swap, w_max, w_min)
            w_max, w_min = w_max.abs(), -w_min.abs()
        else:
            mid = 0.5 * (w_max + w_min)
            crossed = w_min > w_max
            w_max, w_min = torch.where(crossed, mid, w_max), torch.where(crossed, mid, w_min)
        corrupt = torch.rand(shape, generator=generator, dtype=torch.float64)
        position = torch.rand(shape, generator=generator, dtype=torch.float64)
        if self.corrupt_devices_prob > 0:
            bad = corrupt < self.corrupt_devices_prob
            lo = torch.clamp(torch.minimum(w_max, w_min), min=-self.corrupt_devices_range)
            hi = torch.clamp(torch.maximum(w_max, w_min), max=self.corrupt_devices_range)
            stuck = lo + (hi - lo) * position
            w_max, w_min = torch.where(bad, stuck, w_max), torch.where(bad, stuck, w_min)
            scale_up = torch.where(bad, 0.0, scale_up)
            scale_down = torch.where(bad, 0.0, scale_down)
        params = torch.zeros((ROWS, *shape), dtype=torch.float64)
        params[ref.ROW_SCALE_UP] = scale_up
        params[ref.ROW_SCALE_DOWN] = scale_down
        params[ref.ROW_W_MAX] = w_max
        params[ref.ROW_W_MIN] = w_min
        self._fill_shape_rows(params, xi)
        return params[:kernels.ROWS_REQUIRED[self.kernel_kind]].float()

    def _fill_shape_rows(self, params: torch.Tensor, xi) -> None:
        """Cells with a state-dependent step fill their rows here (``xi()`` draws)."""

    def sample_reset(self, shape: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
        """Each element's own reset value ``reset + reset_dtod * xi`` (drawn once)."""
        xi = torch.randn(shape, generator=generator, dtype=torch.float64)
        return (self.reset + self.reset_dtod * xi).float()

    # -- what the update and the tools need to know ------------------------------------
    @property
    def weight_granularity(self) -> float:
        """Mean step used to scale pulse probabilities (aihwkit ``calcWeightGranularity``)."""
        return self.dw_min

    @property
    def n_states(self) -> float:
        return (self.w_max - self.w_min) / self.weight_granularity

    def nominal(self) -> PulsedCell:
        """The same cell without device-to-device spread (for tables and plots)."""
        no_spread = {f.name: 0.0 for f in fields(self) if f.name.endswith("_dtod")}
        return replace(self, corrupt_devices_prob=0.0, **no_spread)

    def summary(self) -> str:
        return (f"{self.kind}: dw_min={self.dw_min:g}, range=[{self.w_min:g}, {self.w_max:g}], "
                f"~{self.n_states:.0f} states")


@dataclass
class ConstantStep(PulsedCell):
    """Every pulse moves the weight by the same step (up to noise), clipped at the bounds."""

    kind: str = "constant_step"


@dataclass
class _LinearShape(PulsedCell):
    """Shared by LinearStep and SoftBounds: the step changes linearly with the weight.

    Up step ``scale_up * (1 - g_up * w / ref_up)``, down step ``scale_down * (1 - g_down *
    w / ref_down)`` where ``ref_up`` is the upper bound and ``ref_down`` the lower one
    (``reverse_up``: ``w_min - reverse_offset``, so the up step grows with w instead;
    ``reverse_down`` likewise with ``w_max + reverse_offset``). ``mult_noise``: the
    cycle-to-cycle noise scales with the step (else it is ``dw_min_std * scale`` additive).
    """

    mult_noise: bool = True
    reverse_up: bool = False
    reverse_down: bool = False
    reverse_offset: float = 0.01

    kernel_kind = kernels.CELL_LINEAR

    def validate(self, key: str) -> None:
        super().validate(key)
        p = f"{key}." if key else ""
        check(self.mult_noise or not (self.reverse_up or self.reverse_down), p + "mult_noise",
              "true when reverse_up or reverse_down is set (aihwkit supports only that)",
              self.mult_noise)
        check(self.reverse_offset >= 0, p + "reverse_offset", "a number >= 0",
              self.reverse_offset)

    def _slopes(self, params: torch.Tensor, g_up: torch.Tensor, g_down: torch.Tensor,
                mean_reference: bool) -> None:
        ref = kernels.layout
        w_max = torch.full_like(g_up, self.w_max) if mean_reference else params[ref.ROW_W_MAX]
        w_min = torch.full_like(g_up, self.w_min) if mean_reference else params[ref.ROW_W_MIN]
        ref_up = w_min - self.reverse_offset if self.reverse_up else w_max
        ref_down = w_max + self.reverse_offset if self.reverse_down else w_min
        params[ref.ROW_SLOPE_UP] = torch.where(
            ref_up != 0, g_up / torch.where(ref_up != 0, ref_up, 1.0), 0.0)
        params[ref.ROW_SLOPE_DOWN] = torch.where(
            ref_down != 0, g_down / torch.where(ref_down != 0, ref_down, 1.0), 0.0)


@dataclass
class LinearStep(_LinearShape):
    """The step changes linearly with the weight (aihwkit ``LinearStepDevice``).

    gamma_up / gamma_down: relative decrease of the step at the bound (0.1: 10 % smaller
    at w_max than at 0), per element ``|gamma + gamma_dtod * xi|`` (sign kept with
    ``allow_increasing``); mean_bound_reference: divide by the mean bounds w_max / w_min
    rather than each element's own.
    """

    kind: str = "linear_step"
    gamma_up: float = 0.0
    gamma_down: float = 0.0
    gamma_up_dtod: float = 0.05
    gamma_down_dtod: float = 0.05
    allow_increasing: bool = False
    mean_bound_reference: bool = True

    def validate(self, key: str) -> None:
        super().validate(key)
        p = f"{key}." if key else ""
        _check_keys(self, p, ("gamma_up_dtod", "gamma_down_dtod"), _non_negative,
                    "a number >= 0")
        _check_keys(self, p, ("gamma_up", "gamma_down"), math.isfinite, "a finite number")

    def _fill_shape_rows(self, params, xi) -> None:
        g_up = self.gamma_up + self.gamma_up_dtod * xi()
        g_down = self.gamma_down + self.gamma_down_dtod * xi()
        if not self.allow_increasing:
            g_up, g_down = g_up.abs(), g_down.abs()
        self._slopes(params, g_up, g_down, self.mean_bound_reference)


@dataclass
class SoftBounds(_LinearShape):
    """The step shrinks linearly to zero at the element's own bound (aihwkit SoftBounds).

    Up step ``scale_up * (1 - w / w_max_ij)``, down step ``scale_down * (1 - w / w_min_ij)``
    (LinearStep with gamma 1, no gamma spread, per-element bounds). The symmetry point,
    where up and down steps are equal, lies between the bounds (at 0 for a symmetric cell).
    """

    kind: str = "soft_bounds"

    def _fill_shape_rows(self, params, xi) -> None:
        ones = torch.ones_like(params[0])
        self._slopes(params, ones, ones, mean_reference=False)


@dataclass
class ExpStep(PulsedCell):
    """Exponential step (aihwkit ``ExpStepDevice``, CMOS-like / ReRAM fits).

    ``z = 2 a w / (w_max_ij - w_min_ij) + b``; up step ``scale_up * max(1 - A_up e^{gamma_up
    z}, 0)``, down step ``scale_down * max(1 - A_down e^{-gamma_down z}, 0)``. A, gamma, a, b
    are tile-wide (no spread). Noise std ``dw_min_std * (|dw| + dw_min_std_add +
    dw_min_std_slope |w|)`` (with the last two 0: multiplicative).
    """

    kind: str = "exp_step"
    A_up: float = 0.00081
    A_down: float = 0.36833
    gamma_up: float = 12.44625
    gamma_down: float = 12.78785
    a: float = 0.244
    b: float = 0.2425
    dw_min_std_add: float = 0.0
    dw_min_std_slope: float = 0.0

    kernel_kind = kernels.CELL_EXP

    def validate(self, key: str) -> None:
        super().validate(key)
        p = f"{key}." if key else ""
        _check_keys(self, p, ("A_up", "A_down", "gamma_up", "gamma_down", "a", "b"),
                    math.isfinite, "a finite number")
        _check_keys(self, p, ("dw_min_std_add", "dw_min_std_slope"), _non_negative,
                    "a number >= 0")
        y_up, y_down = self._y(0.0)
        check(y_up > 0 or y_down > 0, p + "A_up/A_down",
              "values that leave a non-zero step at w = 0", (self.A_up, self.A_down))

    @property
    def cell_scalars(self) -> tuple:
        return (self.A_up, self.A_down, self.gamma_up, self.gamma_down, self.a, self.b,
                self.dw_min_std_add, self.dw_min_std_slope)

    def _y(self, w: float) -> tuple[float, float]:
        z = 2 * self.a * w / (self.w_max - self.w_min) + self.b
        y_up = max(1 - self.A_up * math.exp(min(self.gamma_up * z, 80.0)), 0.0)
        y_down = max(1 - self.A_down * math.exp(min(-self.gamma_down * z, 80.0)), 0.0)
        return y_up, y_down

    @property
    def weight_granularity(self) -> float:
        """Mean of the up and down steps at w = 0 (aihwkit's formula averages the down step
        with itself, a slip; for its defaults the two differ by < 0.1 %)."""
        y_up, y_down = self._y(0.0)
        up = (1 + min(self.up_down, 0.0)) * self.dw_min * y_up
        down = (1 - max(self.up_down, 0.0)) * self.dw_min * y_down
        value = 0.5 * (up + down)
        return value if value > 0 else self.dw_min


@dataclass
class PowStep(PulsedCell):
    """Power-law step (aihwkit ``PowStepDevice``, the Fusi & Abbott synapse).

    Up step ``scale_up * ((w_max_ij - w) / (w_max_ij - w_min_ij)) ** gamma_up``, down step
    ``scale_down * ((w - w_min_ij) / (w_max_ij - w_min_ij)) ** gamma_down`` with per-element
    exponents drawn like the steps: ``gamma_up = |pow_gamma (min(pow_up_down, 0) + gain +
    r)|``, ``gamma_down = |pow_gamma (-max(pow_up_down, 0) + gain - r)|``, gain ``1 +
    pow_gamma_dtod xi``, ``r = pow_up_down_dtod xi``. Noise is multiplicative.
    """

    kind: str = "pow_step"
    pow_gamma: float = 1.0
    pow_gamma_dtod: float = 0.1
    pow_up_down: float = 0.0
    pow_up_down_dtod: float = 0.0

    kernel_kind = kernels.CELL_POW

    def validate(self, key: str) -> None:
        super().validate(key)
        p = f"{key}." if key else ""
        check(self.pow_gamma > 0, p + "pow_gamma", "a number > 0", self.pow_gamma)
        check(-1 < self.pow_up_down < 1, p + "pow_up_down", "a number in (-1, 1)",
              self.pow_up_down)
        _check_keys(self, p, ("pow_gamma_dtod", "pow_up_down_dtod"), _non_negative,
                    "a number >= 0")

    def _fill_shape_rows(self, params, xi) -> None:
        ref = kernels.layout
        gain = 1 + self.pow_gamma_dtod * xi()
        r = self.pow_up_down_dtod * xi()
        g_up = self.pow_gamma * (min(self.pow_up_down, 0.0) + gain + r)
        g_down = self.pow_gamma * (-max(self.pow_up_down, 0.0) + gain - r)
        if self.enforce_consistency:
            g_up, g_down = g_up.abs(), g_down.abs()
        params[ref.ROW_GAMMA_UP] = g_up
        params[ref.ROW_GAMMA_DOWN] = g_down

    @property
    def weight_granularity(self) -> float:
        """The step at mid-range, ``dw_min * 0.5 ** pow_gamma`` (aihwkit)."""
        return self.dw_min * 0.5 ** self.pow_gamma


def _soft_bounds_knots(up: bool) -> list[float]:
    """SoftBounds' step over a symmetric range, ``1 - w / w_max`` up: 2 at the lower bound."""
    return [2.0, 0.0] if up else [0.0, 2.0]


@dataclass
class TableCell(PulsedCell):
    """A measured device's step as a lookup table (issue 25; docs/cell_fitting.md).

    Up step ``scale_up * T_up(t)``, down step ``scale_down * T_down(t)`` at the relative
    state ``t = (w - w_min_ij) / (w_max_ij - w_min_ij)``, ``T`` interpolated linearly
    between the knots ``piecewise_up`` / ``piecewise_down``, evenly spaced over each
    element's own range (the first at ``w_min_ij``, the last at ``w_max_ij``), relative to
    ``dw_min``, one table for the whole tile: the response of aihwkit's
    ``PiecewiseStepDevice``, whose key names it keeps. Each element's scales and bounds are
    drawn as every cell's (``dw_min_dtod``, ``up_down_dtod``, ``w_*_dtod``); ``mult_noise``
    as SoftBounds' (aihwkit's is multiplicative).

    file: a measured pulse-response file (CSV or NPZ, ``pulse_data``'s format); when set,
    the knots (``knots`` of them), ``dw_min``, the bounds, ``dw_min_std`` and the spreads
    ``dw_min_dtod``, ``up_down_dtod``, ``w_max_dtod``, ``w_min_dtod`` come from it (with
    ``up_down`` 0: the asymmetry is in the table) and those keys' own values are not used.
    A relative path is read from the working directory. normalize: map the file's
    conductances onto [-1, 1] first. The default table is SoftBounds' on a symmetric range.
    """

    kind: str = "table"
    file: str = ""
    normalize: bool = False
    knots: int = 16
    piecewise_up: list[float] = field(default_factory=lambda: _soft_bounds_knots(True))
    piecewise_down: list[float] = field(default_factory=lambda: _soft_bounds_knots(False))
    mult_noise: bool = True

    kernel_kind = kernels.CELL_TABLE

    def validate(self, key: str) -> None:
        p = f"{key}." if key else ""
        if self.file:
            self._load(p)
        top = kernels.MAX_KNOTS
        check(2 <= self.knots <= top, p + "knots", f"an integer in [2, {top}]", self.knots)
        for name in ("piecewise_up", "piecewise_down"):
            values = getattr(self, name)
            check(2 <= len(values) <= top, p + name, f"a list of 2 to {top} numbers", values)
            check(all(math.isfinite(v) and v >= 0 for v in values), p + name,
                  "numbers >= 0 (the step at each knot, relative to dw_min)", values)
        check(len(self.piecewise_up) == len(self.piecewise_down), p + "piecewise_down",
              f"as many knots as piecewise_up ({len(self.piecewise_up)})", self.piecewise_down)
        super().validate(key)
        check(self.weight_granularity > 0, p + "piecewise_up",
              "knots with a step up or down at w = 0", (self.piecewise_up, self.piecewise_down))

    def _load(self, p: str) -> None:
        """Fill the keys the file determines (``pulse_data.table_from_steps``)."""
        from .pulse_data import read_data, table_from_steps

        check(2 <= self.knots <= kernels.MAX_KNOTS, p + "knots",
              f"an integer in [2, {kernels.MAX_KNOTS}]", self.knots)
        steps = read_data(self.file, self.normalize, key=p + "file",
                          normalize_key=p + "normalize=true")
        for name, value in table_from_steps(steps, self.knots, key=p + "file").keys().items():
            setattr(self, name, value)
        self.up_down = 0.0

    @property
    def cell_table(self) -> torch.Tensor:
        """The ``(2, K)`` knot table the kernels take (``kernels.CellParams.table``)."""
        return torch.tensor([self.piecewise_up, self.piecewise_down], dtype=torch.float32)

    def _factors_at_zero(self) -> tuple[float, float]:
        """The knots interpolated at w = 0 of the nominal range (``table_factor``, in
        Python: the arrays ask for the granularity at every update)."""
        knots = len(self.piecewise_up)
        pos = min(max(-self.w_min / (self.w_max - self.w_min), 0.0), 1.0) * (knots - 1)
        q = min(int(pos), knots - 2)
        f = pos - q
        return tuple(v[q] + f * (v[q + 1] - v[q])
                     for v in (self.piecewise_up, self.piecewise_down))

    @property
    def weight_granularity(self) -> float:
        """Mean of the up and down steps at w = 0 (as ExpStep's)."""
        up, down = self._factors_at_zero()
        return 0.5 * self.dw_min * ((1 + min(self.up_down, 0.0)) * up
                                    + (1 - max(self.up_down, 0.0)) * down)

    def nominal(self) -> TableCell:
        """Without spread; the file's keys are filled already, so it is not read again."""
        return replace(super().nominal(), file="")

    def summary(self) -> str:
        source = f", from {self.file}" if self.file else ""
        return super().summary() + f", {len(self.piecewise_up)} knots{source}"


@dataclass
class ReferenceCell(PulsedCell):
    """A cell read differentially against a fixed reference conductance (aihwkit's
    ``SoftBoundsReferenceDevice`` / ``PowStepReferenceDevice``): reads see ``w - r``.

    The pulses act on the conductance ``w``, with the base cell's response and bounds;
    :class:`~xbrun.physics.array.PulsedArray` keeps ``w`` hidden and shows ``w - r``, so the
    step at read weight ``v`` is the base cell's step at ``w = v + r`` (aihwkit adds ``r``,
    steps, clips and subtracts ``r`` again: the same numbers). Per element, drawn once::

        r_ij = reference_mean + reference_std * xi  (+ s_ij with subtract_symmetry_point)

    where ``s_ij`` is the element's own symmetry point (up step = down step), computed
    from its drawn parameters, only for elements whose bounds straddle 0 (aihwkit). The
    symmetry point is also added to the element's reset value, as aihwkit does; xbrun
    reads ``reset`` as a conductance, so a reset element sits at its symmetry point and
    reads ``reset - reference_mean - reference_std*xi`` (aihwkit adds the shift to the
    stored read weight instead, which then reads ``+s_ij``).

    Weights given to the array (a fresh array's read weight 0, initial weights,
    ``set_weights``) are read weights ``v``; ``set_clip`` says what is clipped to the
    element's bounds ``[w_min, w_max]``:

    - ``read`` (default, aihwkit's semantics, which its published figures use): the read
      weight, ``v <- clip(v)``; the conductance ``v + r`` may then lie outside the bounds
      until its first pulse, which clips it (aihwkit's ``onSetWeights`` clips the stored
      read weight; its update adds ``r``, steps, clips, subtracts ``r``);
    - ``conductance`` (physical): the conductance, ``v + r <- clip(v + r)``, so a read
      weight lies in ``[w_min - r, w_max - r]``. For a read weight of 0.55 with ``r`` = 0.1
      and ``w_max`` = 0.6, ``read`` keeps 0.55 and ``conductance`` reads 0.5.

    A conductance outside the bounds (``read``) takes the cell's step there, then the clip:
    SoftBounds' up step is negative beyond ``w_max``, as in aihwkit; PowStep's base is
    taken as 0 where it would be negative (an up pulse above ``w_max``, a down pulse below
    ``w_min``), so the element lands on the bound. aihwkit computes ``powf`` of the
    negative base, NaN, which its clip (``MAX`` then ``MIN``) turns into ``w_min``: an up
    pulse above ``w_max`` sends its element to the lower bound there (docs/parity.md).
    """

    reference_mean: float = 0.0
    reference_std: float = 0.0
    subtract_symmetry_point: bool = False
    set_clip: Literal["read", "conductance"] = "read"

    @property
    def has_reference(self) -> bool:
        return True

    def validate(self, key: str) -> None:
        super().validate(key)
        p = f"{key}." if key else ""
        check(self.reference_std >= 0, p + "reference_std", "a number >= 0",
              self.reference_std)
        check(self.set_clip in ("read", "conductance"), p + "set_clip",
              "one of read, conductance", self.set_clip)

    def symmetry_point(self, params: torch.Tensor) -> torch.Tensor:
        """Each element's symmetry point (float64) from its parameter rows."""
        raise NotImplementedError

    def sample_reference(self, params: torch.Tensor,
                         generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``(r, s)``: each element's reference and the symmetry-point shift ``s`` it
        contains (0 without ``subtract_symmetry_point``, or where the bounds do not straddle
        0), both float32 ``(out, in)``; ``params`` is :meth:`sample`'s draw."""
        ref = kernels.layout
        p = params.double()
        xi = torch.randn(p.shape[1:], generator=generator, dtype=torch.float64)
        reference = self.reference_mean + self.reference_std * xi
        shift = torch.zeros_like(reference)
        if self.subtract_symmetry_point:
            valid = (p[ref.ROW_W_MAX] > 0) & (p[ref.ROW_W_MIN] < 0)
            shift = torch.where(valid, self.symmetry_point(p), 0.0)
        return (reference + shift).float(), shift.float()

    def nominal(self) -> ReferenceCell:
        return replace(super().nominal(), reference_std=0.0)

    def summary(self) -> str:
        sym = ", minus symmetry point" if self.subtract_symmetry_point else ""
        return (super().summary() + f", reference {self.reference_mean:g} "
                f"+- {self.reference_std:g}{sym}")


@dataclass
class SoftBoundsReference(ReferenceCell):
    """SoftBounds with a reference (aihwkit ``SoftBoundsReferenceDevice``).

    Up step ``scale_up * (1 - w / w_max_ij)``, down step ``scale_down * (1 - w / w_min_ij)``
    at conductance ``w`` (a bound of the wrong sign gives slope 0). slope_up_dtod /
    slope_down_dtod: extra device-to-device spread of the slopes, applied (where the bounds
    straddle 0) by moving the bound: ``w_max_ij / |1 + slope_up_dtod xi|``, likewise
    ``w_min_ij``. The symmetry point is ``(scale_up - scale_down) / (scale_up / w_max_ij -
    scale_down / w_min_ij)``. ``mult_noise`` is off by default here (additive
    cycle-to-cycle noise ``dw_min_std * scale * xi``), as in aihwkit; unlike
    ``soft_bounds`` there are no ``reverse_*`` keys.
    """

    kind: str = "soft_bounds_reference"
    mult_noise: bool = False
    slope_up_dtod: float = 0.0
    slope_down_dtod: float = 0.0

    kernel_kind = kernels.CELL_LINEAR

    def validate(self, key: str) -> None:
        super().validate(key)
        p = f"{key}." if key else ""
        _check_keys(self, p, ("slope_up_dtod", "slope_down_dtod"), _non_negative,
                    "a number >= 0")

    def _fill_shape_rows(self, params, xi) -> None:
        ref = kernels.layout
        w_max, w_min = params[ref.ROW_W_MAX], params[ref.ROW_W_MIN]
        straddle = (w_max > 0) & (w_min < 0)
        g_up = (1 + self.slope_up_dtod * xi()).abs()
        g_down = (1 + self.slope_down_dtod * xi()).abs()
        if self.slope_up_dtod > 0 or self.slope_down_dtod > 0:
            params[ref.ROW_W_MAX] = w_max = torch.where(straddle, w_max / g_up, w_max)
            params[ref.ROW_W_MIN] = w_min = torch.where(straddle, w_min / g_down, w_min)
        params[ref.ROW_SLOPE_UP] = torch.where(w_max > 0, 1 / torch.where(w_max > 0, w_max, 1.0),
                                               0.0)
        params[ref.ROW_SLOPE_DOWN] = torch.where(w_min < 0,
                                                 1 / torch.where(w_min < 0, w_min, -1.0), 0.0)

    def symmetry_point(self, params: torch.Tensor) -> torch.Tensor:
        ref = kernels.layout
        s_up, s_down = params[ref.ROW_SCALE_UP], params[ref.ROW_SCALE_DOWN]
        w_max, w_min = params[ref.ROW_W_MAX], params[ref.ROW_W_MIN]
        den = s_up / w_max - s_down / w_min
        return torch.where(den != 0, (s_up - s_down) / torch.where(den != 0, den, 1.0), 0.0)


@dataclass
class PowStepReference(ReferenceCell, PowStep):
    """PowStep with a reference (aihwkit ``PowStepReferenceDevice``; no write noise there,
    so ``write_noise_std`` must stay 0).

    The symmetry point solves ``scale_up * ((w_max - s)/(w_max - w_min)) ** gamma_up =
    scale_down * ((s - w_min)/(w_max - w_min)) ** gamma_down``. aihwkit estimates it by
    iterating ``s += up step - down step`` from 0, ``n_estimation_steps`` times (<= 0:
    ``min(round(10 (w_max - w_min) / min(scale_up, scale_down)), 10000)``, ten times the
    element's states, which reaches the root up to rounding unless the cap of 10000 cuts
    it short, for elements with a step below a thousandth of their range). With
    ``n_estimation_steps <= 0`` xbrun solves for the root by bisection (the point the
    iteration converges to); a positive value runs aihwkit's iteration that many times.
    """

    kind: str = "pow_step_reference"
    n_estimation_steps: int = -1

    def validate(self, key: str) -> None:
        super().validate(key)
        p = f"{key}." if key else ""
        check(self.write_noise_std == 0, p + "write_noise_std",
              "0 (aihwkit's PowStepReferenceDevice has no write noise)", self.write_noise_std)
        check(self.n_estimation_steps <= 100_000, p + "n_estimation_steps",
              "an integer <= 100000 (<= 0: solve for the symmetry point exactly)",
              self.n_estimation_steps)

    def symmetry_point(self, params: torch.Tensor) -> torch.Tensor:
        ref = kernels.layout
        s_up, s_down = params[ref.ROW_SCALE_UP], params[ref.ROW_SCALE_DOWN]
        g_up, g_down = params[ref.ROW_GAMMA_UP], params[ref.ROW_GAMMA_DOWN]
        w_max, w_min = params[ref.ROW_W_MAX], params[ref.ROW_W_MIN]
        span = torch.where(w_max > w_min, w_max - w_min, 1.0)

        def drift(s: torch.Tensor) -> torch.Tensor:  # up step minus down step at s
            up = ((w_max - s) / span).clamp_min(0.0) ** g_up
            down = ((s - w_min) / span).clamp_min(0.0) ** g_down
            return s_up * up - s_down * down

        if self.n_estimation_steps > 0:
            s = torch.zeros_like(w_max)
            for _ in range(self.n_estimation_steps):
                s = s + drift(s)
            return s
        lo, hi = w_min.clone(), w_max.clone()  # drift falls from >= 0 at w_min to <= 0
        for _ in range(64):
            mid = 0.5 * (lo + hi)
            rising = drift(mid) > 0
            lo, hi = torch.where(rising, mid, lo), torch.where(rising, hi, mid)
        return 0.5 * (lo + hi)


CELLS: dict[str, type] = {
    "ideal": IdealCell,
    "constant_step": ConstantStep,
    "linear_step": LinearStep,
    "soft_bounds": SoftBounds,
    "exp_step": ExpStep,
    "pow_step": PowStep,
    "table": TableCell,
    "soft_bounds_reference": SoftBoundsReference,
    "pow_step_reference": PowStepReference,
}
