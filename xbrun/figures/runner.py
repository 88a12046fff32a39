"""``xbrun figure``: run a figure's sweep, then draw it beside the published values.

The sweep is ``xbrun train -m experiment=<name>`` (the same command, checks, launchers and
run folders as any sweep) into ``<out>/runs``; drawing reads only those run folders, so
``--redraw`` draws again without running. ``<out>`` (default ``figures/<name>``, or
``figures/<name>-quick`` for ``--quick``) then holds the plot (PNG, SVG), ``results.csv``
(xbrun's numbers), ``published.csv`` (copied from ``docs/figures/<name>/``) and
``report.md`` (both side by side with a verdict per point, and the checked claims).
"""

from __future__ import annotations

import csv
import math
import re
import shutil
import sys
import textwrap
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

from ..composition import Parser, fail, is_hydra, one_line, parse_overrides
from ..composition import compose as _compose
from ..errors import ConfigError
from ..report import collect
from ..training.outputs import read_jsonl, write_text
from . import FIGURES
from .base import Figure, Point, Results, aggregate, fmt, verdict

#: the researched sources of every figure: setup.md, published.csv, claims.md
DOCS = Path(__file__).resolve().parents[2] / "docs" / "figures"
FULL_MNIST = (60000, 10000)
#: every verdict of a --quick run: a reduced sweep shows that the pipeline works, never that
#: a claim holds or a published value is met
QUICK_VERDICT = "not checked (quick run)"


def compose(overrides: list[str]):
    """The typed config of ``overrides``, Hydra's and OmegaConf's errors (``lr=abc``) as
    one-line ``ConfigError``s, as ``xbrun train`` gives them."""
    with one_line():
        return _compose(overrides)


# ---------------------------------------------------------------- runs -> numbers ------
def collect_runs(runs_dir: Path, figure: Figure) -> tuple[list[dict], list[dict]]:
    """``(finished runs, others)`` of the sweep in ``runs_dir``; each run carries its series
    (the option of ``figure.series_key``), composed config and metrics rows."""
    done, other = [], []
    for summary in collect(runs_dir):
        series = summary["overrides"].get(figure.series_key)
        if series is None:
            continue  # not a job of this figure's sweep
        run = {"series": series, "run": summary["run"], "status": summary.get("status"),
               "config": summary.get("config") or {}, "summary": summary}
        if run["status"] != "finished":
            other.append(run)
            continue
        run["rows"] = read_jsonl(runs_dir / summary["run"] / "metrics.jsonl")
        done.append(run)
    return done, other


def numbers(figure: Figure, runs: list[dict]) -> Results:
    points: list[Point] = []
    for run in runs:
        points += figure.points(run)
    return Results(aggregate(points))


def _mnist_count(path: Path) -> int | None:
    """The number of items an MNIST idx file says it holds (bytes 4-8 of its header)."""
    try:
        with open(path, "rb") as handle:
            return int.from_bytes(handle.read(8)[4:8], "big")
    except OSError:
        return None


def _file_sizes(dataset: dict) -> tuple[int, int] | None:
    """``(train, test)`` images that ``dataset`` selects, read from the idx headers under its
    root (limits applied); None when the files are not readable here (a run drawn on another
    machine than the one that trained it)."""
    raw = Path(str(dataset.get("root", "data"))).expanduser() / "MNIST" / "raw"
    sizes = [_mnist_count(raw / f"{part}-images-idx3-ubyte") for part in ("train", "t10k")]
    if None in sizes:
        return None
    train, test = (min(n, limit) if limit else n for n, limit in
                   zip(sizes, (dataset.get("limit_train"), dataset.get("limit_test")), strict=True))
    return train, test


def _accuracy_denominator(accuracies: list[float]) -> int:
    """The least common denominator of accuracies that are exact fractions ``correct / n`` of
    a test set of ``n`` images (``evaluate`` divides two integers): ``n`` or a divisor of it,
    never more, so it can only undercount the test set."""
    denominator = 1
    for accuracy in accuracies:
        denominator = math.lcm(denominator,
                               Fraction(accuracy).limit_denominator(1_000_000).denominator)
    return denominator


