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


def _weights(model) -> list[torch.Tensor]:
    """Copies of every tensor of the model's state (on the host)."""
    return [p.detach().cpu().clone() for p in model.state_dict().values()
            if isinstance(p, torch.Tensor)]


def _queued_at_analog_step(monkeypatch) -> list:
    """A list that each ``analog_step`` call appends its tiles' queue states to (whether
    each tile still holds an update: False where it started in the backward pass)."""
    from xbrun.nn import optimizer

    queued = []
    step = optimizer.AnalogSGD.analog_step

    def spy(self):
        queued.append([bool(t.pending) for _, t in self._tiles()])
        return step(self)

    monkeypatch.setattr(optimizer.AnalogSGD, "analog_step", spy)
    return queued


def _trained(parallel: int, device: str, graphs: str = "off",
             shape: tuple = (40, 24), model: tuple = ()) -> list[torch.Tensor]:
    config = compose(list(model) or [
        "dataset=synthetic", f"dataset.n_features={shape[0]}", "dataset.n_train=64",
        "dataset.n_test=8", f"model.hidden=[{shape[1]}]", "device=chopped",
        "mapping.max_input_size=16", "mapping.max_output_size=16", "batch_size=8", "seed=3"])
    dev = torch.device(device)
    data, model, optimizer, _ = setup(config, dev)
    optimizer.parallel_tiles = parallel
    x, y = data.x_train.to(dev), data.y_train.to(dev)
    runner = StepRunner(training_step, model, optimizer, graphs, log=lambda *_: None)
    order = torch.arange(len(y), device=dev)
    train_epoch(model, optimizer, x, y, order, 8, runner)  # 8 steps: warm-up, capture, replays
    if graphs != "off":
        assert runner.graphs, "the step was not captured"
    return _weights(model)


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
    return _weights(model)


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


# ---------------- EARLY_UPDATES: a tile's update started where its backward queued it -------
def _early(monkeypatch, on: bool) -> None:
    from xbrun.nn import optimizer

    monkeypatch.setattr(optimizer, "EARLY_UPDATES", on)


def test_early_updates_start_in_the_backward_pass_with_the_same_weights(monkeypatch):
    """With ``EARLY_UPDATES`` every tile's update (the grouped grid's as one job, its
    transfers after it) starts on a side stream inside ``loss.backward()``, the stream
    waiting for the step's stream right before it (the backward that queued it), and
    ``analog_step`` only joins them: the weights are those of the update after the whole
    backward pass, in order."""
    monkeypatch.setattr(grouped, "GROUP_ON_CPU", True)
    monkeypatch.setattr(grouped, "TRANSFER_GROUP_MIN_TILES", 2)
    serial = _grid_trained(1)
    log = []
    _host_streams(monkeypatch, log)
    _early(monkeypatch, True)
    _same(serial, _grid_trained(8))
    starts = [i for i, e in enumerate(log) if e[0] == "analog_step"]
    assert len(starts) == 2
    before = log[:starts[0]]
    jobs = [(i, e) for i, e in enumerate(before) if e[0] in ("update", "apply_pending")]
    assert [e[0] for _, e in jobs] == ["apply_pending", "update"]  # the last layer first
    for i, (_, stream) in jobs:
        assert stream != "main" and before[i - 1] == ("wait", stream, "main")
    step = log[starts[0] + 1:starts[1]]  # the first analog_step, then the second backward
    assert [e[0] for e in step if e[0] in ("update", "apply_pending")] == [e[0] for _, e in jobs]
    assert {e[2] for e in step if e[:2] == ("wait", "main")} >= {s for _, (_, s) in jobs}
    assert not [e for e in log[starts[1]:] if e[0] in ("update", "apply_pending")]


