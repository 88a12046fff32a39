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


def pytest_collection_modifyitems(config, items):
    # the few tests marked slow (a run of many seconds) first: with `-n 2`, xdist hands out
    # the collection in order, so one of them dispatched last keeps one worker busy while
    # the other has nothing left (the longest-first rule); the order is otherwise kept
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run `pytest -m gpu` on the device machine)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
