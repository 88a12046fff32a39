"""Where a graph-replayed training step's GPU time goes: torch.profiler over replayed epochs.

    python -m benchmarks.profile_gpu [--devices sgd,chopped] [--batches 32,256] [--top 12]
        [--large | --resnet] [--width 90] [--trace FILE] [OVERRIDES...]

Sets up the bench task of ``bench_training`` (784-256-128-10, lr 0.1) on CUDA, runs it as
``xbrun train`` does (``cuda_graphs=auto``: a warm-up epoch captures the graphs), times one
epoch unprofiled, then records one more epoch with CUDA activity and prints the kernels with
the most GPU time: microseconds per step, launches per step, and their share of the step's
kernel time. That sum exceeds the step where side streams overlap (the analog update's
layers), so a "wall" section follows (``benchmarks/timeline.py``): the step's wall time
under the profiler, how much of it any kernel / each stream is busy, how long the main stream
waits on side streams, and the kernels on the critical path. ``--trace FILE`` writes the
profiled epoch's chrome trace (one file per row: ``-DEVICE-BATCH`` before the suffix when
there are several; a ``.gz`` name is gzipped).
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import torch

from xbrun.composition import compose
from xbrun.training.graphs import StepRunner
from xbrun.training.loop import graphs_mode, setup, train_epoch, training_step

from . import timeline
from .bench_training import DATA, RESNET


def profile(device: str, batch: int, top: int = 12, mode: str | None = None,
            extra: tuple = (), width: int = 90, data: list[str] = DATA,
            trace: str | None = None) -> dict:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    config = compose([*data, f"device={device}", f"batch_size={batch}", *extra])
    dev = torch.device("cuda")
    data, model, optimizer, _ = setup(config, dev)
    x, y = data.x_train.to(dev), data.y_train.to(dev)
    order = torch.arange(len(y), device=dev)
    runner = StepRunner(training_step, model, optimizer, mode or graphs_mode(config, dev),
                        log=lambda *_: None)
    train_epoch(model, optimizer, x, y, order, batch, runner)
    train_epoch(model, optimizer, x, y, order, batch, runner)
    torch.cuda.synchronize()
    steps = -(-len(y) // batch)
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    begin.record()  # the unprofiled epoch: what the profiler's wall time inflates
    train_epoch(model, optimizer, x, y, order, batch, runner)
    end.record()
    torch.cuda.synchronize()
    with torch_profile(activities=[ProfilerActivity.CUDA]) as prof:
        train_epoch(model, optimizer, x, y, order, batch, runner)
        torch.cuda.synchronize()
    if trace:
        try:
            prof.export_chrome_trace(trace)
        except Exception as exc:  # the raw timeline is extra: its failure keeps the tables
            print(f"trace {trace}: failed: {exc!r}")
    sums, counts = defaultdict(float), defaultdict(int)
    for ev in prof.events():
        if ev.device_type == torch.autograd.DeviceType.CUDA:
            sums[ev.name] += ev.device_time
            counts[ev.name] += 1
    total = sum(sums.values())
    if total == 0 and mode is None:  # the profiler saw no kernels inside the graphs
        print(prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=top))
        return profile(device, batch, top, "off", extra, width, data, trace)
    rows = sorted(sums, key=sums.get, reverse=True)[:top]
    try:  # one short GPU call must bring back the kernel table even if this part breaks
        wall = timeline.analyse(timeline.spans(prof.events()), steps)
    except Exception as exc:
        wall = exc
    return {"device": device, "batch": batch, "graphs": bool(runner.graphs),
            "step_us": total / steps, "launches": sum(counts.values()) / steps,
            "top": [(n[:width], sums[n] / steps, counts[n] / steps, sums[n] / total)
                    for n in rows],
            "unprofiled_us": 1000 * begin.elapsed_time(end) / steps,
            "wall": wall}


def trace_path(trace: str | None, device: str, batch: int, rows: int) -> str | None:
    """``trace`` itself for a single row, else ``-DEVICE-BATCH`` before its suffix(es)."""
    if trace is None or rows == 1:
        return trace
    path = Path(trace)
    suffix = "".join(path.suffixes)
    return str(path.with_name(f"{path.name.removesuffix(suffix)}-{device}-{batch}{suffix}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default="sgd,chopped")
    parser.add_argument("--batches", default="32,256")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--large", action="store_true", help="mlp 784-4096-4096-10")
    parser.add_argument("--resnet", action="store_true",
                        help="issue 27's ResNet (bench_training.RESNET; --batches 128)")
    parser.add_argument("--width", type=int, default=90, help="characters of kernel names")
    parser.add_argument("--trace", help="write the profiled epoch's chrome trace here")
    parser.add_argument("overrides", nargs="*", help="more xbrun overrides")
    args = parser.parse_args()
    extra = (*(["model.hidden=[4096, 4096]"] if args.large else []), *args.overrides)
    devices, batches = args.devices.split(","), [int(b) for b in args.batches.split(",")]
    for device in devices:
        for batch in batches:
            trace = trace_path(args.trace, device, batch, len(devices) * len(batches))
            try:
                r = profile(device, batch, args.top, extra=extra, width=args.width,
                            data=RESNET if args.resnet else DATA, trace=trace)
            except Exception as exc:  # one failing row keeps the others
                print(f"\n== {device} batch {batch}: failed: {exc!r}")
                continue
            print(f"\n== {device} batch {batch} graphs={r['graphs']}: "
                  f"{r['step_us']:.1f} us kernel time/step, {r['launches']:.1f} launches/step")
            print(f"{'us/step':>9} {'n/step':>7} {'share':>6}  kernel")
            for name, us, n, share in r["top"]:
                print(f"{us:9.1f} {n:7.2f} {100 * share:5.1f}%  {name}")
            print(f"-- wall (unprofiled epoch: {r['unprofiled_us']:.1f} us/step"
                  f"{f'; trace {trace}' if trace else ''})")
            if isinstance(r["wall"], Exception):
                print(f"failed: {r['wall']!r}")
            else:
                print("\n".join(timeline.report(r["wall"], args.top, args.width)))


if __name__ == "__main__":
    main()
