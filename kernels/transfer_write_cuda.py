"""Triton kernel of a transfer's write preparation (meaning: ``transfer_write_ref.py``).

One program per transferred line holds the whole line: it de-chops the reads into the
buffer H and takes out the whole steps (buffered devices), reduces the line's largest value,
derives the train length and gains of the one-hot write from it, and stores the line's
probabilities, the one-hot row and the train length; where a call reads the lines several
times over (a chopped step's transfers), it walks the line's passes in order (each pass's
reads loaded during the pass before). That is one launch where the torch twin takes some
forty small ones (buffer, one-hot vectors, train lengths, gains, probabilities), and
nothing is read back to the host: the pulsed-update kernel takes the trains next.
Where H and AGAD's means are stored line by line (a column's elements adjacent:
a ``TileGroup``'s state, since one H100 timed it faster, 2026-12-07), the
one-line program loads and stores its line as whole sectors (``LINE_MAJOR``); the same arithmetic.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import seeds
from .layout import CELL_CONSTANT
from .params import CellParams, ChopperParams, TransferWriteParams, UpdateParams
from .pulsed_update_cuda import _line_probs
from .pulsed_update_ref import LineSteps, advance_counters, long_train_length
from .transfer_buffer_cuda import buffer_values
from .transfer_write_ref import line_width, masked_lengths

# the chopper switches' stream of a read seed, in the MVM seeds' form (44 bits, the top set)
_CHOPPER_KEY = tl.constexpr(seeds.CHOPPER_STREAM << seeds.MVM_SEED_BITS)


@triton.jit
def _group_tile(r_ptr, h_ptr, run_ptr, past_ptr, os_ptr, is_ptr, x_ptr, d_ptr, bl_ptr,
                start_ptr, pass_ptr, fd_ptr, fs_ptr, sw_ptr, slots_ptr, calls_ptr, zero_ptr,
                g_r, g_h, g_os, g_is, g_x, g_d, g_bl, g_start, g_pass, g_fd, g_fs, g_sw,
                g_slots, g_calls, g_zero):
    """The pointers of a group's tile ``g = program_id(1)`` (its tensors ``g_*`` apart;
    AGAD's means are laid out as the buffer)."""
    g = tl.program_id(1).to(tl.int64)
    return (r_ptr + g * g_r, h_ptr + g * g_h, run_ptr + g * g_h, past_ptr + g * g_h,
            os_ptr + g * g_os, is_ptr + g * g_is, x_ptr + g * g_x, d_ptr + g * g_d,
            bl_ptr + g * g_bl, start_ptr + g * g_start, pass_ptr + g * g_pass,
            fd_ptr + g * g_fd, fs_ptr + g * g_fs, sw_ptr + g * g_sw, slots_ptr + g * g_slots,
            calls_ptr + g * g_calls, zero_ptr + g * g_zero)


@triton.jit
def _write_start(p0, calls_ptr, zero_ptr, start_ptr, start, pass_ptr, passes, n_rows, width,
                 CALLS: tl.constexpr, ZERO: tl.constexpr, START_PTR: tl.constexpr,
                 PASS_PTR: tl.constexpr):
    """The program of line position 0 counts the calls (one a pass: the update after this
    kernel reads the written array's counter) and zeroes the pulse count that update adds
    to; every program: the first line (from a device tensor, ``START_PTR``: a replayed
    graph reads it anew) and the passes before this call."""
    if CALLS:
        if p0 == 0:
            tl.store(calls_ptr, tl.load(calls_ptr) + tl.cdiv(n_rows, width))
    if ZERO:
        if p0 == 0:
            tl.store(zero_ptr, tl.full((), 0, tl.int64))
    if START_PTR:
        first = tl.load(start_ptr).to(tl.int32)
    else:
        first = start
    if PASS_PTR:
        passes = tl.load(pass_ptr)
    return first, passes


@triton.jit
def _line_gains(values, lr, granularity, desired_bl, um_grad_scale, long_bl,
                COLUMNS: tl.constexpr, UBM: tl.constexpr, UM: tl.constexpr,
                LONG: tl.constexpr, AXIS: tl.constexpr):
    """A line's magnitudes, train length and the gains of its one-hot write (of the
    one-hot side and of the line) from its values (the largest magnitude the line's
    maximum, the one-hot side's 1): update and BL management as the twin's. A line's
    values run along ``AXIS`` (the others: lines side by side)."""
    mag = tl.abs(values)
    v_max = tl.max(mag, axis=AXIS)
    if COLUMNS:
        x_max = v_max * 0.0 + 1.0
        d_max = v_max
    else:
        x_max = v_max
        d_max = v_max * 0.0 + 1.0
    active = (x_max > 0) & (d_max > 0)
    x_m = tl.where(active, x_max, 1.0)
    d_m = tl.where(active, d_max, 1.0) * um_grad_scale
    if UBM:
        bl = tl.minimum(tl.maximum(tl.ceil(lr * x_m * d_m / granularity), 1.0), desired_bl)
        amp = tl.sqrt_rn(lr / (granularity * bl))
    elif LONG:
        bl = x_m * 0.0 + long_bl
        amp = x_m * 0.0 + 1.0
    else:
        bl = x_m * 0.0 + desired_bl
        amp = tl.sqrt_rn(lr / (granularity * bl))
    if UM or UBM:
        k = lr * x_m * d_m / granularity
        d_m = tl.where(k > bl, d_m * bl / k, d_m)
        s = tl.sqrt_rn(x_m / d_m)
        x_gain = amp / s
        d_gain = amp * s
    else:
        x_gain = amp
        d_gain = amp
    bl = tl.where(active & (lr > 0), bl, 0.0)
    if COLUMNS:
        return mag, bl, x_gain, d_gain
    return mag, bl, d_gain, x_gain


@triton.jit
def _write_rows(x_ptr, d_ptr, b, sx0, sd0, COLUMNS: tl.constexpr):
    """Row ``b``'s line side (d where the lines are columns, else x) and one-hot side."""
    if COLUMNS:
        line_ptr = d_ptr + b * sd0
        one_ptr = x_ptr + b * sx0
    else:
        line_ptr = x_ptr + b * sx0
        one_ptr = d_ptr + b * sd0
    return line_ptr, one_ptr


@triton.jit
def _chopper_flip(pass_b, bl, fd_ptrs, fs_ptr, i, live, flip_prob, period, ready_after,
                  READY: tl.constexpr, PERIOD: tl.constexpr, DRAWS: tl.constexpr,
                  DRAW_SEED: tl.constexpr):
    """A read line's chopper bookkeeping (``switch_choppers_torch``) in pass ``pass_b``:
    its train (none before it is ready) and whether its chopper switches - every
    ``period`` passes, by its given draw, or by its uniform from the read seed's chopper
    stream (``fs_ptr``: the pass's seed; no launch)."""
    if READY:
        bl = tl.where(pass_b > ready_after, bl, 0.0)
    flip = pass_b < 0  # False
    if PERIOD:
        flip = flip | (pass_b % period + 1 == period)
    if DRAWS:
        flip = flip | (tl.load(fd_ptrs, mask=live, other=1.0) < flip_prob)
    if DRAW_SEED:
        key = (tl.load(fs_ptr) & 0x7FFFFFFFFFF) | 0x80000000000
        flip = flip | (tl.rand(key ^ _CHOPPER_KEY, i) < flip_prob)
    return bl, flip


