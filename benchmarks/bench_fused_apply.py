"""The batch-counted update of 784-4096-4096-10's grids at batch 256 (CUDA), its counts
applied after the count (split-K counts written, then ``_apply_counts_kernel``) and as the
update dispatches them (fused in the count's 16 x 64 blocks where the planes hold at most
``FUSED_FLAT_MAX_SLOTS`` slots), side by side in one process.

    python -m benchmarks.bench_fused_apply [--sweep] [--length 31]

Per layer grid (512 x 512 tiles, trains of ``--length`` slots - 1 fuses, 31 does not -,
SoftBounds with noise, wear counted), milliseconds of the planes, the count + apply both
ways (apart at the count's K step 128, 64 and 32, ``COUNT_BLOCK_K``) and whether they all
agree bit for bit, and the byte floor of the apply at 3 TB/s. ``--sweep``: the unfused
count of the
4096 x 4096 grid alone under a few block, warp and stage settings (the kernel's settings
are ``_split_config``'s), for the next tuning.
"""

from __future__ import annotations

import argparse

import torch

from .cuda_timing import cuda_ms

# (tiles, n_out, n_in): 784 -> 4096 (2 x 8 tiles of 512 x 392), 4096 -> 4096 (8 x 8 of
# 512 x 512), 4096 -> 10 (8 tiles of 10 x 512)
GRIDS = ((16, 512, 392), (64, 512, 512), (8, 10, 512))
K = 256
DEVICE = "cuda"
SWEEP = ((128, 128, 128, 8, 3), (128, 128, 128, 8, 4), (128, 256, 128, 8, 3),
         (128, 128, 64, 4, 4))
# (name, fused, COUNT_BLOCK_K): the count's K step as _split_config sets it and smaller (no
# register spills at 32, compiled for sm_90); fused: as dispatched (FUSED_FLAT_MAX_SLOTS)
VARIANTS = (("apart", False, None), ("dispatched", True, None), ("apart k32", False, 32),
            ("apart k64", False, 64))
LENGTH = 31  # (--length)


def _problem(tiles, n_out, n_in):
    from xbrun import kernels
    from xbrun.physics.cells import SoftBounds

    cell = SoftBounds(dw_min=0.001, dw_min_std=0.3)
    bundle = kernels.CellParams(cell.kernel_kind, float(cell.noise_std), bool(cell.mult_noise),
                                tuple(cell.cell_scalars))
    gen = torch.Generator().manual_seed(0)
    params = torch.stack([cell.sample((n_out, n_in), gen) for _ in range(tiles)]).to(DEVICE)
    start = (0.1 * torch.randn(tiles, n_out, n_in, generator=gen)).to(DEVICE)
    x_prob = (0.6 * (torch.rand(tiles, K, n_in, generator=gen) - 0.5)).to(DEVICE)
    d_prob = (0.6 * (torch.rand(tiles, K, n_out, generator=gen) - 0.5)).to(DEVICE)
    bl = torch.full((tiles, K), LENGTH, dtype=torch.int32, device=DEVICE)
    return params, start, x_prob, d_prob, bl, kernels.UpdateParams(bundle, LENGTH)


