"""The floor of exact per-sample pulsing: how fast any simulator could train a shape.

Exact stochastic pulsing applies every sample's rank-1 update to every cell. With the pulse
trains bit-packed (a train of up to 32 slots in one word per line), a cell's coincidences
with one sample are one AND of its two line words and one popcount; the pulses then move
the weight (for constant steps: one multiply-add and a clip). So a training step costs at
least ``cells x samples`` of that inner operation, at the rate this machine runs it, plus
reading and writing every weight and its cell parameters once:

    floor(step) = cells * batch / rate(AND + popcount + step)  +  bytes / bandwidth

``rate`` and ``bandwidth`` are measured here: on CUDA with a Triton kernel that runs the
inner operation on words held in registers (no memory traffic) and a device-to-device copy;
on the CPU with numpy over cache-sized arrays. Line-bit drawing, the forward and backward
passes and the host are left out: the floor is what the pulsing alone must cost.
"""

from __future__ import annotations

import time

import numpy as np
import torch

BATCH = 256
LAYERS = (784, 4096, 4096, 10)
STEP_PARAM_BYTES = 4 * 2 + 4 * 4  # weight read + written, 4 float rows of cell parameters


def layer_cells(layers=LAYERS, bias: bool = True) -> int:
    """Cells of an MLP's analog layers (an analog bias column each)."""
    return sum((a + int(bias)) * b for a, b in zip(layers[:-1], layers[1:], strict=True))


def _cuda_rate() -> float:
    """Cell-samples per second of AND + popcount + clipped step, words in registers."""
    from triton.testing import do_bench

    from .floor_kernel import and_popcount_step as inner

    block, programs, n_iter = 1024, 132 * 64, 512
    out = torch.empty(block * programs, device="cuda")
    ms = do_bench(lambda: inner[(programs,)](out, n_iter, BLOCK=block, num_warps=8),
                  warmup=50, rep=200, return_mode="median")
    return block * programs * n_iter / (ms * 1e-3)


def _cpu_rate(n: int = 1 << 16, reps: int = 200) -> float:
    """The same inner operation with numpy on one core (arrays that stay in cache)."""
    gen = np.random.default_rng(0)
    wx = gen.integers(0, 2**32, n, dtype=np.uint32)
    wd = gen.integers(0, 2**32, n, dtype=np.uint32)
    w = np.zeros(n, dtype=np.float32)
    both = np.empty_like(wx)
    began = time.perf_counter()
    for i in range(reps):
        np.bitwise_and(wx, wd ^ np.uint32(i), out=both)
        c = np.bitwise_count(both)
        w += c * np.float32(0.001)
        np.clip(w, -1.0, 1.0, out=w)
    return n * reps / (time.perf_counter() - began)


def _bandwidth(device: str) -> float:
    """Bytes per second of a large copy (read plus write)."""
    nbytes = (1 << 30) if device == "cuda" else (1 << 26)
    src = torch.empty(nbytes // 4, device=device).uniform_()
    dst = torch.empty_like(src)
    if device == "cuda":
        from triton.testing import do_bench

        ms = do_bench(lambda: dst.copy_(src), warmup=50, rep=300, return_mode="median")
        return 2 * nbytes / (ms * 1e-3)
    began = time.perf_counter()
    for _ in range(5):
        dst.copy_(src)
    return 2 * nbytes * 5 / (time.perf_counter() - began)


def floor(device: str, n_train: int = 4096, batch: int = BATCH, layers=LAYERS) -> dict:
    """Measured rates and the floor of one epoch of exact per-sample pulsing."""
    rate = _cuda_rate() if device == "cuda" else _cpu_rate()
    bandwidth = _bandwidth(device)
    cells = layer_cells(layers)
    steps = -(-n_train // batch)
    compute = cells * n_train / rate
    memory = steps * cells * STEP_PARAM_BYTES / bandwidth
    return {"device": device, "cells": cells, "batch": batch, "rate": rate,
            "bandwidth": bandwidth, "compute_s": compute, "memory_s": memory,
            "epoch_s": compute + memory, "steps": steps}


def run(console, fp_seconds: float | None = None, measured: dict | None = None) -> dict:
    """Print the floor at the large shape; with ``fp_seconds`` (the digital epoch) as a
    ratio, and beside ``measured`` ({device: s/epoch}) how far each device is from it."""
    from rich.table import Table

    where = "cuda" if torch.cuda.is_available() else "cpu"
    f = floor(where)
    shape = "-".join(map(str, LAYERS))
    console.print(
        f"floor of exact per-sample pulsing, mlp {shape}, batch {f['batch']} ({where}): "
        f"{f['cells'] / 1e6:.1f} M cells x 4096 samples; AND + popcount + step measured at "
        f"{f['rate'] / 1e9:.1f} G cell-samples/s, copy {f['bandwidth'] / 1e9:.0f} GB/s -> "
        f"{f['compute_s']:.4g} s pulsing + {f['memory_s']:.4g} s weights "
        f"= {f['epoch_s']:.4g} s per epoch")
    if fp_seconds:
        f["fp_s"] = fp_seconds
        f["floor_ratio"] = (fp_seconds + f["epoch_s"]) / fp_seconds
        table = Table(title=f"large shape vs its floor ({where}; floor = fp epoch + pulsing "
                            f"floor = {f['floor_ratio']:.2f}x fp)")
        for col in ("device", "s/epoch", "x fp", "floor x fp", "x floor"):
            table.add_column(col, justify="left" if col == "device" else "right")
        for name, seconds in (measured or {}).items():
            table.add_row(name, f"{seconds:.4f}", f"{seconds / fp_seconds:.1f}x",
                          f"{f['floor_ratio']:.2f}x",
                          f"{seconds / (fp_seconds + f['epoch_s']):.1f}x")
        console.print(table)
    return f