@triton.jit
def _line_state(h_ptr, run_ptr, past_ptr, os_ptr, is_ptr, sw_ptr, j, n_len, sh0, sh1,
                BUFFERED: tl.constexpr, MEANS: tl.constexpr, LINE_MAJOR: tl.constexpr,
                BLOCK_L: tl.constexpr):
    """Line ``j``'s elements, their places in H (``LINE_MAJOR``: a line's elements adjacent,
    whole sectors, vector loads) and the state its passes carry: its chopper and H
    (``BUFFERED``), AGAD's switched flag and means (``MEANS``); zeros where not used."""
    rm = tl.arange(0, BLOCK_L)
    ok = rm < n_len
    if LINE_MAJOR:
        m_ptrs = rm.to(tl.int64) + j.to(tl.int64) * sh1
    else:
        m_ptrs = rm.to(tl.int64) * sh0 + j.to(tl.int64) * sh1
    h = tl.zeros((BLOCK_L,), tl.float32)
    in_s, out_s, running, past = tl.sum(h, axis=0), h, h, h
    switched = in_s != 0.0
    if BUFFERED:
        in_s = tl.load(is_ptr + j)
        out_s = tl.load(os_ptr + rm, mask=ok, other=0.0)
        h = tl.load(h_ptr + m_ptrs, mask=ok, other=0.0)
    if MEANS:
        switched = tl.load(sw_ptr + j) != 0
        running = tl.load(run_ptr + m_ptrs, mask=ok, other=0.0)
        past = tl.load(past_ptr + m_ptrs, mask=ok, other=0.0)
    return rm, ok, m_ptrs, in_s, out_s, h, switched, running, past


@triton.jit
def _running_mean(running, reads, keep, mean_weight):
    """AGAD's running mean after a pass, ``running * keep + reads * mean_weight`` rounded one
    way in every kernel: ``reads * mean_weight`` rounded, then ``running * keep`` added to
    it in one fused multiply-add. Written as a sum of two products, the compiler (fp
    contraction, ``enable_fp_fusion``) fuses one of them into the add, chosen kernel by
    kernel (LLVM's choice, from the surrounding code): the one-line kernel fused ``running *
    keep``, the split scan's unrolled trips ``reads * mean_weight`` from a trip's second
    pass on - the means, and with them H, apart in the last bit between the split write and
    the one-line kernel (one H100, 2026-12-07, ``test_transfer_lines_of_split_write_compiled``). The
    fma is the one-line kernel's form, so its numbers stay as they were; the interpreter
    takes ``tl.fma`` as a product and an add, the twin's two roundings
    (``compile_kernels.py`` checks the form in every compiled walk)."""
    return tl.fma(running, keep, reads * mean_weight)


@triton.jit
def _pass_step(reads, h, in_s, out_s, running, past, switched, scale, threshold, max_steps,
               momentum, buffer_keep, cap, keep, mean_weight, FORGET: tl.constexpr,
               CAP: tl.constexpr, NO_BUFFER: tl.constexpr, BUFFERED: tl.constexpr,
               MEANS: tl.constexpr):
    """A line's pass over its state: AGAD's reads relative to the line's reference
    (``reference_reads_torch``), the de-chopped buffer step; the pass's values (the
    negated whole steps) and the state after it."""
    if MEANS:
        past = tl.where(switched, running, past)
        running = _running_mean(running, reads, keep, mean_weight)
        reads = reads - past
    if BUFFERED:
        signal = ((out_s * in_s) * reads) * scale
        steps, h = buffer_values(h, signal, threshold, max_steps, momentum, buffer_keep, cap,
                                 FORGET, CAP, NO_BUFFER)
        values = -steps
    else:
        values = -reads
    return values, h, running, past


@triton.jit
def _line_end(h_ptr, run_ptr, past_ptr, is_ptr, sw_ptr, m_ptrs, ok, j, h, in_s, running, past,
              switched, BUFFERED: tl.constexpr, CHOP: tl.constexpr, MEANS: tl.constexpr):
    """The line's state after its last pass. A line shorter than the program's threads is
    held by several warps, each loading its state: none may see it stored before every one
    has read it (the barrier)."""
    tl.debug_barrier()
    if BUFFERED:
        tl.store(h_ptr + m_ptrs, h, mask=ok)
        if CHOP:
            tl.store(is_ptr + j, in_s)
    if MEANS:
        tl.store(past_ptr + m_ptrs, past, mask=ok)
        tl.store(run_ptr + m_ptrs, running, mask=ok)
        tl.store(sw_ptr + j, switched.to(tl.uint8))


@triton.jit(do_not_specialize=["start", "passes"])
def _transfer_write_kernel(r_ptr, h_ptr, os_ptr, is_ptr, x_ptr, d_ptr, bl_ptr, start,
                           start_ptr, n_len, n_rows,
                           width, sr0, sr1, sh0, sh1, sx0, sd0, scale, threshold, max_steps,
                           momentum, buffer_keep, cap, lr, granularity, desired_bl,
                           um_grad_scale, long_bl, passes, pass_ptr, fd_ptr, fs_ptr, run_ptr,
                           past_ptr, sw_ptr, slots_ptr, calls_ptr, zero_ptr, flip_prob, period,
                           keep, mean_weight, ready_after, g_r, g_h, g_os, g_is, g_x, g_d,
                           g_bl, g_start, g_pass, g_fd, g_fs, g_sw, g_slots, g_calls, g_zero,
                           COLUMNS: tl.constexpr, BUFFERED: tl.constexpr,
                           FORGET: tl.constexpr, CAP: tl.constexpr, NO_BUFFER: tl.constexpr,
                           UBM: tl.constexpr, UM: tl.constexpr, LONG: tl.constexpr,
                           START_PTR: tl.constexpr, CHOP: tl.constexpr, PASS_PTR: tl.constexpr,
                           PERIOD: tl.constexpr, DRAWS: tl.constexpr,
                           DRAW_SEED: tl.constexpr, MEANS: tl.constexpr,
                           READY: tl.constexpr, SLOTS: tl.constexpr, CALLS: tl.constexpr,
                           ZERO: tl.constexpr, LINE_MAJOR: tl.constexpr,
                           BLOCK_L: tl.constexpr, BLOCK_W: tl.constexpr,
                           HOT_ONLY: tl.constexpr = False, lg_ptr=None, g_lg=0,
                           STEPS8: tl.constexpr = False):
    """A transfer's write preparation, one program a line position (its passes in order).
    ``HOT_ONLY`` (``HOT_ONLY_ROWS``): a row's one-hot side is its one value (the one-hot
    rows a broadcast column), not ``width`` floats of which one is not zero. ``STEPS8``
    (``INT8_STEPS``): a row's line side stored as its values (int8, the negated whole steps)
    and its line gain at ``lg_ptr + b`` (tile ``g`` ``g_lg`` apart), not its probabilities
    (``pulsed_update_ref.LineSteps``)."""
    i = tl.program_id(0)  # the line position: its rows i, i + width, .. (one a pass)
    (r_ptr, h_ptr, run_ptr, past_ptr, os_ptr, is_ptr, x_ptr, d_ptr, bl_ptr, start_ptr, pass_ptr,
     fd_ptr, fs_ptr, sw_ptr, slots_ptr, calls_ptr, zero_ptr) = _group_tile(
        r_ptr, h_ptr, run_ptr, past_ptr, os_ptr, is_ptr, x_ptr, d_ptr, bl_ptr, start_ptr,
        pass_ptr, fd_ptr, fs_ptr, sw_ptr, slots_ptr, calls_ptr, zero_ptr, g_r, g_h, g_os,
        g_is, g_x, g_d, g_bl, g_start, g_pass, g_fd, g_fs, g_sw, g_slots, g_calls, g_zero)
    if STEPS8:
        lg_ptr += tl.program_id(1).to(tl.int64) * g_lg
    first, passes = _write_start(i, calls_ptr, zero_ptr, start_ptr, start, pass_ptr, passes,
                                 n_rows, width, CALLS, ZERO, START_PTR, PASS_PTR)
    first += i
    j = first % width  # the line, the same in every pass: its state stays in registers
    rm, ok, m_ptrs, in_s, out_s, h, switched, running, past = _line_state(
        h_ptr, run_ptr, past_ptr, os_ptr, is_ptr, sw_ptr, j, n_len, sh0, sh1, BUFFERED, MEANS,
        LINE_MAJOR, BLOCK_L)
    slots = tl.zeros((), tl.int64)
    n_pass = tl.cdiv(n_rows - i, width)
    # a pass's reads are loaded during the pass before it: thousands of passes a line (a
    # chopped step on a convolution's tile) would otherwise each wait for memory
    ahead = tl.load(r_ptr + i * sr0 + rm * sr1, mask=ok & (n_pass > 0), other=0.0)
    for r in range(0, n_pass):  # the passes in order
        b = r * width + i
        raw = first + r * width
        reads = ahead
        ahead = tl.load(r_ptr + (b + width) * sr0 + rm * sr1, mask=ok & (r + 1 < n_pass),
                        other=0.0)
        values, h, running, past = _pass_step(
            reads, h, in_s, out_s, running, past, switched, scale, threshold, max_steps,
            momentum, buffer_keep, cap, keep, mean_weight, FORGET, CAP, NO_BUFFER, BUFFERED,
            MEANS)
        mag, bl, one_gain, line_gain = _line_gains(values, lr, granularity, desired_bl,
                                                   um_grad_scale, long_bl, COLUMNS, UBM, UM,
                                                   LONG, 0)
        one_prob = tl.minimum(tl.maximum(one_gain, 0.0), 1.0)
        line_ptr, one_ptr = _write_rows(x_ptr, d_ptr, b, sx0, sd0, COLUMNS)
        if STEPS8:  # (whole steps, |v| <= max_steps <= 127: exact in int8)
            tl.store(line_ptr + rm, values.to(tl.int8), mask=ok)
            tl.store(lg_ptr + b, line_gain)
        else:
            tl.store(line_ptr + rm, _line_probs(values, mag, line_gain), mask=ok)
        if HOT_ONLY:
            tl.store(one_ptr, one_prob)
        else:
            for w0 in range(0, width, BLOCK_W):
                cols = w0 + tl.arange(0, BLOCK_W)
                tl.store(one_ptr + cols, tl.where(cols == j, one_prob, 0.0), mask=cols < width)
        if CHOP:  # the read line's bookkeeping (switch_choppers_torch), after its buffer step
            bl, flip = _chopper_flip(passes + raw // width, bl, fd_ptr + b, fs_ptr + r, i,
                                     True, flip_prob, period, ready_after, READY, PERIOD,
                                     DRAWS, DRAW_SEED)
            in_s = tl.where(flip, -in_s, in_s)
            if MEANS:
                switched = flip
        slots += bl.to(tl.int64)
        tl.store(bl_ptr + b, bl.to(tl.int32))
    _line_end(h_ptr, run_ptr, past_ptr, is_ptr, sw_ptr, m_ptrs, ok, j, h, in_s, running, past,
              switched, BUFFERED, CHOP, MEANS)
    if SLOTS:
        tl.atomic_add(slots_ptr, slots)


