"""Constant and linear steps with the rows split across programs
(``kernels/pulsed_update_cuda.py``, "Few cells, many rows") against the sequential kernel:
the same pulses (exact), the same walk up to float rounding, weights outside their bounds
included. Interpreted on the CPU, compiled on a GPU."""

import pytest
import torch
from pulse_cases import loose
from triton_modules import triton_function

from xbrun.physics.cells import ConstantStep, LinearStep, SoftBounds

# fixed bounds (no device-to-device spread of them), so a walk into one is seen
FIXED = dict(w_max=0.3, w_min=-0.25, w_max_dtod=0.0, w_min_dtod=0.0)


def split_against_sequential(launch, cell, shape, k, max_bl, given, row_chunk, device):
    """Both walks of one random problem: ``(sequential, split)`` as (weight, pulses,
    per-element pulses), and the starting weights."""
    gen = torch.Generator().manual_seed(0)
    m, n = shape
    params = cell.sample((m, n), gen).to(device)
    x = (torch.rand(k, n, generator=gen) - 0.5).to(device)
    d = (torch.rand(k, m, generator=gen) - 0.5).to(device)
    bl = torch.randint(0, max_bl + 1, (k,), generator=gen, dtype=torch.int32).to(device)
    start = 0.2 * torch.randn(m, n, generator=gen)
    start[0, :3] = torch.tensor([0.5, -0.5, 0.29])  # two outside the bounds
    start = start.to(device)
    bits = {}
    if given:
        bits = {"x_bits": (torch.rand(k, max_bl, n, generator=gen) < 0.3).to(device),
                "d_bits": (torch.rand(k, max_bl, m, generator=gen) < 0.3).to(device)}
    out = []
    for rows in (k, row_chunk):  # k rows a chunk: the sequential kernel
        w, worn = start.clone(), torch.zeros(m, n, dtype=torch.int32, device=device)
        pulses = launch(w, params, x, d, bl, seed=5, max_bl=max_bl, row_chunk=rows,
                        cell_pulses=worn, cell_kind=cell.kernel_kind,
                        noise_std=float(cell.noise_std), mult_noise=bool(cell.mult_noise),
                        cell_scalars=tuple(cell.cell_scalars), **bits)
        out.append((w, int(pulses), worn))
    return out, start


CASES = {  # cell, longest train (40: two words a line), given trains, rows per chunk
    "constant_noisy": (ConstantStep(dw_min=0.05, dw_min_std=0.3, **FIXED), 31, False, 4),
    "soft_bounds_noisy": (SoftBounds(dw_min=0.05, dw_min_std=0.3, **FIXED), 31, False, 4),
    "linear_additive_noise_given_two_words": (
        LinearStep(dw_min=0.05, dw_min_std=0.3, mult_noise=False, **FIXED), 40, True, 4),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_interpreted_split_rows_walk_as_the_sequential_kernel(case):
    cell, max_bl, given, row_chunk = CASES[case]
    launch = loose(triton_function("pulsed_update_cuda", "pulsed_update_triton", True))
    (seq, split), start = split_against_sequential(launch, cell, (4, 6), 8, max_bl, given,
                                                   row_chunk, "cpu")
    assert split[1] == seq[1] > 0 and torch.equal(split[2], seq[2])
    torch.testing.assert_close(split[0], seq[0], rtol=0, atol=3e-7)
    assert (seq[0] - start).abs().max() > 0.1  # the walk moved ...
    if not isinstance(cell, SoftBounds):  # (soft bounds near theirs only)
        assert ((seq[0] == 0.3) | (seq[0] == -0.25)).any()  # ... into the bounds
    assert (seq[0][0, :2] != start[0, :2]).all()  # and the two outside came in


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("cell", [ConstantStep(dw_min=0.01), ConstantStep(dw_min=0.01,
                                                                          dw_min_std=0.3),
                                  SoftBounds(dw_min=0.01, dw_min_std=0.3)],
                         ids=["constant", "constant_noisy", "soft_bounds_noisy"])
def test_gpu_split_rows_walk_as_the_sequential_kernel(monkeypatch, cell):
    """A convolution's tile (16 x 27 cells, 131072 rows), compiled: the default split."""
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    launch = loose(triton_function("pulsed_update_cuda", "pulsed_update_triton", False))
    (seq, split), _ = split_against_sequential(launch, cell, (16, 27), 131072, 31, False,
                                               None, "cuda")
    assert split[1] == seq[1] > 0 and torch.equal(split[2], seq[2])
    torch.testing.assert_close(split[0], seq[0], rtol=0, atol=1e-4)
