"""The batch-counted update on the CPU (meaning: ``counted_update_ref.py``).

Three numba passes: each line's signed bits (``(k * L, n)`` int8, splitmix64 from
``counter_rng_cpu`` keyed by the caller's seed); every element's up and down coincidences
over the batch, counted where lines meet (the bits are sparse: on the CPU this beats the
twin's two dense products, which tensor cores win on CUDA); the counts applied once per
element - closed forms for constant and linear steps (float64), a pulse loop through
``cell_pulse_cpu`` for exp, pow and table steps.

Drawn trains (the training path) run the three as one call, ``_counted_drawn``, with the
same numbers: the firing lines kept as lists (a few percent of the slots' bits fire, and
most rows' trains are 1-2 slots of ``max_bl``), counted per output line into one row, the
touched elements applied in row-major order, so the noise draws meet the elements in
:func:`_apply_counts`' order. Where the time goes after that (bench MLP, batch 32, shared
2-core EPYC, 2026-12-07): about half is the cycle-to-cycle noise, one Box-Muller normal
(``rng_normal``: log, sqrt, sin, cos) per touched element, where ``sample`` draws a
ziggurat normal per train - the one cost by which ``batch`` stays above ``sample`` there;
a cheaper normal would change the numbers.

numba's cache does not notice edits of a module its kernels inline from: after editing
``counter_rng_cpu`` or ``cell_pulse_cpu``, delete ``kernels/__pycache__/*.nb[ic]``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit

from . import layout, seeds
from .cell_pulse_cpu import pulse_noise, pulse_setup, pulse_step, table_array, table_step
from .counter_rng_cpu import rng_normal, rng_state, rng_uniform
from .params import CellParams, UpdateParams
from .pulsed_update_cpu import _trailing_zeros, cell_counter
from .pulsed_update_ref import update_each_tile

# the cell kinds and parameter rows the kernel reads (numba compiles globals in as constants)
CONSTANT, LINEAR, POW, TABLE = (layout.CELL_CONSTANT, layout.CELL_LINEAR, layout.CELL_POW,
                              layout.CELL_TABLE)
SCALE_UP, SCALE_DOWN, W_MAX, W_MIN = (layout.ROW_SCALE_UP, layout.ROW_SCALE_DOWN,
                                      layout.ROW_W_MAX, layout.ROW_W_MIN)
SLOPE_UP, SLOPE_DOWN, GAMMA_UP, GAMMA_DOWN = (layout.ROW_SLOPE_UP, layout.ROW_SLOPE_DOWN,
                                              layout.ROW_GAMMA_UP, layout.ROW_GAMMA_DOWN)
# counter_rng_cpu's splitmix64 (rng_next), its steps written out in _fired's vector loop
_GOLDEN = np.uint64(seeds.GOLDEN64)
_MUL1 = np.uint64(seeds.MIX64_MUL1)
_MUL2 = np.uint64(seeds.MIX64_MUL2)
_INV53 = 1.0 / 9007199254740992.0


@njit(cache=True)
def _signed_bits(prob, bl, length, seed):
    """``(k * length, n)`` int8 signed bits of the lines (``signed_bits_torch``)."""
    rng = rng_state(seed)
    k, n = prob.shape
    out = np.zeros((k * length, n), dtype=np.int8)
    for b in range(k):
        for t in range(min(bl[b], length)):
            for j in range(n):
                p = prob[b, j]
                if p != 0 and rng_uniform(rng[0]) < abs(p):
                    out[b * length + t, j] = -1 if p < 0 else 1
    return out


@njit(cache=True)
def _coincidences(xs, ds_t):
    """Up and down counts ``(out, in)`` of the signed bits ``xs`` ``(K, in)`` and ``ds_t``
    ``(out, K)``, counted where lines meet: per slot the list of its firing input lines,
    per output line the slots it fires in - the work follows the pulses (the bits are
    sparse), as in ``pulsed_update_cpu``, where a dense product would follow ``K * out * in``."""
    n_k, n_in = xs.shape
    n_out = ds_t.shape[0]
    start = np.zeros(n_k + 1, dtype=np.int64)
    for r in range(n_k):
        c = 0
        for j in range(n_in):
            c += xs[r, j] != 0
        start[r + 1] = start[r] + c
    lines = np.empty(max(start[n_k], 1), dtype=np.int64)
    signs = np.empty(max(start[n_k], 1), dtype=np.int8)
    for r in range(n_k):
        q = start[r]
        for j in range(n_in):
            if xs[r, j] != 0:
                lines[q], signs[q] = j, xs[r, j]
                q += 1
    up = np.zeros((n_out, n_in), dtype=np.int64)
    down = np.zeros((n_out, n_in), dtype=np.int64)
    for i in range(n_out):
        for r in range(n_k):
            s = ds_t[i, r]
            if s == 0:
                continue
            for q in range(start[r], start[r + 1]):
                if s == signs[q]:  # equal signs pulse down (-sign(x d))
                    down[i, lines[q]] += 1
                else:
                    up[i, lines[q]] += 1
    return up, down


@njit(cache=True, inline="always")
def _rate(c):
    """``-log(c)`` per pulse and the offset's weight ``-log(c) / (1 - c)`` (``mixed_runs``)."""
    c = max(c, layout.C_FLOOR)
    a = -math.log(c)
    return a, (1.0 if c == 1.0 else a / (1.0 - c))


