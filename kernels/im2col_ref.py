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


__all__ = ["col2im_torch", "im2col_torch", "inverse_index"]
