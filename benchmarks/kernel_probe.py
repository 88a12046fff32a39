"""pytest plugin: a fingerprint of every CPU kernel call, and numba's compile CPU per kernel.

    KPROBE_OUT=/tmp/a.json python -m pytest -q -n 0 -p benchmarks.kernel_probe TESTS...

Why: a change meant to leave the CPU kernels' numbers alone (how they are compiled, say:
numba-IR inlining against LLVM's) is checked by running the same tests on the old and the
new tree (the old one first on PYTHONPATH, each with its own fresh ``NUMBA_CACHE_DIR``) and
comparing the two files: every ``*_numba`` / ``bind_*`` entry of ``xbrun.kernels.*_cpu``
is wrapped, and each call logs a SHA-256 of its arguments after the call (the kernels write
in place) and of what it returned - weights, counters and totals bit for bit, thousands of
calls over the tests' cells, noise settings, trains, dtypes and thread counts. The tests'
own checks compare to the torch twins with tolerances, which would not see a changed bit.
Compile CPU: ``Dispatcher.compile`` timed with ``time.process_time`` at its outermost
level (helpers compiled inside a kernel count to the kernel), summed and per kernel: the
cold cost a fresh clone pays, in one process. Written at exit to ``$KPROBE_OUT.<pid>``
(one file per xdist worker). Not loaded by the suite.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import time

import numpy as np
import torch

MODULES = ("analog_mvm_cpu", "auto_scale_cpu", "counted_update_cpu", "im2col_cpu",
           "line_write_cpu", "noisy_reads_cpu", "pulsed_update_cpu", "transfer_buffer_cpu",
           "transfer_write_cpu")
LOG: list[tuple[str, str, str]] = []
CURRENT = ["?"]
COMPILES = {"depth": 0, "cpu": 0.0, "per": {}}


def _digest(value, acc) -> None:
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu()
        acc.update(f"{t.dtype}{tuple(t.shape)}".encode())
        t = t.float() if t.dtype == torch.bfloat16 else t
        acc.update(np.ascontiguousarray(t.numpy()).tobytes())
    elif isinstance(value, np.ndarray):
        acc.update(str(value.dtype).encode() + np.ascontiguousarray(value).tobytes())
    elif isinstance(value, (tuple, list)):
        for x in value:
            _digest(x, acc)
    elif isinstance(value, dict):
        for k in sorted(value, key=str):
            _digest(value[k], acc)
    elif isinstance(value, (int, float, bool, str, np.generic)) or value is None:
        acc.update(repr(value).encode())


def _logged(name: str, args, kwargs, out) -> None:
    acc = hashlib.sha256()
    _digest(args, acc)
    _digest(kwargs, acc)
    _digest(out, acc)
    LOG.append((CURRENT[0], name, acc.hexdigest()[:16]))


def _wrap(name: str, f):
    def wrapper(*args, **kwargs):
        out = f(*args, **kwargs)
        if callable(out) and not isinstance(out, torch.Tensor):  # bind_*: log each bound call
            inner = out

            def bound(*a, **k):
                result = inner(*a, **k)
                _logged(name + ".bound", (a, args), k, result)
                return result
            return bound
        _logged(name, args, kwargs, out)
        return out
    return wrapper


def _time_compiles() -> None:
    from numba.core import dispatcher
    original = dispatcher.Dispatcher.compile

    def compile_timed(self, sig):
        began = time.process_time() if COMPILES["depth"] == 0 else 0.0
        COMPILES["depth"] += 1
        try:
            return original(self, sig)
        finally:
            COMPILES["depth"] -= 1
            if COMPILES["depth"] == 0:
                spent = time.process_time() - began
                key = f"{self.py_func.__module__.rsplit('.', 1)[-1]}.{self.py_func.__name__}"
                COMPILES["cpu"] += spent
                COMPILES["per"][key] = COMPILES["per"].get(key, 0.0) + spent
    dispatcher.Dispatcher.compile = compile_timed


def _wrap_entries() -> None:
    # at import (`-p` loads this before conftest and the tests bind the entries by name)
    for m in MODULES:
        module = importlib.import_module("xbrun.kernels." + m)
        for n in dir(module):
            if (n.endswith("_numba") or n.startswith("bind_")) and callable(getattr(module, n)):
                setattr(module, n, _wrap(f"{m}.{n}", getattr(module, n)))


_time_compiles()
_wrap_entries()


def pytest_runtest_setup(item) -> None:
    CURRENT[0] = item.nodeid


def pytest_unconfigure(config) -> None:
    out = os.environ.get("KPROBE_OUT", "kernel_probe.json") + f".{os.getpid()}"
    with open(out, "w") as fh:
        json.dump({"log": LOG, "compile_cpu": COMPILES["cpu"], "per": COMPILES["per"]}, fh)


def compare(old: str, new: str) -> None:
    """Print how many logged calls differ, and the compile CPU side by side."""
    a, b = (json.load(open(p)) for p in (old, new))
    pairs = zip(a["log"], b["log"], strict=False)
    differ = sum(x != y for x, y in pairs) + abs(len(a["log"]) - len(b["log"]))
    print(f"calls {len(a['log'])} / {len(b['log'])}, differing {differ}")
    print(f"compile CPU s {a['compile_cpu']:.1f} / {b['compile_cpu']:.1f}")
    for k in sorted(a["per"], key=lambda k: -a["per"][k]):
        print(f"  {k:45s} {a['per'][k]:6.2f} {b['per'].get(k, 0.0):6.2f}")


if __name__ == "__main__":
    import sys
    compare(sys.argv[1], sys.argv[2])
