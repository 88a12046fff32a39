"""Benchmark: the Triton pulsed-update kernel against its memory-traffic floor (CUDA only).

    python benchmarks/bench_pulsed_update.py            # the table
    python benchmarks/bench_pulsed_update.py --sweep    # also try launch shapes per case
    python benchmarks/bench_pulsed_update.py --counted  # beside the batch-counted update

``--counted`` also times ``update.accumulate=batch``'s update (``counted_update_cuda``: bits,
int8 counts, one apply) on the same problem: "counted us" and "sample / counted".

The floor of one launch is the bytes it must move - the weight read and written, the
cell-parameter rows the cell reads, the x/d probabilities and train lengths - over the copy
bandwidth measured here with a large device-to-device copy (bytes read plus written).

The kernel is expected to sit well above that floor: it is arithmetic-bound, not
memory-bound. Every rank-1 row costs a popcount per element (and Philox draws for the line
bits, once per line) and, for state-dependent cells, a pulse loop that runs to the block's
largest coincidence count; with noise on, four hashes and two Box-Muller transforms per
element per four pulses there, and one normal and a square root per element and row for
constant steps. See ``kernels/pulsed_update_cuda.py``.

Firing probabilities are drawn as |N(0, 0.3)| clipped to 1 with random signs (about what
update management produces for a training step: a mean of ~0.24, so ~1.8 pulses per
element per row at bl = 31). "kernel" is the device time of one launch, the median of
``triton.testing.do_bench_cudagraph`` (graph replays, so no host overhead; it includes the
counter's zero fill); "call" is one launch from Python (``do_bench``), which for small
layers is the host's launch overhead. The update is applied in place over and over, which
does not change its cost.
"""

from __future__ import annotations

import argparse

import torch

SHAPES = [(256, 784), (128, 256), (512, 512), (1024, 1024)]
K = 32
BLS = (31, 1)
PROB_STD = 0.3

# (label, cell kind, noise_std, scalars); the first is the headline case
CELL_CASES = [
    ("constant", 0, 0.0, ()),
    ("constant+noise", 0, 0.3, ()),
    ("soft_bounds+noise", 1, 0.3, ()),
    ("exp+noise", 2, 0.3, (0.00081, 0.36833, 12.44625, 12.78785, 0.244, 0.2425)),
    ("pow+noise", 3, 0.3, ()),
]
SWEEP = [(16, 32, 2), (16, 32, 4), (32, 32, 8), (16, 64, 8), (32, 64, 4), (32, 64, 8),
         (64, 64, 16)]


