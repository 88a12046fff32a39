"""``xbrun report RUN --wear FILE``: where a run wore its cells.

Reads the run's ``counts.npz`` (each array's per-cell pulse counts, written with every
checkpoint) and draws, per array, a heat map of the counts over the array's (out, in) cells
beside a histogram of them, so a hot row or column - the cells a transfer writes most, or
those an input line keeps firing - shows at a glance.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .composition import fail, plot_path
from .errors import ConfigError

COUNTS = "counts.npz"  # as training/cost.py writes it


def load_counts(run_dir: Path) -> dict[str, np.ndarray]:
    """The arrays of ``run_dir/counts.npz`` by name (``LAYER/tileT/ARRAY``); no pickles."""
    path = run_dir / COUNTS
    if not path.is_file():
        fail(f"{path}: no per-cell pulse counts (a run folder of this xbrun, after its first "
             f"checkpoint)")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError) as err:
        fail(f"{path}: not readable counts ({type(err).__name__})")


def draw_wear(run_dir: Path, out: Path) -> int:
    """Draw every array of ``run_dir`` into ``out``; returns the number of arrays drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .training.outputs import save_figure

    try:
        out = Path(plot_path(str(out), key="--wear"))
    except ConfigError as err:
        fail(str(err))
    counts = load_counts(run_dir)
    if not counts:
        fail(f"{run_dir / COUNTS}: holds no arrays")
    fig, axes = plt.subplots(len(counts), 2, figsize=(9, 2.8 * len(counts)), squeeze=False,
                             gridspec_kw={"width_ratios": [3, 2]})
    for (name, c), (heat, hist) in zip(counts.items(), axes, strict=True):
        image = heat.imshow(c, aspect="auto", interpolation="nearest", cmap="viridis")
        fig.colorbar(image, ax=heat, label="pulses")
        heat.set_title(f"{name}  (max {int(c.max()):,}, total {int(c.sum()):,})", fontsize=9)
        heat.set_xlabel("input line")
        heat.set_ylabel("output line")
        hist.hist(c.reshape(-1), bins=min(50, max(1, int(c.max()) + 1)), color="tab:blue")
        hist.set_yscale("log")
        hist.set_xlabel("pulses per cell")
        hist.set_ylabel("cells")
    fig.tight_layout()
    save_figure(out, fig, dpi=110)
    plt.close(fig)
    print(f"{out}: wear of {len(counts)} arrays", file=sys.stderr)
    return len(counts)


__all__ = ["draw_wear", "load_counts"]
