"""``wu2024-mnist`` and ``wu2025-mnist``: MNIST test accuracy of Digital SGD, Analog SGD and
Tiki-Taka on the FCN of the authors' scripts, as the cells' dynamic range tau (bounds +-tau)
shrinks (Wu et al., NeurIPS 2024, Fig. 5 left; Wu et al., NeurIPS 2025, Fig. 4, FCN). The
statements in ``docs/figures/<name>/claims.md`` are checked where one of the compared
networks has learned; wu2025's Table 8 gives final accuracies after the script's 30 epochs,
compared at that epoch (``published.csv``)."""

from __future__ import annotations

from . import base
from .accuracy import (
    DIGITAL,
    LEARNED,
    METRIC,
    compared,
    final_point,
    finish_axes,
    mnist_figure,
)
from .base import Check, Figure, Point, Results, checks, config_value
from .plots import COLORS, color_of, curves, new_figure

SERIES = ["analog_sgd", "tiki_taka"]
LABELS = {"analog_sgd": "Analog SGD", "tiki_taka": "Tiki-Taka", DIGITAL: "Digital SGD"}
BY_EPOCH = "test_accuracy_by_epoch"  # x = epoch, x2 = tau


def points(run: dict) -> list[Point]:
    """The final test accuracy at x = tau (cell.w_max), and the accuracy after every epoch
    (x = epoch, x2 = tau)."""
    tau = config_value(run, "cell.w_max")
    out = [Point(run["series"], BY_EPOCH, row["epoch"], row[METRIC], tau)
           for row in run["rows"] if "step" not in row and row.get(METRIC) is not None]
    return out + final_point(run, tau)


def tolerance(row: dict, published: list[dict]) -> float | None:
    """3 x the published sd over the paper's 3 runs, at least 0.02 (xbrun's choice, as the
    claims' margin); a bound ("< 15.00") is met on its side. Rows of another cell than
    xbrun's (the series names say which) are not compared."""
    if row["series"] not in (*SERIES, DIGITAL):
        return None
    return max(3 * float(row.get("y_err") or 0.0), 0.02)


def published_at(published: list[dict], series: str) -> list[tuple[float, float, float, str]]:
    """(tau, epoch, value, bound) of every published final accuracy of ``series``."""
    return [(float(r["x2"]), float(r["x"]), float(r["y"]), r.get("bound") or "")
            for r in published if r["series"] == series and r["metric"] == BY_EPOCH]


def slow_start(results: Results) -> tuple[bool, str]:
    """Wu et al. 2025, Sec. 6: "Analog SGD takes a few epochs to achieve a noticeable
    increase in accuracy in FCN training": after the first epoch Analog SGD is below
    Tiki-Taka by more than 0.02 at every tau (Tiki-Taka must have learned by then)."""
    taus = results.values("x2", BY_EPOCH)
    rows = []
    for tau in taus:
        sgd = results.need("analog_sgd", BY_EPOCH, 1, tau, at=f"epoch 1, tau {tau:g}").mean
        tt = results.need("tiki_taka", BY_EPOCH, 1, tau, at=f"epoch 1, tau {tau:g}").mean
        if tt < LEARNED:
            raise ValueError(f"Tiki-Taka did not learn by epoch 1 at tau {tau:g} ({tt:.3f})")
        rows.append((tau, sgd, tt))
    if not rows:
        raise ValueError("no epoch-1 accuracies")
    return all(sgd < tt - 0.02 for _, sgd, tt in rows), "after epoch 1: " + ", ".join(
        f"tau {t:g}: Analog SGD {sgd:.3f} / Tiki-Taka {tt:.3f}" for t, sgd, tt in rows)


def claims_from(source: str, extra: tuple = ()):
    """The three statements both papers make of their MNIST runs, checked on xbrun's
    (``extra``: ``(claim, where, condition(results))`` of one paper only)."""

    def claims(results: Results) -> list[Check]:
        taus = results.values("x", METRIC)

        at = "tau {:g}"

        def tt_above():
            rows = [(t, *(r.mean for r in compared(results, at, ("analog_sgd", t),
                                                    ("tiki_taka", t)))) for t in taus]
            return all(tt > sgd for _, sgd, tt in rows), ", ".join(
                f"tau {t:g}: Analog SGD {sgd:.3f} / Tiki-Taka {tt:.3f}" for t, sgd, tt in rows)

        def sgd_falls():
            small, large = results.ends(METRIC, "tau")
            lo, hi = (r.mean for r in compared(results, at, ("analog_sgd", small),
                                                ("analog_sgd", large)))
            return lo < hi, f"Analog SGD {lo:.3f} at tau {small:g}, {hi:.3f} at {large:g}"

        def tt_robust():
            small, large = results.ends(METRIC, "tau")
            drop = {}
            for series in SERIES:  # a series at chance at both ends leaves it unchecked
                high, low = compared(results, at, (series, large), (series, small))
                drop[series] = high.mean - low.mean
            return drop["tiki_taka"] < drop["analog_sgd"], (
                f"accuracy lost from tau {large:g} to {small:g}: Analog SGD "
                f"{drop['analog_sgd']:.3f}, Tiki-Taka {drop['tiki_taka']:.3f}")

        return checks(
            source,
            ("At every tau Tiki-Taka's final test accuracy is above Analog SGD's",
             "claims.md 1", tt_above),
            ("Analog SGD's accuracy falls as tau shrinks (smallest tau below largest)",
             "claims.md 2", sgd_falls),
            ("Tiki-Taka loses less accuracy than Analog SGD from the largest tau to the "
             "smallest", "claims.md 3", tt_robust),
            *((claim, where, lambda c=condition: c(results)) for claim, where, condition
              in extra))

    return claims


