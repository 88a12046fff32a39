"""numba kernel of the pulsed update on the CPU; its meaning is ``pulsed_update_ref.py``.

Per rank-1 row, each line's train is a bit mask over its slots (one 64-bit word per 64
slots); the coincidences of element ``(i, j)`` are ``popcount(x_mask_j & d_mask_i)``, so
the cost follows the lines that fire and the elements they meet, not the array size.

1. **Input lines** (``prange`` over rows): the bit of input line ``j`` in slot ``t`` of
   row ``b`` is ``u < |x_prob|``, ``u`` a 24-bit uniform from a counter-based hash
   (splitmix64) of ``(seed, b, j, t)``; each line's bits go to its mask, and the lines
   that fire at all to the row's list. Given trains (``x_bits``) are read into the masks.
2. **Output lines, rows in order** (``prange`` over chunks of output lines): per line ``i``
   and row ``b`` the mask of its slots (hashed alike as line ``n_in + i``, or read from
   ``d_bits``); each firing input line's ``n_ij`` is one AND and popcount, and each
   touched element takes its ``n_ij`` pulses of one sign one after another through the
   cell (``_pulse_train``), clipped after every pulse, each with its own cycle-to-cycle
   noise: the ``q``-th pulse output line ``i`` applies in row ``b`` takes the ``q``-th
   standard normal of the hash stream of ``(seed, b, i)`` (a ziggurat, two normals per
   hash), the elements taken in the order a slot-by-slot walk meets them (first
   coincident slot, then input line). Constant steps take the twin's closed form
   (``constant_train``: the ``n`` steps' noise summed into one normal and added before
   the clip, as aihwkit's CUDA functor does).

Rows of at most 64 drawn slots (the common case: one mask word) draw both sides' words in
vector loops (``_fires_pair``: one hash gives two slots) before the element work, and
gather their firing lines without a branch; constant steps take a lean inlined loop
(``_constant_slot``, ``_constant_train``: as calls, a train's dozen arguments cost more
than the train). Same numbers as the general path (tested), each element's work a few dozen
instructions: on the bench task about half the time of the general path alone.

Every random number depends on its counter alone and an output line owns its elements, so
the result is the same for any number of threads and any chunking, without locks. The
arithmetic is the twin's, in the weight's dtype and in the twin's order, so given trains
without noise agree with it to float32 rounding (``exp``/``pow`` may differ in the last ulp).

This module imports numba at the top: ``kernels/__init__`` imports it only when a CPU
update is first run, so ``import xbrun.kernels`` works where numba is missing.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np
import torch
from llvmlite import ir
from numba import njit, prange
from numba.core import types
from numba.extending import intrinsic

from . import seeds
from .cell_pulse_cpu import pulse_noise, pulse_setup, pulse_step, table_array, table_step
from .layout import CELL_TABLE, check_cell
from .params import UpdateParams
from .pulsed_update_ref import (
    advance_counters,
    long_train_length,
    signed_rows,
    tile_options,
    train_mode,
    update_each_tile,
)

# k * out * in from which the threaded kernel is used. Measured on a shared 2-core machine
# (torch's own OpenMP threads spinning beside numba's), threads lost at the bench task's
# sizes (32 x 256 x 392: 2.0 ms a call on two threads, 0.6 ms on one), so only updates
# far larger than that go threaded.
PARALLEL_MIN_WORK = 1 << 25

_GOLDEN = np.uint64(seeds.GOLDEN64)
_MUL1 = np.uint64(seeds.MIX64_MUL1)
_MUL2 = np.uint64(seeds.MIX64_MUL2)
_SALT_BITS = np.uint64(0x5DEECE66D2B1F3A7)
_SALT_NOISE = np.uint64(0xC2B2AE3D27D4EB4F)
_SALT_NEST = np.uint64(0x165667B19E3779F9)
_SALT_ZIG = np.uint64(0x27D4EB2F165667C5)
_SALT_ROUND = np.uint64(0x85EBCA77C2B2AE63)
_LOW32 = np.uint64(0xFFFFFFFF)
_S8, _S11, _S27, _S30, _S31, _S32, _S40 = (np.uint64(8), np.uint64(11), np.uint64(27),
                                          np.uint64(30), np.uint64(31), np.uint64(32),
                                          np.uint64(40))
_INV24 = 1.0 / (1 << 24)
_INV53 = 1.0 / (1 << 53)


def pulsed_update_numba(weight: torch.Tensor, cell_params: torch.Tensor,
                        x_prob: torch.Tensor, d_prob: torch.Tensor, bl: torch.Tensor,
                        p: UpdateParams, *, seed: int, x_bits: torch.Tensor | None = None,
                        d_bits: torch.Tensor | None = None, threads: int | None = None,
                        cell_pulses: torch.Tensor | None = None) -> torch.Tensor:
    """Apply ``k`` rank-1 pulse trains to ``weight`` (``(out, in)``, CPU) in place.

    The arguments are those of ``pulsed_update_torch``, with the random numbers fixed by
    ``seed`` (any int) instead of a generator. ``threads``: numba threads (default:
    torch's); a tile too small to pay for them runs on one, with the same result.
    ``p.max_bl`` and ``p.sparse_rows`` are CUDA launch hints. ``cell_pulses``: an optional
    contiguous int32 ``(out, in)`` counter each element's pulses are added to (an output
    line owns its row of it, so threads need no locks). Returns the number of pulses
    applied (0-dim int64 tensor).
    """
    cell_kind, _, _, cell_scalars, cell_table = p.cell
    scalars = check_cell(cell_kind, cell_params, cell_scalars, cell_table)
    if weight.dim() != 2 or weight.device.type != "cpu" or not weight.is_floating_point():
        raise ValueError(f"weight must be a 2-d float CPU tensor, got {weight.dtype} "
                         f"{tuple(weight.shape)} on {weight.device}")
    n_out, n_in = weight.shape
    k = bl.shape[0]
    if x_prob.shape != (k, n_in) or d_prob.shape != (k, n_out):
        raise ValueError(f"x_prob must be ({k}, {n_in}) and d_prob ({k}, {n_out}), got "
                         f"{tuple(x_prob.shape)} and {tuple(d_prob.shape)}")
    if cell_params.shape[1:] != (n_out, n_in):
        raise ValueError(f"cell_params must be (P, {n_out}, {n_in}), got "
                         f"{tuple(cell_params.shape)}")
    given = x_bits is not None
    if given != (d_bits is not None):
        raise ValueError("x_bits and d_bits come together")
    w = weight if weight.dtype in (torch.float32, torch.float64) else weight.float()
    w = w if w.is_contiguous() else w.contiguous()
    wn = w.detach().numpy()
    cp, xp, dp = (_as_array(t, w.dtype) for t in (cell_params, x_prob, d_prob))
    bln = _as_array(bl, torch.int32)  # the trains' own dtype: one signature per weight dtype
    if given:
        xb, db = _as_bytes(x_bits), _as_bytes(d_bits)
        if (xb.ndim != 3 or db.ndim != 3 or xb.shape[0] != k or db.shape[0] != k
                or xb.shape[2] != n_in or db.shape[2] != n_out):
            raise ValueError(f"x_bits must be ({k}, L, {n_in}) and d_bits ({k}, L, {n_out}), "
                             f"got {tuple(xb.shape)} and {tuple(db.shape)}")
        if k and int(bln.max()) > min(xb.shape[1], db.shape[1]):
            raise ValueError("the given trains are shorter than bl")
    else:
        xb = db = _NO_BITS
    counting, cnt = cell_counter(cell_pulses, (n_out, n_in))
    n_threads = torch.get_num_threads() if threads is None else int(threads)
    args = (wn, cp, xp, dp, bln, xb, db, given, *_cell_flags(p, scalars, wn.dtype.type),
            np.uint64(seeds.low64(seed)), cnt, counting, table_array(cell_table, wn.dtype))
    total = _apply_trains(args, n_out, k * n_out * n_in, n_threads)
    if w is not weight:
        weight.copy_(w)
    return torch.scalar_tensor(total, dtype=torch.int64)  # (torch.tensor: 3x slower)


_NO_BITS = np.zeros((0, 0, 0), dtype=np.uint8)
_NO_COUNTS = np.zeros((0, 0), dtype=np.int32)


def _cell_flags(p: UpdateParams, scalars: tuple, real) -> tuple:
    """The update kernels' cell arguments: kind, noisy, multiplicative, constants."""
    cell_kind, noise_std, mult_noise, _, _ = p.cell
    return (int(cell_kind), noise_std > 0, bool(mult_noise),
            _constants(real, float(noise_std), scalars))


