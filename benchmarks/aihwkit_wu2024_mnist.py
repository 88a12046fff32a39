"""aihwkit 1.2.0's run of figure ``wu2024-mnist``'s "Analog SGD" series, to compare with xbrun.

The setting of Zhaoxian-Wu/analog-training ``NeurIPS-2024/S4.1-mnist-FCN.py`` (read in
``docs/figures/wu2024-mnist/setup.md``): FCN 784-256-128-10, sigmoid, log-softmax and NLL,
biases (digital, aihwkit's default), ``convert_to_analog`` with
``SingleRPUConfig(device=SoftBoundsReferenceDevice(w_max=tau, w_min=-tau,
construction_seed=10))``, ``learn_out_scaling`` and ``weight_scaling_columnwise`` on,
``AnalogSGD`` lr 0.05, batch 10, MNIST pixels in [0, 1] (``ToTensor()`` only), the test set
scored after each epoch. The script pins aihwkit 0.9.0; this is 1.2.0 (its MappingParameter
splits the 784-input layer over two tiles as xbrun does). The script's StepLR(35) does not act
within the few epochs run here. Run it with the aihwkit venv's Python (xbrun never imports
aihwkit), one thread::

    OMP_NUM_THREADS=1 <aihwkit venv>/bin/python benchmarks/aihwkit_wu2024_mnist.py --tau 0.6

Every ``--log-every`` steps it prints the mean train loss of those steps and the learned
output scales of every tile (the last layer's first), and after each epoch the epoch's train
loss and the test accuracy. ``--no-out-scaling`` turns ``learn_out_scaling`` off (a check).
MNIST is read from torchvision's raw files (``<root>/MNIST/raw``), the bytes that
``torchvision.datasets.MNIST`` reads, divided by 255 as ``ToTensor()`` does.
"""
import argparse
import time
from pathlib import Path

import numpy as np
import torch
from aihwkit.nn.conversion import convert_to_analog
from aihwkit.optim import AnalogSGD
from aihwkit.simulator.configs import SingleRPUConfig, SoftBoundsReferenceDevice
from torch import nn


def read_idx(path: Path) -> np.ndarray:
    """An MNIST idx file as an array (magic, dims, then unsigned bytes)."""
    raw = path.read_bytes()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_mnist(root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(root / "MNIST" / "raw" / f"{prefix}-images-idx3-ubyte")
    labels = read_idx(root / "MNIST" / "raw" / f"{prefix}-labels-idx1-ubyte")
    x = torch.tensor(images.reshape(len(images), -1), dtype=torch.float32) / 255.0
    return x, torch.tensor(labels, dtype=torch.int64)


def out_scales(model: nn.Module) -> str:
    """The learned output scales, last layer first, as ``name=value`` (scalars)."""
    items = [(name, p) for name, p in model.named_parameters() if "out_scaling" in name]
    items.reverse()
    return " ".join(f"{name.split('.')[0]}={p.detach().flatten().mean().item():.4f}"
                    for name, p in items)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tau", type=float, default=0.6)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-steps", type=int, default=0, help="stop after this many steps")
    parser.add_argument("--log-every", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--no-out-scaling", action="store_true")
    parser.add_argument("--root", default="/work/shared/data/mnist")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    x_train, y_train = load_mnist(Path(args.root), "train")
    x_test, y_test = load_mnist(Path(args.root), "test")

    digital = nn.Sequential(nn.Linear(784, 256), nn.Sigmoid(), nn.Linear(256, 128), nn.Sigmoid(),
                            nn.Linear(128, 10), nn.LogSoftmax(dim=1))
    config = SingleRPUConfig(device=SoftBoundsReferenceDevice(w_max=args.tau, w_min=-args.tau,
                                                              construction_seed=10))
    config.mapping.learn_out_scaling = not args.no_out_scaling
    config.mapping.weight_scaling_columnwise = True
    model = convert_to_analog(digital, config)
    optimizer = AnalogSGD(model.parameters(), lr=args.lr)
    optimizer.regroup_param_groups(model)
    loss_fn = nn.NLLLoss()
    print(f"tau {args.tau} seed {args.seed} out_scaling {not args.no_out_scaling} "
          f"tiles {sum(1 for _ in model.analog_tiles())}", flush=True)
    print(config.device, flush=True)
    step, start, window = 0, time.perf_counter(), []
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(y_train))
        losses = []
        for i in range(0, len(order), 10):
            idx = order[i:i + 10]
            optimizer.zero_grad()
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            window.append(loss.item())
            step += 1
            if args.log_every and step % args.log_every == 0:
                print(f"step {step} train_loss {np.mean(window):.4f} scales {out_scales(model)} "
                      f"{time.perf_counter() - start:.0f}s", flush=True)
                window = []
            if args.max_steps and step >= args.max_steps:
                break
        model.eval()
        with torch.no_grad():
            correct = sum((model(x_test[j:j + 1000]).argmax(1) == y_test[j:j + 1000]).sum().item()
                          for j in range(0, len(y_test), 1000))
        print(f"epoch {epoch} train_loss {np.mean(losses):.4f} test_acc {correct / len(y_test):.4f}"
              f" {time.perf_counter() - start:.0f}s", flush=True)
        if args.max_steps and step >= args.max_steps:
            break


if __name__ == "__main__":
    main()
