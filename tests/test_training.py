"""The recipe and the analog plumbing: equivalences, reproducibility, divergence."""

import json

import torch

from xbrun.composition import compose
from xbrun.nn import AnalogSGD, convert_to_analog, convert_to_digital
from xbrun.nn.convert import AnalogSpec
from xbrun.physics.io import IOParameters, analog_mvm
from xbrun.training import loop
from xbrun.training.loop import train

SMALL = ["debug=tiny", "epochs=2"]


def test_perfect_io_is_an_exact_matmul():
    w, x = torch.randn(5, 7), torch.randn(4, 7)
    torch.testing.assert_close(analog_mvm(w, x, IOParameters(is_perfect=True)), x @ w.T)


def test_default_io_is_close_but_noisy():
    gen = torch.Generator().manual_seed(0)
    w, x = 0.1 * torch.randn(20, 30, generator=gen), torch.rand(50, 30, generator=gen)
    out = analog_mvm(w, x, IOParameters(), gen)
    err = (out - x @ w.T).std()
    # out_noise 0.06 is added after abs-max scaling, so it scales with max|x| (~1 here)
    assert 0.03 < err < 0.12


def test_ideal_cell_and_perfect_io_train_exactly_like_digital_sgd():
    """Analog plumbing adds nothing when the physics is switched off."""
    cfg = compose(["cell=ideal", "io=perfect"])
    torch.manual_seed(0)
    digital = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Sigmoid(),
                                  torch.nn.Linear(5, 3))
    analog = convert_to_analog(
        torch.nn.Sequential(*[type(m)(*([m.in_features, m.out_features]
                                         if isinstance(m, torch.nn.Linear) else []))
                              for m in digital]),
        AnalogSpec(cfg.device, cfg.cell, cfg.io, cfg.update))
    for a, d in zip(analog, digital, strict=False):
        if isinstance(d, torch.nn.Linear):
            a.set_weights(d.weight.detach(), d.bias.detach())
    opt_d = torch.optim.SGD(digital.parameters(), lr=0.3)
    opt_a = AnalogSGD(analog.parameters(), lr=0.3)
    for _ in range(3):
        x, y = torch.randn(8, 6), torch.randint(0, 3, (8,))
        for model, opt in ((digital, opt_d), (analog, opt_a)):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    exported = convert_to_digital(analog)
    for a, d in zip(exported, digital, strict=False):
        if isinstance(d, torch.nn.Linear):
            torch.testing.assert_close(a.weight, d.weight, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(a.bias, d.bias, rtol=1e-5, atol=1e-6)


def test_analog_bias_lives_on_the_tile():
    cfg = compose(["cell=ideal", "io=perfect", "mapping.digital_bias=false"])
    lin = torch.nn.Linear(4, 3)
    model = convert_to_analog(torch.nn.Sequential(lin), AnalogSpec(
        cfg.device, cfg.cell, cfg.io, cfg.update, digital_bias=False))
    assert model[0].tile.x_size == 5 and model[0].bias is None  # 4 inputs + bias column
    x = torch.randn(6, 4)
    torch.testing.assert_close(model(x), lin(x))


def test_pulsed_update_moves_weights_like_sgd_on_average():
    """Mean pulsed change over many repeats is -lr * d^T x (small updates, no saturation)."""
    cfg = compose(["cell.dw_min_dtod=0", "cell.up_down_dtod=0", "cell.w_max_dtod=0",
                   "cell.w_min_dtod=0", "cell.dw_min_std=0.3"])
    from xbrun.physics.array import PulsedArray

    gen = torch.Generator().manual_seed(1)
    x, d = torch.rand(2, 6, generator=gen), 0.1 * torch.randn(2, 4, generator=gen)
    lr, repeats = 0.05, 400
    deltas = []
    for _ in range(repeats):
        arr = PulsedArray(4, 6, cfg.cell, cfg.update, construction_seed=1)
        arr.update(x, d, lr, gen)
        deltas.append(arr.weight.clone())
    deltas = torch.stack(deltas)
    expected = -lr * d.T @ x
    tol = 4 * deltas.std(0) / repeats**0.5 + 1e-6
    assert ((deltas.mean(0) - expected).abs() <= tol).all()


def run(tmp_path, name, overrides):
    cfg = compose([*SMALL, *overrides])
    return train(cfg, tmp_path / name, log=lambda *_: None)


def test_same_seed_same_metrics_different_seed_differs(tmp_path):
    a = run(tmp_path, "a", ["seed=5"])
    b = run(tmp_path, "b", ["seed=5"])
    c = run(tmp_path, "c", ["seed=6"])
    ra = (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()
    rb = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    strip = [{k: v for k, v in json.loads(r).items() if k != "seconds"} for r in ra]
    assert strip == [{k: v for k, v in json.loads(r).items() if k != "seconds"} for r in rb]
    assert (a["test_loss"], a["pulses"]) != (c["test_loss"], c["pulses"])
    assert a["test_accuracy"] == b["test_accuracy"]


def test_diverged_run_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    real = loop.evaluate
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        loss, acc = real(*args, **kwargs)
        return (float("nan"), acc) if calls["n"] == 2 else (loss, acc)

    monkeypatch.setattr(loop, "evaluate", flaky)
    summary = run(tmp_path, "div", ["epochs=3"])
    assert summary["status"] == "diverged" and summary["epochs_done"] == 1
    saved = torch.load(tmp_path / "div" / "checkpoint.pt", weights_only=False)
    assert saved["epoch"] == 1
    rows = (tmp_path / "div" / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == 1
    on_disk = json.loads((tmp_path / "div" / "summary.json").read_text())
    assert on_disk["status"] == "diverged"


