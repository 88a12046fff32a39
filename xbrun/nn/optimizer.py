"""``AnalogSGD``: SGD for digital parameters, pulsed tile updates for analog weights."""

from __future__ import annotations

import contextlib
import functools
import inspect

import torch

# side streams for the tiles' updates on one CUDA device: enough to keep an H200 busy with
# small tiles, few enough that each still gets a share of the SMs
UPDATE_STREAMS = 8

# Each tile's update started where the backward pass has queued its ``(x, d)`` and read its
# weights (``updates_in_backward``), on a side stream, instead of after the whole backward
# pass: on the ResNet the update's launches (the counts, the transfers: ~40 % of the step's
# kernel time) then overlap the backward of the layers before it, where today the main
# stream idles 2.8 ms (sgd) to 3.7 ms (chopped) of a ~10.5-12 ms step while only the
# update's side streams run (one H100, 2026-12-08 00:35, /work/notes: profile_gpu wall
# section). The same launches on the same data in the same order on each tile, so the same
# numbers; only where they overlap changes. Only for tiles whose update reads nothing the
# digital SGD step changes (no learned input range: ``_early_ready``) and only where side
# streams run (CUDA, ``parallel_tiles`` > 1). A step cut short by an error in its backward
# pass keeps the updates it started (the late path made none). False: every update after
# the backward pass.
EARLY_UPDATES = False
# run early updates inline where no side streams run (the CPU): for tests of the hooks
EARLY_INLINE = False


def _eager(method):
    """``method`` of ``torch.optim`` without its ``torch._dynamo`` wrappers.

    torch's optimizer methods import ``torch._dynamo`` on their first call (and with it
    sympy and Triton: 1.5 s on two CPU cores, half of a tiny run) only to keep
    ``torch.compile`` out of them. xbrun never compiles its step (CUDA graphs replay it);
    outside ``torch.compile`` the wrappers only set the grad mode, which ``step`` sets
    itself (``no_grad``).
    """
    return inspect.unwrap(method)


@functools.cache
def _side_streams(index: int) -> tuple:
    return tuple(torch.cuda.Stream(device=index) for _ in range(UPDATE_STREAMS))


