"""The CUDA-graph state protocol (``xbrun/graph_state.py``): every module of a built model
declares the state it keeps (the graph runner asks nothing else), device scalars checkpoint
as the buffers they replaced, and the runner's helpers read the declarations."""

import pytest
import torch
from torch import nn

from xbrun.composition import compose
from xbrun.devices.schedule import TransferSchedule
from xbrun.graph_state import DeviceScalar, GraphState
from xbrun.tiles.tile import AnalogTile
from xbrun.training import loop
from xbrun.training.graphs import graph_states, host_state, off_device

SYNTH = ["dataset=synthetic", "dataset.n_features=8", "dataset.n_train=16", "dataset.n_test=8",
         "model.hidden=[6]", "batch_size=8"]
# every kind of array (pulsed with a reference and write noise, ideal), transfer device
# (AGAD inherits ttv1, ttv2 and chopped), schedule and tile periphery
MODELS = [["device=agad", "mapping=learned", "cell=soft_bounds_reference",
           "cell.reference_std=0.05", "cell.write_noise_std=0.1"],  # (a zero one is dropped)
          ["device=mixed_precision", "cell=ideal"], ["device=sgd", "cell=table"]]


def _undeclared(model: nn.Module, optimizer) -> list[str]:
    """Buffers, device scalars and generators that no ``GraphState`` declares."""
    found = []
    for name, module in (*model.named_modules(), ("optimizer", optimizer)):
        if module is None or isinstance(module, DeviceScalar):
            continue
        own = [n for n, _ in module.named_buffers(recurse=False)] if isinstance(
            module, nn.Module) else []
        own += [n for n, c in getattr(module, "_modules", {}).items()
                if isinstance(c, DeviceScalar)]
        gens = [k for k, v in vars(module).items() if isinstance(v, torch.Generator)]
        if not isinstance(module, GraphState):
            if type(module).__module__.startswith("xbrun"):
                found += [f"{name}.{n} ({type(module).__name__})" for n in own + gens]
            continue
        declared = set(module.graph_device_state) | set(module.graph_generators())
        found += [f"{name}.{n}" for n in own + gens if n not in declared]
    return found


@pytest.mark.parametrize("overrides", MODELS, ids=lambda o: o[0])
def test_every_buffer_scalar_and_generator_of_a_model_is_declared(overrides):
    data, model, optimizer, _ = loop.setup(compose([*SYNTH, *overrides]), torch.device("cpu"))
    for tile in (m for m in model.modules() if isinstance(m, AnalogTile)):
        tile.generator  # noqa: B018 (made on first use)
    assert not _undeclared(model, optimizer)
    states = graph_states(model, optimizer)
    assert [s for s in states if s.graph_host_state] == \
        [m for m in model.modules() if isinstance(m, TransferSchedule)]  # the only phased
    assert not off_device(states, torch.device("cpu"))
    assert off_device(states, torch.device("meta"))  # the check can fail


def test_the_noisy_optimizer_declares_its_generator():
    """``device.grad_noise_std``: the optimizer's generator is registered with a graph."""
    optimizer = loop.NoisyGradientSGD([nn.Parameter(torch.zeros(2))], lr=0.1, std=0.1,
                                      seed=0, device=torch.device("cpu"))
    assert graph_states(nn.Linear(1, 1), optimizer) == [optimizer]
    assert not _undeclared(nn.Linear(1, 1), optimizer)
    assert optimizer.graph_generators() == {"noise_generator": optimizer.noise_generator}


def test_the_check_sees_an_undeclared_counter():
    class Counting(nn.Module, GraphState):
        graph_device_state = ("a",)

        def __init__(self):
            super().__init__()
            self.register_buffer("a", torch.zeros(()))
            self.register_buffer("b", torch.zeros(()))
            self.gen = torch.Generator()

    assert _undeclared(nn.Sequential(Counting()), None) == ["0.b", "0.gen"]


def test_declared_host_state_is_left_to_its_module():
    """The safety net compares only host values no module declares; a capture puts the
    declared ones back through ``host_counts``."""
    schedule = TransferSchedule(5)
    model = nn.Sequential(schedule)
    before = host_state(model)
    counts = schedule.host_counts()
    schedule.due(3, 2)
    assert host_state(model) == before and not any("n_updates" in k for k in before)
    assert schedule.host_counts() != counts
    schedule.set_host_counts(counts)
    assert schedule.host_counts() == counts == (0, 0, None, 0)


def test_host_state_without_how_it_advances_is_refused():
    class Half(GraphState):
        graph_host_state = ("steps",)

    with pytest.raises(NotImplementedError, match="Half declares host state"):
        Half().next_phase(None)


def test_device_scalars_checkpoint_and_load_the_old_buffers():
    """A schedule's line and passes are device scalars in the state dict; checkpoints from
    when they were plain buffers still load."""
    schedule = TransferSchedule(5)
    schedule.walk(7)
    assert (int(schedule.line), int(schedule.passes)) == (2, 1)
    state = schedule.state_dict()
    assert {"line.tensor", "passes.tensor"} <= state.keys()
    old = {"line": torch.tensor(3), "passes": torch.tensor(4),
           "_extra_state": state["_extra_state"]}
    for saved, expected in ((state, (2, 1)), (old, (3, 4))):
        fresh = TransferSchedule(5)
        fresh.load_state_dict(saved)
        assert (int(fresh.line), int(fresh.passes)) == expected
    scalar = DeviceScalar(2.5, torch.float64)
    scalar.add_(1)
    assert float(scalar) == 3.5 and not scalar.state_dict()  # the owner saves it
