"""The analog MVM on the CPU: numba prologue and epilogue around a BLAS matmul.

Same meaning as ``analog_mvm_ref.analog_mvm_torch``, in three compiled steps per pass
instead of ~30 small torch ops: the prologue (noise-management scale, DAC quantization and
clip, input noise) writes the scaled inputs of the rows still to do, torch's matmul (BLAS)
multiplies them by the weight, and the epilogue (read noise, output noise, ADC quantization,
bound test, clip, rescale) writes the outputs and lists the rows that must be redone with a
halved input. Only those rows go round again, so bound management costs nothing when no
output clips. Rows with one non-zero input each (a transfer's one-hot reads) gather that
column instead of the matmul: the same floats.

Noise comes from a counter-based generator (splitmix64 of the host seed, the noise stream,
the bound-management pass and the element index, Box-Muller for normals): the same seed gives
the same result for any number of threads and any row order. With many rows the prologue and
epilogue run over rows in parallel (``prange``) on as many threads as torch uses (the
``threads`` key).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numba
import numpy as np
import torch
from numba import njit, prange

from . import seeds
from .analog_mvm_ref import MVMParams, tile_blocks
from .layout import (
    BM_NONE,
    BM_WORST_CASE,
    NM_ABS_MAX,
    NM_ABS_MAX_NP_SUM,
    NM_CONSTANT,
    NM_MAX,
    NM_NONE,
    W_NOISE_ADDITIVE,
    W_NOISE_PCM,
)

# noise streams (part of the generator's key)
S_INP_ROUND, S_INP_NOISE, S_W_NOISE, S_OUT_NOISE, S_OUT_ROUND = range(5)
PARALLEL_MIN_ELEMENTS = 1 << 16  # below this a thread pool costs more than it saves

_M1 = np.uint64(seeds.MIX64_MUL1)
_M2 = np.uint64(seeds.MIX64_MUL2)
_GOLDEN = np.uint64(seeds.GOLDEN64)


@njit(cache=True, inline="always")
def _mix(z):
    """splitmix64's finalizer: a bijective hash of a 64-bit word."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def _stream_key(seed, stream, bm_pass):
    """The generator key of one noise stream in one bound-management pass."""
    return _mix(np.uint64(seed) * _GOLDEN + np.uint64(stream * 1024 + bm_pass + 1) * _M1)


@njit(cache=True, inline="always")
def _uniform(key, index):
    """A float32 in [0, 1) for element ``index`` of the stream ``key``."""
    z = _mix(key + np.uint64(index) * _GOLDEN)
    return np.float32(np.float64(z >> np.uint64(40)) * (1.0 / 16777216.0))


