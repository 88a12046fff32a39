"""Training-epoch time of aihwkit 1.2.0 against plain PyTorch, the same tasks as xbrun's
benchmarks/bench_training.py, run with the Python of an aihwkit install (xbrun never imports
aihwkit; ``aihwkit_anchor`` runs this file in a subprocess).

Shapes (``--shape``):
- ``bench``: MLP 784-256-128-10 sigmoid, 4096 random MNIST-shaped samples, NLL loss;
- ``large``: MLP 784-4096-4096-10 sigmoid, the same data (issue 27; batch 256);
- ``resnet``: the CIFAR ResNet of xbrun's ``model=resnet`` (depth 20, width 16, batch norm
  digital), 2048 random [3, 32, 32] images, cross-entropy (issue 27; batch 128), made analog
  with aihwkit's ``convert_to_analog`` (AnalogConv2d, AnalogLinear).
10 classes, plain SGD at lr 0.1, median of ``--repeats`` epochs after one warm-up epoch.
Cells are ConstantStepDevice with aihwkit defaults (= xbrun's cell=constant_step io=default),
tiles at aihwkit's default mapping (at most 512x512, as xbrun's mapping=default).

usage: python aihwkit_epoch_bench.py [--where cuda|cpu] [--shape bench|large|resnet]
       [--batches 32,256] [--devices sgd,...] [--repeats 3] [--smoke]
Prints one JSON line per (device, batch): seconds per epoch and the ratio to fp. ``--smoke``
instead builds every device on the shape, runs two steps and reads the weights back, one JSON
line each (run it under ``python -X faulthandler``: a crash names the device).
"""
import argparse
import json
import time

import torch
from aihwkit.nn import AnalogLinear, AnalogSequential
from aihwkit.optim import AnalogSGD
from aihwkit.simulator.configs import (
    BufferedTransferCompound,
    ChoppedTransferCompound,
    ConstantStepDevice,
    DigitalRankUpdateRPUConfig,
    DynamicTransferCompound,
    MixedPrecisionCompound,
    SingleRPUConfig,
    TransferCompound,
    UnitCellRPUConfig,
)
from torch import nn

DEVICES = "sgd,ttv1,ttv2,chopped,agad,mixed_precision"


def rpu(name):
    cs = ConstantStepDevice
    if name == "sgd":
        return SingleRPUConfig(device=cs())
    if name == "mixed_precision":
        return DigitalRankUpdateRPUConfig(device=MixedPrecisionCompound(device=cs()))
    compound = {"ttv1": TransferCompound, "ttv2": BufferedTransferCompound,
                "chopped": ChoppedTransferCompound, "agad": DynamicTransferCompound}[name]
    return UnitCellRPUConfig(device=compound(unit_cell_devices=[cs(), cs()]))


class BasicBlock(nn.Module):
    """xbrun.training.models.BasicBlock, written out (this file must not import xbrun)."""

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """xbrun.training.models.CifarResNet (depth 6n+2, stages width, 2 width, 4 width)."""

    def __init__(self, in_channels=3, n_classes=10, depth=20, width=16):
        super().__init__()
        n = (depth - 2) // 6
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        blocks, c = [], width
        for stage, c_out in enumerate((width, 2 * width, 4 * width)):
            for i in range(n):
                blocks.append(BasicBlock(c, c_out, 2 if (stage > 0 and i == 0) else 1))
                c = c_out
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, n_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


def mlp(name, sizes):
    if name == "fp":
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), nn.Sigmoid()]
        return nn.Sequential(*layers[:-1], nn.LogSoftmax(dim=1))
    c = rpu(name)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [AnalogLinear(a, b, rpu_config=c), nn.Sigmoid()]
    return AnalogSequential(*layers[:-1], nn.LogSoftmax(dim=1))


def task(shape, name, where):
    """(model, x, y, loss) of one shape, data seeded as every row's."""
    torch.manual_seed(0)
    if shape == "resnet":
        x = torch.rand(2048, 3, 32, 32, device=where)
        y = torch.randint(0, 10, (2048,), device=where)
        m = CifarResNet()
        if name != "fp":
            from aihwkit.nn.conversion import convert_to_analog
            m = convert_to_analog(m, rpu(name))
        return m.to(where), x, y, nn.CrossEntropyLoss()
    x = torch.rand(4096, 784, device=where)
    y = torch.randint(0, 10, (4096,), device=where)
    sizes = [784, 256, 128, 10] if shape == "bench" else [784, 4096, 4096, 10]
    return mlp(name, sizes).to(where), x, y, nn.NLLLoss()


