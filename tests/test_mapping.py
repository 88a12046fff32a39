"""Layer-to-tile mapping: grids of tiles, layer selection, conversion, factorization, CLI."""

import copy
import dataclasses
import json
import math
from functools import cache

import pytest
import torch
from torch import nn

from xbrun.cli import main
from xbrun.composition import compose
from xbrun.errors import ConfigError
from xbrun.nn import (
    AnalogLinear,
    AnalogSGD,
    AnalogSpec,
    analog_layers,
    analog_tiles,
    convert_to_analog,
    convert_to_digital,
    mapping_summary,
)
from xbrun.nn.convert import select_layers
from xbrun.nn.factorize import FactorizedLinear
from xbrun.tiles import split_sizes
from xbrun.training.loop import setup


@cache
def _cfg(overrides: tuple[str, ...]):
    return compose(list(overrides))


def make_spec(*mapping, cell="ideal", io="perfect", seed=0) -> AnalogSpec:
    cfg = _cfg((f"cell={cell}", f"io={io}", *(f"mapping.{m}" for m in mapping)))
    return AnalogSpec(cfg.device, cfg.cell, cfg.io, cfg.update, seed=seed, mapping=cfg.mapping)


def test_split_sizes_are_balanced_and_bounded():
    assert split_sizes(10, 0) == [10] and split_sizes(10, 10) == [10]
    assert split_sizes(784, 512) == [392, 392]
    assert split_sizes(23, 8) == [8, 8, 7]
    assert split_sizes(300, 128) == [100, 100, 100]


def _steps(models_and_opts, x, y, n=3):
    for _ in range(n):
        for model, opt in models_and_opts:
            opt.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            opt.step()


@pytest.mark.parametrize("digital_bias", [True, False])
def test_split_layer_equals_the_unsplit_one_under_perfect_io(digital_bias):
    torch.manual_seed(0)
    lin = nn.Linear(23, 17)
    bias = f"digital_bias={str(digital_bias).lower()}"
    whole = AnalogLinear.from_digital(lin, make_spec(bias, "max_input_size=0",
                                                     "max_output_size=0"))
    split = AnalogLinear.from_digital(lin, make_spec(bias, "max_input_size=8",
                                                     "max_output_size=5"))
    assert whole.tiles.shape == (1, 1) and split.tiles.shape == (4, 3)
    assert all(t.out_size <= 5 and t.x_size <= 8 for t in split.analog_tiles())
    assert sum(t.analog_bias for t in split.analog_tiles()) == (0 if digital_bias else 4)
    x = torch.randn(9, 23, requires_grad=True)
    out_w, out_s = whole(x), split(x)
    torch.testing.assert_close(out_s, out_w, rtol=1e-5, atol=1e-5)
    g = torch.randn_like(out_w)
    (gw,) = torch.autograd.grad(out_w, x, g)
    (gs,) = torch.autograd.grad(out_s, x, g)
    torch.testing.assert_close(gs, gw, rtol=1e-5, atol=1e-5)
    y = torch.randn(9, 17)
    _steps([(whole, AnalogSGD(whole.parameters(), lr=0.2)),
            (split, AnalogSGD(split.parameters(), lr=0.2))], x.detach(), y)
    for a, b in zip(split.get_weights(), whole.get_weights(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_every_tile_has_its_own_device_state():
    torch.manual_seed(1)
    layer = AnalogLinear.from_digital(nn.Linear(12, 6), make_spec(
        "max_input_size=4", cell="constant_step", io="default"))
    tiles = layer.analog_tiles()
    assert len(tiles) == 3 and len({t.seed for t in tiles}) == 3
    before = [t.get_weights(apply_weight_scaling=False)[0] for t in tiles]
    tiles[1].update(torch.rand(4, 4), torch.randn(4, 6), learning_rate=0.1)
    after = [t.get_weights(apply_weight_scaling=False)[0] for t in tiles]
    assert torch.equal(before[0], after[0]) and torch.equal(before[2], after[2])
    assert not torch.equal(before[1], after[1])
    counters = layer.take_counters()
    assert counters["pulses"] > 0 and counters["rank1_updates"] == 4
    with pytest.raises(Exception, match="grid"):
        _ = layer.tile  # a split layer has no single tile


def test_weight_scaling_on_a_grid_keeps_the_logical_layer():
    torch.manual_seed(2)
    lin = nn.Linear(20, 10)
    layer = AnalogLinear.from_digital(lin, make_spec(
        "max_input_size=7", "max_output_size=4", "weight_scaling_omega=0.6",
        "weight_scaling_columnwise=true", "learn_out_scaling=true"))
    x = torch.randn(5, 20)
    torch.testing.assert_close(layer(x), lin(x), rtol=1e-5, atol=1e-5)
    for tile in layer.analog_tiles():
        conductances = tile.get_weights(apply_weight_scaling=False)[0]
        torch.testing.assert_close(conductances.abs().amax(1), torch.full((tile.out_size,), 0.6))
    weight, bias = layer.get_weights()
    torch.testing.assert_close(weight, lin.weight.detach())
    torch.testing.assert_close(bias, lin.bias.detach())


def mlp():
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3))


