"""Resuming a run folder: everything is checked before a byte of it changes.

``resume=<folder>`` continues the run in ``<folder>`` from its ``checkpoint.pt``. A folder
that is missing, a file, or holds a missing, empty, truncated, forged (a pickle that would
call a function: read with ``weights_only=True``, so nothing in it runs) or damaged (its
checksum differs, :mod:`.checkpoint`) checkpoint is a one-line :class:`ConfigError`, and so
is a checkpoint trained with other settings: only the keys in :data:`RESUMABLE` may change
(more epochs, other checkpoint interval, threads, accelerator, CUDA graphs, logging, the
divergence bound). ``resume_override=[key, ...]`` lets the listed keys (or
groups) change too; they then take effect from the resumed epoch on (a new ``lr`` or
``schedule`` replaces the one in the optimizer and scheduler state) and ``summary.json``
records them under ``resumed``. Only after all checks pass are the temporaries a killed run
left deleted. :func:`refuse_overwrite` keeps a new run out of a folder that holds one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..schema import covers, flatten, to_dict
from .checkpoint import read as read_checkpoint

CHECKPOINT = "checkpoint.pt"

#: keys a resume may change without ``resume_override`` (logging keys included)
RESUMABLE = ("epochs", "checkpoint_every", "threads", "accelerator", "cuda_graphs", "resume",
             "resume_override", "logger", "log_every", "progress", "objective", "diverge_loss",
             # the cost ledger's prices: they price the counts, they never change training
             "energy", "cell.endurance", "cell.pulse_energy_j",
             # the deployment study after training (an older checkpoint lacks it)
             "eval",
             # a checkpoint resumes on any number of processes (the same global batch)
             "distributed")

#: what a checkpoint must hold to be resumed
REQUIRED = ("epoch", "model", "optimizer", "shuffle", "metrics", "config")

_ABSENT = "<absent>"


def load_resume(config) -> dict:
    """The checked checkpoint state of ``config.resume`` (raises a one-line ConfigError)."""
    folder = Path(config.resume).expanduser()
    if not folder.exists():
        raise ConfigError(f"resume: {folder}: no such run folder")
    if not folder.is_dir():
        raise ConfigError(f"resume: {folder} is a file; expected a run folder with "
                          f"{CHECKPOINT}")
    path = folder / CHECKPOINT
    if not path.is_file():
        raise ConfigError(f"resume: {folder} has no {CHECKPOINT} (not a run folder, or its run "
                          f"stopped before the first checkpoint)")
    if path.stat().st_size == 0:
        raise ConfigError(f"resume: {path} is empty (a damaged checkpoint)")
    try:
        state = read_checkpoint(path)  # weights_only: a forged pickle runs nothing
    except ValueError as err:  # forged, truncated, garbage, a failed checksum
        raise ConfigError(f"resume: {path} {err}") from None
    except OSError as err:
        raise ConfigError(f"resume: {path} cannot be read ({err.strerror or err})") from None
    missing = [k for k in REQUIRED if k not in state] if isinstance(state, dict) else ["epoch"]
    if missing:
        raise ConfigError(f"resume: {path} is not an xbrun checkpoint (it has no "
                          f"{missing[0]!r})")
    changes = changed_keys(state["config"], to_dict(config))
    refused = {k: v for k, v in changes.items()
               if not any(covers(p, k) for p in (*RESUMABLE, *config.resume_override))}
    if refused:
        shown = "; ".join(f"{k}: checkpoint {_show(a)}, now {_show(b)}"
                          for k, (a, b) in list(refused.items())[:6])
        more = f" and {len(refused) - 6} more" if len(refused) > 6 else ""
        keys = ",".join(list(refused)[:6])
        raise ConfigError(f"resume: this run's config differs from the checkpoint's in {shown}"
                          f"{more}; only {', '.join(RESUMABLE[:5])} may change on resume "
                          f"(or allow them with resume_override=[{keys}])")
    return state


#: keys added to the config after checkpoints were written without them, with the value
#: that means what such a checkpoint's run did (None: any value, e.g. ``model.lr`` only
#: feeds the default of the recorded top-level ``lr``)
ADDED = {"dataset.val_fraction": 0.0, "early_stop.patience": 0, "early_stop.metric": None,
         "early_stop.min_delta": None, "early_stop.keep_best": None, "model.lr": None,
         "distributed.nproc": None, "distributed.backend": None}


def changed_keys(saved: Any, current: dict) -> dict[str, tuple[Any, Any]]:
    """``{dotted key: (checkpoint value, current value)}`` of every key that differs (a key
    of :data:`ADDED` that an older checkpoint lacks differs only from another value)."""
    old = flatten(saved if isinstance(saved, dict) else {})
    new = flatten(current)
    for key, same in ADDED.items():
        if key not in old and key in new and (same is None or new[key] == same):
            old[key] = new[key]
    return {k: (old.get(k, _ABSENT), new.get(k, _ABSENT)) for k in sorted({*old, *new})
            if old.get(k, _ABSENT) != new.get(k, _ABSENT)}


def _show(value: Any) -> str:
    return value if value == _ABSENT else repr(value)


def restore(state: dict, config, model, optimizer, scheduler, shuffle,
            decomposition) -> dict:
    """Load ``state`` into the run's objects; returns the ``resumed`` record for the summary
    (the epoch it continues after and every key that differs from the checkpoint)."""
    changes = changed_keys(state["config"], to_dict(config))
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
    except (RuntimeError, ValueError, KeyError) as err:
        reason = (str(err).strip().splitlines() or [""])[0][:200]
        raise ConfigError(f"resume: the checkpoint does not fit this run's model ({reason})"
                          ) from None
    fresh_schedule = any(covers(p, k) for k in changes for p in ("lr", "schedule")) or (
        "epochs" in changes and config.schedule.name == "cosine" and not config.schedule.t_max)
    saved = state.get("scheduler")
    if saved is not None and not fresh_schedule:
        scheduler.load_state_dict(saved)
    elif saved is not None:  # this run's lr / schedule, continued at the checkpoint's epoch
        scheduler.last_epoch = saved["last_epoch"]
        scheduler._step_count = saved.get("_step_count", saved["last_epoch"] + 1)
        lrs = (scheduler._get_closed_form_lr() if hasattr(scheduler, "_get_closed_form_lr")
               else list(scheduler.base_lrs))
        for group, base, lr in zip(optimizer.param_groups, scheduler.base_lrs, lrs,
                                   strict=True):
            group["initial_lr"], group["lr"] = base, lr
        scheduler._last_lr = list(lrs)
    shuffle.set_state(state["shuffle"])
    if decomposition is not None and state.get("decomposition") is not None:
        decomposition.load_state_dict(state["decomposition"])
    return {"after_epoch": state["epoch"],
            "changed": {k: {"checkpoint": a, "now": b} for k, (a, b) in changes.items()
                        if k not in ("resume", "resume_override")}}


#: what a run leaves in its folder: a new run there would overwrite it
RUN_RECORDS = (CHECKPOINT, "summary.json", "metrics.jsonl")


def earlier_run(folder: Path) -> str | None:
    """The record of an earlier run that ``folder`` holds, or None when a new run may write
    there (nothing there, or only the summary of a run that failed or was interrupted before
    its first checkpoint)."""
    folder = Path(folder)
    found = [name for name in RUN_RECORDS if (folder / name).exists()]
    if not found or (CHECKPOINT not in found and _status(folder / "summary.json") in (
            "failed", "interrupted")):
        return None
    return found[0]


def refuse_overwrite(folder: Path, key: str, resumes: tuple = ()) -> None:
    """A new run must not write over the results of an earlier one (resuming that very run
    in its own folder is no overwrite)."""
    record = earlier_run(folder)
    if record is None or any(Path(r).expanduser().resolve() == Path(folder).resolve()
                             for r in resumes):
        return
    raise ConfigError(f"{key}: {folder} already holds a run ({record}); a new run would "
                      f"overwrite it: continue it with resume={folder}, or choose another "
                      f"folder")


def _status(summary: Path) -> str | None:
    try:
        return json.loads(summary.read_text()).get("status")
    except (OSError, ValueError, AttributeError):
        return None
