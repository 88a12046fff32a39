"""``xbrun cells``: what a configured unit cell looks like, so a user can see the device.

For each chosen ``conf/cell`` option (all by default; ``cell.KEY=VALUE`` overrides apply to
every one) it prints a table of the nominal device (no device-to-device spread, no
cycle-to-cycle noise): number of states, the step at w = 0 up and down, the asymmetry, the
symmetry point (where up and down steps are equal: the weight that alternating up/down
pulses drift to) and the bounds. ``--plot FILE.png`` draws the pulse response - weight
against pulse number for an up-then-down sweep - of the nominal device and of a few sampled
devices with their spread and noise, using the same pulse kernel as training.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from . import kernels
from .errors import ConfigError
from .physics.cells import PulsedCell


def load_cells(names: list[str], overrides: list[str]) -> list[tuple[str, object]]:
    """The typed cell configs of ``names`` (conf/cell options) with ``overrides`` applied."""
    from .composition import compose, group_options, parse_overrides

    def build(name: str):
        return compose([f"cell={name}", *overrides]).cell

    options = group_options("cell")
    for name in names:
        if name not in options:
            raise ConfigError(f"cell={name}: no such option; choose one of "
                              f"{', '.join(options)}")
    for item in overrides:
        if not item.startswith("cell."):
            raise ConfigError(f"{item}: only cell.KEY=VALUE overrides apply here")
    parse_overrides(overrides)
    return [(name, build(name)) for name in names or options]


def _params(cell: PulsedCell, n: int, seed: int) -> torch.Tensor:
    return cell.sample((1, n), torch.Generator().manual_seed(seed))


def _step(cell: PulsedCell, params: torch.Tensor, w: torch.Tensor, up: bool,
          noise: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
    """Weight after one pulse on every element of ``w`` (shape ``(1, n)``)."""
    sigma = cell.noise_std if noise else 0.0
    xi = torch.randn(w.shape, generator=generator) if sigma > 0 else None
    return kernels.single_pulse_torch(
        w, torch.full_like(w, up, dtype=torch.bool), params, cell_kind=cell.kernel_kind,
        noise_std=sigma, mult_noise=cell.mult_noise, xi=xi, cell_scalars=cell.cell_scalars,
        cell_table=getattr(cell, "cell_table", None))


def _reference(cell: PulsedCell, params: torch.Tensor, seed: int) -> torch.Tensor | float:
    """What reads subtract from the conductance: a reference cell's drawn reference."""
    if not cell.has_reference:
        return 0.0
    return cell.sample_reference(params, torch.Generator().manual_seed(seed))[0].to(params)


def cell_stats(cell: PulsedCell, grid: int = 4001) -> dict:
    """Nominal-device figures of a pulsed cell (see the module docstring); a reference
    cell's are in read weights (conductance minus its nominal reference)."""
    nominal = cell.nominal()
    params = _params(nominal, grid, 0).double()
    offset = float(_reference(nominal, params[:, :, :1], 0).flatten()[0]) \
        if cell.has_reference else 0.0
    w_lo, w_hi = float(params[kernels.ROW_W_MIN, 0, 0]), float(params[kernels.ROW_W_MAX, 0, 0])
    w = torch.linspace(w_lo, w_hi, grid, dtype=torch.float64)[None]
    # steps are measured away from the clip, so a bound does not hide them
    up = _step(nominal, params, w, True) - w
    down = w - _step(nominal, params, w, False)
    zero = int(torch.argmin((w - offset).abs()))  # read weight 0
    up0, down0 = float(up[0, zero]), float(down[0, zero])
    # only where neither step is cut by a bound
    free = ((w + up) < w_hi) & ((w - down) > w_lo)
    diff = (up - down)[free]
    ws = w[free]
    scale = float(torch.maximum(up.abs().max(), down.abs().max()))
    if float(diff.abs().max()) <= 1e-6 * scale:
        sym = "anywhere (equal steps)"
    else:
        sign = torch.sign(diff)
        cross = ((sign[:-1] * sign[1:]) <= 0).nonzero()
        if cross.numel():
            i = int(cross[0])
            d0, d1 = float(diff[i]), float(diff[i + 1])
            t = d0 / (d0 - d1) if d0 != d1 else 0.0
            sym = f"{float(ws[i]) + t * float(ws[i + 1] - ws[i]) - offset:+.4f}"
        else:
            sym = "w_max (drifts up)" if float(diff.mean()) > 0 else "w_min (drifts down)"
    asym = (up0 - down0) / (up0 + down0) if up0 + down0 > 0 else float("nan")
    return {"kind": cell.kind, "states": cell.n_states, "granularity": cell.weight_granularity,
            "up0": up0, "down0": down0, "asymmetry": asym, "symmetry_point": sym,
            "w_min": w_lo - offset, "w_max": w_hi - offset, "dtod": cell.dw_min_dtod,
            "ctoc": cell.dw_min_std}


