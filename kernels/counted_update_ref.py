"""Reference twin of the batch-counted pulsed update (``update.accumulate: batch``).

The per-sample update (``pulsed_update_ref``) applies the ``k`` rank-1 trains of a batch one
after another. Here the same trains are drawn - line ``j`` fires in slot ``t < bl[b]`` of
row ``b`` with probability ``|x_prob[b, j]|`` - but each element only counts its
coincidences over the whole batch. With the signed bits ``Xs`` ``(K, in)`` and ``Ds``
``(K, out)`` in {-1, 0, +1} over ``K = k * L`` slots (``L`` the longest train)::

    net   = Ds^T Xs        (out, in): same-sign coincidences minus opposite-sign ones
    total = |Ds|^T |Xs|    all coincidences
    down  = (total + net) / 2      a coincidence of equal signs pulses down (-sign(x d))
    up    = (total - net) / 2

are exactly the per-sample counts summed over the rows: two matrix products that tensor
cores run, instead of one pass per row. The cell physics is then applied once per element:

- constant and linear steps (``CELL_CONSTANT``, ``CELL_LINEAR``: LinearStep, SoftBounds) in
  closed form. A pulse is an affine map ``w -> c w + b`` (up: ``c = 1 - scale_up *
  slope_up``, ``b = scale_up``; down: ``c = 1 + scale_down * slope_down``, ``b =
  -scale_down``; constant: ``c = 1``). The linear parts commute, so any order of ``n`` up
  and ``m`` down pulses scales ``w`` by ``C = c_up^n c_down^m``; the offset depends on the
  order, and the up and down pulses are taken as evenly mixed (the limit of a fine
  interleaving): with ``a = -log c`` per pulse, ``alpha = n a_up + m a_down`` and ``beta =
  n b_up k_up + m b_down k_down`` (``k = a / (1 - c)``, 1 at ``c = 1``), ``w -> C w + beta
  (1 - C) / alpha``. A run of one sign is then exact: ``c^n w + b (1 - c^n) / (1 - c)``.
  Cycle-to-cycle noise is summed over the pulses: ``sigma sqrt(n dw_up^2 + m dw_down^2)
  xi`` with the steps ``dw`` where the run ends (multiplicative noise; additive: the
  scales), one normal ``xi`` per element. Bounds are applied once, after the net change.
- exp, pow and table steps (``CELL_EXP``, ``CELL_POW``, ``CELL_TABLE``): a loop over each
  element's counted pulses, one pulse at a time through ``single_pulse_torch`` (noise and
  bounds per pulse), the up pulses spread evenly among the down ones (pulse ``p`` of ``n =
  up + down`` is up where ``floor((p + 1) up / n) > floor(p up / n)``).

What this gives up against ``sample``: the order of the pulses within one batch (all of
an element's pulses see the state the batch started from, in the order above), and bounds
that clip each pulse (a constant- or linear-step element that reaches a bound mid-batch
keeps pulses that the per-sample walk would have lost there). ``tests/test_counted_update``
measures the difference in distribution. This file is the definition the numba kernel
(``counted_update_cpu``) and the Triton kernels (``counted_update_cuda``) are tested against.
"""

from __future__ import annotations

import torch

from . import layout
from .layout import C_FLOOR, CLOSED_FORM, check_cell
from .params import CellParams, UpdateParams
from .pulsed_update_ref import single_pulse_torch, update_each_tile


def signed_bits_torch(prob: torch.Tensor, bl: torch.Tensor, length: int,
                      generator: torch.Generator | None = None,
                      bits: torch.Tensor | None = None) -> torch.Tensor:
    """``(k, length, n)`` int8: ``sign(prob[b, j])`` where line ``j`` fires in slot ``t <
    bl[b]`` of row ``b``, else 0. ``bits``: given 0/1 trains ``(k, >= length, n)`` instead
    of draws (the deterministic pulse types)."""
    k, n = prob.shape
    slots = torch.arange(length, device=prob.device)[None, :] < bl.to(prob.device)[:, None]
    if bits is None:
        fire = torch.rand(k, length, n, generator=generator, device=prob.device) \
            < prob.abs()[:, None, :]
    else:
        fire = bits[:, :length] > 0
    fire = fire & slots[:, :, None]
    sign = torch.where(prob < 0, -1, 1).to(torch.int8)
    return fire.to(torch.int8) * sign[:, None, :]


