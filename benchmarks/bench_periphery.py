"""The MVM periphery and the indexed convolution's gathers at issue 27's ResNet shapes, old
kernels against new, side by side in one process (CUDA only).

    python -m benchmarks.bench_periphery [--repeats 20] [--conv-counts]

Times, per ResNet-20 layer shape at batch 128, the analog MVM (prologue, matmul, epilogue)
of the forward pass (aihwkit's default I/O: bound management on; once more with weights
that make many rows clip) and of the backward pass (bound management off), in the one-row
kernels and in row blocks (``analog_mvm_cuda.ROW_MIN_ROWS``), and ``im2col`` / ``col2im``;
checks that both give the same numbers bit for bit; prints each one's memory floor (bytes
it must move at 3 TB/s). ``--conv-counts``: only the 2026-12-07 convcounts paths
(``conv_count_rows``), each off then on.
"""

from __future__ import annotations

import argparse
from functools import partial

import torch
from xbrun.kernels import (
    analog_mvm_cuda,
    channel_form,
    counted_update_cuda,
    im2col_cuda,
    inverse_index,
    pulsed_update_cuda,
)

from xbrun.physics.io import IOConfig, kernel_params
from xbrun.tiles.indexed import conv_indices

from .cuda_timing import cuda_ms

DEVICE = "cuda"
BANDWIDTH = 3e12  # bytes per second, an H100's HBM3 (a round figure)
# (rows, in, out) of the ResNet-20's layers at batch 128: 32x32, 16x16 and 8x8 images; the
# 576-wide layers of the last stage are two tiles of 288 (mapping.max_input_size = 512)
LAYERS = [("stem", 131072, 27, 16), ("stage1", 131072, 144, 16), ("stage2", 32768, 288, 32),
          ("stage3", 8192, 288, 64)]
# (name, channels, side) of the convolutions' images for im2col / col2im
IMAGES = [("stage1", 16, 32), ("stage2", 32, 16), ("stage3", 64, 8)]


def _each(module, name: str, values, fn, repeats: int):
    """``fn`` under each of ``values`` of the setting ``name``: times and whether the results
    agree; the setting is left as it was."""
    saved, out, times = getattr(module, name), [], []
    try:
        for value in values:
            setattr(module, name, value)
            out.append(fn())
            times.append(cuda_ms(fn, windows=repeats))
    finally:
        setattr(module, name, saved)
    return times, all(torch.equal(out[0], o) for o in out[1:])


def mvm_rows(repeats: int) -> list[str]:
    io = IOConfig()
    lines = []
    for layer, rows, width, n_out in LAYERS:
        gen = torch.Generator(device=DEVICE).manual_seed(0)
        # "clipping": weights 10x larger, so that many rows pass bound management again
        for direction, p, (k_in, k_out), scale in (
                ("forward", io.forward, (width, n_out), 0.05),
                ("clipping", io.forward, (width, n_out), 0.5),
                ("backward", io.backward, (n_out, width), 0.05)):
            params = kernel_params(p)
            w = scale * torch.randn(k_out, k_in, device=DEVICE, generator=gen)
            x = torch.relu(torch.randn(rows, k_in, device=DEVICE, generator=gen))
            (old, new), same = _each(analog_mvm_cuda, "ROW_MIN_ROWS", (rows + 1, 1),
                                     partial(analog_mvm_cuda.analog_mvm_triton, w, x, params, 7),
                                     repeats)
            # x read, v written and read by the matmul; y written, read, out written
            floor = 4 * rows * 3 * (k_in + k_out) / BANDWIDTH * 1e3
            lines.append(f"mvm {layer:7s} {direction:8s} rows {rows:6d} in {k_in:3d} out "
                         f"{k_out:3d}: old {old:.3f} ms, new {new:.3f} ms ({old / new:.2f}x), "
                         f"floor {floor:.3f} ms, equal {same}")
    return lines


