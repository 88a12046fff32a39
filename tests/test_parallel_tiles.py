"""The tiles' updates on parallel CUDA streams give the same weights as in order."""

from __future__ import annotations

import contextlib

import pytest
import torch

from xbrun.composition import compose
from xbrun.nn import AnalogSGD
from xbrun.tiles import grouped
from xbrun.tiles.periphery import TileWithPeriphery
from xbrun.training.graphs import StepRunner
from xbrun.training.loop import setup, train_epoch, training_step


def _trained(parallel: int, device: str, graphs: str = "off",
             shape: tuple = (40, 24)) -> list[torch.Tensor]:
    config = compose(["dataset=synthetic", f"dataset.n_features={shape[0]}",
                      "dataset.n_train=64", "dataset.n_test=8", f"model.hidden=[{shape[1]}]",
                      "device=chopped",
                      "mapping.max_input_size=16", "mapping.max_output_size=16",
                      "batch_size=8", "seed=3"])
    dev = torch.device(device)
    data, model, optimizer, _ = setup(config, dev)
    optimizer.parallel_tiles = parallel
    x, y = data.x_train.to(dev), data.y_train.to(dev)
    runner = StepRunner(training_step, model, optimizer, graphs, log=lambda *_: None)
    order = torch.arange(len(y), device=dev)
    train_epoch(model, optimizer, x, y, order, 8, runner)  # 8 steps: warm-up, capture, replays
    if graphs != "off":
        assert runner.graphs, "the step was not captured"
    return [p.detach().cpu().clone() for p in model.state_dict().values()
            if isinstance(p, torch.Tensor)]


def _same(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b, strict=True):
        assert torch.equal(u, v)


def test_parallel_tiles_is_a_no_op_on_the_cpu():
    _same(_trained(1, "cpu"), _trained(8, "cpu"))


@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(40, 24), (32, 16)])  # 32: a 2-tile grid, grouped
def test_parallel_tiles_match_the_serial_update_on_cuda(shape):
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    serial = _trained(1, "cuda", shape=shape)
    _same(serial, _trained(8, "cuda", shape=shape))
    _same(serial, _trained(3, "cuda", shape=shape))
    _same(serial, _trained(8, "cuda", graphs="on", shape=shape))



def _grid_trained(parallel: int, steps: int = 2) -> list[torch.Tensor]:
    """A chopped MLP whose first layer is a grid of 2 tiles, its second one tile."""
    config = compose(["dataset=synthetic", "dataset.n_features=32", "dataset.n_train=16",
                      "dataset.n_test=8", "model.hidden=[16]", "device=chopped",
                      "mapping.max_input_size=16", "mapping.max_output_size=16",
                      "batch_size=8", "seed=3"])
    data, model, optimizer, _ = setup(config, torch.device("cpu"))
    optimizer.parallel_tiles = parallel
    for step in range(steps):
        rows = slice(8 * step, 8 * step + 8)
        training_step(model, optimizer, data.x_train[rows], data.y_train[rows])
    return [p.detach().clone() for p in model.state_dict().values()
            if isinstance(p, torch.Tensor)]


class _Stream:
    """A CUDA stream on the host: ``log`` records what waits for what."""

    def __init__(self, name: str, log: list):
        self.name, self.log = name, log

    def wait_stream(self, other: _Stream) -> None:
        self.log.append(("wait", self.name, other.name))

    def record_event(self) -> tuple:
        event = ("event", self.name, len(self.log))
        self.log.append(("record", self.name, event))
        return event

    def wait_event(self, event: tuple) -> None:
        self.log.append(("wait_event", self.name, event))


def _host_streams(monkeypatch, log: list) -> None:
    """The optimizer's side streams as host ``_Stream`` s (CPU tensors run as made); the
    jobs logged with the stream they run on."""
    current = [_Stream("main", log)]
    side = tuple(_Stream(f"s{i}", log) for i in range(8))

    @contextlib.contextmanager
    def on(stream):
        current.append(stream)
        yield
        current.pop()

    monkeypatch.setattr(AnalogSGD, "_streams", lambda self, jobs: side)
    monkeypatch.setattr(torch.cuda, "stream", on)
    monkeypatch.setattr(torch.cuda, "current_stream", lambda device=None: current[-1])
    monkeypatch.setattr(torch.Tensor, "record_stream", lambda self, stream: None)
    def logged(run, name):
        def call(*args):
            log.append((name, current[-1].name))
            return run(*args)
        return call

    for owner, name in ((AnalogSGD, "analog_step"), (grouped.TileGroup, "update"),
                        (TileWithPeriphery, "apply_pending"), (grouped, "_transfer"),
                        (grouped, "_write")):
        monkeypatch.setattr(owner, name, logged(getattr(owner, name), name))


def test_a_grouped_update_is_one_job_beside_the_other_tiles(monkeypatch):
    """A grid that updates as one group runs on a side stream beside the other layer's tile
    (not on the step's stream before it); its transfers follow it (on its stream, or on one
    that waited for its event); each stream used waits for the step's stream before its
    first job, and the step's stream waits for each at the end: one fork and one join per
    stream. The weights are those of ``parallel_tiles=1``."""
    monkeypatch.setattr(grouped, "GROUP_ON_CPU", True)
    monkeypatch.setattr(grouped, "TRANSFER_GROUP_MIN_TILES", 2)
    serial = _grid_trained(1)
    log = []
    _host_streams(monkeypatch, log)
    _same(serial, _grid_trained(8))
    starts = [i for i, e in enumerate(log) if e[0] == "analog_step"]
    assert len(starts) == 2
    for start, end in zip(starts, [*starts[1:], len(log)], strict=True):
        step = log[start + 1:end]
        jobs = [e for e in step if e[0] in ("update", "apply_pending", "_transfer", "_write")]
        assert [e[0] for e in jobs[:2]] == ["update", "apply_pending"]
        assert all(e[1] != "main" for e in jobs) and jobs[0][1] != jobs[1][1]
        group = jobs[0][1]
        event = next(e[2] for e in step if e[0] == "record")
        assert event[1] == group
        transfers = [(i, e[1]) for i, e in enumerate(step) if e[0] in ("_transfer", "_write")]
        assert len(transfers) == 2  # each tile of the group transfers (chopped: every step)
        for i, stream in transfers:
            assert stream == group or ("wait_event", stream, event) in step[:i]
        used = {e[1] for e in jobs}
        for stream in used:
            assert next(e for e in step if e[1] == stream) == ("wait", stream, "main")
        joins = [e for e in step if e[:2] == ("wait", "main")]
        assert step[-len(joins):] == joins and sorted(e[2] for e in joins) == sorted(used)
