"""``xbrun cells fit``: a unit cell's parameters fitted to measured pulse responses.

The data format (CSV or NPZ: ``device``, ``cycle``, ``direction``, ``pulse``, ``conductance``)
and how steps are read from it are those of :mod:`xbrun.physics.pulse_data`, which this
command reads with; ``--normalize`` maps the data's range onto [-1, 1] first (the cells'
bounds must contain 0).

The mean step as a function of the state is fitted by least squares (scipy's
``least_squares``, as aihwkit's device-fitting notebook does; scipy comes with
scikit-learn, a dependency) to the chosen family, on all
devices together (the nominal device); its fit errors are 1 sd from the Jacobian. The
cycle-to-cycle noise ``dw_min_std`` is the rms of the residuals relative to the modelled
step; with several devices, each is fitted alone and the spread of their parameters gives
the device-to-device keys (``*_dtod``, relative to the mean). ``--model table`` builds
a lookup-table cell instead (``physics/pulse_data.table_from_steps``: piecewise-linear mean
steps on ``--knots`` knots, per-device gains, residual noise). The result is a cell option
file ``DIR/cell/NAME.yaml`` that ``xbrun train cell=NAME
'hydra.searchpath=[file://DIR]'`` loads.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from .errors import ConfigError
from .physics.cells import CELLS, TableCell
from .physics.pulse_data import COLUMNS, Steps, hat_basis, read_data, table_from_steps

MODELS = ("soft_bounds", "exp_step", "pow_step", "linear_step", "table")


# -- the families: mean step magnitude up and down at state w --------------------------
def _scales(dw_min, up_down):
    return dw_min * (1 + min(up_down, 0.0)), dw_min * (1 - max(up_down, 0.0))


def _soft_bounds(p, w, bounds):
    dw_min, up_down, w_max, w_min = p
    su, sd = _scales(dw_min, up_down)
    return su * (1 - w / w_max), sd * (1 - w / w_min)


def _linear_step(p, w, bounds):
    dw_min, up_down, gamma_up, gamma_down = p
    su, sd = _scales(dw_min, up_down)
    return su * (1 - gamma_up * w / bounds[1]), sd * (1 - gamma_down * w / bounds[0])


def _exp_step(p, w, bounds, a=0.244, b=0.2425):  # a, b: ExpStep's defaults, kept
    dw_min, up_down, a_up, a_down, g_up, g_down = p
    su, sd = _scales(dw_min, up_down)
    z = 2 * a * w / (bounds[1] - bounds[0]) + b
    up = su * np.maximum(1 - a_up * np.exp(np.minimum(g_up * z, 80.0)), 0.0)
    down = sd * np.maximum(1 - a_down * np.exp(np.minimum(-g_down * z, 80.0)), 0.0)
    return up, down


def _pow_step(p, w, bounds):
    dw_min, up_down, pow_gamma, pow_up_down, w_max, w_min = p
    su, sd = _scales(dw_min, up_down)
    g_up = pow_gamma * (min(pow_up_down, 0.0) + 1)
    g_down = pow_gamma * (1 - max(pow_up_down, 0.0))
    span = max(w_max - w_min, 1e-12)
    up = su * np.clip((w_max - w) / span, 0.0, None) ** g_up
    down = sd * np.clip((w - w_min) / span, 0.0, None) ** g_down
    return up, down


#: family -> (step function, fitted keys, lower and upper limits, whether bounds are fitted)
FAMILIES = {
    "soft_bounds": (_soft_bounds, ("dw_min", "up_down", "w_max", "w_min"),
                    ([1e-9, -0.99, 1e-6, -np.inf], [np.inf, 0.99, np.inf, -1e-6]), True),
    "linear_step": (_linear_step, ("dw_min", "up_down", "gamma_up", "gamma_down"),
                    ([1e-9, -0.99, -10, -10], [np.inf, 0.99, 10, 10]), False),
    "exp_step": (_exp_step, ("dw_min", "up_down", "A_up", "A_down", "gamma_up", "gamma_down"),
                 ([1e-9, -0.99, 0, 0, 0, 0], [np.inf, 0.99, np.inf, np.inf, 100, 100]), False),
    "pow_step": (_pow_step, ("dw_min", "up_down", "pow_gamma", "pow_up_down", "w_max", "w_min"),
                 ([1e-9, -0.99, 1e-3, -0.99, 1e-6, -np.inf],
                  [np.inf, 0.99, 20, 0.99, np.inf, -1e-6]), True),
}


@dataclass
class Fit:
    model: str
    values: dict[str, float]
    errors: dict[str, float]
    noise: float  # dw_min_std
    rms: float  # rms residual of the mean step
    bounds: tuple[float, float]  # (w_min, w_max) of the cell


def _initial(model: str, steps: Steps, bounds: tuple[float, float]) -> list[float]:
    scale = float(np.median(np.abs(steps.dw))) or 1e-3
    lo, hi = bounds
    if model == "soft_bounds":
        return [2 * scale, 0.0, hi + 0.1 * (hi - lo), lo - 0.1 * (hi - lo)]
    if model == "linear_step":
        return [scale, 0.0, 0.1, 0.1]
    if model == "exp_step":
        d = CELLS["exp_step"]()
        return [scale, 0.0, d.A_up, d.A_down, d.gamma_up, d.gamma_down]
    return [2 * scale, 0.0, 1.0, 0.0, hi + 0.1 * (hi - lo), lo - 0.1 * (hi - lo)]


def fit_mean(model: str, steps: Steps, select=None) -> Fit:
    """Least-squares fit of ``model``'s mean step to ``steps`` (those where ``select``)."""
    from scipy.optimize import least_squares

    func, keys, limits, fits_bounds = FAMILIES[model]
    sel = np.ones_like(steps.up) if select is None else select
    w, dw, up = steps.w[sel], steps.dw[sel], steps.up[sel]
    reads = np.concatenate([steps.traces[k][0] for k in np.unique(steps.device[sel])])
    bounds = (min(float(reads.min()), 0.0), max(float(reads.max()), 0.0))
    mag = np.where(up, dw, -dw)  # the step in the pulse's direction

    def modelled(p):
        m_up, m_down = func(p, w, bounds)
        return np.where(up, m_up, m_down)

    lo, hi = (np.array(x, float) for x in limits)
    hi[0] = 0.5 * (bounds[1] - bounds[0])  # dw_min: a cell needs a step below its range
    x0 = np.clip(_initial(model, steps, bounds), lo + 1e-9, hi - 1e-9)
    result = least_squares(lambda p: modelled(p) - mag, x0, bounds=(lo, hi), x_scale="jac")
    resid = result.fun
    dof = max(len(mag) - len(keys), 1)
    jtj = result.jac.T @ result.jac
    cov = np.linalg.pinv(jtj) * float(resid @ resid) / dof
    errors = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    mean = modelled(result.x)
    big = np.abs(mean) > 0.1 * result.x[0]
    noise = float(np.sqrt(np.mean((resid[big] / mean[big]) ** 2))) if big.any() else 0.0
    values = dict(zip(keys, map(float, result.x), strict=True))
    cell_bounds = (values["w_min"], values["w_max"]) if fits_bounds else bounds
    return Fit(model, values, dict(zip(keys, map(float, errors), strict=True)), noise,
               float(np.sqrt(np.mean(resid ** 2))), cell_bounds)


