"""``xbrun``: a thin shell over the training recipe, Hydra for configs and sweeps.

Every override is checked before Hydra runs anything: a bad group option, an unknown key,
an out-of-range value, a model the config cannot build, a bad ``hydra.*`` setting and, for
a single run, what the machine lacks (GPU, data files, the resumed checkpoint) end the
command with one line on stderr and exit status 2, before any run folder exists. The CLI
then makes the run folder itself and hands it to Hydra; a run refused later (an error only
the run can find) removes that folder again. A sweep's job that fails is recorded in its
own folder (``summary.json`` with status ``failed``, ``error.log``) and the sweep goes on.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import math
import os
import re
import shutil
import sys
import traceback
from pathlib import Path

from .composition import (
    COMPOSED,
    Parser,
    conf_dir,
    explain_hydra_error,
    fail,
    groups_listed_once,
    hydra_held,
    hydra_settings,
    is_hydra,
    make_folder,
    parse_overrides,
    remove_made,
    run_composed,
    warn,
)
from .errors import ConfigError
from .jobs import check_jobs, combinations, hydra_only, optimises, sweep_values
from .schema import check
from .training import driver_start, phases
from .training.interrupts import (
    Interrupted,
    die_with_parent,
    interruption,
    signals_raise,
    worker_job,
)

USAGE = """xbrun: train neural networks on simulated analog crossbar hardware

usage:
  xbrun train [-m] [KEY=VALUE ...]   one run, or a sweep with -m (Hydra multirun)
  xbrun train --help                 config groups and the composed default config
  xbrun evaluate RUN_DIR [dataset.KEY=VALUE ...] [eval.KEY=VALUE ...] [--split ...] [--last]
                                     score a finished run's model (best epoch) on its test
                                     split or another data set; eval.*: as deployed hardware
                                     (programming noise, drift) over time
  xbrun report DIR [--csv|--markdown] [--by KEY] [--plot FILE] [--wear FILE]
                                     table of every run below DIR, grouped, plotted;
                                     --wear: one run's per-cell pulse counts
  xbrun cells [NAME ...] [--plot F]  unit cells: states, asymmetry, symmetry point, pulse response
  xbrun cells fit FILE --model M     a cell fitted to measured pulse responses
  xbrun presets                      aihwkit's tuned presets (preset=NAME), one line each
  xbrun figure NAME [--quick] [KEY=VALUE ...]
                                     run a published figure's sweep and draw it beside the
                                     published values (--list: the figures; --redraw)

examples:
  xbrun train device=sgd cell=soft_bounds io=default model.activation=relu epochs=3 lr=0.1 seed=1
  xbrun train -m device=fp,sgd seed=0,1
  xbrun report multirun/
  xbrun report multirun/2026-12-01/10-00-00 --by device --plot accuracy.png
  xbrun figure wu2025-tt-asymmetry --quick
"""

HYDRA_FLAGS = {"-m", "--multirun", "--cfg", "-c", "--help", "-h", "--hydra-help", "--info",
               "--package", "-p", "--resolve", "--config-dir", "-cd", "--config-name", "-cn",
               "--run", "-r"}
#: Hydra's flags that print help instead of running
HELP_FLAGS = ("--help", "-h", "--hydra-help")
#: flags of Hydra's that take a value (``--info`` takes one optionally)
VALUE_FLAGS = {"--cfg", "-c", "--package", "-p", "--config-dir", "-cd", "--config-name", "-cn"}
INFO_TOPICS = {"all", "config", "defaults", "defaults-tree", "plugins", "searchpath"}


# ---------------------------------------------------------------- validation ---------
def _quoted(value: str) -> str:
    """``value`` as a Hydra override value (quoted unless plainly safe)."""
    if re.fullmatch(r"[\w./:+\-@%]+", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def validate(overrides: list[str], multirun: bool, environment: bool = True) -> list:
    """Check every job ``overrides`` make before Hydra starts (``jobs.check_jobs``); print
    its notes and warnings; returns the jobs' configs. A bad command is one line, exit 2."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        configs, notes, warnings = check_jobs(overrides, multirun, environment)
    except ConfigError as err:
        fail(str(err))
    except (HydraException, OmegaConfBaseException, ValueError) as err:
        fail(explain_hydra_error(err))
    for line in notes:
        print(f"xbrun: note: {line}", file=sys.stderr)
    for line in warnings:
        warn(line)
    return configs


