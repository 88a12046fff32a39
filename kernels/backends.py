"""Which implementation of an operation runs: one registry, one predicate.

Every operation registers its torch twin (the definition, always there) and, where written,
a numba (CPU) and a Triton (CUDA) implementation, named ``"module:function"`` so that
neither numba nor Triton is imported before an operation first runs on it (the GPU machine
has no numba; ``TRITON_INTERPRET`` must be set before Triton decorates a kernel). What each
compiled backend takes - float32 only or any float dtype - is registered with it, so
:func:`choose` is the one place that decides, from the tensors' device and dtype, the
options of the call (``numba=False`` / ``triton=False`` where a call needs what a kernel
does not do) and what is installed.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

HAVE_NUMBA = importlib.util.find_spec("numba") is not None

TORCH, NUMBA, TRITON = "torch", "numba", "triton"


@dataclass(frozen=True)
class Operation:
    """One operation's implementations: the twin, and ``"module:function"`` names of the
    numba and Triton ones (None: not written; the twin runs there). ``*_float32``: the
    compiled kernel takes float32 tensors only (else any dtype: it converts or refuses)."""

    name: str
    twin: Callable
    numba: str | None = None
    triton: str | None = None
    numba_float32: bool = True
    triton_float32: bool = False


_OPS: dict[str, Operation] = {}
_LOADED: dict[tuple[str, str], Callable] = {}
# :func:`pick`'s backends by operation, options, numba's presence, device and dtypes: a
# small layer's CPU step picks six times, and the predicate cost ~1.9 us a pick
_PICKED: dict[tuple, str] = {}


def register(name: str, twin: Callable, *, numba: str | None = None,
             triton: str | None = None, numba_float32: bool = True,
             triton_float32: bool = False) -> Operation:
    """Add an operation (``kernels/__init__.py`` registers them all)."""
    op = Operation(name, twin, numba, triton, numba_float32, triton_float32)
    _OPS[name] = op
    _LOADED.pop((name, NUMBA), None)
    _LOADED.pop((name, TRITON), None)
    _PICKED.clear()
    return op


def choose(name: str, *tensors, numba: bool = True, triton: bool = True) -> str:
    """The backend of one call of ``name`` on ``tensors`` (the first decides the device):
    Triton on CUDA, numba on the CPU, where written, installed, of the dtype it takes and
    allowed by the call (``numba``, ``triton``); the torch twin otherwise."""
    op = _OPS[name]
    lead = tensors[0]
    if lead.is_cuda:
        ok = op.triton is not None and triton and _dtypes_ok(tensors, op.triton_float32)
        return TRITON if ok else TORCH
    ok = (op.numba is not None and numba and HAVE_NUMBA and lead.device.type == "cpu"
          and _dtypes_ok(tensors, op.numba_float32))
    return NUMBA if ok else TORCH


def implementation(name: str, backend: str) -> Callable:
    """The function that runs ``name`` on ``backend`` (its module imported on first use,
    then kept: a step's launches pay a dict lookup)."""
    op = _OPS[name]
    if backend == TORCH:
        return op.twin
    found = _LOADED.get((name, backend))
    if found is None:
        where = op.numba if backend == NUMBA else op.triton
        module, _, function = where.partition(":")
        found = _LOADED[name, backend] = getattr(importlib.import_module(module, __package__),
                                                 function)
    return found


def pick(name: str, *tensors, numba: bool = True, triton: bool = True) -> tuple[str, Callable]:
    """:func:`choose` and :func:`implementation` together: ``(backend, function)``. The
    choice is kept per operation, options, ``HAVE_NUMBA``, the first tensor's device and
    every tensor's dtype - all that :func:`choose` reads - and made anew when any differs
    or an operation is registered."""
    key = (name, numba, triton, HAVE_NUMBA, tensors[0].device, *(t.dtype for t in tensors))
    backend = _PICKED.get(key)
    if backend is None:
        backend = _PICKED[key] = choose(name, *tensors, numba=numba, triton=triton)
    return backend, implementation(name, backend)


def modules(backend: str) -> list[str]:
    """The modules of ``backend``'s implementations (relative names, as registered): what
    importing them all ahead of the first call would load."""
    names = (op.numba if backend == NUMBA else op.triton for op in _OPS.values())
    return sorted({where.partition(":")[0] for where in names if where})


def preload(backend: str) -> list[Callable[[], object]]:
    """One call per module of ``backend`` that imports it (what :func:`implementation` does
    on an operation's first call), for a caller with time to spare before that call."""
    return [lambda module=module: importlib.import_module(module, __package__)
            for module in modules(backend)]


def operations() -> dict[str, Operation]:
    """The registered operations by name."""
    return dict(_OPS)


def _dtypes_ok(tensors, float32_only: bool) -> bool:
    import torch

    return not float32_only or all(t.dtype == torch.float32 for t in tensors)


__all__ = ["HAVE_NUMBA", "NUMBA", "Operation", "TORCH", "TRITON", "choose", "implementation",
           "modules", "operations", "pick", "preload", "register"]
