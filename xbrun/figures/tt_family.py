"""``tt-family-asymmetry``: MNIST test accuracy of sgd, ttv1, ttv2, chopped and agad against
the SoftBounds asymmetry ``up_down`` (Gokmen & Haensch 2020, Gokmen 2021, Rasch et al. 2024
in spirit), with the digital network (``fp``) as the reference line. No published numbers
exist for this sweep: the papers' statements (docs/figures/tt-family-asymmetry/claims.md)
are checked instead, where the digital network and one of the compared runs have
learned."""

from __future__ import annotations

from .accuracy import (
    DIGITAL,
    METRIC,
    accuracy_figure,
    compared,
    final_point,
    margin,
    mnist_figure,
)
from .base import Check, Point, Results, check, config_value

SERIES = ["sgd", "ttv1", "ttv2", "chopped", "agad"]
TRANSFER = SERIES[1:]


def points(run: dict) -> list[Point]:
    return final_point(run, config_value(run, "cell.up_down"))


def claims(results: Results) -> list[Check]:
    xs = results.values("x", METRIC)

    at = "up_down={:g}"

    def sgd_falls():
        low, high = results.ends(METRIC, "up_down")
        first, last = compared(results, at, ("sgd", low), ("sgd", high))
        return last.mean < first.mean, (f"sgd {first.mean:.3f} at up_down={low:g} -> "
                                        f"{last.mean:.3f} at {high:g}")

    def transfer_beats_sgd():
        pairs = {s: compared(results, at, ("sgd", xs[-1]), (s, xs[-1])) for s in TRANSFER}
        sgd = pairs[TRANSFER[0]][0]
        lost = [s for s, (_, mine) in pairs.items() if mine.mean <= sgd.mean]
        detail = ", ".join(f"{s} {mine.mean:.3f}" for s, (_, mine) in pairs.items())
        return not lost, f"at up_down={xs[-1]:g}: sgd {sgd.mean:.3f}; {detail}"

    def match_at_symmetric():
        if 0.0 not in xs:
            raise LookupError("no run at up_down=0")
        rows, ok = [], True
        for s in TRANSFER:
            sgd, mine = compared(results, at, ("sgd", 0.0), (s, 0.0))
            m = margin(sgd, mine)
            ok &= mine.mean >= sgd.mean - m
            rows.append(f"{s} {mine.mean:.3f} (margin {m:.3f})")
        return ok, f"sgd {sgd.mean:.3f} at up_down=0; " + ", ".join(rows)

    gh = "Gokmen & Haensch 2020, abstract (claims.md 1-2)"
    return [
        check("SGD's test accuracy falls as the asymmetry up_down grows", gh + "; Gokmen "
              "2021, abstract (claims.md 3)", sgd_falls),
        check("At the largest up_down every transfer algorithm (ttv1, ttv2, chopped, agad) "
              "beats SGD", gh + "; Rasch et al. 2024 (claims.md 5)", transfer_beats_sgd),
        check("At up_down = 0 the transfer algorithms are not far below SGD (margin: 3 x the "
              "summed seed sd, at least 0.02)", gh + " (claims.md 2)", match_at_symmetric),
    ]


def draw(results: Results, published: list[dict]):
    return accuracy_figure(results, SERIES, {DIGITAL: "digital (fp), reference"},
                           "SoftBounds asymmetry up_down",
                           "Tiki-taka family vs SGD, digital dashed (no published numbers)")


FIGURE = mnist_figure(
    name="tt-family-asymmetry",
    paper="Gokmen & Haensch, Front. Neurosci. 14:103 (2020); Gokmen, Front. Artif. Intell. "
          "(2021); Rasch et al., Nat. Commun. 15:7133 (2024)",
    shows="MNIST test accuracy of sgd, ttv1, ttv2, chopped, agad against SoftBounds up_down "
          "(claims only)",
    time="108 runs (5 algorithms and the digital reference x 6 up_down x 3 seeds) x 18,000 "
         "steps of batch 10 on the full MNIST; minutes on a GPU with the joblib launcher",
    x_label="cell.up_down",
    points=points,
    draw=draw,
    claims=claims,
    not_compared="no published numbers for this sweep; claims.md is checked instead",
    notes=(
        "xbrun's own choice of setup (no published sweep): model=mlp 784-256-128-10 sigmoid, "
        "lr 0.1, batch 10, three epochs of the full MNIST, SoftBounds cell at aihwkit defaults "
        "but up_down; transfer devices at aihwkit's defaults; the digital network (fp) as "
        "the reference line (it reaches ~90% after one epoch).",
        "The rank-k panel is left out: no published accuracy-vs-rank numbers were found.",
    ),
)
