"""The batch-counted update on CUDA (meaning: ``counted_update_ref.py``): three steps, no
host sync.

1. ``_signed_bits_kernel``: each line's signed bits ``(k * L, n)`` int8, one program per
   slot row and block of lines, Philox (``tl.rand``) keyed by the seed - an int, or a
   one-element device tensor that a replayed CUDA graph reads anew;
2. the counts ``net = Ds^T Xs`` and ``total = |Ds|^T |Xs|``: ``torch._int_mm`` on the int8
   bits where cuBLAS takes the shape (``K``, ``in`` and ``out`` multiples of 8, ``out >
   16``; the bits are padded to whole multiples of 8 slots), else a float32 product (exact
   below 2^24 counts);
3. ``_apply_counts_kernel``: each element's up and down counts from net and total, then
   the cell physics once - closed forms for constant and linear steps, a pulse loop for exp,
   pow and table steps (each block loops to its largest count), normals from Philox.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from .counted_update_ref import C_FLOOR
from .pulsed_update_ref import (
    CELL_CONSTANT,
    CELL_EXP,
    CELL_LINEAR,
    CELL_POW,
    CELL_TABLE,
    ROW_GAMMA_DOWN,
    ROW_GAMMA_UP,
    ROW_SCALE_DOWN,
    ROW_SCALE_UP,
    ROW_SLOPE_DOWN,
    ROW_SLOPE_UP,
    ROW_W_MAX,
    ROW_W_MIN,
    check_cell,
    knot_table,
)


@triton.jit
def _stream(seed, stream: tl.constexpr):
    """Separate Philox streams of one seed: the bits of x, of d, the normals."""
    return seed ^ (tl.full((), stream + 1, tl.int64) << 44)


@triton.jit(do_not_specialize=["seed"])
def _signed_bits_kernel(out_ptr, prob_ptr, bl_ptr, seed_ptr, seed, n, length,
                        stride_pk, stride_pn, STREAM: tl.constexpr, SEED_PTR: tl.constexpr,
                        BLOCK: tl.constexpr):
    row = tl.program_id(0)  # slot t of rank-1 row b: row = b * length + t
    cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = cols < n
    if SEED_PTR:
        seed = tl.load(seed_ptr)
    seed = tl.cast(seed, tl.int64)
    b = row // length
    t = row % length
    p = tl.load(prob_ptr + b * stride_pk + cols * stride_pn, mask=mask, other=0.0)
    bl = tl.load(bl_ptr + b)
    u = tl.rand(_stream(seed, STREAM), row * n + cols)
    fire = (u < tl.abs(p)) & (t < bl) & mask
    bit = tl.where(fire, tl.where(p < 0.0, -1, 1), 0).to(tl.int8)
    tl.store(out_ptr + row.to(tl.int64) * n + cols, bit, mask=mask)


@triton.jit
def _rate(q):
    """For a pulse ``w -> (1 - q) w + b``: ``-log(1 - q)`` and the offset's weight
    ``-log(1 - q) / q`` (float32: a series where ``q`` is small, so no digit is lost;
    ``1 - q`` floored at ``C_FLOOR`` = 2^-20, exactly, as in the twin)."""
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


@triton.jit(do_not_specialize=["seed"])
def _apply_counts_kernel(w_ptr, p_ptr, a_ptr, b_ptr, seed_ptr, cnt_ptr, tab_ptr, n_knots, seed,
                         n_elem, stride_p, noise_std, amp_up, amp_down, gam_up, gam_down, es_a,
                         es_b, std_add, std_slope, FROM_NET: tl.constexpr, CELL_KIND: tl.constexpr,
                         MULT_NOISE: tl.constexpr, NOISE: tl.constexpr,
                         SEED_PTR: tl.constexpr, COUNT_CELLS: tl.constexpr,
                         BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n_elem
    if SEED_PTR:
        seed = tl.load(seed_ptr)
    seed = _stream(tl.cast(seed, tl.int64), 2)
    a = tl.load(a_ptr + offs, mask=mask, other=0)
    b = tl.load(b_ptr + offs, mask=mask, other=0)
    if FROM_NET:  # a = net, b = total coincidences (equal parity, |net| <= total)
        n_up = (b - a) // 2
        n_down = (b + a) // 2
    else:  # a = up, b = down counts
        n_up = a
        n_down = b
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
        q_up = tl.zeros((BLOCK,), tl.float32)
        q_down = tl.zeros((BLOCK,), tl.float32)
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
        g_up = tl.zeros((BLOCK,), tl.float32)
        g_down = tl.zeros((BLOCK,), tl.float32)
        if CELL_KIND == 3:
            g_up = tl.load(p_ptr + 6 * stride_p + offs, mask=mask, other=0.0)
            g_down = tl.load(p_ptr + 7 * stride_p + offs, mask=mask, other=0.0)
        safe = tl.maximum(total, 1)
        n_max = tl.max(total, axis=0)
        for p in range(0, n_max):
            up = ((p + 1) * n_up) // safe > (p * n_up) // safe
            xi = tl.zeros((BLOCK,), tl.float32)
            if NOISE:
                xi = tl.randn(seed ^ (tl.cast(p, tl.int64) << 20), offs)
            stepped = _loop_pulse(w, up, s_up, s_down, g_up, g_down, w_max, w_min, xi,
                                  noise_std, amp_up, amp_down, gam_up, gam_down, es_a, es_b,
                                  std_add, std_slope, tab_ptr, n_knots, CELL_KIND=CELL_KIND,
                                  NOISE=NOISE, MULT_NOISE=MULT_NOISE)
            w = tl.where(total > p, stepped, w)
    tl.store(w_ptr + offs, w, mask=mask)


def signed_bits_triton(prob: torch.Tensor, bl: torch.Tensor, length: int, rows: int,
                       seed: int | torch.Tensor, stream: int) -> torch.Tensor:
    """``(rows, n)`` int8 signed bits (``signed_bits_torch`` flattened to ``k * length``
    rows, zero rows after them), drawn from stream ``stream`` of ``seed``."""
    k, n = prob.shape
    out = torch.zeros(rows, n, dtype=torch.int8, device=prob.device)
    if k == 0 or length == 0 or n == 0:
        return out
    on_device = isinstance(seed, torch.Tensor)
    block = min(1024, triton.next_power_of_2(n))
    _signed_bits_kernel[(k * length, triton.cdiv(n, block))](
        out, prob, bl, seed if on_device else out, 0 if on_device else int(seed), n, length,
        prob.stride(0), prob.stride(1), STREAM=stream, SEED_PTR=on_device, BLOCK=block)
    return out


def coincidences_triton(xs: torch.Tensor, ds: torch.Tensor):
    """``net = Ds^T Xs`` and ``total = |Ds|^T |Xs|`` ``(out, in)`` int32 of the signed bits
    ``(K, in)``, ``(K, out)``: int8 tensor-core products where cuBLAS takes the shape,
    float32 otherwise."""
    n_k, n_in = xs.shape
    n_out = ds.shape[1]
    if xs.is_cuda and n_k % 8 == 0 and n_in % 8 == 0 and n_out % 8 == 0 and n_out > 16:
        dt = ds.T.contiguous()
        net = torch._int_mm(dt, xs)
        total = torch._int_mm(dt.abs(), xs.abs())
    else:
        xf, df = xs.to(torch.float32), ds.to(torch.float32)
        net = (df.T @ xf).round().to(torch.int32)
        total = (df.abs().T @ xf.abs()).round().to(torch.int32)
    return net, total


def pulse_counts_triton(xs: torch.Tensor, ds: torch.Tensor):
    """Up and down counts ``(out, in)`` int32 (``pulse_counts_torch``)."""
    net, total = coincidences_triton(xs, ds)
    return (total - net) // 2, (total + net) // 2


def apply_counts_triton(weight: torch.Tensor, cell_params: torch.Tensor, up: torch.Tensor,
                        down: torch.Tensor, *, cell_kind: int, noise_std: float,
                        mult_noise: bool, cell_scalars: tuple = (),
                        seed: int | torch.Tensor = 0,
                        cell_pulses: torch.Tensor | None = None,
                        cell_table: torch.Tensor | None = None) -> None:
    """``apply_counts_torch`` on a contiguous float32 ``weight``, normals from ``seed``;
    each element's ``up + down`` added to the int32 counter ``cell_pulses`` if given."""
    _apply(weight, cell_params, up, down, False, cell_kind=cell_kind, noise_std=noise_std,
           mult_noise=mult_noise, cell_scalars=cell_scalars, seed=seed,
           cell_pulses=cell_pulses, cell_table=cell_table)


