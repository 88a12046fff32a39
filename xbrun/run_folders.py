"""Where a command's runs write, checked before any of them starts.

A sweep's job folders (``hydra.sweep.dir``/``hydra.sweep.subdir`` as Hydra's launchers
resolve them) must neither hold an earlier run, nor collide, nor leave the sweep folder;
every file Hydra writes for a job (its recorded config, its log) and every tracker path
must stay inside the run folder and off the names xbrun owns (``training/outputs.py``
``OWNED``). ``cli.py`` calls these with Hydra's settings once the overrides are valid.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import ConfigError


def job_folders(combos: list[list[str]], settings, whole_config) -> list[Path]:
    """The run folder of each job of a sweep (``hydra.sweep.dir``/``hydra.sweep.subdir`` as
    Hydra's launchers resolve it), refused before any job starts when two jobs would share
    one or a job's folder would lie outside the sweep folder. A sampling sweeper's jobs are
    not known in advance: its first two stand for all (``combos`` holds them).
    ``whole_config(combo)`` composes a job's config (task keys and ``hydra``), needed only
    when the subdir names more than the job's number."""
    from omegaconf import OmegaConf, open_dict

    sweep_dir = Path(str(settings.sweep.dir)).expanduser().absolute()
    raw = str(OmegaConf.to_container(settings.sweep, resolve=False).get("subdir"))
    by_number = re.fullmatch(r"[^$]*(\$\{hydra\.job\.(num|id)\}[^$]*)*", raw) is not None
    folders: list[Path] = []
    cfg = None
    for index, combo in enumerate(combos):
        if cfg is None or not by_number:  # by number: the settings alone, copied once
            whole = OmegaConf.create({"hydra": settings}) if by_number else whole_config(combo)
            cfg = OmegaConf.create(OmegaConf.to_container(whole, resolve=False))
        with open_dict(cfg):
            cfg.hydra.job.num, cfg.hydra.job.id = index, index
        subdir = str(OmegaConf.select(cfg, "hydra.sweep.subdir"))
        folder = Path(os.path.normpath(sweep_dir / subdir))
        if folder != sweep_dir and sweep_dir not in folder.parents:
            raise ConfigError(f"hydra.sweep.subdir: job {index}'s folder {folder} lies outside "
                              f"the sweep folder {sweep_dir}; use a relative folder such as "
                              f"${{hydra.job.num}}")
        if folder in folders:
            raise ConfigError(f"hydra.sweep.subdir: jobs {folders.index(folder)} and {index} "
                              f"would both write into {folder}; make it differ per job, e.g. "
                              f"${{hydra.job.num}}")
        folders.append(folder)
    resumes = [next((o.split("=", 1)[1] for o in combo if o.split("=", 1)[0] == "resume"),
                    None) for combo in combos]
    seen: dict[Path, int] = {}
    for index, resume in enumerate(resumes):
        if resume in (None, "null"):
            continue
        target = Path(resume).expanduser().resolve()
        if target in seen:
            raise ConfigError(f"resume: jobs {seen[target]} and {index} would both continue "
                              f"{target}; a run folder takes one writer at a time")
        seen[target] = index
    return folders


def check_written_paths(settings, jobs: list[Path], configs: list) -> None:
    """Every file Hydra writes for a job (its recorded config under ``hydra.output_subdir``,
    the log files of ``hydra.job_logging``) stays inside the job's folder and names nothing
    xbrun owns; a tracker's file (``logger.csv.filename``, ``logger.tensorboard.dir``) names
    none of Hydra's. Anything else would write into a checkpoint or into another run."""
    from omegaconf import OmegaConf, open_dict

    from .training.outputs import inside_run

    taken: dict[str, str] = {}  # first part of a path Hydra writes -> the key that names it
    subdir = settings.get("output_subdir")
    if subdir is not None:
        first = inside_run(str(subdir), "hydra.output_subdir", allow=(".hydra",)).parts[0]
        taken[first] = "hydra.output_subdir"
    cfg = None  # Hydra's settings as each job's (made once: a sweep has many jobs)
    for group in ("job_logging", "hydra_logging"):
        handlers = OmegaConf.select(settings, f"{group}.handlers") or {}
        for name in handlers:
            if "filename" not in handlers[name]:
                continue
            key = f"hydra.{group}.handlers.{name}.filename"
            for index, job in enumerate(jobs):
                if cfg is None:
                    cfg = OmegaConf.create({"hydra": OmegaConf.to_container(settings,
                                                                            resolve=False)})
                with open_dict(cfg):
                    cfg.hydra.runtime.output_dir = str(job)
                    cfg.hydra.job.num, cfg.hydra.job.id = index, index
                target = Path(os.path.normpath(job / str(OmegaConf.select(
                    cfg, f"hydra.{group}.handlers.{name}.filename"))))
                if job not in target.parents:
                    raise ConfigError(f"{key}: {target} lies outside the run folder {job}; "
                                      f"a run's log stays in its folder")
                first = inside_run(os.path.relpath(target, job), key).parts[0]
                if taken.get(first, key) != key:
                    raise ConfigError(f"{key}: {target} lies in {first}, which "
                                      f"{taken[first]} names; choose another file")
                taken[first] = key
    for config in configs:
        trackers = [("logger.csv.filename", getattr(config.logger.csv, "filename", None)),
                    ("logger.tensorboard.dir", getattr(config.logger.tensorboard, "dir", None))]
        for key, value in trackers:
            first = Path(os.path.normpath(value)).parts[0] if value else None
            if first in taken:
                raise ConfigError(f"{key}: {value!r} is where Hydra writes ({taken[first]}); "
                                  f"choose another name")


def refuse_overwrite(folders: list[Path], key: str, resumes: tuple = ()) -> None:
    """A new run (or sweep) must not write over the results of an earlier one."""
    from .training.rundir import refuse_overwrite as refuse

    for folder in folders:
        refuse(folder, key, resumes)
