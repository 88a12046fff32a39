import gc
import os

import pytest
import torch

# Triton kernels run through the interpreter on machines without a GPU; Triton decides it
# when a kernel is decorated, so this is set here, before any test module imports triton or
# a launcher (the kernel tests rely on it; tests/triton_modules.py loads interpreted and
# compiled copies of a launcher either way).
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

# Small matrices: one thread is as fast and does not fight other processes for cores.
torch.set_num_threads(1)

# Python's cyclic garbage collector walks the objects a process holds: in a test worker
# that is torch, numba, Triton, Hydra and every module the suite imported (~0.5 million
# objects), walked again in each full collection, while numba compiles kernels (a heavy
# churn of objects) and tests compose configs. Frozen objects are left out of those walks
# (reference counting still frees them): the imports here, then the collected suite, then
# after each test what it left alive, once its garbage is collected (a frozen cycle would
# never be). Measured (benchmarks/RESULTS.md, 2026-12-07): the collector's own time cut
# by about half; `-n 0`, CPU 8-10 % less where numba compiles on a cold cache, 3-5 % less
# on Triton-interpreted tests, 5-15 % on CLI and training tests; the whole suite on a fresh
# clone (`-n 2`) 490 -> 439 CPU seconds.
gc.freeze()


def pytest_collection_finish(session):
    gc.collect()
    gc.freeze()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    yield
    gc.collect()  # the test's garbage (cycles) first: a frozen object is never collected
    gc.freeze()


