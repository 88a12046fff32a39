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

Triton's first compile in a process (a cache hit included) computes its cache key once: a
SHA-256 of the Triton installation, ``libtriton.so`` (~500 MB) among it, 0.35 s of CPU
here. In a thread that hash would crawl while the main thread runs Python (Triton reads and
hashes it a megabyte at a time, taking the GIL back between chunks), so with ``triton`` the
thread starts a helper process that asks Triton for it, once the driver has started (a GPU
is there); :func:`settle`, before a run's first step, waits for what is left of it and hands
Triton the value its own function computed, where it is the same Triton installation.
"""

from __future__ import annotations

import ctypes
import functools
import importlib
import importlib.util
import inspect
import subprocess
import sys
import threading
import time
from collections.abc import Callable

#: seconds ``cuInit`` took in the background and its status (0: success), once it is done;
#: ``context``: the seconds of the primary context's retain after it, and its status;
#: ``triton_key``: the seconds of the helper process
RESULT: dict[str, float] = {}
#: set once ``cuInit`` returned, where the driver library loaded (a machine with a driver)
_LOADED: list[threading.Event] = []
#: the thread of :func:`start` (:func:`settle` waits for it)
_THREAD: list[threading.Thread] = []


def _initialise(context: bool, triton: bool) -> None:
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
    if RESULT["status"] != 0:
        return
    if context:
        began = time.perf_counter()
        device, handle = ctypes.c_int(), ctypes.c_void_p()
        status = driver.cuDeviceGet(ctypes.byref(device), 0) or \
            driver.cuDevicePrimaryCtxRetain(ctypes.byref(handle), device)
        RESULT["context"] = time.perf_counter() - began  # kept until the process ends
        RESULT["context_status"] = status
    if triton:
        _key_helper()


#: the helper process's Python (it prints Triton's location, its key's module and the key)
KEY_PROBE = """
import importlib
for name in ("triton.runtime.cache", "triton.compiler.compiler"):
    module = importlib.import_module(name)
    if hasattr(module, "triton_key"):
        print(importlib.import_module("triton").__file__)
        print(name)
        print(module.triton_key())
        break
"""
#: ``(triton's __init__ file, module, key)`` from the helper, once it has answered
KEY: list[tuple[str, str, str]] = []


def _key_helper() -> None:
    """Run :data:`KEY_PROBE` in a helper process (without Triton: nothing) and keep its
    answer in :data:`KEY`."""
    if importlib.util.find_spec("triton") is None:
        return
    began = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-c", KEY_PROBE], capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return
    lines = done.stdout.strip().splitlines()
    if done.returncode == 0 and len(lines) == 3:
        KEY[:] = [(lines[0], lines[1], lines[2])]
    RESULT["triton_key"] = time.perf_counter() - began


def use_key() -> bool:
    """Give Triton the key of :data:`KEY` as its ``triton_key()`` where the helper asked the
    same Triton installation and this process has not computed it yet; True if it did."""
    if not KEY:
        return False
    where, name, key = KEY[0]
    try:
        if getattr(importlib.util.find_spec("triton"), "origin", None) != where:
            return False
        original = importlib.import_module(name).triton_key
        if inspect.signature(original).parameters or original.cache_info().currsize:
            return False
    except (ImportError, AttributeError, TypeError, ValueError):
        return False

    @functools.lru_cache
    def triton_key() -> str:
        return key

    for module_name, module in list(sys.modules.items()):  # every binding of Triton's own
        if module_name.split(".")[0] == "triton" and \
                getattr(module, "triton_key", None) is original:  # (compile's, whichever)
            module.triton_key = triton_key
    return True


def start(context: bool = False, triton: bool = False) -> threading.Thread:
    """Initialise CUDA's driver in a daemon thread (then, with ``context``, retain the first
    GPU's primary context; with ``triton``, have a helper process compute Triton's cache
    key); returns the thread."""
    thread = threading.Thread(target=_initialise, args=(context, triton),
                              name="xbrun-cuInit", daemon=True)
    _THREAD[:] = [thread]
    thread.start()
    return thread


def settle(timeout: float = 10.0) -> float:
    """Wait for the background thread of :func:`start` to end (at most ``timeout`` seconds:
    the helper's hash takes well under one; a run whose Triton has no key yet computes it
    itself) and hand Triton the key its helper computed (:func:`use_key`); returns the
    seconds waited."""
    began = time.perf_counter()
    for thread in _THREAD:
        thread.join(timeout)
    use_key()
    return time.perf_counter() - began


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


def uses_triton(argv: list[str]) -> bool:
    """Whether the run of ``xbrun ARGV`` may launch Triton kernels: not one given
    ``device=fp`` (a digital run)."""
    return "device=fp" not in argv[1:]


def one_process(argv: list[str], environ: dict[str, str]) -> bool:
    """Whether the run of ``xbrun ARGV`` (one that :func:`wanted`) trains on this process
    alone, on the first GPU: no ``distributed.*`` override, not a rank torchrun started."""
    return not any(a.lstrip("+~").startswith("distributed") for a in argv[1:]) and \
        "LOCAL_RANK" not in environ and "WORLD_SIZE" not in environ
