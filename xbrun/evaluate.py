"""A finished run's model, back from its folder: ``xbrun.load(RUN_DIR)`` and
``xbrun evaluate RUN_DIR [dataset overrides]``.

The model is rebuilt from the run's recorded config (the same data shape, factorization and
tiles) and given the weights of ``best.pt`` (the best epoch on the validation split, where
the run had one) or else of ``checkpoint.pt``. Files load with ``weights_only=True``: a
checkpoint cannot run code. :func:`evaluate_model` scores any loaded model on any data
split; :func:`deploy_run` (``eval.*`` overrides, or ``eval.after_training``) scores it as
deployed hardware over time (``training/deployment.py``) into ``evaluate.jsonl`` and
``evaluate.png``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import torch

from .errors import ConfigError
from .schema import check
from .training.checkpoint import read as read_checkpoint
from .training.early_stop import BEST
from .training.rundir import CHECKPOINT

Which = Literal["best", "last"]


def read_weights(run_dir: str | Path, which: Which = "best") -> tuple[dict, Path]:
    """``(state, path)``: the saved state of ``run_dir`` (``which``: ``best.pt`` where it
    exists, else ``checkpoint.pt``; ``last``: ``checkpoint.pt``). One-line ConfigError if
    there is none or it cannot be read."""
    folder = Path(run_dir).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"run_dir: {folder}: no such run folder")
    path = folder / BEST if which == "best" and (folder / BEST).is_file() else folder / CHECKPOINT
    if not path.is_file():
        raise ConfigError(f"run_dir: {folder} has no {CHECKPOINT} (not a run folder, or its run "
                          f"stopped before the first checkpoint)")
    try:  # weights_only and the checksum (training/checkpoint.py): forged or damaged: refused
        state = read_checkpoint(path)
    except ValueError as err:
        raise ConfigError(f"run_dir: {path} {err}") from None
    except OSError as err:
        raise ConfigError(f"run_dir: {path} cannot be read ({err.strerror or err})") from None
    if not isinstance(state, dict) or not {"model", "config", "epoch"} <= set(state):
        raise ConfigError(f"run_dir: {path} is not an xbrun checkpoint")
    return state, path


def load_run(run_dir: str | Path, which: Which = "best", dataset: dict | None = None,
             accelerator: str = "cpu"):
    """``(model, config, data, state)`` of a finished run: its model with the saved weights,
    in eval mode, its config, and its data (or ``dataset``, a dataset config dict)."""
    from .config import load
    from .training.data import dataset_config, load_dataset
    from .training.loop import pick_device, setup

    state, _ = read_weights(run_dir, which)
    config = load(dict(state["config"]))
    config.accelerator = accelerator
    device = pick_device(accelerator)
    _, model, _, _ = setup(config, device)
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as err:
        reason = (str(err).strip().splitlines() or [""])[0][:200]
        raise ConfigError(f"run_dir: the saved weights do not fit the run's model ({reason})"
                          ) from None
    data = load_dataset(dataset_config(dataset) if dataset is not None else config.dataset)
    return model.eval(), config, data, state


def load(run_dir: str | Path, which: Which = "best", accelerator: str = "cpu"):
    """The trained model of ``run_dir`` (a ``torch.nn.Module`` in eval mode): the weights of
    its best epoch on the validation split where it kept them (``best.pt``), else of its
    last checkpoint; ``which="last"`` always the last."""
    return load_run(run_dir, which, accelerator=accelerator)[0]


def evaluate_model(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> dict:
    """``{"loss", "accuracy", "samples"}`` of ``model`` on ``(x, y)`` (accuracy None on a
    regression), on the model's device."""
    from .training.loop import evaluate

    device = next(model.parameters()).device
    loss, accuracy = evaluate(model, x.to(device), y.to(device), batch_size)
    model.eval()  # training.loop.evaluate hands the model back in train mode
    return {"loss": loss, "accuracy": accuracy, "samples": len(y)}


def dataset_overrides(saved: dict, overrides: list[str]) -> dict:
    """The run's dataset config with ``dataset=NAME`` / ``dataset.KEY=VALUE`` applied."""
    from omegaconf import OmegaConf

    from .config import SCHEMAS, option_values
    from .schema import to_dict

    data = dict(saved)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not (key == "dataset" or key.startswith("dataset.")):
            raise ConfigError(f"{item}: expected dataset=NAME, dataset.KEY=VALUE or "
                              f"eval.KEY=VALUE")
        if key == "dataset":
            if value not in SCHEMAS["dataset"]:
                raise ConfigError(f"dataset: expected one of {', '.join(SCHEMAS['dataset'])}, "
                                  f"got {value!r}")
            data = {**to_dict(SCHEMAS["dataset"][value]), **option_values("dataset", value)}
            data["name"] = value
    dotted = [o.removeprefix("dataset.") for o in overrides if o.startswith("dataset.")]
    merged = OmegaConf.merge(OmegaConf.create(data), OmegaConf.from_dotlist(dotted))
    return OmegaConf.to_container(merged)


#: written into the run folder by :func:`deploy_run`
DEPLOY_RECORDS, DEPLOY_PLOT = "evaluate.jsonl", "evaluate.png"