# ---------------------------------------------------------------- train ---------------
#: the run folder a single run's command made itself (removed again if the run is refused)
_made: dict[str, Path] = {}


class _Tagged(logging.LoggerAdapter):
    """Log lines that start with ``extra["tag"]`` (a sweep job's number)."""

    def process(self, msg, kwargs):
        return f"{self.extra['tag']}{msg}", kwargs


#: environment variable holding the pid of the ``xbrun`` command: a job running in another
#: process (a joblib worker) watches for its parent's death
CLI_PID = "XBRUN_CLI_PID"


def _task(cfg) -> float | None:
    """One job; returns the run's ``objective`` (NaN unless it finished) for sweepers."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    single = hydra_cfg.mode != RunMode.MULTIRUN
    # a sweep's jobs may run side by side (joblib): each line says whose it is
    log = _Tagged(logging.getLogger("xbrun"), {"tag": "" if single else
                                               f"job {hydra_cfg.job.num}: "})
    parent = int(os.environ.get(CLI_PID, os.getpid()))
    if parent == os.getpid() or not _joblib_worker():  # (submitit, Slurm: their own rules)
        return _job(cfg, run_dir, single, log)
    try:  # a joblib worker: stop (recorded) when the sweep's process is gone
        with signals_raise(), worker_job():
            die_with_parent(parent)
            return _job(cfg, run_dir, single, log)
    except (KeyboardInterrupt, Interrupted) as err:
        log.error("job interrupted by %s", interruption(err).signal_name)
        return math.nan


def _joblib_worker() -> bool:
    """Whether this process is a worker of joblib's loky pool (a child of the command)."""
    import multiprocessing

    return multiprocessing.current_process().name.startswith("LokyProcess")


def _job(cfg, run_dir: Path, single: bool, log) -> float | None:
    phases.note("job")
    from hydra.core.hydra_config import HydraConfig

    from .api import objective_value, run
    from .composition import typed
    from .training.outputs import write_json, write_text

    hydra_cfg = HydraConfig.get()
    try:
        # inside the try: in a sweep over devices, a key this job's device lacks fails
        # this job alone (see validate)
        config = typed(cfg, optimises(hydra_cfg))
        if not single:
            config.progress = "none"  # sweeps keep to the per-epoch lines
        if config.resume and not Path(config.resume).expanduser().is_absolute():
            # as checked before Hydra ran: relative to where the command was given, also
            # when hydra.job.chdir moved the job into its run folder
            config.resume = str(Path(hydra_cfg.runtime.cwd) / config.resume)
        summary = run(config, run_dir, log.info, log.error, trainer=_train)
        if single and summary.get("status") == "diverged":
            _diverged(summary)
        return objective_value(config.objective, summary)
    except ConfigError as err:  # found only now (a sweep's job, a file that changed, ...)
        message, details = str(err), f"{err}\n"
        if not single and getattr(err, "folder", None) == run_dir.resolve():
            log.error("job refused: %s", message)  # the folder is another run's: no record
            return math.nan
        if single:
            log.error("run refused: %s", message)
            made = _made.pop("run", None)
            if made is not None and run_dir.resolve() == _made.pop("folder", None):
                remove_made(run_dir.resolve(), made)  # no `failed` folder for a refused run
            fail(message)
    except Exception as err:  # one failed job must not take a sweep down with it
        message, details = _failure(err), traceback.format_exc()
    # the record goes into this run's own folder, never into a folder it was resuming
    try:
        write_text(run_dir / "error.log", details)
        write_json(run_dir / "summary.json", {"status": "failed", "error": message,
                                              "run_dir": str(run_dir)})
        where = f"details in {run_dir / 'error.log'}"
    except OSError as err:  # the folder went read-only, the disk is full, ...
        where = f"and it could not be recorded in {run_dir}: {_failure(err)}"
    log.error("run failed: %s", message)
    if single:
        print(f"xbrun: error: {message} ({where})", file=sys.stderr)
        raise SystemExit(1)
    return math.nan


