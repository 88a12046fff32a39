"""Reference twin of mixed precision's digital step for a grid of tiles (``device=
mixed_precision``, ``xbrun/tiles/grouped.py``'s ``_mixed_update``).

Mixed precision (``xbrun/devices/mixed_precision.py``) sums each tile's outer products
``lr * d^T x`` into its float32 matrix chi; when a transfer falls due with every row of chi
(``n_rows_per_transfer = -1``, the default), each element's whole steps ``trunc(chi /
granularity)`` are taken out of chi and written, negated, to the analog array. Tile by
tile that is ~16 launches a tile and step (an ``addmm``, a gather, ``div``, ``trunc``,
``mul``, ``sub``, the scatter back, a ``neg``, the walk's line numbers), so at
784-4096-4096-10 (88 tiles of 512) ~1,400 launches on the side streams. Here the grid's
increment is one matmul over the whole layer (``inc = d^T x``, ``[out, in]``, unscaled),
and this step makes every tile's chi update, steps and written amounts in one pass
(``chi_steps_cuda``: one launch).

Arithmetic (what the kernel does, float32, each operation rounded once): ``omega = chi +
inc * lr``; with a write, ``q = omega / granularity`` (IEEE), ``steps = trunc(q)``, chi
keeps ``omega - steps * granularity`` where ``steps != 0`` (else ``omega``), and the
amounts are ``-steps`` in the tile's run order: row ``b`` of tile ``g`` is chi's row
``(start[g] + b) % rows`` (``start``: the walk's first line, a device tensor). The tile
by tile path computes ``chi + lr * (d^T x)`` in cuBLAS's epilogue instead: the same value
up to the rounding of that product (exact where ``lr`` is a power of two).
"""

from __future__ import annotations

import torch


def chi_steps_torch(chi: torch.Tensor, inc: torch.Tensor, n_cols: int, lr: float,
                    granularity: float, start: torch.Tensor | None = None
                    ) -> torch.Tensor | None:
    """Every tile's ``chi`` (``(tiles, rows, cols)``, in place) plus its block of ``inc``
    (``[grid rows * rows, n_cols * cols]``; tile ``g`` is block ``(g // n_cols, g %
    n_cols)``) times ``lr``; with ``start`` (``(tiles,)`` int64), the whole steps taken out
    and returned as amounts ``(tiles, rows, cols)`` in run order (module doc); else None."""
    tiles, rows, cols = chi.shape
    n_rows = tiles // n_cols
    if n_rows * n_cols != tiles or tuple(inc.shape) != (n_rows * rows, n_cols * cols):
        raise ValueError(f"chi_steps: a {tuple(inc.shape)} increment is not a grid of "
                         f"{tiles} tiles of {rows} x {cols} with {n_cols} columns")
    blocks = inc.view(n_rows, rows, n_cols, cols).permute(0, 2, 1, 3).reshape(tiles, rows,
                                                                              cols)
    lr32 = torch.tensor(lr, dtype=torch.float32)
    omega = chi + blocks * lr32.to(chi.device)
    if start is None:
        chi.copy_(omega)
        return None
    g32 = torch.tensor(granularity, dtype=torch.float32).to(chi.device)
    steps = torch.trunc(omega / g32)
    chi.copy_(torch.where(steps != 0, omega - steps * g32, omega))
    order = (start.to(torch.int64).view(tiles, 1) + torch.arange(rows, device=chi.device)) % rows
    return -torch.gather(steps, 1, order.view(tiles, rows, 1).expand(tiles, rows, cols))





def chi_write_torch(chi, inc, n_cols, lr, granularity, start, weights, cell_params, p, cell, *,
                    generators, key=None, max_bl=None, add_to=None, train_slots=None,
                    calls=None, cell_pulses=None):
    """:func:`chi_steps_torch` with a write, then the grid's row writes of the amounts
    (``transfer_lines_grouped_torch``, each tile drawing from ``generators[g]``; ``key``
    and ``max_bl``: the Triton kernels' only): what ``chi_steps_cuda.chi_write_triton``
    makes in two launches. Returns the pulses per tile, or ``add_to`` with them added."""
    from .transfer_write_ref import transfer_lines_grouped_torch

    amounts = chi_steps_torch(chi, inc, n_cols, lr, granularity, start)
    extra = {} if calls is None else {"calls": calls}
    return transfer_lines_grouped_torch(weights, cell_params, amounts, start, p, cell,
                                        generators=generators, add_to=add_to,
                                        cell_pulses=cell_pulses, train_slots=train_slots,
                                        **extra)

__all__ = ["chi_steps_torch", "chi_write_torch"]
