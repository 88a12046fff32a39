"""The one place where a tile meets autograd: :class:`TileFunction`.

Forward and backward are the tile's noisy MVMs; the weight update is not a gradient. The
backward queues ``(x, d)`` on ``tile.pending`` and ``AnalogSGD.analog_step``
(``nn/optimizer.py``) turns the queue into pulses.
"""

from __future__ import annotations

import torch

from .. import kernels
from .scales import view_along


def sum_in_order(parts):
    """``((p0 + p1) + p2) + ...``: the digital partial sums of a grid in tile order."""
    acc = None
    for part in parts:
        acc = part if acc is None else acc + part
    return acc


def joined(blocks: list[torch.Tensor], dim: int) -> torch.Tensor:
    """A grid's row blocks' outputs side by side; one block as it is (a copy is a launch)."""
    return blocks[0] if len(blocks) == 1 else torch.cat(blocks, dim=dim)


def count_use(owner, analog_ctx) -> None:
    """Before a forward pass: one use of ``owner`` (a tile or a group) whose queue its
    backward will fill, where autograd will run that backward (grad mode, ``analog_ctx``
    requiring grad). Counted here, not in the ``Function``'s forward, which autograd runs
    without grad mode and whose ``needs_input_grad`` is the same under ``no_grad``: an
    evaluation's forward passes would count uses never run backward, and the next
    step's updates would all wait for ``analog_step``. (The instance dict, sparing
    ``nn.Module.__setattr__`` on every pass.)"""
    if analog_ctx.requires_grad and torch.is_grad_enabled():
        uses = owner.__dict__
        uses["backward_uses"] = uses.get("backward_uses", 0) + 1


def queued(owner, tiles) -> None:
    """After a backward pass has queued ``tiles``' ``(x, d)`` and read their weights: one
    use less of ``owner``; at the last one, hand the tiles to the hook the optimizer set
    (``AnalogSGD.updates_in_backward``), which may start their update at once."""
    uses = owner.__dict__.get("backward_uses", 0) - 1
    owner.__dict__["backward_uses"] = max(uses, 0)
    hook = owner.__dict__.get("queued_hook")
    if uses == 0 and hook is not None:
        hook(tiles)


class TileFunction(torch.autograd.Function):
    """The analog part of a tile in autograd: forward and backward are noisy MVMs, the weight
    update is deferred (``(x, d)`` is queued on the tile for the optimizer's ``step``).

    ``analog_ctx`` is the tile's empty parameter: it makes autograd call this backward even
    when ``x`` needs no gradient. ``input_range`` (or None) receives the clip's gradient.
    """

    @staticmethod
    def forward(ctx, x, analog_ctx, input_range, tile):
        ctx.tile = tile
        ctx.has_range = input_range is not None
        ctx.save_for_backward(x)
        # autograd runs this without grad: the unwrapped pass spares a no_grad per call
        return tile._joint_forward(x, not tile.training)

    @staticmethod
    def backward(ctx, d):
        (x,) = ctx.saved_tensors
        tile = ctx.tile
        tile.pending.append((x.detach(), d.detach()))
        grad_x = grad_r = None
        if ctx.needs_input_grad[0] or ctx.has_range:
            ctx.saved_input = x
            grad_x = tile._backward(d, ctx)
            grad_r = getattr(ctx, "grad_input_range", None)
        queued(tile, (tile,))
        return (grad_x if ctx.needs_input_grad[0] else None), None, grad_r, None


class IndexedTileFunction(torch.autograd.Function):
    """:class:`TileFunction` for an indexed (convolution) tile: images in and out
    (``joint_forward_indexed`` / ``backward_indexed``); the backward queues the images for
    ``update_indexed`` (or the forward's rows, ``indexed.KEEP_ROWS``: ``ctx.rows``). The
    index of the forward pass is kept for its backward."""

    @staticmethod
    def forward(ctx, images, analog_ctx, input_range, tile):
        ctx.tile = tile
        ctx.has_range = input_range is not None
        ctx.index = tile._index_of("forward")
        ctx.rows = None
        ctx.save_for_backward(images)
        return tile._joint_forward_indexed(images, not tile.training, index=ctx.index, keep=ctx)

    @staticmethod
    def backward(ctx, d):
        (images,) = ctx.saved_tensors
        tile, index, rows = ctx.tile, ctx.index, ctx.rows
        ctx.rows = None
        tile.queue_indexed(images.detach(), d.detach(), index, rows)
        grad_x = grad_r = None
        if ctx.needs_input_grad[0] or ctx.has_range:
            if ctx.has_range:  # the clip's gradient reads the rows the forward saw
                ctx.saved_input = tile._gather(images, index) if rows is None else rows
            grad_x = tile._backward_indexed(d, ctx, index=index)
            grad_r = getattr(ctx, "grad_input_range", None)
        queued(tile, (tile,))
        return (grad_x if ctx.needs_input_grad[0] else None), None, grad_r, None


class GridFunction(torch.autograd.Function):
    """:class:`TileFunction` for a whole grid of equal tiles read as one group
    (``grouped.py``): forward and backward are every tile's MVMs at once; the backward
    queues each tile's share of ``(x, d)`` on that tile, as its own backward would.
    ``analog_ctx`` is the first tile's empty parameter (it makes autograd call this
    backward when ``x`` needs no gradient)."""

    @staticmethod
    def forward(ctx, x, analog_ctx, group):
        ctx.group = group
        ctx.save_for_backward(x)
        return group.forward(x)

    @staticmethod
    def backward(ctx, d):
        (x,) = ctx.saved_tensors
        group = ctx.group
        group.queue(x.detach(), d.detach())
        grad_x = group.backward(d) if ctx.needs_input_grad[0] else None
        queued(group, group.grid.tiles)
        return grad_x, None, None


class ScaledGridFunction(torch.autograd.Function):
    """:class:`GridFunction` for a group whose tiles learn output scales
    (``scales.OutScalesFunction``'s backward): each tile's outputs times its scales, partial sums in
    ``sum_in_order``'s order, as the tiles' own forward passes give them; the backward
    gives each tile its error times its scales and the scales' gradient
    (``kernels.out_scales_backward``), queues them on the tile (the tiles then update one
    by one: their errors differ) and reads every tile's error through the group."""

    @staticmethod
    def forward(ctx, x, analog_ctx, group, *betas):
        ctx.group = group
        parts = group.parts(x)
        ctx.save_for_backward(x, parts, *betas)
        n_rows, n_cols = group.grid.shape
        return joined([sum_in_order(parts[i, j] * view_along(betas[i * n_cols + j], 2, -1)
                                    for j in range(n_cols)) for i in range(n_rows)], dim=-1)

    @staticmethod
    def backward(ctx, d):
        x, parts, *betas = ctx.saved_tensors
        group = ctx.group
        grid = group.grid
        n_cols = grid.shape[1]
        ds = d.split(grid.out_splits, dim=-1)
        xs = x.detach().split(grid.in_splits, dim=-1)
        errors, grads = [], []
        for g, tile in enumerate(grid.tiles):
            i, j = divmod(g, n_cols)
            error, grad = kernels.out_scales_backward(ds[i], parts[i, j], betas[g])
            tile.pending.append((xs[j], error))
            errors.append(error)
            grads.append(grad)
        group._queued = None  # each tile's own error: no grouped update
        grad_x = None
        if ctx.needs_input_grad[0]:
            grad_x = group.backward(torch.cat(errors, dim=-1), per_tile=True)
        queued(group, grid.tiles)
        return (grad_x, None, None, *grads)