def _failure(err: Exception) -> str:
    """One line for an unexpected error; a full disk or a lost permission said plainly."""
    import errno

    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return f"no space left on device{f' (writing {err.filename})' if err.filename else ''}"
    if isinstance(err, OSError) and err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        what = f" {err.filename}" if err.filename else ""
        return f"cannot write{what}: {err.strerror.lower() if err.strerror else err}"
    return f"{type(err).__name__}: {' '.join(str(err).split())}"


#: exit statuses of ``xbrun train`` besides 0 (finished), 1 (failed) and 2 (bad input)
EXIT_DIVERGED = 3
EXIT_INTERRUPTED = {"SIGINT": 130, "SIGTERM": 143}  # 128 + the signal's number, as shells do


def _diverged(summary: dict) -> None:
    """A diverged single run: one line, and a status of its own (a sweep records it and
    goes on)."""
    folder = Path(summary["run_dir"])
    info = summary.get("diverged", {})
    kept = (f"its last good checkpoint is kept in {folder}" if (folder / "checkpoint.pt"
                                                                ).exists()
            else "it diverged before its first checkpoint")
    print(f"xbrun: error: the run diverged in epoch {info.get('epoch', '?')} "
          f"({info.get('reason', 'loss not finite')}); {kept}", file=sys.stderr)
    raise SystemExit(EXIT_DIVERGED)


def _check_sweeper(overrides: list[str]) -> None:
    """An Optuna search's direction must match the objective (see api.check_search)."""
    if not any(o.startswith(("hparams_search=", "hydra/sweeper=")) for o in overrides):
        return
    from .api import check_search

    try:
        check_search(combinations(overrides, multirun=True)[0])
    except ConfigError as err:
        fail(str(err))


def _split_args(args: list[str]) -> tuple[list[str], list[str]]:
    """``(flags with their values, overrides)`` of ``xbrun train``'s arguments."""
    flags, overrides = [], []
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if not arg.startswith("-"):
            if "=" not in arg and not arg.startswith("~"):
                fail(f"{arg}: expected KEY=VALUE (or ~KEY to remove a key), -m, --help or "
                     f"--cfg")
            overrides.append(arg)
            continue
        name = arg.split("=", 1)[0]
        if name not in HYDRA_FLAGS:
            fail(f"{arg}: unknown option; expected KEY=VALUE overrides, -m, --help or --cfg")
        flags.append(arg)
        if arg in ("--cfg", "-c") and (not rest or rest[0] not in ("job", "hydra", "all")):
            fail(f"{arg}: expected job, hydra or all after it, got "
                 f"{rest[0] if rest else 'nothing'!r}")
        if "=" not in arg and rest and (arg in VALUE_FLAGS or (
                arg == "--info" and rest[0] in INFO_TOPICS)):
            flags.append(rest.pop(0))
    _check_flag_values(flags)
    return flags, overrides


def _check_flag_values(flags: list[str]) -> None:
    """Values of Hydra's flags that would fail only inside Hydra (after the run folder was
    made): xbrun ships one primary config, and a config folder must exist."""
    pairs, rest = [], list(flags)
    while rest:
        name, _, value = rest.pop(0).partition("=")
        if not value and name in VALUE_FLAGS and rest:
            value = rest.pop(0)
        pairs.append((name, value))
    for name, value in pairs:
        if name in ("--config-name", "-cn") and value.removesuffix(".yaml") != "config":
            fail(f"{name}: xbrun has one primary config, 'config' (choose a set-up with "
                 f"overrides such as experiment=NAME or preset=NAME), got {value!r}")
        if name in ("--config-dir", "-cd") and not Path(value).expanduser().is_dir():
            fail(f"{name}: expected a folder of extra config files, got {value!r}")