def draw_titled(title: str):
    def draw(results: Results, published: list[dict]):
        fig, (final_ax, epoch_ax) = new_figure(2, width=4.4)
        curves(final_ax, results, METRIC, SERIES, label=LABELS.get)
        for i, digital in enumerate(results.curve(DIGITAL, METRIC)):  # run at one tau or all
            final_ax.axhline(digital.mean, ls="--", color="k", lw=1,
                             label=None if i else LABELS[DIGITAL])
        shown = False  # the paper's final values (after its epochs), hollow; "v": "< value"
        for series in [*SERIES, DIGITAL]:
            color = "k" if series == DIGITAL else color_of(series, SERIES)
            for tau, epoch, value, bound in published_at(published, series):
                final_ax.plot([tau], [value], "v" if bound else "D", mfc="none", color=color,
                              markersize=7, label=None if shown else
                              f"published, after {epoch:g} epochs")
                shown = True
        finish_axes(final_ax, "cell bounds +-tau", "final test accuracy")
        taus = results.values("x2", BY_EPOCH)
        for i, tau in enumerate(taus):
            for series, style in zip([*SERIES, DIGITAL], ("-o", "-s", ":"), strict=True):
                curve = results.curve(series, BY_EPOCH, tau)
                if curve:
                    epoch_ax.plot([p.x for p in curve], [p.mean for p in curve], style,
                                  color=COLORS[i % len(COLORS)], markersize=3, lw=1,
                                  label=f"{LABELS[series]}, tau {tau:g}")
                for t, epoch, value, bound in published_at(published, series):
                    if t == tau:
                        epoch_ax.plot([epoch], [value], "v" if bound else "D", mfc="none",
                                      color=COLORS[i % len(COLORS)], markersize=6)
        epoch_ax.xaxis.get_major_locator().set_params(integer=True)
        finish_axes(epoch_ax, "epoch", "test accuracy per epoch")
        epoch_ax.legend(fontsize=5, ncol=2, loc="lower right")
        fig.suptitle(title, fontsize=9)
        return fig

    return draw


def figure(name: str, paper: str, title: str, script: str, taus: str, epochs: int,
           source: str, notes: tuple[str, ...], published: str = "",
           extra_claims: tuple = ()) -> Figure:
    return mnist_figure(
        name=name,
        paper=f"{paper}; {base.WU_REPO} {script} @ {base.WU_COMMIT}",
        shows=f"MNIST test accuracy of Digital SGD, Analog SGD and Tiki-Taka on the FCN "
              f"against the cells' bounds +-tau ({taus}) ({published or 'claims only'})",
        time=f"9 runs (3 algorithms x 3 tau, one seed as published) x {epochs} epochs of "
             f"6,000 steps (batch 10); 50-230 s a run on one H100 with the runs side by "
             f"side through MPS (2026-12-07, docs/figures/README.md; "
             f"`FULL=1 scripts/figures_full.sh`, which otherwise runs fewer epochs)",
        x_label="tau (test_accuracy) or epoch (test_accuracy_by_epoch)",
        x2_label="tau (test_accuracy_by_epoch)",
        points=points,
        draw=draw_titled(f"{title}, MNIST FCN setup"
                         + ("" if published else " (no published numbers)")),
        claims=claims_from(source, extra_claims),
        tolerance=tolerance,
        not_compared=base.NO_OUTPUTS_COMMITTED.replace("(the repository commits no outputs)",
                                                  "(the repository commits no outputs and "
                                                  "the paper's tables were not readable)"),
        notes=(
            "aihwkit 0.9.0's fast_lr is a fixed learning rate of A: `scale_fast_lr=false`.",
            *notes,
        ),
    )


WU2024 = figure(
    "wu2024-mnist", "Wu, Gokmen, Rasch, Chen, NeurIPS 2024, Fig. 5 (FCN)",
    "Wu et al. 2024, Fig. 5",
    "NeurIPS-2024/S4.1-mnist-FCN.py", "0.6, 0.78, 0.8", 80,
    "arXiv 2406.12774v1 abstract; Table 1 caption via liner.com",
    ("The README runs each setting once (no seed is set); so does this sweep (seed 0).",
     "Digital SGD runs at the analog lr 0.05, as the script does (its `'digital' in "
     "setting` test never matches 'FP SGD').",),
)
WU2025 = figure(
    "wu2025-mnist", "Wu, Xiao, Gokmen, Fagbohungbe, Chen, NeurIPS 2025, Fig. 4 (FCN)",
    "Wu et al. 2025, Fig. 4",
    "NeurIPS-2025/S2-mnist-FCN.py", "0.5, 0.6, 0.7", 30,
    "arXiv 2502.06309 abstract, Sec. 6 and App. K; NeurIPS-2025/README.md",
    ("Tiki-Taka is the paper's RL-v1, which its README says TT-v1 implements.",
     "The cell is the README commands' (the script's default `--RPU=Softbounds`: "
     "SoftBoundsReferenceDevice, bound spreads 0.3); App. K.3 says Fig. 4 used the power "
     "response with gamma_res 0.5, and Table 8's values of the soft-bounds shape (gamma_res "
     "1.0, compared here) presumably come from the script's `--RPU=Pow` cell (no bound "
     "spreads): setup.md.",
     "The paper repeats each setting 3 times (Sec. 6); this sweep runs one seed (0).",
     "Table 8's values are after the script's 30 epochs: a run of fewer epochs has no value "
     "at epoch 30 to compare (`no xbrun value`)."),
    published="claims; App. K.6 Table 8's final accuracies",
    extra_claims=(("Analog SGD takes a few epochs to a noticeable increase in accuracy: "
                   "after epoch 1 it is below Tiki-Taka at every tau", "claims.md 4",
                   slow_start),),
)
