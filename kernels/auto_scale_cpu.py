"""``auto_scale``'s running maxima on the CPU (meaning: ``auto_scale_ref.py``).

One compiled pass over the rows: their largest |x| and |d| and the running maxima, in the
twin's float64 operations and order (so bit for bit the twin's). The twin's loop costs a
handful of torch operations per row, the host loop it replaced a read-back and a Python
iteration per row; this costs one call per update.
"""

from __future__ import annotations

import torch
from numba import njit


@njit(cache=True)
def _row_max(rows, b):
    """``max_j |rows[b, j]|`` as a float64, NaN if any is (as ``amax``)."""
    top = 0.0
    for j in range(rows.shape[1]):
        v = float(abs(rows[b, j]))
        if v != v:
            return v
        top = max(top, v)
    return top


@njit(cache=True)
def _ema(mean, value, tau):
    if mean <= 0:
        return value
    if value <= 0:
        return mean
    return (1.0 - tau) * mean + tau * value


@njit(cache=True)
def _auto_scale(x, d, m_x, m_d, tau):
    for b in range(x.shape[0]):
        m_x[0] = _ema(m_x[0], _row_max(x, b), tau)
        m_d[0] = _ema(m_d[0], _row_max(d, b), tau)


def auto_scale_numba(x_rows: torch.Tensor, d_rows: torch.Tensor, m_x: torch.Tensor,
                     m_d: torch.Tensor, *, tau: float) -> None:
    """Same arguments and effect as ``auto_scale_torch``: float32 CPU rows, float64 0-dim
    ``m_x``, ``m_d`` (updated in place)."""
    if x_rows.shape[0] != d_rows.shape[0]:
        raise ValueError(f"x_rows {tuple(x_rows.shape)} / d_rows {tuple(d_rows.shape)} differ "
                         f"in rows")
    if m_x.dtype != torch.float64 or m_d.dtype != torch.float64:
        raise ValueError("m_x and m_d must be float64")
    if x_rows.shape[0] == 0:
        return
    _auto_scale(x_rows.detach().contiguous().numpy(), d_rows.detach().contiguous().numpy(),
                m_x.detach().numpy().reshape(1), m_d.detach().numpy().reshape(1), float(tau))


__all__ = ["auto_scale_numba"]