def _hydra_args(flags: list[str], overrides: list[str], multirun: bool, runs: bool,
                configs: list = ()) -> list[str]:
    """Check Hydra's own settings and, for a command that runs, make its run (or sweep)
    folder; returns the arguments for Hydra, which get the folder just made."""
    task = [o for o in overrides if not is_hydra(o)]
    hydra_overrides = hydra_only(overrides)
    resumed = getattr(configs[0], "resume", None) if configs and not multirun else None
    if runs and resumed and not any(o.split("=", 1)[0].lstrip("+") == "hydra.run.dir"
                                    for o in hydra_overrides):
        # a resume continues in its own folder: Hydra's (its .hydra/ and cli.log) too,
        # instead of a new outputs/<date>/<time> that would hold only those
        place = _quoted(str(Path(resumed).expanduser().absolute()))
        hydra_overrides = [*hydra_overrides, f"hydra.run.dir={place}"]
        overrides = [*overrides, f"hydra.run.dir={place}"]
    settings = hydra_settings([*combinations(task, multirun)[0], *hydra_overrides])
    if multirun and "BasicSweeper" in str(settings.sweeper.get("_target_", "")):
        for item in parse_overrides(task):
            if item.is_sweep_override() and sweep_values(item) is None:
                raise ConfigError(f"{item.key_or_group}: Hydra's basic sweeper runs listed "
                                  f"values only (a,b,c / range / choice), not "
                                  f"{item.input_line!r}; choose a sweeper that samples "
                                  f"(e.g. hydra/sweeper=optuna)")
    if not runs:
        return [*flags, *overrides]
    from .run_folders import check_written_paths, job_folders, refuse_overwrite
    from .training.lock import FolderInUse, acquire, release

    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    folder = str(settings.sweep.dir if multirun else settings.run.dir)
    check(folder.strip() != "", key, "a folder", folder)
    place = Path(folder).expanduser().absolute()
    basic = "BasicSweeper" in str(settings.sweeper.get("_target_", ""))
    combos = combinations(task, True) if basic else combinations(task, True)[:1] * 2
    jobs = job_folders(combos, settings, lambda combo: hydra_settings(
        [*combo, *hydra_overrides], whole=True)) if multirun else [place]
    resumes = () if multirun else tuple(o.split("=", 1)[1] for o in task
                                         if o.split("=", 1)[0] == "resume")
    check_written_paths(settings, jobs, list(configs))
    refuse_overwrite(jobs, key, resumes)  # before making anything
    made = make_folder(folder, key)
    _made["target"] = Path(folder).expanduser().absolute()
    try:
        # held until the command ends: a second command on this folder gets one line.
        # A sweep whose one job writes into the sweep folder itself leaves it to that job
        if not (multirun and place in jobs):
            _made["lock"] = acquire(place, key)
        refuse_overwrite(jobs, key, resumes)  # again, now that no one else can write
    except ConfigError as err:
        if "lock" in _made:
            release(_made.pop("lock"))
        if made is not None and not isinstance(err, FolderInUse):
            remove_made(place.resolve(), made)
        raise
    if made is not None and not multirun:
        _made.update(run=made, folder=place.resolve())
    if made is not None:
        _made["made"] = (place.resolve(), made)
    if multirun:
        from .workers import JOB_FOLDERS

        JOB_FOLDERS.clear()
        JOB_FOLDERS.update(enumerate(jobs))
        _made["sweep"] = place
    # the folder just checked and made, not a second ${now:...}
    kept = [o for o in overrides if o.split("=", 1)[0].lstrip("+") != key]
    return [*flags, *kept, f"{key}={_quoted(folder)}"]


