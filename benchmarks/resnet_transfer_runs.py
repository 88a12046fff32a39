"""Why capturing chopped ResNet's training step is slow (issue 27): how many transfer runs
(``TransferDevice.transfer_lines``: read, buffer, write of up to one pass of lines) one step
makes, and what an eager step costs with and without them.

    python -m benchmarks.resnet_transfer_runs [BATCH] [SIDE] [OVERRIDES...]

One transfer falls due per mat-vec (``transfer_every=1``, ``units_in_mbatch=false``), and a
convolution's mat-vecs are its image rows (batch x H x W), so a walk over them passes the
tile's lines ``rows / n_columns`` times a step. The CPU cuts it into runs of one pass (numba,
bit for bit as ever); on CUDA a chopped device makes one run per tile and step
(``ChoppedTransfer.whole_walks``), so the eager steps and the graph capture below no longer
grow with the passes (``count_launches --resnet`` counts the CUDA path's runs on a CPU).
"""

from __future__ import annotations

import sys
import time

import torch

from xbrun.composition import compose
from xbrun.devices.transfer import TransferDevice
from xbrun.training import loop
from xbrun.training.graphs import StepRunner


def main() -> None:
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    side = int(sys.argv[2]) if len(sys.argv) > 2 else 32
    extra = sys.argv[3:]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    calls = [0]
    lines = TransferDevice.transfer_lines

    def counted(self, *args, **kwargs):
        calls[0] += 1
        return lines(self, *args, **kwargs)

    TransferDevice.transfer_lines = counted
    for name in ("chopped", "sgd"):
        cfg = compose(["model=resnet", "dataset=synthetic",
                       f"dataset.image_shape=[3,{side},{side}]",
                       f"dataset.n_train={4 * batch}", f"batch_size={batch}", f"device={name}",
                       *extra])
        data, model, optimizer, _ = loop.setup(cfg, device)
        x, y = data.x_train.to(device), data.y_train.to(device)
        for s in range(3):
            calls[0] = 0
            began = time.perf_counter()
            loop.training_step(model, optimizer, x[s * batch:(s + 1) * batch],
                               y[s * batch:(s + 1) * batch])
            if device.type == "cuda":
                torch.cuda.synchronize()
            print(f"{name:8s} batch {batch} {side}x{side} on {device.type}: step {s + 1} "
                  f"{time.perf_counter() - began:7.3f} s, {calls[0]} transfer runs", flush=True)
        if device.type != "cuda" or name != "chopped":
            continue
        runner = StepRunner(loop.training_step, model, optimizer, "on", log=print)
        idx = torch.arange(batch, device=device)
        for s in range(5):  # three clean eager steps, then the capture (and its replay)
            began = time.perf_counter()
            runner(x, y, idx)
            torch.cuda.synchronize()
            print(f"{name:8s} graphs on: call {s + 1} {time.perf_counter() - began:7.3f} s, "
                  f"{len(runner.graphs)} graphs", flush=True)


if __name__ == "__main__":
    main()
