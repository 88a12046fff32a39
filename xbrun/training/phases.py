"""Where a run's wall time goes besides its steady steps: the process start-up (importing
the CLI, composing the config, importing torch and the training stack), data, building the
model, the first step (Triton and numba compile there), the eager warm-up steps before a CUDA
graph's capture, the capture, the epochs, and the end (plot, trackers).

Through the CLI the start-up is three phases: ``import`` (process start to the CLI's entry),
``compose`` (checking and composing the config; torch is first imported there, by the
pre-flight checks) and ``run imports`` (a job's start to its run); elsewhere one,
``start-up``.

A run's fixed overhead should stay near 3 s on the GPU (issue 27); the run logs these
seconds in one line before its last and keeps them in ``summary.json`` under ``phases``, so
one run shows which part does not.
"""

from __future__ import annotations

import gc
import os
import sys
import time

#: moments before a run (``time.perf_counter``) the CLI notes: its entry, a job's start
_NOTED: dict[str, float] = {}


def note(moment: str) -> None:
    """Note ``moment`` (``"cli"``, ``"job"``) for the next run's start-up phases. Imports
    nothing: the CLI calls it before torch is loaded."""
    _NOTED[moment] = time.perf_counter()


#: set while :func:`hold_collector` keeps Python's cyclic garbage collector off
_HELD: list[bool] = []


def hold_collector() -> None:
    """Turn Python's cyclic garbage collector off for the start-up of the ``xbrun train``
    command, until :func:`release_collector`. Start-up (importing torch, numba and Hydra,
    composing, building) makes some 380k objects that live as long as the process, and each
    of the collector's full passes walks all of them: 5 passes in ``debug=tiny``, 0.3-0.5 s
    of its 2.2 s of CPU on two cores, with the younger generations' passes 0.1-0.2 s more.
    Nothing a run computes depends on when garbage is collected. Not where the collector is
    off already (the caller's choice)."""
    if gc.isenabled():
        gc.disable()
        _HELD.append(True)


def release_collector() -> bool:
    """End :func:`hold_collector` (as a run's first epoch starts, or before the command
    waits on its replica processes; a sweep's once its first job is composed, or before Hydra
    runs it): what start-up made is frozen (the collector
    never walks it again; the ~20k objects of start-up garbage in it, about 3 MB, stay) and
    the collector is on again for the rest: the first step's compiles (numba's on a fresh
    install: 2.6 s of the collector's passes without the freeze) and each further
    composition (~1.4 MB of cycles) make garbage of their own. Returns whether it ended a
    hold (the run's first step may then hold it again: :class:`TimedSteps`)."""
    if _HELD:
        _HELD.clear()
        gc.freeze()
        gc.enable()
        return True
    return False


#: a first step longer than this (seconds) compiled kernels (a cold Triton cache): its
#: garbage is collected before what it made is frozen (:func:`end_quiet_step`)
COMPILING_STEP = 2.0


def end_quiet_step(seconds: float) -> None:
    """End the collector's hold over a run's first step (``TimedSteps(quiet_first=True)``):
    freeze what the step made and turn the collector on again. With warm kernel caches the
    first step loads numba's registries or Triton's kernels: ~60k objects that live as long
    as the run and ~750 of garbage (debug=tiny, CPU). With the collector on, its passes
    walked them 134 times (122 young, 11 middle, 1 full pass: 0.05-0.09 s of a 0.3-0.4 s
    first step on two cores), and every full pass of the epochs walked them again. A step
    that took longer than :data:`COMPILING_STEP` compiled (Triton, cold cache): its
    garbage is collected first, in one pass over the youngest generation, where everything
    the step made waits. (A CPU run that compiles numba's kernels keeps the collector on
    in its first step, ``loop``: held through that 24 s compile, max RSS grew by 157 MB
    for 0.5 s of CPU less.)"""
    if seconds > COMPILING_STEP:
        gc.collect(0)
    gc.freeze()
    gc.enable()