#: fitted key -> its device-to-device key (relative spread, or absolute for up_down-like)
_DTOD = {"dw_min": ("dw_min_dtod", True), "w_max": ("w_max_dtod", True),
         "w_min": ("w_min_dtod", True), "up_down": ("up_down_dtod", False),
         "gamma_up": ("gamma_up_dtod", False), "gamma_down": ("gamma_down_dtod", False),
         "pow_gamma": ("pow_gamma_dtod", True), "pow_up_down": ("pow_up_down_dtod", False)}


def _table_steps(p, w, bounds):
    """The table cell's mean steps: ``p`` = dw_min, then K up and K down knot factors."""
    knots = (len(p) - 1) // 2
    basis = hat_basis((np.asarray(w) - bounds[0]) / (bounds[1] - bounds[0]), knots)
    return p[0] * (basis @ p[1:1 + knots]), p[0] * (basis @ p[1 + knots:])


def _steps_of(model: str):
    return _table_steps if model == "table" else FAMILIES[model][0]


def fit_table(steps: Steps, knots: int = 16) -> tuple[Fit, TableCell, dict[str, float]]:
    """``fit_cell`` for the table cell: its fit (values ``dw_min``, ``up_q``, ``down_q``;
    knot errors relative to dw_min), the cell (validated) and its spreads."""
    table = table_from_steps(steps, knots, key="FILE")
    cell = replace(TableCell(), up_down=0.0, knots=knots, **table.keys())
    cell.validate("cell")
    values = {"dw_min": table.dw_min,
              **{f"up_{q}": v for q, v in enumerate(table.piecewise_up)},
              **{f"down_{q}": v for q, v in enumerate(table.piecewise_down)}}
    errors = {"dw_min": 0.0,
              **{f"up_{q}": v for q, v in enumerate(table.errors[0])},
              **{f"down_{q}": v for q, v in enumerate(table.errors[1])}}
    dtod = {k: getattr(table, k) for k in ("dw_min_dtod", "up_down_dtod", "w_max_dtod",
                                           "w_min_dtod")}
    fit = Fit("table", values, errors, table.dw_min_std, table.rms, (table.w_min, table.w_max))
    return fit, cell, dtod


