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
    ``xbrun report`` lists API runs beside CLI runs.
    """
    import yaml
    from omegaconf import OmegaConf

    from .config import load
    from .training.loop import train as train_run

    composed = _composed(overrides)
    config = load(OmegaConf.to_container(composed, resolve=True))
    if run_dir is None:
        run_dir = Path("outputs") / datetime.now().strftime("%Y-%m-%d/%H-%M-%S-%f")
    run_dir = Path(run_dir)
    meta = run_dir / ".hydra"
    meta.mkdir(parents=True, exist_ok=True)
    (meta / "config.yaml").write_text(OmegaConf.to_yaml(composed, resolve=True))
    (meta / "overrides.yaml").write_text(yaml.safe_dump(list(overrides)))
    return train_run(config, run_dir, log=log)


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
