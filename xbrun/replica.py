"""``python -m xbrun.replica``: one process of a run that ``distributed.nproc=N`` started.

The ``xbrun train`` command has checked the config, made the run folder (Hydra wrote its
config and opened its log there) and holds the folder's lock; torch's elastic launcher
(``training/distributed.py::launch``) starts this module N times with the run in the
environment. Each process trains its replica; rank 0 writes the folder and appends its log
lines to the command's log file. A refused run is one line from rank 0, exit status 2.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys

from .config import load
from .errors import ConfigError
from .training.distributed import REPLICA_RUN, env_world
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


if __name__ == "__main__":
    sys.exit(main())