@njit(cache=True)
def _fill_normals(out, key, base):
    """``out[j]`` standard normal, from pair ``base + j // 2`` of the stream ``key``.

    Inverse CDF of two 24-bit uniforms per hash: ``sqrt(2) erfinv(x)`` (Giles 2010, single
    precision) with a float32 log of its own (Cephes ``logf`` on the bits), both branches of
    erfinv computed and one selected, so that the loops vectorize: no libm call per sample.
    """
    n = out.shape[0]
    half = (n + 1) // 2
    xs = np.empty(2 * half, np.float32)
    q = np.empty(2 * half, np.float32)
    scale = np.float32(1.0 / 16777216.0)  # x = (2k + 1) / 2**24 - 1 for a 24-bit k, exactly
    for p in range(half):
        z = _mix(key + np.uint64(base + p) * _GOLDEN)
        x0 = np.float32(np.int64(z >> np.uint64(40)) * 2 + 1 - 16777216) * scale
        x1 = np.float32(np.int64((z >> np.uint64(16)) & np.uint64(0xFFFFFF)) * 2 + 1
                        - 16777216) * scale
        xs[2 * p] = x0
        xs[2 * p + 1] = x1
        q[2 * p] = (np.float32(1.0) - x0) * (np.float32(1.0) + x0)
        q[2 * p + 1] = (np.float32(1.0) - x1) * (np.float32(1.0) + x1)
    bits = q.view(np.int32)
    expo = np.empty(2 * half, np.float32)
    for j in range(2 * half):  # q = m * 2**e with m in [0.5, 1)
        b = bits[j]
        expo[j] = np.float32((b >> 23) - 126)
        bits[j] = (b & 0x7FFFFF) | 0x3F000000
    root2 = np.float32(math.sqrt(2.0))
    for j in range(n):
        m = q[j]
        e = expo[j]
        small = m < np.float32(0.70710678)
        e = e - np.float32(1.0) if small else e
        f = (m + m - np.float32(1.0)) if small else (m - np.float32(1.0))
        z = f * f
        y = np.float32(7.0376836292e-2) * f - np.float32(1.1514610310e-1)
        y = y * f + np.float32(1.1676998740e-1)
        y = y * f - np.float32(1.2420140846e-1)
        y = y * f + np.float32(1.4249322787e-1)
        y = y * f - np.float32(1.6668057665e-1)
        y = y * f + np.float32(2.0000714765e-1)
        y = y * f - np.float32(2.4999993993e-1)
        y = y * f + np.float32(3.3333331174e-1)
        y = y * f * z + np.float32(-2.12194440e-4) * e - np.float32(0.5) * z
        w = -(f + y + np.float32(0.693359375) * e)  # -log(q)
        c = w - np.float32(2.5)
        p = np.float32(2.81022636e-08)
        p = np.float32(3.43273939e-07) + p * c
        p = np.float32(-3.5233877e-06) + p * c
        p = np.float32(-4.39150654e-06) + p * c
        p = np.float32(0.00021858087) + p * c
        p = np.float32(-0.00125372503) + p * c
        p = np.float32(-0.00417768164) + p * c
        p = np.float32(0.246640727) + p * c
        p = np.float32(1.50140941) + p * c
        t = np.sqrt(w) - np.float32(3.0)
        r = np.float32(-0.000200214257)
        r = np.float32(0.000100950558) + r * t
        r = np.float32(0.00134934322) + r * t
        r = np.float32(-0.00367342844) + r * t
        r = np.float32(0.00573950773) + r * t
        r = np.float32(-0.0076224613) + r * t
        r = np.float32(0.00943887047) + r * t
        r = np.float32(1.00167406) + r * t
        r = np.float32(2.83297682) + r * t
        out[j] = root2 * (p if w < np.float32(5.0) else r) * xs[j]


