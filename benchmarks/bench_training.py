"""Training-epoch time of every analog device against plain digital PyTorch (`device=fp`).

Same model, same batch size, the same MNIST-shaped synthetic data and the same learning
rate as the aihwkit side (0.1: pulse counts, and with them the cost, depend on it), measured
side by side in one process: the ratio is the figure. Two shapes: the bench task (the
Tiki-taka MLP, 784-256-128-10 sigmoid) and, on CUDA, 784-4096-4096-10 at batch 256 beside
its floor (``bench_floor``). On CUDA the step runs as ``xbrun train`` runs it
(``cuda_graphs=auto``); the "graphs" column says whether it was replayed or eager.

aihwkit's figures: where an aihwkit venv is on the machine (``aihwkit_anchor``) they are
measured in the same run, in a subprocess (nothing in xbrun imports aihwkit); otherwise the
ratios reported in the issues, with where they were measured.
"""

from __future__ import annotations

import time

import torch

from xbrun.composition import compose
from xbrun.devices import DEVICES
from xbrun.training.graphs import StepRunner
from xbrun.training.loop import graphs_mode, pick_device, setup, train_epoch, training_step
from xbrun.training.phases import Phases, TimedSteps

from . import aihwkit_anchor

DATA = ["dataset=synthetic", "dataset.n_features=784", "dataset.n_train=4096",
        "dataset.n_test=64", "lr=0.1"]
LARGE = ["model.hidden=[4096, 4096]", "batch_size=256"]
# device rows: a device, or a device with overrides joined by "+"; sgd with perfect I/O
# shows the step without the MVM periphery (its bound management waits for the GPU today)
DEVICE_ROWS = (*(k for k in DEVICES if k != "fp"), "sgd+io=perfect")
LARGE_DEVICES = ("sgd", "ttv1", "ttv2", "chopped", "agad", "mixed_precision",
                 "sgd+io=perfect")
# the same rows with each element's pulses counted over the batch (issue 27's target: <= 2x fp)
BATCH_COUNTED = tuple(f"{row}+update.accumulate=batch" for row in LARGE_DEVICES)
# issue 27's ResNet: CIFAR-shaped synthetic images at batch 128 (the default depth)
RESNET = ["model=resnet", "dataset=synthetic", "dataset.image_shape=[3,32,32]",
          "dataset.n_train=2048", "dataset.n_test=64", "lr=0.1", "batch_size=128"]
RESNET_DEVICES = ("sgd", "sgd+update.accumulate=batch", "chopped+update.accumulate=batch")

# aihwkit 1.2.0 CUDA build (scripts/anchor-gpu.sh) on one H100 80GB HBM3, 2026-12-07 16:50 UTC,
# bench task, lr 0.1: s/epoch over aihwkit's own fp epoch (every device; the raw rows, the
# 4096-wide and ResNet ones too: benchmarks/RESULTS.md, that date)
AIHWKIT_GPU = {("sgd", 32): 3.11, ("ttv1", 32): 3.53, ("ttv2", 32): 3.02, ("chopped", 32): 3.22,
               ("agad", 32): 3.02, ("mixed_precision", 32): 3.22,
               ("sgd", 256): 2.83, ("ttv1", 256): 2.90, ("ttv2", 256): 3.66,
               ("chopped", 256): 5.06, ("agad", 256): 5.07, ("mixed_precision", 256): 3.58}
AIHWKIT_GPU_SOURCE = "aihwkit 1.2.0 CUDA, one H100, 2026-12-07 (measured earlier)"
# aihwkit 1.2.0 C++ on a 2-core x86-64 machine, one thread, batch 32, lr 0.1:
# seconds per epoch; plain PyTorch took about 0.09 s there
AIHWKIT_CPU_SECONDS = {"sgd": 0.50, "ttv1": 0.52, "ttv2": 0.47, "chopped": 1.77,
                       "agad": 1.65, "mixed_precision": 0.41}
