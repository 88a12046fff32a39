"""The logger group writes files the trackers' own readers accept; the in-epoch progress bar."""

import csv
import io
import json
import sys

import pytest
from cli_run import run_cli
from rich.console import Console

from xbrun.cli import main
from xbrun.training import progress


def metrics(run_dir):
    """The per-epoch records (step records of ``log_every`` carry a ``step`` key)."""
    return [r for r in records(run_dir) if "step" not in r]


def records(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_csv_logger_matches_metrics_jsonl(tmp_path, small_run):
    main(["train", "logger=csv", *small_run, f"hydra.run.dir={tmp_path}"])
    with open(tmp_path / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    expected = metrics(tmp_path)
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    for row, want in zip(rows, expected, strict=True):
        assert float(row["test_accuracy"]) == pytest.approx(want["test_accuracy"], rel=1e-12)
        assert int(row["pulses"]) == want["pulses"] > 0
        # the cost ledger's nested record, flattened into columns
        assert int(row["cost.total.pulses"]) == want["cost"]["total"]["pulses"] == want["pulses"]


def test_tensorboard_and_csv_at_once(tmp_path, small_run):
    pytest.importorskip("tensorboard", reason="logger=tensorboard needs the tensorboard "
                        "extra (pip install 'xbrun[tensorboard]')")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    main(["train", "logger=[csv,tensorboard]", "log_every=2", *small_run,
          f"hydra.run.dir={tmp_path}"])
    assert (tmp_path / "metrics.csv").exists()
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    expected = metrics(tmp_path)
    acc = events.Scalars("epoch/test_accuracy")
    assert [s.step for s in acc] == [1, 2]
    assert [s.value for s in acc] == pytest.approx([r["test_accuracy"] for r in expected])
    assert [s.value for s in events.Scalars("epoch/pulses")] == [r["pulses"] for r in expected]
    totals = [s.value for s in events.Scalars("epoch/pulses_total")]
    assert totals == [expected[0]["pulses"], expected[0]["pulses"] + expected[1]["pulses"]]
    # 96 samples / batch 16 = 6 steps an epoch, a point every 2 steps
    steps = events.Scalars("step/train_loss")
    assert [s.step for s in steps] == [2, 4, 6, 8, 10, 12]
    assert all(0 < s.value < 10 for s in steps)
    # the same points are step records in metrics.jsonl, after step 0 (before any update)
    in_file = [r for r in records(tmp_path) if "step" in r]
    assert [r["step"] for r in in_file] == [0, 2, 4, 6, 8, 10, 12]
    assert in_file[0]["train_loss"] is None
    assert [r["train_loss"] for r in in_file[1:]] == pytest.approx([s.value for s in steps])
    content = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    assert start.hparams["device.kind"].string_value == "sgd"
    assert start.hparams["lr"].number_value == 1.0
    assert start.hparams["model.hidden"].string_value == "[32]"


def test_mlflow_run_has_params_metrics_and_artifacts(tmp_path, small_run):
    pytest.importorskip("mlflow", reason="logger=mlflow needs the mlflow extra "
                        "(pip install 'xbrun[mlflow]')")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run_dir = tmp_path / "run"
    main(["train", "logger=mlflow", f"logger.mlflow.tracking_uri={uri}",
          "logger.mlflow.experiment=tests",
          f"logger.mlflow.artifact_location={tmp_path / 'artifacts'}", *small_run,
          f"hydra.run.dir={run_dir}"])
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("tests").experiment_id])
    assert run.info.status == "FINISHED"
    assert run.info.run_id == (run_dir / "mlflow_run_id").read_text().strip()
    assert run.data.params["device.kind"] == "sgd" and run.data.params["epochs"] == "2"
    history = client.get_metric_history(run.info.run_id, "test_accuracy")
    expected = metrics(run_dir)
    assert [(m.step, m.value) for m in history] == [(r["epoch"], r["test_accuracy"])
                                                    for r in expected]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"curves.png", "summary.json", "metrics.jsonl"} <= artifacts
    assert (tmp_path / "artifacts" / run.info.run_id / "artifacts" / "curves.png").exists()


def test_missing_tracker_is_one_line_naming_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # find_spec then reports it absent
    code, out = run_cli(["train", "logger=mlflow", f"hydra.run.dir={tmp_path}"], capsys)
    assert code == 2
    assert out.err.strip() == ("xbrun: error: logger=mlflow: needs the mlflow package; "
                               "install it with pip install 'xbrun[mlflow]'")
    assert not (tmp_path / "summary.json").exists()


def test_progress_bar_shows_loss_and_pulse_rate(monkeypatch):
    monkeypatch.setattr(progress, "REFRESH_SECONDS", 0.0)
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=140)
    factory = progress.epoch_progress("auto", console)
    pulses = iter(range(0, 10_000, 1000))
    with factory(3, 64, lambda: next(pulses)) as bar:
        for done in (16, 32, 48, 64):
            bar.update(done, 2.5 * done)
    text = out.getvalue()
    assert "epoch 3" in text and "loss 2.5000" in text and "pulses/s" in text
    assert "64/64" in text
    assert progress.epoch_progress("auto", Console(file=io.StringIO())) is None  # not a tty
    assert progress.epoch_progress("none", console) is None


def test_progress_bar_in_a_run_but_not_in_a_sweep(tmp_path, small_run, capsys):
    main(["train", "progress=bar", *small_run, f"hydra.run.dir={tmp_path / 'one'}"])
    assert "pulses/s" in capsys.readouterr().err
    # a sweep of one job: a job of a sweep (Hydra's MULTIRUN mode) draws no bar
    main(["train", "-m", "progress=bar", *small_run, f"hydra.sweep.dir={tmp_path / 'sweep'}"])
    out = capsys.readouterr()
    assert "pulses/s" not in out.err + out.out
    assert len(list((tmp_path / "sweep").rglob("summary.json"))) == 1
