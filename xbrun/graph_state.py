"""What a module keeps for a training step that CUDA graphs capture and replay.

A captured graph replays on the device what the step did while it was captured, and
nothing on the host: no Python runs, no host counter moves, the generators it registered
draw afresh. So a module that takes part in the step says, by implementing
:class:`GraphState`, where its step state lives:

- on the device (``graph_device_state``): buffers and :class:`DeviceScalar` values (seeds,
  counters, line positions, running maxima) that the step reads and advances in place, so
  a replay advances them too;
- in its generators (``graph_generators``), which the graph runner registers with a graph;
- on the host (``graph_host_state``): values the step moves in Python. A replay cannot, so
  the module says which step it is in (``step_record``: the phase, e.g. how many transfers
  a schedule made), predicts the next one (``next_phase``: part of the graph's key) and
  advances them after a replay (``replayed``).

The graph runner (``xbrun.training.graphs``) asks only this protocol; it lives below
physics, devices and tiles so they can implement it without importing training.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import torch
from torch import nn


class DeviceScalar(nn.Module):
    """A number the training step keeps where the arrays are: a 0-dim tensor (``tensor``)
    that moves with its module and that the step reads and advances in place, so a replayed
    CUDA graph advances it as an eager step does (a host int would stay behind).

    The host reads it (``int()``, ``float()``) for checkpoints and logs: free on the CPU, a
    GPU sync on CUDA, never inside a step there. ``persistent`` values are saved in the
    state dict (``<name>.tensor``); the others by their owner (its extra state).
    """

    def __init__(self, value: int | float = 0, dtype: torch.dtype = torch.int64,
                 persistent: bool = False):
        super().__init__()
        self.register_buffer("tensor", torch.tensor(value, dtype=dtype), persistent=persistent)

    @property
    def device(self) -> torch.device:
        return self.tensor.device

    def add_(self, amount: int | float | torch.Tensor) -> torch.Tensor:
        """Advance in place (no host read); returns the tensor."""
        return self.tensor.add_(amount)

    def set_(self, value: int | float | torch.Tensor) -> None:
        """Set in place (the tensor a captured graph holds stays the same)."""
        if isinstance(value, torch.Tensor):
            self.tensor.copy_(value)
        else:
            self.tensor.fill_(value)

    def __int__(self) -> int:
        return int(self.tensor)

    def __float__(self) -> float:
        return float(self.tensor)

    @staticmethod
    def upgrade_state_dict(state_dict: dict, prefix: str, names: tuple[str, ...]) -> None:
        """Checkpoints from before ``names`` were DeviceScalars kept them as plain buffers
        (``prefix + name``): move those to the scalars' keys (for ``_load_from_state_dict``)."""
        for name in names:
            old = prefix + name
            if old in state_dict and old + ".tensor" not in state_dict:
                state_dict[old + ".tensor"] = state_dict.pop(old)


def set_host(module: nn.Module, name: str, value) -> None:
    """Set a plain host attribute (an int, a float, a tuple) of ``module`` as
    ``nn.Module.__setattr__`` would, without its look-ups among parameters, buffers and
    submodules: microseconds a call, and a transfer device's step sets several."""
    module.__dict__[name] = value


class GraphState:
    """The protocol (a mixin of modules and optimizers) that the graph runner asks; see the
    module docstring. The defaults fit a module whose step state is all on the device."""

    # attributes holding buffers or DeviceScalars that the step advances in place
    graph_device_state: tuple[str, ...] = ()
    # attributes holding host values that the step moves (a replay cannot: the runner keys
    # graphs by the phase and calls ``replayed``; a capture puts them back)
    graph_host_state: tuple[str, ...] = ()

    def graph_generators(self) -> dict[str, torch.Generator]:
        """The generators the step draws from, by the attribute that holds them: a graph
        registers them, so every replay draws afresh (a failed capture replaces them)."""
        return {}

    def host_counts(self) -> tuple:
        """The declared host state (a capture runs the step's Python once: it is put back)."""
        return tuple(getattr(self, name) for name in self.graph_host_state)

    def set_host_counts(self, counts: tuple) -> None:
        for name, value in zip(self.graph_host_state, counts, strict=True):
            setattr(self, name, value)

    # -- only for modules that declare host state -----------------------------------------
    def start_step(self) -> None:
        """An eager step begins (forget what the last one saw)."""
        raise _no_advance(self)

    def step_record(self) -> tuple[Hashable, Hashable]:
        """After an eager step: ``(record, phase)``, what the step saw that predicts the next
        ones of its batch shape and the phase the step ran in."""
        raise _no_advance(self)

    def next_phase(self, record: Any) -> Hashable:
        """The phase the next step runs in if it sees ``record`` (part of the graph key)."""
        raise _no_advance(self)

    def replayed(self, record: Any) -> None:
        """Advance the host state as the step just replayed (which saw ``record``) did."""
        raise _no_advance(self)


def _no_advance(owner) -> NotImplementedError:
    return NotImplementedError(f"{type(owner).__name__} declares host state but not how it "
                               "advances")


__all__ = ["DeviceScalar", "GraphState"]
