"""Benchmark: constant steps on dense rows, the listed-rows kernel against the block kernel
that walks every row (CUDA only; ``pulsed_update_cuda.LISTED_ROWS`` toggled in one process).

    python -m benchmarks.bench_listed_rows            # both regimes, both kernels, configs

The problem is the 4096 x 4096 layer of 784-4096-4096-10 at batch 256 as the large bench
row updates it: a group of 64 tiles of 512 x 512, 256 rows, ConstantStep with its spreads
(``dw_min_std`` 0.3), a seed per tile on the device. Two regimes of trains:

- ``training``: what that run makes (measured on the CPU with the same code, RESULTS.md):
  BL management gives one slot per row, and few lines fire - input lines with a mean
  probability of ~0.07, output lines ~0.02 (exponentially spread, random signs), so
  ~0.1-0.2 % of the cell-rows pulse.
- ``dense``: 31 slots, |N(0, 0.3)| probabilities (``bench_pulsed_update``'s problem, ~1.8
  pulses per cell and row): every row has coincidences in every block.

Per kernel: milliseconds per update (two launches: the words and the update; CUDA events
over 10 calls, median of 5; other launch shapes and windows after), and the listed
kernel's results against the block kernel's
(weights, pulses, wear: the same arithmetic, so equal up to the compiler's FMA choices).
"""

from __future__ import annotations

import functools

import torch

from xbrun import kernels

from .cuda_timing import cuda_ms

TILES, M, N, K = 64, 512, 512, 256
DEVICE = "cuda"
CONFIGS = [(2, 64, 1), (16, 32, 4)]
WINDOWS = (64, 256)  # LISTED_WINDOW beside the default


def problem(regime: str, gen: torch.Generator):
    from xbrun.physics.cells import ConstantStep

    cell = ConstantStep()
    cp = torch.stack([cell.sample((M, N), gen) for _ in range(TILES)])
    w0 = 0.1 * torch.randn(TILES, M, N, generator=gen)

    def signs(shape):
        return torch.where(torch.rand(shape, generator=gen) < 0.5, -1.0, 1.0)

    if regime == "training":
        xp = (0.07 * torch.empty(TILES, K, N).exponential_(generator=gen)).clamp(max=1.0)
        dp = (0.02 * torch.empty(TILES, K, M).exponential_(generator=gen)).clamp(max=1.0)
        bl = torch.ones(TILES, K, dtype=torch.int32)
    else:
        xp = (0.3 * torch.randn(TILES, K, N, generator=gen)).abs().clamp(max=1.0)
        dp = (0.3 * torch.randn(TILES, K, M, generator=gen)).abs().clamp(max=1.0)
        bl = torch.full((TILES, K), 31, dtype=torch.int32)
    xp, dp = xp * signs(xp.shape), dp * signs(dp.shape)
    p = kernels.UpdateParams(kernels.CellParams(kernels.CELL_CONSTANT, float(cell.dw_min_std),
                                                True, ()), 31)
    return [t.to(DEVICE) for t in (cp, w0, xp, dp, bl)] + [p]


def main() -> None:
    from xbrun.kernels import pulsed_update_cuda as pu

    print(torch.cuda.get_device_name(), flush=True)
    gen = torch.Generator().manual_seed(0)
    seeds = torch.arange(TILES, device=DEVICE) + 1000
    for regime in ("training", "dense"):
        cp, w0, xp, dp, bl, p = problem(regime, gen)
        results = {}
        for listed in (False, True):
            pu.LISTED_ROWS = listed
            w = w0.clone()
            worn = torch.zeros(w.shape, dtype=torch.int32, device=DEVICE)
            n = pu.pulsed_update_triton(w, cp, xp, dp, bl, p, seed=seeds, cell_pulses=worn)
            results[listed] = (w, n.sum().item(), worn)
        (w_new, n_new, c_new), (w_old, n_old, c_old) = results[True], results[False]
        print(f"{regime}: pulses {n_old} (block kernel) / {n_new} (listed), "
              f"{n_old / (TILES * M * N * K):.5f} per cell-row; weights max |listed - block| "
              f"{(w_new - w_old).abs().max().item():.2e}, wear equal "
              f"{torch.equal(c_new, c_old)}", flush=True)
        w = w0.clone()
        timings = []
        window = pu.LISTED_WINDOW
        for name, listed, cfg, rows in [
                ("block kernel (old)", False, None, window),
                ("listed rows (new, default)", True, None, window),
                *((f"listed rows {c[0]}x{c[1]} w{c[2]}", True, c, window) for c in CONFIGS),
                *((f"listed rows, window {r}", True, None, r) for r in WINDOWS)]:
            pu.LISTED_ROWS, pu.LISTED_WINDOW = listed, rows
            extra = {} if cfg is None else dict(block_m=cfg[0], block_n=cfg[1],
                                                num_warps=cfg[2])
            ms = cuda_ms(functools.partial(pu.pulsed_update_triton, w, cp, xp, dp, bl, p,
                                           seed=seeds, **extra), calls=10, windows=5)
            timings.append((name, ms))
            print(f"  {regime:8s} {name:30s} {ms:8.3f} ms per update "
                  f"({TILES * M * N * K / ms / 1e9:.2f} T cell-rows/s)", flush=True)
        pu.LISTED_WINDOW = window
        base = timings[0][1]
        print(f"  {regime}: block kernel / listed (default) = {base / timings[1][1]:.2f}x",
              flush=True)
    pu.LISTED_ROWS = True


if __name__ == "__main__":
    main()
