"""What a newcomer sees: where a run's files are, why the first epoch waits, what xbrun is,
and one line (no traceback) where a launcher cannot run or the reader of a pipe leaves."""

import io
import json
import os
import sys

import pytest
from cli_run import run_cli

import xbrun
from xbrun.cli import main
from xbrun.training import loop


def test_a_run_names_its_folder_at_start_and_end_and_announces_compiling(tmp_path,
                                                                       monkeypatch):
    monkeypatch.setattr(loop, "cpu_kernels_compiled", lambda: False)  # a fresh install
    lines = []
    xbrun.train(["debug=tiny", "progress=none"], run_dir=tmp_path / "run", log=lines.append)
    folder = str((tmp_path / "run").absolute())
    assert lines[0] == f"run folder: {folder}"
    assert lines[1] == "compiling CPU kernels (first run only, about 15 s)"
    assert lines[-1] == f"run finished: results in {folder}"
    # where the time went: the log line before the last (in the run's order), the summary
    phases = json.loads((tmp_path / "run" / "summary.json").read_text())["phases"]
    assert {"data", "build", "set-up", "first step", "epochs"} <= set(phases)
    assert all(s >= 0 for s in phases.values()) and phases.get("start-up", 0) > 0
    assert lines[-2].startswith("phases: start-up ") and lines[-2].endswith(" s")
    assert ", first step " in lines[-2] and ", end " in lines[-2]


def test_a_reader_that_leaves_the_pipe_ends_help_quietly(monkeypatch):
    """``xbrun --help | head -1``: the write into the closed pipe ends the command with
    status 0 and no BrokenPipeError traceback."""
    read, write = os.pipe()
    os.close(read)
    closed = io.TextIOWrapper(os.fdopen(write, "wb", buffering=0), write_through=True)
    monkeypatch.setattr(sys, "stdout", closed)
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0


def test_slurm_launcher_without_slurm_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch
    code, out = run_cli(["train", "-m", "hydra/launcher=submitit_slurm", "device=fp,sgd",
                         f"hydra.sweep.dir={tmp_path / 'sweep'}"], capsys)
    assert code == 2 and out.err.count("\n") == 1 and "Traceback" not in out.err
    assert "submitit_slurm" in out.err and not (tmp_path / "sweep").exists()
