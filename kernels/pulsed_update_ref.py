"""Reference twin of the pulsed-update kernel: the meaning of a stochastic pulse train.

A crossbar applies ``W <- W - lr * d x^T`` in parallel: in each of ``bl`` time slots input
line j fires with probability ``|x_prob_j|`` and output line i with ``|d_prob_i|``; every
coincidence on element (i, j) is one device pulse in direction ``-sign(x_j d_i)`` (up when
exactly one of ``x_j``, ``d_i`` is negative). Within one rank-1 update an element therefore
receives ``n_ij`` pulses of one sign, applied one after another through the unit cell's
pulse response (so state-dependent cells see the weight move between pulses), each with its
own cycle-to-cycle noise, and clipped to the element's bounds after every pulse. The ``k``
rank-1 updates are applied in order.

Per-element parameters
----------------------
``cell_params`` is a ``(P, out, in)`` float stack drawn once per tile (device-to-device
spread). A cell reads only the rows it needs, so ``P`` may stop after its last row
(``ROWS_REQUIRED``). The numbers - rows, kinds, scalars - are ``layout.py``'s:

    row  name        used by          meaning
    0    scale_up    all              step of one up pulse (>= 0)
    1    scale_down  all              step of one down pulse (>= 0; the kernel subtracts it)
    2    w_max       all              upper bound of the element
    3    w_min       all              lower bound of the element
    4    slope_up    LINEAR           up step   = scale_up   * (1 - slope_up   * w)
    5    slope_down  LINEAR           down step = scale_down * (1 - slope_down * w)
    6    gamma_up    POW              up exponent (>= 0)
    7    gamma_down  POW              down exponent (>= 0)

Tile-wide scalars (``cell_scalars``, a tuple of floats; only ``CELL_EXP`` uses them, in the
order of ``EXP_SCALARS``): ``A_up, A_down, gamma_up, gamma_down, a, b, dw_min_std_add,
dw_min_std_slope`` (the last two may be left out: 0).

Tile-wide knot table (``cell_table``, only ``CELL_TABLE``): a float tensor ``(2, K)``, ``K >=
2``, on the weight's device: the up step's factor (row 0) and the down step's (row 1) at
``K`` knots evenly spaced over each element's own range, knot ``q`` at state ``w_min +
q (w_max - w_min) / (K - 1)`` (a measured device's mean step, ``cells.TableCell``).

Pulse response (``s`` = +1 up / -1 down, ``scale`` = row 0 up / row 1 down, ``xi`` a standard
normal per pulse, ``sigma`` = ``noise_std``; then ``w <- clip(w + dw, w_min, w_max)``):

    CELL_CONSTANT  dw = s*scale                                    [ConstantStep]
    CELL_LINEAR    dw = s*scale*(1 - slope*w)                      [LinearStep, SoftBounds]
    CELL_EXP       z = 2*a*w/(w_max - w_min) + b                   [ExpStep]
                   y = max(1 - A_up*exp(gamma_up*z), 0)      (up)
                   y = max(1 - A_down*exp(-gamma_down*z), 0) (down)
                   dw = s*scale*y                (no step where w_max <= w_min)
    CELL_POW       dw = +scale_up   * max((w_max - w)/(w_max - w_min), 0)**gamma_up   (up)
                   dw = -scale_down * max((w - w_min)/(w_max - w_min), 0)**gamma_down (down)
                   (base 0 where w_max <= w_min)                  [PowStep]
    CELL_TABLE     t = clip((w - w_min)/(w_max - w_min), 0, 1)     [TableCell]
                   q = min(floor(t (K-1)), K-2), f = t (K-1) - q
                   y = T[r, q] + f (T[r, q+1] - T[r, q])   (r = 0 up, 1 down)
                   dw = s*scale*y                (no step where w_max <= w_min)

Cycle-to-cycle noise (``dw_min_std`` of aihwkit, relative to the step; only when sigma > 0):

    CONSTANT, POW, LINEAR/TABLE with        dw <- dw * (1 + sigma*xi)
      mult_noise
    LINEAR/TABLE without mult_noise         dw <- dw + sigma*scale*xi
      (additive)
    EXP                                     dw <- dw + sigma*(|dw| + std_add + std_slope*|w|)*xi
                                            only where y > 0 (a saturated step stays 0, as
                                            aihwkit's CUDA functor does); with std_add =
                                            std_slope = 0 this is the multiplicative form.

``mult_noise`` matters only for LINEAR and TABLE. Constant steps are applied in closed form
(``constant_train``): noise-free, that is exactly where the clipped steps one by one end; with
noise the ``n`` steps' noise is summed into one draw, ``s*sigma*sqrt(n)*xi``, added before
the clip (aihwkit's CUDA ``UpdateFunctorConstantStep``: ``w += dw*n*(1 + rsqrt(n)*sigma*xi)``,
then clip), so an element at a bound pushed further stays at it. That is the one-by-one
walk's distribution wherever it does not touch a bound mid-train with a reversed step
(``1 + sigma*xi < 0``, probability 4e-4 per pulse at sigma = 0.3).

Every cell clips after its noisy step, never before the noise (aihwkit's C++ and CUDA
update functors of all five cells: step, noise, then ``min``/``max`` with the bounds).

Filling the rows from aihwkit parameters (what aihwkit's ``populate`` does; ``xi1``, ``xi2``
are independent standard normals drawn per element)::

    aihwkit parameter            row / scalar  transform
    dw_min, dw_min_dtod,         0, 1          gain = 1 + dw_min_dtod*xi1
      up_down, up_down_dtod                    r = up_down_dtod*xi2
                                               scale_up = |(min(up_down, 0) + gain + r)*dw_min|
                                               scale_down = |(-max(up_down, 0) + gain - r)*dw_min|
                                               (aihwkit's C++ populate; its docstring writes
                                               the bias symmetrically as 1 +- up_down)
    w_max, w_max_dtod            2             |w_max*(1 + w_max_dtod*xi)|
    w_min, w_min_dtod            3             -|w_min*(1 + w_min_dtod*xi)|
                                               (swap the two draws first if min > max)
    dw_min_std                   noise_std     as is (all cells)
    LinearStep gamma_up,         4             g = gamma_up + gamma_up_dtod*xi, |g| unless
      gamma_up_dtod,                           allow_increasing; slope_up = g/ref_up with
      allow_increasing,                        ref_up = w_max (mean_bound_reference=True) or
      mean_bound_reference                     row 2 (False); reverse_up: ref_up =
                                               w_min - reverse_offset; 0 if ref_up == 0
    LinearStep gamma_down, ...   5             the same with gamma_down; ref_down = w_min or
                                               row 3 (negative, so slope_down < 0);
                                               reverse_down: w_max + reverse_offset
    LinearStep/SoftBounds        mult_noise    as is
      mult_noise
    SoftBounds                   4, 5          slope_up = 1/row 2, slope_down = 1/row 3
                                               (gamma 1, no dtod, per-element bounds)
    PowStep pow_gamma,           6, 7          gain = 1 + pow_gamma_dtod*xi1
      pow_gamma_dtod,                          r = pow_up_down_dtod*xi2
      pow_up_down,                             gamma_up = |pow_gamma*(min(pow_up_down, 0)
      pow_up_down_dtod                                     + gain + r)|
                                               gamma_down = |pow_gamma*(-max(pow_up_down, 0)
                                                             + gain - r)|
    ExpStep A_up, A_down,        scalars 0-5   as is (tile-wide, no dtod in aihwkit)
      gamma_up, gamma_down, a, b
    ExpStep dw_min_std_add,      scalars 6, 7  as is (absolute weight units, times
      dw_min_std_slope                         dw_min_std, see the noise table)

aihwkit's ``write_noise_std`` (a persistent hidden weight) is not modelled here.

This file is the definition both kernels are tested against: the Triton kernel on CUDA
(``pulsed_update_cuda.py``) and the numba kernel on the CPU (``pulsed_update_cpu.py``);
training runs the kernels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .layout import (
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
)
from .params import UpdateParams


def knot_table(cell_table: torch.Tensor | None, stand_in: torch.Tensor) -> tuple:
    """``(tensor, K)`` as the Triton launchers pass the table: its knots flattened (up,
    then down) in float32; for cells without one, ``stand_in`` (never read) and 2."""
    if cell_table is None:
        return stand_in, 2
    return cell_table.to(torch.float32).contiguous().reshape(-1), int(cell_table.shape[1])


def table_factor(weight: torch.Tensor, up: torch.Tensor, w_max: torch.Tensor,
                 w_min: torch.Tensor, cell_table: torch.Tensor) -> torch.Tensor:
    """``CELL_TABLE``'s step factor ``y`` at ``weight``: the knot table interpolated
    linearly at the element's relative state (0 where ``w_max <= w_min``)."""
    knots = cell_table.shape[1]
    span = w_max - w_min
    valid = span > 0
    inv = torch.where(valid, 1.0 / torch.where(valid, span, 1.0), 0.0)
    pos = ((weight - w_min) * inv).clamp(0.0, 1.0) * (knots - 1)
    q = pos.floor().clamp(max=knots - 2)
    f = pos - q
    q = q.long()
    table = cell_table.to(device=weight.device, dtype=weight.dtype)
    y0 = torch.where(up, table[0][q], table[1][q])
    y1 = torch.where(up, table[0][q + 1], table[1][q + 1])
    return torch.where(valid, y0 + f * (y1 - y0), 0.0)


