"""Measured pulse responses: the data file, and the knot table a ``table`` cell takes from it.

The file (CSV or NPZ) holds one conductance read per row, with the columns ``device``,
``cycle``, ``direction`` (``up``/``down``, or +1/-1), ``pulse`` and ``conductance``. Each
device's rows, ordered by (cycle, up before down, pulse), form its trace; a row's step is
its conductance minus the previous row's, taken by a pulse of the row's direction (the
first row of each device is only its starting read; steps that end on the device's highest
read going up, or its lowest going down, are left out as cut by a bound). CSV lines
starting with ``#`` are comments. Conductances are taken as weights; ``normalize`` maps the
data's range onto [-1, 1] first (a cell's bounds must contain 0).

``table_from_steps`` builds what ``cells.TableCell`` needs (docs/cell_fitting.md): each
device's bounds are its lowest and highest reads; the mean up and down steps are fitted, by
linear least squares with a light curvature penalty, as piecewise-linear functions of the
relative state ``t = (w - w_min_d) / (w_max_d - w_min_d)`` on ``knots`` evenly spaced
knots (the cell's knot table, shared by a tile's elements, each on its own range); each
device's gain up and down is its steps' least-squares ratio to that mean, whose spread
gives ``dw_min_dtod`` and ``up_down_dtod``; the cycle-to-cycle noise ``dw_min_std`` is the
residual about each device's scaled mean, relative to the step; the bounds' spread gives
``w_max_dtod`` and ``w_min_dtod``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError

COLUMNS = ("device", "cycle", "direction", "pulse", "conductance")


@dataclass
class Steps:
    """The measured steps: state before the pulse, signed step, pulse up?, device index;
    ``traces`` keeps each device's reads in order for the plot."""

    w: np.ndarray
    dw: np.ndarray
    up: np.ndarray
    device: np.ndarray
    traces: list[tuple[np.ndarray, np.ndarray]]  # (reads, up flags of the pulses leading there)


def _direction(value, key: str) -> bool:
    text = str(value).strip().lower()
    if text in ("up", "+1", "1", "1.0"):
        return True
    if text in ("down", "-1", "-1.0"):
        return False
    raise ConfigError(f"{key}: direction: expected up or down (or +1/-1), got {value!r}")


def read_data(path: str, normalize: bool = False, key: str = "FILE",
              normalize_key: str = "--normalize") -> Steps:
    """The steps of the file at ``path`` (module docstring); errors name ``key``, and
    ``normalize_key`` where normalizing would help."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{key}: {path} is not a file")
    try:
        if file.suffix == ".npz":
            data = np.load(file, allow_pickle=False)
            missing = [c for c in COLUMNS if c not in data]
            cols = {c: list(data[c]) for c in COLUMNS if c in data}
        else:
            lines = [line for line in file.read_text().splitlines()
                     if line.strip() and not line.lstrip().startswith("#")]
            rows = list(csv.DictReader(lines))
            header = [h.strip() for h in (csv.reader(lines[:1]).__next__() if lines else [])]
            missing = [c for c in COLUMNS if c not in header]
            cols = {c: [r[c] for r in rows] for c in COLUMNS if c in header}
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise ConfigError(f"{key}: cannot read {path} ({err})") from None
    if missing:
        raise ConfigError(f"{key}: {path} lacks the columns {', '.join(missing)}; expected "
                          f"{', '.join(COLUMNS)}")
    try:
        g = np.asarray(cols["conductance"], dtype=np.float64)
        cycle = np.asarray(cols["cycle"], dtype=np.float64)
        pulse = np.asarray(cols["pulse"], dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{key}: conductance, cycle and pulse must be numbers "
                          f"({err})") from None
    if not np.isfinite(g).all() or g.size < 8:
        raise ConfigError(f"{key}: expected at least 8 rows of finite conductances")
    up = np.array([_direction(v, key) for v in cols["direction"]])
    names = [str(d) for d in cols["device"]]
    if normalize:
        lo, hi = g.min(), g.max()
        if hi <= lo:
            raise ConfigError(f"{key}: {normalize_key} needs conductances that are not all "
                              f"equal")
        g = 2 * (g - lo) / (hi - lo) - 1
    elif g.min() > 0 or g.max() < 0:
        raise ConfigError(f"{key}: the conductances lie in [{g.min():.4g}, {g.max():.4g}], "
                          f"which does not contain 0 as a cell's bounds must; add "
                          f"{normalize_key}")
    ws, dws, ups, devs, traces = [], [], [], [], []
    for k, name in enumerate(dict.fromkeys(names)):
        rows = [i for i, n in enumerate(names) if n == name]
        rows.sort(key=lambda i: (cycle[i], not up[i], pulse[i]))
        reads, flags = g[rows], up[rows]
        # a step that ends on the device's highest (up) or lowest (down) read was cut
        # short by the bound, or taken there: not a step of the cell's mean response
        top, bottom = reads.max(), reads.min()
        keep = np.where(flags[1:], reads[1:] < top, reads[1:] > bottom)
        ws.append(reads[:-1][keep])
        dws.append(np.diff(reads)[keep])
        ups.append(flags[1:][keep])
        devs.append(np.full(int(keep.sum()), k))
        traces.append((reads, flags))
    return Steps(np.concatenate(ws), np.concatenate(dws), np.concatenate(ups),
                 np.concatenate(devs), traces)


@dataclass
class Table:
    """A table cell's keys from data (``TableCell``'s names) and the fit's quality."""

    piecewise_up: list[float]  # the knots, relative to dw_min
    piecewise_down: list[float]
    dw_min: float  # mean of the up and down steps at w = 0
    w_max: float
    w_min: float
    dw_min_std: float
    dw_min_dtod: float
    up_down_dtod: float
    w_max_dtod: float
    w_min_dtod: float
    rms: float  # rms residual of the mean step (weight units)
    errors: tuple[list[float], list[float]]  # 1 sd of each knot, relative to dw_min

    def keys(self) -> dict:
        """The cell keys, as ``TableCell`` takes them."""
        return {k: getattr(self, k) for k in (
            "dw_min", "w_max", "w_min", "dw_min_std", "dw_min_dtod", "up_down_dtod",
            "w_max_dtod", "w_min_dtod", "piecewise_up", "piecewise_down")}


