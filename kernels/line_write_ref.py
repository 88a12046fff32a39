"""Reference twin of the line write: pulsing a few whole lines of an array at once.

A transfer writes line ``index[b]`` of an array (a column, or a row when ``columns`` is
false) with a one-hot vector on one side and the line's values on the other. In each of
``bl[b]`` slots the one-hot line fires with probability ``|one_prob[b]|`` and element ``i``
of the written line with ``|line_prob[b, i]|``; every coincidence is one pulse. The one-hot
side is positive, so an element is pulsed up where ``line_prob[b, i] < 0`` (the direction
of ``-sign(x d)``, as in ``pulsed_update_ref``). Given ``counts`` (the deterministic pulse
types) replace the draws. The pulses of an element go one after another through the cell
(``single_pulse_torch``: response, cycle-to-cycle noise, bounds).

This is what a full-array pulsed update with one-hot vectors does to the written lines, at
the cost of those lines alone. The lines in ``index`` must be distinct. This file is the
definition the numba kernel (``line_write_cpu``) is tested against.
"""

from __future__ import annotations

import torch

from .params import LineWriteParams
from .pulsed_update_ref import single_pulse_torch


def line_write_torch(weight: torch.Tensor, cell_params: torch.Tensor, index: torch.Tensor,
                     one_prob: torch.Tensor, line_prob: torch.Tensor, bl: torch.Tensor,
                     p: LineWriteParams, *, generator: torch.Generator | None = None,
                     counts: torch.Tensor | None = None,
                     cell_pulses: torch.Tensor | None = None) -> torch.Tensor:
    """Pulse lines ``index`` (``(n,)``) of ``weight`` (``(out, in)``) in place.

    one_prob ``(n,)``; line_prob ``(n, L)`` with ``L`` = out for columns, in for rows
    (``p.columns``); bl ``(n,)`` train lengths; p: the cell (with ``CELL_TABLE``'s knots)
    and the lines' direction;
    counts: optional given ``(n, L)`` pulse counts; cell_pulses: optional integer
    ``(out, in)`` per-element counter the pulses are added to. Returns the number of
    pulses applied (0-dim int64).
    """
    cell_kind, noise_std, mult_noise, cell_scalars, cell_table = p.cell
    columns = p.columns
    n = index.numel()
    zero = torch.zeros((), dtype=torch.int64, device=weight.device)
    if n == 0:
        return zero
    if counts is None:
        length = int(bl.max())
        if length == 0:
            return zero
        slots = torch.arange(length, device=bl.device)[None, :] < bl[:, None]
        fire = torch.rand((n, length), generator=generator, device=weight.device)
        one = (fire < one_prob.abs()[:, None]) & slots
        fire = torch.rand((n, length, line_prob.shape[1]), generator=generator,
                          device=weight.device)
        counts = (one[:, :, None] & (fire < line_prob.abs()[:, None, :])).sum(1)
    up = line_prob < 0
    if columns:
        old, params, counts, up = weight[:, index], cell_params[:, :, index], counts.T, up.T
    else:
        old, params = weight[index, :], cell_params[:, index, :]
    new = old
    for p in range(int(counts.max()) if counts.numel() else 0):
        xi = (torch.randn(new.shape, generator=generator, device=new.device, dtype=new.dtype)
              if noise_std > 0 else None)
        stepped = single_pulse_torch(new, up, params, cell_kind=cell_kind, noise_std=noise_std,
                                     mult_noise=mult_noise, xi=xi, cell_scalars=cell_scalars,
                                     cell_table=cell_table)
        new = torch.where(counts > p, stepped, new)
    if columns:
        weight[:, index] = new
    else:
        weight[index, :] = new
    if cell_pulses is not None:  # the lines are distinct: no index is added twice
        if columns:
            cell_pulses[:, index] += counts.to(cell_pulses.dtype)
        else:
            cell_pulses[index, :] += counts.to(cell_pulses.dtype)
    return counts.sum().to(torch.int64)


__all__ = ["line_write_torch"]