def single_pulse_torch(weight: torch.Tensor, up: torch.Tensor, cell_params: torch.Tensor, *,
                       cell_kind: int, noise_std: float, mult_noise: bool,
                       xi: torch.Tensor | None, cell_scalars: tuple = (),
                       cell_table: torch.Tensor | None = None) -> torch.Tensor:
    """Weight after one pulse on every element (``up`` True: potentiate, else depress).

    ``xi`` is a standard normal draw per element (None when ``noise_std == 0``);
    ``cell_table`` the knot table of ``CELL_TABLE``.
    """
    scale_up, scale_down = cell_params[ROW_SCALE_UP], cell_params[ROW_SCALE_DOWN]
    w_max, w_min = cell_params[ROW_W_MAX], cell_params[ROW_W_MIN]
    scale = torch.where(up, scale_up, scale_down)
    step = torch.where(up, scale_up, -scale_down)  # signed step
    noisy = noise_std > 0
    if cell_kind == CELL_CONSTANT:
        dw = step
        if noisy:
            dw = dw * (1.0 + noise_std * xi)
    elif cell_kind == CELL_LINEAR:
        slope = torch.where(up, cell_params[ROW_SLOPE_UP], cell_params[ROW_SLOPE_DOWN])
        dw = step * (1.0 - slope * weight)
        if noisy:
            dw = dw * (1.0 + noise_std * xi) if mult_noise else dw + noise_std * scale * xi
    elif cell_kind == CELL_EXP:
        a_up, a_down, g_up, g_down, es_a, es_b, std_add, std_slope = check_cell(
            cell_kind, cell_params, cell_scalars)
        b_diff = w_max - w_min
        valid = b_diff > 0
        z = weight * torch.where(valid, 2.0 * es_a / torch.where(valid, b_diff, 1.0), 0.0) + es_b
        # 0-dim tensors in the weight's dtype (plain scalars would make float32 here)
        amp = torch.where(up, weight.new_tensor(a_up), weight.new_tensor(a_down))
        gam = torch.where(up, weight.new_tensor(g_up), weight.new_tensor(-g_down))
        y = torch.clamp_min(1.0 - amp * torch.exp(gam * z), 0.0)
        y = torch.where(valid, y, 0.0)
        dw = step * y
        if noisy:
            sd = noise_std * (dw.abs() + std_add + std_slope * weight.abs())
            dw = torch.where(y > 0, dw + sd * xi, dw)
    elif cell_kind == CELL_POW:
        rng = w_max - w_min
        inv = torch.where(rng > 0, 1.0 / torch.where(rng > 0, rng, 1.0), 0.0)
        base = torch.where(up, (w_max - weight) * inv, (weight - w_min) * inv).clamp_min(0.0)
        gamma = torch.where(up, cell_params[ROW_GAMMA_UP], cell_params[ROW_GAMMA_DOWN])
        dw = step * torch.pow(base, gamma)
        if noisy:
            dw = dw * (1.0 + noise_std * xi)
    elif cell_kind == CELL_TABLE:
        check_cell(cell_kind, cell_params, cell_scalars, cell_table)
        dw = step * table_factor(weight, up, w_max, w_min, cell_table)
        if noisy:
            dw = dw * (1.0 + noise_std * xi) if mult_noise else dw + noise_std * scale * xi
    else:
        raise ValueError(f"unknown cell kind {cell_kind}")
    return torch.minimum(torch.maximum(weight + dw, w_min), w_max)