def optimizer(m, name):
    if name == "fp":
        return torch.optim.SGD(m.parameters(), lr=0.1)
    opt = AnalogSGD(m.parameters(), lr=0.1)
    opt.regroup_param_groups(m)
    return opt


def epoch_seconds(shape, name, batch, where, repeats=3):
    m, x, y, loss_fn = task(shape, name, where)
    opt = optimizer(m, name)

    def epoch():
        for i in range(0, len(y), batch):
            opt.zero_grad()
            loss_fn(m(x[i:i + batch]), y[i:i + batch]).backward()
            opt.step()

    epoch()  # warm-up
    times = []
    for _ in range(repeats):
        if where == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        epoch()
        if where == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def smoke(shape, name, batch, where, steps=3):
    """Build, a few steps (each with a transfer at aihwkit's default periods), weights back
    to the host: what crashed in an earlier CUDA build."""
    m, x, y, loss_fn = task(shape, name, where)
    opt = optimizer(m, name)
    for i in range(steps):
        opt.zero_grad()
        loss = loss_fn(m(x[i * batch:(i + 1) * batch]), y[i * batch:(i + 1) * batch])
        loss.backward()
        opt.step()
    if where == "cuda":
        torch.cuda.synchronize()
    total = 0.0
    for tile in m.analog_tiles():
        w = tile.get_weights()
        total += float((w[0] if isinstance(w, (tuple, list)) else w).abs().sum())
    return float(loss.detach()), total


def environment():
    """Versions, the extension's path and the BLAS libraries this process maps (a CUDA build
    that links OpenBLAS statically maps none of its own)."""
    import aihwkit
    from aihwkit.simulator import rpu_base

    maps = {line.split()[-1] for line in open("/proc/self/maps") if "blas" in line.lower()}
    pybind = {k: getattr(torch._C, k, None) for k in
              ("_PYBIND11_COMPILER_TYPE", "_PYBIND11_STDLIB", "_PYBIND11_BUILD_ABI")}
    return dict(aihwkit=aihwkit.__version__, torch=torch.__version__, rpu_base=rpu_base.__file__,
                cuda_compiled=bool(rpu_base.cuda.is_compiled()),
                torch_cxx11_abi=torch.compiled_with_cxx11_abi(), torch_pybind11=pybind,
                mapped_blas=sorted(maps))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--where", default="cuda")
    ap.add_argument("--shape", default="bench", choices=("bench", "large", "resnet"))
    ap.add_argument("--batches", default="")
    ap.add_argument("--devices", default=DEVICES)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    batches = a.batches or {"bench": "32,256", "large": "256", "resnet": "128"}[a.shape]
    if a.where == "cpu":
        torch.set_num_threads(1)
    if a.smoke:
        for d in a.devices.split(","):
            t0 = time.perf_counter()
            try:
                loss, wsum = smoke(a.shape, d, int(batches.split(",")[0]), a.where)
                row = dict(smoke=d, shape=a.shape, ok=loss == loss and wsum == wsum,
                           loss=round(loss, 4), abs_weight_sum=round(wsum, 3))
            except Exception as e:  # keep the other rows
                row = dict(smoke=d, shape=a.shape, ok=False, error=repr(e)[:300])
            row["seconds"] = round(time.perf_counter() - t0, 2)
            print(json.dumps(row), flush=True)
        print(json.dumps(environment()), flush=True)
        raise SystemExit(0)
    for b in (int(v) for v in batches.split(",")):
        fp = epoch_seconds(a.shape, "fp", b, a.where, a.repeats)
        print(json.dumps(dict(device="fp", batch=b, shape=a.shape, seconds=round(fp, 5), ratio=1.0,
                              where=a.where)), flush=True)
        for d in a.devices.split(","):
            try:
                t = epoch_seconds(a.shape, d, b, a.where, a.repeats)
                print(json.dumps(dict(device=d, batch=b, shape=a.shape, seconds=round(t, 5),
                                      ratio=round(t / fp, 2), where=a.where)), flush=True)
            except Exception as e:  # keep the other rows
                print(json.dumps(dict(device=d, batch=b, shape=a.shape, error=repr(e)[:300],
                                      where=a.where)), flush=True)
