"""``wu2024-sgd-lr``: the asymptotic error of analog SGD against the step size, beside
digital SGD with gradient noise (Wu et al., NeurIPS 2024, Fig. 1). No numbers are
published: claims.md is checked."""

from __future__ import annotations

from .base import Check, Point, Results, check, config_value
from .plots import errorbars, label_axes, new_figure
from .wu2025 import script_figure, smoothed

SERIES = ["analog_sgd", "digital_sgd"]
LABELS = {"analog_sgd": "Analog SGD", "digital_sgd": "Digital SGD"}
TAIL = 20  # the script's get_asymptotic_err: mean of the last 20 recorded values


def points(run: dict) -> list[Point]:
    """The script's recorded value (its MSE / 40 = 2 x xbrun's loss / 40, measured in each
    training forward pass before the update) at every step, against the script's step size
    (xbrun's lr / 2); and the mean of its last 20 values, the "learning error"."""
    dim = config_value(run, "dataset.in_features")
    alpha = config_value(run, "lr") / 2
    steps = [r for r in run["rows"] if "step" in r and r.get("train_loss") is not None]
    recorded = [2 * r["train_loss"] / dim for r in steps]
    out = [Point(run["series"], "recorded_loss", r["step"], v, alpha)
           for r, v in zip(steps, recorded, strict=True)]
    if recorded:
        tail = recorded[-TAIL:]
        out.append(Point(run["series"], "asymptotic_error", alpha, sum(tail) / len(tail)))
    return out


def claims(results: Results) -> list[Check]:
    alphas = results.values("x", "asymptotic_error")

    err = results.mean_of("asymptotic_error", "step size {:g}")

    def analog_above():
        rows = [(a, err("analog_sgd", a), err("digital_sgd", a)) for a in alphas]
        return all(an > di for _, an, di in rows), ", ".join(
            f"a={a:g}: analog {an:.3g} / digital {di:.3g}" for a, an, di in rows)

    def falls_less():
        lo, hi = results.ends("asymptotic_error", "step size")
        digital = err("digital_sgd", hi) / err("digital_sgd", lo)
        analog = err("analog_sgd", hi) / err("analog_sgd", lo)
        return digital > 1 and analog < digital, (
            f"error ratio a={hi:g} / a={lo:g}: digital {digital:.3g}, analog {analog:.3g}")

    abstract = "arXiv 2406.12774v1 abstract (claims.md 1-3)"
    return [
        check("For every step size Analog SGD's learning error is above Digital SGD's",
              abstract, analog_above),
        check("Digital SGD's error falls as the step size falls; Analog SGD's falls less",
              abstract + "; Table 1 caption via liner.com (claims.md 4)", falls_less),
    ]


def draw(results: Results, published: list[dict]):
    fig, (err_ax, curve_ax) = new_figure(2, width=4.2)
    for series, style, color in zip(SERIES, ("-o", "-s"), ("#d62728", "#1f77b4"),
                                    strict=True):
        errorbars(err_ax, results.curve(series, "asymptotic_error"), fmt=style, color=color,
                  label=LABELS[series])
        for alpha in results.values("x2", "recorded_loss"):
            curve = results.curve(series, "recorded_loss", alpha)
            if curve:
                curve_ax.plot([p.x for p in curve], smoothed([p.mean for p in curve]),
                              "-" if series == SERIES[0] else "--", color=color, lw=1,
                              alpha=0.4 + 0.6 * alpha / max(results.values("x2")),
                              label=f"{LABELS[series]}, a={alpha:g}")
    err_ax.set_xscale("log")
    err_ax.set_yscale("log")
    alphas = results.values("x", "asymptotic_error")
    err_ax.set_xticks(alphas, [f"{a:g}" for a in alphas])
    err_ax.minorticks_off()
    label_axes(err_ax, "step size a (the script's; xbrun lr = 2a)",
               "learning error (mean of last 20)")
    label_axes(curve_ax, "iteration k", "recorded loss (smoothed)", log_y=True, legend=5,
               ncol=2)
    fig.suptitle("Wu et al. 2024, Fig. 1 setup (no published numbers)", fontsize=9)
    return fig


FIGURE = script_figure(
    "Wu et al., NeurIPS 2024, Fig. 1", "NeurIPS-2024/S1-SGD-diff-lr.py",
    name="wu2024-sgd-lr",
    shows="asymptotic error of analog SGD against the step size, beside digital SGD "
          "(claims only)",
    time="24 runs (2 algorithms x 4 step sizes x 3 seeds) x 2,500 full-batch steps of a "
         "1x40 layer; ~45 min on a 2-core CPU (~2 min a run)",
    x_label="step size a (asymptotic_error) or step (recorded_loss)",
    x2_label="step size a (recorded_loss)",
    points=points,
    draw=draw,
    claims=claims,
    notes=(
        "xbrun's loss is half the script's squared error: the sweep runs lr = 2a and the "
        "digital gradient noise at half the script's std, which gives the same updates; the "
        "plotted values are converted back to the script's scale.",
        "The published curves are single runs (torch seed 618); xbrun averages 3 seeds.",
    ),
)
