"""Reference twin of the reads' write noise: what reads see of the elements a write changed.

Under a cell's write noise the pulses move a hidden conductance ``stored``; the read weight
of each element the write changed (``stored != before``) becomes ``stored - reference``
(a reference cell; ``stored`` itself without one) plus ``write_noise * noise``, ``noise``
standard normals drawn by the caller for the whole part; the other elements keep their
read weight. This file is the definition the numba kernel (``noisy_reads_cpu``) is tested
against.
"""

from __future__ import annotations

import torch


def noisy_reads_torch(weight: torch.Tensor, stored: torch.Tensor, before: torch.Tensor,
                      reference: torch.Tensor | None, noise: torch.Tensor,
                      write_noise: float) -> None:
    """Redraw ``weight`` (a part of the read weight, written in place) where ``stored``
    differs from ``before``; all tensors of ``weight``'s shape."""
    read = stored if reference is None else stored - reference
    weight.copy_(torch.where(stored != before, read + write_noise * noise, weight))