def copy_bandwidth(device, nbytes: int = 1 << 30) -> float:
    """Bytes per second of a large device-to-device copy (read plus write)."""
    from triton.testing import do_bench

    src = torch.empty(nbytes // 4, dtype=torch.float32, device=device).uniform_()
    dst = torch.empty_like(src)
    ms = do_bench(lambda: dst.copy_(src), warmup=50, rep=300, return_mode="median")
    return 2 * nbytes / (ms * 1e-3)


def make_problem(m, n, k, bl, kind, device, seed=0):
    from xbrun.kernels import ROWS_REQUIRED

    gen = torch.Generator(device="cpu").manual_seed(seed)
    rows = ROWS_REQUIRED[kind]
    cp = torch.zeros(rows, m, n)
    cp[0] = 0.001 * (1 + 0.3 * torch.randn(m, n, generator=gen)).abs()
    cp[1] = 0.001 * (1 + 0.3 * torch.randn(m, n, generator=gen)).abs()
    cp[2] = 0.6 * (1 + 0.3 * torch.randn(m, n, generator=gen)).abs()
    cp[3] = -0.6 * (1 + 0.3 * torch.randn(m, n, generator=gen)).abs()
    if kind == 1:
        cp[4], cp[5] = 1 / cp[2], 1 / cp[3]
    if kind == 3:
        cp[6] = (1 + 0.1 * torch.randn(m, n, generator=gen)).abs()
        cp[7] = (1 + 0.1 * torch.randn(m, n, generator=gen)).abs()
    w = (cp[3] + (cp[2] - cp[3]) * torch.rand(m, n, generator=gen)) * 0.5

    def probs(rows_, cols):
        p = (PROB_STD * torch.randn(rows_, cols, generator=gen)).clamp(-1, 1)
        return p

    x_prob, d_prob = probs(k, n), probs(k, m)
    bl_t = torch.full((k,), bl, dtype=torch.int32)
    return [t.to(device) for t in (w, cp, x_prob, d_prob, bl_t)]


def floor_bytes(m, n, k, rows) -> int:
    return 4 * m * n * 2 + 4 * rows * m * n + 4 * k * (m + n) + 4 * k


def time_case(m, n, k, bl, cell, device, config=None, counted: bool = False):
    from triton.testing import do_bench, do_bench_cudagraph
    from xbrun.kernels import ROWS_REQUIRED, CellParams, UpdateParams
    from xbrun.kernels.pulsed_update_cuda import _default_config, pulsed_update_triton

    label, kind, noise, scalars = cell
    w, cp, xp, dp, blt = make_problem(m, n, k, bl, kind, device)
    bm, bn, nw = config or _default_config(m, n, loop=kind != 0, noise=noise > 0)
    # max_bl: what the caller knows (desired_bl): no device sync
    params = UpdateParams(CellParams(kind, noise, True, scalars), max_bl=bl)
    kwargs = dict(seed=1234, block_m=bm, block_n=bn, num_warps=nw)

    def launch():
        return pulsed_update_triton(w, cp, xp, dp, blt, params, **kwargs)

    pulses = int(launch())  # compiles; the pulses of one launch
    # device time: CUDA-graph replays (no host overhead); call time: one launch from Python
    ms = do_bench_cudagraph(launch, rep=100, return_mode="median")
    call_ms = do_bench(launch, warmup=25, rep=100, return_mode="median")
    result = dict(shape=f"{m}x{n}", cell=label, k=k, bl=bl, kernel_ms=ms, call_ms=call_ms,
                  pulses=pulses, config=f"{bm}x{bn}/w{nw}",
                  bytes=floor_bytes(m, n, k, ROWS_REQUIRED[kind]))
    if counted:
        from xbrun.kernels.counted_update_cuda import counted_update_triton

        def launch_counted():
            return counted_update_triton(w, cp, xp, dp, blt, params, seed=1234)

        result["counted_pulses"] = int(launch_counted())
        result["counted_ms"] = do_bench_cudagraph(launch_counted, rep=100,
                                                  return_mode="median")
    return result


def run(console=None, sweep: bool = False, cells=None, shapes=None, k: int = K,
        bls=BLS, counted: bool = False) -> list[dict]:
    """Time the kernel on CUDA and print a rich table; return one dict per case."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    if not torch.cuda.is_available():
        console.print("[yellow]bench_pulsed_update: no CUDA device, skipped[/yellow]")
        return []
    device = torch.device("cuda")
    bw = copy_bandwidth(device)
    console.print(f"{torch.cuda.get_device_name(device)}: device-to-device copy "
                  f"{bw / 1e12:.2f} TB/s (read + write)")
    cells = cells or CELL_CASES
    rows = []
    for m, n in shapes or SHAPES:
        for bl in bls:
            for cell in cells:
                configs = [None] + (SWEEP if sweep else [])
                best = None
                for cfg in configs:
                    r = time_case(m, n, k, bl, cell, device, cfg, counted and cfg is None)
                    if sweep:
                        console.print(f"  {r['shape']} {r['cell']} bl={bl} {r['config']}: "
                                      f"{r['kernel_ms'] * 1e3:.1f} us")
                    if best is None or r["kernel_ms"] < best["kernel_ms"]:
                        best = r if cfg is not None else {**r, "default": True}
                    if cfg is None:
                        default_ms = r["kernel_ms"]
                        counted_ms = r.get("counted_ms")
                best["default_ms"] = default_ms
                if counted_ms is not None:
                    best["counted_ms"] = counted_ms
                best["floor_ms"] = best["bytes"] / bw * 1e3
                best["ratio"] = best["kernel_ms"] / best["floor_ms"]
                best["copy_tb_s"] = bw / 1e12
                rows.append(best)

    table = Table(title=f"pulsed update, k={k}, |p| ~ |N(0, {PROB_STD})|: kernel = device "
                        "time (CUDA graph), call = one launch from Python (medians)")
    extra = ("counted us", "sample / counted") if counted else ()
    for col in ("shape", "cell", "k", "bl", "kernel us", "floor us", "ratio", "call us",
                "pulses", "launch", *extra):
        table.add_column(col, justify="left" if col in ("shape", "cell", "launch") else "right")
    for r in rows:
        cols = [r["shape"], r["cell"], str(r["k"]), str(r["bl"]),
                f"{r['kernel_ms'] * 1e3:.1f}", f"{r['floor_ms'] * 1e3:.2f}",
                f"{r['ratio']:.1f}x", f"{r['call_ms'] * 1e3:.1f}", f"{r['pulses']:,}",
                r["config"] + ("" if r.get("default") else
                               f" (default {r['default_ms'] * 1e3:.1f})")]
        if counted:
            cols += [f"{r['counted_ms'] * 1e3:.1f}",
                     f"{r['kernel_ms'] / r['counted_ms']:.2f}x"]
        table.add_row(*cols)
    console.print(table)
    quiet = {(r["shape"], r["bl"]): r["kernel_ms"] for r in rows if r["cell"] == "constant"}
    for r in rows:
        base = quiet.get((r["shape"], r["bl"]))
        if r["cell"] == "constant+noise" and base:
            r["noise_ratio"] = r["kernel_ms"] / base
            console.print(f"constant steps with / without noise, {r['shape']}, k={r['k']}, "
                          f"bl={r['bl']}: {r['kernel_ms'] * 1e3:.1f} / {base * 1e3:.1f} us "
                          f"= {r['noise_ratio']:.2f}x (target <= 2x)")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", action="store_true", help="try several launch shapes")
    parser.add_argument("--cells", default=None,
                        help="comma-separated cell cases, of: "
                             + ", ".join(c[0] for c in CELL_CASES))
    parser.add_argument("--shapes", default=None, help="e.g. 4096x4096,256x784")
    parser.add_argument("--k", type=int, default=K, help="rank-1 rows per launch (batch)")
    parser.add_argument("--bls", default=None, help="train lengths, e.g. 31,1")
    parser.add_argument("--counted", action="store_true",
                        help="also time the batch-counted update (update.accumulate=batch)")
    args = parser.parse_args()
    shapes = ([tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
              if args.shapes else None)
    bls = tuple(int(v) for v in args.bls.split(",")) if args.bls else BLS
    cells = None
    if args.cells:
        want = args.cells.split(",")
        cells = [c for c in CELL_CASES if c[0] in want]
    from rich.console import Console

    run(Console(width=160), sweep=args.sweep, cells=cells, shapes=shapes, k=args.k, bls=bls,
        counted=args.counted)


if __name__ == "__main__":
    main()
