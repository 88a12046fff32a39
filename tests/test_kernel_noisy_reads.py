"""``kernels.noisy_reads``: the numba pass against its torch twin, bit for bit."""

import pytest
import torch
from xbrun.kernels import backends

pytestmark = pytest.mark.skipif(not backends.HAVE_NUMBA, reason="numba not installed")


@pytest.mark.parametrize(("part", "with_reference"), [(slice(None), True),
                                                      (slice(2, 5), False)])
def test_numba_redraws_as_the_twin(part, with_reference):
    """Changed elements of a whole array or of a column slice (strided views) get
    ``stored - reference + write_noise * noise``, the others keep their reads."""
    gen = torch.Generator().manual_seed(0)
    stored, reference, noise, weight = (torch.randn(6, 7, generator=gen) for _ in range(4))
    before = stored.clone()
    before[::2] += 0.5  # half the rows changed
    reference = reference[:, part] if with_reference else None
    out = {}
    for backend in (backends.TORCH, backends.NUMBA):
        w = weight.clone()
        run = backends.implementation("noisy_reads", backend)
        run(w[:, part], stored[:, part], before[:, part], reference, noise[:, part], 0.0731)
        out[backend] = w
    assert torch.equal(out[backends.NUMBA], out[backends.TORCH])
    kept = torch.ones(6, 7, dtype=torch.bool)
    kept[::2, part] = False
    assert torch.equal(out[backends.NUMBA][kept], weight[kept])
    assert not torch.equal(out[backends.NUMBA], weight)