@njit(cache=True, inline="always")
def _mixed_runs(w, c_up, s_up, c_down, s_down, n_up, n_down):
    """``mixed_runs`` on one element (float64)."""
    if c_up == 1.0 and c_down == 1.0:  # constant steps: the same numbers without exp/log
        return w + (n_up * s_up - n_down * s_down)
    a_up, k_up = _rate(c_up)
    a_down, k_down = _rate(c_down)
    alpha = n_up * a_up + n_down * a_down
    beta = n_up * s_up * k_up - n_down * s_down * k_down
    frac = 1.0 if alpha == 0.0 else -math.expm1(-alpha) / alpha
    return math.exp(-alpha) * w + beta * frac


@njit(cache=True, inline="always")
def _apply_element(weight, cp, r, col, n_up, n_down, cell_kind, closed, mult, noise_std,
                   mult_noise, scalars, table, rng, counting, cnt):
    """The counts ``n_up``, ``n_down`` (not both 0) of element ``(r, col)`` applied through
    the cell (``apply_counts_torch``'s element); the noise from ``rng``, whose draws follow
    the elements in the order they are applied."""
    total = n_up + n_down
    if counting:  # the wear ledger: every pulse of the element
        cnt[r, col] += total
    w_max, w_min = cp[W_MAX, r, col], cp[W_MIN, r, col]
    s_up, s_down = np.float64(cp[SCALE_UP, r, col]), np.float64(cp[SCALE_DOWN, r, col])
    if closed:
        c_up = c_down = 1.0
        if cell_kind == LINEAR:
            c_up = 1.0 - s_up * cp[SLOPE_UP, r, col]
            c_down = 1.0 + s_down * cp[SLOPE_DOWN, r, col]
        w = _mixed_runs(np.float64(weight[r, col]), c_up, s_up, c_down, s_down,
                        np.float64(n_up), np.float64(n_down))
        if noise_std > 0.0:
            if mult:  # the steps where the run ends
                dw_up, dw_down = (c_up - 1.0) * w + s_up, (c_down - 1.0) * w - s_down
            else:
                dw_up, dw_down = s_up, s_down
            var = n_up * dw_up * dw_up + n_down * dw_down * dw_down
            w += noise_std * math.sqrt(var) * rng_normal(rng[0], rng[1])
        weight[r, col] = min(max(w, w_min), w_max)
        return
    row_up = row_down = np.float32(0.0)
    if cell_kind == POW:
        row_up, row_down = cp[GAMMA_UP, r, col], cp[GAMMA_DOWN, r, col]
    w = weight[r, col]
    knots = table.shape[0] // 2
    for p in range(total):
        is_up = ((p + 1) * n_up) // total > (p * n_up) // total
        step = s_up if is_up else -s_down
        scale = s_up if is_up else s_down
        if cell_kind == TABLE:
            dw = table_step(w, step, w_max, w_min, table, 0 if is_up else knots, knots,
                            1.0, 0.0)
            y = 1.0
        else:
            row, z_gain, amp, gam, inv, valid = pulse_setup(
                is_up, cell_kind, w_max, w_min, row_up, row_down, 2.0 * scalars[4],
                scalars[0], scalars[1], scalars[2], -scalars[3], 1.0, 0.0)
            dw, y = pulse_step(w, is_up, step, cell_kind, w_max, w_min, row, z_gain,
                               scalars[5], amp, gam, inv, valid, 1.0, 0.0)
        if noise_std > 0.0 and y > 0:
            dw = pulse_noise(dw, w, rng_normal(rng[0], rng[1]), cell_kind, scale,
                             mult_noise, noise_std, 1.0, scalars[6], scalars[7])
        w = min(max(w + dw, w_min), w_max)
    weight[r, col] = w


