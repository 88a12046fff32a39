"""A grid of equal tiles read as one group (``xbrun/tiles/grouped.py``) equals the grid read
tile by tile: the same outputs, updates and counters, each tile with its own seeds.

On the CPU the grid runs tile by tile (``GROUP_ON_CPU`` turns the group on for these
tests); the group's Triton launches are checked against single tiles in
``test_kernel_analog_mvm.py``, and here on the GPU.
"""

import dataclasses

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


def _layers(*mapping, io="default", device="cpu", accumulate="sample"):
    torch.manual_seed(0)
    lin = nn.Linear(24, 15)
    spec = make_spec("max_input_size=8", "max_output_size=5", *mapping, cell="constant_step",
                     io=io)
    spec.update = dataclasses.replace(spec.update, accumulate=accumulate)
    return [AnalogLinear.from_digital(lin, spec).to(device) for _ in range(2)]


def _same_training(device, monkeypatch, mapping=(), **options):
    tiled, group = _layers(*mapping, device=device, **options)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(9, 24, generator=gen).to(device).requires_grad_()
    y = torch.randn(9, 15, generator=gen).to(device)
    with monkeypatch.context() as tile_by_tile:
        tile_by_tile.setattr(grouped.TileGroup, "applies", lambda self, x: False)
        want = _train(tiled, x, y)
    monkeypatch.setattr(grouped, "GROUP_ON_CPU", True)
    assert group.tiles.group.applies(x.detach())
    got = _train(group, x, y)
    return tiled, group, want, got


def test_the_group_equals_the_tiles_on_the_cpu(monkeypatch):
    # the update one tile at a time: a CPU tile's update seeds come from its generator
    monkeypatch.setattr(grouped.TileGroup, "update_ready", lambda self: False)
    tiled, group, want, got = _same_training("cpu", monkeypatch)
    for (out_w, grad_w), (out_g, grad_g) in zip(want, got, strict=True):
        assert torch.equal(out_g, out_w)  # same seeds, same noise, same partial-sum order
        torch.testing.assert_close(grad_g, grad_w, rtol=0, atol=1e-7)  # autograd's order
    assert torch.equal(group.get_weights()[0], tiled.get_weights()[0])
    for a, b in zip(tiled.analog_tiles(), group.analog_tiles(), strict=True):
        assert a.mvm_calls == b.mvm_calls and torch.equal(a.mvm_vectors, b.mvm_vectors)
        assert a.take_counters() == b.take_counters()


@pytest.mark.parametrize("columnwise", ["false", "true"])
def test_tiles_with_learned_scales_group_with_the_fused_backward(monkeypatch, columnwise):
    """A grid whose tiles learn output scales reads as one group (their fused backward) and
    trains as its tiles do one by one (outputs, input gradients, scales, weights)."""
    tiled, group, want, got = _same_training(
        "cpu", monkeypatch, mapping=("learn_out_scaling=true",
                                     f"out_scaling_columnwise={columnwise}"))
    for (out_w, grad_w), (out_g, grad_g) in zip(want, got, strict=True):
        assert torch.equal(out_g, out_w)
        torch.testing.assert_close(grad_g, grad_w, rtol=0, atol=1e-7)  # autograd's order
    for a, b in zip(tiled.analog_tiles(), group.analog_tiles(), strict=True):
        assert torch.equal(a.out_scaling_alpha, b.out_scaling_alpha)
        assert not torch.equal(b.out_scaling_alpha, torch.ones_like(b.out_scaling_alpha))
    assert torch.equal(group.get_weights()[0], tiled.get_weights()[0])


