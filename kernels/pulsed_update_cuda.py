"""Triton kernel of the pulsed update; its meaning is defined by ``pulsed_update_ref.py``.

Two launches apply all ``k`` rank-1 pulse trains:

1. **Line bits** (``_line_words_kernel``, once per line). For every row, line and 32-slot
   chunk of the train it draws the bits and packs the 32 slots into one uint32 word. The
   bit of line ``l`` (output lines are numbered after the ``n_in`` input lines) in slot
   ``t`` of row ``b`` is ``u < |prob_l|``, ``u`` uniform from Philox - the generator behind
   ``tl.rand`` - keyed by ``seed`` with the counter ``(l, t // 4, b, 0)`` (output ``t % 4``
   of its four). It depends on nothing else, so every weight element on line ``l`` sees
   the same bit: the coincidence structure of a crossbar. Given ``x_bits``/``d_bits`` are
   packed instead. Drawn once per line (not once per weight block that touches the line),
   the update's blocks can be small enough to fill the GPU without redrawing lines.
2. **Rows in order** (``_pulsed_update_kernel``). Each program owns a ``BLOCK_M x
   BLOCK_N`` block of weight elements and keeps the weights and cell parameters in
   registers across all rows and pulses; the weight is read and written once. State-
   dependent cells first store, per row, a bound on the block's largest coincidence count
   (the smaller of the largest line counts) in a per-program scratch; one barrier. Per
   row: the coincidence counts ``popcount(word_d & word_x)`` (summed over chunks), then
   ``n_ij`` pulses of one sign per element, one after another through ``_pulse`` - the
   cell's response, chosen by the constexpr ``CELL_KIND`` - and clipped to the element's
   bounds after every pulse; elements with fewer pulses than the loop's length are masked.
   Cycle-to-cycle noise is drawn only when it is on (constexpr ``NOISE``): four normals
   per call of ``_normals4`` (four multiply-xorshift hashes of the element under keys
   from (seed, p // 4, b); Box-Muller). Constant steps take the closed form of ``n``
   steps, ``clip(w + (n + sigma sqrt(n) xi) s)`` (the twin's ``constant_train``), so
   their noise costs one normal per element and row: one call (keys from (seed, b // 4,
   0)) serves four rows, kept in registers. The next row's
   words (with the line signs in bit 31 when trains fit 31 slots; else also the
   probabilities) and bound are loaded while a row is worked on; a row without
   coincidences in the block is skipped.

The pulse count is summed per element and added atomically, once per program, to one int64
counter.

Expected bottleneck: arithmetic, not memory. The line bits cost ``8 * (n_in + n_out)``
Philox counters per row and 32-slot chunk, once; the row loop of a program is sequential,
so the grid must have enough programs to fill the GPU (``_default_config``). The pulse loop
of state-dependent cells runs to the block's largest count, and with noise each element
pays four hashes and two Box-Muller transforms per four pulses of that length whether or
not it fires. Constant steps need no loop; their noise adds one hash, half a Box-Muller
transform and a square root per element and row. The weight traffic (8 bytes per element plus
16-32 bytes of cell parameters) and the words (4 bytes per line, row and chunk, read from
L2 by every block on the line) are small next to it; see
``benchmarks/bench_pulsed_update.py`` for the measured gap.

**Rows listed** (constant steps, dense rows: ``_listed_rows_kernel``). In training most rows
touch few elements of a block: at 784-4096-4096-10, batch 256, BL management gives one slot
per row and 1.6-2.7 % of the output lines and 6-8 % of the input lines fire in a row, so
0.1-0.2 % of the cell-rows pulse, while the block kernel does a popcount, the closed form
and (noise on) a quarter of ``_normals4`` per element and row: ~57 instructions per cell
and row on sm_90, issue-bound. Here the words kernel also stores, per row and side, which
lines fire at all (a bit a line); a program - one warp, 128 elements of one output line
where the input lines allow - lists the rows where one of its output lines and one of its
input lines fire (``LISTED_WINDOW`` rows at a time, from 1 + BLOCK_N / 32 mask words a
row), then walks those alone with the block kernel's arithmetic. A row's normal is the one
``_normals4`` gives it: ``_normal_pair`` draws the half of the four that rows ``b`` and ``b
^ 1`` take, kept for the next listed row of the pair, so dense rows cost the same hashes
as before and sparse rows half. The same weights, counts and wear as the block kernel
(``LISTED_ROWS`` off: the block kernel, to time the two).

**Few cells, many rows** (constant steps, dense rows). A convolution's tile (few cells, ``k``
= batch x positions, 131k rows) leaves the GPU nearly idle while a few programs walk all
rows in order. Constant steps need no order: a row moves an element in bounds by ``w ->
clip(w + A)`` (``A = s (n + sigma sqrt(n) xi)``, the twin's ``constant_train``), and clamped
additions compose: ``clip(clip(w + a1, L1, H1) + a2, L2, H2) = clip(w + a1 + a2, clip(L1 +
a2, L2, H2), clip(H1 + a2, L2, H2))``. ``_row_chunks_kernel`` (cell blocks x row chunks)
composes each chunk's rows into one map per element - its first row with pulses kept apart,
since an element outside its bounds takes that row's first step clipped - with the same
words, counts and normals; ``_compose_chunks_kernel`` applies the chunks' maps in order.
Linear steps (LinearStep, SoftBounds) compose too: every pulse is a clamped affine map
``w -> clip(c w + b)`` and so is any run of them (``_linear_row_chunks_kernel``: ``(c, b,
L, H)`` per element, the bounds swapped where ``c < 0``). The same pulses (counted with
integer atomics), the same walk up to float rounding.
"""

from __future__ import annotations

import functools
import os

import torch
import triton
import triton.language as tl
from triton.language.extra import libdevice
from triton.language.random import pair_uniform_to_normal, philox, uint_to_uniform_float

from . import seeds
from .layout import CELL_CONSTANT, CELL_LINEAR, check_cell
from .params import UpdateParams
from .pulsed_update_ref import (
    LineSteps,
    RowProbabilities,
    advance_counters,
    knot_table,
    long_train_length,
    train_mode,
)


@triton.jit
def _popcount(v, NATIVE: tl.constexpr):
    """Number of set bits of each uint32 element (as int32)."""
    if NATIVE:
        return libdevice.popc(v.to(tl.int32, bitcast=True))
    else:  # the interpreter has no libdevice: SWAR popcount
        v = v - ((v >> 1) & 0x55555555)
        v = (v & 0x33333333) + ((v >> 2) & 0x33333333)
        v = (v + (v >> 4)) & 0x0F0F0F0F
        return ((v * 0x01010101) >> 24).to(tl.int32)


@triton.jit
def _draw_word(seed, rows, lines, chunk, prob_abs, lengths, n_groups):
    """Bits of the 32 slots of ``chunk`` for ``rows x lines``, packed in uint32 words.

    The bit of (row b, slot t, line l) is ``u < |p|`` with ``u`` uniform from Philox under
    ``seed`` with the counter (l, t // 4, b, 0) (output ``t % 4`` of the four): it depends
    on nothing else, so every program that touches line l draws the same bit.
    """
    zero = (rows[:, None] * 0 + lines[None, :] * 0).to(tl.uint32)
    c0 = lines[None, :].to(tl.uint32) + zero
    c2 = rows[:, None].to(tl.uint32) + zero
    t_ok = lengths[:, None] - chunk * 32  # slots of this chunk inside the train
    return _draw_bits(seed, c0, c2, chunk, prob_abs, t_ok, n_groups)


@triton.jit
def _draw_bits(seed, c0, c2, chunk, prob_abs, t_ok, n_groups):
    """``_draw_word``'s words element by element: Philox counters ``(c0, 4-slot group,
    c2, 0)`` (uint32, one shape with ``t_ok``, the slots of the chunk inside each train;
    groups from ``n_groups`` on are not drawn, and a slot at or past ``t_ok`` is 0)."""
    zero = c0 * 0
    word = zero
    for q in range(0, n_groups):  # groups of 4 slots in use (not unrolled: it would spill)
        r0, r1, r2, r3 = philox(seed, c0, zero + (chunk * 8 + q), c2, zero)
        word |= ((uint_to_uniform_float(r0) < prob_abs) & (4 * q < t_ok)).to(tl.uint32) << (4 * q)
        word |= ((uint_to_uniform_float(r1) < prob_abs)
                 & (4 * q + 1 < t_ok)).to(tl.uint32) << (4 * q + 1)
        word |= ((uint_to_uniform_float(r2) < prob_abs)
                 & (4 * q + 2 < t_ok)).to(tl.uint32) << (4 * q + 2)
        word |= ((uint_to_uniform_float(r3) < prob_abs)
                 & (4 * q + 3 < t_ok)).to(tl.uint32) << (4 * q + 3)
    return word


@triton.jit
def _load_word(bits_ptr, stride_b, stride_t, stride_l, rows, lines, ok, chunk, lengths):
    """Given bits (``> 0``) of the 32 slots of ``chunk`` for ``rows x lines``, packed."""
    word = (rows[:, None] * 0 + lines[None, :] * 0).to(tl.uint32)
    ptrs = bits_ptr + rows[:, None] * stride_b + lines[None, :] * stride_l
    for q in tl.static_range(32):
        t = chunk * 32 + q
        v = tl.load(ptrs + t * stride_t, mask=ok & (t < lengths[:, None]), other=0)
        word |= (v > 0).to(tl.uint32) << q
    return word


@triton.jit
def _row_counts(wx, wd, xs_ptrs, ds_ptrs, mn, mm, b, k, n_lines, n_chunks,
                NATIVE: tl.constexpr, SIGN_BIT: tl.constexpr):
    """Coincidences of row b: popcount of the AND of the output and input line words,
    summed over the chunks (the first chunk's words are given, the others are loaded;
    with ``SIGN_BIT`` there is one chunk and bit 31 is the sign, not a slot)."""
    if SIGN_BIT:
        return _popcount(wd[:, None] & wx[None, :] & 0x7FFFFFFF, NATIVE)
    counts = _popcount(wd[:, None] & wx[None, :], NATIVE)
    for c in range(1, n_chunks):  # words past a row's train are 0
        wx_c = tl.load(xs_ptrs + (c * k + b) * n_lines, mask=mn, other=0)
        wd_c = tl.load(ds_ptrs + (c * k + b) * n_lines, mask=mm, other=0)
        counts += _popcount(wd_c.to(tl.uint32, bitcast=True)[:, None]
                            & wx_c.to(tl.uint32, bitcast=True)[None, :], NATIVE)
    return counts


@triton.jit
def _row_inputs(i, k, bs_ptr, x_ptr, d_ptr, xs_ptrs, ds_ptrs, rn, rm, mn, mm,
                stride_xk, stride_xn, stride_dk, stride_dm, n_lines,
                HAS_BOUND: tl.constexpr, SIGN_BIT: tl.constexpr, SPARSE_ROWS: tl.constexpr):
    """What the ``i``-th row to work needs, loaded: its number ``b`` (``i`` itself, or the
    ``i``-th entry of the program's list of rows with coincidences), its bound
    (state-dependent cells), the probabilities whose signs give the pulse direction (none
    with ``SIGN_BIT``: the words carry them) and the first chunk's words. Past the end
    (the prefetch after the last row) any row in range is loaded, unused."""
    if SPARSE_ROWS:
        b = tl.minimum(tl.maximum(tl.load(bs_ptr + i), 0), k - 1)
        bound = tl.load(bs_ptr + k + i)
    else:
        b = tl.minimum(i, k - 1)
        bound = 0
        if HAS_BOUND:
            bound = tl.load(bs_ptr + b)
    wx = tl.load(xs_ptrs + b * n_lines, mask=mn, other=0).to(tl.uint32, bitcast=True)
    wd = tl.load(ds_ptrs + b * n_lines, mask=mm, other=0).to(tl.uint32, bitcast=True)
    if SIGN_BIT:
        xp = wx
        dp = wd
    else:
        xp = tl.load(x_ptr + b * stride_xk + rn * stride_xn, mask=mn, other=0.0)
        dp = tl.load(d_ptr + b * stride_dk + rm * stride_dm, mask=mm, other=0.0)
    return b, bound, xp, dp, wx, wd


@triton.jit
def _negatives(xp, dp, wx, wd, SIGN_BIT: tl.constexpr):
    """Which input and output lines of a row pulse negative (their words' bit 31, or the
    probabilities' signs)."""
    if SIGN_BIT:
        return (wx >> 31) != 0, (wd >> 31) != 0
    return xp < 0.0, dp < 0.0


@triton.jit
def _box_muller(u1, u2, NATIVE: tl.constexpr):
    """Two standard normals from two uniforms; on the GPU with the fast (MUFU) log, sin
    and cos, whose error (~1e-6 absolute) is far below the noise it draws."""
    if NATIVE:
        u1 = tl.maximum(1.0e-7, u1)
        r = tl.sqrt(-2.0 * libdevice.fast_logf(u1))
        th = 6.283185307179586 * u2
        return r * libdevice.fast_cosf(th), r * libdevice.fast_sinf(th)
    else:
        return pair_uniform_to_normal(u1, u2)


@triton.jit
def _mix32(x):
    """A bijection of uint32 with strong avalanche (Wellons' ``lowbias32``)."""
    x ^= x >> 16
    x *= 0x21F0AAAD
    x ^= x >> 15
    x *= 0x735A2D97
    x ^= x >> 15
    return x


@triton.jit
def _draw_key(seed, group, b):
    """The key of the draws for (seed, group, b): scalars, once per call."""
    return _mix32(_mix32(tl.cast(seed, tl.uint32) + 0x9E3779B9)
                  ^ tl.cast(group + b * 65536, tl.uint32))


@triton.jit
def _normal1(seed, elem, b, NATIVE: tl.constexpr):
    """One standard normal per element for row b (two hashes, half a Box-Muller pair)."""
    base = _draw_key(seed, 0x7FFF, b)
    spread = tl.cast(elem, tl.uint32) * 0x9E3779B1
    n0, _ = _box_muller(uint_to_uniform_float(_mix32(spread ^ _mix32(base + 0x632BE5AB))),
                        uint_to_uniform_float(_mix32(spread ^ _mix32(base + 0x85EBCA77))),
                        NATIVE)
    return n0


@triton.jit
def _normals4(seed, elem, group, b, NATIVE: tl.constexpr):
    """Four standard normals per element for pulses 4*group .. 4*group + 3 of row b.

    The four uniform words are ``mix32(elem * phi ^ key_j)``, the keys hashed from
    (seed, group, b, j) once per call (scalars). Per element that is four multiply-xorshift
    hashes instead of a 10-round Philox call: the normals are the update's largest cost
    with noise on, and this stream is exactly as reproducible (a pure function of seed,
    element and row). Box-Muller, two normals per pair.
    """
    base = _draw_key(seed, group, b)
    spread = tl.cast(elem, tl.uint32) * 0x9E3779B1
    r0 = _mix32(spread ^ _mix32(base + 0x632BE5AB))
    r1 = _mix32(spread ^ _mix32(base + 0x85EBCA77))
    r2 = _mix32(spread ^ _mix32(base + 0xC2B2AE3D))
    r3 = _mix32(spread ^ _mix32(base + 0x27D4EB2F))
    n0, n1 = _box_muller(uint_to_uniform_float(r0), uint_to_uniform_float(r1), NATIVE)
    n2, n3 = _box_muller(uint_to_uniform_float(r2), uint_to_uniform_float(r3), NATIVE)
    return n0, n1, n2, n3


@triton.jit
def _constant_row(w, counts, up, s_up, s_down, w_min, w_max, xi, noise_std,
                  NOISE: tl.constexpr):
    """Constant steps in closed form (the twin's ``constant_train``): ``clip(w + s (n +
    sigma sqrt(n) xi))``, the noise summed and added before the clip; a weight outside its
    bounds takes its first step clipped."""
    step = tl.where(up, s_up, -s_down)
    first = w + step
    first = tl.where((w > w_max) | (w < w_min),
                     tl.minimum(tl.maximum(first, w_min), w_max), first)
    # counts < 2**23 as float32 without the slow integer conversion: the count in the
    # mantissa of 2**23, minus 2**23
    nf = (counts | 0x4B000000).to(tl.float32, bitcast=True) - 8388608.0
    extra = nf - 1.0
    if NOISE:
        extra += noise_std * tl.sqrt(nf) * xi
    run = first + extra * step
    return tl.where(counts > 0, tl.minimum(tl.maximum(run, w_min), w_max), w)


@triton.jit
def _pulse(w, step, q0, q1, q2, xi, w_max, w_min, noise_std, es_b, std_add, std_slope,
           tab_ptr, n_knots,
           CELL_KIND: tl.constexpr, NOISE: tl.constexpr, MULT_NOISE: tl.constexpr):
    """Weight after one pulse of a state-dependent cell, clipped to the bounds.

    ``step`` is the signed step of the pulse direction (its magnitude the ``scale``); the
    direction-resolved cell parameters ``q0, q1, q2`` mean (see the kernel's row setup):
    LINEAR ``q0`` slope; EXP ``q0`` amplitude A, ``q1`` signed exponent, ``q2`` the z scale
    ``2a/(w_max - w_min)``; POW ``q0`` exponent, base ``q1 + q2 * w``; TABLE ``q0`` the
    direction's first knot in ``tab_ptr`` (``n_knots`` a direction), ``q1`` ``1/(w_max -
    w_min)`` (0: no step), ``q2`` ``w_min``.
    """
    if CELL_KIND == 1:  # CELL_LINEAR (constant steps take the closed form, no loop)
        dw = step * (1.0 - q0 * w)
        if NOISE:
            if MULT_NOISE:
                dw = dw * (1.0 + noise_std * xi)
            else:
                dw = dw + noise_std * tl.abs(step) * xi
    elif CELL_KIND == 2:  # CELL_EXP
        z = w * q2 + es_b
        y = tl.maximum(1.0 - q0 * tl.exp(q1 * z), 0.0)
        dw = step * y
        if NOISE:
            sd = noise_std * (tl.abs(dw) + std_add + std_slope * tl.abs(w))
            dw = tl.where(y > 0.0, dw + sd * xi, dw)
    elif CELL_KIND == 3:  # CELL_POW
        base = tl.maximum(q1 + q2 * w, 0.0)
        powed = tl.exp2(q0 * tl.log2(tl.where(base > 0.0, base, 1.0)))
        powed = tl.where(base > 0.0, powed, tl.where(q0 == 0.0, 1.0, 0.0))
        dw = step * powed
        if NOISE:
            dw = dw * (1.0 + noise_std * xi)
    else:  # CELL_TABLE: the knots interpolated at the relative state (table_factor)
        pos = tl.minimum(tl.maximum((w - q2) * q1, 0.0), 1.0) * (n_knots - 1.0)
        q = tl.minimum(pos.to(tl.int32), n_knots - 2)
        f = pos - q.to(tl.float32)
        y0 = tl.load(tab_ptr + q0 + q)
        y1 = tl.load(tab_ptr + q0 + q + 1)
        dw = tl.where(q1 > 0.0, step * (y0 + f * (y1 - y0)), 0.0)
        if NOISE:
            if MULT_NOISE:
                dw = dw * (1.0 + noise_std * xi)
            else:
                dw = dw + noise_std * tl.abs(step) * xi
    return tl.minimum(tl.maximum(w + dw, w_min), w_max)


@triton.jit
def _pulse_if(w, counts, p, step, q0, q1, q2, xi, w_max, w_min, noise_std, es_b, std_add,
              std_slope, tab_ptr, n_knots, CELL_KIND: tl.constexpr, NOISE: tl.constexpr,
              MULT_NOISE: tl.constexpr):
    """Pulse ``p`` of each element's train: ``_pulse`` where the element's count exceeds
    ``p``, the weight unchanged elsewhere."""
    return tl.where(counts > p, _pulse(w, step, q0, q1, q2, xi, w_max, w_min, noise_std, es_b,
                                       std_add, std_slope, tab_ptr, n_knots, CELL_KIND, NOISE,
                                       MULT_NOISE), w)