AIHWKIT_CPU_FP = 0.09
AIHWKIT_CPU_SOURCE = "aihwkit 1.2.0 C++, one thread, 2-core x86-64 (measured earlier)"
# xbrun before the GPU kernels at the large shape on the H200 (x fp; fp 0.023 s/epoch)
XBRUN_BEFORE_LARGE = {"sgd": 189, "ttv1": 300, "ttv2": 345, "chopped": 375, "agad": 380}


def aihwkit_ratio(kind: str, batch: int, where: str) -> float | None:
    if where == "cuda":
        return AIHWKIT_GPU.get((kind, batch))
    if batch == 32 and kind in AIHWKIT_CPU_SECONDS:
        return AIHWKIT_CPU_SECONDS[kind] / AIHWKIT_CPU_FP
    return None


#: the phases of the last :func:`epoch_seconds` up to the end of its warm-up epoch (data,
#: build, set-up, first step, warm-up, graph capture, epochs: the rest of that epoch)
LAST_PHASES: dict[str, float] = {}


def epoch_seconds(overrides: list[str], repeats: int = 3,
                  data: list[str] = DATA) -> tuple[float, str]:
    """Median seconds of ``repeats`` epochs after a warm-up epoch, and how steps ran."""
    config = compose([*data, *overrides])
    phases = Phases()
    phases.seconds.clear()  # (this process's start-up: not this row's)
    device = pick_device(config.accelerator)
    if config.threads:  # as `xbrun train` does (default 1, as the aihwkit side's one thread)
        torch.set_num_threads(config.threads)
    data, model, optimizer, _ = setup(config, device, phases)
    x, y = data.x_train.to(device), data.y_train.to(device)
    order = torch.arange(len(y), device=device)
    notes: list[str] = []
    runner = StepRunner(training_step, model, optimizer, graphs_mode(config, device),
                        log=notes.append)
    phases.mark("set-up")
    timed = TimedSteps(runner, phases)
    train_epoch(model, optimizer, x, y, order, config.batch_size, timed)  # warm-up, capture
    if device.type == "cuda":
        torch.cuda.synchronize()
    phases.mark("epochs")
    LAST_PHASES.clear()
    LAST_PHASES.update(phases.rounded())
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        began = time.perf_counter()
        train_epoch(model, optimizer, x, y, order, config.batch_size, runner)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - began)
    how = "graph" if runner.graphs else ("eager" if runner.mode == "off" else "eager*")
    return sorted(times)[len(times) // 2], how


def _spec(row: str) -> tuple[str, list[str]]:
    kind, *extra = row.split("+")
    return kind, [f"device={kind}", *extra]


def run(console, batch_sizes=(32, 256), cells=("constant_step",), repeats: int = 3,
        large: bool = True, rows=DEVICE_ROWS,
        large_rows=LARGE_DEVICES + BATCH_COUNTED) -> list[dict]:
    from rich.table import Table

    where = "cuda" if torch.cuda.is_available() else "cpu"
    name = torch.cuda.get_device_name() if where == "cuda" else "CPU"
    source = AIHWKIT_GPU_SOURCE if where == "cuda" else AIHWKIT_CPU_SOURCE
    results = []
    table = Table(title=f"training epoch vs device=fp ({name}; 4096 samples, mlp "
                        f"784-256-128-10, lr 0.1); aihwkit: {source}")
    for col in ("device", "cell", "batch", "fp s/epoch", "device s/epoch", "ratio", "steps",
                "aihwkit x fp"):
        table.add_column(col, justify="left" if col in ("device", "cell", "steps") else "right")
    anchor = {}
    if aihwkit_anchor.available():
        kinds = tuple(dict.fromkeys(_spec(r)[0] for r in rows))
        console.print(f"measuring aihwkit side by side ({where}, batches {batch_sizes})...")
        anchor = aihwkit_anchor.measure(where, tuple(batch_sizes), kinds)
        if anchor:
            source = aihwkit_anchor.source() + ", aihwkit 1.2.0 " + (
                "CUDA" if where == "cuda" else "C++, one thread")
            table.title = table.title.split("; aihwkit:")[0] + f"; aihwkit: {source}"
            table.add_column("aihwkit s/epoch", justify="right")
            table.add_column("xbrun / aihwkit", justify="right")
    for batch in batch_sizes:
        fp, _ = epoch_seconds(["device=fp", f"batch_size={batch}"], repeats)
        for row in rows:
            kind, overrides = _spec(row)
            for cell in cells:
                t, how = epoch_seconds([*overrides, f"cell={cell}", f"batch_size={batch}"],
                                       repeats)
                ref = aihwkit_ratio(row, batch, where)
                aih, aih_fp = anchor.get((row, batch)), anchor.get(("fp", batch))
                if aih is not None and aih_fp:
                    ref = aih / aih_fp
                results.append({"device": row, "cell": cell, "batch": batch, "fp": fp,
                                "seconds": t, "ratio": t / fp, "steps": how,
                                "aihwkit_ratio": ref, "aihwkit_seconds": aih,
                                "shape": "784-256-128-10"})
                cols = [row, cell, str(batch), f"{fp:.4f}", f"{t:.4f}", f"{t / fp:.2f}x", how,
                        "-" if ref is None else f"{ref:.2f}x"]
                if anchor:
                    cols += ["-" if aih is None else f"{aih:.4f}",
                             "-" if aih is None else f"{t / aih:.2f}x"]
                table.add_row(*cols)
    console.print(table)
    console.print("steps: graph = CUDA graph replays; eager = no CUDA; eager* = cuda_graphs=auto "
                  "fell back (the step syncs or keeps host state)")
    if large:
        results += run_large(console, where, large_rows)
    return results


def run_large(console, where: str, rows=LARGE_DEVICES + BATCH_COUNTED) -> list[dict]:
    """784-4096-4096-10 at batch 256 beside the floor of exact pulsing (CUDA only: on the
    CPU the floor alone is printed)."""
    from rich.table import Table

    from . import bench_floor

    if where != "cuda":
        bench_floor.run(console)
        return []
    anchor = _anchor(console, where, "large", (256,), rows)
    fp, _ = epoch_seconds(["device=fp", *LARGE], repeats=3)
    measured, results = {}, []
    for row in rows:
        kind, overrides = _spec(row)
        t, how = epoch_seconds([*overrides, "cell=constant_step", *LARGE], repeats=1)
        measured[row] = t
        results.append({"device": row, "cell": "constant_step", "batch": 256, "fp": fp,
                        "seconds": t, "ratio": t / fp, "steps": how,
                        "before_ratio": XBRUN_BEFORE_LARGE.get(row), "shape": "784-4096-4096-10",
                        "aihwkit_seconds": anchor.get((kind, 256))})
    table = Table(title="training epoch vs device=fp, mlp 784-4096-4096-10, batch 256, lr 0.1"
                        + (f"; aihwkit 1.2.0 {aihwkit_anchor.source()}" if anchor else ""))
    for col in ("device", "fp s/epoch", "device s/epoch", "ratio", "steps",
                "before the GPU kernels", *_ANCHOR_COLS * bool(anchor)):
        table.add_column(col, justify="left" if col in ("device", "steps") else "right")
    for r in results:
        table.add_row(r["device"], f"{fp:.4f}", f"{r['seconds']:.4f}", f"{r['ratio']:.1f}x",
                      r["steps"], f"{r['before_ratio']}x" if r["before_ratio"] else "-",
                      *_anchor_cells(anchor, r, 256))
    console.print(table)
    floor = bench_floor.run(console, fp_seconds=fp, measured=measured)
    for r in results:
        r["floor_ratio"] = floor["floor_ratio"]
    return results


def run_resnet(console, rows=RESNET_DEVICES, repeats: int = 1) -> list[dict]:
    """Issue 27's ResNet rows (``RESNET``) against its ``device=fp`` epoch, printed row by
    row (a slow device still leaves the rows before it)."""
    where = "cuda" if torch.cuda.is_available() else "cpu"
    anchor = _anchor(console, where, "resnet", (128,), rows, repeats=1)
    fp, _ = epoch_seconds(["device=fp"], repeats=3, data=RESNET)
    console.print(f"resnet ({' '.join(RESNET)}): fp {fp:.4f} s/epoch"
                  + (f"; aihwkit fp {anchor[('fp', 128)]:.4f} s/epoch" if ("fp", 128) in anchor
                     else ""))
    results = []
    for row in rows:
        kind, overrides = _spec(row)
        began = time.perf_counter()
        t, how = epoch_seconds([*overrides, "cell=constant_step"], repeats=repeats, data=RESNET)
        first = time.perf_counter() - began - repeats * t
        aih = anchor.get((kind, 128))
        results.append({"device": row, "batch": 128, "fp": fp, "seconds": t, "ratio": t / fp,
                        "steps": how, "shape": "resnet", "warmup": first,
                        "aihwkit_seconds": aih})
        results[-1]["phases"] = dict(LAST_PHASES)
        console.print(f"resnet {row}: {t:.4f} s/epoch, {t / fp:.1f}x fp, steps {how}, "
                      f"set-up + warm-up epoch {first:.1f} s ("
                      + ", ".join(f"{k} {v:.2f}" for k, v in LAST_PHASES.items()) + ")"
                      + ("" if aih is None else f"; aihwkit {kind} {aih:.4f} s/epoch, "
                         f"xbrun / aihwkit {t / aih:.2f}x"))
    return results


_ANCHOR_COLS = ("aihwkit x fp", "aihwkit s/epoch", "xbrun / aihwkit")


def _anchor(console, where: str, shape: str, batches: tuple[int, ...], rows,
            repeats: int | None = None) -> dict[tuple[str, int], float]:
    """aihwkit's epochs on ``shape`` for the devices of ``rows`` (each row's device, both
    accumulate modes against the one aihwkit figure), where an aihwkit install is there."""
    if not aihwkit_anchor.available():
        return {}
    kinds = tuple(dict.fromkeys(_spec(r)[0] for r in rows))
    console.print(f"measuring aihwkit side by side ({where}, {shape}, {', '.join(kinds)})...")
    return aihwkit_anchor.measure(where, batches, kinds, shape=shape, repeats=repeats)


def _anchor_cells(anchor: dict, result: dict, batch: int) -> list[str]:
    if not anchor:
        return []
    aih, aih_fp = anchor.get((_spec(result["device"])[0], batch)), anchor.get(("fp", batch))
    if aih is None:
        return ["-", "-", "-"]
    return [f"{aih / aih_fp:.1f}x" if aih_fp else "-", f"{aih:.4f}",
            f"{result['seconds'] / aih:.2f}x"]


def main() -> None:
    import argparse

    from rich.console import Console

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="32,256")
    parser.add_argument("--rows", default=",".join(DEVICE_ROWS),
                        help="device rows of the bench task (DEVICE or DEVICE+KEY=VALUE); "
                             "empty: none")
    parser.add_argument("--large-rows", default=",".join(LARGE_DEVICES + BATCH_COUNTED),
                        help="device rows of the large shape; empty: skip it")
    parser.add_argument("--resnet-rows", default="",
                        help="device rows of issue 27's ResNet (e.g. "
                             + ",".join(RESNET_DEVICES) + "); empty: skip it")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--count-method", choices=("cublas", "split_k"),
                        help="accumulate=batch on CUDA: count every layer this way instead "
                             "of counted_update_cuda.count_method's choice per shape")
    args = parser.parse_args()
    if args.count_method:
        from xbrun.kernels import counted_update_cuda

        counted_update_cuda.count_method = lambda *_: args.count_method
    rows = [r for r in args.rows.split(",") if r]
    large_rows = [r for r in args.large_rows.split(",") if r]
    console = Console(width=160)
    where = "cuda" if torch.cuda.is_available() else "cpu"
    if rows:
        run(console, tuple(int(b) for b in args.batches.split(",")), repeats=args.repeats,
            large=False, rows=rows)
    if large_rows:
        run_large(console, where, large_rows)
    resnet_rows = [r for r in args.resnet_rows.split(",") if r]
    if resnet_rows:
        run_resnet(console, resnet_rows)


if __name__ == "__main__":
    main()
