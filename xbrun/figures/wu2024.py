"""``wu2024-sgd-lr``: the asymptotic error of analog SGD against the step size, beside
digital SGD with gradient noise (Wu et al., NeurIPS 2024, Fig. 1). No numbers are
published: claims.md is checked."""

from __future__ import annotations

from .base import NO_OUTPUTS_COMMITTED, Check, Figure, Point, Results, check, config_value
from .plots import new_figure
from .wu2025 import smoothed

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

    def err(series, a):
        return results.need(series, "asymptotic_error", a, at=f"step size {a:g}").mean

    def analog_above():
        rows = [(a, err("analog_sgd", a), err("digital_sgd", a)) for a in alphas]
        return all(an > di for _, an, di in rows), ", ".join(
            f"a={a:g}: analog {an:.3g} / digital {di:.3g}" for a, an, di in rows)

    def falls_less():
        if len(alphas) < 2:
            raise ValueError("needs two step sizes")
        lo, hi = alphas[0], alphas[-1]
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
        errs = results.curve(series, "asymptotic_error")
        if errs:
            err_ax.errorbar([p.x for p in errs], [p.mean for p in errs],
                            yerr=[p.sd for p in errs], fmt=style, capsize=3, color=color,
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
    err_ax.set_xlabel("step size a (the script's; xbrun lr = 2a)")
    err_ax.set_ylabel("learning error (mean of last 20)")
    err_ax.legend(fontsize=7)
    curve_ax.set_yscale("log")
    curve_ax.set_xlabel("iteration k")
    curve_ax.set_ylabel("recorded loss (smoothed)")
    curve_ax.legend(fontsize=5, ncol=2)
    for ax in (err_ax, curve_ax):
        ax.grid(alpha=0.3)
    fig.suptitle("Wu et al. 2024, Fig. 1 setup (no published numbers)", fontsize=9)
    return fig


FIGURE = Figure(
    name="wu2024-sgd-lr",
    paper="Wu et al., NeurIPS 2024, Fig. 1; Zhaoxian-Wu/analog-training "
          "NeurIPS-2024/S1-SGD-diff-lr.py @ 17d0e0c",
    shows="asymptotic error of analog SGD against the step size, beside digital SGD "
          "(claims only)",
    data="built-in regression task (no download)",
    time="24 runs (2 algorithms x 4 step sizes x 3 seeds) x 2,500 full-batch steps of a "
         "1x40 layer; ~45 min on a 2-core CPU (~2 min a run)",
    x_label="step size a (asymptotic_error) or step (recorded_loss)",
    x2_label="step size a (recorded_loss)",
    points=points,
    draw=draw,
    claims=claims,
    not_compared=NO_OUTPUTS_COMMITTED,
    notes=(
        "xbrun's loss is half the script's squared error: the sweep runs lr = 2a and the "
        "digital gradient noise at half the script's std, which gives the same updates; the "
        "plotted values are converted back to the script's scale.",
        "The published curves are single runs (torch seed 618); xbrun averages 3 seeds.",
    ),
)
