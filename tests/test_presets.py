"""The preset group: aihwkit's tuned configurations as ``preset=<algorithm>_<cell>``."""

import json
import math

import pytest
import torch
import yaml

from xbrun.api import run
from xbrun.cli import main
from xbrun.composition import compose, conf_dir
from xbrun.config import option_values
from xbrun.presets import list_presets

ALGORITHMS = ["sgd", "tiki_taka", "ttv2", "chopped_ttv2", "agad", "mixed_precision"]
CELLS = ["reram_es", "reram_sb", "capacitor", "ecram", "ecram_mo", "idealized"]
EXPECTED = sorted([f"{a}_{c}" for a in ALGORITHMS for c in CELLS]
                  + ["sgd_gokmen_vlasov", "mixed_precision_gokmen_vlasov"])
DEVICE_OF = {"sgd": "sgd", "tiki_taka": "ttv1", "ttv2": "chopped", "chopped_ttv2": "chopped",
             "agad": "agad", "mixed_precision": "mixed_precision"}


def test_every_preset_exists_cites_its_source_and_is_listed(capsys):
    names = [name for name, _ in list_presets(conf_dir())]
    assert names == EXPECTED
    for name in names:
        text = (conf_dir() / "preset" / f"{name}.yaml").read_text()
        assert text.startswith("# @package _global_\n")
        assert "aihwkit src/aihwkit/simulator/presets/configs.py" in text
    main(["presets"])
    out = capsys.readouterr().out
    for name, description in list_presets(conf_dir()):
        assert f"{name} " in out and description and description in out


@pytest.mark.parametrize("name", EXPECTED)
def test_every_preset_composes_builds_and_trains(name, tmp_path):
    """Device, cell, I/O and update come from the preset; one update step runs, and a
    ``debug=tiny`` run of it trains to the end (the run a job of ``xbrun train -m`` runs:
    ``api.run``; the sweep itself is below)."""
    cfg = compose([f"preset={name}", "debug=tiny"])
    algorithm, cell = next((a, name[len(a) + 1:]) for a in sorted(ALGORITHMS, key=len,
                                                                   reverse=True)
                           if name.startswith(a + "_"))
    assert cfg.device.kind == DEVICE_OF[algorithm]
    assert cfg.cell.kind == option_values("cell", cell)["kind"]
    assert cfg.io.forward.out_noise == 0.1 and cfg.io.forward.out_bound == 20.0
    if algorithm in ("ttv2", "chopped_ttv2", "agad"):
        assert cfg.device.auto_scale and cfg.device.transfer_update.desired_bl == 1
        assert cfg.update.desired_bl in (31, 100)
        assert (cfg.device.in_chop_prob == 0) == (algorithm == "ttv2")
    dev = cfg.device.build(5, 7, cfg.cell, cfg.update, 1)
    gen = torch.Generator().manual_seed(0)
    dev.set_weight(0.1 * torch.randn(5, 7, generator=gen))
    dev.update(torch.rand(4, 7, generator=gen), 0.1 * torch.randn(4, 5, generator=gen), 0.1,
               gen)
    assert torch.isfinite(dev.visible_weight()).all()
    summary = run(cfg, tmp_path, log=lambda line: None)
    assert summary["status"] == "finished", summary
    assert math.isfinite(summary["test_loss"]) and summary["pulses"] > 0


def test_keys_after_a_preset_still_override_it():
    cfg = compose(["preset=chopped_ttv2_reram_sb", "lr=0.1", "cell.dw_min=0.01",
                   "device.in_chop_prob=0.2", "update.desired_bl=7"])
    assert (cfg.lr, cfg.cell.dw_min, cfg.device.in_chop_prob, cfg.update.desired_bl) == \
        (0.1, 0.01, 0.2, 7)
    assert cfg.device.fast_lr == 0.5  # the rest of the preset stays
    cfg = compose(["preset=agad_ecram", "cell=soft_bounds"])  # a group choice wins too
    assert cfg.device.kind == "agad" and cfg.cell.kind == "soft_bounds"