class _Twice(torch.nn.Module):
    """One analog layer used by two forward passes of a step (its weights shared)."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def forward(self, x):
        return self.layer(torch.tanh(self.layer(x)))


def _shared_trained(monkeypatch, early: bool, input_range: bool = False):
    from tests.test_mapping import make_spec
    from xbrun.nn import AnalogLinear

    _early(monkeypatch, early)
    torch.manual_seed(0)
    mapping = ["learn_input_range=true", "digital_bias=true"] if input_range else []
    layer = AnalogLinear.from_digital(torch.nn.Linear(12, 12),
                                      make_spec(*mapping, cell="reram_sb", io="default"))
    model = _Twice(layer)
    optimizer = AnalogSGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 12), torch.randint(0, 12, (8,))
    for _ in range(3):
        training_step(model, optimizer, x, y)
    return _weights(model)


@pytest.mark.parametrize("input_range", [False, True])
def test_early_updates_wait_for_a_shared_layers_last_backward(monkeypatch, input_range):
    """A layer used twice in a step starts its update after its second backward pass (the
    first would otherwise read weights already updated), and a learned input range (which
    the digital step changes before the update reads it) keeps the update after the
    backward pass: the weights of the late update, bit for bit."""
    from xbrun.nn import optimizer

    monkeypatch.setattr(optimizer, "EARLY_INLINE", True)
    late = _shared_trained(monkeypatch, False, input_range)
    queued = _queued_at_analog_step(monkeypatch)
    _same(late, _shared_trained(monkeypatch, True, input_range))
    assert queued == [[input_range]] * 3  # started in the backward pass unless the range


@pytest.mark.parametrize("device", ["sgd", "chopped"])
def test_early_updates_of_a_resnet_give_the_late_weights(monkeypatch, device):
    """Convolutions (indexed tiles, queued as images) and the linear head, updated where
    their backward queued them (inline here, the CPU has no side streams): the weights of
    the update after the backward pass, bit for bit."""
    from xbrun.nn import optimizer

    monkeypatch.setattr(optimizer, "EARLY_INLINE", True)

    def trained(early):
        _early(monkeypatch, early)
        config = compose(["model=resnet", "dataset=synthetic", "dataset.image_shape=[3,8,8]",
                          "dataset.n_train=8", "dataset.n_test=4", f"device={device}",
                          "batch_size=4", "seed=5"])
        data, model, opt, _ = setup(config, torch.device("cpu"))
        for step in range(2):
            rows = slice(4 * step, 4 * step + 4)
            training_step(model, opt, data.x_train[rows], data.y_train[rows])
        return _weights(model)

    _same(trained(False), trained(True))


@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(40, 24), (32, 16)])  # 32: a 2-tile grid, grouped
def test_early_updates_match_the_serial_update_on_cuda(monkeypatch, shape):
    """Compiled, the updates started in the backward pass on side streams (eager and
    graph-replayed) give the weights of the serial update after the backward pass."""
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    serial = _trained(1, "cuda", shape=shape)
    _early(monkeypatch, True)
    _same(serial, _trained(8, "cuda", shape=shape))
    _same(serial, _trained(8, "cuda", graphs="on", shape=shape))


@pytest.mark.gpu
@pytest.mark.parametrize("device", ["sgd+update.accumulate=batch", "chopped"])
def test_early_updates_of_a_resnet_match_on_cuda(monkeypatch, device):
    """Compiled, a ResNet's convolutions and head updated where their backward queued them
    (side streams beside the backward, eager and graph-replayed) give the weights of the
    updates after the backward pass."""
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    model = ("model=resnet", "dataset=synthetic", "dataset.image_shape=[3,16,16]",
             "dataset.n_train=64", "dataset.n_test=8", "batch_size=8", "seed=5",
             *(f"{o}" if "=" in o else f"device={o}" for o in device.split("+")))
    late = _trained(8, "cuda", model=model)
    _early(monkeypatch, True)
    _same(late, _trained(8, "cuda", model=model))
    _same(late, _trained(8, "cuda", graphs="on", model=model))


def _mlp(early: bool, monkeypatch):
    """A 2-layer analog MLP (two tiles) on the CPU, its data and optimizer."""
    _early(monkeypatch, early)
    config = compose(["dataset=synthetic", "dataset.n_features=12", "dataset.n_train=16",
                      "dataset.n_test=8", "model.hidden=[10]", "device=chopped",
                      "batch_size=8", "seed=3"])
    data, model, opt, _ = setup(config, torch.device("cpu"))
    return data, model, opt


def test_early_updates_after_a_no_grad_forward(monkeypatch):
    """A forward pass without autograd (an evaluation between steps) is no use whose
    backward the update must wait for: the next step's updates still start in its
    backward pass (not all after it), with the late update's weights."""
    from xbrun.nn import optimizer

    monkeypatch.setattr(optimizer, "EARLY_INLINE", True)

    def trained(early):
        data, model, opt = _mlp(early, monkeypatch)
        for step in range(2):
            rows = slice(8 * step, 8 * step + 8)
            with torch.no_grad():
                model(data.x_test)
            training_step(model, opt, data.x_train[rows], data.y_train[rows])
        return _weights(model)

    late = trained(False)
    queued = _queued_at_analog_step(monkeypatch)
    _same(late, trained(True))
    assert queued == [[False, False]] * 2