@njit(cache=True, inline="always")
def _finish_row(weight, cp, r, cols, n_ups, n_downs, n, noise_std, rng, counting, cnt, w_new,
                var):
    """The rest of a row's closed forms after :func:`_apply_constant_row` or
    :func:`_apply_linear_row` put the new weights and noise variances in ``w_new``, ``var``:
    a normal each, in column order, then the clip and the wear."""
    if noise_std > 0.0:
        for e in range(n):
            w_new[e] += noise_std * math.sqrt(var[e]) * rng_normal(rng[0], rng[1])
    for e in range(n):
        col = cols[e]
        weight[r, col] = min(max(w_new[e], cp[W_MIN, r, col]), cp[W_MAX, r, col])
        if counting:  # the wear ledger: every pulse of the element
            cnt[r, col] += n_ups[e] + n_downs[e]


@njit(cache=True, inline="always")
def _apply_constant_row(weight, cp, r, cols, n_ups, n_downs, n, noise_std, rng, counting, cnt,
                        w_new, var):
    """:func:`_apply_element` of a constant step on the ``n`` touched elements ``cols`` of
    row ``r``, in three loops (closed form, noise, clip): the same operations on each
    element, the normals drawn in the same order, so the same numbers - about twice as
    fast as one loop through :func:`_apply_element`, whose exp, log and Box-Muller code
    slow the loop even where they do not run (2026-12-07)."""
    for e in range(n):
        col = cols[e]
        n_up, n_down = n_ups[e], n_downs[e]
        s_up, s_down = np.float64(cp[SCALE_UP, r, col]), np.float64(cp[SCALE_DOWN, r, col])
        w = np.float64(weight[r, col]) + (np.float64(n_up) * s_up - np.float64(n_down) * s_down)
        w_new[e] = w
        dw_up, dw_down = (1.0 - 1.0) * w + s_up, (1.0 - 1.0) * w - s_down  # c = 1
        var[e] = n_up * dw_up * dw_up + n_down * dw_down * dw_down
    _finish_row(weight, cp, r, cols, n_ups, n_downs, n, noise_std, rng, counting, cnt, w_new,
                var)


@njit(cache=True, inline="always")
def _apply_linear_row(weight, cp, r, cols, n_ups, n_downs, n, noise_std, mult, rng, counting,
                      cnt, w_new, var):
    """:func:`_apply_constant_row` of a linear step (LinearStep, SoftBounds): the closed
    form of :func:`_apply_element` with its slopes, then the noise, then the clip."""
    for e in range(n):
        col = cols[e]
        n_up, n_down = n_ups[e], n_downs[e]
        s_up, s_down = np.float64(cp[SCALE_UP, r, col]), np.float64(cp[SCALE_DOWN, r, col])
        c_up = 1.0 - s_up * cp[SLOPE_UP, r, col]
        c_down = 1.0 + s_down * cp[SLOPE_DOWN, r, col]
        w = _mixed_runs(np.float64(weight[r, col]), c_up, s_up, c_down, s_down,
                        np.float64(n_up), np.float64(n_down))
        w_new[e] = w
        if mult:  # the steps where the run ends
            dw_up, dw_down = (c_up - 1.0) * w + s_up, (c_down - 1.0) * w - s_down
        else:
            dw_up, dw_down = s_up, s_down
        var[e] = n_up * dw_up * dw_up + n_down * dw_down * dw_down
    _finish_row(weight, cp, r, cols, n_ups, n_downs, n, noise_std, rng, counting, cnt, w_new,
                var)