def _apply(weight, cell_params, a, b, from_net: bool, *, cell_kind, noise_std, mult_noise,
           cell_scalars, seed, cell_pulses=None, cell_table=None) -> None:
    """One launch of the apply kernel on counts ``(a, b)``: up and down, or (``from_net``)
    net and total coincidences."""
    scalars = check_cell(cell_kind, cell_params, cell_scalars, cell_table)
    n = weight.numel()
    if n == 0:
        return
    if cell_pulses is not None and (cell_pulses.dtype != torch.int32
                                    or cell_pulses.shape != weight.shape
                                    or not cell_pulses.is_contiguous()
                                    or cell_pulses.device != weight.device):
        raise ValueError("cell_pulses must be a contiguous int32 tensor shaped like weight")
    params = cell_params.to(torch.float32).contiguous()
    on_device = isinstance(seed, torch.Tensor)
    block = 256
    _apply_counts_kernel[(triton.cdiv(n, block),)](
        weight, params, a.to(torch.int32).contiguous(), b.to(torch.int32).contiguous(),
        seed if on_device else weight, weight if cell_pulses is None else cell_pulses,
        *knot_table(cell_table, weight), 0 if on_device else int(seed), n, params.stride(0),
        float(noise_std), *scalars, FROM_NET=bool(from_net), CELL_KIND=int(cell_kind),
        MULT_NOISE=bool(mult_noise) or int(cell_kind) == CELL_CONSTANT,
        NOISE=float(noise_std) > 0, SEED_PTR=on_device, COUNT_CELLS=cell_pulses is not None,
        BLOCK=block)


