"""``xbrun.train`` / ``xbrun.compose``: the CLI's configs and checks from Python."""

import json
from pathlib import Path

import pytest

import xbrun
from xbrun.cli import main


def test_compose_returns_the_typed_config():
    config = xbrun.compose(["device=chopped", "gamma=0.1", "epochs=3"])
    assert type(config).__name__ == "RunConfig"
    assert config.device.kind == "chopped" and config.device.gamma == 0.1
    assert config.epochs == 3 and config.logger.csv is None


@pytest.mark.parametrize("override, message", [
    ("lr=-1", "lr: expected a number > 0, got -1.0"),
    ("device=nope", "device=nope: no such option; choose one of"),
    ("nope=1", "nope: unknown key"),
])
def test_bad_input_raises_config_error_with_the_cli_line(override, message):
    with pytest.raises(xbrun.ConfigError) as err:
        xbrun.compose([override])
    assert str(err.value).startswith(message)


def test_train_in_process_matches_the_cli(tmp_path, small_run):
    summary = xbrun.train(["seed=2", *small_run], run_dir=tmp_path / "api")
    assert summary["status"] == "finished" and summary["epochs_done"] == 2
    written = json.loads((tmp_path / "api" / "summary.json").read_text())
    assert written["test_accuracy"] == summary["test_accuracy"]
    assert written["status"] == "finished"
    main(["train", "seed=2", *small_run, f"hydra.run.dir={tmp_path / 'cli'}"])
    cli = json.loads((tmp_path / "cli" / "summary.json").read_text())
    for key in ("test_accuracy", "test_loss", "train_loss", "pulses"):
        assert summary[key] == cli[key], key
    # the run folder carries its overrides, so `xbrun report` lists it beside CLI runs
    overrides = (tmp_path / "api" / ".hydra" / "overrides.yaml").read_text()
    assert "seed=2" in overrides


def test_train_default_run_dir_is_under_outputs(tmp_path, small_run, monkeypatch):
    """Under ./outputs, recorded as an absolute path (as the CLI records its run folders)."""
    monkeypatch.chdir(tmp_path)
    summary = xbrun.train(["device=fp", *small_run], log=lambda line: None)
    run_dir = Path(summary["run_dir"])
    assert run_dir.is_absolute() and run_dir.relative_to(tmp_path).parts[0] == "outputs"
    assert (run_dir / "metrics.jsonl").exists()
