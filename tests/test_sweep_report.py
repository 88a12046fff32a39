"""``xbrun report DIR --by KEY --plot FILE --markdown``: a sweep grouped, with its curves."""

import json

import pytest
from cli_run import run_cli

from xbrun import sweep_report
from xbrun.cli import main
from xbrun.report import collect


@pytest.fixture(scope="module")
def seed_sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    main(["train", "-m", "device=fp,sgd", "seed=0,1", "epochs=2", "dataset.limit_train=96",
          "batch_size=16", "model.hidden=[32]", f"hydra.sweep.dir={root}"])
    return root


def test_report_table_and_csv(seed_sweep, tmp_path, capsys):
    """``xbrun report`` of a sweep: its table, CSV, the cost ledger's columns, and the wear
    map of one run (a sweep folder is not one run)."""
    capsys.readouterr()
    main(["report", str(seed_sweep)])
    table = capsys.readouterr().out
    assert "4 runs" in table and "device" in table and "finished" in table
    assert "job 1: epoch   2/2" in (seed_sweep / "1" / "cli.log").read_text()  # whose line
    main(["report", str(seed_sweep), "--csv"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split(",")[:2] == ["run", "device"]
    assert len(lines) == 5 and {ln.split(",")[1] for ln in lines[1:]} == {"fp", "sgd"}
    # the cost ledger: its columns, and an sgd run's wear map from its counts.npz
    header = lines[0].split(",")
    sgd = dict(zip(header, next(ln for ln in lines[1:] if ",sgd," in ln).split(","),
                   strict=True))
    run = seed_sweep / sgd["run"]
    cost = json.loads((run / "summary.json").read_text())["cost"]["total"]
    assert int(sgd["max_cell_pulses"]) == cost["max_cell_pulses"] > 0
    assert float(sgd["write_J"]) == pytest.approx(cost["write_energy_j"], rel=1e-3)
    main(["report", str(run), "--wear", str(tmp_path / "wear.png")])
    assert (tmp_path / "wear.png").read_bytes()[:4] == b"\x89PNG"
    code, out = run_cli(["report", str(seed_sweep), "--wear", str(tmp_path / "w.png")], capsys)
    assert code == 2 and "counts.npz" in out.err  # a sweep folder is not one run


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


def test_report_of_a_folder_without_runs_is_one_line_exit_2(tmp_path, capsys):
    """A folder holding no run (no ``summary.json`` below it), or only unreadable ones, is
    a wrong argument like a missing folder: one line saying so, exit 2, no empty table."""
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    code, out = run_cli(["report", str(tmp_path / "empty")], capsys)
    assert code == 2 and out.out == "" and out.err == (
        f"xbrun: error: {tmp_path / 'empty'}: no runs below it (a run's folder holds its "
        f"summary.json)\n")
    code, out = run_cli(["report", str(tmp_path / "missing")], capsys)
    assert code == 2 and out.err == f"xbrun: error: {tmp_path / 'missing'}: not a folder\n"
    (tmp_path / "broken" / "0").mkdir(parents=True)
    (tmp_path / "broken" / "0" / "summary.json").write_text('{"status": "fini')
    code, out = run_cli(["report", str(tmp_path / "broken"), "--csv"], capsys)
    lines = out.err.splitlines()
    assert code == 2 and out.out == "" and len(lines) == 2, lines
    assert lines[0].startswith("xbrun: warning: ") and "no readable runs below it" in lines[1]


def test_report_orders_runs_by_number_shows_text_as_written_and_csv_numbers(tmp_path, capsys):
    """Runs 0..11 (not 0, 1, 10, 11, 2), values such as ``[/bold]`` or ``[32]`` shown as
    written (not read as rich markup), one ``epochs`` column per meaning, CSV numbers as
    recorded, and ``--by`` a key no run has: one line, exit 2."""
    for i in range(12):
        run = tmp_path / str(i)
        (run / ".hydra").mkdir(parents=True)
        (run / "summary.json").write_text(json.dumps(
            {"status": "finished", "epochs_done": 2, "test_accuracy": 0.4318,
             "pulses": 12345, "config": {"model": {"hidden": [32 + i]}}}))
        (run / ".hydra" / "overrides.yaml").write_text(
            f"- epochs={2 + i % 2}\n- model.hidden=[{32 + i}]\n- tag=[/bold]{i}\n")
    code, out = run_cli(["report", str(tmp_path)], capsys)
    assert code == 0 and "[/bold]11" in out.out and "[43]" in out.out
    names = [line.split()[1] for line in out.out.splitlines() if line.startswith("│ ")]
    assert names == [str(i) for i in range(12)]
    code, out = run_cli(["report", str(tmp_path), "--by", "model.hidden"], capsys)
    assert code == 0 and "[32]" in out.out
    code, out = run_cli(["report", str(tmp_path), "--csv"], capsys)
    header, first = out.out.splitlines()[:2]
    assert header.split(",").count("epochs") == 1 and "epochs_done" in header
    row = dict(zip(header.split(","), first.split(","), strict=True))
    assert row["test_acc"] == "0.4318" and row["pulses"] == "12345" and row["run"] == "0"
    code, out = run_cli(["report", str(tmp_path), "--by", "nosuchkey"], capsys)
    assert code == 2 and out.err.count("\n") == 1 and "--by nosuchkey" in out.err
