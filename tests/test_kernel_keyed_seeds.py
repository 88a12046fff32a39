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
    from xbrun.kernels import keyed_seeds_cuda

    from xbrun import kernels

    launch = triton_function("keyed_seeds_cuda", "keyed_seeds_triton", interpret=False)
    monkeypatch.setattr(keyed_seeds_cuda, "KEYED_SEED_KERNEL", True)
    for calls, offsets in _cases("cuda"):
        want = _twin(calls, offsets)
        assert torch.equal(launch(calls, offsets), want)
        if isinstance(offsets, torch.Tensor):
            assert torch.equal(kernels.device_seeds(calls, offsets), want)
        else:
            assert torch.equal(kernels.keyed_seed(seeds.KeyedSeed(calls, offsets)), want)


@pytest.mark.gpu
@pytest.mark.parametrize("grid", [False, True])
def test_gpu_steps_with_the_keyed_seed_kernel_train_as_without(monkeypatch, grid):
    """Compiled, graph-free: four counted-update steps of a small MLP (single tiles, and a
    grid of 16 x 16 tiles updated as one group) give the same weights bit for bit with
    ``KEYED_SEED_KERNEL`` on and off (the same seeds: the same bits and noise)."""
    from xbrun.kernels import keyed_seeds_cuda

    from xbrun.composition import compose
    from xbrun.training import loop

    overrides = ["dataset=synthetic", "dataset.n_features=64", "dataset.n_train=256",
                 "dataset.n_test=32", "model.hidden=[48, 32]", "batch_size=32", "lr=0.1",
                 "accelerator=cuda", "device=sgd", "update.accumulate=batch"]
    if grid:
        overrides += ["mapping.max_input_size=16", "mapping.max_output_size=16"]
    weights = []
    for on in (False, True):
        monkeypatch.setattr(keyed_seeds_cuda, "KEYED_SEED_KERNEL", on)
        data, model, optimizer, _ = loop.setup(compose(overrides), torch.device("cuda"))
        x, y = data.x_train.cuda(), data.y_train.cuda()
        for s in range(4):
            loop.training_step(model, optimizer, x[s * 32:(s + 1) * 32], y[s * 32:(s + 1) * 32])
        weights.append({k: t.detach().cpu().clone() for k, t in model.state_dict().items()
                        if isinstance(t, torch.Tensor)})
    assert weights[0].keys() == weights[1].keys()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    assert sum(int(t) for k, t in weights[0].items() if k.endswith("pulses")) > 0
