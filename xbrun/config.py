"""The run configuration: typed dataclasses the whole core works with.

``load(dict)`` is the CLI boundary: it turns Hydra's composed dict into a ``RunConfig``,
picking the dataclass of each group option by its ``kind``/``name`` and checking every
value; anything wrong raises ``ConfigError`` with one line naming the key.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field, fields
from importlib import resources
from typing import Any, Literal

import yaml

from .decompositions import DECOMPOSITIONS
from .devices import DEVICES
from .errors import ConfigError
from .physics.cells import CELLS
from .physics.energy import EnergyConfig
from .physics.io import IOConfig
from .physics.pulses import UpdateParameters
from .schema import build, check, covers, flatten, pick, to_dict
from .tiles.mapping import MappingConfig
from .training.data import DATASETS, DigitsConfig, dataset_config
from .training.deployment import EvalConfig
from .training.distributed import DistributedConfig
from .training.early_stop import EarlyStopConfig
from .training.loggers import CSVLoggerConfig, LoggerConfig, MLflowConfig, TensorBoardConfig
from .training.models import MODELS, MLPConfig, check_model_data, model_config
from .training.schedule import ScheduleConfig


@dataclass
class DecompositionConfig:
    """How the batch gradient becomes the rank-1 updates the crossbar applies.

    An option has only its method's keys (Hydra rejects the others), their defaults those of
    the method's class in ``xbrun.decompositions`` (:func:`method_defaults`); ``None`` means
    "the method's default" (or "not an option of this method").
    """

    name: Literal["outer_product", "svd", "truncated_svd", "streaming_pca", "nmf"] = (
        "outer_product")
    rank: int = 1  # k rank-1 updates per step (outer_product and svd: unused)
    # truncated_svd: sklearn (XBTorch's choice) | torch_lowrank (GPU, randomized) | torch (exact)
    backend: Literal["sklearn", "torch_lowrank", "torch"] | None = None
    n_iter: int | None = None  # truncated_svd: power iterations of the randomized solvers
    oversamples: int | None = None  # truncated_svd: extra random directions of those solvers
    side: Literal["input", "delta", "both"] | None = None  # streaming_pca: subspace tracked
    # streaming_pca: what the subspace is the principal space of
    covariance: Literal["gradient", "activation"] | None = None
    beta: float | None = None  # streaming_pca: memory of the running covariance (0: none)
    # nmf: multiplicative-update iterations; streaming_pca: power iterations per step
    n_iters: int | None = None
    init_iters: int | None = None  # streaming_pca: power iterations on the first batch

    def validate(self, key: str) -> None:
        check(self.rank >= 1, f"{key}.rank", "an integer >= 1", self.rank)
        if self.beta is not None:
            check(0 <= self.beta < 1, f"{key}.beta", "a number in [0, 1)", self.beta)
        for name in ("n_iter", "oversamples", "n_iters", "init_iters"):
            value = getattr(self, name)
            if value is not None:
                check(value >= 0, f"{key}.{name}", "an integer >= 0", value)


#: decompositions that use ``decomposition.rank`` (the others ignore it)
RANKED = ("truncated_svd", "streaming_pca", "nmf")
SEED_MAX = 2**32 - 1  # tile seeds are seed * 1000 + i + 1, within torch's 64-bit seeds
THREADS_MAX = 1024


@dataclass
class RunConfig:
    """The top-level keys, and the source of their defaults (``xbrun train --cfg job`` shows
    the composed config). ``resume_override`` lists keys (or groups such as ``model``)
    allowed to differ from the resumed checkpoint's config (see ``training.rundir``)."""

    seed: int = field(default=0, metadata={"range": (0, SEED_MAX)})
    epochs: int = 10
    batch_size: int = 8
    lr: float = 1.0
    resume: str | None = None  # a run folder: continue it from its last checkpoint
    resume_override: list[str] = field(default_factory=list)  # e.g. [lr]
    accelerator: Literal["auto", "cpu", "cuda"] = "auto"
    # CPU threads for torch: small tiles run fastest on one (0: torch's default)
    threads: int = field(default=1, metadata={"range": (0, THREADS_MAX),
                                              "note": " (0: torch's default)"})
    # capture the training step in a CUDA graph and replay it (auto: on when CUDA is used,
    # eager where the step cannot be captured)
    cuda_graphs: Literal["auto", "on", "off"] = "auto"
    checkpoint_every: int = 1  # epochs between checkpoints
    # a run has diverged (status `diverged`, exit status 3, its last good checkpoint kept)
    # when an epoch's train or test loss is not finite or exceeds diverge_loss x the loss of
    # its first training step (at least diverge_loss); inf: only a non-finite loss counts
    diverge_loss: float = field(default=1e6, metadata={
        "inf": "only a non-finite loss counts as diverged"})
    device: Any = None
    cell: Any = None
    io: IOConfig = field(default_factory=IOConfig)
    update: UpdateParameters = field(default_factory=UpdateParameters)  # the pulsed update
    decomposition: DecompositionConfig = field(default_factory=DecompositionConfig)
    mapping: MappingConfig = field(default_factory=MappingConfig)
    model: Any = field(default_factory=MLPConfig)  # xbrun.training.models.MODELS
    dataset: Any = field(default_factory=DigitsConfig)  # xbrun.training.data.DATASETS
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    energy: EnergyConfig = field(default_factory=EnergyConfig)  # the cost ledger's prices
    # what a sweep optimises (the value `xbrun train` returns to Hydra's sweepers); auto:
    # weight_error on a regression with model=linear, else val_accuracy (val_loss on a
    # regression) where there is a validation split (dataset.val_fraction), test_accuracy
    # (test_loss) where not (resolved by ``load``; see ``resolve_objective``)
    objective: Literal["auto", "val_accuracy", "val_loss", "test_accuracy", "test_loss",
                       "weight_error", "reconstruction_error"] = "auto"
    early_stop: EarlyStopConfig = field(default_factory=EarlyStopConfig)
    # the trained model as deployed hardware: `xbrun evaluate RUN_DIR eval.noise=pcm`
    eval: EvalConfig = field(default_factory=EvalConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    # one run on several processes (GPUs), data parallel: distributed.nproc=N
    distributed: DistributedConfig = field(default_factory=DistributedConfig)
    # steps between step records in metrics.jsonl (step 0 first) and running train-loss points
    # sent to the loggers (0: per epoch only)
    log_every: int = 0
    progress: Literal["auto", "bar", "none"] = "auto"  # the in-epoch bar (auto: on a terminal)

    def validate(self, key: str) -> None:
        check(self.epochs >= 1, "epochs", "an integer >= 1", self.epochs)
        check(self.batch_size >= 1, "batch_size", "an integer >= 1", self.batch_size)
        check(self.lr > 0, "lr", "a number > 0", self.lr)
        check(not (self.cuda_graphs == "on" and self.accelerator == "cpu"), "cuda_graphs",
              "auto or off with accelerator=cpu (graphs need CUDA)", self.cuda_graphs)
        check(self.checkpoint_every >= 1, "checkpoint_every", "an integer >= 1",
              self.checkpoint_every)
        check(self.diverge_loss > 1, "diverge_loss", "a number > 1 (how many times the "
              "first step's loss counts as diverged), or inf", self.diverge_loss)
        check(self.log_every >= 0, "log_every", "an integer >= 0 (0: per epoch only)",
              self.log_every)
        check(self.resume is None or self.resume.strip() != "", "resume",
              "a run folder (or null)", self.resume)
        check(all(k.strip() for k in self.resume_override), "resume_override",
              "a list of config keys, e.g. [lr] or [schedule]", self.resume_override)
        # contradictions between groups: refuse rather than run something else
        if self.schedule.name == "cosine":
            check(self.schedule.min_lr <= self.lr, "schedule.min_lr",
                  f"a number <= lr = {self.lr:g} (cosine anneals from lr down to min_lr)",
                  self.schedule.min_lr)
        if self.decomposition.name in RANKED:
            check(self.decomposition.rank <= self.batch_size, "decomposition.rank",
                  f"an integer <= batch_size = {self.batch_size} (more rank-1 updates than "
                  f"a batch has outer products defeats the decomposition)",
                  self.decomposition.rank)

    @property
    def is_analog(self) -> bool:
        return self.device.kind != "fp"


def method_defaults(name: str) -> DecompositionConfig:
    """``decomposition=NAME``: the keywords of its class's constructor that the config has,
    at the class's defaults (the one place they are written)."""
    keys = {f.name for f in fields(DecompositionConfig)} - {"name"}
    params = inspect.signature(DECOMPOSITIONS[name]).parameters.values()
    return DecompositionConfig(name=name, **{p.name: p.default for p in params
                                             if p.name in keys and p.default is not p.empty})


#: each group option's defaults, by group and option name (the dataclass is the one source:
#: ``composition.register_schemas`` hands them to Hydra, the option files hold what differs)
SCHEMAS: dict[str, dict[str, Any]] = {
    "device": {name: cls(kind=name) for name, cls in DEVICES.items()},
    "cell": {name: cls(kind=name) for name, cls in CELLS.items()},
    "model": {name: cls(name=name) for name, cls in MODELS.items()},
    "dataset": {name: cls(name=name) for name, cls in DATASETS.items()},
    "decomposition": {name: method_defaults(name) for name in DECOMPOSITIONS},
    "io": {"base": IOConfig()},
    "mapping": {"base": MappingConfig()},
    "schedule": {"base": ScheduleConfig()},
    "energy": {"base": EnergyConfig()},
    "distributed": {"base": DistributedConfig()},
    # a run's trackers: each option fills its own key (``- /schema/logger/csv@csv``)
    "logger": {"csv": CSVLoggerConfig(), "tensorboard": TensorBoardConfig(),
               "mlflow": MLflowConfig()},
}


def load(data: dict, optimising: bool = False) -> RunConfig:
    """Typed, validated ``RunConfig`` from a composed (plain) config dict. ``optimising``: a
    sweeper that selects runs (Optuna) runs it, so ``dataset.val_fraction`` null means 0.1."""
    data = dict(data)
    data.pop("hydra", None)
    device = pick(DEVICES, data.pop("device", {"kind": "sgd"}), "device", "kind")
    cell = pick(CELLS, data.pop("cell", {"kind": "constant_step"}), "cell", "kind")
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
        device = build(type(device), merged, "device")
    _array_cells(device)
    model = model_config(data.pop("model", {"name": "mlp"}))
    dataset = dataset_config(data.pop("dataset", {"name": "digits"}))
    check_model_data(model, dataset)
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
            setattr(device, name, pick(CELLS, value, f"device.{name}", "kind"))
