"""Triton kernels of the analog MVM (meaning: ``analog_mvm_ref.py``): prologue, matmul,
epilogue - three launches and no host sync.

The prologue (one program per input row) computes the noise-management scale and writes the
DAC's view of the row: scaled, quantized, clipped, noisy. cuBLAS multiplies by the weight.
The epilogue (one program per row) adds read and output noise, quantizes for the ADC, clips
and rescales; bound management is an on-device loop in the same program: while an output of
its row clips, the program halves the row's input, recomputes the DAC row and its product with
the weight itself (a GEMV over tiles of ``W``) and tests again. Rows that never clip cost
nothing more, and the host never asks how many did.
A transfer's reads are one-hot rows: their MVM is one launch that reads the weight's
columns (``_onehot_kernel``: prologue and epilogue of each row around that column).

Noise is Philox (``tl.rand``; ``_randn``: four normals a call) keyed by
the host seed (or a one-element device tensor, so a seed drawn on the GPU needs no sync), the
noise stream and the bound-management pass, and counted by element. Divisions are
IEEE-rounded (``div_rn``) and rounding is to the nearest even, so without noise the result
is the twin's up to the matmul's rounding.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import seeds
from .analog_mvm_ref import MVMParams
from .layout import (
    BM_NONE,
    BM_WORST_CASE,
    NM_ABS_MAX_NP_SUM,
    NM_MAX,
    W_NOISE_ADDITIVE,
    W_NOISE_PCM,
)


@triton.jit
def _stream_seed(seed, stream: tl.constexpr, bm_pass):
    key = tl.full((), stream * 256 + 1, tl.int64) + bm_pass
    return seed ^ (key << 44)


@triton.jit
def _round_even(t):
    """Round half to even, as ``torch.round``."""
    f = tl.floor(t)
    diff = t - f
    odd = (f - 2.0 * tl.floor(f * 0.5)) != 0
    up = (diff > 0.5) | ((diff == 0.5) & odd)
    return tl.where(up, f + 1.0, f)


@triton.jit
def _round_even_add(t):
    """``_round_even``'s numbers for ``|t| <= 2**22`` in ~4 SASS instructions against
    ~12: ``(t + 1.5 * 2**23) - 1.5 * 2**23`` (the sum in ``[2**23, 2**24]``, where float32's
    step is 1: rounded half to even by the addition itself, as the constant is even; the
    subtraction exact), a zero ``t`` kept (``-0.0`` stays ``-0.0``, as ``floor`` keeps it;
    ``(-1/2, 0)`` gives ``+0.0`` in both). Beyond ``2**22`` it is off by up to 2 or an ulp
    of ``t``, still over ``2**21``: the DAC takes it only where ``2**21`` steps clip
    (``_launch``: ``RINT``), so both give the bound."""
    r = (t + 12582912.0) - 12582912.0
    return tl.where(t == 0.0, t, r)


@triton.jit
def _box_muller(u1, u2):
    """Both normals of the Box-Muller pair of uniforms ``u1, u2`` in [0, 1): ``r cos t``
    and ``r sin t``, ``r = sqrt(-2 log u1)``, ``t = 2 pi u2`` (as ``tl.randn4x``), the cosine
    and sine from one reduction: ``u2`` to the nearest quarter turn ``q`` (exact: 4 ``u2``
    less an integer), Taylor polynomials on the rest ``phi`` in [-pi/4, pi/4] (error < 3e-8,
    below float32's rounding), then the quarter's signs and swap. libdevice's ``cos`` and
    ``sin`` reduce an angle each, with a never-taken branch for huge ones (~70 SASS
    instructions a pair more, and a local-memory frame)."""
    r = tl.sqrt(-2.0 * tl.log(tl.maximum(1.0e-7, u1)))
    q = tl.floor(u2 * 4.0 + 0.5)  # 0 .. 4
    phi = (u2 * 4.0 - q) * 1.5707963267948966
    p2 = phi * phi
    sin = phi + phi * p2 * (-1 / 6 + p2 * (1 / 120 + p2 * (-1 / 5040 + p2 * (1 / 362880))))
    cos = 1.0 + p2 * (-1 / 2 + p2 * (1 / 24 + p2 * (-1 / 720 + p2 * (1 / 40320))))
    k = q.to(tl.int32)
    odd = (k & 1) != 0  # a quarter or three: cos and sin swap
    c = tl.where(odd, sin, cos)
    s = tl.where(odd, cos, sin)
    c = tl.where(((k + 1) & 2) != 0, -c, c)  # quarters 1 and 2: the cosine negative
    s = tl.where((k & 2) != 0, -s, s)  # quarters 2 and 3: the sine negative
    return r * c, r * s


# The periphery's normals (output noise, read noise, input noise) four to a Philox call,
# both of each Box-Muller pair kept (``_randn``, ``_box_muller``): an epilogue output was
# ~225 SASS instructions on sm_90 (~160 on its likely path) with one ``tl.randn`` an element,
# most of them its normal, and the ResNet draws ~370 M of them a step; now ~110 (~100).
# Other numbers than ``tl.randn``'s (the same distribution, another stream), the same in
# every kernel and block shape. Timed on one H100 (``NORMALS4``, 2026-12-07 07:42: ResNet sgd
# `batch` 3.46x -> 3.18x fp, chopped `batch` 4.68x -> 4.50x, sgd `sample` 6.69x -> 6.41x),
# its switch removed 2026-12-08 (benchmarks/RESULTS.md).
@triton.jit
def _randn(seed, at):
    """A standard normal for each counter of ``at`` (a block whose last axis is its
    columns, consecutive). ``tl.randn`` spends a 10-round Philox call and a Box-Muller
    transform on each and keeps one of the call's four words and one of the pair's two
    normals; here one call serves four neighbouring columns (its four words: two
    Box-Muller pairs, both normals of each, ``_box_muller``), a quarter of the Philox calls
    and half the logarithms (the note above). Columns ``4k .. 4k + 3`` take lanes 0-3 of the call at
    the counter of column ``4k`` (the column blocks start at multiples of 4, at least 16
    wide), so the numbers do not depend on the blocks a kernel takes, and no two elements
    share a normal (distinct groups have distinct first counters)."""
    tl.static_assert(at.shape[-1] % 4 == 0, "the normals take blocks of 4k columns")
    first = tl.reshape(at, (at.numel // 4, 2, 2))  # (group, lane // 2, lane % 2)
    first, _ = tl.split(first)
    first, _ = tl.split(first)  # lane 0's counter: the group's
    i0, i1, i2, i3 = tl.randint4x(seed, first)
    n0, n1 = _box_muller(tl.random.uint_to_uniform_float(i0),
                         tl.random.uint_to_uniform_float(i1))
    n2, n3 = _box_muller(tl.random.uint_to_uniform_float(i2),
                         tl.random.uint_to_uniform_float(i3))
    return tl.reshape(tl.join(tl.join(n0, n2), tl.join(n1, n3)), at.shape)

@triton.jit
def _scale_of(amax, vmax, pos, neg, nm_thres, wmax, out_bound, inp_step, max_bm_res,
              KIND: tl.constexpr):
    """The noise-management scale of a row from its (clipped) absolute maximum ``amax``,
    maximum ``vmax`` and positive and negative sums: ``_row_scale``'s and ``_line_scale``'s
    one rule, scalar or element-wise alike."""
    if KIND == 0:  # NM_NONE
        out = tl.zeros_like(amax) + 1.0
    elif KIND == 3:  # NM_CONSTANT
        out = tl.zeros_like(amax) + nm_thres
    elif KIND == 1:  # NM_ABS_MAX
        out = amax
    elif KIND == 2:  # NM_MAX
        out = vmax
    else:  # NM_ABS_MAX_NP_SUM
        npsum = tl.math.div_rn(tl.maximum(pos, neg).to(tl.float32) * wmax, out_bound)
        if inp_step > 0:
            npsum = tl.minimum(tl.math.div_rn(amax, inp_step) * max_bm_res, npsum)
        out = tl.maximum(amax, npsum)
    return out


@triton.jit
def _row_scale(x_ptr, sx1, width, nm_thres, wmax, out_bound, inp_step, max_bm_res,
               KIND: tl.constexpr, BLOCK_I: tl.constexpr):
    """Noise-management scale of the row at ``x_ptr`` (as ``noise_management_scale_torch``)."""
    amax = tl.zeros((), tl.float32)
    vmax = tl.full((), float("-inf"), tl.float32)
    pos = tl.zeros((), tl.float64)
    neg = tl.zeros((), tl.float64)
    for i0 in range(0, width, BLOCK_I):
        cols = i0 + tl.arange(0, BLOCK_I)
        ok = cols < width
        t = tl.load(x_ptr + cols * sx1, mask=ok, other=0.0)
        amax = tl.maximum(amax, tl.max(tl.abs(t), axis=0))
        vmax = tl.maximum(vmax, tl.max(tl.where(ok, t, float("-inf")), axis=0))
        pos += tl.sum(tl.maximum(t, 0.0).to(tl.float64), axis=0)
        neg -= tl.sum(tl.minimum(t, 0.0).to(tl.float64), axis=0)
    if nm_thres > 0:
        amax = tl.minimum(amax, nm_thres)
        vmax = tl.minimum(vmax, nm_thres)
    return _scale_of(amax, vmax, pos, neg, nm_thres, wmax, out_bound, inp_step, max_bm_res,
                     KIND)


@triton.jit
def _dac(x, s, at, seed, bm_pass, inp_step, inp_bound, inp_noise, INP_Q: tl.constexpr,
         INP_STO: tl.constexpr, INP_NOISE: tl.constexpr,
         RINT: tl.constexpr = False):
    """The DAC's view of inputs ``x / s`` (a block or one value; ``at``: their counters;
    ``RINT``: rounded by ``_round_even_add``, the same numbers where ``2**21`` steps
    clip)."""
    t = tl.math.div_rn(x, s)
    if INP_Q:
        t = tl.math.div_rn(t, inp_step)
        if INP_STO:
            t = t + (tl.rand(_stream_seed(seed, 0, bm_pass), at) - 0.5)
        if RINT:
            t = _round_even_add(t) * inp_step
        else:
            t = _round_even(t) * inp_step
    t = tl.minimum(tl.maximum(t, -inp_bound), inp_bound)
    if INP_NOISE:
        t = t + inp_noise * _randn(_stream_seed(seed, 1, bm_pass), at)
    return t


@triton.jit
def _dac_row(x_ptr, sx1, v_ptr, row, width, s, seed, bm_pass, inp_step, inp_bound,
             inp_noise, INP_Q: tl.constexpr, INP_STO: tl.constexpr, INP_NOISE: tl.constexpr,
             BLOCK_I: tl.constexpr):
    """Write the DAC's view of ``x / s`` to ``v_ptr``; return its squared norm."""
    sumsq = tl.zeros((), tl.float32)
    for i0 in range(0, width, BLOCK_I):
        cols = i0 + tl.arange(0, BLOCK_I)
        ok = cols < width
        t = _dac(tl.load(x_ptr + cols * sx1, mask=ok, other=0.0), s, row * width + cols,
                 seed, bm_pass, inp_step, inp_bound, inp_noise, INP_Q, INP_STO, INP_NOISE)
        t = tl.where(ok, t, 0.0)
        tl.store(v_ptr + cols, t, mask=ok)
        sumsq += tl.sum(t * t, axis=0)
    return sumsq


