"""CUDA graphs for the training step (``cuda_graphs``): capture once per batch shape, replay.

A training step on the GPU is hundreds of small kernels, and launching them from Python
costs more than running them. A captured graph launches the whole step - forward, backward,
digital SGD and the analog update with its transfers - at once. A graph replays what the
host decided while it was captured, so the step is captured only where nothing the host
decides changes from step to step:

- the learning rates are part of the key: a schedule's new rate captures a new graph;
- kernel seeds and counters (``pulses``, ``rank1_updates``) live in device tensors that the
  step advances itself (``CrossbarArray._device_seed``, ``AnalogTile.rank1_count``), and the
  tiles' generators are registered with the graph, so every replay draws afresh;
- the transfer schedules (``devices.schedule.TransferSchedule``) count on the host how many
  transfers a step makes; the lines they read are device tensors the graph moves on. That
  count is part of the key (the phase: at most two values per schedule), predicted before
  each step from the mini-batch the schedule saw in the last eager step of that shape, and
  after a replay the runner counts the step on the host (``TransferSchedule.advance``);
- the host state of every other module (its int/float/bool/str attributes) is compared
  around each warm-up step: a module whose host state moves (an input range still
  initialising from data) keeps the step eager until it stops.

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

from ..devices.schedule import TransferSchedule
from ..errors import ConfigError

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
    """The plain host-side values of every module: what a replayed graph cannot advance
    (the transfer schedules aside: the runner counts their steps itself)."""
    state = {}
    for name, module in model.named_modules():
        if isinstance(module, TransferSchedule):
            continue
        for key, value in vars(module).items():
            if isinstance(value, (bool, int, float, str)):
                state[f"{name or type(module).__name__}.{key}"] = value
    return state


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
    the phase is the number of transfers each transfer schedule makes in the step.
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
        self.schedules = [m for m in model.modules() if isinstance(m, TransferSchedule)]
        self.dues: dict[tuple, tuple] = {}  # per batch shape: each schedule's (k, period)

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
            for schedule, due in zip(self.schedules, self.dues[shape], strict=True):
                schedule.advance(due)
            return loss
        return self._warm_up(shape, phase, x, y, idx)

    def _phase(self, shape) -> tuple | None:
        """The transfers each schedule makes in the next step of this batch shape (None:
        not known before an eager step of the shape)."""
        dues = self.dues.get(shape)
        if dues is None:
            return None
        return tuple(s.next_events(due) for s, due in zip(self.schedules, dues, strict=True))

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
        for schedule in self.schedules:
            schedule.last_due, schedule.last_events = None, 0
        before = host_state(self.model)
        with _syncs() as syncs:
            loss = self._side(lambda: self.step(self.model, self.optimizer, x[idx], y[idx]))
        moved = _moved(before, host_state(self.model))
        dues = tuple(s.last_due for s in self.schedules)
        events = tuple(s.last_events for s in self.schedules)
        predicted = phase == events and self.dues.get(shape) == dues
        self.dues[shape] = dues
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
        if not predicted:  # a new shape, or a schedule that changed its mini-batch
            self.stable[shape] = 0
            return loss
        self.stable[shape] = self.stable.get(shape, 0) + 1
        self.seen.add((shape, phase))
        return loss

    # -- capture --------------------------------------------------------------------------
    def _generators(self) -> list[torch.Generator]:
        found = {}
        for owner in (*self.model.modules(), self.optimizer):  # the optimizer's: grad noise
            for value in vars(owner).values():
                if isinstance(value, torch.Generator) and value.device.type == "cuda":
                    found[id(value)] = value
        return list(found.values())

    def _capture(self, key, x, y, idx) -> _Captured | None:
        """Capture the step at the current state (not run: the caller replays it)."""
        static_x, static_y = x[idx], y[idx]
        graph = torch.cuda.CUDAGraph()
        generators = self._generators()
        saved = {id(gen): gen.get_state() for gen in generators}
        counts = [s.host_counts() for s in self.schedules]  # the capture counts on the host
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
            for schedule, count in zip(self.schedules, counts, strict=True):
                schedule.set_host_counts(count)
        captured = self.graphs[key] = _Captured(graph, static_x, static_y, loss)
        self.log(f"cuda_graphs: captured the training step for batches of {key[0][0][0]}"
                 + (f" (transfers {key[1]})" if self.schedules else ""))
        return captured

    def _fresh_generators(self, saved: dict) -> None:
        """A failed capture leaves its registered generators in capture mode: put fresh
        ones with the saved states in their place."""
        for owner in (*self.model.modules(), self.optimizer):
            for name, value in list(vars(owner).items()):
                if isinstance(value, torch.Generator) and id(value) in saved:
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


__all__ = ["StepRunner", "host_state"]