class AnalogSGD(torch.optim.SGD):
    """Drop-in SGD. ``step`` first updates the digital parameters (biases, learned output
    scales, input ranges, ...), then every tile applies its queued update with the current
    learning rate of its parameter group, so schedulers drive the analog updates too.

    Queued ``(x, d)`` pairs behave like ``.grad``: they accumulate over backward passes and
    ``zero_grad`` drops them (so e.g. an ``autograd.grad`` call before it leaves no trace).

    On CUDA the tiles' updates are independent (each tile has its own arrays, counters and
    seeds), so they run on ``parallel_tiles`` side streams at once: a layer cut into many
    tiles, or a model of several small layers, would otherwise leave most of the GPU idle
    while one tile's short launches run after another. A grid that updates as one group
    (``xbrun/tiles/grouped.py``) is one such job, beside the other tiles; its transfers
    follow it on any stream. The side streams wait for the current stream and it waits
    for them, so the step's order is unchanged (and a CUDA graph captures the branches).
    ``parallel_tiles=1`` runs them in order on the current stream; the results are the
    same either way.
    """

    def __init__(self, params, lr: float = 1e-3, *args, parallel_tiles: int = UPDATE_STREAMS,
                 **kwargs):
        super().__init__(params, lr, *args, **kwargs)
        self.parallel_tiles = int(parallel_tiles)
        self._fork = None  # the side streams a step's updates run on (``_Fork``)

    def _tiles(self):
        for group in self.param_groups:
            for param in group["params"]:
                tile = getattr(param, "analog_tile", None)
                if tile is not None:
                    yield group, tile

    def add_param_group(self, param_group: dict) -> None:
        _eager(torch.optim.Optimizer.add_param_group)(self, param_group)

    def state_dict(self) -> dict:
        return _eager(torch.optim.Optimizer.state_dict)(self)

    def load_state_dict(self, state_dict: dict) -> None:
        _eager(torch.optim.Optimizer.load_state_dict)(self, state_dict)

    @torch.no_grad()
    def step(self, closure=None, analog: bool = True):
        """Plain SGD on the digital parameters (tile weights have no ``.grad``), then, unless
        ``analog`` is False (the caller makes it a call of its own), ``analog_step``."""
        if closure is None and self._plain_on_cpu():
            loss = None
            for group in self.param_groups:
                for param in group["params"]:
                    if param.grad is not None:  # torch's single-tensor SGD, as it computes it
                        param.add_(param.grad, alpha=-group["lr"])
        else:
            loss = _eager(torch.optim.SGD.step)(self, closure)
        if analog:
            self.analog_step()
        return loss

    def _plain_on_cpu(self) -> bool:
        """Whether every group is plain SGD (no momentum, weight decay, maximize, fused or
        differentiable step; a float rate) on CPU gradients: then ``step`` makes torch's
        ``param.add_(grad, alpha=-lr)`` itself, without torch's per-step dispatch (a few
        microseconds a step, a noticeable part of a small layer's step on the CPU)."""
        for group in self.param_groups:
            if (group["momentum"] or group["weight_decay"] or group["maximize"]
                    or group.get("fused") or group.get("differentiable")
                    or not isinstance(group["lr"], float | int)):
                return False
            for param in group["params"]:
                grad = param.grad
                if grad is not None and (grad.is_sparse or grad.device.type != "cpu"):
                    return False
        return True

    @contextlib.contextmanager
    def updates_in_backward(self):
        """Within it (around ``loss.backward()``), a tile's update starts on a side stream
        as soon as the backward pass has queued its ``(x, d)`` and read its weights
        (``EARLY_UPDATES``); ``analog_step`` then runs the rest and joins them all. Tiles
        used by several forward passes start after their last backward; tiles whose
        update reads what the digital step changes (a learned input range) wait for
        ``analog_step``. A backward pass that raises leaves the streams joined (the updates
        it started stay made: a step cut short, as any error in its update would leave
        it), its uses uncounted; so does a step whose ``analog_step`` never came, at the
        next one."""
        stale, self._fork = self._fork, None
        if stale is not None:  # the last step's, never joined by its analog_step
            stale.join()
        if not EARLY_UPDATES:
            yield
            return
        tiles = [(g, t) for g, t in self._tiles() if _early_ready(t)]
        streams = self._streams([(tuple(t for _, t in tiles), None)]) if tiles else ()
        if not streams and not (EARLY_INLINE and tiles):
            yield
            return
        rates = {id(t): g["lr"] for g, t in tiles}
        fork = self._fork = _Fork(streams)

        def start(queued):
            if any(id(t) not in rates for t in queued):
                return
            for tile in queued:
                tile.set_learning_rate(rates[id(tile)])
            fork.run(self._jobs([t for t in queued if t.pending]))

        owners = []
        for _, tile in tiles:
            owners += [tile, *([tile.tile_group] if getattr(tile, "tile_group", None) else [])]
        for owner in owners:
            owner.queued_hook = start
        try:
            yield
        except BaseException:  # the uses whose backward never came counted no more
            self._fork = None
            fork.join()
            for owner in owners:
                owner.__dict__["backward_uses"] = 0
            raise
        finally:
            for owner in owners:
                owner.queued_hook = None

    @torch.no_grad()
    def analog_step(self) -> None:
        """The analog update: every tile turns its queued ``(x, d)`` into pulse trains on
        its arrays (``apply_pending`` -> training device ``update`` ->
        ``kernels.pulsed_update``), at its parameter group's learning rate; updates started
        in the backward pass (``updates_in_backward``) are joined here."""
        work = []
        for group, tile in self._tiles():
            tile.__dict__["backward_uses"] = 0  # (``autograd.count_use``)
            tile.clip_input_range()
            tile.set_learning_rate(group["lr"])
            if tile.pending:
                work.append(tile)
            owner = getattr(tile, "tile_group", None)
            if owner is not None:
                owner.backward_uses = 0
        jobs = self._jobs(work)
        fork, self._fork = self._fork, None
        if fork is None:
            if len(jobs) == 1:  # nothing to run beside it: on the step's stream, then what follows
                jobs = [((t,), run) for t, run in jobs[0][1]() or ()]
            fork = _Fork(self._streams(jobs))
        try:
            fork.run(jobs)
        finally:  # an update that raises leaves no side stream unjoined (a capture's fork)
            fork.join()

    @staticmethod
    def _jobs(work: list) -> list[tuple]:
        """The update's jobs, as ``(tiles, run)``: first each tile grid that updates as one
        group (``xbrun/tiles/grouped.py``: its tiles in the launches of one), whose ``run``
        returns what must follow it as ``(tile, run)`` (its tiles' transfers); then each
        other tile, ``run`` its own ``apply_pending``."""
        groups, tiles = {}, []
        for tile in work:
            group = getattr(tile, "tile_group", None)
            if group is not None and (id(group) in groups or group.update_ready()):
                groups.setdefault(id(group), group)
            else:
                tiles.append(tile)
        return ([(g.grid.tiles, g.update) for g in groups.values()]
                + [((t,), t.apply_pending) for t in tiles])

    def _streams(self, jobs) -> tuple:
        """Side streams for the ``(tiles, run)`` ``jobs``, up to one per tile; none where
        they would not run in parallel (one tile, the CPU, or ``parallel_tiles <= 1``)."""
        count = sum(len(tiles) for tiles, _ in jobs)
        if self.parallel_tiles <= 1 or count < 2:
            return ()
        device = jobs[0][0][0].pulses.device
        if device.type != "cuda":
            return ()
        index = device.index if device.index is not None else torch.cuda.current_device()
        return _side_streams(index)[:min(self.parallel_tiles, count)]

    def zero_grad(self, set_to_none: bool = True) -> None:
        if set_to_none:  # torch's, without its profiler range (microseconds a step)
            for group in self.param_groups:
                for param in group["params"]:
                    param.grad = None
        else:
            _eager(torch.optim.Optimizer.zero_grad)(self, set_to_none)
        for _, tile in self._tiles():
            tile.pending.clear()