def fit_cell(model: str, steps: Steps) -> tuple[Fit, object, dict[str, float]]:
    """The nominal fit, the cell it gives (validated) and its device-to-device keys."""
    if model not in MODELS:
        raise ConfigError(f"--model: expected one of {', '.join(MODELS)}, got {model!r}")
    if model == "table":
        return fit_table(steps)
    nominal = fit_mean(model, steps)
    n_dev = len(steps.traces)
    per = [fit_mean(model, steps, steps.device == k) for k in range(n_dev)] if n_dev > 1 else []
    if per:  # the cycle-to-cycle noise about each device's own mean, not about the pool's
        nominal = replace(nominal, noise=float(np.sqrt(np.mean([f.noise ** 2 for f in per]))))
    dtod: dict[str, float] = {}
    keys = [k for k in FAMILIES[model][1] if k in _DTOD]
    if not FAMILIES[model][3]:  # bounds from the data: their spread across devices
        keys += ["w_max", "w_min"]
    for key in keys:
        name, relative = _DTOD[key]
        if not per:
            dtod[name] = 0.0
            continue
        vals = np.array([f.values[key] if key in f.values else
                         f.bounds[key == "w_max"] for f in per])
        sd = float(vals.std(ddof=1))
        mean = float(abs(vals.mean()))
        dtod[name] = sd / mean if relative and mean > 0 else sd
    cls = CELLS[model]
    known = {f.name for f in fields(cls)}
    settings = {k: v for k, v in nominal.values.items() if k in known}
    settings.update(w_min=nominal.bounds[0], w_max=nominal.bounds[1],
                    dw_min_std=nominal.noise, **{k: v for k, v in dtod.items() if k in known})
    if model == "linear_step":
        settings.update(mean_bound_reference=True)
    cell = replace(cls(), **settings)
    cell.validate("cell")
    return nominal, cell, {k: v for k, v in dtod.items() if k in known}


def write_option(cell, fit: Fit, dtod: dict, source: str, folder: str, name: str,
                 n_steps: int, n_devices: int) -> Path:
    """Write ``folder/cell/name.yaml``: the cell's schema plus the fitted keys."""
    path = Path(folder).expanduser().absolute() / "cell" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    if fit.model == "table":
        keys = ["dw_min", "w_max", "w_min", "dw_min_std", "up_down", *dtod, "knots",
                "piecewise_up", "piecewise_down"]
        errors = f"knots up to {max(fit.errors.values()):.3g} (relative to dw_min)"
    else:
        keys = [*fit.values, "w_max", "w_min", "dw_min_std", *dtod]
        errors = ", ".join(f"{k} {v:.3g}" for k, v in fit.errors.items())
    if fit.model == "linear_step":
        keys.append("mean_bound_reference")
    lines = [f"# Fitted by `xbrun cells fit {source} --model {fit.model}` to {n_steps} steps "
             f"of {n_devices} device(s).",
             f"# Fit errors (1 sd): {errors}; rms residual of the mean step {fit.rms:.3g}.",
             f"# Load it with: xbrun train cell={name} "
             f"'hydra.searchpath=[file://{path.parent.parent}]'",
             "defaults:", f"  - /schema/cell/{fit.model}@_here_", "  - _self_"]
    for key in dict.fromkeys(keys):
        value = getattr(cell, key)
        lines.append(f"{key}: {str(value).lower() if isinstance(value, bool) else repr(value)}")
    path.write_text("\n".join(lines) + "\n")
    return path