def process_seconds() -> float | None:
    """Seconds since this process started (Linux ``/proc``, 10 ms ticks); None elsewhere."""
    try:
        with open("/proc/self/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()  # after "pid (command)"
        with open("/proc/uptime") as uptime:
            now = float(uptime.read().split()[0])
        return max(0.0, now - int(fields[19]) / os.sysconf("SC_CLK_TCK"))  # field 22
    except (OSError, ValueError, IndexError):
        return None


def bytecode_note() -> str | None:
    """A line for the run's log where torch's modules were compiled from their sources in
    this process and nothing kept the bytecode (``PYTHONDONTWRITEBYTECODE=1``, or a
    read-only installation without ``.pyc``): every run then pays that again. xbrun does not
    set a bytecode cache itself (``sys.pycache_prefix``): the variable is the user's choice,
    and a prefix makes Python pass over every package's own ``__pycache__``; the note says
    what to do instead. None where torch's bytecode is there (or torch is not imported)."""
    spec = getattr(sys.modules.get("torch"), "__spec__", None)
    cached = getattr(spec, "cached", None)
    if cached is None or os.path.exists(cached):
        return None
    why = ("PYTHONDONTWRITEBYTECODE is set" if sys.flags.dont_write_bytecode else
           "its installation has no .pyc and is read-only")
    return (f"start-up: torch's modules have no bytecode cache here ({why}), so every run "
            f"compiles them, 1-3 s; set PYTHONPYCACHEPREFIX to a folder of yours (and unset "
            f"PYTHONDONTWRITEBYTECODE), or compile them once with python -m compileall")


#: the order a run goes through them (the log and summary list them so)
ORDER = ("start-up", "import", "compose", "run imports", "data", "build", "set-up",
         "first step", "warm-up", "graph capture", "epochs", "end")


class Phases:
    """Seconds per named phase: :meth:`mark` gives the time since the previous mark to a
    phase (adding up when a phase comes back)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._last = now = time.perf_counter()
        cli, job = _NOTED.pop("cli", None), _NOTED.pop("job", None)
        if job is not None and cli is None:  # a later job of a sweep in this process
            self.seconds["run imports"] = now - job
            return
        age = process_seconds()
        if age is None:
            return
        began = now - age
        if cli is not None and job is not None and began <= cli <= job <= now:
            self.seconds.update({"import": cli - began, "compose": job - cli,
                                 "run imports": now - job})
        else:  # up to now: the interpreter, imports, the config
            self.seconds["start-up"] = age

    def mark(self, name: str, at: float | None = None) -> None:
        """The time since the previous mark, up to now (or ``at``), is ``name``'s."""
        now = time.perf_counter() if at is None else at
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self._last
        self._last = now

    def _ordered(self):
        return sorted(self.seconds.items(), key=lambda kv: ORDER.index(kv[0])
                      if kv[0] in ORDER else len(ORDER))

    def rounded(self) -> dict[str, float]:
        return {name: round(s, 3) for name, s in self._ordered()}

    def line(self) -> str:
        return "phases: " + ", ".join(f"{name} {s:.2f} s" for name, s in self._ordered())


class TimedSteps:
    """A step runner (``StepRunner``) whose first step, graph captures and the eager steps
    between them are phases of their own: the time before such a step goes to ``epochs``;
    the step itself, finished on the GPU (a wait only in those steps), to ``first step``,
    ``graph capture`` or ``warm-up`` (the eager steps a runner that captures graphs takes
    before its first capture: ``graphs.WARMUP`` clean ones at least). ``quiet_first``: the
    first step runs with Python's cyclic collector off, and what it made is frozen after it
    (:func:`end_quiet_step`); for a run whose start-up held the collector
    (:func:`release_collector` returned True), as the loop sets it."""

    def __init__(self, runner, phases: Phases, quiet_first: bool = False):
        self.runner, self.phases, self.calls = runner, phases, 0
        self.quiet_first = quiet_first

    def __call__(self, x, y, idx):
        graphs = getattr(self.runner, "graphs", None)
        before = len(graphs) if graphs is not None else 0
        first, self.calls = self.calls == 0, self.calls + 1
        warming = (not first and x.is_cuda and getattr(self.runner, "enabled", False)
                   and not before and "graph capture" not in self.phases.seconds)
        quiet = first and self.quiet_first and gc.isenabled()
        if quiet:
            gc.disable()
        began = time.perf_counter()
        try:
            loss = self.runner(x, y, idx)
        finally:
            if quiet:
                end_quiet_step(time.perf_counter() - began)
        captured = graphs is not None and len(graphs) > before
        if first or captured or warming:
            if x.is_cuda:
                import torch

                torch.cuda.synchronize(x.device)
            self.phases.mark("epochs", at=began)
            self.phases.mark("graph capture" if captured else
                             "first step" if first else "warm-up")
        return loss