def constant_train(weight: torch.Tensor, up: torch.Tensor, counts: torch.Tensor,
                   cell_params: torch.Tensor, noise_std: float = 0.0,
                   xi: torch.Tensor | None = None) -> torch.Tensor:
    """``counts`` constant steps at once, clipped once at the end:
    ``clip(w + s (n + noise_std sqrt(n) xi))`` (``xi`` one standard normal per element),
    aihwkit's CUDA ``UpdateFunctorConstantStep``. Noise-free that is where n equal steps
    clipped after every step end (they move one way); with noise it is their distribution,
    and an element at a bound pushed further stays there, as in aihwkit (the noise joins
    the run before the clip, never after it). A weight that starts outside its bounds
    takes its first step clipped, ``clip(w + s)``, as the one-by-one walk does. Elements
    with ``counts == 0`` keep their weight.
    """
    w_max, w_min = cell_params[ROW_W_MAX], cell_params[ROW_W_MIN]
    step = torch.where(up, cell_params[ROW_SCALE_UP], -cell_params[ROW_SCALE_DOWN])
    outside = (weight > w_max) | (weight < w_min)
    first = weight + step
    first = torch.where(outside, torch.minimum(torch.maximum(first, w_min), w_max), first)
    extra = counts - 1
    if noise_std > 0:
        extra = extra + noise_std * counts.sqrt() * xi
    run = first + extra * step
    return torch.where(counts > 0, torch.minimum(torch.maximum(run, w_min), w_max), weight)