@triton.jit
def _adc(y, var, norm, at, ok, seed, bm_pass, w_noise, out_noise, out_step, out_bound,
         W_KIND: tl.constexpr, OUT_NOISE: tl.constexpr, OUT_Q: tl.constexpr,
         OUT_STO: tl.constexpr, TEST_NEG: tl.constexpr, AXIS: tl.constexpr):
    """Read noise, output noise, ADC on outputs ``y`` (``at``: their Philox offsets,
    ``norm`` as wide as ``y``); returns them clipped and whether they clipped along
    ``AXIS``."""
    if W_KIND == 1:  # W_NOISE_ADDITIVE
        y = y + (w_noise * norm) * _randn(_stream_seed(seed, 2, bm_pass), at)
    elif W_KIND == 2:  # W_NOISE_PCM
        y = y + (w_noise * tl.sqrt(var)) * _randn(_stream_seed(seed, 2, bm_pass), at)
    if OUT_NOISE:
        y = y + out_noise * _randn(_stream_seed(seed, 3, bm_pass), at)
    if OUT_Q:
        y = tl.math.div_rn(y, out_step)
        if OUT_STO:
            y = y + (tl.rand(_stream_seed(seed, 4, bm_pass), at) - 0.5)
        y = _round_even(y) * out_step
    hit = y > out_bound
    if TEST_NEG:
        hit = hit | (y < -out_bound)
    hit = tl.max((hit & ok).to(tl.int32), axis=AXIS)
    return tl.minimum(tl.maximum(y, -out_bound), out_bound), hit


@triton.jit
def _adc_block(y, var, norm, row, cols, ok, width, seed, bm_pass, w_noise, out_noise,
               out_step, out_bound, W_KIND: tl.constexpr, OUT_NOISE: tl.constexpr,
               OUT_Q: tl.constexpr, OUT_STO: tl.constexpr, TEST_NEG: tl.constexpr):
    """``_adc`` of one row's block of outputs ``cols``; whether the block clipped."""
    return _adc(y, var, norm, row * width + cols, ok, seed, bm_pass, w_noise, out_noise,
                out_step, out_bound, W_KIND, OUT_NOISE, OUT_Q, OUT_STO, TEST_NEG, 0)


@triton.jit
def _adc_rows(y, var, norm, rows, cols, ok, width, seed, w_noise, out_noise, out_step,
              out_bound, W_KIND: tl.constexpr, OUT_NOISE: tl.constexpr, OUT_Q: tl.constexpr,
              OUT_STO: tl.constexpr, TEST_NEG: tl.constexpr):
    """``_adc_block`` of the first pass on a block of rows ``(rows, cols)``: the same
    element-wise numbers; whether each row clipped."""
    return _adc(y, var, norm[:, None], rows[:, None] * width + cols[None, :], ok, seed, 0,
                w_noise, out_noise, out_step, out_bound, W_KIND, OUT_NOISE, OUT_Q, OUT_STO,
                TEST_NEG, 1)


@triton.jit
def _scaled_back(y, alpha, out_scale, SCALED: tl.constexpr):
    """ADC outputs in the layer's units: times the DAC scale ``alpha`` of their row, then
    (``SCALED``) the output scale."""
    y = y * alpha
    if SCALED:
        y = y * out_scale
    return y


@triton.jit
def _seed(seed_ptr, seed_arg, SEED_PTR: tl.constexpr):
    """The call's Philox seed: read from the device (so a graph replay draws anew) in the
    host seeds' form (44 bits, top one set), or the host's ``seed_arg``."""
    if SEED_PTR:
        seed = (tl.load(seed_ptr) & 0x7FFFFFFFFFF) | 0x80000000000
    else:
        seed = seed_arg
    return seed


