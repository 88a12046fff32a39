"""``xbrun report DIR --by KEY --plot FILE --markdown``: a sweep grouped, with its curves."""

import pytest

from xbrun import sweep_report
from xbrun.cli import main
from xbrun.report import collect


@pytest.fixture(scope="module")
def seed_sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    main(["train", "-m", "device=fp,sgd", "seed=0,1", "epochs=2", "dataset.limit_train=96",
          "batch_size=16", "model.hidden=[32]", f"hydra.sweep.dir={root}"])
    return root


def test_plot_by_device_draws_mean_and_band_per_device(seed_sweep, tmp_path, capsys):
    out = tmp_path / "accuracy.png"
    main(["report", str(seed_sweep), "--plot", str(out), "--by", "device"])
    captured = capsys.readouterr()
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert f"{out}: 2 curves of 4 runs" in captured.err
    assert "mean ± sd over seeds, by device" in captured.out


def test_plot_without_by_draws_every_run(seed_sweep, tmp_path):
    runs = collect(seed_sweep)
    assert sweep_report.plot(runs, seed_sweep, tmp_path / "all.png", None) == 4


def test_markdown_grouped_mean_and_sd(seed_sweep, capsys):
    main(["report", str(seed_sweep), "--by", "device", "--markdown"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| run | device | seed | status |")
    runs = collect(seed_sweep)
    sgd = [100 * r["test_accuracy"] for r in runs if r["overrides"]["device"] == "sgd"]
    import statistics

    want = f"{statistics.mean(sgd):.4g} ± {statistics.stdev(sgd):.2g}"
    (row,) = [ln for ln in lines if ln.startswith("| sgd | 2 | 2 |")]
    assert row.split(" | ")[3] == want


def test_groups_that_differ_in_more_than_seed_get_no_mean(seed_sweep):
    runs = collect(seed_sweep)
    assert sweep_report.differ_only_in_seed(sweep_report.group(runs, "device"), "device")
    assert not sweep_report.differ_only_in_seed(sweep_report.group(runs, "status"), "status")
    assert sweep_report.value_of(runs[0], "placement.device") == "cpu"
    assert sweep_report.value_of(runs[0], "cell") == "constant_step"  # from the config


def test_by_a_summary_key_adds_its_column(seed_sweep, capsys):
    main(["report", str(seed_sweep), "--by", "placement.device", "--csv"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("run,placement.device,device,seed,")
    assert all(line.split(",")[1] == "cpu" for line in lines[1:]) and len(lines) == 5
