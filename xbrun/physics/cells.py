"""Unit cells: the physics of one resistive element, with aihwkit's parameter names.

A cell config knows how to draw the per-element parameters of a whole array once
(device-to-device spread, reproducible from ``construction_seed``) and which pulse
response the update kernel applies (``kernel_kind``). The response itself lives in
``xbrun.kernels`` so the Triton kernel and its torch twin share one definition.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import kernels
from ..schema import check

ROWS = 6  # per-element parameter rows understood by the kernels (see pulsed_update_ref)


@dataclass
class IdealCell:
    """No pulses: the update is applied exactly in floating point (aihwkit's IdealDevice)."""

    kind: str = "ideal"

    @property
    def is_pulsed(self) -> bool:
        return False

    def validate(self, key: str) -> None:
        pass

    def summary(self) -> str:
        return "ideal (exact floating-point update)"


@dataclass
class PulsedCell:
    """Parameters every pulsed cell shares (aihwkit ``PulsedDevice``).

    dw_min: mean step of one pulse at w = 0; ``*_dtod``: relative device-to-device spread
    drawn once per element; dw_min_std: cycle-to-cycle noise of each pulse, relative to
    the step; up_down: systematic up/down asymmetry (up step ``dw_min*(1+up_down)``,
    down step ``dw_min*(1-up_down)``).
    """

    kind: str = "constant_step"
    dw_min: float = 0.001
    dw_min_dtod: float = 0.3
    dw_min_std: float = 0.3
    up_down: float = 0.0
    up_down_dtod: float = 0.01
    w_max: float = 0.6
    w_min: float = -0.6
    w_max_dtod: float = 0.3
    w_min_dtod: float = 0.3
    construction_seed: int = 0

    @property
    def is_pulsed(self) -> bool:
        return True

    kernel_kind = kernels.CELL_CONSTANT
    mult_noise = True

    def validate(self, key: str) -> None:
        p = f"{key}." if key else ""
        check(self.dw_min > 0, p + "dw_min", "a number > 0", self.dw_min)
        for name in ("dw_min_dtod", "dw_min_std", "up_down_dtod", "w_max_dtod", "w_min_dtod"):
            value = getattr(self, name)
            check(value >= 0, p + name, "a number >= 0", value)
        check(-1 < self.up_down < 1, p + "up_down", "a number in (-1, 1)", self.up_down)
        check(self.w_max > 0, p + "w_max", "a number > 0", self.w_max)
        check(self.w_min < 0, p + "w_min", "a number < 0", self.w_min)
        check(self.dw_min < self.w_max - self.w_min, p + "dw_min",
              f"a step smaller than the range w_max - w_min = {self.w_max - self.w_min}",
              self.dw_min)

    def sample(self, shape: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
        """Draw the ``(ROWS, out, in)`` per-element parameters of one array (on the CPU)."""

        def spread(rel: float) -> torch.Tensor:
            return 1.0 + rel * torch.randn(shape, generator=generator)

        dw = (self.dw_min * spread(self.dw_min_dtod)).abs()
        asym = (self.up_down + self.up_down_dtod * torch.randn(shape, generator=generator))
        asym = asym.clamp(-0.99, 0.99)
        w_max = (self.w_max * spread(self.w_max_dtod)).clamp(min=self.dw_min)
        w_min = (self.w_min * spread(self.w_min_dtod)).clamp(max=-self.dw_min)
        params = torch.zeros((ROWS, *shape))
        params[kernels.pulsed_update_ref.ROW_SCALE_UP] = dw * (1 + asym)
        params[kernels.pulsed_update_ref.ROW_SCALE_DOWN] = dw * (1 - asym)
        params[kernels.pulsed_update_ref.ROW_W_MAX] = w_max
        params[kernels.pulsed_update_ref.ROW_W_MIN] = w_min
        self._fill_shape_rows(params)
        return params

    def _fill_shape_rows(self, params: torch.Tensor) -> None:
        """Cells with a state-dependent step fill their slope rows here."""

    @property
    def noise_std(self) -> float:
        return self.dw_min_std

    @property
    def n_states(self) -> float:
        return (self.w_max - self.w_min) / self.dw_min

    def summary(self) -> str:
        return (f"{self.kind}: dw_min={self.dw_min:g}, range=[{self.w_min:g}, {self.w_max:g}], "
                f"~{self.n_states:.0f} states")


@dataclass
class ConstantStep(PulsedCell):
    """Every pulse moves the weight by the same step (up to noise), clipped at the bounds."""

    kind: str = "constant_step"


@dataclass
class SoftBounds(PulsedCell):
    """The step shrinks linearly to zero as the weight nears its bound (aihwkit SoftBounds).

    Up step ``scale_up * (1 - w / w_max)``, down step ``scale_down * (1 - w / w_min)``;
    cycle-to-cycle noise is additive, ``dw_min_std * scale * xi``. The symmetry point,
    where up and down steps are equal, lies between the bounds (at 0 for a symmetric cell).
    """

    kind: str = "soft_bounds"
    dw_min: float = 0.001
    w_max: float = 1.0
    w_min: float = -1.0

    kernel_kind = kernels.CELL_LINEAR
    mult_noise = False

    def _fill_shape_rows(self, params: torch.Tensor) -> None:
        ref = kernels.pulsed_update_ref
        params[ref.ROW_SLOPE_UP] = 1.0 / params[ref.ROW_W_MAX]
        params[ref.ROW_SLOPE_DOWN] = 1.0 / params[ref.ROW_W_MIN]


CELLS: dict[str, type] = {
    "ideal": IdealCell,
    "constant_step": ConstantStep,
    "soft_bounds": SoftBounds,
}
