"""The root of the run configuration, assembled from the config groups each package
registers (``<package>/schemas.py``), and its boundary.

``load(dict)`` turns Hydra's composed dict into a ``RunConfig``, picking the dataclass of
each group option by its ``kind``/``name``; building a dataclass checks its values (its
``validate``, through ``schema.build``), so anything wrong raises ``ConfigError`` with one
line naming the key before the core sees the config. Nothing below this module imports it.
"""

from __future__ import annotations

from dataclasses import fields
from importlib import resources
from typing import Any

import yaml

from .decompositions import schemas as decompositions
from .devices import schemas as devices
from .errors import ConfigError
from .physics import schemas as physics
from .schema import build, check, covers, flatten, pick, to_dict
from .tiles import schemas as tiles
from .training import schemas as training
from .training.schemas import RANKED, RunConfig

#: each group option's defaults, by group and option name, as the packages register them
#: (the dataclass is the one source: ``composition.register_schemas`` hands them to Hydra,
#: the option files hold what differs)
SCHEMAS: dict[str, dict[str, Any]] = {
    **devices.SCHEMAS, **physics.SCHEMAS, **training.SCHEMAS, **decompositions.SCHEMAS,
    **tiles.SCHEMAS}


def registry(group: str) -> dict[str, type]:
    """The dataclass of each option of ``group`` (what ``schema.pick`` chooses from)."""
    return {name: type(default) for name, default in SCHEMAS[group].items()}


def load(data: dict, optimising: bool = False) -> RunConfig:
    """Typed, validated ``RunConfig`` from a composed (plain) config dict. ``optimising``: a
    sweeper that selects runs (Optuna) runs it, so ``dataset.val_fraction`` null means 0.1."""
    data = dict(data)
    data.pop("hydra", None)
    device = pick(registry("device"), data.pop("device", {"kind": "sgd"}), "device", "kind")
    cell = pick(registry("cell"), data.pop("cell", {"kind": "constant_step"}), "cell", "kind")
    for top_key in ("gamma", "scale_fast_lr"):
        value = data.pop(top_key, None)
        if value is None:
            continue
        names = {f.name for f in fields(device)}
        if top_key not in names:
            raise ConfigError(f"{top_key}: not a parameter of device={device.kind} "
                              f"(it applies to the transfer devices ttv1, ttv2, chopped, agad)")
        merged = {f.name: getattr(device, f.name) for f in fields(device)}
        merged[top_key] = value
        try:
            device = build(type(device), merged, "device")
        except ConfigError as err:  # named as typed: `gamma (device.gamma): expected ...`
            full, line = f"device.{top_key}", str(err)
            if not line.startswith(f"{full}:"):
                raise
            raise ConfigError(f"{top_key} ({full}){line[len(full):]}") from None
    _array_cells(device)
    model = training.model_config(data.pop("model", {"name": "mlp"}))
    dataset = training.dataset_config(data.pop("dataset", {"name": "digits"}))
    training.check_model_data(model, dataset)
    config = build(RunConfig, data)
    config.device, config.cell = device, cell
    config.model, config.dataset = model, dataset
    if dataset.val_fraction is None:
        dataset.val_fraction = 0.1 if optimising or config.early_stop.patience else 0.0
    config.objective = resolve_objective(config.objective, dataset.name, model.name,
                                         dataset.val_fraction > 0)
    check(dataset.val_fraction > 0 or not config.early_stop.patience, "dataset.val_fraction",
          "a number > 0 with early_stop.patience (it stops on the validation split)",
          dataset.val_fraction)
    keys = flatten(to_dict(config))
    for i, name in enumerate(config.resume_override):
        check(any(covers(name, k) for k in keys), f"resume_override[{i}]",
              "a config key or group (e.g. lr, schedule, model.hidden)", name)
    return config


def resolve_objective(objective: str, dataset: str, model: str, val: bool = False) -> str:
    """``objective`` with ``auto`` resolved for the task, or a one-line ConfigError when the
    task has no such number (no accuracy on a regression, no target to score the weights
    against on a classification, no single weight matrix but with model=linear, no
    validation split: ``val``)."""
    regression = dataset == "regression"
    split = "val" if val else "test"
    if objective == "auto":
        if not regression:
            return f"{split}_accuracy"
        return "weight_error" if model == "linear" else f"{split}_loss"
    check(val or not objective.startswith("val_"), "objective", "a test_*, weight_error or "
          "reconstruction_error objective without a validation split, or set "
          "dataset.val_fraction (e.g. 0.1)", objective)
    if regression:
        check(not objective.endswith("accuracy"), "objective", "auto, val_loss, test_loss, "
              "weight_error or reconstruction_error on dataset=regression (it has no "
              "accuracy)", objective)
        check(objective != "weight_error" or model == "linear", "objective",
              "auto, test_loss or reconstruction_error with model=" + model
              + " (weight_error scores the one layer of model=linear)", objective)
    else:
        check(objective != "weight_error", "objective", "auto, test_accuracy, test_loss or "
              "reconstruction_error on dataset=" + dataset + " (weight_error needs "
              "dataset=regression's target matrix)", objective)
    return objective


def options(group: str) -> list[str]:
    """The options of a config group: the files ``conf/GROUP/*.yaml`` (sorted names)."""
    folder = resources.files("xbrun.conf") / group
    if not folder.is_dir():
        return []
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def option_values(group: str, name: str) -> dict:
    """What ``GROUP=NAME`` sets: its schema's tag (``/schema/cell/KIND@_here_`` in the file's
    defaults list) and the keys the file changes; ``build`` adds the dataclass defaults."""
    data = yaml.safe_load((resources.files("xbrun.conf") / group / f"{name}.yaml").read_text())
    tag = {"cell": "kind", "device": "kind"}.get(group, "name")
    for entry in data.pop("defaults", []):
        schema = str(entry).removeprefix(f"/schema/{group}/").split("@")[0]
        if schema != entry and schema != "base":  # base: one dataclass for the whole group
            data.setdefault(tag, schema)
    return data


def _array_cells(device) -> None:
    """``device.fast_cell`` / ``device.slow_cell``: a ``cell`` option name (conf/cell/NAME.yaml)
    or a mapping with ``kind``; left None, the array uses the run's ``cell``."""
    for name in ("fast_cell", "slow_cell"):
        value = getattr(device, name, None)
        if isinstance(value, str):
            check(value in options("cell"), f"device.{name}", "a cell option ("
                  + ", ".join(options("cell")) + ") or a mapping with kind", value)
            value = option_values("cell", value)
        if isinstance(value, dict):
            setattr(device, name, pick(registry("cell"), value, f"device.{name}", "kind"))


__all__ = ["RANKED", "SCHEMAS", "RunConfig", "load", "option_values", "options", "registry",
           "resolve_objective"]