def pulsed_update_torch(weight: torch.Tensor, cell_params: torch.Tensor, x_prob: torch.Tensor,
                        d_prob: torch.Tensor, bl: torch.Tensor, p: UpdateParams, *,
                        generator: torch.Generator | None = None,
                        x_bits: torch.Tensor | None = None,
                        d_bits: torch.Tensor | None = None,
                        cell_pulses: torch.Tensor | None = None) -> torch.Tensor:
    """Apply ``k`` rank-1 pulse trains to ``weight`` (``(out, in)``) in place.

    x_prob: ``(k, in)`` signed firing probabilities in [-1, 1] of the input lines.
    d_prob: ``(k, out)`` signed firing probabilities of the output lines.
    bl:     ``(k,)`` train length of each rank-1 update (0 skips it).
    p:      the cell (``params.UpdateParams``; its ``max_bl`` and ``sparse_rows`` are the
        kernels' launch hints, which the result does not depend on).
    x_bits, d_bits: optional given trains ``(k, max_bl, in|out)`` of 0/1; then no bits are
        drawn and, with ``noise_std == 0``, the result is deterministic (the kernel test).
    cell_pulses: optional integer ``(out, in)`` counter each element's pulses are added to
        in place (the wear ledger; every kernel takes it the same way).
    Returns the number of pulses applied (0-dim int64 tensor).
    """
    cell_kind, noise_std, mult_noise, cell_scalars, cell_table = p.cell
    scalars = check_cell(cell_kind, cell_params, cell_scalars, cell_table)
    total = torch.zeros((), dtype=torch.int64, device=weight.device)
    n_out, n_in = weight.shape
    bl_list = bl.tolist()
    for b, length in enumerate(bl_list):
        if length <= 0:
            continue
        xp, dp = x_prob[b], d_prob[b]
        if x_bits is None:
            bx = torch.rand(length, n_in, generator=generator, device=weight.device) < xp.abs()
            bd = torch.rand(length, n_out, generator=generator, device=weight.device) < dp.abs()
        else:
            bx, bd = x_bits[b, :length] > 0, d_bits[b, :length] > 0
        counts = bd.T.to(weight.dtype) @ bx.to(weight.dtype)  # (out, in) coincidences
        n_max = int(counts.max().item()) if counts.numel() else 0
        if n_max == 0:
            continue
        total += counts.sum().to(torch.int64)
        if cell_pulses is not None:
            cell_pulses += counts.to(cell_pulses.dtype)
        up = (dp < 0)[:, None] != (xp < 0)[None, :]
        if cell_kind == CELL_CONSTANT:
            xi = (torch.randn(weight.shape, generator=generator, device=weight.device)
                  if noise_std > 0 else None)
            weight.copy_(constant_train(weight, up, counts, cell_params, noise_std, xi))
            continue
        _pulse_sequence(weight, up, counts, n_max, cell_params, cell_kind=cell_kind,
                        noise_std=noise_std, mult_noise=mult_noise, generator=generator,
                        scalars=scalars, table=cell_table)
    return total


def _pulse_sequence(weight, up, counts, n_max, cell_params, *, cell_kind, noise_std,
                    mult_noise, generator, scalars, table=None) -> None:
    """Pulse ``p`` acts on the elements with more than ``p`` coincidences, one pulse at a
    time. Only those elements are gathered (a pulse train touches a fraction of the array),
    so the work follows the pulses, not the array size."""
    flat = weight.view(-1)
    index = (counts.view(-1) > 0).nonzero().squeeze(1)
    w = flat[index]
    n = counts.view(-1)[index]
    u = up.reshape(-1)[index]
    params = cell_params.reshape(cell_params.shape[0], -1)[:, index]
    for p in range(n_max):
        if p > 0:
            keep = n > p
            flat.index_copy_(0, index[~keep], w[~keep])
            index, w, n, u, params = index[keep], w[keep], n[keep], u[keep], params[:, keep]
        xi = (torch.randn(w.shape, generator=generator, device=w.device)
              if noise_std > 0 else None)
        w = single_pulse_torch(w, u, params, cell_kind=cell_kind, noise_std=noise_std,
                               mult_noise=mult_noise, xi=xi, cell_scalars=scalars,
                               cell_table=table)
    flat.index_copy_(0, index, w)


# --------------------------------------------------------------------------------------
# pulse-train preparation: line probabilities and train lengths (physics/pulses.py says why)


def discretize_torch(values: torch.Tensor, res: float, sto_round: bool,
                     generator: torch.Generator | None) -> torch.Tensor:
    """Round ``values`` to multiples of the bin width ``res`` (0: off), stochastically
    with ``sto_round`` (a uniform in [-1/2, 1/2) bins added before rounding)."""
    if res <= 0:
        return values
    scaled = values / res
    if sto_round:
        noise = torch.rand(values.shape, generator=generator, device=values.device,
                           dtype=values.dtype)
        scaled = scaled + (noise - 0.5)
    return torch.round(scaled) * res


