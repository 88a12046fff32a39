"""Load a Triton kernel module of ``kernels/`` interpreted or compiled, for the tests.

Triton fixes interpretation when a kernel is decorated (at import), so each mode gets its own
private copy of the module; CPU tests (interpreter) and GPU tests can then share a session.
"""

from __future__ import annotations

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
