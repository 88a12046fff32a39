"""AnalogConv2d: im2col rows on tiles equal nn.Conv2d when the physics is switched off."""

import random
from functools import cache

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from xbrun.composition import compose
from xbrun.errors import ConfigError, TileError
from xbrun.nn import AnalogConv2d, AnalogSGD, AnalogSpec, convert_to_analog
from xbrun.tiles import conv_indices


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
    for i, (kwargs, size) in enumerate(random_convs(6, seed=len(mapping))):
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


# --------------------------------------------------------- the indexed tile path ---------
def unfold_forward(layer: AnalogConv2d, x: torch.Tensor) -> torch.Tensor:
    """The layer as it ran before its tiles were indexed: F.unfold rows through the grid."""
    padding = layer.padding
    if layer._pad4 is not None:
        x, padding = F.pad(x, layer._pad4), (0, 0)
    n = x.shape[0]
    cols = F.unfold(x, layer.kernel_size, dilation=layer.dilation, padding=padding,
                    stride=layer.stride)
    rows = cols.transpose(1, 2).reshape(-1, cols.shape[1])
    out = layer.tiles(rows).reshape(n, -1, layer.out_channels).transpose(1, 2)
    kh, sh, dh = layer.kernel_size[0], layer.stride[0], layer.dilation[0]
    h_out = (x.shape[2] + 2 * padding[0] - dh * (kh - 1) - 1) // sh + 1
    out = out.reshape(n, layer.out_channels, h_out, -1)
    return out if layer.bias is None else out + layer.bias.reshape(1, -1, 1, 1)


