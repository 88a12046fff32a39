"""The analog MVM with its periphery, in plain PyTorch: the definition the kernels follow.

One MVM on a crossbar, as aihwkit's ``ForwardBackwardPassIOManaged`` computes it, row by
row of the batch (``x``: ``(N, in)``, ``weight``: ``(out, in)``):

1. noise management picks a scale ``alpha`` and the input becomes ``x / alpha``
   (``abs_max``: ``max|x|``; ``max``: ``max x`` - an all-negative input then reads as 0;
   ``constant``: ``nm_thres``; ``abs_max_np_sum``: large enough that an assumed weight of
   ``nm_assumed_wmax`` cannot clip the output; ``nm_thres > 0`` caps the first two);
   a row whose scale is <= 0 reads as zeros (aihwkit's short cut) unless there is input noise;
2. the DAC rounds to steps of ``inp_step`` (optionally stochastically), clips to
   ``[-inp_bound, inp_bound]`` and adds ``inp_noise``;
3. the array sums currents: ``W v`` plus weight read noise (``W_NOISE_ADDITIVE``: std
   ``w_noise * ||v||``; ``W_NOISE_PCM``: std ``w_noise * sqrt(sum_j |w_ij| v_j^2)``);
4. the ADC adds ``out_noise``, rounds to steps of ``out_step`` and clips to
   ``[-out_bound, out_bound]``;
5. bound management: while an output clipped (the negative side too with
   ``bm_test_negative_bound``) the row is recomputed with its input halved, until the
   reduction exceeds ``max_bm_factor`` or ``bm_limit`` (``BM_WORST_CASE``: the second pass
   switches the scale to ``abs_max_np_sum``);
6. the digital result is ``out_scale * alpha * reduction * y``.

Nothing here reads a config: :class:`MVMParams` holds plain numbers, built by
``xbrun.physics.io``. Sums of rows are taken in float64 so that every backend gets the same
float32 scale whatever its summation order.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from . import layout
from .pulsed_update_ref import discretize_torch


class MVMParams(NamedTuple):
    """One direction of the I/O as plain numbers (steps are bin widths times full ranges;
    0 turns a quantizer off; ``bm_limit`` is ``max_bm_res / inp_step`` or infinity)."""

    is_perfect: bool
    inp_bound: float
    inp_step: float
    inp_sto_round: bool
    inp_noise: float
    out_bound: float
    out_step: float
    out_sto_round: bool
    out_noise: float
    out_scale: float
    w_noise: float
    w_noise_kind: int
    nm_kind: int
    nm_thres: float
    nm_assumed_wmax: float
    max_bm_res: float
    bm_kind: int
    max_bm_factor: float
    bm_limit: float
    bm_test_negative_bound: bool


def noise_management_scale_torch(x: torch.Tensor, p: MVMParams,
                                 kind: int | None = None) -> torch.Tensor:
    """The per-row input scale ``alpha`` of noise management, shape ``(N, 1)``."""
    kind = p.nm_kind if kind is None else kind
    ones = torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)
    if kind == layout.NM_NONE:
        return ones
    if kind == layout.NM_CONSTANT:
        return ones * p.nm_thres
    amax = x.abs().amax(dim=1, keepdim=True)
    if p.nm_thres > 0:
        amax = amax.clamp(max=p.nm_thres)
    if kind == layout.NM_ABS_MAX:
        return amax
    if kind == layout.NM_MAX:
        value = x.amax(dim=1, keepdim=True)
        return value.clamp(max=p.nm_thres) if p.nm_thres > 0 else value
    # abs_max_np_sum
    pos = x.clamp(min=0).sum(1, keepdim=True, dtype=torch.float64)
    neg = -x.clamp(max=0).sum(1, keepdim=True, dtype=torch.float64)
    total = torch.maximum(pos, neg).to(x.dtype)
    npsum = total * p.nm_assumed_wmax / p.out_bound
    if p.inp_step > 0:
        npsum = torch.minimum(amax / p.inp_step * p.max_bm_res, npsum)
    return torch.maximum(amax, npsum)


def _randn(shape, like, generator):
    return torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype)


def mvm_once_torch(weight: torch.Tensor, v: torch.Tensor, p: MVMParams,
                   generator: torch.Generator | None = None):
    """One pass through DAC, array and ADC of already scaled inputs ``v`` ``(N, in)``.

    Returns the outputs and, per row, whether no output hit the bound.
    """
    v = discretize_torch(v, p.inp_step, p.inp_sto_round, generator)
    v = v.clamp(-p.inp_bound, p.inp_bound)
    if p.inp_noise > 0:
        v = v + p.inp_noise * _randn(v.shape, v, generator)
    out = v @ weight.T
    if p.w_noise > 0 and p.w_noise_kind == layout.W_NOISE_ADDITIVE:
        std = p.w_noise * v.norm(dim=1, keepdim=True)
        out = out + std * _randn(out.shape, out, generator)
    elif p.w_noise > 0 and p.w_noise_kind == layout.W_NOISE_PCM:
        std = p.w_noise * torch.sqrt((v * v) @ weight.abs().T)
        out = out + std * _randn(out.shape, out, generator)
    if p.out_noise > 0:
        out = out + p.out_noise * _randn(out.shape, out, generator)
    out = discretize_torch(out, p.out_step, p.out_sto_round, generator)
    hit = out > p.out_bound
    if p.bm_test_negative_bound:
        hit = hit | (out < -p.out_bound)
    return out.clamp(-p.out_bound, p.out_bound), ~hit.any(dim=1)


def analog_mvm_torch(weight: torch.Tensor, x: torch.Tensor, p: MVMParams,
                     generator: torch.Generator | None = None,
                     seed: int | None = None) -> torch.Tensor:
    """``x @ weight.T`` as the crossbar computes it; noise from ``generator`` (or a fresh
    generator seeded by ``seed``)."""
    if p.is_perfect:
        out = x @ weight.T
        return out * p.out_scale if p.out_scale != 1 else out
    if generator is None and seed is not None:
        generator = torch.Generator(device=x.device).manual_seed(int(seed))
    raw = noise_management_scale_torch(x, p)
    alpha = torch.where(raw > 0, raw, torch.ones_like(raw))
    silent = (raw <= 0).squeeze(1) & (p.nm_kind != layout.NM_NONE) & (p.inp_noise <= 0)
    bm_on = p.bm_kind != layout.BM_NONE
    out = torch.zeros(x.shape[0], weight.shape[0], dtype=x.dtype, device=x.device)
    reduction = torch.ones_like(alpha)
    todo = ~silent
    bm_round = 0
    while bool(todo.any()):
        rows = todo.nonzero().squeeze(1)
        if (bm_round == 1 and p.bm_kind == layout.BM_WORST_CASE
                and p.nm_kind != layout.NM_ABS_MAX_NP_SUM):
            worst = noise_management_scale_torch(x[rows], p, layout.NM_ABS_MAX_NP_SUM)
            alpha[rows] = torch.where(worst > 0, worst, alpha[rows])
            reduction[rows] = 1.0
        scale = alpha[rows] * reduction[rows]
        out[rows], passed = mvm_once_torch(weight, x[rows] / scale, p, generator)
        out[rows] = out[rows] * scale
        if not bm_on:
            break
        r = reduction[rows].squeeze(1)
        passed = passed | (r > p.max_bm_factor) | (r > p.bm_limit)
        todo = torch.zeros_like(todo)
        todo[rows[~passed]] = True
        reduction[rows[~passed]] *= 2
        bm_round += 1
    return out * p.out_scale if p.out_scale != 1 else out


def tile_blocks(x: torch.Tensor, tiles: int, n_cols: int, step_i: int, step_j: int,
                width: int) -> list[torch.Tensor]:
    """The input block of each tile of a group: tile ``g`` (grid row ``g // n_cols``,
    column ``g % n_cols``) reads the columns ``[off, off + width)`` of ``x``, ``off =
    (g // n_cols) * step_i + (g % n_cols) * step_j`` (a forward pass: ``step_j = width``;
    a transposed one: ``step_i = width``)."""
    out = []
    for g in range(tiles):
        off = (g // n_cols) * step_i + (g % n_cols) * step_j
        out.append(x[:, off:off + width])
    return out


def analog_mvm_grouped_torch(weights: torch.Tensor, x: torch.Tensor, p: MVMParams,
                             seeds, n_cols: int, step_i: int, step_j: int) -> torch.Tensor:
    """The MVMs of a group of equal tiles (a layer's grid): tile ``g`` multiplies its block
    of ``x`` (:func:`tile_blocks`) by ``weights[g]`` through ``p``, noise keyed by
    ``seeds[g]``. Nothing is shared between tiles but the settings: this is each tile's
    :func:`analog_mvm_torch`, stacked ``(tiles, N, out)``."""
    tiles, _, width = weights.shape
    blocks = tile_blocks(x, tiles, n_cols, step_i, step_j, width)
    return torch.stack([analog_mvm_torch(weights[g], blocks[g], p, seed=int(seeds[g]))
                        for g in range(tiles)])
