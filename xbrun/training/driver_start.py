"""CUDA's driver initialised in a background thread while a run's command starts (issue 27).

Initialising the driver (``cuInit``: opening the GPUs and reading their state) is a fixed
cost of every GPU run; torch pays it when the pre-flight checks first ask for a GPU
(``torch.cuda.is_available``), after torch's own import, on the command's only thread.
Called through ctypes, ``cuInit`` releases the GIL, so here it runs beside torch's import
and Hydra's composition, and torch then finds the driver initialised. Only ``cuInit``: no
context is made, no GPU memory taken, nothing a run computes changes. Without the driver (a
CPU machine) the thread ends at once.

Where ``cuInit`` outlasts the imports and the composition, the command's first CUDA call
(the pre-flight check's ``torch.cuda.is_available``) would wait for it with nothing to do;
:func:`meanwhile` gives that wait work the run does later anyway: importing Triton and the
Triton kernel modules, which otherwise fall in its first step.
"""

from __future__ import annotations

import ctypes
import importlib
import threading
import time
from collections.abc import Callable

#: seconds ``cuInit`` took in the background and its status (0: success), once it is done
RESULT: dict[str, float] = {}
#: the thread started, once its driver library loaded (a machine with an NVIDIA driver)
_LOADED: list[threading.Thread] = []


def _initialise() -> None:
    began = time.perf_counter()
    try:
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError:  # no NVIDIA driver here
        return
    _LOADED.append(threading.current_thread())
    RESULT["status"] = driver.cuInit(0)
    RESULT["seconds"] = time.perf_counter() - began


def start() -> threading.Thread:
    """Initialise CUDA's driver in a daemon thread; returns the thread."""
    thread = threading.Thread(target=_initialise, name="xbrun-cuInit", daemon=True)
    thread.start()
    return thread


def pending() -> bool:
    """Whether ``cuInit`` is still running in the background (on a machine with a driver)."""
    return any(thread.is_alive() for thread in _LOADED)


def cuda_work() -> list[Callable[[], object]]:
    """What a CUDA run imports at its first kernel launch, one import per call."""
    from .. import kernels

    return [lambda: importlib.import_module("triton"),
            lambda: importlib.import_module("triton.language"),
            *kernels.backends.preload(kernels.backends.TRITON)]


def meanwhile(work: Callable[[], list[Callable[[], object]]] = cuda_work) -> int:
    """Run the calls of ``work()`` while ``cuInit`` is still running, one after another,
    stopping once it has ended (nothing at all where it has); returns how many ran."""
    if not pending():
        return 0
    done = 0
    for call in work():
        if not pending():
            break
        call()
        done += 1
    return done


def wanted(argv: list[str]) -> bool:
    """Whether ``xbrun ARGV`` is a single training run that may use a GPU: ``train`` without
    ``-m`` (a sweep's jobs may run in processes of their own), without the flags that only
    print, and without ``accelerator=cpu``."""
    if argv[:1] != ["train"]:
        return False
    quiet = {"-m", "--multirun", "--help", "-h", "--hydra-help", "--info", "--cfg", "-c"}
    return not any(a in quiet or a.split("=", 1)[0] in quiet for a in argv[1:]) and \
        "accelerator=cpu" not in argv