def check_indexed_equals_unfold(mapping, device: str, n_convs: int,
                                channels_last: bool = False) -> None:
    """Noisy I/O and pulsed updates: same seeds, same rows, so exactly the same numbers
    (``channels_last``: images in that layout, as a convolution's output is).
    The image gradient is col2im's sum in col2im's order; only where a row block of tiles
    or a column cut inside one channel's kernel window splits a pixel's sum does the
    order, and so the rounding, differ."""
    spec = make_spec(*mapping, cell="constant_step", io="default")
    for i, (kwargs, size) in enumerate(random_convs(n_convs, seed=3)):
        torch.manual_seed(i)
        conv = nn.Conv2d(**kwargs)
        layers = [AnalogConv2d.from_digital(conv, spec).to(device) for _ in range(2)]
        x = torch.randn(3, kwargs["in_channels"], *size, device=device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x.requires_grad_(True)
        outs = [layers[0](x), unfold_forward(layers[1], x)]
        assert torch.equal(outs[0], outs[1])
        g = torch.randn_like(outs[0])
        grads = [torch.autograd.grad(out, x, g, retain_graph=True)[0] for out in outs]
        if layers[0].tiles.shape == (1, 1):
            assert torch.equal(grads[0], grads[1])
        torch.testing.assert_close(grads[0], grads[1], rtol=1e-6, atol=1e-6)
        for layer, out in zip(layers, outs, strict=True):
            opt = AnalogSGD(layer.parameters(), lr=0.05)
            opt.zero_grad()
            (out * g).sum().backward()
            opt.step()
        assert torch.equal(layers[0].get_weights()[0], layers[1].get_weights()[0])
        assert layers[0].take_counters() == layers[1].take_counters()
        assert all(t.is_indexed() for t in layers[0].analog_tiles())


@pytest.mark.parametrize("mapping", [(), ("max_input_size=7", "max_output_size=2")])
def test_indexed_conv_equals_the_unfold_path_bit_for_bit(mapping):
    check_indexed_equals_unfold(mapping, "cpu", 3)


@pytest.mark.parametrize("keep_rows", [False, True])
def test_kept_rows_update_as_the_unfold_path_with_one_gather_a_step(keep_rows, monkeypatch):
    """``indexed.KEEP_ROWS``: the update takes the forward pass's rows (the same numbers as
    the unfold path) instead of gathering them again from the queued images."""
    from xbrun import kernels
    from xbrun.tiles import indexed

    monkeypatch.setattr(indexed, "KEEP_ROWS", keep_rows)
    gathers, gather = [], kernels.im2col
    monkeypatch.setattr(kernels, "im2col", lambda *a: gathers.append(1) or gather(*a))
    if keep_rows:  # off: test_indexed_conv_equals_the_unfold_path_bit_for_bit
        check_indexed_equals_unfold(("max_input_size=7", "max_output_size=2"), "cpu", 1)
    (kwargs, _), = random_convs(1, seed=3)
    layer = AnalogConv2d.from_digital(nn.Conv2d(**kwargs), make_spec(cell="constant_step"))
    tiles = len(layer.analog_tiles())
    x = torch.randn(2, kwargs["in_channels"], 6, 6)
    gathers.clear()
    layer(x).sum().backward()
    AnalogSGD(layer.parameters(), lr=0.1).step()
    assert len(gathers) == tiles * (1 if keep_rows else 2)


@pytest.mark.gpu
@pytest.mark.parametrize("keep_rows", [False, True])
@pytest.mark.parametrize("mapping", [(), ("max_input_size=7", "max_output_size=2")])
def test_indexed_conv_equals_the_unfold_path_on_cuda(mapping, keep_rows, monkeypatch):
    from xbrun.tiles import indexed

    monkeypatch.setattr(indexed, "KEEP_ROWS", keep_rows)
    check_indexed_equals_unfold(mapping, "cuda", 6, channels_last=keep_rows)


def test_indexed_tile_api_equals_conv2d():
    torch.manual_seed(0)
    c_in, c_out, k, h, w = 3, 4, 3, 7, 6
    weight = torch.randn(c_out, c_in, k, k) * 0.3
    tile = AnalogConv2d(c_in, c_out, k, bias=False, spec=make_spec()).tile
    assert not tile.is_indexed()
    with pytest.raises(TileError, match="set_indexed"):
        tile.joint_forward_indexed(torch.randn(1, c_in, h, w))
    tile.set_weights(weight.reshape(c_out, -1))
    kwargs = dict(stride=2, padding=1, dilation=1)
    indices, sizes = conv_indices(c_in, h, w, k, **kwargs)
    with pytest.raises(TileError, match="image_sizes"):
        tile.set_indexed(indices, sizes[:3])
    with pytest.raises(TileError, match="shape"):
        tile.set_indexed(indices[1:], sizes)
    tile.set_indexed(indices, sizes)
    assert tile.is_indexed() and tile.image_sizes == sizes
    with pytest.raises(TileError, match="images"):
        tile.joint_forward_indexed(torch.randn(1, c_in, h + 1, w))
    x = torch.randn(2, c_in, h, w, requires_grad=True)
    ref = F.conv2d(x, weight, **kwargs)
    torch.testing.assert_close(tile.joint_forward_indexed(x.detach()), ref.detach())
    d = torch.randn_like(ref)
    (grad_x,) = torch.autograd.grad(ref, x, d)
    torch.testing.assert_close(tile.backward_indexed(d), grad_x)
    w_ref = weight.clone().requires_grad_(True)
    (grad_w,) = torch.autograd.grad(F.conv2d(x.detach(), w_ref, **kwargs), w_ref, d)
    tile.update_indexed(x.detach(), d, learning_rate=0.1)
    torch.testing.assert_close(tile.get_weights()[0], (weight - 0.1 * grad_w).reshape(c_out, -1))
    assert tile.take_counters()["rank1_updates"] == 2 * sizes[3] * sizes[4]


def test_two_image_sizes_before_one_step_update_as_the_unfold_path():
    """The index changes between the forwards: each backward keeps its own, and the queue
    turns the older images into rows before their index is replaced."""
    conv = nn.Conv2d(2, 3, 3, padding=1)
    spec = make_spec(cell="constant_step")
    layers = [AnalogConv2d.from_digital(conv, spec) for _ in range(2)]
    xs = [torch.randn(2, 2, 5, 5), torch.randn(1, 2, 6, 4)]
    for layer, forward in zip(layers, (lambda m, x: m(x), unfold_forward), strict=True):
        opt = AnalogSGD(layer.parameters(), lr=0.1)
        loss = sum((forward(layer, x) ** 2).sum() for x in xs)
        loss.backward()
        opt.step()
    assert torch.equal(layers[0].get_weights()[0], layers[1].get_weights()[0])


def _train_conv_switched(kind, module, switches, monkeypatch, steps=3, values=(False, True)):
    """A chopped (AGAD) convolution trained ``steps`` steps with ``module``'s ``switches``
    off, then on (or set to each of ``values``): each run's outputs, input gradients,
    device state and pulse count."""
    cfg = _cfg(("cell=constant_step", "io=default", f"device={kind}",
                "update.accumulate=batch"))
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(8, 3, 8, 8, generator=gen).cuda().requires_grad_()
    y = torch.randn(8, 6, 8, 8, generator=gen).cuda()
    runs = []
    for on in values:
        for switch in switches:
            monkeypatch.setattr(module, switch, on)
        torch.manual_seed(0)
        conv = AnalogConv2d(3, 6, 3, padding=1, spec=AnalogSpec(
            cfg.device, cfg.cell, cfg.io, cfg.update, seed=3, mapping=cfg.mapping)).cuda()
        opt = AnalogSGD(conv.parameters(), lr=0.2)
        seen = []
        for _ in range(steps):
            opt.zero_grad()
            x.grad = None
            out = conv(x)
            F.mse_loss(out, y).backward()
            opt.step()
            seen += [out.detach().clone(), x.grad.clone()]
        tile = conv.analog_tiles()[0]
        seen += [t.detach().clone() for t in tile.device_state.state_dict().values()
                 if isinstance(t, torch.Tensor)]
        runs.append((seen, int(tile.pulses)))
    return runs


@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["chopped", "agad"])
def test_broadcast_onehot_reads_train_a_convolution_as_the_filled_rows(kind, monkeypatch):
    """The walk's broadcast column of ones on the module path (the reads take each row's
    line element alone under the default transfer I/O): a chopped (AGAD) convolution's
    outputs, input gradients, state and pulse counts over three steps bit for bit as with
    the one-hot rows filled (the walk told the reads take whole rows)."""
    from xbrun.devices import transfer

    (off, pulses_off), (on, pulses_on) = _train_conv_switched(
        kind, transfer, ("reads_take_line_elements",), monkeypatch,
        values=(lambda *args, **kwargs: False, transfer.reads_take_line_elements))
    assert pulses_off == pulses_on > 0 and len(off) == len(on)
    assert all(torch.equal(a, b) for a, b in zip(off, on, strict=True))


