"""CPU time of one training step of the MNIST figures' own runs, beside the bench task's.

    python -m benchmarks.bench_figure_steps [--mnist data/mnist] [--steps 150] [--reps 3]
                                            [--rows wu2024-tt,wu2024-tt/hidden,...]
                                            [--device cpu|cuda] [--on PATH,..]

Each row is a run's composed config (its experiment and series, as ``xbrun figure`` runs it),
set up and stepped as ``xbrun train`` does (``loop.train_epoch``: on CUDA graph-replayed
where it can) on consecutive batches of its training set, timed over ``--steps`` steps
after 20 warm-up steps, ``--reps`` times (the median is reported: the machine is shared);
on the CPU with one thread. A row marked ``/hidden``
keeps a zero reference as a hidden conductance (``array.DROP_ZERO_REFERENCE`` off: the path
before it was dropped), and one marked ``/copies`` redraws write noise through temporaries
and gathers (``array.FOLLOW_IN_PLACE`` off), so the two rows of a figure compare the same
numbers' two paths in one process. Rows: ``ROWS`` (any of ``RUNS``, with a ``VARIANTS``
suffix or none). ``--on``: the switches of ``bench_switches``' paths turned on first (e.g.
``split-periphery``), to time a path off and on in two calls on one machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from xbrun.composition import compose
from xbrun.physics import array
from xbrun.training.graphs import StepRunner
from xbrun.training.loop import graphs_mode, setup, step_function, train_epoch

from .bench_training import DATA

WU = ["experiment=wu2024-mnist", "+experiment/wu2024-mnist-tau=tau060"]
WU25 = ["experiment=wu2025-mnist", "+experiment/wu2025-mnist-tau=tau060"]
GOKMEN = ["experiment=gokmen2020-tiki-taka"]
LEGALLO = ["experiment=legallo2023-training"]
TTFA = ["experiment=tt-family-asymmetry", "cell.up_down=0.3"]
RUNS = {  # name -> (overrides, MNIST?)
    "wu2024-tt": ([*WU, "+experiment/wu2024-mnist=tiki_taka"], True),
    "wu2024-sgd": ([*WU, "+experiment/wu2024-mnist=analog_sgd"], True),
    "wu2024-fp": ([*WU, "+experiment/wu2024-mnist=fp"], True),
    "wu2025-tt": ([*WU25, "+experiment/wu2025-mnist=tiki_taka"], True),
    "gokmen2020-tt": ([*GOKMEN, "+experiment/gokmen2020-tiki-taka=tiki_taka"], True),
    "gokmen2020-sgd": ([*GOKMEN, "+experiment/gokmen2020-tiki-taka=sgd_asymmetric"], True),
    "legallo2023-ttv2": ([*LEGALLO, "+experiment/legallo2023-training=ttv2"], True),
    "legallo2023-sgd": ([*LEGALLO, "+experiment/legallo2023-training=sgd"], True),
    "legallo2023-mp": ([*LEGALLO, "+experiment/legallo2023-training=mixed_precision"], True),
    "ttfa-ttv2": ([*TTFA, "+experiment/tt-family-asymmetry=ttv2"], True),
    "ttfa-agad": ([*TTFA, "+experiment/tt-family-asymmetry=agad"], True),
    "bench-ttv1-b10": ([*DATA, "device=ttv1", "batch_size=10"], False),
    "bench-ttv1-b32": ([*DATA, "device=ttv1", "batch_size=32"], False),
}
VARIANTS = {  # a row's suffix -> the ``array`` switch it turns off (the path before)
    "hidden": "DROP_ZERO_REFERENCE",
    "copies": "FOLLOW_IN_PLACE",
}
ROWS = ["wu2024-tt", "wu2024-tt/hidden", "wu2024-sgd", "wu2024-sgd/hidden", "wu2024-fp",
        "wu2025-tt", "wu2025-tt/hidden", "gokmen2020-tt", "gokmen2020-sgd",
        "legallo2023-ttv2", "legallo2023-ttv2/copies", "legallo2023-sgd",
        "legallo2023-sgd/copies", "legallo2023-mp", "legallo2023-mp/copies", "ttfa-ttv2",
        "ttfa-agad", "bench-ttv1-b10", "bench-ttv1-b32"]


def step_ms(overrides: list[str], steps: int, reps: int, device: str) -> list[float]:
    """Median-ready ms a step of ``reps`` timed stretches of ``steps`` steps each, stepped
    as ``xbrun train`` steps (``train_epoch``; on CUDA graph-replayed where it can)."""
    config = compose([*overrides, f"accelerator={device}"])
    dev = torch.device(device)
    data, model, optimizer, _ = setup(config, dev)
    x, y, batch = data.x_train.to(dev), data.y_train.to(dev), config.batch_size
    runner = StepRunner(step_function(None), model, optimizer, graphs_mode(config, dev),
                        log=lambda *_: None)
    spans = [(20, 0), *((steps, 20 + r * steps) for r in range(reps))]
    rows = [(torch.arange(n * batch) + first * batch).remainder(len(y)).to(dev)
            for n, first in spans]  # consecutive batches, wrapping at the end of the set

    def run(order: torch.Tensor) -> None:
        float(train_epoch(model, optimizer, x, y, order, batch, runner))  # waits for the GPU

    run(rows[0])
    times = []
    for order in rows[1:]:
        start = time.perf_counter()
        run(order)
        times.append(1e3 * (time.perf_counter() - start) / steps)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", default="data/mnist", help="dataset.root of the MNIST rows")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--device", default="cpu", help="cpu, or cuda (graph-replayed steps)")
    parser.add_argument("--on", default="",
                        help="bench_switches paths to turn on, comma-separated (split-periphery)")
    args = parser.parse_args()
    if args.on:
        from .bench_switches import PATHS
        for path in args.on.split(","):
            for module, switch in PATHS[path][0]:
                setattr(module, switch, True)
    if args.device == "cpu":
        torch.set_num_threads(1)
    for name in args.rows.split(","):
        run, _, variant = name.partition("/")
        overrides, mnist = RUNS[run]
        if variant:
            setattr(array, VARIANTS[variant], False)
        try:
            times = step_ms([*overrides, *([f"dataset.root={args.mnist}"] if mnist else [])],
                            args.steps, args.reps, args.device)
        finally:
            array.DROP_ZERO_REFERENCE = array.FOLLOW_IN_PLACE = True
        print(f"{name:>18} ({args.device}): {statistics.median(times):.2f} ms a step (median of "
              + ", ".join(f"{t:.2f}" for t in times) + ")", flush=True)


if __name__ == "__main__":
    main()