def counted_update_triton(weight: torch.Tensor, cell_params: torch.Tensor, x_prob: torch.Tensor,
                          d_prob: torch.Tensor, bl: torch.Tensor, *, max_bl: int | None,
                          cell_kind: int, noise_std: float, mult_noise: bool,
                          seed: int | torch.Tensor, cell_scalars: tuple = (),
                          x_bits: torch.Tensor | None = None,
                          d_bits: torch.Tensor | None = None,
                          cell_pulses: torch.Tensor | None = None,
                          cell_table: torch.Tensor | None = None) -> torch.Tensor:
    """``counted_update_torch`` in three launches (module doc), ``seed`` instead of a
    generator. ``weight`` must be a contiguous float32 tensor; ``cell_pulses`` an optional
    int32 counter shaped like it, which the apply kernel adds each element's pulses to."""
    if weight.dtype != torch.float32 or not weight.is_contiguous():
        raise ValueError("weight must be a contiguous float32 tensor")
    k = x_prob.shape[0]
    length = x_bits.shape[1] if x_bits is not None else int(max_bl or 0)
    if k == 0 or length == 0:
        return torch.zeros((), dtype=torch.int64, device=weight.device)
    rows = -(-k * length // 8) * 8  # whole multiples of 8 slots for the int8 products
    if x_bits is not None:
        from .counted_update_ref import signed_bits_torch

        xs = torch.zeros(rows, x_prob.shape[1], dtype=torch.int8, device=weight.device)
        ds = torch.zeros(rows, d_prob.shape[1], dtype=torch.int8, device=weight.device)
        xs[:k * length] = signed_bits_torch(x_prob, bl, length, bits=x_bits).flatten(0, 1)
        ds[:k * length] = signed_bits_torch(d_prob, bl, length, bits=d_bits).flatten(0, 1)
    else:
        xs = signed_bits_triton(x_prob.to(torch.float32), bl, length, rows, seed, 0)
        ds = signed_bits_triton(d_prob.to(torch.float32), bl, length, rows, seed, 1)
    net, total = coincidences_triton(xs, ds)
    _apply(weight, cell_params, net, total, True, cell_kind=cell_kind, noise_std=noise_std,
           mult_noise=mult_noise, cell_scalars=cell_scalars, seed=seed,
           cell_pulses=cell_pulses, cell_table=cell_table)
    return total.sum(dtype=torch.int64)


# the kernels read these rows and kinds by number
assert (CELL_CONSTANT, CELL_LINEAR, CELL_EXP, CELL_POW, CELL_TABLE) == (0, 1, 2, 3, 4)
assert (ROW_SCALE_UP, ROW_SCALE_DOWN, ROW_W_MAX, ROW_W_MIN, ROW_SLOPE_UP, ROW_SLOPE_DOWN,
        ROW_GAMMA_UP, ROW_GAMMA_DOWN) == tuple(range(8))

__all__ = ["apply_counts_triton", "coincidences_triton", "counted_update_triton",
           "pulse_counts_triton",
           "signed_bits_triton"]
assert C_FLOOR == 9.5367431640625e-07  # the literal in _rate