@pytest.mark.parametrize("which, expected", [
    ("all", ["0", "2", "4"]), ("none", []), ("all_but_first", ["2", "4"]),
    ("all_but_last", ["0", "2"]), ("all_but_first_last", ["2"]),
    (["4", "0"], ["0", "4"]), (["*"], ["0", "2", "4"]),
])
def test_analog_layers_selection(which, expected):
    model = mlp()
    assert select_layers(model, which) == expected
    spec = make_spec()
    spec.mapping = dataclasses.replace(spec.mapping, analog_layers=which)
    converted = convert_to_analog(mlp(), spec)
    kinds = [type(m).__name__ for m in converted]
    assert [str(i) for i, k in enumerate(kinds) if k == "AnalogLinear"] == expected
    assert all(kinds[int(i)] == "Linear" for i in ("0", "2", "4") if i not in expected)


def test_unknown_layer_name_lists_the_layers():
    with pytest.raises(ConfigError, match=r"'fc9' matches no .* 0, 2, 4"):
        select_layers(mlp(), ["fc9"])


def test_conversion_round_trips_weights_of_any_module():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(2, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU(),
                          nn.Flatten(), nn.Linear(5 * 4 * 4, 7), nn.Tanh(), nn.Linear(7, 3))
    model.eval()
    original = copy.deepcopy(model)
    analog = convert_to_analog(model, make_spec(
        "max_input_size=16", "digital_bias=false", "weight_scaling_omega=0.5",
        "weight_scaling_columnwise=true"))
    assert len(analog_layers(analog)) == 3
    x = torch.randn(4, 2, 4, 4)
    torch.testing.assert_close(analog(x), original(x), rtol=1e-4, atol=1e-4)
    back = convert_to_digital(analog)
    for (name, p), (_, q) in zip(back.named_parameters(), original.named_parameters(),
                                 strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)
    assert not analog_tiles(back)


def test_root_linear_module_is_converted_and_back():
    lin = nn.Linear(4, 2)
    analog = convert_to_analog(lin, make_spec())
    assert isinstance(analog, AnalogLinear)
    back = convert_to_digital(analog)
    assert isinstance(back, nn.Linear)
    torch.testing.assert_close(back.weight, lin.weight)


