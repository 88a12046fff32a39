"""``xbrun cells fit``: a cell fitted to pulse responses of a known cell recovers it, its
option file loads in ``xbrun train`` and trains, and bad input is one line."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
from cli_run import run_cli

from xbrun.cells_fit import EXAMPLE_CELL, fit_cell, read_data, simulate, write_csv
from xbrun.physics.cells import ExpStep, LinearStep, PowStep, SoftBounds

ROOT = Path(__file__).resolve().parents[1]
KNOWN = SoftBounds(dw_min=0.01, up_down=0.2, w_max=0.7, w_min=-0.5, dw_min_dtod=0.0,
                   up_down_dtod=0.0, w_max_dtod=0.0, w_min_dtod=0.0, dw_min_std=0.1)


def test_fit_recovers_a_known_soft_bounds_cell(tmp_path):
    path = tmp_path / "known.csv"
    write_csv(simulate(KNOWN, devices=4, cycles=2, pulses=200, seed=3), str(path))
    fit, cell, dtod = fit_cell("soft_bounds", read_data(str(path)))
    for key in ("dw_min", "w_max", "w_min"):
        assert getattr(cell, key) == pytest.approx(getattr(KNOWN, key), rel=0.03), key
    assert cell.up_down == pytest.approx(KNOWN.up_down, abs=0.03)
    assert cell.dw_min_std == pytest.approx(KNOWN.dw_min_std, rel=0.15)
    assert all(v < 0.05 for v in dtod.values())  # no spread drawn, little found
    # each fitted value lies within 4 of its own fit errors of the truth
    for key, value in fit.values.items():
        assert abs(value - getattr(KNOWN, key)) < 4 * fit.errors[key] + 1e-3, key


def test_shipped_example_is_the_documented_generated_file(tmp_path):
    shipped = ROOT / "examples" / "data" / "soft_bounds_pulses.csv"
    assert "GENERATED (not measured)" in shipped.read_text().splitlines()[0]
    from xbrun.cells_fit import write_example

    write_example(str(tmp_path / "again.csv"))
    assert (tmp_path / "again.csv").read_text() == shipped.read_text()
    fit, cell, dtod = fit_cell("soft_bounds", read_data(str(shipped)))
    assert cell.dw_min == pytest.approx(EXAMPLE_CELL["dw_min"], rel=0.1)


def test_fit_command_writes_a_cell_that_trains(tmp_path, capsys):
    data = tmp_path / "known.csv"
    write_csv(simulate(replace(KNOWN, dw_min_dtod=0.1), devices=3, cycles=1, pulses=150,
                       seed=1), str(data))
    code, out = run_cli(["cells", "fit", str(data), "--model", "soft_bounds", "--out",
                         str(tmp_path / "cells"), "--name", "mine", "--plot",
                         str(tmp_path / "fit.png")], capsys)
    assert code == 0, out.err
    assert "dw_min" in out.out and "+-" in out.out and (tmp_path / "fit.png").is_file()
    option = tmp_path / "cells" / "cell" / "mine.yaml"
    assert "/schema/cell/soft_bounds@_here_" in option.read_text()
    run = tmp_path / "run"
    code, out = run_cli(["train", "cell=mine", f"hydra.searchpath=[file://{tmp_path / 'cells'}]",
                         "device=sgd", "io=perfect", "debug=tiny", "epochs=2", "lr=0.2",
                         "model.activation=relu", "dataset.limit_train=192",
                         f"hydra.run.dir={run}"], capsys)
    assert code == 0, out.err
    import yaml

    fitted = yaml.safe_load(option.read_text())
    used = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())["cell"]
    assert used["dw_min"] == fitted["dw_min"] == pytest.approx(KNOWN.dw_min, rel=0.15)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert rows[-1]["test_accuracy"] > 0.25  # chance is 0.1


@pytest.mark.parametrize("args, key", [
    (["--model", "cubic"], "--model"),
    (["--name", "soft_bounds"], "--name"),
    (["--name", "a/b"], "--name"),
])
def test_bad_fit_arguments_are_one_line(args, key, tmp_path, capsys):
    code, out = run_cli(["cells", "fit", str(ROOT / "examples" / "data" /
                                             "soft_bounds_pulses.csv"), *args,
                         "--out", str(tmp_path)], capsys)
    lines = out.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and key in lines[0]


def test_bad_files_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("device,cycle,pulse,conductance\n0,0,1,0.1\n")
    positive = tmp_path / "siemens.csv"
    write_csv([(d, c, s, p, g + 2.0) for d, c, s, p, g in
               simulate(KNOWN, devices=1, cycles=1, pulses=20, seed=0)], str(positive))
    code, out = run_cli(["cells", "fit", str(positive), "--normalize", "--out",
                         str(tmp_path)], capsys)
    assert code == 0, out.err
    for path, words in ((positive, "add --normalize"), (bad, "lacks the columns direction"),
                        (tmp_path / "none.csv", "is not a file")):
        code, out = run_cli(["cells", "fit", str(path), "--out", str(tmp_path)], capsys)
        assert code == 2 and words in out.err and len(out.err.strip().splitlines()) == 1


def test_npz_reads_like_csv(tmp_path):
    import numpy as np

    rows = simulate(KNOWN, devices=2, cycles=1, pulses=60, seed=2)
    write_csv(rows, str(tmp_path / "d.csv"))
    cols = list(zip(*[(d, c, 1 if s == "up" else -1, p, float(f"{g:.6g}"))
                      for d, c, s, p, g in rows], strict=True))
    np.savez(tmp_path / "d.npz", **{k: np.array(v) for k, v in
                                    zip(("device", "cycle", "direction", "pulse",
                                         "conductance"), cols, strict=True)})
    a, b = read_data(str(tmp_path / "d.csv")), read_data(str(tmp_path / "d.npz"))
    assert np.array_equal(a.w, b.w) and np.array_equal(a.dw, b.dw)
    assert np.array_equal(a.up, b.up)


@pytest.mark.parametrize("cell, keys", [
    (LinearStep(dw_min=0.01, gamma_up=0.3, gamma_down=0.5), ("dw_min", "gamma_up",
                                                             "gamma_down")),
    (PowStep(dw_min=0.01, pow_gamma=1.5), ("dw_min", "pow_gamma", "w_max", "w_min")),
    (ExpStep(dw_min=0.01), ("dw_min", "A_down", "gamma_up", "gamma_down")),
])
def test_each_family_recovers_its_own_cell(cell, keys, tmp_path):
    """Hard-clipped cells too: steps cut by a bound are left out of the fit."""
    spread = {f: 0.0 for f in ("dw_min_dtod", "up_down_dtod", "w_max_dtod", "w_min_dtod",
                               "gamma_up_dtod", "gamma_down_dtod", "pow_gamma_dtod")
              if hasattr(cell, f)}
    cell = replace(cell, dw_min_std=0.1, **spread)
    write_csv(simulate(cell, devices=2, cycles=2, pulses=250, seed=0), str(tmp_path / "d.csv"))
    fit, fitted, _ = fit_cell(cell.kind, read_data(str(tmp_path / "d.csv")))
    for key in keys:
        assert getattr(fitted, key) == pytest.approx(getattr(cell, key), rel=0.1), key
    assert fitted.dw_min_std == pytest.approx(0.1, rel=0.15)