@njit(cache=True)
def _apply_counts(weight, cp, up, down, cell_kind, noise_std, mult_noise, scalars, table, seed,
                  counting, cnt):
    rng = rng_state(seed)
    n_out, n_in = weight.shape
    closed = cell_kind == CONSTANT or cell_kind == LINEAR
    mult = mult_noise or cell_kind == CONSTANT
    for r in range(n_out):
        for col in range(n_in):
            n_up, n_down = up[r, col], down[r, col]
            if n_up + n_down == 0:
                continue
            _apply_element(weight, cp, r, col, n_up, n_down, cell_kind, closed, mult,
                           noise_std, mult_noise, scalars, table, rng, counting, cnt)


@njit(cache=True)
def _fired(prob, bl, length, seed):
    """The lines that fire, slot by slot: ``(start, lines, signs)``, slot ``b * length + t``'s
    firing lines at ``start[slot]:start[slot + 1]`` - the bits of :func:`_signed_bits`,
    kept as lists (a few percent of the ``(k * length, n)`` entries fire). The same draws:
    ``rng_uniform``'s stream, one number per slot and line with ``prob != 0``, in row, slot,
    line order, the ``e``-th draw of a slot at counter ``c + (e + 1) * golden`` - written
    so, a slot's draws are one vector loop (3x faster than the stepped counter)."""
    counter = rng_state(seed)[0][0]
    k, n = prob.shape
    start = np.zeros(k * length + 1, dtype=np.int64)
    nz = np.empty(n, dtype=np.int32)  # a row's lines with prob != 0 (NaN too: they draw)
    p_abs = np.empty(n, dtype=np.float64)
    sign = np.empty(n, dtype=np.int8)
    fire = np.empty(n, dtype=np.uint8)
    cap = max(256, (k * n) >> 4)
    lines = np.empty(cap, dtype=np.int32)
    signs = np.empty(cap, dtype=np.int8)
    q = 0
    for b in range(k):
        drawn = min(bl[b], length)
        m = 0
        if drawn > 0:
            for j in range(n):
                p = prob[b, j]
                if p != 0:
                    nz[m] = j
                    p_abs[m] = abs(p)
                    sign[m] = -1 if p < 0 else 1
                    m += 1
        for t in range(length):
            if t < drawn:
                if q + m > cap:  # room doubled
                    cap = 2 * cap + m
                    more_lines = np.empty(cap, dtype=np.int32)
                    more_lines[:q] = lines[:q]
                    more_signs = np.empty(cap, dtype=np.int8)
                    more_signs[:q] = signs[:q]
                    lines, signs = more_lines, more_signs
                for e in range(m):  # rng_uniform at counter + (e + 1) * golden
                    z = counter + np.uint64(e + 1) * _GOLDEN
                    z = (z ^ (z >> np.uint64(30))) * _MUL1
                    z = (z ^ (z >> np.uint64(27))) * _MUL2
                    z = z ^ (z >> np.uint64(31))
                    fire[e] = np.float64(z >> np.uint64(11)) * _INV53 < p_abs[e]
                for e in range(m):  # the firing lines kept, without a branch
                    lines[q] = nz[e]
                    signs[q] = sign[e]
                    q += fire[e]
                counter += np.uint64(m) * _GOLDEN
            start[b * length + t + 1] = q
    return start, lines, signs