def pulse_counts_torch(x_signed: torch.Tensor, d_signed: torch.Tensor):
    """Up and down coincidence counts ``(out, in)`` (int32) of signed bits ``(.., in)`` and
    ``(.., out)`` over all their leading slots (float32 products: exact below 2^24)."""
    xs = x_signed.reshape(-1, x_signed.shape[-1]).to(torch.float32)
    ds = d_signed.reshape(-1, d_signed.shape[-1]).to(torch.float32)
    net = ds.T @ xs
    total = ds.abs().T @ xs.abs()
    up = ((total - net) * 0.5).round().to(torch.int32)
    down = ((total + net) * 0.5).round().to(torch.int32)
    return up, down


_M32 = 0xFFFFFFFF


def _mul32(a: int, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """High and low 32-bit words of ``a * c`` (``a`` a 32-bit constant, ``c`` int64 holding
    uint32) without leaving int64: ``c`` in 16-bit halves, each product below 2^48."""
    hi_part, lo_part = a * (c >> 16), a * (c & 0xFFFF)
    return (hi_part + (lo_part >> 16)) >> 16, ((hi_part << 16) + lo_part) & _M32


def philox_torch(key: int, c0, c1, c2, c3, rounds: int = 10):
    """Philox-4x32 as Triton's ``random.philox`` computes it: the four output words (int64
    tensors holding uint32) of the counters ``(c0, c1, c2, c3)`` under the 64-bit ``key``
    (low word first). The definition the kernels' streams are tested against."""
    # a Python int counter goes where the tensor ones are (else a CPU scalar broadcast
    # beside CUDA counters meets them in the rounds)
    device = next((c.device for c in (c0, c1, c2, c3) if isinstance(c, torch.Tensor)), None)
    c0, c1, c2, c3 = (torch.as_tensor(c, dtype=torch.int64, device=device) & _M32
                      for c in (c0, c1, c2, c3))
    c0, c1, c2, c3 = torch.broadcast_tensors(c0, c1, c2, c3)
    k0, k1 = key & _M32, (key >> 32) & _M32
    for _ in range(rounds):
        hi_b, lo_b = _mul32(0xCD9E8D57, c2)
        hi_a, lo_a = _mul32(0xD2511F53, c0)
        c0, c1, c2, c3 = hi_b ^ c1 ^ k0, lo_b, hi_a ^ c3 ^ k1, lo_a
        k0, k1 = (k0 + 0x9E3779B9) & _M32, (k1 + 0xBB67AE85) & _M32
    return c0, c1, c2, c3


def uniform_of_uint32(r: torch.Tensor) -> torch.Tensor:
    """Triton's ``uint_to_uniform_float`` of uint32 words (held in int64): the word as int32,
    negatives folded (``~x``), times 4.6566127342e-10 in float32."""
    x = torch.where(r >= 1 << 31, r - (1 << 32), r)
    x = torch.where(x < 0, ~x, x).to(torch.int32)
    return x.to(torch.float32) * torch.tensor(4.6566127342e-10, dtype=torch.float32,
                                              device=r.device)


def rows4_bits_torch(prob: torch.Tensor, bl: torch.Tensor, length: int, seed: int,
                     stream: int) -> torch.Tensor:
    """The signed bits ``(k, length, n)`` (``signed_bits_torch``'s layout) of the drawn
    counts' stream (``counted_update_cuda._rows4``) - its definition: the bit of row ``r``,
    slot ``t``, line ``j`` fires where output ``r % 4`` of the Philox counter ``(j, t, r //
    4, 1)`` under the key ``seed ^ ((stream + 1) << 44)`` (x stream 0, d stream 1), as a
    uniform, is below ``|prob|``. One call gives four rows' bits of one slot (the planes'
    stream: four slots of one row), the same probability for each bit."""
    k, n = prob.shape
    key = (int(seed) ^ ((stream + 1) << 44)) & ((1 << 64) - 1)
    t = torch.arange(length, device=prob.device)[None, :, None]
    j = torch.arange(n, device=prob.device)[None, None, :]
    rows = torch.arange(k, device=prob.device)[:, None, None]
    words = philox_torch(key, j, t, rows // 4, 1)
    word = torch.stack(words).gather(0, (rows % 4).expand(1, k, length, n))[0]
    fire = uniform_of_uint32(word) < prob.abs().float()[:, None, :]
    return signed_bits_torch(prob, bl, length, bits=fire.to(torch.int8))


def drawn_counts_rows4_torch(x_prob: torch.Tensor, d_prob: torch.Tensor, bl: torch.Tensor,
                             length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(net, total)`` int32 ``(out, in)`` of the drawn counts' bits (``rows4_bits_torch``,
    x stream 0, d stream 1): ``counted_update_cuda.drawn_counts_triton``'s twin."""
    xs = rows4_bits_torch(x_prob, bl, length, seed, 0).reshape(-1, x_prob.shape[1])
    ds = rows4_bits_torch(d_prob, bl, length, seed, 1).reshape(-1, d_prob.shape[1])
    xs, ds = xs.to(torch.float64), ds.to(torch.float64)
    return (ds.T @ xs).to(torch.int32), (ds.abs().T @ xs.abs()).to(torch.int32)


def mixed_runs(w: torch.Tensor, c_up, s_up, c_down, s_down, n_up, n_down):
    """Where ``n_up`` pulses ``w -> c_up w + s_up`` mixed evenly with ``n_down`` pulses
    ``w -> c_down w - s_down`` take ``w`` (float64; module doc)."""
    def rate(c):  # -log(c) per pulse, and the offset's weight -log(c) / (1 - c)
        c = c.clamp_min(C_FLOOR)
        a = -torch.log(c)
        return a, torch.where(c == 1, 1.0, a / torch.where(c == 1, 1.0, 1.0 - c))

    a_up, k_up = rate(c_up)
    a_down, k_down = rate(c_down)
    alpha = n_up * a_up + n_down * a_down
    beta = n_up * s_up * k_up - n_down * s_down * k_down
    frac = torch.where(alpha == 0, 1.0, -torch.expm1(-alpha) / torch.where(alpha == 0, 1.0,
                                                                              alpha))
    return torch.exp(-alpha) * w + beta * frac


def apply_counts_torch(weight: torch.Tensor, cell_params: torch.Tensor, up: torch.Tensor,
                       down: torch.Tensor, cell: CellParams, *,
                       generator: torch.Generator | None = None,
                       xi: torch.Tensor | None = None) -> None:
    """Apply ``up`` and ``down`` pulses per element to ``weight`` in place (module doc)
    through ``cell``.

    ``xi``: optional ``(out, in)`` standard normals for the closed forms' summed noise
    (drawn from ``generator`` when left out and ``noise_std > 0``)."""
    cell_kind, noise_std, mult_noise, cell_scalars, cell_table = cell
    scalars = check_cell(cell_kind, cell_params, cell_scalars, cell_table)
    if cell_kind in CLOSED_FORM:
        p = cell_params.to(torch.float64)
        s_up, s_down = p[layout.ROW_SCALE_UP], p[layout.ROW_SCALE_DOWN]
        if cell_kind == layout.CELL_LINEAR:
            c_up = 1.0 - s_up * p[layout.ROW_SLOPE_UP]
            c_down = 1.0 + s_down * p[layout.ROW_SLOPE_DOWN]
        else:
            c_up = c_down = torch.ones_like(s_up)
        n_up, n_down = up.to(torch.float64), down.to(torch.float64)
        new = mixed_runs(weight.to(torch.float64), c_up, s_up, c_down, s_down, n_up, n_down)
        if noise_std > 0:
            if xi is None:
                xi = torch.randn(weight.shape, generator=generator, device=weight.device)
            if mult_noise or cell_kind == layout.CELL_CONSTANT:  # the steps where the run ends
                dw_up, dw_down = (c_up - 1.0) * new + s_up, (c_down - 1.0) * new - s_down
            else:
                dw_up, dw_down = s_up, s_down
            var = n_up * dw_up * dw_up + n_down * dw_down * dw_down
            new = new + noise_std * var.sqrt() * xi.to(torch.float64)
        new = torch.minimum(torch.maximum(new, p[layout.ROW_W_MIN]), p[layout.ROW_W_MAX])
        touched = (up > 0) | (down > 0)
        weight.copy_(torch.where(touched, new.to(weight.dtype), weight))
        return
    total = up + down
    n_max = int(total.max()) if total.numel() else 0
    new = weight.clone()
    for step in range(n_max):
        is_up = ((step + 1) * up) // total.clamp_min(1) > (step * up) // total.clamp_min(1)
        noise = (torch.randn(weight.shape, generator=generator, device=weight.device,
                             dtype=weight.dtype) if noise_std > 0 else None)
        stepped = single_pulse_torch(new, is_up, cell_params, cell_kind=cell_kind,
                                     noise_std=noise_std, mult_noise=mult_noise, xi=noise,
                                     cell_scalars=scalars, cell_table=cell_table)
        new = torch.where(total > step, stepped, new)
    weight.copy_(new)


def counted_update_torch(weight: torch.Tensor, cell_params: torch.Tensor, x_prob: torch.Tensor,
                         d_prob: torch.Tensor, bl: torch.Tensor, p: UpdateParams, *,
                         generator: torch.Generator | None = None,
                         x_bits: torch.Tensor | None = None,
                         d_bits: torch.Tensor | None = None,
                         cell_pulses: torch.Tensor | None = None) -> torch.Tensor:
    """The batch-counted update of ``weight`` in place: the arguments of
    ``pulsed_update_torch``, with ``p.max_bl`` a host bound of ``bl`` (the given trains'
    length with ``x_bits``). ``cell_pulses``: optional integer ``(out, in)`` counter each
    element's up + down pulses are added to. Returns the number of pulses applied (0-dim
    int64)."""
    max_bl = p.max_bl
    length = x_bits.shape[1] if x_bits is not None else int(max_bl)
    if length == 0 or x_prob.shape[0] == 0:
        return torch.zeros((), dtype=torch.int64, device=weight.device)
    xs = signed_bits_torch(x_prob, bl, length, generator, x_bits)
    ds = signed_bits_torch(d_prob, bl, length, generator, d_bits)
    up, down = pulse_counts_torch(xs, ds)
    if cell_pulses is not None:
        cell_pulses += (up + down).to(cell_pulses.dtype)
    apply_counts_torch(weight, cell_params, up, down, p.cell, generator=generator)
    return (up.sum() + down.sum()).to(torch.int64)


def counted_update_grouped_torch(weights: torch.Tensor, cell_params: torch.Tensor,
                                 x_prob: torch.Tensor, d_prob: torch.Tensor, bl: torch.Tensor,
                                 p: UpdateParams, *, generators,
                                 cell_pulses: torch.Tensor | None = None) -> torch.Tensor:
    """The counted updates of a group of equal tiles (a layer's grid), each its own
    :func:`counted_update_torch`: tile ``g`` updates ``weights[g]`` with ``cell_params[g]``
    and the trains ``x_prob[g]``, ``d_prob[g]``, ``bl[g]``, drawing from ``generators[g]``.
    Nothing is shared but the cell and ``p.max_bl``. Returns the pulses per tile."""
    return update_each_tile(counted_update_torch, weights, cell_params, x_prob, d_prob, bl, p,
                            cell_pulses, generator=generators)


__all__ = ["CLOSED_FORM", "C_FLOOR", "mixed_runs", "apply_counts_torch",
           "counted_update_grouped_torch", "counted_update_torch",
           "pulse_counts_torch", "signed_bits_torch"]
