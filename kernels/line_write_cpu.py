"""The line write on the CPU: one numba call per transfer (meaning: ``line_write_ref.py``).

The twin gathers the written lines and runs a dozen small torch operations per pulse; here a
single compiled pass draws each line's one-hot slots, then each element's coincidences among
the fired slots, and steps the element through its cell pulse by pulse. Random numbers come
from ``counter_rng_cpu`` (splitmix64), seeded per call by an int the caller draws from the
tile's torch generator: the same seed gives the same result, and a checkpoint of the torch
generator resumes the stream exactly.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit

from .counter_rng_cpu import rng_normal, rng_state, rng_uniform
from .pulsed_update_ref import (
    CELL_CONSTANT,
    CELL_EXP,
    CELL_LINEAR,
    ROW_GAMMA_DOWN,
    ROW_GAMMA_UP,
    ROW_SCALE_DOWN,
    ROW_SCALE_UP,
    ROW_SLOPE_DOWN,
    ROW_SLOPE_UP,
    ROW_W_MAX,
    ROW_W_MIN,
    check_cell,
)


@njit(cache=True, inline="always")
def cell_step(w, up, cp, r, c, cell_kind, noise_std, mult_noise, scalars, rng):
    """One pulse on element ``(r, c)`` of weight ``w`` (``single_pulse_torch``, one element)."""
    scale_up = cp[ROW_SCALE_UP, r, c]
    scale_down = cp[ROW_SCALE_DOWN, r, c]
    w_max = cp[ROW_W_MAX, r, c]
    w_min = cp[ROW_W_MIN, r, c]
    scale = scale_up if up else scale_down
    step = scale_up if up else -scale_down
    noisy = noise_std > 0.0
    if cell_kind == CELL_CONSTANT:
        dw = step
        if noisy:
            dw = dw * (1.0 + noise_std * rng_normal(rng[0], rng[1]))
    elif cell_kind == CELL_LINEAR:
        slope = cp[ROW_SLOPE_UP, r, c] if up else cp[ROW_SLOPE_DOWN, r, c]
        dw = step * (1.0 - slope * w)
        if noisy:
            xi = rng_normal(rng[0], rng[1])
            dw = dw * (1.0 + noise_std * xi) if mult_noise else dw + noise_std * scale * xi
    elif cell_kind == CELL_EXP:
        b_diff = w_max - w_min
        if b_diff > 0:
            z = w * (2.0 * scalars[4] / b_diff) + scalars[5]
        else:
            z = scalars[5]
        if up:
            y = 1.0 - scalars[0] * math.exp(scalars[2] * z)
        else:
            y = 1.0 - scalars[1] * math.exp(-scalars[3] * z)
        y = max(y, 0.0) if b_diff > 0 else 0.0
        dw = step * y
        if noisy and y > 0:
            sd = noise_std * (abs(dw) + scalars[6] + scalars[7] * abs(w))
            dw = dw + sd * rng_normal(rng[0], rng[1])
    else:  # CELL_POW
        span = w_max - w_min
        inv = 1.0 / span if span > 0 else 0.0
        base = (w_max - w) * inv if up else (w - w_min) * inv
        base = max(base, 0.0)
        gamma = cp[ROW_GAMMA_UP, r, c] if up else cp[ROW_GAMMA_DOWN, r, c]
        dw = step * base ** gamma
        if noisy:
            dw = dw * (1.0 + noise_std * rng_normal(rng[0], rng[1]))
    return min(max(w + dw, w_min), w_max)


@njit(cache=True, inline="always")
def draw_count(n_fired, q, rng):
    """Coincidences of an element firing with probability ``q`` in ``n_fired`` slots."""
    count = 0
    for _ in range(n_fired):
        count += rng_uniform(rng[0]) < q
    return count


@njit(cache=True, inline="always")
def fired_slots(bl, p_one, rng):
    """Slots of a train of ``bl`` in which the one-hot line fires."""
    n_fired = 0
    for _ in range(bl):
        n_fired += rng_uniform(rng[0]) < p_one
    return n_fired


@njit(cache=True, inline="always")
def pulse_element(weight, cp, r, c, count, up, cell_kind, noise_std, mult_noise, scalars,
                  rng):
    """``count`` pulses of one sign on element ``(r, c)``, one after another."""
    w = weight[r, c]
    if cell_kind == CELL_CONSTANT and noise_std <= 0:  # equal steps: closed form
        step = cp[ROW_SCALE_UP, r, c] if up else -cp[ROW_SCALE_DOWN, r, c]
        w_max, w_min = cp[ROW_W_MAX, r, c], cp[ROW_W_MIN, r, c]
        first = min(max(w + step, w_min), w_max)
        w = min(max(first + (count - 1) * step, w_min), w_max)
    else:
        for _ in range(count):
            w = cell_step(w, up, cp, r, c, cell_kind, noise_std, mult_noise, scalars, rng)
    weight[r, c] = w


@njit(cache=True)
def _line_write(weight, cp, index, one_prob, line_prob, bl, counts, use_counts, columns,
                cell_kind, noise_std, mult_noise, scalars, seed):
    rng = rng_state(seed)
    total = 0
    n, length = line_prob.shape
    for b in range(n):
        line = index[b]
        n_fired = 0 if use_counts else fired_slots(bl[b], abs(one_prob[b]), rng)
        for i in range(length):
            p = line_prob[b, i]
            if use_counts:
                count = counts[b, i]
            elif n_fired > 0 and p != 0:  # the element fires in each slot with |p|
                count = draw_count(n_fired, min(abs(p), 1.0), rng)
            else:
                count = 0
            if count > 0:
                total += count
                r, c = (i, line) if columns else (line, i)
                pulse_element(weight, cp, r, c, count, p < 0, cell_kind, noise_std,
                              mult_noise, scalars, rng)
    return total


def line_write_numba(weight: torch.Tensor, cell_params: torch.Tensor, index: torch.Tensor,
                     one_prob: torch.Tensor, line_prob: torch.Tensor, bl: torch.Tensor, *,
                     columns: bool, cell_kind: int, noise_std: float, mult_noise: bool,
                     cell_scalars: tuple = (), seed: int = 0,
                     counts: torch.Tensor | None = None) -> torch.Tensor:
    """Same arguments and result as ``line_write_torch`` (``seed`` instead of a generator),
    in one compiled pass; ``weight`` must be a contiguous float32 CPU tensor."""
    scalars = np.asarray(check_cell(cell_kind, cell_params, cell_scalars), dtype=np.float32)
    n = index.numel()
    if n == 0:
        return torch.zeros((), dtype=torch.int64)
    probs = line_prob.detach().to(torch.float32).contiguous().numpy()
    given = counts is not None
    total = _line_write(
        weight.detach().numpy(), cell_params.detach().numpy(),
        index.detach().to(torch.int64).contiguous().numpy(),
        one_prob.detach().to(torch.float32).contiguous().numpy(), probs,
        bl.detach().to(torch.int64).contiguous().numpy(),
        (counts.detach().to(torch.int64).contiguous().numpy() if given
         else np.zeros((0, 0), dtype=np.int64)),
        given, bool(columns), int(cell_kind), np.float32(noise_std), bool(mult_noise),
        scalars, int(seed) & 0xFFFFFFFF)
    return torch.tensor(total, dtype=torch.int64)


__all__ = ["cell_step", "draw_count", "fired_slots", "line_write_numba", "pulse_element"]