def test_unknown_preset_is_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "preset=sgd_nope"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "preset=sgd_nope" in err and "agad_ecram" in err


def test_presets_sweep_through_the_cli(tmp_path):
    """``preset=glob(...)``: a sweep over presets, each a ``debug=tiny`` job (two of them:
    every preset's own run is trained above, each job composed as ``compose`` composes)."""
    main(["train", "-m", "preset=glob(*_gokmen_vlasov)", "debug=tiny",
          f"hydra.sweep.dir={tmp_path}"])
    jobs = sorted(tmp_path.glob("*/summary.json"))
    ran = [o for job in jobs for o in yaml.safe_load((job.parent / ".hydra" / "overrides.yaml")
                                                      .read_text()) if o.startswith("preset=")]
    assert sorted(ran) == [f"preset={name}" for name in EXPECTED if "gokmen_vlasov" in name]
    for summary in [json.loads(job.read_text()) for job in jobs]:
        assert summary["status"] == "finished", summary
        assert math.isfinite(summary["test_loss"]) and summary["pulses"] > 0


# aihwkit 1.2.0's preset cells, written out from its source
# (src/aihwkit/simulator/presets/devices.py: ReRamESPresetDevice, ReRamSBPresetDevice,
# CapacitorPresetDevice, IdealizedPresetDevice); xbrun's relative w_*_dtod of reram_sb is
# aihwkit's 0.3 / 1.25 and 0.3 / 0.75
AIHWKIT_CELL_PRESETS = {
    "reram_es": {"kind": "exp_step", "dw_min": 0.00135, "up_down": 0.259359, "w_max": 1.0,
                 "w_min": -1.0, "a": -0.5, "b": -0.5, "gamma_up": 5.0, "gamma_down": 5.0,
                 "A_up": -1.18445, "A_down": -0.081404, "dw_min_dtod": 0.2,
                 "up_down_dtod": 0.05, "w_max_dtod": 0.3, "w_min_dtod": 0.3,
                 "dw_min_std": 5.0, "write_noise_std": 75.0},
    "reram_sb": {"kind": "soft_bounds", "dw_min": 0.002, "up_down": 0.0, "w_max": 1.25,
                 "w_min": -0.75, "dw_min_dtod": 0.3, "up_down_dtod": 0.01,
                 "w_max_dtod": 0.3 / 1.25, "w_min_dtod": 0.3 / 0.75},
    "capacitor": {"kind": "linear_step", "dw_min": 0.005, "up_down": 0.0, "w_max": 1.0,
                  "w_min": -1.0, "mult_noise": False, "gamma_up": 0.05, "gamma_down": 0.05,
                  "dw_min_dtod": 0.1, "up_down_dtod": 0.06, "w_max_dtod": 0.07,
                  "w_min_dtod": 0.07, "gamma_up_dtod": 0.01, "gamma_down_dtod": 0.01,
                  "dw_min_std": 0.3, "write_noise_std": 0.0, "mean_bound_reference": True},
    "idealized": {"kind": "constant_step", "dw_min": 0.0002, "dw_min_dtod": 0.3,
                  "dw_min_std": 0.3, "up_down": 0.0, "up_down_dtod": 0.0, "w_max": 1.0,
                  "w_min": -1.0, "w_max_dtod": 0.3, "w_min_dtod": 0.3},
}


@pytest.mark.parametrize("name", sorted(AIHWKIT_CELL_PRESETS))
def test_cell_presets_carry_aihwkits_values(name):
    cell = compose([f"cell={name}"]).cell
    for key, value in AIHWKIT_CELL_PRESETS[name].items():
        got = getattr(cell, key)
        assert got == (pytest.approx(value) if isinstance(value, float) else value), key
