"""One pulse of a unit cell, for the numba kernels (meaning: ``single_pulse_torch`` in
``pulsed_update_ref.py``).

The pulsed update (``pulsed_update_cpu``) and the line write (``line_write_cpu``) step
elements through the same cell response but draw their noise differently (a hashed counter
per pulse; a sequential stream drawn only when the noise applies), so the response is cut
into three inlined parts: ``pulse_setup`` (once per train of one sign), ``pulse_step`` (the
mean step ``dw`` and the exp cell's factor ``y``) and ``pulse_noise`` (cycle-to-cycle noise
of a drawn normal ``xi``, applied where ``y > 0``). Only scalars come in: their types (the
caller's ``one``/``zero``) fix the arithmetic's precision, so each kernel keeps its own.
The table cell's step (``table_step``) reads its knot table, an array: the kernels call it
beside ``pulse_step`` (``table_array`` gives them the table, or a stand-in for other cells).

numba's cache does not notice edits of a module its kernels inline from: after editing this
file, delete ``kernels/__pycache__/*.nb[ic]``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .layout import CELL_CONSTANT, CELL_EXP, CELL_LINEAR, CELL_POW, CELL_TABLE

_NO_TABLE = np.zeros(4, dtype=np.float32)


def table_array(cell_table, dtype=np.float32) -> np.ndarray:
    """The knot table flattened (``K`` up factors, then ``K`` down factors) as a contiguous
    numpy array of ``dtype``; a stand-in of two knots for cells without one."""
    if cell_table is None:
        return _NO_TABLE if dtype == np.float32 else _NO_TABLE.astype(dtype)
    return np.ascontiguousarray(cell_table.detach().cpu().reshape(-1).numpy(), dtype=dtype)


@njit(cache=True, inline="always")
def pulse_setup(up, kind, w_max, w_min, row_up, row_down, z_scale, amp_up, amp_down, gam_up,
                gam_down, one, zero):
    """What a train of one sign needs: ``(row, z_gain, amp, gam, inv, valid)``.

    ``row_up``/``row_down``: the element's slopes (linear) or exponents (pow); ``z_scale``,
    ``amp_*``, ``gam_*``: the exp cell's ``2 * es_a``, ``a_up``/``a_down``, ``g_up``/``-g_down``.
    """
    span = w_max - w_min
    valid = span > 0
    z_gain = z_scale / span if kind == CELL_EXP and valid else zero
    inv = one / span if kind == CELL_POW and valid else zero
    return ((row_up if up else row_down), z_gain, (amp_up if up else amp_down),
            (gam_up if up else gam_down), inv, valid)


@njit(cache=True, inline="always")
def pulse_step(w, up, step, kind, w_max, w_min, row, z_gain, z_offset, amp, gam, inv, valid,
               one, zero):
    """``(dw, y)``: the mean step of one pulse (``step``: the signed step) on an element at
    ``w``, and the exp cell's response factor ``y`` (``one`` for the other cells)."""
    y = one
    if kind == CELL_CONSTANT:
        dw = step
    elif kind == CELL_LINEAR:
        dw = step * (one - row * w)
    elif kind == CELL_EXP:
        y = max(one - amp * math.exp(gam * (w * z_gain + z_offset)), zero)
        if not valid:
            y = zero
        dw = step * y
    else:  # CELL_POW
        base = max((w_max - w) * inv if up else (w - w_min) * inv, zero)
        dw = step * base ** row
    return dw, y


@njit(cache=True, inline="always")
def table_step(w, step, w_max, w_min, table, offset, knots, one, zero):
    """The table cell's mean step (``table_factor``): ``step`` times the knots
    ``table[offset:offset + knots]`` interpolated at the element's relative state."""
    span = w_max - w_min
    if not span > zero:
        return zero
    real = type(one)  # an integer would promote float32 to float64
    inv = one / span
    pos = min(max((w - w_min) * inv, zero), one) * real(knots - 1)
    q = min(int(pos), knots - 2)
    f = pos - real(q)
    y0 = table[offset + q]
    return step * (y0 + f * (table[offset + q + 1] - y0))


@njit(cache=True, inline="always")
def pulse_noise(dw, w, xi, kind, scale, mult, sigma, one, std_add, std_slope):
    """``dw`` with the cycle-to-cycle noise of the normal ``xi`` (``sigma``: ``noise_std``;
    ``scale``: the unsigned step; ``std_*``: the exp cell's additive and slope terms)."""
    if (kind == CELL_LINEAR or kind == CELL_TABLE) and not mult:
        return dw + sigma * scale * xi
    if kind == CELL_EXP:
        return dw + sigma * (abs(dw) + std_add + std_slope * abs(w)) * xi
    return dw * (one + sigma * xi)


__all__ = ["pulse_noise", "pulse_setup", "pulse_step", "table_array", "table_step"]
