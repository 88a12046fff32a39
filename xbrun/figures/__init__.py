"""``xbrun figure``: published figures of analog training, reproduced in one command.

Each figure is an ``experiment/`` config (``conf/experiment/<name>.yaml``: the sweep, run
as an ordinary Hydra multirun; ``<name>_quick.yaml``: a reduced one for a CPU) plus one
module here (its points, plot, tolerance and claims). ``runner.py`` runs and draws them; a
figure whose paper drives one device directly (``rasch2024-traces``) gives its module's
``simulate`` instead of training, and the runner writes the same run folders.
"""

from __future__ import annotations

from . import (
    gokmen2020,
    gokmen2021,
    legallo2023,
    rasch2024,
    rasch2024_traces,
    tt_family,
    wu2024,
    wu2025,
    wu_mnist,
)
from .base import Figure

FIGURES: dict[str, Figure] = {f.name: f for f in (
    legallo2023.FIGURE,
    rasch2024.FIGURE,
    rasch2024_traces.FIGURE,
    wu2025.FIGURE,
    wu2024.FIGURE,
    tt_family.FIGURE,
    gokmen2020.FIGURE,
    gokmen2021.FIGURE,
    wu_mnist.WU2024,
    wu_mnist.WU2025,
)}

__all__ = ["FIGURES", "Figure"]
