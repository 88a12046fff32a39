"""The indexed convolution's gather and col2im on the CPU (meaning: ``im2col_ref.py``).

One compiled pass each, in the twin's order, so bit for bit the twin (and torch's
``col2im``). The twin pads the image with a zero column and gathers through a clamped
index (two copies of the input and one of the index per call), and its col2im adds one
column of ``inverse`` at a time over the whole batch; here each image element is read
where it is needed and each sum is kept in a register.
"""

from __future__ import annotations

import numba
import torch
from numba import njit, prange

#: below this many elements one thread does it (a parallel launch costs more than it saves)
PARALLEL_MIN_ELEMENTS = 1 << 16


@njit(cache=True, inline="always")
def _im2col_image(flat, index, out, b):
    patches, width = index.shape[0], index.shape[1]
    for p in range(patches):
        row = b * patches + p
        for k in range(width):
            e = index[p, k]
            out[row, k] = flat[b, e] if e >= 0 else 0.0


@njit(cache=True, inline="always")
def _col2im_image(flat, inverse, out, b):
    for e in range(inverse.shape[0]):
        acc = out.dtype.type(0.0)
        for j in range(inverse.shape[1]):  # from zero, in inverse's order: col2im's rounding
            p = inverse[e, j]
            if p >= 0:
                acc += flat[b, p]
        out[b, e] = acc


@njit(cache=True, inline="always")
def _image(gather, flat, table, out, b):
    """Image ``b``: gathered by ``index`` (``gather``), or summed back by ``inverse``."""
    if gather:
        _im2col_image(flat, table, out, b)
    else:
        _col2im_image(flat, table, out, b)


@njit(cache=True)
def _serial(gather, flat, table, out, n):
    for b in range(n):
        _image(gather, flat, table, out, b)


@njit(cache=True, parallel=True)
def _parallel_images(gather, flat, table, out, n):
    for b in prange(n):
        _image(gather, flat, table, out, b)


def _parallel(n: int, elements: int) -> bool:
    """Whether to split the images over threads (torch's count, as the other kernels)."""
    if n < 2 or elements < PARALLEL_MIN_ELEMENTS or torch.get_num_threads() < 2:
        return False
    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
    return True


def im2col_numba(images: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Same arguments and result as ``im2col_torch`` (CPU tensors; int64 ``index``)."""
    flat = images.detach().reshape(images.shape[0], -1).contiguous()
    out = torch.empty(flat.shape[0] * index.shape[0], index.shape[1], dtype=flat.dtype)
    if out.numel():
        run = _parallel_images if _parallel(flat.shape[0], out.numel()) else _serial
        run(True, flat.numpy(), index.contiguous().numpy(), out.numpy(), flat.shape[0])
    return out


def col2im_numba(rows: torch.Tensor, inverse: torch.Tensor, n: int) -> torch.Tensor:
    """Same arguments and result as ``col2im_torch`` (CPU tensors; int64 ``inverse``)."""
    flat = rows.detach().reshape(n, -1).contiguous()
    out = torch.empty(n, inverse.shape[0], dtype=flat.dtype)
    if out.numel():
        run = _parallel_images if _parallel(n, flat.numel()) else _serial
        run(False, flat.numpy(), inverse.contiguous().numpy(), out.numpy(), n)
    return out


__all__ = ["col2im_numba", "im2col_numba"]