# ``HOT_ONLY_ROWS`` (off until a GPU times it; ``bench_switches`` ``hot-only-rows``): the
# one-line write kernel (fewer than ``SPLIT_WRITE_MIN_PASSES`` passes a line, as every
# transfer of the 784-4096-4096-10 MLP) stores a row's one-hot side as its one value, the
# one-hot rows a broadcast column (stride 0, ``hot_only``: as the split write already does),
# where constant steps' one-hot line kernels take the trains (they load a row's line element
# alone, by its strides): a grid's write (``transfer_lines_grouped_triton``) as well as a
# tile's. The same trains, C, counts and state bit for bit (only never-read zeros go).
# Bytes (784-4096-4096-10, batch 256, chopped/AGAD: 256 reads a tile a step = half of each
# tile's 512 columns; 64 + 16 + 8 tiles): the one-hot rows were 256 x 512 floats a tile, 46
# MB a step written for 88 KB of values - as many bytes as the line probabilities, a fifth
# of the write kernel's ~210 MB (reads 4 + H 8 + line 4 + one-hot 4 B an element of ~10.5 M).
# ESTIMATE: -15 us a step at 3 TB/s (46 MB) and the write kernel's second store loop a pass
# (one 512-float store a line, as many instructions as the line's store): the profiled
# ~124 us of its 3 launches (one H100, 2026-12-07 16:55, chopped `batch`) -> ~100 us; 1 %
# of the 2.26 ms step. TTv1/TTv2 (one read a tile a step) save ~0.2 MB: nothing measurable.
HOT_ONLY_ROWS = False
# ``INT8_STEPS`` (off until a GPU times it; ``bench_switches`` ``int8-steps``, with
# ``HOT_ONLY_ROWS``: ``lean-transfers``): a buffered write's line side leaves the one-line
# write kernel as its values - the negated whole steps of H, integers of at most
# ``max_steps`` (<= 127 here) - in int8, and each row's line gain, for the one-hot wide
# kernel (``pulsed_update_cuda.WIDE_LINES``, columns, constant steps) to make the
# probabilities ``min(|v| g, 1) sign(v)`` where it loads them (``pulsed_update_ref.
# LineSteps``; its ``materialize`` the twin): the same operations on the same operands, so
# the same probabilities, pulses, C and wear bit for bit. Bytes (784-4096-4096-10, batch
# 256, chopped/AGAD/TTv2's ~10.5 M / 88 transferred elements a step): 4 B written + 4 B read
# an element -> 1 + 1: **~63 MB a step fewer, ESTIMATE ~-21 us** at 3 TB/s (1 % of chopped's
# 2.26 ms step; TTv2's one line a tile: nothing). TTv1 (unbuffered: its values are reads)
# and rows, the split write and other cells keep the float probabilities.
INT8_STEPS = False

# ---- a convolution tile's many passes: the line's walk alone in order (the split write) -
# A chopped step's transfers into a convolution's tile walk each line thousands of passes
# (ResNet-20 at batch 128: 27 lines x 4,855 passes, 144 x 910, 16 x 2,048): a few dozen to
# a few hundred programs, each of which does per pass, in order, the buffer step, the
# line's maximum (a reduction across warps), the gains (square roots, divisions), the line's
# and the one-hot row's stores, and the chopper's switch (a load of the pass's seed, then a
# Philox draw) - while the GPU idles. Only H, the chopper and AGAD's means carry from one
# pass to the next, and a switch depends on no state. From ``SPLIT_WRITE_MIN_PASSES`` passes a
# line, three launches -
# every row's switch at once (``_write_flips_kernel``), then each line's passes in order
# carrying only that state and storing each pass's values (``_write_scan_kernel``, its
# reads and switches loaded four passes ahead), then every row's maximum, gains,
# probabilities, one-hot row and train at once (``_write_finish_kernel``). The same
# operations on the same values: the same trains, probabilities, buffer, choppers and
# means. Timed against the one-line kernel, with ``analog_mvm_cuda.LINE_SCALE``, on one H100
# (2026-12-07 07:42, ``bench_switches resnet-transfers``, then the switch ``SPLIT_WRITE``:
# ResNet chopped `batch` 4.68x -> 4.37x fp, `sample` 7.87x -> 7.61x).
SPLIT_WRITE_MIN_PASSES = 16  # from this many passes a line (fewer: two launches more)
SPLIT_ROWS = 2048  # elements of a finishing program's rows (rows x the wider of line, one-hot)


