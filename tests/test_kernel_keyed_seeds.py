"""A counted update's seed made from its key in one launch (``kernels/keyed_seeds_cuda.py``,
``KEYED_SEED_KERNEL``) against the twin's three (``seeds.KeyedSeed.tensor``,
``seeds.array_device_seeds``): the same integers."""

import pytest
import torch
from triton_modules import triton_function
from xbrun.kernels import seeds

CALLS = [0, 1, 7, 123_456, 2**40 + 3]  # a fresh array, a few steps, a long run's counter


def _cases(device="cpu"):
    """0-dim counters with int offsets (one array's update) and ``(tiles,)`` counters with
    per-tile offsets (a group's), the offsets across their 31 bits."""
    for calls in CALLS:
        for offset in (0, 5, seeds.MASK31, seeds.array_seed_offset(1234, 7)):
            yield torch.tensor(calls, device=device), offset
    for n in (1, 5, 37):
        gen = torch.Generator().manual_seed(n)
        calls = torch.randint(0, 2**40, (n,), generator=gen)
        offsets = torch.randint(0, seeds.MASK31 + 1, (n,), generator=gen)
        yield calls.to(device), offsets.to(device)


def _twin(calls, offsets):
    if isinstance(offsets, torch.Tensor):
        return seeds.array_device_seeds(calls, offsets)
    return seeds.KeyedSeed(calls, offsets).tensor()


def test_interpreted_keyed_seeds_are_the_twins():
    """Interpreted: each case's seeds equal the twin's integer for integer (shape too)."""
    launch = triton_function("keyed_seeds_cuda", "keyed_seeds_triton", interpret=True)
    for calls, offsets in _cases():
        want = _twin(calls, offsets)
        got = launch(calls, offsets)
        assert got.shape == want.shape and torch.equal(got, want)
    with pytest.raises(ValueError, match="int64"):
        launch(torch.zeros(3, dtype=torch.int32), 5)
    with pytest.raises(ValueError, match="offsets"):
        launch(torch.zeros(3, dtype=torch.int64), torch.zeros(2, dtype=torch.int64))


@pytest.mark.gpu
def test_gpu_keyed_seeds_are_the_twins(monkeypatch):
    """Compiled: the kernel's seeds equal the twin's, directly and through the update's
    dispatch (``kernels.keyed_seed``, ``kernels.device_seeds``) with the switch on."""
    from xbrun import kernels
    from xbrun.kernels import keyed_seeds_cuda

    launch = triton_function("keyed_seeds_cuda", "keyed_seeds_triton", interpret=False)
    monkeypatch.setattr(keyed_seeds_cuda, "KEYED_SEED_KERNEL", True)
    for calls, offsets in _cases("cuda"):
        want = _twin(calls, offsets)
        assert torch.equal(launch(calls, offsets), want)
        if isinstance(offsets, torch.Tensor):
            assert torch.equal(kernels.device_seeds(calls, offsets), want)
        else:
            assert torch.equal(kernels.keyed_seed(seeds.KeyedSeed(calls, offsets)), want)
