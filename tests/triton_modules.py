"""Load a Triton kernel module of ``kernels/`` interpreted or compiled, for the tests.

Triton fixes interpretation when a kernel is decorated (at import), so each mode gets its own
private copy of the module; CPU tests (interpreter) and GPU tests can then share a session.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from pathlib import Path

from xbrun import kernels

KERNEL_DIR = Path(kernels.__file__).parent


def triton_function(module: str, name: str, interpret: bool):
    """``name`` from ``kernels/<module>.py``, decorated under ``TRITON_INTERPRET=interpret``."""
    key = f"xbrun.kernels._{module}_" + ("interpreted" if interpret else "compiled")
    if key not in sys.modules:
        old = os.environ.get("TRITON_INTERPRET")
        os.environ["TRITON_INTERPRET"] = "1" if interpret else "0"
        try:
            spec = importlib.util.spec_from_file_location(key, KERNEL_DIR / f"{module}.py")
            mod = importlib.util.module_from_spec(spec)
            sys.modules[key] = mod
            spec.loader.exec_module(mod)
        finally:
            if old is None:
                os.environ.pop("TRITON_INTERPRET", None)
            else:
                os.environ["TRITON_INTERPRET"] = old
    return getattr(sys.modules[key], name)


@contextlib.contextmanager
def delayed_stores():
    """Interpreted kernels see a program's stores only at its next ``tl.debug_barrier`` or
    when it ends, as a GPU's threads may see each other's: a kernel whose threads share
    values through memory without a barrier then reads stale values here too (the
    interpreter otherwise runs a program's block as one, in program order)."""
    from triton.runtime import interpreter

    builder = type(interpreter.interpreter_builder)
    executor = interpreter.GridExecutor
    saved = (builder.create_masked_store, builder.create_barrier, builder.set_grid_idx,
             executor.__call__)
    held = []

    def flush():
        while held:
            interpreter._interpreter.store(*held.pop(0))

    def store(self, ptrs, value, mask, cache_modifier, eviction_policy):
        held.append((ptrs.data.copy(), value.data.copy(), mask.data.copy()))

    def barrier(self):
        flush()

    def next_program(self, x, y, z):
        flush()
        return saved[2](self, x, y, z)

    def launch(self, *args, **kwargs):
        try:
            return saved[3](self, *args, **kwargs)
        finally:
            flush()

    builder.create_masked_store, builder.create_barrier = store, barrier
    builder.set_grid_idx, executor.__call__ = next_program, launch
    try:
        yield
    finally:
        flush()
        (builder.create_masked_store, builder.create_barrier, builder.set_grid_idx,
         executor.__call__) = saved


class CheckedLaunches:
    """``kernel`` whose launches (``kernel[grid](...)``) must pass the constexpr ``flags``
    (absent: False), e.g. a path's switch: a test's proof that the path was taken.
    ``launches`` counts them."""

    def __init__(self, kernel, **flags):
        self.kernel, self.flags, self.launches = kernel, flags, 0

    def __getitem__(self, grid):
        launch = self.kernel[grid]

        def run(*args, **kwargs):
            for name, value in self.flags.items():
                assert kwargs.get(name, False) == value, (name, kwargs.get(name, False))
            self.launches += 1
            return launch(*args, **kwargs)

        return run


def checked_sure_pulses(monkeypatch, on: bool) -> CheckedLaunches:
    """``pulsed_update_cuda.SURE_PULSES`` set to ``on`` and its wide kernel's launches
    checked to take that path (an earlier call's check unwrapped): the check to count."""
    from xbrun.kernels import pulsed_update_cuda as pu

    wide = pu._one_hot_wide_kernel
    if isinstance(wide, CheckedLaunches):
        wide = wide.kernel
    monkeypatch.setattr(pu, "SURE_PULSES", on)
    checked = CheckedLaunches(wide, SURE=on)
    monkeypatch.setattr(pu, "_one_hot_wide_kernel", checked)
    return checked
