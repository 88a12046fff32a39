"""``xbrun``: a thin shell over the training recipe, Hydra for configs and sweeps.

Every override is checked before Hydra runs anything: a bad group option, an unknown key
or an out-of-range value ends the command with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import math
import sys
import traceback
from importlib import resources
from pathlib import Path

from .errors import ConfigError

USAGE = """xbrun: train neural networks on simulated analog crossbar hardware

usage:
  xbrun train [-m] [KEY=VALUE ...]   one run, or a sweep with -m (Hydra multirun)
  xbrun train --help                 config groups and the composed default config
  xbrun report DIR [--csv|--markdown] [--by KEY] [--plot FILE]
                                     table of every run below DIR, grouped, plotted
  xbrun cells [NAME ...] [--plot F]  unit cells: states, asymmetry, symmetry point, pulse response
  xbrun presets                      aihwkit's tuned presets (preset=NAME), one line each

examples:
  xbrun train device=sgd cell=soft_bounds io=default epochs=3 lr=0.05 seed=1
  xbrun train -m device=fp,sgd seed=0,1
  xbrun report multirun/
  xbrun report multirun/2026-12-01/10-00-00 --by device --plot accuracy.png
"""

HYDRA_FLAGS = {"-m", "--multirun", "--cfg", "-c", "--help", "-h", "--hydra-help", "--info",
               "--package", "-p", "--resolve", "--config-dir", "-cd", "--config-name", "-cn",
               "--run", "-r"}


def conf_dir() -> Path:
    """The shipped Hydra configs (``conf/`` installed as ``xbrun.conf``)."""
    return Path(str(resources.files("xbrun.conf")))


def fail(message: str) -> None:
    print(f"xbrun: error: {message}", file=sys.stderr)
    raise SystemExit(2)


# ---------------------------------------------------------------- validation ---------
def _group_options(group: str) -> list[str]:
    folder = conf_dir() / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _explain_hydra_error(err: Exception) -> str:
    from hydra.errors import MissingConfigException

    from .extras import missing_plugin

    text = str(err).strip()
    if isinstance(err, MissingConfigException) or "Could not find '" in text:
        missing = text.split("Could not find '", 1)[-1].split("'", 1)[0]
        group, _, option = missing.rpartition("/")
        if missing_plugin(group, option):
            return missing_plugin(group, option)
        options = _group_options(group)
        if options:
            return f"{group}={option}: no such option; choose one of {', '.join(options)}"
    if "Could not override '" in text or "is not in struct" in text:
        key = text.split("'", 2)[1] if "'" in text else text
        return (f"{key}: unknown key (see `xbrun train --cfg job` for the keys; "
                f"prefix with + to add a new one)")
    return " ".join(line.strip() for line in text.splitlines() if line.strip())[:400]


def _combinations(overrides: list[str], multirun: bool) -> list[list[str]]:
    """Expand sweep overrides (``a=1,2``) into the single-run override lists they make."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    choices = []
    for item in parsed:
        if item.is_sweep_override():
            if not multirun:
                raise ConfigError(f"{item.key_or_group}: a sweep ({item.input_line}) needs -m")
            try:
                values = list(item.sweep_string_iterator())
            except Exception:  # interval sweeps (optuna) cannot be listed; checked per job
                values = []
            choices.append([f"{item.get_key_element()}={v}" for v in values] or [None])
        else:
            choices.append([item.input_line])
    return [[o for o in combo if o is not None] for combo in itertools.product(*choices)]


