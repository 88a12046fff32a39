"""Where a training step's time goes on the CPU: cProfile over steps of the bench task.

    python -m benchmarks.profile_step [--device sgd] [--steps 40] [--top 15]

Sets up the bench task of ``bench_training`` (784-256-128-10, batch 32, lr 0.1), runs a few
warm-up steps, then profiles ``--steps`` eager steps and prints the entries with the most
own time (tottime) and their share of the profiled time: what remains in Python per step,
measured rather than guessed.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats

import torch

from xbrun.composition import compose
from xbrun.training.loop import setup, training_step

from .bench_training import DATA


def profile(device: str = "sgd", steps: int = 40, top: int = 15, batch: int = 32) -> list[dict]:
    config = compose([*DATA, f"device={device}", f"batch_size={batch}", "accelerator=cpu"])
    data, model, optimizer, _ = setup(config, torch.device("cpu"))
    x, y = data.x_train, data.y_train

    def run(n, first=0):
        for s in range(first, first + n):
            rows = slice((s * batch) % len(y), (s * batch) % len(y) + batch)
            training_step(model, optimizer, x[rows], y[rows])

    run(3)
    prof = cProfile.Profile()
    prof.enable()
    run(steps, 3)
    prof.disable()
    stats = pstats.Stats(prof)
    total = stats.total_tt
    rows = []
    for (path, line, func), (_, ncalls, tottime, cumtime, _) in stats.stats.items():
        rows.append({"where": f"{path.split('site-packages/')[-1].split('xbrun/')[-1]}:"
                              f"{line}({func})", "calls_per_step": ncalls / steps,
                     "own_ms_per_step": 1e3 * tottime / steps,
                     "cum_ms_per_step": 1e3 * cumtime / steps,
                     "share": tottime / total if total else 0.0})
    rows.sort(key=lambda r: r["own_ms_per_step"], reverse=True)
    rows = rows[:top]
    rows.insert(0, {"step_ms": 1e3 * total / steps})
    return rows


def run(console, device: str = "sgd", steps: int = 40, top: int = 15) -> list[dict]:
    from rich.table import Table

    rows = profile(device, steps, top)
    table = Table(title=f"cProfile, device={device}, bench task, batch 32, CPU: "
                        f"{rows[0]['step_ms']:.2f} ms per step (profiled), top {top} by own time")
    for col in ("own ms/step", "share", "cum ms/step", "calls/step", "function"):
        table.add_column(col, justify="left" if col == "function" else "right")
    for r in rows[1:]:
        table.add_row(f"{r['own_ms_per_step']:.3f}", f"{100 * r['share']:.1f}%",
                      f"{r['cum_ms_per_step']:.3f}", f"{r['calls_per_step']:.0f}", r["where"])
    console.print(table)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="sgd")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    from rich.console import Console

    run(Console(width=160), args.device, args.steps, args.top)


if __name__ == "__main__":
    main()
