"""Constant steps with the rows split across programs (``kernels/pulsed_update_cuda.py``,
"Few cells, many rows") against the sequential kernel: the same pulses (exact), the same
walk up to float rounding, weights outside their bounds included. Interpreted on the CPU,
compiled on a GPU."""

import os

import torch

if not torch.cuda.is_available():  # before triton is first imported
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402
from triton_modules import triton_function  # noqa: E402

from xbrun.physics.cells import ConstantStep  # noqa: E402


def split_against_sequential(launch, shape, k, max_bl, noise, given, row_chunk, device):
    """Both walks of one random problem: ``(sequential, split)`` as (weight, pulses,
    per-element pulses), and the starting weights."""
    cell = ConstantStep(dw_min=0.05, dw_min_std=noise, w_max=0.3, w_min=-0.25, w_max_dtod=0.0,
                        w_min_dtod=0.0)
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
                        **bits)
        out.append((w, int(pulses), worn))
    return out, start


@pytest.mark.parametrize(("max_bl", "noise", "given", "row_chunk"),
                         [(31, 0.3, False, 4), (40, 0.0, True, 8)],
                         ids=["drawn_noisy", "given_trains_two_words"])
def test_interpreted_split_rows_walk_as_the_sequential_kernel(max_bl, noise, given, row_chunk):
    launch = triton_function("pulsed_update_cuda", "pulsed_update_triton", True)
    (seq, split), start = split_against_sequential(launch, (4, 6), 12, max_bl, noise, given,
                                                   row_chunk, "cpu")
    assert split[1] == seq[1] > 0 and torch.equal(split[2], seq[2])
    torch.testing.assert_close(split[0], seq[0], rtol=0, atol=3e-7)
    assert (seq[0] - start).abs().max() > 0.1  # the walk moved ...
    assert ((seq[0] == 0.3) | (seq[0] == -0.25)).any()  # ... into the bounds
    assert (seq[0][0, :2] != start[0, :2]).all()  # and the two outside came in


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_gpu_split_rows_walk_as_the_sequential_kernel(monkeypatch, noise):
    """A convolution's tile (16 x 27 cells, 131072 rows), compiled: the default split."""
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    launch = triton_function("pulsed_update_cuda", "pulsed_update_triton", False)
    (seq, split), _ = split_against_sequential(launch, (16, 27), 131072, 31, noise, False,
                                               None, "cuda")
    assert split[1] == seq[1] > 0 and torch.equal(split[2], seq[2])
    torch.testing.assert_close(split[0], seq[0], rtol=0, atol=1e-5)
