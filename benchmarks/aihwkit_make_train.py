"""aihwkit 1.2.0's run of `make train`, for the side-by-side timing of the whole process.

`make train` is `xbrun train` with the defaults: scikit-learn's digits (1,437 training and
360 test samples, the same stratified split), MLP 64-256-128-10 sigmoid, analog SGD on
ConstantStep cells with aihwkit's defaults (= xbrun's `cell=constant_step io=default`),
digital biases, batch 8, lr 1.0, 10 epochs, the test set scored after each epoch, one
thread. Run it with the aihwkit venv's Python (xbrun never imports aihwkit)::

    /usr/bin/time -f %e <aihwkit venv>/bin/python benchmarks/aihwkit_make_train.py
    /usr/bin/time -f %e .venv/bin/xbrun train

It prints the seconds from process start to the first step, each epoch's training seconds
(wall and CPU, the test scoring left out) and the training seconds. ``--hidden 32`` trains
issue 27's small-layer row instead (MLP 64-32-10, the same run otherwise; xbrun's
``model.hidden=[32]``); ``--epochs N`` another number of epochs.
"""
import argparse
import time

T0 = time.perf_counter()

import torch  # noqa: E402
from aihwkit.nn import AnalogLinear, AnalogSequential  # noqa: E402
from aihwkit.optim import AnalogSGD  # noqa: E402
from aihwkit.simulator.configs import ConstantStepDevice, SingleRPUConfig  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from torch import nn  # noqa: E402

SPLIT_SEED = 20240501  # xbrun's training/data.py


def main(hidden=(256, 128), epochs=10) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    data, target = load_digits(return_X_y=True)
    x = torch.tensor(data, dtype=torch.float32) / 16.0
    y = torch.tensor(target, dtype=torch.int64)
    train, test = train_test_split(torch.arange(len(y)).numpy(), test_size=360, stratify=target,
                                   random_state=SPLIT_SEED)
    x_train, y_train, x_test, y_test = x[train], y[train], x[test], y[test]
    config = SingleRPUConfig(device=ConstantStepDevice())
    sizes = [64, *hidden, 10]
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [AnalogLinear(a, b, rpu_config=config), nn.Sigmoid()]
    model = AnalogSequential(*layers[:-1])
    optimizer = AnalogSGD(model.parameters(), lr=1.0)
    optimizer.regroup_param_groups(model)
    loss_fn = nn.CrossEntropyLoss()
    shuffle = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    print(f"start-up {start - T0:.2f} s", flush=True)
    for epoch in range(epochs):
        wall, cpu = time.perf_counter(), time.process_time()
        model.train()
        order = torch.randperm(len(y_train), generator=shuffle)
        for i in range(0, len(order), 8):
            idx = order[i:i + 8]
            optimizer.zero_grad()
            loss_fn(model(x_train[idx]), y_train[idx]).backward()
            optimizer.step()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        model.eval()
        with torch.no_grad():
            acc = (model(x_test).argmax(1) == y_test).float().mean().item()
        print(f"epoch {epoch + 1} test_acc {acc:.4f} train_s {wall:.4f} cpu_s {cpu:.4f}",
              flush=True)
    print(f"training {time.perf_counter() - start:.2f} s", flush=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--hidden", default="256,128")
    ap.add_argument("--epochs", type=int, default=10)
    a = ap.parse_args()
    main(tuple(int(h) for h in a.hidden.split(",")), a.epochs)
