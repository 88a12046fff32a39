"""Reference twin of the indexed convolution: the im2col gather and its adjoint, col2im.

A convolution on a crossbar runs every patch of every image as one input row of the tile.
Which image elements make up a patch is an index matrix ``index[L, K]`` (patch ``l``'s
element ``k`` sits at ``index[l, k]`` of the flattened image, ``-1`` for zero padding), so
the rows are a gather and need no materialised ``unfold``; the gradient back onto the image
is the gather's adjoint, a sum over the patch elements that read each image element.

That sum is itself a gather: ``inverse[e, j]`` lists the flat row positions ``l * K + k``
that read element ``e`` (``-1`` past the last), ordered by ``k`` and summed from zero in
that order, which is the order of torch's ``col2im`` (``F.fold``), so the sums equal it bit
for bit and no atomic adds are needed on the GPU.
"""

from __future__ import annotations

import torch


def inverse_index(index: torch.Tensor, size: int) -> torch.Tensor:
    """``inverse[size, J]`` of ``index[L, K]`` (entries in ``[-1, size)``): for each image
    element the positions ``l * K + k`` that read it, by increasing ``k``; ``-1`` pads."""
    index = index.to(torch.int64)
    k_count = index.shape[1]
    flat = index.reshape(-1)
    positions = torch.nonzero(flat >= 0).reshape(-1)
    element = flat[positions]
    k = positions % k_count
    # one position per (element, k) at most: a patch element reads one image element
    order = torch.argsort(element * k_count + k)
    positions, element = positions[order], element[order]
    counts = torch.bincount(element, minlength=size)
    width = int(counts.max()) if counts.numel() else 0
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(positions.numel()) - starts[element]
    inverse = torch.full((size, max(width, 1)), -1, dtype=torch.int64)
    inverse[element, slot] = positions
    return inverse


def channel_form(inverse: torch.Tensor, channels: int):
    """``inverse`` (of images of ``channels`` planes) as one channel's positions and a shift:
    ``(first, shift, lo, count)`` where the channels ``lo .. lo + count - 1`` are read at
    ``first[pixel, j] + (c - lo) * shift`` (``first``: channel ``lo``'s ``[plane, J]``, int32,
    ``-1`` where channel ``lo``'s is) and every other channel not at all - a convolution's
    index (``conv_indices``: a patch lists its channels' elements in turn, so the positions
    of channel ``c`` are channel ``lo``'s ``(c - lo) * K / C`` on), a tile of a grid's
    columns taking a range of the channels; None for any other inverse. Checked on the
    host once an index (``set_indexed``); :func:`inverse_of_form` gives ``inverse`` back."""
    size, width = inverse.shape
    if channels <= 0 or size % channels or size == 0:
        return None
    inv = inverse.reshape(channels, size // channels, width)
    used = torch.nonzero((inv >= 0).flatten(1).any(1)).reshape(-1)
    if used.numel() == 0:
        return None
    lo, count = int(used[0]), int(used[-1]) + 1 - int(used[0])
    first = inv[lo]
    valid = first >= 0
    shift = int((inv[lo + 1] - first)[valid][0]) if count > 1 else 0
    form = (first.to(torch.int32), shift, lo, count)
    if (int(first.max()) + shift * (count - 1) >= 2**31
            or not torch.equal(inverse_of_form(form, channels).to(inverse.device), inverse)):
        return None
    return form


def inverse_of_form(form, channels: int) -> torch.Tensor:
    """The inverse ``[channels * plane, J]`` (int64) of a :func:`channel_form`."""
    first, shift, lo, count = form
    plane, width = first.shape
    inv = torch.full((channels, plane, width), -1, dtype=torch.int64, device=first.device)
    c = torch.arange(count, device=first.device).reshape(-1, 1, 1)
    inv[lo:lo + count] = torch.where(first >= 0, first.to(torch.int64) + c * shift, -1)
    return inv.reshape(channels * plane, width)


def im2col_torch(images: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Patch rows ``[N * L, K]`` of ``images`` (``[N, ...]``, flattened per image) by
    ``index[L, K]``; a ``-1`` entry reads zero."""
    flat = images.reshape(images.shape[0], -1)
    flat = torch.cat([flat, flat.new_zeros(flat.shape[0], 1)], 1)  # the padding element
    safe = torch.where(index < 0, flat.shape[1] - 1, index)
    return flat[:, safe].reshape(-1, index.shape[1])


def col2im_torch(rows: torch.Tensor, inverse: torch.Tensor, n: int) -> torch.Tensor:
    """The adjoint of :func:`im2col_torch`: ``[n, size]`` sums of the rows' entries that read
    each image element (``rows``: ``[n * L, K]``), added from zero in ``inverse``'s order."""
    flat = rows.reshape(n, -1)
    flat = torch.cat([flat, flat.new_zeros(n, 1)], 1)
    safe = torch.where(inverse < 0, flat.shape[1] - 1, inverse)
    out = torch.zeros(n, inverse.shape[0], dtype=rows.dtype, device=rows.device)
    for j in range(inverse.shape[1]):  # in order: the sums round as col2im's
        out += flat[:, safe[:, j]]
    return out


__all__ = ["channel_form", "col2im_torch", "im2col_torch", "inverse_index", "inverse_of_form"]
