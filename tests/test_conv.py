"""AnalogConv2d: im2col rows on tiles equal nn.Conv2d when the physics is switched off."""

import random
from functools import cache

import pytest
import torch
from torch import nn

from xbrun.cli import compose
from xbrun.errors import ConfigError
from xbrun.nn import AnalogConv2d, AnalogSGD, AnalogSpec, convert_to_analog


@cache
def _cfg(overrides: tuple[str, ...]):
    return compose(list(overrides))


def make_spec(*mapping, cell="ideal", io="perfect") -> AnalogSpec:
    cfg = _cfg((f"cell={cell}", f"io={io}", *(f"mapping.{m}" for m in mapping)))
    return AnalogSpec(cfg.device, cfg.cell, cfg.io, cfg.update, mapping=cfg.mapping)


def random_convs(n: int, seed: int = 0):
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        kh, kw = rng.randint(1, 4), rng.randint(1, 4)
        stride = rng.choice([1, 1, 2, (1, 2), 3])
        dilation = rng.choice([1, 1, 2, (2, 1)])
        padding = rng.choice([0, 1, 2, (1, 0), "same", "valid"])
        if padding == "same" and stride != 1:
            continue
        kwargs = dict(in_channels=rng.randint(1, 4), out_channels=rng.randint(1, 6),
                      kernel_size=(kh, kw), stride=stride, padding=padding, dilation=dilation,
                      bias=rng.random() < 0.7)
        size = (rng.randint(5, 9), rng.randint(5, 9))
        try:
            nn.Conv2d(**kwargs)(torch.zeros(1, kwargs["in_channels"], *size))
        except RuntimeError:
            continue  # kernel larger than the padded image
        out.append((kwargs, size))
    return out


@pytest.mark.parametrize("mapping", [(), ("max_input_size=7", "max_output_size=2"),
                                     ("digital_bias=false", "weight_scaling_omega=0.5")])
def test_analog_conv_equals_conv2d_for_random_shapes(mapping):
    spec = make_spec(*mapping)
    for i, (kwargs, size) in enumerate(random_convs(10, seed=len(mapping))):
        torch.manual_seed(i)
        conv = nn.Conv2d(**kwargs)
        analog = AnalogConv2d.from_digital(conv, spec)
        x = torch.randn(3, kwargs["in_channels"], *size, requires_grad=True)
        ref, out = conv(x), analog(x)
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5, msg=str(kwargs))
        g = torch.randn_like(ref)
        (g_ref,) = torch.autograd.grad(ref, x, g)
        (g_out,) = torch.autograd.grad(out, x, g)
        torch.testing.assert_close(g_out, g_ref, rtol=1e-4, atol=1e-5, msg=str(kwargs))
        # one SGD step: every patch row is a rank-1 update, together the exact gradient
        opt_d = torch.optim.SGD(conv.parameters(), lr=0.05)
        opt_a = AnalogSGD(analog.parameters(), lr=0.05)
        for model, opt in ((conv, opt_d), (analog, opt_a)):
            opt.zero_grad()
            (model(x.detach()) * g).sum().backward()
            opt.step()
        weight, bias = analog.get_weights()
        torch.testing.assert_close(weight, conv.weight.detach(), rtol=1e-4, atol=1e-5)
        if conv.bias is not None:
            torch.testing.assert_close(bias, conv.bias.detach(), rtol=1e-4, atol=1e-5)
        h_out, w_out = ref.shape[2:]
        n_tiles = len(analog.analog_tiles())  # each tile applies every row to its block
        assert analog.take_counters()["rank1_updates"] == n_tiles * 3 * h_out * w_out


def test_unbatched_input_and_export():
    conv = nn.Conv2d(2, 3, 3, padding=1)
    analog = AnalogConv2d.from_digital(conv, make_spec())
    x = torch.randn(2, 5, 5)
    torch.testing.assert_close(analog(x), conv(x), rtol=1e-5, atol=1e-5)
    exported = analog.to_digital()
    torch.testing.assert_close(exported.weight, conv.weight)
    assert exported.padding == conv.padding and exported.stride == conv.stride


def test_groups_and_padding_modes_are_refused():
    with pytest.raises(ConfigError, match="groups"):
        AnalogConv2d(4, 4, 3, groups=2, spec=make_spec())
    with pytest.raises(ConfigError, match="padding_mode"):
        AnalogConv2d(4, 4, 3, padding_mode="reflect", spec=make_spec())
    model = nn.Sequential(nn.Conv2d(4, 4, 3), nn.Conv2d(4, 4, 3, groups=4))
    with pytest.raises(ConfigError, match=r"layer '1'.*groups"):
        convert_to_analog(model, make_spec())
    spec = make_spec("analog_layers=[0]")  # keeping the depthwise layer digital works
    converted = convert_to_analog(model, spec)
    assert isinstance(converted[0], AnalogConv2d) and type(converted[1]) is nn.Conv2d


def test_noisy_conv_is_close_to_conv():
    torch.manual_seed(6)
    conv = nn.Conv2d(3, 8, 3, padding=1)
    with torch.no_grad():
        conv.weight.mul_(2)
    analog = AnalogConv2d.from_digital(conv, make_spec(io="default", cell="constant_step"))
    x = torch.rand(4, 3, 8, 8)
    ref, out = conv(x), analog(x)
    assert ((out - ref) ** 2).mean().sqrt() < 0.2 * ref.std()  # offsets count too
