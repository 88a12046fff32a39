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


@pytest.mark.parametrize("args, line", [
    # a misspelt key is answered with the keys that may stand there, not a hint to add it
    (["dw_mn=0.1"], "dw_mn: unknown key; allowed keys are accelerator, batch_size, cell,"),
    (["cell.dw_mn=0.1"], "cell.dw_mn: unknown key; allowed keys (cell=constant_step) are "
                         "construction_seed,"),
    (["device.transfer_every=2"], "device.transfer_every: unknown key; allowed keys "
                                  "(device=sgd) are kind"),
    (["device=chopped", "device.transfer_update.bl=3"],
     "device.transfer_update.bl: unknown key; allowed keys are accumulate, d_res_implicit,"),
    (["model=custom", "model.depth=3"], "(more keyword arguments: +model.KEY=VALUE)"),
    # OmegaConf's own words for a wrong type, in the words of the other checks
    (["model.hidden=64"], "model.hidden: expected a list, written [a,b], got 64"),
    (["io.forward=0.1"], "io.forward: a group of keys, not a value; set its keys one by one"),
    (["mapping.factorize.rank=abc"],  # int | float: in words, not Python's type names
     "mapping.factorize.rank: expected an integer or a number, got 'abc'"),
    (["mapping.factorize.enabled=maybe"],
     "mapping.factorize.enabled: expected true or false, got 'maybe'"),
    # a top-level shorthand for a device key is named as typed, with the key it sets
    (["device=chopped", "gamma=-1"], "error: gamma (device.gamma): expected a finite number"),
    (["device=ttv2", "scale_fast_lr=abc"],
     "error: scale_fast_lr (device.scale_fast_lr): expected true or false, got 'abc'"),
    (["device=chopped", "device.gamma=-1"], "error: device.gamma: expected a finite number"),
    # a list of options names the missing one (Hydra says "Could not load" there)
    (["logger=[csv,nope]"], "logger=nope: no such option; choose one of csv, mlflow, none,"),
])
def test_a_wrong_key_or_type_names_what_is_allowed(args, line, capsys):
    code, out = run_cli(["train", *args], capsys)
    assert code == 2 and "Traceback" not in out.err
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xbrun: error: ") and line in lines[0], lines


def test_the_files_train_help_points_to_define_what_it_says():
    """``xbrun train --help`` ends with where each key's default lives: every file it names
    exists and defines the class named after it."""
    import re
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1]
    footer = yaml.safe_load((root / "conf/config.yaml").read_text())["hydra"]["help"]["footer"]
    named = re.findall(r"(xbrun/[\w/]+\.py) (\w+)? ?\(", " ".join(footer.split()))
    assert len(named) >= 3, footer
    for path, cls in named:
        assert (root / path).is_file(), path
        if cls:
            assert f"class {cls}" in (root / path).read_text(), (path, cls)
