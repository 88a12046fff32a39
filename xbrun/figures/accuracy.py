"""What the MNIST accuracy figures share: their numbers (test accuracy after each epoch, or
after the last at a swept x), the rule that a claim compares only networks that learned,
the margin within which two accuracies "match", and the accuracy axes."""

from __future__ import annotations

from .base import Figure, Point, Result, Results, final_row

METRIC = "test_accuracy"
DIGITAL = "fp"  # the digital network: the reference line of every MNIST figure
#: a run at or near 0.1 (ten balanced classes) has not learned; a claim compares only runs
#: above this, and only where the digital network has passed it
LEARNED = 0.2


def epoch_points(run: dict) -> list[Point]:
    """Test accuracy after every epoch (x = epoch)."""
    return [Point(run["series"], METRIC, row["epoch"], row[METRIC])
            for row in run["rows"] if "step" not in row and row.get(METRIC) is not None]


def final_point(run: dict, x: float) -> list[Point]:
    """The test accuracy after the last epoch, at ``x``."""
    row = final_row(run)
    return [] if row.get(METRIC) is None else [Point(run["series"], METRIC, x, row[METRIC])]


def learned(results: Results, series: str, x: float, at: str) -> Result:
    """The result of ``series`` at ``x`` (``at`` names it: "epoch 3"); a claim on a run, or
    beside a digital network, still at chance is left unchecked (``ValueError``)."""
    digital = results.get(DIGITAL, METRIC, x)
    if digital is not None and digital.mean < LEARNED:
        raise ValueError(f"the digital network did not learn at {at} ({digital.mean:.3f} < "
                         f"{LEARNED}); train longer or on more data")
    found = results.need(series, METRIC, x, at=at)
    if found.mean < LEARNED:
        raise ValueError(f"{series} did not learn at {at} ({found.mean:.3f} < {LEARNED})")
    return found


def learned_at(results: Results, at: str):
    """``acc(series, x)``: ``learned`` with the point named by ``at.format(x)``."""
    return lambda series, x: learned(results, series, x, at=at.format(x))


def mnist_figure(**fields) -> Figure:
    """A figure trained on MNIST read from ``dataset.root`` (its data notes and checks)."""
    return Figure(data="MNIST (dataset.root)", mnist=True, **fields)


def margin(a: Result, b: Result) -> float:
    """How far two means may differ and still "match": 3 x their summed seed sd, at least
    0.02 (xbrun's choice; no tolerance is published)."""
    return max(3 * (a.sd + b.sd), 0.02)


def finish_axes(ax, xlabel: str, title: str) -> None:
    """Test accuracy from 0 to 1 against ``xlabel``, grid, legend, ``title``."""
    from .plots import label_axes

    label_axes(ax, xlabel, "test accuracy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(title, fontsize=9)


def accuracy_figure(results: Results, series: list[str], labels: dict, xlabel: str,
                    title: str, log_x: bool = False, integer_x: bool = False):
    """One axes: each series' test accuracy (mean ± sd) against x, the digital network as a
    dashed black reference line."""
    from .plots import curves, new_figure

    fig, (ax,) = new_figure()
    def label(name):
        return labels.get(name, name)

    curves(ax, results, METRIC, series, label=label)
    curves(ax, results, METRIC, [DIGITAL], label=label, style="--", color="k")
    if log_x:
        ax.set_xscale("log")
    if integer_x:
        ax.xaxis.get_major_locator().set_params(integer=True)
    finish_axes(ax, xlabel, title)
    return fig
