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


def _composed(overrides: Sequence[str], with_hydra: bool = False):
    """Hydra's composed config for ``overrides`` (an OmegaConf node), errors as ConfigError;
    ``with_hydra`` keeps the ``hydra`` node (launcher, sweeper)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from .composition import conf_dir, explain_hydra_error

    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
            return hydra_compose(config_name="config", overrides=list(overrides),
                                 return_hydra_config=with_hydra)
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(explain_hydra_error(err)) from None


def compose(overrides: Sequence[str] = (), optimising: bool = False):
    """The typed, checked ``RunConfig`` that ``xbrun train OVERRIDES`` would run
    (``optimising``: as a job of a sweeper that selects runs, e.g. Optuna)."""
    from omegaconf import OmegaConf

    from .config import load

    return load(OmegaConf.to_container(_composed(overrides), resolve=True), optimising)


def train(overrides: Sequence[str] = (), run_dir: str | Path | None = None, log=print) -> dict:
    """Run ``xbrun train OVERRIDES`` in this process; returns its summary dict.

    ``run_dir`` defaults to ``outputs/<date>/<time>`` like the CLI; it receives the same
    files, plus ``.hydra/config.yaml`` and ``.hydra/overrides.yaml`` so that
    ``xbrun report`` lists API runs beside CLI runs. As on the CLI, a ``run_dir`` that holds
    an earlier run (unless resumed in place) or that another run is writing is refused, and
    a refused run leaves no folder behind.
    """
    import yaml
    from omegaconf import OmegaConf

    from .composition import make_folder, remove_made
    from .config import load
    from .training.lock import run_lock
    from .training.loop import train as train_run
    from .training.outputs import write_text
    from .training.rundir import refuse_overwrite

    composed = _composed(overrides)
    config = load(OmegaConf.to_container(composed, resolve=True))
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
            summary = train_run(config, run_dir, log=log)
            if (config.eval.after_training and config.is_analog
                    and summary.get("status") == "finished"):
                from .evaluate import after_training

                after_training(run_dir, config.eval, log, log)
            return summary
    except ConfigError as err:
        if made is not None and getattr(err, "folder", None) != run_dir.resolve():
            remove_made(run_dir, made)  # as the CLI: a refused run leaves no folder
        raise


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
