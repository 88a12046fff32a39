"""Launches per training step on the CUDA path, counted on a machine without a GPU.

    python -m benchmarks.count_launches [--devices fp,sgd,chopped,agad] [--batch 256]
                                        [--steps 3] [--list] [--resnet] [--large]
                                        [--overrides a=b,..]
                                        [--on PATH,..] [--bytes]

A replayed CUDA graph costs a few microseconds per node whatever the node does, so at small
shapes the number of launches per step is what a device pays beyond fp. This runs the bench
MLP's step (784-256-128-10, as ``bench_training``) with the model's tensors faked onto
CUDA (``torch._subclasses.FakeTensorMode``: shapes, dtypes and devices, no data) so that
every branch the CUDA path takes is taken; it counts each aten operator that computes
(views and metadata are free) and each Triton kernel launch, and fails on a host read (a
fake tensor has no value). An aten operator is counted once, although some launch two
(cuBLAS's split-K reduce, an index_put's sort): the counts track the profiler's, not equal
them. The last step is reported (the first ones make the graph's lazy state), with its
transfer runs (``TransferDevice.transfer_lines`` calls: each a read, a write and their
Python; a grouped grid's writes, ``TileGroup._write``, are none). ``--resnet``: issue 27's
ResNet-20 on 3x32x32 images (``bench_training.RESNET``) instead of the MLP; ``--large``: the
MLP at 784-4096-4096-10.

``--on``: the switches of ``bench_switches``' paths turned on first. ``--bytes``: with the
launches, an ESTIMATE of the device-memory bytes each kind moves a step, from the fake
tensors' shapes: an aten operator reads its tensor inputs and writes its outputs once each;
a Triton kernel touches each distinct storage among its tensor arguments once (the larger
view where two share one), but for the arguments it reads only on a rare branch (``RARE``:
the MVM epilogue's input, DAC output and weights, read again only by a row that clips; the
fused MVM's DAC rows, written only there). So
it overstates where a kernel is handed a placeholder of another storage, and understates
where it reads a tensor several times (a count's planes re-read per block) or reads and
writes one in place; compute (Philox draws, the counts' int8 products) is not in it.

The optimizer's side streams are host objects here (``_Stream``): each launch of the analog
update (``AnalogSGD.analog_step``) is counted on the stream current when it is made, so the
report splits them between the step's own stream (in order with the rest of the step) and
the side streams (beside each other).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
from collections import Counter

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from .bench_training import DATA, RESNET

# aten operators that move no data on the device (views, metadata, allocations, factories
# that a fake tensor only shapes: an empty tensor is no launch)
FREE = {"empty", "empty_strided", "view", "_unsafe_view", "as_strided", "t", "transpose",
        "permute", "expand", "slice", "select", "unsqueeze", "squeeze", "alias", "detach",
        "reshape", "unbind", "split", "split_with_sizes", "diagonal", "_reshape_alias",
        "lift_fresh", "set_", "empty_like", "new_empty", "new_empty_strided", "_to_copy",
        "unfold", "view_as_real", "resolve_conj", "resolve_neg", "_local_scalar_dense",
        "is_same_size", "sym_size", "sym_stride", "sym_numel", "sym_storage_offset", "dim",
        "_has_compatible_shallow_copy_type", "record_stream", "is_pinned", "device"}


class _Count(TorchDispatchMode):
    def __init__(self, counts: Counter, where: bool = False):
        super().__init__()
        self.counts, self.where = counts, where

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__.rstrip("_")
        out = func(*args, **(kwargs or {}))
        if name not in FREE and _on_cuda(args, kwargs, out):
            key = _site("aten." + name) if self.where else "aten." + name
            self.counts[key] += 1
            if BYTES[0]:
                self.counts[BYTES_KEY + key] += (_bytes([*args, *(kwargs or {}).values()])
                                                 + _bytes([out]))
            _on_stream(self.counts, key)
        return out


BYTES = [False]  # whether launches also add their estimated bytes (``--bytes``)
# Triton kernels' arguments read only on a rare branch, left out of --bytes: the MVM
# epilogue reads a row's input, DAC output and the weights again only where it clipped
RARE = {"_epilogue_kernel": ("x_ptr", "v_ptr", "w_ptr"),
        "_epilogue_rows_kernel": ("x_ptr", "v_ptr", "w_ptr")}
BYTES_KEY = "bytes "  # a launch key's bytes are counted under this prefix


def _tensors(values) -> list[torch.Tensor]:
    found = []
    for v in values:
        if isinstance(v, torch.Tensor):
            found.append(v)
        elif isinstance(v, (list, tuple)):
            found += _tensors(v)
    return found


def _bytes(values) -> int:
    """Bytes of the tensors among ``values`` (lists and tuples walked), each storage once
    (its largest view among them; a broadcast view, stride 0, no more than its storage)."""
    from torch.multiprocessing.reductions import StorageWeakRef

    largest: dict = {}
    for t in _tensors(values):
        storage = t.untyped_storage()
        ref = StorageWeakRef(storage)
        size = t.numel() * t.element_size()
        if 0 in t.stride():
            size = min(size, storage.nbytes())
        largest[ref] = max(largest.get(ref, 0), size)
    return sum(largest.values())


class _Stream:
    """A CUDA stream on the host: its name; the streams and events it waits for count as
    the step's forks (a side stream waits for the step's stream) and joins (the reverse)."""

    def __init__(self, name: str, counts: Counter):
        self.name, self.counts = name, counts

    def wait_stream(self, other: _Stream) -> None:
        if other.name != self.name:
            self.counts["forks" if self.name != "main" else "joins"] += 1

    def record_event(self, event=None) -> _Event:
        return _Event(self)

    def wait_event(self, event: _Event) -> None:
        if event.stream is not self:
            self.counts["event waits"] += 1


class _Event:
    def __init__(self, stream: _Stream):
        self.stream = stream


CURRENT: list[_Stream] = []  # the stream stack: torch.cuda.current_stream is its top
UPDATING = [False]  # whether the optimizer's analog update runs


UPDATE_KEY = "update "  # the analog update's launches are counted again under this prefix


def _on_stream(counts: Counter, key: str) -> None:
    """Count a launch of the analog update (``key``) on the current stream (side streams by
    name: how many run), and under ``UPDATE_KEY`` + ``key``."""
    if CURRENT and UPDATING[0]:
        counts[UPDATE_KEY + key] += 1
        name = CURRENT[-1].name
        counts["on main" if name == "main" else "on side"] += 1
        if name != "main":
            counts["side " + name] += 1


@contextlib.contextmanager
def _stream(stream):
    CURRENT.append(stream)
    try:
        yield
    finally:
        CURRENT.pop()


WHERE = [False]  # whether launches are keyed by the xbrun/kernels line that makes them


def _site(name: str) -> str:
    """``name`` and the innermost line of xbrun or kernels that launched it."""
    import traceback

    for frame in reversed(traceback.extract_stack()[:-2]):
        path = frame.filename
        if "count_launches" in path:
            continue
        for root in ("/xbrun/", "/kernels/"):
            if root in path and "_contextlib" not in path:
                return f"{name} @ {root[1:]}{path.split(root)[-1]}:{frame.lineno}"
    return name


def _on_cuda(args, kwargs, out) -> bool:
    tensors = [a for a in (*args, *(kwargs or {}).values(), out) if isinstance(a, torch.Tensor)]
    tensors += [t for a in args if isinstance(a, (list, tuple)) for t in a
                if isinstance(t, torch.Tensor)]
    return any(t.device.type == "cuda" for t in tensors)


@contextlib.contextmanager
def _fake_gpu(counts: Counter):
    """Triton launches counted (not run), CUDA generators and streams made on the host."""
    from triton.runtime import interpreter, jit

    from xbrun.nn import optimizer as optim
    from xbrun.tiles import tile

    real_run, real_gen, real_streams = jit.JITFunction.run, torch.Generator, \
        optim._side_streams
    real_interpreted = interpreter.InterpretedFunction.run  # kernels under TRITON_INTERPRET
    real_props, real_current = torch.cuda.get_device_properties, torch.cuda.current_device
    real_stream, real_current_stream = torch.cuda.stream, torch.cuda.current_stream
    side = tuple(_Stream(f"s{i}", counts) for i in range(optim.UPDATE_STREAMS))

    def run(self, *args, grid, warmup, **kwargs):
        name = "triton." + self.fn.__name__
        key = _site(name) if WHERE[0] else name
        counts[key] += 1
        if BYTES[0]:
            rare = RARE.get(self.fn.__name__, ())
            names = self.arg_names if hasattr(self, "arg_names") else \
                list(inspect.signature(self.fn).parameters)
            named = {**dict(zip(names, args, strict=False)), **kwargs}
            counts[BYTES_KEY + key] += _bytes([v for k, v in named.items() if k not in rare])
        _on_stream(counts, key)

    class Generator(real_gen):  # a tile's CUDA generator: a host one that says CUDA
        def __new__(cls, device=None):
            return real_gen.__new__(cls)

        def __init__(self, device=None):
            super().__init__()

        @property
        def device(self):
            return torch.device("cuda", 0)

    jit.JITFunction.run = interpreter.InterpretedFunction.run = run
    # torch's SGD steps CUDA parameters with its foreach kernels (one launch for all) only
    # where their type is a plain tensor's: a fake one is let in, as the real step runs
    from torch._subclasses.fake_tensor import FakeTensor
    from torch.optim import optimizer as torch_optim
    foreach_types = list(torch_optim._foreach_supported_types)
    torch_optim._foreach_supported_types.append(FakeTensor)
    tile.torch = _TorchWith(Generator)
    optim._side_streams = lambda index: side
    torch.cuda.get_device_properties = lambda device=None: _H100
    torch.cuda.current_device = lambda: 0
    torch.cuda.stream = _stream
    torch.cuda.current_stream = lambda device=None: CURRENT[-1]
    torch.Tensor.record_stream = lambda self, stream: None  # the allocator's, not counted
    CURRENT[:] = [_Stream("main", counts)]
    try:
        yield
    finally:
        jit.JITFunction.run, interpreter.InterpretedFunction.run = real_run, real_interpreted
        torch_optim._foreach_supported_types[:] = foreach_types
        tile.torch = torch
        optim._side_streams = real_streams
        torch.cuda.get_device_properties, torch.cuda.current_device = real_props, real_current
        torch.cuda.stream, torch.cuda.current_stream = real_stream, real_current_stream
        del torch.Tensor.record_stream
        CURRENT.clear()


class _Props:  # what the kernels' grids read of the device: an H100's 132 SMs
    multi_processor_count = 132


_H100 = _Props()


class _TorchWith:
    """``torch`` for ``tiles/tile.py`` with its ``Generator`` replaced."""

    def __init__(self, generator):
        self.Generator = generator

    def __getattr__(self, name):
        return getattr(torch, name)


def count(device: str, batch: int = 256, steps: int = 3, extra=(), data=DATA) -> Counter:
    """Launches of the last of ``steps`` training steps of ``device`` on the bench MLP (or
    on ``data``'s model and set); ``"transfer runs"`` counts its transfer runs."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    from xbrun.composition import compose
    from xbrun.devices.transfer import TransferDevice
    from xbrun.training.loop import setup

    config = compose([*data, f"device={device}", f"batch_size={batch}", "accelerator=cpu",
                      *extra])
    data, model, optimizer, _ = setup(config, torch.device("cpu"))
    x, y = data.x_train[:batch], data.y_train[:batch]
    counts: Counter = Counter()
    lines = TransferDevice.transfer_lines

    def counted(self, *args, **kwargs):
        counts["transfer runs"] += 1
        return lines(self, *args, **kwargs)

    if data is not DATA:  # a convolution indexes its images (checked on the host) once
        with torch.no_grad():
            model(x[:1])
    TransferDevice.transfer_lines = counted
    try:
        with _fake_gpu(counts), FakeTensorMode(allow_non_fake_inputs=True):
            params = list(model.parameters())
            model.to("cuda")
            _rebind_optimizer(optimizer, params, list(model.parameters()))
            _move_optimizer_state(optimizer)
            xc, yc = x.to("cuda"), y.to("cuda")
            for _ in range(steps):
                counts.clear()
                with _Count(counts, WHERE[0]):
                    _training_step(model, optimizer, xc, yc)
    finally:
        TransferDevice.transfer_lines = lines
    return counts


def _training_step(model, optimizer, x, y) -> None:
    """``loop.training_step`` with the backward walked here: torch's autograd engine asks
    the CUDA driver for the devices of the graph, which the host has not."""
    from xbrun.nn.optimizer import AnalogSGD
    from xbrun.training.tasks import task_loss

    out = model(x)
    loss = task_loss(out, y)
    optimizer.zero_grad(set_to_none=True)
    _backward(loss)
    if isinstance(optimizer, AnalogSGD):
        optimizer.step(analog=False)
        UPDATING[0] = True
        try:
            optimizer.analog_step()
        finally:
            UPDATING[0] = False
    else:
        optimizer.step()


@torch.no_grad()
def _backward(loss: torch.Tensor) -> None:
    """``loss.backward()`` node by node, in an order where every node's gradients are
    complete (each node's inputs summed as the engine sums them)."""
    order, seen = [], set()

    def visit(node):  # depth-first post-order: a node after all nodes that feed it
        stack = [(node, False)]
        while stack:
            n, done = stack.pop()
            if done:
                order.append(n)
                continue
            if n is None or n in seen:
                continue
            seen.add(n)
            stack.append((n, True))
            for child, _ in n.next_functions:
                stack.append((child, False))

    visit(loss.grad_fn)
    grads = {loss.grad_fn: [torch.ones_like(loss)]}
    for node in reversed(order):
        incoming = grads.pop(node, None)
        if incoming is None:
            continue
        if hasattr(node, "variable"):  # AccumulateGrad: the leaf's .grad
            var, grad = node.variable, incoming[0]
            if grad.shape != var.shape:  # the engine's sum over broadcast dimensions
                grad = grad.sum_to_size(var.shape)
            var.grad = grad if var.grad is None else var.grad + grad
            continue
        outs = node(*incoming) if callable(node) else node.apply(*incoming)  # a Python one
        outs = outs if isinstance(outs, tuple) else (outs,)
        for (child, index), g in zip(node.next_functions, outs, strict=False):
            if child is None or g is None:
                continue
            meta = getattr(child, "_input_metadata", None)
            if meta is not None and tuple(g.shape) != tuple(meta[index].shape):
                g = g.sum_to_size(meta[index].shape)  # the engine's sum over broadcasting
            slots = grads.setdefault(child, [None] * _n_inputs(child))
            slots[index] = g if slots[index] is None else slots[index] + g


def _n_inputs(node) -> int:
    meta = getattr(node, "_input_metadata", None)
    return len(meta) if meta is not None else 1


def _rebind_optimizer(optimizer, old: list, new: list) -> None:
    """The optimizer on the model's parameters after the move: a module moved onto fake
    tensors gets new parameter objects (a real move keeps them), so the optimizer would
    step the old ones, which get no gradients (no digital step counted, and each leaf's
    gradient added to the last step's, never zeroed). Their attributes (a tile's
    ``analog_tile``) go with them."""
    moved = {id(o): n for o, n in zip(old, new, strict=True)}
    for o, n in zip(old, new, strict=True):
        if n is not o:
            n.__dict__.update(o.__dict__)
    for group in optimizer.param_groups:
        group["params"] = [moved.get(id(p), p) for p in group["params"]]
    state = optimizer.state
    for key in list(state):
        if id(key) in moved:
            state[moved[id(key)]] = state.pop(key)


def _move_optimizer_state(optimizer) -> None:
    for state in optimizer.state.values():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                state[key] = value.to("cuda")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default="fp,sgd,ttv1,chopped,agad")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--list", action="store_true", help="every operator and kernel")
    parser.add_argument("--where", action="store_true",
                        help="with --list: by the line of xbrun/kernels that launches")
    parser.add_argument("--resnet", action="store_true",
                        help="issue 27's ResNet-20 on 3x32x32 images instead of the MLP")
    parser.add_argument("--large", action="store_true",
                        help="the MLP at 784-4096-4096-10 (bench_training's LARGE shape)")
    parser.add_argument("--overrides", default="",
                        help="more overrides, comma-separated (e.g. update.accumulate=batch)")
    parser.add_argument("--on", default="",
                        help="bench_switches paths to turn on, comma-separated "
                             "(e.g. split-rows)")
    parser.add_argument("--bytes", action="store_true",
                        help="with --list: each kind's estimated bytes a step (module doc)")
    parser.add_argument("--bandwidth", type=float, default=4.8,
                        help="TB/s for --bytes' time column (an H200's HBM3e: 4.8; H100: 3.35)")
    args = parser.parse_args()
    WHERE[0], BYTES[0] = args.where, args.bytes
    data = [d for d in RESNET if not d.startswith("batch_size=")] if args.resnet else DATA
    extra = [o for o in args.overrides.split(",") if o]
    if args.large:
        extra = ["model.hidden=[4096, 4096]", *extra]
    if args.on:
        from .bench_switches import PATHS
        for path in args.on.split(","):
            for module, switch in PATHS[path][0]:
                setattr(module, switch, True)
    for device in args.devices.split(","):
        counts = count(device, args.batch, args.steps, extra=extra, data=data)
        aten = sum(v for k, v in counts.items() if k.startswith("aten."))
        triton = sum(v for k, v in counts.items() if k.startswith("triton."))
        side = sum(1 for k in counts if k.startswith("side "))
        print(f"{device:>16} batch {args.batch}: {aten + triton} launches per step "
              f"({aten} aten, {triton} Triton), {counts['transfer runs']} transfer runs; "
              f"the analog update's {counts['on main'] + counts['on side']}: "
              f"{counts['on main']} on the step's stream, {counts['on side']} on {side} side "
              f"streams ({counts['forks']} forks, {counts['joins']} joins, "
              f"{counts['event waits']} event waits)")
        if args.list and args.bytes:
            _print_bytes(counts, args.bandwidth)
        elif args.list:  # the kernels, then the update's launches per side stream
            last = ("side ", "on ", "forks", "joins", "event", UPDATE_KEY)
            for name, n in sorted(counts.items(),
                                  key=lambda kv: (kv[0].startswith(last), -kv[1], kv[0])):
                print(f"{n:>20}  {name}")


def _print_bytes(counts: Counter, bandwidth: float) -> None:
    """The launch kinds by estimated bytes a step, largest first, as a Markdown table: each
    kind's launches, MB and the milliseconds they take at ``bandwidth`` TB/s."""
    kinds = [k for k in counts if k.startswith(("aten.", "triton."))]
    total = sum(counts[BYTES_KEY + k] for k in kinds)
    print(f"| launches | kind | MB a step | ms at {bandwidth:.2f} TB/s | share |")
    print("|---|---|---|---|---|")
    for k in sorted(kinds, key=lambda k: (-counts[BYTES_KEY + k], k)):
        b = counts[BYTES_KEY + k]
        print(f"| {counts[k]} | `{k}` | {b / 1e6:.1f} | {b / bandwidth / 1e9:.3f} | "
              f"{100 * b / max(total, 1):.1f} % |")
    print(f"| {sum(counts[k] for k in kinds)} | all | {total / 1e6:.1f} | "
          f"{total / bandwidth / 1e9:.3f} | |")


if __name__ == "__main__":
    main()
