"""Benchmark: one analog MVM with its periphery on the CPU, side by side.

    python benchmarks/bench_analog_mvm.py

Per call, batch 32, aihwkit's default forward I/O (noise management, 7-bit DAC, 9-bit ADC,
output noise, iterative bound management) and backward I/O (no bound management): the plain
``x @ W.T``, the torch twin (the former ``physics/io.py`` path: ~30 small torch ops), the
numba kernel, and ``physics.io.analog_mvm`` (the dispatcher the tiles call: builds the
kernel's numbers from the config, then numba). Ratios are to the plain matmul, in one thread.
"""

from __future__ import annotations

import time

import torch
from xbrun.kernels import analog_mvm_torch
from xbrun.kernels.analog_mvm_cpu import analog_mvm_numba

from xbrun.physics.io import IOConfig, analog_mvm, kernel_params

SHAPES = [(64, 32), (256, 784), (784, 256)]  # weight [out, in]
BATCH = 32


def per_call(fn, min_time: float = 0.3) -> float:
    """Seconds per call: the fastest of seven timed blocks."""
    fn()
    calls = 1
    while True:
        began = time.perf_counter()
        for _ in range(calls):
            fn()
        spent = time.perf_counter() - began
        if spent > min_time / 5:
            break
        calls *= 2
    times = []
    for _ in range(7):
        began = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - began) / calls)
    return min(times)  # the least disturbed block (the machine is shared)


def measure(w, x, p, params, gen) -> dict:
    return {"matmul_us": per_call(lambda: x @ w.T) * 1e6,
            "twin_us": per_call(lambda: analog_mvm_torch(w, x, p, generator=gen)) * 1e6,
            "numba_us": per_call(lambda: analog_mvm_numba(w, x, p, 1)) * 1e6,
            "analog_mvm_us": per_call(lambda: analog_mvm(w, x, params, seed=1)) * 1e6}


def run(console=None) -> list[dict]:
    torch.set_num_threads(1)
    io = IOConfig()
    rows = []
    for direction, params in (("forward", io.forward), ("backward", io.backward)):
        p = kernel_params(params)
        for out_size, in_size in SHAPES:
            gen = torch.Generator().manual_seed(0)
            w = 0.1 * torch.randn(out_size, in_size, generator=gen)
            x = torch.rand(BATCH, in_size, generator=gen)
            rows.append({"direction": direction, "shape": f"{out_size}x{in_size}",
                         **measure(w, x, p, params, gen)})
    if console is not None:
        from rich.table import Table

        table = Table(title=f"analog MVM per call, CPU, batch {BATCH}, 1 thread (us; x matmul)")
        for col in ("direction", "W [out x in]", "matmul", "twin (torch)", "numba",
                    "analog_mvm", "twin / numba"):
            table.add_column(col, justify="left" if col == "direction" else "right")
        for r in rows:
            m = r["matmul_us"]
            table.add_row(r["direction"], r["shape"], f"{m:.1f}",
                          f"{r['twin_us']:.1f} ({r['twin_us'] / m:.1f}x)",
                          f"{r['numba_us']:.1f} ({r['numba_us'] / m:.1f}x)",
                          f"{r['analog_mvm_us']:.1f} ({r['analog_mvm_us'] / m:.1f}x)",
                          f"{r['twin_us'] / r['numba_us']:.1f}")
        console.print(table)
    return rows


if __name__ == "__main__":
    from rich.console import Console

    run(Console(width=160))
