"""The command line: bad input gets one clear line and exit 2; runs write their outputs."""

import json
import subprocess
import sys

import numpy as np
import pytest
from cli_run import run_cli

from xbrun.cli import main

XBRUN = [sys.executable, "-m", "xbrun.cli"]


@pytest.mark.parametrize(
    "override, key",
    [
        ("device=nope", "device=nope"),
        ("lr=-1", "lr"),
        ("cell.dw_min=0", "cell.dw_min"),
        ("epochs=abc", "epochs"),
        ("unknown_key=3", "unknown_key"),
        ("cell.not_a_param=1", "cell.not_a_param"),
        ("io.forward.noise_management=bogus", "io.forward.noise_management"),
        ("batch_size=0", "batch_size"),
        ("cell=nope", "cell=nope"),
        ("seed=0,1", "seed"),
        ("energy.read_energy_j=-1", "energy.read_energy_j"),  # the cost ledger's prices
        ("energy.unquantized_bits=40", "energy.unquantized_bits"),
        ("cell.endurance=0", "cell.endurance"),
        ("update.accumulate=both", "update.accumulate"),
    ],
)
def test_bad_override_is_one_line_and_exit_2(override, key, capsys):
    code, out = run_cli(["train", override], capsys)
    assert code == 2
    lines = out.err.strip().splitlines()
    assert len(lines) == 1, out.err
    assert lines[0].startswith("xbrun: error: ") and key in lines[0]
    assert "Traceback" not in out.err + out.out


def test_bad_value_inside_a_sweep_is_caught_before_any_job(capsys, tmp_path):
    code, out = run_cli(["train", "-m", "lr=0.1,-2", f"hydra.sweep.dir={tmp_path}"], capsys)
    assert code == 2 and "lr" in out.err
    assert not list(tmp_path.rglob("summary.json"))


def test_unknown_command(capsys):
    code, out = run_cli(["trian"], capsys)
    assert code == 2 and "trian" in out.err


