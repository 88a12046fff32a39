"""``wu2025-tt-asymmetry``: loss f(W_k) of a 50-dimensional least-squares problem against
the iteration, Analog SGD vs Tiki-Taka, as the response asymmetry ``up_down`` (c_Lin) grows
(Wu et al., NeurIPS 2025, Fig. 2). No numbers are published: claims.md is checked."""

from __future__ import annotations

from .base import (
    NO_OUTPUTS_COMMITTED,
    REGRESSION,
    WU_COMMIT,
    WU_REPO,
    Check,
    Figure,
    Point,
    Results,
    check,
    config_value,
)
from .plots import COLORS, errorbars, label_axes, new_figure

SERIES = ["analog_sgd", "tiki_taka"]
LABELS = {"analog_sgd": "Analog SGD", "tiki_taka": "Tiki-Taka"}
METRIC_FINAL = "final_f"


def smoothed(values: list[float], keep: float = 0.9) -> list[float]:
    """The script's exponential smoothing ``s_k = keep s_(k-1) + (1 - keep) f_k``, s_0 = f_0."""
    out: list[float] = []
    for v in values:
        out.append(v if not out else keep * out[-1] + (1 - keep) * v)
    return out


def points(run: dict) -> list[Point]:
    """f(W_k) = exact_loss / in_features at every logged step (noise-free weights, before the
    k-th update, as the script records it), and its smoothed last value."""
    dim = config_value(run, "dataset.in_features")
    c_lin = config_value(run, "cell.up_down")
    steps = [r for r in run["rows"] if "step" in r and r.get("exact_loss") is not None]
    f = [r["exact_loss"] / dim for r in steps]
    out = [Point(run["series"], "f", r["step"], v, c_lin) for r, v in zip(steps, f,
                                                                        strict=True)]
    if f:
        out.append(Point(run["series"], "final_f", c_lin, smoothed(f)[-1]))
    return out


def claims(results: Results) -> list[Check]:
    xs = results.values("x", METRIC_FINAL)

    final = results.mean_of(METRIC_FINAL, "up_down={:g}")

    def sgd_grows():
        results.ends(METRIC_FINAL, "up_down")
        values = [final("analog_sgd", x) for x in xs]
        lowest_first = min(values) == values[0]
        return lowest_first and values[-1] > values[0], "Analog SGD final f: " + ", ".join(
            f"{v:.3g} (c_Lin={x:g})" for x, v in zip(xs, values, strict=True))

    def compare():
        pairs = ", ".join(f"c_Lin={x:g}: SGD {final('analog_sgd', x):.3g} / TT "
                          f"{final('tiki_taka', x):.3g}" for x in xs)
        return None, "reported, not asserted (claims.md: direction to be read from Fig. 2): " \
            + pairs

    abstract = "arXiv 2502.06309v1 abstract (claims.md 1)"
    checks = [check("Analog SGD's final loss grows with the asymmetry up_down and is lowest at "
                    "up_down = 0", abstract, sgd_grows)]
    reported = check("Tiki-Taka vs Analog SGD at up_down > 0", "arXiv 2502.06309v1 abstract "
                     "(claims.md 2); NeurIPS-2025/README.md (claims.md 3)", compare)
    return [*checks, Check(reported.claim, reported.source, None, reported.detail)]


def draw(results: Results, published: list[dict]):
    fig, (curves_ax, final_ax) = new_figure(2, width=4.4)
    c_lins = results.values("x2", "f")
    for i, c_lin in enumerate(c_lins):
        for series, style in zip(SERIES, ("-", "--"), strict=True):
            curve = results.curve(series, "f", c_lin)
            if curve:
                curves_ax.plot([p.x for p in curve], smoothed([p.mean for p in curve]), style,
                               color=COLORS[i % len(COLORS)], lw=1.2,
                               label=f"{LABELS[series]}, c_Lin={c_lin:g}")
    label_axes(curves_ax, "iteration k", "f(W_k) (smoothed, mean over seeds)", log_y=True,
               legend=6, ncol=2)
    for series, style in zip(SERIES, ("-o", "--s"), strict=True):
        errorbars(final_ax, results.curve(series, "final_f"), fmt=style, label=LABELS[series],
                  color="k" if series == SERIES[0] else "0.5")
    label_axes(final_ax, "response asymmetry c_Lin (cell.up_down)", "final f(W_K), smoothed",
               log_y=True)
    fig.suptitle("Wu et al. 2025, Fig. 2 setup (no published numbers)", fontsize=9)
    return fig


def script_figure(paper: str, script: str, **fields) -> Figure:
    """A figure of one of the authors' regression scripts (no outputs committed)."""
    return Figure(paper=f"{paper}; {WU_REPO} {script} @ {WU_COMMIT}", data=REGRESSION,
                  not_compared=NO_OUTPUTS_COMMITTED, **fields)


FIGURE = script_figure(
    "Wu et al., NeurIPS 2025, Fig. 2", "NeurIPS-2025/S1-TT-fails.py",
    name="wu2025-tt-asymmetry",
    shows="least-squares loss against iterations, Analog SGD vs Tiki-Taka as the response "
          "asymmetry up_down goes 0-0.3 (claims only)",
    time="24 runs (2 algorithms x 4 up_down x 3 seeds) x 1,000 full-batch steps of a 1x50 "
         "layer; ~18 min on a 2-core CPU (~45 s a run)",
    x_label="up_down (final_f) or step (f)",
    x2_label="up_down (f)",
    points=points,
    draw=draw,
    claims=claims,
    notes=(
        "Curves are labelled by the algorithm that produced them; the script's legend swaps "
        "the two (setup.md).",
        "The published curves are single runs (torch seed 618); xbrun averages 3 seeds.",
        "Tiki-Taka reads A through aihwkit's default noisy transfer I/O (out_noise 0.06, "
        "7-bit DAC, 9-bit ADC), as the published runs did: the script's "
        "`rpu_config.transfer_forward = get_IO(...)` sets an attribute aihwkit ignores "
        "(setup.md). A noise-free read would reach f ~ 6e-7 instead of ~ 7e-6.",
    ),
)
