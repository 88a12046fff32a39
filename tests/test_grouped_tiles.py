"""A grid of equal tiles read as one group (``xbrun/tiles/grouped.py``) equals the grid read
tile by tile: the same outputs, updates and counters, each tile with its own seeds.

On the CPU the grid runs tile by tile (``GROUP_ON_CPU`` turns the group on for these
tests); the group's Triton launches are checked against single tiles in
``test_kernel_analog_mvm.py``, and here on the GPU.
"""

import pytest
import torch
from test_mapping import make_spec
from torch import nn

from xbrun.nn import AnalogLinear, AnalogSGD
from xbrun.tiles import grouped


def _train(layer, x, y, steps=3):
    """Outputs and input gradients of ``steps`` SGD steps on ``layer``."""
    opt = AnalogSGD(layer.parameters(), lr=0.2)
    seen = []
    for _ in range(steps):
        opt.zero_grad()
        x.grad = None
        out = layer(x)
        nn.functional.mse_loss(out, y).backward()
        seen.append((out.detach().clone(), x.grad.clone()))
        opt.step()
    return seen


def _layers(*mapping, io="default", device="cpu"):
    torch.manual_seed(0)
    lin = nn.Linear(24, 15)
    spec = make_spec("max_input_size=8", "max_output_size=5", *mapping, cell="constant_step",
                     io=io)
    return [AnalogLinear.from_digital(lin, spec).to(device) for _ in range(2)]


def _same_training(device, monkeypatch):
    tiled, group = _layers(device=device)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(9, 24, generator=gen).to(device).requires_grad_()
    y = torch.randn(9, 15, generator=gen).to(device)
    monkeypatch.setattr(grouped, "GROUP_ON_CPU", False)
    monkeypatch.setattr(grouped.TileGroup, "applies", lambda self, x: False)
    want = _train(tiled, x, y)
    monkeypatch.undo()
    monkeypatch.setattr(grouped, "GROUP_ON_CPU", True)
    assert group.tiles.group.applies(x.detach())
    got = _train(group, x, y)
    return tiled, group, want, got


def test_the_group_equals_the_tiles_on_the_cpu(monkeypatch):
    tiled, group, want, got = _same_training("cpu", monkeypatch)
    for (out_w, grad_w), (out_g, grad_g) in zip(want, got, strict=True):
        assert torch.equal(out_g, out_w)  # same seeds, same noise, same partial-sum order
        torch.testing.assert_close(grad_g, grad_w, rtol=0, atol=1e-7)  # autograd's order
    assert torch.equal(group.get_weights()[0], tiled.get_weights()[0])
    for a, b in zip(tiled.analog_tiles(), group.analog_tiles(), strict=True):
        assert a.mvm_calls == b.mvm_calls and torch.equal(a.mvm_vectors, b.mvm_vectors)
        assert a.take_counters() == b.take_counters()


def test_the_group_applies_to_equal_plain_tiles_only(monkeypatch):
    monkeypatch.setattr(grouped, "GROUP_ON_CPU", True)
    x = torch.randn(3, 24)
    assert _layers()[0].tiles.group.applies(x)
    assert not _layers("digital_bias=false")[0].tiles.group.applies(x)  # analog bias
    assert not _layers("learn_out_scaling=true")[0].tiles.group.applies(x)
    assert not _layers("weight_scaling_omega=0.6")[0].tiles.group.applies(x)
    uneven = AnalogLinear.from_digital(nn.Linear(23, 15), make_spec(
        "max_input_size=8", "max_output_size=5", cell="constant_step", io="default"))
    assert not uneven.tiles.group.applies(torch.randn(3, 23))  # 8, 8, 7 columns
    monkeypatch.setattr(grouped, "GROUP_ON_CPU", False)
    assert not _layers()[0].tiles.group.applies(x)  # the CPU runs tile by tile


@pytest.mark.gpu
def test_the_group_equals_the_tiles_on_the_gpu(monkeypatch):
    tiled, group, want, got = _same_training("cuda", monkeypatch)
    for (out_w, grad_w), (out_g, grad_g) in zip(want, got, strict=True):
        torch.testing.assert_close(out_g, out_w, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(grad_g, grad_w, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(group.get_weights()[0], tiled.get_weights()[0], rtol=1e-5,
                               atol=1e-5)
    for a, b in zip(tiled.analog_tiles(), group.analog_tiles(), strict=True):
        assert a.mvm_calls == b.mvm_calls and torch.equal(a.mvm_vectors, b.mvm_vectors)
        assert int(a._mvm_seed_device) == int(b._mvm_seed_device)