def _apply_trains(args: tuple, n_out: int, work: int, n_threads: int) -> int:
    """``_update_serial(*args)``, or ``_update_parallel`` over output lines where threads
    pay for themselves (``work``: rows x elements): the same result either way."""
    if n_threads > 1 and n_out > 1 and work >= PARALLEL_MIN_WORK:
        numba.set_num_threads(max(1, min(n_threads, numba.config.NUMBA_NUM_THREADS)))
        return _update_parallel(*args, min(n_out, 4 * n_threads))
    return _update_serial(*args)


def bind_trains_update(weight: torch.Tensor, cell_params: torch.Tensor, p: UpdateParams,
                       lr: float, granularity: float, *, desired_bl: int, fixed_bl: bool,
                       update_management: bool, update_bl_management: bool,
                       um_grad_scale: float, res: float, sto_round: bool,
                       cell_pulses: torch.Tensor | None = None):
    """:func:`line_probabilities_numba` of the rows at rate ``lr``, then
    :func:`pulsed_update_numba` of ``weight`` with those trains, their arguments made once:
    on a small tile the two calls' Python (checks, views, the trains as tensors) cost more
    than their kernels. ``run(x_rows, d_rows, trains_seed, seed)`` returns ``(pulses,
    slots)`` as ints (the pulses applied, the trains' summed lengths), the same numbers as
    the two calls with ``seed=trains_seed`` and ``seed=seed``; None where the rows are not
    of the weight's dtype (then the two calls run). It holds while ``weight``,
    ``cell_params`` and ``cell_pulses`` keep their storage. None where the weight is not a
    contiguous float32/64 CPU matrix or ``cell_params`` not of its dtype and contiguous
    (the calls convert those)."""
    cell_kind, _, _, cell_scalars, cell_table = p.cell
    scalars = check_cell(cell_kind, cell_params, cell_scalars, cell_table)
    if (weight.dim() != 2 or weight.device.type != "cpu"
            or weight.dtype not in (torch.float32, torch.float64) or not weight.is_contiguous()
            or cell_params.dtype != weight.dtype or not cell_params.is_contiguous()):
        return None
    n_out, n_in = weight.shape
    if cell_params.shape[1:] != (n_out, n_in):
        raise ValueError(f"cell_params must be (P, {n_out}, {n_in}), got "
                         f"{tuple(cell_params.shape)}")
    dtype = weight.dtype
    wn, cp = weight.detach().numpy(), cell_params.detach().numpy()
    real = wn.dtype.type
    counting, cnt = cell_counter(cell_pulses, (n_out, n_in))
    table = table_array(cell_table, wn.dtype)
    flags = _cell_flags(p, scalars, real)
    trains = _train_arguments(real, lr, granularity, desired_bl=desired_bl, fixed_bl=fixed_bl,
                              update_management=update_management,
                              update_bl_management=update_bl_management,
                              um_grad_scale=um_grad_scale, res=res, sto_round=sto_round)

    def run(x_rows: torch.Tensor, d_rows: torch.Tensor, trains_seed: int, seed: int):
        if x_rows.dtype != dtype or d_rows.dtype != dtype:
            return None
        x, d = _as_array(x_rows, dtype), _as_array(d_rows, dtype)
        k = x.shape[0]
        if d.shape[0] != k or x.shape[1] != n_in or d.shape[1] != n_out:
            raise ValueError(f"x_prob must be ({k}, {n_in}) and d_prob ({k}, {n_out}), got "
                             f"{x.shape} and {d.shape}")
        x_prob, d_prob = np.empty(x.shape, dtype=real), np.empty(d.shape, dtype=real)
        bl = np.empty(k, dtype=np.int32)
        _line_probabilities(x, d, *trains, np.uint64(seeds.low64(trains_seed)), x_prob, d_prob,
                            bl)
        args = (wn, cp, x_prob, d_prob, bl, _NO_BITS, _NO_BITS, False, *flags,
                np.uint64(seeds.low64(seed)), cnt, counting, table)
        total = _apply_trains(args, n_out, k * n_out * n_in, torch.get_num_threads())
        return int(total), sum(bl.tolist())  # numpy's sum of a few: ~1 us more

    return run


