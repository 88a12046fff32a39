"""Decompositions through `xbrun train`: fewer rank-1 updates and pulses than per-sample."""

import json

import pytest

from xbrun.cli import main

SMALL = ["debug=tiny"]  # conf/debug/tiny.yaml: one epoch, 96 samples, batches of 16


def run(tmp_path, name, overrides):
    main(["train", *SMALL, *overrides, f"hydra.run.dir={tmp_path / name}"])
    return json.loads((tmp_path / name / "summary.json").read_text())


@pytest.mark.parametrize("option", [
    ["decomposition=truncated_svd", "decomposition.rank=2"],
    ["decomposition=truncated_svd", "decomposition.rank=2", "decomposition.backend=torch_lowrank"],
    ["decomposition=truncated_svd", "decomposition.rank=2", "decomposition.backend=torch"],
    ["decomposition=streaming_pca", "decomposition.rank=2"],
    ["decomposition=nmf", "decomposition.rank=2", "decomposition.n_iters=10"],
])
def test_low_rank_cuts_rank1_updates_and_pulses(tmp_path, option):
    full = run(tmp_path, "full", [])
    low = run(tmp_path, "low", option)
    assert full["status"] == low["status"] == "finished"
    steps, layers = 96 // 16, 2
    assert full["rank1_updates"] == 96 * layers
    rank1 = 2 * 2 if "decomposition=nmf" in option else 2  # NMF: k per sign
    assert low["rank1_updates"] <= steps * layers * rank1
    assert low["pulses"] < full["pulses"]
    rows = [json.loads(x) for x in (tmp_path / "low" / "metrics.jsonl").read_text().splitlines()]
    assert 0 < rows[0]["reconstruction_error"] < 1


def test_full_svd_is_exact(tmp_path):
    summary = run(tmp_path, "svd", ["decomposition=svd"])
    rows = [json.loads(x) for x in (tmp_path / "svd" / "metrics.jsonl").read_text().splitlines()]
    assert summary["status"] == "finished" and rows[0]["reconstruction_error"] < 1e-5


def test_option_of_another_method_is_rejected(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "decomposition=nmf", "decomposition.backend=torch"])
    assert exc.value.code == 2 and "decomposition.backend" in capsys.readouterr().err


def test_rank_above_layer_size_is_a_clear_failure(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", *SMALL, "decomposition=truncated_svd", "decomposition.rank=64",
              f"hydra.run.dir={tmp_path}"])
    err = capsys.readouterr().err
    assert "decomposition.rank" in err and "Traceback" not in err