def long_train(lr: float, granularity: float, *, desired_bl: int, fixed_bl: bool,
               update_bl_management: bool) -> bool:
    """Whether trains are ``long_train_length`` slots at unit gain: without BL management
    and ``fixed_bl``, where ``desired_bl`` slots of ``granularity`` cannot carry ``lr``."""
    return not (update_bl_management or fixed_bl or granularity * desired_bl >= lr)


def train_mode(lr: float, granularity: float, *, desired_bl: int, fixed_bl: bool,
               update_bl_management: bool) -> int:
    """How the kernels make trains: 0 BL management, 1 ``desired_bl`` slots, 2 a long
    train (``long_train``)."""
    if update_bl_management:
        return 0
    return 2 if long_train(lr, granularity, desired_bl=desired_bl, fixed_bl=fixed_bl,
                           update_bl_management=False) else 1


def long_train_length(lr: float, granularity: float) -> int:
    """The slots of a long train: enough pulses of ``granularity`` for ``lr``."""
    return max(math.ceil(lr / granularity), 1)


def train_gains_torch(x_max: torch.Tensor, d_max: torch.Tensor, lr: float, granularity: float,
                      *, desired_bl: int, fixed_bl: bool, update_management: bool,
                      update_bl_management: bool, um_grad_scale: float):
    """Per rank-1 row: train length ``BL`` (int64, 0 where nothing is to be done) and the
    gains of the x and d sides, from the rows' largest ``|x|`` and ``|d|``."""
    bl, x_gain, d_gain = managed_gains_torch(
        x_max, d_max, lr, granularity, desired_bl=desired_bl,
        long_train=long_train(lr, granularity, desired_bl=desired_bl, fixed_bl=fixed_bl,
                              update_bl_management=update_bl_management),
        update_management=update_management, update_bl_management=update_bl_management,
        um_grad_scale=um_grad_scale)
    return bl.to(torch.int64), x_gain, d_gain


def managed_gains_torch(x_max: torch.Tensor, d_max: torch.Tensor, lr: float,
                        granularity: float, *, desired_bl: int, long_train: bool,
                        update_management: bool, update_bl_management: bool,
                        um_grad_scale: float):
    """Train lengths (float, 0 where nothing is to be done) and the x and d gains of update
    (BL) management; ``long_train``: without BL management, a train of ``ceil(lr /
    granularity)`` slots at unit gain instead of ``desired_bl`` slots."""
    one = torch.ones_like(x_max)
    active = (x_max > 0) & (d_max > 0)
    x_m = torch.where(active, x_max, one)
    d_m = torch.where(active, d_max, torch.ones_like(d_max)) * um_grad_scale
    if update_bl_management:
        bl = torch.ceil(lr * x_m * d_m / granularity).clamp(1, desired_bl)
        amp = torch.sqrt(lr / (granularity * bl))
    elif not long_train:
        bl = torch.full_like(x_m, float(desired_bl))
        amp = torch.sqrt(lr / (granularity * bl))
    else:
        bl = torch.full_like(x_m, float(long_train_length(lr, granularity)))
        amp = one
    if update_management or update_bl_management:
        k = lr * x_m * d_m / granularity
        d_m = torch.where(k > bl, d_m * bl / k, d_m)
        scale = torch.sqrt(x_m / d_m)
        x_gain, d_gain = amp / scale, amp * scale
    else:
        x_gain = d_gain = amp
    bl = torch.where(active & (lr > 0), bl, torch.zeros_like(bl))
    return bl, x_gain, d_gain


def advance_counters(bl: torch.Tensor, slots: torch.Tensor | None,
                     calls: torch.Tensor | None, rows: torch.Tensor | None = None) -> None:
    """The counters a train-making kernel advances for its array (so that the step spends
    no launches on them): ``slots`` takes the trains' lengths, ``calls`` (the call counter
    that keys the update's seed, ``seeds.KeyedSeed``) one more call, ``rows`` (a tile's
    count of rank-1 updates) the rows."""
    if slots is not None:
        slots += bl.sum()
    if calls is not None:
        calls.add_(1)
    if rows is not None:
        rows.add_(bl.shape[-1])


