"""The batch-counted update on CUDA (meaning: ``counted_update_ref.py``): three steps, no
host sync.

1. ``_line_planes_kernel``: each line's signed bits as a K-major int8 plane ``(lines,
   slots)`` (slot-major: slot ``t`` of row ``b`` at ``t * k + b``), one program per four
   slots of a tile of rows and lines, Philox keyed by the seed - an int, or a one-element
   device tensor that a replayed CUDA graph reads anew - and by the counter ``(line, t //
   4, b, 0)``, one call for four slots; the padding written as zeros;
2. the counts ``net = Ds^T Xs`` and ``total = |Ds|^T |Xs|``, chosen per shape
   (``count_method``): for wide layers two ``torch._int_mm`` on the planes and their
   magnitudes (written by the same launch), A row-major and B column-major with every side
   a multiple of 16 - the layout of cuBLAS's fast int8 tensor-core kernels (row-major B
   sends it to a slow compatibility kernel); elsewhere ``_coincidence_kernel``, both
   products per step of one int8 ``tl.dot`` pair, split over K with integer atomics so that
   a convolution's few cells over millions of slots still fill the GPU;
3. ``_apply_counts_kernel``: each element's up and down counts from net and total, then
   the cell physics once - closed forms for constant and linear steps, a pulse loop for exp,
   pow and table steps (each block loops to its largest count), normals from Philox.
   Where the split-K kernel runs as one part and its blocks fill the device (a wide
   layer's grid of 512 x 512 tiles), steps 2 and 3 are one launch (``_count_and_apply``):
   the same physics (``_apply_cells``) in the count's epilogue, net and total never stored.
"""

from __future__ import annotations

import functools

import torch
import triton
import triton.language as tl
from triton.language.random import philox, uint_to_uniform_float

from .layout import CELL_CONSTANT, check_cell
from .params import CellParams, UpdateParams
from .pulsed_update_cuda import _interpreting, _signed_probability
from .pulsed_update_ref import RowProbabilities, knot_table


@triton.jit
def _stream(seed, stream: tl.constexpr):
    """Separate Philox streams of one seed: the bits of x, of d, the normals."""
    return seed ^ (tl.full((), stream + 1, tl.int64) << 44)


@triton.jit
def _rows4(seed, lines, t, first, shape: tl.constexpr):
    """``ROWS4``'s bits for slot ``t`` of a block of ranks ``first .. first + R - 1`` (``first``
    a multiple of 4) x ``lines``: rank ``4i + o`` takes output ``o`` of the Philox counter
    ``(line, t, i, 1)`` (``i`` the rank's quad), so one call gives four ranks' words and
    none is wasted where trains are 1 slot long (the old stream's call gave one row's four
    slots). Word 3 of the counter is 1 (the old stream's is 0): no counter of the old
    stream is drawn again. Returns ``shape`` ``(R, L)`` uint32, rank-major as the block's
    rows; the four outputs' interleave is a join, a permute and a reshape (registers and
    a layout conversion), the same for any block size."""
    tl.static_assert(shape[0] % 4 == 0, "ROWS4 takes row blocks of 4k ranks")
    # [i, l, e, f] = r_(2f + e) -> [i, f, e, l] -> row 4i + 2f + e
    return tl.reshape(tl.permute(_quad_words(seed, lines, t, first, shape), (0, 3, 2, 1)),
                      shape)


