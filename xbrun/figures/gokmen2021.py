"""``gokmen2021-ttv2-states``: MNIST test accuracy of in-memory SGD, Tiki-Taka and TTv2
against the number of device states, beside the digital network (Gokmen, Front. Artif.
Intell. 2021). Only the abstract was readable: its statement that TTv2 needs tens of
states where Tiki-Taka needs thousands (docs/figures/gokmen2021-ttv2-states/claims.md) is
checked where the digital network and one of the compared runs have learned."""

from __future__ import annotations

from . import accuracy
from .base import Check, Point, Results, check, config_value
from .gokmen2020 import ABSTRACT_ONLY

SERIES = ["sgd", "tiki_taka", "ttv2"]
LABELS = {"sgd": "SGD", "tiki_taka": "Tiki-Taka", "ttv2": "TTv2",
          "fp": "digital (fp), reference"}
#: "tens of states": the claims read TTv2 at the fewest states of the sweep in [10, 100)
TENS = (10, 100)


def points(run: dict) -> list[Point]:
    """The final test accuracy at n_states = (w_max - w_min) / dw_min."""
    span = config_value(run, "cell.w_max") - config_value(run, "cell.w_min")
    return accuracy.final_point(run, round(span / config_value(run, "cell.dw_min")))


def claims(results: Results) -> list[Check]:
    states = results.values("x", accuracy.METRIC)

    at = "n_states {:g}"

    def ends():
        tens = [n for n in states if TENS[0] <= n < TENS[1]]
        if not tens or states[-1] < 1000:
            raise ValueError("needs a run with tens of states and one with >= 1,000")
        return tens[0], states[-1]

    def ttv2_with_tens():
        few, many = ends()
        low, high = accuracy.compared(results, at, ("ttv2", few), ("ttv2", many))
        if high.mean < accuracy.LEARNED:
            raise ValueError(f"TTv2 did not learn at n_states {many:g} ({high.mean:.3f})")
        m = accuracy.margin(low, high)
        return low.mean >= high.mean - m, (f"TTv2 {low.mean:.3f} at n_states {few:g}, "
                                           f"{high.mean:.3f} at {many:g} (margin {m:.3f})")

    def tt_needs_more():
        few, _ = ends()
        tt, ttv2 = accuracy.compared(results, at, ("tiki_taka", few), ("ttv2", few))
        m = accuracy.margin(tt, ttv2)
        return tt.mean < ttv2.mean - m, (f"at n_states {few:g}: Tiki-Taka {tt.mean:.3f}, "
                                         f"TTv2 {ttv2.mean:.3f} (margin {m:.3f})")

    abstract = "Gokmen 2021, abstract (claims.md 1)"
    return [
        check("TTv2 with tens of states is not below TTv2 with >= 1,000 states by more than "
              "the margin", abstract, ttv2_with_tens),
        check("With tens of states Tiki-Taka is below TTv2 by more than the margin (it needs "
              "thousands)", abstract, tt_needs_more),
    ]


def draw(results: Results, published: list[dict]):
    return accuracy.accuracy_figure(results, SERIES, LABELS,
                           "device states n_states = (w_max - w_min) / dw_min",
                           "Gokmen 2021 setup, MNIST FCN (no published numbers)", log_x=True)


FIGURE = accuracy.mnist_figure(
    name="gokmen2021-ttv2-states",
    paper="Gokmen, Front. Artif. Intell. 4:699148 (2021)",
    shows="MNIST test accuracy of SGD, Tiki-Taka and TTv2 against the number of device "
          "states, digital reference (claims only)",
    time="60 runs (3 analog series and the digital reference x 5 n_states x 3 seeds) x "
         "18,000 steps of batch 10; minutes on a GPU with the joblib launcher",
    x_label="n_states",
    points=points,
    draw=draw,
    claims=claims,
    not_compared=ABSTRACT_ONLY,
    notes=(
        "Only the abstract was readable: the soft-bounds cell (bounds +-1, aihwkit defaults "
        "otherwise), the grid of n_states, lr 0.1, batch 10, 3 epochs and the algorithm "
        "settings (TTv2 = the device settings of aihwkit's TTv2 presets; Tiki-Taka = aihwkit's "
        "Tiki-Taka preset transfer) are xbrun's choice (setup.md).",
        "The digital network does not depend on n_states; it is run at each for the line.",
    ),
)