@njit(cache=True)
def _counted_drawn(weight, cp, x_prob, d_prob, bl, length, x_seed, d_seed, noise_seed,
                   cell_kind, noise_std, mult_noise, scalars, table, counting, cnt):
    """The whole drawn counted update in one call; the same numbers as :func:`_signed_bits`
    (both sides), :func:`_coincidences` and :func:`_apply_counts` in turn. Per output line
    ``i``: the slots its line fires in, and per slot the firing input lines, counted into
    one row of totals and net signs (the touched columns marked in a bit set), then the
    touched elements applied in column order - the row-major order of
    :func:`_apply_counts`, so the noise draws meet the same elements. The work follows
    the coincidences; nothing of size ``out x in`` or ``k * length x n`` is made. Returns
    the pulses applied."""
    n_out, n_in = weight.shape
    x_start, x_lines, x_signs = _fired(x_prob, bl, length, x_seed)
    d_start, d_lines, d_signs = _fired(d_prob, bl, length, d_seed)
    n_slots = d_start.shape[0] - 1
    n_d = d_start[n_slots]
    # the d bits by output line (slots ascending within a line)
    by_line = np.zeros(n_out + 1, dtype=np.int64)
    for q in range(n_d):
        by_line[d_lines[q] + 1] += 1
    for i in range(n_out):
        by_line[i + 1] += by_line[i]
    fill = by_line[:n_out].copy()
    slot_of = np.empty(max(n_d, 1), dtype=np.int64)
    sign_of = np.empty(max(n_d, 1), dtype=np.int8)
    for r in range(n_slots):
        for q in range(d_start[r], d_start[r + 1]):
            i = d_lines[q]
            slot_of[fill[i]] = r
            sign_of[fill[i]] = d_signs[q]
            fill[i] += 1
    totals = np.zeros(n_in, dtype=np.int64)
    nets = np.zeros(n_in, dtype=np.int64)
    n_words = (n_in + 63) >> 6
    marks = np.zeros(n_words, dtype=np.uint64)
    one = np.uint64(1)
    touched = np.empty(n_in, dtype=np.int64)  # one output line's touched columns, counts
    n_ups = np.empty(n_in, dtype=np.int64)
    n_downs = np.empty(n_in, dtype=np.int64)
    w_new = np.empty(n_in, dtype=np.float64)  # (constant steps) their new weights, variances
    var = np.empty(n_in, dtype=np.float64)
    rng = rng_state(noise_seed)
    closed = cell_kind == CONSTANT or cell_kind == LINEAR
    mult = mult_noise or cell_kind == CONSTANT
    constant, linear = cell_kind == CONSTANT, cell_kind == LINEAR
    pulses = 0
    for i in range(n_out):
        for e in range(by_line[i], by_line[i + 1]):
            r = slot_of[e]
            s = np.int64(sign_of[e])
            for q in range(x_start[r], x_start[r + 1]):
                j = np.int64(x_lines[q])
                totals[j] += 1
                nets[j] += s * x_signs[q]  # equal signs (+1) pulse down (-sign(x d))
                marks[j >> 6] |= one << np.uint64(j & 63)
        n_touched = 0
        for word in range(n_words):  # the touched elements in column order
            m = marks[word]
            marks[word] = 0
            while m != 0:
                j = word * 64 + _trailing_zeros(m)
                m &= m - one
                total, net = totals[j], nets[j]
                totals[j] = 0
                nets[j] = 0
                touched[n_touched] = j
                n_downs[n_touched] = (total + net) // 2
                n_ups[n_touched] = total - n_downs[n_touched]
                n_touched += 1
                pulses += total
        if constant:
            _apply_constant_row(weight, cp, i, touched, n_ups, n_downs, n_touched, noise_std,
                                rng, counting, cnt, w_new, var)
        elif linear:
            _apply_linear_row(weight, cp, i, touched, n_ups, n_downs, n_touched, noise_std,
                              mult, rng, counting, cnt, w_new, var)
        else:
            for e in range(n_touched):
                _apply_element(weight, cp, i, touched[e], n_ups[e], n_downs[e], cell_kind,
                               closed, mult, noise_std, mult_noise, scalars, table, rng,
                               counting, cnt)
    return pulses


def signed_bits_numba(prob: torch.Tensor, bl: torch.Tensor, length: int,
                      seed: int) -> torch.Tensor:
    """``(k * length, n)`` int8 signed bits drawn from ``seed`` (``signed_bits_torch``)."""
    return torch.from_numpy(_signed_bits(
        prob.detach().to(torch.float32).contiguous().numpy(),
        bl.detach().to(torch.int64).contiguous().numpy(), int(length),
        seeds.low63(seed)))


def pulse_counts_numba(xs: torch.Tensor, ds: torch.Tensor):
    """Up and down counts ``(out, in)`` (int64) of int8 signed bits ``(K, in)``, ``(K, out)``
    (``pulse_counts_torch``)."""
    up, down = _coincidences(xs.to(torch.int8).contiguous().numpy(),
                             ds.to(torch.int8).T.contiguous().numpy())
    return torch.from_numpy(up), torch.from_numpy(down)


