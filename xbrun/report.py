"""``xbrun report DIR``: one row per run below DIR, showing only the overrides that differ.

Runs are listed in natural order (``2`` before ``10``). Tables and Markdown show rounded
numbers (accuracy in %); ``--csv`` writes the numbers as the runs recorded them (accuracy
as a fraction, no thousands separators), for other tools.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .sweep_report import _lookup, natural_key

METRICS = [("status", "status"), ("epochs_done", "epochs_done"),
           ("test_accuracy", "test_acc"), ("test_loss", "test_loss"), ("pulses", "pulses"),
           ("rank1_updates", "rank1"), ("seconds", "seconds")]
#: columns shown only when some run has them (validation split, the regression task's
#: weight scores, the test accuracy at the last time of ``xbrun evaluate``'s
#: evaluate.jsonl: the model as deployed hardware)
OPTIONAL = [("val_accuracy", "val_acc"), ("weight_error", "weight_error"),
            ("deployed_accuracy", "deployed_acc")]
#: the cost ledger's columns (summary.json ``cost.total``), shown when some run has them
COST = [("energy_j", "energy_J"), ("write_energy_j", "write_J"),
        ("max_cell_pulses", "max_cell_pulses"), ("lifetime_used", "lifetime_used")]


def collect(root: Path, warn=None) -> list[dict]:
    """Every run below ``root``: its summary and the command-line overrides it ran with.

    A ``summary.json`` or ``.hydra/overrides.yaml`` that cannot be read (a truncated file, a
    foreign one) is skipped with a one-line warning naming it; the other runs are kept.
    """
    warn = warn or (lambda text: print(f"xbrun: warning: {text}", file=sys.stderr))
    runs = []
    for summary_path in sorted(root.rglob("summary.json"),
                               key=lambda p: natural_key(str(p.relative_to(root)))):
        run_dir = summary_path.parent
        try:
            summary = json.loads(summary_path.read_text())
            if not isinstance(summary, dict):
                raise ValueError(f"a JSON {type(summary).__name__}, not an object")
        except (OSError, ValueError) as err:
            warn(f"{summary_path}: skipped, not a readable summary ({_reason(err)})")
            continue
        overrides_path = run_dir / ".hydra" / "overrides.yaml"
        overrides = []
        if overrides_path.exists():
            try:
                overrides = yaml.safe_load(overrides_path.read_text()) or []
                if not isinstance(overrides, list):
                    raise ValueError(f"a YAML {type(overrides).__name__}, not a list")
            except (OSError, ValueError, yaml.YAMLError) as err:
                warn(f"{overrides_path}: skipped, not a readable override list "
                     f"({_reason(err)}); the run is shown without its overrides")
                overrides = []
        pairs = dict(str(o).split("=", 1) for o in overrides if "=" in str(o))
        pairs.pop("resume", None)  # a resumed run's own folder: no column
        runs.append({**summary, **cost_columns(summary), **deployed(run_dir, warn),
                     "run": str(run_dir.relative_to(root)) or ".", "overrides": pairs})
    return runs


def deployed(run_dir: Path, warn) -> dict:
    """``{"deployed_accuracy": ...}``: the last time's mean accuracy in the run's
    ``evaluate.jsonl`` (``xbrun evaluate RUN_DIR eval.*``), ``{}`` without one."""
    path = run_dir / "evaluate.jsonl"
    if not path.is_file():
        return {}
    try:
        last = json.loads(path.read_text().splitlines()[-1])
        return {"deployed_accuracy": float(last["accuracy"])}
    except (OSError, ValueError, IndexError, KeyError, TypeError) as err:
        warn(f"{path}: skipped, not a readable evaluation ({_reason(err)})")
        return {}


def cost_columns(summary: dict) -> dict:
    """The ``COST`` columns of a run from its ``cost.total`` (none for older runs)."""
    total = summary.get("cost", {}).get("total") if isinstance(summary.get("cost"), dict) \
        else None
    if not isinstance(total, dict):
        return {}
    parts = [total.get(k) for k in ("write_energy_j", "read_energy_j", "convert_energy_j")]
    energy = sum(parts) if all(isinstance(p, (int, float)) for p in parts) else None
    return {"energy_j": energy, **{k: total.get(k) for k, _ in COST[1:]}}


def _readable_metrics(path: Path) -> bool:
    """Whether the curves of ``path`` can be drawn (a one-line warning names it if not)."""
    from .training.outputs import read_jsonl

    try:
        rows = read_jsonl(path)  # step records (log_every) are skipped where curves are drawn
        if all(isinstance(r, dict) and ("step" in r or {"epoch", "test_accuracy", "test_loss"}
                                        <= set(r)) for r in rows):
            return True
        reason = "rows without epoch, test_accuracy or test_loss"
    except (OSError, ValueError) as err:
        reason = _reason(err)
    print(f"xbrun: warning: {path}: not drawn, unreadable metrics ({reason})", file=sys.stderr)
    return False


def _reason(err: Exception) -> str:
    return f"{type(err).__name__}: " + " ".join(str(err).split())[:120]


def rows(runs: list[dict], raw: bool = False) -> tuple[list[str], list[list[str]]]:
    """Header and one row per run: the overrides that differ, then the metrics; ``raw``
    keeps the recorded numbers (CSV) instead of rounding them for reading."""
    keys = sorted({k for r in runs for k in r["overrides"]})
    differing = [k for k in keys if len({r["overrides"].get(k) for r in runs}) > 1]
    metrics = METRICS[:4] + [m for m in OPTIONAL if any(r.get(m[0]) is not None
                                                         for r in runs)] + METRICS[4:]
    metrics += [m for m in COST if any(r.get(m[0]) is not None for r in runs)]
    header = ["run", *differing, *[label for _, label in metrics]]
    body = []
    for r in runs:
        cells = [r["run"], *[str(r["overrides"].get(k, "")) for k in differing]]
        cells += [_cell(key, r.get(key), raw) for key, _ in metrics]
        body.append(cells)
    return header, body


def _cell(key: str, value, raw: bool) -> str:
    if value is None:
        return ""
    if raw or isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if key.endswith("accuracy"):
        return f"{100 * value:.2f}%"
    if isinstance(value, float):
        return f"{value:.4g}"
    return f"{value:,}" if key in ("pulses", "rank1_updates", "max_cell_pulses") else str(value)


def report_command(args) -> None:
    from .composition import fail, plot_path
    from .errors import ConfigError

    root = Path(args.dir)
    if not root.is_dir():
        fail(f"{root}: not a folder")
    if getattr(args, "plot", None):
        try:
            args.plot = plot_path(args.plot)
        except ConfigError as err:
            fail(str(err))
    wear = getattr(args, "wear", None)
    if wear:
        from .wear_map import draw_wear

        draw_wear(root, Path(wear))
    runs = collect(root)
    if not runs and wear:
        return  # the run's wear map is drawn; no table of no runs
    if not runs:  # a wrong folder, as a missing one: one line, exit 2
        fail(f"{root}: no readable runs below it (each summary.json was skipped, above)"
             if any(root.rglob("summary.json")) else
             f"{root}: no runs below it (a run's folder holds its summary.json)")
    by = getattr(args, "by", None)
    if by and not any(_has_key(run, by) for run in runs):
        fail(f"--by {by}: no run below {root} has this key; use an override, config or "
             f"summary key, e.g. device, seed, lr, cell.dw_min or placement.device")
    header, body = rows(runs, raw=bool(args.csv))
    if _sweep_views(args, root, runs, header, body):
        return
    if args.csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(header)
        writer.writerows(body)
        return
    console = Console()
    if not console.is_terminal:  # piped or captured: don't squeeze the table to 80 columns
        console = Console(width=240)
    console.print(_table(f"{len(runs)} runs below {root}", header, body))


def _has_key(run: dict, key: str) -> bool:
    return key in run["overrides"] or _lookup(run, key) is not None or _lookup(
        run.get("config") or {}, key) is not None


def _sweep_views(args, root: Path, runs: list[dict], header, body) -> bool:
    """``--by``, ``--plot``, ``--markdown`` (xbrun.sweep_report); True when it printed the
    tables itself."""
    from . import sweep_report

    by, plot, as_markdown = (getattr(args, name, None) for name in ("by", "plot", "markdown"))
    if plot:
        curves = [r for r in runs if _readable_metrics(root / r["run"] / "metrics.jsonl")]
        drawn = sweep_report.plot(curves, root, Path(plot), by)
        print(f"{plot}: {drawn} curves of {len(runs)} runs", file=sys.stderr)
    grouped = None
    if by:
        if by not in header:  # show the grouping key (e.g. placement.gpu_uuid) per run
            header.insert(1, by)
            for row, run in zip(body, runs, strict=True):
                row.insert(1, sweep_report.value_of(run, by))
        if sweep_report.differ_only_in_seed(sweep_report.group(runs, by), by):
            grouped = sweep_report.grouped_rows(runs, by)
    if as_markdown:
        print(sweep_report.markdown(header, body))
        if grouped:
            print()
            print(sweep_report.markdown(*grouped))
        return True
    if by and not args.csv:
        console = Console() if Console().is_terminal else Console(width=240)
        console.print(_table(f"{len(runs)} runs below {root}", header, body))
        if grouped:
            console.print(_table(f"mean ± sd over seeds, by {by}", *grouped))
        return True
    return False


def _table(title: str, header: list[str], body: list[list[str]]) -> Table:
    """A rich table of plain text: a ``[`` in a value (``[32]``, ``[/bold]``) is shown as
    written, never read as rich markup."""
    table = Table(title=escape(title))
    for name in header:
        table.add_column(escape(name), justify="left" if name in ("run", "status") else "right")
    for row in body:
        table.add_row(*(escape(str(cell)) for cell in row))
    return table