@triton.jit
def _tile_of(x_ptr, seed_ptr, n_cols, sx_i, sx_j, SEED_PTR: tl.constexpr):
    """Tile ``g`` (program axis 1) of a group, ``n_cols`` tiles to a row of the grid: its
    input block (``sx_i`` / ``sx_j`` elements on per grid row / column) and its seed
    pointer (one seed per tile). A single tile is the group of one: ``g = 0``."""
    g = tl.program_id(1)
    x_at = x_ptr + (g // n_cols).to(tl.int64) * sx_i + (g % n_cols).to(tl.int64) * sx_j
    if SEED_PTR:
        seed_ptr += g
    return g.to(tl.int64), x_at, seed_ptr


@triton.jit
def _prologue_kernel(x_ptr, sx0, sx1, v_ptr, scale_ptr, norm_ptr, seed_ptr, seed_arg, vec_ptr,
                     width, n, n_cols, sx_i, sx_j, nm_thres, wmax, out_bound, inp_step,
                     max_bm_res, inp_bound, inp_noise,
                     NM_KIND: tl.constexpr, SEED_PTR: tl.constexpr, INP_Q: tl.constexpr,
                     INP_STO: tl.constexpr, INP_NOISE: tl.constexpr, COUNT: tl.constexpr,
                     BLOCK_I: tl.constexpr):
    row = tl.program_id(0)
    if COUNT:  # the tile's count of MVM vectors (nothing here reads it)
        if (row == 0) & (tl.program_id(1) == 0):
            tl.store(vec_ptr, tl.load(vec_ptr) + n)
    g, x_ptr, seed_ptr = _tile_of(x_ptr, seed_ptr, n_cols, sx_i, sx_j, SEED_PTR)
    seed = _seed(seed_ptr, seed_arg, SEED_PTR)
    at = g * n + row  # this row of this tile in the (tiles, n) scales and (tiles, n, .) rows
    x_row = x_ptr + row.to(tl.int64) * sx0
    raw = _row_scale(x_row, sx1, width, nm_thres, wmax, out_bound, inp_step, max_bm_res,
                     NM_KIND, BLOCK_I)
    s = tl.where(raw > 0, raw, 1.0)
    silent = (raw <= 0) & (inp_noise <= 0)  # never with NM_NONE (raw = 1)
    sumsq = _dac_row(x_row, sx1, v_ptr + at * width, row, width, s, seed, 0, inp_step,
                     inp_bound, inp_noise, INP_Q, INP_STO, INP_NOISE, BLOCK_I)
    tl.store(scale_ptr + at, tl.where(silent, 0.0, s))  # 0 marks a silent row
    tl.store(norm_ptr + at, tl.sqrt(sumsq))


@triton.jit
def _bound_management(x_row, sx1, v_row, w_ptr, sw0, sw1, out_row, row, width, n_out,
                      alpha, hit, silent, seed, nm_thres, wmax, inp_step, max_bm_res,
                      inp_bound, inp_noise, w_noise, out_noise, out_step, out_bound, out_scale,
                      max_bm_factor, bm_limit, WORST: tl.constexpr, INP_Q: tl.constexpr,
                      INP_STO: tl.constexpr, INP_NOISE: tl.constexpr, W_KIND: tl.constexpr,
                      OUT_NOISE: tl.constexpr, OUT_Q: tl.constexpr, OUT_STO: tl.constexpr,
                      TEST_NEG: tl.constexpr, SCALED: tl.constexpr, BLOCK_I: tl.constexpr,
                      GEMV_O: tl.constexpr):
    """Bound management of one row after its first pass (``hit``: whether an output
    clipped): while one clips, halve the input, redo the DAC row at ``v_row`` and its GEMV
    with the weight, and overwrite the row's outputs at ``out_row``."""
    if WORST:
        worst = _row_scale(x_row, sx1, width, nm_thres, wmax, out_bound, inp_step, max_bm_res,
                           4, BLOCK_I)
    reduction = tl.full((), 1.0, tl.float32)
    bm_pass = tl.zeros((), tl.int32)
    again = (hit > 0) & (~silent) & (reduction <= max_bm_factor) & (reduction <= bm_limit)
    while again:
        bm_pass += 1
        reduction = reduction * 2.0
        if WORST:
            if bm_pass == 1:
                alpha = tl.where(worst > 0, worst, alpha)
                reduction = tl.full((), 1.0, tl.float32)
        s = alpha * reduction
        # the program's threads share the row through memory, in other layouts than
        # they write it: no thread rewrites it before every read of the last pass is
        # done, nor reads it before every thread has written it
        tl.debug_barrier()
        sumsq = _dac_row(x_row, sx1, v_row, row, width, s, seed, bm_pass, inp_step, inp_bound,
                         inp_noise, INP_Q, INP_STO, INP_NOISE, BLOCK_I)
        tl.debug_barrier()
        norm = tl.sqrt(sumsq)
        hit = tl.zeros((), tl.int32)
        for o0 in range(0, n_out, GEMV_O):
            outs = o0 + tl.arange(0, GEMV_O)
            ok = outs < n_out
            acc = tl.zeros((GEMV_O,), tl.float32)
            acc_var = tl.zeros((GEMV_O,), tl.float32)
            for i0 in range(0, width, BLOCK_I):
                cols = i0 + tl.arange(0, BLOCK_I)
                ok_i = cols < width
                v = tl.load(v_row + cols, mask=ok_i, other=0.0)
                w = tl.load(w_ptr + outs[:, None].to(tl.int64) * sw0 + cols[None, :] * sw1,
                            mask=ok[:, None] & ok_i[None, :], other=0.0)
                acc += tl.sum(w * v[None, :], axis=1)
                if W_KIND == 2:
                    acc_var += tl.sum(tl.abs(w) * (v * v)[None, :], axis=1)
            y, block_hit = _adc_block(acc, acc_var, norm, row, outs, ok, n_out, seed,
                                      bm_pass, w_noise, out_noise, out_step, out_bound,
                                      W_KIND, OUT_NOISE, OUT_Q, OUT_STO, TEST_NEG)
            hit = tl.maximum(hit, block_hit)
            y = _scaled_back(y, s, out_scale, SCALED)
            tl.store(out_row + outs, y, mask=ok)
        again = (hit > 0) & (reduction <= max_bm_factor) & (reduction <= bm_limit)


@triton.jit
def _epilogue_kernel(y_ptr, var_ptr, x_ptr, sx0, sx1, v_ptr, w_ptr, sw0, sw1, swg, scale_ptr,
                     norm_ptr, out_ptr, seed_ptr, seed_arg, width, n_out, n, n_cols, sx_i,
                     sx_j, nm_thres, wmax,
                     inp_step, max_bm_res, inp_bound, inp_noise, w_noise, out_noise, out_step,
                     out_bound, out_scale, max_bm_factor, bm_limit,
                     SEED_PTR: tl.constexpr, BM_KIND: tl.constexpr, WORST: tl.constexpr,
                     INP_Q: tl.constexpr, INP_STO: tl.constexpr, INP_NOISE: tl.constexpr,
                     W_KIND: tl.constexpr, OUT_NOISE: tl.constexpr, OUT_Q: tl.constexpr,
                     OUT_STO: tl.constexpr, TEST_NEG: tl.constexpr, SCALED: tl.constexpr,
                     BLOCK_O: tl.constexpr, BLOCK_I: tl.constexpr, GEMV_O: tl.constexpr):
    row = tl.program_id(0)
    g, x_ptr, seed_ptr = _tile_of(x_ptr, seed_ptr, n_cols, sx_i, sx_j, SEED_PTR)
    seed = _seed(seed_ptr, seed_arg, SEED_PTR)
    at = g * n + row
    w_ptr += g * swg
    base = at * n_out
    alpha = tl.load(scale_ptr + at)
    norm = tl.load(norm_ptr + at)
    silent = alpha == 0
    hit = tl.zeros((), tl.int32)
    for o0 in range(0, n_out, BLOCK_O):
        cols = o0 + tl.arange(0, BLOCK_O)
        ok = cols < n_out
        y = tl.load(y_ptr + base + cols, mask=ok, other=0.0)
        var = y
        if W_KIND == 2:
            var = tl.load(var_ptr + base + cols, mask=ok, other=0.0)
        y, block_hit = _adc_block(y, var, norm, row, cols, ok, n_out, seed, 0, w_noise,
                                  out_noise, out_step, out_bound, W_KIND, OUT_NOISE, OUT_Q,
                                  OUT_STO, TEST_NEG)
        hit = tl.maximum(hit, block_hit)
        y = _scaled_back(y, alpha, out_scale, SCALED)
        tl.store(out_ptr + base + cols, tl.where(silent, 0.0, y), mask=ok)
    if BM_KIND != 0:
        _bound_management(x_ptr + row.to(tl.int64) * sx0, sx1, v_ptr + at * width,
                          w_ptr, sw0, sw1, out_ptr + base, row, width, n_out, alpha, hit, silent,
                          seed, nm_thres, wmax, inp_step, max_bm_res, inp_bound, inp_noise,
                          w_noise, out_noise, out_step, out_bound, out_scale, max_bm_factor,
                          bm_limit, WORST, INP_Q, INP_STO, INP_NOISE, W_KIND, OUT_NOISE,
                          OUT_Q, OUT_STO, TEST_NEG, SCALED, BLOCK_I, GEMV_O)


@triton.jit
def _rows_of(n, BLOCK_R: tl.constexpr):
    """The rows of program ``(b, g)``: ``b * BLOCK_R + [0, BLOCK_R)`` (int32, as a row's
    ``program_id`` in the kernels of one row) and which of them exist."""
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    return rows, rows < n


@triton.jit
def _row_block_start(x_ptr, seed_ptr, seed_arg, vec_ptr, n, n_cols, sx_i, sx_j,
                     SEED_PTR: tl.constexpr, COUNT: tl.constexpr, BLOCK_R: tl.constexpr):
    """A row-block program's tile, input block, seed and rows (``_tile_of``, ``_rows_of``);
    with ``COUNT`` the first program adds the ``n`` rows to the tile's vector count."""
    if COUNT:
        if (tl.program_id(0) == 0) & (tl.program_id(1) == 0):
            tl.store(vec_ptr, tl.load(vec_ptr) + n)
    g, x_ptr, seed_ptr = _tile_of(x_ptr, seed_ptr, n_cols, sx_i, sx_j, SEED_PTR)
    seed = _seed(seed_ptr, seed_arg, SEED_PTR)
    rows, live = _rows_of(n, BLOCK_R)
    return g, x_ptr, seed, rows, live


@triton.jit
def _rows_scale(amax, vmax, nm_thres, NM_KIND: tl.constexpr, BLOCK_R: tl.constexpr):
    """Noise-management scales of ``BLOCK_R`` rows from their exact maxima (``amax``: of
    ``|x|``, ``vmax``: of ``x``), for the kinds without a sum (as ``_row_scale``)."""
    if nm_thres > 0:
        amax = tl.minimum(amax, nm_thres)
    if NM_KIND == 0:  # NM_NONE
        raw = tl.full((BLOCK_R,), 1.0, tl.float32)
    elif NM_KIND == 3:  # NM_CONSTANT
        raw = tl.full((BLOCK_R,), 1.0, tl.float32) * nm_thres
    elif NM_KIND == 1:  # NM_ABS_MAX
        raw = amax
    else:  # NM_MAX
        raw = vmax
        if nm_thres > 0:
            raw = tl.minimum(raw, nm_thres)
    return raw


@triton.jit
def _prologue_rows_kernel(x_ptr, sx0, sx1, v_ptr, scale_ptr, norm_ptr, seed_ptr, seed_arg,
                          vec_ptr, width, n, n_cols, sx_i, sx_j, nm_thres, inp_step,
                          inp_bound, inp_noise,
                          NM_KIND: tl.constexpr, SEED_PTR: tl.constexpr, INP_Q: tl.constexpr,
                          INP_STO: tl.constexpr, INP_NOISE: tl.constexpr, COUNT: tl.constexpr,
                          BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):
    """``_prologue_kernel`` for ``BLOCK_R`` rows at once, each row whole in ``BLOCK_C``
    columns: the same element-wise numbers and exact reductions (max), for noise
    managements without a sum (not ``abs_max_np_sum``); the norm it writes is summed in
    another order (it is read by additive weight noise only, which takes the other kernel)."""
    g, x_ptr, seed, rows, live = _row_block_start(x_ptr, seed_ptr, seed_arg, vec_ptr, n,
                                                  n_cols, sx_i, sx_j, SEED_PTR, COUNT,
                                                  BLOCK_R)
    cols = tl.arange(0, BLOCK_C)
    ok = live[:, None] & (cols < width)[None, :]
    x = tl.load(x_ptr + rows[:, None].to(tl.int64) * sx0 + cols[None, :] * sx1, mask=ok,
                other=0.0)
    _prologue_rows(x, ok, live, rows, g * n + rows, cols, width, seed, v_ptr, scale_ptr,
                   norm_ptr, nm_thres, inp_step, inp_bound, inp_noise, NM_KIND, INP_Q,
                   INP_STO, INP_NOISE, BLOCK_R)


@triton.jit
def _prologue_rows(x, ok, live, rows, at, cols, width, seed, v_ptr, scale_ptr, norm_ptr,
                   nm_thres, inp_step, inp_bound, inp_noise, NM_KIND: tl.constexpr,
                   INP_Q: tl.constexpr, INP_STO: tl.constexpr, INP_NOISE: tl.constexpr,
                   BLOCK_R: tl.constexpr):
    """The row-block prologue of the rows ``x`` (``rows``: their numbers, which key the
    noise; ``at``: where their ``v``, scales and norms go): scales, DAC, stores."""
    raw = _rows_scale(tl.max(tl.abs(x), axis=1), tl.max(tl.where(ok, x, float("-inf")), axis=1),
                      nm_thres, NM_KIND, BLOCK_R)
    s = tl.where(raw > 0, raw, 1.0)
    silent = (raw <= 0) & (inp_noise <= 0)
    t = _dac(x, s[:, None], rows[:, None] * width + cols[None, :], seed, 0, inp_step,
             inp_bound, inp_noise, INP_Q, INP_STO, INP_NOISE)
    t = tl.where(ok, t, 0.0)
    tl.store(v_ptr + at[:, None] * width + cols[None, :], t, mask=ok)
    tl.store(scale_ptr + at, tl.where(silent, 0.0, s), mask=live)
    tl.store(norm_ptr + at, tl.sqrt(tl.sum(t * t, axis=1)), mask=live)


@triton.jit
def _prologue_split_kernel(x_ptr, sx0, sx1, v_ptr, scale_ptr, seed_ptr, seed_arg, vec_ptr,
                           width, n, n_cols, sx_i, sx_j, nm_thres, inp_step, inp_bound,
                           inp_noise, NM_KIND: tl.constexpr, SEED_PTR: tl.constexpr,
                           INP_Q: tl.constexpr, INP_STO: tl.constexpr,
                           INP_NOISE: tl.constexpr, COUNT: tl.constexpr,
                           BLOCK_R: tl.constexpr, BLOCK_A: tl.constexpr,
                           BLOCK_B: tl.constexpr,
                           RINT: tl.constexpr):
    """``_prologue_rows_kernel`` with each row in two power-of-two parts read at once
    (``SPLIT_ROWS``): columns ``[0, BLOCK_A)`` (``BLOCK_A <= width``: no mask but the
    rows') and ``BLOCK_A + [0, BLOCK_B)`` (a row of 144 is 128 + 16 lanes, not 256), both
    loads issued before any arithmetic; the maxima of the two parts' maxima (exact), the
    same DAC on each element with its own counter (``RINT``: rounding by
    ``_round_even_add``, the same numbers). No norm is written: additive weight noise alone
    reads it, and takes the one-row prologue (``_launch``); summing it here made Triton's
    layout pass compute the 128-wide part's DAC twice, in the layouts of both parts (the
    sums of the two parts meet in one; 131 -> 60 SASS instructions a real element without
    it, sm_90)."""
    g, x_ptr, seed, rows, live = _row_block_start(x_ptr, seed_ptr, seed_arg, vec_ptr, n,
                                                  n_cols, sx_i, sx_j, SEED_PTR, COUNT,
                                                  BLOCK_R)
    ca = tl.arange(0, BLOCK_A)
    cb = BLOCK_A + tl.arange(0, BLOCK_B)
    oka = tl.broadcast_to(live[:, None], (BLOCK_R, BLOCK_A))
    okb = live[:, None] & (cb < width)[None, :]
    x_rows = x_ptr + rows[:, None].to(tl.int64) * sx0
    xa = tl.load(x_rows + ca[None, :] * sx1, mask=oka, other=0.0)
    xb = tl.load(x_rows + cb[None, :] * sx1, mask=okb, other=0.0)
    amax = tl.maximum(tl.max(tl.abs(xa), axis=1), tl.max(tl.abs(xb), axis=1))
    vmax = tl.maximum(tl.max(tl.where(oka, xa, float("-inf")), axis=1),
                      tl.max(tl.where(okb, xb, float("-inf")), axis=1))
    raw = _rows_scale(amax, vmax, nm_thres, NM_KIND, BLOCK_R)
    s = tl.where(raw > 0, raw, 1.0)
    silent = (raw <= 0) & (inp_noise <= 0)
    at = g * n + rows
    ta = _dac(xa, s[:, None], rows[:, None] * width + ca[None, :], seed, 0, inp_step,
              inp_bound, inp_noise, INP_Q, INP_STO, INP_NOISE, RINT)
    tb = _dac(xb, s[:, None], rows[:, None] * width + cb[None, :], seed, 0, inp_step,
              inp_bound, inp_noise, INP_Q, INP_STO, INP_NOISE, RINT)
    ta = tl.where(oka, ta, 0.0)
    tb = tl.where(okb, tb, 0.0)
    v_rows = v_ptr + at[:, None] * width
    tl.store(v_rows + ca[None, :], ta, mask=oka)
    tl.store(v_rows + cb[None, :], tb, mask=okb)
    tl.store(scale_ptr + at, tl.where(silent, 0.0, s), mask=live)


@triton.jit
def _epilogue_first_pass(y_ptr, var_ptr, scale_ptr, norm_ptr, out_ptr, at, rows, cols, live,
                         ok, n_out, seed, w_noise, out_noise, out_step, out_bound, out_scale,
                         W_KIND: tl.constexpr, OUT_NOISE: tl.constexpr, OUT_Q: tl.constexpr,
                         OUT_STO: tl.constexpr, TEST_NEG: tl.constexpr,
                         SCALED: tl.constexpr):
    """The epilogue's element-wise pass over rows ``at`` (their block's ``(rows, cols)``):
    the ADC, the DAC scale back, the output scale, a silent row's zeros, stored; which rows
    clipped and which are silent (the row-block and the chunk kernels both)."""
    where = at[:, None] * n_out + cols[None, :]
    alpha = tl.load(scale_ptr + at, mask=live, other=1.0)
    norm = tl.load(norm_ptr + at, mask=live, other=0.0)
    silent = alpha == 0
    y = tl.load(y_ptr + where, mask=ok, other=0.0)
    var = y
    if W_KIND == 2:
        var = tl.load(var_ptr + where, mask=ok, other=0.0)
    y, hit = _adc_rows(y, var, norm, rows, cols, ok, n_out, seed, w_noise, out_noise,
                       out_step, out_bound, W_KIND, OUT_NOISE, OUT_Q, OUT_STO, TEST_NEG)
    y = _scaled_back(y, alpha[:, None], out_scale, SCALED)
    tl.store(out_ptr + where, tl.where(silent[:, None], 0.0, y), mask=ok)
    return hit, silent


@triton.jit
def _epilogue_rows_kernel(y_ptr, var_ptr, x_ptr, sx0, sx1, v_ptr, w_ptr, sw0, sw1, swg,
                          scale_ptr, norm_ptr, out_ptr, seed_ptr, seed_arg, width, n_out, n,
                          n_cols, sx_i, sx_j, nm_thres, wmax, inp_step, max_bm_res, inp_bound,
                          inp_noise, w_noise, out_noise, out_step, out_bound, out_scale,
                          max_bm_factor, bm_limit,
                          SEED_PTR: tl.constexpr, BM_KIND: tl.constexpr, WORST: tl.constexpr,
                          INP_Q: tl.constexpr, INP_STO: tl.constexpr, INP_NOISE: tl.constexpr,
                          W_KIND: tl.constexpr, OUT_NOISE: tl.constexpr, OUT_Q: tl.constexpr,
                          OUT_STO: tl.constexpr, TEST_NEG: tl.constexpr, SCALED: tl.constexpr,
                          BLOCK_R: tl.constexpr, BLOCK_O: tl.constexpr, BLOCK_I: tl.constexpr,
                          GEMV_O: tl.constexpr):
    """``_epilogue_kernel`` for ``BLOCK_R`` rows at once, each row's outputs whole in
    ``BLOCK_O``: the first pass element-wise as there; then each row that clipped, one after
    the other, through the same bound management as one row's program."""
    g, x_ptr, seed_ptr = _tile_of(x_ptr, seed_ptr, n_cols, sx_i, sx_j, SEED_PTR)
    seed = _seed(seed_ptr, seed_arg, SEED_PTR)
    rows, live = _rows_of(n, BLOCK_R)
    at = g * n + rows
    w_ptr += g * swg
    cols = tl.arange(0, BLOCK_O)
    ok = live[:, None] & (cols < n_out)[None, :]
    hit, silent = _epilogue_first_pass(y_ptr, var_ptr, scale_ptr, norm_ptr, out_ptr, at, rows,
                                       cols, live, ok, n_out, seed, w_noise, out_noise,
                                       out_step, out_bound, out_scale, W_KIND, OUT_NOISE,
                                       OUT_Q, OUT_STO, TEST_NEG, SCALED)
    if BM_KIND != 0:
        _bound_management_rows(x_ptr, sx0, sx1, v_ptr, w_ptr, sw0, sw1, scale_ptr, out_ptr,
                               (hit > 0) & (~silent) & live, g, n, width, n_out, seed, nm_thres,
                               wmax, inp_step, max_bm_res, inp_bound, inp_noise, w_noise,
                               out_noise, out_step, out_bound, out_scale, max_bm_factor,
                               bm_limit, WORST, INP_Q, INP_STO, INP_NOISE, W_KIND, OUT_NOISE,
                               OUT_Q, OUT_STO, TEST_NEG, SCALED, BLOCK_R, BLOCK_I, GEMV_O)


@triton.jit
def _epilogue_split_kernel(y_ptr, var_ptr, scale_ptr, norm_ptr, out_ptr, seed_ptr, seed_arg,
                           n_out, n, w_noise, out_noise, out_step, out_bound, out_scale,
                           SEED_PTR: tl.constexpr, W_KIND: tl.constexpr,
                           OUT_NOISE: tl.constexpr, OUT_Q: tl.constexpr,
                           OUT_STO: tl.constexpr, SCALED: tl.constexpr,
                           BLOCK_R: tl.constexpr, BLOCK_A: tl.constexpr,
                           BLOCK_B: tl.constexpr):
    """``_epilogue_rows_kernel`` without bound management (``SPLIT_OUTPUTS``: a backward
    MVM's) with each row's outputs in two power-of-two parts, ``[0, BLOCK_A)`` and
    ``BLOCK_A + [0, BLOCK_B)`` (144 outputs: 128 + 16 lanes, not 256 of which 112 draw a
    normal for nothing), both parts' products loaded before any arithmetic: the first
    pass's element-wise numbers (``_adc_rows``, ``_scaled_back``) at the same counters."""
    g = tl.program_id(1)
    if SEED_PTR:
        seed_ptr += g
    seed = _seed(seed_ptr, seed_arg, SEED_PTR)
    rows, live = _rows_of(n, BLOCK_R)
    at = g.to(tl.int64) * n + rows
    ca = tl.arange(0, BLOCK_A)
    cb = BLOCK_A + tl.arange(0, BLOCK_B)
    oka = tl.broadcast_to(live[:, None], (BLOCK_R, BLOCK_A))
    okb = live[:, None] & (cb < n_out)[None, :]
    wa = at[:, None] * n_out + ca[None, :]
    wb = at[:, None] * n_out + cb[None, :]
    ya = tl.load(y_ptr + wa, mask=oka, other=0.0)
    yb = tl.load(y_ptr + wb, mask=okb, other=0.0)
    var_a, var_b = ya, yb
    if W_KIND == 2:
        var_a = tl.load(var_ptr + wa, mask=oka, other=0.0)
        var_b = tl.load(var_ptr + wb, mask=okb, other=0.0)
    alpha = tl.load(scale_ptr + at, mask=live, other=1.0)
    norm = tl.load(norm_ptr + at, mask=live, other=0.0)
    silent = (alpha == 0)[:, None]
    ya, _ = _adc_rows(ya, var_a, norm, rows, ca, oka, n_out, seed, w_noise, out_noise,
                      out_step, out_bound, W_KIND, OUT_NOISE, OUT_Q, OUT_STO, False)
    yb, _ = _adc_rows(yb, var_b, norm, rows, cb, okb, n_out, seed, w_noise, out_noise,
                      out_step, out_bound, W_KIND, OUT_NOISE, OUT_Q, OUT_STO, False)
    ya = _scaled_back(ya, alpha[:, None], out_scale, SCALED)
    yb = _scaled_back(yb, alpha[:, None], out_scale, SCALED)
    tl.store(out_ptr + wa, tl.where(silent, 0.0, ya), mask=oka)
    tl.store(out_ptr + wb, tl.where(silent, 0.0, yb), mask=okb)


@triton.jit
def _bound_management_rows(x_ptr, sx0, sx1, v_ptr, w_ptr, sw0, sw1, scale_ptr, out_ptr, todo, g, n,
                           width, n_out, seed, nm_thres, wmax, inp_step, max_bm_res, inp_bound,
                           inp_noise, w_noise, out_noise, out_step, out_bound, out_scale,
                           max_bm_factor, bm_limit, WORST: tl.constexpr, INP_Q: tl.constexpr,
                           INP_STO: tl.constexpr, INP_NOISE: tl.constexpr, W_KIND: tl.constexpr,
                           OUT_NOISE: tl.constexpr, OUT_Q: tl.constexpr, OUT_STO: tl.constexpr,
                           TEST_NEG: tl.constexpr, SCALED: tl.constexpr, BLOCK_R: tl.constexpr,
                           BLOCK_I: tl.constexpr, GEMV_O: tl.constexpr):
    """Bound management of a block's rows that clipped (``todo``), one after the other,
    through the code of one row's program (its scale read back from ``scale_ptr``)."""
    lane = tl.arange(0, BLOCK_R)
    left = tl.sum(todo.to(tl.int32), axis=0)
    while left > 0:
        r = tl.min(tl.where(todo, lane, BLOCK_R), axis=0)
        todo = todo & (lane != r)
        left -= 1
        row = tl.program_id(0) * BLOCK_R + r
        at_r = g * n + row
        x_row = x_ptr + row.to(tl.int64) * sx0
        _bound_management(x_row, sx1, v_ptr + at_r * width,
                          w_ptr, sw0, sw1, out_ptr + at_r * n_out, row, width, n_out,
                          tl.load(scale_ptr + at_r), tl.full((), 1, tl.int32),
                          tl.load(scale_ptr + at_r) == 0, seed, nm_thres, wmax,
                          inp_step, max_bm_res, inp_bound, inp_noise, w_noise, out_noise,
                          out_step, out_bound, out_scale, max_bm_factor, bm_limit, WORST,
                          INP_Q, INP_STO, INP_NOISE, W_KIND, OUT_NOISE, OUT_Q, OUT_STO,
                          TEST_NEG, SCALED, BLOCK_I, GEMV_O)


@triton.jit
def _onehot_tile(x_ptr, w_ptr, out_ptr, start_ptr, start, seed_ptr, seed_arg, n, n_out, n_cols,
                 sx_i, sx_j, swg, GROUP: tl.constexpr, SEED_PTR: tl.constexpr,
                 START_PTR: tl.constexpr):
    """A one-hot read's inputs, weights, outputs, seed and first line: ``GROUP``, tile ``g``
    (program axis 1) of a group of ``n`` rows each, as the prologue and epilogue find it
    (``_tile_of``), its weights ``swg`` apart, its start at ``start_ptr + g``, its rows at
    ``out_ptr + g * n * n_out``; the start read from the device where ``START_PTR``."""
    if GROUP:
        g, x_ptr, seed_ptr = _tile_of(x_ptr, seed_ptr, n_cols, sx_i, sx_j, SEED_PTR)
        w_ptr += g * swg
        start_ptr += g
        out_ptr += g * n * n_out
    seed = _seed(seed_ptr, seed_arg, SEED_PTR)
    if START_PTR:
        first = tl.load(start_ptr)
    else:
        first = start
    return x_ptr, w_ptr, out_ptr, seed, first


@triton.jit(do_not_specialize=["start", "seed_arg"])
def _onehot_kernel(x_ptr, sx0, sx1, w_ptr, sw0, sw1, out_ptr, start_ptr, start, seed_ptr,
                   seed_arg, width, n_out, nm_thres, wmax, out_bound, inp_step, max_bm_res,
                   inp_bound, w_noise, out_noise, out_step, out_scale,
                   NM_KIND: tl.constexpr, SEED_PTR: tl.constexpr, START_PTR: tl.constexpr,
                   INP_Q: tl.constexpr, INP_STO: tl.constexpr, W_KIND: tl.constexpr,
                   OUT_NOISE: tl.constexpr, OUT_Q: tl.constexpr, OUT_STO: tl.constexpr,
                   TEST_NEG: tl.constexpr, SCALED: tl.constexpr, BLOCK_I: tl.constexpr,
                   BLOCK_O: tl.constexpr, GROUP: tl.constexpr = False, n=0, n_cols=1,
                   sx_i=0, sx_j=0, swg=0):
    """Prologue and epilogue of a row that is zero but at column ``j = (start + row) %
    width``: ``x @ W.T`` is then ``W[:, j]`` times the DAC's ``v_j`` exactly (the other
    products are zeros), so the column is read instead of multiplied. Without input noise
    and bound management only (a zero input stays zero, one pass). ``GROUP``: tile ``g``
    (program axis 1) of a group of ``n`` rows each, as the prologue and epilogue find it
    (``_tile_of``: its block of ``x``, its seed), its weights ``swg`` apart, its start at
    ``start_ptr + g`` and its rows at ``out_ptr + g * n * n_out``. For the reads whose
    noise-management scale needs the whole row (``NM_MAX``: its zeros count); the others
    take ``_onehot_rows_kernel``."""
    row = tl.program_id(0)
    x_ptr, w_ptr, out_ptr, seed, first = _onehot_tile(
        x_ptr, w_ptr, out_ptr, start_ptr, start, seed_ptr, seed_arg, n, n_out, n_cols, sx_i,
        sx_j, swg, GROUP, SEED_PTR, START_PTR)
    x_row = x_ptr + row.to(tl.int64) * sx0
    j = ((first + row) % width).to(tl.int32)
    raw = _row_scale(x_row, sx1, width, nm_thres, wmax, out_bound, inp_step, max_bm_res,
                     NM_KIND, BLOCK_I)
    s = tl.where(raw > 0, raw, 1.0)
    silent = raw <= 0
    # the DAC's counter in int32, as the prologue's (Philox draws by the counters' width)
    v = _dac(tl.load(x_row + j.to(tl.int64) * sx1), s, row * width + j, seed, 0, inp_step,
             inp_bound, 0.0, INP_Q, INP_STO, False)
    j = j.to(tl.int64)
    norm = tl.sqrt(v * v)  # the row's norm: its other entries are zeros
    alpha = tl.where(silent, 0.0, s)
    for o0 in range(0, n_out, BLOCK_O):
        cols = o0 + tl.arange(0, BLOCK_O)
        ok = cols < n_out
        w = tl.load(w_ptr + cols.to(tl.int64) * sw0 + j * sw1, mask=ok, other=0.0)
        y = w * v
        var = y
        if W_KIND == 2:
            var = tl.abs(w) * (v * v)
        y, _ = _adc_block(y, var, norm, row, cols, ok, n_out, seed, 0, w_noise, out_noise,
                          out_step, out_bound, W_KIND, OUT_NOISE, OUT_Q, OUT_STO, TEST_NEG)
        y = _scaled_back(y, alpha, out_scale, SCALED)
        tl.store(out_ptr + row.to(tl.int64) * n_out + cols, tl.where(silent, 0.0, y), mask=ok)


@triton.jit
def _line_scale(t, nm_thres, wmax, out_bound, inp_step, max_bm_res, KIND: tl.constexpr):
    """``_row_scale`` of rows whose one nonzero entry is ``t`` (element-wise; its maximum,
    absolute maximum and positive and negative sums are ``t``'s: the same numbers as
    ``_row_scale`` on the row). Not for ``NM_MAX`` (the row's zeros count there)."""
    amax = tl.abs(t)
    # the sums over the element and one zero, as the row's (signed zeros alike)
    pos = 0.0 + (tl.maximum(t, 0.0).to(tl.float64) + 0.0)
    neg = 0.0 - (tl.minimum(t, 0.0).to(tl.float64) + 0.0)
    if nm_thres > 0:
        amax = tl.minimum(amax, nm_thres)
    return _scale_of(amax, amax, pos, neg, nm_thres, wmax, out_bound, inp_step, max_bm_res,
                     KIND)


@triton.jit(do_not_specialize=["start", "seed_arg"])
def _onehot_rows_kernel(x_ptr, sx0, sx1, w_ptr, sw0, sw1, out_ptr, start_ptr, start, seed_ptr,
                        seed_arg, n, width, n_out, nm_thres, wmax, out_bound, inp_step,
                        max_bm_res, inp_bound, w_noise, out_noise, out_step, out_scale,
                        NM_KIND: tl.constexpr, SEED_PTR: tl.constexpr,
                        START_PTR: tl.constexpr, INP_Q: tl.constexpr, INP_STO: tl.constexpr,
                        W_KIND: tl.constexpr, OUT_NOISE: tl.constexpr, OUT_Q: tl.constexpr,
                        OUT_STO: tl.constexpr, TEST_NEG: tl.constexpr, SCALED: tl.constexpr,
                        BLOCK_R: tl.constexpr, BLOCK_O: tl.constexpr,
                        GROUP: tl.constexpr = False, n_cols=1, sx_i=0, sx_j=0, swg=0):
    """``_onehot_kernel``'s reads on ``BLOCK_R`` consecutive rows a program, their scale
    from the line element alone (``_line_scale``: not ``NM_MAX``): each row's line element,
    scale, DAC and column of ``W`` times it, and the ADC of its outputs, element by element
    as that kernel's program of the row computes them (the same Philox counters: the same
    numbers). The rows' columns ``j`` are
    consecutive, so the weights are loaded as outputs x rows: a warp reads an output's 32
    weights of them as 128 contiguous bytes (one sector an element where a program reads
    one column). ``GROUP``:
    tile ``g = program_id(1)`` of a group, as ``_onehot_kernel`` finds it."""
    x_ptr, w_ptr, out_ptr, seed, first = _onehot_tile(
        x_ptr, w_ptr, out_ptr, start_ptr, start, seed_ptr, seed_arg, n, n_out, n_cols, sx_i,
        sx_j, swg, GROUP, SEED_PTR, START_PTR)
    rows = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    live = rows < n
    j = ((first + rows) % width).to(tl.int32)
    x = tl.load(x_ptr + rows.to(tl.int64) * sx0 + j.to(tl.int64) * sx1, mask=live, other=0.0)
    raw = _line_scale(x, nm_thres, wmax, out_bound, inp_step, max_bm_res, NM_KIND)
    s = tl.where(raw > 0, raw, 1.0)
    silent = raw <= 0
    # the DAC's counter in int32, as the prologue's (Philox draws by the counters' width)
    v = _dac(x, s, rows * width + j, seed, 0, inp_step, inp_bound, 0.0, INP_Q, INP_STO, False)
    norm = tl.sqrt(v * v)  # each row's norm: its other entries are zeros
    alpha = tl.where(silent, 0.0, s)
    j = j.to(tl.int64)
    for o0 in range(0, n_out, BLOCK_O):
        cols = o0 + tl.arange(0, BLOCK_O)
        ok = live[:, None] & (cols < n_out)[None, :]
        # loaded as outputs x rows (a warp along consecutive columns j), used transposed
        w = tl.trans(tl.load(w_ptr + cols[:, None].to(tl.int64) * sw0 + j[None, :] * sw1,
                             mask=tl.trans(ok), other=0.0))
        y = w * v[:, None]
        var = y
        if W_KIND == 2:
            var = tl.abs(w) * (v * v)[:, None]
        y, _ = _adc_rows(y, var, norm, rows, cols, ok, n_out, seed, w_noise, out_noise,
                         out_step, out_bound, W_KIND, OUT_NOISE, OUT_Q, OUT_STO, TEST_NEG)
        y = _scaled_back(y, alpha[:, None], out_scale, SCALED)
        tl.store(out_ptr + rows[:, None].to(tl.int64) * n_out + cols[None, :],
                 tl.where(silent[:, None], 0.0, y), mask=ok)


def _block(n: int, cap: int) -> int:
    return max(16, min(triton.next_power_of_2(max(n, 1)), cap))


# Row blocks: the prologue and epilogue take ROW_ELEMENTS elements of whole rows per program
# where a row is at most ROW_WIDTH wide (a convolution's rows: 16-576 wide, 10^5 of them);
# one program per row left most of its threads idle on rows that narrow. Only from
# ROW_MIN_ROWS rows: on one H200 (2026-12-06 23:00 UTC, benchmarks/RESULTS.md) faster on the
# ResNet (``ROW_BLOCKS`` in `narrow-rows`, with the image blocks, narrow planes and drawn
# counts: sgd `batch` 4.74x -> 3.30x fp, chopped `batch` 7.87x -> 6.49x), slower on the bench
# MLP's 32-256 rows (too few programs; chopped b32 2.45x -> 2.91x). Fewer rows, or rows over
# ROW_WIDTH: the kernels of one row (the same numbers). The switch removed 2026-12-08.
ROW_MIN_ROWS = 4096
ROW_WIDTH = 512
ROW_ELEMENTS = 2048


# In row blocks (from ROW_MIN_ROWS rows): a prologue row whose width is not a power of two
# in two power-of-two parts, the widest power of two below it and the rest's
# (``_prologue_split_kernel``: 144 = 128 + 16, 288 = 256 + 32, 576 = 512 + 64; 2,304
# elements a program), both loads in flight before any arithmetic, the row maxima the two
# parts' (exact), and the DAC's rounding in two additions (``_round_even_add``). The same
# numbers bit for bit (v, scales; no norm written: additive weight noise alone reads it,
# and never takes the row blocks). Why it should pay: the profile's (one H100, 2026-12-08
# 00:35) stage-1 prologue (131,072 x 144 rows; 8 x 256 lanes a program, 16 a thread of
# which 7 padding; 69 registers) took ~177 us for 151 MB, 0.85 TB/s, the stage-2/3 ones
# (288 in 512 lanes) ~0.94 TB/s: issue- and latency-bound, not bandwidth-bound. Compiled
# for sm_90 with the launch's specialization (stride 1, widths and pointers by 16), static
# SASS: 1,184 a thread of the row-block kernel (63 registers) = 131.6 a real element;
# 1,072 a thread here (55 registers, 18 real lanes) = 59.6, -55 % of the issue (~84 ->
# ~38 us at 0.92 T warp-instructions/s a stage-1 launch), twice the real bytes in flight a
# thread. At ~2.5 TB/s a stage-1 launch is ~60-70 us: these launches' 1.76 ms a step (6 x
# 177 + 47 + 5 x 80 + 11 x 22 us; the backward prologues' power-of-two rows unchanged)
# become ~0.8-0.9 ms, an estimate of ~0.8-0.9 ms off a sgd `batch` step (not measured).
# IN_CHUNKS (removed 2026-12-08) cut the lanes too but read each row twice in a loop of 9
# dependent chunks (a chunk's 16-column load in flight at a time, then the rows again): its
# loads waited in series; GATHER_PROLOGUE (removed 2026-12-08) loaded through the index (two
# loads a lane, ~100 registers). Rows over ROW_WIDTH up to twice it take it too (576: not
# one program a row). False: the row-block prologue (off until a GPU times it).
SPLIT_ROWS = False
# In row blocks: the epilogue without bound management (a backward MVM's) of rows whose
# outputs are not a power of two in ``_split``'s two parts (``_epilogue_split_kernel``: a
# backward's 144 / 288 outputs as 128 + 16 / 256 + 32 lanes, 2,304 a program), both parts'
# loads first. The same numbers bit for bit (the same element-wise ADC, noise counters,
# scale back). The profile's 144-wide backward epilogues (131,072 rows, 6 a step) took
# ~99 us each: issue-bound. Static SASS for sm_90 (the launch's specialization, output
# noise): the row-block kernel 1,448 a thread (61 registers, 16 lanes of which 9
# real) = 160.9 a real element, ~103 us of issue a launch at 0.92 T warp-instructions/s;
# here 1,808 a thread (76 registers, 18 real lanes; part B's quads, 2 lanes a thread,
# joined through shared memory) = 100.4, ~64 us: ~0.035 ms a launch; with the 288-wide
# ones (5 x 51 + 11 x 14 us a step) an estimate of ~0.3-0.4 ms off a sgd `batch` step (not
# measured). OUT_CHUNKS (removed 2026-12-08) cut these lanes in 16-32-column chunks (9
# programs a row block, 128 x 16 blocks) and was timed neutral (its chunk kernel: 113 SASS a
# lane). False: the row-block epilogue (off until a GPU times it).
SPLIT_OUTPUTS = False


def _split(width: int) -> tuple[int, int, int] | None:
    """``(BLOCK_R, BLOCK_A, BLOCK_B)`` of ``_prologue_split_kernel`` for rows ``width`` wide
    (``BLOCK_A``: the widest power of two <= ``width``, at most ``ROW_WIDTH``; ``BLOCK_B``:
    the rest's block), or None where the parts save no lanes (a power of two; 27: 16 + 16)."""
    a = 1 << (width.bit_length() - 1)
    if a == width or a < 16 or a > ROW_WIDTH:
        return None
    b = _block(width - a, 1 << 30)
    if a + b >= _block(width, 1 << 30):
        return None
    return max(1, ROW_ELEMENTS // a), a, b


def _row_block(width: int) -> tuple[int, int] | None:
    """``(BLOCK_R, BLOCK_C)`` of the row-block kernels for rows ``width`` wide, or None."""
    block_c = _block(width, 1 << 30)
    if block_c > ROW_WIDTH:
        return None
    return max(1, ROW_ELEMENTS // block_c), block_c


def analog_mvm_triton(weight: torch.Tensor, x: torch.Tensor, p: MVMParams, seed,
                      block_i: int | None = None, block_o: int | None = None,
                      gemv_o: int = 32, onehot_start: int | torch.Tensor | None = None,
                      vectors: torch.Tensor | None = None) -> torch.Tensor:
    """Same result as ``analog_mvm_torch`` (float32 tensors on one device), in a prologue, a
    matmul and an epilogue launch; ``seed`` is an int or a one-element int64 tensor.
    ``onehot_start``: row ``b`` of ``x`` is zero but at column ``(start + b) % width`` (a
    transfer's reads): without input noise and bound management, one launch that reads
    those columns of ``weight`` (``_onehot_kernel``; the same numbers). ``vectors``: a
    one-element int64 count the rows are added to (a tile's MVM vectors; by the prologue,
    no launch of its own)."""
    onehot = onehot_start is not None and p.bm_kind == BM_NONE and p.inp_noise <= 0
    if vectors is not None and (p.is_perfect or onehot):  # no prologue to count them
        vectors.add_(x.shape[0])
        vectors = None
    if p.is_perfect:
        out = x @ weight.T
        return out * p.out_scale if p.out_scale != 1 else out
    x = x.detach().to(torch.float32)
    weight = weight.detach().to(torch.float32)
    if onehot:
        return _launch_onehot(weight, x, p, seed, onehot_start, block_i, block_o)
    return _launch(weight[None], x, p, seed, 1, 0, 0, x.shape[1], block_i, block_o,
                   gemv_o, vectors)[0]


def reads_line_only(p: MVMParams) -> bool:
    """Whether one-hot reads (``onehot_start``) under ``p`` read each row's line element and
    nothing else of the row (``_onehot_rows_kernel``; a group's alike): then the rows may be
    any view whose line elements are the one-hot values (the device walks' broadcast ones,
    ``line_walk_cuda``)."""
    return (not p.is_perfect and p.bm_kind == BM_NONE and p.inp_noise <= 0
            and int(p.nm_kind) != NM_MAX)


def _launch_onehot(weight, x, p, seed, start, block_i, block_o, group=None) -> torch.Tensor:
    """``_onehot_rows_kernel`` over the rows of ``x`` (``_onehot_kernel``, one program a
    row, for ``NM_MAX``: the module note at ``ONEHOT_ROW_ELEMENTS``); ``group``: ``(n_cols,
    step_i, step_j)`` of a group's ``weight`` ``(tiles, out, width)``, its starts and seeds
    ``(tiles,)`` device tensors (``analog_mvm_grouped_triton``)."""
    tiles = weight.shape[0] if group else 0
    n = x.shape[0]
    width, n_out = weight.shape[-1], weight.shape[-2]
    out = torch.empty((*weight.shape[:-2], n, n_out), dtype=torch.float32, device=x.device)
    if n == 0 or n_out == 0 or out.numel() == 0:
        return out
    seed_ptr_mode = isinstance(seed, torch.Tensor)
    on_device = isinstance(start, torch.Tensor)
    out_q = p.out_step > 0
    w_kind = int(p.w_noise_kind) if p.w_noise > 0 else 0
    extra = {}
    if group:
        n_cols, step_i, step_j = group
        start = start.contiguous()  # (the walk's snapshot entries are: no launch)
        extra = dict(GROUP=True, n=n, n_cols=n_cols, sx_i=step_i * x.stride(1),
                     sx_j=step_j * x.stride(1), swg=weight.stride(0))
    head = (x, x.stride(0), x.stride(1), weight, weight.stride(-2), weight.stride(-1), out,
            start if on_device else out, 0 if on_device else int(start),
            seed if seed_ptr_mode else out, 0 if seed_ptr_mode else seeds.mvm_triton_seed(seed))
    numbers = (float(p.nm_thres), float(p.nm_assumed_wmax), float(p.out_bound),
               float(p.inp_step), float(p.max_bm_res), float(p.inp_bound), float(p.w_noise),
               float(p.out_noise), float(p.out_step), float(p.out_scale))
    flags = dict(NM_KIND=int(p.nm_kind), SEED_PTR=seed_ptr_mode, START_PTR=on_device,
                 INP_Q=p.inp_step > 0, INP_STO=p.inp_step > 0 and p.inp_sto_round,
                 W_KIND=w_kind, OUT_NOISE=p.out_noise > 0, OUT_Q=out_q,
                 OUT_STO=out_q and p.out_sto_round, TEST_NEG=bool(p.bm_test_negative_bound),
                 SCALED=p.out_scale != 1)
    if int(p.nm_kind) != NM_MAX:  # (the module note at ONEHOT_ROW_ELEMENTS)
        block_o = min(block_o or _block(n_out, 1 << 30), ONEHOT_ROW_ELEMENTS // ONEHOT_MIN_ROWS)
        block_r = ONEHOT_ROW_ELEMENTS // block_o
        _onehot_rows_kernel[(triton.cdiv(n, block_r), max(tiles, 1))](
            *head, n, width, n_out, *numbers, **flags, BLOCK_R=block_r, BLOCK_O=block_o,
            num_warps=4, **{k: v for k, v in extra.items() if k != "n"})
        return out
    _onehot_kernel[(n, max(tiles, 1))](
        *head, width, n_out, *numbers, **flags, BLOCK_I=block_i or _block(width, 1024),
        BLOCK_O=block_o or _block(n_out, 1024), **extra)
    return out


# A transfer's one-hot reads (``_launch_onehot``): every entry of a row but the line's is
# zero, so the row's absolute maximum, positive and negative sums are the line element's (its
# maximum too where the row is one element; ``noise_management=max`` keeps the row, one
# program a row, ``_onehot_kernel``): the scale from the line element alone (``_line_scale``;
# a chopped step's conv tile loaded 131,072 rows of 144 for it, 75 MB), the same numbers.
# ``_onehot_rows_kernel`` takes ``ONEHOT_ROW_ELEMENTS`` rows x outputs a program where one
# row a program gave 131,072 programs of 4 warps for 16 outputs each (one H100, 2026-12-07:
# 250-262 us for each of a chopped ResNet step's seven such tiles), and a group's reads
# (a 4096-wide grid's 256 rows a tile, which the prologue, a batched matmul of one-hot rows
# and the epilogue computed) as a single tile's, on a tile axis: blocks of outputs x 32
# consecutive rows read each output's weights of 32 consecutive columns as 128 contiguous
# bytes. Timed on one H100 (``LINE_SCALE`` with ``SPLIT_WRITE``, 2026-12-07 07:42: ResNet
# chopped `batch` 4.68x -> 4.37x fp; ``ONEHOT_ROWS`` in `chopped-serial`, 14:58: 3.92x ->
# 3.14x; ``GROUPED_ONEHOT`` with ``grouped.LINE_MAJOR_STATE``, 08:50: 4096 agad `batch`
# 3.72x -> 2.81x), their switches removed 2026-12-08 (benchmarks/RESULTS.md).
ONEHOT_ROW_ELEMENTS = 1024  # rows x outputs of a program (8 a thread: 2048 took 216 registers)
ONEHOT_MIN_ROWS = 32  # rows of a program at least (a warp's run of consecutive columns)


def analog_mvm_grouped_triton(weights: torch.Tensor, x: torch.Tensor, p: MVMParams,
                              seeds: torch.Tensor, n_cols: int, step_i: int, step_j: int,
                              block_i: int | None = None, block_o: int | None = None,
                              gemv_o: int = 32,
                              onehot_start: torch.Tensor | None = None) -> torch.Tensor:
    """The MVMs of a group of equal tiles at once (``analog_mvm_grouped_torch``): tile ``g``
    (row ``g // n_cols``, column ``g % n_cols`` of its grid) multiplies the columns
    ``[off, off + width)`` of ``x``, ``off = (g // n_cols) * step_i + (g % n_cols) *
    step_j``, by ``weights[g]`` ``(out, width)`` through the periphery ``p``, its noise
    keyed by ``seeds[g]`` (an int64 device tensor): as many launches as one tile takes,
    one batched matmul for all. Returns ``(tiles, N, out)``; tile ``g``'s rows equal
    ``analog_mvm_triton(weights[g], block, p, seeds[g:g + 1])`` up to the matmul's
    rounding. ``onehot_start``: a ``(tiles,)`` device tensor, tile ``g``'s row ``b`` zero
    but at column ``(onehot_start[g] + b) % width`` of its block (read as the single tile's
    ``onehot_start`` reads them, where that applies)."""
    x = x.detach().to(torch.float32)
    weights = weights.detach().to(torch.float32)
    if (onehot_start is not None and not p.is_perfect and p.bm_kind == BM_NONE
            and p.inp_noise <= 0):
        return _launch_onehot(weights, x, p, seeds, onehot_start, block_i, block_o,
                              (n_cols, step_i, step_j))
    if p.is_perfect:
        out = torch.bmm(_blocks(x, weights.shape[0], n_cols, step_i, step_j,
                                weights.shape[2]), weights.transpose(1, 2))
        return out * p.out_scale if p.out_scale != 1 else out
    return _launch(weights, x, p, seeds, n_cols, step_i, step_j, weights.shape[2], block_i,
                   block_o, gemv_o)


def _blocks(x, tiles, n_cols, step_i, step_j, width):
    """``(tiles, N, width)``: each tile's block of the columns of ``x`` (a copy)."""
    n_rows = tiles // n_cols
    s0, s1 = x.stride()
    return x.as_strided((n_rows, n_cols, x.shape[0], width),
                        (step_i * s1, step_j * s1, s0, s1)).reshape(tiles, x.shape[0], width)


def _launch(weights, x, p, seed, n_cols, step_i, step_j, width, block_i, block_o, gemv_o,
            vectors=None):
    """Prologue, batched matmul and epilogue of ``weights.shape[0]`` tiles (module doc);
    the prologue adds the rows to ``vectors`` where given."""
    tiles, n_out = weights.shape[0], weights.shape[1]
    n = x.shape[0]
    out = torch.empty((tiles, n, n_out), dtype=torch.float32, device=x.device)
    if n == 0 or n_out == 0 or tiles == 0:
        return out
    seed_ptr_mode = isinstance(seed, torch.Tensor)
    if tiles > 1 and not seed_ptr_mode:
        raise ValueError("a group of tiles takes one seed per tile (an int64 tensor)")
    seed_t = seed if seed_ptr_mode else out  # a placeholder pointer when the seed is an int
    # 44 bits of seed with the top one set: always an int64 argument, never specialised
    seed_int = 0 if seed_ptr_mode else seeds.mvm_triton_seed(seed)
    block_i = block_i or _block(width, 1024)
    block_o = block_o or _block(n_out, 1024)
    v = torch.empty((tiles, n, width), dtype=torch.float32, device=x.device)
    scale = torch.empty((tiles, n), dtype=torch.float32, device=x.device)
    norm = torch.empty((tiles, n), dtype=torch.float32, device=x.device)
    sx_i, sx_j = step_i * x.stride(1), step_j * x.stride(1)
    inp_q, out_q = p.inp_step > 0, p.out_step > 0
    flags = dict(INP_Q=inp_q, INP_STO=inp_q and p.inp_sto_round, INP_NOISE=p.inp_noise > 0)
    w_kind = int(p.w_noise_kind) if p.w_noise > 0 else 0
    row_blocks = n >= ROW_MIN_ROWS
    rows_in = _row_block(width) if (row_blocks and p.nm_kind != NM_ABS_MAX_NP_SUM
                                    and w_kind != W_NOISE_ADDITIVE) else None
    split = _split(width) if (SPLIT_ROWS and row_blocks and p.nm_kind != NM_ABS_MAX_NP_SUM
                              and w_kind != W_NOISE_ADDITIVE) else None
    if split is not None:
        block_r, block_a, block_b = split
        _prologue_split_kernel[(triton.cdiv(n, block_r), tiles)](
            x, x.stride(0), x.stride(1), v, scale, seed_t, seed_int,
            out if vectors is None else vectors, width, n, n_cols, sx_i, sx_j,
            float(p.nm_thres), float(p.inp_step), float(p.inp_bound), float(p.inp_noise),
            NM_KIND=int(p.nm_kind), SEED_PTR=seed_ptr_mode, COUNT=vectors is not None,
            BLOCK_R=block_r, BLOCK_A=block_a, BLOCK_B=block_b,
            RINT=p.inp_step * 2**21 >= p.inp_bound, **flags)
    elif rows_in is not None:
        block_r, block_c = rows_in
        _prologue_rows_kernel[(triton.cdiv(n, block_r), tiles)](
            x, x.stride(0), x.stride(1), v, scale, norm, seed_t, seed_int,
            out if vectors is None else vectors, width, n, n_cols, sx_i, sx_j,
            float(p.nm_thres), float(p.inp_step), float(p.inp_bound), float(p.inp_noise),
            NM_KIND=int(p.nm_kind), SEED_PTR=seed_ptr_mode, COUNT=vectors is not None,
            BLOCK_R=block_r, BLOCK_C=block_c, **flags)
    else:
        _prologue_kernel[(n, tiles)](
            x, x.stride(0), x.stride(1), v, scale, norm, seed_t, seed_int,
            out if vectors is None else vectors, width, n, n_cols,
            sx_i, sx_j, float(p.nm_thres), float(p.nm_assumed_wmax), float(p.out_bound),
            float(p.inp_step), float(p.max_bm_res), float(p.inp_bound), float(p.inp_noise),
            NM_KIND=int(p.nm_kind), SEED_PTR=seed_ptr_mode, COUNT=vectors is not None,
            BLOCK_I=block_i, **flags)
    wt = weights.transpose(1, 2)
    y = torch.bmm(v, wt) if tiles > 1 else (v[0] @ wt[0])[None]
    if w_kind == W_NOISE_PCM:
        var = (torch.bmm(v * v, wt.abs()) if tiles > 1
               else ((v[0] * v[0]) @ wt[0].abs())[None])
    else:
        var = y
    split_out = _split(n_out) if SPLIT_OUTPUTS and row_blocks and p.bm_kind == BM_NONE else None
    if split_out is not None:
        block_r, block_a, block_b = split_out
        _epilogue_split_kernel[(triton.cdiv(n, block_r), tiles)](
            y, var, scale, norm, out, seed_t, seed_int, n_out, n, float(p.w_noise),
            float(p.out_noise), float(p.out_step), float(p.out_bound), float(p.out_scale),
            SEED_PTR=seed_ptr_mode, W_KIND=w_kind, OUT_NOISE=p.out_noise > 0, OUT_Q=out_q,
            OUT_STO=out_q and p.out_sto_round, SCALED=p.out_scale != 1, BLOCK_R=block_r,
            BLOCK_A=block_a, BLOCK_B=block_b)
        return out
    rows_out = _row_block(n_out) if row_blocks else None
    kernel, grid, blocks = _epilogue_kernel, (n, tiles), dict(BLOCK_O=block_o)
    if rows_out is not None:
        kernel, grid = _epilogue_rows_kernel, (triton.cdiv(n, rows_out[0]), tiles)
        blocks = dict(BLOCK_R=rows_out[0], BLOCK_O=rows_out[1])
    kernel[grid](
        y, var, x, x.stride(0), x.stride(1), v, weights, weights.stride(1), weights.stride(2),
        weights.stride(0), scale, norm, out, seed_t, seed_int, width, n_out, n, n_cols, sx_i,
        sx_j, float(p.nm_thres), float(p.nm_assumed_wmax), float(p.inp_step),
        float(p.max_bm_res), float(p.inp_bound), float(p.inp_noise), float(p.w_noise),
        float(p.out_noise), float(p.out_step), float(p.out_bound), float(p.out_scale),
        float(p.max_bm_factor), float(min(p.bm_limit, 3e38)),
        SEED_PTR=seed_ptr_mode, BM_KIND=int(p.bm_kind),
        WORST=p.bm_kind == BM_WORST_CASE and p.nm_kind != NM_ABS_MAX_NP_SUM,
        W_KIND=w_kind, OUT_NOISE=p.out_noise > 0, OUT_Q=out_q,
        OUT_STO=out_q and p.out_sto_round, TEST_NEG=bool(p.bm_test_negative_bound),
        SCALED=p.out_scale != 1, BLOCK_I=block_i, GEMV_O=gemv_o, **blocks, **flags)
    return out


# the kinds the kernels switch on by number

__all__ = ["analog_mvm_grouped_triton", "analog_mvm_triton"]
