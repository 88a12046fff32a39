"""The reads' write noise on the CPU: one numba pass (meaning: ``noisy_reads_ref.py``).

The twin makes five temporaries the size of the written part (difference, scaled noise,
sum, mask, choice) and copies the choice back; here each element is compared and, where
the write changed it, redrawn in place, in float32 as torch computes it (the scale rounded
to float32, as torch takes a Python scalar for a float32 tensor): the same numbers bit for
bit.
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit


@njit(cache=True)
def _noisy_reads(weight, stored, before, reference, noise, scale, has_reference):
    rows, cols = weight.shape
    for i in range(rows):
        for j in range(cols):
            s = stored[i, j]
            if s != before[i, j]:
                read = s - reference[i, j] if has_reference else s
                weight[i, j] = read + scale * noise[i, j]


def noisy_reads_numba(weight: torch.Tensor, stored: torch.Tensor, before: torch.Tensor,
                      reference: torch.Tensor | None, noise: torch.Tensor,
                      write_noise: float) -> None:
    """``noisy_reads_torch`` on float32 CPU tensors (views allowed)."""
    ref = stored if reference is None else reference
    _noisy_reads(weight.numpy(), stored.numpy(), before.numpy(), ref.numpy(), noise.numpy(),
                 np.float32(write_noise), reference is not None)
