"""No code from a file, no run overwritten, every interruption recorded (issue 19).

Forged checkpoints (``FORGED`` and the checksum cases) must run nothing and change nothing;
a second writer of a run folder (``CONCURRENT``) gets one line and exit 2; every path a run
or its trackers write stays inside its folder (``PATHS``, ``SWEEP_FOLDERS``); Ctrl-C and
SIGTERM (``INTERRUPTS``) leave status ``interrupted`` and a resume equal, bit for bit, to the
run that was never stopped. ``test_count_of_cases`` adds the cases up for the closing note.
Runs are in-process (``debug=tiny``); signals are sent to this very process; a helper
process holds a folder's lock where a second writer is needed.
"""

import io
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch
from cli_run import run_cli
from test_hardening import assert_one_line, snapshot

import xbrun
from xbrun.cli import main, validate
from xbrun.errors import ConfigError
from xbrun.training import loop
from xbrun.training.checkpoint import digest
from xbrun.training.lock import LOCK, FolderInUse, acquire, release

SMALL = ["debug=tiny", "epochs=2"]
XBRUN = [sys.executable, "-m", "xbrun.cli"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sec") / "run"
    main(["train", *SMALL, f"hydra.run.dir={folder}"])
    return folder


def copy_run(finished_run, folder: Path) -> Path:
    shutil.copytree(finished_run, folder)
    return folder


def records(folder: Path) -> list[dict]:
    return [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines()]


def status(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


# ------------------------------------------------------------- forged checkpoints -----
class Payload:
    """Unpickling calls ``fn(*args)``: what a forged checkpoint would run."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _touch(marker: Path) -> list:
    """Ways of running code from a pickle, each creating ``marker`` if it ran."""
    code = f"open({str(marker)!r}, 'w').write('pwned')"
    return [Payload(exec, code), Payload(eval, f"__import__('builtins').exec({code!r})"),
            Payload(os.system, f"touch {marker}"),
            Payload(subprocess.call, ["touch", str(marker)])]


def forge(folder: Path, marker: Path, how: str) -> None:
    """Rewrite ``folder``'s checkpoint with a payload that would create ``marker``."""
    path = folder / "checkpoint.pt"
    state = torch.load(path, weights_only=True)
    exec_, eval_, system, call = _touch(marker)
    if how == "extra key (exec)":
        state["x"] = exec_
    elif how == "extra key (eval)":
        state["x"] = eval_
    elif how == "extra key (os.system)":
        state["x"] = system
    elif how == "extra key (subprocess.call)":
        state["x"] = call
    elif how == "inside the model state":
        state["model"]["evil"] = exec_
    elif how == "inside the config":
        state["config"]["seed"] = exec_
    elif how == "the whole file":
        state = exec_
    elif how == "legacy pickle format":
        state["x"] = exec_
        torch.save(state, path, _use_new_zipfile_serialization=False)
        return
    elif how == "checksum recomputed":  # a forger who knows the checksum
        state.pop("checksum")
        state["x"] = exec_
        state["checksum"] = digest({k: v for k, v in state.items() if k != "x"})
    torch.save(state, path)


FORGED = ["extra key (exec)", "extra key (eval)", "extra key (os.system)",
          "extra key (subprocess.call)", "inside the model state", "inside the config",
          "the whole file", "legacy pickle format", "checksum recomputed"]


@pytest.fixture(scope="module")
def resume_config(finished_run):
    """The config of ``resume=<a copy of finished_run>`` (its ``resume`` set per test)."""
    return xbrun.compose([*SMALL, "epochs=3", f"resume={finished_run}"])


def refused_resume(config, folder: Path) -> str:
    """The one line ``resume=folder`` is refused with (the check before any run)."""
    from xbrun.training.rundir import load_resume

    config.resume = str(folder)
    before = snapshot(folder)
    with pytest.raises(ConfigError) as err:
        load_resume(config)
    assert snapshot(folder) == before and "\n" not in str(err.value)
    return str(err.value)


@pytest.mark.parametrize("how", FORGED)
def test_forged_checkpoint_runs_nothing(how, finished_run, resume_config, tmp_path):
    folder = copy_run(finished_run, tmp_path / "forged")
    marker = tmp_path / "pwned"
    forge(folder, marker, how)
    message = refused_resume(resume_config, folder)
    assert not marker.exists(), "the payload ran"
    assert message.startswith(f"resume: {folder / 'checkpoint.pt'} is refused: its pickle ")
    assert "nothing in it was run" in message


def test_forged_checkpoint_runs_nothing_through_the_cli_or_the_api(finished_run, tmp_path,
                                                                   capsys):
    """The issue's ways in: ``xbrun train resume=``, also when the resume is refused anyway
    for a config difference (the payload used to run before that check), and
    ``xbrun.train``. (A sweep's job reads its checkpoint through the same ``load_resume``.)"""
    marker = tmp_path / "pwned"
    a, b = (copy_run(finished_run, tmp_path / n) for n in ("a", "b"))
    forge(a, marker, "extra key (exec)")
    forge(b, marker, "extra key (os.system)")
    before = snapshot(a)
    for extra in ([], ["lr=0.5"]):
        code, out = run_cli(["train", *SMALL, *extra, f"resume={a}",
                             f"hydra.run.dir={tmp_path / 'n1'}"], capsys)
        assert_one_line(code, out, "resume", "nothing in it was run")
    assert snapshot(a) == before and not (tmp_path / "n1").exists()
    for folder in (a, b):
        with pytest.raises(ConfigError, match="nothing in it was run"):
            xbrun.train([*SMALL, "epochs=3", f"resume={folder}"], run_dir=tmp_path / "api",
                        log=lambda line: None)
    assert not marker.exists() and not (tmp_path / "api").exists()


def _flip_tensor_bit(folder: Path) -> None:
    state = torch.load(folder / "checkpoint.pt", weights_only=True)
    weight = next(v for v in state["model"].values() if v.is_floating_point() and v.numel())
    weight.view(-1).view(torch.int32 if weight.element_size() == 4 else torch.int64)[0] ^= 1
    torch.save(state, folder / "checkpoint.pt")  # the old checksum, one bit changed


def _flip_file_byte(folder: Path) -> None:
    """One bit of a stored tensor's bytes, in place in the zip (its CRC left stale)."""
    path = folder / "checkpoint.pt"
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = max((i for i in archive.infolist() if "/data/" in i.filename),
                   key=lambda i: i.file_size)
    at = info.header_offset  # the local header's own name and extra lengths (torch pads)
    start = at + 30 + int.from_bytes(data[at + 26:at + 28], "little") + int.from_bytes(
        data[at + 28:at + 30], "little")
    data[start + info.file_size // 2] ^= 0x10
    path.write_bytes(bytes(data))


def _drop_checksum(folder: Path) -> None:
    state = torch.load(folder / "checkpoint.pt", weights_only=True)
    del state["checksum"]
    torch.save(state, folder / "checkpoint.pt")


DAMAGED = [("a bit of a tensor", _flip_tensor_bit, "checksum"),
           ("a byte of the file", _flip_file_byte, "checkpoint.pt"),
           ("no checksum", _drop_checksum, "no checksum")]


@pytest.mark.parametrize("name, damage, words", DAMAGED, ids=[d[0] for d in DAMAGED])
def test_damaged_checkpoint_is_refused(name, damage, words, finished_run, resume_config,
                                       tmp_path):
    folder = copy_run(finished_run, tmp_path / "run")
    damage(folder)
    assert words in refused_resume(resume_config, folder)


def test_genuine_checkpoints_load_without_running_code(tmp_path):
    """Every kind of state a run saves (transfer device, streaming PCA, cosine schedule,
    step records, learned scales) loads with weights_only=True and passes its checksum."""
    from xbrun.training.checkpoint import read

    summary = xbrun.train([*SMALL, "epochs=1", "device=chopped", "gamma=0.1",
                           "decomposition=streaming_pca", "decomposition.rank=2",
                           "schedule=cosine", "log_every=3", "mapping=learned"],
                          run_dir=tmp_path / "r", log=lambda line: None)
    assert summary["status"] == "finished"
    state = read(tmp_path / "r" / "checkpoint.pt")
    assert state["epoch"] == 1 and "checksum" not in state
    with pytest.raises(pickle.UnpicklingError):  # what torch.load refuses outright
        buffer = io.BytesIO()
        torch.save({"x": Payload(exec, "1")}, buffer)
        torch.load(io.BytesIO(buffer.getvalue()), weights_only=True)


# ------------------------------------------------------------- one writer per folder --
@pytest.fixture
def holder():
    """``hold(folder)``: another process takes ``folder``'s lock until the test ends."""
    procs = []
    code = ("import fcntl, os, sys\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "os.write(fd, f'pid {os.getpid()} on testhost'.encode())\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n")

    def hold(folder: Path) -> int:
        folder.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen([sys.executable, "-c", code, str(folder / LOCK)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "locked"
        procs.append(proc)
        return proc.pid

    yield hold
    for proc in procs:
        proc.stdin.close()
        proc.wait(timeout=10)


def test_a_second_writer_of_a_folder_gets_one_line(finished_run, tmp_path, capsys, holder):
    """A new run, a resume (elsewhere and in place), a sweep and the API, each on a folder
    whose lock another live process holds: one line naming that process, exit 2, nothing
    changed there and no folder left behind."""
    busy = tmp_path / "busy"
    pid = holder(busy)
    before = snapshot(busy)
    code, out = run_cli(["train", *SMALL, f"hydra.run.dir={busy}"], capsys)
    assert_one_line(code, out, "hydra.run.dir", "in use", f"pid {pid} on testhost")
    run = copy_run(finished_run, tmp_path / "run")
    holder(run)
    run_before = snapshot(run)
    for where in (tmp_path / "new", run):
        code, out = run_cli(["train", *SMALL, "epochs=3", f"resume={run}",
                             f"hydra.run.dir={where}"], capsys)
        assert_one_line(code, out, "in use")
    with pytest.raises(FolderInUse, match="in use"):
        xbrun.train(SMALL, run_dir=busy, log=lambda line: None)
    with pytest.raises(FolderInUse, match="in use"):
        xbrun.train([*SMALL, "epochs=3", f"resume={run}"], run_dir=tmp_path / "api",
                    log=lambda line: None)
    assert snapshot(busy) == before and snapshot(run) == run_before
    assert not (tmp_path / "new").exists() and not (tmp_path / "api").exists()


def test_sweep_job_on_a_busy_folder_fails_alone(finished_run, tmp_path, holder):
    """A sweep's job resuming a folder in use is recorded as failed in its own folder; the
    other job runs; two jobs resuming one folder are refused before either starts."""
    run, free = copy_run(finished_run, tmp_path / "run"), copy_run(finished_run,
                                                                   tmp_path / "free")
    holder(run)
    main(["train", "-m", *SMALL, "epochs=3", f"resume={run},{free}",
          f"hydra.sweep.dir={tmp_path / 'sweep'}"])
    failed = status(tmp_path / "sweep" / "0")
    assert failed["status"] == "failed" and "in use" in failed["error"]
    assert status(run)["epochs_done"] == 2 and status(free)["epochs_done"] == 3
    from xbrun.composition import hydra_settings as _hydra_settings
    from xbrun.run_folders import job_folders

    with pytest.raises(ConfigError, match=f"^resume: jobs 0 and 1 would both continue {free}"):
        job_folders([[f"resume={free}"]] * 2, _hydra_settings([]), None)


def test_a_lock_left_by_a_dead_run_is_stale(tmp_path):
    """A lock file whose process is gone (a kill -9: the kernel dropped its lock) does not
    block the next run; the lock is per process and reentrant, and gone after the run."""
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / LOCK).write_text("pid 999999 on somewhere\n")
    summary = xbrun.train([*SMALL, "epochs=1", "device=fp"], run_dir=tmp_path / "run",
                          log=lambda line: None)
    assert summary["status"] == "finished"
    assert not (tmp_path / "run" / LOCK).exists()
    held = acquire(tmp_path, "k")
    assert acquire(tmp_path, "k") == held
    assert f"pid {os.getpid()} on " in (tmp_path / LOCK).read_text()
    release(held)
    assert (tmp_path / LOCK).exists()  # still held once
    release(held)
    assert not (tmp_path / LOCK).exists()


# ------------------------------------------------------------- sweeps overwrite nothing
SWEEP_FOLDERS = [
    # (sweep overrides, words): job folders that hold a run, collide, or leave the sweep
    (["seed=0,1", "hydra.sweep.subdir=same"], "both write"),
    (["seed=0,1", "hydra.sweep.subdir=."], "both write"),
    (["seed=0,1", "hydra.sweep.subdir=../x${hydra.job.num}"], "outside"),
    (["seed=5,6", "hydra.sweep.subdir=s${seed}"], "already holds a run"),
    (["seed=0", "hydra.sweep.subdir=."], "already holds a run"),
]


def test_sweep_refuses_job_folders_that_hold_a_run_or_collide(finished_run, tmp_path):
    """Each job's folder as Hydra would resolve it, checked before any job starts."""
    from xbrun.composition import hydra_settings as _hydra_settings
    from xbrun.jobs import combinations as _combinations
    from xbrun.run_folders import job_folders, refuse_overwrite

    def folders(task, hydra, settings):
        return job_folders(_combinations(task, True), settings, lambda combo: _hydra_settings(
            [*combo, *hydra], whole=True))

    sweep = copy_run(finished_run, tmp_path / "sweep")  # the sweep folder holds a run...
    shutil.copytree(finished_run, sweep / "s6")  # ...and so does a job folder
    before = snapshot(tmp_path)
    for overrides, words in SWEEP_FOLDERS:
        task = [o for o in overrides if not o.startswith("hydra")]
        hydra = [o for o in overrides if o.startswith("hydra")] + [f"hydra.sweep.dir={sweep}"]
        settings = _hydra_settings([*(o.split(",")[0] for o in task), *hydra])
        with pytest.raises(ConfigError, match=words) as err:
            refuse_overwrite(folders(task, hydra, settings), "hydra.sweep.dir")
        assert str(err.value).startswith("hydra.sweep."), str(err.value)
    assert snapshot(tmp_path) == before
    hydra = [f"hydra.sweep.dir={sweep}", "hydra.sweep.subdir=j${seed}"]
    settings = _hydra_settings(["seed=1", *hydra])
    assert folders(["seed=1,2"], hydra, settings) == [sweep / "j1", sweep / "j2"]


def test_a_sweep_into_a_finished_run_is_refused_before_any_job(finished_run, tmp_path,
                                                               capsys):
    """The issue's case: ``hydra.sweep.dir=<a finished run> hydra.sweep.subdir=.``."""
    run = copy_run(finished_run, tmp_path / "run")
    before = snapshot(run)
    code, out = run_cli(["train", "-m", *SMALL, "seed=0", f"hydra.sweep.dir={run}",
                         "hydra.sweep.subdir=."], capsys)
    assert_one_line(code, out, "hydra.sweep.dir", "already holds a run")
    assert snapshot(run) == before


# ------------------------------------------------------------- paths stay inside ------
TRACKER_PATHS = [("csv", "filename", name) for name in (
    "checkpoint.pt", "metrics.jsonl", "summary.json", "curves.png", "error.log", ".xbrun.lock",
    "mlflow_run_id", ".hydra", ".checkpoint.pt.x1.tmp", "..", "../x.csv", "")] + [
    ("tensorboard", "dir", name) for name in (
        "/tmp/xbrun-tb", "../..", "a/../../x", ".hydra/tb", "checkpoint.pt", ".", "..", "")]
HYDRA_PATHS = [("job_logging.handlers.file.filename", name) for name in (
    "{other}/summary.json", "/tmp/xbrun.log", "../x.log", ".hydra/config.yaml",
    "checkpoint.pt", "metrics.jsonl", "${hydra.runtime.output_dir}/../x.log")] + [
    ("output_subdir", name) for name in ("../.hydra", "{other}/.hydra", "..", "checkpoint.pt",
                                         "summary.json", "/tmp/hydra")]
CROSSED = ["cli.log", "m.log"]  # Hydra's log file (with the log file set to m.log)


def test_paths_outside_the_run_folder_or_over_its_files_are_refused(finished_run, tmp_path):
    """Every tracker path (checked with the config) and every file Hydra writes for a run
    (checked before the run folder is made) stays inside the run and off xbrun's files."""
    from omegaconf import OmegaConf, open_dict

    from xbrun.composition import hydra_config
    from xbrun.composition import hydra_settings as _hydra_settings
    from xbrun.config import load
    from xbrun.run_folders import check_written_paths

    data = OmegaConf.to_container(hydra_config(SMALL), resolve=True)
    for tracker, key, name in TRACKER_PATHS:
        with pytest.raises(ConfigError, match=f"^logger.{tracker}.{key}: "):
            load({**data, "logger": {tracker: {key: name}}})
    other, run = copy_run(finished_run, tmp_path / "other"), tmp_path / "run"
    settings = _hydra_settings([f"hydra.run.dir={run}", "hydra.job.name=cli"])  # as the CLI
    config = load(data)
    check_written_paths(settings, [run], [config])  # the defaults pass
    for key, name in HYDRA_PATHS:
        changed = OmegaConf.create(OmegaConf.to_container(settings, resolve=False))
        with open_dict(changed):
            OmegaConf.update(changed, key, name.replace("{other}", str(other)))
        with pytest.raises(ConfigError, match=f"^hydra.{key}: "):
            check_written_paths(changed, [run], [config])
    logged = OmegaConf.create(OmegaConf.to_container(settings, resolve=False))
    OmegaConf.update(logged, "job_logging.handlers.file.filename", "m.log")
    for name, hydra in zip(CROSSED, (settings, logged), strict=True):
        crossed = load({**data, "logger": {"csv": {"filename": name}}})
        with pytest.raises(ConfigError, match="^logger.csv.filename: .* is where Hydra"):
            check_written_paths(hydra, [run], [crossed])
    assert not Path("/tmp/xbrun-tb").exists() and not Path("/tmp/xbrun.log").exists()


def test_a_tracker_over_a_checkpoint_or_a_log_into_another_run_is_one_line(
        finished_run, tmp_path, capsys):
    """Two of the issue's cases end to end: one line, exit 2, no folder, nothing touched."""
    other = copy_run(finished_run, tmp_path / "other")
    before = snapshot(tmp_path)
    for overrides, key in [(["logger=csv", "logger.csv.filename=checkpoint.pt"],
                            "logger.csv.filename"),
                           ([f"hydra.job_logging.handlers.file.filename={other}/summary.json"],
                            "hydra.job_logging.handlers.file.filename")]:
        code, out = run_cli(["train", *SMALL, *overrides, f"hydra.run.dir={tmp_path / 'new'}"],
                            capsys)
        assert_one_line(code, out, key)
    assert snapshot(tmp_path) == before


def test_a_link_out_of_the_run_folder_is_refused(tmp_path):
    """A tracker file that is a symbolic link leading out of the run folder."""
    from xbrun.training.outputs import check_resolved

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "m.csv").symlink_to(tmp_path / "outside.csv")
    with pytest.raises(ConfigError, match="leads out of the run folder"):
        check_resolved(tmp_path / "run", Path("m.csv"), "logger.csv.filename")
    assert check_resolved(tmp_path / "run", Path("tb"), "k") == tmp_path / "run" / "tb"


MLFLOW_STORES = [("sqlite:///{other}/mlflow.db", "another run"),
                 ("file://{other}/mlruns", "another run"),
                 ("{other}/sub/store", "another run"),
                 ("sqlite:///{tmp}/checkpoint.pt", "checkpoint.pt"),
                 ("file://{run}/.hydra/x", ".hydra")]


def test_mlflow_stores_stay_out_of_other_runs(finished_run, tmp_path):
    from xbrun.training.loggers import check_store

    other, run = copy_run(finished_run, tmp_path / "other"), tmp_path / "run"
    run.mkdir()
    for uri, words in MLFLOW_STORES:
        uri = uri.format(other=other, tmp=tmp_path, run=run)
        with pytest.raises(ConfigError, match=words.replace(".", r"\.")):
            check_store(uri, "logger.mlflow.tracking_uri", run)
    for uri in (f"sqlite:///{tmp_path}/mlflow.db", f"file://{run}/mlruns", "http://host:5000",
                "databricks"):
        check_store(uri, "logger.mlflow.tracking_uri", run)


# ------------------------------------------------------------- interruptions ----------
def _signal_at(monkeypatch, target: str, sig: int, call: int):
    """Send ``sig`` to this process on the ``call``-th call of ``loop.<target>``."""
    real, calls = getattr(loop, target), {"n": 0}

    def wrapped(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            os.kill(os.getpid(), sig)
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, target, wrapped)


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory):
    """Three epochs never interrupted: what every interrupted and resumed run must equal."""
    folder = tmp_path_factory.mktemp("clean") / "run"
    main(["train", *SMALL, "epochs=3", f"hydra.run.dir={folder}"])
    return folder


def assert_same_run(a: Path, b: Path) -> None:
    keys = ("train_loss", "test_loss", "test_accuracy", "lr", "pulses", "rank1_updates")
    ra, rb = records(a), records(b)
    assert [r["epoch"] for r in rb] == [r["epoch"] for r in ra]
    assert [[r[k] for k in keys] for r in ra] == [[r[k] for k in keys] for r in rb]
    sa, sb = status(a), status(b)
    assert sb["status"] == "finished"
    assert [sa[k] for k in ("test_loss", "pulses")] == [sb[k] for k in ("test_loss", "pulses")]


INTERRUPTS = [
    # (signal, where it lands, on which call, extra overrides, epochs a resume continues after)
    (signal.SIGINT, "train_epoch", 2, [], 1),  # mid-epoch: the last checkpoint stands
    (signal.SIGTERM, "write_jsonl", 1, ["checkpoint_every=3"], 1),  # inside an epoch's
    #                          writes: they finish, and a final checkpoint is written
    (signal.SIGINT, "evaluate", 2, ["checkpoint_every=2"], 0),  # before the first checkpoint
]


@pytest.mark.parametrize("sig, target, call, extra, after", INTERRUPTS,
                         ids=[f"{signal.Signals(s).name}-{t}-{c}-{''.join(e)}"
                              for s, t, c, e, _ in INTERRUPTS])
def test_interrupted_run_records_it_and_resumes_exactly(sig, target, call, extra, after,
                                                        clean_run, tmp_path, capsys,
                                                        monkeypatch):
    folder = tmp_path / "run"
    monkeypatch.setattr(loop, "FLUSH_SECONDS", 1e9)  # records written at checkpoints only
    with monkeypatch.context() as patch:
        _signal_at(patch, target, sig, call)
        code, out = run_cli(["train", *SMALL, "epochs=3", *extra, f"hydra.run.dir={folder}"],
                            capsys)
    name = signal.Signals(sig).name
    assert code == 128 + sig and "Traceback" not in out.err
    lines = [ln for ln in out.err.splitlines() if ln.startswith("xbrun:")]
    assert len(lines) == 1 and lines[0].startswith(f"xbrun: interrupted by {name}; ")
    summary = status(folder)
    assert summary["status"] == "interrupted" and summary["interrupted"] == {
        "signal": name, "resumes_after": after}
    assert not list(folder.glob(".*.tmp")) and not (folder / LOCK).exists()
    if after == 0:  # nothing to resume: the folder takes the run again
        assert not (folder / "checkpoint.pt").exists() and "run it again" in lines[0]
        code, _ = run_cli(["train", *SMALL, "epochs=3", *extra, f"hydra.run.dir={folder}"],
                          capsys)
    else:
        assert torch.load(folder / "checkpoint.pt", weights_only=True)["epoch"] == after
        assert f"resume={folder}" in lines[0]
        code, _ = run_cli(["train", *SMALL, "epochs=3", *extra, f"resume={folder}",
                           f"hydra.run.dir={folder}"], capsys)
    assert code == 0
    assert_same_run(clean_run, folder)


def test_interrupted_resume_and_sweep(clean_run, finished_run, tmp_path, capsys,
                                      monkeypatch):
    """A resume stopped by SIGTERM is recorded and resumes again exactly; a sweep stopped in
    its first job records that job and stops with one line; a signal before the run starts
    leaves no folder."""
    run = copy_run(finished_run, tmp_path / "run")
    with monkeypatch.context() as patch:
        _signal_at(patch, "train_epoch", signal.SIGTERM, 1)
        code, out = run_cli(["train", *SMALL, "epochs=3", f"resume={run}",
                             f"hydra.run.dir={run}"], capsys)
    assert code == 143 and status(run)["status"] == "interrupted", out
    assert status(run)["interrupted"]["resumes_after"] == 2
    assert run_cli(["train", *SMALL, "epochs=3", f"resume={run}", f"hydra.run.dir={run}"],
                   capsys)[0] == 0
    assert_same_run(clean_run, run)
    with monkeypatch.context() as patch:
        _signal_at(patch, "train_epoch", signal.SIGINT, 1)
        code, out = run_cli(["train", "-m", *SMALL, "seed=0,1",
                             f"hydra.sweep.dir={tmp_path / 'sweep'}"], capsys)
    lines = [ln for ln in out.err.splitlines() if ln.startswith("xbrun:")
             and not ln.startswith("xbrun: sweep folder:")]  # (said as the sweep starts)
    assert code == 130 and len(lines) == 1 and "the sweep in" in lines[0]
    assert status(tmp_path / "sweep" / "0")["status"] == "interrupted"
    assert not (tmp_path / "sweep" / "1").exists()
    with monkeypatch.context() as patch:
        _signal_at(patch, "setup", signal.SIGTERM, 1)
        code, out = run_cli(["train", *SMALL, f"hydra.run.dir={tmp_path / 'early'}"], capsys)
    assert code == 143 and "no run had started" in out.err
    assert not (tmp_path / "early").exists()


def test_ctrl_c_in_the_api_is_recorded_and_raised(tmp_path, monkeypatch):
    monkeypatch.setattr(loop, "evaluate", lambda *a, **k: (_ for _ in ()).throw(
        KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        xbrun.train(SMALL, run_dir=tmp_path / "r", log=lambda line: None)
    assert status(tmp_path / "r")["status"] == "interrupted"


def test_a_worker_orphaned_by_its_sweep_stops(tmp_path):
    """A sweep worker whose parent was killed interrupts its own job, then ends."""
    code = ("import os, sys, time\n"
            "from xbrun.training.interrupts import (Interrupted, die_with_parent, "
            "signals_raise, worker_job)\n"
            "try:\n"
            "    with signals_raise(), worker_job():\n"
            "        die_with_parent(os.getppid(), interval=0.05)\n"
            "        print('ready', os.getpid(), flush=True)\n"
            "        time.sleep(30)\n"
            "except Interrupted as err:\n"
            "    open(sys.argv[1], 'w').write(err.signal_name)\n"
            "time.sleep(30)  # an idle worker: the watcher ends it\n"
            "open(sys.argv[1], 'w').write('still alive')\n")
    parent = ("import subprocess, sys, time\n"
              "child = subprocess.Popen([sys.executable, '-c', sys.argv[1], sys.argv[2]], "
              "stdout=sys.stdout)\n"
              "time.sleep(60)\n")
    marker = tmp_path / "stopped"
    proc = subprocess.Popen([sys.executable, "-c", parent, code, str(marker)],
                            stdout=subprocess.PIPE, text=True)
    word, child = proc.stdout.readline().split()
    assert word == "ready"
    proc.kill()
    proc.wait()

    def alive() -> bool:
        try:
            return "\nState:\tZ" not in Path(f"/proc/{child}/status").read_text()
        except FileNotFoundError:
            return False

    deadline = time.time() + 20
    while time.time() < deadline and alive():
        time.sleep(0.05)
    assert not alive() and marker.read_text() == "SIGTERM"


# ------------------------------------------------------------- divergence -------------
def test_divergence_is_its_own_exit_status_and_a_sweep_goes_on(tmp_path, capsys):
    """device=fp lr=1e30 (the issue's case): status diverged, exit 3, one line; with
    checkpoints before it, the last good one is kept; a sweep records it and goes on."""
    code, out = run_cli(["train", *SMALL, "device=fp", "lr=1e30",
                         f"hydra.run.dir={tmp_path / 'boom'}"], capsys)
    lines = [ln for ln in out.err.splitlines() if ln.startswith("xbrun:")]
    assert code == 3 and len(lines) == 1 and "diverged in epoch 1" in lines[0]
    assert "diverge_loss" in lines[0] and "Traceback" not in out.err
    summary = status(tmp_path / "boom")
    assert summary["status"] == "diverged" and summary["diverged"]["epoch"] == 1
    main(["train", "-m", *SMALL, "device=fp", "lr=1e30,0.5", "epochs=1",
          f"hydra.sweep.dir={tmp_path / 'sweep'}"])  # the diverging job first: the next runs
    assert [status(tmp_path / "sweep" / j)["status"] for j in "01"] == ["diverged",
                                                                        "finished"]


def test_divergence_bound_follows_the_first_step(tmp_path, monkeypatch):
    """A loss above diverge_loss x the first step's loss ends the run after the last good
    epoch, whose checkpoint is kept; inf turns the bound off (non-finite still counts)."""
    from xbrun.training.loop import diverged

    assert diverged(5.0, 5.0, 2.0, 3.0) == "" and "above" in diverged(7.0, 1.0, 2.0, 3.0)
    assert diverged(1e300, 1.0, 2.0, float("inf")) == ""
    assert diverged(float("nan"), 1.0, 2.0, float("inf")).startswith("loss is nan")
    real, calls = loop.evaluate, {"n": 0}

    def growing(*args, **kwargs):
        calls["n"] += 1
        loss, acc = real(*args, **kwargs)
        return (loss * 100 if calls["n"] == 2 else loss), acc

    monkeypatch.setattr(loop, "evaluate", growing)
    summary = xbrun.train([*SMALL, "epochs=3", "diverge_loss=10"], run_dir=tmp_path / "r",
                          log=lambda line: None)
    assert summary["status"] == "diverged" and summary["epochs_done"] == 1
    assert torch.load(tmp_path / "r" / "checkpoint.pt", weights_only=True)["epoch"] == 1
    assert len(records(tmp_path / "r")) == 1


# ------------------------------------------------------------- messages ---------------
def test_unreadable_data_root_is_one_line(tmp_path, capsys, monkeypatch):
    """(Run as root, a chmod cannot take the right to read away: the stat fails instead.)"""
    real = Path.is_file

    def denied(self):
        if str(self).startswith(str(tmp_path / "data")):
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "is_file", denied)
    code, out = run_cli(["train", "dataset=mnist", f"dataset.root={tmp_path / 'data'}",
                         f"hydra.run.dir={tmp_path / 'run'}"], capsys)
    assert_one_line(code, out, "dataset.root", "cannot read", "Permission denied")
    assert not (tmp_path / "run").exists()


def test_a_folder_that_stops_taking_writes_is_one_line(tmp_path, capsys, monkeypatch):
    """A full disk mid-run (every write from epoch 1's summary on fails): one line saying
    so, and that the failure itself could not be recorded; exit 1, no traceback. A folder
    gone read-only or a lost permission is said as plainly."""
    import xbrun.training.outputs as outputs
    from xbrun.cli import _failure

    real, calls = outputs._atomic, {"n": 0}

    def failing(path, write):
        calls["n"] += 1
        if calls["n"] >= 3:  # after epoch 1's metrics and checkpoint
            raise OSError(28, os.strerror(28), str(path))
        return real(path, write)

    monkeypatch.setattr(outputs, "_atomic", failing)
    code, out = run_cli(["train", *SMALL, f"hydra.run.dir={tmp_path / 'run'}"], capsys)
    lines = out.err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and "Traceback" not in out.err, out.err
    assert lines[0].startswith("xbrun: error: no space left on device (writing ")
    assert "could not be recorded" in lines[0]
    for errno_, words in [(30, "cannot write x: read-only file system"),
                          (13, "cannot write x: permission denied")]:
        assert _failure(OSError(errno_, os.strerror(errno_), "x")) == words


def test_full_disk_says_so(tmp_path, monkeypatch):
    """On a real full device (/dev/full) torch.save reports "unexpected pos"; a checkpoint
    is serialised first and written plainly, so the error is ENOSPC."""
    import tempfile

    from xbrun.training.outputs import save_checkpoint

    def full(dir, prefix, suffix):
        return os.open("/dev/full", os.O_WRONLY), str(tmp_path / "tmp")

    monkeypatch.setattr(tempfile, "mkstemp", full)
    monkeypatch.setattr(os, "fchmod", lambda fd, mode: None)  # never chmod /dev/full
    monkeypatch.setattr(os, "replace", lambda a, b: None)
    with pytest.raises(OSError) as err:
        save_checkpoint(tmp_path / "checkpoint.pt", {"w": torch.zeros(1000)})
    assert err.value.errno == 28


def test_bad_hydra_flags_leave_no_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for args in (["--config-name=bogus"], ["-cn", "bogus"], ["--config-dir", "nowhere"]):
        code, out = run_cli(["train", *SMALL, *args], capsys)
        assert_one_line(code, out, args[0].split("=")[0])
    assert not (tmp_path / "outputs").exists()


def test_cfg_job_builds_no_model(tmp_path, capsys, monkeypatch):
    module = tmp_path / "factory_mod.py"
    module.write_text("import torch\ncalls = []\n"
                      "def make(num_classes=10):\n"
                      "    calls.append(1)\n"
                      "    return torch.nn.Sequential(torch.nn.Flatten(), "
                      "torch.nn.Linear(64, num_classes))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import factory_mod

    calls = factory_mod.calls
    code, out = run_cli(["train", "model=custom", "model._target_=factory_mod.make",
                         "--cfg", "job"], capsys)
    assert code == 0 and "factory_mod.make" in out.out and calls == []
    validate(["model=custom", "model._target_=factory_mod.make"], multirun=False)
    assert calls  # the checks before a run do build it (so the check above could fail)


def test_debug_tiny_takes_a_model_without_hidden_layers():
    """(It was refused for model.hidden, a key the user never set.)"""
    config, = validate(["debug=tiny", "model=linear"], multirun=False)
    assert config.model.name == "linear" and config.epochs == 1
    assert xbrun.compose(["debug=tiny"]).model.hidden == [32]
    assert xbrun.compose(["debug=tiny", "model=lenet5"]).model.hidden == [32]


def test_keys_a_run_ignores_are_warned_once(tmp_path, capsys):
    code, out = run_cli(["train", *SMALL, "device=fp", "cell.dw_min=0.01", "io=perfect",
                         "decomposition.rank=2", "mapping.factorize.rank=2", "--cfg", "job"],
                        capsys)
    warnings = [ln for ln in out.err.splitlines() if ln.startswith("xbrun: warning:")]
    assert code == 0 and len(warnings) == 1, out.err
    assert "cell.dw_min, io, decomposition.rank: ignored" in warnings[0]
    assert "mapping.factorize" not in warnings[0]
    code, out = run_cli(["train", *SMALL, "cell.dw_min=0.01", "--cfg", "job"], capsys)
    assert code == 0 and "warning" not in out.err


def test_count_of_cases():
    """For the closing note of issue 19: the cases these tests try."""
    forged = len(FORGED) + 2 + 2  # + the CLI (plain, refused for lr anyway), the API
    damaged = len(DAMAGED)
    concurrent = 5 + 2 + 2  # a second writer: new run, resume there, resume in place, API
    #           run_dir, API resume; a sweep job on a busy folder, two jobs on one folder;
    #           a stale lock file, a reentrant lock
    paths = (len(TRACKER_PATHS) + len(HYDRA_PATHS) + len(CROSSED) + 2 + 1
             + len(MLFLOW_STORES) + len(SWEEP_FOLDERS) + 1)
    interrupts = len(INTERRUPTS) + 4 + 1 + 1  # a resume, a sweep, before the run, the API;
    #            an orphaned worker; a killed joblib worker (tests/test_sweeps.py)
    assert (forged, damaged, concurrent, paths, interrupts) == (13, 3, 9, 49, 9)
