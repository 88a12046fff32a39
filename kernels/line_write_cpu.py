"""The line write on the CPU: one numba call per transfer (meaning: ``line_write_ref.py``).

The twin gathers the written lines and runs a dozen small torch operations per pulse; here a
single compiled pass draws each line's one-hot slots, then each element's coincidences among
the fired slots, and steps the element through its cell pulse by pulse. Random numbers come
from ``counter_rng_cpu`` (splitmix64), seeded per call by an int the caller draws from the
tile's torch generator: the same seed gives the same result, and a checkpoint of the torch
generator resumes the stream exactly.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit

from . import layout
from .cell_pulse_cpu import pulse_noise, pulse_setup, pulse_step, table_array, table_step
from .counter_rng_cpu import rng_normal, rng_state, rng_uniform
from .params import LineWriteParams
from .pulsed_update_cpu import cell_counter
from .seeds import low32


@njit(cache=True, inline="always")
def fired_count(slots, q, rng):
    """How many of ``slots`` slots fire with probability ``q``: the slots of a train in
    which the one-hot line fires, or an element's coincidences among those."""
    count = 0
    for _ in range(slots):
        count += rng_uniform(rng[0]) < q
    return count


@njit(cache=True, inline="always")
def pulse_element(weight, cp, r, c, count, up, cell_kind, noise_std, mult_noise, scalars,
                  table, rng):
    """``count`` pulses of one sign on element ``(r, c)``, one after another (each
    ``single_pulse_torch`` on one element: ``cell_pulse_cpu``'s response, its normal drawn
    only where the noise applies; ``table``: the table cell's knots, up then down)."""
    w = weight[r, c]
    scale_up, scale_down = cp[layout.ROW_SCALE_UP, r, c], cp[layout.ROW_SCALE_DOWN, r, c]
    w_max, w_min = cp[layout.ROW_W_MAX, r, c], cp[layout.ROW_W_MIN, r, c]
    step = scale_up if up else -scale_down
    if cell_kind == layout.CELL_CONSTANT and noise_std <= 0:  # equal steps: closed form
        first = min(max(w + step, w_min), w_max)
        w = min(max(first + (count - 1) * step, w_min), w_max)
        weight[r, c] = w
        return
    scale = scale_up if up else scale_down
    if cell_kind == layout.CELL_TABLE:
        knots = table.shape[0] // 2
        offset = 0 if up else knots
        for _ in range(count):
            dw = table_step(w, step, w_max, w_min, table, offset, knots, 1.0, 0.0)
            if noise_std > 0.0:
                dw = pulse_noise(dw, w, rng_normal(rng[0], rng[1]), cell_kind, scale,
                                 mult_noise, noise_std, 1.0, scalars[6], scalars[7])
            w = min(max(w + dw, w_min), w_max)
        weight[r, c] = w
        return
    row_up = row_down = np.float32(0.0)
    if cell_kind == layout.CELL_LINEAR:
        row_up, row_down = cp[layout.ROW_SLOPE_UP, r, c], cp[layout.ROW_SLOPE_DOWN, r, c]
    elif cell_kind == layout.CELL_POW:
        row_up, row_down = cp[layout.ROW_GAMMA_UP, r, c], cp[layout.ROW_GAMMA_DOWN, r, c]
    row, z_gain, amp, gam, inv, valid = pulse_setup(
        up, cell_kind, w_max, w_min, row_up, row_down, 2.0 * scalars[4], scalars[0],
        scalars[1], scalars[2], -scalars[3], 1.0, 0.0)
    for _ in range(count):
        dw, y = pulse_step(w, up, step, cell_kind, w_max, w_min, row, z_gain, scalars[5], amp,
                           gam, inv, valid, 1.0, 0.0)
        if noise_std > 0.0 and y > 0:
            dw = pulse_noise(dw, w, rng_normal(rng[0], rng[1]), cell_kind, scale, mult_noise,
                             noise_std, 1.0, scalars[6], scalars[7])
        w = min(max(w + dw, w_min), w_max)
    weight[r, c] = w


@njit(cache=True, inline="always")
def pulse_on_line(weight, cp, cnt, counting, line, i, columns, count, up, cell_kind, noise_std,
                  mult_noise, scalars, table, rng):
    """``count`` pulses (none if 0) on element ``i`` of ``line`` (a column, or a row), added
    to the counter ``cnt`` when ``counting``; returns ``count``."""
    if count > 0:
        r, c = (i, line) if columns else (line, i)
        if counting:
            cnt[r, c] += count
        pulse_element(weight, cp, r, c, count, up, cell_kind, noise_std, mult_noise, scalars,
                      table, rng)
    return count


@njit(cache=True)
def _line_write(weight, cp, index, one_prob, line_prob, bl, counts, use_counts, columns,
                cell_kind, noise_std, mult_noise, scalars, table, seed, cnt, counting):
    rng = rng_state(seed)
    total = 0
    n, length = line_prob.shape
    for b in range(n):
        line = index[b]
        n_fired = 0 if use_counts else fired_count(bl[b], abs(one_prob[b]), rng)
        for i in range(length):
            p = line_prob[b, i]
            if use_counts:
                count = counts[b, i]
            elif n_fired > 0 and p != 0:  # the element fires in each slot with |p|
                count = fired_count(n_fired, min(abs(p), 1.0), rng)
            else:
                count = 0
            total += pulse_on_line(weight, cp, cnt, counting, line, i, columns, count, p < 0,
                                   cell_kind, noise_std, mult_noise, scalars, table, rng)
    return total


def line_write_numba(weight: torch.Tensor, cell_params: torch.Tensor, index: torch.Tensor,
                     one_prob: torch.Tensor, line_prob: torch.Tensor, bl: torch.Tensor,
                     p: LineWriteParams, *, seed: int = 0, counts: torch.Tensor | None = None,
                     cell_pulses: torch.Tensor | None = None) -> torch.Tensor:
    """Same arguments and result as ``line_write_torch`` (``seed`` instead of a generator),
    in one compiled pass; ``weight`` must be a contiguous float32 CPU tensor."""
    cell_kind, noise_std, mult_noise, cell_scalars, cell_table = p.cell
    columns = p.columns
    counting, cnt = cell_counter(cell_pulses, tuple(weight.shape))
    scalars = np.asarray(layout.check_cell(cell_kind, cell_params, cell_scalars, cell_table),
                         dtype=np.float32)
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
        scalars, table_array(cell_table), low32(seed), cnt, counting)
    return torch.tensor(total, dtype=torch.int64)


__all__ = ["fired_count", "line_write_numba", "pulse_element", "pulse_on_line"]
