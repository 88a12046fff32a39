"""Reference twin of the buffered transfer step of TTv2 / chopped TTv2 / AGAD.

A transfer reads ``n`` lines (columns, or rows when transferring rows) of the fast array;
``reads[b]`` is the signal of line ``index[b]``, one value per element of the line. Each
value is de-chopped with the signs the fast array was written with
(``out_sign[i] * in_sign[index[b]]``), scaled, and accumulated into the digital buffer H. Where
``|H|`` reaches the threshold, a whole number of steps (clipped to ``max_steps``) is taken
out of H for writing to the slow array; the rest stays (aihwkit
``rpu_buffered_transfer_device.cpp`` / ``rpu_chopped_transfer_device.cpp`` /
``rpu_dynamic_transfer_device.cpp``)::

    omega = H[i, j] + out_sign[i] * in_sign[j] * reads[b, i] * scale   (H = 0 if no_buffer)
    steps = clip(trunc(omega / threshold), -max_steps, max_steps)
    H[i, j] = omega                                        where steps == 0
            = omega * momentum                             where steps != 0, forget_buffer
            = omega - (1 - momentum) * steps * threshold   where steps != 0, otherwise
              (then clipped to +-buffer_cap * threshold when buffer_cap > 0)

The lines in ``index`` must be distinct. This file is the CPU path and the definition the
Triton kernel is tested against.
"""

from __future__ import annotations

import torch

from .params import BufferParams


def transfer_buffer_torch(buffer: torch.Tensor, reads: torch.Tensor, index: torch.Tensor,
                          out_sign: torch.Tensor, in_sign: torch.Tensor,
                          p: BufferParams) -> torch.Tensor:
    """Update ``buffer`` (``(n_out, n_in)``) in place at the columns ``index`` (``(n,)``).

    reads: ``(n, n_out)``; out_sign ``(n_out,)`` and in_sign ``(n_in,)`` hold +-1.
    p: the step's numbers (``BufferParams``: the names of the formula above).
    Returns the signed whole steps to write, ``(n, n_out)``, as floats.
    """
    scale, threshold, max_steps, momentum, forget_buffer, buffer_cap, no_buffer = p
    sign = out_sign[:, None] * in_sign[index][None, :]
    signal = sign * reads.T * scale
    omega = signal if no_buffer else buffer[:, index] + signal
    steps = torch.trunc(omega / threshold).clamp(-max_steps, max_steps)
    if forget_buffer:
        kept = omega * momentum
    else:
        kept = omega - (1.0 - momentum) * steps * threshold
        if buffer_cap > 0:
            kept = kept.clamp(-buffer_cap * threshold, buffer_cap * threshold)
    buffer[:, index] = torch.where(steps != 0, kept, omega)
    return steps.T.contiguous()
