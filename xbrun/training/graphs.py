"""CUDA graphs for the training step (``cuda_graphs``): capture once per batch shape, replay.

A training step on the GPU is hundreds of small kernels, and launching them from Python
costs more than running them. A captured graph launches the whole step - forward, backward,
digital SGD and the analog update with its transfers - at once. A graph replays what the
host decided while it was captured, so the step is captured only where nothing the host
decides changes from step to step. The runner learns what the host decides from the
graph-state protocol (``xbrun.graph_state.GraphState``) that the model's modules and the
optimizer implement; it knows no device, tile or schedule by name:

- the learning rates are part of the key: a scheduler's new rate captures a new graph;
- device state (``graph_device_state``: kernel seeds, counters, line positions, running
  maxima, as ``DeviceScalar`` values and buffers) is advanced by the step itself on the
  device; a capture checks that it is on the GPU (a CPU tensor would move once, at the
  capture, and never on a replay);
- the generators the step draws from (``graph_generators``) are registered with the graph,
  so every replay draws afresh;
- declared host state (``graph_host_state``: a transfer schedule's mat-vec count) is the
  phase, part of the key: each such module predicts its next phase (``next_phase``) from
  what it saw in the last eager step of that batch shape (``step_record``), and after a
  replay advances its host state itself (``replayed``); a capture puts it back;
- a safety net for host state that no module declares (a decomposition's error sums, a
  user model's counter): the int/float/bool/str attributes of every module are compared
  around each warm-up step, and a step that moves them stays eager. It costs only warm-up
  steps and keeps an undeclared counter from being frozen into a graph.

A step that waits for the GPU (``.item()``, ``nonzero``, ...) cannot be captured: warm-up
steps run under torch's sync debug mode (``warn``) and are captured only once they run
clean. Where a step never does (``MAX_UNFIT`` steps), ``auto`` falls back to eager steps with
one logged warning and ``on`` stops the run with a one-line ``ConfigError``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from contextlib import contextmanager

import torch

from ..errors import ConfigError
from ..graph_state import DeviceScalar, GraphState

WARMUP = 2  # clean eager steps of one shape before its capture (compilation, lazy set-up)
MAX_UNFIT = 128  # eager steps that sync or move host state before graphs are given up (a
# step may do so for a while: an input range initialises from the first 100 batches)


@contextmanager
def _syncs():
    """Collect the synchronizing CUDA calls of the block (torch's sync debug mode, ``warn``)
    without stopping it: a step cut short half-way would be half applied."""
    found: list[str] = []
    old = torch.cuda.get_sync_debug_mode()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            yield found
        finally:
            torch.cuda.set_sync_debug_mode(old)
    found.extend(str(w.message).splitlines()[0] for w in caught
                 if "called a synchronizing" in str(w.message))


def host_state(model: torch.nn.Module) -> dict:
    """The plain host-side values of every module that no ``GraphState`` declares: what a
    replayed graph would not advance (the safety net of the module docstring)."""
    state = {}
    for name, module in model.named_modules():
        declared = module.graph_host_state if isinstance(module, GraphState) else ()
        for key, value in vars(module).items():
            if isinstance(value, (bool, int, float, str)) and key not in declared:
                state[f"{name or type(module).__name__}.{key}"] = value
    return state


def graph_states(model: torch.nn.Module, optimizer=None) -> list[GraphState]:
    """The modules of ``model`` (and the optimizer) that implement the graph-state protocol."""
    owners = (*model.modules(), optimizer)
    return [owner for owner in owners if isinstance(owner, GraphState)]


def off_device(states: list[GraphState], device: torch.device) -> list[str]:
    """Declared device state that is not on ``device`` (made-on-first-use values that do not
    exist yet aside)."""
    found = []
    for owner in states:
        for name in owner.graph_device_state:
            value = getattr(owner, name, None)  # optional state (a reference cell's)
            tensor = value.tensor if isinstance(value, DeviceScalar) else value
            if tensor is not None and tensor.device != device:
                found.append(f"{type(owner).__name__}.{name} on {tensor.device}")
    return found


def _moved(before: dict, after: dict) -> list[str]:
    return [k for k in after.keys() | before.keys() if before.get(k) != after.get(k)]


class _Captured:
    """One captured step with its static input and output tensors."""

    def __init__(self, graph, x, y, loss):
        self.graph, self.x, self.y, self.loss = graph, x, y, loss

    def replay(self, x, y, idx) -> torch.Tensor:
        torch.index_select(x, 0, idx, out=self.x)
        torch.index_select(y, 0, idx, out=self.y)
        self.graph.replay()
        return self.loss


class StepRunner:
    """Runs ``step(model, optimizer, x[idx], y[idx]) -> loss`` eagerly or as graph replays.

    ``mode``: ``off`` (always eager), ``on`` or ``auto`` (graphs where the tensors are on
    CUDA). Graphs are kept per ``(batch shape, phase)`` under the current learning rates;
    the phase is what each module with declared host state says the step will do (a
    transfer schedule: how many transfers it makes).
    """

    def __init__(self, step: Callable, model, optimizer, mode: str = "off", log=print):
        self.step, self.model, self.optimizer = step, model, optimizer
        self.mode, self.log = mode, log
        self.enabled = mode != "off"
        self.graphs: dict[tuple, _Captured] = {}
        self.stable: dict[tuple, int] = {}  # clean eager steps in a row, per batch shape
        self.seen: set[tuple] = set()  # keys that ran one clean eager step
        self.unfit = 0
        self.lrs: tuple | None = None
        self.stream: torch.cuda.Stream | None = None
        self.states = graph_states(model, optimizer)
        self.phased = [s for s in self.states if s.graph_host_state]  # host state: the phase
        self.records: dict[tuple, tuple] = {}  # per batch shape: each phased module's record

    def __call__(self, x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        if not (self.enabled and x.is_cuda):
            return self.step(self.model, self.optimizer, x[idx], y[idx])
        lrs = tuple(float(g["lr"]) for g in self.optimizer.param_groups)
        if lrs != self.lrs:  # a new learning rate: the old graphs bake in the old one
            self.graphs.clear()
            self.stable.clear()
            self.seen.clear()
            self.lrs = lrs
        shape = (tuple(idx.shape), x.dtype, y.dtype)
        phase = self._phase(shape)
        key = (shape, phase)
        captured = self.graphs.get(key)
        if captured is None and key in self.seen and self.stable[shape] >= WARMUP:
            captured = self._capture(key, x, y, idx)
        if captured is not None:
            loss = captured.replay(x, y, idx)
            for state, record in zip(self.phased, self.records[shape], strict=True):
                state.replayed(record)
            return loss
        return self._warm_up(shape, phase, x, y, idx)

    def _phase(self, shape) -> tuple | None:
        """The phase of each phased module in the next step of this batch shape (None: not
        known before an eager step of the shape)."""
        records = self.records.get(shape)
        if records is None:
            return None
        return tuple(s.next_phase(r) for s, r in zip(self.phased, records, strict=True))

    # -- eager steps before a capture ---------------------------------------------------
    def _side(self, fn):
        """Run ``fn`` on the capture stream (cuBLAS and friends set up per stream)."""
        stream = self._stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            out = fn()
        torch.cuda.current_stream().wait_stream(stream)
        return out

    def _warm_up(self, shape, phase, x, y, idx) -> torch.Tensor:
        for state in self.phased:
            state.start_step()
        before = host_state(self.model)
        with _syncs() as syncs:
            loss = self._side(lambda: self.step(self.model, self.optimizer, x[idx], y[idx]))
        moved = _moved(before, host_state(self.model))
        seen = [s.step_record() for s in self.phased]
        records = tuple(record for record, _ in seen)
        ran = tuple(step_phase for _, step_phase in seen)
        predicted = phase == ran and self.records.get(shape) == records
        self.records[shape] = records
        if moved or syncs:
            self.stable[shape] = 0
            self.unfit += 1
            if self.unfit >= MAX_UNFIT:
                self._give_up(f"the step waits for the GPU ({len(syncs)} synchronizing calls "
                              "per step)" if syncs else
                              "the step changes host-side state every step ("
                              + ", ".join(sorted(moved)[:3]) + "), which a replayed graph "
                              "would not advance")
            return loss
        if not predicted:  # a new shape, or a module that saw something new (a mini-batch)
            self.stable[shape] = 0
            return loss
        self.stable[shape] = self.stable.get(shape, 0) + 1
        self.seen.add((shape, phase))
        return loss

    # -- capture --------------------------------------------------------------------------
    def _generators(self) -> list[torch.Generator]:
        found = {}
        for owner in self.states:  # the optimizer's too: gradient noise
            for gen in owner.graph_generators().values():
                if gen.device.type == "cuda":
                    found[id(gen)] = gen
        return list(found.values())

    def _capture(self, key, x, y, idx) -> _Captured | None:
        """Capture the step at the current state (not run: the caller replays it)."""
        elsewhere = off_device(self.states, x.device)
        if elsewhere:
            self._give_up("step state is not on the GPU (" + ", ".join(elsewhere[:3]) + ")")
            return None
        static_x, static_y = x[idx], y[idx]
        graph = torch.cuda.CUDAGraph()
        generators = self._generators()
        saved = {id(gen): gen.get_state() for gen in generators}
        counts = [s.host_counts() for s in self.phased]  # the capture counts on the host
        for gen in generators:
            graph.register_generator_state(gen)
        torch.cuda.synchronize()
        try:
            with torch.cuda.graph(graph, stream=self._stream()):
                loss = self.step(self.model, self.optimizer, static_x, static_y)
        except Exception as err:  # an op that graphs do not allow, which eager steps hid
            torch.cuda.synchronize()
            self._fresh_generators(saved)
            text = str(err).strip()
            first = text.splitlines()[0] if text else type(err).__name__
            self._give_up(f"the step cannot be captured in a CUDA graph ({first})")
            return None
        finally:
            for state, count in zip(self.phased, counts, strict=True):
                state.set_host_counts(count)
        captured = self.graphs[key] = _Captured(graph, static_x, static_y, loss)
        self.log(f"cuda_graphs: captured the training step for batches of {key[0][0][0]}"
                 + (f" (phase {key[1]})" if self.phased else ""))
        return captured

    def _fresh_generators(self, saved: dict) -> None:
        """A failed capture leaves its registered generators in capture mode: put fresh
        ones with the saved states in their place."""
        for owner in self.states:
            for name, value in owner.graph_generators().items():
                if id(value) in saved:
                    fresh = torch.Generator(device=value.device)
                    fresh.set_state(saved[id(value)])
                    setattr(owner, name, fresh)

    def _stream(self) -> torch.cuda.Stream:
        if self.stream is None:
            self.stream = torch.cuda.Stream()
        return self.stream

    def _give_up(self, reason: str) -> None:
        if self.mode == "on":
            raise ConfigError(f"cuda_graphs=on: {reason}; use cuda_graphs=auto or off")
        self.log(f"warning: cuda_graphs=auto: {reason}; training with eager steps")
        self.enabled = False
        self.graphs.clear()


__all__ = ["StepRunner", "graph_states", "host_state", "off_device"]