@pytest.mark.parametrize("mapping", [
    ["weight_scaling_omega=0.5", "weight_scaling_columnwise=true", "max_input_size=5"],
    ["digital_bias=false", "max_output_size=3", "weight_scaling_omega=0.8"],
])
def test_ideal_analog_training_with_weight_scaling_equals_digital_sgd(mapping):
    """The update is divided by the mapping scales: the logical weights take SGD's steps."""
    torch.manual_seed(4)
    digital = mlp()
    analog = convert_to_analog(copy.deepcopy(digital), make_spec(*mapping))
    x, y = torch.randn(16, 6), torch.randn(16, 3)
    _steps([(digital, torch.optim.SGD(digital.parameters(), lr=0.1)),
            (analog, AnalogSGD(analog.parameters(), lr=0.1))], x, y, n=4)
    exported = convert_to_digital(analog)
    for p, q in zip(exported.parameters(), digital.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_factorize_then_map_reduces_devices():
    base = ["cell=ideal", "dataset.limit_train=64", "mapping.factorize.min_features=64"]
    plain = setup(compose(base), torch.device("cpu"))[1]
    factored = setup(compose([*base, "mapping.factorize.enabled=true",
                              "mapping.factorize.rank=0.25"]), torch.device("cpu"))[1]
    a, b = mapping_summary(plain), mapping_summary(factored)
    assert a["factorized_layers"] == 0 and b["factorized_layers"] == 2
    assert b["tiles"] == 5 and a["tiles"] == 3
    # 64-256-128-10: 64*256 + 256*128 + 128*10 vs ranks 16 and 32
    assert a["analog_devices"] == 64 * 256 + 256 * 128 + 128 * 10
    assert b["analog_devices"] == 16 * (64 + 256) + 32 * (256 + 128) + 128 * 10
    assert sum(isinstance(m, FactorizedLinear) for m in factored.modules()) == 2


@pytest.mark.parametrize("override, key", [
    ("mapping.max_input_size=-1", "mapping.max_input_size"),
    ("mapping.max_output_size=abc", "mapping.max_output_size"),
    ("mapping.weight_scaling_omega=-0.5", "mapping.weight_scaling_omega"),
    ("mapping.analog_layers=bogus", "mapping.analog_layers"),
    ("mapping.factorize.rank=1.5", "mapping.factorize.rank"),
    ("mapping.factorize.rank=0", "mapping.factorize.rank"),
    ("mapping.factorize.min_features=0", "mapping.factorize.min_features"),
    ("mapping.init_input_range_from_data=-2", "mapping.init_input_range_from_data"),
    ("mapping.learn_out_scaling=maybe", "mapping.learn_out_scaling"),
    ("mapping.not_a_key=1", "mapping.not_a_key"),
    ("mapping=nope", "mapping=nope"),
])
def test_bad_mapping_values_exit_2_with_one_line(override, key, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", override])
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and key in err[0], err
    assert "Traceback" not in err[0]


def test_input_range_with_analog_bias_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "mapping=learned", "mapping.digital_bias=false"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and "mapping.learn_input_range" in err and "\n" not in err


def run_cli(tmp_path, *args):
    main(["train", "epochs=1", "batch_size=16", *args, f"hydra.run.dir={tmp_path}"])
    return json.loads((tmp_path / "summary.json").read_text())


def test_cli_lenet5_split_tiles_learned_out_scaling(tmp_path):
    summary = run_cli(tmp_path, "model=lenet5", "dataset=synthetic",
                      "dataset.image_shape=[1,10,10]", "dataset.n_train=48", "dataset.n_test=16",
                      "mapping.max_input_size=128", "mapping.learn_out_scaling=true")
    assert summary["status"] == "finished" and summary["pulses"] > 0
    layout = summary["mapping"]
    # conv2 has 6*5*5 = 150 inputs: two column blocks of 75
    assert layout["analog_layers"] == 5 and layout["tiles"] == 6


def test_cli_factorize(tmp_path):
    summary = run_cli(tmp_path, "mapping.factorize.enabled=true", "mapping.factorize.rank=0.25",
                      "dataset.limit_train=48", "model.hidden=[96,64]")
    assert summary["status"] == "finished"
    assert summary["mapping"]["factorized_layers"] == 2
    assert summary["mapping"]["analog_devices"] == 16 * (64 + 96) + 16 * (96 + 64) + 64 * 10


@pytest.mark.parametrize("option", ["per_column", "learned"])
def test_cli_mapping_options_train(tmp_path, option):
    summary = run_cli(tmp_path, f"mapping={option}", "dataset.limit_train=48",
                      "model.hidden=[16]", "mapping.max_input_size=40")
    assert summary["status"] == "finished" and summary["mapping"]["tiles"] == 3
    assert math.isfinite(summary["test_loss"])


def test_resume_keeps_the_learned_periphery(tmp_path):
    """Two epochs in one go equal one epoch plus a resumed one (scales, ranges, counters)."""
    from xbrun.training.loop import train

    args = ["mapping=learned", "mapping.max_input_size=40", "model.hidden=[16]",
            "dataset.limit_train=32", "dataset.limit_test=64", "batch_size=16",
            "mapping.init_input_range_from_data=3"]
    train(compose([*args, "epochs=2"]), tmp_path / "clean", log=lambda *_: None)
    train(compose([*args, "epochs=1"]), tmp_path / "part", log=lambda *_: None)
    train(compose([*args, "epochs=2", f"resume={tmp_path / 'part'}"]), tmp_path / "unused",
          log=lambda *_: None)
    rows = [[json.loads(line) for line in (tmp_path / d / "metrics.jsonl").read_text()
             .splitlines()] for d in ("clean", "part")]
    for a, b in zip(*rows, strict=True):
        for key in ("train_loss", "test_loss", "test_accuracy", "pulses"):
            assert a[key] == b[key], key
