"""``AnalogSGD``: SGD for digital parameters, pulsed tile updates for analog weights."""

from __future__ import annotations

import functools
import inspect

import torch

# side streams for the tiles' updates on one CUDA device: enough to keep an H200 busy with
# small tiles, few enough that each still gets a share of the SMs
UPDATE_STREAMS = 8


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

    @torch.no_grad()
    def analog_step(self) -> None:
        """The analog update: every tile turns its queued ``(x, d)`` into pulse trains on
        its arrays (``apply_pending`` -> training device ``update`` ->
        ``kernels.pulsed_update``), at its parameter group's learning rate."""
        work = []
        for group, tile in self._tiles():
            tile.clip_input_range()
            tile.set_learning_rate(group["lr"])
            if tile.pending:
                work.append(tile)
        jobs = self._jobs(work)
        if len(jobs) == 1:  # nothing to run beside it: on the step's stream, then what follows
            jobs = [((t,), run) for t, run in jobs[0][1]() or ()]
        self._run(jobs)

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

    def _run(self, jobs: list) -> None:
        """Run the ``(tiles, run)`` ``jobs``, then what their runs return (a group's
        transfers). On CUDA each job runs on the least loaded side stream, where a
        stream waits for the step's stream before its first job and the step's stream
        waits for every stream used (one fork and one join per stream, as a CUDA graph
        captures them); a job that follows a group's update runs on any stream once the
        group's stream has passed it (an event)."""
        streams = self._streams(jobs)
        if not streams:
            follow = []
            for _, run in jobs:
                follow += run() or ()
            for _, run in follow:
                run()
            return
        main = torch.cuda.current_stream()
        load = [0] * len(streams)  # weight elements per stream: the biggest tiles spread out
        used = []

        def place(tiles) -> torch.cuda.Stream:
            i = load.index(min(load))
            load[i] += sum(t.out_size * t.in_size for t in tiles)
            if i not in used:
                streams[i].wait_stream(main)
                used.append(i)
            return streams[i]

        follow = []
        for tiles, run in jobs:
            stream = place(tiles)
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
            stream = place((tile,))
            if stream is not origin:
                stream.wait_event(event)
            with torch.cuda.stream(stream):
                run()
        for i in used:
            main.wait_stream(streams[i])

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
