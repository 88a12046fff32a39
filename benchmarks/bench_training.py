"""Training-epoch time of every analog device against plain digital PyTorch (`device=fp`).

Same model (the Tiki-taka MLP, 784-256-128-10 sigmoid), same batch size and the same
MNIST-shaped synthetic data, measured side by side in one process: the ratio is the figure.
"""

from __future__ import annotations

import time

import torch

from xbrun.cli import compose
from xbrun.devices import DEVICES
from xbrun.training.loop import pick_device, setup, train_epoch

DATA = ["dataset=synthetic", "dataset.n_features=784", "dataset.n_train=4096",
        "dataset.n_test=64"]


def epoch_seconds(overrides: list[str], repeats: int = 3) -> float:
    config = compose([*DATA, *overrides])
    device = pick_device(config.accelerator)
    data, model, optimizer, _ = setup(config, device)
    x, y = data.x_train.to(device), data.y_train.to(device)
    order = torch.arange(len(y), device=device)
    train_epoch(model, optimizer, x, y, order, config.batch_size)  # warm-up / compile
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        began = time.perf_counter()
        train_epoch(model, optimizer, x, y, order, config.batch_size)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - began)
    return sorted(times)[len(times) // 2]


def run(console, batch_sizes=(32, 256), cells=("constant_step",)) -> list[dict]:
    from rich.table import Table

    where = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name() if where == "cuda" else "CPU"
    results = []
    table = Table(title=f"training epoch vs device=fp ({name}; 4096 samples, mlp 784-256-128-10)")
    for col in ("device", "cell", "batch", "fp s/epoch", "device s/epoch", "ratio"):
        table.add_column(col, justify="left" if col in ("device", "cell") else "right")
    for batch in batch_sizes:
        fp = epoch_seconds(["device=fp", f"batch_size={batch}"])
        for kind in DEVICES:
            if kind == "fp":
                continue
            for cell in cells:
                t = epoch_seconds([f"device={kind}", f"cell={cell}", f"batch_size={batch}"])
                results.append({"device": kind, "cell": cell, "batch": batch, "fp": fp,
                                "seconds": t, "ratio": t / fp})
                table.add_row(kind, cell, str(batch), f"{fp:.4f}", f"{t:.4f}", f"{t / fp:.2f}x")
    console.print(table)
    return results