def hat_basis(t: np.ndarray, knots: int) -> np.ndarray:
    """``(len(t), knots)``: linear interpolation weights of each state on the knot grid."""
    pos = np.clip(t, 0.0, 1.0) * (knots - 1)
    q = np.minimum(np.floor(pos).astype(int), knots - 2)
    f = pos - q
    basis = np.zeros((len(t), knots))
    basis[np.arange(len(t)), q] = 1 - f
    basis[np.arange(len(t)), q + 1] += f
    return basis


def _spread(values: np.ndarray, relative: bool) -> float:
    if len(values) < 2:
        return 0.0
    sd = float(values.std(ddof=1))
    mean = float(abs(values.mean()))
    return sd / mean if relative and mean > 0 else sd


def table_from_steps(steps: Steps, knots: int = 16, key: str = "FILE") -> Table:
    """The table cell of ``steps`` (module docstring); ``knots`` per direction."""
    n_dev = len(steps.traces)
    lo = np.array([min(float(r.min()), 0.0) for r, _ in steps.traces])
    hi = np.array([max(float(r.max()), 0.0) for r, _ in steps.traces])
    if (hi <= lo).any():
        raise ConfigError(f"{key}: a device whose reads do not move has no pulse response")
    t = (steps.w - lo[steps.device]) / (hi - lo)[steps.device]
    mag = np.where(steps.up, steps.dw, -steps.dw)  # the step in the pulse's direction
    basis = hat_basis(t, knots)
    curvature = np.diff(np.eye(knots), 2, axis=0)
    means, errors, gains = [], [], []
    for direction in (True, False):
        sel = steps.up == direction
        if sel.sum() < 2:
            raise ConfigError(f"{key}: expected steps up and down, got "
                              f"{int(sel.sum())} {'up' if direction else 'down'}")
        a, y = basis[sel], mag[sel]
        gram = a.T @ a
        penalty = 1e-3 * np.trace(gram) / knots  # fills knots without data, barely bends
        inverse = np.linalg.pinv(gram + penalty * curvature.T @ curvature)
        coef = np.clip(inverse @ a.T @ y, 0.0, None)
        resid = y - a @ coef
        var = float(resid @ resid) / max(len(y) - knots, 1)
        errors.append(np.sqrt(np.clip(np.diag(inverse @ gram @ inverse) * var, 0, None)))
        means.append(coef)
        pred = a @ coef
        dev = steps.device[sel]
        gains.append(np.array([
            float(pred[dev == d] @ y[dev == d]) / max(float(pred[dev == d] @ pred[dev == d]),
                                                       1e-300)
            if (dev == d).any() else 1.0 for d in range(n_dev)]))
    g_up, g_down = gains
    gain = 0.5 * (g_up + g_down)
    scaled = np.empty_like(mag)
    for direction, g, coef in ((True, g_up, means[0]), (False, g_down, means[1])):
        sel = steps.up == direction
        scaled[sel] = g[steps.device[sel]] * (basis[sel] @ coef)
    resid = mag - scaled
    noise = float(np.sqrt((resid @ resid) / max(float(scaled @ scaled), 1e-300)))
    pooled = np.where(steps.up, basis @ means[0], basis @ means[1])
    w_max, w_min = float(hi.mean()), float(lo.mean())
    at_zero = hat_basis(np.array([-w_min / (w_max - w_min)]), knots)[0]
    dw_min = 0.5 * float(at_zero @ means[0] + at_zero @ means[1])
    if not dw_min > 0:
        dw_min = float(max(means[0].max(), means[1].max()))
    if not dw_min > 0:
        raise ConfigError(f"{key}: the data show no mean step up or down")
    return Table(
        piecewise_up=[float(v) for v in means[0] / dw_min],
        piecewise_down=[float(v) for v in means[1] / dw_min],
        dw_min=dw_min, w_max=w_max, w_min=w_min, dw_min_std=noise,
        dw_min_dtod=_spread(gain, True),
        up_down_dtod=_spread(0.5 * (g_up - g_down) / max(float(gain.mean()), 1e-300), False),
        w_max_dtod=_spread(hi, True), w_min_dtod=_spread(lo, True),
        rms=float(np.sqrt(np.mean((mag - pooled) ** 2))),
        errors=([float(v) for v in errors[0] / dw_min], [float(v) for v in errors[1] / dw_min]))


__all__ = ["COLUMNS", "Steps", "Table", "hat_basis", "read_data", "table_from_steps"]
