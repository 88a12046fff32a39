"""`make bench`: every benchmark's table of ratios, measured side by side in one run."""

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
    else:
        console.print("[yellow]no CUDA GPU: training ratios on the CPU (reference path); "
                      "kernel benchmarks need a GPU[/yellow]")
        results["training"] = bench_training.run(console, batch_sizes=(32,))
    out = os.environ.get("XBRUN_BENCH_JSON")
    if out:
        with open(out, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