def test_bad_override_in_a_real_process_has_no_traceback():
    proc = subprocess.run([*XBRUN, "train", "epochs=abc"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "xbrun: error: epochs: expected an integer, got 'abc'"


def test_help(capsys):
    main(["--help"])
    assert "xbrun train" in capsys.readouterr().out
    code, out = run_cli(["train", "--help"], capsys)
    assert code == 0 and "device: " in out.out and "sgd" in out.out
    assert "simulated analog in-memory" in out.out and "powered by Hydra" not in out.out


def _help_groups() -> dict[str, list[str]]:
    """The config groups a user composes from, as ``xbrun train --help`` lists them, found
    without Hydra's listing: the folders directly in ``conf/`` holding options, apart from
    ``debug_model`` (``debug`` picks it); not the ConfigStore's ``schema/*`` nor a figure's
    series ``experiment/NAME`` (its sweep picks them)."""
    from xbrun.composition import conf_dir

    root = conf_dir()
    groups = {folder.name: sorted(p.stem for p in folder.glob("*.yaml"))
              for folder in root.iterdir() if folder.is_dir() and folder.name != "debug_model"}
    return {group: options for group, options in sorted(groups.items()) if options}


def test_no_command_is_one_line_exit_2_as_a_command_without_its_argument(capsys):
    """``xbrun`` alone lacks its command as ``xbrun figure`` alone lacks a figure: one line
    pointing at ``xbrun --help``, exit 2 (a script's empty ``xbrun $CMD`` is no success)."""
    code, out = run_cli([], capsys)
    assert code == 2 and out.out == "" and out.err == (
        "xbrun: error: expected a command: train, evaluate, report, cells, presets or figure "
        "(see xbrun --help)\n")
    assert run_cli(["figure"], capsys)[0] == run_cli(["report"], capsys)[0] == 2
    assert run_cli(["--help"], capsys)[0] == 0


def test_train_help_lists_every_group_and_composes_once(capsys, monkeypatch):
    """``xbrun train --help``: every group a user composes from (the README's table) with its
    options, sorted as Hydra sorts them, none that xbrun picks itself (``schema/*``,
    ``debug_model``, ``experiment/NAME``: the footer names them), and the composed default
    config; one composition and one copy of Hydra's config repository for the listing
    (Hydra's own listing made a copy per group and option, about 260)."""
    import re
    from pathlib import Path

    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra._internal.hydra import Hydra
    from omegaconf import OmegaConf

    from xbrun.composition import hydra_config

    counts = {"compose": 0, "repository": 0}
    compose, repository = Hydra.compose_config, \
        ConfigLoaderImpl._parse_overrides_and_create_caching_repo

    def counted_compose(self, *args, **kwargs):
        counts["compose"] += 1
        return compose(self, *args, **kwargs)

    def counted_repository(self, *args, **kwargs):
        counts["repository"] += 1
        return repository(self, *args, **kwargs)

    monkeypatch.setattr(Hydra, "compose_config", counted_compose)
    monkeypatch.setattr(ConfigLoaderImpl, "_parse_overrides_and_create_caching_repo",
                        counted_repository)
    code, out = run_cli(["train", "--help"], capsys)
    assert code == 0
    assert counts == {"compose": 1, "repository": 2}, counts  # the composition's, the listing's
    header, rest = out.out.split("Compose your configuration from those groups (group=option)"
                                 "\n\n")
    listed, dump = rest.split("\n\n\n== Config ==\nOverride anything in the config "
                              "(foo.bar=value)\n\n")
    assert header.startswith("xbrun train: train a neural network")
    assert listed.splitlines() == [f"{group}: {', '.join(options)}"
                                   for group, options in _help_groups().items()]
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Config groups (`conf/`)")[1].split("\n## ")[0]
    table = set(re.findall(r"^\| `(\w+)` \|", section, re.M))
    assert [line.split(":")[0] for line in listed.splitlines()] == sorted(table)
    assert "schema/*" in dump and "debug_model" in dump and "experiment/NAME/*" in dump
    assert dump.startswith(OmegaConf.to_yaml(hydra_config([])) + "\n")
    assert "Use --hydra-help for the options of Hydra" in dump


def test_the_help_listing_gives_hydras_answers(capsys, monkeypatch):
    """The listing's one repository (``composition.groups_listed_once``) answers as Hydra's
    loader does: top-level, nested, ConfigStore and Hydra's own groups, options and folders;
    ``--hydra-help`` still lists Hydra's groups."""
    from hydra._internal.hydra import Hydra
    from hydra.core.object_type import ObjectType

    loaders = []
    get_help = Hydra.get_help

    def kept(self, *args, **kwargs):
        loaders.append(self.config_loader)
        return get_help(self, *args, **kwargs)

    monkeypatch.setattr(Hydra, "get_help", kept)
    code, out = run_cli(["train", "--hydra-help"], capsys)
    assert code == 0 and "hydra/launcher: basic" in out.out and "hydra/sweeper: " in out.out
    one = loaders[0]
    for group in ("", "device", "experiment", "experiment/wu2024-mnist-tau", "schema",
                  "schema/cell", "hydra", "hydra/sweeper"):
        for kind in (ObjectType.CONFIG, ObjectType.GROUP):
            assert one.get_group_options(group, kind) == \
                one._loader.get_group_options(group, kind), (group, kind)
    assert one.list_groups("") == one._loader.list_groups("")


def test_train_writes_every_output(tmp_path, small_run):
    main(["train", *small_run, f"hydra.run.dir={tmp_path}"])
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    for key in ("epoch", "train_loss", "test_loss", "test_accuracy", "lr", "pulses", "seconds"):
        assert key in rows[0]
    assert all(0 <= r["test_accuracy"] <= 1 and r["pulses"] > 0 for r in rows)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["epochs_done"] == 2
    assert summary["data"] == {"train": 96, "test": 96, "val": 0}  # debug=tiny's limits
    assert summary["pulses"] == sum(r["pulses"] for r in rows)
    # the cost ledger: per epoch and for the run, per layer and in total, and counts.npz
    cost, layers = summary["cost"]["total"], summary["cost"]["layers"]
    assert [r["cost"]["total"]["pulses"] for r in rows] == [r["pulses"] for r in rows]
    assert cost["pulses"] == summary["pulses"] == sum(v["pulses"] for v in layers.values())
    assert 0 < cost["lifetime_used"] < 1 and cost["write_energy_j"] > 0
    assert cost["runs_to_wear_out"] == pytest.approx(1 / cost["lifetime_used"])
    counts = np.load(tmp_path / "counts.npz")
    assert int(sum(counts[k].sum() for k in counts.files)) == cost["pulses"]
    assert max(int(counts[k].max()) for k in counts.files) == cost["max_cell_pulses"]
    assert summary["test_accuracy"] == rows[-1]["test_accuracy"]
    assert (tmp_path / "checkpoint.pt").stat().st_size > 0
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / ".hydra" / "config.yaml").exists()
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporaries


def test_a_single_run_is_composed_once_into_what_hydra_main_writes(tmp_path, monkeypatch):
    """The composition that checked a single run is the one it runs on (Hydra's loader runs
    once), and the run folder gets the ``.hydra/`` files and job log ``hydra.main`` writes."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    from xbrun import cli

    monkeypatch.setattr(cli, "_job", lambda cfg, run_dir, single, log: log.info("ran") or 0.0)
    loads, load = [], ConfigLoaderImpl.load_configuration
    monkeypatch.setattr(ConfigLoaderImpl, "load_configuration",
                        lambda *a, **k: loads.append(1) or load(*a, **k))
    args = ["train", "debug=tiny", "hydra.job.name=job", "lr=0.5", "hydra.job.chdir=true"]
    main([*args, f"hydra.run.dir={tmp_path / 'once'}"])
    assert len(loads) == 1
    monkeypatch.setattr(cli, "_composed_run", lambda *_: None)  # hydra.main composes again
    main([*args, f"hydra.run.dir={tmp_path / 'again'}"])
    assert len(loads) > 2
    for name in (".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml"):
        once = (tmp_path / "once" / name).read_text().replace("/once", "/again")
        assert once == (tmp_path / "again" / name).read_text(), name
    assert (tmp_path / "once" / "job.log").read_text().endswith("[INFO] - ran\n")


def test_fp_run_makes_no_pulses(tmp_path, small_run):
    main(["train", "device=fp", *small_run, f"hydra.run.dir={tmp_path}"])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["pulses"] == 0


def test_missing_dataset_single_run_is_a_clear_error(tmp_path, capsys, small_run):
    code, out = run_cli(["train", "dataset=mnist", f"dataset.root={tmp_path}/absent", *small_run,
                         f"hydra.run.dir={tmp_path / 'run'}"], capsys)
    assert code == 2
    assert out.err.count("\n") == 1 and "Traceback" not in out.err
    assert "dataset.root" in out.err and str(tmp_path / "absent") in out.err
    assert not (tmp_path / "run").exists()  # refused before the run folder is made


def test_killed_run_resumes_to_the_same_result(tmp_path):
    """SIGKILL mid-run, then the same command plus resume=: every epoch's metrics and the
    final summary equal those of an uninterrupted run."""
    import signal
    import time

    epochs = 4
    args = ["train", f"epochs={epochs}", "dataset.limit_train=96", "batch_size=16",
            "model.hidden=[32]", "seed=3"]
    clean = tmp_path / "clean"
    main([*args, f"hydra.run.dir={clean}"])

    killed = tmp_path / "killed"
    proc = subprocess.Popen([*XBRUN, *args, f"hydra.run.dir={killed}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = killed / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if (killed / "checkpoint.pt").exists():  # epoch 1 is saved: kill in epoch 2
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    done = len(metrics.read_text().splitlines())
    status = (json.loads((killed / "summary.json").read_text())["status"]
              if (killed / "summary.json").exists() else "running")
    # the kill really interrupted the run: some epochs left, status still "running"
    assert 1 <= done < epochs and status == "running", (done, status)

    main([*args, f"resume={killed}", f"hydra.run.dir={tmp_path / 'resumed'}"])
    a = [json.loads(x) for x in (clean / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(x) for x in metrics.read_text().splitlines()]
    assert [r["epoch"] for r in b] == list(range(1, epochs + 1))
    for ra, rb in zip(a, b, strict=True):
        for key in ("train_loss", "test_loss", "test_accuracy", "lr", "pulses",
                    "rank1_updates", "cost"):  # the cost ledger's counters resume exactly
            assert ra[key] == rb[key], (key, ra, rb)
    final = json.loads((killed / "summary.json").read_text())
    reference = json.loads((clean / "summary.json").read_text())
    assert final["status"] == "finished" and final["resumed"]["after_epoch"] == done
    for key in ("test_accuracy", "test_loss", "train_loss", "pulses", "best_test_accuracy",
                "cost"):
        assert final[key] == reference[key], key
    assert not list(killed.glob(".*.tmp"))


def test_installed_configs_are_found_outside_the_repo(tmp_path):
    """From a folder with a decoy conf/config.yaml, `--cfg job` still prints the shipped
    config (found through the installed package, not the working directory)."""
    import yaml

    from xbrun.config import RunConfig

    decoy = tmp_path / "conf"
    decoy.mkdir()
    (decoy / "config.yaml").write_text("seed: 12345\nepochs: 777\n")
    proc = subprocess.run([*XBRUN, "train", "--cfg", "job"], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    printed = yaml.safe_load(proc.stdout)
    shipped = RunConfig()  # the defaults of the installed package
    assert printed["device"]["kind"] == "sgd" and printed["cell"]["kind"] == "constant_step"
    for key in ("seed", "epochs", "batch_size", "lr", "threads"):
        assert printed[key] == getattr(shipped, key), key
    assert printed["seed"] != 12345 and printed["epochs"] != 777
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conf"]  # --cfg runs nothing


def test_a_resume_continues_in_its_own_folder_and_makes_no_other(tmp_path, monkeypatch,
                                                                 capsys):
    """``xbrun train ... resume=DIR`` without ``hydra.run.dir``: Hydra's folder is DIR too,
    so the command's log continues DIR's ``cli.log`` and no ``outputs/<date>/<time>`` holding
    only ``.hydra/`` and a log is left beside it; likewise ``xbrun.train`` from Python."""
    import xbrun
    from xbrun.report import collect

    monkeypatch.chdir(tmp_path)
    args = ["train", "debug=tiny", "progress=none"]
    main([*args, "epochs=1", "hydra.run.dir=run"])
    main([*args, "epochs=2", "resume=run"])
    xbrun.train(["debug=tiny", "progress=none", "epochs=3", "resume=run"], log=lambda _: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    epochs = [json.loads(x)["epoch"] for x in (tmp_path / "run/metrics.jsonl").read_text()
              .splitlines()]
    assert epochs == [1, 2, 3]
    assert "resuming" in (tmp_path / "run/cli.log").read_text()
    assert "resume" not in collect(tmp_path)[0]["overrides"]  # no column in the report
