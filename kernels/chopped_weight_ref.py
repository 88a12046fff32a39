"""Reference twin of the weight a transfer device shows: ``W = g_f * A_true + g_s * C``.

The fast array of a chopped device stores ``A_stored[i, j] = r_i c_j A_true[i, j]``, where
``r`` and ``c`` (each +1 or -1) are the output and input chopper signs in force. The weight
that forward and backward passes see must undo them element by element,
``W[i, j] = g_f * r_i c_j * A_stored[i, j] + g_s * C[i, j]``; forming
``g_f * A_stored + g_s * C`` instead is the bug aihwkit's PR 764 fixes. With all signs +1 this
is the plain Tiki-taka reduction.

This file is the CPU path and the definition the Triton kernel is tested against.
"""

from __future__ import annotations

import torch


def chopped_weight_torch(fast: torch.Tensor, slow: torch.Tensor, row_sign: torch.Tensor,
                         col_sign: torch.Tensor, gamma_fast: float,
                         gamma_slow: float) -> torch.Tensor:
    """``gamma_fast * (row_sign x col_sign) * fast + gamma_slow * slow`` as a new tensor.

    fast, slow: ``(out, in)``; row_sign ``(out,)`` and col_sign ``(in,)`` hold +-1.
    """
    chopped = (row_sign[:, None] * col_sign[None, :]) * fast
    return gamma_fast * chopped + gamma_slow * slow
