"""Start-up: a plain ``xbrun train`` imports nothing it does not run.

torch's import alone is most of a tiny CPU run, so modules that cost as much again (the
plotting, tracking and compiler stacks) stay out unless the run uses them.
"""

import json
import subprocess
import sys

#: imported only by what uses them: figures and ``report --plot`` (matplotlib), trackers
#: (mlflow, tensorboard), the sklearn SVD backend, ``torch.compile`` (dynamo, sympy), the
#: progress bar (rich: shown on a terminal only), torchvision (its data sets and models)
HEAVY = ("matplotlib", "mlflow", "tensorboard", "torch.utils.tensorboard", "sklearn",
         "torch._dynamo", "sympy", "pandas", "rich", "torchvision")

#: what the command and the training stack must not import before a run needs it: the CPU
#: kernels' compiler (numba, llvmlite, and scipy that numba's start-up imports: a CUDA run
#: never needs them), Triton (a CPU run never does) and the end's image library (Pillow,
#: for curves.png only)
ON_USE = ("numba", "llvmlite", "scipy", "triton", "PIL")

PROBE = """
import atexit, gc, json, sys
folder, heavy, on_use = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
import xbrun.api, xbrun.cli, xbrun.training.loop  # the command's and the run's modules
early = sorted(m for m in on_use if m in sys.modules)

def report():  # as the command ends (cli._leave runs atexit's handlers, then os._exit)
    import torch
    late = heavy + ([] if torch.cuda.is_available() else ["triton"])
    print(json.dumps([sorted(m for m in late if m in sys.modules), early,
                      gc.isenabled(), gc.get_freeze_count() > 0]), flush=True)

atexit.register(report)
sys.argv = ["xbrun", "train", "debug=tiny", "progress=none", "hydra.run.dir=" + folder]
xbrun.cli.main()  # the command itself: its collector held for start-up and the first step
"""


def test_a_plain_run_imports_no_heavy_module(tmp_path):
    """A CPU run of the ``xbrun train`` command imports none of :data:`HEAVY`; importing the
    command and the training loop imports none of :data:`ON_USE` (numba comes with a CPU
    run's first kernel, Triton with a CUDA run's, Pillow with the end's plot). The
    command's hold on the cyclic collector ends in a freeze, the collector on again."""
    proc = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path), json.dumps(HEAVY),
                           json.dumps(ON_USE)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [[], [], True, True]
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_building_a_run_runs_no_cpu_kernel(monkeypatch):
    """A CUDA run builds its model on the CPU and then moves it (``loop.setup``): no
    operation may pick a numba kernel there, or a GPU run would import numba and load its
    CPU kernels' cache (about 0.5 s) for nothing. The analog devices' builds, recorded at
    ``backends.implementation``."""
    import torch
    from xbrun.kernels import backends

    from xbrun import compose
    from xbrun.training.loop import setup

    picked = []
    implementation = backends.implementation
    monkeypatch.setattr(backends, "implementation", lambda name, backend: picked.append(
        (name, backend)) or implementation(name, backend))
    for device in ("sgd", "chopped", "agad", "mixed_precision"):
        setup(compose(["debug=tiny", f"device={device}"]), torch.device("cpu"))
    assert [p for p in picked if p[1] == backends.NUMBA] == []


def test_cuda_driver_starts_early_only_for_a_single_run_that_may_use_a_gpu():
    """The background ``cuInit`` (training/driver_start.py) runs for ``xbrun train`` alone:
    not for sweeps (whose jobs may run in processes of their own), printing flags, CPU runs
    or other commands."""
    from xbrun.training.driver_start import uses_triton, wanted

    assert wanted(["train"]) and wanted(["train", "epochs=2", "device=chopped"])
    assert uses_triton(["train", "device=chopped"]) and not uses_triton(["train", "device=fp"])
    for argv in (["train", "-m", "seed=0,1"], ["train", "--multirun"], ["train", "--cfg", "job"],
                 ["train", "--help"], ["train", "accelerator=cpu"], ["evaluate", "runs/x"],
                 []):
        assert not wanted(argv), argv


def test_work_meanwhile_runs_only_while_the_driver_starts(monkeypatch):
    """``driver_start.meanwhile`` fills the wait for a background ``cuInit`` and nothing
    else: no call without one running, none after it returned."""
    import threading

    from xbrun.training import driver_start

    calls = []
    monkeypatch.setattr(driver_start, "_LOADED", [])
    assert driver_start.meanwhile(lambda: [lambda: calls.append("a")]) == 0 and calls == []
    returned = threading.Event()
    driver_start._LOADED.append(returned)
    work = [lambda: calls.append("a"), returned.set, lambda: calls.append("b")]
    assert driver_start.meanwhile(lambda: work) == 2
    assert calls == ["a"]


def test_the_primary_context_is_made_early_only_for_a_run_on_one_process():
    from xbrun.training.driver_start import one_process

    assert one_process(["train", "epochs=2"], {})
    assert not one_process(["train", "distributed.nproc=2"], {})
    assert not one_process(["train", "+distributed.backend=gloo"], {})
    assert not one_process(["train"], {"LOCAL_RANK": "1", "WORLD_SIZE": "2"})