def train_command(args: list[str]) -> None:
    import hydra

    flags, overrides = _split_args(args)
    modes = sorted({f for f in flags if f in ("-m", "--multirun", "--cfg", "-c", "--info",
                                              "-r", "--run")})
    if len(modes) > 1:
        fail(f"{' and '.join(modes)}: choose one of -m, --cfg, --info and --run")
    multirun = any(f in ("-m", "--multirun") for f in flags)
    runs = not any(f in (*HELP_FLAGS, "--info", "--cfg", "-c") for f in flags)
    if any(f in ("--cfg", "-c") for f in flags) and "job" in flags and not any(
            f in ("--resolve",) for f in flags):
        flags.append("--resolve")  # the values a run gets (lr follows model.lr), not ${...}
    args = [*flags, *overrides]  # Hydra's parser wants the overrides in one run at the end
    from .extras import missing_plugin

    for override in overrides:
        key, _, option = override.partition("=")
        if missing_plugin(key, option):
            fail(missing_plugin(key, option))
        if key == "hydra/launcher" and option == "submitit_slurm" and runs and \
                shutil.which("sbatch") is None:
            fail("hydra/launcher=submitit_slurm: no Slurm on this machine (sbatch is not on "
                 "PATH); run the command on a Slurm login node, or use "
                 "hydra/launcher=submitit_local or joblib here")
    _made.clear()
    with hydra_held():  # Hydra initialised once: the checks' compositions, a single run's job
        if not any(f in (*HELP_FLAGS, "--info") for f in flags):
            configs = validate(overrides, multirun, environment=runs)
            _check_sweeper(overrides)
            if runs and not multirun and _replica(configs[0]):
                return  # a replica of a run on several processes other than rank 0: done
            try:
                args = _hydra_args(flags, overrides, multirun, runs, configs)
            except ConfigError as err:
                fail(str(err))
            except Exception as err:  # a bad hydra.* key or option
                fail(explain_hydra_error(err))
        logging.getLogger("alembic").setLevel(logging.WARNING)  # optuna's imports chatter
        os.environ[CLI_PID] = str(os.getpid())
        if multirun:
            from .workers import resilient_joblib

            resilient_joblib()  # a killed joblib worker fails its job, not the sweep
        composed = _composed_run(flags, overrides, args) if runs and not multirun else None
        if composed is not None:
            return _launch(functools.partial(run_composed, composed, _task), args, False, runs)
    _launch(hydra.main(config_path=str(conf_dir()), config_name="config",
                       version_base="1.3")(_task), args, multirun, runs)


def _launch(main, args: list[str], multirun: bool, runs: bool) -> None:
    """Run ``main`` (Hydra's run of the job or sweep) as ``xbrun train ARGS``; a sweep
    folder nothing was written into is removed, the command's folder lock released."""
    sys.argv = ["xbrun train", *args]
    if multirun:  # its jobs may run elsewhere (joblib, Slurm): none would end the hold
        phases.release_collector()
    sweep = _made.get("target") if multirun and runs else None
    if sweep is not None:
        print(f"xbrun: sweep folder: {sweep}", file=sys.stderr)
    helps = any(f in HELP_FLAGS for f in args)
    try:
        with groups_listed_once() if helps else contextlib.nullcontext():
            main()
    except SystemExit as err:
        if err.code not in (0, None) and "made" in _made:
            _remove_if_empty(*_made["made"])  # Hydra gave up before any job wrote there
        raise
    finally:
        if "lock" in _made:
            from .training.lock import release

            release(_made.pop("lock"))
    if sweep is not None:
        print(f"xbrun: sweep done: its runs are in {sweep} (xbrun report {sweep})",
              file=sys.stderr)


def _composed_run(flags: list[str], overrides: list[str], args: list[str]):
    """A single run's composition from its check (``validate``), made the config
    ``hydra.main`` would compose from ``args``: the run folder just made as ``hydra.run.dir``
    (its override last, as ``_hydra_args`` puts it) and ``hydra.mode=RUN``. None where
    ``hydra.main`` runs instead: a Hydra flag other than ``--run``, or a ``hydra.mode`` or
    ``hydra.verbose`` set."""
    from omegaconf import read_write

    task = [o for o in overrides if not is_hydra(o)]
    cfg = COMPOSED.pop(tuple([*combinations(task, False)[0], *hydra_only(overrides)]), None)
    if (cfg is None or any(f not in ("-r", "--run") for f in flags)
            or cfg.hydra.mode is not None or cfg.hydra.verbose):
        return None
    from hydra.types import RunMode

    folder = parse_overrides([args[-1]])[0]  # hydra.run.dir=FOLDER
    with read_write(cfg.hydra):
        cfg.hydra.run.dir = folder.value()
        cfg.hydra.mode = RunMode.RUN  # and its override, as hydra.main adds them
        cfg.hydra.overrides.hydra = [
            *(o for o in cfg.hydra.overrides.hydra
              if o.split("=", 1)[0].lstrip("+") != folder.key_or_group), args[-1],
            "hydra.mode=RUN"]
    return cfg