def modelled_trace(fit: Fit, reads: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """The nominal model's reads along a measured pulse sequence (no noise, clipped)."""
    func = _steps_of(fit.model)
    p = np.array(list(fit.values.values()))
    lo, hi = fit.bounds
    out = [reads[0]]
    for up in flags[1:]:
        m_up, m_down = func(p, np.array([out[-1]]), fit.bounds)
        out.append(float(np.clip(out[-1] + (m_up[0] if up else -m_down[0]), lo, hi)))
    return np.array(out)


def plot_fit(fit: Fit, steps: Steps, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    for k, (reads, flags) in enumerate(steps.traces):
        x = np.arange(len(reads))
        left.plot(x, reads, lw=0.6, alpha=0.7, label="measured" if k == 0 else None)
        left.plot(x, modelled_trace(fit, reads, flags), color="black", lw=1.0,
                  label="model" if k == 0 else None)
    left.set_xlabel("pulse number")
    left.set_ylabel("conductance (weight)")
    left.legend(fontsize=7)
    grid = np.linspace(fit.bounds[0], fit.bounds[1], 200)
    m_up, m_down = _steps_of(fit.model)(np.array(list(fit.values.values())), grid, fit.bounds)
    right.scatter(steps.w[steps.up], steps.dw[steps.up], s=3, alpha=0.4, label="up, measured")
    right.scatter(steps.w[~steps.up], steps.dw[~steps.up], s=3, alpha=0.4,
                  label="down, measured")
    right.plot(grid, m_up, color="black", lw=1.2, label="model")
    right.plot(grid, -m_down, color="black", lw=1.2)
    right.set_xlabel("state before the pulse")
    right.set_ylabel("step")
    right.legend(fontsize=7)
    fig.suptitle(f"{fit.model} fit")
    fig.tight_layout()
    from .training.outputs import save_figure

    save_figure(Path(path), fig, dpi=120)
    plt.close(fig)


def simulate(cell, devices: int, cycles: int, pulses: int, seed: int) -> list[tuple]:
    """Rows ``(device, cycle, direction, pulse, conductance)`` of ``devices`` elements of
    ``cell`` (its spread and noise, the training pulse kernel), each read at its lower bound,
    then ``cycles`` times ``pulses`` up and ``pulses`` down pulses."""
    import torch

    from . import kernels

    gen = torch.Generator().manual_seed(seed)
    params = cell.sample((1, devices), gen).double()
    w = params[kernels.ROW_W_MIN].clone()
    rows = [(d, 0, "up", 0, float(w[0, d])) for d in range(devices)]
    for c in range(cycles):
        for direction in ("up", "down"):
            for p in range(1, pulses + 1):
                xi = torch.randn(w.shape, generator=gen, dtype=torch.float64)
                w = kernels.single_pulse_torch(
                    w, torch.full_like(w, direction == "up", dtype=torch.bool), params,
                    cell_kind=cell.kernel_kind, noise_std=cell.noise_std,
                    mult_noise=cell.mult_noise, xi=xi, cell_scalars=cell.cell_scalars,
                    cell_table=getattr(cell, "cell_table", None))
                rows += [(d, c, direction, p, float(w[0, d])) for d in range(devices)]
    return rows


def write_csv(rows: list[tuple], path: str, comment: str = "") -> None:
    lines = [f"# {line}" for line in comment.splitlines()] + [",".join(COLUMNS)]
    lines += [f"{d},{c},{s},{p},{g:.6g}" for d, c, s, p, g in rows]
    Path(path).write_text("\n".join(lines) + "\n")


#: the shipped example (examples/data/soft_bounds_pulses.csv): generated, not measured
EXAMPLE_CELL = dict(dw_min=0.05, up_down=0.1, w_max=0.6, w_min=-0.5, dw_min_dtod=0.1,
                    up_down_dtod=0.0, w_max_dtod=0.05, w_min_dtod=0.05, dw_min_std=0.2)
EXAMPLE = dict(devices=3, cycles=1, pulses=40, seed=0)


def write_example(path: str) -> None:
    """Regenerate the shipped example file (see ``EXAMPLE_CELL``)."""
    cell = replace(CELLS["soft_bounds"](), **EXAMPLE_CELL)
    text = ("Example pulse responses, GENERATED (not measured) by xbrun.cells_fit.write_example:\n"
            f"soft_bounds cell {EXAMPLE_CELL}\n"
            f"{EXAMPLE['devices']} devices, {EXAMPLE['cycles']} cycle of "
            f"{EXAMPLE['pulses']} up then {EXAMPLE['pulses']} down pulses, seed "
            f"{EXAMPLE['seed']}, each device starting at its lower bound.")
    write_csv(simulate(cell, **EXAMPLE), path, text)


def fit_command(argv: list[str]) -> None:
    from .composition import Parser, fail, plot_path
    from .config import options

    parser = Parser(prog="xbrun cells fit",
                    description="Fit a cell family to measured pulse responses (CSV or NPZ "
                                "with columns device, cycle, direction, pulse, conductance) "
                                "and write a cell option file that `cell=NAME` loads.")
    parser.add_argument("file", metavar="FILE")
    parser.add_argument("--model", default="soft_bounds",
                        help="|".join(MODELS) + " (default: soft_bounds)")
    parser.add_argument("--out", default="cells", metavar="DIR",
                        help="writes DIR/cell/NAME.yaml (default: ./cells)")
    parser.add_argument("--name", default=None, help="option name (default: fitted_MODEL)")
    parser.add_argument("--normalize", action="store_true",
                        help="map the data's conductance range onto [-1, 1] first")
    parser.add_argument("--plot", metavar="FILE.png", help="measured against modelled")
    parser.add_argument("--knots", type=int, default=16, metavar="K",
                        help="knots of --model table (2 to 64, default 16)")
    args = parser.parse_args(argv)
    name = args.name or f"fitted_{args.model}"
    try:
        if args.model not in MODELS:
            raise ConfigError(f"--model: expected one of {', '.join(MODELS)}, "
                              f"got {args.model!r}")
        if not name.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(f"--name: expected letters, digits, _ or -, got {name!r}")
        if name in options("cell"):
            raise ConfigError(f"--name: {name} is a shipped cell option; choose another name")
        plot = plot_path(args.plot) if args.plot else None
        if not 2 <= args.knots <= 64:
            raise ConfigError(f"--knots: expected an integer in [2, 64], got {args.knots}")
        steps = read_data(args.file, args.normalize)
        fit, cell, dtod = (fit_table(steps, args.knots) if args.model == "table"
                           else fit_cell(args.model, steps))
    except ConfigError as err:
        fail(str(err))
    print(f"{args.model} fitted to {len(steps.w)} steps of {len(steps.traces)} device(s); "
          f"rms residual of the mean step {fit.rms:.3g}")
    if fit.model == "table":
        print(f"  {'dw_min':<12} {cell.dw_min:.5g}  (mean of the steps up and down at w = 0)")
        print(f"  {'w_min, w_max':<12} {cell.w_min:+.5g}, {cell.w_max:+.5g}")
        print("  knot  state      up (x dw_min)     down (x dw_min)")
        for q in range(cell.knots):
            state = cell.w_min + q * (cell.w_max - cell.w_min) / (cell.knots - 1)
            print(f"  {q:>4}  {state:+.4f}  {fit.values[f'up_{q}']:7.4f} +- "
                  f"{fit.errors[f'up_{q}']:.2g}  {fit.values[f'down_{q}']:7.4f} +- "
                  f"{fit.errors[f'down_{q}']:.2g}")
    else:
        for key, value in fit.values.items():
            print(f"  {key:<12} {value:+.5g} +- {fit.errors[key]:.2g}")
    print(f"  {'dw_min_std':<12} {fit.noise:.4g}  (rms residual relative to the step)")
    for key, value in dtod.items():
        print(f"  {key:<12} {value:.4g}" + ("" if len(steps.traces) > 1 else "  (one device)"))
    path = write_option(cell, fit, dtod, args.file, args.out, name, len(steps.w),
                        len(steps.traces))
    print(f"cell option written to {path}")
    print(f"train with it: xbrun train cell={name} "
          f"'hydra.searchpath=[file://{path.parent.parent}]'")
    if plot:
        plot_fit(fit, steps, plot)
        print(f"fit plot written to {plot}")
