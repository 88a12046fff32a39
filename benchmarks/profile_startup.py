"""Where a run's fixed overhead goes: process start to first step, plus the end (issue 27).

    python -m benchmarks.profile_startup [--laps] [--runs N] [--profile TOP] [--timeline]
                                         [OVERRIDES...]

``--laps``: in a fresh process, the seconds of each piece of the start-up in the order a run
meets them (CUDA's driver alone, torch's import, CUDA's context, cuBLAS, Triton's import and driver,
Triton's cache key, numba, Hydra, the schemas, one composition, the pre-flight checks, the
kernel modules).
``--runs N``: N runs of ``xbrun train OVERRIDES`` (default ``epochs=2``) as separate
processes: the process's wall time, the run's ``phases``, test loss and pulses
(``summary.json``).
``--profile TOP``: one such run in this process under cProfile (the cyclic collector held
off for its start-up, as the command holds it), the TOP functions by cumulative and by own
time, and on CUDA each Triton kernel's first-call cost (the cache
lookup and load of ``triton.compiler.compile``, the module load of ``_init_handles``).
``--timeline``: one such run as the ``xbrun`` command starts it (with its background
``cuInit``), its main thread's stack sampled every 5 ms: wall seconds per place, waits
included (a lock, the driver), which cProfile's per-call CPU view hides.
``--bytecode DIR``: the runs write and read Python's bytecode under DIR
(``PYTHONPYCACHEPREFIX``, with ``PYTHONDONTWRITEBYTECODE`` taken out of their environment),
as on a user's machine; without it a machine that sets ``PYTHONDONTWRITEBYTECODE`` (the
device machines do) compiles torch's sources in every run.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

LAPS = r"""
import sys, time
t = time.perf_counter()
def lap(name):
    global t
    now = time.perf_counter()
    print(f"{name:34s} {now - t:7.3f}", flush=True)
    t = now
from xbrun.training.phases import process_seconds
print(f"{'interpreter start (process age)':34s} {process_seconds():7.3f}")
t = time.perf_counter()
import ctypes
try:
    status = ctypes.CDLL("libcuda.so.1").cuInit(0)
except OSError:
    status = "no driver"
lap(f"cuInit (ctypes) = {status}")
import torch; lap("import torch")
cuda = torch.cuda.is_available(); lap(f"torch.cuda.is_available() = {cuda}")
if cuda:
    torch.zeros(1, device="cuda"); torch.cuda.synchronize(); lap("CUDA context (first tensor)")
    a = torch.ones(8, 8, device="cuda"); (a @ a).sum().item(); lap("first matmul (cuBLAS)")
    import triton, triton.language; lap("import triton")
    from triton.runtime import driver; driver.active.get_current_device(); lap("triton driver")
    import triton.runtime.cache as tc
    key = getattr(tc, "triton_key", None)
    if key is not None:
        key(); lap("triton_key() (hash of Triton)")
try:
    import numba; lap("import numba")
except ImportError:
    lap("no numba")
import hydra, omegaconf; lap("import hydra, omegaconf")
import xbrun.config; lap("import xbrun.config (schemas)")
from xbrun import composition
composition.register_schemas(); lap("register_schemas")
overrides = sys.argv[1:]
with composition.hydra_held() if hasattr(composition, "hydra_held") else composition._initialised():
    lap("Hydra initialised")
    cfg, config = composition.composed(overrides, []); lap("compose + typed")
from xbrun.training.preflight import check_environment, check_structure; lap("import preflight")
check_structure(config); lap("check_structure")
check_environment(config); lap("check_environment")
from xbrun.training import loop; lap("import training.loop")
if cuda:
    import importlib, pkgutil, xbrun.kernels as k
    for m in pkgutil.iter_modules(k.__path__):
        if m.name.endswith("_cuda"):
            importlib.import_module(f"xbrun.kernels.{m.name}")
    lap("import the Triton kernel modules")
"""


TIMELINE = r"""
import atexit, collections, sys, threading, time
from xbrun.training.phases import process_seconds
age, began = process_seconds(), time.perf_counter()
main_id, seen, stop = threading.main_thread().ident, collections.Counter(), threading.Event()
ROOTS = ("/xbrun/", "/kernels/", "/benchmarks/")

def place(frame):
    # the innermost xbrun frame, the outermost module being imported below it, the innermost
    # frame: where the main thread is, at three depths
    stack = []
    while frame is not None:
        stack.append(frame)
        frame = frame.f_back
    stack.reverse()
    ours = [f for f in stack if any(r in f.f_code.co_filename for r in ROOTS)]
    mine = ours[-1] if ours else None
    below = stack[stack.index(mine) + 1:] if mine is not None else stack
    module = next((f.f_globals.get("__name__", "?") for f in below
                   if f.f_code.co_name == "<module>"), "")
    inner = stack[-1] if stack else None
    return (name(mine), module, name(inner))

def name(frame):
    if frame is None:
        return "-"
    return f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_code.co_name}"

def sample():
    last = time.perf_counter()
    while not stop.is_set():
        time.sleep(0.005)
        frame = sys._current_frames().get(main_id)
        now = time.perf_counter()
        seen[place(frame)] += now - last
        last = now

