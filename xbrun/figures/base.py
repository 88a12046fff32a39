"""What a figure is, and the arithmetic every figure shares.

A figure is an ``experiment/`` config (its sweep: axes, fixed settings, source) plus a
:class:`Figure` here that says which numbers one finished run contributes (``points``), how
they are drawn (``draw``), how far a published value may lie from xbrun's (``tolerance``)
and, where a paper gives statements rather than numbers, how each statement is checked on
xbrun's numbers (``claims``). Nothing here runs or writes anything (see ``runner.py``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Point:
    """One number one run contributes: ``metric`` of ``series`` at ``x`` (and ``x2``)."""

    series: str
    metric: str
    x: float
    value: float
    x2: float | None = None


@dataclass(frozen=True)
class Result:
    """The mean (and sample sd) of a point over the runs that differ only in their seeds."""

    series: str
    metric: str
    x: float
    x2: float | None
    mean: float
    sd: float
    n: int


@dataclass(frozen=True)
class Check:
    """A published statement checked on xbrun's numbers (``passed`` None: cannot be checked)."""

    claim: str
    source: str
    passed: bool | None
    detail: str


class Results:
    """xbrun's numbers of one figure, looked up by series, metric and x."""

    def __init__(self, results: list[Result]):
        self.all = sorted(results, key=lambda r: (r.series, r.metric, r.x2 or 0.0, r.x))
        self._index = {(r.series, r.metric, r.x, r.x2): r for r in self.all}

    def get(self, series: str, metric: str, x: float, x2: float | None = None
            ) -> Result | None:
        return self._index.get((series, metric, float(x), None if x2 is None else float(x2)))

    def need(self, series: str, metric: str, x: float, x2: float | None = None, *,
             at: str) -> Result:
        """``get`` for a claim: a missing point raises ``LookupError`` ("no SERIES run at
        AT"), which leaves the claim unchecked instead of failing it."""
        found = self.get(series, metric, x, x2)
        if found is None:
            raise LookupError(f"no {series} run at {at}")
        return found

    def mean_of(self, metric: str, at: str) -> Callable[[str, float], float]:
        """``mean(series, x)``: the mean of ``metric`` (``need``: a missing point leaves the
        claim unchecked, named by ``at.format(x)``)."""
        return lambda series, x: self.need(series, metric, x, at=at.format(x)).mean

    def ends(self, metric: str, what: str) -> tuple[float, float]:
        """The smallest and largest x of ``metric`` (a claim comparing them needs two:
        ``ValueError`` naming ``what`` otherwise)."""
        xs = self.values("x", metric)
        if len(xs) < 2:
            raise ValueError(f"needs two {what} values")
        return xs[0], xs[-1]

    def curve(self, series: str, metric: str, x2: float | None = None) -> list[Result]:
        """The results of ``series`` and ``metric`` along x (at ``x2`` if given)."""
        return [r for r in self.all if r.series == series and r.metric == metric
                and (x2 is None or r.x2 == x2)]

    def values(self, attr: str, metric: str | None = None) -> list:
        return sorted({getattr(r, attr) for r in self.all
                       if metric is None or r.metric == metric} - {None})


def _no_claims(results: Results) -> list[Check]:
    return []


#: ``not_compared`` of a figure whose repository commits code but no outputs
NO_OUTPUTS_COMMITTED = ("no numbers are published (the repository commits no outputs); "
                        "claims.md is checked instead")


#: the authors' code of Wu et al. 2024 and 2025, at the commit the figures were read from
WU_REPO = "Zhaoxian-Wu/analog-training"
WU_COMMIT = "17d0e0c"
REGRESSION = "built-in regression task (no download)"


def _not_compared(row: dict, published: list[dict]) -> float | None:
    return None


@dataclass(frozen=True)
class Figure:
    """A reproducible figure; its sweep is ``conf/experiment/<name>.yaml`` (and ``_quick``)."""

    name: str
    paper: str                     # citation
    shows: str                     # what the plot shows, one line
    data: str                      # data it needs
    time: str                      # rough time of the full sweep
    x_label: str
    points: Callable[[dict], list[Point]]      # one finished run -> its numbers
    draw: Callable[[Results, list[dict]], object]  # -> a matplotlib Figure
    mnist: bool = False            # reads MNIST from dataset.root
    x2_label: str = ""
    notes: tuple[str, ...] = ()    # where this sweep differs from the published setup
    tolerance: Callable[[dict, list[dict]], float | None] = _not_compared
    not_compared: str = "no published number for this figure"
    claims: Callable[[Results], list[Check]] = field(default=_no_claims)
    #: a figure whose paper drives a device directly (no network, no loss) gives the rows of
    #: one job here, ``simulate(RunConfig) -> metrics rows``; its sweep is expanded from the
    #: same experiment config and written as run folders like ``xbrun train -m`` writes
    simulate: Callable[[object], list[dict]] | None = None

    @property
    def series_key(self) -> str:
        """The sweep axis whose options (``conf/experiment/<name>/*.yaml``) are the series."""
        return f"+experiment/{self.name}"


def aggregate(points: list[Point]) -> list[Result]:
    """Mean and sd over the runs that contribute the same (series, metric, x, x2)."""
    groups: dict[tuple, list[float]] = {}
    for p in points:
        if p.value is None or not math.isfinite(p.value):
            continue
        key = (p.series, p.metric, float(p.x), None if p.x2 is None else float(p.x2))
        groups.setdefault(key, []).append(float(p.value))
    return [Result(*key, statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0,
                   len(v)) for key, v in groups.items()]


def verdict(result: Result | None, published: float, tolerance: float | None,
            not_comparable: str | None = None, bound: str | None = None) -> str:
    """``within`` / ``outside`` the tolerance around a published value, or why not compared.
    A published bound (``bound`` "upper": the paper gives only "< y", e.g. "< 15.00" for runs
    that all failed; "lower": "> y") is met when xbrun's mean is on its side of it."""
    if tolerance is None:
        return "not compared"
    if not_comparable:
        return f"not compared ({not_comparable})"
    if result is None:
        return "no xbrun value"
    if bound:
        met = result.mean < published if bound == "upper" else result.mean > published
        return "within" if met else "outside"
    return "within" if abs(result.mean - published) <= tolerance else "outside"


def check(claim: str, source: str, condition: Callable[[], tuple[bool, str]]) -> Check:
    """A claim checked by ``condition`` (``(passed, detail)``); missing numbers leave it
    unchecked (``passed`` None) instead of failing it."""
    try:
        passed, detail = condition()
    except (LookupError, TypeError, ValueError, AttributeError) as err:
        return Check(claim, source, None, f"not checkable on this run ({err})")
    return Check(claim, source, bool(passed), detail)


def checks(source: str, *items: tuple[str, str, Callable[[], tuple[bool, str]]]
           ) -> list[Check]:
    """``check`` each ``(claim, where, condition)`` of one source, cited as
    ``"<source> (<where>)"``."""
    return [check(claim, f"{source} ({where})", condition) for claim, where, condition in items]


def final_row(run: dict) -> dict:
    """The last per-epoch record of a run (``metrics.jsonl`` rows with an ``epoch``, not a
    ``step``)."""
    epochs = [r for r in run["rows"] if "step" not in r]
    return epochs[-1] if epochs else {}


def config_value(run: dict, key: str):
    """``key`` (dotted) of the run's composed config."""
    value = run["config"]
    for part in key.split("."):
        value = value[part]
    return value


def fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}g}"