@triton.jit(do_not_specialize=["start", "passes"])
def _write_flips_kernel(fd_ptr, fs_ptr, fl_ptr, start, start_ptr, passes, pass_ptr, n_rows,
                        width, flip_prob, period, g_fd, g_fs, g_fl, g_start, g_pass,
                        START_PTR: tl.constexpr, PASS_PTR: tl.constexpr,
                        PERIOD: tl.constexpr, DRAWS: tl.constexpr, DRAW_SEED: tl.constexpr,
                        BLOCK_B: tl.constexpr):
    """Row ``b``'s chopper switch (pass ``b // width``, place ``b % width``), as
    ``_transfer_write_kernel`` draws it after the row's buffer step, into ``fl_ptr``
    (int8): rows ``BLOCK_B`` a program, tile ``program_id(1)``."""
    g = tl.program_id(1).to(tl.int64)
    first, passes = _write_start(1, start_ptr, start_ptr, start_ptr + g * g_start, start,
                                 pass_ptr + g * g_pass, passes, n_rows, width, False, False,
                                 START_PTR, PASS_PTR)
    b = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    live = b < n_rows
    b = tl.where(live, b, 0)  # addresses of the rows past the last: row 0's
    _, flip = _chopper_flip(passes + (first + b) // width, 0.0, fd_ptr + g * g_fd + b,
                            fs_ptr + g * g_fs + b // width, b % width, live, flip_prob,
                            period, 0, False, PERIOD, DRAWS, DRAW_SEED)
    tl.store(fl_ptr + g * g_fl + b, flip.to(tl.int8), mask=live)


@triton.jit
def _scan_ahead(r_ptr, fl_ptr, r, n_pass, width, i, sr0, sr1, rm, ok, CHOP: tl.constexpr):
    """Pass ``r``'s reads of line position ``i`` and its switch (none past the last)."""
    b = r * width + i
    here = r < n_pass
    reads = tl.load(r_ptr + b * sr0 + rm * sr1, mask=ok & here, other=0.0)
    flip = here & False
    if CHOP:
        flip = tl.load(fl_ptr + b, mask=here, other=0) != 0
    return reads, flip


# The scan's walk in trips of 16 passes (``_scan_trips``): a loop that kept four passes'
# reads in flight by handing them on from register to register each pass waited for the
# load issued one pass before, a memory latency a pass (one H100, 2026-12-07,
# graph-replayed ResNet chopped `batch` step: 0.44 us a pass on every tile, 2.1 ms for conv
# 3->16's 4,855 passes; 0.18 us a pass alone on the GPU). A trip's reads and switches are
# loaded while the trip before is walked (16 passes of arithmetic against one latency), the
# trip's passes unrolled; a pass past the line's last changes nothing and stores nothing.
# Timed against that loop on one H100 (2026-12-07 14:58, ``bench_switches chopped-serial``,
# then the switch ``SCAN_TRIPS``: see ``line_walk_cuda.RUN_BLOCK``).


@triton.jit
def _scan_ahead4(r_ptr, fl_ptr, r, n_pass, width, i, sr0, sr1, rm, ok, CHOP: tl.constexpr):
    """Passes ``r .. r + 3``'s reads and switches (``_scan_ahead``)."""
    a0, f0 = _scan_ahead(r_ptr, fl_ptr, r, n_pass, width, i, sr0, sr1, rm, ok, CHOP)
    a1, f1 = _scan_ahead(r_ptr, fl_ptr, r + 1, n_pass, width, i, sr0, sr1, rm, ok, CHOP)
    a2, f2 = _scan_ahead(r_ptr, fl_ptr, r + 2, n_pass, width, i, sr0, sr1, rm, ok, CHOP)
    a3, f3 = _scan_ahead(r_ptr, fl_ptr, r + 3, n_pass, width, i, sr0, sr1, rm, ok, CHOP)
    return a0, a1, a2, a3, f0, f1, f2, f3


@triton.jit
def _scan_pass(line_ptr, sl0, r, n_pass, width, i, rm, ok, reads, flip, h, in_s, out_s,
               running, past, switched, scale, threshold, max_steps, momentum, buffer_keep,
               cap, keep, mean_weight, FORGET: tl.constexpr, CAP: tl.constexpr,
               NO_BUFFER: tl.constexpr, BUFFERED: tl.constexpr, CHOP: tl.constexpr,
               MEANS: tl.constexpr):
    """Pass ``r`` of ``_write_scan_kernel``'s loop (its values stored, the state after it);
    past the line's last pass (``r >= n_pass``: zero reads, no switch) the state is kept
    and nothing stored."""
    live = r < n_pass
    values, h_r, run_r, past_r = _pass_step(
        reads, h, in_s, out_s, running, past, switched, scale, threshold, max_steps,
        momentum, buffer_keep, cap, keep, mean_weight, FORGET, CAP, NO_BUFFER, BUFFERED, MEANS)
    tl.store(line_ptr + (r * width + i) * sl0 + rm, values, mask=ok & live)
    h = tl.where(live, h_r, h)
    if MEANS:
        running = tl.where(live, run_r, running)
        past = tl.where(live, past_r, past)
    if CHOP:
        in_s = tl.where(flip, -in_s, in_s)
        if MEANS:
            switched = tl.where(live, flip, switched)
    return h, in_s, running, past, switched


@triton.jit
def _scan_passes4(line_ptr, sl0, r, n_pass, width, i, rm, ok, a0, a1, a2, a3, f0, f1, f2, f3,
                  h, in_s, out_s, running, past, switched, scale, threshold, max_steps,
                  momentum, buffer_keep, cap, keep, mean_weight, FORGET: tl.constexpr,
                  CAP: tl.constexpr, NO_BUFFER: tl.constexpr, BUFFERED: tl.constexpr,
                  CHOP: tl.constexpr, MEANS: tl.constexpr):
    """Passes ``r .. r + 3`` in order (``_scan_pass``), from their reads and switches."""
    h, in_s, running, past, switched = _scan_pass(
        line_ptr, sl0, r, n_pass, width, i, rm, ok, a0, f0, h, in_s, out_s, running, past,
        switched, scale, threshold, max_steps, momentum, buffer_keep, cap, keep, mean_weight,
        FORGET, CAP, NO_BUFFER, BUFFERED, CHOP, MEANS)
    h, in_s, running, past, switched = _scan_pass(
        line_ptr, sl0, r + 1, n_pass, width, i, rm, ok, a1, f1, h, in_s, out_s, running, past,
        switched, scale, threshold, max_steps, momentum, buffer_keep, cap, keep, mean_weight,
        FORGET, CAP, NO_BUFFER, BUFFERED, CHOP, MEANS)
    h, in_s, running, past, switched = _scan_pass(
        line_ptr, sl0, r + 2, n_pass, width, i, rm, ok, a2, f2, h, in_s, out_s, running, past,
        switched, scale, threshold, max_steps, momentum, buffer_keep, cap, keep, mean_weight,
        FORGET, CAP, NO_BUFFER, BUFFERED, CHOP, MEANS)
    return _scan_pass(
        line_ptr, sl0, r + 3, n_pass, width, i, rm, ok, a3, f3, h, in_s, out_s, running, past,
        switched, scale, threshold, max_steps, momentum, buffer_keep, cap, keep, mean_weight,
        FORGET, CAP, NO_BUFFER, BUFFERED, CHOP, MEANS)


