"""What the MNIST accuracy figures share: their numbers (test accuracy after each epoch, or
after the last at a swept x), the rule that a claim compares networks of which one at least learned,
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


def compared(results: Results, at: str, *where: tuple[str, float]) -> list[Result]:
    """The results of the ``(series, x)`` a claim compares (``at.format(x)`` names a point).
    Unchecked (``ValueError``) beside a digital network that did not learn, or where none of
    them left chance: networks at chance say nothing of each other. One at chance beside one
    that learned is compared: it lost (a claim that it is the higher fails)."""
    found = []
    for series, x in where:
        digital = results.get(DIGITAL, METRIC, x)
        if digital is not None and digital.mean < LEARNED:
            raise ValueError(f"the digital network did not learn at {at.format(x)} "
                             f"({digital.mean:.3f} < {LEARNED}); train longer or on more data")
        found.append(results.need(series, METRIC, x, at=at.format(x)))
    if all(f.mean < LEARNED for f in found):
        raise ValueError("did not learn: " + ", ".join(
            f"{s} {f.mean:.3f} at {at.format(x)}" for (s, x), f in zip(where, found,
                                                                        strict=True))
            + f" (all < {LEARNED})")
    return found


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