def signed_rows(x_rows: torch.Tensor, d_rows: torch.Tensor, x_sign: torch.Tensor | None,
                d_sign: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows times their lines' signs (exact: the signs are +-1)."""
    if x_sign is not None:
        x_rows = x_rows * x_sign.to(x_rows.dtype)
    if d_sign is not None:
        d_rows = d_rows * d_sign.to(d_rows.dtype)
    return x_rows, d_rows


@dataclass
class RowProbabilities:
    """An input side's signed line probabilities ``(k, in)`` not yet made: its rows (float32,
    ``(k, in)``), its lines' signs (``(in,)`` or None) and each row's gain ``(k,)``, as the
    train kernel computed them (the drawn counts, ``counted_update_cuda``, make the
    probabilities where they read them instead of reading a buffer of them).
    :meth:`materialize` is the twin: :func:`line_probabilities_torch`'s formula."""

    rows: torch.Tensor
    gain: torch.Tensor
    sign: torch.Tensor | None
    res: float

    @property
    def shape(self) -> torch.Size:
        return self.rows.shape

    @property
    def device(self) -> torch.device:
        return self.rows.device

    def materialize(self) -> torch.Tensor:
        """``clip(discretize(|v| * gain), 0, 1) * sign(v)`` of ``v`` the signed rows."""
        x_rows = self.rows if self.sign is None else self.rows * self.sign
        x_p = discretize_torch(x_rows.abs() * self.gain[:, None], self.res, False, None)
        return x_p.clamp(0, 1) * x_rows.sign()


def materialized(x_prob):
    """``x_prob`` as a tensor (a ``RowProbabilities`` or ``LineSteps`` made, a tensor as
    it is)."""
    return x_prob.materialize() if isinstance(x_prob, RowProbabilities | LineSteps) else x_prob


@dataclass
class LineSteps:
    """A buffered transfer write's line probabilities ``(k, L)`` not yet made: each row's
    values (the negated whole steps of H, small integers, as int8) and its line gain
    ``(k,)``, as the write kernel computed them (``transfer_write_cuda.INT8_STEPS``: the
    one-hot line kernel makes the probabilities where it reads them, 1 byte an element read
    and written instead of 4). :meth:`materialize` is the twin: the write's formula
    ``min(|v| * gain, 1) * sign(v)`` (``transfer_write_torch``'s ``line_prob``)."""

    values: torch.Tensor
    gain: torch.Tensor

    @property
    def shape(self) -> torch.Size:
        return self.values.shape

    def materialize(self) -> torch.Tensor:
        return line_probabilities(self.values.to(self.gain.dtype), self.gain[..., None])


def line_probabilities(values: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
    """A transfer write's line probabilities: each value's magnitude times its line's
    ``gain`` (>= 0), at most 1, with the value's sign (the kernels' ``_line_probs``)."""
    return (values.abs() * gain).clamp(0, 1) * values.sign()


def line_probabilities_torch(x_rows: torch.Tensor, d_rows: torch.Tensor, lr: float,
                             granularity: float, *, desired_bl: int, fixed_bl: bool,
                             update_management: bool, update_bl_management: bool,
                             um_grad_scale: float, res: float, sto_round: bool,
                             generator: torch.Generator | None = None,
                             slots: torch.Tensor | None = None,
                             calls: torch.Tensor | None = None,
                             x_sign: torch.Tensor | None = None,
                             d_sign: torch.Tensor | None = None,
                             rows: torch.Tensor | None = None):
    """The stochastic pulse type's trains of the rank-1 updates ``-lr d_rows[k] x_rows[k]^T``:
    signed firing probabilities ``(k, in)``, ``(k, out)`` and lengths ``(k,)`` (int32).

    ``res`` is a bin width (0: off) the scaled probabilities are rounded to, stochastically
    with ``sto_round``; then they are clipped to [0, 1]. ``slots``, ``calls``, ``rows``:
    integer counters advanced as :func:`advance_counters` says. ``x_sign`` ``(in,)``, ``d_sign``
    ``(out,)``: +-1 per line the rows are multiplied by first (a chopped array's choppers).
    """
    x_rows, d_rows = signed_rows(x_rows, d_rows, x_sign, d_sign)
    x_max = x_rows.abs().amax(dim=1)
    d_max = d_rows.abs().amax(dim=1)
    bl, x_gain, d_gain = train_gains_torch(
        x_max, d_max, lr, granularity, desired_bl=desired_bl, fixed_bl=fixed_bl,
        update_management=update_management, update_bl_management=update_bl_management,
        um_grad_scale=um_grad_scale)
    x_p = discretize_torch(x_rows.abs() * x_gain[:, None], res, sto_round, generator)
    d_p = discretize_torch(d_rows.abs() * d_gain[:, None], res, sto_round, generator)
    bl = bl.to(torch.int32)
    advance_counters(bl, slots, calls, rows)
    return x_p.clamp(0, 1) * x_rows.sign(), d_p.clamp(0, 1) * d_rows.sign(), bl


def explicit_trains_torch(a: torch.Tensor, c: torch.Tensor, factor: torch.Tensor):
    """0/1 trains whose coincidences are ``round(factor[k] * a[k, j] * c[k, i])`` exactly.

    Per row the lines of equal value on the side with fewer distinct positive values share
    a group (ties: the ``c`` side); each group, in increasing order of value, gets as many
    slots as its largest count, and a line of the other side fires in the first ``count``
    of them. The deterministic pulse types (``physics/pulses.py``) use it.

    ``a``: ``(k, in)`` and ``c``: ``(k, out)``, both >= 0. Returns ``x_bits (k, L, in)``,
    ``d_bits (k, L, out)`` (uint8) and the train lengths ``(k,)`` (int32).
    """
    k, n_in = a.shape
    n_out = c.shape[1]
    factor = torch.as_tensor(factor, dtype=a.dtype, device=a.device).reshape(-1)
    factor = factor.expand(k) if factor.numel() == 1 else factor
    rows = []
    for b in range(k):
        a_b, c_b, f = a[b], c[b], factor[b]
        group_d = torch.unique(c_b[c_b > 0]).numel() <= torch.unique(a_b[a_b > 0]).numel()
        key, other = (c_b, a_b) if group_d else (a_b, c_b)
        levels = torch.unique(key[key > 0])
        counts = torch.round(f * levels[:, None] * other[None, :])  # (levels, other lines)
        per_level = counts.amax(dim=1).to(torch.int64) if levels.numel() else \
            torch.zeros(0, dtype=torch.int64, device=a.device)
        slot_level = torch.repeat_interleave(torch.arange(levels.numel(), device=a.device),
                                             per_level, output_size=int(per_level.sum()))
        offsets = torch.cumsum(per_level, 0) - per_level
        slot_t = torch.arange(slot_level.numel(), device=a.device) - offsets[slot_level]
        other_bits = counts[slot_level] > slot_t[:, None].to(counts.dtype)
        key_bits = key[None, :] == levels[slot_level][:, None]
        x_b, d_b = (other_bits, key_bits) if group_d else (key_bits, other_bits)
        rows.append((x_b, d_b))
    length = max([r[0].shape[0] for r in rows], default=0)
    x_bits = torch.zeros((k, max(length, 1), n_in), dtype=torch.uint8, device=a.device)
    d_bits = torch.zeros((k, max(length, 1), n_out), dtype=torch.uint8, device=a.device)
    lengths = torch.zeros(k, dtype=torch.int32, device=a.device)
    for b, (x_b, d_b) in enumerate(rows):
        n = x_b.shape[0]
        x_bits[b, :n] = x_b.to(torch.uint8)
        d_bits[b, :n] = d_b.to(torch.uint8)
        lengths[b] = n
    return x_bits, d_bits, lengths


def line_probabilities_grouped_torch(x_rows: torch.Tensor, d_rows: torch.Tensor, n_cols: int,
                                     n_in: int, n_out: int, lr: float, granularity: float,
                                     generator: torch.Generator | None = None, **options):
    """The trains of every tile of a grid (tiles ``n_cols`` to a row): tile ``g`` takes the
    ``n_in`` columns of ``x_rows`` from ``(g % n_cols) * n_in`` and the ``n_out`` columns of
    ``d_rows`` from ``(g // n_cols) * n_out``, each with its own update management
    (:func:`line_probabilities_torch`), its share of the options (:func:`tile_options`).
    Returns them stacked: ``(tiles, k, n_in)``, ``(tiles, k, n_out)``, ``(tiles, k)``."""
    tiles = n_cols * (d_rows.shape[1] // n_out)
    parts = [line_probabilities_torch(x_rows[:, (g % n_cols) * n_in:(g % n_cols + 1) * n_in],
                                      d_rows[:, (g // n_cols) * n_out:(g // n_cols + 1) * n_out],
                                      lr, granularity, generator=generator,
                                      **tile_options(options, g, n_cols, n_in, n_out))
             for g in range(tiles)]
    return tuple(torch.stack(side) for side in zip(*parts, strict=True))


def tile_options(options: dict, g: int, n_cols: int, n_in: int, n_out: int) -> dict:
    """Tile ``g``'s share of a group's line options: the signs ``x_sign``, ``d_sign`` of its
    lines (as wide as the rows: its grid column's and row's; ``(tiles, n)``: its own row)
    and its element of the counters ``slots``, ``calls``, ``rows`` (``(tiles,)``)."""
    mine = dict(options)
    for key, width, at in (("x_sign", n_in, g % n_cols), ("d_sign", n_out, g // n_cols)):
        sign = options.get(key)
        if sign is not None:
            mine[key] = sign[g] if sign.dim() == 2 else sign[at * width:(at + 1) * width]
    for key in ("slots", "calls", "rows"):
        counter = options.get(key)
        if counter is not None:
            mine[key] = counter.reshape(-1)[g:g + 1]
    return mine


def update_each_tile(update, weights: torch.Tensor, cell_params: torch.Tensor,
                     x_prob: torch.Tensor, d_prob: torch.Tensor, bl: torch.Tensor,
                     p: UpdateParams, cell_pulses: torch.Tensor | None,
                     **per_tile) -> torch.Tensor:
    """A group's update as each tile's own ``update`` call, stacked: tile ``g`` gets its slice
    of every tensor and ``key=values[g]`` for each keyword in ``per_tile`` (its generator or
    seed). The grouped twins and the grouped numba updates share this loop."""
    return torch.stack([update(
        weights[g], cell_params[g], x_prob[g], d_prob[g], bl[g], p,
        cell_pulses=None if cell_pulses is None else cell_pulses[g],
        **{key: values[g] for key, values in per_tile.items()})
        for g in range(weights.shape[0])])


def pulsed_update_grouped_torch(weights: torch.Tensor, cell_params: torch.Tensor,
                                x_prob: torch.Tensor, d_prob: torch.Tensor, bl: torch.Tensor,
                                p: UpdateParams, *, generators,
                                cell_pulses: torch.Tensor | None = None) -> torch.Tensor:
    """The pulsed updates of a group of equal tiles (a layer's grid), each its own
    :func:`pulsed_update_torch`: tile ``g`` updates ``weights[g]`` with ``cell_params[g]``
    and the trains ``x_prob[g]``, ``d_prob[g]``, ``bl[g]``, drawing from ``generators[g]``.
    Returns the pulses per tile."""
    return update_each_tile(pulsed_update_torch, weights, cell_params, x_prob, d_prob, bl, p,
                            cell_pulses, generator=generators)



def _one_hot_lines(weight: torch.Tensor, cell_params: torch.Tensor, signed: torch.Tensor,
                   normals: torch.Tensor | None, first: int, columns: bool):
    """A split one-hot write's passes by line (``pulsed_update_cuda._apply_passes``): row
    ``b`` of ``signed`` (``(k, line length)``: ``+n`` pulses up, ``-n`` down) is pass ``b //
    width`` of line position ``i = b % width``, the line ``(first + i) % width`` (a column of
    ``weight`` where ``columns``). Returns the lines' weights ``(lines, length)``, their cell
    parameters ``(rows, lines, length)``, the passes' counts and normals ``(passes, lines,
    length)`` (zeros past the last row) and the line numbers."""
    k, length = signed.shape
    width = weight.shape[1] if columns else weight.shape[0]
    n_lines = min(k, width)
    passes = -(-k // width)
    lines = (first + torch.arange(n_lines, device=weight.device)) % width

    def by_pass(t):
        padded = torch.cat([t, t.new_zeros(passes * width - k, length)])
        return padded.view(passes, width, length)[:, :n_lines]

    xi = by_pass(normals) if normals is not None else \
        torch.zeros(passes, n_lines, length, device=weight.device)
    if columns:
        return weight[:, lines].T, cell_params[:, :, lines].transpose(1, 2), by_pass(signed), \
            xi, lines
    return weight[lines], cell_params[:, lines], by_pass(signed), xi, lines


def _one_hot_lines_back(weight: torch.Tensor, w: torch.Tensor, total: torch.Tensor,
                        cell_pulses: torch.Tensor | None, lines: torch.Tensor,
                        columns: bool) -> int:
    """The lines' weights put back into ``weight`` and their pulses into ``cell_pulses``;
    the pulses' count."""
    if columns:
        weight[:, lines] = w.T
        if cell_pulses is not None:
            cell_pulses[:, lines] += total.T.to(cell_pulses.dtype)
    else:
        weight[lines] = w
        if cell_pulses is not None:
            cell_pulses[lines] += total.to(cell_pulses.dtype)
    return int(total.sum())


def one_hot_passes_torch(weight: torch.Tensor, cell_params: torch.Tensor,
                         signed: torch.Tensor, normals: torch.Tensor | None, first: int,
                         columns: bool, noise_std: float = 0.0,
                         cell_pulses: torch.Tensor | None = None) -> int:
    """A split one-hot write's passes applied to constant steps in order, pass after pass
    per line (``_one_hot_lines``' numbering): each pass's counts in the closed form
    (:func:`constant_train`, its normal from ``normals``) - what
    ``pulsed_update_cuda._one_hot_apply_kernel`` does. ``weight`` (and ``cell_pulses``)
    updated in place; returns the pulses' count."""
    w, p, sc, xi, lines = _one_hot_lines(weight, cell_params, signed, normals, first, columns)
    total = torch.zeros_like(sc[0])
    for r in range(sc.shape[0]):
        counts = sc[r].abs()
        w = constant_train(w, sc[r] > 0, counts.to(torch.float32), p, noise_std, xi[r])
        total += counts
    return _one_hot_lines_back(weight, w, total, cell_pulses, lines, columns)