@triton.jit
def _scan_trips(r_ptr, fl_ptr, line_ptr, sr0, sr1, sl0, n_pass, width, i, rm, ok, h, in_s,
                out_s, running, past, switched, scale, threshold, max_steps, momentum,
                buffer_keep, cap, keep, mean_weight, FORGET: tl.constexpr, CAP: tl.constexpr,
                NO_BUFFER: tl.constexpr, BUFFERED: tl.constexpr, CHOP: tl.constexpr,
                MEANS: tl.constexpr):
    """A line's passes in trips of 16: the next trip's reads and switches
    are loaded first, then this trip's passes walked from the registers they were loaded
    into a trip before; only the hand-over at the trip's end waits for memory."""
    a0, a1, a2, a3, f0, f1, f2, f3 = _scan_ahead4(r_ptr, fl_ptr, 0, n_pass, width, i, sr0,
                                                  sr1, rm, ok, CHOP)
    b0, b1, b2, b3, g0, g1, g2, g3 = _scan_ahead4(r_ptr, fl_ptr, 4, n_pass, width, i, sr0,
                                                  sr1, rm, ok, CHOP)
    c0, c1, c2, c3, k0, k1, k2, k3 = _scan_ahead4(r_ptr, fl_ptr, 8, n_pass, width, i, sr0,
                                                  sr1, rm, ok, CHOP)
    d0, d1, d2, d3, e0, e1, e2, e3 = _scan_ahead4(r_ptr, fl_ptr, 12, n_pass, width, i, sr0,
                                                  sr1, rm, ok, CHOP)
    for t in range(0, tl.cdiv(n_pass, 16)):
        r = t * 16
        na0, na1, na2, na3, nf0, nf1, nf2, nf3 = _scan_ahead4(
            r_ptr, fl_ptr, r + 16, n_pass, width, i, sr0, sr1, rm, ok, CHOP)
        nb0, nb1, nb2, nb3, ng0, ng1, ng2, ng3 = _scan_ahead4(
            r_ptr, fl_ptr, r + 20, n_pass, width, i, sr0, sr1, rm, ok, CHOP)
        nc0, nc1, nc2, nc3, nk0, nk1, nk2, nk3 = _scan_ahead4(
            r_ptr, fl_ptr, r + 24, n_pass, width, i, sr0, sr1, rm, ok, CHOP)
        nd0, nd1, nd2, nd3, ne0, ne1, ne2, ne3 = _scan_ahead4(
            r_ptr, fl_ptr, r + 28, n_pass, width, i, sr0, sr1, rm, ok, CHOP)
        h, in_s, running, past, switched = _scan_passes4(
            line_ptr, sl0, r, n_pass, width, i, rm, ok, a0, a1, a2, a3, f0, f1, f2, f3, h,
            in_s, out_s, running, past, switched, scale, threshold, max_steps, momentum,
            buffer_keep, cap, keep, mean_weight, FORGET, CAP, NO_BUFFER, BUFFERED, CHOP, MEANS)
        h, in_s, running, past, switched = _scan_passes4(
            line_ptr, sl0, r + 4, n_pass, width, i, rm, ok, b0, b1, b2, b3, g0, g1, g2, g3, h,
            in_s, out_s, running, past, switched, scale, threshold, max_steps, momentum,
            buffer_keep, cap, keep, mean_weight, FORGET, CAP, NO_BUFFER, BUFFERED, CHOP, MEANS)
        h, in_s, running, past, switched = _scan_passes4(
            line_ptr, sl0, r + 8, n_pass, width, i, rm, ok, c0, c1, c2, c3, k0, k1, k2, k3, h,
            in_s, out_s, running, past, switched, scale, threshold, max_steps, momentum,
            buffer_keep, cap, keep, mean_weight, FORGET, CAP, NO_BUFFER, BUFFERED, CHOP, MEANS)
        h, in_s, running, past, switched = _scan_passes4(
            line_ptr, sl0, r + 12, n_pass, width, i, rm, ok, d0, d1, d2, d3, e0, e1, e2, e3, h,
            in_s, out_s, running, past, switched, scale, threshold, max_steps, momentum,
            buffer_keep, cap, keep, mean_weight, FORGET, CAP, NO_BUFFER, BUFFERED, CHOP, MEANS)
        a0, a1, a2, a3, f0, f1, f2, f3 = na0, na1, na2, na3, nf0, nf1, nf2, nf3
        b0, b1, b2, b3, g0, g1, g2, g3 = nb0, nb1, nb2, nb3, ng0, ng1, ng2, ng3
        c0, c1, c2, c3, k0, k1, k2, k3 = nc0, nc1, nc2, nc3, nk0, nk1, nk2, nk3
        d0, d1, d2, d3, e0, e1, e2, e3 = nd0, nd1, nd2, nd3, ne0, ne1, ne2, ne3
    return h, in_s, running, past, switched


@triton.jit(do_not_specialize=["start", "passes"])
def _write_scan_kernel(r_ptr, h_ptr, os_ptr, is_ptr, line_ptr, fl_ptr, start, start_ptr, n_len,
                       n_rows, width, sr0, sr1, sh0, sh1, sl0, scale, threshold, max_steps,
                       momentum, buffer_keep, cap, passes, pass_ptr, run_ptr, past_ptr, sw_ptr,
                       calls_ptr, zero_ptr, keep, mean_weight, g_r, g_h, g_os, g_is, g_l,
                       g_fl, g_start, g_pass, g_sw, g_calls, g_zero,
                       BUFFERED: tl.constexpr, FORGET: tl.constexpr, CAP: tl.constexpr,
                       NO_BUFFER: tl.constexpr, START_PTR: tl.constexpr, CHOP: tl.constexpr,
                       PASS_PTR: tl.constexpr, MEANS: tl.constexpr, CALLS: tl.constexpr,
                       ZERO: tl.constexpr, LINE_MAJOR: tl.constexpr, BLOCK_L: tl.constexpr):
    """``_transfer_write_kernel``'s walk of line position ``i = program_id(0)`` over its
    passes, in order, with only what carries from pass to pass: AGAD's means, the buffer
    step and the chopper (its switches from ``_write_flips_kernel``); each pass's values
    (the negated steps) are stored where its line probabilities go, for
    ``_write_finish_kernel``. The line's state is stored after its last pass. In trips of
    16 passes, each trip's loads made during the trip before (``_scan_trips``)."""
    i = tl.program_id(0)
    (r_ptr, h_ptr, run_ptr, past_ptr, os_ptr, is_ptr, line_ptr, _, _, start_ptr, pass_ptr,
     fl_ptr, _, sw_ptr, _, calls_ptr, zero_ptr) = _group_tile(
        r_ptr, h_ptr, run_ptr, past_ptr, os_ptr, is_ptr, line_ptr, line_ptr, line_ptr,
        start_ptr, pass_ptr, fl_ptr, fl_ptr, sw_ptr, fl_ptr, calls_ptr, zero_ptr, g_r, g_h,
        g_os, g_is, g_l, 0, 0, g_start, g_pass, g_fl, 0, g_sw, 0, g_calls, g_zero)
    first, passes = _write_start(i, calls_ptr, zero_ptr, start_ptr, start, pass_ptr, passes,
                                 n_rows, width, CALLS, ZERO, START_PTR, PASS_PTR)
    j = (first + i) % width
    rm, ok, m_ptrs, in_s, out_s, h, switched, running, past = _line_state(
        h_ptr, run_ptr, past_ptr, os_ptr, is_ptr, sw_ptr, j, n_len, sh0, sh1, BUFFERED, MEANS,
        LINE_MAJOR, BLOCK_L)
    n_pass = tl.cdiv(n_rows - i, width)
    h, in_s, running, past, switched = _scan_trips(
        r_ptr, fl_ptr, line_ptr, sr0, sr1, sl0, n_pass, width, i, rm, ok, h, in_s, out_s,
        running, past, switched, scale, threshold, max_steps, momentum, buffer_keep, cap,
        keep, mean_weight, FORGET, CAP, NO_BUFFER, BUFFERED, CHOP, MEANS)
    _line_end(h_ptr, run_ptr, past_ptr, is_ptr, sw_ptr, m_ptrs, ok, j, h, in_s, running, past,
              switched, BUFFERED, CHOP, MEANS)