def grid_row(tiles, n_out, n_in) -> str:
    from xbrun.kernels import counted_update_cuda as cu

    params, start, x_prob, d_prob, bl, p = _problem(tiles, n_out, n_in)
    seeds = torch.arange(tiles, device=DEVICE) + 5
    ld = cu._round_up(K * LENGTH, cu.ALIGN)
    compact = cu.compact_layout(bl, LENGTH)
    planes = lambda: (cu.line_planes_triton(d_prob, bl, LENGTH, ld, seeds, 1, compact=compact),  # noqa: E731
                      cu.line_planes_triton(x_prob, bl, LENGTH, ld, seeds, 0, compact=compact))
    results, times = {}, {}
    before = cu.FUSED_FLAT_MAX_SLOTS, cu.COUNT_BLOCK_K
    for name, fused, block_k in VARIANTS:
        cu.FUSED_FLAT_MAX_SLOTS, cu.COUNT_BLOCK_K = (before[0] if fused else 0), block_k
        weights = start.clone()
        worn = torch.zeros(weights.shape, dtype=torch.int32, device=DEVICE)
        pulses = cu.counted_update_grouped_triton(weights, params, x_prob, d_prob, bl, p,
                                                  seeds=seeds, cell_pulses=worn)
        results[name] = (weights, worn, pulses)
        w2, c2 = start.clone(), torch.zeros_like(worn)
        times[name] = cuda_ms(lambda w2=w2, c2=c2: cu.counted_update_grouped_triton(
            w2, params, x_prob, d_prob, bl, p, seeds=seeds, cell_pulses=c2), windows=10)
    cu.FUSED_FLAT_MAX_SLOTS, cu.COUNT_BLOCK_K = before
    same = all(torch.equal(a, b) for r in results.values()
               for a, b in zip(results["apart"], r, strict=True))
    plane_ms = cuda_ms(planes, windows=10)
    cells = tiles * n_out * n_in
    floor = cells * (4 + 4 * 4 + 8 + 4 + 8) / 3e12 * 1e3  # w, 4 params, 2 counts, w', wear
    timed = ", ".join(f"{name} {ms:.3f}" for name, ms in times.items())
    return (f"grid {tiles} x {n_out} x {n_in}: whole update ms: {timed}; planes "
            f"{plane_ms:.3f} ms; apply floor {floor:.3f} ms at 3 TB/s (fused saves <= "
            f"{cells * 16 / 3e12 * 1e3:.3f} ms of count bytes); all equal bit for bit: {same}")


def sweep() -> None:
    from xbrun.kernels import counted_update_cuda as cu

    tiles, n_out, n_in = GRIDS[1]
    _, _, x_prob, d_prob, bl, _ = _problem(tiles, n_out, n_in)
    seeds = torch.arange(tiles, device=DEVICE) + 5
    ld = cu._round_up(K * LENGTH, cu.ALIGN)
    compact = cu.compact_layout(bl, LENGTH)
    dt = cu.line_planes_triton(d_prob, bl, LENGTH, ld, seeds, 1, compact=compact)[0]
    xt = cu.line_planes_triton(x_prob, bl, LENGTH, ld, seeds, 0, compact=compact)[0]
    ends = compact[1][:, -1]
    counts = torch.empty(2, tiles, n_out, n_in, dtype=torch.int32, device=DEVICE)
    want = cu.coincidences_triton(dt, xt, n_out, n_in, ends=ends)
    macs = 2 * tiles * n_out * n_in * K * LENGTH
    for bm, bn, bk, warps, stages in SWEEP:
        grid = (triton_cdiv(n_out, bm), triton_cdiv(n_in, bn), tiles)

        def launch(bm=bm, bn=bn, bk=bk, warps=warps, stages=stages, grid=grid):
            cu._coincidence_kernel[grid](
                dt, xt, counts[0], counts[1], ends, n_out, n_in, ld, 1, dt.stride(0),
                xt.stride(0), ends.stride(0), END=True, ATOMIC=False, **cu._NO_APPLY,
                w_ptr=counts, p_ptr=counts, seed_ptr=counts, cnt_ptr=counts, sum_ptr=counts,
                tab_ptr=counts, BLOCK_M=bm, BLOCK_N=bn, BLOCK_K=bk, num_warps=warps,
                num_stages=stages)
        try:
            ms = cuda_ms(launch, windows=10)
        except Exception as exc:  # noqa: BLE001 (a setting the card cannot take: say so)
            print(f"count {bm}x{bn}x{bk} w{warps} s{stages}: failed ({type(exc).__name__})",
                  flush=True)
            continue
        ok = torch.equal(counts[0], want[0]) and torch.equal(counts[1], want[1])
        print(f"count {bm}x{bn}x{bk} w{warps} s{stages}: {ms:.3f} ms, "
              f"{macs / max(ms, 1e-9) / 1e9:.0f} T int8 MAC/s, equal {ok}", flush=True)


def triton_cdiv(a: int, b: int) -> int:
    return -(-a // b)


def main() -> None:
    global LENGTH
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sweep", action="store_true")
    parser.add_argument("--length", type=int, default=LENGTH, help="slots of every train")
    args = parser.parse_args()
    LENGTH = args.length
    print(torch.cuda.get_device_name(), flush=True)
    for grid in (GRIDS[1], GRIDS[0], GRIDS[2]):  # the 4096 x 4096 grid first
        print(grid_row(*grid), flush=True)
    if args.sweep:
        sweep()


if __name__ == "__main__":
    main()
