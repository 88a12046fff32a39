"""`make bench`: every benchmark's table of ratios, measured side by side in one run.

On CUDA: the pulsed-update kernel, the training epochs at both shapes (with the floor of
exact pulsing at the large one), the cost ledger's counters on against off. On a CPU
(about 5 minutes on 2 cores): the training epochs of the bench task at batch 32, the CPU
floor of the large shape, and a per-step profile.
"""

import json
import os

import torch
from rich.console import Console


def main() -> None:
    console = Console(width=160)
    results = {}
    from . import bench_training

    if torch.cuda.is_available():
        from . import bench_pulsed_update

        results["pulsed_update"] = bench_pulsed_update.run(console)
        results["training"] = bench_training.run(console)
        from . import bench_ledger

        results["ledger"] = bench_ledger.run(console, large=True)
    else:
        from . import profile_step

        console.print("[yellow]no CUDA GPU: training ratios on the CPU (reference path); "
                      "kernel benchmarks need a GPU[/yellow]")
        results["training"] = bench_training.run(console, batch_sizes=(32,), repeats=1)
        results["profile"] = profile_step.run(console)
    out = os.environ.get("XBRUN_BENCH_JSON")
    if out:
        with open(out, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