@triton.jit(do_not_specialize=["start", "passes"])
def _write_finish_kernel(line_ptr, one_ptr, bl_ptr, start, start_ptr, n_len, n_rows, width,
                         sl0, so0, lr, granularity, desired_bl, um_grad_scale, long_bl, passes,
                         pass_ptr, slots_ptr, ready_after, g_l, g_o, g_bl, g_start, g_pass,
                         g_slots, COLUMNS: tl.constexpr, UBM: tl.constexpr, UM: tl.constexpr,
                         LONG: tl.constexpr, START_PTR: tl.constexpr, PASS_PTR: tl.constexpr,
                         READY: tl.constexpr, SLOTS: tl.constexpr, HOT_ONLY: tl.constexpr,
                         BLOCK_B: tl.constexpr, BLOCK_L: tl.constexpr, BLOCK_W: tl.constexpr):
    """``_transfer_write_kernel``'s rest of a pass on rows ``BLOCK_B`` a program (tile
    ``program_id(1)``), from the values ``_write_scan_kernel`` stored: each row's maximum,
    train and gains, its line probabilities (over its values), its one-hot row, its train
    (none before its line is ready) and the trains' slots. ``HOT_ONLY``: a row's one-hot
    value alone (its row a broadcast column)."""
    g = tl.program_id(1).to(tl.int64)
    line_ptr += g * g_l
    one_ptr += g * g_o
    bl_ptr += g * g_bl
    first, passes = _write_start(1, bl_ptr, bl_ptr, start_ptr + g * g_start, start,
                                 pass_ptr + g * g_pass, passes, n_rows, width, False, False,
                                 START_PTR, PASS_PTR)
    b = tl.program_id(0) * BLOCK_B + tl.arange(0, BLOCK_B)
    live = b < n_rows
    rm = tl.arange(0, BLOCK_L)
    ok = live[:, None] & (rm < n_len)[None, :]
    l_ptrs = line_ptr + b.to(tl.int64)[:, None] * sl0 + rm[None, :]
    values = tl.load(l_ptrs, mask=ok, other=0.0)
    mag, bl, one_gain, line_gain = _line_gains(values, lr, granularity, desired_bl,
                                               um_grad_scale, long_bl, COLUMNS, UBM, UM, LONG,
                                               1)
    tl.store(l_ptrs, _line_probs(values, mag, line_gain[:, None]), mask=ok)
    one_prob = tl.minimum(tl.maximum(one_gain, 0.0), 1.0)
    j = (first + b) % width
    if HOT_ONLY:
        tl.store(one_ptr + b.to(tl.int64) * so0, one_prob, mask=live)
    else:
        for w0 in range(0, width, BLOCK_W):
            cols = w0 + tl.arange(0, BLOCK_W)
            tl.store(one_ptr + b.to(tl.int64)[:, None] * so0 + cols[None, :],
                     tl.where(cols[None, :] == j[:, None], one_prob[:, None], 0.0),
                     mask=live[:, None] & (cols < width)[None, :])
    if READY:
        bl = tl.where(passes + (first + b) // width > ready_after, bl, 0.0)
    tl.store(bl_ptr + b, bl.to(tl.int32), mask=live)
    if SLOTS:
        tl.atomic_add(slots_ptr + g * g_slots, tl.sum(tl.where(live, bl.to(tl.int64), 0), axis=0))


def transfer_write_triton(reads: torch.Tensor, start: int | torch.Tensor, width: int,
                          p: TransferWriteParams, *, buffer: torch.Tensor | None = None,
                          out_sign: torch.Tensor | None = None,
                          in_sign: torch.Tensor | None = None,
                          chopper: ChopperParams | None = None,
                          flip_draws: torch.Tensor | None = None,
                          flip_seed: torch.Tensor | None = None,
                          passes: int | torch.Tensor = 0,
                          running_mean: torch.Tensor | None = None,
                          past_mean: torch.Tensor | None = None,
                          switched: torch.Tensor | None = None,
                          train_slots: torch.Tensor | None = None,
                          calls: torch.Tensor | None = None,
                          zero: torch.Tensor | None = None, block_w: int = 1024,
                          hot_only: bool = False, int8_steps: bool = False):
    """Same arguments and result as ``transfer_write_torch``, in one launch: with
    ``chopper`` the choppers' switches, AGAD's means and the ready lines are the same
    program's (one per line) - ten to thirty small torch launches otherwise - and with
    ``flip_seed`` (no ``flip_draws``) each line draws its uniform there as well (Philox,
    the seed's chopper stream: the same law as the twin's draws, not the same numbers);
    ``train_slots`` is added to atomically; ``calls`` counts one call (``advance_counters``);
    ``zero`` (a 0-dim int64 tensor) is set to 0 for the update that follows (the pulse count
    it adds to, zeroed without a launch of its own).

    More reads than lines (``n > width``, the twin's passes in turn, a ``start`` tensor):
    one program per line walks its rows ``b, b + width, ..`` in order - H, the chopper and
    AGAD's means of a line are its program's alone - and keys each row's switch by its
    pass's seed (``flip_seed[r]``) and its place in the pass, as the single-pass calls
    would: the same numbers as those calls; ``calls`` counts one call per pass.

    A group of tiles' writes (``transfer_write_grouped_torch``: ``reads`` ``(tiles, n,
    L)``, every tensor with the tiles first, ``start`` and ``passes`` ``(tiles,)``, the
    trains ``(tiles, n, .)``): the same launch with the tiles on the grid's second axis,
    tile ``g`` written as its own call writes it.

    ``hot_only`` (for the one-hot write kernels, which read a one-hot row's line element
    only): where the split write writes (and, with ``HOT_ONLY_ROWS``, the one-line kernel
    too), the one-hot rows are a column broadcast along the row (stride 0), holding each
    row's one value; its zeros are neither stored nor read. ``int8_steps`` (for the one-hot
    wide kernel, which makes them itself): with ``INT8_STEPS``, where the one-line kernel
    writes a buffered write of columns of at most 127 steps, the line side is a
    ``LineSteps`` (int8 values and a gain a row), not probabilities."""
    (columns, lr, granularity, desired_bl, long_train, update_management,
     update_bl_management, um_grad_scale, _) = p
    scale, threshold, max_steps, momentum, forget_buffer, _, no_buffer = p.buffer
    grouped = reads.dim() == 3
    tiles = reads.shape[0] if grouped else 1
    n, n_len = reads.shape[-2:]
    dtype = reads.dtype
    lead = (tiles,) if grouped else ()
    split = buffer is not None and n >= max(SPLIT_WRITE_MIN_PASSES * width, 1)
    steps8 = (int8_steps and INT8_STEPS and columns and buffer is not None and not split
              and 0 <= float(p.buffer.max_steps) <= 127)
    line = torch.empty((*lead, n, n_len), dtype=torch.int8 if steps8 else dtype,
                       device=reads.device)
    gains = torch.empty((*lead, n), dtype=dtype, device=reads.device) if steps8 else None
    lean = hot_only and (split or HOT_ONLY_ROWS)
    if lean:  # one value a row, read at every column
        one_hot = torch.empty((*lead, n, 1), dtype=dtype, device=reads.device).expand(
            *lead, n, width)
    else:
        one_hot = torch.empty((*lead, n, width), dtype=dtype, device=reads.device)
    bl = torch.empty((*lead, n), dtype=torch.int32, device=reads.device)
    x_prob, d_prob = (one_hot, line) if columns else (line, one_hot)
    if steps8:
        d_prob = LineSteps(line, gains)
    if n == 0:
        if grouped:
            raise ValueError("a group writes at least one line")
        advance_counters(bl, train_slots, calls)
        if zero is not None:
            zero.zero_()
        return x_prob, d_prob, bl
    buffered = buffer is not None
    on_device = isinstance(start, torch.Tensor)
    if grouped and not (on_device and start.shape == (tiles,)):
        raise ValueError("a group's starts are a (tiles,) tensor")
    if buffered:
        if buffer.shape[-2] != n_len or (not on_device and start + n > buffer.shape[-1]):
            raise ValueError(f"buffer {tuple(buffer.shape)} does not hold lines {start}.."
                             f"{start + n - 1} of {n_len} elements")
        out_sign = out_sign.to(dtype).contiguous()
        if chopper is None:
            in_sign = in_sign.to(dtype).contiguous()
    else:
        buffer = out_sign = in_sign = reads  # unused pointers
    chop = _chopper_arguments(chopper, buffered, buffer, in_sign, dtype, flip_draws, flip_seed,
                              passes, running_mean, past_mean, switched, fallback=bl,
                              runs=-(-n // width), tiles=tiles if grouped else 0)
    long_bl = float(long_train_length(lr, granularity)) if long_train else 0.0
    if n > width and not on_device:
        raise ValueError("a host start writes one pass (lines start .. width - 1)")

    def across(t, used=True):  # a tensor's step from one tile to the next (0: one call)
        return t.stride(0) if grouped and used and isinstance(t, torch.Tensor) else 0

    slots = bl if train_slots is None else train_slots
    counter = bl if calls is None else calls
    zeroed = bl if zero is None else zero
    if split:
        _split_write(reads, buffer, out_sign, in_sign, x_prob, d_prob, bl, start, n_len, width,
                     p, chop, slots=train_slots, calls=calls, zero=zero, grouped=grouped)
        return x_prob, d_prob, bl
    d_side = line if steps8 else d_prob  # (a LineSteps' values)
    # H (and AGAD's means) stored line by line (a ``TileGroup``'s state): the
    # one-line program's loads and stores of its line are contiguous
    _transfer_write_kernel[(min(n, width), tiles)](
        reads, buffer, out_sign, in_sign, x_prob, d_side, bl,
        0 if on_device else start, start if on_device else bl, n_len, n, width,
        reads.stride(-2), reads.stride(-1), buffer.stride(-2) if buffered else 0,
        buffer.stride(-1) if buffered else 0, x_prob.stride(-2), d_side.stride(-2),
        float(scale), float(threshold), float(max_steps), float(momentum),
        p.buffer.keep, p.buffer.cap,
        float(lr), float(granularity), float(desired_bl), float(um_grad_scale), long_bl,
        *chop["args"], slots, counter, zeroed, *chop["numbers"],
        across(reads), across(buffer, buffered), across(out_sign, buffered),
        across(in_sign, buffered), across(x_prob), across(d_side), across(bl),
        across(start), *chop["steps"], across(slots, train_slots is not None),
        across(counter, calls is not None), across(zeroed, zero is not None),
        COLUMNS=bool(columns), BUFFERED=buffered, FORGET=bool(forget_buffer),
        CAP=p.buffer.capped, NO_BUFFER=bool(no_buffer),
        UBM=bool(update_bl_management), UM=bool(update_management),
        LONG=bool(long_train) and not update_bl_management, START_PTR=on_device,
        **chop["flags"], SLOTS=train_slots is not None, CALLS=calls is not None,
        ZERO=zero is not None,
        BLOCK_L=triton.next_power_of_2(max(n_len, 16)),
        BLOCK_W=min(block_w, triton.next_power_of_2(max(width, 16))),
        LINE_MAJOR=buffered and buffer.stride(-2) == 1 and buffer.stride(-1) != 1,
        HOT_ONLY=lean, lg_ptr=gains if steps8 else bl, g_lg=across(gains) if steps8 else 0,
        STEPS8=steps8, num_warps=4,
    )
    return x_prob, d_prob, bl


def _split_write(reads, buffer, out_sign, in_sign, x_prob, d_prob, bl, start, n_len, width, p,
                 chop, *, slots, calls, zero, grouped) -> None:
    """:func:`transfer_write_triton`'s write of many passes a line (the split write): the
    switches, the lines' walks, then every row's trains and probabilities."""
    (columns, lr, granularity, desired_bl, long_train, update_management,
     update_bl_management, um_grad_scale, _) = p
    scale, threshold, max_steps, momentum, forget_buffer, _, no_buffer = p.buffer
    tiles, n = (reads.shape[0] if grouped else 1), reads.shape[-2]
    flags = chop["flags"]
    passes, pass_ptr, fd, fs, run, past, sw = chop["args"]
    flip_prob, period, keep, mean_weight, ready_after = chop["numbers"]
    g_pass, g_fd, g_fs, g_sw = chop["steps"]

    def across(t):  # a tensor's step from one tile to the next (0: one call)
        return t.stride(0) if grouped and isinstance(t, torch.Tensor) else 0

    line, one = (d_prob, x_prob) if columns else (x_prob, d_prob)
    hot_only = one.stride(-1) == 0  # (transfer_write_triton's hot_only)
    flips = bl
    if flags["CHOP"]:
        flips = torch.empty(bl.shape, dtype=torch.int8, device=bl.device)
        block_b = 1024
        _write_flips_kernel[(triton.cdiv(n, block_b), tiles)](
            fd, fs, flips, 0, start, passes, pass_ptr, n, width, flip_prob, period,
            g_fd, g_fs, across(flips), across(start), g_pass,
            START_PTR=True, PASS_PTR=flags["PASS_PTR"], PERIOD=flags["PERIOD"],
            DRAWS=flags["DRAWS"], DRAW_SEED=flags["DRAW_SEED"], BLOCK_B=block_b, num_warps=4)
    block_l = triton.next_power_of_2(max(n_len, 16))
    counter = bl if calls is None else calls
    zeroed = bl if zero is None else zero
    _write_scan_kernel[(min(n, width), tiles)](
        reads, buffer, out_sign, in_sign, line, flips, 0, start, n_len, n, width,
        reads.stride(-2), reads.stride(-1), buffer.stride(-2), buffer.stride(-1),
        line.stride(-2), float(scale), float(threshold), float(max_steps), float(momentum),
        p.buffer.keep, p.buffer.cap, passes, pass_ptr, run, past, sw, counter, zeroed, keep,
        mean_weight, across(reads), across(buffer), across(out_sign), across(in_sign),
        across(line), across(flips) if flags["CHOP"] else 0, across(start), g_pass, g_sw,
        across(calls), across(zero),
        BUFFERED=True, FORGET=bool(forget_buffer), CAP=p.buffer.capped,
        NO_BUFFER=bool(no_buffer), START_PTR=True, CHOP=flags["CHOP"],
        PASS_PTR=flags["PASS_PTR"], MEANS=flags["MEANS"], CALLS=calls is not None,
        ZERO=zero is not None,
        LINE_MAJOR=buffer.stride(-2) == 1 and buffer.stride(-1) != 1, BLOCK_L=block_l,
        num_warps=1 if block_l <= 32 else 2 if block_l <= 64 else 4)
    block_w = min(1024, triton.next_power_of_2(max(width, 16)))
    block_b = max(1, SPLIT_ROWS // max(block_l, block_w))
    counted = bl if slots is None else slots
    _write_finish_kernel[(triton.cdiv(n, block_b), tiles)](
        line, one, bl, 0, start, n_len, n, width, line.stride(-2), one.stride(-2), float(lr),
        float(granularity), float(desired_bl), float(um_grad_scale),
        float(long_train_length(lr, granularity)) if long_train else 0.0, passes, pass_ptr,
        counted, ready_after, across(line), across(one), across(bl), across(start), g_pass,
        across(slots),
        COLUMNS=bool(columns), UBM=bool(update_bl_management), UM=bool(update_management),
        LONG=bool(long_train) and not update_bl_management, START_PTR=True,
        PASS_PTR=flags["PASS_PTR"], READY=flags["READY"], SLOTS=slots is not None,
        HOT_ONLY=hot_only, BLOCK_B=block_b, BLOCK_L=block_l, BLOCK_W=block_w, num_warps=4)


def _chopper_arguments(c, buffered, buffer, in_sign, dtype, flip_draws, flip_seed, passes,
                       running_mean, past_mean, switched, *, fallback, runs=1,
                       tiles=0) -> dict:
    """The kernel's chopper arguments (pointers, numbers, flags, and for a group of
    ``tiles`` the steps between the tiles' pass, flip draw, flip seed and switched
    tensors) for ``c``: the choppers and means change in place, so they must be the
    kernel's dtype and layout already."""
    if c is None:
        return {"args": (0, fallback, fallback, fallback, fallback, fallback, fallback),
                "numbers": (0.0, 1, 1.0, 0.0, -1), "steps": (0, 0, 0, 0),
                "flags": dict(CHOP=False, PASS_PTR=False, PERIOD=False, DRAWS=False,
                              DRAW_SEED=False, MEANS=False, READY=False)}
    if not buffered:
        raise ValueError("the chopper bookkeeping needs the buffered write")
    if in_sign.dtype != dtype or not in_sign.is_contiguous():
        raise ValueError(f"in_sign must be a contiguous {dtype} tensor (switched in place)")
    means = running_mean is not None
    if means and any(t.shape != buffer.shape or t.stride() != buffer.stride()
                     or t.dtype != dtype for t in (running_mean, past_mean)):
        raise ValueError("running_mean and past_mean must be laid out as the buffer")
    if means and (switched.dtype != torch.bool or not switched.is_contiguous()):
        raise ValueError("switched must be a contiguous bool tensor")
    on_device = isinstance(passes, torch.Tensor)
    if tiles and not (on_device and passes.shape == (tiles,)):
        raise ValueError("a group's passes are a (tiles,) tensor")
    draws = flip_draws is not None
    seeded = not draws and flip_seed is not None and c.flip_prob > 0
    if seeded and (flip_seed.dtype != torch.int64 or (runs > 1 and flip_seed.stride(-1) != 1)
                   or (tuple(flip_seed.shape) != (tiles, runs) if tiles
                       else flip_seed.numel() != runs)):
        raise ValueError(f"flip_seed must be an int64 tensor of {runs} (one a pass) per call, "
                         f"consecutive")
    if draws:
        flip_draws = flip_draws.to(dtype).contiguous()
    args = (0 if on_device else int(passes), passes if on_device else fallback,
            flip_draws if draws else fallback,
            flip_seed if seeded else fallback,
            running_mean if means else fallback, past_mean if means else fallback,
            switched.view(torch.uint8) if means else fallback)
    numbers = (float(c.flip_prob), max(int(c.period), 1), 1.0 - float(c.momentum),
               float(c.momentum), int(c.ready_after))
    steps = ((passes.stride(0), flip_draws.stride(0) if draws else 0,
              flip_seed.stride(0) if seeded else 0, switched.stride(0) if means else 0)
             if tiles else (0, 0, 0, 0))
    flags = dict(CHOP=True, PASS_PTR=on_device, PERIOD=c.period > 0, DRAWS=draws,
                 DRAW_SEED=seeded, MEANS=means, READY=c.ready_after >= 0)
    return {"args": args, "numbers": numbers, "steps": steps, "flags": flags}


def transfer_lines_triton(weight: torch.Tensor, cell_params: torch.Tensor, reads: torch.Tensor,
                          start: int | torch.Tensor, p: TransferWriteParams, cell: CellParams,
                          *, seed: int | torch.Tensor, max_bl: int | None = None,
                          line_mask: torch.Tensor | None = None,
                          cell_pulses: torch.Tensor | None = None,
                          train_slots: torch.Tensor | None = None,
                          add_to: torch.Tensor | None = None, **buffer) -> torch.Tensor:
    """``transfer_lines_torch`` without a host sync: the trains
    (:func:`transfer_write_triton`), then the pulsed-update kernels on them (``seed``,
    ``max_bl`` from the host; the rows are one-hot at the distinct lines from ``start``:
    ``sparse_rows``, and ``one_hot`` for constant steps). Constant steps take two
    launches: the one-hot lines' kernel, drawing its own words, adds its pulses to
    ``add_to`` (returned) or to a count the write kernel zeroes; other cells three
    (words, then the block kernel, adding to ``add_to`` as well)."""
    from .pulsed_update_cuda import pulsed_update_triton

    width = line_width(weight, p.columns)
    if line_mask is None:  # the write kernel counts the trains' slots itself
        buffer["train_slots"], train_slots = train_slots, None
    counter = None  # constant steps: a fresh count that the write kernel zeroes
    if add_to is None and int(cell.kind) == CELL_CONSTANT:
        counter = torch.empty((), dtype=torch.int64, device=weight.device)
    x_prob, d_prob, bl = transfer_write_triton(reads, start, width, p, zero=counter,
                                               hot_only=int(cell.kind) == CELL_CONSTANT,
                                               **buffer)
    bl = masked_lengths(bl, line_mask, train_slots)
    return pulsed_update_triton(weight, cell_params, x_prob, d_prob, bl,
                                UpdateParams(cell, max_bl, sparse_rows=True), seed=seed,
                                cell_pulses=cell_pulses, one_hot=(start, p.columns),
                                add_to=counter if add_to is None else add_to)


def transfer_lines_grouped_triton(weights: torch.Tensor, cell_params: torch.Tensor,
                                  reads: torch.Tensor, start: torch.Tensor,
                                  p: TransferWriteParams, cell: CellParams, *,
                                  key: seeds.KeyedSeed, max_bl: int, add_to: torch.Tensor,
                                  cell_pulses: torch.Tensor | None = None,
                                  train_slots: torch.Tensor | None = None,
                                  **buffer) -> torch.Tensor:
    """``transfer_lines_grouped_torch`` in the launches of one tile's write
    (:func:`transfer_lines_triton`), the tiles on a grid axis of each: the trains of every
    tile's lines (:func:`transfer_write_triton` on the group), then, constant steps, the
    one-hot lines' kernel on them, tile ``g`` under its keyed seed (``key``: the
    ``(tiles,)`` call counters, which the first kernel advances, and a ``(tiles,)`` int64
    tensor of offsets), its pulses added to ``add_to[g]`` (returned). Other cells: the
    seeds' values (three small launches), the words and block kernels on the group, and
    the sum into ``add_to`` - the numbers of each tile's call (one pass: its keyed seed
    is the value)."""
    tiles, n = reads.shape[:2]
    width = line_width(weights[0], p.columns)
    if (weights.dim() != 3 or weights.dtype != torch.float32 or add_to.shape != (tiles,)
            or key.calls.shape != (tiles,) or key.offset.shape != (tiles,)):
        raise ValueError("a group's weights (tiles, out, in) float32, counts, counters and "
                         "seed offsets (tiles,)")
    if cell_pulses is not None and (cell_pulses.shape != weights.shape
                                    or cell_pulses.dtype != torch.int32
                                    or cell_pulses.stride()[1:] != (weights.shape[2], 1)):
        raise ValueError("cell_pulses must be int32 (tiles, out, in), rows contiguous")
    from .pulsed_update_cuda import SEED_KEYED, WIDE_LINES, _one_hot_lines, pulsed_update_triton

    constant = int(cell.kind) == CELL_CONSTANT
    x_prob, d_prob, bl = transfer_write_triton(
        reads, start, width, p, train_slots=train_slots,
        hot_only=HOT_ONLY_ROWS and constant,
        int8_steps=constant and WIDE_LINES and bool(p.columns), **buffer)
    if n == 0 or weights[0].numel() == 0 or max_bl <= 0:
        return add_to
    if int(cell.kind) != CELL_CONSTANT:
        if n > width:
            raise ValueError("a group's write of other cells reads each line once")
        values = seeds.array_device_seeds(key.calls, key.offset)
        return add_to.add_(pulsed_update_triton(
            weights, cell_params, x_prob, d_prob, bl,
            UpdateParams(cell, max_bl, sparse_rows=True), seed=values,
            cell_pulses=cell_pulses))
    n_chunks = triton.cdiv(int(max_bl), 32)
    _one_hot_lines(weights, cell_params.to(torch.float32), x_prob, d_prob, bl, add_to,
                   key.calls, 0, cell_pulses, (start, p.columns), k=n, n_chunks=n_chunks,
                   max_len=n_chunks * 32 - (int(max_bl) <= 31), noise_std=cell.noise_std,
                   seed_mode=SEED_KEYED, offsets=key.offset)
    return add_to


__all__ = ["transfer_lines_grouped_triton", "transfer_lines_triton", "transfer_write_triton"]