def gather_rows(repeats: int, batch: int = 128) -> list[str]:
    lines = []
    for name, c, side in IMAGES:
        index, sizes = conv_indices(c, side, side, 3, padding=1)
        index = index.to(DEVICE)
        inverse = inverse_index(index.cpu(), c * side * side).to(DEVICE)
        images = torch.randn(batch, c, side, side, device=DEVICE)
        rows = torch.randn(batch * index.shape[0], index.shape[1], device=DEVICE)
        gather = cuda_ms(partial(im2col_cuda.im2col_triton, images, index), windows=repeats)
        scatter = cuda_ms(partial(im2col_cuda.col2im_triton, rows, inverse, batch),
                          windows=repeats)
        floor = 4 * rows.numel() / BANDWIDTH * 1e3
        lines.append(f"im2col {name} ({batch}x{c}x{side}x{side}, rows {tuple(rows.shape)}): "
                     f"{gather:.3f} ms; col2im {scatter:.3f} ms; floor (rows once) "
                     f"{floor:.3f} ms")
    return lines


def _flat(fn):
    """``fn()``'s tensors as one float vector (to compare two runs)."""
    return torch.cat([t.flatten().float() for t in fn()])


def _head(fn, end):
    """``fn()``'s planes up to ``end`` (compact planes: nothing is written past it)."""
    return fn()[0][:, :end]


def _planes_counts(x_p, d_p, bl, compact, n_out, n_in):
    """The counts through the planes: both sides' compact planes, then the split-K kernel."""
    ld = x_p.shape[0] * 31
    xt = counted_update_cuda.line_planes_triton(x_p, bl, 31, ld, 5, 0, compact=compact)[0]
    dt = counted_update_cuda.line_planes_triton(d_p, bl, 31, ld, 5, 1, compact=compact)[0]
    return counted_update_cuda.coincidences_triton(dt, xt, n_out, n_in, ends=compact[1][-1:])


def _pair(fns, repeats: int):
    """Ways to the same tensors: their times and whether they all agree."""
    out = [torch.stack(list(fn())) for fn in fns]
    times = [cuda_ms(fn, windows=repeats) for fn in fns]
    return times, all(torch.equal(out[0], o) for o in out[1:])


def update_rows(repeats: int) -> list[str]:
    """The update's line probabilities (row blocks off / on) and its error planes at each
    layer shape (BL management, desired_bl 31, lr 0.1, dw_min 0.001)."""
    lines = []
    for layer, rows, width, n_out in LAYERS:
        gen = torch.Generator(device=DEVICE).manual_seed(1)
        x = torch.relu(torch.randn(rows, width, device=DEVICE, generator=gen))
        d = 1e-3 * torch.randn(rows, n_out, device=DEVICE, generator=gen)
        opts = dict(desired_bl=31, fixed_bl=False, update_management=True,
                    update_bl_management=True, um_grad_scale=1.0, res=0.0)
        fn = partial(pulsed_update_cuda.line_probabilities_triton, x, d, 0.1, 1e-3, **opts)
        (old, new), same = _each(pulsed_update_cuda, "ROW_MIN_ROWS", (1 << 30, 1),
                                 partial(_flat, fn), repeats)
        floor = 4 * rows * 2 * (width + n_out) / BANDWIDTH * 1e3
        x_p, d_p, bl = fn()
        compact = counted_update_cuda.compact_layout(bl, 31)
        ld = rows * 31
        plane = partial(counted_update_cuda.line_planes_triton, d_p, bl, 31, ld, 5, 1,
                        compact=compact)
        end = int(compact[1][-1])
        new_p = cuda_ms(partial(_head, plane, end), windows=repeats)
        drawn = partial(counted_update_cuda.drawn_counts_triton, x_p, d_p, bl, 31, 5)
        counts = (partial(_planes_counts, x_p, d_p, bl, compact, n_out, width),
                  partial(drawn, error_planes=True), partial(drawn, error_planes=False))
        (old_c, new_c, all_c), same_c = _pair(counts, repeats)
        lines.append(f"update {layer:7s} counts: planes + split-K {old_c:.3f} ms, drawn "
                     f"{new_c:.3f} ms ({old_c / new_c:.2f}x; the error side drawn by every "
                     f"program: {all_c:.3f} ms), equal {same_c}")
        lines.append(f"update {layer:7s} rows {rows:6d} in {width:3d} out {n_out:3d}: line "
                     f"probabilities old {old:.3f} ms, new {new:.3f} ms ({old / new:.2f}x), "
                     f"floor {floor:.3f} ms, equal {same}; d planes ({n_out} lines, mean "
                     f"train {end / rows:.2f}) {new_p:.3f} ms")
    return lines


