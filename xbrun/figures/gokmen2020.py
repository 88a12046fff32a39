"""``gokmen2020-tiki-taka``: MNIST test accuracy per epoch of in-memory SGD on a symmetric
and on an asymmetric cell, and of Tiki-Taka on the asymmetric one, beside the digital
network (Gokmen & Haensch, Front. Neurosci. 2020). Only the abstract was readable: its
statements (docs/figures/gokmen2020-tiki-taka/claims.md) are checked, once the digital
network has learned and one of the compared runs has (``accuracy.compared``)."""

from __future__ import annotations

from .accuracy import METRIC, accuracy_figure, compared, epoch_points, margin, mnist_figure
from .base import Check, Results, checks

SERIES = ["sgd_symmetric", "sgd_asymmetric", "tiki_taka"]
LABELS = {"sgd_symmetric": "SGD, symmetric cell", "sgd_asymmetric": "SGD, asymmetric cell",
          "tiki_taka": "Tiki-Taka, asymmetric cell", "fp": "digital (fp), reference"}
#: why neither Gokmen figure is compared with published numbers (both papers' abstracts)
ABSTRACT_ONLY = ("no numbers are published in what could be read (the abstract); "
                 "claims.md is checked instead")


def claims(results: Results) -> list[Check]:
    epochs = results.values("x", METRIC)
    def at(a: str, b: str, e: float):
        return compared(results, "epoch {:g}", (a, e), (b, e))

    def last():
        if not epochs:
            raise LookupError("no epoch finished")
        return epochs[-1]

    def tt_matches_ideal():
        e = last()
        ideal, tt = at("sgd_symmetric", "tiki_taka", e)
        m = margin(ideal, tt)
        return tt.mean >= ideal.mean - m, (f"epoch {e:g}: SGD symmetric {ideal.mean:.3f}, "
                                           f"Tiki-Taka asymmetric {tt.mean:.3f} (margin "
                                           f"{m:.3f})")

    def sgd_suffers():
        e = last()
        ideal, asym = at("sgd_symmetric", "sgd_asymmetric", e)
        m = margin(ideal, asym)
        return asym.mean < ideal.mean - m, (f"epoch {e:g}: SGD symmetric {ideal.mean:.3f}, "
                                            f"asymmetric {asym.mean:.3f} (margin {m:.3f})")

    def tt_beats_sgd():
        e = last()
        asym, tt = at("sgd_asymmetric", "tiki_taka", e)
        return tt.mean > asym.mean, (f"epoch {e:g}: on the asymmetric cell SGD "
                                     f"{asym.mean:.3f}, Tiki-Taka {tt.mean:.3f}")

    return checks(
        "Gokmen & Haensch 2020, abstract",
        ("Tiki-Taka on the asymmetric cell matches SGD on the symmetric cell (not below it "
         "by more than the margin)", "claims.md 1", tt_matches_ideal),
        ("SGD's accuracy depends on symmetry: on the asymmetric cell it is below SGD on the "
         "symmetric cell by more than the margin", "claims.md 2", sgd_suffers),
        ("On the asymmetric cell Tiki-Taka beats SGD", "claims.md 1-2", tt_beats_sgd))


def draw(results: Results, published: list[dict]):
    return accuracy_figure(results, SERIES, LABELS, "epoch", "Gokmen & Haensch 2020 setup, "
                           "MNIST FCN (no published numbers)", integer_x=True)


FIGURE = mnist_figure(
    name="gokmen2020-tiki-taka",
    paper="Gokmen & Haensch, Front. Neurosci. 14:103 (2020)",
    shows="MNIST test accuracy per epoch: SGD on a symmetric and an asymmetric cell, "
          "Tiki-Taka on the asymmetric one, digital reference (claims only)",
    time="12 runs (3 analog series and the digital reference x 3 seeds) x 60,000 steps of "
         "batch 10; minutes on a GPU with the joblib launcher",
    x_label="epoch",
    points=epoch_points,
    draw=draw,
    claims=claims,
    not_compared=ABSTRACT_ONLY,
    notes=(
        "Only the abstract was readable: the cells (constant step of Gokmen & Vlasov 2016 "
        "vs soft bounds, 1,250 states each), lr 0.1, batch 10, 10 epochs and the Tiki-Taka "
        "transfer settings (aihwkit's Tiki-Taka presets) are xbrun's choice (setup.md).",
    ),
)
