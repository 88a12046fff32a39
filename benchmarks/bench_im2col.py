"""Benchmark: a convolution's patch rows and their gradient, unfold against the indexed gather.

    python benchmarks/bench_im2col.py          # CUDA if present (Triton), else the CPU (numba)

The three 3x3 convolutions of the CIFAR ResNet-20 (widths 16, 32, 64) at batch 128: the
former path (``F.unfold`` then the transposing copy to rows; autograd's ``col2im`` for the
image gradient) against ``kernels.im2col`` / ``kernels.col2im`` by the index
(``xbrun.tiles.indexed``). Milliseconds per call, the median of 20 after a warm-up.
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F

from xbrun import kernels
from xbrun.tiles import conv_indices

LAYERS = [(16, 32), (32, 16), (64, 8)]  # channels, image side (3x3, padding 1)
BATCH = 128


def per_call_ms(fn, device: torch.device, rounds: int = 20) -> float:
    fn()
    times = []
    for _ in range(rounds):
        if device.type == "cuda":
            torch.cuda.synchronize()
        began = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - began)
    return 1e3 * statistics.median(times)


def layer_row(c: int, side: int, device: torch.device) -> list[float]:
    """Milliseconds of unfold, im2col, torch's col2im (fold) and ours for one layer."""
    x = torch.randn(BATCH, c, side, side, device=device)
    indices, _ = conv_indices(c, side, side, 3, padding=1)
    inverse = kernels.inverse_index(indices, c * side * side).to(device)
    indices = indices.to(device)
    rows = torch.randn(BATCH * side * side, c * 9, device=device)
    cols = rows.reshape(BATCH, side * side, -1).transpose(1, 2)
    return [per_call_ms(fn, device) for fn in (
        lambda: F.unfold(x, 3, padding=1).transpose(1, 2).reshape(-1, c * 9).contiguous(),
        lambda: kernels.im2col(x, indices),
        lambda: F.fold(cols, (side, side), 3, padding=1),
        lambda: kernels.col2im(rows, inverse, BATCH))]


def main() -> None:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    where = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    print(f"{'layer':>10} {'unfold':>8} {'im2col':>8} {'fold':>8} {'col2im':>8}  "
          f"(ms per call, batch {BATCH}, {where})")
    for c, side in LAYERS:
        print(f"{f'{c}x{side}x{side}':>10} " + " ".join(f"{t:8.3f}"
                                                   for t in layer_row(c, side, device)))


if __name__ == "__main__":
    main()