def conv_count_rows(repeats: int, batch: int = 128) -> list[str]:
    """The convcounts paths at the ResNet's shapes (2026-12-07): a convolution's compact
    layout by torch's sort and by counting (``counting_layout``), the drawn counts (in
    ``DRAWN_WAVES``' parts, the 144-wide programs' registers capped; trains of 1, as BL
    management gives the bench run), col2im over images (no form) and over channel tiles
    (with a ``channel_form``)."""
    cu, lines = counted_update_cuda, []
    for layer, rows, width, n_out in LAYERS:
        gen = torch.Generator(device=DEVICE).manual_seed(2)
        bl = torch.ones(rows, dtype=torch.int32, device=DEVICE)
        x_p = torch.rand(rows, width, device=DEVICE, generator=gen) - 0.5
        d_p = 0.2 * (torch.rand(rows, n_out, device=DEVICE, generator=gen) - 0.5)
        (old_l, new_l), same_l = _pair((partial(cu.compact_layout_torch, bl, 31),
                                        partial(cu.compact_layout, bl, 31)), repeats)
        drawn = cuda_ms(partial(cu.drawn_counts_triton, x_p, d_p, bl, 31, 5), windows=repeats)
        lines.append(f"conv {layer:7s} rows {rows:6d} in {width:3d} out {n_out:3d}: layout "
                     f"sort {old_l:.3f} ms, counted {new_l:.3f} ms, equal {same_l}; drawn "
                     f"counts {drawn:.3f} ms")
    for name, c, side in IMAGES:
        index, _ = conv_indices(c, side, side, 3, padding=1)
        inverse = inverse_index(index, c * side * side)
        form = channel_form(inverse, c)
        form = ((form[0].to(DEVICE), *form[1:]), c)
        rows = torch.randn(batch * index.shape[0], index.shape[1], device=DEVICE)
        fn = partial(im2col_cuda.col2im_triton, rows, inverse.to(DEVICE), batch)
        (old, new), same = _pair((fn, partial(fn, form=form)), repeats)
        floor = 4 * (rows.numel() + batch * c * side * side) / BANDWIDTH * 1e3
        lines.append(f"conv {name} col2im ({batch}x{c}x{side}x{side}): images "
                     f"{old:.3f} ms, channel tiles {new:.3f} ms ({old / new:.2f}x), floor "
                     f"{floor:.3f} ms, equal {same}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--elements", default=str(analog_mvm_cuda.ROW_ELEMENTS),
                        help="ROW_ELEMENTS of the new MVM kernels, one pass each (e.g. "
                             "1024,2048,4096)")
    parser.add_argument("--no-gathers", action="store_true",
                        help="skip im2col / col2im and the update's kernels")
    parser.add_argument("--conv-counts", action="store_true",
                        help="only the convcounts paths (layout, drawn counts, col2im)")
    args = parser.parse_args()
    print(torch.cuda.get_device_name())
    if args.conv_counts:
        for line in conv_count_rows(args.repeats):
            print(line, flush=True)
        return
    for elements in (int(e) for e in args.elements.split(",")):
        analog_mvm_cuda.ROW_ELEMENTS = elements
        print(f"ROW_ELEMENTS {elements}")
        for line in mvm_rows(args.repeats):
            print(line, flush=True)
    if not args.no_gathers:
        for line in [*gather_rows(args.repeats), *update_rows(args.repeats)]:
            print(line, flush=True)


if __name__ == "__main__":
    main()