def report():
    stop.set()
    total = time.perf_counter() - began
    print(f"process age at entry {age:.3f} s; sampled {total:.3f} s after it")
    from xbrun.training import driver_start
    print(f"background cuInit: {driver_start.RESULT or 'none'}")
    mine = collections.Counter()
    for (ours, module, inner), s in seen.items():
        mine[ours] += s
    print("seconds by innermost xbrun frame")
    for key, s in mine.most_common(25):
        print(f"  {s:7.3f}  {key}")
    print("seconds by (xbrun frame, module imported below it, innermost frame)")
    for (ours, module, inner), s in seen.most_common(45):
        print(f"  {s:7.3f}  {ours} | {module} | {inner}")

threading.Thread(target=sample, daemon=True).start()
atexit.register(report)
sys.argv = ["xbrun", "train", *sys.argv[1:]]
from xbrun.cli import main
main()
"""


def timeline(overrides: list[str]) -> None:
    folder = tempfile.mkdtemp(prefix="startup-timeline-")
    subprocess.run([sys.executable, "-c", TIMELINE, *overrides, f"hydra.run.dir={folder}"],
                   check=False)


def laps(overrides: list[str]) -> None:
    subprocess.run([sys.executable, "-c", LAPS, *overrides], check=False)


def runs(n: int, overrides: list[str]) -> list[dict]:
    found = []
    for i in range(n):
        folder = Path(tempfile.mkdtemp(prefix="startup-"))
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "xbrun", "train", *overrides,
                               f"hydra.run.dir={folder}"], capture_output=True, text=True)
        wall = time.perf_counter() - began
        summary = folder / "summary.json"
        found_summary = json.loads(summary.read_text()) if summary.is_file() else {}
        # the run's results beside its phases: two trees' runs of one seed compare exactly
        results = {k: found_summary[k] for k in ("test_loss", "pulses") if k in found_summary}
        row = {"run": i + 1, "real": round(wall, 2), "rc": done.returncode,
               **found_summary.get("phases", {}), **results}
        if done.returncode:
            row["stderr"] = done.stderr[-400:]
        print(json.dumps(row), flush=True)
        found.append(row)
    return found


def _triton_timers() -> dict[str, list[float]]:
    """Time every Triton kernel's first calls: ``triton.compiler.compile`` (a compile, or on a
    warm cache the key, the lookup and the read of the binary) and ``_init_handles`` (the
    module load and launcher), per kernel."""
    spent: dict[str, list[float]] = defaultdict(lambda: [0.0, 0, 0.0])
    try:
        import triton.compiler as compiler
        from triton.compiler.compiler import CompiledKernel
    except ImportError:
        return spent
    compile_, init = compiler.compile, getattr(CompiledKernel, "_init_handles", None)

    def timed_compile(src, *args, **kwargs):
        began = time.perf_counter()
        try:
            return compile_(src, *args, **kwargs)
        finally:
            name = getattr(getattr(src, "fn", None), "__name__", str(getattr(src, "name", "?")))
            spent[name][0] += time.perf_counter() - began
            spent[name][1] += 1

    def timed_init(self, *args, **kwargs):
        began = time.perf_counter()
        try:
            return init(self, *args, **kwargs)
        finally:
            spent[getattr(self, "name", "?")][2] += time.perf_counter() - began

    compiler.compile = timed_compile  # what JITFunction's binder picks up on its first call
    if init is not None:
        CompiledKernel._init_handles = timed_init
    return spent


def profile(top: int, overrides: list[str]) -> None:
    import torch

    spent = _triton_timers() if torch.cuda.is_available() else {}
    from xbrun.cli import main
    from xbrun.training.phases import hold_collector

    hold_collector()  # as the `xbrun train` command does (cli.main without argv): else the
    # collector's passes over start-up's objects land in whatever function allocates

    folder = tempfile.mkdtemp(prefix="startup-prof-")
    prof = cProfile.Profile()
    prof.enable()
    try:
        main(["train", *overrides, f"hydra.run.dir={folder}"])
    except SystemExit:
        pass
    prof.disable()
    stats = pstats.Stats(prof)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    if spent:
        print("Triton first calls: kernel, compile-or-load s (specialisations), module load s")
        for name, (seconds, count, load) in sorted(spent.items(), key=lambda kv: -kv[1][0]):
            print(f"  {name:40s} {seconds:7.3f} ({count})  {load:7.3f}")
        print(f"  total {sum(v[0] for v in spent.values()):.3f} s compile-or-load, "
              f"{sum(v[2] for v in spent.values()):.3f} s module load, "
              f"{sum(v[1] for v in spent.values())} specialisations")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--laps", action="store_true")
    parser.add_argument("--runs", type=int, default=0)
    parser.add_argument("--profile", type=int, default=0, metavar="TOP")
    parser.add_argument("--timeline", action="store_true")
    parser.add_argument("--bytecode", metavar="DIR")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    overrides = args.overrides or ["epochs=2"]
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    if args.bytecode:  # the child processes' environment (the runs, the laps, the timeline)
        os.environ["PYTHONPYCACHEPREFIX"] = str(Path(args.bytecode).resolve())
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    if args.laps:
        laps(overrides)
    if args.runs:
        runs(args.runs, overrides)
    if args.profile:
        profile(args.profile, overrides)
    if args.timeline:
        timeline(overrides)


if __name__ == "__main__":
    main()