def test_a_triton_key_from_the_helper_is_used_only_for_the_same_triton(monkeypatch):
    """``driver_start.use_key`` hands Triton the helper process's key as its own
    ``triton_key()`` only where the helper saw the same Triton and this process has not
    computed the key itself."""
    import functools
    import types

    from xbrun.training import driver_start

    def fake(computed: bool):
        module = types.ModuleType("triton.fake_cache")
        compiler = types.ModuleType("triton.fake_compiler")  # `from .cache import triton_key`

        @functools.lru_cache
        def triton_key():
            return "own"

        if computed:
            triton_key()
        module.triton_key = compiler.triton_key = triton_key
        monkeypatch.setitem(sys.modules, module.__name__, module)
        monkeypatch.setitem(sys.modules, compiler.__name__, compiler)
        return module, compiler

    import importlib.machinery

    spec = importlib.machinery.ModuleSpec("triton", None, origin="/site/triton/__init__.py")
    monkeypatch.setattr(driver_start.importlib.util, "find_spec",
                        lambda name: spec if name == "triton" else None)
    for where, computed, used in (("/site/triton/__init__.py", False, True),
                                  ("/other/triton/__init__.py", False, False),
                                  ("/site/triton/__init__.py", True, False)):
        module, compiler = fake(computed)
        monkeypatch.setattr(driver_start, "KEY", [(where, module.__name__, "helper's")])
        assert driver_start.use_key() is used
        assert module.triton_key() == compiler.triton_key() == ("helper's" if used else "own")
    monkeypatch.setattr(driver_start, "KEY", [])
    assert driver_start.use_key() is False


def test_the_key_helper_reports_the_triton_it_imported(tmp_path, monkeypatch):
    """Once the driver has started, the background thread's helper process prints Triton's
    location, the key's module and the key, read into ``driver_start.KEY`` by the time
    ``settle`` returns (here a stand-in driver, and a stand-in Triton on PYTHONPATH)."""
    import importlib.util

    import pytest

    from xbrun.training import driver_start

    if importlib.util.find_spec("triton") is None:
        pytest.skip("the helper runs only where Triton is installed")
    cache = tmp_path / "triton" / "runtime"
    cache.mkdir(parents=True)
    for folder in (tmp_path / "triton", cache):
        (folder / "__init__.py").write_text("")
    (cache / "cache.py").write_text("def triton_key():\n    return '3.x-abc'\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setattr(driver_start, "KEY", [])
    monkeypatch.setattr(driver_start, "RESULT", {})
    monkeypatch.setattr(driver_start, "_LOADED", [])
    monkeypatch.setattr(driver_start, "_THREAD", [])

    class Driver:  # a driver whose every call succeeds (ctypes returns the status)
        def __getattr__(self, name):
            return lambda *args: 0

    monkeypatch.setattr(driver_start.ctypes, "CDLL", lambda name: Driver())
    driver_start.start(context=True, triton=True)  # the xbrun command's thread, as on a GPU
    driver_start.settle()
    assert driver_start.KEY == [(str(tmp_path / "triton" / "__init__.py"),
                                 "triton.runtime.cache", "3.x-abc")]
    assert {"status", "context", "triton_key"} <= set(driver_start.RESULT)
    assert driver_start.use_key() is False  # not the Triton this process imports


def test_the_eager_steps_before_a_capture_are_the_warm_up_phase(monkeypatch):
    """``TimedSteps`` gives the first step, the eager steps before the first CUDA graph
    capture, and the capture phases of their own; the replays after it are the epochs."""
    import types

    import torch

    from xbrun.training.phases import Phases, TimedSteps

    class Runner:  # captures on its 4th step, as StepRunner after its warm-up steps
        enabled, graphs, calls = True, {}, 0

        def __call__(self, x, y, idx):
            self.calls += 1
            if self.calls == 4:
                self.graphs["b"] = object()
            return 0.0

    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: None)
    phases = Phases()
    timed, marked = TimedSteps(Runner(), phases), []
    monkeypatch.setattr(phases, "mark", lambda name, at=None: marked.append(name))
    x = types.SimpleNamespace(is_cuda=True, device="cuda:0")
    for _ in range(6):
        timed(x, None, None)
        phases.seconds.update({name: 0.0 for name in marked})
    assert [m for m in marked if m != "epochs"] == ["first step", "warm-up", "warm-up",
                                                    "graph capture"]


def test_a_run_notes_a_torch_without_bytecode(monkeypatch, tmp_path):
    """``phases.bytecode_note`` names the missing bytecode cache of torch's modules (each run
    compiles them again) and is silent where the ``.pyc`` is there."""
    import types

    from xbrun.training.phases import bytecode_note

    torch = types.ModuleType("torch")
    torch.__spec__ = types.SimpleNamespace(cached=str(tmp_path / "__init__.cpython.pyc"))
    monkeypatch.setitem(sys.modules, "torch", torch)
    assert "no bytecode cache" in bytecode_note() and "PYTHONPYCACHEPREFIX" in bytecode_note()
    (tmp_path / "__init__.cpython.pyc").write_bytes(b"")
    assert bytecode_note() is None


