"""A CUDA update seed made from its key in one launch (meaning: ``seeds.KeyedSeed.tensor``
and ``seeds.array_device_seeds``, the torch twin).

The counted update's kernels (``counted_update_cuda``: the drawn counts, the planes, the
apply) read their seed from a device tensor; an array keeps only its call counter there
(advanced by the trains' kernel), so each update made the seed ``(calls * CALL_STEP +
offset) & MASK31`` by three torch launches (a multiply, an add, an and): 81 of the ResNet
step's ~800 launches (27 updates). ``_keyed_seeds_kernel`` makes it in one.

Expected speed (issue 27's ResNet, ``update.accumulate=batch``): each launch in a replayed
CUDA graph costs ~1-2 us whatever it does (these move 16 bytes), so 2 x 27 = 54 launches
fewer a step is ~50-100 us of the ~1.8 ms a step has to lose; the seeds are the same
integers, so the numbers are the same bit for bit.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import seeds

# On: the counted update's seed made by ``_keyed_seeds_kernel`` (one launch); off: by
# ``KeyedSeed.tensor`` (three torch launches). The same integers. Off until a GPU times it
# (``bench_switches`` ``keyed-seeds``).
KEYED_SEED_KERNEL = False

_CALL_STEP = tl.constexpr(seeds.CALL_STEP)
_MASK31 = tl.constexpr(seeds.MASK31)


@triton.jit(do_not_specialize=["offset"])
def _keyed_seeds_kernel(calls_ptr, offsets_ptr, out_ptr, offset, n,
                        PER_ELEMENT: tl.constexpr, BLOCK: tl.constexpr):
    """``out[g] = (calls[g] * CALL_STEP + offsets[g]) & MASK31`` (``PER_ELEMENT``; else
    the one ``offset``) for ``g < n``, in int64 as the twin."""
    g = tl.arange(0, BLOCK)
    ok = g < n
    calls = tl.load(calls_ptr + g, mask=ok, other=0).to(tl.int64)
    if PER_ELEMENT:
        add = tl.load(offsets_ptr + g, mask=ok, other=0).to(tl.int64)
    else:
        add = offset.to(tl.int64)
    tl.store(out_ptr + g, (calls * _CALL_STEP + add) & _MASK31, mask=ok)


def keyed_seeds_triton(calls: torch.Tensor, offsets: int | torch.Tensor) -> torch.Tensor:
    """``seeds.array_device_seeds(calls, offsets)`` (``offsets`` a tensor like ``calls``) or
    ``KeyedSeed(calls, offsets).tensor()`` (an int) in one launch: int64 ``calls`` on the
    device (one element per array), a new int64 tensor of their shape."""
    if calls.dtype != torch.int64 or not calls.is_contiguous():
        raise ValueError("keyed seeds take a contiguous int64 call counter")
    per_element = isinstance(offsets, torch.Tensor)
    if per_element and (offsets.shape != calls.shape or offsets.dtype != torch.int64
                        or offsets.device != calls.device or not offsets.is_contiguous()):
        raise ValueError("keyed seeds' offsets must be int64 like their call counters")
    out = torch.empty_like(calls)
    n = calls.numel()
    if n:
        _keyed_seeds_kernel[(1,)](calls, offsets if per_element else calls, out,
                                  0 if per_element else int(offsets), n,
                                  PER_ELEMENT=per_element,
                                  BLOCK=max(16, triton.next_power_of_2(n)))
    return out


def keyed_seed(key: seeds.KeyedSeed) -> torch.Tensor:
    """``key.tensor()``: by the kernel where ``KEYED_SEED_KERNEL`` is on and the counter is
    on CUDA, else by the twin's three launches."""
    if KEYED_SEED_KERNEL and key.calls.is_cuda:
        return keyed_seeds_triton(key.calls, key.offset)
    return key.tensor()


def keyed_seeds(calls: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """``seeds.array_device_seeds(calls, offsets)``, by the kernel as :func:`keyed_seed`."""
    if KEYED_SEED_KERNEL and calls.is_cuda:
        return keyed_seeds_triton(calls, offsets)
    return seeds.array_device_seeds(calls, offsets)


__all__ = ["keyed_seed", "keyed_seeds", "keyed_seeds_triton"]