@triton.jit
def _quad_words(seed, lines, t, first, shape: tl.constexpr):
    """The Philox calls of ``_rows4``'s quads ``first // 4 ..`` (one a quad and line, word 3
    of the counter 1), their four outputs joined: ``[i, l, e, f]`` = output ``2f + e`` of
    quad ``i`` at line ``l``."""
    zero = tl.zeros((shape[0] // 4, shape[1]), dtype=tl.uint32)
    quads = (first // 4 + tl.arange(0, shape[0] // 4)).to(tl.uint32)
    r0, r1, r2, r3 = philox(seed, lines[None, :].to(tl.uint32) + zero, zero + t,
                            quads[:, None] + zero, zero + 1)
    return tl.join(tl.join(r0, r1), tl.join(r2, r3))


@triton.jit
def _plane_store(signed_ptr, abs_ptr, r, p, live, bl, lines, rows, ranks, t, k_rows, length,
                 ld, n_lines, base_ptr, ABS: tl.constexpr, COMPACT: tl.constexpr):
    """Slot ``t`` of the rows ``rows`` on the lines ``lines``: fires where Philox output
    ``r`` is below ``|p|`` within the row's train. Dense: stored at ``line * ld + t *
    k_rows + row``, zeros past the train, the lines and ``ld``. ``COMPACT``: only the slots
    inside trains, at ``line * ld + base[t] + rank`` (``rows`` are the rows of ``ranks`` in
    the order of decreasing train length; ``base``: ``_compact_layout``'s offsets)."""
    inside = (t < bl) & (t < length)
    fire = (uint_to_uniform_float(r) < tl.abs(p)) & inside[:, None] & live
    if COMPACT:
        at = tl.load(base_ptr + t) + ranks
        keep = inside[:, None] & (lines < n_lines)[None, :]
    else:
        at = t * k_rows + rows
        keep = ((at < ld) & (rows < k_rows))[:, None] & (lines < n_lines)[None, :]
    out = lines[None, :].to(tl.int64) * ld + at[:, None]
    tl.store(signed_ptr + out, tl.where(fire, tl.where(p < 0.0, -1, 1), 0).to(tl.int8),
             mask=keep)
    if ABS:
        tl.store(abs_ptr + out, fire.to(tl.int8), mask=keep)


@triton.jit(do_not_specialize=["seed"])
def _line_planes_kernel(signed_ptr, abs_ptr, prob_ptr, bl_ptr, seed_ptr, seed, order_ptr,
                        base_ptr, n, n_lines, k_rows, length, ld, n_quads, stride_pk,
                        stride_pn, stride_pg, STREAM: tl.constexpr, SEED_PTR: tl.constexpr,
                        ABS: tl.constexpr, COMPACT: tl.constexpr, BLOCK_B: tl.constexpr,
                        BLOCK_L: tl.constexpr, ROWS4: tl.constexpr = False):
    """Four slots ``4q .. 4q + 3`` of ``BLOCK_B`` rows x ``BLOCK_L`` lines of the planes
    ``(n_lines, ld)`` (axis 0: row block and ``q``). Dense: slot ``t`` of row ``b`` of line
    ``j`` lies at ``j * ld + t * k_rows + b``: slots contiguous (the K-major operand tensor
    cores take) and slot-major, so that every slot past the batch's longest train lies
    beyond ``longest * k_rows`` (``_coincidence_kernel`` stops there); the padding (past
    the trains, past ``n`` lines, up to ``ld``) is written as zeros, so the planes need no
    clearing launch. ``COMPACT``: the rows are taken in the order ``order`` (decreasing
    train length) and only the slots inside trains are stored, slot ``t`` of the row of
    rank ``r`` at ``base[t] + r``: the planes end at ``base[length]``, the sum of the
    trains, and nothing past it is written. The bit of (row b, slot t, line j) is Philox
    output ``t % 4`` of the counter ``(j, t // 4, b, 0)`` under the seed's stream, as the
    per-sample kernel keys its bits, wherever it is stored: one Philox call gives four
    slots. Axis 2: tile ``g`` of a group, with its own probabilities (``stride_pg`` on),
    trains, seed, order and planes. Compact (``n_quads`` 1: axis 0 the row blocks alone): a
    program walks its quads up to its block's longest train; no program is launched for
    quads past the trains. ``ROWS4`` (dense, ``n_quads`` 1): the drawn counts' stream,
    ``_rows4``'s, keyed by row (one Philox call a slot and four rows), each block walking
    its slots up to its longest train, slot ``t`` of row ``b`` at ``t * k_rows + b``; only
    the slots up to each row block's longest train written (a reader masks by the trains).
    (The kernel also takes ``ROWS4`` with ``COMPACT``, keyed by rank in ``order``; no
    launcher asks for it.)"""
    q = tl.program_id(0) % n_quads
    ranks = (tl.program_id(0) // n_quads) * BLOCK_B + tl.arange(0, BLOCK_B)
    lines = tl.program_id(1) * BLOCK_L + tl.arange(0, BLOCK_L)
    g = tl.program_id(2).to(tl.int64)
    prob_ptr += g * stride_pg
    bl_ptr += g * k_rows
    signed_ptr += g * n_lines * ld
    abs_ptr += g * n_lines * ld
    if COMPACT:
        order_ptr += g * k_rows
        base_ptr += g * (length + 1)
        rows = tl.load(order_ptr + ranks, mask=ranks < k_rows, other=0)
    else:
        rows = ranks
    t = 4 * q
    bl = tl.load(bl_ptr + rows, mask=ranks < k_rows, other=0)
    reached = tl.max(bl, axis=0) > t  # some train of the block reaches these slots
    if SEED_PTR:
        seed = tl.load(seed_ptr + g)
    seed = _stream(tl.cast(seed, tl.int64), STREAM)
    if ROWS4:  # ``_rows4``'s stream, keyed by row (by rank where compact): a slot at a time
        live = (ranks < k_rows)[:, None] & (lines < n)[None, :]
        p = tl.load(prob_ptr + rows[:, None] * stride_pk + lines[None, :] * stride_pn,
                    mask=live, other=0.0)
        first = (tl.program_id(0) // n_quads) * BLOCK_B
        for tt in range(0, tl.minimum(tl.max(bl, axis=0), length)):
            r = _rows4(seed, lines, tt, first, (BLOCK_B, BLOCK_L))
            _plane_store(signed_ptr, abs_ptr, r, p, live, bl, lines, rows, ranks, tt, k_rows,
                         length, ld, n_lines, base_ptr, ABS, COMPACT)
    elif COMPACT:  # this row block's quads, as far as its trains reach
        for qq in range(0, tl.cdiv(tl.minimum(tl.max(bl, axis=0), length), 4)):
            _plane_quad(signed_ptr, abs_ptr, prob_ptr, seed, bl, qq * 4 < length, lines, rows,
                        ranks, qq, n, n_lines, k_rows, length, ld, stride_pk, stride_pn,
                        base_ptr, ABS, COMPACT)
    else:
        _plane_quad(signed_ptr, abs_ptr, prob_ptr, seed, bl, reached, lines, rows, ranks, q,
                    n, n_lines, k_rows, length, ld, stride_pk, stride_pn, base_ptr, ABS,
                    COMPACT)


@triton.jit
def _plane_quad(signed_ptr, abs_ptr, prob_ptr, seed, bl, reached, lines, rows, ranks, q, n,
                n_lines, k_rows, length, ld, stride_pk, stride_pn, base_ptr, ABS: tl.constexpr,
                COMPACT: tl.constexpr):
    """The four slots ``4q .. 4q + 3`` of a block of rows and lines: one Philox call where
    a train reaches them (``reached``), then the four stores."""
    live = (ranks < k_rows)[:, None] & (lines < n)[None, :]
    p = tl.load(prob_ptr + rows[:, None] * stride_pk + lines[None, :] * stride_pn, mask=live,
                other=0.0)
    zero = (ranks[:, None] * 0 + lines[None, :] * 0).to(tl.uint32)
    if reached:
        r0, r1, r2, r3 = philox(seed, lines[None, :].to(tl.uint32) + zero, zero + q,
                                rows[:, None].to(tl.uint32) + zero, zero)
    else:  # past every train of the block (BL management): no draws (nothing fires)
        r0 = zero
        r1 = zero
        r2 = zero
        r3 = zero
    t = 4 * q
    _plane_store(signed_ptr, abs_ptr, r0, p, live, bl, lines, rows, ranks, t, k_rows, length,
                 ld, n_lines, base_ptr, ABS, COMPACT)
    _plane_store(signed_ptr, abs_ptr, r1, p, live, bl, lines, rows, ranks, t + 1, k_rows,
                 length, ld, n_lines, base_ptr, ABS, COMPACT)
    _plane_store(signed_ptr, abs_ptr, r2, p, live, bl, lines, rows, ranks, t + 2, k_rows,
                 length, ld, n_lines, base_ptr, ABS, COMPACT)
    _plane_store(signed_ptr, abs_ptr, r3, p, live, bl, lines, rows, ranks, t + 3, k_rows,
                 length, ld, n_lines, base_ptr, ABS, COMPACT)


@triton.jit(do_not_specialize=["seed"])
def _coincidence_kernel(dt_ptr, xt_ptr, net_ptr, total_ptr, end_ptr, n_out, n_in, ld,
                        n_split, stride_dg, stride_xg, stride_end, w_ptr, p_ptr, seed_ptr,
                        cnt_ptr, sum_ptr, tab_ptr, n_knots, seed, stride_p, stride_pg,
                        noise_std, amp_up, amp_down, gam_up, gam_down, es_a, es_b, std_add,
                        std_slope, END: tl.constexpr, ATOMIC: tl.constexpr,
                        APPLY: tl.constexpr, CELL_KIND: tl.constexpr,
                        MULT_NOISE: tl.constexpr, NOISE: tl.constexpr,
                        SEED_PTR: tl.constexpr, COUNT_CELLS: tl.constexpr,
                        SUM: tl.constexpr, PACK: tl.constexpr, BLOCK_M: tl.constexpr,
                        BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
                        ONE_ACC: tl.constexpr = False, OUT_PACKED: tl.constexpr = False):
    """``net`` and ``total`` of one ``BLOCK_M x BLOCK_N`` block over the ``BLOCK_K`` steps
    ``s, s + n_split, s + 2 n_split, ...`` (part ``s`` of a split) of the K-major planes
    ``dt`` ``(n_out, ld)``, ``xt`` ``(n_in, ld)``: two int8 tensor-core products per step,
    |bits| taken in registers; the parts interleave, so however far the trains reach, every
    part has its share of them. With
    ``END``, the slots stop where the planes' trains end (read on the device: the longest
    train times the rows for slot-major planes, the sum of the trains for compact ones),
    so short trains (BL management) cost what they use. Split over K (``ATOMIC``), the
    partial counts are added with integer atomics: exact in any order.
    Axis 2 also runs over the tiles of a group (``n_split`` parts each): tile ``g``'s
    planes lie ``stride_dg`` / ``stride_xg`` on, its counts ``n_out * n_in`` on, its end
    at ``end_ptr + g * stride_end``.

    ``APPLY`` (one part, no split): the counts never leave the registers - the block's
    elements get their pulses here (``_apply_cells``, as ``_apply_counts_kernel`` gives
    them: weights ``w_ptr``, parameters ``p_ptr``, counter, the normals of ``seed``'s stream
    2 keyed by the element), and ``net_ptr`` / ``total_ptr`` are not written; ``PACK``
    (slots < 2^15): both counts of an element in one int32 meanwhile.

    ``ONE_ACC`` (slots < 2^13, ``_one_accumulator``): one int32 accumulator of ``net + 2^14
    total`` - the second product of each step is that of the |bits| times -128 (one
    coincidence: 16384), added to the first's; half the accumulator registers, the same
    tensor-core products; split back exactly after the loop (``|net| <= total < 2^13``).
    ``OUT_PACKED`` (with ``ONE_ACC``, not ``APPLY``): that one int32 is what is written
    (``net_ptr``; atomics add it alike: the sum of packed parts is the packed sum), for
    ``_apply_counts_kernel``'s ``FROM_NET == 2``: 4 bytes a cell written and read, not 8.

    The planes' steps are loaded under a mask of whole 16s (the slots before ``ld``, a
    multiple of 16), then ``xt``'s slots past the end zeroed in registers (``dt``'s there
    meet zeros: every product past the end is 0): the counts of the end's mask, from
    16-byte vectors that Triton copies to shared memory asynchronously, where the end's
    mask (a device value) left one byte a load (the note at ``COUNT_REGISTER_CAP``)."""
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    g = (tl.program_id(2) // n_split).to(tl.int64)
    k_lo = (tl.program_id(2) % n_split) * BLOCK_K  # part s takes steps s, s + n_split, ...
    dt_ptr += g * stride_dg
    xt_ptr += g * stride_xg
    net_ptr += g * n_out * n_in
    total_ptr += g * n_out * n_in
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, BLOCK_K)
    d_ptrs = dt_ptr + rm[:, None].to(tl.int64) * ld + (k_lo + rk)[None, :]
    x_ptrs = xt_ptr + rn[:, None].to(tl.int64) * ld + (k_lo + rk)[None, :]
    m_ok = (rm < n_out)[:, None]
    n_ok = (rn < n_in)[:, None]
    net = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int32)
    total = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int32)
    k_hi = ld
    if END:
        k_hi = tl.minimum(k_hi, tl.load(end_ptr + g * stride_end).to(tl.int32))
    for k in range(k_lo, k_hi, BLOCK_K * n_split):
        k_ok = (k + rk < k_hi)[None, :]
        # masked by whole 16s (``ld``'s), then x's slots past the end zeroed (d's need not
        # be: a product with 0 is 0)
        in_ld = (k + rk < ld)[None, :]
        d = tl.load(d_ptrs, mask=m_ok & in_ld, other=0)
        x = tl.where(k_ok, tl.load(x_ptrs, mask=n_ok & in_ld, other=0), 0).to(tl.int8)
        net = tl.dot(d, tl.trans(x), net, out_dtype=tl.int32)
        if ONE_ACC:  # + 16384 a coincidence, in the same accumulator
            net = tl.dot(_neg128(d), tl.trans(_neg128(x)), net, out_dtype=tl.int32)
        else:
            total = tl.dot(tl.abs(d), tl.trans(tl.abs(x)), total, out_dtype=tl.int32)
        d_ptrs += BLOCK_K * n_split
        x_ptrs += BLOCK_K * n_split
    if ONE_ACC and not OUT_PACKED:
        net, total = _unpack_counts(net)
    out = rm[:, None] * n_in + rn[None, :]
    ok = m_ok & (rn < n_in)[None, :]
    if APPLY:  # tile g's elements, each this program's alone (up + down = total)
        if SEED_PTR:
            seed = tl.load(seed_ptr + g)
        seed = _stream(tl.cast(seed, tl.int64), 2)
        if SUM:
            tl.atomic_add(sum_ptr + g, tl.sum(tl.sum(total.to(tl.int64), axis=1), axis=0))
        n_max = tl.max(tl.max(total, axis=1), axis=0)
        if PACK:  # both counts in one register: total < 2^15 and |net| <= total
            net = total * 65536 + (net + 32768)
            total = net  # (not read: the accumulator dies here)
        _apply_part(w_ptr + g * n_out * n_in, p_ptr + g * stride_pg,
                    cnt_ptr + g * n_out * n_in, tab_ptr, n_knots, seed, out, ok.to(tl.int8),
                    net, total, n_max, stride_p, noise_std, amp_up, amp_down, gam_up,
                    gam_down, es_a, es_b, std_add, std_slope, CELL_KIND, MULT_NOISE, NOISE,
                    COUNT_CELLS, PACK)
    else:
        if ATOMIC:  # a part wholly past the longest train adds nothing
            ok = ok & (k_lo < k_hi)
        _write_counts(net_ptr, total_ptr, out, net, total, ok, ATOMIC, OUT_PACKED)


@triton.jit
def _neg128(bits):
    """-128 where a signed bit fires, 0 elsewhere (int8): a product of two is 16384."""
    return tl.where(bits != 0, -128, 0).to(tl.int8)


@triton.jit
def _unpack_counts(packed):
    """``(net, total)`` of ``net + 16384 * total`` (``|net| <= total < 8192``)."""
    net = ((packed + 8192) & 16383) - 8192
    return net, (packed - net) >> 14


@triton.jit
def _write_counts(net_ptr, total_ptr, out, net, total, ok, ATOMIC: tl.constexpr,
                  PACKED: tl.constexpr = False):
    """A block's counts into ``net`` / ``total`` at ``out``: added with integer atomics
    where the parts of a split share the block (exact in any order), else stored.
    ``PACKED``: ``net`` holds both (``net + 16384 total``), ``total_ptr`` is not written."""
    if ATOMIC:
        tl.atomic_add(net_ptr + out, net, mask=ok)
        if not PACKED:
            tl.atomic_add(total_ptr + out, total, mask=ok)
    else:
        tl.store(net_ptr + out, net, mask=ok)
        if not PACKED:
            tl.store(total_ptr + out, total, mask=ok)


@triton.jit
def _slot_counts(rx, px, rd, pd, t, bl, length, live_x, live_d, net, total, dt_ptr, ld, lines,
                 rows, k_rows, D_PLANE: tl.constexpr):
    """Slot ``t``'s signed bits of a block of rows on both sides added to the counts (two
    int8 products over the rows): the input side drawn as ``_plane_store`` draws it from
    Philox outputs ``rx``; the error side likewise from ``rd``, or (``D_PLANE``) read from
    its dense plane ``dt`` (slot ``t`` of row ``r`` at ``t * k_rows + r``,
    ``line_planes_triton(rows4=True)``'s) straight as the product's ``(lines, rows)``
    operand its K-major lines are. The bits' magnitudes as ``s & 1`` (one bitwise op on
    packed bytes; ``tl.abs`` of int8 unpacks, sign-extends and repacks each byte)."""
    inside = ((t < bl) & (t < length))[:, None]
    fx = (uint_to_uniform_float(rx) < tl.abs(px)) & inside & live_x
    sx = tl.where(fx, tl.where(px < 0.0, -1, 1), 0).to(tl.int8)
    if D_PLANE:
        at = t * k_rows + rows
        sd_t = tl.load(dt_ptr + lines[:, None].to(tl.int64) * ld + at[None, :],
                       mask=tl.trans(inside & live_d), other=0)
        net = tl.dot(sd_t, sx, net, out_dtype=tl.int32)
        return net, tl.dot(sd_t & 1, sx & 1, total, out_dtype=tl.int32)
    fd = (uint_to_uniform_float(rd) < tl.abs(pd)) & inside & live_d
    sd = tl.where(fd, tl.where(pd < 0.0, -1, 1), 0).to(tl.int8)
    net = tl.dot(tl.trans(sd), sx, net, out_dtype=tl.int32)
    # |s| of s in {-1, 0, 1}: s & 1 (int8 -1 is 0xFF)
    total = tl.dot(tl.trans(sd & 1), sx & 1, total, out_dtype=tl.int32)
    return net, total


@triton.jit(do_not_specialize=["seed"])
def _drawn_counts_kernel(xp_ptr, dp_ptr, bl_ptr, seed_ptr, seed, net_ptr, total_ptr, dt_ptr, ld,
                         k, n_out, n_in, length, n_split, stride_xk, stride_xn, stride_xg,
                         stride_dk, stride_dm, stride_dg, SEED_PTR: tl.constexpr,
                         ATOMIC: tl.constexpr, D_PLANE: tl.constexpr, BLOCK_R: tl.constexpr,
                         BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, xg_ptr=None,
                         xsign_ptr=None, x_res=0.0, X_ROWS: tl.constexpr = False,
                         X_SIGN: tl.constexpr = False, X_RES: tl.constexpr = False):
    """``net`` and ``total`` of all ``n_out`` lines x the ``BLOCK_N`` input lines of axis 0,
    the input side's bits drawn where they are counted from ``_rows4``'s stream keyed by
    row (one Philox call a slot and four rows; x stream of the seed), never stored; the
    error side's drawn alike (d stream) or, ``D_PLANE``, read from its dense plane (``dt``
    ``(n_out, ld)``, ``line_planes_triton(rows4=True)``'s: slot ``t`` of row ``r`` at ``t *
    k + r``). Part ``s`` of ``n_split`` (axis 1) takes the row blocks ``s, s + n_split, ...``
    in the rows' own order; each block's slots run to its longest train. Integer counts,
    added with atomics across parts. Axis 2: tile ``g`` of a group (its probabilities,
    trains, seed and error plane). ``X_ROWS`` (a tile's ``RowProbabilities``): ``xp`` holds the
    input side's rows, not its probabilities, made here by the train kernel's own
    ``_signed_probability`` from the rows (times their lines' signs ``xsign``, ``X_SIGN``)
    and each row's gain ``xg`` (``(tiles, k)``) - the same float32 operations on the same
    operands, so the same probabilities."""
    g = tl.program_id(2).to(tl.int64)
    part = tl.program_id(1)
    xp_ptr += g * stride_xg
    dp_ptr += g * stride_dg
    bl_ptr += g * k
    if X_ROWS:
        xg_ptr += g * k
    net_ptr += g * n_out * n_in
    total_ptr += g * n_out * n_in
    if D_PLANE:
        dt_ptr += g * n_out * ld
    if SEED_PTR:
        seed = tl.load(seed_ptr + g)
    seed_x = _stream(tl.cast(seed, tl.int64), 0)
    seed_d = _stream(tl.cast(seed, tl.int64), 1)
    cols = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    lines = tl.arange(0, BLOCK_M)
    net = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int32)
    total = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.int32)
    zero_d = tl.zeros((BLOCK_R, BLOCK_M), dtype=tl.uint32)
    for r0 in range(part * BLOCK_R, k, BLOCK_R * n_split):
        rows = r0 + tl.arange(0, BLOCK_R)
        live = rows < k
        bl = tl.load(bl_ptr + rows, mask=live, other=0)
        live_x = live[:, None] & (cols < n_in)[None, :]
        live_d = live[:, None] & (lines < n_out)[None, :]
        r64 = rows.to(tl.int64)
        px = tl.load(xp_ptr + r64[:, None] * stride_xk + cols[None, :] * stride_xn, mask=live_x,
                     other=0.0)
        if X_ROWS:  # the rows' probabilities made here, as the train kernel makes them
            if X_SIGN:
                px = px * tl.load(xsign_ptr + cols, mask=cols < n_in, other=1.0)[None, :]
            gain = tl.load(xg_ptr + rows, mask=live, other=0.0)
            px = _signed_probability(px, gain[:, None], x_res, X_RES)
        if D_PLANE:
            pd = zero_d.to(tl.float32)
        else:
            pd = tl.load(dp_ptr + r64[:, None] * stride_dk + lines[None, :] * stride_dm,
                         mask=live_d, other=0.0)
        top = tl.minimum(tl.max(bl, axis=0), length)
        for t in range(0, top):
            rx = _rows4(seed_x, cols, t, r0, (BLOCK_R, BLOCK_N))
            if D_PLANE:
                rd = zero_d
            else:
                rd = _rows4(seed_d, lines, t, r0, (BLOCK_R, BLOCK_M))
            net, total = _slot_counts(rx, px, rd, pd, t, bl, length, live_x, live_d, net,
                                      total, dt_ptr, ld, lines, rows, k, D_PLANE)
    out = lines[:, None] * n_in + cols[None, :]
    ok = (lines < n_out)[:, None] & (cols < n_in)[None, :]
    _write_counts(net_ptr, total_ptr, out, net, total, ok, ATOMIC)


@triton.jit
def _rate(q):
    """For a pulse ``w -> (1 - q) w + b``: ``-log(1 - q)`` and the offset's weight
    ``-log(1 - q) / q`` (float32: a series where ``q`` is small, so no digit is lost;
    ``1 - q`` floored at ``layout.C_FLOOR`` = 2^-20, exactly, as in the twin)."""
    small = tl.abs(q) < 1e-2
    q_big = tl.where(small, 0.5, tl.minimum(q, 1.0 - 9.5367431640625e-07))
    a = tl.where(small, q * (1.0 + q * (0.5 + q / 3.0)), -tl.log(1.0 - q_big))
    k = tl.where(small, 1.0 + q * (0.5 + q / 3.0), a / tl.where(small, 1.0, q_big))
    return a, k


@triton.jit
def _expm1_ratio(alpha):
    """``(1 - exp(-alpha)) / alpha`` (1 at 0; a series for small ``alpha``)."""
    small = tl.abs(alpha) < 1e-2
    safe = tl.where(small, 1.0, alpha)
    return tl.where(small, 1.0 - alpha * (0.5 - alpha / 6.0), (1.0 - tl.exp(-safe)) / safe)


@triton.jit
def _loop_pulse(w, up, s_up, s_down, g_up, g_down, w_max, w_min, xi, noise_std, amp_up,
                amp_down, gam_up, gam_down, es_a, es_b, std_add, std_slope, tab_ptr, n_knots,
                CELL_KIND: tl.constexpr, NOISE: tl.constexpr, MULT_NOISE: tl.constexpr):
    """One pulse of an exp, pow or table cell (``single_pulse_torch``), clipped to the
    bounds; ``tab_ptr``: the table cell's ``n_knots`` up factors, then its down factors."""
    step = tl.where(up, s_up, -s_down)
    span = w_max - w_min
    valid = span > 0.0
    if CELL_KIND == 2:  # CELL_EXP
        z = w * tl.where(valid, 2.0 * es_a / tl.where(valid, span, 1.0), 0.0) + es_b
        amp = tl.where(up, amp_up, amp_down)
        gam = tl.where(up, gam_up, -gam_down)
        y = tl.where(valid, tl.maximum(1.0 - amp * tl.exp(gam * z), 0.0), 0.0)
        dw = step * y
        if NOISE:
            sd = noise_std * (tl.abs(dw) + std_add + std_slope * tl.abs(w))
            dw = tl.where(y > 0.0, dw + sd * xi, dw)
    elif CELL_KIND == 3:  # CELL_POW
        inv = tl.where(valid, 1.0 / tl.where(valid, span, 1.0), 0.0)
        base = tl.maximum(tl.where(up, (w_max - w) * inv, (w - w_min) * inv), 0.0)
        gamma = tl.where(up, g_up, g_down)
        powed = tl.exp2(gamma * tl.log2(tl.where(base > 0.0, base, 1.0)))
        powed = tl.where(base > 0.0, powed, tl.where(gamma == 0.0, 1.0, 0.0))
        dw = step * powed
        if NOISE:
            dw = dw * (1.0 + noise_std * xi)
    else:  # CELL_TABLE (table_factor)
        inv = tl.where(valid, 1.0 / tl.where(valid, span, 1.0), 0.0)
        pos = tl.minimum(tl.maximum((w - w_min) * inv, 0.0), 1.0) * (n_knots - 1.0)
        q = tl.minimum(pos.to(tl.int32), n_knots - 2) + tl.where(up, 0, n_knots)
        f = pos - tl.minimum(pos.to(tl.int32), n_knots - 2).to(tl.float32)
        y0 = tl.load(tab_ptr + q)
        y1 = tl.load(tab_ptr + q + 1)
        dw = tl.where(valid, step * (y0 + f * (y1 - y0)), 0.0)
        if NOISE:
            if MULT_NOISE:
                dw = dw * (1.0 + noise_std * xi)
            else:
                dw = dw + noise_std * tl.where(up, s_up, s_down) * xi
    return tl.minimum(tl.maximum(w + dw, w_min), w_max)


@triton.jit
def _apply_cells(w_ptr, p_ptr, cnt_ptr, tab_ptr, n_knots, seed, offs, mask, n_up, n_down,
                 n_max, stride_p, noise_std, amp_up, amp_down, gam_up, gam_down, es_a, es_b,
                 std_add, std_slope, CELL_KIND: tl.constexpr, MULT_NOISE: tl.constexpr,
                 NOISE: tl.constexpr, COUNT_CELLS: tl.constexpr):
    """The cell physics of the elements ``offs`` (a block of any shape) given their up and
    down counts: the wear counter, then the closed form or the pulse loop (to ``n_max``,
    the block's largest count), the weights stored. Shared by ``_apply_counts_kernel`` and
    the coincidence kernel's epilogue, so both compute alike element by element; ``seed``:
    the stream of the normals (keyed by ``offs``)."""
    w = tl.load(w_ptr + offs, mask=mask, other=0.0)
    s_up = tl.load(p_ptr + 0 * stride_p + offs, mask=mask, other=0.0)
    s_down = tl.load(p_ptr + 1 * stride_p + offs, mask=mask, other=0.0)
    w_max = tl.load(p_ptr + 2 * stride_p + offs, mask=mask, other=0.0)
    w_min = tl.load(p_ptr + 3 * stride_p + offs, mask=mask, other=0.0)
    total = n_up + n_down
    if COUNT_CELLS:  # the wear ledger: each element is this program's alone, no atomics
        cnt = tl.load(cnt_ptr + offs, mask=mask, other=0)
        tl.store(cnt_ptr + offs, cnt + total, mask=mask)
    if CELL_KIND <= 1:  # CELL_CONSTANT, CELL_LINEAR: closed form (mixed_runs)
        q_up = tl.zeros_like(w)
        q_down = tl.zeros_like(w)
        if CELL_KIND == 1:  # q = 1 - c per pulse, computed directly
            q_up = s_up * tl.load(p_ptr + 4 * stride_p + offs, mask=mask, other=0.0)
            q_down = -s_down * tl.load(p_ptr + 5 * stride_p + offs, mask=mask, other=0.0)
        c_up = 1.0 - q_up
        c_down = 1.0 - q_down
        fu = n_up.to(tl.float32)
        fd = n_down.to(tl.float32)
        a_up, k_up = _rate(q_up)
        a_down, k_down = _rate(q_down)
        alpha = fu * a_up + fd * a_down
        beta = fu * s_up * k_up - fd * s_down * k_down
        frac = _expm1_ratio(alpha)
        new = tl.exp(-alpha) * w + beta * frac
        if NOISE:
            if MULT_NOISE:  # the steps where the run ends
                dw_up = (c_up - 1.0) * new + s_up
                dw_down = (c_down - 1.0) * new - s_down
            else:
                dw_up = s_up
                dw_down = s_down
            var = fu * dw_up * dw_up + fd * dw_down * dw_down
            new += noise_std * tl.sqrt(var) * tl.randn(seed, offs)
        new = tl.minimum(tl.maximum(new, w_min), w_max)
        w = tl.where(total > 0, new, w)
    else:  # CELL_EXP, CELL_POW, CELL_TABLE: a pulse loop to the block's largest count
        g_up = tl.zeros_like(w)
        g_down = tl.zeros_like(w)
        if CELL_KIND == 3:
            g_up = tl.load(p_ptr + 6 * stride_p + offs, mask=mask, other=0.0)
            g_down = tl.load(p_ptr + 7 * stride_p + offs, mask=mask, other=0.0)
        safe = tl.maximum(total, 1)
        for p in range(0, n_max):
            up = ((p + 1) * n_up) // safe > (p * n_up) // safe
            xi = tl.zeros_like(w)
            if NOISE:
                xi = tl.randn(seed ^ (tl.cast(p, tl.int64) << 20), offs)
            stepped = _loop_pulse(w, up, s_up, s_down, g_up, g_down, w_max, w_min, xi,
                                  noise_std, amp_up, amp_down, gam_up, gam_down, es_a, es_b,
                                  std_add, std_slope, tab_ptr, n_knots, CELL_KIND=CELL_KIND,
                                  NOISE=NOISE, MULT_NOISE=MULT_NOISE)
            w = tl.where(total > p, stepped, w)
    tl.store(w_ptr + offs, w, mask=mask)


@triton.jit
def _apply_part(w_ptr, p_ptr, cnt_ptr, tab_ptr, n_knots, seed, offs, ok8, net, total, n_max,
                stride_p, noise_std, amp_up, amp_down, gam_up, gam_down, es_a, es_b, std_add,
                std_slope, CELL_KIND: tl.constexpr, MULT_NOISE: tl.constexpr,
                NOISE: tl.constexpr, COUNT_CELLS: tl.constexpr, PACK: tl.constexpr):
    """``_apply_cells`` of the elements ``offs`` from their net and total coincidences
    (``PACK``: ``net`` holds ``total * 2^16 + net + 2^15``; ``total`` unused)."""
    if PACK:
        total = net >> 16
        net = (net & 65535) - 32768
    _apply_cells(w_ptr, p_ptr, cnt_ptr, tab_ptr, n_knots, seed, offs, ok8 != 0,
                 (total - net) // 2, (total + net) // 2, n_max, stride_p, noise_std, amp_up,
                 amp_down, gam_up, gam_down, es_a, es_b, std_add, std_slope,
                 CELL_KIND=CELL_KIND, MULT_NOISE=MULT_NOISE, NOISE=NOISE,
                 COUNT_CELLS=COUNT_CELLS)


@triton.jit(do_not_specialize=["seed"])
def _apply_counts_kernel(w_ptr, p_ptr, a_ptr, b_ptr, seed_ptr, cnt_ptr, sum_ptr, tab_ptr,
                         n_knots, seed, n_elem, stride_p, stride_pg, noise_std, amp_up,
                         amp_down, gam_up, gam_down, es_a, es_b, std_add, std_slope,
                         FROM_NET: tl.constexpr, CELL_KIND: tl.constexpr,
                         MULT_NOISE: tl.constexpr, NOISE: tl.constexpr,
                         SEED_PTR: tl.constexpr, COUNT_CELLS: tl.constexpr,
                         SUM: tl.constexpr, BLOCK: tl.constexpr):
    # axis 1: tile g of a group, n_elem elements each (its weight, counts and counter
    # n_elem on, its parameters stride_pg on, its own seed)
    g = tl.program_id(1).to(tl.int64)
    w_ptr += g * n_elem
    a_ptr += g * n_elem
    b_ptr += g * n_elem
    cnt_ptr += g * n_elem
    p_ptr += g * stride_pg
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n_elem
    if SEED_PTR:
        seed = tl.load(seed_ptr + g)
    seed = _stream(tl.cast(seed, tl.int64), 2)
    a = tl.load(a_ptr + offs, mask=mask, other=0)
    if FROM_NET == 2:  # a = net + 16384 total (one accumulator's counts), b not read
        a, b = _unpack_counts(a)
    else:
        b = tl.load(b_ptr + offs, mask=mask, other=0)
    if FROM_NET != 0:  # a = net, b = total coincidences (equal parity, |net| <= total)
        n_up = (b - a) // 2
        n_down = (b + a) // 2
    else:  # a = up, b = down counts
        n_up = a
        n_down = b
    total = n_up + n_down
    if SUM:  # the tile's pulses: one integer atomic per program (exact in any order)
        tl.atomic_add(sum_ptr + g, tl.sum(total.to(tl.int64), axis=0))
    _apply_cells(w_ptr, p_ptr, cnt_ptr, tab_ptr, n_knots, seed, offs, mask, n_up, n_down,
                 tl.max(total, axis=0), stride_p, noise_std, amp_up, amp_down, gam_up,
                 gam_down, es_a, es_b, std_add, std_slope, CELL_KIND=CELL_KIND,
                 MULT_NOISE=MULT_NOISE, NOISE=NOISE, COUNT_CELLS=COUNT_CELLS)


# cuBLAS's int8 tensor-core product (IMMA) wants the slots and the lines in whole 16s: the
# slots are padded; layers whose sides are not whole 16s are counted by the split-K kernel
ALIGN = 16
# cells from which cuBLAS's int8 product beats the split-K kernel (wide layers: both sides
# long, K a few thousand slots); below, few cells over K in the millions (convolutions) are
# the split-K kernel's. A first guess: ``benchmarks/bench_counts.py`` measures both per shape.
CUBLAS_MIN_SIDE = 512
CUBLAS_MIN_CELLS = 1 << 21


def _round_up(n: int, to: int) -> int:
    return -(-n // to) * to


def _plane_lines(n: int, cublas: bool) -> int:
    """Lines of a plane: ``n``, or for cuBLAS whole 16s and more than 16 (``_int_mm``)."""
    return max(_round_up(n, ALIGN), 2 * ALIGN) if cublas else n


def count_method(n_out: int, n_in: int, device: torch.device) -> str:
    """``"cublas"`` (two ``torch._int_mm`` on K-major planes and |planes|) where both sides
    are long whole 16s, ``"split_k"`` (``_coincidence_kernel``) elsewhere and under the
    interpreter."""
    if (device.type == "cuda" and not _interpreting() and min(n_out, n_in) >= CUBLAS_MIN_SIDE
            and n_out * n_in >= CUBLAS_MIN_CELLS and n_out % ALIGN == n_in % ALIGN == 0):
        return "cublas"
    return "split_k"


@triton.jit
def _compact_layout_kernel(bl_ptr, order_ptr, base_ptr, k, length, BLOCK_K: tl.constexpr,
                           BLOCK_C: tl.constexpr, BLOCK_T: tl.constexpr):
    """:func:`compact_layout_torch` of tile ``g`` (axis 0): a row's rank is the number of
    rows with a longer train, plus those of equal length before it (argsort's stable
    descending order); ``base[t + 1]`` sums the rows whose train reaches slots ``0..t``."""
    g = tl.program_id(0).to(tl.int64)
    bl_ptr += g * k
    order_ptr += g * k
    base_ptr += g * (length + 1)
    for b0 in range(0, k, BLOCK_K):
        rows = b0 + tl.arange(0, BLOCK_K)
        v = tl.load(bl_ptr + rows, mask=rows < k, other=-1)
        rank = tl.zeros((BLOCK_K,), dtype=tl.int32)
        for c0 in range(0, k, BLOCK_C):
            cols = c0 + tl.arange(0, BLOCK_C)
            w = tl.load(bl_ptr + cols, mask=cols < k, other=-1)
            ahead = (w[None, :] > v[:, None]) | ((w[None, :] == v[:, None])
                                                 & (cols[None, :] < rows[:, None]))
            rank += tl.sum((ahead & (cols < k)[None, :]).to(tl.int32), axis=1)
        tl.store(order_ptr + rank, rows.to(tl.int32), mask=rows < k)
    tl.store(base_ptr, 0)
    carry = tl.sum(tl.zeros((BLOCK_T,), dtype=tl.int32), axis=0)
    for t0 in range(0, length, BLOCK_T):
        ts = t0 + tl.arange(0, BLOCK_T)
        reach = tl.zeros((BLOCK_T,), dtype=tl.int32)
        for c0 in range(0, k, BLOCK_C):
            cols = c0 + tl.arange(0, BLOCK_C)
            w = tl.load(bl_ptr + cols, mask=cols < k, other=-1)
            reach += tl.sum(((w[None, :] > ts[:, None]) & (cols < k)[None, :]).to(tl.int32),
                            axis=1)
        reach = tl.where(ts < length, reach, 0)
        tl.store(base_ptr + 1 + ts, carry + tl.cumsum(reach, axis=0), mask=ts < length)
        carry += tl.sum(reach, axis=0)


@triton.jit
def _train_histogram_kernel(bl_ptr, hist_ptr, k, length, n_chunks, CHUNK: tl.constexpr,
                            SUB: tl.constexpr, BLOCK_H: tl.constexpr):
    """How many rows of chunk ``c`` (axis 0: rows ``c * CHUNK ..``) of tile ``g`` (axis 1)
    have each train length (``min(bl, length)``): ``hist[g, c, :BLOCK_H]``, int32."""
    c = tl.program_id(0)
    g = tl.program_id(1).to(tl.int64)
    bl_ptr += g * k
    bins = tl.arange(0, BLOCK_H)
    hist = tl.zeros((BLOCK_H,), dtype=tl.int32)
    for s in range(0, CHUNK, SUB):
        rows = c * CHUNK + s + tl.arange(0, SUB)
        key = _train_key(bl_ptr, rows, k, length)
        hist += tl.sum((key[:, None] == bins[None, :]).to(tl.int32), axis=0)
    tl.store(hist_ptr + (g * n_chunks + c) * BLOCK_H + bins, hist)


@triton.jit
def _train_key(bl_ptr, rows, k, length):
    """Rows' train lengths cut to ``length`` (the host bound), -1 past the ``k`` rows."""
    bl = tl.load(bl_ptr + rows, mask=rows < k, other=0)
    return tl.where(rows < k, tl.minimum(tl.maximum(bl, 0), length), -1)


@triton.jit
def _train_ranks_kernel(bl_ptr, hist_ptr, order_ptr, base_ptr, k, length, n_chunks,
                        CHUNK: tl.constexpr, SUB: tl.constexpr, BLOCK_H: tl.constexpr,
                        BLOCK_C: tl.constexpr):
    """The rows of chunk ``c`` (axis 0) of tile ``g`` (axis 1) put at their ranks in the
    order of decreasing train length, ties by row (argsort's stable descending order):
    rank = rows of longer trains (every chunk's histogram) + rows of the same length in
    earlier chunks + those before it in this chunk (a cumulative sum over one-hot rows).
    Chunk 0 also writes ``base`` (``base[t + 1]``: the rows whose train reaches a slot
    ``<= t``, summed), from the same histograms."""
    c = tl.program_id(0)
    g = tl.program_id(1).to(tl.int64)
    bl_ptr += g * k
    order_ptr += g * k
    base_ptr += g * (length + 1)
    bins = tl.arange(0, BLOCK_H)
    chunks = tl.arange(0, BLOCK_C)
    hist = tl.load(hist_ptr + (g * n_chunks + chunks[:, None]) * BLOCK_H + bins[None, :],
                   mask=(chunks < n_chunks)[:, None], other=0)
    per_len = tl.sum(hist, axis=0)  # rows of each length, the whole tile
    longer = tl.sum(per_len, axis=0) - tl.cumsum(per_len, axis=0)  # rows of longer trains
    start = longer + tl.sum(tl.where((chunks < c)[:, None], hist, 0), axis=0)
    for s in range(0, CHUNK, SUB):
        rows = c * CHUNK + s + tl.arange(0, SUB)
        hot = (_train_key(bl_ptr, rows, k, length)[:, None] == bins[None, :]).to(tl.int32)
        before = tl.cumsum(hot, axis=0) - hot  # equal trains earlier in this sub-block
        rank = tl.sum(hot * (before + start[None, :]), axis=1)
        tl.store(order_ptr + rank, rows.to(tl.int32), mask=rows < k)
        start += tl.sum(hot, axis=0)
    if c == 0:  # base[t + 1] = sum over s <= t of the rows with trains longer than s
        tl.store(base_ptr + bins, tl.cumsum(longer, axis=0) - longer, mask=bins <= length)


# rows up to which compact_layout runs as one launch (its ranks compare every pair of rows);
# longer batches (a convolution's rows) take torch's sort
COMPACT_KERNEL_ROWS = 1024
# Longer batches (a convolution's 8,192-131,072 rows, every ResNet layer's update) laid out
# by counting instead: the train lengths are small integers (at most the host bound, 31 on
# the bench), so each row's rank in the stable descending order is the rows of longer trains
# plus the earlier rows of its length - a histogram a chunk of rows, then the ranks and the
# slots' bases from the histograms (``_train_histogram_kernel``, ``_train_ranks_kernel``):
# 2 launches a tile group instead of torch's ~13 (argsort's radix passes - the profile's 104
# ``DeviceRadixSortOnesweepKernel`` a ResNet step, 4 a tile -, its memsets, the int32 copy,
# the ``bl > slot`` sum and the cumulative sum). The same order and bases, integer for
# integer (trains within the bound; longer ones are ordered as the bound's length, a layout
# that counts the same). Timed against torch's sort on one H100 (2026-12-07 14:58,
# ``conv-counts``, with the drawn counts' parts and register cap: ResNet sgd `batch` 2.89x ->
# 2.51x fp, chopped `batch` 3.93x -> 3.57x; benchmarks/RESULTS.md).
COUNTING_MAX_LENGTH = 63  # one-hot rows of up to 64 lengths; longer bounds take the sort


def counting_layout(bl: torch.Tensor, length: int, *, chunk: int | None = None,
                    sub: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`compact_layout_torch` of int32 trains ``(..., k)`` within ``length`` (at most
    ``COUNTING_MAX_LENGTH``) in two launches; ``chunk`` rows a
    program (a multiple of ``sub``; default: at most 256 chunks a tile), one-hot blocks of
    ``sub`` rows (default: 8,192 one-hot entries, 64 a thread)."""
    k = bl.shape[-1]
    if not 0 < length <= COUNTING_MAX_LENGTH:
        raise ValueError(f"counting_layout takes trains of 1-{COUNTING_MAX_LENGTH} slots")
    flat = bl.reshape(-1, k).contiguous()
    tiles = flat.shape[0]
    block_h = triton.next_power_of_2(length + 1)
    sub = sub or min(256, 8192 // block_h)
    chunk = chunk or max(1024, _round_up(triton.cdiv(k, 256), sub))
    if chunk % sub:
        raise ValueError("counting_layout's chunk must be a multiple of sub")
    n_chunks = triton.cdiv(k, chunk)
    hist = torch.empty(tiles, n_chunks, block_h, dtype=torch.int32, device=bl.device)
    order = torch.empty(flat.shape, dtype=torch.int32, device=bl.device)
    base = torch.empty(tiles, length + 1, dtype=torch.int32, device=bl.device)
    if k and tiles:
        _train_histogram_kernel[(n_chunks, tiles)](flat, hist, k, length, n_chunks,
                                                   CHUNK=chunk, SUB=sub, BLOCK_H=block_h)
        _train_ranks_kernel[(n_chunks, tiles)](flat, hist, order, base, k, length, n_chunks,
                                               CHUNK=chunk, SUB=sub, BLOCK_H=block_h,
                                               BLOCK_C=triton.next_power_of_2(n_chunks))
    return order.reshape(bl.shape), base.reshape(*bl.shape[:-1], length + 1)


def compact_layout(bl: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`compact_layout_torch` in one launch (``_compact_layout_kernel``) for int32
    trains of up to ``COMPACT_KERNEL_ROWS`` rows (a layer's batch), in two by counting
    (``counting_layout``) for longer batches within ``COUNTING_MAX_LENGTH``: some ten small
    torch launches otherwise (the sort's, the counts', the cumulative sum's)."""
    k = bl.shape[-1]
    if (bl.dtype == torch.int32 and k > COMPACT_KERNEL_ROWS
            and 0 < length <= COUNTING_MAX_LENGTH):
        return counting_layout(bl, length)
    if bl.dtype != torch.int32 or not 0 < k <= COMPACT_KERNEL_ROWS or length <= 0:
        return compact_layout_torch(bl, length)
    flat = bl.reshape(-1, k).contiguous()
    order = torch.empty(flat.shape, dtype=torch.int32, device=bl.device)
    base = torch.empty(flat.shape[0], length + 1, dtype=torch.int32, device=bl.device)
    block_t = min(64, triton.next_power_of_2(length))
    _compact_layout_kernel[(flat.shape[0],)](flat, order, base, k, length, BLOCK_K=64,
                                             BLOCK_C=64, BLOCK_T=block_t)
    return order.reshape(bl.shape), base.reshape(*bl.shape[:-1], length + 1)


def compact_layout_torch(bl: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Where compact planes put each slot (``_line_planes_kernel``): the rows in the order
    of decreasing train length ``(..., k)`` (int32) and, per slot ``t``, the position of its
    first row ``base[..., t]`` (int32, ``(..., length + 1)``; ``base[..., length]``: the sum
    of the trains, where the planes end). On the device, no host sync. The meaning of
    :func:`compact_layout`'s kernel."""
    order = torch.argsort(bl, dim=-1, descending=True, stable=True).to(torch.int32)
    slots = torch.arange(length, device=bl.device, dtype=bl.dtype)
    rows_in_slot = (bl[..., None] > slots).sum(-2, dtype=torch.int32)
    base = torch.zeros(*bl.shape[:-1], length + 1, dtype=torch.int32, device=bl.device)
    torch.cumsum(rows_in_slot, dim=-1, out=base[..., 1:])
    return order, base


def line_planes_triton(prob: torch.Tensor, bl: torch.Tensor, length: int, ld: int,
                       seed: int | torch.Tensor, stream: int, *, n_lines: int | None = None,
                       with_abs: bool = False, compact: tuple | None = None,
                       rows4: bool = False, zeroed: bool = False):
    """The signed bits (``signed_bits_torch``) of each line as K-major int8 planes
    ``(n_lines, ld)``: slot ``t`` of row ``b`` of line ``j`` at ``[j, t * k + b]``
    (slot-major), zeros past the ``k * length`` slots and the ``n`` lines; and, ``with_abs``, their
    magnitudes (cuBLAS's second product). Drawn from stream ``stream`` of ``seed``, in one
    launch that writes every byte (nothing to clear, no transposing copy, no abs pass).

    A group of tiles: ``prob`` ``(tiles, k, n)``, ``bl`` ``(tiles, k)`` and ``seed`` a
    ``(tiles,)`` tensor give planes ``(tiles, n_lines, ld)``, tile ``g``'s drawn from
    ``seed[g]`` as its own call would draw them.

    ``compact``: :func:`compact_layout` of ``bl``: the same bits, only the slots inside the
    trains, rows in the order of decreasing train length (``base[t] + rank``); nothing is
    written past the trains' sum (a count must stop there: ``coincidences_triton``'s
    ``ends``). ``rows4`` (not ``compact``): the bits of the drawn counts' stream
    (``_rows4``: keyed by row, four rows a Philox call), slot-major at ``t * k + row`` as the
    dense planes, but only the slots up to each block of rows' longest train written (``ld
    >= k * length``; nothing past them is set). ``zeroed``: the planes allocated as zeros,
    so that the slots a layout leaves unwritten (compact, or ``rows4``) read as zeros
    wherever a reader takes every slot (cuBLAS's products)."""
    grouped = prob.dim() == 3
    if not grouped:
        prob, bl = prob[None], bl[None]
    tiles, k, n = prob.shape
    n_lines = n if n_lines is None else n_lines
    alloc = torch.zeros if zeroed else torch.empty
    signed = alloc(tiles, n_lines, ld, dtype=torch.int8, device=prob.device)
    magnitude = alloc(signed.shape, dtype=torch.int8, device=prob.device) if with_abs else None
    if n_lines and ld and tiles and (k == 0 or length == 0):
        signed.zero_()
        if magnitude is not None:
            magnitude.zero_()
    elif n_lines and ld and tiles:
        on_device = isinstance(seed, torch.Tensor)
        if tiles > 1 and not on_device:
            raise ValueError("a group of tiles takes one seed per tile (an int64 tensor)")
        block_b, block_l = _plane_blocks(n_lines)
        # slots in fours, all up to ld, padding included (dense); compact or rows4: one
        # program a row block walks its quads (or slots) up to its trains
        loop = rows4 or compact is not None
        if compact is not None and block_b > SHORT_PLANE_ROWS:
            block_b = SHORT_PLANE_ROWS  # (the module note at SHORT_PLANE_ROWS)
        quads = 1 if loop else triton.cdiv(length if compact else triton.cdiv(ld, k), 4)
        if rows4 and compact is not None:
            raise ValueError("rows4's planes are dense (keyed by row)")
        if rows4 and ld < k * length:
            raise ValueError("rows4's dense planes take ld >= k * length")
        grid = (triton.cdiv(k, block_b) * quads, triton.cdiv(n_lines, block_l), tiles)
        order, base = compact if compact is not None else (bl, bl)
        _line_planes_kernel[grid](
            signed, signed if magnitude is None else magnitude, prob, bl,
            seed if on_device else signed, 0 if on_device else int(seed), order, base, n,
            n_lines, k, length, ld, quads, prob.stride(1), prob.stride(2), prob.stride(0),
            STREAM=stream, SEED_PTR=on_device, ABS=magnitude is not None,
            COMPACT=compact is not None, BLOCK_B=block_b, BLOCK_L=block_l, ROWS4=rows4)
    if grouped:
        return signed, magnitude
    return signed[0], None if magnitude is None else magnitude[0]


# A program's lines and rows: 32 x 64, or where a plane has at most 16 lines (a narrow
# convolution's error side: 16 output channels), 16 x 128 - Philox runs for every lane of
# a block, masked or not, so 32 lines there drew twice the numbers kept. The bits are keyed
# by (line, slot, row), whatever the blocks. Timed against 32 x 64 everywhere on one H200
# (2026-12-06 23:00, ``narrow-rows`` with the drawn counts and three other paths: ResNet sgd
# `batch` 4.74x -> 3.30x fp; benchmarks/RESULTS.md).
# Compact planes drawn by one program a row block (and block of lines) that walks its quads
# of slots up to the block's longest train, instead of one program a quad up to the host
# bound of the trains (``max_bl``, 31: 8 quads) that returns where no train reaches: on the
# bench's 784-4096-4096-10 b256 trains (a slot a row, BL management) 7 of 8 programs only
# load the block's trains and return. The same bits at the same places. Timed against a
# program a quad with one accumulator (``PACK_MAX_SLOTS``) and ``grouped.ORDERED_SUMS``
# (``bench_switches wide-batch``, one H100, 2026-12-07 07:42: 4096-wide sgd `batch` 2.47x ->
# 2.02x fp, ttv2 `batch` 2.54x -> 2.12x).


# ``SHORT_PLANE_ROWS``: compact planes walked a quad at a time (not ``ROWS4``'s stream)
# drawn by programs of ``SHORT_PLANE_ROWS`` rows instead of 64 (x 32
# lines). A 64 x 32 program on 4 warps holds 16 elements a thread, each with its four Philox
# words and stores: 255 registers and 28-52 bytes of spills a thread (sm_90 ptxas), two
# programs (8 warps) an SM; at 16 rows, 4 a thread: 96 registers, no spills, five programs
# (20 warps) an SM to hide the probabilities' loads and the Philox rounds. The bench's
# 784-4096-4096-10 b256 step draws 6 such planes (64 tiles x 256 rows x 512 lines for each
# side of the 4096 layer: 34 MB of probabilities read, 8.4 M Philox calls, 8 MB of bits) in
# ~262 us of kernel time a step (H100 profile, /work/notes/prof14.txt), ~30 us of bytes at
# 3 TB/s: expected about half of it. A bit's Philox key is (line, quad, row) whatever the
# blocks, and a row's quads end where its train does: the same planes byte for byte. Timed
# against 64 rows on one H100 with the fused flat count + apply (2026-12-08 00:45,
# ``wide-fuse-all``: the note at ``FUSED_FLAT_MAX_SLOTS``).
SHORT_PLANE_ROWS = 16


def _plane_blocks(n_lines: int) -> tuple[int, int]:
    """``(BLOCK_B, BLOCK_L)`` of ``_line_planes_kernel`` for planes of ``n_lines``."""
    return (128, 16) if n_lines <= 16 else (64, 32)


def signed_bits_triton(prob: torch.Tensor, bl: torch.Tensor, length: int, rows: int,
                       seed: int | torch.Tensor, stream: int) -> torch.Tensor:
    """``(rows, n)`` int8 signed bits (``signed_bits_torch`` flattened to ``k * length``
    rows, zero rows after them), drawn from stream ``stream`` of ``seed``: the bits of
    :func:`line_planes_triton`'s planes in the rows' order."""
    k, n = prob.shape
    planes = line_planes_triton(prob, bl, length, rows, seed, stream)[0]
    out = torch.zeros(rows, n, dtype=torch.int8, device=prob.device)
    out[:k * length] = planes[:, :k * length].T.reshape(length, k, n).transpose(0, 1) \
        .reshape(k * length, n)
    return out


def _planes_of_bits(prob, bl, bits, ld, n_lines, with_abs):
    """Given 0/1 trains as the planes of :func:`line_planes_triton` (the twin's signs,
    slot-major)."""
    from .counted_update_ref import signed_bits_torch

    signed = signed_bits_torch(prob, bl, bits.shape[1], bits=bits).transpose(0, 1) \
        .flatten(0, 1)
    planes = torch.zeros(n_lines, ld, dtype=torch.int8, device=prob.device)
    planes[:signed.shape[1], :signed.shape[0]] = signed.T
    return planes, (planes.abs() if with_abs else None)


@functools.cache
def _programs(device: torch.device) -> int:
    """Programs that fill the device: four per SM (a few under the interpreter)."""
    if device.type != "cuda":
        return 4
    return 4 * torch.cuda.get_device_properties(device).multi_processor_count


def _split_config(n_out: int, n_in: int, ld: int, device: torch.device,
                  splits: int | None = None, group: int = 1, one_acc: bool = False) -> dict:
    """Blocks and the K split of ``_coincidence_kernel``: blocks as large as the cells
    allow (up to 128 x 128), then K cut so that the grid fills the device, each program
    keeping at least four steps of ``BLOCK_K`` slots. ``one_acc`` (``ONE_ACC``): steps of
    64 slots where the rule takes 128 (compiled for sm_90 at 128 x 128 on 8 warps: 16 bytes
    of spills a thread, against 1.4 KB at 128 and 2.4 KB with two accumulators)."""
    bm = min(128, max(16, triton.next_power_of_2(n_out)))
    bn = min(128, max(16, triton.next_power_of_2(n_in)))
    bk = COUNT_BLOCK_K or ((64 if one_acc else 128) if ld >= 512 else 32)
    steps = triton.cdiv(ld, bk)
    tiles = triton.cdiv(n_out, bm) * triton.cdiv(n_in, bn) * group
    if splits is None:
        splits = max(1, min(steps // 4, triton.cdiv(_programs(device), tiles)))
    return dict(BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, splits=max(1, min(splits, steps)),
                num_warps=8 if bm * bn >= 128 * 64 else 4)


# the apply arguments of a coincidence launch that only counts (never read)
_NO_APPLY = dict(n_knots=2, seed=0, stride_p=0, stride_pg=0, noise_std=0.0, amp_up=0.0,
                 amp_down=0.0, gam_up=0.0, gam_down=0.0, es_a=0.0, es_b=0.0, std_add=0.0,
                 std_slope=0.0, APPLY=False, CELL_KIND=0, MULT_NOISE=False, NOISE=False,
                 SEED_PTR=False, COUNT_CELLS=False, SUM=False, PACK=False)


def _count_options(cfg: dict, apply: bool = False) -> dict:
    """``cfg`` (``_split_config``'s, less ``splits``) with the register cap
    (``COUNT_REGISTER_CAP``) of its 8-warp blocks that only count (``apply``: the fused
    epilogue needs its registers)."""
    cfg = dict(cfg)
    if not apply and cfg["num_warps"] == 8 and cfg["BLOCK_K"] <= 64:
        cfg["maxnreg"] = COUNT_REGISTER_CAP
    return cfg


def coincidences_triton(dt: torch.Tensor, xt: torch.Tensor, n_out: int, n_in: int, *,
                        dt_abs: torch.Tensor | None = None, xt_abs: torch.Tensor | None = None,
                        splits: int | None = None, trains: tuple | None = None,
                        ends: torch.Tensor | None = None, packed: bool = False):
    """``net = Ds^T Xs`` and ``total = |Ds|^T |Xs|`` (int32) of the K-major planes ``dt``
    ``(>= n_out, ld)``, ``xt`` ``(>= n_in, ld)``. Given their magnitudes (``dt_abs``,
    ``xt_abs``): two cuBLAS int8 products in the layout its tensor-core kernels take (A
    row-major, B column-major, every side a multiple of 16), ``(rows of dt, rows of xt)``;
    else one launch of the split-K kernel, ``(n_out, n_in)`` (``splits``: its K parts,
    default chosen to fill the device; ``trains``: ``(bl, k, length)`` of slot-major
    planes, whose slots past the longest of ``bl`` it skips; ``ends``: instead, where each
    tile's slots end, an int tensor on the device - compact planes). Either way exact:
    integer sums.

    A group of tiles (split-K only): planes ``(tiles, lines, ld)`` and ``bl`` ``(tiles,
    k)`` give counts ``(tiles, n_out, n_in)``, in one launch.

    ``packed`` (split-K, planes of fewer than 2^13 slots: ``_one_accumulator``): one int32
    tensor of ``net + 16384 * total`` instead of the pair, counted in one accumulator
    (``_coincidence_kernel``'s ``ONE_ACC``); ``_apply`` takes it with ``from_net=2``."""
    grouped = dt.dim() == 3
    ld = dt.shape[-1]
    if dt_abs is not None:
        return torch._int_mm(dt, xt.T), torch._int_mm(dt_abs, xt_abs.T)
    if packed and ld > PACK_MAX_SLOTS:
        raise ValueError(f"packed counts take planes of at most {PACK_MAX_SLOTS} slots")
    if not grouped:
        dt, xt = dt[None], xt[None]
    tiles = dt.shape[0]
    cfg = _split_config(n_out, n_in, ld, dt.device, splits, tiles, one_acc=packed)
    n_split = cfg.pop("splits")
    counts = (torch.zeros if n_split > 1 else torch.empty)(
        1 if packed else 2, tiles, n_out, n_in, dtype=torch.int32, device=dt.device)
    if n_out and n_in and tiles:
        grid = (triton.cdiv(n_out, cfg["BLOCK_M"]), triton.cdiv(n_in, cfg["BLOCK_N"]),
                tiles * n_split)
        if ends is None and trains is not None:  # slot-major: up to the longest train
            bl, k_rows, length = trains
            ends = bl.amax(-1).clamp(max=length).to(torch.int64) * k_rows
        ends = counts if ends is None else ends.reshape(-1)  # (a column of base: strided)
        _coincidence_kernel[grid](dt, xt, counts[0], counts[-1], ends, n_out, n_in, ld,
                                  n_split, dt.stride(0), xt.stride(0),
                                  ends.stride(0) if ends is not counts else 0,
                                  END=ends is not counts, ATOMIC=n_split > 1, **_NO_APPLY,
                                  w_ptr=counts, p_ptr=counts, seed_ptr=counts, cnt_ptr=counts,
                                  sum_ptr=counts, tab_ptr=counts, ONE_ACC=packed,
                                  OUT_PACKED=packed, **_count_options(cfg))
    if packed:
        return counts[0] if grouped else counts[0, 0]
    if grouped:
        return counts[0], counts[1]
    return counts[0, 0], counts[1, 0]


# Split-K counts of narrow layers (at most DRAWN_MAX_OUT outputs, at least DRAWN_MIN_ROWS rows:
# a convolution's 10^5 rows x BL slots) drawn where they are counted (``_drawn_counts_kernel``):
# the planes, BL bytes a row and line, are neither written nor read again (the same counts as
# planes and ``_coincidence_kernel``). Timed against those on one H200 (2026-12-06 23:00,
# ``narrow-rows``: see ``_plane_blocks``' note).
# the error side (<= 64 lines) drawn once into its dense plane and read by every program,
# instead of drawn again by each program of an input block (a default: never timed apart;
# the other way stays for ``ROW_KEYS_DRAWN_ERRORS`` and planes past ``ROW_KEYS_PLANE_BYTES``)
DRAWN_ERROR_PLANES = True
DRAWN_MAX_OUT = 64
DRAWN_MIN_ROWS = 2048
# ``_drawn_counts_kernel`` counts a row block's slots up to its longest train, no further:
# the ResNet's trains are 1 pulse long under BL management (benchmarks/RESULTS.md,
# 2026-12-07 resperiph). Timed against counting every slot of a quad of the old stream on one
# H100 (2026-12-07 08:50, ``skip-slots``: ResNet sgd `batch` 3.15x -> 2.89x fp).


# The drawn counts split into ``DRAWN_WAVES`` times the parts (programs) that fill the device
# by the split-K rule (4 a SM): at the ResNet's shapes each part walks 10-40 row blocks of
# dependent loads (order -> rows -> probabilities; per slot the error plane's base, then its
# bits) at 8-12 warps a SM (sm_90 ptxas: 159-168 registers at 144 inputs, 3 programs a SM;
# 255 at 288, 2 a SM), so a part's time is latency, not issue (~25 % of issue in the
# 2026-12-07 profile), and the 4-a-SM grid (530 parts at 144 and 288 inputs) ran as 2 waves
# of 3 a SM (1.34 waves of work) or 3 of 2 a SM (2.01): the last wave alone on a few SMs. With
# at most 4x the parts (each >= 4 row blocks) the last wave is a smaller share (144 inputs:
# 2,110 parts, 6 waves for 5.33; 288: 1,280 parts, 5 for 4.85). The same counts (integer
# atomics, any order). Timed against the split-K rule's parts on one H100 (2026-12-07 14:58,
# ``conv-counts``: see ``COUNTING_MAX_LENGTH``).
DRAWN_WAVES = 4
# ``_drawn_counts_kernel``'s registers capped (ptxas ``maxnreg``) where its program is a
# 144-wide layer's (32 rows x 32 inputs x 16 outputs on 4 warps: the 32 x 32 layers, 60 % of
# the ResNet's drawn lanes): 159 -> 128 registers for 8 bytes of stack (sm_90, Triton 3.8
# here: 2 spill stores, 1 load), 3 -> 4 programs (16 warps) a SM. With ``DRAWN_WAVES``' parts
# (at most 4 x 4 programs a SM) the parts then fill 4 waves exactly. The wider programs
# spill at any cap (288 x 32: 336 bytes at 168). The same counts. Timed against ptxas's
# choice on one H100 (2026-12-07 14:58, ``conv-counts``: see ``COUNTING_MAX_LENGTH``).
DRAWN_REGISTER_CAP = 128
# The drawn counts' bits (``_drawn_counts_kernel``, and its error side's plane) from their own
# stream (``_rows4``), keyed by row: one Philox call gives the bits of four rows of one slot
# and line, where the planes' stream gives four slots of one row. The ResNet's trains are 1
# slot long under BL management, so that stream's calls kept 1 word of 4, and Philox was ~700
# of the ~1,200 SASS instructions a thread and row block at 144 inputs (benchmarks/RESULTS.md,
# 2026-12-07 convcounts). The same probability for every bit (the same uniform and
# threshold), other numbers than the planes' stream: tested bit for bit against the twin
# ``counted_update_ref.drawn_counts_rows4_torch`` and in distribution over seeds. Only the
# drawn counts' shapes (``_drawn``) take this stream; the planes of wide layers keep theirs
# (a cuBLAS count forced at a drawn shape draws this stream into its planes). Keyed by row,
# the rows in their own order: no layout launches (``compact_layout``) and no ``order ->
# rows`` load before a row block's dependent loads; the error side's plane is dense (slot
# ``t`` of row ``r`` at ``t * k + r``, written up to each row block's longest train; its
# allocation ``k * length`` slots a line, ~65 MB at the 32 x 32 layers' 131,072 rows x 31 x
# 16; above ``ROW_KEYS_PLANE_BYTES`` the error side is drawn by each program instead). A row
# block's slots run to its longest train (rows not grouped by length: up to ~2x the slot
# steps where lengths mix). The products' operands are lean: the bits' magnitudes as ``s &
# 1`` (``tl.abs`` on int8 goes byte by byte: PRMT unpack, sign extension, IABS, repack), the
# error plane's bits loaded straight as the ``(lines, rows)`` operand its K-major lines are.
# The input side's probabilities are made where they are read (``X_ROWS``) from the update's
# rows and each row's gain, not written by the train kernel as a ``(k, in)`` float32 buffer
# and read back (the ResNet: ~0.8 GB a step): the train kernel stores one gain a row
# (``X_GAINS``) and the count kernel runs its own ``_signed_probability`` on the same float32
# operands - the same probabilities (products, a divide, a floor and min / max: no fma
# contraction to differ). Where the count is not drawn (cuBLAS, wide errors, few rows, given
# bits) the probabilities are made first (``RowProbabilities.materialize``, the twin); single
# tiles (``array.update``) only, a group's trains unchanged.
# Timed by one H100 against the paths before them, each then a switch (benchmarks/RESULTS.md):
# the stream keyed by rank in ``compact_layout``'s order against the planes' stream
# (2026-12-07 16:41, ``drawn-rows4``: ResNet sgd `batch` 2.51x -> 2.36x fp, chopped 2.75x ->
# 2.60x); keyed by row, the lean operands and the probabilities made where read, together
# against ranks, ``tl.abs`` and the buffer (2026-12-07 22:30-22:45, ``folded-row-keys``:
# ResNet `batch` sgd 2.36x -> 2.17x, chopped and agad 2.59x -> 2.44x, ttv1/ttv2 2.37x ->
# 2.18x; 784-4096-4096-10 the same within 1 %).
# ``_drawn_counts_kernel``'s input blocks at most 32 lines wide where the error side has
# 33-64 lines (a 64-line block: the ResNet's 8 x 8 layers, 288 inputs x 64 outputs): the
# 64-wide block chosen by ``_drawn_block_n`` spills 328 bytes a thread (sm_90, Triton 3.8;
# 255 registers), the 32-wide one does not. The same counts (the bits are keyed by line,
# not by block). False: ``_drawn_block_n``'s width.
NARROW_DRAWN_BLOCKS = False
# The error side drawn by each program of a row block (no plane, one launch a count):
# ``_drawn_block_n``'s widths for drawn error sides (144 inputs: 64 x 16, 215 registers, 2
# programs a SM; 288: 128 x 32 / 64 on 8 warps, 229 / 244 registers, 1 a SM; sm_90, Triton
# 3.8), ~0-27 % more SASS a row block than the plane's blocks, and the plane's launch (~0.45
# ms a step) saved. A switch for side-by-side timings; False: the dense plane.
ROW_KEYS_DRAWN_ERRORS = False
ROW_KEYS_PLANE_BYTES = 1 << 28


def folds_input_probabilities(n_out: int, n_in: int, k: int, device: torch.device) -> bool:
    """Whether a tile's counted update draws its counts from the input side's rows and gains
    (``_drawn_counts_kernel``'s ``X_ROWS``): the trains then need only those gains."""
    return _drawn(n_out, k) and count_method(n_out, n_in, device) != "cublas"

def _drawn_launch(block_r: int, block_m: int, block_n: int) -> dict:
    """The launch options of ``_drawn_counts_kernel`` for its blocks: warps, and the
    register cap (``DRAWN_REGISTER_CAP``) of the 144-wide layers' programs."""
    options = dict(num_warps=8 if block_r * block_n >= 4096 else 4)
    if (block_r, block_m, block_n) == (32, 16, 32):
        options["maxnreg"] = DRAWN_REGISTER_CAP
    return options


def _drawn(n_out: int, k: int) -> bool:
    return n_out <= DRAWN_MAX_OUT and k >= DRAWN_MIN_ROWS


def _drawn_block_n(n_in: int, block_m: int, d_plane: bool) -> int:
    """Input lines a program of ``_drawn_counts_kernel``: Philox runs on every lane, and
    each program draws the ``block_m`` error lines again (or, from a plane, reads them: a
    quarter of a draw, say), so the width with the least such work (``cdiv(n_in, b) * (b +
    block_m)``), the wider on a tie."""
    extra = block_m / 4 if d_plane else block_m
    widths = (16, 32) if NARROW_DRAWN_BLOCKS and block_m >= 64 else (16, 32, 64, 128)
    return min(widths, key=lambda b: (triton.cdiv(n_in, b) * (b + extra), -b))


def drawn_counts_triton(x_prob: torch.Tensor, d_prob: torch.Tensor, bl: torch.Tensor,
                        length: int, seed: int | torch.Tensor, *, block_r: int = 32,
                        block_n: int | None = None, splits: int | None = None,
                        error_planes: bool | None = None):
    """``(net, total)`` of the bits of ``_rows4``'s stream keyed by row from ``seed`` (x
    stream 0, d stream 1; the twin ``drawn_counts_rows4_torch``), as ``coincidences_triton``
    would count them from planes, in one launch and without the input side's planes
    (``error_planes``, default ``DRAWN_ERROR_PLANES``: the error side's dense plane drawn
    first, by ``line_planes_triton(rows4=True)``, and read; else drawn in the same launch by
    every program). A group: ``(tiles, k, n)`` probabilities, ``(tiles, k)`` trains and a
    ``(tiles,)`` seed tensor give ``(tiles, n_out, n_in)`` counts. ``x_prob`` a
    ``RowProbabilities`` (one tile): its probabilities made where they are read."""
    folded = x_prob if isinstance(x_prob, RowProbabilities) else None
    if folded is not None:
        x_prob = folded.rows
    grouped = x_prob.dim() == 3
    if folded is not None and grouped:
        raise ValueError("folded input probabilities are one tile's")
    if not grouped:
        x_prob, d_prob, bl = x_prob[None], d_prob[None], bl[None]
    tiles, k, n_in = x_prob.shape
    n_out = d_prob.shape[2]
    x_prob, d_prob = x_prob.to(torch.float32), d_prob.to(torch.float32)
    x_fold = {} if folded is None else dict(
        xg_ptr=folded.gain.to(torch.float32).contiguous(),
        xsign_ptr=(folded.gain if folded.sign is None
                   else folded.sign.to(torch.float32).reshape(-1).contiguous()),
        x_res=float(folded.res), X_ROWS=True, X_SIGN=folded.sign is not None,
        X_RES=folded.res > 0)
    on_device = isinstance(seed, torch.Tensor)
    if tiles > 1 and not on_device:
        raise ValueError("a group of tiles takes one seed per tile (an int64 tensor)")
    d_plane = DRAWN_ERROR_PLANES if error_planes is None else error_planes
    if ROW_KEYS_DRAWN_ERRORS or n_out * k * length * tiles > ROW_KEYS_PLANE_BYTES:
        d_plane = False  # the error side drawn by each program of a row block
    bl = bl.contiguous()
    block_m = max(16, triton.next_power_of_2(n_out))
    block_n = block_n or _drawn_block_n(n_in, block_m, d_plane)
    n_blocks = triton.cdiv(n_in, block_n)
    steps = triton.cdiv(k, block_r)
    if splits is None:  # at most DRAWN_WAVES x the programs that fill the device
        fill = _programs(x_prob.device) * DRAWN_WAVES
        splits = max(1, min(steps // 4, fill // (n_blocks * tiles)))
    splits = max(1, min(splits, steps))
    counts = (torch.zeros if splits > 1 else torch.empty)(
        2, tiles, n_out, n_in, dtype=torch.int32, device=x_prob.device)
    if k and n_out and n_in and tiles and length > 0:
        ld = k * length  # the rows in their own order: no layout; a dense error plane
        dt = counts
        if d_plane:
            dt = line_planes_triton(d_prob, bl, length, ld, seed, 1, rows4=True)[0]
        _drawn_counts_kernel[(n_blocks, splits, tiles)](
            x_prob, d_prob, bl, seed if on_device else counts, 0 if on_device else int(seed),
            counts[0], counts[1], dt, ld, k, n_out, n_in, length, splits, x_prob.stride(1),
            x_prob.stride(2), x_prob.stride(0), d_prob.stride(1), d_prob.stride(2),
            d_prob.stride(0), SEED_PTR=on_device, ATOMIC=splits > 1, D_PLANE=d_plane,
            BLOCK_R=block_r, BLOCK_M=block_m, BLOCK_N=block_n,
            **x_fold, **_drawn_launch(block_r, block_m, block_n))
    elif splits <= 1:
        counts.zero_()
    if grouped:
        return counts[0], counts[1]
    return counts[0, 0], counts[1, 0]

def pulse_counts_triton(xs: torch.Tensor, ds: torch.Tensor, method: str | None = None):
    """Up and down counts ``(out, in)`` int32 (``pulse_counts_torch``) of signed bits
    ``(K, in)``, ``(K, out)`` laid out as planes; ``method``: ``count_method``'s choice
    unless given."""
    n_k, n_in = xs.shape
    n_out = ds.shape[1]
    method = method or count_method(n_out, n_in, xs.device)
    cublas = method == "cublas"
    ld = _round_up(n_k, ALIGN)
    planes = []
    for bits in (ds, xs):
        lines = _plane_lines(bits.shape[1], cublas)
        t = torch.zeros(lines, ld, dtype=torch.int8, device=bits.device)
        t[:bits.shape[1], :n_k] = bits.T
        planes.append(t)
    dt, xt = planes
    net, total = coincidences_triton(dt, xt, n_out, n_in, dt_abs=dt.abs() if cublas else None,
                                     xt_abs=xt.abs() if cublas else None)
    net, total = net[:n_out, :n_in], total[:n_out, :n_in]
    return (total - net) // 2, (total + net) // 2


def apply_counts_triton(weight: torch.Tensor, cell_params: torch.Tensor, up: torch.Tensor,
                        down: torch.Tensor, cell: CellParams, *,
                        seed: int | torch.Tensor = 0,
                        cell_pulses: torch.Tensor | None = None) -> None:
    """``apply_counts_torch`` on a contiguous float32 ``weight``, normals from ``seed``;
    each element's ``up + down`` added to the int32 counter ``cell_pulses`` if given."""
    _apply(weight, cell_params, up, down, False, cell, seed=seed, cell_pulses=cell_pulses)


def _cell_args(weight, cell_params, cell: CellParams, *, seed, cell_pulses=None,
               tiles: int = 1, pulses: torch.Tensor | None = None) -> dict | None:
    """The apply arguments (``_apply_cells``'s, by keyword) of a launch that applies counts
    to ``weight`` (``_apply``'s arguments), or None where it has no elements."""
    cell_kind, noise_std, mult_noise, cell_scalars, cell_table = cell
    scalars = check_cell(cell_kind, cell_params[0] if tiles > 1 else cell_params, cell_scalars,
                         cell_table)
    if weight.numel() // max(tiles, 1) == 0:
        return None
    if cell_pulses is not None and (cell_pulses.dtype != torch.int32
                                    or cell_pulses.shape != weight.shape
                                    or not cell_pulses.is_contiguous()
                                    or cell_pulses.device != weight.device):
        raise ValueError("cell_pulses must be a contiguous int32 tensor shaped like weight")
    params = cell_params.to(torch.float32).contiguous()
    on_device = isinstance(seed, torch.Tensor)
    tab, n_knots = knot_table(cell_table, weight)
    names = ("amp_up", "amp_down", "gam_up", "gam_down", "es_a", "es_b", "std_add", "std_slope")
    return dict(
        w_ptr=weight, p_ptr=params, seed_ptr=seed if on_device else weight,
        cnt_ptr=weight if cell_pulses is None else cell_pulses,
        sum_ptr=weight if pulses is None else pulses, tab_ptr=tab, n_knots=n_knots,
        seed=0 if on_device else int(seed), stride_p=params.stride(1 if tiles > 1 else 0),
        stride_pg=params.stride(0) if tiles > 1 else 0, noise_std=float(noise_std),
        **dict(zip(names, scalars, strict=True)), CELL_KIND=int(cell_kind),
        MULT_NOISE=bool(mult_noise) or int(cell_kind) == CELL_CONSTANT,
        NOISE=float(noise_std) > 0, SEED_PTR=on_device, COUNT_CELLS=cell_pulses is not None,
        SUM=pulses is not None)


def _apply(weight, cell_params, a, b, from_net: bool | int, cell: CellParams, *, seed,
           cell_pulses=None, tiles: int = 1, pulses: torch.Tensor | None = None) -> None:
    """One launch of the apply kernel on counts ``(a, b)``: up and down, or (``from_net``)
    net and total coincidences, or (``from_net`` 2) ``a`` alone holding ``net + 16384
    total`` (``coincidences_triton(packed=True)``; ``b`` is not read). ``tiles`` > 1: a
    group, ``weight`` ``(tiles, out, in)``,
    ``cell_params`` ``(tiles, P, out, in)``, counts and counter like ``weight``, ``seed``
    one per tile. ``pulses``: an int64 tensor (one element per tile) the pulses are added
    to."""
    args = _cell_args(weight, cell_params, cell, seed=seed, cell_pulses=cell_pulses,
                      tiles=tiles, pulses=pulses)
    if args is None:
        return
    n = weight.numel() // max(tiles, 1)
    block = 256
    _apply_counts_kernel[(triton.cdiv(n, block), tiles)](
        a_ptr=a.to(torch.int32).contiguous(), b_ptr=b.to(torch.int32).contiguous(), n_elem=n,
        FROM_NET=int(from_net), BLOCK=block, **args)


# The counts applied in the coincidence kernel's epilogue where it runs as one part (no
# split over K; ``_count_and_apply``): net and total (8 bytes a cell) are neither written nor
# read back, and the apply kernel's launch is saved; the same numbers as split-K counts, then
# ``_apply_counts_kernel``. Timed against those on one H100 in 16 x 64 blocks (2026-12-08
# 00:45, ``bench_switches wide-fuse-all``: the note at ``FUSED_FLAT_MAX_SLOTS``); in 128 x
# 128 blocks of 8 column parts, measured slower (one H200, 2026-12-06: benchmarks/RESULTS.md).
# both counts of an element in one register through the epilogue where the slots allow
PACK_COUNTS = True
# the count's K step (None: ``_split_config``'s rule; a setting for side-by-side timings)
COUNT_BLOCK_K = None
# The count's planes loaded as whole 16-byte vectors (``_coincidence_kernel``): the mask of
# a K step was ``slot < end``, the end a device value, so Triton could not prove any run of
# 16 slots all in or all out and loaded one byte a lane into registers (sm_90, ptxas: 242
# registers at 128 x 128 x 64 on 8 warps, one block a SM; 222 at
# 16 x 128 on 4 warps, the 10-wide layer's split-K). Masked by ``slot < ld`` instead (``ld`` a
# multiple of 16, which Triton specializes on) and the slots past the end zeroed after the
# load, the same operands go to shared memory by ``cp.async`` in 16-byte vectors, pipelined:
# 132 registers (128 under ``COUNT_REGISTER_CAP``, no spills: two blocks a SM), 96 at 16 x 128,
# 106 at 128 x 64. The slots read past the end but before ``ld`` are the planes' own
# (allocated, never written: zeroed in registers). At 784-4096-4096-10 b256 the count's K is
# the batch (one slot a row), so the kernel is its blocks' latency (load, 4 steps, store 64
# KB) at one block a SM over 8 waves: two blocks a SM and asynchronous copies should hide
# about half of it - expected: the 3 count launches ~550 -> ~300 us of kernel time a step
# (H100 profile, /work/notes/prof14.txt), more where trains are long (K in the thousands:
# the byte loads fed the tensor cores at a fraction of their rate). Exact integer counts: the
# same weights bit for bit. Timed against the end's mask on the loads on one H100 with the
# fused flat count + apply (2026-12-08 00:45, ``wide-fuse-all``: the note at
# ``FUSED_FLAT_MAX_SLOTS``).
COUNT_REGISTER_CAP = 128  # blocks of 8 warps and K steps <= 64
# The split-K count's two products summed in one int32 accumulator as ``net + 16384 *
# total`` (the |bits| times -128: a coincidence of two is 16384), where the planes hold
# fewer than 2^13 slots (batch 256 x BL 31 = 7,936): half the accumulator registers (the
# count at 128 x 128 spilled 2.4 KB a thread with two), and, where the counts are not applied
# in the count's epilogue, one int32 a cell written and read by the apply kernel instead of
# two (net and total: 8 -> 4 bytes a cell each way; at 784-4096-4096-10 b256, 160 MB a
# step), one tensor zeroed for a split's atomics; K in steps of 64 where the rule takes 128
# (no spills: ``_split_config``). The same counts, so the same weights, bit for bit. Longer
# planes: two accumulators, net and total. Timed against those with the compact planes' quad
# loop (``bench_switches wide-batch``, one H100, 2026-12-07 07:42: 4096-wide sgd `batch`
# 2.47x -> 2.02x fp, ttv2 `batch` 2.54x -> 2.12x).
PACK_MAX_SLOTS = (1 << 13) - 1
# Why the fused count + apply measured slower than count, then apply in 128 x 128 blocks
# (sm_90 TTGIR and ptxas, this CPU, 2026-12-07): (1) its columns applied in 8 parts of
# interleaved columns: a part's loads and stores are 64 x 8 elements eight
# columns apart, one 4-byte element a 32-byte sector a lane - the epilogue's ~36 B a cell
# moved as ~8x the sectors; (2) the K steps' end mask loaded a byte a lane into registers
# (before the 16-byte loads): 255 registers with spills, one block of 8 warps a SM, too few
# loads in flight for a pass bound by memory. Now (``_count_and_apply``): blocks of 16 x 64
# on 4 warps, the block applied whole (the loads and stores of whole rows, coalesced by
# Triton and moved into the accumulator's layout through shared memory), the planes in
# 16-byte vectors (``COUNT_REGISTER_CAP``'s note): 153 registers, no spills, three
# blocks (12 warps) a SM, each with 8 elements' 6 loads in flight a thread. Expected at
# 784-4096-4096-10 b256 (K = 256, one slot a row): the counts' int32 never written nor
# read back (8 B a cell, ~54 us at 3 TB/s), the apply's launch gone, the count's latency
# hidden by the other blocks' loads - if the pass keeps ~85 % of the bandwidth, ~100 us a
# step less than the 16-byte loads' count and apply. A block of 16 x 64 reads the planes
# again for every block: 20 B a cell a K of 256 from L2, so long trains (K in the thousands)
# are much slower there: for short trains (BL management) only - planes of more than
# ``FUSED_FLAT_MAX_SLOTS`` slots are counted split over K and applied apart. The same
# weights, counters and pulses bit for bit (``_apply_cells`` on each element, keyed by its
# offset). On, with the 16-byte loads and the compact planes' 16-row programs, since one H100
# timed the four switches together against the count and apply apart (2026-12-08 00:45 UTC,
# ``bench_switches wide-fuse-all``, 784-4096-4096-10 b256 ``batch``, ratio to
# graph-replayed fp: sgd 2.01x -> 1.81x, ttv2 2.08x -> 1.86x, chopped 2.45x -> 2.22x, agad
# 2.51x -> 2.30x; benchmarks/RESULTS.md).
FUSED_FLAT_MAX_SLOTS = 1024


def _unread(t: torch.Tensor) -> torch.Tensor:
    """An empty view of ``t``: a pointer argument the kernel never reads."""
    return t.reshape(-1)[:0]


def _one_accumulator(ld: int) -> bool:
    """Whether a split-K count of planes of ``ld`` slots runs in one accumulator."""
    return ld <= PACK_MAX_SLOTS


def _count_and_apply(dt, xt, weight, cell_params, cell: CellParams, *, seed, ends,
                     cell_pulses=None, pulses=None) -> bool:
    """The counts of the planes ``dt``, ``xt`` applied to ``weight`` in one launch of
    ``_coincidence_kernel`` (``APPLY``) in blocks of 16 x 64, applied whole, where the
    planes hold at most ``FUSED_FLAT_MAX_SLOTS`` slots and the blocks alone fill the device
    (one part each, none split over K); False (nothing done) elsewhere. A group when
    ``weight`` is ``(tiles, out, in)``; ``ends`` as ``coincidences_triton``'s (compact
    planes)."""
    grouped = weight.dim() == 3
    tiles = weight.shape[0] if grouped else 1
    n_out, n_in = weight.shape[-2:]
    ld = dt.shape[-1]
    if ld > FUSED_FLAT_MAX_SLOTS:  # (the module note there)
        return False  # long trains: each 16 x 64 block would read the planes again
    cfg = _split_config(n_out, n_in, ld, dt.device, 1, tiles, one_acc=_one_accumulator(ld))
    cfg.update(BLOCK_M=min(16, cfg["BLOCK_M"]), BLOCK_N=min(64, cfg["BLOCK_N"]), num_warps=4,
               BLOCK_K=COUNT_BLOCK_K or 64)
    blocks = triton.cdiv(n_out, cfg["BLOCK_M"]) * triton.cdiv(n_in, cfg["BLOCK_N"]) * tiles
    if blocks * 4 < _programs(dt.device) or not (n_out and n_in and tiles):
        return False
    args = _cell_args(weight, cell_params, cell, seed=seed, cell_pulses=cell_pulses,
                      tiles=tiles, pulses=pulses)
    cfg.pop("splits")
    ends = ends.reshape(-1)
    grid = (triton.cdiv(n_out, cfg["BLOCK_M"]), triton.cdiv(n_in, cfg["BLOCK_N"]), tiles)
    _coincidence_kernel[grid](
        dt, xt, weight, weight, ends, n_out, n_in, ld, 1, dt.stride(0) if grouped else 0,
        xt.stride(0) if grouped else 0, ends.stride(0), END=True, ATOMIC=False, APPLY=True,
        PACK=PACK_COUNTS and ld < 1 << 15, ONE_ACC=_one_accumulator(ld), **args,
        **_count_options(cfg, apply=True))
    return True


def counted_update_triton(weight: torch.Tensor, cell_params: torch.Tensor, x_prob: torch.Tensor,
                          d_prob: torch.Tensor, bl: torch.Tensor, p: UpdateParams, *,
                          seed: int | torch.Tensor, x_bits: torch.Tensor | None = None,
                          d_bits: torch.Tensor | None = None,
                          cell_pulses: torch.Tensor | None = None,
                          method: str | None = None,
                          add_to: torch.Tensor | None = None) -> torch.Tensor:
    """``counted_update_torch`` in three launches (module doc), ``seed`` instead of a
    generator. ``weight`` must be a contiguous float32 tensor; ``cell_pulses`` an optional
    int32 counter shaped like it, which the apply kernel adds each element's pulses to.
    ``method``: how the coincidences are counted, ``count_method``'s choice unless given -
    never which bits: a cuBLAS count forced where the split-K method draws its counts takes
    their stream (``_rows4``'s, in its planes).
    ``add_to``: a 0-dim int64 count on the device (a tile's pulses) that the apply kernel
    adds the pulses to itself, returned: two launches fewer a call than a zeroed count
    added to it after (integer atomics: the same sum in any order)."""
    max_bl = p.max_bl
    if weight.dtype != torch.float32 or not weight.is_contiguous():
        raise ValueError("weight must be a contiguous float32 tensor")
    k = x_prob.shape[0]
    if isinstance(x_prob, RowProbabilities) and not (
            x_bits is None and _drawn(weight.shape[0], k)
            and (method or count_method(*weight.shape, weight.device)) != "cublas"):
        x_prob = x_prob.materialize()  # only the drawn counts make them where they read
    length = x_bits.shape[1] if x_bits is not None else int(max_bl or 0)
    if k == 0 or length == 0:
        return _pulses_count(add_to, (), weight.device)
    n_out, n_in = weight.shape
    cublas = (method or count_method(n_out, n_in, weight.device)) == "cublas"
    ld = _round_up(k * length, ALIGN)
    lines = _plane_lines(n_out, cublas), _plane_lines(n_in, cublas)
    if x_bits is not None:
        dt, dt_abs = _planes_of_bits(d_prob, bl, d_bits, ld, lines[0], cublas)
        xt, xt_abs = _planes_of_bits(x_prob, bl, x_bits, ld, lines[1], cublas)
    elif not cublas and _drawn(n_out, k):  # the bits drawn where they are counted
        net, total = drawn_counts_triton(x_prob, d_prob, bl, length, seed)
        pulses = _pulses_count(add_to, (), weight.device)
        _apply(weight, cell_params, net, total, True, p.cell, seed=seed,
               cell_pulses=cell_pulses, pulses=pulses)
        return pulses
    else:  # split-K: compact planes (only the trains' slots); cuBLAS: slot-major, padded
        compact = None if cublas else compact_layout(bl, length)
        draw = dict(compact=compact)
        if cublas and _drawn(n_out, k):
            # where the split-K method draws its counts (``_rows4``' stream, by row),
            # cuBLAS's planes hold those bits (zeroed: its products read every slot): the
            # method changes how the bits are counted, never which (cuBLAS is forced there
            # only: ``count_method`` never picks it)
            draw = dict(rows4=True, zeroed=True)
        dt, dt_abs = line_planes_triton(d_prob.to(torch.float32), bl, length, ld, seed, 1,
                                        n_lines=lines[0], with_abs=cublas, **draw)
        xt, xt_abs = line_planes_triton(x_prob.to(torch.float32), bl, length, ld, seed, 0,
                                        n_lines=lines[1], with_abs=cublas, **draw)
    pulses = _pulses_count(add_to, (), weight.device)
    if (x_bits is None and not cublas
            and _count_and_apply(dt, xt, weight, cell_params, p.cell, seed=seed,
                                 ends=compact[1][-1:], cell_pulses=cell_pulses,
                                 pulses=pulses)):
        return pulses
    ends = None if x_bits is not None or cublas else compact[1][-1:]
    if not cublas and _one_accumulator(ld):  # net and total in one int32 a cell
        packed = coincidences_triton(dt, xt, n_out, n_in, trains=(bl, k, length), ends=ends,
                                     packed=True)
        _apply(weight, cell_params, packed, _unread(packed), 2, p.cell, seed=seed,
               cell_pulses=cell_pulses, pulses=pulses)
        return pulses
    net, total = coincidences_triton(
        dt, xt, n_out, n_in, dt_abs=dt_abs, xt_abs=xt_abs, trains=(bl, k, length), ends=ends)
    if net.shape != weight.shape:  # cuBLAS asked for sides that are not whole 16s: padded
        net, total = net[:n_out, :n_in].contiguous(), total[:n_out, :n_in].contiguous()
    _apply(weight, cell_params, net, total, True, p.cell, seed=seed, cell_pulses=cell_pulses,
           pulses=pulses)
    return pulses


def _pulses_count(add_to: torch.Tensor | None, shape: tuple, device) -> torch.Tensor:
    """Where the apply kernel adds a call's pulses: ``add_to`` (a running int64 count of
    ``shape``) where given, else a new zeroed one."""
    if add_to is None:
        return torch.zeros(shape, dtype=torch.int64, device=device)
    if (add_to.dtype != torch.int64 or tuple(add_to.shape) != shape
            or add_to.device != torch.device(device) or not add_to.is_contiguous()):
        raise ValueError(f"add_to must be a contiguous int64 tensor of shape {shape} "
                         "on the weights' device")
    return add_to


def counted_update_grouped_triton(weights: torch.Tensor, cell_params: torch.Tensor,
                                  x_prob: torch.Tensor, d_prob: torch.Tensor, bl: torch.Tensor,
                                  p: UpdateParams, *, seeds: torch.Tensor,
                                  cell_pulses: torch.Tensor | None = None,
                                  add_to: torch.Tensor | None = None) -> torch.Tensor:
    """The counted updates of a group of equal tiles (``counted_update_grouped_torch``) in
    the launches of one: ``weights`` ``(tiles, out, in)`` contiguous float32,
    ``cell_params`` ``(tiles, P, out, in)``, trains ``(tiles, k, .)`` and ``(tiles, k)``,
    ``seeds`` ``(tiles,)`` int64 on the device, ``cell_pulses`` like ``weights``. Tile ``g``
    gets what ``counted_update_triton`` with ``seeds[g:g + 1]`` and the split-K count gives
    it. Returns the pulses per tile ``(tiles,)`` int64, or ``add_to`` (the tiles' running
    counts, ``(tiles,)`` int64) with them added by the apply kernel."""
    if weights.dtype != torch.float32 or not weights.is_contiguous():
        raise ValueError("weights must be a contiguous float32 tensor")
    tiles, n_out, n_in = weights.shape
    k = x_prob.shape[1]
    length = int(p.max_bl or 0)
    if k == 0 or length == 0 or tiles == 0:
        return _pulses_count(add_to, (tiles,), weights.device)
    if _drawn(n_out, k):
        net, total = drawn_counts_triton(x_prob, d_prob, bl, length, seeds)
    else:
        ld = _round_up(k * length, ALIGN)
        compact = compact_layout(bl, length)
        dt = line_planes_triton(d_prob.to(torch.float32), bl, length, ld, seeds, 1,
                                compact=compact)[0]
        xt = line_planes_triton(x_prob.to(torch.float32), bl, length, ld, seeds, 0,
                                compact=compact)[0]
        pulses = _pulses_count(add_to, (tiles,), weights.device)
        if _count_and_apply(dt, xt, weights, cell_params, p.cell, seed=seeds,
                            ends=compact[1][:, -1], cell_pulses=cell_pulses, pulses=pulses):
            return pulses
        if _one_accumulator(ld):  # net and total in one int32 a cell
            packed = coincidences_triton(dt, xt, n_out, n_in, ends=compact[1][:, -1],
                                         packed=True)
            _apply(weights, cell_params, packed, _unread(packed), 2, p.cell, seed=seeds,
                   cell_pulses=cell_pulses, tiles=tiles, pulses=pulses)
            return pulses
        net, total = coincidences_triton(dt, xt, n_out, n_in, ends=compact[1][:, -1])
    pulses = _pulses_count(add_to, (tiles,), weights.device)
    _apply(weights, cell_params, net, total, True, p.cell, seed=seeds, cell_pulses=cell_pulses,
           tiles=tiles, pulses=pulses)
    return pulses


__all__ = ["apply_counts_triton", "coincidences_triton", "compact_layout",
           "compact_layout_torch", "count_method", "counting_layout", "drawn_counts_triton",
           "counted_update_grouped_triton", "counted_update_triton", "line_planes_triton",
           "pulse_counts_triton",
           "signed_bits_triton"]