def sweep(cell: PulsedCell, pulses: int, devices: int, seed: int = 0,
          noise: bool = True) -> torch.Tensor:
    """Read weights ``(devices, 2*pulses + 1)`` of ``devices`` sampled elements, each
    started at its lower bound, through ``pulses`` up then ``pulses`` down pulses."""
    params = _params(cell, devices, seed)
    reference = _reference(cell, params, seed + 2)
    gen = torch.Generator().manual_seed(seed + 1)
    w = params[kernels.ROW_W_MIN].clone()
    trace = [(w - reference)[0]]
    for p in range(2 * pulses):
        w = _step(cell, params, w, p < pulses, noise=noise, generator=gen)
        trace.append((w - reference)[0])
    return torch.stack(trace, dim=1)


def plot_sweeps(cells: list[tuple[str, PulsedCell]], path: str, devices: int,
                seed: int, max_pulses: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(cells)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, (name, cell) in zip(axes.flat, cells, strict=False):
        pulses = min(max_pulses, math.ceil(1.2 * cell.n_states))
        sampled = sweep(cell, pulses, devices, seed)
        nominal = sweep(cell.nominal(), pulses, 1, seed, noise=False)
        x = torch.arange(2 * pulses + 1)
        for trace in sampled:
            ax.plot(x, trace, lw=0.6, alpha=0.6)
        ax.plot(x, nominal[0], color="black", lw=1.6, label="nominal")
        ax.axvline(pulses, color="grey", lw=0.6, ls=":")
        ax.set_title(f"{name} ({cell.kind})", fontsize=10)
        ax.set_xlabel("pulse number (up, then down)")
        ax.set_ylabel("weight")
        ax.legend(fontsize=7, loc="lower center")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    from .training.outputs import save_figure

    save_figure(Path(path), fig, dpi=120)
    plt.close(fig)


def print_table(cells: list[tuple[str, object]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="unit cells (nominal device: no spread, no noise)")
    for col in ("cell", "kind", "states", "dw_min (granularity)", "step up / down at 0",
                "asymmetry", "symmetry point", "bounds", "dtod / ctoc"):
        table.add_column(col, justify="left" if col in ("cell", "kind") else "right")
    for name, cell in cells:
        if not cell.is_pulsed:
            table.add_row(name, cell.kind, "inf", "0", "exact", "0", "-", "none", "-")
            continue
        s = cell_stats(cell)
        table.add_row(name, s["kind"], f"{s['states']:.0f}", f"{s['granularity']:.3g}",
                      f"{s['up0']:.3g} / {s['down0']:.3g}", f"{s['asymmetry']:+.3f}",
                      s["symmetry_point"], f"[{s['w_min']:.3g}, {s['w_max']:.3g}]",
                      f"{s['dtod']:g} / {s['ctoc']:g}")
    Console(width=180).print(table)


def cells_command(argv: list[str]) -> None:
    from .composition import Parser, fail, plot_path

    parser = Parser(
        prog="xbrun cells",
        description="Table (and pulse-response plot) of conf/cell options.")
    parser.add_argument("items", nargs="*", metavar="NAME|cell.KEY=VALUE",
                        help="cell options (default: all) and overrides for them")
    parser.add_argument("--plot", metavar="FILE.png", help="draw up/down pulse sweeps")
    parser.add_argument("--devices", type=int, default=5, help="sampled devices per plot")
    parser.add_argument("--pulses", type=int, default=20000,
                        help="most pulses per sweep direction")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampled devices")
    args = parser.parse_args(argv)
    if not 0 <= args.devices <= 1000 or not 1 <= args.pulses <= 10**7:
        fail("--devices: expected an integer in [0, 1000] and --pulses one in [1, 10000000], "
             f"got {args.devices} and {args.pulses}")
    if not 0 <= args.seed <= 2**32 - 1:
        fail(f"--seed: expected an integer in [0, 4294967295], got {args.seed}")
    names = [i for i in args.items if "=" not in i]
    overrides = [i for i in args.items if "=" in i]
    try:
        cells = load_cells(names, overrides)
        if args.plot and not any(c.is_pulsed for _, c in cells):
            raise ConfigError("--plot: the chosen cells have no pulse response (ideal)")
        plot = plot_path(args.plot) if args.plot else None
    except ConfigError as err:
        fail(str(err))
    except Exception as err:  # a Hydra error about an override
        from .composition import explain_hydra_error

        fail(explain_hydra_error(err))
    print_table(cells)
    if plot:
        pulsed = [(n, c) for n, c in cells if c.is_pulsed]
        plot_sweeps(pulsed, plot, args.devices, args.seed, args.pulses)
        print(f"pulse response written to {plot}")
