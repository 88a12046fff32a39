"""aihwkit's per-pulse statistics on fixed update sequences, stored as a test fixture.

For every unit cell and update setting below, a small tile (``M x N``) starts from fixed
weights and takes one fixed sequence of ``T`` rank-1 updates (``W <- W - lr d_t x_t^T``,
applied in order as one batch); this is repeated ``R`` times. Per element the fixture keeps
the mean, standard deviation and fourth central moment of the total weight change, and
the per-element pulse counts come from a counting cell (noise-free constant steps
without bounds, every update pushing up: the change divided by the step is the count;
aihwkit's CPU tile has no pulse counter). ``tests/test_aihwkit_parity.py`` runs xbrun on
the same cells, sequences and weights and compares in distribution.

Cells carry no device-to-device spread, so element (i, j) of aihwkit's tile and of xbrun's
are the same device and differ only by the update sequence they see: per-element
statistics compare like with like. The sequences put element (0, 0) at ``w_max`` and
push it up by one pulse per update, element (1, 0) at ``w_min`` pushed down (issue 21's
first discrepancy), and give row 2 the read weight 0.55 (with a reference of 0.1 the
conductance starts above ``w_max``: the second; pow_step_reference's reference -0.1 puts
element (1, 0)'s conductance below ``w_min`` instead). The trains never need more pulses
than they have slots, except in ``managed_clipped`` (``lr max|x| max|d| / dw_min = 60``
for 31 slots), where update management clips the d side (aihwkit 1.2.0's CPU and GPU
alike).

Each configuration has its own random stream: aihwkit 1.2.0 offers no seed for its update
RNG from Python and seeds each new tile's from the clock; the xbrun test derives one seed
per configuration from its name. A single seed shared by all configurations made a 1%
bias look real once.

xbrun never imports aihwkit. This script runs only with the Python of a separate aihwkit
venv (``../shared/anchors/build-aihwkit VENV``)::

    VENV/bin/python benchmarks/aihwkit_pulse_stats.py [--reps 2000] [--out PATH]

and writes ``tests/fixtures/aihwkit_pulse_stats.json`` (numbers and the configuration only).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

M, N, T = 6, 8, 16  # tile rows (outputs), columns (inputs), rank-1 updates per sequence
DW_MIN = 0.01
OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "aihwkit_pulse_stats.json"

NO_SPREAD = dict(dw_min_dtod=0.0, up_down_dtod=0.0, w_max_dtod=0.0, w_min_dtod=0.0,
                 reset_std=0.0)
# (name, xbrun/aihwkit kind, keys: the names are aihwkit's and xbrun's alike)
CELLS = [
    ("constant", "constant_step", dict(dw_min_std=0.3)),
    ("linear_mult", "linear_step", dict(gamma_up=0.5, gamma_down=0.3, up_down=0.1,
                                        gamma_up_dtod=0.0, gamma_down_dtod=0.0,
                                        dw_min_std=0.3)),
    ("linear_add", "linear_step", dict(gamma_up=0.5, gamma_down=0.3, up_down=0.1,
                                       gamma_up_dtod=0.0, gamma_down_dtod=0.0,
                                       mult_noise=False, dw_min_std=0.3)),
    ("soft_bounds", "soft_bounds", dict(up_down=0.1, dw_min_std=0.3)),
    ("exp_step", "exp_step", dict(dw_min_std=0.3)),
    ("pow_step", "pow_step", dict(pow_gamma=1.5, pow_gamma_dtod=0.0, pow_up_down=0.2,
                                  dw_min_std=0.3)),
    ("soft_bounds_reference", "soft_bounds_reference",
     dict(up_down=0.1, reference_mean=0.1, dw_min_std=0.3)),
    # reference -0.1: element (1, 0) starts below w_min (read -0.6); none starts above w_max,
    # where aihwkit's up step is powf of a negative base, NaN, which its clip turns into
    # w_min (docs/parity.md)
    ("pow_step_reference", "pow_step_reference",
     dict(pow_gamma=1.5, pow_gamma_dtod=0.0, reference_mean=-0.1, dw_min_std=0.3)),
]
COUNTER = ("counter", "constant_step", dict(dw_min=DW_MIN, dw_min_std=0.0, w_max=1000.0,
                                            w_min=-1000.0))
# (name, UpdateParameters keys, lr in units of dw_min)
UPDATES = [
    ("managed", dict(), 1.0),
    ("managed_clipped", dict(), 60.0),  # k = 60 > BL = 31: update management clips
    ("unmanaged", dict(update_bl_management=False, update_management=False), 1.0),
    ("implicit", dict(pulse_type="deterministic_implicit", x_res_implicit=0.05,
                      d_res_implicit=0.05), 2.0),
]
AIHWKIT_CLASSES = {
    "constant_step": "ConstantStepDevice", "linear_step": "LinearStepDevice",
    "soft_bounds": "SoftBoundsDevice", "exp_step": "ExpStepDevice",
    "pow_step": "PowStepDevice", "soft_bounds_reference": "SoftBoundsReferenceDevice",
    "pow_step_reference": "PowStepReferenceDevice",
}


def sequence(torch):
    """The fixed inputs ``x (T, N)``, errors ``d (T, M)`` and start read weights
    ``w0 (M, N)`` (within +-0.42; rows 0-2 of column 0 as the docstring says)."""
    gen = torch.Generator().manual_seed(2021)
    x = torch.rand(T, N, generator=gen) * 2 - 1
    d = torch.rand(T, M, generator=gen) * 2 - 1
    x[:, 0] = 1.0  # the largest |x|: column 0 fires in every slot
    d[:, 0], d[:, 1] = -1.0, 1.0  # row 0 pushed up (-sign(x d) > 0), row 1 down, p = 1
    w0 = (torch.rand(M, N, generator=gen) * 2 - 1) * 0.42
    w0[0, 0], w0[1, 0], w0[2, :] = 0.6, -0.6, 0.55
    return x, d, w0


def configurations():
    """``(name, kind, cell keys, update keys, lr, counting)`` of every configuration."""
    out = []
    for upd_name, upd, lr_units in UPDATES:
        for cell_name, kind, keys in CELLS:
            cell = dict(NO_SPREAD, dw_min=DW_MIN, **keys)
            out.append((f"{cell_name}/{upd_name}", kind, cell, upd, lr_units * DW_MIN, False))
        name, kind, keys = COUNTER
        cell = dict(NO_SPREAD, **keys)
        out.append((f"{name}/{upd_name}", kind, cell, upd, lr_units * DW_MIN, True))
    return out


def _aihwkit_tile(kind, cell, update):
    from aihwkit.simulator import configs
    from aihwkit.simulator.configs import SingleRPUConfig, UpdateParameters
    from aihwkit.simulator.parameters.enums import PulseType
    from aihwkit.simulator.tiles.analog import AnalogTile

    device = getattr(configs, AIHWKIT_CLASSES[kind])(**cell)
    upd = dict(update)
    if "pulse_type" in upd:
        upd["pulse_type"] = {"deterministic_implicit": PulseType.DETERMINISTIC_IMPLICIT,
                             "stochastic_compressed": PulseType.STOCHASTIC_COMPRESSED}[
                                 upd["pulse_type"]]
    rpu = SingleRPUConfig(device=device, update=UpdateParameters(**upd))
    return AnalogTile(M, N, rpu).tile  # the C++ tile: no periphery between us and it


def run_configuration(torch, kind, cell, update, lr, counting, reps):
    """``(R, M*N)`` total weight changes of ``reps`` runs of the sequence."""
    x, d, w0 = sequence(torch)
    if counting:  # every element pushed up: the change over the step is the pulse count
        x, d, w0 = x.abs(), -d.abs(), torch.zeros(M, N)
    tile = _aihwkit_tile(kind, cell, update)
    tile.set_learning_rate(lr)
    start = None
    changes = torch.empty(reps, M * N, dtype=torch.float64)
    for r in range(reps):
        tile.set_weights(w0.clone())
        if start is None:
            start = tile.get_weights().clone()  # w0 clipped as aihwkit clips set weights
        tile.update(x.clone(), d.clone(), False)
        changes[r] = (tile.get_weights() - start).reshape(-1).double()
    if counting:
        changes = torch.round(changes / cell["dw_min"])
    return changes, start


def moments(changes):
    mean = changes.mean(0)
    centred = changes - mean
    var = (centred ** 2).sum(0) / (changes.shape[0] - 1)
    return mean, var.sqrt(), (centred ** 4).mean(0)


def _round(values, digits=7):
    return [float(f"{v:.{digits}g}") for v in values]


def main(argv=None) -> None:
    import aihwkit
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    x, d, w0 = sequence(torch)
    fixture = {"aihwkit": aihwkit.__version__, "reps": args.reps, "shape": [M, N, T],
               "x": [_round(r) for r in x.tolist()], "d": [_round(r) for r in d.tolist()],
               "w0": [_round(r) for r in w0.tolist()], "configs": []}
    for name, kind, cell, update, lr, counting in configurations():
        began = time.perf_counter()
        changes, start = run_configuration(torch, kind, cell, update, lr, counting, args.reps)
        mean, std, m4 = moments(changes)
        fixture["configs"].append({
            "name": name, "kind": kind, "cell": cell, "update": update, "lr": lr,
            "counting": counting, "start": _round(start.reshape(-1).tolist()),
            "mean": _round(mean.tolist()), "std": _round(std.tolist()),
            "m4": _round(m4.tolist(), 5)})
        print(f"{name:32s} {time.perf_counter() - began:6.1f} s  mean |dw| "
              f"{float(mean.abs().mean()):.3g}  std {float(std.mean()):.3g}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")
    assert math.isfinite(sum(sum(c["mean"]) for c in fixture["configs"]))


if __name__ == "__main__":
    main()
