"""Reference twin of ``auto_scale``: the running maxima of |x| and |d| (aihwkit
``updateAutoScale``).

The chopped transfer devices with ``auto_scale`` write A at a pulse-count learning rate
divided by running maxima ``m_x``, ``m_d`` of the largest ``|x|`` and ``|d|`` of the rank-1
rows. An update of ``k`` rows walks them in order, with ``tau = (1 - auto_momentum) / k``::

    v = max_j |x[b, j]|              (likewise for d and m_d)
    m = v                            where m <= 0   (nothing seen yet)
    m = m                            where v <= 0   (an all-zero row leaves it)
    m = (1 - tau) * m + tau * v      otherwise

``m_x`` and ``m_d`` are 0-dim tensors, updated in place, so the state stays where the array
is and a CUDA step never reads it back. They are float64: the host loop this replaced ran in
Python floats, and float64 state keeps the CPU results bit for bit what they were.

This file is the definition the kernels are tested against: Triton on CUDA
(``auto_scale_cuda.py``) and numba on the CPU (``auto_scale_cpu.py``).
"""

from __future__ import annotations

import torch


def auto_scale_torch(x_rows: torch.Tensor, d_rows: torch.Tensor, m_x: torch.Tensor,
                     m_d: torch.Tensor, *, tau: float) -> None:
    """Update ``m_x`` and ``m_d`` (0-dim) in place from the rows ``(k, in)``, ``(k, out)``,
    one row after another."""
    if x_rows.shape[0] != d_rows.shape[0]:
        raise ValueError(f"x_rows {tuple(x_rows.shape)} / d_rows {tuple(d_rows.shape)} differ "
                         f"in rows")
    if x_rows.shape[0] == 0:
        return
    x_max, d_max = x_rows.abs().amax(1), d_rows.abs().amax(1)
    for b in range(x_rows.shape[0]):
        for mean, value in ((m_x, x_max[b]), (m_d, d_max[b])):
            value = value.to(mean.dtype)
            mean.copy_(torch.where(mean <= 0, value, torch.where(
                value <= 0, mean, (1.0 - tau) * mean + tau * value)))


__all__ = ["auto_scale_torch"]