def inferred_sizes(run: dict) -> tuple[int, int] | None:
    """``(train, test)`` images of a run that did not record them (before 2026-12-07), from
    what its folder keeps: epoch 1's rank-1 updates over the tiles (each training image
    writes each tile once an epoch, with the ``outer_product`` decomposition, one process,
    no validation split) and the denominator of its test accuracies (a lower bound). None
    where either cannot be read (a digital run has no rank-1 updates)."""
    summary, rows = run.get("summary") or {}, run.get("rows") or []
    config = run.get("config") or summary.get("config") or {}
    epochs = [r for r in rows if r.get("test_accuracy") is not None and "rank1_updates" in r]
    tiles = (summary.get("mapping") or {}).get("tiles") or 0
    decomposition = (config.get("decomposition") or {}).get("name", "outer_product")
    if (not epochs or not tiles or decomposition != "outer_product"
            or (summary.get("world_size") or 1) != 1
            or (config.get("dataset") or {}).get("val_fraction")):
        return None
    first = epochs[0]["rank1_updates"]
    if not first or first % tiles:
        return None
    test = _accuracy_denominator([r["test_accuracy"] for r in epochs])
    return first // tiles, test


def run_sizes(run: dict) -> tuple[int, int] | None:
    """``(train, test)`` images a run trained and was scored on: its summary's ``data``
    (recorded since 2026-12-07), else the idx files under its root, else
    :func:`inferred_sizes`; None when none of them says."""
    summary = run.get("summary") or {}
    recorded = summary.get("data") or {}
    if recorded.get("train") and recorded.get("test"):
        return int(recorded["train"]), int(recorded["test"])
    dataset = (run.get("config") or summary.get("config") or {}).get("dataset") or {}
    return _file_sizes(dataset) or inferred_sizes(run)


def data_note(dataset: dict, sizes: tuple[int, int] | None = None) -> str | None:
    """Why a run's data make its numbers incomparable with published MNIST values (None: the
    full MNIST, 60,000 train / 10,000 test images). ``sizes``: the ``(train, test)`` images
    the run used where known (:func:`run_sizes`), else read from the files under its root."""
    name = dataset.get("name")
    if name != "mnist":
        return f"data set {name}, not MNIST"
    sizes = sizes or _file_sizes(dataset)
    if sizes is not None and tuple(sizes) == FULL_MNIST:
        return None
    shown = " / ".join(f"{n:,}" for n in sizes) if sizes else "unknown"
    return (f"an MNIST subset ({shown} train / test images from {dataset.get('root')}), "
            f"not the full 60,000 / 10,000")


# ---------------------------------------------------------------- outputs --------------
def read_published(figure: Figure) -> list[dict]:
    path = DOCS / figure.name / "published.csv"
    if not path.exists():
        return []
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def write_results(path: Path, figure: Figure, results: Results) -> None:
    """xbrun's numbers in published.csv's terms: ``series, metric, x, x2, y, y_sd, n`` (x and
    x2 as the figure defines them, named in report.md; n: runs averaged)."""
    lines = [["series", "metric", "x", "x2", "y", "y_sd", "n"]]
    for r in results.all:
        lines.append([r.series, r.metric, f"{r.x:g}", "" if r.x2 is None else f"{r.x2:g}",
                      repr(r.mean), repr(r.sd), str(r.n)])
    write_text(path, "".join(",".join(line) + "\n" for line in lines))


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


#: overrides that say where a sweep ran, not what it ran
_WHERE = ("dataset.root", "accelerator", "threads", "hydra", "+hydra", "~hydra")


def sweep_overrides(overrides: list[str]) -> list[str]:
    """The overrides that change what a figure's configured sweep runs."""
    return [o for o in overrides if not o.split("=", 1)[0].startswith(_WHERE)]


def overall_verdict(counts: dict[str, int], checks: list, quick: bool) -> str:
    """One line: does this run match its paper, on what was compared and checked."""
    if quick:
        return f"**Verdict: {QUICK_VERDICT}.**"
    within, outside = counts.get("within", 0), counts.get("outside", 0)
    passed = sum(c.passed is True for c in checks)
    failed = sum(c.passed is False for c in checks)
    open_ = sum(c.passed is None for c in checks)
    parts = [f"{within} of {within + outside} compared published values within tolerance"
             ] if within + outside else []
    parts += [f"{passed} of {passed + failed} checked claims PASS"] if passed + failed else []
    if open_:
        parts.append(f"{open_} claim{'s' * (open_ > 1)} not checked")
    detail = "; ".join(parts) + " (tables below)"
    if not within + outside + passed + failed:
        return ("**Verdict: not checked**: no published value was compared and no claim "
                "could be checked on this run (the tables below say why).")
    if not outside + failed:
        return f"**Verdict: matches its paper** on everything compared: {detail}."
    if not within + passed:
        return f"**Verdict: does not match its paper**: {detail}."
    return f"**Verdict: matches in part**: {detail}."