@pytest.fixture(autouse=True)
def one_thread():
    """Every test starts on one torch thread (a run may set another through `threads`), and
    the session's setting is restored after it: on a loaded machine two threads spin on each
    other's barriers (tiny matmuls 1000x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def small_run():
    """Overrides that make a CLI run take about a second on the CPU: the ``debug=tiny``
    config (conf/debug/tiny.yaml) for two epochs."""
    return ["debug=tiny", "epochs=2"]


# On a fresh clone numba compiles each kernel in the first process that calls it (seconds to
# half a minute a kernel on 2 cores; numba's cache on disk then serves every later process).
# So the run starts with the asymmetric-cell training, which compiles in-process the pulsed
# update, MVM and transfer kernels that most tests call: the sweeps after it (also slow)
# start job processes that load those kernels instead of compiling them once more each.
COMPILES_FIRST = "tests/test_transfer.py::test_transfer_algorithms_beat_sgd_on_an_asymmetric_cell"
# Tests that alone compile a kernel (the ``parallel=True`` twins, 5-6 s of CPU each on a
# cold cache, their point being that compilation): seconds when warm, 10-25 s cold. Ranked
# with the slow tests, on the first worker's early run, so that none of them is the last
# test of a cold run (a tail: one worker busy, the other done), and no other test compiles
# those kernels (no second compilation at the same time).
# Also one test of each kernel that tests in both halves of a worksteal run call, where
# no earlier test compiles it: `_line_write` (6 s of CPU cold) was compiled by both
# workers at once, 12 s apart in a cold run (2026-12-07, benchmarks/RESULTS.md).
COMPILES_ALONE = (
    "tests/test_kernel_analog_mvm.py::test_numba_result_does_not_depend_on_the_thread_count",
    "tests/test_kernel_pulsed_update_cpu.py::test_threads_give_the_same_result",
    "tests/test_kernel_im2col.py::test_parallel_numba_equals_serial",
    "tests/test_cell_pulses.py::test_line_write_given_counts[True-True]",
)
# Tests that call no numba kernel (the Triton kernels under the interpreter against their
# twins): where the other xdist workers start, so that they do not compile the kernels
# COMPILES_FIRST is compiling at the same time (a second compilation of each on a 2-core
# machine: measured in benchmarks/RESULTS.md, 2026-12-07).
NO_NUMBA = ("tests/test_kernel_pulsed_update.py::",
            "tests/test_kernel_analog_mvm.py::test_triton_interpreted_")
NUMBA_TOO = ("tests/test_kernel_pulsed_update.py::test_interpreted_group_is_each_tile",)


def _rank(item) -> int:
    if item.nodeid == COMPILES_FIRST:
        return 0
    if item.get_closest_marker("slow") or item.nodeid.startswith(COMPILES_ALONE):
        return 1
    return 2


def _worker_starts(config, n_items: int) -> list[int]:
    """Where in the collection each xdist worker's first run of tests begins. ``load``
    (``LoadScheduling``) hands worker k the k-th run of ``n // N // 4`` tests first, the
    rest as they finish; ``worksteal`` (the Makefile's) hands the first idle worker
    ``n // N`` consecutive tests, the next ``(n - that) // (N - 1)``, and so on, and an idle
    worker later takes half of the longest queue's tail."""
    workers = getattr(config, "workerinput", {}).get("workercount", 1)
    if config.workerinput.get("xbrun_dist") == "worksteal":
        starts, left = [0], n_items
        for k in range(workers, 1, -1):
            left -= left // k
            starts.append(n_items - left)
        return starts
    run = n_items // workers // 4
    return [k * run for k in range(workers)]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """xdist's controller: the scheduling mode, for the workers' collection hook (xdist
    sets a worker's own ``--dist`` to ``no``)."""
    node.workerinput["xbrun_dist"] = node.config.getoption("dist")


def _start_the_other_workers_on_interpreted_tests(config, items) -> None:
    """With ``-n N`` (N > 1) the NO_NUMBA tests go where worker 1's first run of tests begins
    (``_worker_starts``). (Only where each worker starts changes; xdist's own scheduling,
    and a run without ``-n``, are as before.)"""
    workers = getattr(config, "workerinput", {}).get("workercount", 1)
    if workers < 2:
        return
    free = [item for item in items
            if item.nodeid.startswith(NO_NUMBA) and not item.nodeid.startswith(NUMBA_TOO)]
    chosen = {id(item) for item in free}
    rest = [item for item in items if id(item) not in chosen]
    start = _worker_starts(config, len(items))[1]
    items[:] = rest[:start] + free + rest[start:]


def _interpret_triton_faster() -> None:
    """Three costs of Triton's interpreter (3.x) that change no result, cut: about 2.7x less
    CPU over the Triton-interpreted kernel tests (benchmarks/RESULTS.md, 2026-12-07). Only
    the interpreter is touched; compiled kernels never call these.

    1. The language patched once a launch. The interpreter patches the language modules a
       kernel sees (``tl``, ``tl.core``: every builtin of the module, of ``tensor`` and
       ``math``, found by ``inspect.getmembers``) for a launch (``GridExecutor.__call__``,
       restored when it ends), and again at every call of a ``@triton.jit`` function inside
       it (``InterpretedFunction.__call__``: the kernel's helpers, ``tl.zeros``, ``tl.sum``),
       per program. Once a module is patched in a launch, patching it again there changes
       nothing (no builtin is left to wrap, the rest are the same stateless closures again,
       and that scope is dropped unrestored), but the scans cost ~0.15 ms a call. Here a
       call inside a launch whose modules that launch has patched already skips the patch;
       the launch's own patch, and a call that sees a module not yet patched in it, patch
       as before.
    2. A dtype's numpy dtype looked up once: the interpreter builds its table of 19 dtypes
       again at each of the calls an operation makes; the answer is the scalar type's (a
       block's: its element's), the same for dtypes Triton compares equal.
    3. No integer overflow sanitizer while its result is dropped: for each 32-bit add, sub
       and mul the interpreter computes the result in int64 and compares it with the type's
       bounds, only to hand the comparison to ``device_assert``, which drops it unless the
       options' ``debug`` is set (``InterpreterOptions``: never, in Triton 3.8, so an int32
       overflow goes unreported either way). Skipped while that holds; run as before where
       it does not."""
    try:
        from triton.runtime import interpreter
    except ImportError:
        return
    import triton.language as tl

    needs = ("_patch_lang", "GridExecutor", "_get_np_dtype", "interpreter_semantic")
    if not all(hasattr(interpreter, name) for name in needs):  # another Triton: as it is
        return
    patch, launch = interpreter._patch_lang, interpreter.GridExecutor.__call__
    if getattr(patch, "xbrun_once", False):
        return
    # 1.: the modules patched in each running launch (innermost last), and whether a launch
    # is about to make its own patch
    state = {"launching": False, "patched": []}
    seen: dict = {}

    def langs(fn) -> frozenset:
        if fn not in seen:
            seen[fn] = frozenset(id(v) for v in fn.__globals__.values()
                                 if v is tl or v is tl.core)
        return seen[fn]

    class Kept:
        def restore(self) -> None:
            pass

    def patch_once(fn):
        if state["launching"]:  # the launch's own patch, restored when it ends
            state["launching"] = False
            scope = patch(fn)
            state["patched"].append(set(langs(fn)))
            return scope
        if state["patched"] and langs(fn) <= state["patched"][-1]:
            return Kept()
        scope = patch(fn)
        if state["patched"]:
            state["patched"][-1] |= langs(fn)
        return scope

    def launch_patching_once(self, *args, **kwargs):
        depth = len(state["patched"])
        state["launching"] = True
        try:
            return launch(self, *args, **kwargs)
        finally:
            state["launching"] = False
            del state["patched"][depth:]

    # 2.
    np_dtype, np_dtypes = interpreter._get_np_dtype, {}

    def np_dtype_once(tt_dtype):
        if isinstance(tt_dtype, tl.block_type):
            tt_dtype = tt_dtype.element_ty
        try:
            return np_dtypes[tt_dtype]
        except KeyError:
            np_dtypes[tt_dtype] = found = np_dtype(tt_dtype)
            return found
        except TypeError:  # a type without a hash (pointers)
            return np_dtype(tt_dtype)

    # 3.
    semantic = interpreter.interpreter_semantic
    sanitize = semantic.binary_op_sanitize_overflow_impl

    def sanitize_where_asserted(lhs, rhs, binary_op):
        if semantic.builder.options.debug:
            return sanitize(lhs, rhs, binary_op)
        return None

    semantic.binary_op_sanitize_overflow_impl = sanitize_where_asserted
    patch_once.xbrun_once = True
    interpreter._patch_lang = patch_once
    interpreter.GridExecutor.__call__ = launch_patching_once
    np_dtype_once.original = np_dtype
    interpreter._get_np_dtype = np_dtype_once


_interpret_triton_faster()


@pytest.hookimpl(trylast=True)  # after `-m` has deselected: the list xdist schedules
def pytest_collection_modifyitems(config, items):
    # the few tests marked slow (a run of many seconds) first: with `-n 2`, xdist hands out
    # the collection in order, so one of them dispatched last keeps one worker busy while
    # the other has nothing left (the longest-first rule); the order is otherwise kept
    items.sort(key=_rank)
    _start_the_other_workers_on_interpreted_tests(config, items)
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run `pytest -m gpu` on the device machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