def eval_overrides(saved: dict | None, overrides: list[str]):
    """The ``EvalConfig`` of the run (``saved``, its recorded ``eval``) with ``eval.KEY=VALUE``
    applied; one-line ConfigError on a bad key or value."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from .schema import build, to_dict
    from .training.deployment import EvalConfig

    base = {**to_dict(EvalConfig()), **(saved or {})}
    dotted = [o.removeprefix("eval.") for o in overrides]
    try:
        merged = OmegaConf.to_container(OmegaConf.merge(OmegaConf.create(base),
                                                        OmegaConf.from_dotlist(dotted)))
    except OmegaConfBaseException as err:
        raise ConfigError(f"eval: cannot read {' '.join(overrides)} "
                          f"({str(err).splitlines()[0]})") from None
    return build(EvalConfig, merged, "eval")


def deploy_run(run_dir: str | Path, config=None, which: Which = "best", accelerator="cpu",
               log=print) -> list[dict]:
    """Program the run's analog weights with ``config`` (an ``EvalConfig``; the run's own
    ``eval`` when None), score the test split at each time, write ``evaluate.jsonl`` (one
    line per time) and ``evaluate.png``; return the records."""
    from .training.deployment import deployed_scores
    from .training.outputs import write_text

    model, run_config, data, state = load_run(run_dir, which, accelerator=accelerator)
    config = config or run_config.eval
    records = deployed_scores(model, lambda m: evaluate_model(m, data.x_test, data.y_test),
                              config)
    folder = Path(run_dir)
    write_text(folder / DEPLOY_RECORDS, "".join(json.dumps(r) + "\n" for r in records))
    plot_deployment(records, folder / DEPLOY_PLOT)
    for r in records:
        score = (f"accuracy {100 * r['accuracy']:.2f} ± {100 * r['accuracy_sd']:.2f}%"
                 if "accuracy" in r else f"loss {r['loss']:.4f} ± {r['loss_sd']:.4f}")
        log(f"t = {r['time']:g} s: test {score} (eval.noise={config.noise}, drift "
            f"compensation {'on' if config.drift_compensation else 'off'}, "
            f"{r['repeats']} programming{'s' if r['repeats'] > 1 else ''})")
    return records


def after_training(run_dir: Path, config, log=print, error=print) -> None:
    """``eval.after_training``: :func:`deploy_run` as a finished run's last step; a failure
    there is reported on one line and leaves the run finished (its summary untouched)."""
    try:
        deploy_run(run_dir, config, log=log)
    except Exception as err:  # the training result must survive it
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        error(f"evaluation after training failed: {reason} (the run finished; retry with "
              f"xbrun evaluate {run_dir} eval.KEY=VALUE)")


def plot_deployment(records: list[dict], path: Path) -> None:
    """Accuracy (or loss) against time after programming, log time axis, ± sd band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    key = "accuracy" if "accuracy" in records[0] else "loss"
    t = [r["time"] for r in records]
    mean = [r[key] for r in records]
    sd = [r[f"{key}_sd"] for r in records]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.errorbar(t, mean, yerr=sd, marker="o", capsize=3)
    ax.set_xscale("log")
    ax.set_xlabel("time after programming (s)")
    ax.set_ylabel(f"test {key}")
    r = records[0]
    ax.set_title(f"eval.noise={r['noise']}, drift compensation "
                 f"{'on' if r['drift_compensation'] else 'off'}")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def evaluate_command(args) -> dict | list[dict]:
    """``xbrun evaluate RUN_DIR [dataset overrides] [eval overrides] [--split ...] [--last]``."""
    from .composition import fail

    evals = [o for o in args.overrides if o.startswith("eval.")]
    args.overrides = [o for o in args.overrides if not o.startswith("eval.")]
    try:
        state, path = read_weights(args.run_dir, "last" if args.last else "best")
        saved = state["config"]["dataset"]
        if evals:
            check(not args.overrides and args.split == "test", "eval", "alone (eval.* "
                  "scores the run's own test split: no dataset overrides or --split)",
                  " ".join(args.overrides) or f"--split {args.split}")
            config = eval_overrides(state["config"].get("eval"), evals)
            return deploy_run(args.run_dir, config, "last" if args.last else "best",
                              args.accelerator)
        dataset = dataset_overrides(saved, args.overrides) if args.overrides else None
        model, config, data, state = load_run(args.run_dir, "last" if args.last else "best",
                                              dataset, args.accelerator)
    except ConfigError as err:
        fail(str(err))
    x, y = {"test": (data.x_test, data.y_test), "train": (data.x_train, data.y_train),
            "val": (data.x_val, data.y_val)}[args.split]
    if x is None:
        fail(f"--split val: {args.run_dir} has no validation split (dataset.val_fraction 0)")
    result = evaluate_model(model, x, y)
    score = (f"accuracy {100 * result['accuracy']:.2f}%" if result["accuracy"] is not None
             else "")
    name = (dataset or saved)["name"]
    print(f"{args.run_dir}: {args.split} loss {result['loss']:.4f}  {score}  on "
          f"{result['samples']:,} samples of dataset={name} (weights of epoch "
          f"{state['epoch']}, {path.name})")
    return result
