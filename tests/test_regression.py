"""The regression task (dataset=regression, model=linear), its weight scores, the digital
baseline's gradient noise and the per-step records of ``log_every``."""

import json
import math

import pytest
import torch
from cli_run import run_cli
from torch import nn

import xbrun
from xbrun.api import objective_value
from xbrun.nn import convert_to_analog
from xbrun.nn.convert import AnalogSpec
from xbrun.nn.linear import AnalogLinear
from xbrun.training.data import RegressionConfig, load_dataset
from xbrun.training.loop import NoisyGradientSGD
from xbrun.training.models import LinearConfig, build_model
from xbrun.training.tasks import single_linear, task_loss, weight_metrics

REG = ["dataset=regression", "model=linear", "dataset.in_features=6", "dataset.out_features=3",
       "dataset.n_train=40", "dataset.n_test=20", "progress=none"]


def records(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def no_seconds(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


# ----------------------------------------------------------------- task and formulas ----
def test_data_are_the_papers_least_squares_draws():
    """One generator seeded by target_seed: W*, then the training inputs, then the test
    inputs; with one output exactly Wu et al.'s ``manual_seed(42); w = 0.5 randn(50);
    A = randn(100, 50)``. The run's seed does not enter."""
    split = load_dataset(RegressionConfig())
    torch.manual_seed(42)
    w = 0.5 * torch.randn(50)
    a = torch.randn(100, 50)
    assert torch.equal(split.target, w[None])
    assert torch.equal(split.x_train, a)
    assert torch.equal(split.y_train, a @ w[:, None])
    assert split.x_test.shape == (100, 50) and not torch.equal(split.x_test, a)
    other = load_dataset(RegressionConfig(in_features=4, out_features=3, n_train=7, n_test=5,
                                          target_seed=1, target_scale=2.0, limit_train=6))
    gen = torch.Generator().manual_seed(1)
    target = 2.0 * torch.randn(3, 4, generator=gen)
    assert torch.equal(other.target, target)
    assert other.x_train.shape == (6, 4) and other.n_classes == 3 and other.is_regression
    assert torch.allclose(other.y_test, other.x_test @ target.T)


def test_loss_is_half_the_squared_error_summed_over_outputs_and_averaged():
    gen = torch.Generator().manual_seed(3)
    out, y = torch.randn(5, 3, generator=gen), torch.randn(5, 3, generator=gen)
    direct = sum(0.5 * sum((out[i, j] - y[i, j]) ** 2 for j in range(3)) for i in range(5))
    assert float(task_loss(out, y)) == pytest.approx(float(direct) / 5, rel=1e-6)
    assert float(task_loss(out, y, reduction="sum")) == pytest.approx(float(direct), rel=1e-6)
    labels = torch.tensor([0, 2, 1, 1, 0])
    assert float(task_loss(out, labels)) == pytest.approx(
        float(nn.functional.cross_entropy(out, labels)))


def test_weight_metrics_against_a_direct_computation():
    gen = torch.Generator().manual_seed(4)
    target = torch.randn(3, 4, generator=gen)
    layer = nn.Linear(4, 3, bias=True)
    x = torch.randn(10, 4, generator=gen)
    w, b = layer.weight.detach().double(), layer.bias.detach().double()
    diff = (w - target.double()).flatten().tolist()
    n = len(diff)
    mean = sum(diff) / n
    got = weight_metrics(layer, target, x)
    assert got["weight_error"] == pytest.approx(
        math.sqrt(sum(d * d for d in diff)) / math.sqrt(float((target.double() ** 2).sum())))
    assert got["weight_rmse"] == pytest.approx(math.sqrt(sum(d * d for d in diff) / n))
    assert got["weight_std"] == pytest.approx(math.sqrt(sum((d - mean) ** 2 for d in diff) / n))
    # the exact loss is the task loss of the layer against y = W* x
    with torch.no_grad():
        y = x @ target.T
        assert got["exact_loss"] == pytest.approx(float(task_loss(layer(x), y)), rel=1e-5)
    assert b.shape == (3,)  # the bias enters exact_loss (through layer(x)), not the others


def test_analog_layer_is_scored_by_its_visible_weights():
    """An analog layer is read digitally (get_weights): programming constant weights on an
    ideal cell gives exactly those weights, so the scores are the digital ones."""
    cfg = xbrun.compose(["device=sgd", "cell=ideal"])
    model = build_model(LinearConfig(init="constant", init_value=0.25), (6,), 3)
    assert torch.all(model[1].weight == 0.25) and model[1].bias is None
    target = torch.randn(3, 6, generator=torch.Generator().manual_seed(5))
    want = weight_metrics(single_linear(model), target)
    spec = AnalogSpec(device=cfg.device, cell=cfg.cell, io=cfg.io, update=cfg.update,
                      decomposition=None, seed=0, mapping=cfg.mapping)
    analog = convert_to_analog(model, spec)
    layer = single_linear(analog)
    assert isinstance(layer, AnalogLinear)
    assert weight_metrics(layer, target) == pytest.approx(want, rel=1e-6)
    assert single_linear(build_model(xbrun.compose(["model.hidden=[4]"]).model, (6,), 3)) is None


def test_gradient_noise_has_the_configured_std_and_is_seeded():
    param = nn.Parameter(torch.zeros(20000))
    opt = NoisyGradientSGD([param], lr=0.5, std=0.2, seed=7, device=torch.device("cpu"))
    param.grad = torch.zeros_like(param)
    opt.step()
    step = -param.detach() / 0.5  # = the noise added to a zero gradient
    assert float(step.std()) == pytest.approx(0.2, rel=0.03)  # 20000 draws: sd of sd ~0.5 %
    assert abs(float(step.mean())) < 4 * 0.2 / math.sqrt(20000)
    again = nn.Parameter(torch.zeros(20000))
    opt2 = NoisyGradientSGD([again], lr=0.5, std=0.2, seed=7, device=torch.device("cpu"))
    again.grad = torch.zeros_like(again)
    opt2.step()
    assert torch.equal(again, param)


# ----------------------------------------------------------------- runs ------------------
def test_fp_training_drives_the_weight_error_down(tmp_path):
    summary = xbrun.train([*REG, "device=fp", "epochs=15", "batch_size=40", "lr=0.5",
                           "model.init=constant"], run_dir=tmp_path / "fp", log=lambda *_: None)
    rows = [r for r in records(tmp_path / "fp") if "step" not in r]
    assert summary["status"] == "finished" and summary["test_accuracy"] is None
    assert summary["config"]["objective"] == "weight_error"
    assert summary["weight_error"] == rows[-1]["weight_error"] < 0.05 < rows[0]["weight_error"]
    errors = [r["weight_error"] for r in rows]
    assert errors == sorted(errors, reverse=True)  # down every epoch
    assert objective_value("weight_error", summary) == summary["weight_error"]
    assert summary["test_loss"] < 0.01 * rows[0]["test_loss"]
    assert (tmp_path / "fp" / "curves.png").stat().st_size > 0


def test_analog_run_writes_step_records_with_step_zero_first(tmp_path, capsys):
    """The brief's command: 100 samples, batch 8 -> 13 steps an epoch."""
    code, _ = run_cli(["train", "dataset=regression", "model=linear", "device=sgd", "epochs=2",
                       "log_every=1", "progress=none", f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 0
    lines = records(tmp_path)
    steps = [r for r in lines if "step" in r]
    assert [r["step"] for r in steps] == list(range(27))
    assert lines[0]["step"] == 0 and lines[0]["epoch"] == 0 and lines[0]["train_loss"] is None
    assert [r["epoch"] for r in steps] == [0] + [1] * 13 + [2] * 13
    # each epoch's record follows its steps and has no step key
    assert [("step" in r, r["epoch"]) for r in lines][13:15] == [(True, 1), (False, 1)]
    epochs = [r for r in lines if "step" not in r]
    assert [r["epoch"] for r in epochs] == [1, 2] and epochs[0]["test_accuracy"] is None
    # the epoch's train loss is the mean of its steps' batch losses (12 of 8, one of 4)
    batch = [r["train_loss"] for r in steps[1:14]]
    assert epochs[0]["train_loss"] == pytest.approx((8 * sum(batch[:12]) + 4 * batch[12]) / 100)
    assert steps[13]["weight_error"] == epochs[0]["weight_error"]
    for r in steps:
        assert {"weight_error", "weight_rmse", "weight_std", "exact_loss"} <= set(r)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["weight_error"] == epochs[-1]["weight_error"]
    assert summary["best_test_accuracy"] is None
    out = capsys.readouterr()
    code, out = run_cli(["report", str(tmp_path), "--plot", str(tmp_path / "sweep.png")],
                        capsys)
    assert code == 0 and "weight_error" in out.out and "warning" not in out.err
    assert (tmp_path / "sweep.png").stat().st_size > 0


@pytest.mark.parametrize("device", ["sgd", "fp"])
def test_resume_continues_the_step_records(tmp_path, device):
    """A run resumed after epoch 2 writes the step records an uninterrupted run writes: 40
    samples in batches of 8 (5 steps an epoch), a point every 3 steps, so a point's loss
    spans an epoch boundary (and the checkpoint)."""
    extra = ["device.grad_noise_std=0.05"] if device == "fp" else []
    base = [*REG, f"device={device}", *extra, "batch_size=8", "log_every=3", "lr=0.1"]
    quiet = {"log": lambda *_: None}
    xbrun.train([*base, "epochs=4"], run_dir=tmp_path / "whole", **quiet)
    xbrun.train([*base, "epochs=2"], run_dir=tmp_path / "part", **quiet)
    xbrun.train([*base, "epochs=4", f"resume={tmp_path / 'part'}"], run_dir=tmp_path / "x",
                **quiet)
    whole, resumed = records(tmp_path / "whole"), records(tmp_path / "part")
    assert [r.get("step") for r in whole] == [0, 3, None, 6, 9, None, 12, 15, None, 18, None]
    assert no_seconds(resumed) == no_seconds(whole)


# ----------------------------------------------------------------- bad input -------------
@pytest.mark.parametrize("overrides,words", [
    (["dataset=regression", "dataset.in_features=0"], ["dataset.in_features", ">= 1"]),
    (["dataset=regression", "dataset.n_test=0"], ["dataset.n_test"]),
    (["dataset=regression", "dataset.target_scale=-1"], ["dataset.target_scale", "> 0"]),
    (["dataset=regression", "dataset.target_seed=-3"], ["dataset.target_seed"]),
    (["model=linear", "model.init=ones"], ["model.init", "default, constant"]),
    (["model=linear", "model.init_value=1"], ["model.init_value", "model.init=constant"]),
    (["device=fp", "device.grad_noise_std=-0.1"], ["device.grad_noise_std", ">= 0"]),
    (["device=sgd", "+device.grad_noise_std=0.1"], ["device.grad_noise_std", "unknown key"]),
    (["dataset=regression", "model=linear", "objective=test_accuracy"],
     ["objective", "no accuracy"]),
    (["objective=weight_error"], ["objective", "dataset=regression"]),
    (["dataset=regression", "model.hidden=[4]", "objective=weight_error"],
     ["objective", "model=linear"]),
    (["log_every=-1"], ["log_every"]),
])
def test_bad_values_are_one_line_exit_2(overrides, words, tmp_path, capsys):
    code, out = run_cli(["train", *overrides, f"hydra.run.dir={tmp_path / 'run'}"], capsys)
    assert code == 2, out
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xbrun: error: "), out.err
    assert all(w in lines[0] for w in words), lines[0]
    assert not (tmp_path / "run").exists()


def test_objective_auto_follows_the_task():
    assert xbrun.compose([]).objective == "test_accuracy"
    assert xbrun.compose(["dataset=regression", "model=linear"]).objective == "weight_error"
    assert xbrun.compose(["dataset=regression"]).objective == "test_loss"  # an MLP: no W
    assert xbrun.compose(["objective=reconstruction_error"]).objective == "reconstruction_error"


def test_linear_model_classifies_too(tmp_path):
    summary = xbrun.train(["model=linear", "model.bias=true", "epochs=1", "device=fp",
                           "dataset.limit_train=200", "progress=none"],
                          run_dir=tmp_path / "lin", log=lambda *_: None)
    assert summary["status"] == "finished" and summary["test_accuracy"] > 0.5
    assert "weight_error" not in summary


def test_full_batch_fp_steps_are_gradient_descent_on_the_documented_loss(tmp_path):
    """With batch_size = n_train each step is W <- W - lr (W - W*) X^T X / N, the gradient
    of mean_i 1/2 ||(W - W*) x_i||^2: the step records follow that recursion."""
    lr = 0.3
    xbrun.train([*REG, "device=fp", "epochs=4", "batch_size=40", f"lr={lr}", "log_every=1",
                 "model.init=constant", "model.init_value=0.2"], run_dir=tmp_path / "gd",
                log=lambda *_: None)
    steps = [r for r in records(tmp_path / "gd") if "step" in r]
    split = load_dataset(RegressionConfig(in_features=6, out_features=3, n_train=40, n_test=20))
    x, target = split.x_train.double(), split.target.double()
    gram = x.T @ x / len(x)
    weight = torch.full((3, 6), 0.2, dtype=torch.float64)
    assert [r["step"] for r in steps] == [0, 1, 2, 3, 4]
    for k, record in enumerate(steps):
        diff = weight - target
        assert record["weight_error"] == pytest.approx(float(diff.norm() / target.norm()),
                                                       rel=1e-5)
        assert record["exact_loss"] == pytest.approx(float(0.5 * (x @ diff.T).pow(2).sum(1)
                                                           .mean()), rel=1e-5)
        if k:  # the batch loss of step k was measured on the weights before it
            assert record["train_loss"] == pytest.approx(steps[k - 1]["exact_loss"], rel=1e-5)
        weight = weight - lr * diff @ gram


@pytest.mark.parametrize("device", ["fp", "sgd", "ttv1", "ttv2", "chopped", "agad",
                                    "mixed_precision"])
def test_every_device_trains_the_linear_layer(tmp_path, device):
    summary = xbrun.train([*REG, f"device={device}", "epochs=2", "batch_size=20",
                           "log_every=1", "model.init=constant", "lr=0.1"],
                          run_dir=tmp_path / device, log=lambda *_: None)
    steps = [r for r in records(tmp_path / device) if "step" in r]
    assert summary["status"] == "finished" and [r["step"] for r in steps] == [0, 1, 2, 3, 4]
    assert all(math.isfinite(r["weight_error"]) for r in steps)
    # the visible weights moved away from their start (all zero: weight_error exactly 1)
    assert steps[0]["weight_error"] == pytest.approx(1.0, abs=0.02)
    assert summary["weight_error"] != steps[0]["weight_error"]
