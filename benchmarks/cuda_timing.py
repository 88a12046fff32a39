"""Milliseconds of a GPU call by CUDA events: the device's time, not Python's."""

from __future__ import annotations

import torch


def cuda_ms(fn, calls: int = 1, windows: int = 1) -> float:
    """Milliseconds per call of ``fn()``: ``calls`` back-to-back calls between two CUDA
    events, the median over ``windows`` such windows, after one warm-up call (compiles)."""
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(windows):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(calls):
            fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / calls)
    return sorted(times)[len(times) // 2]