@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["chopped", "agad"])
def test_ones_in_walk_trains_a_convolution_as_torch_ones(kind, monkeypatch):
    """``line_walk_cuda.ONES_IN_WALK`` on the module path (the broadcast column both
    times): the walk storing the broadcast column's one trains a chopped (AGAD)
    convolution's outputs, input gradients, state and pulse counts bit for bit as
    ``torch.ones`` did."""
    from xbrun.kernels import line_walk_cuda

    (off, pulses_off), (on, pulses_on) = _train_conv_switched(
        kind, line_walk_cuda, ("ONES_IN_WALK",), monkeypatch)
    assert pulses_off == pulses_on > 0 and len(off) == len(on)
    assert all(torch.equal(a, b) for a, b in zip(off, on, strict=True))


@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["chopped", "agad"])
def test_split_write_trains_a_convolution_as_the_one_line_kernel(kind, monkeypatch):
    """The split write on the module path: a chopped (AGAD) convolution's transfers (512
    image rows on 27 lines: 19 passes a line and a part, each step, from
    ``transfer_write_cuda.SPLIT_WRITE_MIN_PASSES``) train it as the one-line write kernel
    does - outputs, input gradients, A, C, H, the choppers and
    the pulse counts bit for bit over three steps."""
    from xbrun.kernels import transfer_write_cuda

    (off, pulses_off), (on, pulses_on) = _train_conv_switched(
        kind, transfer_write_cuda, ("SPLIT_WRITE_MIN_PASSES",), monkeypatch,
        values=(1 << 30, transfer_write_cuda.SPLIT_WRITE_MIN_PASSES))
    assert pulses_off == pulses_on > 0 and len(off) == len(on)
    assert all(torch.equal(a, b) for a, b in zip(off, on, strict=True))