def _train(config, run_dir: Path, log=print) -> dict:
    """``api.run``'s trainer for the command: the run in this process, or on
    ``distributed.nproc`` processes (``replica.run_processes``); a run that rank 0 refused
    (it said why in one line) leaves no folder this command made."""
    from .replica import Refused, run_processes

    try:
        return run_processes(config, run_dir, log)
    except Refused:
        made = _made.pop("run", None)
        if made is not None and run_dir.resolve() == _made.pop("folder", None):
            remove_made(run_dir.resolve(), made)
        raise SystemExit(2) from None


def _replica(config) -> bool:
    """Under torchrun (or ``distributed.nproc``), train as a replica other than rank 0:
    no run folder, Hydra or log of its own (rank 0 writes them); True when this was one.
    A failure is one line tagged with the rank (rank 0 reports the run's own refusals)."""
    from .training.distributed import env_world

    rank, size, _ = env_world()
    if size == 1 or rank == 0:
        return False
    from .replica import train_replica

    try:
        train_replica(config)
    except ConfigError:
        raise SystemExit(2) from None  # rank 0 says why, in one line
    except (KeyboardInterrupt, Interrupted):
        raise
    except Exception as err:
        print(f"xbrun: error: rank {rank}: {_failure(err)}", file=sys.stderr)
        raise SystemExit(1) from None
    return True


def _remove_if_empty(folder: Path, made: Path) -> None:
    """Remove the folder this command made when it holds no record of any run (only what
    Hydra writes first: its config, an empty log)."""
    if not folder.is_dir() or any(folder.rglob("summary.json")):
        return
    if any(p.stat().st_size for p in folder.rglob("*.log") if p.is_file()):
        return
    remove_made(folder, made)


# ---------------------------------------------------------------- entry ---------------
def _leave(command, argv: list[str]) -> None:
    """Run ``command(argv)`` and end the process without tearing the interpreter down.

    Finalising torch's, numba's and Hydra's modules costs about a second of CPU on two
    cores, a third of a tiny run, for a process that ends anyway; everything a run writes
    is already on disk (atomic, fsync'd). The ``atexit`` handlers still run (logging's
    flush among them); an exception other than ``SystemExit`` ends the process as usual.

    Not while child processes live (a joblib sweep's idle loky workers): Python's own
    shutdown tells their pool to stop before ``multiprocessing`` waits for them at exit;
    without it that wait lasted until the workers' idle timeout, 300 s.
    """
    try:
        command(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code
    processes = sys.modules.get("multiprocessing")
    if processes is not None and processes.active_children():
        raise SystemExit(code)
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)  # as Python prints a non-integer exit status
        code = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


def main(argv: list[str] | None = None) -> None:
    """``xbrun ARGS``; Ctrl-C or SIGTERM end any command with one line (exit 130 / 143),
    a run's folder recording status ``interrupted``."""
    if argv is None:  # the `xbrun` command itself (tests and Python callers pass argv)
        if sys.argv[1:2] == ["train"]:
            phases.hold_collector()  # until the run's first epoch, or a sweep's start
        if driver_start.wanted(sys.argv[1:]):  # CUDA's driver set up beside torch and Hydra
            driver_start.start(context=driver_start.one_process(sys.argv[1:], os.environ),
                               triton=driver_start.uses_triton(sys.argv[1:]))
        return _leave(main, sys.argv[1:])
    phases.note("cli")  # where a run's start-up goes (training/phases.py)
    try:
        with signals_raise():
            _main(list(argv))
        sys.stdout.flush()
    except BrokenPipeError:  # `xbrun --help | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(0) from None
    except (KeyboardInterrupt, Interrupted) as err:
        stop = interruption(err)
        if stop.run_dir is not None and stop.epoch:
            where = (f"{stop.run_dir} records status interrupted; continue it with "
                     f"resume={stop.run_dir} (it resumes after epoch {stop.epoch})")
        elif stop.run_dir is not None:
            where = (f"{stop.run_dir} records status interrupted before its first "
                     f"checkpoint; run it again")
        else:
            where = "no run had started"
            if "run" in _made:  # nothing of value in the folder this command made
                remove_made(_made["folder"], _made.pop("run"))
        if "sweep" in _made:
            where = f"the sweep in {_made['sweep']} stopped; " + where
        print(f"xbrun: interrupted by {stop.signal_name}; {where}", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED.get(stop.signal_name, 130)) from None


