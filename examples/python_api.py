"""xbrun from Python, notebook style: compose a config, train runs in this process, compare.

    python examples/python_api.py

Same configs, same checks and the same run folders as `xbrun train`; no subprocess. Each
cell below would be a notebook cell.
"""

from datetime import datetime

import xbrun

# %% The typed config `xbrun train device=chopped gamma=0.1` would run.
config = xbrun.compose(["device=chopped", "gamma=0.1"])
print(config.device.kind, config.device.gamma, config.device.in_chop_prob, config.lr)

# %% Bad input raises xbrun.ConfigError with the line the CLI prints.
try:
    xbrun.compose(["lr=-1"])
except xbrun.ConfigError as err:
    print("rejected:", err)

# %% Two devices on a slice of the digits, three epochs each: a small ReLU network learns
# in a few epochs where the default sigmoid MLP first sits on a plateau.
small = ["epochs=3", "dataset.limit_train=512", "batch_size=16", "model.hidden=[32]",
         "model.activation=relu", "progress=none"]
folder = f"outputs/python_api/{datetime.now():%Y-%m-%d_%H-%M-%S}"  # a new run never overwrites
results = {}
for device in ("fp", "sgd"):
    summary = xbrun.train([f"device={device}", "lr=0.1", *small],
                          run_dir=f"{folder}/{device}")
    results[device] = summary
    print(f"{device}: {summary['status']}, test accuracy {100 * summary['test_accuracy']:.1f}%, "
          f"{summary['pulses']:,} pulses")

# %% The run folders are ordinary xbrun runs: `xbrun report outputs/python_api` lists them,
# and `xbrun.load` gives the trained model back.
print(f"runs in {folder}")
