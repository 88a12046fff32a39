"""The per-sample pulsed update of constant steps with the rows split across programs
(meaning: ``pulsed_update_ref.py``; the sequential kernel: ``pulsed_update_cuda.py``).

``_pulsed_update_kernel`` walks a block's ``k`` rows in order in one program: a
convolution's tile (few cells, ``k`` = batch x positions, 131k rows) leaves the GPU nearly
idle while a few programs walk them all. For constant steps the walk need not be
sequential. A row moves an element in bounds by ``w -> clip(w + A)`` (``A = s (n + sigma
sqrt(n) xi)``, the twin's ``constant_train``), and clamped additions compose:
``clip(clip(w + a1, L1, H1) + a2, L2, H2) = clip(w + a1 + a2, clip(L1 + a2, L2, H2),
clip(H1 + a2, L2, H2))``. So:

1. ``_row_chunks_kernel`` (grid: cell blocks x row chunks): each chunk's rows composed into
   one map per element - its first row with pulses kept apart (an element outside its
   bounds takes that row's first step clipped, as the sequential kernel does), the rows
   after it as ``(a, L, H)`` - with the same line words, coincidence counts and normals
   (keyed by the row) as the sequential kernel; pulses counted with integer atomics;
2. ``_compose_chunks_kernel`` (grid: cell blocks): the chunks' maps applied in order.

The same pulses and normals, so the same walk up to float rounding (a chunk's steps are
summed before they meet the weight).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .pulsed_update_cuda import _negatives, _normals4, _row_counts, _row_inputs

# per element and chunk: has a first row, its step s and rest e, then a, L, H
_PLANES = 6


@triton.jit
def _clip(v, lo, hi):
    return tl.minimum(tl.maximum(v, lo), hi)


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
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    chunk = tl.program_id(2)
    if SEED_PTR:
        seed = tl.load(seed_ptr) & 0xFFFFFFFF
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    mm = rm < n_out
    mn = rn < n_in
    mask = mm[:, None] & mn[None, :]
    n_lines = n_in + n_out
    xs_ptrs = words_ptr + rn
    ds_ptrs = words_ptr + n_in + rm
    pe = p_ptr + rm[:, None] * stride_pm + rn[None, :] * stride_pn
    s_up = tl.load(pe + 0 * stride_pp, mask=mask, other=0.0)
    s_down = tl.load(pe + 1 * stride_pp, mask=mask, other=0.0)
    w_max = tl.load(pe + 2 * stride_pp, mask=mask, other=0.0)
    w_min = tl.load(pe + 3 * stride_pp, mask=mask, other=0.0)
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
        _, _, xp, dp, wx, wd = _row_inputs(
            b, k, count_ptr, x_ptr, d_ptr, xs_ptrs, ds_ptrs, rn, rm, mn, mm,
            stride_xk, stride_xn, stride_dk, stride_dm, n_lines, False, SIGN_BIT, False)
        neg_x, neg_d = _negatives(xp, dp, wx, wd, SIGN_BIT)
        counts = _row_counts(wx, wd, xs_ptrs, ds_ptrs, mn, mm, b, k, n_lines, n_chunks,
                             NATIVE, SIGN_BIT)
        acc += counts
        up = neg_d[:, None] != neg_x[None, :]
        step = tl.where(up, s_up, -s_down)
        # as _constant_row: the count in the mantissa of 2**23, minus 2**23
        nf = (counts | 0x4B000000).to(tl.float32, bitcast=True) - 8388608.0
        extra = nf - 1.0
        if NOISE:
            r = b % 4
            if r == 0:
                xi0, xi1, xi2, xi3 = _normals4(seed, elem, b // 4, 0, NATIVE)
            xi = tl.where(r == 0, xi0, tl.where(r == 1, xi1, tl.where(r == 2, xi2, xi3)))
            extra += noise_std * tl.sqrt(nf) * xi
        rest = extra * step
        active = counts > 0
        first = active & (seen == 0)
        later = active & (seen != 0)
        first_s = tl.where(first, step, first_s)
        first_e = tl.where(first, rest, first_e)
        total = step + rest
        a = tl.where(later, a + total, a)
        lo = tl.where(later, _clip(lo + total, w_min, w_max), lo)
        hi = tl.where(later, _clip(hi + total, w_min, w_max), hi)
        seen = seen | active

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
def _compose_chunks_kernel(w_ptr, p_ptr, maps_ptr, n_out, n_in, n_row_chunks, stride_wm,
                           stride_wn, stride_pp, stride_pm, stride_pn,
                           BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
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
    for c in range(0, n_row_chunks):
        base = at + c * (6 * plane)  # below 2**31: checked by the launcher
        seen = tl.load(base, mask=mask, other=0.0) != 0.0
        first_s = tl.load(base + plane, mask=mask, other=0.0)
        first_e = tl.load(base + 2 * plane, mask=mask, other=0.0)
        a = tl.load(base + 3 * plane, mask=mask, other=0.0)
        lo = tl.load(base + 4 * plane, mask=mask, other=0.0)
        hi = tl.load(base + 5 * plane, mask=mask, other=0.0)
        # the chunk's first row with pulses: as _constant_row (outside the bounds, the
        # first step clipped), then the rows after it: clip(w + a) within [lo, hi]
        first = w + first_s
        first = tl.where((w > w_max) | (w < w_min), _clip(first, w_min, w_max), first)
        moved = _clip(_clip(first + first_e, w_min, w_max) + a, lo, hi)
        w = tl.where(seen, moved, w)
    tl.store(w_ptrs, w, mask=mask)


def row_chunks(k: int, cells_programs: int, programs: int, rows: int | None = None) -> int:
    """Rows per chunk (a multiple of 4; ``k`` when the rows are better not split): where
    the cell blocks are fewer than half of ``programs`` (what fills the GPU), enough chunks
    for eight times ``programs`` (short walks, several waves), at least 64 rows each; or
    ``rows`` when given."""
    if rows is None:
        if cells_programs * 2 > programs or k < 256:
            return k
        chunks = max(1, min(8 * programs // cells_programs, k // 64))
        rows = triton.cdiv(k, chunks)
    return max(4, triton.cdiv(int(rows), 4) * 4)


def constant_rows_split(weight, cell_params, x_prob, d_prob, words, counter, seed_ptr,
                        seed_int, cells, *, k, n_chunks, noise_std, seed_on_device, native,
                        sign_bit, rows_per_chunk, block_m, block_n, num_warps) -> None:
    """Launch both kernels (module doc) on the words of ``_line_words_kernel``."""
    n_out, n_in = weight.shape
    n_row_chunks = triton.cdiv(k, rows_per_chunk)
    if n_row_chunks * _PLANES * n_out * n_in >= 2**31:
        raise ValueError("too many row chunks for the cells: give fewer (row_chunk)")
    maps = torch.empty(n_row_chunks * _PLANES * n_out * n_in, dtype=torch.float32,
                       device=weight.device)
    grid = (triton.cdiv(n_out, block_m), triton.cdiv(n_in, block_n))
    _row_chunks_kernel[(*grid, n_row_chunks)](
        cell_params, x_prob, d_prob, words, counter, maps, seed_ptr,
        counter if cells is None else cells,
        n_out, n_in, k, n_chunks, rows_per_chunk,
        cell_params.stride(0), cell_params.stride(1), cell_params.stride(2),
        x_prob.stride(0), x_prob.stride(1), d_prob.stride(0), d_prob.stride(1),
        seed_int, float(noise_std),
        NOISE=float(noise_std) > 0.0, SEED_PTR=seed_on_device, NATIVE=native,
        SIGN_BIT=sign_bit, COUNT_CELLS=cells is not None, BLOCK_M=block_m, BLOCK_N=block_n,
        num_warps=num_warps)
    _compose_chunks_kernel[grid](
        weight, cell_params, maps, n_out, n_in, n_row_chunks, weight.stride(0),
        weight.stride(1), cell_params.stride(0), cell_params.stride(1), cell_params.stride(2),
        BLOCK_M=block_m, BLOCK_N=block_n, num_warps=num_warps)


__all__ = ["constant_rows_split", "row_chunks"]