def cell_counter(cell_pulses: torch.Tensor | None, shape: tuple) -> tuple[bool, np.ndarray]:
    """``(counting, array)``: a numpy view of the per-element pulse counter (int32, the
    weight's shape, contiguous: the kernels add to it in place), or an empty stand-in."""
    if cell_pulses is None:
        return False, _NO_COUNTS
    if (cell_pulses.dtype != torch.int32 or tuple(cell_pulses.shape) != tuple(shape)
            or not cell_pulses.is_contiguous() or cell_pulses.device.type != "cpu"):
        raise ValueError(f"cell_pulses must be a contiguous int32 CPU tensor of shape {shape}")
    return True, cell_pulses.numpy()


@functools.lru_cache(maxsize=64)
def _constants(real, noise_std: float, scalars: tuple) -> tuple:
    """The twin's Python-float scalars, rounded to the weight's dtype as torch does (a tuple:
    numba passes it by value)."""
    a_up, a_down, g_up, g_down, es_a, es_b, std_add, std_slope = scalars
    return tuple(real(v) for v in (noise_std, 2.0 * es_a, es_b, a_up, a_down, g_up, -g_down,
                                   std_add, std_slope, 1.0, 0.0))


def _as_array(t: torch.Tensor, dtype: torch.dtype) -> np.ndarray:
    """A contiguous numpy view of ``t`` in ``dtype`` (a copy only where needed)."""
    if t.dtype != dtype:
        t = t.to(dtype)
    if not t.is_contiguous():
        t = t.contiguous()
    return t.detach().numpy() if t.requires_grad else t.numpy()


def _as_bytes(bits: torch.Tensor) -> np.ndarray:
    bits = bits.detach()
    if bits.dtype == torch.bool:
        bits = bits.view(torch.uint8)
    elif bits.dtype != torch.uint8:
        bits = (bits > 0).view(torch.uint8)
    return bits.contiguous().numpy()


# --------------------------------------------------------------------------------------
# random numbers: splitmix64 of a counter; normals by Marsaglia and Tsang's ziggurat


def _ziggurat_tables(levels: int = 128, bits: int = 24):
    """Layer tables of the ziggurat for a ``bits``-bit magnitude (Marsaglia & Tsang 2000,
    ``zigset``): accept ``|v| < k[i]`` at once and return ``v * w[i]``; else ``f`` decides."""
    m = float(1 << bits)
    dn = tn = 3.442619855899
    vn = 9.91256303526217e-3
    k, w, f = np.zeros(levels, np.int64), np.zeros(levels), np.zeros(levels)
    q = vn / math.exp(-0.5 * dn * dn)
    k[0], k[1] = int(dn / q * m), 0
    w[0], w[levels - 1] = q / m, dn / m
    f[0], f[levels - 1] = 1.0, math.exp(-0.5 * dn * dn)
    for i in range(levels - 2, 0, -1):
        dn = math.sqrt(-2.0 * math.log(vn / dn + math.exp(-0.5 * dn * dn)))
        k[i + 1] = int(dn / tn * m)
        tn = dn
        f[i] = math.exp(-0.5 * dn * dn)
        w[i] = dn / m
    return k, w, f


_ZIG_K, _ZIG_W, _ZIG_F = _ziggurat_tables()
_ZIG_R = 3.442619855899
_NEST = np.uint64(1 << 10)  # hashes per counter before the nested form (_hash2)


@njit(cache=True)
def _mix(z):
    """splitmix64's finalizer: a bijective 64-bit hash (uint64 in, uint64 out)."""
    z = (z ^ (z >> _S30)) * _MUL1
    z = (z ^ (z >> _S27)) * _MUL2
    return z ^ (z >> _S31)


@njit(cache=True)
def _hash2(key, outer, q):
    """Hash number ``q`` of counter ``outer`` (both >= 0) in the stream ``key``: one
    splitmix64 step while ``q < 1024``, a nested (distinct) one beyond."""
    qu = np.uint64(q)
    if qu < _NEST:
        return _mix(key + (np.uint64(outer) * _NEST + qu) * _GOLDEN)
    return _mix(_mix((key ^ _SALT_NEST) + np.uint64(outer) * _GOLDEN) + qu * _GOLDEN)


@njit(cache=True)
def _fires(pair, t, p_abs):
    """Bit of slot ``t`` (two slots per hash): a 24-bit uniform below ``|p|``."""
    half = (pair >> _S32) if (t & 1) == 0 else (pair & _LOW32)
    return (half >> _S8) * _INV24 < p_abs


@njit(cache=True)
def _uniform(h):
    """A uniform in (0, 1) from the top 53 bits of ``h``."""
    return ((h >> _S11) + 0.5) * _INV53


@njit(cache=True)
def _normal(pair, p):
    """Standard normal of pulse ``p``: 32 bits of the hash each (two pulses per hash), 7
    of them the layer and 25 the signed value of a 128-layer ziggurat; the rare rejections
    (about 1 %) draw from further hashes of ``pair``, so the number depends on its counter
    alone."""
    word = np.int64((pair >> _S32) if (p & 1) == 0 else (pair & _LOW32))
    layer = word & 127
    value = (word >> 7) - (1 << 24)  # signed, |value| < 2**24
    if abs(value) < _ZIG_K[layer]:
        return value * _ZIG_W[layer]
    return _normal_rejected(pair, p, word)


@njit(cache=True)
def _normal_rejected(pair, p, word):
    """The ziggurat's slow path (Marsaglia & Tsang's ``nfix``): the wedge test, the tail
    beyond ``r`` and, on rejection, a fresh 32-bit word."""
    extra = np.uint64(p & 1) * _SALT_ZIG
    tries = np.uint64(0)
    while True:
        layer = word & 127
        value = (word >> 7) - (1 << 24)
        x = value * _ZIG_W[layer]
        if abs(value) < _ZIG_K[layer]:
            return x
        tries += np.uint64(1)
        h = _mix((pair ^ extra) + tries * _GOLDEN)
        if layer == 0:  # the tail beyond r (Marsaglia's method)
            while True:
                tries += np.uint64(1)
                x = -math.log(_uniform(h)) / _ZIG_R
                y = -math.log(_uniform(_mix((pair ^ extra) + tries * _GOLDEN)))
                if y + y >= x * x:
                    return _ZIG_R + x if value > 0 else -_ZIG_R - x
                tries += np.uint64(1)
                h = _mix((pair ^ extra) + tries * _GOLDEN)
        if _ZIG_F[layer] + _uniform(h) * (_ZIG_F[layer - 1] - _ZIG_F[layer]) < math.exp(
                -0.5 * x * x):
            return x
        tries += np.uint64(1)
        word = np.int64(_mix((pair ^ extra) + tries * _GOLDEN) & _LOW32)


# --------------------------------------------------------------------------------------
# one element: the cell's pulse response (pulsed_update_ref.single_pulse_torch)