def _main(argv: list[str]) -> None:
    if argv[:1] == ["presets"] and argv[1:] in (["-h"], ["--help"]):
        print("usage: xbrun presets\n\naihwkit's tuned presets (use one with "
              "`xbrun train preset=NAME`), one line each")
        return
    if argv and argv[0] in ("-h", "--help", "help", "presets") and argv[1:]:
        fail(f"{argv[0]}: takes no arguments, got {' '.join(argv[1:])!r}")
    if not argv:  # a command missing its word, as `xbrun figure` or `xbrun report` alone
        fail("expected a command: train, evaluate, report, cells, presets or figure (see "
             "xbrun --help)")
    if argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return
    command, rest = argv[0], argv[1:]
    if command == "train":
        train_command(rest)
    elif command == "report":
        from .report import report_command

        parser = Parser(prog="xbrun report", description="Table of every run below DIR.")
        parser.add_argument("dir", type=Path)
        parser.add_argument("--csv", action="store_true", help="CSV on stdout instead")
        parser.add_argument("--markdown", action="store_true", help="Markdown tables instead")
        parser.add_argument("--by", metavar="KEY", help="group runs by KEY (an override or "
                            "config key, e.g. device); mean ± sd when they differ only in seed")
        parser.add_argument("--plot", metavar="FILE", help="test accuracy and loss against "
                            "epoch for every run, coloured by --by, into FILE (png, pdf, svg)")
        parser.add_argument("--wear", metavar="FILE", help="DIR is one run: each array's "
                            "per-cell pulse counts (counts.npz) as a heat map and a histogram, "
                            "into FILE (png, pdf, svg)")
        report_command(parser.parse_args(rest))
    elif command == "evaluate":
        from .evaluate import evaluate_command

        parser = Parser(prog="xbrun evaluate", description="Score a finished run's model on "
                        "its test split, or on another data set given by dataset overrides.")
        parser.add_argument("run_dir", type=Path)
        parser.add_argument("overrides", nargs="*", default=[], metavar="dataset.KEY=VALUE",
                            help="another data set or split size (dataset=mnist "
                            "dataset.root=/data, dataset.limit_test=100); or eval.KEY=VALUE "
                            "(eval.noise=pcm|reram|none, eval.times=[1,3600], "
                            "eval.drift_compensation, eval.repeats, eval.seed): the weights "
                            "programmed into inference tiles and read over time, into "
                            "evaluate.jsonl and evaluate.png")
        parser.add_argument("--split", choices=("test", "val", "train"), default="test")
        parser.add_argument("--last", action="store_true", help="the last checkpoint's "
                            "weights, not the best epoch's (best.pt)")
        parser.add_argument("--accelerator", choices=("cpu", "cuda"), default="cpu")
        evaluate_command(parser.parse_args(rest))
    elif command == "cells" and rest[:1] == ["fit"]:
        from .cells_fit import fit_command

        fit_command(rest[1:])
    elif command == "cells":
        from .cells_info import cells_command

        cells_command(rest)
    elif command == "presets":
        from .presets import presets_command

        presets_command(conf_dir())
    elif command == "figure":
        from .figures.runner import figure_command

        figure_command(rest, train=train_command)  # its sweep is `xbrun train -m`
    else:
        fail(f"{command}: unknown command; expected train, evaluate, report, cells, presets or "
             f"figure (see xbrun --help)")


if __name__ == "__main__":
    main()
