"""CUDA's driver initialised in a background thread while a run's command starts (issue 27).

Initialising the driver (``cuInit``: opening the GPUs and reading their state) is a fixed
cost of every GPU run; torch pays it when the pre-flight checks first ask for a GPU
(``torch.cuda.is_available``), after torch's own import, on the command's only thread.
Called through ctypes, ``cuInit`` releases the GIL, so here it runs beside torch's import
and Hydra's composition, and torch then finds the driver initialised. A run on one
process then has the thread retain the first GPU's primary context too (what torch's first
tensor on ``cuda`` would create: the same context, so nothing a run computes changes),
beside the rest of the checks, Hydra's job set-up, the data and the model's CPU build; runs
on several processes (``distributed.*`` given, or started by torchrun) stop at ``cuInit``.
Without the driver (a CPU machine) the thread ends at once.

Where ``cuInit`` outlasts the imports and the composition, the command's first CUDA call
(the pre-flight check's ``torch.cuda.is_available``) would wait for it with nothing to do;
:func:`meanwhile` gives that wait work the run does later anyway: importing Triton and the
Triton kernel modules, which otherwise fall in its first step.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import threading
import time
from collections.abc import Callable

#: seconds ``cuInit`` took in the background and its status (0: success), once it is done;
#: ``context``: the seconds of the primary context's retain after it, and its status
RESULT: dict[str, float] = {}
#: set once ``cuInit`` returned, where the driver library loaded (a machine with a driver)
_LOADED: list[threading.Event] = []


def _initialise(context: bool) -> None:
    began = time.perf_counter()
    try:
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError:  # no NVIDIA driver here
        return
    done = threading.Event()
    _LOADED.append(done)
    RESULT["status"] = driver.cuInit(0)
    RESULT["seconds"] = time.perf_counter() - began
    done.set()
    if context and RESULT["status"] == 0:
        began = time.perf_counter()
        device, handle = ctypes.c_int(), ctypes.c_void_p()
        status = driver.cuDeviceGet(ctypes.byref(device), 0) or \
            driver.cuDevicePrimaryCtxRetain(ctypes.byref(handle), device)
        RESULT["context"] = time.perf_counter() - began  # kept until the process ends
        RESULT["context_status"] = status


def start(context: bool = False) -> threading.Thread:
    """Initialise CUDA's driver in a daemon thread (then, with ``context``, retain the first
    GPU's primary context); returns the thread."""
    thread = threading.Thread(target=_initialise, args=(context,), name="xbrun-cuInit",
                              daemon=True)
    thread.start()
    return thread


def pending() -> bool:
    """Whether ``cuInit`` is still running in the background (on a machine with a driver)."""
    return any(not done.is_set() for done in _LOADED)


def cuda_work() -> list[Callable[[], object]]:
    """What a CUDA run imports at its first kernel launch, one import per call (none
    without Triton: a digital run trains without it)."""
    from .. import kernels

    if importlib.util.find_spec("triton") is None:
        return []
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


def one_process(argv: list[str], environ: dict[str, str]) -> bool:
    """Whether the run of ``xbrun ARGV`` (one that :func:`wanted`) trains on this process
    alone, on the first GPU: no ``distributed.*`` override, not a rank torchrun started."""
    return not any(a.lstrip("+~").startswith("distributed") for a in argv[1:]) and \
        "LOCAL_RANK" not in environ and "WORLD_SIZE" not in environ
