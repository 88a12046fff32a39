"""aihwkit 1.2.0's run of `make train`, for the side-by-side timing of the whole process.

`make train` is `xbrun train` with the defaults: scikit-learn's digits (1,437 training and
360 test samples, the same stratified split), MLP 64-256-128-10 sigmoid, analog SGD on
ConstantStep cells with aihwkit's defaults (= xbrun's `cell=constant_step io=default`),
digital biases, batch 8, lr 1.0, 10 epochs, the test set scored after each epoch, one
thread. Run it with the aihwkit venv's Python (xbrun never imports aihwkit)::

    /usr/bin/time -f %e <aihwkit venv>/bin/python benchmarks/aihwkit_make_train.py
    /usr/bin/time -f %e .venv/bin/xbrun train

It prints the seconds from process start to the first step and the training seconds.
"""
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


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    data, target = load_digits(return_X_y=True)
    x = torch.tensor(data, dtype=torch.float32) / 16.0
    y = torch.tensor(target, dtype=torch.int64)
    train, test = train_test_split(torch.arange(len(y)).numpy(), test_size=360, stratify=target,
                                   random_state=SPLIT_SEED)
    x_train, y_train, x_test, y_test = x[train], y[train], x[test], y[test]
    config = SingleRPUConfig(device=ConstantStepDevice())
    model = AnalogSequential(AnalogLinear(64, 256, rpu_config=config), nn.Sigmoid(),
                             AnalogLinear(256, 128, rpu_config=config), nn.Sigmoid(),
                             AnalogLinear(128, 10, rpu_config=config))
    optimizer = AnalogSGD(model.parameters(), lr=1.0)
    optimizer.regroup_param_groups(model)
    loss_fn = nn.CrossEntropyLoss()
    shuffle = torch.Generator().manual_seed(0)
    start = time.perf_counter()
    print(f"start-up {start - T0:.2f} s", flush=True)
    for epoch in range(10):
        model.train()
        order = torch.randperm(len(y_train), generator=shuffle)
        for i in range(0, len(order), 8):
            idx = order[i:i + 8]
            optimizer.zero_grad()
            loss_fn(model(x_train[idx]), y_train[idx]).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            acc = (model(x_test).argmax(1) == y_test).float().mean().item()
        print(f"epoch {epoch + 1} test_acc {acc:.4f}", flush=True)
    print(f"training {time.perf_counter() - start:.2f} s", flush=True)


if __name__ == "__main__":
    main()