# how a kernel gets its seed (``SEED_PTR``): the int argument ``seed``; a device tensor
# at ``seed_ptr``, taken mod 2**32; or a ``seeds.KeyedSeed``: the array's call counter at
# ``seed_ptr`` and its offset in ``seed``, derived here rather than by three launches
SEED_INT, SEED_TENSOR, SEED_KEYED = 0, 1, 2
_CALL_STEP = tl.constexpr(seeds.CALL_STEP)
_MASK31 = tl.constexpr(seeds.MASK31)


@triton.jit
def _seed_of(seed_ptr, seed, SEED_PTR: tl.constexpr):
    """The call's seed (see ``SEED_INT`` ...): what CUDA graphs replay as it changes."""
    if SEED_PTR == 1:
        seed = tl.load(seed_ptr) & 0xFFFFFFFF
    elif SEED_PTR == 2:
        seed = (tl.load(seed_ptr) * _CALL_STEP + seed) & _MASK31
    return seed


def seed_arguments(seed, fallback: torch.Tensor, device,
                   tiles: int = 1) -> tuple[torch.Tensor, int, int]:
    """``(seed_ptr, seed, SEED_PTR)`` of a launch for ``seed``: an int, a one-element
    integer tensor on ``device`` or a ``seeds.KeyedSeed`` (``fallback``: an unused
    pointer); a group of ``tiles`` tiles: one element per tile (tile ``g`` at
    ``seed_ptr + g``)."""
    if isinstance(seed, seeds.KeyedSeed):
        tensor, mode, value = seed.calls, SEED_KEYED, int(seed.offset)
    elif isinstance(seed, torch.Tensor):
        tensor, mode, value = seed, SEED_TENSOR, 0
    else:
        return fallback, seeds.low32(seed), SEED_INT
    if tensor.numel() != tiles or tensor.device != device or tensor.dtype.is_floating_point:
        raise ValueError("a seed tensor must be one integer (per tile) on the weight's device")
    return tensor, value, mode


