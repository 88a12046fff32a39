"""The batch-counted update's coincidence counts per shape: which way of counting is faster.

    python -m benchmarks.bench_counts [--shapes 4096x4096x7936,16x27x4063232]

For each count shape (out x in, K slots) on CUDA, milliseconds of:
- ``before``: the layout used until issue 27 (``ds.T.contiguous()``, two ``torch._int_mm``
  on row-major B and an abs pass each; cuBLAS takes its slow compatibility kernel there);
- ``cublas`` and ``split_k``: ``coincidences_triton`` on K-major planes (cuBLAS int8 in its
  TN layout; the split-K ``tl.dot`` kernel);
- ``update cublas`` / ``update split_k``: the whole ``counted_update_triton`` (planes,
  counts, apply) of a SoftBounds tile, ``K / 31`` rows with trains of 31 slots;
  ``split_k bl<=4``: the same with trains of 1-4 slots (BL management), which the split-K
  kernel stops after.
The fastest count is marked; ``count_method`` should pick it (``CUBLAS_MIN_*``).

``--sample``: the per-sample update (``accumulate=sample``) of a ConstantStep and a
SoftBounds tile per shape (``K / 31`` rows, trains of 1-8 slots), with its rows walked in
order by one program per cell block (``row_chunk=rows``, as before issue 27) and in
parallel chunks (the default where the cell blocks are few).
"""

from __future__ import annotations

import argparse

import torch

from .cuda_timing import cuda_ms

# the wide layers of 784-4096-4096-10 at batch 256 (K = 256 x 31), the bench MLP's first
# layer, and convolution-shaped counts of a CIFAR ResNet at batch 128 (rows x 31 slots)
SHAPES = ("4096x4096x7936", "4096x784x7936", "10x4096x7936", "256x784x7936",
          "16x27x4063232", "32x144x4063232", "64x576x1015808", "64x576x253952")


def before(xs: torch.Tensor, ds: torch.Tensor):
    """The counts as they were: row-major ``(K, n)`` bits, B row-major."""
    dt = ds.T.contiguous()
    return torch._int_mm(dt, xs), torch._int_mm(dt.abs(), xs.abs())