@njit(cache=True, inline="always")
def _constant_train(w, n, step, w_max, w_min, noisy, sigma, key, line, first, pair):
    """``_pulse_train`` of the constant-step cell (``constant_train``: ``n`` steps in closed
    form, their noise summed, then clipped; ``step``: the signed step), inlined into the
    element loops: as a call, its dozen arguments cost more than the train itself."""
    real = type(w)
    once = w + step
    if w > w_max or w < w_min:  # from outside the bounds the first step is clipped
        once = min(max(once, w_min), w_max)
    extra = real(n - 1)
    if noisy:
        if (first & 1) == 0:
            pair = _hash2(key, line, first >> 1)
        extra = extra + sigma * real(math.sqrt(n)) * real(_normal(pair, first))
    return min(max(once + extra * step, w_min), w_max), pair


@njit(cache=True)
def _pulse_train(w, n, up, scale_up, scale_down, w_max, w_min, row_up, row_down, kind, noisy,
                 mult, consts, key, line, first, pair):
    """``(w, pair)``: ``w`` after ``n`` pulses of one sign on an element, each clipped to
    its bounds; its pulses are numbers ``first..first+n-1`` of the output line's normals
    (counter ``line``; ``pair`` carries the hash whose second normal is still unused).

    ``row_up``/``row_down``: the element's slopes (linear) or exponents (pow). Only
    scalars and tuples come in: an array argument would cost two atomic reference counts
    per call, more than the pulse itself.
    """
    real = type(w)  # float literals would be float64: keep the weight's dtype
    one, zero, sigma = consts[9], consts[10], consts[0]
    scale = scale_up if up else scale_down
    step = scale_up if up else -scale_down
    if kind == 0:  # constant_train: n steps in closed form, their noise summed, then clipped
        return _constant_train(w, n, step, w_max, w_min, noisy, sigma, key, line, first, pair)
    row, z_gain, amp, gam, inv, valid = pulse_setup(up, kind, w_max, w_min, row_up, row_down,
                                                    consts[1], consts[3], consts[4], consts[5],
                                                    consts[6], one, zero)
    for p in range(first, first + n):
        xi, pair = _pulse_normal(noisy, key, line, p, pair, real, zero)
        dw, y = pulse_step(w, up, step, kind, w_max, w_min, row, z_gain, consts[2], amp, gam,
                           inv, valid, one, zero)
        if noisy and y > 0:
            dw = pulse_noise(dw, w, xi, kind, scale, mult, sigma, one, consts[7], consts[8])
        w = min(max(w + dw, w_min), w_max)
    return w, pair


@njit(cache=True, inline="always")
def _constant_slot(w, cp, xp, cnt, counting, lines, s, m, i, b, d_neg, noisy, sigma, key, line):
    """The one-slot case of the constant-step cell: element ``q`` of the slot's list of
    input lines (``lines[s:s + m]``) takes one pulse, normal number ``q`` of ``line``."""
    pair = np.uint64(0)
    one = np.int64(1)
    # unsigned indices: numba adds no wrap-around of negative indices to their accesses
    iu, bu = np.uint64(i), np.uint64(b)
    for q in range(m):
        j = np.uint64(lines[np.uint64(s + q)])
        step = cp[0, iu, j] if d_neg != (xp[bu, j] < 0) else -cp[1, iu, j]
        w[iu, j], pair = _constant_train(w[iu, j], one, step, cp[2, iu, j], cp[3, iu, j], noisy,
                                         sigma, key, line, np.int64(q), pair)
        if counting:
            cnt[iu, j] += 1


@njit(cache=True)
def _pulse_normal(noisy, key, line, p, pair, real, zero):
    """Pulse ``p``'s cycle-to-cycle normal (zero when noise-free); normals come in pairs, so
    the pair's hash is drawn at every even pulse and carried to the odd one."""
    if not noisy:
        return zero, pair
    if (p & 1) == 0:
        pair = _hash2(key, line, p >> 1)
    return real(_normal(pair, p)), pair


@njit(cache=True)
def _table_train(w, n, up, scale_up, scale_down, w_max, w_min, table, noisy, mult, consts, key,
                 line, first, pair):
    """``_pulse_train`` of the table cell (``table``: its knots, up then down), apart so
    that the other cells' trains take no array argument."""
    real = type(w)
    one, zero, sigma = consts[9], consts[10], consts[0]
    scale = scale_up if up else scale_down
    step = scale_up if up else -scale_down
    knots = table.shape[0] // 2
    offset = 0 if up else knots
    for p in range(first, first + n):
        xi, pair = _pulse_normal(noisy, key, line, p, pair, real, zero)
        dw = table_step(w, step, w_max, w_min, table, offset, knots, one, zero)
        if noisy:
            dw = pulse_noise(dw, w, xi, CELL_TABLE, scale, mult, sigma, one, consts[7],
                             consts[8])
        w = min(max(w + dw, w_min), w_max)
    return w, pair


# --------------------------------------------------------------------------------------
# the two phases: slot masks, then coincidences by popcount


