"""xbrun from Python: the configs and checks of ``xbrun train``, without a subprocess.

    import xbrun
    config = xbrun.compose(["device=chopped", "gamma=0.1"])     # the typed RunConfig
    summary = xbrun.train(["device=chopped", "gamma=0.1", "epochs=3"])

Bad input raises ``xbrun.ConfigError`` carrying the one line the CLI would print.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from .errors import ConfigError

# objective name -> the summary key it reads, and whether larger is better
OBJECTIVES = {"val_accuracy": ("val_accuracy", True),
              "val_loss": ("val_loss", False),
              "test_accuracy": ("test_accuracy", True),
              "test_loss": ("test_loss", False),
              "weight_error": ("weight_error", False),
              "reconstruction_error": ("reconstruction_error", False)}


def compose(overrides: Sequence[str] = (), optimising: bool = False):
    """The typed, checked ``RunConfig`` that ``xbrun train OVERRIDES`` would run
    (``optimising``: as a job of a sweeper that selects runs, e.g. Optuna)."""
    from .composition import compose as composition
    from .composition import one_line

    with one_line():
        return composition(list(overrides), optimising=optimising)


def train(overrides: Sequence[str] = (), run_dir: str | Path | None = None, log=print) -> dict:
    """Run ``xbrun train OVERRIDES`` in this process; returns its summary dict.

    ``run_dir`` defaults to ``outputs/<date>/<time>`` like the CLI (with ``resume=DIR``: DIR,
    the resumed run's own folder); it receives the same
    files, plus ``.hydra/config.yaml`` and ``.hydra/overrides.yaml`` so that
    ``xbrun report`` lists API runs beside CLI runs. As on the CLI, a ``run_dir`` that holds
    an earlier run (unless resumed in place) or that another run is writing is refused, and
    a refused run leaves no folder behind.
    """
    import yaml
    from omegaconf import OmegaConf

    from .composition import composed as composition
    from .composition import make_folder, one_line, remove_made
    from .training.lock import run_lock
    from .training.outputs import write_text
    from .training.rundir import refuse_overwrite

    with one_line():
        composed, config = composition(list(overrides))
    if run_dir is None and config.resume:
        run_dir = config.resume  # continued in its own folder, as on the CLI
    if run_dir is None:
        run_dir = Path("outputs") / datetime.now().strftime("%Y-%m-%d/%H-%M-%S-%f")
    run_dir = Path(run_dir).expanduser().absolute()  # recorded as the CLI records it
    resumes = (config.resume,) if config.resume else ()
    refuse_overwrite(run_dir, "run_dir", resumes)  # before making anything
    made = make_folder(str(run_dir), "run_dir")
    try:
        with run_lock(run_dir, "run_dir"):  # a second writer of this folder is refused
            refuse_overwrite(run_dir, "run_dir", resumes)
            meta = run_dir / ".hydra"
            meta.mkdir(parents=True, exist_ok=True)
            write_text(meta / "config.yaml", OmegaConf.to_yaml(composed, resolve=True))
            write_text(meta / "overrides.yaml", yaml.safe_dump(list(overrides)))
            return run(config, run_dir, log, log)
    except ConfigError as err:
        if made is not None and getattr(err, "folder", None) != run_dir.resolve():
            remove_made(run_dir, made)  # as the CLI: a refused run leaves no folder
        raise


def run(config, run_dir: Path, log=print, log_error=print, trainer=None) -> dict:
    """Train the typed ``config`` into the existing ``run_dir`` and, where
    ``eval.after_training`` asks, evaluate it as deployed hardware; returns the summary
    (``xbrun train``'s job and :func:`train` both run this). ``trainer`` runs the training
    (``training.loop.train`` here; the command's own also starts ``distributed.nproc``
    processes)."""
    if trainer is None:
        from .training.loop import train as trainer

    summary = trainer(config, run_dir, log=log)
    if config.eval.after_training and config.is_analog and summary.get("status") == "finished":
        from .evaluate import after_training

        after_training(run_dir, config.eval, log, log_error)
    return summary


def check_search(overrides: Sequence[str]) -> None:
    """The search of a sweeper that selects runs (``hparams_search=``, ``hydra/sweeper=``)
    composed for ``overrides`` (its first job's): its direction must match the objective."""
    from omegaconf import OmegaConf

    from .composition import hydra_config, one_line
    from .config import resolve_objective

    with one_line():
        composed = hydra_config(list(overrides), with_hydra=True)
    objective = resolve_objective(composed.objective, composed.dataset.name,
                                  composed.model.name, composed.dataset.get("val_fraction") != 0)
    check_direction(objective, OmegaConf.to_container(composed.hydra.sweeper, resolve=False))


def check_direction(objective: str, sweeper: dict) -> None:
    """Optuna maximises or minimises what a job returns: an objective whose better side
    disagrees with the sweeper's direction would search for the worst runs."""
    direction = sweeper.get("direction")
    if "optuna" not in str(sweeper.get("_target_", "")) or isinstance(direction, list):
        return
    want = "maximize" if OBJECTIVES[objective][1] else "minimize"
    if str(direction).lower().rsplit(".", 1)[-1] != want:
        raise ConfigError(f"hydra.sweeper.direction: expected {want} for objective="
                          f"{objective}, got {direction}")


def objective_value(name: str, summary: dict) -> float:
    """The number a sweeper optimises: NaN for a run that failed or diverged (Optuna then
    records the trial as failed instead of ranking a half-trained model)."""
    key, _ = OBJECTIVES[name]
    value = summary.get(key)
    if summary.get("status") != "finished" or value is None:
        return math.nan
    return float(value)
