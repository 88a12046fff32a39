"""A sweep at a glance: runs grouped by one key (``--by device``), mean ± sd over seeds, the
curves of every run in one figure (``--plot``), and Markdown tables (``--markdown``).

Reads only what runs write (``summary.json``, ``metrics.jsonl``, ``.hydra/overrides.yaml``
via :func:`xbrun.report.collect`), so it works on sweeps from any launcher.
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path

from .training.outputs import epoch_records, read_jsonl

SEED_KEY = "seed"


def natural_key(text: str) -> list:
    """Sort key that orders the numbers inside ``text`` by value (``2`` before ``10``)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _lookup(data, key: str):
    for part in key.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def value_of(run: dict, key: str) -> str:
    """``key`` of a run: its command-line override, else a summary entry
    (``placement.gpu_uuid``), else the composed config's value (a group's option name for
    ``device``, ``cell``, ...)."""
    if key in run["overrides"]:
        return str(run["overrides"][key])
    value = _lookup(run, key)
    if value is None:
        value = _lookup(run.get("config") or {}, key)
    if isinstance(value, dict):
        value = value.get("kind", value.get("name"))
    return "" if value is None else str(value)


def group(runs: list[dict], by: str) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for run in runs:
        groups.setdefault(value_of(run, by), []).append(run)
    return dict(sorted(groups.items(), key=lambda item: natural_key(item[0])))


def differ_only_in_seed(groups: dict[str, list[dict]], by: str) -> bool:
    """True when the runs of each group share every override but ``seed`` (and ``by``)."""
    def rest(run):
        return {k: v for k, v in run["overrides"].items() if k not in (SEED_KEY, by)}

    return all(all(rest(r) == rest(members[0]) for r in members) for members in groups.values())


def _mean_sd(values: list[float], scale: float = 1.0, digits: int = 4) -> str:
    values = [v * scale for v in values if v is not None]
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.{digits}g}"
    return f"{statistics.mean(values):.{digits}g} ± {statistics.stdev(values):.2g}"


def grouped_rows(runs: list[dict], by: str) -> tuple[list[str], list[list[str]]]:
    """One row per value of ``by``: runs, finished, test accuracy (%), loss (and the weight
    error of regression runs) as mean ± sd."""
    weights = any(r.get("weight_error") is not None for r in runs)  # regression runs
    header = [by, "runs", "finished", "test_acc %", "test_loss",
              *(["weight_error"] if weights else []), "pulses"]
    groups = group(runs, by)
    ratio = _write_ratios(groups)  # the cost ledger: each group's writes against a baseline
    if ratio:
        header += ["write_J", f"pulses / {ratio[0]}"]
    body = []
    for value, members in groups.items():
        done = [r for r in members if r.get("status") == "finished"]
        body.append([value, str(len(members)), str(len(done)),
                     _mean_sd([r.get("test_accuracy") for r in done], 100.0),
                     _mean_sd([r.get("test_loss") for r in done]),
                     *([_mean_sd([r.get("weight_error") for r in done])] if weights else []),
                     _mean_sd([r.get("pulses") for r in done], digits=3)])
        if ratio:
            ref = ratio[1]
            mean = _mean([r.get("pulses") for r in done])
            body[-1] += [_mean_sd([r.get("write_energy_j") for r in done], digits=3),
                         f"{mean / ref:.3g}x" if mean is not None and ref else ""]
    return header, body


def _mean(values: list) -> float | None:
    values = [v for v in values if isinstance(v, (int, float))]
    return statistics.mean(values) if values else None


def _write_ratios(groups: dict[str, list[dict]]) -> tuple[str, float] | None:
    """``(baseline, its mean pulses)``: ``sgd`` where a group is called so, else the first;
    None when no run carries the cost ledger."""
    if not any(r.get("write_energy_j") is not None for m in groups.values() for r in m):
        return None
    name = "sgd" if "sgd" in groups else next(iter(groups))
    done = [r for r in groups[name] if r.get("status") == "finished"]
    return name, _mean([r.get("pulses") for r in done]) or 0.0


def markdown(header: list[str], body: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(map(cell, header)) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in body]
    return "\n".join(lines)


def plot(runs: list[dict], root: Path, path: Path, by: str | None) -> int:
    """Test accuracy and test loss against epoch, one colour per value of ``by``; groups of
    seeds are drawn as their mean with a ± sd band. Returns the number of curves drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    groups = group(runs, by) if by else {"": runs}
    seeds_only = bool(by) and differ_only_in_seed(groups, by)
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(10, 3.8))
    drawn = 0
    read = {r["run"]: epoch_records(read_jsonl(root / r["run"] / "metrics.jsonl"))
            for r in runs}
    # classification runs show accuracy; a sweep of regressions shows the weight error
    score = "test_accuracy" if any(c and c[0].get("test_accuracy") is not None
                                   for c in read.values()) else "weight_error"
    for colour, (value, members) in enumerate(groups.items()):
        curves = [read[r["run"]] for r in members]
        curves = [c for c in curves if c and c[0].get(score) is not None]
        label = f"{by}={value}" if by else None
        for ax, key, scale in ((ax_acc, score, 100.0 if score == "test_accuracy" else 1.0),
                               (ax_loss, "test_loss", 1.0)):
            if seeds_only and len(curves) > 1:
                n = min(len(c) for c in curves)
                values = np.array([[row[key] * scale for row in c[:n]] for c in curves])
                epochs = [row["epoch"] for row in curves[0][:n]]
                mean, sd = values.mean(0), values.std(0, ddof=1)
                ax.plot(epochs, mean, color=f"C{colour}",
                        label=f"{label} (mean ± sd, {len(curves)} seeds)")
                ax.fill_between(epochs, mean - sd, mean + sd, color=f"C{colour}", alpha=0.2)
                drawn += ax is ax_acc
                continue
            for i, c in enumerate(curves):
                ax.plot([row["epoch"] for row in c], [row[key] * scale for row in c],
                        marker="o", markersize=3, color=f"C{colour}" if by else None,
                        label=(label if i == 0 else None) if by else members[i]["run"])
                drawn += ax is ax_acc
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_acc, ax_loss):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("test accuracy (%)" if score == "test_accuracy" else
                      "weight error ||W - W*|| / ||W*||")
    if score != "test_accuracy":
        ax_acc.set_yscale("log")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("test loss")
    if drawn and (by or drawn <= 12):
        ax_acc.legend(fontsize=7)
    fig.suptitle(f"{len(runs)} runs below {root}" + (f", by {by}" if by else ""), fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return drawn
