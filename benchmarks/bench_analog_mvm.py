"""Benchmark: one analog MVM with its periphery on the CPU, side by side.

    python benchmarks/bench_analog_mvm.py

Per call, batch 32, aihwkit's default forward I/O (noise management, 7-bit DAC, 9-bit ADC,
output noise, iterative bound management) and backward I/O (no bound management): the plain
``x @ W.T``, the torch twin (the former ``physics/io.py`` path: ~30 small torch ops), the
numba kernel, and ``physics.io.analog_mvm`` (the dispatcher the tiles call: builds the
kernel's numbers from the config, then numba). Ratios are to the plain matmul, in one thread;
the times are CPU time (``time.process_time``), robust to other processes on the machine.
"""

from __future__ import annotations

import time

import torch
from xbrun.kernels import analog_mvm_torch
from xbrun.kernels.analog_mvm_cpu import analog_mvm_numba

from xbrun.physics.io import IOConfig, analog_mvm, kernel_params

SHAPES = [(64, 32), (256, 784), (784, 256)]  # weight [out, in]
BATCH = 32


def per_call(fns: dict, rounds: int = 9, min_time: float = 0.02) -> dict:
    """CPU seconds per call of each function: the fastest of ``rounds`` timed blocks, the
    functions taking turns block by block. On a shared machine CPU time (one thread) is not
    inflated by waiting for a core, and interleaving keeps a change of load (caches, clock)
    from favouring one of them."""
    calls = {}
    for name, fn in fns.items():
        fn()
        n = 1
        while True:
            began = time.process_time()
            for _ in range(n):
                fn()
            if time.process_time() - began > min_time:
                break
            n *= 2
        calls[name] = n
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            began = time.process_time()
            for _ in range(calls[name]):
                fn()
            best[name] = min(best[name], (time.process_time() - began) / calls[name])
    return best


def measure(w, x, p, params, gen) -> dict:
    fns = {"matmul_us": lambda: x @ w.T,
           "twin_us": lambda: analog_mvm_torch(w, x, p, generator=gen),
           "numba_us": lambda: analog_mvm_numba(w, x, p, 1),
           "analog_mvm_us": lambda: analog_mvm(w, x, params, seed=1)}
    return {name: seconds * 1e6 for name, seconds in per_call(fns).items()}


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
