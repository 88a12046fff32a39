"""The jobs of an ``xbrun train`` command line and the checks made before Hydra runs any.

Sweep overrides expand into the single-run override lists Hydra's basic sweeper would run
(``combinations``; an ``experiment=``'s ``hydra.sweeper.params`` merged in); each job is
composed by the one composition (``composition.compose``) and checked, a single run also
against this machine; keys a run ignores are named once.
"""

from __future__ import annotations

import itertools

from .composition import (
    COMPOSED,
    compose,
    group_options,
    hydra_settings,
    is_hydra,
    parse_overrides,
)
from .errors import ConfigError


def sweep_values(item) -> list[str] | None:
    """The values a sweep override lists (``glob(...)``: the group's options it matches), or
    None when only a sampling sweeper can draw them (``interval(...)``: optuna, ...)."""
    from hydra.core.override_parser.types import Glob

    if isinstance(item.value(), Glob):
        return item.value().filter(group_options(item.key_or_group))
    try:
        return list(item.sweep_string_iterator())
    except Exception:
        return None


def combinations(overrides: list[str], multirun: bool) -> list[list[str]]:
    """Expand sweep overrides (``a=1,2``) into the single-run override lists they make."""
    choices = []
    for item in parse_overrides(overrides):
        if item.is_sweep_override():
            if not multirun:
                raise ConfigError(f"{item.key_or_group}: a sweep ({item.input_line}) needs -m")
            values = sweep_values(item) or []
            choices.append([f"{item.get_key_element()}={v}" for v in values] or [None])
        else:
            choices.append([item.input_line])
    return [[o for o in combo if o is not None] for combo in itertools.product(*choices)]


def with_sweeper_params(task: list[str], hydra_overrides: list[str]) -> list[str]:
    """``task`` with the sweep axes a config sets in ``hydra.sweeper.params`` (an
    ``experiment=``'s), as Hydra's basic sweeper merges them: the config's axes first, a
    command-line override of the same key replacing its values."""
    settings = hydra_settings([*combinations(task, True)[0], *hydra_overrides])
    params = settings.sweeper.get("params") or {}
    if not params or "BasicSweeper" not in str(settings.sweeper.get("_target_", "")):
        return task
    given = {item.key_or_group for item in parse_overrides(task)}
    axes = [f"{key}={value}" for key, value in params.items()]
    return [*(a for a, item in zip(axes, parse_overrides(axes), strict=True)
              if item.key_or_group not in given), *task]


def optimises(settings) -> bool:
    """Whether Hydra's sweeper in ``settings`` selects runs by their objective (Optuna and
    the like, not the basic sweeper that runs a listed grid): its jobs then hold out a
    validation split by default (``dataset.val_fraction``)."""
    return "BasicSweeper" not in str(settings.sweeper.get("_target_", "BasicSweeper"))


def hydra_only(overrides: list[str]) -> list[str]:
    """The ``hydra.*`` overrides, in their order."""
    return [o for o in overrides if is_hydra(o)]


def check_jobs(overrides: list[str], multirun: bool, environment: bool = True):
    """Check every job ``overrides`` make before Hydra starts; returns ``(configs, notes,
    warnings)``: the jobs' typed configs, a line for each job that will fail on its own, and
    the warnings to print. A bad command raises ``ConfigError`` (or Hydra's error).

    A single run is also checked against this machine (GPU, data files, the resumed
    checkpoint); a sweep's jobs meet those checks inside their own folders. In a sweep over
    config groups (``device=sgd,ttv2``), a job whose own group option lacks a key set for
    all (``++device.transfer_update.desired_bl=31``) is a failed job, not a bad command:
    the others run and it is recorded as ``failed`` with the reason (``xbrun.sweeps``).
    Any other error, or one that no choice of the swept groups avoids, stops the command.
    With ``environment`` off (``--cfg``: a command that only prints) no model is built
    either, so a custom ``model._target_`` factory is not called. Keys given on the command
    line that a run ignores get one warning.
    """
    from .sweeps import per_job_failures
    from .training.distributed import check_config
    from .training.phases import release_collector
    from .training.preflight import check_environment, check_structure

    COMPOSED.clear()  # a Python session may run many commands (and change config files)
    task = [o for o in overrides if not is_hydra(o)]
    errors: dict[int, str] = {}
    configs, warnings = [], []
    optimising = False
    if multirun:
        sweep_hydra = [o for o in overrides if is_hydra(o)]
        task = with_sweeper_params(task, sweep_hydra)
        optimising = optimises(hydra_settings([*combinations(task, True)[0],
                                                 *sweep_hydra]))
    combos = combinations(task, multirun)
    parse_overrides([o for o in overrides if is_hydra(o)])
    for index, combo in enumerate(combos):
        if index == 1:  # a sweep's other jobs: each composition leaves ~1.4 MB of cycles
            release_collector()  # (the collector held off for start-up: cli.main)
        try:  # the first job with Hydra's settings (composed once with them)
            configs.append(compose(combo, hydra_only(overrides) if index == 0 else None,
                                   optimising))
        except ConfigError as err:
            errors[index] = str(err)
    notes = per_job_failures(combos, errors, group_options)
    for config in configs:
        check_config(config, multirun)
    for config in configs if environment else ():  # --cfg prints: it builds no model
        warnings += [w for w in check_structure(config) if w not in warnings]
    ignored = ignored_keys(task, combos, configs)
    if ignored:
        warnings.append(ignored)
    if environment and not multirun:
        check_environment(configs[0])
    return configs, notes, warnings


#: what a digital run (device=fp) never reads: its keys set on the command line are noted
ANALOG_ONLY = ("cell", "io", "update", "decomposition", "mapping")


def ignored_keys(task: list[str], combos: list[list[str]], configs: list) -> str:
    """One warning naming the keys given on the command line that a run ignores (a cell,
    I/O or decomposition key with device=fp, ``decomposition.rank`` of a method without a
    rank), or ""."""
    from .decompositions.schemas import RANKED

    given = {item.key_or_group.lstrip("+"): item for item in parse_overrides(task)
             if not item.is_delete()}
    dropped: dict[str, str] = {}
    for config in configs:
        for key in given:
            root = key.split(".", 1)[0]
            if not config.is_analog and root in ANALOG_ONLY and not key.startswith(
                    "mapping.factorize"):
                dropped.setdefault(key, "device=fp trains digitally: no cells, I/O, pulsed "
                                        "update, decomposition or tile mapping")
            elif key == "decomposition.rank" and config.decomposition.name not in RANKED:
                dropped.setdefault(key, f"decomposition={config.decomposition.name} has no "
                                        f"rank")
    if not dropped:
        return ""
    why = "; ".join(dict.fromkeys(dropped.values()))
    runs = "this run" if len(combos) == 1 else "some jobs"
    return f"{', '.join(dropped)}: ignored by {runs} ({why})"
