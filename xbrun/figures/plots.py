"""Drawing helpers the figures share: a pyplot-free matplotlib figure, xbrun's mean ± sd
curves and the published values beside them (hollow markers, labelled with their source)."""

from __future__ import annotations

from .base import Results

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"]


def new_figure(ncols: int = 1, width: float = 5.0, height: float = 3.6):
    """A figure with ``ncols`` axes, drawn with Agg (no display, no pyplot state)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def label_axes(ax, xlabel: str, ylabel: str, log_y: bool = False, legend: int = 7,
               ncol: int = 1) -> None:
    """Axis labels, a legend of ``legend``-point text and a light grid (log y if asked)."""
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=legend, ncol=ncol)
    ax.grid(alpha=0.3)


def errorbars(ax, points, **style) -> None:
    """Means with their sd as error bars (``style``: matplotlib's ``errorbar`` keywords)."""
    if points:
        ax.errorbar([p.x for p in points], [p.mean for p in points],
                    yerr=[p.sd for p in points], capsize=3, **style)


def color_of(series: str, order: list[str]) -> str:
    return COLORS[order.index(series) % len(COLORS)] if series in order else "0.4"


def curves(ax, results: Results, metric: str, order: list[str], x2: float | None = None,
           label=lambda s: s, style: str = "-o", color=None) -> None:
    """One line per series: xbrun's mean over seeds with an sd band."""
    for series in order:
        points = results.curve(series, metric, x2)
        if not points:
            continue
        xs = [p.x for p in points]
        mean = [p.mean for p in points]
        c = color if color is not None else color_of(series, order)
        ax.plot(xs, mean, style, color=c, label=label(series), markersize=4)
        if any(p.sd for p in points):
            ax.fill_between(xs, [p.mean - p.sd for p in points],
                            [p.mean + p.sd for p in points], color=c, alpha=0.2, lw=0)


def published_markers(ax, published: list[dict], metric: str, order: list[str],
                      label: str = "published") -> None:
    """Every published value of ``metric`` as a hollow marker in its series' colour."""
    shown = False
    for row in published:
        if row["metric"] != metric or row["series"] not in order:
            continue
        ax.plot([float(row["x"])], [float(row["y"])], "D", mfc="none", markersize=7,
                color=color_of(row["series"], order), label=None if shown else label)
        shown = True