def _early_ready(tile) -> bool:
    """Whether ``tile``'s update reads nothing the digital SGD step changes (module note at
    ``EARLY_UPDATES``): no learned input range (the update clips ``x`` to it). Learned
    output scales do not hold it back: the error it queues is already scaled (by
    ``OutScalesFunction`` after the tile, or in ``ScaledGridFunction``'s backward); mapping
    scales are a buffer no step changes; a digital bias the update never reads."""
    return tile.input_range is None


class _Fork:
    """Update jobs on side streams: each job on the least loaded stream; a stream waits for
    the step's stream where a ``run`` first places a job on it (so jobs started in the
    backward pass wait for the backward that queued them), and ``join`` makes the step's
    stream wait for every stream used (as a CUDA graph captures them). A job that follows
    a group's update runs on any stream once the group's stream has passed it (an event).
    Without streams, jobs run in order where they are given."""

    def __init__(self, streams: tuple):
        self.streams = streams
        self.load = [0] * len(streams)  # weight elements per stream: the biggest spread out
        self.used = []
        self.main = torch.cuda.current_stream() if streams else None

    def _place(self, tiles, waited: set):
        i = self.load.index(min(self.load))
        self.load[i] += sum(t.out_size * t.in_size for t in tiles)
        if i not in waited:
            self.streams[i].wait_stream(torch.cuda.current_stream())
            waited.add(i)
        if i not in self.used:
            self.used.append(i)
        return self.streams[i]

    def run(self, jobs: list) -> None:
        """Run the ``(tiles, run)`` ``jobs``, then what their runs return (a group's
        transfers)."""
        if not self.streams:
            follow = []
            for _, run in jobs:
                follow += run() or ()
            for _, run in follow:
                run()
            return
        follow, waited = [], set()
        for tiles, run in jobs:
            stream = self._place(tiles, waited)
            for tile in tiles:  # made on the main stream, read on the side stream (a
                for x, d in tile.pending:  # group's update reads the tensors they view)
                    x.record_stream(stream)
                    d.record_stream(stream)
            with torch.cuda.stream(stream):
                after = run()
            if after:
                event = stream.record_event()
                follow += [(tile, then, stream, event) for tile, then in after]
        for tile, run, origin, event in follow:
            stream = self._place((tile,), waited)
            if stream is not origin:
                stream.wait_event(event)
            with torch.cuda.stream(stream):
                run()

    def join(self) -> None:
        for i in self.used:
            self.main.wait_stream(self.streams[i])