def report_text(figure: Figure, results: Results, published: list[dict], runs: list[dict],
                others: list[dict], runs_dir: Path, command: str, quick: bool,
                overrides: list[str] = ()) -> str:
    """``report.md``: source, data, differences, an overall verdict, plot, published vs
    xbrun with a verdict per value, the claims checked (each PASS / FAIL / not checked),
    runs that did not finish."""
    notes = data_notes(figure, runs)
    not_comparable = notes[0] if notes else None
    table: list[str] = []
    counts: dict[str, int] = {}
    if not published:
        table += [f"None: {figure.not_compared}.", ""]
    else:
        x_head = figure.x_label + (f" ({figure.x2_label})" if figure.x2_label else "")
        table += [f"| series | metric | {x_head} | published | how | source | "
                  "xbrun mean ± sd (n) | tolerance | verdict |", "|" + "---|" * 9]
        for row in published:
            tol = figure.tolerance(row, published)
            x2 = float(row["x2"]) if row.get("x2") else None
            mine = results.get(row["series"], row["metric"], float(row["x"]), x2)
            bound = row.get("bound") or None
            said = (QUICK_VERDICT if quick else
                    verdict(mine, float(row["y"]), tol, "data" if not_comparable else None,
                            bound))
            counts[said.split(" (")[0]] = counts.get(said.split(" (")[0], 0) + 1
            ours = f"{mine.mean:.4g} ± {mine.sd:.2g} ({mine.n})" if mine else "–"
            source = re.sub(r"\b([0-9a-f]{7})[0-9a-f]{33}\b", r"\1", row["source"])
            value = {"upper": "< ", "lower": "> "}.get(bound, "") + fmt(float(row["y"]))
            if row.get("y_err"):
                value += f" ± {fmt(float(row['y_err']), 2)}"
            where = row["x"] + (f" ({row['x2']})" if row.get("x2") else "")
            table.append("| " + " | ".join(_cell(c) for c in (
                row["series"], row["metric"], where, value, row["how"], source, ours,
                "–" if tol is None else ("the bound" if bound else fmt(tol, 3)),
                said)) + " |")
        table += ["", "Verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                  + ".", ""]
    checks = figure.claims(results)
    out = [f"# {figure.name}: {figure.shows}", "",
           f"**Source.** {figure.paper}. Published values, setup and claims: "
           f"`docs/figures/{figure.name}/` (`setup.md`, `published.csv`, `claims.md`).", "",
           f"**Run.** `{command}`; {len(runs)} finished runs in `{runs_dir}`"
           + (f", {len(others)} not finished (listed below)" if others else "") + ".", "",
           overall_verdict(counts, checks, quick), ""]
    changed = sweep_overrides(list(overrides))
    if changed:
        out += [f"**Changed from the configured sweep** (`conf/experiment/{figure.name}.yaml`; "
                f"full sweep: {figure.time}): these runs took "
                + " ".join(f"`{o}`" for o in changed) + ".", ""]
    if quick:
        out += ["**This is a `--quick` run** (a reduced sweep on a CPU): its numbers show "
                "that the pipeline works, not that the figure reproduces; every verdict "
                f"below is `{QUICK_VERDICT}`.", ""]
    for note in notes:
        out += [f"**Not comparable with published MNIST values:** xbrun ran on {note}; the "
                f"verdicts below say `not compared (data)`.", ""]
    if figure.notes:
        out += ["**Where this sweep differs from the published setup:**", ""]
        out += [f"- {n}" for n in figure.notes] + [""]
    out += [f"![{figure.name}]({figure.name}.png)", "", "## Published values beside xbrun's",
            "", *table]
    if checks:
        out += ["## Claims checked on this run", "",
                "| # | claim | source | result | numbers |", "|---|---|---|---|---|"]
        for i, c in enumerate(checks, 1):
            result = QUICK_VERDICT if quick else {True: "PASS", False: "FAIL",
                                                  None: "not checked"}[c.passed]
            out.append(f"| {i} | {_cell(c.claim)} | {_cell(c.source)} | {result} | "
                       f"{_cell(c.detail)} |")
        out.append("")
    if others:
        out += ["## Runs that did not finish", ""]
        out += [f"- `{r['run']}` ({r['series']}): {r['status']}"
                + (f": {r['summary'].get('error')}" if r["summary"].get("error") else "")
                for r in others] + [""]
    axes = f"x = {figure.x_label}" + (f", x2 = {figure.x2_label}" if figure.x2_label else "")
    out += [f"xbrun's numbers (mean and sd over the runs of a point, n runs): `results.csv` "
            f"({axes}); the published ones with their sources: `published.csv`.", ""]
    return "\n".join(out)


def data_notes(figure: Figure, runs: list[dict]) -> list[str]:
    """Why the runs' data are not the published MNIST (none for a non-MNIST figure)."""
    if not figure.mnist:
        return []
    # a run that kept no sizes (a digital one drawn away from its data) takes those of a run
    # of the same data set and limits
    known = {}
    for run in runs:
        dataset = run["config"].get("dataset", {})
        sizes = run_sizes(run)
        if sizes is not None:
            known.setdefault(repr(sorted(dataset.items())), sizes)
    notes = set()
    for run in runs:
        dataset = run["config"].get("dataset", {})
        sizes = run_sizes(run) or known.get(repr(sorted(dataset.items())))
        notes.add(data_note(dataset, sizes))
    return sorted(n for n in notes if n)


def image_caveat(figure: Figure, runs: list[dict], quick: bool) -> str | None:
    """The footnote a plot carries when it was made on less than the full sweep or data, so
    that the image alone cannot be mistaken for the figure reproduced."""
    parts = (["quick run: a reduced sweep, not the figure"] if quick else [])
    parts += [f"data: {note}" for note in data_notes(figure, runs)]
    return "; ".join(parts) or None


def draw_figure(figure: Figure, runs_dir: Path, out: Path, command: str, quick: bool,
                overrides: list[str] = ()) -> Path:
    """Everything in ``out`` from the run folders in ``runs_dir``; returns ``report.md``."""
    runs, others = collect_runs(runs_dir, figure)
    if not runs:
        raise ConfigError(f"{runs_dir}: no finished run of {figure.name} there "
                          f"({len(others)} did not finish)")
    results = numbers(figure, runs)
    published = read_published(figure)
    out.mkdir(parents=True, exist_ok=True)
    plot = figure.draw(results, published)
    caveat = image_caveat(figure, runs, quick)
    if caveat:  # wrapped to the plot's width (about 16 characters an inch at 7 pt)
        width = int(plot.get_figwidth() * 16)
        plot.supxlabel(textwrap.fill(caveat, width), fontsize=7, color="#b22222")
    plot.savefig(out / f"{figure.name}.png", dpi=150)
    plot.savefig(out / f"{figure.name}.svg")
    write_results(out / "results.csv", figure, results)
    source = DOCS / figure.name / "published.csv"
    if source.exists():
        shutil.copyfile(source, out / "published.csv")
    report = out / "report.md"
    write_text(report, report_text(figure, results, published, runs, others, runs_dir,
                                   command, quick, overrides))
    return report


# ---------------------------------------------------------------- the command ----------
def _first_job(overrides: list[str]) -> list[str]:
    """The overrides of a sweep's first job (``seed=0,1`` -> ``seed=0``)."""
    first = []
    for item in parse_overrides(overrides):
        if item.is_sweep_override():
            values = list(item.sweep_string_iterator())
            first.append(f"{item.get_key_element()}={values[0]}")
        else:
            first.append(item.input_line)
    return first


def _has_runs(folder: Path) -> bool:
    return folder.is_dir() and any(folder.rglob("summary.json"))


def run_figure(figure: Figure, overrides: list[str], out: Path, quick: bool, redraw: bool,
               train: Callable[[list[str]], None]) -> Path:
    """Run (unless ``redraw``) and draw one figure; returns its ``report.md``."""
    experiment = figure.name + ("_quick" if quick else "")
    given = [o.split("=", 1)[1] for o in overrides
             if o.split("=", 1)[0].lstrip("+") == "hydra.sweep.dir"]
    runs = out / "runs"
    command = " ".join(["xbrun figure", figure.name, *(["--quick"] if quick else []),
                        *overrides])
    if redraw:
        if not _has_runs(runs):
            raise ConfigError(f"--redraw: {runs} holds no runs of {figure.name}; run "
                              f"`xbrun figure {figure.name}{' --quick' if quick else ''}` "
                              f"first")
        return draw_figure(figure, runs, out, _recorded_command(runs) or command, quick,
                           overrides)
    if _has_runs(runs):
        raise ConfigError(f"{runs}: holds the runs of an earlier sweep; draw them again with "
                          f"--redraw, or move them away (or choose --out)")
    task = [f"experiment={experiment}", *(o for o in overrides if not is_hydra(o))]
    if figure.mnist:
        from ..training.preflight import check_environment

        check_environment(compose(_first_job(task)))  # no MNIST: one line, before any job
    made = [p for p in (out.absolute(), *out.absolute().parents) if not p.exists()]
    out.mkdir(parents=True, exist_ok=True)
    try:
        if given:
            sweep = Path(given[0]).expanduser()
            if runs.is_symlink():
                runs.unlink()
            runs.symlink_to(sweep.resolve(), target_is_directory=True)
        began = time.perf_counter()
        if figure.simulate is not None:
            simulate_sweep(figure, experiment, overrides, runs)
        else:
            train(["-m", f"experiment={experiment}", *overrides,
                   *([] if given else [f"hydra.sweep.dir={runs}"])])
    except BaseException:  # refused before any job (exit 2): leave no empty --out behind
        for folder in made:  # the deepest first, each only while empty
            try:
                folder.rmdir()
            except OSError:
                break
        raise
    print(f"xbrun figure: {figure.name}: sweep took {time.perf_counter() - began:.1f} s",
          file=sys.stderr)
    return draw_figure(figure, runs, out, command, quick, overrides)


def sweep_jobs(experiment: str, overrides: list[str]) -> list[list[str]]:
    """The overrides of every job of ``experiment``'s sweep (``hydra.sweeper.params``), a
    command-line value replacing an axis or adding one, as Hydra's basic sweeper orders
    them (the first axis slowest)."""
    import itertools

    from omegaconf import OmegaConf

    from ..composition import hydra_config

    cfg = hydra_config([f"experiment={experiment}"], with_hydra=True)
    axes = {str(k): str(v) for k, v in
            (OmegaConf.to_container(cfg.hydra.sweeper.params) or {}).items()}
    for item in overrides:
        key, value = item.split("=", 1)
        axes[key] = value
    values = []
    for key, value in axes.items():
        (parsed,) = parse_overrides([f"{key}={value}"])
        values.append([f"{key}={v}" for v in parsed.sweep_string_iterator()]
                      if parsed.is_sweep_override() else [f"{key}={value}"])
    return [[f"experiment={experiment}", *combo] for combo in itertools.product(*values)]


def simulate_sweep(figure: Figure, experiment: str, overrides: list[str], runs: Path) -> None:
    """Run a directly driven figure's sweep (``figure.simulate``) into ``runs``: one folder
    per job with the files ``collect`` reads (``summary.json``, ``metrics.jsonl``,
    ``.hydra/overrides.yaml``) and the command in ``multirun.yaml``. Every job is composed
    and checked before the first runs."""
    import yaml

    from ..schema import to_dict
    from ..training.outputs import write_json, write_jsonl

    launcher = [o for o in overrides if is_hydra(o)
                and o.split("=", 1)[0].lstrip("+") != "hydra.sweep.dir"]  # that one is honoured
    if launcher:  # e.g. `xbrun figure --all hydra/launcher=joblib ...`: not for this one
        print(f"xbrun figure: {figure.name} drives its device directly in this process; "
              f"ignoring {' '.join(launcher)}", file=sys.stderr)
    overrides = [o for o in overrides if not is_hydra(o)]
    jobs = sweep_jobs(experiment, overrides)
    configs = [compose(job) for job in jobs]
    runs.resolve().mkdir(parents=True, exist_ok=True)  # a hydra.sweep.dir link's target too
    write_text(runs / "multirun.yaml", yaml.safe_dump(
        {"hydra": {"overrides": {"task": [f"experiment={experiment}", *overrides]}}}))
    for index, (job, config) in enumerate(zip(jobs, configs, strict=True)):
        folder = runs / str(index)
        write_text(folder / ".hydra" / "overrides.yaml", yaml.safe_dump(job))
        write_jsonl(folder / "metrics.jsonl", figure.simulate(config))
        write_json(folder / "summary.json", {"status": "finished", "config": to_dict(config)})


def _recorded_command(runs: Path) -> str | None:
    """The command line of the sweep in ``runs`` (from Hydra's ``multirun.yaml``)."""
    import yaml

    try:
        task = yaml.safe_load((runs / "multirun.yaml").read_text())["hydra"]["overrides"]["task"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        return None
    return "xbrun train -m " + " ".join(str(t) for t in task)


def _mnist_missing(figure: Figure, overrides: list[str], quick: bool) -> str | None:
    from ..training.preflight import check_environment

    experiment = figure.name + ("_quick" if quick else "")
    try:
        check_environment(compose(_first_job([f"experiment={experiment}", *overrides])))
    except ConfigError as err:
        return str(err)
    return None


def list_figures() -> str:
    lines = []
    for f in FIGURES.values():
        lines.append(f"{f.name:<22} {f.shows}. {f.paper.split(';')[0]}. Data: {f.data}. "
                     f"Full sweep: {f.time}.")
    return "\n".join(lines)


#: the on/off options of ``xbrun figure``
SWITCHES = {
    "--list": "the figures, one line each",
    "--all": "every figure the data allow (MNIST figures are skipped, with the reason, where "
             "MNIST is absent); a figure whose runs exist is redrawn",
    "--quick": "a reduced sweep (CPU, seconds)",
    "--redraw": "draw again from the runs of an earlier sweep, without running",
}


def figure_command(args: list[str], train: Callable[[list[str]], None]) -> None:
    parser = Parser(prog="xbrun figure", description="Run a published figure's sweep and draw "
                    "it beside the published values (see --list).")
    parser.add_argument("name", nargs="?", help="the figure (see --list)")
    parser.add_argument("overrides", nargs="*", help="KEY=VALUE overrides for every run")
    for flag, text in SWITCHES.items():
        parser.add_argument(flag, action="store_true", help=text)
    parser.add_argument("--out", metavar="DIR", help="output folder (default figures/NAME, "
                        "figures/NAME-quick with --quick; with --all: the parent folder)")
    parser.add_argument("--mnist", metavar="DIR", help="dataset.root of the figures that read "
                        "MNIST")
    opts = parser.parse_intermixed_args(args)
    if opts.list:
        extra = [*([opts.name] if opts.name else []), *opts.overrides,
                 *(flag for flag in SWITCHES if flag != "--list"
                   and getattr(opts, flag.lstrip("-"))),
                 *(f"--{key} {getattr(opts, key)}" for key in ("out", "mnist")
                   if getattr(opts, key) is not None)]
        if extra:
            fail(f"xbrun figure --list: takes no other arguments, got {' '.join(extra)!r}")
        print(list_figures())
        return
    names = list(FIGURES) if opts.all else [opts.name]
    overrides = list(opts.overrides)
    if opts.all and opts.name:
        overrides.insert(0, opts.name)
    if not opts.all and opts.name is None:
        fail("xbrun figure: expected a figure name, --list or --all (see xbrun figure --help)")
    for name in names:
        if name not in FIGURES:
            fail(f"{name}: no such figure; choose one of {', '.join(FIGURES)} "
                 f"(xbrun figure --list)")
    bad = [o for o in overrides if "=" not in o and not o.startswith("~")]
    if bad:
        fail(f"{bad[0]}: expected KEY=VALUE (or ~KEY to remove a key)")
    for name in names:
        figure = FIGURES[name]
        mine = [*overrides, *([f"dataset.root={opts.mnist}"] if opts.mnist and figure.mnist
                              else [])]
        folder = figure.name + ("-quick" if opts.quick else "")
        out = Path(opts.out) / folder if opts.all and opts.out else Path(
            opts.out or Path("figures") / folder)
        redraw = opts.redraw or (opts.all and _has_runs(out / "runs"))
        if opts.all and figure.mnist and not redraw:
            reason = _mnist_missing(figure, mine, opts.quick)
            if reason:
                print(f"xbrun figure: skipping {name}: {reason}", file=sys.stderr)
                continue
        if redraw and not opts.redraw:
            print(f"xbrun figure: {name}: redrawn from the runs in {out / 'runs'} (remove them "
                  f"to run again)", file=sys.stderr)
        try:
            report = run_figure(figure, mine, out, opts.quick, redraw, train)
        except ConfigError as err:
            fail(str(err))
        print(f"xbrun figure: {name}: {report}")