def test_a_schema_node_is_made_when_hydra_first_loads_it():
    """``composition.register_schemas`` files each option's schema unmade: its node is made
    on the first load, once; a copy of the store (each composition's) shares the entry, and
    ``ConfigStore.load`` and a pickle (a joblib sweep's workers) get a plain ``ConfigNode``."""
    import copy
    import pickle

    from hydra.core.config_store import ConfigNode, ConfigStore
    from omegaconf import OmegaConf

    from xbrun.composition import _deferred_entry

    made = []
    entry = _deferred_entry()("probe.yaml", "schema/probe", lambda: made.append(1) or
                              OmegaConf.create({"a": 1}))
    store = ConfigStore.instance()
    store.repo.setdefault("schema", {})["probe"] = {"probe.yaml": entry}
    try:
        assert made == [] and copy.deepcopy(store.repo)["schema"]["probe"]["probe.yaml"] is entry
        loaded = [store.load("schema/probe/probe.yaml") for _ in range(2)]
        assert made == [1] and all(type(n) is ConfigNode and n.node == {"a": 1} for n in loaded)
        loaded[0].node.a = 2  # a load's copy is its own
        assert store.load("schema/probe/probe.yaml").node.a == 1
        plain = pickle.loads(pickle.dumps(entry))
        assert type(plain) is ConfigNode and plain.node == {"a": 1} and made == [1]
    finally:
        del store.repo["schema"]["probe"]


def test_the_collector_is_held_off_for_start_up_only(monkeypatch):
    """``phases.hold_collector`` (the ``xbrun train`` command's first line) turns Python's
    cyclic collector off; ``release_collector`` (a run's first epoch, a sweep's start) freezes
    what start-up made and turns it on again, once; a collector the caller turned off stays
    off."""
    import gc

    from xbrun.training import phases

    monkeypatch.setattr(phases, "_HELD", [])
    frozen = gc.get_freeze_count()
    try:
        phases.hold_collector()
        assert not gc.isenabled()
        phases.release_collector()
        assert gc.isenabled() and gc.get_freeze_count() > frozen
        gc.disable()
        phases.release_collector()  # nothing held: the caller's choice stands
        assert not gc.isenabled()
        phases.hold_collector()
        phases.release_collector()
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()


def test_a_run_s_first_step_runs_with_the_collector_held(monkeypatch):
    """``TimedSteps(quiet_first=True)``: the first step runs with the cyclic collector off;
    after it what it made is frozen (its garbage too) and the collector is on again; a step
    long enough to have compiled (``phases.COMPILING_STEP``) has its garbage collected
    first. Later steps, and a runner without ``quiet_first``, leave the collector alone."""
    import gc
    import types
    import weakref

    from xbrun.training import phases

    class Cycle:
        def __init__(self):
            self.me = self  # garbage only the collector frees

    class Runner:
        def __init__(self):
            self.on, self.garbage = [], []

        def __call__(self, x, y, idx):
            self.on.append(gc.isenabled())
            self.garbage.append(weakref.ref(Cycle()))
            return 0.0

    x = types.SimpleNamespace(is_cuda=False)
    frozen = gc.get_freeze_count()
    try:
        for quiet, slow in ((True, False), (True, True), (False, False)):
            monkeypatch.setattr(phases, "COMPILING_STEP", -1.0 if slow else 1e9)
            runner = Runner()
            timed = phases.TimedSteps(runner, phases.Phases(), quiet_first=quiet)
            timed(x, None, None)
            assert gc.isenabled()
            if quiet:  # frozen with the step's objects, or collected before the freeze
                assert (runner.garbage[0]() is None) == slow
                assert gc.get_freeze_count() > frozen
            timed(x, None, None)
            assert runner.on == [not quiet, True] and gc.isenabled()
    finally:
        gc.unfreeze()


def test_the_command_ends_through_python_while_child_processes_live(monkeypatch):
    """``cli._leave`` skips the interpreter's teardown (``os._exit``) but not while child
    processes live (a joblib sweep's idle workers): only Python's own shutdown stops their
    pool, else ``multiprocessing``'s exit waited for their idle timeout (300 s)."""
    import multiprocessing
    import time

    import pytest

    from xbrun import cli

    exits = []
    monkeypatch.setattr(cli.os, "_exit", exits.append)
    monkeypatch.setattr(cli.atexit, "_run_exitfuncs", lambda: None)
    with monkeypatch.context() as alone:  # no children (an earlier test in this worker may
        alone.setattr(multiprocessing, "active_children", lambda: [])  # have left some)
        cli._leave(lambda argv: None, [])
    assert exits == [0]
    child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(30,))
    child.start()
    try:
        with pytest.raises(SystemExit) as stop:
            cli._leave(lambda argv: sys.exit(3), [])
        assert stop.value.code == 3 and exits == [0]
    finally:
        child.terminate()
        child.join()
