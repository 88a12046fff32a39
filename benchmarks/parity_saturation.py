"""Saturated sigmoids of the digits MLP in xbrun and in aihwkit, from the same start.

Issue 21's fifth point: from the same initial state, aihwkit's second hidden layer kept
about twice as many saturated sigmoids as xbrun's in epochs 2-4. This script runs both
simulators through the same controlled experiment and prints, per epoch, the fraction of
saturated units of each hidden layer (a unit is saturated where its output lies outside
[0.05, 0.95] for at least 90 % of the training samples) and the test accuracy:

1. ``prepare`` (xbrun's venv): the run's data, the analog model xbrun builds for a seed
   (its initial weights and biases) and the batch order of every epoch -> one ``.pt`` file.
2. ``xbrun`` (xbrun's venv) and ``aihwkit`` (an aihwkit 1.2.0 venv, see
   ``../shared/anchors/build-aihwkit``): the same loop on that file - forward, cross
   entropy, backward, SGD on the digital biases, the pulsed update - one JSON line per
   epoch.

The cell is ConstantStep with aihwkit's defaults unless ``--no-noise`` (``dw_min_std=0``)
or ``--no-spread`` (all ``*_dtod=0``); ``--perfect`` turns I/O off on both sides. Only
xbrun's side reads xbrun; aihwkit is imported by the ``aihwkit`` side alone (xbrun never
imports it). docs/parity.md reports what it found.

    .venv/bin/python benchmarks/parity_saturation.py prepare --seed 0 --out /tmp/s0.pt
    .venv/bin/python benchmarks/parity_saturation.py xbrun /tmp/s0.pt
    /work/aihwkit-venv/bin/python benchmarks/parity_saturation.py aihwkit /tmp/s0.pt
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch import nn

NO_SPREAD = ("dw_min_dtod", "up_down_dtod", "w_max_dtod", "w_min_dtod")
LOW, HIGH, SHARE = 0.05, 0.95, 0.9


def cell_keys(noise: bool, spread: bool) -> dict:
    keys = {}
    if not noise:
        keys["dw_min_std"] = 0.0
    if not spread:
        keys.update({k: 0.0 for k in NO_SPREAD})
    return keys


def prepare(args) -> None:
    from xbrun import compose
    from xbrun.training.loop import setup

    overrides = [f"seed={args.seed}", f"lr={args.lr}", f"batch_size={args.batch}"]
    overrides += [f"cell.{k}={v}" for k, v in cell_keys(args.noise, args.spread).items()]
    if args.perfect:
        overrides.append("io=perfect")
    if args.implicit:
        overrides += ["update.pulse_type=deterministic_implicit", "update.x_res_implicit=0.01",
                      "update.d_res_implicit=0.01"]  # aihwkit's resolutions
    config = compose(overrides)
    data, model, _, _ = setup(config, torch.device("cpu"))
    weights = [tuple(None if t is None else t.detach().clone() for t in layer.get_weights())
               for layer in analog_layers(model)]
    gen = torch.Generator().manual_seed(1000 + args.seed)
    orders = [torch.randperm(len(data.y_train), generator=gen) for _ in range(args.epochs)]
    torch.save({"x_train": data.x_train.flatten(1), "y_train": data.y_train,
                "x_test": data.x_test.flatten(1), "y_test": data.y_test, "weights": weights,
                "orders": orders, "overrides": overrides, "lr": args.lr, "batch": args.batch,
                "noise": args.noise, "spread": args.spread, "perfect": args.perfect,
                "implicit": args.implicit, "seed": args.seed}, args.out)


def saturation(model: nn.Module, x: torch.Tensor) -> list[float]:
    """Per hidden layer: the share of units outside [LOW, HIGH] on >= SHARE of samples."""
    shares = []

    def record(_module, _inputs, out):
        outside = ((out < LOW) | (out > HIGH)).float().mean(0)
        shares.append(round(float((outside >= SHARE).float().mean()), 4))

    hooks = [m.register_forward_hook(record) for m in model.modules()
             if isinstance(m, nn.Sigmoid)]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return shares


def analog_layers(model: nn.Module) -> list:
    from xbrun.nn.linear import AnalogLinear

    return [m for m in model.modules() if isinstance(m, AnalogLinear)]


def run(model, optimizer, state, side: str, layers, steps: int = 0, dump: str = "") -> None:
    """Train on the file's batches, one JSON line per epoch; with ``steps``, stop after that
    many steps and save the layers' (weight, bias) to ``dump``."""
    loss_fn = nn.CrossEntropyLoss()
    x, y, batch = state["x_train"], state["y_train"], state["batch"]
    began, done = time.perf_counter(), 0
    for epoch, order in enumerate(state["orders"], start=1):
        model.train()
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            optimizer.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            optimizer.step()
            done += 1
            if steps and done == steps:
                torch.save([tuple(None if t is None else t.detach().clone()
                                  for t in layer.get_weights()) for layer in layers], dump)
                return
        model.eval()
        with torch.no_grad():
            acc = float((model(state["x_test"]).argmax(1) == state["y_test"]).float().mean())
        print(json.dumps({"side": side, "seed": state["seed"], "epoch": epoch,
                          "saturated": saturation(model, x), "test_accuracy": round(acc, 4),
                          "noise": state["noise"], "spread": state["spread"],
                          "perfect": state["perfect"],
                          "seconds": round(time.perf_counter() - began, 1)}), flush=True)


