"""Speed-up of one run on 2 GPUs (``distributed.nproc=2``, NCCL) over the same run on 1.

    python -m benchmarks.bench_distributed            # on a machine with 2 CUDA GPUs
    python -m benchmarks.bench_distributed --shapes resnet --epochs 3 --batches 256,1024

Each row runs ``xbrun train`` as a user would (a subprocess per run, so each run starts as
the CLI starts it) and reads the seconds of its epochs from ``metrics.jsonl``; the figure
is the median epoch after the first (compilation, graph capture, cuDNN autotuning), with
a test split of 64 samples so that the epoch is training. Three runs per row, side by side:
1 GPU as ``xbrun train`` runs it (``cuda_graphs=auto``: replayed graphs), 1 GPU with eager
steps (``cuda_graphs=off``, as the distributed steps run) and 2 GPUs. The speed-ups are
``1 GPU / 2 GPUs`` against each. Same global batch on both, so the same number of steps
and updates per epoch: the 2-GPU step computes half the forward and backward per GPU and
the whole batch's analog update on each (the replicas stay identical).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

MLP = ["dataset=synthetic", "dataset.n_features=784", "dataset.n_train=4096",
       "dataset.n_test=64", "model.hidden=[4096,4096]", "lr=0.1"]
RESNET = ["model=resnet", "dataset=synthetic", "dataset.image_shape=[3,32,32]",
          "dataset.n_train=2048", "dataset.n_test=64", "lr=0.1"]
SHAPES = {"mlp": ("mlp 784-4096-4096-10", MLP), "resnet": ("resnet 3x32x32", RESNET)}


def epoch_seconds(overrides: list[str], folder: Path, accelerator: str = "cuda") -> float:
    """Median seconds per epoch after the first of ``xbrun train OVERRIDES``."""
    cmd = [sys.executable, "-m", "xbrun", "train", *overrides, f"accelerator={accelerator}",
           "progress=none", f"hydra.run.dir={folder}"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-3000:]}")
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    seconds = [r["seconds"] for r in rows if "step" not in r][1:]
    return statistics.median(seconds)


def run(epochs: int, batches: list[int], devices: list[str], shapes: list[str]) -> list[dict]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, shape in (SHAPES[s] for s in shapes):
            for batch in batches:
                for device in devices:
                    base = [*shape, f"device={device}", f"batch_size={batch}",
                            f"epochs={epochs}"]
                    tag = f"{name.split()[0]}-{batch}-{device}"
                    t_graph = epoch_seconds(base, Path(tmp) / f"{tag}-1g")
                    t_eager = epoch_seconds([*base, "cuda_graphs=off"],
                                            Path(tmp) / f"{tag}-1e")
                    t_two = epoch_seconds([*base, "distributed.nproc=2"],
                                          Path(tmp) / f"{tag}-2")
                    row = {"shape": name, "batch": batch, "device": device,
                           "one_gpu_s": t_graph, "one_gpu_eager_s": t_eager,
                           "two_gpus_s": t_two, "speedup": t_graph / t_two,
                           "speedup_vs_eager": t_eager / t_two}
                    print(f"{name:22s} batch {batch:5d} {device:8s} 1 GPU {t_graph:7.3f} s "
                          f"(eager {t_eager:7.3f} s)  2 GPUs {t_two:7.3f} s  speed-up "
                          f"{row['speedup']:.2f}x (vs eager {row['speedup_vs_eager']:.2f}x)",
                          flush=True)
                    results.append(row)
    return results


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--shapes", default="mlp,resnet", help="mlp, resnet or both")
    parser.add_argument("--batches", default="256,1024")
    parser.add_argument("--devices", default="sgd", help="e.g. sgd,chopped")
    parser.add_argument("--json", metavar="FILE", help="also write the rows to FILE")
    args = parser.parse_args()
    if torch.cuda.device_count() < 2:
        raise SystemExit(f"needs 2 CUDA GPUs; this machine has {torch.cuda.device_count()}")
    print(f"{torch.cuda.get_device_name(0)} x {torch.cuda.device_count()}, torch "
          f"{torch.__version__}; seconds per epoch (median after the first)", flush=True)
    rows = run(args.epochs, [int(b) for b in args.batches.split(",")],
               args.devices.split(","), args.shapes.split(","))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