def compose(overrides: list[str]):
    """Compose the config for ``overrides`` and check it; returns the typed RunConfig."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from omegaconf import OmegaConf

    from .config import load

    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = hydra_compose(config_name="config", overrides=overrides)
    return load(OmegaConf.to_container(cfg, resolve=True))


def validate(overrides: list[str], multirun: bool) -> None:
    """Compose every job of the command before any runs.

    In a sweep over config groups (``device=sgd,ttv2``), a job whose own group option
    lacks a key set for all (``++device.transfer_update.desired_bl=31``) is a failed job,
    not a bad command: the others run and it is recorded as ``failed`` with the reason.
    Any other error, or one that no choice of the swept groups avoids, stops the command.
    """
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from .sweeps import per_job_failures

    errors: dict[int, str] = {}
    try:
        combos = _combinations(overrides, multirun)
        for index, combo in enumerate(combos):
            try:
                compose(combo)
            except ConfigError as err:
                errors[index] = str(err)
        notes = per_job_failures(combos, errors, _group_options)
    except ConfigError as err:
        fail(str(err))
    except (HydraException, OmegaConfBaseException, ValueError) as err:
        fail(_explain_hydra_error(err))
    for line in notes:
        print(f"xbrun: note: {line}", file=sys.stderr)


# ---------------------------------------------------------------- train ---------------
def _task(cfg) -> float | None:
    """One job; returns the run's ``objective`` (NaN unless it finished) for sweepers."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    from .api import objective_value
    from .config import load
    from .training.loop import train
    from .training.outputs import write_json

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    log = logging.getLogger("xbrun")
    data = OmegaConf.to_container(cfg, resolve=True)
    config = None
    try:
        # inside the try: in a sweep over devices, a key this job's device lacks fails
        # this job alone (see validate)
        config = load(data)
        if hydra_cfg.mode == RunMode.MULTIRUN:
            config.progress = "none"  # sweeps keep to the per-epoch lines
        return objective_value(config.objective, train(config, run_dir, log=log.info))
    except ConfigError as err:
        status, message = "failed", str(err)
    except Exception as err:  # one failed job must not take a sweep down with it
        status, message = "failed", f"{type(err).__name__}: {err}"
        (run_dir / "error.log").write_text(traceback.format_exc())
    target = Path(config.resume) if config is not None and config.resume else run_dir
    write_json(target / "summary.json", {"status": status, "error": message,
                                         "run_dir": str(target)})
    log.error("run failed: %s", message)
    if hydra_cfg.mode != RunMode.MULTIRUN:
        print(f"xbrun: error: {message}", file=sys.stderr)
        raise SystemExit(1)
    return math.nan


def _check_sweeper(overrides: list[str]) -> None:
    """An Optuna search's direction must match the objective (see api.check_direction)."""
    if not any(o.startswith(("hparams_search=", "hydra/sweeper=")) for o in overrides):
        return
    from omegaconf import OmegaConf

    from .api import _composed, check_direction

    try:
        composed = _composed(_combinations(overrides, multirun=True)[0], with_hydra=True)
        check_direction(composed.objective,
                        OmegaConf.to_container(composed.hydra.sweeper, resolve=False))
    except ConfigError as err:
        fail(str(err))


def train_command(args: list[str]) -> None:
    import hydra

    overrides = [a for a in args if not a.startswith("-") and "=" in a]
    flags = [a for a in args if a not in overrides]
    unknown = [f for f in flags if f.split("=")[0] not in HYDRA_FLAGS and not f.startswith("hydra")]
    if unknown and not any(f in ("--cfg", "-c", "--package", "-p") for f in flags):
        fail(f"{unknown[0]}: unknown option; expected KEY=VALUE overrides, -m, --help or --cfg")
    from .extras import missing_plugin

    for override in overrides:
        key, _, option = override.partition("=")
        if missing_plugin(key, option):
            fail(missing_plugin(key, option))
    if not any(f in ("--help", "-h", "--hydra-help", "--info") for f in flags):
        validate([o for o in overrides if not o.startswith("hydra")],
                 multirun=any(f in ("-m", "--multirun") for f in flags))
        _check_sweeper(overrides)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # optuna's imports chatter at INFO
    main = hydra.main(config_path=str(conf_dir()), config_name="config",
                      version_base="1.3")(_task)
    sys.argv = ["xbrun train", *args]
    main()


# ---------------------------------------------------------------- entry ---------------
def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return
    command, rest = argv[0], argv[1:]
    if command == "train":
        train_command(rest)
    elif command == "report":
        from .report import report_command

        parser = argparse.ArgumentParser(prog="xbrun report",
                                         description="Table of every run below DIR.")
        parser.add_argument("dir", type=Path)
        parser.add_argument("--csv", action="store_true", help="CSV on stdout instead")
        parser.add_argument("--markdown", action="store_true", help="Markdown tables instead")
        parser.add_argument("--by", metavar="KEY", help="group runs by KEY (an override or "
                            "config key, e.g. device); mean ± sd when they differ only in seed")
        parser.add_argument("--plot", metavar="FILE", help="test accuracy and loss against "
                            "epoch for every run, coloured by --by, into FILE (png, pdf, svg)")
        report_command(parser.parse_args(rest))
    elif command == "cells":
        from .cells_info import cells_command

        cells_command(rest)
    elif command == "presets":
        from .presets import presets_command

        presets_command(conf_dir())
    else:
        fail(f"{command}: unknown command; expected train, report, cells or presets "
             f"(see xbrun --help)")


if __name__ == "__main__":
    main()
