"""Experiment trackers a run reports to: a CSV file, TensorBoard, MLflow (the ``logger`` group).

Each is the well-kept tool itself (``csv``, ``torch.utils.tensorboard``, ``mlflow``); this
module only decides what a run sends: the flattened config once, a row of scalars per epoch
(and a running train loss every ``log_every`` steps), the final summary and its files. The
trackers are optional extras: selecting one that is not installed is a ``ConfigError`` that
names the extra, raised where the config is checked, before anything runs.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..schema import check
from .outputs import OWNED, check_resolved, inside_run


def require(module: str, option: str, extra: str) -> None:
    """A one-line ConfigError naming the extra when ``module`` cannot be imported."""
    if importlib.util.find_spec(module) is None:
        raise ConfigError(f"{option}: needs the {module} package; install it with "
                          f"pip install 'xbrun[{extra}]'")


@dataclass
class CSVLoggerConfig:
    """``metrics.csv`` in the run folder: one row per epoch, spreadsheet-ready."""

    filename: str = "metrics.csv"

    def validate(self, key: str) -> None:
        check(bool(self.filename) and "/" not in self.filename, f"{key}.filename",
              "a file name inside the run folder", self.filename)
        inside_run(self.filename, f"{key}.filename")


@dataclass
class TensorBoardConfig:
    """Event files under ``<run>/<dir>``: scalars per epoch, the config as hparams."""

    dir: str = "tensorboard"

    def validate(self, key: str) -> None:
        require("tensorboard", "logger=tensorboard", "tensorboard")
        check(bool(self.dir), f"{key}.dir", "a folder name inside the run folder", self.dir)
        inside_run(self.dir, f"{key}.dir")


@dataclass
class MLflowConfig:
    """One MLflow run per xbrun run. ``tracking_uri`` null: MLflow's own default
    (``$MLFLOW_TRACKING_URI``, else a local ``sqlite:///mlflow.db`` store with artifacts in
    ``./mlruns``, both in the folder xbrun was started from)."""

    tracking_uri: str | None = None
    experiment: str = "xbrun"
    artifact_location: str | None = None  # of a new experiment; null: MLflow's (./mlruns)
    run_name: str | None = None  # null: the run folder, relative to the working directory

    def validate(self, key: str) -> None:
        require("mlflow", "logger=mlflow", "mlflow")
        check(bool(self.experiment), f"{key}.experiment", "a non-empty name", self.experiment)


@dataclass
class LoggerConfig:
    """The trackers of a run: any subset (``logger=[csv,tensorboard,mlflow]``)."""

    csv: CSVLoggerConfig | None = None
    tensorboard: TensorBoardConfig | None = None
    mlflow: MLflowConfig | None = None

    def validate(self, key: str) -> None:
        pass


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``: the form hparams and MLflow params take."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: data}


def _scalars(row: dict) -> dict[str, float]:
    """The numbers of a record, nested ones (``cost``) flattened to ``cost.total.pulses``."""
    return {k: float(v) for k, v in flatten(row).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "epoch"}


# ---------------------------------------------------------------- the trackers ----------
class CSVLogger:
    def __init__(self, cfg: CSVLoggerConfig, run_dir: Path):
        self.path = check_resolved(run_dir, Path(cfg.filename), "logger.csv.filename")

    def epoch(self, row: dict, rows: list[dict]) -> None:
        # rewritten whole each epoch: a resumed run keeps one consistent file
        rows = [flatten(r) for r in rows]  # the cost ledger's columns: cost.total.pulses, ...
        columns = list(dict.fromkeys(k for r in rows for k in r))
        with open(self.path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)

    def step(self, step: int, train_loss: float, extra: dict | None = None) -> None:
        pass

    def finish(self, summary: dict, run_dir: Path) -> None:
        pass

    def fail(self) -> None:
        pass


class TensorBoardLogger:
    def __init__(self, cfg: TensorBoardConfig, run_dir: Path, hparams: dict):
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams as hparams_summary

        folder = check_resolved(run_dir, Path(cfg.dir), "logger.tensorboard.dir")
        self.writer = SummaryWriter(log_dir=str(folder))
        # hparams in this same run; the HParams tab reads the metrics from the scalar tags
        metrics = {f"epoch/{k}": 0.0 for k in ("test_accuracy", "test_loss", "train_loss")}
        for summary in hparams_summary(_hparam_values(hparams), metrics):
            self.writer.file_writer.add_summary(summary)

    def epoch(self, row: dict, rows: list[dict]) -> None:
        for key, value in _scalars(row).items():
            self.writer.add_scalar(f"epoch/{key}", value, row["epoch"])
        self.writer.add_scalar("epoch/pulses_total", sum(r["pulses"] for r in rows),
                               row["epoch"])
        self.writer.flush()

    def step(self, step: int, train_loss: float, extra: dict | None = None) -> None:
        self.writer.add_scalar("step/train_loss", train_loss, step)
        for key, value in (extra or {}).items():
            self.writer.add_scalar(f"step/{key}", value, step)

    def finish(self, summary: dict, run_dir: Path) -> None:
        self.writer.close()

    def fail(self) -> None:
        self.writer.close()


def _hparam_values(params: dict) -> dict:
    """TensorBoard takes bool/int/float/str only: lists and None become text."""
    return {k: v if isinstance(v, (bool, int, float, str)) else str(v)
            for k, v in params.items()}


@contextlib.contextmanager
def _store_lock(uri: str):
    """Parallel jobs of a sweep share one sqlite store: MLflow creates its tables on first
    use and two jobs doing that at once collide, so jobs take turns at the store."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    import fcntl

    path = Path(uri[len("sqlite:///"):])
    with open(path.with_name(path.name + ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class MLflowLogger:
    RUN_ID_FILE = "mlflow_run_id"  # a resumed run continues its MLflow run

    def __init__(self, cfg: MLflowConfig, run_dir: Path, params: dict):
        import mlflow
        from mlflow.tracking import MlflowClient

        self.uri = cfg.tracking_uri or mlflow.get_tracking_uri()
        check_store(self.uri, "logger.mlflow.tracking_uri", run_dir)
        if cfg.artifact_location:
            check_store(cfg.artifact_location, "logger.mlflow.artifact_location", run_dir)
        with _store_lock(self.uri):
            self.client = MlflowClient(tracking_uri=self.uri)  # creates the store's tables
            self._open(cfg, run_dir, params)

    def _open(self, cfg: MLflowConfig, run_dir: Path, params: dict) -> None:
        id_file = run_dir / self.RUN_ID_FILE
        if id_file.exists():
            self.run_id = id_file.read_text().strip()
            self.client.update_run(self.run_id, status="RUNNING")
            return
        experiment = self.client.get_experiment_by_name(cfg.experiment)
        if experiment is not None:
            experiment_id = experiment.experiment_id
        else:
            try:
                experiment_id = self.client.create_experiment(
                    cfg.experiment, artifact_location=cfg.artifact_location)
            except Exception:  # a parallel job of the same sweep created it first
                experiment_id = self.client.get_experiment_by_name(cfg.experiment).experiment_id
        run = self.client.create_run(experiment_id, run_name=cfg.run_name or _name(run_dir),
                                     tags={"xbrun.run_dir": str(run_dir.resolve())})
        self.run_id = run.info.run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        id_file.write_text(self.run_id + "\n")
        from mlflow.entities import Param

        items = [Param(k, str(v)) for k, v in params.items()]
        for start in range(0, len(items), 100):  # MLflow takes at most 100 per batch
            self.client.log_batch(self.run_id, params=items[start:start + 100])

    def epoch(self, row: dict, rows: list[dict]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, row["epoch"]) for k, v in _scalars(row).items()
                   if math.isfinite(v)]
        with _store_lock(self.uri):
            self.client.log_batch(self.run_id, metrics=metrics)

    def step(self, step: int, train_loss: float, extra: dict | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        values = {"step_train_loss": train_loss,
                  **{f"step_{k}": v for k, v in (extra or {}).items()}}
        metrics = [Metric(k, v, now, step) for k, v in values.items() if math.isfinite(v)]
        with _store_lock(self.uri):
            self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, summary: dict, run_dir: Path) -> None:
        status = "FINISHED" if summary.get("status") == "finished" else "FAILED"
        with _store_lock(self.uri):
            for name in ("curves.png", "summary.json", "metrics.jsonl"):
                if (run_dir / name).exists():
                    self.client.log_artifact(self.run_id, str(run_dir / name))
            self.client.set_terminated(self.run_id, status=status)

    def fail(self) -> None:
        with _store_lock(self.uri):
            self.client.set_terminated(self.run_id, status="FAILED")


def local_path(uri: str) -> Path | None:
    """The file or folder an MLflow URI names on this machine (``sqlite:///``, ``file:``,
    a plain path), or None for a remote store."""
    from urllib.parse import unquote, urlparse

    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///"):])
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" or len(parsed.scheme) == 1:  # a path (or a Windows drive)
        return Path(uri)
    return None


def check_store(uri: str, key: str, run_dir: Path) -> None:
    """MLflow's local store (shared by many runs, so it may lie outside the run folder) must
    not write into another run's folder nor over a file xbrun owns."""
    path = local_path(uri)
    if path is None:
        return
    path = Path(os.path.normpath(path.expanduser().absolute()))
    own = Path(run_dir).resolve()
    if path.name in OWNED:
        raise ConfigError(f"{key}: {uri} names {path.name}, which xbrun writes itself")
    for folder in (path, *path.parents):
        if folder.resolve() == own:
            inside_run(os.path.relpath(path, folder), key)
            return
        if any((folder / name).exists() for name in ("summary.json", "checkpoint.pt",
                                                      ".hydra")):
            raise ConfigError(f"{key}: {uri} lies inside {folder}, the folder of another "
                              f"run; keep MLflow's store outside run folders")


def _name(run_dir: Path) -> str:
    """The run folder relative to the working directory (``multirun/<date>/<time>/3``)."""
    try:
        return str(run_dir.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(run_dir)


# ---------------------------------------------------------------- a run's set ----------
class RunLoggers:
    """Every tracker of one run, plus the in-epoch progress bar, behind four calls."""

    def __init__(self, trackers: list, log_every: int, progress):
        self.trackers = trackers
        self.log_every = log_every
        self.progress = progress  # a progress.EpochProgress factory, or None
        self.finished = False
        self.pending = [0.0, 0]  # loss sum and samples since the last step point

    def epoch(self, row: dict, rows: list[dict]) -> None:
        for tracker in self.trackers:
            tracker.epoch(row, rows)

    @contextlib.contextmanager
    def steps(self, epoch: int, n_samples: int, batch_size: int, count_pulses, record=None):
        """Yields ``on_step(samples_done, loss_sum)`` for the epoch's loop, or None when
        nothing watches the steps (the loop then never reads the loss mid-epoch).

        Every ``log_every`` global steps (counted across epochs) the mean loss of the batches
        since the previous point goes to ``record(step, loss) -> extra metrics`` (the run's
        step records in metrics.jsonl) and then to the trackers. Batches after an epoch's
        last point are carried into the next epoch (``pending``, saved in checkpoints)."""
        wants_steps = self.log_every > 0 and (bool(self.trackers) or record is not None)
        if not wants_steps and self.progress is None:
            yield None
            return
        steps_per_epoch = -(-n_samples // batch_size)
        state = {"step": 0, "samples": 0, "loss": 0.0, "last": None}
        bar = self.progress(epoch, n_samples, count_pulses) if self.progress else None
        with bar if bar is not None else contextlib.nullcontext():
            def on_step(samples_done: int, loss_sum) -> None:
                state["step"] += 1
                state["last"] = (samples_done, loss_sum)
                if bar is not None:
                    bar.update(samples_done, loss_sum)
                global_step = (epoch - 1) * steps_per_epoch + state["step"]
                if wants_steps and global_step % self.log_every == 0:
                    loss = self._take(state, samples_done, float(loss_sum))
                    extra = record(global_step, loss) if record is not None else {}
                    for tracker in self.trackers:
                        tracker.step(global_step, loss, extra)

            yield on_step
        if wants_steps and state["last"] is not None:
            samples_done, loss_sum = state["last"]
            if samples_done > state["samples"]:
                self._carry(state, samples_done, float(loss_sum))

    def _carry(self, state: dict, samples_done: int, total: float) -> None:
        self.pending[0] += total - state["loss"]
        self.pending[1] += samples_done - state["samples"]
        state["loss"], state["samples"] = total, samples_done

    def _take(self, state: dict, samples_done: int, total: float) -> float:
        """The mean loss since the previous point (this epoch's batches and those carried)."""
        self._carry(state, samples_done, total)
        loss = self.pending[0] / self.pending[1]
        self.pending = [0.0, 0]
        return loss

    def finish(self, summary: dict, run_dir: Path) -> None:
        for tracker in self.trackers:
            tracker.finish(summary, run_dir)
        self.finished = True

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        if not self.finished:
            for tracker in self.trackers:
                with contextlib.suppress(Exception):
                    tracker.fail()


def open_loggers(config, run_dir: Path) -> RunLoggers:
    """The trackers ``config.logger`` selects, opened on ``run_dir``."""
    from ..schema import to_dict
    from .progress import epoch_progress

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    params = flatten(to_dict(config))
    trackers: list = []
    cfg = config.logger
    if cfg.csv is not None:
        trackers.append(CSVLogger(cfg.csv, run_dir))
    if cfg.tensorboard is not None:
        trackers.append(TensorBoardLogger(cfg.tensorboard, run_dir, params))
    if cfg.mlflow is not None:
        trackers.append(MLflowLogger(cfg.mlflow, run_dir, params))
    return RunLoggers(trackers, config.log_every, epoch_progress(config.progress))
