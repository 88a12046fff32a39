"""Analog matrix-vector products with the non-idealities of real periphery: the settings.

:class:`IOParameters` holds one direction of the I/O (aihwkit's names and defaults);
:func:`analog_mvm` turns it into plain numbers and runs the kernel (``xbrun.kernels``:
Triton on CUDA, numba on the CPU; ``kernels/analog_mvm_ref.py`` is the definition). One MVM
on a crossbar, as aihwkit's ``ForwardBackwardPassIOManaged`` computes it, row by row of the
batch:

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

from .. import kernels
from ..schema import check
from .pulses import bin_width


@dataclass
class IOParameters:
    """One direction (forward or backward) of the analog MVM (aihwkit ``IOParameters``)."""

    is_perfect: bool = False  # exact W x: everything below is ignored
    inp_bound: float = 1.0  # DAC range [-inp_bound, inp_bound]
    inp_res: float = 1.0 / (2**7 - 2)  # 7-bit DAC: 126 steps over [-1, 1]
    inp_sto_round: bool = False  # stochastic rounding in the DAC
    inp_noise: float = 0.0  # Gaussian noise on each analog input (after the DAC)
    out_bound: float = 12.0  # ADC range [-out_bound, out_bound]
    out_res: float = 1.0 / (2**9 - 2)  # 9-bit ADC
    out_sto_round: bool = False  # stochastic rounding in the ADC
    out_noise: float = 0.06  # Gaussian noise on each output (before the ADC)
    out_scale: float = 1.0  # fixed digital factor on the result
    w_noise: float = 0.0  # weight read noise (see w_noise_type)
    w_noise_type: Literal["none", "additive_constant", "pcm_read"] = "none"
    noise_management: Literal["none", "abs_max", "max", "constant",
                              "abs_max_np_sum"] = "abs_max"
    nm_thres: float = 0.0  # cap of the noise-management scale (the scale itself for constant)
    nm_assumed_wmax: float = 0.6  # weight assumed by abs_max_np_sum
    bound_management: Literal["none", "iterative", "iterative_worst_case"] = "iterative"
    max_bm_factor: int = 1000  # largest input reduction of bound management
    max_bm_res: float = 0.25  # ... and at most max_bm_res / (DAC step) of it
    bm_test_negative_bound: bool = True  # a clip at -out_bound also triggers bound management

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
    """Forward and backward I/O of a tile (the ``io`` config group): aihwkit's defaults in
    both directions, bound management off in the backward pass (aihwkit ignores it there)."""

    name: str = "default"
    forward: IOParameters = field(default_factory=IOParameters)
    backward: IOParameters = field(default_factory=lambda: IOParameters(bound_management="none"))


_NM_KINDS = {"none": kernels.NM_NONE, "abs_max": kernels.NM_ABS_MAX, "max": kernels.NM_MAX,
             "constant": kernels.NM_CONSTANT, "abs_max_np_sum": kernels.NM_ABS_MAX_NP_SUM}
_BM_KINDS = {"none": kernels.BM_NONE, "iterative": kernels.BM_ITERATIVE,
             "iterative_worst_case": kernels.BM_WORST_CASE}
_W_NOISE_KINDS = {"none": kernels.W_NOISE_NONE, "additive_constant": kernels.W_NOISE_ADDITIVE,
                  "pcm_read": kernels.W_NOISE_PCM}


def kernel_params(io: IOParameters) -> kernels.MVMParams:
    """The plain numbers the MVM kernels take (``kernels.MVMParams``)."""
    inp_step = io.inp_step
    return kernels.MVMParams(
        is_perfect=bool(io.is_perfect), inp_bound=float(io.inp_bound), inp_step=inp_step,
        inp_sto_round=bool(io.inp_sto_round), inp_noise=float(io.inp_noise),
        out_bound=float(io.out_bound), out_step=io.out_step,
        out_sto_round=bool(io.out_sto_round), out_noise=float(io.out_noise),
        out_scale=float(io.out_scale), w_noise=float(io.w_noise),
        w_noise_kind=_W_NOISE_KINDS[io.w_noise_type], nm_kind=_NM_KINDS[io.noise_management],
        nm_thres=float(io.nm_thres), nm_assumed_wmax=float(io.nm_assumed_wmax),
        max_bm_res=float(io.max_bm_res), bm_kind=_BM_KINDS[io.bound_management],
        max_bm_factor=float(io.max_bm_factor),
        bm_limit=io.max_bm_res / inp_step if inp_step > 0 else math.inf,
        bm_test_negative_bound=bool(io.bm_test_negative_bound))


def analog_mvm(weight: torch.Tensor, x: torch.Tensor, io: IOParameters,
               generator: torch.Generator | None = None, seed=None,
               onehot_start=None, vectors=None) -> torch.Tensor:
    """``x @ weight.T`` for ``x`` of shape ``(N, in)`` as the crossbar computes it.

    The noise is keyed by ``seed`` (an int; tiles derive one per call from their generator's
    seed and a counter, see ``AnalogTile.mvm_seed``); without one a seed is drawn from
    ``generator`` (torch's default generator when None) - on CUDA as a device tensor, so
    drawing it never waits for the GPU. ``onehot_start``: the rows are one-hot at columns
    ``(start + b) % in`` (a transfer's reads; ``kernels.analog_mvm``). ``vectors``: a
    one-element count the rows are added to (a tile's MVM vectors; in the kernel on CUDA).
    """
    if seed is None:
        seed = _draw_seed(generator, x.device)
    return kernels.analog_mvm(weight, x, _params(io), seed, onehot_start, vectors)


def bind_onehot_reads(weight: torch.Tensor, io: IOParameters):
    """``read(start, count, generator)``: :func:`analog_mvm` of a transfer's host reads
    (``weight`` times the one-hot rows of ``LineRun.onehot``, ``onehot_start=start``), the
    seed drawn from ``generator`` as there, the rest made once (``kernels.bind_onehot_reads``:
    a CPU transfer reads one line, and its Python cost more than its kernels). It holds
    while ``weight`` keeps its storage and ``io`` its settings (:func:`settings_key`).
    None where the kernels do not bind (then :func:`analog_mvm` reads)."""
    if not weight.device.type == "cpu":
        return None
    read = kernels.bind_onehot_reads(weight, _params(io))
    if read is None:
        return None
    draw = kernels.seeds.draw_wide_seed

    def run(start: int, count: int, generator: torch.Generator | None) -> torch.Tensor:
        return read(start, count, int(draw(generator)))

    return run


def settings_key(io: IOParameters) -> tuple:
    """The settings of ``io`` as they are now (a config may be edited): what a bound read
    (:func:`bind_onehot_reads`) is keyed on."""
    return tuple(vars(io).values())


def analog_mvm_grouped(weights: torch.Tensor, x: torch.Tensor, io: IOParameters,
                       seeds: torch.Tensor, n_cols: int, step_i: int,
                       step_j: int, onehot_start: torch.Tensor | None = None) -> torch.Tensor:
    """The MVMs of a grid of equal tiles with the same I/O (``kernels.analog_mvm_grouped``):
    tile ``g`` multiplies its block of ``x``'s columns by ``weights[g]``, its noise keyed by
    ``seeds[g]``; ``(tiles, N, out)``. ``onehot_start``: the tiles' rows are one-hot from
    these columns on (their transfers' reads)."""
    return kernels.analog_mvm_grouped(weights, x, _params(io), seeds, n_cols, step_i, step_j,
                                      onehot_start)


def reads_take_line_elements(io: IOParameters) -> bool:
    """Whether a transfer's one-hot reads through ``io`` on CUDA read each row's line
    element alone (``kernels.onehot_reads_line_only``): then the walk need not fill the
    one-hot rows (``line_walk_cuda``: a broadcast column of ones). Asked by device walks
    only."""
    return kernels.onehot_reads_line_only(_params(io))


def _params(io: IOParameters) -> kernels.MVMParams:
    key = settings_key(io)
    params = _PARAMS.get(key)
    if params is None:
        params = _PARAMS[key] = kernel_params(io)
    return params


_PARAMS: dict[tuple, kernels.MVMParams] = {}  # kernel numbers by settings: built once, not per call


def _draw_seed(generator: torch.Generator | None, device: torch.device):
    """A kernel seed from ``generator``: an int on the CPU, a device tensor on CUDA."""
    where = generator.device if generator is not None else torch.device(device)
    seed = kernels.seeds.draw_wide_seed(generator, where)
    return seed if where.type == "cuda" else int(seed)