def test_early_updates_joined_when_the_backward_raises(monkeypatch):
    """A backward pass that raises after an update started on a side stream (or one whose
    ``analog_step`` never came) leaves no side stream unjoined: the step's stream waits for
    it (a CUDA graph's capture would otherwise end with a fork never joined), and the
    next ``analog_step`` starts afresh."""
    log = []
    _host_streams(monkeypatch, log)
    _early(monkeypatch, True)

    def fail(grad):
        raise RuntimeError("backward failed")

    from tests.test_mapping import make_spec
    from xbrun.nn import AnalogLinear

    torch.manual_seed(0)
    spec = make_spec(cell="reram_sb", io="default")
    first, second = (AnalogLinear.from_digital(torch.nn.Linear(12, 12), spec)
                     for _ in range(2))
    model = torch.nn.Sequential(first, torch.nn.Tanh(), second)
    opt = AnalogSGD(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 12), torch.randint(0, 12, (8,))
    hidden = torch.tanh(first(x))
    hidden.register_hook(fail)
    loss = torch.nn.functional.cross_entropy(second(hidden), y)
    opt.zero_grad()
    with pytest.raises(RuntimeError, match="backward failed"), opt.updates_in_backward():
        loss.backward()
    started = [e for e in log if e[0] == "apply_pending"]
    assert len(started) == 1 and started[0][1] != "main"  # the head's, in the backward
    assert log[-1] == ("wait", "main", started[0][1]) and opt._fork is None
    log.clear()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    with opt.updates_in_backward():  # its analog_step never comes
        loss.backward()
    used = {e[1] for e in log if e[0] == "apply_pending"}
    assert len(used) == 2 and "main" not in used
    log.clear()
    with opt.updates_in_backward():  # nothing queued: the last fork is joined first
        pass
    assert sorted(e[2] for e in log if e[:2] == ("wait", "main")) == sorted(used)


@pytest.mark.parametrize("mapping", [["mapping.learn_out_scaling=true"],  # grouped: scaled
                                     ["mapping.learn_out_scaling=true",  # tile by tile
                                      "mapping.out_scaling_columnwise=true",
                                      "mapping.weight_scaling_omega=0.6",
                                      "mapping.digital_bias=true"]])
def test_early_updates_with_learned_output_scales(monkeypatch, mapping):
    """Learned output scales (and mapping scales, a digital bias) do not hold an update
    back: the error a tile queues is already scaled (``OutScalesFunction`` after the tile,
    ``ScaledGridFunction``'s backward), so the digital step that changes the scales after
    the backward pass changes nothing the update reads: every update starts in the
    backward pass, with the late update's weights."""
    from xbrun.nn import optimizer

    monkeypatch.setattr(optimizer, "EARLY_INLINE", True)
    monkeypatch.setattr(grouped, "GROUP_ON_CPU", True)
    monkeypatch.setattr(grouped, "TRANSFER_GROUP_MIN_TILES", 2)

    def trained(early):
        _early(monkeypatch, early)
        config = compose(["dataset=synthetic", "dataset.n_features=32", "dataset.n_train=16",
                          "dataset.n_test=8", "model.hidden=[16]", "device=chopped",
                          "mapping.max_input_size=16", "mapping.max_output_size=16",
                          "batch_size=8", "seed=3", *mapping])
        data, model, opt, _ = setup(config, torch.device("cpu"))
        for step in range(2):
            rows = slice(8 * step, 8 * step + 8)
            training_step(model, opt, data.x_train[rows], data.y_train[rows])
        return _weights(model)

    late = trained(False)
    queued = _queued_at_analog_step(monkeypatch)
    _same(late, trained(True))
    assert queued == [[False] * 3] * 2


@pytest.mark.parametrize("early", [False, True])
def test_an_update_that_raises_leaves_the_streams_joined(monkeypatch, early):
    """An update that raises (in ``analog_step``, or early in the backward pass) after
    another started on a side stream still makes the step's stream wait for every stream
    used."""
    log = []
    _host_streams(monkeypatch, log)
    data, model, opt = _mlp(early, monkeypatch)
    tiles = [t for _, t in opt._tiles()]
    apply = TileWithPeriphery.apply_pending

    def fails(self):
        if self is tiles[0 if early else 1]:  # the second to start
            raise RuntimeError("update failed")
        return apply(self)

    monkeypatch.setattr(TileWithPeriphery, "apply_pending", fails)
    with pytest.raises(RuntimeError, match="update failed"):
        training_step(model, opt, data.x_train[:8], data.y_train[:8])
    used = {e[1] for e in log if e[0] == "apply_pending"} - {"main"}
    assert used and opt._fork is None
    joins = [e for e in log if e[:2] == ("wait", "main")]
    assert log[-len(joins):] == joins and {e[2] for e in joins} >= used
