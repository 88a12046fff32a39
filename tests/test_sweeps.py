"""Sweeps through Hydra's launcher and sweeper plugins; device-only keys in sweeps over devices.

Each plugin test is skipped, with the extra to install, only where that plugin is absent.
"""

import json
import math
import sys

import pytest
import yaml
from cli_run import run_cli

from xbrun.api import objective_value
from xbrun.cli import main

JOBLIB = "hydra_plugins.hydra_joblib_launcher"
SUBMITIT = "hydra_plugins.hydra_submitit_launcher"
OPTUNA = "hydra_plugins.hydra_optuna_sweeper"
RAY = "hydra_plugins.hydra_ray_launcher"


def needs(module, extra):
    pytest.importorskip(module, reason=f"{module.split('.')[-1]} is not installed "
                        f"(pip install 'xbrun[{extra}]')")


def summaries(root):
    return {p.parent.name: json.loads(p.read_text()) for p in root.rglob("summary.json")}


def hydra_config(overrides):
    from hydra import compose, initialize_config_dir

    from xbrun.composition import conf_dir

    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return compose("config", overrides=overrides, return_hydra_config=True).hydra


@pytest.mark.slow
def test_joblib_sweep_runs_jobs_in_parallel_processes_and_outlives_a_dead_worker(
        tmp_path, small_run, capsys):
    """Job 0's worker is killed (SIGKILL, from inside its model factory): job 0 is recorded
    as failed, a job stopped with it too, and the jobs not yet started run in a fresh pool."""
    needs(JOBLIB, "sweep")
    main(["train", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
          "device=fp,sgd,fp", "model=custom", "model._target_=sweep_worker_death.mlp",
          *small_run, f"hydra.sweep.dir={tmp_path}"])
    runs = summaries(tmp_path)
    assert sorted(runs) == ["0", "1", "2"]
    assert runs["0"]["status"] == "failed" and "worker process died" in runs["0"]["error"]
    assert runs["2"]["status"] == "finished" and runs["2"]["config"]["device"]["kind"] == "fp"
    assert runs["1"]["status"] == "finished" or "worker process died" in runs["1"]["error"]
    err = capsys.readouterr().err
    assert "Traceback" not in err and any("worker died" in ln for ln in err.splitlines())
    assert yaml.safe_load((tmp_path / "multirun.yaml").read_text())["hydra"]["launcher"][
        "n_jobs"] == 2


@pytest.mark.slow
def test_submitit_local_sweep(tmp_path, small_run):
    needs(SUBMITIT, "submitit")
    # one (analog) job: each job of submitit's is a process of its own (Python and torch
    # imported again, ~4 s), and what xbrun adds, its job run there, is the same for each
    main(["train", "-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10",
          "device=sgd", *small_run, f"hydra.sweep.dir={tmp_path}"])
    runs = summaries(tmp_path)
    assert sorted(runs) == ["0"] and runs["0"]["status"] == "finished"
    assert runs["0"]["config"]["device"]["kind"] == "sgd" and runs["0"]["pulses"] > 0
    assert (tmp_path / ".submitit").is_dir()  # the jobs went through submitit's executor


def test_slurm_launcher_config_composes(tmp_path):
    needs(SUBMITIT, "submitit")
    launcher = hydra_config(["hydra/launcher=submitit_slurm", "hydra.launcher.partition=gpu",
                             "hydra.launcher.gpus_per_node=1", "hydra.launcher.timeout_min=30",
                             f"hydra.sweep.dir={tmp_path}"]).launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.partition, launcher.gpus_per_node, launcher.timeout_min) == ("gpu", 1, 30)


def test_ray_launcher_gives_each_job_one_gpu(tmp_path):
    """Ray schedules each job on a GPU of its own (it sets CUDA_VISIBLE_DEVICES): on the
    CPU only the config can be checked; the two-GPU run is in the README."""
    needs(RAY, "ray")
    launcher = hydra_config(["hydra/launcher=ray", "+hydra.launcher.ray.remote.num_gpus=1",
                             f"hydra.sweep.dir={tmp_path}"]).launcher
    assert launcher._target_.endswith("ray_launcher.RayLauncher")
    assert launcher.ray.remote.num_gpus == 1


@pytest.mark.slow
def test_ray_sweep_on_the_cpu(tmp_path, small_run):
    needs(RAY, "ray")
    main(["train", "-m", "hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=2",
          "+hydra.launcher.ray.init.include_dashboard=false",
          "+hydra.launcher.ray.remote.num_cpus=1", "device=fp,sgd", *small_run,
          f"hydra.sweep.dir={tmp_path}"])
    runs = summaries(tmp_path)
    assert sorted(runs) == ["0", "1"] and all(r["status"] == "finished" for r in runs.values())