def xbrun_side(args) -> None:
    from xbrun import compose
    from xbrun.nn.optimizer import AnalogSGD
    from xbrun.training.loop import setup

    state = torch.load(args.file, weights_only=True)
    config = compose(state["overrides"])
    _, model, _, _ = setup(config, torch.device("cpu"))
    for layer, (w, b) in zip(analog_layers(model), state["weights"], strict=True):
        layer.set_weights(w, b)
    optimizer = AnalogSGD(model.parameters(), lr=state["lr"])

    class Step:  # the loop's order: digital SGD, then the analog update
        def zero_grad(self):
            optimizer.zero_grad(set_to_none=True)

        def step(self):
            optimizer.step(analog=False)
            optimizer.analog_step()

    run(model, Step(), state, "xbrun", analog_layers(model), args.steps, args.dump)


def aihwkit_side(args) -> None:
    from aihwkit.nn import AnalogLinear, AnalogSequential
    from aihwkit.optim import AnalogSGD
    from aihwkit.simulator.configs import ConstantStepDevice, SingleRPUConfig
    from aihwkit.simulator.parameters import IOParameters

    state = torch.load(args.file, weights_only=True)
    torch.manual_seed(state["seed"])
    rpu = SingleRPUConfig(device=ConstantStepDevice(**cell_keys(state["noise"],
                                                                state["spread"])))
    if state.get("implicit"):
        from aihwkit.simulator.parameters.enums import PulseType

        rpu.update.pulse_type = PulseType.DETERMINISTIC_IMPLICIT
        rpu.update.x_res_implicit = rpu.update.d_res_implicit = 0.01
    if state["perfect"]:
        rpu.forward = IOParameters(is_perfect=True)
        rpu.backward = IOParameters(is_perfect=True)
    mods = []
    for i, (w, b) in enumerate(state["weights"]):
        layer = AnalogLinear(w.shape[1], w.shape[0], bias=b is not None, rpu_config=rpu)
        layer.set_weights(w, b)
        mods.append(layer)
        if i < len(state["weights"]) - 1:
            mods.append(nn.Sigmoid())
    model = AnalogSequential(*mods)
    optimizer = AnalogSGD(model.parameters(), lr=state["lr"])
    optimizer.regroup_param_groups(model)
    run(model, optimizer, state, "aihwkit", [m for m in mods if isinstance(m, AnalogLinear)],
        args.steps, args.dump)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--lr", type=float, default=1.0)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--no-noise", dest="noise", action="store_false")
    p.add_argument("--no-spread", dest="spread", action="store_false")
    p.add_argument("--perfect", action="store_true")
    p.add_argument("--implicit", action="store_true",
                   help="deterministic_implicit trains: both sides without randomness")
    p.add_argument("--out", required=True)
    for name in ("xbrun", "aihwkit"):
        q = sub.add_parser(name)
        q.add_argument("file")
        q.add_argument("--steps", type=int, default=0, help="stop after N steps, save weights")
        q.add_argument("--dump", default="", help="where --steps saves the weights")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    {"prepare": prepare, "xbrun": xbrun_side, "aihwkit": aihwkit_side}[args.cmd](args)


if __name__ == "__main__":
    main()