@njit(cache=True, inline="always")
def _add_noise_row(values, std, key, row):
    """``values += std * N(0, 1)`` for one row (``std`` a float32 scalar)."""
    width = values.shape[0]
    noise = np.empty(width, np.float32)
    _fill_normals(noise, key, row * ((width + 1) // 2))
    for j in range(width):
        values[j] = values[j] + std * noise[j]


# Reductions in their own functions with reassociation allowed, so that they vectorize: a
# maximum is exact in any order; float64 sums of float32 values round to the same float32
# in any order but for ties far below float32 resolution.
_REDUCE = {"reassoc", "nsz", "nnan"}


@njit(cache=True, fastmath=_REDUCE)
def _max_of(values):
    out = np.float32(-np.inf)
    for j in range(values.shape[0]):
        out = max(out, values[j])
    return out


@njit(cache=True, fastmath=_REDUCE)
def _abs_max_of(values):
    out = np.float32(0.0)
    for j in range(values.shape[0]):
        out = max(out, abs(values[j]))
    return out


@njit(cache=True, fastmath=_REDUCE)
def _signed_sums_of(values):
    pos = 0.0
    neg = 0.0
    for j in range(values.shape[0]):
        value = np.float64(values[j])
        pos += max(value, 0.0)
        neg -= min(value, 0.0)
    return pos, neg


@njit(cache=True, fastmath=_REDUCE)
def _sum_of_squares(values):
    total = 0.0
    for j in range(values.shape[0]):
        total += np.float64(values[j]) * values[j]
    return total


@njit(cache=True, inline="always")
def _row_scale(x, r, kind, nm_thres, wmax, out_bound, inp_step, max_bm_res):
    """Noise-management scale of row ``r`` (float32; as ``noise_management_scale_torch``)."""
    if kind == NM_NONE:
        return np.float32(1.0)
    if kind == NM_CONSTANT:
        return np.float32(nm_thres)
    amax = np.float32(0.0)
    vmax = np.float32(-np.inf)
    pos = 0.0
    neg = 0.0
    if kind == NM_MAX:  # one reduction per kind
        vmax = _max_of(x[r])
    else:
        amax = _abs_max_of(x[r])
    if kind == NM_ABS_MAX_NP_SUM:
        pos, neg = _signed_sums_of(x[r])
    if nm_thres > 0:
        amax = min(amax, nm_thres)
        vmax = min(vmax, nm_thres)
    if kind == NM_ABS_MAX:
        return amax
    if kind == NM_MAX:
        return vmax
    npsum = np.float32(max(pos, neg)) * wmax / out_bound
    if inp_step > 0:
        npsum = min(amax / inp_step * max_bm_res, npsum)
    return max(amax, npsum)


@njit(cache=True, inline="always")
def _settings(c):
    """The prologue's numbers from its float32 array (one array unboxes faster than many
    scalars): kind, nm_thres, wmax, out_bound, inp_step, max_bm_res, inp_bound, sto, noise,
    whether ||v|| is needed."""
    return (c[1], c[2], c[3], c[4], c[5], c[6], c[7] != 0, c[8], c[9] != 0)


@njit(cache=True, inline="always")
def _prepare(x, state, c):
    """Noise-management scales into ``state[:, 0]`` (1 where <= 0), reductions 1; returns
    the rows that are not silent."""
    n = x.shape[0]
    kind = np.int64(c[0])
    nm_thres, wmax, out_bound, inp_step, max_bm_res, _, _, inp_noise, _ = _settings(c)
    todo = np.empty(n, np.int64)
    count = 0
    for r in range(n):
        raw = _row_scale(x, r, kind, nm_thres, wmax, out_bound, inp_step, max_bm_res)
        state[r, 0] = raw if raw > 0 else np.float32(1.0)
        state[r, 1] = np.float32(1.0)
        if not (raw <= 0 and kind != NM_NONE and inp_noise <= 0):
            todo[count] = r
            count += 1
    return todo[:count]


@njit(cache=True, inline="always")
def _prologue_row(k, x, rows, state, worst, v, kst, c, seed, bm_pass):
    nm_thres, wmax, out_bound, inp_step, max_bm_res, inp_bound, inp_sto, inp_noise, \
        need_norm = c
    key_round = _stream_key(seed, S_INP_ROUND, bm_pass)
    key_noise = _stream_key(seed, S_INP_NOISE, bm_pass)
    r = rows[k]
    if worst:
        value = _row_scale(x, r, NM_ABS_MAX_NP_SUM, nm_thres, wmax, out_bound, inp_step,
                           max_bm_res)
        if value > 0:
            state[r, 0] = value
        state[r, 1] = np.float32(1.0)
    s = state[r, 0] * state[r, 1]
    kst[k, 0] = s
    row = v[k]
    width = row.shape[0]
    for j in range(width):
        t = x[r, j] / s
        if inp_step > 0:
            t = t / inp_step
            if inp_sto:
                t = t + (_uniform(key_round, r * width + j) - np.float32(0.5))
            t = np.float32(np.rint(t)) * inp_step
        row[j] = min(max(t, -inp_bound), inp_bound)
    if inp_noise > 0:
        _add_noise_row(row, inp_noise, key_noise, r)
    if need_norm:  # for read noise of the additive kind only
        kst[k, 1] = np.float32(math.sqrt(_sum_of_squares(row)))


@njit(cache=True, inline="always")
def _prologue_body(x, rows, state, c, seed, bm_pass, worst):
    """Pass ``bm_pass`` of the DAC for ``rows`` (on pass 0: every row that is not silent);
    returns the rows, their DAC inputs and per row ``(scale, ||v||)``."""
    if bm_pass == 0:
        rows = _prepare(x, state, c)
    m = rows.shape[0]
    v = np.empty((m, x.shape[1]), np.float32)
    kst = np.empty((m, 2), np.float32)
    settings = _settings(c)
    for k in prange(m):
        _prologue_row(k, x, rows, state, worst, v, kst, settings, seed, bm_pass)
    return rows, v, kst


@njit(cache=True, inline="always")
def _epilogue_row(k, y, var, kst, rows, out, passed, c, seed, bm_pass):
    w_noise, w_kind, out_noise, out_step, out_sto, out_bound, out_scale, test_negative = c
    key_w = _stream_key(seed, S_W_NOISE, bm_pass)
    key_out = _stream_key(seed, S_OUT_NOISE, bm_pass)
    key_round = _stream_key(seed, S_OUT_ROUND, bm_pass)
    r = rows[k]
    row = y[k]
    width = row.shape[0]
    if w_noise > 0 and w_kind == W_NOISE_ADDITIVE:
        _add_noise_row(row, w_noise * kst[k, 1], key_w, r)
    elif w_noise > 0 and w_kind == W_NOISE_PCM:
        noise = np.empty(width, np.float32)
        _fill_normals(noise, key_w, r * ((width + 1) // 2))
        for j in range(width):
            row[j] = row[j] + w_noise * np.sqrt(var[k, j]) * noise[j]
    if out_noise > 0:
        _add_noise_row(row, out_noise, key_out, r)
    # separate simple loops (quantize, count, clip and scale) so that each vectorizes
    if out_step > 0 and out_sto:
        for i in range(width):
            t = row[i] / out_step + (_uniform(key_round, r * width + i) - np.float32(0.5))
            row[i] = np.float32(np.rint(t)) * out_step
    elif out_step > 0:
        for i in range(width):
            row[i] = np.float32(np.rint(row[i] / out_step)) * out_step
    hits = 0
    if test_negative:
        for i in range(width):
            hits += (row[i] > out_bound) | (row[i] < -out_bound)
    else:
        for i in range(width):
            hits += row[i] > out_bound
    s = kst[k, 0]
    dst = out[r]
    if out_scale != 1:
        for i in range(width):
            dst[i] = (min(max(row[i], -out_bound), out_bound) * s) * out_scale
    else:
        for i in range(width):
            dst[i] = min(max(row[i], -out_bound), out_bound) * s
    passed[k] = hits == 0


@njit(cache=True, inline="always")
def _failed_rows(rows, passed, state, max_bm_factor, bm_limit):
    """The rows to redo (their reduction doubled); rows at the reduction limit pass."""
    todo = np.empty(rows.shape[0], np.int64)
    count = 0
    for k in range(rows.shape[0]):
        r = rows[k]
        red = state[r, 1]
        if passed[k] or red > max_bm_factor or red > bm_limit:
            continue
        state[r, 1] = red * np.float32(2.0)
        todo[count] = r
        count += 1
    return todo[:count]


@njit(cache=True, inline="always")
def _epilogue_body(y, var, rows, kst, state, out, c, seed, bm_pass, max_bm_factor, bm_limit):
    """ADC of pass ``bm_pass`` into ``out``; returns the rows bound management must redo.
    ``c``: w_noise, w_kind, out_noise, out_step, sto, out_bound, out_scale, test_negative,
    bm_kind."""
    m = rows.shape[0]
    passed = np.empty(m, np.bool_)
    settings = (c[0], np.int64(c[1]), c[2], c[3], c[4] != 0, c[5], c[6], c[7] != 0)
    for k in prange(m):
        _epilogue_row(k, y, var, kst, rows, out, passed, settings, seed, bm_pass)
    if np.int64(c[8]) == BM_NONE:
        return rows[:0]
    return _failed_rows(rows, passed, state, max_bm_factor, bm_limit)


# One body, two compilations: inlined into a plain and a ``parallel=True`` function, its
# ``prange`` is a ``range`` in the first and a thread loop in the second. (Two dispatchers
# of one Python function would share its cache entries, so each wrapper is its own function.)
@njit(cache=True)
def _prologue_serial(x, rows, state, c, seed, bm_pass, worst):
    return _prologue_body(x, rows, state, c, seed, bm_pass, worst)


@njit(cache=True, parallel=True)
def _prologue_parallel(x, rows, state, c, seed, bm_pass, worst):
    return _prologue_body(x, rows, state, c, seed, bm_pass, worst)


@njit(cache=True)
def _epilogue_serial(y, var, rows, kst, state, out, c, seed, bm_pass, max_bm_factor,
                     bm_limit):
    return _epilogue_body(y, var, rows, kst, state, out, c, seed, bm_pass, max_bm_factor,
                          bm_limit)


@njit(cache=True, parallel=True)
def _epilogue_parallel(y, var, rows, kst, state, out, c, seed, bm_pass, max_bm_factor,
                       bm_limit):
    return _epilogue_body(y, var, rows, kst, state, out, c, seed, bm_pass, max_bm_factor,
                          bm_limit)


@njit(cache=True)
def _column_products(v, w):
    """``v @ w.T`` where every row of the scaled inputs ``v`` has at most one non-zero input
    (a transfer's one-hot reads): one column of ``w`` each, not the whole array. The same
    floats as the BLAS product: its accumulator starts at +0, and adding exact zeros to the
    one product changes nothing (a -0 product becomes +0, as there). ``(False, _)`` where a
    row has more (then the matmul runs)."""
    n, width = v.shape
    cols = np.full(n, -1, np.int64)
    for r in range(n):
        for c in range(width):
            if v[r, c] != 0:
                if cols[r] >= 0:
                    return False, np.zeros((0, 0), np.float32)
                cols[r] = c
    d = w.shape[0]
    y = np.zeros((n, d), np.float32)
    for r in range(n):
        c = cols[r]
        if c < 0:
            continue
        a = v[r, c]
        for i in range(d):
            y[r, i] = np.float32(0.0) + a * w[i, c]
    return True, y


# rows (a transfer's reads) checked for one non-zero input each: the chopped devices read
# a batch's worth of lines at once (32 of 392 at batch 32: 88 -> 48 us a read on the CPU,
# 2026-12-07), and a dense input (a forward batch) stops the check at its second non-zero
ONEHOT_MAX_ROWS = 64


def _product(v: np.ndarray, weight: torch.Tensor, w_t: torch.Tensor) -> np.ndarray:
    """``v @ weight.T``: a column gather where every row has one non-zero input (a transfer's
    one-hot reads: the matmul would read the whole array for one line of it). A first row
    of more (a forward or backward batch) skips the check's call (~2 us of a small MVM)."""
    if v.shape[0] <= ONEHOT_MAX_ROWS and np.count_nonzero(v[:1]) <= 1:
        gathered, y = _column_products(v, weight.numpy())
        if gathered:
            return y
    return (torch.from_numpy(v) @ w_t).numpy()


def _threads(elements: int) -> int:
    """How many threads the row loops get: torch's count when the work is large enough."""
    if elements < PARALLEL_MIN_ELEMENTS:
        return 1
    return max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))


@lru_cache(maxsize=64)
def _constants(p: MVMParams):
    """The kernels' numbers of ``p`` as float32 arrays (the twin's float32 arithmetic)."""
    prologue = np.array([p.nm_kind, p.nm_thres, p.nm_assumed_wmax, p.out_bound, p.inp_step,
                         p.max_bm_res, p.inp_bound, p.inp_sto_round, p.inp_noise,
                         p.w_noise > 0 and p.w_noise_kind == W_NOISE_ADDITIVE], np.float32)
    epilogue = np.array([p.w_noise, p.w_noise_kind, p.out_noise, p.out_step, p.out_sto_round,
                         p.out_bound, p.out_scale, p.bm_test_negative_bound, p.bm_kind],
                        np.float32)
    return prologue, epilogue


_NO_VAR = np.zeros((0, 0), np.float32)
_NO_ROWS = np.zeros(0, np.int64)


def analog_mvm_numba(weight: torch.Tensor, x: torch.Tensor, p: MVMParams,
                     seed: int) -> torch.Tensor:
    """``x @ weight.T`` (float32 CPU tensors) through the periphery of ``p``."""
    if p.is_perfect:
        out = x @ weight.T
        return out * p.out_scale if p.out_scale != 1 else out
    x, weight = x.detach(), weight.detach()
    if x.dtype != torch.float32 or not x.is_contiguous():
        x = x.to(torch.float32).contiguous()
    if weight.dtype != torch.float32:
        weight = weight.to(torch.float32)
    xn = x.numpy()
    n, width = xn.shape
    d = weight.shape[0]
    state = np.empty((n, 2), np.float32)  # per row: noise-management scale, reduction
    out = np.zeros((n, d), np.float32)
    pro, epi = _constants(p)
    w_t = weight.T
    pcm = p.w_noise > 0 and p.w_noise_kind == W_NOISE_PCM
    w_abs_t = weight.abs().T if pcm else None
    seed = int(seed) & 0x7FFF_FFFF_FFFF_FFFF
    worst_case = p.bm_kind == BM_WORST_CASE and p.nm_kind != NM_ABS_MAX_NP_SUM
    limits = float(p.max_bm_factor), float(p.bm_limit)
    rows, bm_pass, m = _NO_ROWS, 0, n
    while True:
        threads = _threads(m * max(width, d))
        if threads > 1:
            numba.set_num_threads(threads)
        rows, v, kst = (_prologue_parallel if threads > 1 else _prologue_serial)(
            xn, rows, state, pro, seed, bm_pass, worst_case and bm_pass == 1)
        if rows.shape[0] == 0:
            break
        if pcm:
            vt = torch.from_numpy(v)
            y, var = (vt @ w_t).numpy(), ((vt * vt) @ w_abs_t).numpy()
        else:
            y, var = _product(v, weight, w_t), _NO_VAR
        rows = (_epilogue_parallel if threads > 1 else _epilogue_serial)(
            y, var, rows, kst, state, out, epi, seed, bm_pass, *limits)
        m = rows.shape[0]
        if m == 0:
            break
        bm_pass += 1
    return torch.from_numpy(out)


@njit(cache=True)
def _onehot_reads(w, start, count, pro, epi, seed, worst_case, max_bm_factor, bm_limit):
    """``analog_mvm_numba`` of ``count`` one-hot rows (row ``b`` one at column
    ``(start + b) % width``: a transfer's reads) in one call: the same prologue, column
    gather and epilogue, pass after pass, without the Python between them. ``(False, _)``
    where a row's DAC input is not one-hot (input noise): then the caller multiplies."""
    d, width = w.shape
    x = np.zeros((count, width), np.float32)
    for b in range(count):
        x[b, (start + b) % width] = np.float32(1.0)
    state = np.empty((count, 2), np.float32)
    out = np.zeros((count, d), np.float32)
    rows = np.zeros(0, np.int64)
    bm_pass = np.int64(0)  # not a literal 0: no compile of its own of the prologue, epilogue
    while True:
        rows, v, kst = _prologue_serial(x, rows, state, pro, seed, bm_pass,
                                        worst_case and bm_pass == 1)
        if rows.shape[0] == 0:
            break
        gathered, y = _column_products(v, w)
        if not gathered:
            return False, out
        rows = _epilogue_serial(y, np.zeros((0, 0), np.float32), rows, kst, state, out, epi,
                                seed, bm_pass, max_bm_factor, bm_limit)
        if rows.shape[0] == 0:
            break
        bm_pass += 1
    return True, out


def bind_onehot_reads(weight: torch.Tensor, p: MVMParams):
    """``read(start, count, seed)``: ``analog_mvm_numba(weight, onehot, p, seed)`` for the
    one-hot rows of a transfer's host run (``LineRun.onehot``), its arguments made once: a
    transfer reads one line, and as much Python went round the kernels as they took. The
    numpy view reads through to ``weight``, so ``read`` holds while its storage
    does. None where that call would not gather (an ideal periphery, PCM read noise, a
    weight that is no float32 view); ``read`` multiplies as it does where the DAC's
    inputs are not one-hot (input noise) or the rows are more than ``ONEHOT_MAX_ROWS``."""
    if (p.is_perfect or (p.w_noise > 0 and p.w_noise_kind == W_NOISE_PCM)
            or weight.dtype != torch.float32):
        return None
    w = weight.detach().numpy()
    pro, epi = _constants(p)
    worst_case = p.bm_kind == BM_WORST_CASE and p.nm_kind != NM_ABS_MAX_NP_SUM
    limits = float(p.max_bm_factor), float(p.bm_limit)
    mask = 0x7FFF_FFFF_FFFF_FFFF
    width = w.shape[1]

    def read(start: int, count: int, seed: int) -> torch.Tensor:
        if count <= ONEHOT_MAX_ROWS:
            gathered, out = _onehot_reads(w, start, count, pro, epi, int(seed) & mask,
                                          worst_case, *limits)
            if gathered:
                return torch.from_numpy(out)
        onehot = torch.zeros(count, width, dtype=torch.float32)
        onehot[torch.arange(count), (start + torch.arange(count)) % width] = 1.0
        return analog_mvm_numba(weight, onehot, p, seed)

    return read


def analog_mvm_grouped_numba(weights: torch.Tensor, x: torch.Tensor, p: MVMParams, seeds,
                             n_cols: int, step_i: int, step_j: int) -> torch.Tensor:
    """``analog_mvm_grouped_torch``: each tile's ``analog_mvm_numba`` (the CPU gains
    nothing from one launch for all), stacked ``(tiles, N, out)``."""
    tiles, _, width = weights.shape
    blocks = tile_blocks(x, tiles, n_cols, step_i, step_j, width)
    return torch.stack([analog_mvm_numba(weights[g], blocks[g], p, int(seeds[g]))
                        for g in range(tiles)])
