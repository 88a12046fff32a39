"""What the cost ledger costs: a training epoch with the per-cell pulse counters on against
off (``energy.count_cells``), side by side in one process, plus the end-of-epoch read of the
counters (``CostLedger.epoch``, one host sync). The target (issue 24): counting adds at most
5 % to an epoch.

    python -m benchmarks.bench_ledger                 # bench task, batch 32 (CPU or CUDA)
    python -m benchmarks.bench_ledger --large         # also 784-4096-4096-10 at batch 256
"""

from __future__ import annotations

import time

import torch

from xbrun.composition import compose
from xbrun.training.cost import CostLedger
from xbrun.training.graphs import StepRunner
from xbrun.training.loop import graphs_mode, pick_device, setup, train_epoch, training_step

from .bench_training import DATA, LARGE

ROWS = ("sgd", "chopped", "mixed_precision")


def _epochs(overrides: list[str], repeats: int) -> dict:
    """Median epoch seconds with the counters on and off (alternating, same model
    shapes and data), and the seconds of one ``CostLedger.epoch`` read."""
    out = {}
    for counting in (True, False):
        config = compose([*DATA, *overrides, f"energy.count_cells={counting}"])
        device = pick_device(config.accelerator)
        if config.threads:
            torch.set_num_threads(config.threads)
        data, model, optimizer, _ = setup(config, device)
        ledger = CostLedger(model, config.energy)
        x, y = data.x_train.to(device), data.y_train.to(device)
        order = torch.arange(len(y), device=device)
        runner = StepRunner(training_step, model, optimizer, graphs_mode(config, device),
                            log=lambda _: None)
        train_epoch(model, optimizer, x, y, order, config.batch_size, runner)  # warm-up
        out[counting] = (model, optimizer, runner, ledger, x, y, order, config.batch_size)
    times = {True: [], False: []}
    for _ in range(repeats):
        for counting in (True, False):  # interleaved: drifts of the machine hit both
            model, optimizer, runner, _, x, y, order, batch = out[counting]
            if x.is_cuda:
                torch.cuda.synchronize()
            began = time.perf_counter()
            train_epoch(model, optimizer, x, y, order, batch, runner)
            if x.is_cuda:
                torch.cuda.synchronize()
            times[counting].append(time.perf_counter() - began)
    ledger = out[True][3]
    began = time.perf_counter()
    ledger.epoch()
    read = time.perf_counter() - began

    def median(values):
        return sorted(values)[len(values) // 2]

    return {"on": median(times[True]), "off": median(times[False]), "read": read}


def run(console, repeats: int = 5, large: bool = False, rows=ROWS) -> list[dict]:
    from rich.table import Table

    where = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    table = Table(title=f"cost ledger: epoch with per-cell counters on / off ({where})")
    for col in ("device", "shape", "off s/epoch", "on s/epoch", "overhead", "ledger read s"):
        table.add_column(col, justify="left" if col in ("device", "shape") else "right")
    shapes = [("784-256-128-10 b32", ["batch_size=32"])]
    if large:
        shapes.append(("784-4096-4096-10 b256", LARGE))
    results = []
    for label, shape in shapes:
        for kind in rows:
            t = _epochs([f"device={kind}", *shape], repeats)
            overhead = t["on"] / t["off"] - 1
            results.append({"device": kind, "shape": label, **t, "overhead": overhead})
            table.add_row(kind, label, f"{t['off']:.4f}", f"{t['on']:.4f}",
                          f"{100 * overhead:+.1f}%", f"{t['read']:.4f}")
    console.print(table)
    return results


def main() -> None:
    import argparse

    from rich.console import Console

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--large", action="store_true")
    parser.add_argument("--rows", default=",".join(ROWS))
    args = parser.parse_args()
    run(Console(width=160), args.repeats, args.large, tuple(args.rows.split(",")))


if __name__ == "__main__":
    main()