@triton.jit(do_not_specialize=["seed"])
def _line_words_kernel(
    words_ptr, x_ptr, d_ptr, bl_ptr, xb_ptr, db_ptr, seed_ptr, count_ptr, masks_ptr,
    n_out, n_in, k, n_chunks,
    stride_xk, stride_xn, stride_dk, stride_dm, stride_bl,
    stride_xg, stride_dg, stride_blg, words_per_tile, masks_per_tile,
    stride_xbk, stride_xbt, stride_xbn, stride_dbk, stride_dbt, stride_dbm,
    seed,
    GIVEN_BITS: tl.constexpr, SEED_PTR: tl.constexpr, SIGN_BIT: tl.constexpr,
    ZERO: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_L: tl.constexpr,
    MASKS: tl.constexpr = False,
):
    """Phase 1 of the update, once per line: the packed words of ``BLOCK_R`` rows x
    ``BLOCK_L`` lines (input lines ``0..n_in-1``, then the output lines) for every chunk,
    stored at ``words[(chunk * k + row) * (n_in + n_out) + line]``. With ``SIGN_BIT``
    (one chunk of at most 31 slots) bit 31 holds the line's sign (probability < 0). Axis
    2: tile ``g`` of a group, its probabilities, trains, seed, words and pulse count its
    own (the ``stride_*g`` / ``words_per_tile`` on). Each tile's first program zeroes the
    tile's pulse count the update's kernels add to (a launch saved), unless the count is
    a running one (``ZERO`` off: ``add_to``).

    ``MASKS`` (what the listed-rows kernel reads): a program's lines lie on one side (the x
    side's blocks first, then the d side's, each from its side's line 0), and per row and
    side it also stores which lines fire at all, one bit a line (line ``32 q + r`` of a side
    is bit ``r`` of its word ``q``): ``masks[(side + q) * k + row]`` (a word's rows side by
    side, as the listed-rows kernel reads them), the x side's ``mx = cdiv(n_in, 32)`` words
    first, then the d side's. The words are the same."""
    g = tl.program_id(2).to(tl.int64)
    x_ptr += g * stride_xg
    d_ptr += g * stride_dg
    bl_ptr += g * stride_blg
    words_ptr += g * words_per_tile
    if ZERO:
        if (tl.program_id(0) == 0) & (tl.program_id(1) == 0):
            tl.store(count_ptr + g, tl.full((), 0, tl.int64))
    seed = _seed_of(seed_ptr + g, seed, SEED_PTR)
    rows = tl.program_id(1) * BLOCK_R + tl.arange(0, BLOCK_R)
    n_lines = n_in + n_out
    if MASKS:  # side-aligned blocks: the x side's, then the d side's
        n_xb = tl.cdiv(n_in, BLOCK_L)
        on_d = tl.program_id(0) >= n_xb
        side_start = tl.where(on_d, tl.program_id(0) - n_xb, tl.program_id(0)) * BLOCK_L
        lines = tl.where(on_d, n_in, 0) + side_start + tl.arange(0, BLOCK_L)
        in_side = lines < tl.where(on_d, n_lines, n_in)
    else:
        lines = tl.program_id(0) * BLOCK_L + tl.arange(0, BLOCK_L)
        in_side = lines < n_lines
    rok = rows < k
    is_x = in_side & (lines < n_in)
    is_d = in_side & (lines >= n_in)
    ok_x = rok[:, None] & is_x[None, :]
    ok_d = rok[:, None] & is_d[None, :]
    m = tl.where(is_d, lines - n_in, 0)
    max_len = n_chunks * 32
    if SIGN_BIT:  # bit 31 is the sign
        max_len -= 1
    lens = tl.minimum(tl.load(bl_ptr + rows * stride_bl, mask=rok, other=0).to(tl.int32),
                      max_len)
    p = (tl.load(x_ptr + rows[:, None] * stride_xk + lines[None, :] * stride_xn,
                 mask=ok_x, other=0.0)
         + tl.load(d_ptr + rows[:, None] * stride_dk + m[None, :] * stride_dm,
                   mask=ok_d, other=0.0))
    pa = tl.abs(p)
    blk_len = tl.max(lens)
    out = words_ptr + rows[:, None] * n_lines + lines[None, :]
    fired = tl.zeros((BLOCK_R, BLOCK_L), dtype=tl.uint32)  # the chunks' slots, OR-ed
    for c in range(0, n_chunks):
        if GIVEN_BITS:
            word = (_load_word(xb_ptr, stride_xbk, stride_xbt, stride_xbn, rows, lines, ok_x,
                               c, lens)
                    | _load_word(db_ptr, stride_dbk, stride_dbt, stride_dbm, rows, m, ok_d,
                                 c, lens))
        else:
            n_groups = tl.minimum(tl.maximum(tl.cdiv(blk_len - c * 32, 4), 0), 8)
            word = _draw_word(seed, rows, lines, c, pa, lens, n_groups)
        fired |= word
        if SIGN_BIT:
            word |= (p < 0.0).to(tl.uint32) << 31
        tl.store(out + c * k * n_lines, word.to(tl.int32, bitcast=True),
                 mask=rok[:, None] & in_side[None, :])
    if MASKS:
        bits = (fired != 0).to(tl.uint32) << (tl.arange(0, BLOCK_L) % 32).to(tl.uint32)[None, :]
        packed = tl.reduce(tl.reshape(bits, (BLOCK_R, BLOCK_L // 32, 32)), 2, _bit_or)
        n_mx = tl.cdiv(n_in, 32)
        q = side_start // 32 + tl.arange(0, BLOCK_L // 32)
        q_ok = q < tl.where(on_d, tl.cdiv(n_out, 32), n_mx)
        dest = masks_ptr + g * masks_per_tile + (tl.where(on_d, n_mx, 0) + q[None, :]) * k \
            + rows[:, None]
        tl.store(dest, packed.to(tl.int32, bitcast=True), mask=rok[:, None] & q_ok[None, :])


@triton.jit
def _tile_pointers(tile, w_ptr, p_ptr, x_ptr, d_ptr, words_ptr, count_ptr, cells_ptr,
                   stride_wg, stride_pg, stride_xg, stride_dg, words_per_tile, cells_per_tile):
    """The pointers of tile ``tile`` of a group (grid axis 2): its weight, parameters,
    trains, words, pulse counter and wear ledger (a single tile is tile 0)."""
    return (w_ptr + tile * stride_wg, p_ptr + tile * stride_pg, x_ptr + tile * stride_xg,
            d_ptr + tile * stride_dg, words_ptr + tile * words_per_tile, count_ptr + tile,
            cells_ptr + tile * cells_per_tile)


@triton.jit
def _block_cells(w_ptr, p_ptr, rm, rn, mm, mn, stride_wm, stride_wn, stride_pm, stride_pn,
                 stride_pp):
    """A block's weights and constant-step parameters (up, down, max, min), loaded once
    for all rows: ``(mask, weight pointers, w, parameter pointers, s_up, s_down, w_max,
    w_min)``."""
    mask = mm[:, None] & mn[None, :]
    w_ptrs = w_ptr + rm[:, None] * stride_wm + rn[None, :] * stride_wn
    w = tl.load(w_ptrs, mask=mask, other=0.0)
    pe = p_ptr + rm[:, None] * stride_pm + rn[None, :] * stride_pn
    s_up, s_down, w_max, w_min = _step_params(pe, stride_pp, mask)
    return mask, w_ptrs, w, pe, s_up, s_down, w_max, w_min


@triton.jit
def _store_block(w_ptrs, w, mask, acc, cells_ptr, count_ptr, rm, rn, n_in,
                 COUNT_CELLS: tl.constexpr):
    """A block's weights back, its pulses into the wear ledger (a block owns its elements,
    so no atomics) and their sum into the tile's counter."""
    tl.store(w_ptrs, w, mask=mask)
    if COUNT_CELLS:
        c_ptrs = cells_ptr + rm[:, None] * n_in + rn[None, :]
        tl.store(c_ptrs, tl.load(c_ptrs, mask=mask, other=0) + acc, mask=mask)
    total = tl.sum(tl.sum(acc, axis=1).to(tl.int64), axis=0)
    tl.atomic_add(count_ptr, total)


@triton.jit
def _bit_or(a, b):
    return a | b


@triton.jit(do_not_specialize=["seed"])
def _pulsed_update_kernel(
    w_ptr, p_ptr, x_ptr, d_ptr, words_ptr, count_ptr, scratch_ptr, seed_ptr, cells_ptr,
    tab_ptr, n_knots,
    n_out, n_in, k, n_chunks,
    stride_wm, stride_wn, stride_pp, stride_pm, stride_pn,
    stride_xk, stride_xn, stride_dk, stride_dm,
    stride_wg, stride_pg, stride_xg, stride_dg, words_per_tile,
    seed, noise_std,
    es_a_up, es_a_down, es_g_up, es_g_down, es_a, es_b, std_add, std_slope,
    CELL_KIND: tl.constexpr, NOISE: tl.constexpr, MULT_NOISE: tl.constexpr,
    SEED_PTR: tl.constexpr, NATIVE: tl.constexpr, SIGN_BIT: tl.constexpr,
    SPARSE_ROWS: tl.constexpr, HAS_BOUND: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, ROW_BLOCK: tl.constexpr,
    COUNT_CELLS: tl.constexpr = False,
):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    # axis 2: a tile of a group - its weight, parameters, trains, words, counters and
    # seed its own (the stride_*g / words_per_tile on); a single tile is tile 0
    tile = tl.program_id(2).to(tl.int64)
    w_ptr, p_ptr, x_ptr, d_ptr, words_ptr, count_ptr, cells_ptr = _tile_pointers(
        tile, w_ptr, p_ptr, x_ptr, d_ptr, words_ptr, count_ptr, cells_ptr, stride_wg,
        stride_pg, stride_xg, stride_dg, words_per_tile, n_out * n_in)
    scratch_ptr += tile * tl.num_programs(0) * tl.num_programs(1) * (2 * k if SPARSE_ROWS else k)
    # the seed lives on the device or is keyed by a counter there (CUDA graphs replay it)
    seed = _seed_of(seed_ptr + tile, seed, SEED_PTR)
    il = tl.arange(0, BLOCK_M)
    jl = tl.arange(0, BLOCK_N)
    rm = pid_m * BLOCK_M + il
    rn = pid_n * BLOCK_N + jl
    mm = rm < n_out
    mn = rn < n_in

    # this block's lines in the packed words of ``_line_words_kernel``
    n_lines = n_in + n_out
    xs_ptrs = words_ptr + rn
    ds_ptrs = words_ptr + n_in + rm
    pid = pid_m * tl.num_programs(1) + pid_n
    bs_ptr = scratch_ptr + pid.to(tl.int64) * (2 * k if SPARSE_ROWS else k)

    # ---- phase 1 (state-dependent cells, sparse rows): per row, a bound on the block's
    # largest coincidence count (min of the largest line counts), ROW_BLOCK rows at a time;
    # with sparse rows only the rows with a bound above 0 are listed (in order, the bounds
    # after them), so phase 2 walks those alone
    n_rows = k
    if SPARSE_ROWS:
        n_rows = 0
    if HAS_BOUND:
        for b0 in range(0, k, ROW_BLOCK):
            rows = b0 + tl.arange(0, ROW_BLOCK)
            rok = rows < k
            tot_x = tl.zeros((ROW_BLOCK, BLOCK_N), dtype=tl.int32)
            tot_d = tl.zeros((ROW_BLOCK, BLOCK_M), dtype=tl.int32)
            for c in range(0, n_chunks):
                wx = tl.load(xs_ptrs[None, :] + (c * k + rows[:, None]) * n_lines,
                             mask=rok[:, None] & mn[None, :], other=0)
                wd = tl.load(ds_ptrs[None, :] + (c * k + rows[:, None]) * n_lines,
                             mask=rok[:, None] & mm[None, :], other=0)
                wx = wx.to(tl.uint32, bitcast=True)
                wd = wd.to(tl.uint32, bitcast=True)
                if SIGN_BIT:
                    wx = wx & 0x7FFFFFFF
                    wd = wd & 0x7FFFFFFF
                tot_x += _popcount(wx, NATIVE)
                tot_d += _popcount(wd, NATIVE)
            bound = tl.minimum(tl.max(tot_x, axis=1), tl.max(tot_d, axis=1))
            if SPARSE_ROWS:
                active = ((bound > 0) & rok).to(tl.int32)
                pos = n_rows + tl.cumsum(active, axis=0) - 1
                tl.store(bs_ptr + pos, rows, mask=active > 0)
                tl.store(bs_ptr + k + pos, bound, mask=active > 0)
                n_rows += tl.sum(active, axis=0)
            else:
                tl.store(bs_ptr + rows, bound, mask=rok)
        tl.debug_barrier()  # the scratch writes are seen by all threads of the program

    # ---- phase 2: the rows in order, weights and cell parameters in registers
    mask, w_ptrs, w, pe, s_up, s_down, w_max, w_min = _block_cells(
        w_ptr, p_ptr, rm, rn, mm, mn, stride_wm, stride_wn, stride_pm, stride_pn, stride_pp)
    if CELL_KIND == 1:
        r_up = tl.load(pe + 4 * stride_pp, mask=mask, other=0.0)
        r_down = tl.load(pe + 5 * stride_pp, mask=mask, other=0.0)
    elif CELL_KIND == 2:
        ok = (w_max - w_min) > 0.0
        zs = tl.where(ok, 2.0 * es_a / tl.where(ok, w_max - w_min, 1.0), 0.0)
    elif CELL_KIND == 3:
        r_up = tl.load(pe + 6 * stride_pp, mask=mask, other=0.0)
        r_down = tl.load(pe + 7 * stride_pp, mask=mask, other=0.0)
        rng = w_max - w_min
        inv = tl.where(rng > 0.0, 1.0 / tl.where(rng > 0.0, rng, 1.0), 0.0)
    elif CELL_KIND == 4:
        rng = w_max - w_min
        inv = tl.where(rng > 0.0, 1.0 / tl.where(rng > 0.0, rng, 1.0), 0.0)
    if NOISE:
        elem = (rm[:, None] * n_in + rn[None, :]).to(tl.uint32)
        xi0 = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)  # normals of 4 rows (constant)
        xi1 = xi0
        xi2 = xi0
        xi3 = xi0

    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int32)
    # what a row needs is loaded one row ahead (its latency hides behind the previous row;
    # four rows ahead measured slower: the registers it holds cost more than it hides); the
    # row past the last loads row k - 1 again, unused; a row without coincidences in this
    # block has bound 0
    nx_b, nx_bound, nx_xp, nx_dp, nx_wx, nx_wd = _row_inputs(
        0, k, bs_ptr, x_ptr, d_ptr, xs_ptrs, ds_ptrs, rn, rm, mn, mm,
        stride_xk, stride_xn, stride_dk, stride_dm, n_lines, HAS_BOUND, SIGN_BIT, SPARSE_ROWS)
    for i in range(0, n_rows):
        b, bound, xp, dp, wx, wd = nx_b, nx_bound, nx_xp, nx_dp, nx_wx, nx_wd
        if not SPARSE_ROWS:
            b = i  # the loop's own counter: the noise groups below test it
        nx_b, nx_bound, nx_xp, nx_dp, nx_wx, nx_wd = _row_inputs(
            i + 1, k, bs_ptr, x_ptr, d_ptr, xs_ptrs, ds_ptrs, rn, rm, mn, mm,
            stride_xk, stride_xn, stride_dk, stride_dm, n_lines, HAS_BOUND, SIGN_BIT,
            SPARSE_ROWS)
        neg_x, neg_d = _negatives(xp, dp, wx, wd, SIGN_BIT)
        if CELL_KIND == 0 and SPARSE_ROWS:
            # one-hot rows (a transfer's line writes): most blocks see none of a row's
            # coincidences, so only the listed rows come here, and each draws its own
            # normal (no four-row group to keep fresh)
            if bound > 0:
                counts = _row_counts(wx, wd, xs_ptrs, ds_ptrs, mn, mm, b, k, n_lines,
                                     n_chunks, NATIVE, SIGN_BIT)
                acc += counts
                xi = 0.0
                if NOISE:
                    xi = _normal1(seed, elem, b, NATIVE)
                w = _constant_row(w, counts, neg_d[:, None] != neg_x[None, :], s_up, s_down,
                                  w_min, w_max, xi, noise_std, NOISE)
        elif CELL_KIND == 0:
            # no branch on the counts, so the next row's loads overlap this row
            counts = _row_counts(wx, wd, xs_ptrs, ds_ptrs, mn, mm, b, k, n_lines,
                                 n_chunks, NATIVE, SIGN_BIT)
            acc += counts
            xi = 0.0
            if NOISE:
                r = b % 4
                if r == 0:  # one call: the normals of this row and the next three
                    xi0, xi1, xi2, xi3 = _normals4(seed, elem, b // 4, 0, NATIVE)
                xi = tl.where(r == 0, xi0, tl.where(r == 1, xi1, tl.where(r == 2, xi2, xi3)))
            w = _constant_row(w, counts, neg_d[:, None] != neg_x[None, :], s_up, s_down,
                              w_min, w_max, xi, noise_std, NOISE)
        elif bound > 0:
            counts = _row_counts(wx, wd, xs_ptrs, ds_ptrs, mn, mm, b, k, n_lines,
                                 n_chunks, NATIVE, SIGN_BIT)
            acc += counts

            # direction-resolved parameters of this row
            up = neg_d[:, None] != neg_x[None, :]
            step = tl.where(up, s_up, -s_down)
            if CELL_KIND == 1:
                q0 = tl.where(up, r_up, r_down)
                q1 = q0
                q2 = q0
            elif CELL_KIND == 2:
                q0 = tl.where(ok, tl.where(up, es_a_up, es_a_down), 1.0)
                q1 = tl.where(ok, tl.where(up, es_g_up, -es_g_down), 0.0)
                q2 = zs
            elif CELL_KIND == 3:  # CELL_POW
                q0 = tl.where(up, r_up, r_down)
                q1 = tl.where(up, w_max, -w_min) * inv
                q2 = tl.where(up, -inv, inv)
            else:  # CELL_TABLE
                q0 = tl.where(up, 0, n_knots)
                q1 = inv
                q2 = w_min

            # the pulses, one after another; bound >= the block's largest count
            if NOISE:
                for g in range(0, tl.cdiv(bound, 4)):
                    xi0, xi1, xi2, xi3 = _normals4(seed, elem, g, b, NATIVE)
                    p0 = g * 4
                    w = _pulse_if(w, counts, p0, step, q0, q1, q2, xi0, w_max, w_min,
                                  noise_std, es_b, std_add, std_slope, tab_ptr, n_knots, CELL_KIND,
                                  NOISE, MULT_NOISE)
                    if p0 + 1 < bound:
                        w = _pulse_if(w, counts, p0 + 1, step, q0, q1, q2, xi1, w_max, w_min,
                                      noise_std, es_b, std_add, std_slope, tab_ptr, n_knots,
                                      CELL_KIND, NOISE, MULT_NOISE)
                    if p0 + 2 < bound:
                        w = _pulse_if(w, counts, p0 + 2, step, q0, q1, q2, xi2, w_max, w_min,
                                      noise_std, es_b, std_add, std_slope, tab_ptr, n_knots,
                                      CELL_KIND, NOISE, MULT_NOISE)
                    if p0 + 3 < bound:
                        w = _pulse_if(w, counts, p0 + 3, step, q0, q1, q2, xi3, w_max, w_min,
                                      noise_std, es_b, std_add, std_slope, tab_ptr, n_knots,
                                      CELL_KIND, NOISE, MULT_NOISE)
            else:
                for p in range(0, bound):
                    w = _pulse_if(w, counts, p, step, q0, q1, q2, 0.0, w_max, w_min,
                                  noise_std, es_b, std_add, std_slope, tab_ptr, n_knots, CELL_KIND,
                                  NOISE, MULT_NOISE)

    _store_block(w_ptrs, w, mask, acc, cells_ptr, count_ptr, rm, rn, n_in, COUNT_CELLS)


@triton.jit
def _side_active(masks_ptr, rows, rok, k, start, n, B: tl.constexpr):
    """Per row of ``rows``, whether any of a side's ``B`` lines from ``start`` (a multiple
    of ``B``, a power of two) fires (``masks_ptr``: the side's mask words, ``k`` rows a
    word)."""
    if B >= 32:  # whole mask words, OR-ed row by row (in the rows' own layout)
        v = tl.zeros_like(rows)
        for j in tl.static_range(B // 32):
            q = start // 32 + j
            v |= tl.load(masks_ptr + q * k + rows, mask=rok & (q * 32 < n), other=0)
        return v != 0
    else:  # B bits of one word (B divides 32, so they never straddle two)
        v = tl.load(masks_ptr + (start // 32) * k + rows, mask=rok, other=0)
        return ((v >> (start % 32)) & ((1 << B) - 1)) != 0


@triton.jit
def _normal_pair(seed, elem, b, NATIVE: tl.constexpr):
    """The two normals of ``_normals4(seed, elem, b // 4, 0)`` that rows ``b`` and ``b ^ 1``
    take (its first two where ``b % 4 < 2``, else its last two): the same hashes and
    Box-Muller transform, half of them."""
    base = _draw_key(seed, b // 4, 0)
    spread = tl.cast(elem, tl.uint32) * 0x9E3779B1
    second = (b // 2) % 2 == 1
    k1 = tl.where(second, 0xC2B2AE3D, 0x632BE5AB).to(tl.uint32)
    k2 = tl.where(second, 0x27D4EB2F, 0x85EBCA77).to(tl.uint32)
    return _box_muller(uint_to_uniform_float(_mix32(spread ^ _mix32(base + k1))),
                       uint_to_uniform_float(_mix32(spread ^ _mix32(base + k2))), NATIVE)


@triton.jit(do_not_specialize=["seed", "unit"])
def _listed_rows_kernel(
    w_ptr, p_ptr, x_ptr, d_ptr, words_ptr, masks_ptr, count_ptr, list_ptr, seed_ptr, cells_ptr,
    n_out, n_in, k, n_chunks, unit,
    stride_wm, stride_wn, stride_pp, stride_pm, stride_pn,
    stride_xk, stride_xn, stride_dk, stride_dm,
    stride_wg, stride_pg, stride_xg, stride_dg, words_per_tile, masks_per_tile,
    seed, noise_std,
    NOISE: tl.constexpr, SEED_PTR: tl.constexpr, NATIVE: tl.constexpr, SIGN_BIT: tl.constexpr,
    COUNT_CELLS: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
    ROW_BLOCK: tl.constexpr, WINDOW: tl.constexpr,
):
    """Constant steps on dense rows, only the rows with a coincidence in the block (module
    doc, "Rows listed"): the block kernel's ``CELL_KIND == 0`` arithmetic and normals."""
    tile = tl.program_id(2).to(tl.int64)  # a tile of a group, as in the block kernel
    w_ptr, p_ptr, x_ptr, d_ptr, words_ptr, count_ptr, cells_ptr = _tile_pointers(
        tile, w_ptr, p_ptr, x_ptr, d_ptr, words_ptr, count_ptr, cells_ptr, stride_wg,
        stride_pg, stride_xg, stride_dg, words_per_tile, n_out * n_in)
    masks_ptr += tile * masks_per_tile
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    pid = pid_m * tl.num_programs(1) + pid_n
    list_ptr += (tile * tl.num_programs(0) * tl.num_programs(1) + pid) * WINDOW
    seed = _seed_of(seed_ptr + tile, seed, SEED_PTR)
    # ``unit`` is 1, unknown to the compiler: no load is vectorised, so every tensor keeps
    # one layout (else the words and normals change layout through shared memory each row)
    rm = (pid_m * BLOCK_M + tl.arange(0, BLOCK_M)) * unit
    rn = (pid_n * BLOCK_N + tl.arange(0, BLOCK_N)) * unit
    mm = rm < n_out
    mn = rn < n_in
    n_lines = n_in + n_out
    xs_ptrs = words_ptr + rn
    ds_ptrs = words_ptr + n_in + rm

    # weights and cell parameters in registers across all rows
    mask, w_ptrs, w, pe, s_up, s_down, w_max, w_min = _block_cells(
        w_ptr, p_ptr, rm, rn, mm, mn, stride_wm, stride_wn, stride_pm, stride_pn, stride_pp)
    if NOISE:
        elem = (rm[:, None] * n_in + rn[None, :]).to(tl.uint32)
    # the normals of rows 2h and 2h + 1 (``_normal_pair``), of the pair h = ``pair``
    xi_even = tl.zeros_like(w)
    xi_odd = xi_even
    pair = -1
    acc = tl.zeros_like(w).to(tl.int32)
    n_mx = tl.cdiv(n_in, 32)
    for r0 in range(0, k, WINDOW):
        # ---- the window's rows where a line of each side of the block fires, in order
        n_rows = 0
        for b0 in tl.static_range(0, WINDOW, ROW_BLOCK):
            rows = r0 + b0 + tl.arange(0, ROW_BLOCK)
            rok = rows < k
            active = (_side_active(masks_ptr, rows, rok, k, pid_n * BLOCK_N, n_in, BLOCK_N)
                      & _side_active(masks_ptr + n_mx * k, rows, rok, k, pid_m * BLOCK_M,
                                     n_out, BLOCK_M)
                      & rok).to(tl.int32)
            pos = n_rows + tl.cumsum(active, axis=0) - 1
            tl.store(list_ptr + pos, rows, mask=active > 0)
            n_rows += tl.sum(active, axis=0)
        tl.debug_barrier()  # the list is seen by all threads of the program

        # ---- those rows in order; the next row's inputs are loaded while a row is
        # worked, its number two rows ahead
        nx_b = tl.load(list_ptr + 0, mask=n_rows > 0, other=0)
        nx2_b = tl.load(list_ptr + 1, mask=n_rows > 1, other=0)
        _, _, nx_xp, nx_dp, nx_wx, nx_wd = _row_inputs(
            nx_b, k, list_ptr, x_ptr, d_ptr, xs_ptrs, ds_ptrs, rn, rm, mn, mm,
            stride_xk, stride_xn, stride_dk, stride_dm, n_lines, False, SIGN_BIT, False)
        for i in range(0, n_rows):
            b, xp, dp, wx, wd = nx_b, nx_xp, nx_dp, nx_wx, nx_wd
            nx_b = nx2_b
            nx2_b = tl.load(list_ptr + i + 2, mask=i + 2 < n_rows, other=0)
            _, _, nx_xp, nx_dp, nx_wx, nx_wd = _row_inputs(
                nx_b, k, list_ptr, x_ptr, d_ptr, xs_ptrs, ds_ptrs, rn, rm, mn, mm,
                stride_xk, stride_xn, stride_dk, stride_dm, n_lines, False, SIGN_BIT, False)
            neg_x, neg_d = _negatives(xp, dp, wx, wd, SIGN_BIT)
            counts = _row_counts(wx, wd, xs_ptrs, ds_ptrs, mn, mm, b, k, n_lines, n_chunks,
                                 NATIVE, SIGN_BIT)
            acc += counts
            xi = 0.0
            if NOISE:
                if b // 2 != pair:  # a pair not drawn yet (dense rows: every other row)
                    xi_even, xi_odd = _normal_pair(seed, elem, b, NATIVE)
                    pair = b // 2
                xi = tl.where(b % 2 == 0, xi_even, xi_odd)
            w = _constant_row(w, counts, neg_d[:, None] != neg_x[None, :], s_up, s_down,
                              w_min, w_max, xi, noise_std, NOISE)
        tl.debug_barrier()  # the next window's list overwrites this one

    _store_block(w_ptrs, w, mask, acc, cells_ptr, count_ptr, rm, rn, n_in, COUNT_CELLS)


@triton.jit
def _pass_seed(seed, r, runs, SEED_PTR: tl.constexpr):
    """The seed of pass ``r`` of ``runs`` in a one-hot write of several passes: the seed of
    the single-pass call it stands for. Keyed (``SEED_KEYED``), the counter the call's seed
    came from has counted one call per pass, so pass ``r`` takes the key ``runs - 1 - r``
    calls back; else ``seed + r * CALL_STEP`` (mod 2**32). Pass 0 of one: ``seed``."""
    if SEED_PTR == 2:
        return (seed + (r + 1 - runs) * _CALL_STEP) & _MASK31
    return (seed.to(tl.int64) + r * _CALL_STEP) & 0xFFFFFFFF


@triton.jit
def _start_of(start_ptr, start, START_PTR: tl.constexpr):
    """The call's first row's place (mod the width) in the one-hot write: ``start``, or
    (``START_PTR``) the one ``start_ptr`` holds, what CUDA graphs replay as it changes."""
    if START_PTR:
        start = tl.load(start_ptr).to(tl.int32)
    return start


@triton.jit
def _one_hot_line(first, span, n_out, n_in, COLUMNS: tl.constexpr):
    """The elements ``span`` of the line that row ``first`` (mod the width) is one-hot on:
    ``(rm, rn, in range, width, the one-hot line's number, the elements' line numbers)``
    (the words' numbering: input lines, then the output lines)."""
    if COLUMNS:  # x is one-hot at column j; the column's rows are the line
        width = n_in
        rn = first % n_in
        rm = span
        ok = rm < n_out
        one_line = rn
        line_lines = n_in + rm
    else:
        width = n_out
        rm = first % n_out
        rn = span
        ok = rn < n_in
        one_line = n_in + rm
        line_lines = rn
    return rm, rn, ok, width, one_line, line_lines


@triton.jit
def _one_hot_probs(x_ptr, d_ptr, bl_ptr, b, rm, rn, ok, max_len, stride_xk, stride_xn,
                   stride_dk, stride_dm, stride_bl, COLUMNS: tl.constexpr):
    """Row ``b``'s probability at the one-hot element, its probabilities on the line's
    elements (0 out of range) and its train's length (at most ``max_len``)."""
    if COLUMNS:
        one_p = tl.load(x_ptr + b * stride_xk + rn * stride_xn)
        line_p = tl.load(d_ptr + b * stride_dk + rm * stride_dm, mask=ok, other=0.0)
    else:
        one_p = tl.load(d_ptr + b * stride_dk + rm * stride_dm)
        line_p = tl.load(x_ptr + b * stride_xk + rn * stride_xn, mask=ok, other=0.0)
    length = tl.minimum(tl.load(bl_ptr + b * stride_bl).to(tl.int32), max_len)
    return one_p, line_p, length


@triton.jit
def _one_hot_draw(x_ptr, d_ptr, bl_ptr, b, i, seed_r, rm, rn, ok, one_line, line_lines,
                  n_in, n_chunks, max_len, stride_xk, stride_xn, stride_dk, stride_dm,
                  stride_bl, BLOCK: tl.constexpr, COLUMNS: tl.constexpr, NOISE: tl.constexpr,
                  NATIVE: tl.constexpr):
    """Row ``b``'s (place ``i`` in its pass, seed ``seed_r``) pulse counts on the line's
    elements, their direction and (``NOISE``) normal: its words drawn as
    ``_line_words_kernel`` draws them (``_draw_word``: the same counters, the same bits)."""
    one_p, line_p, length = _one_hot_probs(x_ptr, d_ptr, bl_ptr, b, rm, rn, ok, max_len,
                                           stride_xk, stride_xn, stride_dk, stride_dm,
                                           stride_bl, COLUMNS)
    rows = i + tl.zeros((1,), tl.int32)
    lens = length + tl.zeros((1,), tl.int32)
    one_pa = tl.abs(one_p) + tl.zeros((1, 1), tl.float32)
    line_pa = tl.abs(line_p)[None, :]
    counts = tl.zeros((BLOCK,), tl.int32)
    for c in range(0, n_chunks):
        n_groups = tl.minimum(tl.maximum(tl.cdiv(length - c * 32, 4), 0), 8)
        one = _draw_word(seed_r, rows, one_line + tl.zeros((1,), tl.int32), c, one_pa,
                         lens, n_groups)
        line = _draw_word(seed_r, rows, line_lines, c, line_pa, lens, n_groups)
        counts += tl.sum(_popcount(one & line, NATIVE), axis=0)
    counts = tl.where(ok, counts, 0)
    up = (line_p < 0.0) != (one_p < 0.0)  # d's sign against x's: the same either way round
    xi = 0.0
    if NOISE:
        xi = _normal1(seed_r, (rm * n_in + rn).to(tl.uint32), i, NATIVE)
    return counts, up, xi


@triton.jit
def _line_cells(w_ptr, p_ptr, rm, rn, ok, stride_wm, stride_wn, stride_pp, stride_pm,
                stride_pn):
    """A line's weights (and their pointers) and constant-step parameters."""
    w_ptrs = w_ptr + rm * stride_wm + rn * stride_wn
    w = tl.load(w_ptrs, mask=ok, other=0.0)
    s_up, s_down, w_max, w_min = _step_params(p_ptr + rm * stride_pm + rn * stride_pn,
                                              stride_pp, ok)
    return w_ptrs, w, s_up, s_down, w_max, w_min


@triton.jit
def _line_probs(values, mag, line_gain):
    """A pass's line probabilities: each value's magnitude times the line's gain, at most 1,
    with the value's sign."""
    sign = tl.where(values > 0, 1.0, tl.where(values < 0, -1.0, 0.0))
    return tl.minimum(mag * line_gain, 1.0) * sign


@triton.jit
def _step_params(pe, stride_pp, mask):
    """The constant-step parameter planes at ``pe``: steps up and down, then the bounds."""
    s_up = tl.load(pe + 0 * stride_pp, mask=mask, other=0.0)
    s_down = tl.load(pe + 1 * stride_pp, mask=mask, other=0.0)
    w_max = tl.load(pe + 2 * stride_pp, mask=mask, other=0.0)
    w_min = tl.load(pe + 3 * stride_pp, mask=mask, other=0.0)
    return s_up, s_down, w_max, w_min


@triton.jit
def _line_done(w_ptrs, w, ok, total, cells_ptr, count_ptr, rm, rn, n_in,
               COUNT_CELLS: tl.constexpr):
    """A line's weights stored, its pulses added to the wear and to the count."""
    tl.store(w_ptrs, w, mask=ok)
    if COUNT_CELLS:
        c_ptrs = cells_ptr + rm * n_in + rn
        tl.store(c_ptrs, tl.load(c_ptrs, mask=ok, other=0) + total, mask=ok)
    tl.atomic_add(count_ptr, tl.sum(total.to(tl.int64), axis=0))


@triton.jit
def _one_hot_tile(w_ptr, p_ptr, x_ptr, d_ptr, bl_ptr, count_ptr, seed_ptr, cells_ptr,
                  start_ptr, start, seed, offs_ptr, g_w, g_p, g_x, g_d, g_bl, g_count, g_seed,
                  g_cells, g_start, SEED_PTR: tl.constexpr, START_PTR: tl.constexpr,
                  OFFSETS: tl.constexpr):
    """A one-hot write's tile ``g = program_id(2)`` (its tensors ``g_*`` apart): its
    pointers, its seed (``OFFSETS``: the key offset at ``offs_ptr + g``) and its first
    line (read anew from ``start_ptr`` by a replayed graph: ``START_PTR``)."""
    g = tl.program_id(2).to(tl.int64)
    if OFFSETS:
        seed = tl.load(offs_ptr + g)
    seed0 = _seed_of(seed_ptr + g * g_seed, seed, SEED_PTR)
    first = _start_of(start_ptr + g * g_start, start, START_PTR)
    return (w_ptr + g * g_w, p_ptr + g * g_p, x_ptr + g * g_x, d_ptr + g * g_d,
            bl_ptr + g * g_bl, count_ptr + g * g_count, cells_ptr + g * g_cells, seed0, first)


@triton.jit(do_not_specialize=["seed", "start"])
def _one_hot_lines_kernel(
    w_ptr, p_ptr, x_ptr, d_ptr, bl_ptr, count_ptr, seed_ptr, cells_ptr, start_ptr,
    start, n_out, n_in, k, n_chunks, max_len,
    stride_wm, stride_wn, stride_pp, stride_pm, stride_pn,
    stride_xk, stride_xn, stride_dk, stride_dm, stride_bl,
    seed, noise_std, offs_ptr, g_w, g_p, g_x, g_d, g_bl, g_count, g_seed, g_cells, g_start,
    COLUMNS: tl.constexpr, NOISE: tl.constexpr, SEED_PTR: tl.constexpr,
    START_PTR: tl.constexpr, NATIVE: tl.constexpr,
    COUNT_CELLS: tl.constexpr, OFFSETS: tl.constexpr, BLOCK: tl.constexpr,
    SKIP_IDLE: tl.constexpr = False,
):
    """Constant steps on one-hot rows (a transfer's line writes, lines distinct within a
    pass): program ``(i, block)`` takes ``BLOCK`` elements of row i's line - column ``(start
    + i) % n_in`` (``COLUMNS``) or row ``(start + i) % n_out`` - and nothing else, where the
    block kernel's programs would each scan every row for the few they touch. More rows
    than lines (passes after passes: row ``b`` and ``b + width`` write the same line) are
    the single-pass calls in turn: the program walks its rows ``i, i + width, ..`` in order,
    pass ``r`` under its own seed (``_pass_seed``) and keyed by ``i``, its place in the
    pass. It draws the words of its elements' lines and of the one-hot line itself, as
    ``_line_words_kernel`` draws them (``_draw_word``: the same counters, so the same bits;
    no words kernel before it), and per element does the block kernel's sparse-row
    arithmetic and draws (``_normal1`` keyed by element and row), so the weights come out
    the same. It adds its pulses to ``count_ptr``, which the caller has zeroed.

    A group of tiles (a grid's transfers): tile ``g = program_id(2)`` finds its tensors
    ``g_*`` apart and, ``OFFSETS``, its seed's key offset at ``offs_ptr + g``: each tile
    written as its own call writes it.

    ``SKIP_IDLE`` (``SKIP_IDLE_LINES``): a program whose rows all have trains of length 0
    returns before it loads its line (a line without a pulse: weights, wear and count stay
    as they are, as the full walk leaves them), e.g. mixed precision's rows of chi where no
    element reached a whole step."""
    i = tl.program_id(0)
    w_ptr, p_ptr, x_ptr, d_ptr, bl_ptr, count_ptr, cells_ptr, seed0, first = _one_hot_tile(
        w_ptr, p_ptr, x_ptr, d_ptr, bl_ptr, count_ptr, seed_ptr, cells_ptr, start_ptr, start,
        seed, offs_ptr, g_w, g_p, g_x, g_d, g_bl, g_count, g_seed, g_cells, g_start,
        SEED_PTR, START_PTR, OFFSETS)
    first += i
    span = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    rm, rn, ok, width, one_line, line_lines = _one_hot_line(first, span, n_out, n_in, COLUMNS)
    if SKIP_IDLE:
        busy = tl.zeros((), tl.int32)  # the trains' slots, as _one_hot_draw bounds them
        for r in range(0, tl.cdiv(k - i, width)):
            busy += tl.minimum(tl.load(bl_ptr + (r * width + i) * stride_bl).to(tl.int32),
                               max_len)
        if busy == 0:
            return
    runs = tl.cdiv(k, width)
    # the line's elements, the same in every pass: weights and counts stay in registers
    w_ptrs, w, s_up, s_down, w_max, w_min = _line_cells(
        w_ptr, p_ptr, rm, rn, ok, stride_wm, stride_wn, stride_pp, stride_pm, stride_pn)
    total = tl.zeros((BLOCK,), tl.int32)
    for r in range(0, tl.cdiv(k - i, width)):
        seed_r = _pass_seed(seed0, r, runs, SEED_PTR)
        counts, up, xi = _one_hot_draw(
            x_ptr, d_ptr, bl_ptr, r * width + i, i, seed_r, rm, rn, ok, one_line, line_lines,
            n_in, n_chunks, max_len, stride_xk, stride_xn, stride_dk, stride_dm, stride_bl,
            BLOCK, COLUMNS, NOISE, NATIVE)
        w = _constant_row(w, counts, up, s_up, s_down, w_min, w_max, xi, noise_std, NOISE)
        total += counts
    _line_done(w_ptrs, w, ok, total, cells_ptr, count_ptr, rm, rn, n_in, COUNT_CELLS)


# ---- one-hot columns, many lines a program -------------------------------------------
# ``_one_hot_lines_kernel``'s program holds one line; a transfer's line of A is a column
# (chopped, AGAD: ``COLUMNS``), so its weights and the four parameter planes are loaded and
# stored one element per row, 2 KB apart: each 4-byte element a 32-byte sector of its
# own, the same sector fetched again by the programs of its seven neighbours, which run on
# other SMs. At 784-4096-4096-10, batch 256 that is 256 of 512 columns of each of 88 tiles
# a step: ~3 MB of a tile's weights and planes (six accesses an element) moved as ~25 MB
# of sectors, 2 GB a step over the 80 wide tiles (CPU estimate, benchmarks/RESULTS.md). The wide
# kernel's program takes ``LINES`` consecutive columns x ``BLOCK_R`` rows instead, so a
# row's columns are loaded side by side; each element's draws, arithmetic and order are
# ``_one_hot_lines_kernel``'s, so its weights, counts and wear are the same bit for bit.
WIDE_LINES = True  # one H100, 2026-12-07: 4096-wide chopped batch 4.41 -> 3.71x fp (RESULTS)
WIDE_LINES_BLOCK = 32  # columns (lines) of a wide program's block
# Its blocks ``WIDE_SHORT_BLOCK_R`` rows tall, where they were 32 (timed against those on one
# H100, 2026-12-07 09:00, ``bench_switches wide-short``, then the switch
# ``WIDE_SHORT_BLOCKS``: 784-4096-4096-10 chopped `batch` 2.69x -> 2.46x fp, agad 2.78x ->
# 2.50x). A 32 x 32 block on 4 warps is 8 elements a thread,
# each its own Philox draws, normal and clip: 238 registers a thread (ptxas, sm_90, with
# cycle noise), 2 programs (8 warps) an SM, each waiting on its loads in turn with little to
# hide them: one H100, 2026-12-07, graph-replayed 784-4096-4096-10 chopped `batch` step:
# 391 us for the 64 tiles' 256 columns (~300 MB: ~0.1 ms at 3 TB/s), the step's last
# kernel. 8 rows: 2 elements a thread, 80 registers. The same numbers (each element's draws
# and arithmetic are its own; the counts' integer sums in another order).
WIDE_SHORT_BLOCK_R = 8
# ``WIDE_QUAD_BLOCKS`` (off until a GPU times it; ``bench_switches`` ``wide-quad``, with the
# lean transfer writes ``lean-quad``): blocks of ``WIDE_QUAD_BLOCK_R`` rows, 4 elements a
# thread, between the 8 (238 registers, slow) and the 2 of ``WIDE_SHORT_BLOCK_R``. Counted on
# the PTX for sm_90 (2026-12-07, 512 x 512 tiles, 256 columns, cycle noise, keyed seeds): a
# thread's one-hot side (the column's bits: one Philox call a group, whatever its elements)
# and its pass's set-up are shared by more elements: 459 -> 360 PTX instructions an element
# (mul.hi 28.5 -> 23.2: Philox), 80 -> 156 registers (0 spills), so 3 programs of 4 warps an
# SM instead of 6. The kernel is ~0.19 ms a step (profile 0.27 ms / ~1.4) against ~0.12 ms
# of bytes; its ~1,000 PTX instructions a thread for 2 elements are ~160 M warp
# instructions a step, ~0.18 ms at one a scheduler a clock: ISSUE-BOUND if that estimate
# holds, then ESTIMATE ~-20 % (-40 us a step); latency-bound at half the warps, slower (as
# the 8-element blocks were). Only a GPU tells. The same numbers (each element's draws and
# arithmetic its own; the counts' integer sums in another order).
WIDE_QUAD_BLOCKS = False
WIDE_QUAD_BLOCK_R = 16


@triton.jit
def _wide_block(first, k, n_out, n_in, BLOCK_R: tl.constexpr, LINES: tl.constexpr):
    """A wide program's block: places ``c * LINES ..`` of the pass (``_one_hot_lines_kernel``'s
    i, one a column ``(first + place) % n_in``) x rows ``r * BLOCK_R ..``, what is in range,
    the passes and the Philox counters' line numbers."""
    place0 = tl.program_id(0) * LINES
    place = place0 + tl.arange(0, LINES)
    rn = (first + place) % n_in
    rm = tl.program_id(1) * BLOCK_R + tl.arange(0, BLOCK_R)
    lines_ok = place < tl.minimum(k, n_in)
    ok = (rm < n_out)[:, None] & lines_ok[None, :]
    runs = tl.cdiv(k, n_in)
    one_line = rn.to(tl.uint32)
    line_lines = (n_in + rm).to(tl.uint32)[:, None]
    return place0, place, rn, rm, lines_ok, ok, runs, one_line, line_lines, place.to(tl.uint32)


@triton.jit
def _wide_pass(x_ptr, d_ptr, bl_ptr, lg_ptr, g_lg, seed0, r, runs, place, rm, rn, ok,
               lines_ok, one_line, line_lines, places, n_in, k, n_chunks, max_len,
               stride_xk, stride_dk, stride_dm, stride_xn, stride_bl,
               SEED_PTR: tl.constexpr, NATIVE: tl.constexpr, STEPS8: tl.constexpr,
               BLOCK_R: tl.constexpr, LINES: tl.constexpr, SURE: tl.constexpr):
    """Pass ``r`` of a wide program's block: its seed, the cells' counts (0 out of range)
    and directions, the words drawn as ``_line_words_kernel`` draws them (``SURE``: only
    where a cell of the block needs a draw, ``_sure_bits``: the same words)."""
    seed_r = _pass_seed(seed0, r, runs, SEED_PTR)
    b = r * n_in + place
    here = lines_ok & (b < k)
    one_p = tl.load(x_ptr + b * stride_xk + rn * stride_xn, mask=here, other=0.0)
    if STEPS8:  # (the transfer write's _line_probs on its values and gain)
        v = tl.load(d_ptr + b[None, :] * stride_dk + rm[:, None] * stride_dm,
                    mask=ok & here[None, :], other=0).to(tl.float32)
        gain = tl.load(lg_ptr + tl.program_id(2).to(tl.int64) * g_lg + b, mask=here,
                       other=0.0)
        line_p = _line_probs(v, tl.abs(v), gain[None, :])
    else:
        line_p = tl.load(d_ptr + b[None, :] * stride_dk + rm[:, None] * stride_dm,
                         mask=ok & here[None, :], other=0.0)
    length = tl.minimum(tl.load(bl_ptr + b * stride_bl, mask=here, other=0).to(tl.int32),
                        max_len)
    one_pa = tl.abs(one_p)
    line_pa = tl.abs(line_p)
    counts = tl.zeros((BLOCK_R, LINES), tl.int32)
    for c in range(0, n_chunks):
        n_groups = tl.minimum(tl.maximum(tl.cdiv(tl.max(length, axis=0) - c * 32, 4), 0), 8)
        t_ok = length - c * 32
        line_c0 = line_lines + places[None, :] * 0
        line_c2 = places[None, :] + line_lines * 0
        if SURE:
            one = _sure_bits(seed_r, one_line, places, c, one_pa, t_ok, n_groups)
            line = _sure_bits(seed_r, line_c0, line_c2, c, line_pa, t_ok[None, :], n_groups)
        else:
            one = _draw_bits(seed_r, one_line, places, c, one_pa, t_ok, n_groups)
            line = _draw_bits(seed_r, line_c0, line_c2, c, line_pa, t_ok[None, :], n_groups)
        counts += _popcount(one[None, :] & line, NATIVE)
    counts = tl.where(ok & here[None, :], counts, 0)
    up = (line_p < 0.0) != (one_p < 0.0)[None, :]
    return seed_r, counts, up


@triton.jit(do_not_specialize=["seed", "start"])
def _one_hot_wide_kernel(
    w_ptr, p_ptr, x_ptr, d_ptr, bl_ptr, count_ptr, seed_ptr, cells_ptr, start_ptr,
    start, n_out, n_in, k, n_chunks, max_len,
    stride_wm, stride_wn, stride_pp, stride_pm, stride_pn,
    stride_xk, stride_xn, stride_dk, stride_dm, stride_bl,
    seed, noise_std, offs_ptr, g_w, g_p, g_x, g_d, g_bl, g_count, g_seed, g_cells, g_start,
    NOISE: tl.constexpr, SEED_PTR: tl.constexpr, START_PTR: tl.constexpr,
    NATIVE: tl.constexpr, COUNT_CELLS: tl.constexpr, OFFSETS: tl.constexpr,
    BLOCK_R: tl.constexpr, LINES: tl.constexpr, lg_ptr=None, g_lg=0,
    STEPS8: tl.constexpr = False, SURE: tl.constexpr = False, ONE_PASS: tl.constexpr = False,
):
    """``_one_hot_lines_kernel`` on columns (x one-hot), program ``(c, r, g)`` holding
    places ``c * LINES ..`` of the pass (columns ``(start + place) % n_in``) x rows ``r *
    BLOCK_R ..`` of tile ``g``: each column walks its passes as that kernel's program does
    (a column with fewer passes is masked in the last), every element drawn and stepped as
    there. ``STEPS8`` (``transfer_write_cuda.INT8_STEPS``): ``d`` holds int8 values and
    ``lg_ptr`` a gain a row (``LineSteps``), made into the write's probabilities here.
    ``SURE`` (``SURE_PULSES``; ``ONE_PASS``: ``k <= n_in``): ``_sure_block``."""
    w_ptr, p_ptr, x_ptr, d_ptr, bl_ptr, count_ptr, cells_ptr, seed0, first = _one_hot_tile(
        w_ptr, p_ptr, x_ptr, d_ptr, bl_ptr, count_ptr, seed_ptr, cells_ptr, start_ptr, start,
        seed, offs_ptr, g_w, g_p, g_x, g_d, g_bl, g_count, g_seed, g_cells, g_start,
        SEED_PTR, START_PTR, OFFSETS)
    place0, place, rn, rm, lines_ok, ok, runs, one_line, line_lines, places = _wide_block(
        first, k, n_out, n_in, BLOCK_R, LINES)
    if SURE:
        _sure_block(w_ptr, p_ptr, x_ptr, d_ptr, bl_ptr, lg_ptr, g_lg, count_ptr, cells_ptr,
                    seed0, place0, place, rn, rm, lines_ok, ok, runs, one_line, line_lines,
                    places, n_in, k, n_chunks, max_len, stride_wm, stride_wn, stride_pp,
                    stride_pm, stride_pn, stride_xk, stride_xn, stride_dk, stride_dm, stride_bl,
                    noise_std, NOISE, SEED_PTR, NATIVE, COUNT_CELLS, STEPS8, BLOCK_R, LINES,
                    ONE_PASS)
        return
    w_ptrs, w, s_up, s_down, w_max, w_min = _line_cells(
        w_ptr, p_ptr, rm[:, None], rn[None, :], ok, stride_wm, stride_wn, stride_pp,
        stride_pm, stride_pn)
    total = tl.zeros((BLOCK_R, LINES), tl.int32)
    for r in range(0, tl.cdiv(k - place0, n_in)):
        seed_r, counts, up = _wide_pass(
            x_ptr, d_ptr, bl_ptr, lg_ptr, g_lg, seed0, r, runs, place, rm, rn, ok, lines_ok,
            one_line, line_lines, places, n_in, k, n_chunks, max_len, stride_xk, stride_dk,
            stride_dm, stride_xn, stride_bl, SEED_PTR, NATIVE, STEPS8, BLOCK_R, LINES, False)
        xi = 0.0
        if NOISE:
            xi = _normal1(seed_r, (rm[:, None] * n_in + rn[None, :]).to(tl.uint32),
                          place[None, :], NATIVE)
        w = _constant_row(w, counts, up, s_up, s_down, w_min, w_max, xi, noise_std, NOISE)
        total += counts
    tl.store(w_ptrs, w, mask=ok)
    if COUNT_CELLS:
        c_ptrs = cells_ptr + rm[:, None] * n_in + rn[None, :]
        tl.store(c_ptrs, tl.load(c_ptrs, mask=ok, other=0) + total, mask=ok)
    tl.atomic_add(count_ptr, tl.sum(tl.sum(total.to(tl.int64), axis=1), axis=0))


# ``SURE_PULSES`` (off until a GPU times it; ``bench_switches`` ``sure-pulses``, with the
# lean transfer writes ``lean-sure``): the wide kernel's blocks as ``_sure_block`` (its
# ``SURE``). Chopped's and AGAD's transfers (defaults: lr = granularity, desired_bl 1, no
# update management, max_steps 1) write probabilities that are exactly 0 or 1 on both
# sides: the one-hot side's gain sqrt(lr / (granularity bl)) = 1, the line's |whole steps|
# <= 1 times 1. Philox's uniforms lie in [0, 1) (``uint_to_uniform_float``), so such a bit
# is certain: set for every slot of the train where |p| >= 1, clear where p = 0. The wide
# kernel still draws each: SASS for sm_90 (8 x 32 blocks, keyed seeds, cycle noise, trains
# of a slot: one chunk, one slot group), 888 instructions a thread (2 cells), of which the
# group's draw loops - a Philox call for the column's bit, one for each cell's - are ~260,
# with 80 registers (6 programs an SM). ``_sure_block`` draws a slot group only where a cell of
# its block has 0 < |p| < 1 (their bits as drawn, the others' certain: the same words):
# ~260 fewer instructions a thread, 50 registers (10 programs an SM). Then, counts known,
# a block without a pulse returns (4 B a cell read: the line's probabilities) and a block
# with some loads, steps and stores only the pulsing cells' weights, planes and wear (masked;
# the cycle noise's normal drawn only in blocks with a pulse) - the same C, wear and counts
# bit for bit (a cell without pulses keeps its weight; more passes than lines count first,
# then walk in order counting again). How many cells pulse: the bench's own set-up on the
# CPU (chopped `batch`, 784-512-512-10, b256, first epoch; RESULTS 2026-12-08 chopwide):
# ~70 % of a transfer's cells and every 8 x 32 block, so the masks save no bytes there and
# the gain is the draws'. ESTIMATE (784-4096-4096-10 b256, one H100 profile of today: the
# wide kernel 200 + 57 + 13 us a step, ~2x its ~36 B a cell at 3 TB/s, issue-bound by the
# QUAD note's count): ~30 % fewer instructions and more warps to hide the loads, 270 ->
# ~180-190 us a step, ~-80 us of chopped's/AGAD's ~2.0 ms step (~-0.09x fp; the transfer
# chain ends the step, on its critical path). No gain where probabilities are fractional
# (UM, UBM, lr != granularity: the same draws; more passes than lines draw twice).
# With ``WIDE_QUAD_BLOCKS`` (``sure-quad``: 16 rows, 4 cells a thread share the column's
# loads, seeds and keys): 1,352 static, ~940 entered, ~235 a cell against ~330 at 8 rows
# and the wide kernel's ~444, 79 registers (the wide kernel's occupancy of today).
SURE_PULSES = False


@triton.jit
def _sure_bits(seed, c0, c2, chunk, prob_abs, t_ok, n_groups):
    """``_draw_bits``'s words, drawn only where a cell of the block needs them: a bit of
    probability 0 is clear and one of at least 1 set (uniforms in [0, 1)), whatever the
    draw, so where every cell's is one of those no group is drawn; the others' as drawn."""
    draw = (prob_abs > 0.0) & (prob_abs < 1.0)
    any_draw = tl.max(tl.ravel(draw.to(tl.int32)), axis=0)
    drawn = _draw_bits(seed, c0, c2, chunk, prob_abs, t_ok, n_groups * any_draw)
    slots = tl.minimum(tl.maximum(t_ok, 0), 32).to(tl.int64)
    full = ((tl.full(slots.shape, 1, tl.int64) << slots) - 1).to(tl.uint32)
    return tl.where(draw, drawn, tl.where(prob_abs >= 1.0, full, 0).to(tl.uint32))


@triton.jit
def _sure_step(w, counts, up, seed_r, rm, rn, place, n_in, s_up, s_down, w_min, w_max,
               noise_std, NOISE: tl.constexpr, NATIVE: tl.constexpr):
    """A pass's constant steps, as ``_one_hot_wide_kernel`` takes them: the cycle noise's
    normals drawn only where a cell of the block pulses (a cell without pulses keeps its
    weight whatever its normal)."""
    xi = tl.zeros(w.shape, tl.float32)
    if NOISE:
        if tl.max(tl.max(counts, axis=1), axis=0) > 0:
            xi = _normal1(seed_r, (rm[:, None] * n_in + rn[None, :]).to(tl.uint32),
                          place[None, :], NATIVE)
    return _constant_row(w, counts, up, s_up, s_down, w_min, w_max, xi, noise_std, NOISE)


@triton.jit
def _sure_block(w_ptr, p_ptr, x_ptr, d_ptr, bl_ptr, lg_ptr, g_lg, count_ptr, cells_ptr, seed0,
                place0, place, rn, rm, lines_ok, ok, runs, one_line, line_lines, places, n_in,
                k, n_chunks, max_len, stride_wm, stride_wn, stride_pp, stride_pm, stride_pn,
                stride_xk, stride_xn, stride_dk, stride_dm, stride_bl, noise_std,
                NOISE: tl.constexpr, SEED_PTR: tl.constexpr, NATIVE: tl.constexpr,
                COUNT_CELLS: tl.constexpr, STEPS8: tl.constexpr, BLOCK_R: tl.constexpr,
                LINES: tl.constexpr, ONE_PASS: tl.constexpr):
    """``_one_hot_wide_kernel``'s block under ``SURE_PULSES``, the same weights, wear and
    counts: the counts first (certain bits not drawn, ``_sure_bits``), nothing more where
    the block has no pulse, then the weights, planes and wear of the pulsing cells alone
    loaded, stepped (``_sure_step``) and stored. ``ONE_PASS``: no column has a second pass
    (``k <= n_in``), so the counts of the one pass are stepped; else each pass's counts are
    counted again in the walk (their draws are the same)."""
    if ONE_PASS:
        seed_r, total, up = _wide_pass(
            x_ptr, d_ptr, bl_ptr, lg_ptr, g_lg, seed0, 0, runs, place, rm, rn, ok, lines_ok,
            one_line, line_lines, places, n_in, k, n_chunks, max_len, stride_xk, stride_dk,
            stride_dm, stride_xn, stride_bl, SEED_PTR, NATIVE, STEPS8, BLOCK_R, LINES, True)
    else:
        total = tl.zeros((BLOCK_R, LINES), tl.int32)
        for r in range(0, tl.cdiv(k - place0, n_in)):
            _, counts, _ = _wide_pass(
                x_ptr, d_ptr, bl_ptr, lg_ptr, g_lg, seed0, r, runs, place, rm, rn, ok,
                lines_ok, one_line, line_lines, places, n_in, k, n_chunks, max_len, stride_xk,
                stride_dk, stride_dm, stride_xn, stride_bl, SEED_PTR, NATIVE, STEPS8, BLOCK_R,
                LINES, True)
            total += counts
    live = total > 0  # (in range: counts out of range are 0)
    if tl.sum(tl.sum(live.to(tl.int32), axis=1), axis=0) > 0:  # (else: no pulse, nothing)
        w_ptrs, w, s_up, s_down, w_max, w_min = _line_cells(
            w_ptr, p_ptr, rm[:, None], rn[None, :], live, stride_wm, stride_wn, stride_pp,
            stride_pm, stride_pn)
        if ONE_PASS:
            w = _sure_step(w, total, up, seed_r, rm, rn, place, n_in, s_up, s_down, w_min,
                           w_max, noise_std, NOISE, NATIVE)
        else:
            for r in range(0, tl.cdiv(k - place0, n_in)):
                seed_r, counts, up = _wide_pass(
                    x_ptr, d_ptr, bl_ptr, lg_ptr, g_lg, seed0, r, runs, place, rm, rn, ok,
                    lines_ok, one_line, line_lines, places, n_in, k, n_chunks, max_len,
                    stride_xk, stride_dk, stride_dm, stride_xn, stride_bl, SEED_PTR, NATIVE,
                    STEPS8, BLOCK_R, LINES, True)
                w = _sure_step(w, counts, up, seed_r, rm, rn, place, n_in, s_up, s_down,
                               w_min, w_max, noise_std, NOISE, NATIVE)
        tl.store(w_ptrs, w, mask=live)
        if COUNT_CELLS:
            c_ptrs = cells_ptr + rm[:, None] * n_in + rn[None, :]
            tl.store(c_ptrs, tl.load(c_ptrs, mask=live, other=0) + total, mask=live)
        tl.atomic_add(count_ptr, tl.sum(tl.sum(total.to(tl.int64), axis=1), axis=0))


# The split write's draws ``DRAW_ROW_ELEMENTS`` rows x elements a program
# (``_one_hot_draws_rows_kernel``), where a kernel of one row a program drew them before (a
# chopped step's conv tile: 131,072 rows of 16 elements, 131,072 programs of 2 warps, most
# of their lanes idle; one H100, 2026-12-07, graph-replayed ResNet chopped `batch` step:
# 155-167 us for each of its seven such tiles, 1.6 ms a step over the 26 tiles). Each
# element's bits, counts and normal as ``_one_hot_lines_kernel`` draws them (the same Philox
# counters and keys, a row's seed its pass's). Timed against one row a program on one H100
# (2026-12-07 14:58, ``bench_switches chopped-serial``, then the switch ``DRAW_ROWS``: see
# ``line_walk_cuda.RUN_BLOCK``).
DRAW_ROW_ELEMENTS = 512  # rows x elements of a program (4 a thread: 1,024 took 230 registers)


@triton.jit(do_not_specialize=["seed", "start"])
def _one_hot_draws_rows_kernel(
    x_ptr, d_ptr, bl_ptr, seed_ptr, start_ptr, sc_ptr, xi_ptr,
    start, n_out, n_in, k, n_chunks, max_len,
    stride_xk, stride_xn, stride_dk, stride_dm, stride_bl, seed,
    COLUMNS: tl.constexpr, NOISE: tl.constexpr, SEED_PTR: tl.constexpr,
    START_PTR: tl.constexpr, NATIVE: tl.constexpr, BLOCK_B: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """The draws of ``_one_hot_lines_kernel`` for many passes, every row at once,
    ``BLOCK_B`` rows a program: row ``b``'s (pass ``b // width``, place ``b % width``) words
    drawn element by element as ``_one_hot_draw`` draws them - its own pass's seed, its own
    train (a row's slots past its train are zeros whatever the block's longest train draws)
    - and the signed counts (``+n`` up, ``-n`` down) and the normals stored, ``(k, line
    length)`` each, for ``_one_hot_apply_kernel`` to apply in order."""
    seed0 = _seed_of(seed_ptr, seed, SEED_PTR)
    width = n_in if COLUMNS else n_out
    b = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    live = b < k
    b = tl.where(live, b, 0)  # rows past the last: row 0's addresses, nothing stored
    i = b % width
    first = _start_of(start_ptr, start, START_PTR) + i
    span = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    rm, rn, ok, width, one_line, line_lines = _one_hot_line(first[:, None], span[None, :],
                                                            n_out, n_in, COLUMNS)
    ok = ok & live[:, None]
    seed_r = _pass_seed(seed0, b // width, tl.cdiv(k, width), SEED_PTR)[:, None]
    rows = b[:, None]
    one_p, line_p, length = _one_hot_probs(x_ptr, d_ptr, bl_ptr, rows, rm, rn, ok, max_len,
                                           stride_xk, stride_xn, stride_dk, stride_dm,
                                           stride_bl, COLUMNS)
    place = i[:, None].to(tl.uint32)
    zero = (place * 0 + span[None, :] * 0).to(tl.uint32)
    one_pa = tl.abs(one_p)
    line_pa = tl.abs(line_p)
    counts = tl.zeros((BLOCK_B, BLOCK), tl.int32)
    for c in range(0, n_chunks):
        n_groups = tl.minimum(tl.maximum(tl.cdiv(tl.max(tl.max(length, axis=1), axis=0)
                                                 - c * 32, 4), 0), 8)
        t_ok = length - c * 32
        one = _draw_bits(seed_r, one_line.to(tl.uint32), place, c, one_pa, t_ok, n_groups)
        line = _draw_bits(seed_r, line_lines.to(tl.uint32) + zero, place + zero, c, line_pa,
                          t_ok, n_groups)
        counts += _popcount(one & line, NATIVE)
    counts = tl.where(ok, counts, 0)
    up = (line_p < 0.0) != (one_p < 0.0)
    out = rows.to(tl.int64) * (n_out if COLUMNS else n_in) + span[None, :]
    tl.store(sc_ptr + out, tl.where(up, counts, -counts), mask=ok)
    if NOISE:
        xi = _normal1(seed_r, (rm * n_in + rn).to(tl.uint32), i[:, None], NATIVE)
        tl.store(xi_ptr + out, xi, mask=ok)


@triton.jit
def _pass_values(sc_ptr, xi_ptr, r, n_pass, width, i, length, span, ok, NOISE: tl.constexpr):
    """Pass ``r``'s signed counts and normals of a line's elements (none past the last)."""
    pos = (r * width + i).to(tl.int64) * length + span
    return _counts_normals(sc_ptr, xi_ptr, pos, ok & (r < n_pass), NOISE)


@triton.jit
def _counts_normals(sc_ptr, xi_ptr, pos, here, NOISE: tl.constexpr):
    """The signed counts and (``NOISE``) normals at ``pos`` where ``here``; zeros elsewhere
    and for the normals without noise."""
    sc = tl.load(sc_ptr + pos, mask=here, other=0)
    if NOISE:
        xi = tl.load(xi_ptr + pos, mask=here, other=0.0)
    else:
        xi = tl.zeros(sc.shape, tl.float32)
    return sc, xi


# The apply's passes in trips of 16 (``_apply_trips``): a loop that handed its four passes
# ahead on from register to register each pass waited for a register's load every pass - a
# memory latency a pass (one H100, 2026-12-07, graph-replayed ResNet chopped `batch` step:
# 0.16-0.26 us a pass, 0.83 ms for conv 3->16's 4,855 passes). A trip's counts (and normals)
# are loaded during the trip before. A pass past the line's last has no counts, so it
# changes nothing. Timed against the pass-a-trip loop on one H100 (2026-12-07 14:58,
# ``bench_switches chopped-serial``, then the switch ``APPLY_TRIPS``: see
# ``line_walk_cuda.RUN_BLOCK``).


@triton.jit
def _apply_ahead4(sc_ptr, xi_ptr, r, n_pass, width, i, length, span, ok, NOISE: tl.constexpr):
    """Passes ``r .. r + 3``'s signed counts and normals (``_pass_values``)."""
    c0, x0 = _pass_values(sc_ptr, xi_ptr, r, n_pass, width, i, length, span, ok, NOISE)
    c1, x1 = _pass_values(sc_ptr, xi_ptr, r + 1, n_pass, width, i, length, span, ok, NOISE)
    c2, x2 = _pass_values(sc_ptr, xi_ptr, r + 2, n_pass, width, i, length, span, ok, NOISE)
    c3, x3 = _pass_values(sc_ptr, xi_ptr, r + 3, n_pass, width, i, length, span, ok, NOISE)
    return c0, c1, c2, c3, x0, x1, x2, x3


@triton.jit
def _apply_pass(w, total, sc, xi, s_up, s_down, w_min, w_max, noise_std, NOISE: tl.constexpr):
    """One pass of ``_one_hot_apply_kernel``: its signed counts (and normals) applied."""
    counts = tl.abs(sc)
    w = _constant_row(w, counts, sc > 0, s_up, s_down, w_min, w_max, xi, noise_std, NOISE)
    return w, total + counts


@triton.jit
def _apply_passes4(w, total, c0, c1, c2, c3, x0, x1, x2, x3, s_up, s_down, w_min, w_max,
                   noise_std, NOISE: tl.constexpr):
    """Four passes in order (``_apply_pass``)."""
    w, total = _apply_pass(w, total, c0, x0, s_up, s_down, w_min, w_max, noise_std, NOISE)
    w, total = _apply_pass(w, total, c1, x1, s_up, s_down, w_min, w_max, noise_std, NOISE)
    w, total = _apply_pass(w, total, c2, x2, s_up, s_down, w_min, w_max, noise_std, NOISE)
    return _apply_pass(w, total, c3, x3, s_up, s_down, w_min, w_max, noise_std, NOISE)


@triton.jit
def _apply_trips(sc_ptr, xi_ptr, n_pass, width, i, length, span, ok, w, total, s_up, s_down,
                 w_min, w_max, noise_std, NOISE: tl.constexpr):
    """A line's passes in trips of 16: the next trip's counts loaded
    first, then this trip's applied from the registers they were loaded into a trip before;
    only the hand-over at the trip's end waits for memory."""
    a0, a1, a2, a3, u0, u1, u2, u3 = _apply_ahead4(sc_ptr, xi_ptr, 0, n_pass, width, i,
                                                   length, span, ok, NOISE)
    b0, b1, b2, b3, v0, v1, v2, v3 = _apply_ahead4(sc_ptr, xi_ptr, 4, n_pass, width, i,
                                                   length, span, ok, NOISE)
    c0, c1, c2, c3, y0, y1, y2, y3 = _apply_ahead4(sc_ptr, xi_ptr, 8, n_pass, width, i,
                                                   length, span, ok, NOISE)
    d0, d1, d2, d3, z0, z1, z2, z3 = _apply_ahead4(sc_ptr, xi_ptr, 12, n_pass, width, i,
                                                   length, span, ok, NOISE)
    for t in range(0, tl.cdiv(n_pass, 16)):
        r = t * 16
        na0, na1, na2, na3, nu0, nu1, nu2, nu3 = _apply_ahead4(
            sc_ptr, xi_ptr, r + 16, n_pass, width, i, length, span, ok, NOISE)
        nb0, nb1, nb2, nb3, nv0, nv1, nv2, nv3 = _apply_ahead4(
            sc_ptr, xi_ptr, r + 20, n_pass, width, i, length, span, ok, NOISE)
        nc0, nc1, nc2, nc3, ny0, ny1, ny2, ny3 = _apply_ahead4(
            sc_ptr, xi_ptr, r + 24, n_pass, width, i, length, span, ok, NOISE)
        nd0, nd1, nd2, nd3, nz0, nz1, nz2, nz3 = _apply_ahead4(
            sc_ptr, xi_ptr, r + 28, n_pass, width, i, length, span, ok, NOISE)
        w, total = _apply_passes4(w, total, a0, a1, a2, a3, u0, u1, u2, u3, s_up, s_down,
                                  w_min, w_max, noise_std, NOISE)
        w, total = _apply_passes4(w, total, b0, b1, b2, b3, v0, v1, v2, v3, s_up, s_down,
                                  w_min, w_max, noise_std, NOISE)
        w, total = _apply_passes4(w, total, c0, c1, c2, c3, y0, y1, y2, y3, s_up, s_down,
                                  w_min, w_max, noise_std, NOISE)
        w, total = _apply_passes4(w, total, d0, d1, d2, d3, z0, z1, z2, z3, s_up, s_down,
                                  w_min, w_max, noise_std, NOISE)
        a0, a1, a2, a3, u0, u1, u2, u3 = na0, na1, na2, na3, nu0, nu1, nu2, nu3
        b0, b1, b2, b3, v0, v1, v2, v3 = nb0, nb1, nb2, nb3, nv0, nv1, nv2, nv3
        c0, c1, c2, c3, y0, y1, y2, y3 = nc0, nc1, nc2, nc3, ny0, ny1, ny2, ny3
        d0, d1, d2, d3, z0, z1, z2, z3 = nd0, nd1, nd2, nd3, nz0, nz1, nz2, nz3
    return w, total


@triton.jit(do_not_specialize=["start"])
def _one_hot_apply_kernel(
    w_ptr, p_ptr, count_ptr, cells_ptr, start_ptr, sc_ptr, xi_ptr,
    start, n_out, n_in, k, stride_wm, stride_wn, stride_pp, stride_pm, stride_pn, noise_std,
    COLUMNS: tl.constexpr, NOISE: tl.constexpr, START_PTR: tl.constexpr,
    COUNT_CELLS: tl.constexpr, BLOCK: tl.constexpr,
):
    """The passes of ``_one_hot_lines_kernel`` in order, their draws made before
    (``_one_hot_draws_rows_kernel``): program ``(i, block)`` keeps its line's elements in
    registers and steps through the passes as that kernel does. A pass's counts depend on
    no weight, so they are loaded ahead (in flight while the passes before them are
    applied, where each pass would otherwise wait for its own): a trip of 16 during the
    trip before (``_apply_trips``). The same weights, counts and wear."""
    i = tl.program_id(0)
    first = _start_of(start_ptr, start, START_PTR) + i
    span = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    rm, rn, ok, width, _, _ = _one_hot_line(first, span, n_out, n_in, COLUMNS)
    length = n_out if COLUMNS else n_in
    w_ptrs, w, s_up, s_down, w_max, w_min = _line_cells(
        w_ptr, p_ptr, rm, rn, ok, stride_wm, stride_wn, stride_pp, stride_pm, stride_pn)
    total = tl.zeros((BLOCK,), tl.int32)
    n_pass = tl.cdiv(k - i, width)
    w, total = _apply_trips(sc_ptr, xi_ptr, n_pass, width, i, length, span, ok, w, total,
                            s_up, s_down, w_min, w_max, noise_std, NOISE)
    _line_done(w_ptrs, w, ok, total, cells_ptr, count_ptr, rm, rn, n_in, COUNT_CELLS)


def pulsed_update_grouped_triton(weights: torch.Tensor, cell_params: torch.Tensor,
                                 x_prob: torch.Tensor, d_prob: torch.Tensor, bl: torch.Tensor,
                                 p: UpdateParams, *, seeds: torch.Tensor,
                                 cell_pulses: torch.Tensor | None = None) -> torch.Tensor:
    """``pulsed_update_grouped_torch`` in the two launches of one tile
    (:func:`pulsed_update_triton` on a group); the pulses per tile."""
    return pulsed_update_triton(weights, cell_params, x_prob, d_prob, bl, p, seed=seeds,
                                cell_pulses=cell_pulses)


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "yes", "on")


# Triton decides at decoration time (module import) whether the kernel is interpreted
_INTERPRETED = _interpreting()


def _next_pow2(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()


def _programs(device: torch.device) -> int:
    """Programs that keep every SM of ``device`` busy (two per SM); 264 without a GPU."""
    if device.type != "cuda":
        return 264
    return _sm_programs(device.index if device.index is not None else
                        torch.cuda.current_device())


@functools.cache
def _sm_programs(index: int) -> int:
    return 2 * torch.cuda.get_device_properties(index).multi_processor_count


# constant steps on dense rows take ``_listed_rows_kernel`` (False: the block kernel walks
# every row, as before it; the same weights, counts and draws - a switch to time the two)
LISTED_ROWS = True  # measured faster on one H200, 2026-12-06 23:00 UTC: benchmarks/RESULTS.md
# rows a listed-rows program lists at a time (its list's length: the scratch of a call is
# programs x this many, whatever the rows - a convolution's tile has 10**5-10**6)
LISTED_WINDOW = 128


def _listed_config(n_out: int, n_in: int) -> tuple[int, int, int]:
    """(BLOCK_M, BLOCK_N, num_warps) of ``_listed_rows_kernel``: one warp, 128 elements of
    as few output lines as the input lines allow (1 x 128 where ``n_in >= 128``). A block
    works the rows where one of its output lines and one of its input lines fire, every
    element of it, so the fewer lines a block has on the sparser side the fewer rows it
    works; output lines fire less often in training (784-4096-4096-10 at batch 256: 1.6-2.7
    % of them in a row against 6-8 % of the input lines). One warp: a block's row skip is
    a warp's branch, and what Triton passes through shared memory needs no wait on other
    warps (wider blocks of 4 output lines and 4-8 warps put barriers in the row loop, seen
    in the sm_90 SASS)."""
    block_n = min(128, _next_pow2(n_in))
    return min(_next_pow2(n_out), max(1, 128 // block_n)), block_n, 1


def _default_config(n_out: int, n_in: int, loop: bool = True,
                    programs: int = 264, noise: bool = False) -> tuple[int, int, int]:
    """(BLOCK_M, BLOCK_N, num_warps), from a sweep on an H100 (benchmarks/).

    ``loop``: the pulses run one by one (a state-dependent cell): small blocks of four
    elements per thread, so the block's largest count - the loop's length - stays close to
    the typical one. The closed form of constant steps takes larger blocks where the grid
    still has ``programs`` programs, else halves them (down to 16x32): the rows run in
    order within a program, so a small grid leaves SMs idle while its few programs walk
    all ``k`` rows (the line bits are drawn once per line, so small blocks cost no
    redraws). With ``noise`` constant steps keep 16x32 blocks too: four normals per element
    held across rows need the registers (on an H200, 4096x4096 at k=256: 10.9 ms at 16x32
    against 13.6 ms at 32x64).
    """
    block_m, block_n, num_warps = (16, 32, 4) if loop or noise else (32, 64, 8)
    if not loop:
        while (block_m * block_n > 512
               and triton.cdiv(n_out, block_m) * triton.cdiv(n_in, block_n) < programs):
            if block_n > block_m:
                block_n //= 2
            else:
                block_m //= 2
            num_warps = max(4, num_warps // 2)
    block_m = min(block_m, _next_pow2(n_out))
    block_n = min(block_n, _next_pow2(n_in))
    num_warps = max(1, min(num_warps, block_m * block_n // 128))
    return block_m, block_n, num_warps


def pulsed_update_triton(weight: torch.Tensor, cell_params: torch.Tensor, x_prob: torch.Tensor,
                         d_prob: torch.Tensor, bl: torch.Tensor, p: UpdateParams, *,
                         seed: int | torch.Tensor | seeds.KeyedSeed,
                         x_bits: torch.Tensor | None = None,
                         d_bits: torch.Tensor | None = None,
                         block_m: int | None = None, block_n: int | None = None,
                         num_warps: int | None = None,
                         cell_pulses: torch.Tensor | None = None,
                         row_chunk: int | None = None,
                         one_hot: tuple[int | torch.Tensor, bool] | None = None,
                         add_to: torch.Tensor | None = None) -> torch.Tensor:
    """Apply ``k`` rank-1 pulse trains to ``weight`` in place in one launch.

    Same arguments and meaning as ``pulsed_update_torch``; ``seed`` (taken mod 2**32) keys
    the in-kernel draws: an int, or an integer tensor of one element on the device, which
    the kernel reads (no host sync; a captured CUDA graph sees its new value each replay),
    or a ``seeds.KeyedSeed`` (an array's call counter on the device), derived in-kernel.
    ``p.max_bl``: an upper bound of ``bl`` (e.g. ``desired_bl``); when left out it is read
    from ``bl``, which waits for the device. Rows longer than ``max_bl`` are cut to
    ``ceil(max_bl / 32) * 32`` slots (31 where ``max_bl <= 31``). ``block_m``/``block_n``/
    ``num_warps`` override the launch shape. ``p.sparse_rows``: each row has coincidences on
    few lines (one-hot writes of a transfer): constant-step blocks skip the rows they see
    none of, as state-dependent cells always do (a first pass over the words finds them).
    ``cell_pulses``: an optional contiguous int32 ``(out, in)`` counter on the device that
    each element's pulses are added to, in the kernel (no host sync). ``p.cell.table``: the
    table cell's ``(2, K)`` knots on the device. ``row_chunk``: constant and linear steps
    with dense rows walk their rows in chunks of this many, in parallel (module doc); by
    default only where the cell blocks are too few to fill the GPU (a convolution's tile).
    ``one_hot``: ``(start, columns)`` where row b is one-hot at the distinct line ``(start +
    b) % width`` of the x side (``columns``) or the d side (a transfer's write; ``start`` a
    host int or a 0-dim device tensor): constant steps then take a kernel over those lines
    alone (``_one_hot_lines_kernel``: one launch, its words drawn in it; the same weights
    as the block kernel). More rows than lines (a chopped step's transfers: pass after
    pass, row ``b + width`` on row ``b``'s line) are the single-pass calls in turn, pass
    ``r`` under its own seed (``_pass_seed``: a ``KeyedSeed``'s counter has counted one
    call per pass); the block kernel (other cells) takes the rows in order under one seed.
    Returns the number of pulses applied (0-dim int64 tensor on
    ``weight.device``), or ``add_to`` (a 0-dim int64 tensor there, one tile) with them
    added in the kernels: a running count (a tile's), or a fresh one that a kernel before
    set to 0 (a transfer's write kernel): no launch to zero or to sum one.

    A group of equal tiles (``pulsed_update_grouped_torch``): ``weight`` ``(tiles, out,
    in)``, ``cell_params`` ``(tiles, P, out, in)``, trains ``(tiles, k, .)`` and ``(tiles,
    k)``, ``seed`` ``(tiles,)`` on the device, ``cell_pulses`` like ``weight``: the two
    launches of one tile for all (no given bits, no rows in chunks), tile ``g`` updated as
    its own call with ``seed[g]`` updates it; the pulses per tile ``(tiles,)``.
    """
    cell_kind, noise_std, mult_noise, cell_scalars, cell_table = p.cell
    max_bl, sparse_rows = p.max_bl, p.sparse_rows
    grouped = weight.dim() == 3
    if grouped and (x_bits is not None or not isinstance(seed, torch.Tensor)):
        raise ValueError("a group of tiles takes drawn trains and one seed per tile")
    tiles = weight.shape[0] if grouped else 1
    scalars = check_cell(cell_kind, cell_params[0] if grouped else cell_params, cell_scalars,
                         cell_table)
    if weight.dim() != (3 if grouped else 2) or weight.dtype != torch.float32:
        raise ValueError("weight must be a 2-d float32 tensor")
    n_out, n_in = weight.shape[-2:]
    k = x_prob.shape[-2]
    if tuple(x_prob.shape[-2:]) != (k, n_in) or tuple(d_prob.shape[-2:]) != (k, n_out):
        raise ValueError(f"x_prob {tuple(x_prob.shape)} / d_prob {tuple(d_prob.shape)} do not "
                         f"match weight {tuple(weight.shape)}")
    if tuple(cell_params.shape[-2:]) != (n_out, n_in):
        raise ValueError("cell_params must be (P, out, in) like weight")
    if n_out * n_in >= 2**32:
        raise ValueError("at most 2**32 - 1 weight elements per launch")
    bl = bl.reshape(tiles, -1)
    if bl.shape[1] != k:
        raise ValueError(f"bl must have {k} entries, got {bl.shape[1]}")
    if (x_bits is None) != (d_bits is None):
        raise ValueError("give both x_bits and d_bits, or neither")
    if cell_pulses is not None and (cell_pulses.dtype != torch.int32
                                    or cell_pulses.shape != weight.shape
                                    or not cell_pulses.is_contiguous()
                                    or cell_pulses.device != weight.device):
        raise ValueError("cell_pulses must be a contiguous int32 tensor shaped like weight")
    if max_bl is None and k > 0:
        max_bl = int(bl.max())
    shape = (tiles,) if grouped else ()
    if add_to is not None and (grouped or add_to.shape != () or add_to.dtype != torch.int64
                               or add_to.device != weight.device):
        raise ValueError("add_to must be a 0-dim int64 tensor on the weight's device")
    if k == 0 or weight.numel() == 0 or max_bl <= 0:
        if add_to is not None:
            return add_to
        return torch.zeros(shape, dtype=torch.int64, device=weight.device)
    # the words kernel zeroes a fresh count; the update's kernels add to it (or to add_to)
    counter = torch.empty(shape, dtype=torch.int64, device=weight.device) \
        if add_to is None else add_to
    if not grouped:  # the group of one
        weight, cell_params, x_prob, d_prob = (weight[None], cell_params[None], x_prob[None],
                                               d_prob[None])

    x_prob = x_prob.to(torch.float32)
    d_prob = d_prob.to(torch.float32)
    cell_params = cell_params.to(torch.float32)
    given = x_bits is not None
    if given:
        if x_bits.dtype == torch.bool:
            x_bits = x_bits.to(torch.uint8)
        if d_bits.dtype == torch.bool:
            d_bits = d_bits.to(torch.uint8)
        xb, db = x_bits, d_bits
        sxb, sdb = x_bits.stride(), d_bits.stride()
    else:  # unused pointers
        xb, db = x_prob, d_prob
        sxb = sdb = (0, 0, 0)

    loop = int(cell_kind) != CELL_CONSTANT
    bounded = loop or bool(sparse_rows)
    cfg = _default_config(n_out, n_in, loop=bounded,
                          programs=_programs(weight.device) // tiles,
                          noise=float(noise_std) > 0.0)
    bm = block_m or cfg[0]
    bn = block_n or cfg[1]
    nw = num_warps or cfg[2]
    grid = (triton.cdiv(n_out, bm), triton.cdiv(n_in, bn))
    n_chunks = triton.cdiv(int(max_bl), 32)
    seed_ptr, seed_int, seed_mode = seed_arguments(seed, counter, weight.device, tiles)

    # phase 1, once per line: the packed words of every line, row and chunk (trains of at
    # most 31 slots carry the line's sign in bit 31: the update loads nothing else per row)
    sign_bit = int(max_bl) <= 31
    if one_hot is not None and not loop and not grouped and not given:  # draws its words
        if add_to is None:
            counter = torch.zeros(shape, dtype=torch.int64, device=weight.device)
        _one_hot_lines(weight[0], cell_params[0], x_prob[0], d_prob[0], bl[0], counter,
                       seed_ptr, seed_int, cell_pulses, one_hot, k=k, n_chunks=n_chunks,
                       max_len=n_chunks * 32 - sign_bit, noise_std=noise_std,
                       seed_mode=seed_mode)
        return counter
    n_lines = n_in + n_out
    linear = int(cell_kind) == CELL_LINEAR
    rows = k
    if (not loop or linear) and not sparse_rows and not grouped:  # few cells, many rows
        rows = _row_chunks(k, grid[0] * grid[1], _programs(weight.device), row_chunk)
    # constant steps on dense rows: only the rows with coincidences in a block (module doc)
    listed = LISTED_ROWS and not bounded and rows == k
    words = torch.empty(tiles, n_chunks * k * n_lines, dtype=torch.int32, device=weight.device)
    if listed:
        n_masks = k * (triton.cdiv(n_in, 32) + triton.cdiv(n_out, 32))
        masks = torch.empty(tiles, n_masks, dtype=torch.int32, device=weight.device)
        block_l = max(32, min(128, _next_pow2(max(n_in, n_out))))
        l_grid = triton.cdiv(n_in, block_l) + triton.cdiv(n_out, block_l)
    else:
        masks = words  # unused
        block_l = min(128, _next_pow2(n_lines))
        l_grid = triton.cdiv(n_lines, block_l)
    _line_words_kernel[(l_grid, triton.cdiv(k, 8), tiles)](
        words, x_prob, d_prob, bl, xb, db, seed_ptr, counter, masks,
        n_out, n_in, k, n_chunks,
        x_prob.stride(1), x_prob.stride(2), d_prob.stride(1), d_prob.stride(2), bl.stride(1),
        x_prob.stride(0), d_prob.stride(0), bl.stride(0), words.stride(0), masks.stride(0),
        sxb[0], sxb[1], sxb[2], sdb[0], sdb[1], sdb[2],
        seed_int,
        GIVEN_BITS=given, SEED_PTR=seed_mode, SIGN_BIT=sign_bit, ZERO=add_to is None,
        BLOCK_R=8, BLOCK_L=block_l, MASKS=listed,
        num_warps=max(1, min(8, 8 * block_l // 128)),
    )
    if listed:
        lbm, lbn, lnw = _listed_config(n_out, n_in)
        lbm, lbn, lnw = block_m or lbm, block_n or lbn, num_warps or lnw
        l_grid = (triton.cdiv(n_out, lbm), triton.cdiv(n_in, lbn))
        window = min(LISTED_WINDOW, _next_pow2(max(k, 32)))
        row_list = torch.empty(tiles * l_grid[0] * l_grid[1] * window, dtype=torch.int32,
                               device=weight.device)
        _listed_rows_kernel[(*l_grid, tiles)](
            weight, cell_params, x_prob, d_prob, words, masks, counter, row_list, seed_ptr,
            counter if cell_pulses is None else cell_pulses,
            n_out, n_in, k, n_chunks, 1,
            weight.stride(1), weight.stride(2),
            cell_params.stride(1), cell_params.stride(2), cell_params.stride(3),
            x_prob.stride(1), x_prob.stride(2), d_prob.stride(1), d_prob.stride(2),
            weight.stride(0), cell_params.stride(0), x_prob.stride(0), d_prob.stride(0),
            words.stride(0), masks.stride(0), seed_int, float(noise_std),
            NOISE=float(noise_std) > 0.0, SEED_PTR=seed_mode, NATIVE=not _INTERPRETED,
            SIGN_BIT=sign_bit, COUNT_CELLS=cell_pulses is not None,
            BLOCK_M=lbm, BLOCK_N=lbn, ROW_BLOCK=32, WINDOW=window, num_warps=lnw,
        )
        return counter
    if rows < k:
        weight, cell_params, x_prob, d_prob = weight[0], cell_params[0], x_prob[0], d_prob[0]
        _rows_split(weight, cell_params, x_prob, d_prob, words[0], counter, seed_ptr,
                    seed_int, cell_pulses, linear=linear, k=k, n_chunks=n_chunks,
                    noise_std=noise_std, mult_noise=mult_noise,
                    seed_mode=seed_mode, native=not _INTERPRETED,
                    sign_bit=sign_bit, rows_per_chunk=rows, block_m=bm, block_n=bn,
                    num_warps=nw)
        return counter
    # per program, a bound per row (state-dependent cells, or rows said to be one-hot)
    scratch = torch.empty(tiles * grid[0] * grid[1] * k * (2 if sparse_rows else 1)
                          if bounded else 1, dtype=torch.int32, device=weight.device)
    _pulsed_update_kernel[(*grid, tiles)](
        weight, cell_params, x_prob, d_prob, words, counter, scratch, seed_ptr,
        counter if cell_pulses is None else cell_pulses,
        *knot_table(cell_table, cell_params),
        n_out, n_in, k, n_chunks,
        weight.stride(1), weight.stride(2),
        cell_params.stride(1), cell_params.stride(2), cell_params.stride(3),
        x_prob.stride(1), x_prob.stride(2), d_prob.stride(1), d_prob.stride(2),
        weight.stride(0), cell_params.stride(0), x_prob.stride(0), d_prob.stride(0),
        words.stride(0), seed_int, float(noise_std),
        *scalars,
        CELL_KIND=int(cell_kind), NOISE=float(noise_std) > 0.0, MULT_NOISE=bool(mult_noise),
        SEED_PTR=seed_mode, NATIVE=not _INTERPRETED, SIGN_BIT=sign_bit,
        SPARSE_ROWS=bool(sparse_rows), HAS_BOUND=bounded,
        BLOCK_M=bm, BLOCK_N=bn, ROW_BLOCK=8, COUNT_CELLS=cell_pulses is not None,
        num_warps=nw,
    )
    return counter


def _one_hot_lines(weight, cell_params, x_prob, d_prob, bl, counter, seed_ptr, seed_int,
                   cells, one_hot, *, k, n_chunks, max_len, noise_std, seed_mode,
                   offsets: torch.Tensor | None = None) -> None:
    """The launch of ``_one_hot_lines_kernel`` (it draws its own words; ``counter``
    zeroed; ``WIDE_LINES`` on columns: ``_one_hot_wide_kernel``). A group of tiles:
    ``weight`` ``(tiles, out, in)`` and every tensor with the tiles first (``counter``,
    ``seed_ptr``, ``start``: ``(tiles,)``; ``offsets``: the keyed seeds' offsets per
    tile), one program axis more."""
    start, columns = one_hot
    steps8 = isinstance(d_prob, LineSteps)  # (transfer_write_cuda.INT8_STEPS)
    if steps8 and not (WIDE_LINES and columns):
        raise ValueError("a write's int8 steps go to the one-hot wide kernel only")
    gains = d_prob.gain if steps8 else None
    d_prob = d_prob.values if steps8 else d_prob
    grouped = weight.dim() == 3
    tiles = weight.shape[0] if grouped else 1
    n_out, n_in = weight.shape[-2:]
    length = n_out if columns else n_in
    block = min(256, _next_pow2(length))
    on_device = isinstance(start, torch.Tensor)
    cells = counter if cells is None else cells

    def across(t):  # a tensor's step from one tile to the next (0: one call)
        return t.stride(0) if grouped else 0

    width = n_in if columns else n_out
    if not grouped and k >= SPLIT_MIN_PASSES * width and not steps8:
        _one_hot_split(weight, cell_params, x_prob, d_prob, bl, counter, seed_ptr, seed_int,
                       cells, start, columns, k=k, n_chunks=n_chunks, max_len=max_len,
                       noise_std=noise_std, seed_mode=seed_mode, block=block,
                       count_cells=cells is not counter)
        return
    args = (weight, cell_params, x_prob, d_prob, bl, counter, seed_ptr, cells,
            start if on_device else counter,
            0 if on_device else int(start), n_out, n_in, k, n_chunks, max_len,
            weight.stride(-2), weight.stride(-1),
            cell_params.stride(-3), cell_params.stride(-2), cell_params.stride(-1),
            x_prob.stride(-2), x_prob.stride(-1), d_prob.stride(-2), d_prob.stride(-1),
            bl.stride(-1), seed_int, float(noise_std), counter if offsets is None else offsets,
            across(weight), across(cell_params), across(x_prob), across(d_prob), across(bl),
            across(counter), across(seed_ptr), across(cells) if cells is not counter else 0,
            across(start) if on_device else 0)
    flags = dict(NOISE=float(noise_std) > 0.0, SEED_PTR=seed_mode, START_PTR=on_device,
                 NATIVE=not _INTERPRETED, COUNT_CELLS=cells is not counter,
                 OFFSETS=offsets is not None)
    if WIDE_LINES and columns:  # (the module note "one-hot columns, many lines a program")
        lines = min(WIDE_LINES_BLOCK, _next_pow2(min(k, width)))
        rows = min(WIDE_QUAD_BLOCK_R if WIDE_QUAD_BLOCKS else WIDE_SHORT_BLOCK_R,
                   _next_pow2(length))
        grid = (triton.cdiv(min(k, width), lines), triton.cdiv(length, rows), tiles)
        sure = {"SURE": True, "ONE_PASS": k <= width} if SURE_PULSES else {}  # (its note)
        _one_hot_wide_kernel[grid](*args, **flags, BLOCK_R=rows, LINES=lines, num_warps=4,
                                   lg_ptr=gains if steps8 else bl,
                                   g_lg=across(gains) if steps8 else 0, STEPS8=steps8, **sure)
        return
    _one_hot_lines_kernel[(min(k, width), triton.cdiv(length, block), tiles)](
        *args, COLUMNS=bool(columns), **flags, BLOCK=block, num_warps=4 if block >= 128 else 2,
        SKIP_IDLE=SKIP_IDLE_LINES)


# ``_one_hot_lines_kernel``'s programs of lines whose trains are all empty return before
# loading their line (``SKIP_IDLE``): the same weights, wear and counts. At 784-4096-4096-10,
# b256, mixed precision writes every row of chi each step, and in the bench's first epoch
# no element of the 784-wide layer's chi and ~2/3 of the 4096-wide one's rows reached a
# whole step (CPU count, benchmarks/RESULTS.md 2026-12-07 mpwide): each such line still
# loaded its weights, four parameter planes, probabilities and wear (~36 B an element).
# (``bench_switches`` ``idle-lines``, ``mp-batch``)
# On (one H100, 2026-12-07 14:58, `bench_switches` `mp-batch`, with ``MP_GROUPED`` and
# ``MP_FUSED_WRITE``: 784-4096-4096-10 b256 mixed precision 2.60x -> 1.38x fp, `batch` 2.58x ->
# 1.38x).
SKIP_IDLE_LINES = True


# A one-hot write of many passes over few lines (a chopped step's transfers into a
# convolution's tile: 131,072 rows on 27 lines, 4,855 passes a line) walked by
# ``_one_hot_lines_kernel``'s one program per line draws every pass's bits on the way: a few
# dozen programs, each thousands of passes of two 31-slot Philox draws long, while the GPU
# idles. Split: every row's draws at once (``_one_hot_draws_rows_kernel``), then the passes in
# order per line (``_one_hot_apply_kernel``); the same weights, counts and wear. Timed
# against the one kernel on one H100 (2026-12-07 03:33, ``split-passes``: ResNet chopped
# 8.94x -> 8.82x fp; benchmarks/RESULTS.md).
SPLIT_MIN_PASSES = 16  # from this many passes a line (fewer: the extra launch and scratch)


def _one_hot_split(weight, cell_params, x_prob, d_prob, bl, counter, seed_ptr, seed_int,
                   cells, start, columns, *, k, n_chunks, max_len, noise_std, seed_mode,
                   block, count_cells) -> None:
    """``_one_hot_lines_kernel``'s write as its draws (every row at once, into signed
    counts and normals ``(k, line length)``) and their application, pass after pass."""
    n_out, n_in = weight.shape
    length = n_out if columns else n_in
    on_device = isinstance(start, torch.Tensor)
    noise = float(noise_std) > 0.0
    signed = torch.empty(k, length, dtype=torch.int32, device=weight.device)
    normals = torch.empty(k, length, dtype=torch.float32, device=weight.device) \
        if noise else signed
    start_ptr = start if on_device else counter
    first = 0 if on_device else int(start)
    args = (x_prob, d_prob, bl, seed_ptr, start_ptr, signed, normals,
            first, n_out, n_in, k, n_chunks, max_len,
            x_prob.stride(-2), x_prob.stride(-1), d_prob.stride(-2), d_prob.stride(-1),
            bl.stride(-1), seed_int)
    flags = dict(COLUMNS=bool(columns), NOISE=noise, SEED_PTR=seed_mode, START_PTR=on_device,
                 NATIVE=not _INTERPRETED)
    block = min(block, DRAW_ROW_ELEMENTS)  # (the module note at DRAW_ROW_ELEMENTS)
    block_b = max(1, DRAW_ROW_ELEMENTS // block)
    _one_hot_draws_rows_kernel[(triton.cdiv(k, block_b), triton.cdiv(length, block))](
        *args, **flags, BLOCK_B=block_b, BLOCK=block, num_warps=4)
    _apply_passes(weight, cell_params, counter, cells, start_ptr, signed, normals, first,
                  columns, k=k, noise_std=noise_std, on_device=on_device, block=block,
                  count_cells=count_cells)


def _apply_passes(weight, cell_params, counter, cells, start_ptr, signed, normals, first,
                  columns, *, k, noise_std, on_device, block, count_cells) -> None:
    """The launch of ``_one_hot_apply_kernel``: ``signed`` counts (``(k, line length)``
    int32, ``+n`` up, ``-n`` down) and ``normals`` applied pass after pass per line, from
    line ``first`` (or the one at ``start_ptr``, ``on_device``), in trips of 16."""
    n_out, n_in = weight.shape
    length = n_out if columns else n_in
    width = n_in if columns else n_out
    _one_hot_apply_kernel[(min(k, width), triton.cdiv(length, block))](
        weight, cell_params, counter, cells, start_ptr, signed, normals,
        first, n_out, n_in, k, weight.stride(-2), weight.stride(-1),
        cell_params.stride(-3), cell_params.stride(-2), cell_params.stride(-1),
        float(noise_std),
        COLUMNS=bool(columns), NOISE=float(noise_std) > 0.0, START_PTR=on_device,
        COUNT_CELLS=count_cells, BLOCK=block,
        num_warps=4 if block >= 128 else 2)


# ---- constant steps, rows in chunks -------------------------------------------------
# (module doc: "Few cells, many rows")
# per element and chunk: has a first row, its step s and rest e, then a, L, H
_CHUNK_PLANES = 6


@triton.jit
def _clip(v, lo, hi):
    """``v`` clamped to ``[lo, hi]``."""
    return tl.minimum(tl.maximum(v, lo), hi)


@triton.jit
def _count_extra(counts):
    """A pass's pulse count as float32 (as ``_constant_row``: the count in the mantissa of
    2**23, minus 2**23) and the pulses past its first."""
    nf = (counts | 0x4B000000).to(tl.float32, bitcast=True) - 8388608.0
    return nf, nf - 1.0


@triton.jit
def _compose_pass(counts, step, extra, seen, first_s, first_e, a, lo, hi, w_min, w_max):
    """One pass of ``counts`` pulses of ``step`` (``extra`` steps past the first, noise
    included) composed onto an element's map so far (seen, first step, its rest, a, L, H):
    clamped adds compose into one of the same form, which is what lets rows in chunks
    combine passes out of order."""
    rest = extra * step
    active = counts > 0
    fresh = active & (seen == 0)
    later = active & (seen != 0)
    first_s = tl.where(fresh, step, first_s)
    first_e = tl.where(fresh, rest, first_e)
    t = step + rest
    a = tl.where(later, a + t, a)
    lo = tl.where(later, _clip(lo + t, w_min, w_max), lo)
    hi = tl.where(later, _clip(hi + t, w_min, w_max), hi)
    return seen | active, first_s, first_e, a, lo, hi


@triton.jit
def _chunk_row(row, k, count_ptr, x_ptr, d_ptr, xs_ptrs, ds_ptrs, rn, rm, mn, mm, stride_xk,
               stride_xn, stride_dk, stride_dm, n_lines, n_chunks, s_up, s_down,
               NATIVE: tl.constexpr, SIGN_BIT: tl.constexpr):
    """One row of a row-chunk program: each element's coincidence count, its direction
    (``up``) and its signed step."""
    _, _, xp, dp, wx, wd = _row_inputs(
        row, k, count_ptr, x_ptr, d_ptr, xs_ptrs, ds_ptrs, rn, rm, mn, mm,
        stride_xk, stride_xn, stride_dk, stride_dm, n_lines, False, SIGN_BIT, False)
    neg_x, neg_d = _negatives(xp, dp, wx, wd, SIGN_BIT)
    counts = _row_counts(wx, wd, xs_ptrs, ds_ptrs, mn, mm, row, k, n_lines, n_chunks,
                         NATIVE, SIGN_BIT)
    up = neg_d[:, None] != neg_x[None, :]
    return counts, up, tl.where(up, s_up, -s_down)


@triton.jit
def _chunk_block(p_ptr, words_ptr, seed_ptr, seed, n_out, n_in, stride_pp, stride_pm,
                 stride_pn, SEED_PTR: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    """A row-chunk program's seed (read from ``seed_ptr`` under ``SEED_PTR``) and block of
    elements: its rows and columns, their masks, the
    line words of its columns (x) and rows (d), and the first four parameter rows (the
    steps up and down, the bounds)."""
    seed = _seed_of(seed_ptr, seed, SEED_PTR)
    rm = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    mm = rm < n_out
    mn = rn < n_in
    mask = mm[:, None] & mn[None, :]
    pe = p_ptr + rm[:, None] * stride_pm + rn[None, :] * stride_pn
    s_up, s_down, w_max, w_min = _step_params(pe, stride_pp, mask)
    return seed, rm, rn, mm, mn, mask, words_ptr + rn, words_ptr + n_in + rm, pe, s_up, s_down, \
        w_max, w_min


@triton.jit(do_not_specialize=["seed"])
def _row_chunks_kernel(
    p_ptr, x_ptr, d_ptr, words_ptr, count_ptr, maps_ptr, seed_ptr, cells_ptr,
    n_out, n_in, k, n_chunks, rows_per_chunk,
    stride_pp, stride_pm, stride_pn, stride_xk, stride_xn, stride_dk, stride_dm,
    seed, noise_std,
    NOISE: tl.constexpr, SEED_PTR: tl.constexpr, NATIVE: tl.constexpr,
    SIGN_BIT: tl.constexpr, COUNT_CELLS: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):
    seed, rm, rn, mm, mn, mask, xs_ptrs, ds_ptrs, pe, s_up, s_down, w_max, w_min = _chunk_block(
        p_ptr, words_ptr, seed_ptr, seed, n_out, n_in, stride_pp, stride_pm, stride_pn,
        SEED_PTR, BLOCK_M, BLOCK_N)
    chunk = tl.program_id(2)
    n_lines = n_in + n_out
    elem = (rm[:, None] * n_in + rn[None, :]).to(tl.uint32)
    xi0 = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    xi1 = xi0
    xi2 = xi0
    xi3 = xi0

    seen = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int1)  # a row with pulses so far
    first_s = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    first_e = first_s
    a = first_s
    lo = tl.full((BLOCK_M, BLOCK_N), float("-inf"), tl.float32)
    hi = tl.full((BLOCK_M, BLOCK_N), float("inf"), tl.float32)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int32)
    start = chunk * rows_per_chunk  # a multiple of 4: the normals' row groups
    stop = tl.minimum(start + rows_per_chunk, k)
    for b in range(start, stop):
        counts, up, step = _chunk_row(b, k, count_ptr, x_ptr, d_ptr, xs_ptrs, ds_ptrs, rn, rm, mn,
                                      mm, stride_xk, stride_xn, stride_dk, stride_dm, n_lines,
                                      n_chunks, s_up, s_down, NATIVE, SIGN_BIT)
        acc += counts
        nf, extra = _count_extra(counts)
        if NOISE:
            r = b % 4
            if r == 0:
                xi0, xi1, xi2, xi3 = _normals4(seed, elem, b // 4, 0, NATIVE)
            xi = tl.where(r == 0, xi0, tl.where(r == 1, xi1, tl.where(r == 2, xi2, xi3)))
            extra += noise_std * tl.sqrt(nf) * xi
        seen, first_s, first_e, a, lo, hi = _compose_pass(
            counts, step, extra, seen, first_s, first_e, a, lo, hi, w_min, w_max)

    plane = n_out * n_in
    out = maps_ptr + chunk.to(tl.int64) * (6 * plane) + rm[:, None] * n_in + rn[None, :]
    tl.store(out, seen.to(tl.float32), mask=mask)
    tl.store(out + plane, first_s, mask=mask)
    tl.store(out + 2 * plane, first_e, mask=mask)
    tl.store(out + 3 * plane, a, mask=mask)
    tl.store(out + 4 * plane, lo, mask=mask)
    tl.store(out + 5 * plane, hi, mask=mask)
    if COUNT_CELLS:  # elements are shared by the chunks: integer atomics, exact
        tl.atomic_add(cells_ptr + rm[:, None] * n_in + rn[None, :], acc, mask=mask)
    tl.atomic_add(count_ptr, tl.sum(tl.sum(acc, axis=1).to(tl.int64), axis=0))


@triton.jit
def _linear_compose(c, b, lo, hi, on, step, q0, xi, noise_std, w_min, w_max,
                    NOISE: tl.constexpr, MULT_NOISE: tl.constexpr):
    """The map ``clip(c w + b)`` within ``[lo, hi]`` followed, where ``on``, by one pulse of
    a linear step (``_pulse``: ``w -> clip(cp w + bp)``)."""
    if NOISE:
        if MULT_NOISE:
            bp = step * (1.0 + noise_std * xi)
            cp = 1.0 - bp * q0
        else:
            cp = 1.0 - step * q0
            bp = step + noise_std * tl.abs(step) * xi
    else:
        cp = 1.0 - step * q0
        bp = step
    lo_new = _clip(tl.where(cp >= 0.0, cp * lo, cp * hi) + bp, w_min, w_max)
    hi_new = _clip(tl.where(cp >= 0.0, cp * hi, cp * lo) + bp, w_min, w_max)
    return (tl.where(on, cp * c, c), tl.where(on, cp * b + bp, b), tl.where(on, lo_new, lo),
            tl.where(on, hi_new, hi))


@triton.jit(do_not_specialize=["seed"])
def _linear_row_chunks_kernel(
    p_ptr, x_ptr, d_ptr, words_ptr, count_ptr, maps_ptr, seed_ptr, cells_ptr,
    n_out, n_in, k, n_chunks, rows_per_chunk,
    stride_pp, stride_pm, stride_pn, stride_xk, stride_xn, stride_dk, stride_dm,
    seed, noise_std,
    NOISE: tl.constexpr, MULT_NOISE: tl.constexpr, SEED_PTR: tl.constexpr,
    NATIVE: tl.constexpr, SIGN_BIT: tl.constexpr, COUNT_CELLS: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):
    """Linear steps (LinearStep, SoftBounds): every pulse is ``w -> clip(c w + b)``
    (``_pulse``: ``c = 1 - step q (1 + sigma xi)``, ``b = step (1 + sigma xi)``; additive
    noise: ``b = step + sigma |step| xi``), and clamped affine maps compose - ``c`` of either
    sign, the bounds swapping where it is negative. A chunk's pulses, with the sequential
    kernel's normals, become one ``(c, b, L, H)`` per element."""
    seed, rm, rn, mm, mn, mask, xs_ptrs, ds_ptrs, pe, s_up, s_down, w_max, w_min = _chunk_block(
        p_ptr, words_ptr, seed_ptr, seed, n_out, n_in, stride_pp, stride_pm, stride_pn,
        SEED_PTR, BLOCK_M, BLOCK_N)
    chunk = tl.program_id(2)
    n_lines = n_in + n_out
    r_up = tl.load(pe + 4 * stride_pp, mask=mask, other=0.0)
    r_down = tl.load(pe + 5 * stride_pp, mask=mask, other=0.0)
    elem = (rm[:, None] * n_in + rn[None, :]).to(tl.uint32)

    c = tl.full((BLOCK_M, BLOCK_N), 1.0, tl.float32)
    b = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    lo = tl.full((BLOCK_M, BLOCK_N), -3.0e38, tl.float32)  # finite: 0 * lo stays 0
    hi = tl.full((BLOCK_M, BLOCK_N), 3.0e38, tl.float32)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int32)
    start = chunk * rows_per_chunk
    stop = tl.minimum(start + rows_per_chunk, k)
    for row in range(start, stop):
        counts, up, step = _chunk_row(row, k, count_ptr, x_ptr, d_ptr, xs_ptrs, ds_ptrs, rn, rm, mn,
                                      mm, stride_xk, stride_xn, stride_dk, stride_dm, n_lines,
                                      n_chunks, s_up, s_down, NATIVE, SIGN_BIT)
        acc += counts
        q0 = tl.where(up, r_up, r_down)
        bound = tl.max(tl.max(counts, axis=1), axis=0)
        for g in range(0, tl.cdiv(bound, 4)):
            xi0 = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
            xi1 = xi0
            xi2 = xi0
            xi3 = xi0
            if NOISE:
                xi0, xi1, xi2, xi3 = _normals4(seed, elem, g, row, NATIVE)
            p0 = g * 4
            c, b, lo, hi = _linear_compose(c, b, lo, hi, counts > p0, step, q0, xi0, noise_std,
                                           w_min, w_max, NOISE, MULT_NOISE)
            c, b, lo, hi = _linear_compose(c, b, lo, hi, counts > p0 + 1, step, q0, xi1,
                                           noise_std, w_min, w_max, NOISE, MULT_NOISE)
            c, b, lo, hi = _linear_compose(c, b, lo, hi, counts > p0 + 2, step, q0, xi2,
                                           noise_std, w_min, w_max, NOISE, MULT_NOISE)
            c, b, lo, hi = _linear_compose(c, b, lo, hi, counts > p0 + 3, step, q0, xi3,
                                           noise_std, w_min, w_max, NOISE, MULT_NOISE)

    plane = n_out * n_in
    out = maps_ptr + chunk.to(tl.int64) * (4 * plane) + rm[:, None] * n_in + rn[None, :]
    tl.store(out, c, mask=mask)
    tl.store(out + plane, b, mask=mask)
    tl.store(out + 2 * plane, lo, mask=mask)
    tl.store(out + 3 * plane, hi, mask=mask)
    if COUNT_CELLS:
        tl.atomic_add(cells_ptr + rm[:, None] * n_in + rn[None, :], acc, mask=mask)
    tl.atomic_add(count_ptr, tl.sum(tl.sum(acc, axis=1).to(tl.int64), axis=0))


@triton.jit
def _chunk_map(at, c, plane, mask, PLANES: tl.constexpr):
    """The planes of chunk ``c``'s map (four or six; offsets below 2**31: checked by the
    launcher), the unused ones as zeros."""
    base = at + c * (PLANES * plane)
    p0 = tl.load(base, mask=mask, other=0.0)
    p1 = tl.load(base + plane, mask=mask, other=0.0)
    p2 = tl.load(base + 2 * plane, mask=mask, other=0.0)
    p3 = tl.load(base + 3 * plane, mask=mask, other=0.0)
    p4 = p0 * 0.0
    p5 = p4
    if PLANES == 6:
        p4 = tl.load(base + 4 * plane, mask=mask, other=0.0)
        p5 = tl.load(base + 5 * plane, mask=mask, other=0.0)
    return p0, p1, p2, p3, p4, p5


@triton.jit
def _compose_chunks_kernel(w_ptr, p_ptr, maps_ptr, n_out, n_in, n_row_chunks, stride_wm,
                           stride_wn, stride_pp, stride_pm, stride_pn, LINEAR: tl.constexpr,
                           PLANES: tl.constexpr, BLOCK_M: tl.constexpr,
                           BLOCK_N: tl.constexpr):
    rm = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    mask = (rm < n_out)[:, None] & (rn < n_in)[None, :]
    w_ptrs = w_ptr + rm[:, None] * stride_wm + rn[None, :] * stride_wn
    w = tl.load(w_ptrs, mask=mask, other=0.0)
    pe = p_ptr + rm[:, None] * stride_pm + rn[None, :] * stride_pn
    w_max = tl.load(pe + 2 * stride_pp, mask=mask, other=0.0)
    w_min = tl.load(pe + 3 * stride_pp, mask=mask, other=0.0)
    plane = n_out * n_in
    at = maps_ptr + rm[:, None] * n_in + rn[None, :]
    # each chunk's map is loaded one chunk ahead (the walk waits on no load)
    n0, n1, n2, n3, n4, n5 = _chunk_map(at, 0, plane, mask, PLANES)
    for c in range(0, n_row_chunks):
        p0, p1, p2, p3, p4, p5 = n0, n1, n2, n3, n4, n5
        n0, n1, n2, n3, n4, n5 = _chunk_map(at, tl.minimum(c + 1, n_row_chunks - 1), plane,
                                            mask, PLANES)
        if LINEAR:  # clip(c w + b) within [lo, hi]
            w = tl.where(mask, _clip(p0 * w + p1, p2, p3), w)
        else:  # seen, first step and rest, then a, lo, hi
            # the chunk's first row with pulses: as _constant_row (outside the bounds, the
            # first step clipped), then the rows after it: clip(w + a) within [lo, hi]
            first = w + p1
            first = tl.where((w > w_max) | (w < w_min), _clip(first, w_min, w_max), first)
            moved = _clip(_clip(first + p2, w_min, w_max) + p3, p4, p5)
            w = tl.where(p0 != 0.0, moved, w)
    tl.store(w_ptrs, w, mask=mask)


# at most this many chunks per cell block: ``_compose_chunks_kernel`` walks them in order
# (a load's latency each), so past a few hundred the walk over chunks costs what the
# chunks saved; 512 puts a 131k-row tile at 256 rows a chunk
MAX_ROW_CHUNKS = 512


def _row_chunks(k: int, cells_programs: int, programs: int, rows: int | None = None) -> int:
    """Rows per chunk (a multiple of 4; ``k`` when the rows are better not split): where
    the cell blocks are fewer than half of ``programs`` (what fills the GPU), enough chunks
    for eight times ``programs`` (short walks, several waves), at least 64 rows and at most
    ``MAX_ROW_CHUNKS`` chunks; or ``rows`` when given."""
    if rows is None:
        if cells_programs * 2 > programs or k < 256:
            return k
        chunks = max(1, min(8 * programs // cells_programs, k // 64, MAX_ROW_CHUNKS))
        rows = triton.cdiv(k, chunks)
    return max(4, triton.cdiv(int(rows), 4) * 4)


def _rows_split(weight, cell_params, x_prob, d_prob, words, counter, seed_ptr, seed_int, cells,
                *, linear, k, n_chunks, noise_std, mult_noise, seed_mode, native, sign_bit,
                rows_per_chunk, block_m, block_n, num_warps) -> None:
    """Both launches of the chunked walk (module doc) on the words of
    ``_line_words_kernel``: constant steps, or (``linear``) linear ones."""
    n_out, n_in = weight.shape
    n_row_chunks = triton.cdiv(k, rows_per_chunk)
    planes = 4 if linear else _CHUNK_PLANES
    if n_row_chunks * planes * n_out * n_in >= 2**31:
        raise ValueError("too many row chunks for the cells: give fewer (row_chunk)")
    maps = torch.empty(n_row_chunks * planes * n_out * n_in, dtype=torch.float32,
                       device=weight.device)
    grid = (triton.cdiv(n_out, block_m), triton.cdiv(n_in, block_n))
    args = (cell_params, x_prob, d_prob, words, counter, maps, seed_ptr,
            counter if cells is None else cells,
            n_out, n_in, k, n_chunks, rows_per_chunk,
            cell_params.stride(0), cell_params.stride(1), cell_params.stride(2),
            x_prob.stride(0), x_prob.stride(1), d_prob.stride(0), d_prob.stride(1),
            seed_int, float(noise_std))
    flags = dict(NOISE=float(noise_std) > 0.0, SEED_PTR=seed_mode, NATIVE=native,
                 SIGN_BIT=sign_bit, COUNT_CELLS=cells is not None, BLOCK_M=block_m,
                 BLOCK_N=block_n, num_warps=num_warps)
    if linear:
        _linear_row_chunks_kernel[(*grid, n_row_chunks)](*args, MULT_NOISE=bool(mult_noise),
                                                          **flags)
    else:
        _row_chunks_kernel[(*grid, n_row_chunks)](*args, **flags)
    _compose_chunks_kernel[grid](
        weight, cell_params, maps, n_out, n_in, n_row_chunks, weight.stride(0),
        weight.stride(1), cell_params.stride(0), cell_params.stride(1), cell_params.stride(2),
        LINEAR=bool(linear), PLANES=planes, BLOCK_M=block_m, BLOCK_N=block_n,
        num_warps=num_warps)


@triton.jit
def _round_half_even(v):
    """``torch.round``: to the nearest integer, halves to the even one."""
    r = tl.floor(v)
    diff = v - r
    odd = (r - 2.0 * tl.floor(r * 0.5)) != 0.0
    return tl.where(diff > 0.5, r + 1.0, tl.where((diff == 0.5) & odd, r + 1.0, r))


@triton.jit
def _signed_probability(v, gain, res, RES: tl.constexpr):
    """``clip(discretize(|v| * gain), 0, 1) * sign(v)``, element by element (the twin's
    float32 operations in its order)."""
    p = tl.abs(v) * gain
    if RES:
        p = _round_half_even(tl.div_rn(p, res)) * res
    p = tl.minimum(tl.maximum(p, 0.0), 1.0)
    sign = tl.where(v > 0.0, 1.0, tl.where(v < 0.0, -1.0, 0.0))
    return p * sign


@triton.jit
def _side_probabilities(src_ptr, dst_ptr, sign_ptr, n, stride_src, gain, res,
                        RES: tl.constexpr, SIGNS: tl.constexpr, BLOCK: tl.constexpr):
    """``clip(discretize(|v| * gain), 0, 1) * sign(v)`` of one row of one side (``SIGNS``:
    ``v`` times its line's sign, exact)."""
    for j0 in range(0, n, BLOCK):
        j = j0 + tl.arange(0, BLOCK)
        ok = j < n
        v = tl.load(src_ptr + j * stride_src, mask=ok, other=0.0)
        if SIGNS:
            v = v * tl.load(sign_ptr + j, mask=ok, other=1.0)
        tl.store(dst_ptr + j, _signed_probability(v, gain, res, RES), mask=ok)


@triton.jit
def _row_abs_max(src_ptr, n, stride_src, BLOCK: tl.constexpr):
    top = tl.zeros((BLOCK,), dtype=tl.float32)
    for j0 in range(0, n, BLOCK):
        j = j0 + tl.arange(0, BLOCK)
        top = tl.maximum(top, tl.abs(tl.load(src_ptr + j * stride_src, mask=j < n,
                                             other=0.0)))
    return tl.max(top, axis=0)


@triton.jit
def _train_gains(x_max, d_max, um_grad_scale, lr, granularity, desired_bl, const_bl,
                 BL_MODE: tl.constexpr, MANAGED: tl.constexpr):
    """A row's train length (0 where a side is all zero) and the gains of its two sides
    from their absolute maxima (scalars, or vectors over a block of rows): the
    line-probability kernels' shared arithmetic."""
    active = (x_max > 0.0) & (d_max > 0.0)
    x_m = tl.where(active, x_max, 1.0)
    d_m = tl.where(active, d_max, 1.0) * um_grad_scale
    if BL_MODE == 0:  # update_bl_management
        bl = tl.minimum(tl.maximum(tl.ceil(tl.div_rn(lr * x_m * d_m, granularity)), 1.0),
                        desired_bl)
        amp = tl.sqrt_rn(tl.div_rn(1.0, granularity * bl) * lr)  # torch: lr / t = 1/t * lr
    elif BL_MODE == 1:  # fixed, or the granularity reaches lr in desired_bl pulses
        bl = x_m * 0.0 + desired_bl
        amp = tl.sqrt_rn(tl.div_rn(1.0, granularity * bl) * lr)
    else:
        bl = x_m * 0.0 + const_bl
        amp = x_m * 0.0 + 1.0
    if MANAGED:
        kk = tl.div_rn(lr * x_m * d_m, granularity)
        d_m = tl.where(kk > bl, tl.div_rn(d_m * bl, tl.where(kk > bl, kk, 1.0)), d_m)
        scale = tl.sqrt_rn(tl.div_rn(x_m, d_m))
        x_gain = tl.div_rn(amp, scale)
        d_gain = amp * scale
    else:
        x_gain = amp
        d_gain = amp
    length = tl.where(active & (lr > 0.0), bl, 0.0).to(tl.int32)
    return length, x_gain, d_gain


@triton.jit
def _count_call(rows_ptr, calls_ptr, g, k, stride_rows, stride_calls, first,
                ROWS: tl.constexpr, CALLS: tl.constexpr):
    """Tile ``g``'s counters, by its ``first`` program only: ``k`` more rows (``ROWS``), one
    more call (``CALLS``)."""
    if ROWS:
        if first:
            tl.store(rows_ptr + g * stride_rows, tl.load(rows_ptr + g * stride_rows) + k)
    if CALLS:
        if first:
            tl.store(calls_ptr + g * stride_calls, tl.load(calls_ptr + g * stride_calls) + 1)


@triton.jit
def _line_probabilities_kernel(
    x_ptr, d_ptr, xp_ptr, dp_ptr, bl_ptr, slots_ptr, calls_ptr, rows_ptr, xs_ptr, ds_ptr,
    xg_ptr, n_in, n_out,
    k, n_cols, stride_xk, stride_xn, stride_dk, stride_dm, stride_xg, stride_dg, xs_col,
    xs_tile, ds_row, ds_tile, stride_slots, stride_calls, stride_rows,
    lr, granularity, desired_bl, const_bl, um_grad_scale, res,
    BL_MODE: tl.constexpr, MANAGED: tl.constexpr, RES: tl.constexpr,
    SLOTS: tl.constexpr, CALLS: tl.constexpr, X_SIGN: tl.constexpr, D_SIGN: tl.constexpr,
    BLOCK: tl.constexpr, ROWS: tl.constexpr = False, X_GAINS: tl.constexpr = False,
):
    """One program per rank-1 row (axis 0) and tile (axis 1): the twin's
    ``line_probabilities_torch`` in one pass over the row (its largest |x| and |d|, then
    ``train_gains_torch``'s scalars, then the probabilities), with the twin's float32
    operations in the twin's order. Tile ``g`` of a grid (``n_cols`` tiles to a row) reads
    the x columns ``stride_xg * (g % n_cols)`` on and the d columns ``stride_dg * (g //
    n_cols)`` on (elements), and writes row ``g * k + b`` of the outputs; its lines' signs
    sit ``xs_col * (g % n_cols) + xs_tile * g`` and ``ds_row * (g // n_cols) + ds_tile * g``
    into ``xs`` and ``ds`` (signs as wide as the rows, or one row of signs per tile). The
    counters (``advance_counters``) too, tile g's ``stride_slots * g``, ``stride_calls * g``
    and ``stride_rows * g`` into ``slots``, ``calls`` and ``rows``: each
    row adds its length to its tile's slots, row 0 counts the call (no program of this
    kernel reads it: the update's kernels after it do) and the rows (a tile's count of
    rank-1 updates)."""
    g = tl.program_id(1)
    b = tl.program_id(0)
    _count_call(rows_ptr, calls_ptr, g, k, stride_rows, stride_calls, b == 0, ROWS, CALLS)
    col = (g % n_cols).to(tl.int64)
    row = (g // n_cols).to(tl.int64)
    xs = x_ptr + b.to(tl.int64) * stride_xk + col * stride_xg
    ds = d_ptr + b.to(tl.int64) * stride_dk + row * stride_dg
    at = g.to(tl.int64) * k + b
    x_max = _row_abs_max(xs, n_in, stride_xn, BLOCK)
    d_max = _row_abs_max(ds, n_out, stride_dm, BLOCK)
    length, x_gain, d_gain = _train_gains(x_max, d_max, um_grad_scale, lr, granularity,
                                          desired_bl, const_bl, BL_MODE, MANAGED)
    tl.store(bl_ptr + at, length)
    if SLOTS:
        tl.atomic_add(slots_ptr + g * stride_slots, length.to(tl.int64))
    tile = g.to(tl.int64)
    if X_GAINS:  # the input side's gain, not its probabilities (the drawn counts make them)
        tl.store(xg_ptr + at, x_gain)
    else:
        _side_probabilities(xs, xp_ptr + at * n_in, xs_ptr + col * xs_col + tile * xs_tile,
                            n_in, stride_xn, x_gain, res, RES, X_SIGN, BLOCK)
    _side_probabilities(ds, dp_ptr + at * n_out, ds_ptr + row * ds_row + tile * ds_tile, n_out,
                        stride_dm, d_gain, res, RES, D_SIGN, BLOCK)


@triton.jit
def _side_rows(src_ptr, rows, live, n, stride_k, stride_src, BLOCK: tl.constexpr):
    """One side of a block of whole rows, loaded once (zeros past ``n`` and the rows)."""
    j = tl.arange(0, BLOCK)
    ok = live[:, None] & (j < n)[None, :]
    v = tl.load(src_ptr + rows[:, None].to(tl.int64) * stride_k + j[None, :] * stride_src,
                mask=ok, other=0.0)
    return v, ok, j


@triton.jit
def _side_store(v, ok, j, dst_ptr, sign_ptr, at, n, gain, res, RES: tl.constexpr,
                SIGNS: tl.constexpr):
    """The probabilities of ``_side_probabilities`` from a block of loaded rows ``v``."""
    if SIGNS:
        v = v * tl.load(sign_ptr + j, mask=j < n, other=1.0)[None, :]
    tl.store(dst_ptr + at[:, None] * n + j[None, :],
             _signed_probability(v, gain[:, None], res, RES), mask=ok)


# its parameters are _line_probabilities_kernel's on purpose: one launch statement serves both
@triton.jit
def _line_probabilities_rows_kernel(
    x_ptr, d_ptr, xp_ptr, dp_ptr, bl_ptr, slots_ptr, calls_ptr, rows_ptr, xs_ptr, ds_ptr,
    xg_ptr, n_in, n_out,
    k, n_cols, stride_xk, stride_xn, stride_dk, stride_dm, stride_xg, stride_dg, xs_col,
    xs_tile, ds_row, ds_tile, stride_slots, stride_calls, stride_rows,
    lr, granularity, desired_bl, const_bl, um_grad_scale, res,
    BL_MODE: tl.constexpr, MANAGED: tl.constexpr, RES: tl.constexpr,
    SLOTS: tl.constexpr, CALLS: tl.constexpr, X_SIGN: tl.constexpr, D_SIGN: tl.constexpr,
    BLOCK_R: tl.constexpr, BLOCK_X: tl.constexpr, BLOCK_D: tl.constexpr,
    ROWS: tl.constexpr = False, X_GAINS: tl.constexpr = False,
):
    """``_line_probabilities_kernel`` for ``BLOCK_R`` rows at once (axis 0), each side of a
    row whole in ``BLOCK_X`` / ``BLOCK_D`` columns: the same float32 operations element by
    element (each row's scalars as a vector over the rows) and exact maxima, so the same
    numbers; one atomic add of the block's train lengths to the slots (an integer sum, any
    order) instead of one a row."""
    g = tl.program_id(1)
    _count_call(rows_ptr, calls_ptr, g, k, stride_rows, stride_calls, tl.program_id(0) == 0,
                ROWS, CALLS)
    col = (g % n_cols).to(tl.int64)
    row = (g // n_cols).to(tl.int64)
    b = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    live = b < k
    at = g.to(tl.int64) * k + b
    xv, x_ok, xj = _side_rows(x_ptr + col * stride_xg, b, live, n_in, stride_xk, stride_xn,
                              BLOCK_X)
    dv, d_ok, dj = _side_rows(d_ptr + row * stride_dg, b, live, n_out, stride_dk, stride_dm,
                              BLOCK_D)
    x_max = tl.max(tl.abs(xv), axis=1)
    d_max = tl.max(tl.abs(dv), axis=1)
    length, x_gain, d_gain = _train_gains(x_max, d_max, um_grad_scale, lr, granularity,
                                          desired_bl, const_bl, BL_MODE, MANAGED)
    tl.store(bl_ptr + at, length, mask=live)
    if SLOTS:
        tl.atomic_add(slots_ptr + g * stride_slots,
                      tl.sum(tl.where(live, length, 0).to(tl.int64), axis=0))
    tile = g.to(tl.int64)
    if X_GAINS:  # the input side's gains, not its probabilities (the drawn counts make them)
        tl.store(xg_ptr + at, x_gain, mask=live)
    else:
        _side_store(xv, x_ok, xj, xp_ptr, xs_ptr + col * xs_col + tile * xs_tile, at, n_in,
                    x_gain, res, RES, X_SIGN)
    _side_store(dv, d_ok, dj, dp_ptr, ds_ptr + row * ds_row + tile * ds_tile, at, n_out,
                d_gain, res, RES, D_SIGN)


# Row blocks: ROW_ELEMENTS elements of whole rows per program where a row's wider side is at
# most ROW_WIDTH (a convolution's 10^5 rows of 16-576 lines); one program per row left most
# of its threads idle there. Only from ROW_MIN_ROWS rows, as the MVM's (analog_mvm_cuda; on
# one H200, 2026-12-06 23:00 UTC, ``narrow-rows``: ResNet sgd `batch` 4.74x -> 3.30x fp, with
# the MVM's row blocks and three other paths; benchmarks/RESULTS.md). Fewer rows: one row
# per program (the same numbers).
ROW_MIN_ROWS = 4096
ROW_WIDTH = 512
ROW_ELEMENTS = 2048


def line_probabilities_triton(x_rows: torch.Tensor, d_rows: torch.Tensor, lr: float,
                              granularity: float, *, desired_bl: int, fixed_bl: bool,
                              update_management: bool, update_bl_management: bool,
                              um_grad_scale: float, res: float, sto_round: bool = False,
                              slots: torch.Tensor | None = None,
                              calls: torch.Tensor | None = None,
                              x_sign: torch.Tensor | None = None,
                              d_sign: torch.Tensor | None = None,
                              rows: torch.Tensor | None = None, x_gains: bool = False):
    """``line_probabilities_torch`` in one launch (the pulse-train preparation: about 35
    small torch kernels per layer otherwise), its counters (``slots``, ``calls``, ``rows``)
    advanced
    and the lines' signs (``x_sign``, ``d_sign``) applied in the same launch.
    Deterministic rounding only: ``sto_round`` with ``res > 0`` draws from a torch
    generator, which the twin does. float32 rows. ``x_gains`` (the drawn counts):
    the input side as a ``RowProbabilities`` (its rows, signs and per-row gains, no
    ``(k, in)`` probabilities written) for a kernel that makes them where it reads them."""
    if d_rows.shape[0] != x_rows.shape[0]:
        raise ValueError(f"x_rows {tuple(x_rows.shape)} / d_rows {tuple(d_rows.shape)} differ "
                         f"in rows")
    if x_gains:
        x_rows = x_rows.to(torch.float32)
        if x_sign is not None:
            x_sign = x_sign.to(torch.float32).reshape(-1).contiguous()
    x_p, d_p, bl = line_probabilities_grouped_triton(
        x_rows, d_rows, 1, x_rows.shape[1], d_rows.shape[1], lr, granularity,
        desired_bl=desired_bl, fixed_bl=fixed_bl, update_management=update_management,
        update_bl_management=update_bl_management, um_grad_scale=um_grad_scale, res=res,
        sto_round=sto_round, tiles=1, slots=slots, calls=calls, x_sign=x_sign, d_sign=d_sign,
        rows=rows, x_gains=x_gains)
    if x_gains:
        return RowProbabilities(x_rows, x_p[0], x_sign, float(res)), d_p[0], bl[0]
    return x_p[0], d_p[0], bl[0]


def line_probabilities_grouped_triton(x_rows: torch.Tensor, d_rows: torch.Tensor,
                                      n_cols: int, n_in: int, n_out: int, lr: float,
                                      granularity: float, *, desired_bl: int, fixed_bl: bool,
                                      update_management: bool, update_bl_management: bool,
                                      um_grad_scale: float, res: float,
                                      sto_round: bool = False, tiles: int | None = None,
                                      slots: torch.Tensor | None = None,
                                      calls: torch.Tensor | None = None,
                                      x_sign: torch.Tensor | None = None,
                                      d_sign: torch.Tensor | None = None,
                                      rows: torch.Tensor | None = None,
                                      x_gains: bool = False):
    """:func:`line_probabilities_triton` of every tile of a grid in one launch: tile ``g``
    (``n_cols`` to a row of the grid) takes the ``n_in`` columns of ``x_rows`` from ``(g %
    n_cols) * n_in`` and the ``n_out`` columns of ``d_rows`` from ``(g // n_cols) * n_out``
    (and of ``x_sign``, ``d_sign`` as wide as the rows; or, ``(tiles, n_in)`` and ``(tiles,
    n_out)``, row ``g`` of each: every tile's own choppers); its counters are ``slots[g]``,
    ``calls[g]`` and ``rows[g]`` (``(tiles,)`` of any stride, e.g. a column of the arrays'
    ledgers, or one element for a single tile).
    Returns ``(tiles, k, n_in)``, ``(tiles, k, n_out)``, ``(tiles, k)``; with ``x_gains``
    the input side's gains ``(tiles, k)`` in place of its probabilities (none written)."""
    if sto_round and res > 0:
        raise ValueError("stochastic rounding draws from a torch generator: use the twin")
    k = x_rows.shape[0]
    if tiles is None:
        tiles = n_cols * (d_rows.shape[1] // n_out)
    x_rows = x_rows.to(torch.float32)
    d_rows = d_rows.to(torch.float32)
    x_p = torch.empty((tiles, k) if x_gains else (tiles, k, n_in), dtype=torch.float32,
                      device=x_rows.device)
    d_p = torch.empty((tiles, k, n_out), dtype=torch.float32, device=x_rows.device)
    bl = torch.empty((tiles, k), dtype=torch.int32, device=x_rows.device)
    if k == 0 or tiles == 0:
        advance_counters(bl, slots, calls, rows)
        return x_p, d_p, bl
    if any(c is not None and c.numel() > 1 and c.dim() != 1 for c in (slots, calls, rows)):
        raise ValueError("a group's slots, calls and rows must be (tiles,) (any stride)")
    signs = [None if v is None else v.to(torch.float32).contiguous() for v in (x_sign, d_sign)]
    mode = train_mode(lr, granularity, desired_bl=desired_bl, fixed_bl=fixed_bl,
                      update_bl_management=update_bl_management)
    block = min(1024, _next_pow2(max(n_in, n_out, 1)))
    kernel, grid, blocks = _line_probabilities_kernel, (k, tiles), dict(BLOCK=block)
    if k >= ROW_MIN_ROWS and block <= ROW_WIDTH:
        block_r = max(1, ROW_ELEMENTS // block)
        kernel, grid = _line_probabilities_rows_kernel, (triton.cdiv(k, block_r), tiles)
        blocks = dict(BLOCK_R=block_r, BLOCK_X=_next_pow2(max(n_in, 1)),
                      BLOCK_D=_next_pow2(max(n_out, 1)))
    kernel[grid](
        x_rows, d_rows, x_p, d_p, bl, bl if slots is None else slots,
        bl if calls is None else calls, bl if rows is None else rows,
        *(x_p if v is None else v for v in signs), x_p,
        n_in, n_out, k, n_cols,
        x_rows.stride(0), x_rows.stride(1), d_rows.stride(0), d_rows.stride(1),
        n_in * x_rows.stride(1), n_out * d_rows.stride(1),
        *_sign_offsets(signs[0], n_in), *_sign_offsets(signs[1], n_out),
        *(c.stride(0) if c is not None and c.dim() == 1 else 0 for c in (slots, calls, rows)),
        float(lr), float(granularity), float(desired_bl),
        float(long_train_length(lr, granularity)) if mode == 2 else 0.0,
        float(um_grad_scale), float(res),
        BL_MODE=mode, MANAGED=bool(update_management or update_bl_management),
        RES=res > 0, SLOTS=slots is not None, CALLS=calls is not None,
        ROWS=rows is not None, X_GAINS=x_gains,
        X_SIGN=signs[0] is not None, D_SIGN=signs[1] is not None, **blocks,
        num_warps=4 if block >= 512 or kernel is _line_probabilities_rows_kernel else 2,
    )
    return x_p, d_p, bl


def _sign_offsets(signs: torch.Tensor | None, n: int) -> tuple[int, int]:
    """Where tile ``g``'s signs start, as ``(per grid column or row, per tile)`` steps:
    signs as wide as the rows (1-D) step by grid position, a row per tile (2-D) by tile."""
    return (0, n) if signs is not None and signs.dim() == 2 else (n, 0)


__all__ = ["line_probabilities_grouped_triton", "line_probabilities_triton",
           "pulsed_update_grouped_triton", "pulsed_update_triton"]
