"""A chopped step's transfer writes at 784-4096-4096-10, batch 256 (CUDA): tile by tile
against each grid's in one grouped call.

The MLP's 88 tiles are three grids (64 of 512x512, 16 of 512x392, 8 of 10x512 as C's out x
in); each tile writes its 256 read columns into C a step. Tile by tile that is
``transfer_lines_triton`` per tile, two launches each (176, spread over 4 streams as the
optimizer's side streams spread them); grouped, ``transfer_lines_grouped_triton`` per grid
(6 launches, a grid a stream: each grid's update is a job on a side stream of its own).
Both are captured in a CUDA graph and replayed, so the times are the GPU's, not Python's.
The tiles' tensors are rows of one tensor per grid in both (as ``TileGroup`` binds them).
First both run once on equal fresh tiles and must give the same numbers bit for bit.
Cases: ``chopped`` (the device's defaults: whole steps of one slot) and ``bl31`` (update
and BL management, up to 31 slots: every bit drawn).

    python -m benchmarks.bench_grouped_write [--replays 20] [--cases chopped,bl31] [--wide]

``--wide``: instead, the grouped writes (3 streams) with ``pulsed_update_cuda.WIDE_LINES``
(blocks of columns in the one-hot kernel) off and on (first their numbers compared on equal
fresh grids), and the write kernel alone (``max_bl`` 0: no one-hot launch), which splits a
step's write between its two kernels.
"""

from __future__ import annotations

import argparse

import torch

from xbrun import kernels

from .cuda_timing import cuda_ms

GRIDS = [(64, 512, 512), (16, 512, 392), (8, 10, 512)]  # (tiles, out, in) of C
READS = 256  # a step's reads per tile
DW_MIN = 0.001
CELL = kernels.CellParams(kernels.CELL_CONSTANT, 0.3, True, (), None)
CHOPPER = kernels.ChopperParams(flip_prob=0.1)
CASES = {
    # chopped's defaults: transfer_update desired_bl 1, no management, lr = step * dw_min
    "chopped": (kernels.TransferWriteParams(
        True, DW_MIN, DW_MIN, 1, False, False, False, 1.0,
        kernels.BufferParams(1.0, DW_MIN, 1, 0.0, True, 0.0, False)), 1),
    "bl31": (kernels.TransferWriteParams(
        True, 0.05, DW_MIN, 31, False, True, True, 1.0,
        kernels.BufferParams(1.0, DW_MIN, 31, 0.0, True, 0.0, False)), 31),
}


def grid_state(tiles: int, out: int, inp: int, gen: torch.Generator, dev) -> dict:
    """One grid's C, cells, buffers, choppers, reads, walk and counters, tiles first."""
    def signs(*shape):
        return torch.where(torch.rand(*shape, generator=gen) < 0.5, -1.0, 1.0)

    shape = (tiles, out, inp)
    cp = torch.stack([torch.full(shape, DW_MIN), torch.full(shape, DW_MIN),
                      torch.full(shape, 0.6), torch.full(shape, -0.6)], 1)
    state = {"weight": 0.3 * torch.randn(shape, generator=gen), "cp": cp,
             "buffer": DW_MIN * (torch.rand(shape, generator=gen) * 1.8 - 0.9),
             "out_sign": signs(tiles, out), "in_sign": signs(tiles, inp),
             "reads": 0.5 * DW_MIN * torch.randn(tiles, READS, out, generator=gen),
             "start": torch.randint(0, inp, (tiles,), generator=gen),
             "passes": torch.full((tiles,), 3),
             "flip_seed": 2**40 + 977 * torch.arange(tiles)[:, None] + out + inp,
             "calls": torch.full((tiles,), 5),
             "offsets": torch.randint(0, 2**31 - 1, (tiles,), generator=gen),
             "slots": torch.zeros(tiles, dtype=torch.int64),
             "count": torch.zeros(tiles, dtype=torch.int64)}
    return {k: v.to(dev) for k, v in state.items()}


def grids(dev) -> list[dict]:
    gen = torch.Generator().manual_seed(0)
    return [grid_state(*g, gen, dev) for g in GRIDS]


def per_tile(tw, s: dict, p, max_bl: int) -> list:
    """The grid's writes tile by tile: one callable per tile (two launches each)."""
    offsets = s["offsets"].tolist()  # host ints, as each array keeps its own

    def one(g):
        return tw.transfer_lines_triton(
            s["weight"][g], s["cp"][g], s["reads"][g], s["start"][g], p, CELL,
            seed=kernels.seeds.KeyedSeed(s["calls"][g], offsets[g]), max_bl=max_bl,
            calls=s["calls"][g], train_slots=s["slots"][g:g + 1], add_to=s["count"][g],
            buffer=s["buffer"][g], out_sign=s["out_sign"][g], in_sign=s["in_sign"][g],
            chopper=CHOPPER, flip_seed=s["flip_seed"][g], passes=s["passes"][g])

    return [lambda g=g: one(g) for g in range(s["weight"].shape[0])]


