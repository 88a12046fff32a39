"""Triton kernel of the chopper-corrected weight reduction (``chopped_weight_ref.py``).

One program per ``BLOCK_M x BLOCK_N`` tile reads A, C and the two sign vectors once and
writes W: one pass over memory instead of the four an eager torch expression makes.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _chopped_weight_kernel(a_ptr, c_ptr, r_ptr, s_ptr, w_ptr, n_out, n_in,
                           sa0, sa1, sc0, sc1, sw0, sw1, g_fast, g_slow,
                           BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    rm = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    m_ok = rm < n_out
    n_ok = rn < n_in
    mask = m_ok[:, None] & n_ok[None, :]
    a = tl.load(a_ptr + rm[:, None] * sa0 + rn[None, :] * sa1, mask=mask, other=0.0)
    c = tl.load(c_ptr + rm[:, None] * sc0 + rn[None, :] * sc1, mask=mask, other=0.0)
    r = tl.load(r_ptr + rm, mask=m_ok, other=0.0)
    s = tl.load(s_ptr + rn, mask=n_ok, other=0.0)
    chopped = (r[:, None] * s[None, :]) * a
    w = g_fast * chopped + g_slow * c
    tl.store(w_ptr + rm[:, None] * sw0 + rn[None, :] * sw1, w, mask=mask)


def chopped_weight_triton(fast: torch.Tensor, slow: torch.Tensor, row_sign: torch.Tensor,
                          col_sign: torch.Tensor, gamma_fast: float, gamma_slow: float,
                          block_m: int = 32, block_n: int = 64) -> torch.Tensor:
    """Same arguments and result as ``chopped_weight_torch``, in one launch."""
    if fast.shape != slow.shape or fast.dim() != 2:
        raise ValueError(f"fast {tuple(fast.shape)} and slow {tuple(slow.shape)} must be "
                         f"equal 2-d shapes")
    n_out, n_in = fast.shape
    if row_sign.numel() != n_out or col_sign.numel() != n_in:
        raise ValueError("row_sign must have out entries and col_sign in entries")
    out = torch.empty_like(fast)
    if out.numel() == 0:
        return out
    row_sign = row_sign.to(fast.dtype).contiguous()
    col_sign = col_sign.to(fast.dtype).contiguous()
    grid = (triton.cdiv(n_out, block_m), triton.cdiv(n_in, block_n))
    _chopped_weight_kernel[grid](
        fast, slow, row_sign, col_sign, out, n_out, n_in,
        fast.stride(0), fast.stride(1), slow.stride(0), slow.stride(1),
        out.stride(0), out.stride(1), float(gamma_fast), float(gamma_slow),
        BLOCK_M=block_m, BLOCK_N=block_n, num_warps=4,
    )
    return out


__all__ = ["chopped_weight_triton"]