@intrinsic
def _popcount(typingctx, x):
    """The number of set bits of an integer (LLVM's ctpop: one popcnt instruction)."""
    if not isinstance(x, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return context.cast(builder, builder.ctpop(args[0]), signature.args[0], types.int64)

    return types.int64(x), codegen


@intrinsic
def _trailing_zeros(typingctx, x):
    """The index of the lowest set bit of a non-zero integer (LLVM's cttz), as an int64."""
    if not isinstance(x, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        tz = builder.cttz(args[0], ir.Constant(ir.IntType(1), 1))
        return context.cast(builder, tz, signature.args[0], types.int64)

    return types.int64(x), codegen


@njit(cache=True)
def _slot_fires(key_bits, line, t, p_abs, pair):
    """Whether a line of firing probability ``p_abs`` fires in slot ``t`` (certain from 1 on);
    the uniforms come in pairs, so the pair's hash is drawn at every even slot and carried."""
    if p_abs >= 1:
        return True, pair
    if (t & 1) == 0:
        pair = _hash2(key_bits, line, t >> 1)
    return _fires(pair, t, p_abs), pair


@njit(cache=True, inline="always")
def _drawn_word(key_bits, line, p_abs, t0, t1, pair):
    """``(word, pair)``: bit ``t - t0`` set where a line of firing probability ``p_abs``
    fires in slot ``t`` of ``t0..t1-1`` (``t0`` a multiple of 64; ``pair`` carried on)."""
    word = np.uint64(0)
    for t in range(t0, t1):
        hit, pair = _slot_fires(key_bits, line, t, p_abs, pair)
        if hit:
            word |= np.uint64(1) << np.uint64(t - t0)
    return word, pair


@njit(cache=True)
def _given_word(bits, b, line_index, t0, t1):
    """The word of ``_drawn_word`` read from given trains ``bits[b, t, line_index]``."""
    word = np.uint64(0)
    for t in range(t0, t1):
        if bits[b, t, line_index] != 0:
            word |= np.uint64(1) << np.uint64(t - t0)
    return word


@njit(cache=True, inline="always")
def _slot_word(given, bits, b, line_index, key_bits, line, p_abs, t0, t1, pair):
    """``(word, pair)`` of slots ``t0..t1-1`` of one line: read from the given trains
    (``_given_word``, ``pair`` untouched) or drawn (``_drawn_word``, key ``line``)."""
    if given:
        return _given_word(bits, b, line_index, t0, t1), pair
    return _drawn_word(key_bits, line, p_abs, t0, t1, pair)


# rows of at most this many slots keep, per slot, the list of the lines firing in it, for the
# output lines that fire in one slot only; in longer rows that is rare (5 % of the lines at
# 20 slots of probability 0.2), and they go through the general search of the row's lines
# (the same elements in the same order: one pulse each, numbered alike)
_LISTED_SLOTS = 4


@njit(cache=True, inline="always")
def _fires_pair(key_bits, line, tp, p_abs, n_slots):
    """Slots ``2 tp`` and ``2 tp + 1`` (those below ``n_slots <= 64``) of a line's slot word,
    in place: the bits ``_drawn_word`` draws from hash ``tp`` of the line (``_hash2``'s
    one-step form: ``tp < 32``), without a branch, so that a loop of them over the lines
    compiles to vector code."""
    h = _mix(key_bits + (np.uint64(line) * _NEST + np.uint64(tp)) * _GOLDEN)
    sure = p_abs >= 1
    even = sure | (((h >> _S32) >> _S8) * _INV24 < p_abs)
    odd = (sure | (((h & _LOW32) >> _S8) * _INV24 < p_abs)) & (2 * tp + 1 < n_slots)
    return (np.uint64(even) << np.uint64(2 * tp)) | (np.uint64(odd) << np.uint64(2 * tp + 1))


@njit(cache=True)
def _short_row(b, xp, n_slots, masks, active, n_active, start, count, lines, key_bits,
               n_lines):
    """``_input_row`` of a row of at most 64 drawn slots (one mask word): the lines' words
    in vector loops (into ``masks[b, :, 0]``, a hash of two slots at a time), then the lines
    that fire gathered without a branch (every line is written at the next free place,
    which moves on only where it fired; ``c <= j``: a word is read before its place is
    written) and, for two slots and more, each of their slots' lists."""
    n_in = xp.shape[1]
    for j in range(n_in):
        masks[b, j, 0] = 0
    for tp in range((n_slots + 1) // 2):
        for j in range(n_in):
            masks[b, j, 0] |= _fires_pair(key_bits, b * n_lines + j, tp, abs(xp[b, j]), n_slots)
    s = start[b, 0]
    c = 0
    for j in range(n_in):
        word = masks[b, j, 0]
        active[b, c] = j
        masks[b, c, 0] = word
        lines[s + c] = j  # slot 0's list where the row has one slot (overwritten otherwise)
        c += np.int64(word != 0)
    n_active[b] = c
    if n_slots == 1:
        count[b, 0] = c
        return
    if n_slots > _LISTED_SLOTS:
        return
    for q in range(c):
        word = masks[b, q, 0]
        while word != 0:
            t = _trailing_zeros(word)
            lines[start[b, t] + count[b, t]] = active[b, q]
            count[b, t] += 1
            word &= word - np.uint64(1)


@njit(cache=True)
def _input_row(b, xp, bl, xb, given, masks, active, n_active, start, count, lines, key_bits,
               n_lines):
    """Phase 1 for row ``b``: the input lines that fire at all, in increasing order (the
    order the pulses are numbered in), their slot masks in that order (slot ``t`` is bit
    ``t % 64`` of word ``t // 64``) and, per slot, the list of the lines firing in it."""
    n_in = xp.shape[1]
    n_slots = np.int64(bl[b])
    words = masks.shape[2]
    if 0 < n_slots <= 64 and words == 1 and not given:
        _short_row(b, xp, n_slots, masks, active, n_active, start, count, lines, key_bits,
                   n_lines)
        return
    c = 0
    for j in range(n_in if n_slots > 0 else 0):
        p_abs = abs(xp[b, j])
        if not (given or p_abs > 0):
            continue
        if words == 1 and not given:  # the common case, kept lean: one word, drawn
            word = _drawn_word(key_bits, b * n_lines + j, p_abs, 0, n_slots, np.uint64(0))[0]
            if word == 0:
                continue
            masks[b, c, 0] = word
        else:
            fired = np.uint64(0)
            pair = np.uint64(0)
            for wd in range(words):
                t0 = wd * 64
                t1 = min(n_slots, t0 + 64)
                word, pair = _slot_word(given, xb, b, j, key_bits, b * n_lines + j, p_abs, t0,
                                        t1, pair)
                masks[b, c, wd] = word  # kept only if the line fires (c moves on)
                fired |= word
            if fired == 0:
                continue
        for wd in range(words):
            word = masks[b, c, wd]
            while word != 0:
                t = wd * 64 + _trailing_zeros(word)
                lines[start[b, t] + count[b, t]] = j
                count[b, t] += 1
                word &= word - np.uint64(1)
        active[b, c] = j
        c += 1
    n_active[b] = c


@njit(cache=True)
def _output_lines(first, last, w, cp, xp, dp, bl, db, given, kind, noisy, mult, consts,
                  masks, active, n_active, start, count, lines, key_bits, key_noise, cnt,
                  counting, table):
    """Phase 2 for output lines ``first..last-1``: per row in order, the line's slot mask,
    each firing input line's coincidences ``popcount(x_mask & d_mask)``, the pulses. The
    elements take their pulses in the order of their first coincident slot, then of the
    input line (the order a slot-by-slot walk meets them), which numbers their noise.
    Returns the pulse count."""
    n_out, n_in = w.shape
    n_lines = n_in + n_out
    k = bl.shape[0]
    words = masks.shape[2]
    d_mask = np.zeros(words, dtype=np.uint64)
    el_j = np.empty(n_in, dtype=np.int64)
    el_n = np.empty(n_in, dtype=np.int64)
    el_f = np.empty(n_in, dtype=np.int64)
    order = np.empty(n_in, dtype=np.int64)
    bucket = np.zeros(64 * words, dtype=np.int64)
    # the rows of the slopes (linear) or exponents (pow); other cells ignore theirs
    r_up, r_down = (4, 5) if kind == 1 else (6, 7) if kind == 3 else (0, 1)
    # the output lines' slot words of the rows of at most 64 drawn slots, in vector loops
    short = np.zeros((k, last - first), dtype=np.uint64)
    for b in range(k if not given else 0):
        if bl[b] <= 64 and n_active[b] > 0:
            for tp in range((bl[b] + 1) // 2):
                for i in range(first, last):
                    short[b, i - first] |= _fires_pair(key_bits, b * n_lines + n_in + i, tp,
                                                       abs(dp[b, i]), bl[b])
    done = 0
    for i in range(first, last):
        for b in range(k):
            n_slots = bl[b]
            if n_slots <= 64 and not given:  # the word first: most are 0 (0 without slots)
                word = short[b, i - first]
                if word == 0 or n_active[b] == 0:
                    continue
                d_mask[0] = word
                for wd in range(1, words):
                    d_mask[wd] = 0
                n_fired, slot = _popcount(word), _trailing_zeros(word)
            else:
                if n_slots == 0 or n_active[b] == 0:
                    continue
                p_abs = abs(dp[b, i])
                if not (given or p_abs > 0):
                    continue
                n_fired, slot = 0, 0
                pair = np.uint64(0)
                for wd in range(words):
                    t0 = wd * 64
                    t1 = min(n_slots, t0 + 64)
                    word, pair = _slot_word(given, db, b, i, key_bits,
                                            b * n_lines + n_in + i, p_abs, t0, t1, pair)
                    d_mask[wd] = word
                    if word != 0:
                        if n_fired == 0:
                            slot = t0 + _trailing_zeros(word)
                        n_fired += _popcount(word)
                if n_fired == 0:
                    continue
            d_neg = dp[b, i] < 0
            line = b * n_out + i
            # int64 (not literal) numbers: one compilation of each train serves every call
            pulse, pair = np.int64(0), np.uint64(0)
            one = np.int64(1)
            if n_fired == 1 and n_slots <= _LISTED_SLOTS and kind == 0:  # the lean loop
                _constant_slot(w, cp, xp, cnt, counting, lines, start[b, slot],
                               count[b, slot], i, b, d_neg, noisy, consts[0], key_noise, line)
                done += count[b, slot]
                continue
            if n_fired == 1 and n_slots <= _LISTED_SLOTS:  # one pulse per line firing in it
                s = start[b, slot]
                for q in range(count[b, slot]):
                    j = lines[s + q]
                    up = d_neg != (xp[b, j] < 0)
                    if kind == CELL_TABLE:
                        w[i, j], pair = _table_train(w[i, j], one, up, cp[0, i, j], cp[1, i, j],
                                                     cp[2, i, j], cp[3, i, j], table, noisy,
                                                     mult, consts, key_noise, line, pulse, pair)
                    else:
                        w[i, j], pair = _pulse_train(w[i, j], one, up, cp[0, i, j], cp[1, i, j],
                                                     cp[2, i, j], cp[3, i, j], cp[r_up, i, j],
                                                     cp[r_down, i, j], kind, noisy, mult,
                                                     consts, key_noise, line, pulse, pair)
                    if counting:
                        cnt[i, j] += 1
                    pulse += 1
                done += pulse
                continue
            n_el, in_order, last_f = 0, True, 0
            if words == 1:  # the common case, kept lean (unsigned indices: no wrap-around)
                bu, d_word = np.uint64(b), d_mask[0]
                for q in range(n_active[b]):
                    m = masks[bu, np.uint64(q), 0] & d_word
                    if m == 0:
                        continue
                    f = _trailing_zeros(m)
                    e = np.uint64(n_el)
                    el_j[e], el_n[e], el_f[e] = active[bu, np.uint64(q)], _popcount(m), f
                    in_order = in_order and f >= last_f
                    last_f = f
                    n_el += 1
            for q in range(n_active[b] if words > 1 else 0):
                j = active[b, q]
                n, f = 0, -1
                for wd in range(words):
                    m = masks[b, q, wd] & d_mask[wd]
                    if m != 0:
                        if f < 0:
                            f = wd * 64 + _trailing_zeros(m)
                        n += _popcount(m)
                if n == 0:
                    continue
                el_j[n_el], el_n[n_el], el_f[n_el] = j, n, f
                in_order = in_order and f >= last_f
                last_f = f
                n_el += 1
            if n_el == 0:
                continue
            if not in_order:  # a counting sort by first slot (stable: input lines stay in order)
                for e in range(n_el):
                    bucket[el_f[e]] += 1
                run = 0
                for t in range(n_slots):
                    c = bucket[t]
                    bucket[t] = run
                    run += c
                for e in range(n_el):
                    order[bucket[el_f[e]]] = e
                    bucket[el_f[e]] += 1
                bucket[:n_slots] = 0
            for q in range(n_el):
                e = q if in_order else order[q]
                j, n = el_j[e], el_n[e]
                done += n
                if counting:
                    cnt[i, j] += n
                if kind == 0:  # unsigned indices: no wrap-around code
                    iu, ju = np.uint64(i), np.uint64(j)
                    step = (cp[0, iu, ju] if d_neg != (xp[np.uint64(b), ju] < 0)
                            else -cp[1, iu, ju])
                    w[iu, ju], pair = _constant_train(w[iu, ju], n, step, cp[2, iu, ju],
                                                      cp[3, iu, ju], noisy, consts[0],
                                                      key_noise, line, pulse, pair)
                    pulse += n
                    continue
                up = d_neg != (xp[b, j] < 0)
                if kind == CELL_TABLE:
                    w[i, j], pair = _table_train(w[i, j], n, up, cp[0, i, j], cp[1, i, j],
                                                 cp[2, i, j], cp[3, i, j], table, noisy, mult,
                                                 consts, key_noise, line, pulse, pair)
                else:
                    w[i, j], pair = _pulse_train(w[i, j], n, up, cp[0, i, j], cp[1, i, j],
                                                 cp[2, i, j], cp[3, i, j], cp[r_up, i, j],
                                                 cp[r_down, i, j], kind, noisy, mult, consts,
                                                 key_noise, line, pulse, pair)
                pulse += n
    return done


@njit(cache=True)
def _phase_arrays(bl, n_in):
    """Per row, the firing input lines' slot masks (``(k, n_in, words)``, the first
    ``n_active[b]`` of row ``b`` filled), the lines and how many; per row and slot, where
    its list of firing lines starts in ``lines``, and its length."""
    k = bl.shape[0]
    longest = max(1, bl.max()) if k else 1
    words = (longest + 63) // 64
    start = np.empty((k, longest), dtype=np.int64)
    size = 0
    for b in range(k):
        for t in range(bl[b]):
            start[b, t] = size
            size += n_in
    return (np.empty((k, n_in, words), dtype=np.uint64), np.empty((k, n_in), dtype=np.int64),
            np.zeros(k, dtype=np.int64), start, np.zeros((k, longest), dtype=np.int64),
            np.empty(max(size, 1), dtype=np.int32))


@njit(cache=True)
def _update_serial(w, cp, xp, dp, bl, xb, db, given, kind, noisy, mult, consts, seed, cnt,
                   counting, table):
    n_out, n_in = w.shape
    key_bits, key_noise = _mix(seed ^ _SALT_BITS), _mix(seed ^ _SALT_NOISE)
    masks, active, n_active, start, count, lines = _phase_arrays(bl, n_in)
    for b in range(bl.shape[0]):
        _input_row(b, xp, bl, xb, given, masks, active, n_active, start, count, lines,
                   key_bits, n_in + n_out)
    # first: int64, not a literal 0, so that _update_parallel's calls share this compilation
    return _output_lines(np.int64(0), n_out, w, cp, xp, dp, bl, db, given, kind, noisy, mult,
                         consts, masks, active, n_active, start, count, lines, key_bits, key_noise,
                         cnt, counting, table)


@njit(cache=True, parallel=True)
def _update_parallel(w, cp, xp, dp, bl, xb, db, given, kind, noisy, mult, consts, seed, cnt,
                     counting, table, chunks):
    """``_update_serial`` with both phases spread over threads: rows in phase 1, chunks of
    output lines in phase 2 (same numbers, since each comes from its own counter)."""
    n_out, n_in = w.shape
    key_bits, key_noise = _mix(seed ^ _SALT_BITS), _mix(seed ^ _SALT_NOISE)
    masks, active, n_active, start, count, lines = _phase_arrays(bl, n_in)
    for b in prange(bl.shape[0]):
        # a prange index is unsigned (uint64): int64 here, so that this calls the rows'
        # compilation _update_serial made (a uint64 copy of _input_row, _short_row and
        # _given_word is 2 s more of compilation on a cold cache; the same row numbers)
        _input_row(np.int64(b), xp, bl, xb, given, masks, active, n_active, start, count,
                   lines, key_bits, n_in + n_out)
    per_chunk = (n_out + chunks - 1) // chunks
    totals = np.zeros(chunks, dtype=np.int64)
    for c in prange(chunks):
        totals[c] = _output_lines(c * per_chunk, min((c + 1) * per_chunk, n_out), w, cp, xp,
                                  dp, bl, db, given, kind, noisy, mult, consts, masks, active,
                                  n_active, start, count, lines, key_bits, key_noise, cnt,
                                  counting, table)
    return totals.sum()


# --------------------------------------------------------------------------------------
# pulse-train preparation (line_probabilities_torch): one pass over the rows


def line_probabilities_numba(x_rows: torch.Tensor, d_rows: torch.Tensor, lr: float,
                             granularity: float, *, desired_bl: int, fixed_bl: bool,
                             update_management: bool, update_bl_management: bool,
                             um_grad_scale: float, res: float, sto_round: bool,
                             seed: int = 0, slots: torch.Tensor | None = None,
                             calls: torch.Tensor | None = None,
                             x_sign: torch.Tensor | None = None,
                             d_sign: torch.Tensor | None = None,
                             rows: torch.Tensor | None = None):
    """``line_probabilities_torch`` in one compiled pass (the twin's ~20 small torch ops
    per update cost more than the update itself on small tiles). The stochastic rounding
    draws from ``seed``. Returns ``x_prob``, ``d_prob`` (the rows' dtype) and ``bl``
    (int32); ``slots``, ``calls``, ``x_sign``, ``d_sign``, ``rows`` as the twin's."""
    x_rows, d_rows = signed_rows(x_rows, d_rows, x_sign, d_sign)
    dtype = x_rows.dtype if x_rows.dtype in (torch.float32, torch.float64) else torch.float32
    x, d = _as_array(x_rows, dtype), _as_array(d_rows, dtype)
    k = x.shape[0]
    real = np.float32 if dtype == torch.float32 else np.float64
    # numpy's allocations, shared with torch: a third of torch.empty's cost at these sizes
    x_prob, d_prob = np.empty(x.shape, dtype=real), np.empty(d.shape, dtype=real)
    bl = np.empty(k, dtype=np.int32)
    trains = _train_arguments(real, lr, granularity, desired_bl=desired_bl, fixed_bl=fixed_bl,
                              update_management=update_management,
                              update_bl_management=update_bl_management,
                              um_grad_scale=um_grad_scale, res=res, sto_round=sto_round)
    _line_probabilities(x, d, *trains, np.uint64(seeds.low64(seed)), x_prob, d_prob, bl)
    x_prob, d_prob, bl = torch.from_numpy(x_prob), torch.from_numpy(d_prob), torch.from_numpy(bl)
    advance_counters(bl, slots, calls, rows)
    return x_prob, d_prob, bl


def _train_arguments(real, lr: float, granularity: float, *, desired_bl: int, fixed_bl: bool,
                     update_management: bool, update_bl_management: bool,
                     um_grad_scale: float, res: float, sto_round: bool) -> tuple:
    """``_line_probabilities``' arguments between the rows and the seed: the trains'
    settings at rate ``lr`` in the rows' float type ``real``."""
    mode = train_mode(lr, granularity, desired_bl=desired_bl, fixed_bl=fixed_bl,
                      update_bl_management=update_bl_management)
    return (real(lr), real(granularity), int(desired_bl),
            float(long_train_length(lr, granularity)) if mode == 2 else 0.0, mode,
            bool(update_management or update_bl_management), real(um_grad_scale), real(res),
            bool(sto_round and res > 0), lr > 0)


@njit(cache=True)
def _discretized(v, res, sto, key, counter):
    """``discretize_torch`` of one value: round half to even to multiples of ``res``, after
    adding a uniform in [-1/2, 1/2) (a 24-bit one, as ``torch.rand``) with ``sto``."""
    if not res > 0:
        return v
    real = type(v)
    scaled = v / res
    if sto:
        u = real((_mix(key + np.uint64(counter) * _GOLDEN) >> _S40) * _INV24)
        scaled = scaled + (u - real(0.5))
    return real(np.rint(scaled)) * res


@njit(cache=True)
def _line_probabilities(x, d, lr, gran, desired, long_bl, mode, managed, grad_scale, res, sto,
                        lr_positive, seed, x_prob, d_prob, bl_out):
    """Row by row, the twin's float operations in its order, so the train lengths (integer
    ceilings) agree; the gains may differ from torch's in the last ulp (its sqrt)."""
    real = type(lr)
    one, zero = real(1.0), real(0.0)
    k, n_in = x.shape
    n_out = d.shape[1]
    key = _mix(seed ^ _SALT_ROUND)
    for b in range(k):
        x_max, d_max = zero, zero
        for j in range(n_in):
            x_max = max(x_max, abs(x[b, j]))
        for i in range(n_out):
            d_max = max(d_max, abs(d[b, i]))
        active = x_max > 0 and d_max > 0
        x_m = x_max if active else one
        d_m = (d_max if active else one) * grad_scale
        if mode == 0:
            bl = min(max(real(np.ceil(lr * x_m * d_m / gran)), one), real(desired))
            amp = real(math.sqrt(lr / (gran * bl)))
        elif mode == 1:
            bl = real(desired)
            amp = real(math.sqrt(lr / (gran * bl)))
        else:
            bl = real(long_bl)
            amp = one
        x_gain = d_gain = amp
        if managed:
            request = lr * x_m * d_m / gran
            if request > bl:
                d_m = d_m * bl / request
            scale = real(math.sqrt(x_m / d_m))
            x_gain, d_gain = amp / scale, amp * scale
        bl_out[b] = int(bl) if active and lr_positive else 0
        for j in range(n_in):
            v = x[b, j]
            p = min(max(_discretized(abs(v) * x_gain, res, sto, key, b * (n_in + n_out) + j),
                        zero), one)
            x_prob[b, j] = p if v > 0 else (-p if v < 0 else zero)
        for i in range(n_out):
            v = d[b, i]
            p = min(max(_discretized(abs(v) * d_gain, res, sto, key,
                                     b * (n_in + n_out) + n_in + i), zero), one)
            d_prob[b, i] = p if v > 0 else (-p if v < 0 else zero)


# --------------------------------------------------------------------------------------
# explicit trains of the deterministic pulse types (explicit_trains_torch)


def explicit_trains_numba(a: torch.Tensor, c: torch.Tensor, factor) -> tuple:
    """``explicit_trains_torch`` compiled: one pass for the lengths, one to set the bits
    (the twin loops over rows in Python with a dozen small ops each)."""
    dtype = a.dtype if a.dtype in (torch.float32, torch.float64) else torch.float32
    an, cn = _as_array(a, dtype), _as_array(c, dtype)
    k = an.shape[0]
    f = torch.as_tensor(factor, dtype=dtype).reshape(-1)
    f = _as_array(f.expand(k) if f.numel() == 1 else f, dtype)
    lengths = torch.zeros(k, dtype=torch.int32)
    none = np.zeros((0, 0, 0), dtype=np.uint8)
    longest = _explicit_rows(an, cn, f, none, none, lengths.numpy(), False)
    x_bits = torch.zeros((k, max(longest, 1), an.shape[1]), dtype=torch.uint8)
    d_bits = torch.zeros((k, max(longest, 1), cn.shape[1]), dtype=torch.uint8)
    _explicit_rows(an, cn, f, x_bits.numpy(), d_bits.numpy(), lengths.numpy(), True)
    return x_bits, d_bits, lengths


@njit(cache=True)
def _explicit_rows(a, c, factor, x_bits, d_bits, lengths, fill):
    """Per row: the group side, its levels in increasing order, each level's slots (its
    largest count) and, with ``fill``, the bits. Returns the longest train."""
    longest = 0
    for b in range(a.shape[0]):
        a_b, c_b = a[b], c[b]
        levels_a, levels_c = np.unique(a_b[a_b > 0]), np.unique(c_b[c_b > 0])
        group_d = levels_c.shape[0] <= levels_a.shape[0]
        key, other = (c_b, a_b) if group_d else (a_b, c_b)
        levels = levels_c if group_d else levels_a
        slot = 0
        for level in levels:
            scale = factor[b] * level
            n_level = 0
            for o in range(other.shape[0]):
                n_level = max(n_level, int(np.rint(scale * other[o])))
            if fill:
                for o in range(other.shape[0]):
                    for t in range(int(np.rint(scale * other[o]))):
                        if group_d:
                            x_bits[b, slot + t, o] = 1
                        else:
                            d_bits[b, slot + t, o] = 1
                for line in range(key.shape[0]):
                    if key[line] == level:
                        for t in range(n_level):
                            if group_d:
                                d_bits[b, slot + t, line] = 1
                            else:
                                x_bits[b, slot + t, line] = 1
            slot += n_level
        lengths[b] = slot
        longest = max(longest, slot)
    return longest


def line_probabilities_grouped_numba(x_rows: torch.Tensor, d_rows: torch.Tensor, n_cols: int,
                                     n_in: int, n_out: int, lr: float, granularity: float,
                                     seed: int = 0, **options):
    """``line_probabilities_grouped_torch``: each tile's :func:`line_probabilities_numba`
    (its stochastic rounding from ``seed`` plus the tile's index, its share of the options:
    ``tile_options``), stacked."""
    tiles = n_cols * (d_rows.shape[1] // n_out)
    parts = [line_probabilities_numba(x_rows[:, (g % n_cols) * n_in:(g % n_cols + 1) * n_in],
                                      d_rows[:, (g // n_cols) * n_out:(g // n_cols + 1) * n_out],
                                      lr, granularity, seed=seed + g,
                                      **tile_options(options, g, n_cols, n_in, n_out))
             for g in range(tiles)]
    return tuple(torch.stack(side) for side in zip(*parts, strict=True))


def pulsed_update_grouped_numba(weights: torch.Tensor, cell_params: torch.Tensor,
                                x_prob: torch.Tensor, d_prob: torch.Tensor, bl: torch.Tensor,
                                p: UpdateParams, *, seeds,
                                cell_pulses: torch.Tensor | None = None) -> torch.Tensor:
    """``pulsed_update_grouped_torch``: each tile's :func:`pulsed_update_numba` with its
    own seed ``seeds[g]``; the pulses per tile."""
    return update_each_tile(pulsed_update_numba, weights, cell_params, x_prob, d_prob, bl, p,
                            cell_pulses, seed=[int(seed) for seed in seeds])