def measure(shape: str) -> dict:
    """One shape's row (module doc)."""
    from xbrun.kernels import counted_update_cuda as cu

    from xbrun import kernels
    from xbrun.physics.cells import SoftBounds

    n_out, n_in, n_k = (int(v) for v in shape.split("x"))
    gen = torch.Generator(device="cuda").manual_seed(0)
    ld = -(-n_k // 16) * 16
    dt = torch.randint(-1, 2, (n_out, ld), generator=gen, device="cuda").to(torch.int8)
    xt = torch.randint(-1, 2, (n_in, ld), generator=gen, device="cuda").to(torch.int8)
    row = {"shape": shape, "picked": cu.count_method(n_out, n_in, torch.device("cuda"))}
    if n_out > 16 and n_in % 8 == 0:
        xs, ds = xt.T.contiguous(), dt.T.contiguous()
        row["before"] = cuda_ms(lambda: before(xs, ds), calls=20)
    pad = [cu._plane_lines(n, True) for n in (n_out, n_in)]
    dp = torch.zeros(pad[0], ld, dtype=torch.int8, device="cuda")
    xp = torch.zeros(pad[1], ld, dtype=torch.int8, device="cuda")
    dp[:n_out], xp[:n_in] = dt, xt
    da, xa = dp.abs(), xp.abs()
    row["cublas"] = cuda_ms(lambda: cu.coincidences_triton(dp, xp, n_out, n_in, dt_abs=da,
                                                           xt_abs=xa), calls=20)
    row["split_k"] = cuda_ms(lambda: cu.coincidences_triton(dt, xt, n_out, n_in), calls=20)
    cell = SoftBounds(dw_min=0.001)
    params = cell.sample((n_out, n_in), torch.Generator().manual_seed(0)).cuda()
    k = max(1, n_k // 31)
    x_prob = (torch.rand(k, n_in, device="cuda") - 0.5) * 0.2
    d_prob = (torch.rand(k, n_out, device="cuda") - 0.5) * 0.2
    bl = torch.full((k,), 31, dtype=torch.int32, device="cuda")
    weight = torch.zeros(n_out, n_in, device="cuda")
    update = kernels.UpdateParams(kernels.CellParams(
        cell.kernel_kind, float(cell.noise_std), bool(cell.mult_noise),
        tuple(cell.cell_scalars)), max_bl=31)
    for method in ("cublas", "split_k"):
        row[f"update {method}"] = cuda_ms(lambda m=method: cu.counted_update_triton(
            weight, params, x_prob, d_prob, bl, update, seed=1, method=m), calls=5)
    short = torch.randint(1, 5, (k,), dtype=torch.int32, device="cuda")  # BL management
    row["split_k bl<=4"] = cuda_ms(lambda: cu.counted_update_triton(
        weight, params, x_prob, d_prob, short, update, seed=1, method="split_k"), calls=5)
    return row


def measure_sample(shape: str) -> dict:
    """The ``--sample`` row of one shape (module doc)."""
    from xbrun.kernels.pulsed_update_cuda import pulsed_update_triton

    from xbrun import kernels
    from xbrun.physics.cells import ConstantStep, SoftBounds

    n_out, n_in, n_k = (int(v) for v in shape.split("x"))
    k = max(1, n_k // 31)
    row = {"shape": shape}
    x_prob = (torch.rand(k, n_in, device="cuda") - 0.5) * 0.2
    d_prob = (torch.rand(k, n_out, device="cuda") - 0.5) * 0.2
    bl = torch.randint(1, 9, (k,), dtype=torch.int32, device="cuda")
    for cell in (ConstantStep(dw_min=0.001), SoftBounds(dw_min=0.001)):
        params = cell.sample((n_out, n_in), torch.Generator().manual_seed(0)).cuda()
        weight = torch.zeros(n_out, n_in, device="cuda")
        update = kernels.UpdateParams(kernels.CellParams(
            cell.kernel_kind, float(cell.noise_std), bool(cell.mult_noise),
            tuple(cell.cell_scalars)), max_bl=31)
        name = type(cell).__name__
        for label, rows in (("in order", k), ("chunks", None)):
            row[f"{name} {label}"] = cuda_ms(
                lambda r=rows, w=weight, p=params, u=update: pulsed_update_triton(
                    w, p, x_prob, d_prob, bl, u, seed=1, row_chunk=r), calls=3)
    return row


def run(shapes) -> list[dict]:
    rows = []
    for shape in shapes:
        rows.append(measure(shape))
        torch.cuda.empty_cache()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--sample", action="store_true",
                        help="the per-sample update: rows in order against rows in chunks")
    args = parser.parse_args()
    if args.sample:
        print(f"{torch.cuda.get_device_name()}: accumulate=sample, milliseconds per call")
        for shape in args.shapes.split(","):
            row = measure_sample(shape)
            print(f"{shape:>18} " + "  ".join(f"{key} {value:.3f}" for key, value in row.items()
                                              if key != "shape"))
            torch.cuda.empty_cache()
        return
    cols = ("before", "cublas", "split_k", "update cublas", "update split_k",
            "split_k bl<=4")
    print(f"{torch.cuda.get_device_name()}: milliseconds per call")
    print(f"{'out x in x K':>18} " + " ".join(f"{c:>15}" for c in cols) + "  picked")
    for row in run(args.shapes.split(",")):
        counts = {c: row[c] for c in ("cublas", "split_k") if c in row}
        best = min(counts, key=counts.get)
        cells = [(f"{row[c]:.3f}" + ("*" if c == best else "")) if c in row else "-"
                 for c in cols]
        print(f"{row['shape']:>18} " + " ".join(f"{v:>15}" for v in cells)
              + f"  {row['picked']}")


if __name__ == "__main__":
    main()
