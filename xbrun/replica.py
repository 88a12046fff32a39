"""``python -m xbrun.replica``: one process of a run that ``distributed.nproc=N`` started;
and the command's side (:func:`run_processes`, :func:`train_replica`).

The ``xbrun train`` command has checked the config, made the run folder (Hydra wrote its
config and opened its log there) and holds the folder's lock; torch's elastic launcher
(``training/distributed.py::launch``) starts this module N times with the run in the
environment. Each process trains its replica; rank 0 writes the folder and appends its log
lines to the command's log file. A refused run is one line from rank 0, exit status 2.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
from pathlib import Path

from .config import load
from .errors import ConfigError
from .training.distributed import REPLICA_RUN, env_world, launch
from .training.interrupts import Interrupted, interruption, signals_raise
from .training.loop import train

#: as Hydra's job logging writes them (conf: hydra/job_logging default)
LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"


def main() -> int:
    run = json.loads(os.environ[REPLICA_RUN])
    rank = env_world()[0]
    log = logging.getLogger("xbrun")
    log.setLevel(logging.INFO)
    if rank == 0 and not logging.getLogger().handlers:  # (a fork has the command's)
        handlers = [logging.StreamHandler(sys.stdout)]
        if run["log_file"]:
            handlers.append(logging.FileHandler(run["log_file"], mode="a"))
        for handler in handlers:
            handler.setFormatter(logging.Formatter(LOG_FORMAT))
            log.addHandler(handler)
    try:
        with signals_raise():
            train(load(run["config"]), run["run_dir"], log=log.info)
    except ConfigError as err:
        if rank == 0:
            print(f"xbrun: error: {err}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Interrupted) as err:
        return 128 + int(getattr(signal, interruption(err).signal_name, signal.SIGINT))
    return 0


def forked() -> None:
    """:func:`main` in a fork of the ``xbrun train`` command (a CPU run)."""
    code = main()
    if code:
        raise SystemExit(code)


class Refused(Exception):
    """Rank 0 refused the run (exit status 2) and said why in one line."""


def run_processes(config, run_dir: Path, log=print) -> dict:
    """The run, in this process; or with ``distributed.nproc=N`` (not under torchrun) on N
    processes that torch's elastic launcher starts (``training/distributed.py::launch``):
    this process keeps the folder's lock and reads back rank 0's summary."""
    if config.distributed.nproc == 1 or env_world()[1] > 1:
        return train(config, run_dir, log=log)
    from .training.lock import run_lock
    from .training.phases import release_collector

    release_collector()  # this process now waits on the replicas (phases.hold_collector)
    logs = [h.baseFilename for h in logging.getLogger().handlers
            if isinstance(h, logging.FileHandler)]
    with run_lock(run_dir, "run_dir"):  # held for rank 0 (as ``train`` holds it)
        resumed = Path(config.resume).expanduser() if config.resume else None
        with (run_lock(resumed, "resume") if resumed is not None and resumed.is_dir()
              else contextlib.nullcontext()):
            code, error = launch(config, run_dir, logs[0] if logs else None, entry=forked)
    # rank 0 writes into the folder it resumes, if any (as ``train`` does)
    summary = (Path(config.resume).expanduser() if config.resume else run_dir) / "summary.json"
    if code == 2:
        raise Refused
    if code - 128 in (signal.SIGINT, signal.SIGTERM):  # 130, 143: as replicas exit on them
        stop = Interrupted(signal.Signals(code - 128).name)
        record = json.loads(summary.read_text()) if summary.is_file() else {}
        stop.run_dir = summary.parent
        stop.epoch = record.get("interrupted", {}).get("resumes_after")
        raise stop
    if code:
        raise RuntimeError(f"a process of the run on {config.distributed.nproc} processes "
                           f"failed (exit status {code}): {error or 'see its output above'}")
    return json.loads(summary.read_text())


def train_replica(config) -> None:
    """Train as a rank other than 0: no run folder, Hydra or log of its own."""
    train(config, None, log=lambda *_: None)


if __name__ == "__main__":
    sys.exit(main())