@pytest.mark.gpu
def test_tiles_with_learned_scales_group_on_the_gpu(monkeypatch):
    """The grouped read of tiles with learned scales on CUDA (the out-scales kernel, the
    group's per-tile errors): as tile by tile up to the batched matmul's rounding."""
    tiled, group, want, got = _same_training(
        "cuda", monkeypatch, io="perfect",
        mapping=("learn_out_scaling=true", "out_scaling_columnwise=true"))
    for (out_w, grad_w), (out_g, grad_g) in zip(want, got, strict=True):
        torch.testing.assert_close(out_g, out_w, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(grad_g, grad_w, rtol=1e-4, atol=1e-4)
    for a, b in zip(tiled.analog_tiles(), group.analog_tiles(), strict=True):
        torch.testing.assert_close(a.out_scaling_alpha, b.out_scaling_alpha, rtol=1e-4,
                                   atol=1e-4)


def test_the_group_applies_to_equal_plain_tiles_only(monkeypatch):
    monkeypatch.setattr(grouped, "GROUP_ON_CPU", True)
    x = torch.randn(3, 24)
    assert _layers()[0].tiles.group.applies(x)
    assert not _layers("digital_bias=false")[0].tiles.group.applies(x)  # analog bias
    assert _layers("learn_out_scaling=true")[0].tiles.group.applies(x)
    assert not _layers("weight_scaling_omega=0.6")[0].tiles.group.applies(x)
    uneven = AnalogLinear.from_digital(nn.Linear(23, 15), make_spec(
        "max_input_size=8", "max_output_size=5", cell="constant_step", io="default"))
    assert not uneven.tiles.group.applies(torch.randn(3, 23))  # 8, 8, 7 columns
    monkeypatch.setattr(grouped, "GROUP_ON_CPU", False)
    assert not _layers()[0].tiles.group.applies(x)  # the CPU runs tile by tile


@pytest.mark.gpu
@pytest.mark.parametrize("io,accumulate", [("default", "sample"), ("perfect", "batch"),
                                           ("perfect", "sample")])
def test_the_group_equals_the_tiles_on_the_gpu(monkeypatch, io, accumulate):
    """On CUDA the group's batched matmul rounds as it likes (an ADC step may differ, so the
    MVM is compared under perfect I/O where the update is too); the counted update of the
    group is each tile's own (same seeds, same trains, exact counts)."""
    calls = []
    update = grouped.TileGroup.update
    monkeypatch.setattr(grouped.TileGroup, "update", lambda self: calls.append(1) or update(self))
    tiled, group, want, got = _same_training("cuda", monkeypatch, io=io, accumulate=accumulate)
    assert len(calls) == 3
    tol = dict(rtol=1e-4, atol=1e-4) if io == "perfect" else dict(rtol=0, atol=0.1)
    for (out_w, _), (out_g, _) in zip(want, got, strict=True):
        torch.testing.assert_close(out_g, out_w, **tol)
    torch.testing.assert_close(group.get_weights()[0], tiled.get_weights()[0], rtol=1e-4,
                               atol=1e-4 if io == "perfect" else 0.05)
    for a, b in zip(tiled.analog_tiles(), group.analog_tiles(), strict=True):
        assert a.mvm_calls == b.mvm_calls and torch.equal(a.mvm_vectors, b.mvm_vectors)
        assert int(a._mvm_seed_device) == int(b._mvm_seed_device)
        arrays = a.device_state.array, b.device_state.array
        assert int(arrays[0].kernel_calls) == int(arrays[1].kernel_calls)
        if io == "perfect":
            assert abs(int(a.pulses) - int(b.pulses)) <= 2
            assert torch.equal(arrays[0].ledger, arrays[1].ledger)


@pytest.mark.parametrize("accumulate", ["batch", "sample"])
def test_a_grouped_update_counts_as_the_tiles_would(monkeypatch, accumulate):
    """A grid updated as one group (on the CPU here, numba per tile): every tile's weight
    moves, and its pulses, wear, train slots and rank-1 count add up as its own update adds
    them; the tiles' state are views of one tensor per group."""
    monkeypatch.setattr(grouped, "GROUP_ON_CPU", True)
    torch.manual_seed(0)
    spec = make_spec("max_input_size=8", "max_output_size=5", cell="constant_step",
                     io="perfect")
    spec.update = dataclasses.replace(spec.update, accumulate=accumulate)
    layer = AnalogLinear.from_digital(nn.Linear(24, 15), spec)
    before = layer.get_weights()[0]
    x, y = torch.randn(9, 24), torch.randn(9, 15)
    opt = AnalogSGD(layer.parameters(), lr=0.5)
    calls = []
    monkeypatch.setattr(grouped.TileGroup, "update",
                        lambda self, f=grouped.TileGroup.update: calls.append(1) or f(self))
    for _ in range(2):
        opt.zero_grad()
        nn.functional.mse_loss(layer(x), y).backward()
        opt.step()
    assert len(calls) == 2
    tiles = layer.analog_tiles()
    moved = (layer.get_weights()[0] - before).abs()
    assert all((moved[:5 * (g // 3) + 5, :][5 * (g // 3):, 8 * (g % 3):8 * (g % 3) + 8] > 0).any()
               for g in range(len(tiles)))
    for tile in tiles:
        array = tile.device_state.array
        assert int(tile.pulses) == int(array.cell_pulses.sum()) > 0
        assert int(tile.rank1_count) == 18 and int(array.kernel_calls) == 2
        assert int(array.ledger[0]) > 0
    group = tiles[0].tile_group
    assert tiles[3].device_state.array.weight.data_ptr() == group._bound["weight"][0][3].data_ptr()


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return torch.equal(a, b) if isinstance(a, torch.Tensor) else a == b


ROWS = {"transfer_columns": False}  # rows read by backward passes (A's weight transposed)
RESET = {"with_reset_prob": 0.5, "n_reads_per_transfer": 3}
CONSTANT = {"cell": "constant_step"}  # (the run's cell, not the device's)
# C with write noise: its writes not fused, each tile's write a job of its own
NOISY = {"slow_cell": {"kind": "soft_bounds", "write_noise_std": 0.3}}


@pytest.mark.parametrize("kind,accumulate,device,walk,options", [
    ("chopped", "batch", "cpu", "host", {}), ("chopped", "batch", "cpu", "device", {}),
    ("agad", "batch", "cpu", "device", {}), ("ttv2", "sample", "cpu", "device", ROWS),
    ("ttv1", "batch", "cpu", "host", {}), ("ttv1", "batch", "cpu", "device", RESET),
    ("ttv2", "batch", "cpu", "device", {}), ("ttv2", "batch", "cpu", "device", NOISY),
    pytest.param("chopped", "batch", "cuda", "device", {}, marks=pytest.mark.gpu),
    pytest.param("agad", "sample", "cuda", "device", {}, marks=pytest.mark.gpu),
    pytest.param("ttv2", "batch", "cuda", "device", ROWS, marks=pytest.mark.gpu),
    pytest.param("ttv1", "batch", "cuda", "device", RESET, marks=pytest.mark.gpu),
    # constant steps: on CUDA the one-hot lines' kernel of the group's write (soft bounds
    # above: the block kernel)
    pytest.param("chopped", "batch", "cuda", "device", CONSTANT, marks=pytest.mark.gpu),
    pytest.param("agad", "batch", "cuda", "device", CONSTANT, marks=pytest.mark.gpu),
    pytest.param("ttv2", "sample", "cuda", "device", {**ROWS, **CONSTANT},
                 marks=pytest.mark.gpu)])
def test_a_transfer_grid_updates_as_its_tiles(monkeypatch, kind, accumulate, device, walk,
                                              options):
    """A grid of transfer devices updates A as one group (each tile's chopper signs), then
    walks and reads for the transfers as one group (schedules walked on the device with
    keyed read seeds, as on CUDA) or each tile transfers (walked on the host): bit for bit
    what the tiles give one by one, given the same update seeds (a CPU array draws its seed
    from the generator; here it takes the CUDA key, as the group does)."""
    from xbrun import kernels
    from xbrun.devices import DEVICES
    from xbrun.devices.schedule import TransferSchedule
    from xbrun.devices.transfer import TransferDevice
    from xbrun.physics.array import PulsedArray

    monkeypatch.setattr(grouped, "GROUP_ON_CPU", True)
    monkeypatch.setattr(PulsedArray, "_host_seed",
                        lambda self, gen: int(self._device_seed(gen).tensor()))
    if walk == "device":  # the CUDA walk: on the device, each run's read seed keyed by it
        monkeypatch.setattr(TransferSchedule, "walks_on_host", lambda self: False)
        monkeypatch.setattr(TransferDevice, "read_seed_offset",
                            lambda self, gen: self.fast.read_seed_offset(gen))
    walks, writes = [], []
    monkeypatch.setattr(kernels, "line_walk_grouped",
                        lambda *a, f=kernels.line_walk_grouped: walks.append(1) or f(*a))
    monkeypatch.setattr(kernels, "transfer_lines_grouped",
                        lambda *a, f=kernels.transfer_lines_grouped, **k: writes.append(1)
                        or f(*a, **k))
    settings = {k: v for k, v in options.items() if k != "cell"}
    cell = options.get("cell", "soft_bounds")
    config = DEVICES[kind](**({"in_chop_prob": 0.5} if kind in ("chopped", "agad") else {}),
                           **settings)
    torch.manual_seed(0)
    lin = nn.Linear(24, 15)
    spec = make_spec("max_input_size=8", "max_output_size=5", cell=cell, io="default")
    spec.device = config
    spec.update = dataclasses.replace(spec.update, accumulate=accumulate)
    layers = [AnalogLinear.from_digital(lin, spec).to(device) for _ in range(2)]
    layers[1].load_state_dict(layers[0].state_dict())  # (C's noisy reads: drawn anew)
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(6, 24, generator=gen), torch.randn(6, 15, generator=gen)
    x, y = x.to(device), y.to(device)
    calls = []
    update = grouped.TileGroup.update
    for layer, ready in zip(layers, (False, True), strict=True):
        with monkeypatch.context() as patch:
            if not ready:
                patch.setattr(grouped.TileGroup, "update_ready", lambda self: False)
            patch.setattr(grouped.TileGroup, "update",
                          lambda self: calls.append(1) or update(self))
            opt = AnalogSGD(layer.parameters(), lr=0.3)
            for _ in range(2):
                opt.zero_grad()
                nn.functional.mse_loss(layer(x), y).backward()
                opt.step()
    assert len(calls) == 2  # the second layer's two steps, as a group
    assert len(walks) == (2 if walk == "device" else 0)  # and its transfers' walks and reads
    # and writes (the CPU's twin; on CUDA Triton's), where every write is a fused one
    assert len(writes) == (0 if options is NOISY else len(walks))
    tiled, group = (layer.analog_tiles() for layer in layers)
    for a, b in zip(tiled, group, strict=True):
        one, two = a.device_state, b.device_state
        # transfers ran: 12 of 8 columns, past the last one (ttv1, ttv2: 2 lines, or 6 of
        # them; rows: of 5)
        lines = 6 if options is RESET else 2 if kind.startswith("ttv") else 12
        assert int(two.schedule.line) == lines % (5 if "transfer_columns" in options else 8)
        assert int(a.pulses) == int(b.pulses) > 0
        theirs = two.state_dict()
        for name, value in one.state_dict().items():
            assert _same(value, theirs[name]), name
        assert torch.equal(one.fast.cell_pulses, two.fast.cell_pulses)
        assert torch.equal(one.slow.weight, two.slow.weight)
    states = [t.device_state for t in group]
    bound = group[0].tile_group._bound
    assert states[2].fast.weight.data_ptr() == bound["fast.weight"][0][2].data_ptr()
    if kind in ("chopped", "agad"):  # the choppers are views of the group's signs
        assert states[1].in_chopper.data_ptr() == bound["in_chopper"][0][1].data_ptr()


@pytest.mark.parametrize("in_features,tiles", [(16, 2), (32, 4)])
def test_a_transfer_grid_groups_its_update_from_the_fewest_tiles(monkeypatch, in_features,
                                                                 tiles):
    """A transfer device's grid updates as one group from ``TRANSFER_GROUP_MIN_TILES``
    tiles, tile by tile below (4 by default); analog SGD's grid at any size."""
    from xbrun.devices import DEVICES

    monkeypatch.setattr(grouped, "GROUP_ON_CPU", True)
    ready = {}
    for kind, fewest in (("chopped", 2), ("chopped", 4), ("sgd", 4)):
        monkeypatch.setattr(grouped, "TRANSFER_GROUP_MIN_TILES", fewest)
        torch.manual_seed(0)
        spec = make_spec("max_input_size=8", "max_output_size=5", cell="constant_step")
        spec.device = DEVICES[kind]()
        layer = AnalogLinear.from_digital(nn.Linear(in_features, 5), spec)
        group = layer.analog_tiles()[0].tile_group
        assert len(group.grid.tiles) == tiles
        nn.functional.mse_loss(layer(torch.randn(3, in_features)), torch.zeros(3, 5)).backward()
        ready[kind, fewest] = group.update_ready()
    assert ready == {("chopped", 2): True, ("chopped", 4): tiles == 4, ("sgd", 4): True}


GPU = pytest.mark.gpu


@pytest.mark.parametrize("kind,device,accumulate", [
    ("agad", "cpu", "batch"), ("chopped", "cpu", "sample"),
    pytest.param("agad", "cuda", "batch", marks=GPU),
    pytest.param("chopped", "cuda", "sample", marks=GPU)])
def test_line_major_state_trains_as_row_major_state(monkeypatch, kind, device, accumulate):
    """A grid's H and AGAD's means bound line by line (``_LINE_STATE``: strides ``(1, L)`` a
    tile) give the training of row-major state (``_LINE_STATE`` empty) bit for bit:
    outputs, every tile's state, C and its pulse counts (the CPU: the grouped write's twin;
    CUDA: its kernels)."""
    from xbrun.devices import DEVICES
    from xbrun.devices.schedule import TransferSchedule
    from xbrun.devices.transfer import TransferDevice
    from xbrun.physics.array import PulsedArray

    monkeypatch.setattr(grouped, "GROUP_ON_CPU", True)
    monkeypatch.setattr(PulsedArray, "_host_seed",
                        lambda self, gen: int(self._device_seed(gen).tensor()))
    monkeypatch.setattr(TransferSchedule, "walks_on_host", lambda self: False)
    monkeypatch.setattr(TransferDevice, "read_seed_offset",
                        lambda self, gen: self.fast.read_seed_offset(gen))
    torch.manual_seed(0)
    lin = nn.Linear(24, 15)
    spec = make_spec("max_input_size=8", "max_output_size=5", cell="constant_step",
                     io="default")
    spec.device = DEVICES[kind](in_chop_prob=0.5)
    spec.update = dataclasses.replace(spec.update, accumulate=accumulate)
    layers = [AnalogLinear.from_digital(lin, spec).to(device) for _ in range(2)]
    layers[1].load_state_dict(layers[0].state_dict())
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(6, 24, generator=gen).to(device).requires_grad_()
    y = torch.randn(6, 15, generator=gen).to(device)
    seen = []
    for layer, names in zip(layers, ((), grouped._LINE_STATE), strict=True):
        monkeypatch.setattr(grouped, "_LINE_STATE", names)
        seen.append(_train(layer, x, y, steps=2))
    assert all(torch.equal(a, b) for pa, pb in zip(*seen, strict=True)
               for a, b in zip(pa, pb, strict=True))
    group = layers[1].analog_tiles()
    names = ("buffer", "running_mean", "past_mean") if kind == "agad" else ("buffer",)
    for name in names:  # the group's views
        state = getattr(group[1].device_state, name)
        assert state.stride() == (1, state.shape[0])
        assert state.data_ptr() == group[0].tile_group._bound[name][0][1].data_ptr()
    for a, b in zip(layers[0].analog_tiles(), group, strict=True):
        assert int(a.pulses) == int(b.pulses) > 0
        assert _same(a.device_state.state_dict(), b.device_state.state_dict())
        assert torch.equal(a.device_state.slow.weight, b.device_state.slow.weight)


def _mixed_grid_steps(monkeypatch, device, walk, steps=3, cell="constant_step", **config):
    """Two equal grids of mixed-precision tiles given the same queued ``(x, d)``, one tile
    by tile and one as a group (where it applies). The values and the step size are
    dyadic, so that chi's sums are exact: a tile's ``addmm`` and the layer's matmul then
    give the same chi (otherwise they round apart in the last bit: ``chi_steps_ref``)."""
    from xbrun.devices.mixed_precision import MixedPrecisionConfig
    from xbrun.devices.schedule import TransferSchedule
    from xbrun.physics.array import PulsedArray

    monkeypatch.setattr(grouped, "GROUP_ON_CPU", True)
    monkeypatch.setattr(PulsedArray, "_host_seed",
                        lambda self, gen: int(self._device_seed(gen).tensor()))
    if walk == "device":  # the CUDA walk: line numbers kept on the device
        monkeypatch.setattr(TransferSchedule, "walks_on_host", lambda self: False)
    torch.manual_seed(0)
    spec = make_spec("max_input_size=8", "max_output_size=5", cell=cell, io="perfect")
    spec.device = MixedPrecisionConfig(**{"granularity": 3 * 2.0 ** -10, **config})
    lin = nn.Linear(24, 15)
    layers = [AnalogLinear.from_digital(lin, spec).to(device) for _ in range(2)]
    layers[1].load_state_dict(layers[0].state_dict())
    gen = torch.Generator().manual_seed(1)
    ready = []
    for _ in range(steps):
        x = (torch.randint(-8, 9, (6, 24), generator=gen) / 8).to(device)
        d = (torch.randint(-8, 9, (6, 15), generator=gen) / 16).to(device)
        for layer, grouped_on in zip(layers, (False, True), strict=True):
            tiles = layer.analog_tiles()
            group = tiles[0].tile_group
            group.queue(x, d)
            for tile in tiles:
                tile.set_learning_rate(0.5)
            ready.append(group.update_ready())
            if grouped_on and ready[-1]:
                group.update()
            else:
                for tile in tiles:
                    tile.apply_pending()
    return layers, ready


@pytest.mark.parametrize("walk,config,device,cell", [
    ("host", {}, "cpu", "constant_step"), ("device", {}, "cpu", "linear_step"),
    ("device", {"transfer_every": 2}, "cpu", "linear_step"),
    ("device", {}, "cpu", "constant_step"),
    pytest.param("device", {}, "cuda", "linear_step", marks=pytest.mark.gpu),
    pytest.param("device", {"transfer_every": 2}, "cuda", "constant_step",
                 marks=pytest.mark.gpu),
    pytest.param("device", {}, "cuda", "constant_step", marks=pytest.mark.gpu)])
def test_a_mixed_precision_grid_updates_as_its_tiles(monkeypatch, walk, config, device,
                                                     cell):
    """A grid of mixed-precision tiles updates as one group (chi's step in one launch, the
    walks and writes in those of one tile; constant steps walked on the device: the step
    and the trains in one, ``kernels.chi_write``; the twins on the CPU, the Triton kernels
    on CUDA) bit for bit as its tiles one by one: chi, the array, its wear and ledger, the
    schedule, the counts (exact sums: cuBLAS rounds nothing either)."""
    from xbrun import kernels

    steps, writes = [], []
    monkeypatch.setattr(kernels, "chi_steps",
                        lambda *a, f=kernels.chi_steps: steps.append(len(a) == 6)
                        or f(*a))
    monkeypatch.setattr(kernels, "chi_write",
                        lambda *a, f=kernels.chi_write, **k: steps.append("fused")
                        or f(*a, **k))
    monkeypatch.setattr(kernels, "transfer_lines_grouped",
                        lambda *a, f=kernels.transfer_lines_grouped, **k: writes.append(1)
                        or f(*a, **k))
    (tiled, group), ready = _mixed_grid_steps(monkeypatch, device, walk, cell=cell,
                                              **config)
    fused = walk == "device" and cell == "constant_step"
    assert ready == [True] * 6
    written = [False, True, False] if config else [True] * 3  # (the group's 3 steps)
    if fused:
        assert steps == ["fused" if w else False for w in written] and not writes
    else:
        assert steps == written and len(writes) == (sum(written) if walk == "device" else 0)
    for a, b in zip(tiled.analog_tiles(), group.analog_tiles(), strict=True):
        one, two = a.device_state, b.device_state
        assert int(a.pulses) == int(b.pulses) > 0 and int(a.rank1_count) == int(b.rank1_count)
        theirs = two.state_dict()
        for name, value in one.state_dict().items():
            assert _same(value, theirs[name]), name
        assert (one.chi != 0).any()
        assert torch.equal(one.array.cell_pulses, two.array.cell_pulses)
    tiles = group.analog_tiles()
    bound = tiles[0].tile_group._bound
    assert tiles[4].device_state.chi.data_ptr() == bound["chi"][0][4].data_ptr()


def test_a_mixed_precision_grid_groups_only_plain_configs(monkeypatch):
    """Quantized x or d (drawn from each tile's generator) or a part of chi's rows a
    transfer keep the tiles' own updates."""
    for config, want in (({"n_x_bins": 8}, False), ({"n_rows_per_transfer": 2}, False),
                         ({"n_rows_per_transfer": 5}, True)):
        _, ready = _mixed_grid_steps(monkeypatch, "cpu", "host", steps=1, **config)
        assert ready == [want] * 2, config