def grouped(tw, s: dict, p, max_bl: int):
    """The grid's writes in one grouped call (two launches)."""
    return lambda: tw.transfer_lines_grouped_triton(
        s["weight"], s["cp"], s["reads"], s["start"], p, CELL,
        key=kernels.seeds.KeyedSeed(s["calls"], s["offsets"]), max_bl=max_bl,
        add_to=s["count"], train_slots=s["slots"], calls=s["calls"], buffer=s["buffer"],
        out_sign=s["out_sign"], in_sign=s["in_sign"], chopper=CHOPPER,
        flip_seed=s["flip_seed"], passes=s["passes"])


def graph_ms(jobs: list[list], streams: int, replays: int) -> float:
    """Milliseconds a replay of the captured ``jobs`` takes: job ``n`` (a list of
    callables, in order) on stream ``n % streams`` inside the graph."""
    side = [torch.cuda.Stream() for _ in range(streams)]
    for job in jobs:  # compile and warm up outside the capture
        for f in job:
            f()
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        main = torch.cuda.current_stream()
        for s in side:
            s.wait_stream(main)
        for n, job in enumerate(jobs):
            with torch.cuda.stream(side[n % streams]):
                for f in job:
                    f()
        for s in side:
            main.wait_stream(s)
    return cuda_ms(g.replay, calls=replays)


def same_numbers(tw, p, max_bl: int, dev) -> bool:
    """Tile by tile and grouped on equal fresh grids: the same state and pulses."""
    a, b = grids(dev), grids(dev)
    for sa, sb in zip(a, b, strict=True):
        for f in per_tile(tw, sa, p, max_bl):
            f()
        grouped(tw, sb, p, max_bl)()
    torch.cuda.synchronize()
    bad = sorted({f"grid {i}: {k}" for i, (sa, sb) in enumerate(zip(a, b, strict=True))
                  for k in sa if not torch.equal(sa[k], sb[k])})
    pulses = [int(s["count"].sum()) for s in a]
    print(f"  pulses of one write per grid: {pulses}"
          + (f"; DIFFERENT: {bad}" if bad else " (grouped: the same, bit for bit)"),
          flush=True)
    return not bad


def wide_lines(tw, p, max_bl: int, dev, replays: int) -> None:
    """The grouped writes with ``WIDE_LINES`` off and on, and the write kernel alone."""
    from xbrun.kernels import pulsed_update_cuda as pu

    saved, states = pu.WIDE_LINES, []
    try:
        for on in (False, True):
            pu.WIDE_LINES = on
            s = grids(dev)
            for g in s:
                grouped(tw, g, p, max_bl)()
            states.append(s)
        torch.cuda.synchronize()
        diff = max(float((a["weight"] - b["weight"]).abs().max())
                   for a, b in zip(*states, strict=True))
        same = all(torch.equal(a[k], b[k]) for a, b in zip(*states, strict=True) for k in a
                   if k != "weight")
        print(f"  WIDE_LINES off/on: max |w_on - w_off| {diff:.2e}; every other state "
              f"and count {'the same' if same else 'DIFFERENT'}", flush=True)
        rows = [("write alone", False, 0), ("off", False, max_bl), ("WIDE_LINES", True, max_bl)]
        for name, pu.WIDE_LINES, bl in rows:
            jobs = [[grouped(tw, g, p, bl)] for g in grids(dev)]
            print(f"  grouped, 3 streams, {name:<24} {graph_ms(jobs, 3, replays) * 1000:8.0f}"
                  " us per step", flush=True)
    finally:
        pu.WIDE_LINES = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replays", type=int, default=20)
    parser.add_argument("--cases", default="chopped,bl31")
    parser.add_argument("--wide", action="store_true",
                        help="WIDE_LINES off and on")
    args = parser.parse_args()
    from xbrun.kernels import transfer_write_cuda as tw

    dev = torch.device("cuda")
    print(torch.cuda.get_device_name(), flush=True)
    for case in args.cases.split(","):
        p, max_bl = CASES[case]
        print(f"{case}: 88 tiles' writes of {READS} lines each (3 grids)", flush=True)
        if args.wide:
            wide_lines(tw, p, max_bl, dev, args.replays)
            continue
        same_numbers(tw, p, max_bl, dev)
        s = grids(dev)
        tiles = [[f] for g in s for f in per_tile(tw, g, p, max_bl)]
        groups = [[grouped(tw, g, p, max_bl)] for g in s]
        for name, jobs, streams in (("tile by tile, 1 stream", tiles, 1),
                                    ("tile by tile, 4 streams", tiles, 4),
                                    ("grouped, 1 stream", groups, 1),
                                    ("grouped, 3 streams", groups, 3)):
            ms = graph_ms(jobs, streams, args.replays)
            print(f"  {name:<24} {ms * 1000:8.0f} us per step", flush=True)


if __name__ == "__main__":
    main()