def test_missing_launcher_plugin_is_one_line_naming_the_extra(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, RAY, None)
    code, out = run_cli(["train", "-m", "hydra/launcher=ray", "seed=0,1"], capsys)
    assert code == 2
    assert out.err.strip() == ("xbrun: error: hydra/launcher=ray: needs Hydra's "
                               "hydra-ray-launcher plugin; install it with pip install "
                               "'xbrun[ray]'")
    monkeypatch.setitem(sys.modules, OPTUNA, None)
    code, out = run_cli(["train", "-m", "hparams_search=chopped_digits"], capsys)
    assert code == 2 and "'xbrun[optuna]'" in out.err and len(out.err.splitlines()) == 1


def test_optuna_runs_two_trials_and_keeps_the_best(tmp_path, small_run):
    needs(OPTUNA, "optuna")
    main(["train", "-m", "hparams_search=chopped_digits", "hydra.sweeper.n_trials=2",
          *small_run, "epochs=1", f"hydra.sweep.dir={tmp_path}"])
    runs = summaries(tmp_path)
    assert len(runs) == 2 and all(r["status"] == "finished" for r in runs.values())
    assert {r["config"]["device"]["kind"] for r in runs.values()} == {"chopped"}
    # the trials select on the validation split Optuna holds out, never on the test split
    assert all(r["config"]["objective"] == "val_accuracy" for r in runs.values())
    assert all(r["config"]["dataset"]["val_fraction"] == 0.1 for r in runs.values())
    result = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    assert result["best_value"] == max(r["val_accuracy"] for r in runs.values())
    assert set(result["best_params"]) == {"lr", "device.fast_lr", "device.transfer_every"}
    best = [r for r in runs.values() if r["val_accuracy"] == result["best_value"]][0]
    assert best["config"]["lr"] == pytest.approx(result["best_params"]["lr"])


def test_objective_values():
    summary = {"status": "finished", "test_accuracy": 0.9, "test_loss": 0.3,
               "reconstruction_error": 0.05, "weight_error": 0.25}
    assert objective_value("test_accuracy", summary) == 0.9
    assert objective_value("val_accuracy", {**summary, "val_accuracy": 0.8}) == 0.8
    assert objective_value("test_loss", summary) == 0.3
    assert objective_value("weight_error", summary) == 0.25
    assert objective_value("reconstruction_error", summary) == 0.05
    assert math.isnan(objective_value("test_accuracy", {**summary, "test_accuracy": None}))
    assert math.isnan(objective_value("test_accuracy", {**summary, "status": "diverged"}))


def test_task_returns_the_objective(tmp_path, small_run, monkeypatch):
    from xbrun import cli

    returned = []
    task = cli._task  # what Hydra's sweepers get back from each job
    monkeypatch.setattr(cli, "_task", lambda cfg: returned.append(task(cfg)))
    cli.main(["train", "objective=test_loss", *small_run, f"hydra.run.dir={tmp_path}"])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert returned == [summary["test_loss"]]


def test_device_only_key_fails_only_the_jobs_whose_device_lacks_it(tmp_path, small_run,
                                                                    capsys):
    main(["train", "-m", "device=sgd,ttv2", "++device.transfer_update.desired_bl=31",
          *small_run, "epochs=1", f"hydra.sweep.dir={tmp_path}"])
    err = capsys.readouterr().err
    assert "xbrun: note: job device=sgd debug=tiny: device.transfer_update: unknown key" in err
    runs = {r["status"]: r for r in summaries(tmp_path).values()}
    assert sorted(runs) == ["failed", "finished"]
    assert "device.transfer_update: unknown key" in runs["failed"]["error"]
    assert runs["finished"]["config"]["device"]["transfer_update"]["desired_bl"] == 31


def test_errors_no_device_avoids_still_stop_the_sweep(tmp_path, capsys):
    code, out = run_cli(["train", "-m", "device=sgd,fp", "++device.transfer_update.desired_bl=3",
                         f"hydra.sweep.dir={tmp_path}"], capsys)
    assert code == 2 and "device.transfer_update: unknown key" in out.err
    code, out = run_cli(["train", "-m", "device=sgd,ttv2", "lr=0.1,-2",
                         "++device.transfer_update.desired_bl=3",
                         f"hydra.sweep.dir={tmp_path}"], capsys)
    assert code == 2 and out.err.strip().splitlines()[-1].startswith("xbrun: error: lr:")
    assert not list(tmp_path.rglob("summary.json"))


def test_optuna_direction_must_match_the_objective(capsys, tmp_path):
    needs(OPTUNA, "optuna")
    code, out = run_cli(["train", "-m", "hparams_search=chopped_digits", "objective=test_loss",
                         f"hydra.sweep.dir={tmp_path}"], capsys)
    assert code == 2 and out.err.strip() == ("xbrun: error: hydra.sweeper.direction: expected "
                                             "minimize for objective=test_loss, got maximize")
    assert not list(tmp_path.rglob("summary.json"))
    from xbrun.cli import _check_sweeper

    _check_sweeper(["hparams_search=chopped_digits", "objective=test_loss",
                    "hydra.sweeper.direction=minimize"])  # agrees: no error
    _check_sweeper(["hparams_search=tiki_taka_lr", "lr=0.1"])
