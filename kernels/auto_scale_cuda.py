"""Triton kernel of ``auto_scale``'s running maxima (meaning: ``auto_scale_ref.py``).

The rows' largest |x| and |d| come from one torch reduction each; then one program walks
the k rows, ``BLOCK`` at a time, reading and writing the 0-dim state ``m_x``, ``m_d`` on the
device, so a training step never waits for them (the host loop it replaced read the maxima
back every update).

Within a block the rows are not walked one by one: each row is the map ``m -> a m + b`` the
twin's branches give it (``(1 - tau, tau v)`` for a row the mean takes in, ``(1, 0)`` for a
row with ``v <= 0``, ``(0, v)`` while the mean is still ``<= 0``: the rows up to the first
one it takes in), and an ordered scan composes the block's maps. That is the twin's loop
up to the rounding of the composed products (float64, ~1e-16), and costs one pass instead
of k dependent loads.
"""

from __future__ import annotations

import struct

import torch
import triton
import triton.language as tl


@triton.jit
def _then(a1, b1, a2, b2):
    """The map ``m -> a1 m + b1`` followed by ``m -> a2 m + b2``."""
    return a1 * a2, a2 * b1 + b2


@triton.jit
def _block_ema(v, ok, mean, tau, BLOCK: tl.constexpr):
    """``mean`` after the rows ``v`` (``ok``: rows that exist) of one block."""
    take = ok & ~(v <= 0.0)  # rows the mean takes in (a NaN as well, as the twin does)
    taken = take.to(tl.int32)
    empty = (tl.zeros((BLOCK,), tl.float64) + mean) <= 0.0  # (broadcast: the interpreter)
    fresh = ok & empty & ((tl.cumsum(taken, 0) - taken) == 0)  # the mean becomes v
    a = tl.where(fresh, 0.0, tl.where(take, 1.0 - tau, 1.0))
    b = tl.where(fresh, v, tl.where(take, tau * v, 0.0))
    a, b = tl.associative_scan((a, b), 0, _then)
    last = tl.arange(0, BLOCK) == BLOCK - 1  # the padding rows are identity maps
    return tl.sum(tl.where(last, a, 0.0), 0) * mean + tl.sum(tl.where(last, b, 0.0), 0)


@triton.jit
def _auto_scale_kernel(x_max_ptr, d_max_ptr, m_x_ptr, m_d_ptr, k, tau_bits,
                       BLOCK: tl.constexpr):
    tau = tau_bits.to(tl.int64).to(tl.float64, bitcast=True)
    m_x = tl.load(m_x_ptr).to(tl.float64)
    m_d = tl.load(m_d_ptr).to(tl.float64)
    for k0 in range(0, k, BLOCK):
        i = k0 + tl.arange(0, BLOCK)
        ok = i < k
        x = tl.load(x_max_ptr + i, mask=ok, other=0.0).to(tl.float64)
        d = tl.load(d_max_ptr + i, mask=ok, other=0.0).to(tl.float64)
        m_x = _block_ema(x, ok, m_x, tau, BLOCK)
        m_d = _block_ema(d, ok, m_d, tau, BLOCK)
    tl.store(m_x_ptr, m_x)
    tl.store(m_d_ptr, m_d)


def _bits(value: float) -> int:
    """A float64's bits as an int: Triton passes a Python float as float32."""
    return struct.unpack("<q", struct.pack("<d", float(value)))[0]


def auto_scale_triton(x_rows: torch.Tensor, d_rows: torch.Tensor, m_x: torch.Tensor,
                      m_d: torch.Tensor, *, tau: float, block: int = 1024) -> None:
    """Same arguments and effect as ``auto_scale_torch`` (float64 0-dim ``m_x``, ``m_d``
    on the rows' device), in three launches and no host sync."""
    k = x_rows.shape[0]
    if d_rows.shape[0] != k:
        raise ValueError(f"x_rows {tuple(x_rows.shape)} / d_rows {tuple(d_rows.shape)} differ "
                         f"in rows")
    if m_x.dtype != torch.float64 or m_d.dtype != torch.float64:
        raise ValueError("m_x and m_d must be float64")
    if k == 0:
        return
    inf = float("inf")
    x_max = torch.linalg.vector_norm(x_rows, inf, dim=1)  # max |x| per row, NaN as amax
    d_max = torch.linalg.vector_norm(d_rows, inf, dim=1)
    block = min(block, max(128, triton.next_power_of_2(k)))  # few compiled variants
    _auto_scale_kernel[(1,)](x_max, d_max, m_x, m_d, k, _bits(tau), BLOCK=block,
                             num_warps=4 if block >= 256 else 1)


__all__ = ["auto_scale_triton"]