def apply_counts_numba(weight: torch.Tensor, cell_params: torch.Tensor, up: torch.Tensor,
                       down: torch.Tensor, cell: CellParams, *, seed: int = 0,
                       cell_pulses: torch.Tensor | None = None) -> None:
    """``apply_counts_torch`` on a contiguous float32 CPU ``weight``, noise from ``seed``;
    each element's ``up + down`` added to the int32 counter ``cell_pulses`` if given."""
    kind, noise_std, mult_noise, scalars, table, counting, cnt = _cell_args(
        weight, cell_params, cell, cell_pulses)
    _apply_counts(weight.detach().numpy(), cell_params.detach().contiguous().numpy(),
                  up.to(torch.int64).contiguous().numpy(),
                  down.to(torch.int64).contiguous().numpy(), kind, noise_std, mult_noise,
                  scalars, table, seeds.low63(seed), counting, cnt)


def _cell_args(weight, cell_params, cell: CellParams, cell_pulses) -> tuple:
    """The cell's arguments of :func:`_apply_counts` and :func:`_counted_drawn`, checked:
    kind, noise std, multiplicative noise, scalars, table, whether wear is counted and its
    counter."""
    cell_kind, noise_std, mult_noise, cell_scalars, cell_table = cell
    counting, cnt = cell_counter(cell_pulses, tuple(weight.shape))
    scalars = np.asarray(layout.check_cell(cell_kind, cell_params, cell_scalars, cell_table),
                         dtype=np.float32)
    return (int(cell_kind), float(noise_std), bool(mult_noise), scalars,
            table_array(cell_table), counting, cnt)


def counted_update_numba(weight: torch.Tensor, cell_params: torch.Tensor, x_prob: torch.Tensor,
                         d_prob: torch.Tensor, bl: torch.Tensor, p: UpdateParams, *,
                         seed: int = 0, x_bits: torch.Tensor | None = None,
                         d_bits: torch.Tensor | None = None,
                         cell_pulses: torch.Tensor | None = None) -> torch.Tensor:
    """``counted_update_torch`` with ``seed`` instead of a generator (the bits, then the
    noise, each from its own stream of it)."""
    length = int(p.max_bl) if x_bits is None else x_bits.shape[1]
    if length == 0 or x_prob.shape[0] == 0:
        return torch.zeros((), dtype=torch.int64)
    if x_bits is None:  # drawn trains: one fused call (_counted_drawn)
        pulses = _counted_drawn(
            weight.detach().numpy(), cell_params.detach().contiguous().numpy(),
            x_prob.detach().to(torch.float32).contiguous().numpy(),
            d_prob.detach().to(torch.float32).contiguous().numpy(),
            bl.detach().to(torch.int64).contiguous().numpy(), length, seeds.low63(seed),
            seeds.low63(seed ^ seeds.D_STREAM_SALT), seeds.low63(seed ^ seeds.NOISE_STREAM_SALT),
            *_cell_args(weight, cell_params, p.cell, cell_pulses))
        return torch.scalar_tensor(pulses, dtype=torch.int64)
    from .counted_update_ref import signed_bits_torch  # given trains: the twin's signs of them

    xs = signed_bits_torch(x_prob, bl, length, bits=x_bits).flatten(0, 1)
    ds = signed_bits_torch(d_prob, bl, length, bits=d_bits).flatten(0, 1)
    up, down = pulse_counts_numba(xs, ds)
    apply_counts_numba(weight, cell_params, up, down, p.cell,
                       seed=seed ^ seeds.NOISE_STREAM_SALT, cell_pulses=cell_pulses)
    return (up.sum() + down.sum()).to(torch.int64)


def counted_update_grouped_numba(weights: torch.Tensor, cell_params: torch.Tensor,
                                 x_prob: torch.Tensor, d_prob: torch.Tensor, bl: torch.Tensor,
                                 p: UpdateParams, *, seeds,
                                 cell_pulses: torch.Tensor | None = None) -> torch.Tensor:
    """``counted_update_grouped_torch``: each tile's :func:`counted_update_numba` with its
    own seed ``seeds[g]``; the pulses per tile."""
    return update_each_tile(counted_update_numba, weights, cell_params, x_prob, d_prob, bl, p,
                            cell_pulses, seed=[int(seed) for seed in seeds])


__all__ = ["apply_counts_numba", "counted_update_grouped_numba", "counted_update_numba",
           "pulse_counts_numba",
           "signed_bits_numba"]
