"""The run's config as the training recipe reads it (``RunConfig``), and the config groups
this package registers (model, dataset, schedule, logger). ``xbrun.config`` assembles every
package's ``schemas`` into the one root and builds it from Hydra's composition."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..decompositions.schemas import RANKED, DecompositionConfig
from ..physics.energy import EnergyConfig
from ..physics.io import IOConfig
from ..physics.pulses import UpdateParameters
from ..schema import check
from ..tiles.mapping import MappingConfig
from .data import DATASETS, DigitsConfig, dataset_config
from .deployment import EvalConfig
from .distributed import DistributedConfig
from .early_stop import EarlyStopConfig
from .loggers import CSVLoggerConfig, LoggerConfig, MLflowConfig, TensorBoardConfig
from .models import MODELS, MLPConfig, check_model_data, model_config
from .schedule import ScheduleConfig

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


#: the options of the groups training owns, by name, at their defaults
SCHEMAS: dict[str, dict[str, Any]] = {
    "model": {name: cls(name=name) for name, cls in MODELS.items()},
    "dataset": {name: cls(name=name) for name, cls in DATASETS.items()},
    "schedule": {"base": ScheduleConfig()},
    "distributed": {"base": DistributedConfig()},
    # a run's trackers: each option fills its own key (``- /schema/logger/csv@csv``)
    "logger": {"csv": CSVLoggerConfig(), "tensorboard": TensorBoardConfig(),
               "mlflow": MLflowConfig()},
}

__all__ = ["RANKED", "SCHEMAS", "RunConfig", "check_model_data", "dataset_config",
           "model_config"]
