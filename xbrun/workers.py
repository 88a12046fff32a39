"""A sweep's joblib workers: a worker that dies fails its own job, not the whole sweep.

Hydra's joblib launcher hands all jobs to one ``joblib.Parallel`` call; when a worker process
is killed (``kill -9``, the out-of-memory killer), loky breaks the pool and the launcher
raises ``TerminatedWorkerError``: the jobs not yet run never run and the dead one is not
recorded. :func:`resilient_joblib` wraps the launcher: jobs are collected as they finish;
after a worker death every job that had started but not finished (its folder exists) gets
``summary.json`` with status ``failed`` and the reason, and the jobs that had not started
run in a fresh pool. The sweep then ends normally, each job's folder telling what happened.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from .training.outputs import write_json

#: folder of each job by its number, set by the CLI once it has checked the sweep
JOB_FOLDERS: dict[int, Path] = {}


def _run(idx, overrides, hydra_context, config, task_function, singleton_state):
    """One job in a worker (``execute_job``), returned with its number."""
    from hydra_plugins.hydra_joblib_launcher._core import execute_job

    return idx, execute_job(idx, overrides, hydra_context, config, task_function,
                            singleton_state)


def resilient_joblib() -> None:
    """Replace the joblib launcher's ``launch`` by :func:`_launch` (once per process)."""
    try:
        import joblib
        from hydra_plugins.hydra_joblib_launcher import _core
    except ImportError:
        return
    version = tuple(int(p) for p in joblib.__version__.split(".")[:2] if p.isdigit())
    if version >= (1, 4) and getattr(_core.launch, "__module__", "") != __name__:
        _core.launch = _launch  # (results as they finish: joblib 1.4's generator_unordered)


def _launch(launcher, job_overrides, initial_job_idx):
    from hydra.core.singleton import Singleton
    from hydra.core.utils import JobReturn, JobStatus, configure_log, setup_globals
    from hydra_plugins.hydra_joblib_launcher._core import process_joblib_cfg
    from joblib import Parallel, delayed
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    setup_globals()
    configure_log(launcher.config.hydra.hydra_logging, launcher.config.hydra.verbose)
    joblib_cfg = launcher.joblib
    joblib_cfg["backend"] = "loky"
    process_joblib_cfg(joblib_cfg)
    Path(str(launcher.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    state = Singleton.get_state()
    pending = {initial_job_idx + i: list(o) for i, o in enumerate(job_overrides)}
    results: dict[int, JobReturn] = {}
    while pending:
        if joblib_cfg.get("n_jobs", 1) > len(pending):  # a fresh pool: no idle workers
            joblib_cfg["n_jobs"] = len(pending)
        calls = [delayed(_run)(idx, overrides, launcher.hydra_context, launcher.config,
                               launcher.task_function, state)
                 for idx, overrides in pending.items()]  # a list: pending shrinks below
        try:
            for idx, ret in Parallel(**joblib_cfg, return_as="generator_unordered")(calls):
                results[idx] = ret
                del pending[idx]
        except TerminatedWorkerError as err:
            reason = " ".join(str(err).split())[:300]
            for idx in list(pending):
                folder = JOB_FOLDERS.get(idx)
                if folder is None or folder.exists():  # it had started: record, don't rerun
                    if folder is not None:
                        record_dead(folder, reason)
                    results[idx] = JobReturn(overrides=pending.pop(idx),
                                             status=JobStatus.COMPLETED,
                                             _return_value=math.nan)
    return [results[idx] for idx in sorted(results)]


def record_dead(folder: Path, reason: str) -> None:
    """Mark a job whose worker died as failed, keeping what its summary already held (a
    job with a checkpoint can be resumed)."""
    summary = {}
    try:
        summary = json.loads((folder / "summary.json").read_text())
    except (OSError, ValueError):
        pass
    if not isinstance(summary, dict) or summary.get("status") not in (None, "running"):
        return  # it ended (and recorded how) before the pool broke
    summary.update(status="failed", run_dir=str(folder),
                   error=f"its worker process died ({reason})")
    write_json(folder / "summary.json", summary)
    print(f"xbrun: warning: job {folder.name} stopped when a sweep worker died; recorded as "
          f"failed in {folder} (the other jobs go on)", file=sys.stderr, flush=True)
