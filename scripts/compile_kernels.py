"""Compile every Triton launch the kernels' launchers make, for a GPU this machine lacks.

    python scripts/compile_kernels.py [--arch 90] [--walks]

Triton's interpreter (the CPU tests) runs kernels as NumPy: it accepts code that the
compiler refuses (a loop variable whose type changes, a name reused with another type).
This records the launches of the launchers (``kernels/*_cuda.py``) on small CPU problems -
every I/O setting, cell kind, trains length, group, walk and given-bits path they branch on -
without running them, and compiles each distinct one to a cubin for ``sm_<arch>`` (Triton's
own ptxas; no GPU, no driver), checking the forms its PTX must take that the interpreter
cannot show (``ptx_forms.py``: AGAD's means' update, one fused form in every walk) and its
shared memory against the architecture's (which Triton checks only when it loads a kernel on
a GPU). Exit status 1 if any fails. ``--walks``: the transfer writes' launches alone (15 s
warm here).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

os.environ["TRITON_INTERPRET"] = "0"

import torch  # noqa: E402
import triton  # noqa: E402
from ptx_forms import (  # noqa: E402  (scripts/, beside this file)
    COALESCING_BUDGET,
    coalescing_cost,
    means_form,
)
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.compiler import ASTSource  # noqa: E402
from triton.runtime.jit import JITFunction  # noqa: E402

LAUNCHES: list[tuple] = []
# shared memory a block may take (opt-in maximum; Triton refuses a kernel over it at load)
SHARED_BYTES = {80: 166912, 86: 101376, 89: 101376, 90: 232448}
POINTERS = {torch.float32: "*fp32", torch.float64: "*fp64", torch.int32: "*i32",
            torch.int64: "*i64", torch.int8: "*i8", torch.uint8: "*u8", torch.bool: "*i1"}


def _record(self, *args, grid, warmup, **kwargs):
    LAUNCHES.append((self, args, kwargs))


def _signature(fn: JITFunction, args, kwargs) -> tuple[dict, dict]:
    values = dict(zip(fn.arg_names, args, strict=False))
    values.update({k: v for k, v in kwargs.items() if k in fn.arg_names})
    signature, constants = {}, {}
    for param in fn.params:
        value = values.get(param.name, param.default)
        if param.is_constexpr:
            signature[param.name], constants[param.name] = "constexpr", value
        elif isinstance(value, torch.Tensor):
            signature[param.name] = POINTERS[value.dtype]
        elif isinstance(value, bool):
            signature[param.name] = "i1"
        elif isinstance(value, int):
            signature[param.name] = "i32" if -2**31 <= value < 2**31 else "i64"
        else:
            signature[param.name] = "fp32"
    return signature, constants


def _problems():
    """The launchers on small problems: every branch they take on the way to a kernel."""
    from xbrun.kernels import analog_mvm_cuda as am
    from xbrun.kernels import counted_update_cuda as cu
    from xbrun.kernels import line_walk_cuda as lw
    from xbrun.kernels import pulsed_update_cuda as pu

    from xbrun import kernels
    from xbrun.physics.cells import ConstantStep, ExpStep, LinearStep, PowStep, SoftBounds
    from xbrun.physics.io import IOParameters, kernel_params

    gen = torch.Generator().manual_seed(0)
    for io in (IOParameters(), IOParameters(
            inp_noise=0.01, out_sto_round=True, inp_sto_round=True, w_noise=0.02,
            w_noise_type="pcm_read", bound_management="iterative_worst_case"),
            IOParameters(noise_management="abs_max_np_sum", w_noise=0.01,
                         w_noise_type="additive_constant", out_scale=2.0)):
        p = kernel_params(io)
        am.analog_mvm_triton(torch.randn(17, 23), torch.randn(9, 23), p, 5)
        am.analog_mvm_triton(torch.randn(17, 23), torch.randn(9, 23), p, torch.tensor([5]))
        am.analog_mvm_grouped_triton(torch.randn(4, 3, 5), torch.randn(4, 10), p,
                                     torch.arange(4), 2, 0, 5)
    _onehot_reads(am, kernel_params(IOParameters(bound_management="none")))
    _row_block_mvms(am, IOParameters, kernel_params)
    _split_rows(am, IOParameters, kernel_params)
    _noise_kinds(am, IOParameters, kernel_params)
    options = dict(desired_bl=31, fixed_bl=True, update_management=True,
                   update_bl_management=True, um_grad_scale=1.0, res=0.0)
    pu.line_probabilities_triton(torch.randn(8, 12), torch.randn(8, 10), 0.1, 1e-3, **options)
    pu.line_probabilities_grouped_triton(torch.randn(8, 12), torch.randn(8, 10), 2, 6, 5, 0.1,
                                         1e-3, **options)
    pu.line_probabilities_grouped_triton(torch.randn(8, 12), torch.randn(8, 10), 2, 6, 5, 0.1,
                                         1e-3, x_sign=torch.ones(4, 6), d_sign=torch.ones(4, 5),
                                         **options)  # each tile's choppers
    counters = torch.zeros(4, 3, dtype=torch.int64)  # strided: columns of the ledgers
    pu.line_probabilities_grouped_triton(torch.randn(8, 12), torch.randn(8, 10), 2, 6, 5, 0.1,
                                         1e-3, x_sign=torch.ones(4, 6), d_sign=torch.ones(4, 5),
                                         slots=counters[:, 0], calls=counters[:, 1],
                                         rows=counters[:, 2], **options)
    reads = torch.zeros(4, 2, dtype=torch.int64)
    for seeded in (None, torch.arange(4)):  # a group's walks, with its keyed read seeds
        lw.line_walk_grouped_triton(torch.zeros(4, dtype=torch.int64),
                                    torch.zeros(4, dtype=torch.int64), 7, 5, torch.float32,
                                    reads[:, 1], seeded)
    for count in (13, 4):  # runs' entries a block at a time; one run: scalar stores
        lw.line_walk_triton(torch.tensor(3), torch.tensor(0), count, 6, torch.float32,
                            reads[0, 1:], 2**31 - 5)
        lw.line_walk_triton(torch.tensor(3), torch.tensor(0), count, 6)
    saved, lw.ONES_IN_WALK = lw.ONES_IN_WALK, True  # the walk stores the broadcast one
    lw.line_walk_triton(torch.tensor(3), torch.tensor(0), 13, 6, torch.float32, reads[0, 1:],
                        2**31 - 5, line_only=True)
    lw.line_walk_grouped_triton(torch.zeros(4, dtype=torch.int64),
                                torch.zeros(4, dtype=torch.int64), 7, 5, torch.float32,
                                reads[:, 1], torch.arange(4), line_only=True)
    lw.ONES_IN_WALK = saved
    cu.compact_layout(torch.randint(0, 8, (3, 100), dtype=torch.int32), 7)
    for length in (7, 31, 63):  # the counting layout: one-hot lengths of 8, 32, 64
        cu.counting_layout(torch.randint(0, 8, (3, 1100), dtype=torch.int32), length)
    pu.line_probabilities_triton(torch.randn(8, 12), torch.randn(8, 10), 0.1, 1e-3,
                                 **{**options, "res": 0.1, "update_bl_management": False,
                                    "fixed_bl": False})
    cells = (ConstantStep(dw_min=0.01, dw_min_std=0.3), ConstantStep(dw_min=0.01),
             LinearStep(dw_min=0.01, dw_min_std=0.2), SoftBounds(dw_min=0.01, dw_min_std=0.3),
             SoftBounds(dw_min=0.01), ExpStep(dw_min=0.01, dw_min_std=0.3),
             PowStep(dw_min=0.01, dw_min_std=0.1))
    bl = torch.tensor([3, 7, 0, 5, 7], dtype=torch.int32)
    x_prob, d_prob = torch.rand(5, 37) - 0.5, torch.rand(5, 24) - 0.5
    group = [torch.stack([t] * 3) for t in (x_prob, d_prob, bl)]
    for cell in cells:
        params = cell.sample((24, 37), gen)
        bundle = kernels.CellParams(cell.kernel_kind, float(cell.noise_std),
                                    bool(cell.mult_noise), tuple(cell.cell_scalars))
        worn, worn3 = torch.zeros(24, 37, dtype=torch.int32), torch.zeros(3, 24, 37,
                                                                         dtype=torch.int32)
        for max_bl in (7, 40):
            p = kernels.UpdateParams(bundle, max_bl)
            cu.counted_update_triton(torch.zeros(24, 37), params, x_prob, d_prob, bl, p,
                                     seed=torch.tensor([5]), cell_pulses=worn)
            cu.counted_update_grouped_triton(torch.zeros(3, 24, 37), torch.stack([params] * 3),
                                             *group, p, seeds=torch.arange(3), cell_pulses=worn3)
            pu.pulsed_update_triton(torch.zeros(24, 37), params, x_prob, d_prob, bl, p, seed=5,
                                    cell_pulses=worn)
            pu.pulsed_update_triton(torch.zeros(24, 37), params, x_prob, d_prob, bl,
                                    p._replace(sparse_rows=True), seed=torch.tensor([5]))
            pu.pulsed_update_grouped_triton(torch.zeros(3, 24, 37), torch.stack([params] * 3),
                                            *group, p, seeds=torch.arange(3), cell_pulses=worn3)
        p = kernels.UpdateParams(bundle, 31)
        rows = 4096  # few cells, many rows: the rows in chunks
        pu.pulsed_update_triton(torch.zeros(8, 8), cell.sample((8, 8), gen),
                                torch.rand(rows, 8) - 0.5, torch.rand(rows, 8) - 0.5,
                                torch.full((rows,), 31, dtype=torch.int32), p, seed=5,
                                row_chunk=64)
        bits = [(torch.rand(5, 7, n) < 0.3).to(torch.uint8) for n in (37, 24)]
        pu.pulsed_update_triton(torch.zeros(24, 37), params, x_prob, d_prob, bl,
                                kernels.UpdateParams(bundle, 7), seed=5, x_bits=bits[0],
                                d_bits=bits[1])
    constant = ConstantStep(dw_min=0.01, dw_min_std=0.3)
    params = constant.sample((24, 37), gen)
    p = kernels.UpdateParams(kernels.CellParams(constant.kernel_kind, 0.3, True,
                                                tuple(constant.cell_scalars)), 31, True)
    hot = [torch.zeros(5, n) for n in (37, 24)]  # a transfer's one-hot x (columns) or d
    for h in hot:
        h[torch.arange(5), torch.arange(5)] = 0.5
    three = [torch.stack([t] * 3) for t in (hot[0], d_prob, bl)]

    def one_hot_lines(d_side, k=5, x_side=None, columns=True, noise=0.3):
        """A group of 3 tiles' one-hot line writes (``k`` lines, one pass each to 37)."""
        zeros = torch.zeros(3, dtype=torch.int64)
        x_side = three[0].repeat(1, k // 5, 1) if x_side is None else x_side
        pu._one_hot_lines(torch.zeros(3, 24, 37), torch.stack([params] * 3), x_side, d_side,
                          three[2].repeat(1, k // 5), zeros, zeros, 0, None, (zeros, columns),
                          k=k, n_chunks=1, max_len=31, noise_std=noise,
                          seed_mode=pu.SEED_KEYED, offsets=zeros)

    wide = pu.WIDE_LINES
    for pu.WIDE_LINES in (False, True):  # one line a program, or blocks of columns x 8 rows
        for columns, (xp, dp) in ((True, (hot[0], d_prob)), (False, (x_prob, hot[1]))):
            pu.pulsed_update_triton(torch.zeros(24, 37), params, xp, dp, bl, p,
                                    seed=torch.tensor([5]), one_hot=(3, columns))
        one_hot_lines(three[1])
        if pu.WIDE_LINES:  # (transfer_write_cuda.INT8_STEPS)
            one_hot_lines(kernels.pulsed_update_ref.LineSteps(
                torch.zeros(3, 5, 24, dtype=torch.int8), torch.zeros(3, 5)))
    pu.WIDE_LINES = wide
    quad, pu.WIDE_QUAD_BLOCKS = pu.WIDE_QUAD_BLOCKS, True  # (blocks of 16 rows, 4 a thread)
    steps = kernels.pulsed_update_ref.LineSteps(torch.zeros(3, 5, 24, dtype=torch.int8),
                                                torch.zeros(3, 5))
    for d_side in (three[1], steps):  # (with INT8_STEPS' line side too)
        one_hot_lines(d_side)
    pu.WIDE_QUAD_BLOCKS = quad
    sure, pu.SURE_PULSES = pu.SURE_PULSES, True  # (one pass or more, with INT8_STEPS' side)
    for d_side, k in ((three[1], 5), (steps, 5), (three[1].repeat(1, 8, 1), 40)):  # 40 > 37
        one_hot_lines(d_side, k)
    pu.WIDE_QUAD_BLOCKS = True  # (with WIDE_QUAD_BLOCKS' 16 rows)
    for d_side in (three[1], steps):
        one_hot_lines(d_side)
    pu.SURE_PULSES, pu.WIDE_QUAD_BLOCKS = sure, quad
    idle = pu.SKIP_IDLE_LINES
    pu.SKIP_IDLE_LINES = True  # lines without pulses skipped (mixed precision's rows)
    for columns, (xp, dp) in ((True, (hot[0], d_prob)), (False, (x_prob, hot[1]))):
        pu.pulsed_update_triton(torch.zeros(24, 37), params, xp, dp, bl, p,
                                seed=torch.tensor([5]), one_hot=(3, columns))
    one_hot_lines(torch.stack([hot[1]] * 3), x_side=torch.stack([x_prob] * 3), columns=False,
                  noise=0.0)
    pu.SKIP_IDLE_LINES = idle
    saved = pu.SPLIT_MIN_PASSES
    pu.SPLIT_MIN_PASSES = 0  # many passes a line: the draws (row blocks), then the passes
    for columns, (xp, dp) in ((True, (hot[0], d_prob)), (False, (x_prob, hot[1]))):  # (trips)
        pu.pulsed_update_triton(torch.zeros(24, 37), params, xp, dp, bl, p,
                                seed=torch.tensor([5]), one_hot=(3, columns))
    pu.pulsed_update_triton(torch.zeros(24, 37), params, hot[0], d_prob, bl,
                            kernels.UpdateParams(p.cell._replace(noise_std=0.0), 31, True),
                            seed=torch.tensor([5]), one_hot=(torch.tensor(3), True),
                            cell_pulses=torch.zeros(24, 37, dtype=torch.int32))
    pu.SPLIT_MIN_PASSES = saved
    _transfer_writes(kernels)
    cu.signed_bits_triton(x_prob, bl, 7, 64, 7, 0)
    # the drawn counts (bits keyed by row): both error-side modes, the 144-wide program's
    # register cap (16 x 32), every drawn shape of the ResNet, the dense error plane or the
    # error side drawn by each program (ROW_KEYS_DRAWN_ERRORS), 288 x 64 in 64- and 32-wide
    # input blocks (NARROW_DRAWN_BLOCKS)
    for planes in (False, True):
        cu.drawn_counts_triton(x_prob, d_prob, bl, 7, torch.tensor([5]), error_planes=planes)
    cu.drawn_counts_triton(torch.rand(5, 32) - 0.5, torch.rand(5, 16) - 0.5, bl, 7,
                           torch.tensor([5]))
    saved = cu.ROW_KEYS_DRAWN_ERRORS, cu.NARROW_DRAWN_BLOCKS
    for cu.ROW_KEYS_DRAWN_ERRORS in (False, True):  # the dense error plane, or drawn
        for n_in, n_out in ((27, 16), (144, 16), (144, 32), (16, 32), (288, 32), (32, 64),
                            (288, 64)):  # every drawn shape of the ResNet
            cu.drawn_counts_triton(torch.rand(5, n_in) - 0.5, torch.rand(5, n_out) - 0.5, bl,
                                   7, torch.tensor([5]))
        cu.drawn_counts_triton(x_prob, d_prob, bl, 7, 5)
    cu.ROW_KEYS_DRAWN_ERRORS = False
    cu.NARROW_DRAWN_BLOCKS = True  # 288 inputs x 64 outputs: 32 wide
    cu.drawn_counts_triton(torch.rand(5, 288) - 0.5, torch.rand(5, 64) - 0.5, bl, 7,
                           torch.tensor([5]))
    cu.ROW_KEYS_DRAWN_ERRORS, cu.NARROW_DRAWN_BLOCKS = saved
    # a cuBLAS count forced at a drawn shape: the drawn counts' bits and their magnitudes in
    # zeroed planes of lines padded to 32 (the stem's 16 x 27), keyed by row
    cu.line_planes_triton(torch.rand(5, 27) - 0.5, bl, 7, 48, torch.tensor([5]), 0,
                          n_lines=32, with_abs=True, rows4=True, zeroed=True)
    _folded_probabilities(cu, pu, bl)
    _convolution_gathers()
    _out_scales()
    cu.coincidences_triton(torch.zeros(6, 640, dtype=torch.int8),
                           torch.zeros(9, 640, dtype=torch.int8), 6, 9, splits=4,
                           trains=(bl, 5, 7))
    _one_accumulator(cu, kernels, gen)
    from xbrun.kernels import grid_sum_cuda
    for dim in (0, 1):  # a grid pass's partial sums (grouped._grid_sum): wide and narrow
        for width in (512, 392, 10):
            grid_sum_cuda.grid_sum_triton(torch.zeros(3, 2, 4, width), dim)
    from xbrun.kernels import chi_steps_cuda
    for width in (512, 392, 10):  # a mixed-precision grid's chi step (grouped, as one)
        for start in (torch.zeros(6, dtype=torch.int64), None):  # with a write, and without
            chi_steps_cuda.chi_steps_triton(torch.zeros(6, 4, width),
                                            torch.zeros(8, 3 * width), 3, 0.1, 0.01, start)
    i64 = dict(dtype=torch.int64)
    idle = pu.SKIP_IDLE_LINES
    for ubm, long, pu.SKIP_IDLE_LINES in ((True, False, False), (False, False, False),
                                          (False, True, False), (True, False, True)):
        chi_steps_cuda.chi_write_triton(
            torch.zeros(6, 4, 392), torch.zeros(8, 3 * 392), 3, 0.1, 0.01, torch.zeros(6, **i64),
            torch.zeros(6, 4, 392), torch.stack([constant.sample((4, 392), gen)] * 6),
            kernels.TransferWriteParams(False, 0.1, 0.01, 31, long, True, ubm, 1.0), p.cell,
            key=kernels.seeds.KeyedSeed(torch.zeros(6, **i64), torch.zeros(6, **i64)),
            max_bl=31, add_to=torch.zeros(6, **i64), train_slots=torch.zeros(6, **i64),
            calls=torch.zeros(6, **i64))
    pu.SKIP_IDLE_LINES = idle


def _folded_probabilities(cu, pu, bl) -> None:
    """The input side's probabilities made where the drawn counts read them: the train
    kernels writing the input side's gains (one-row and row-block kernels, signs and ``res``
    or not) and the drawn counts making its probabilities from the rows, at every drawn
    shape of the ResNet."""
    from xbrun.kernels.pulsed_update_ref import RowProbabilities

    options = dict(desired_bl=31, fixed_bl=True, update_management=True,
                   update_bl_management=True, um_grad_scale=1.0)
    min_rows = pu.ROW_MIN_ROWS
    for pu.ROW_MIN_ROWS in (1, 1 << 30):  # row blocks, one row a program
        for sign, res in ((None, 0.0), (torch.ones(12), 0.0), (torch.ones(12), 0.1)):
            pu.line_probabilities_triton(torch.randn(8, 12), torch.randn(8, 10), 1.0, 1e-3,
                                         res=res, x_sign=sign, x_gains=True, **options)
    pu.ROW_MIN_ROWS = min_rows
    for n_in, n_out in ((27, 16), (144, 16), (144, 32), (16, 32), (288, 32), (32, 64),
                        (288, 64)):
        for sign, res in ((None, 0.0), (torch.ones(n_in), 0.0), (None, 0.1)):
            folded = RowProbabilities(torch.randn(5, n_in), torch.rand(5), sign, res)
            cu.drawn_counts_triton(folded, torch.rand(5, n_out) - 0.5, bl, 7, torch.tensor([5]))


def _one_accumulator(cu, kernels, gen) -> None:
    """The count in one accumulator (one int32 of net and total, packed counts applied),
    counted and applied apart and in the count's epilogue (16 x 64 blocks), for a closed form
    and a pulse loop, split over K; compact planes of wide and narrow blocks of lines, both
    streams; the 16-byte loads' counts at the 784-4096-4096-10 grids (128 x 128 capped)."""
    from xbrun.physics.cells import ConstantStep, ExpStep

    flat = cu.FUSED_FLAT_MAX_SLOTS
    bl = torch.tensor([3, 7, 0, 5, 7], dtype=torch.int32)
    x_prob, d_prob = torch.rand(5, 37) - 0.5, torch.rand(5, 24) - 0.5
    group = [torch.stack([t] * 3) for t in (x_prob, d_prob, bl)]
    for cell in (ConstantStep(dw_min=0.01, dw_min_std=0.3), ExpStep(dw_min=0.01)):
        params = cell.sample((24, 37), gen)
        p = kernels.UpdateParams(kernels.CellParams(cell.kernel_kind, float(cell.noise_std),
                                                    bool(cell.mult_noise),
                                                    tuple(cell.cell_scalars)), 7)
        worn3 = torch.zeros(3, 24, 37, dtype=torch.int32)
        for cu.FUSED_FLAT_MAX_SLOTS in (0, flat):  # apart, then fused
            cu.counted_update_triton(torch.zeros(24, 37), params, x_prob, d_prob, bl, p,
                                     seed=torch.tensor([5]), method="split_k")
            cu.counted_update_grouped_triton(torch.zeros(3, 24, 37), torch.stack([params] * 3),
                                             *group, p, seeds=torch.arange(3), cell_pulses=worn3)
    cu.FUSED_FLAT_MAX_SLOTS = flat
    cu.coincidences_triton(torch.zeros(6, 640, dtype=torch.int8),
                           torch.zeros(9, 640, dtype=torch.int8), 6, 9, splits=4,
                           trains=(bl, 5, 7), packed=True)
    for stream, n in ((0, 37), (0, 12), (1, 512)):  # wide and narrow blocks of lines
        cu.line_planes_triton(torch.rand(3, 5, n), group[2], 7, 48, torch.arange(3), stream,
                              compact=cu.compact_layout(group[2], 7))
    for packed in (False, True):
        for lines, splits in ((512, 1), (512, 3), (10, 17)):
            cu.coincidences_triton(torch.zeros(2, lines, 640, dtype=torch.int8),
                                   torch.zeros(2, 512, 640, dtype=torch.int8), lines, 512,
                                   splits=splits, ends=torch.tensor([256, 300]), packed=packed)


def _onehot_reads(am, p) -> None:
    """A transfer's one-hot reads as columns: one tile (host and device start), and a
    group's; in blocks of rows x outputs (their scale from the line element) or, for
    ``noise_management=max``, one row a program (from the whole row)."""
    for q in (p, p._replace(nm_kind=am.NM_MAX)):
        am.analog_mvm_triton(torch.randn(17, 23), torch.zeros(9, 23), q, 5, onehot_start=4)
        # the walk's broadcast column of ones (line_walk_cuda, line_only): strides 0
        am.analog_mvm_triton(torch.randn(17, 23), torch.ones(1, 1).expand(9, 23), q,
                             torch.tensor([5]), onehot_start=torch.tensor(4))
        am.analog_mvm_triton(torch.randn(17, 23), torch.zeros(9, 23), q, torch.tensor([5]),
                             onehot_start=torch.tensor(4))
        am.analog_mvm_grouped_triton(torch.randn(3, 17, 23), torch.zeros(9, 69), q,
                                     torch.arange(3), 3, 0, 23, onehot_start=torch.arange(3))


def _row_block_mvms(am, IOParameters, kernel_params) -> None:
    """The MVM of many narrow rows (a convolution's): row-block prologue and epilogue
    (with and without bound management), forward and transposed, one tile and a group."""
    saved, am.ROW_MIN_ROWS = am.ROW_MIN_ROWS, 1
    for io in (IOParameters(), IOParameters(
            inp_noise=0.01, out_sto_round=True, inp_sto_round=True, out_scale=2.0,
            noise_management="max", bound_management="iterative_worst_case")):
        p = kernel_params(io)
        am.analog_mvm_triton(torch.randn(17, 144), torch.randn(9, 144), p, torch.tensor([5]))
        am.analog_mvm_triton(torch.randn(144, 16), torch.randn(9, 16), p, 5)
        am.analog_mvm_grouped_triton(torch.randn(2, 64, 288), torch.randn(9, 576), p,
                                     torch.arange(2), 2, 0, 288)
    am.ROW_MIN_ROWS = saved


def _split_rows(am, IOParameters, kernel_params) -> None:
    """``SPLIT_ROWS``' prologue at the ResNet's forward widths (144 = 128 + 16, 288 = 256 +
    32, 576 = 512 + 64; 48 = 32 + 16), its I/O (a quantized DAC: the rounding by additions)
    and a noisy one (input noise, stochastic rounding, ``max``), one tile and a group; and
    ``SPLIT_OUTPUTS``' epilogue at the backward's outputs (144, 288, 576) without bound
    management: output noise, PCM and additive read noise, stochastic rounding, a scale."""
    saved = am.ROW_MIN_ROWS, am.SPLIT_ROWS, am.SPLIT_OUTPUTS
    am.ROW_MIN_ROWS, am.SPLIT_ROWS, am.SPLIT_OUTPUTS = 1, True, True
    for io in (IOParameters(), IOParameters(
            inp_noise=0.01, inp_sto_round=True, noise_management="max",
            bound_management="iterative_worst_case")):
        p = kernel_params(io)
        for width in (144, 288, 576, 48):
            am.analog_mvm_triton(torch.randn(16, width), torch.randn(9, width), p, 5)
        am.analog_mvm_grouped_triton(torch.randn(2, 64, 288), torch.randn(9, 576), p,
                                     torch.arange(2), 2, 0, 288)
    for io in (IOParameters(bound_management="none"), IOParameters(
            bound_management="none", out_sto_round=True, w_noise=0.02, w_noise_type="pcm_read",
            out_scale=2.0), IOParameters(bound_management="none", w_noise=0.02,
                                         w_noise_type="additive_constant")):
        p = kernel_params(io)
        for out in (144, 288, 576):
            am.analog_mvm_triton(torch.randn(out, 16), torch.randn(9, 16), p, 5)
        am.analog_mvm_grouped_triton(torch.randn(2, 288, 32), torch.randn(9, 64), p,
                                     torch.arange(2), 2, 0, 32)
    am.ROW_MIN_ROWS, am.SPLIT_ROWS, am.SPLIT_OUTPUTS = saved


def _noise_kinds(am, IOParameters, kernel_params) -> None:
    """The MVM's kernels with every kind of normal (input, PCM and additive read, output
    noise), one tile and a group."""
    for io in (IOParameters(inp_noise=0.01, w_noise=0.02, w_noise_type="pcm_read",
                            bound_management="iterative_worst_case"),
               IOParameters(w_noise=0.01, w_noise_type="additive_constant")):
        p = kernel_params(io)
        am.analog_mvm_triton(torch.randn(17, 23), torch.randn(9, 23), p, torch.tensor([5]))
        am.analog_mvm_grouped_triton(torch.randn(4, 3, 5), torch.randn(4, 10), p,
                                     torch.arange(4), 2, 0, 5)


def _out_scales() -> None:
    """The learned output scales' backward (``scales.OutScalesFunction``): per output (narrow
    and wider than a block) and per tile."""
    from xbrun.kernels import out_scales_cuda as os_

    for n_out, scales in ((7, 7), (300, 300), (300, 1)):
        os_.out_scales_backward_triton(torch.randn(5, n_out), torch.randn(5, n_out),
                                       torch.rand(scales))


def _convolution_gathers() -> None:
    """im2col (of channels-last images, copied contiguous) and col2im, in image blocks, and
    col2im over channel tiles."""
    from xbrun.kernels import im2col_cuda as ic
    from xbrun.kernels import inverse_index

    from xbrun.tiles import conv_indices

    index, _ = conv_indices(3, 5, 6, 3, padding=1)
    images = torch.randn(4, 3, 5, 6).contiguous(memory_format=torch.channels_last)
    ic.im2col_triton(images, index)
    ic.col2im_triton(torch.randn(4 * 30, 27), inverse_index(index, 90), 4)
    from xbrun.kernels import channel_form
    for c, side in ((3, 5), (16, 32), (64, 8)):  # the ResNet's tiles' widths
        index, _ = conv_indices(c, side, side, 3, padding=1)
        form = channel_form(inverse_index(index, c * side * side), c)
        ic.col2im_channels_triton(torch.randn(2 * side * side, c * 9), form, 2, c)


def _chopped_write(tw, kernels, p, **extra) -> None:
    """One chopped tile's write of 24-element lines (its flips drawn from the read seeds)."""
    i64 = dict(dtype=torch.int64)
    tw.transfer_write_triton(torch.randn(9, 24), torch.tensor(2), 37, p,
                             buffer=torch.zeros(24, 37), out_sign=torch.ones(24),
                             in_sign=torch.ones(37), chopper=kernels.ChopperParams(0.1),
                             flip_seed=torch.zeros(1, **i64), passes=torch.tensor(3),
                             train_slots=torch.zeros(1, **i64), calls=torch.tensor(0), **extra)


def _agad_group_write(tw, p, agad, state, **extra) -> None:
    """A group of three AGAD tiles' write into ``state`` (its means, given draws)."""
    i64 = dict(dtype=torch.int64)
    tw.transfer_write_triton(torch.randn(3, 9, 24), torch.zeros(3, **i64), 37, p,
                             buffer=state, out_sign=torch.ones(3, 24),
                             in_sign=torch.ones(3, 37), chopper=agad,
                             flip_draws=torch.rand(3, 9), passes=torch.zeros(3, **i64),
                             running_mean=state.clone(), past_mean=state.clone(),
                             switched=torch.zeros(3, 37, dtype=torch.bool),
                             train_slots=torch.zeros(3, **i64), calls=torch.zeros(3, **i64),
                             **extra)


def _transfer_writes(kernels) -> None:
    """A chopped transfer's write preparation: one call (its flips drawn from the read
    seeds) and a group of three (AGAD's means, given draws), one line a program, and the
    split write's three launches (at 24-, 64- and 300-element lines; its one-hot rows whole
    and as broadcast columns), its scan in trips of 16 passes."""
    from xbrun.kernels import transfer_write_cuda as tw

    p = kernels.TransferWriteParams(True, 1e-3, 1e-3, 1, False, False, False, 1.0,
                                    kernels.BufferParams(1.0, 1e-3, 1, 0.0, True, 0.0, False))
    agad = kernels.ChopperParams(flip_prob=0.3, period=3, momentum=0.4, ready_after=4)
    i64 = dict(dtype=torch.int64)
    saved = tw.SPLIT_WRITE_MIN_PASSES
    for tw.SPLIT_WRITE_MIN_PASSES in (1 << 30, 0):  # one line a program, then split
        _chopped_write(tw, kernels, p)
        for state in (torch.zeros(3, 24, 37), torch.zeros(3, 37, 24).transpose(1, 2)):
            # row by row, and line by line (grouped._LINE_STATE: LINE_MAJOR addressing)
            _agad_group_write(tw, p, agad, state)
    for n_len in (64, 300):  # the split scan's one, two and four warps (300: no chopper)
        chop = dict(chopper=kernels.ChopperParams(0.1), flip_seed=torch.zeros(1, **i64),
                    passes=torch.tensor(3)) if n_len == 64 else {}
        tw.transfer_write_triton(torch.randn(9, n_len), torch.tensor(2), 37, p,
                                 buffer=torch.zeros(n_len, 37), out_sign=torch.ones(n_len),
                                 in_sign=torch.ones(37), **chop,
                                 train_slots=torch.zeros(1, **i64), calls=torch.tensor(0),
                                 hot_only=n_len == 64)  # (one-hot rows as broadcast columns)
    # HOT_ONLY_ROWS: the one-line kernel storing each row's one-hot value alone (a tile, and
    # a group of three as a grid's write makes it); INT8_STEPS with it in the group (the line
    # side as int8 values and a gain a row)
    lean_saved = tw.HOT_ONLY_ROWS, tw.INT8_STEPS
    tw.SPLIT_WRITE_MIN_PASSES, tw.HOT_ONLY_ROWS, tw.INT8_STEPS = 1 << 30, True, True
    try:
        _chopped_write(tw, kernels, p, hot_only=True)
        state = torch.zeros(3, 37, 24).transpose(1, 2)
        for int8_steps in (False, True):
            _agad_group_write(tw, p, agad, state, hot_only=True, int8_steps=int8_steps)
    finally:
        tw.HOT_ONLY_ROWS, tw.INT8_STEPS = lean_saved
    tw.SPLIT_WRITE_MIN_PASSES = saved


# switches on since a GPU timed them (2026-12-07 15:00): the problems below were written
# while they were off, each turning its own on for its launches, so they run with these off
# first and both paths stay compiled
_TIMED_ON = (("pulsed_update_cuda", "SKIP_IDLE_LINES"),)


@contextlib.contextmanager
def _switches_off(switches):
    import importlib

    modules = [importlib.import_module(f"xbrun.kernels.{name}") for name, _ in switches]
    saved = [getattr(m, s) for m, (_, s) in zip(modules, switches, strict=True)]
    for m, (_, s) in zip(modules, switches, strict=True):
        setattr(m, s, False)
    try:
        yield
    finally:
        for m, (_, s), v in zip(modules, switches, saved, strict=True):
            setattr(m, s, v)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, default=90, help="compute capability (90: H100)")
    parser.add_argument("--walks", action="store_true",
                        help="only the transfer writes' launches (their means' form checked)")
    args = parser.parse_args()
    target = GPUTarget("cuda", args.arch, 32)
    JITFunction.run = _record
    with _switches_off(_TIMED_ON):
        if args.walks:
            from xbrun import kernels

            _transfer_writes(kernels)
        else:
            _problems()
    seen, failed, slow = set(), 0, []
    for fn, args, kwargs in LAUNCHES:
        signature, constants = _signature(fn, args, kwargs)
        options = {k: v for k, v in kwargs.items()
                   if k in ("num_warps", "num_stages", "enable_fp_fusion", "maxnreg")}
        key = (fn.fn.__qualname__, tuple(signature.items()), tuple(constants.items()),
               tuple(sorted(options.items())))  # (a register cap or fusion: another binary)
        if key in seen:
            continue
        seen.add(key)
        try:
            binary = triton.compile(ASTSource(fn, signature, constants), target=target,
                                    options=options)
            wrong = means_form(signature, constants, binary.asm["ptx"])
            if binary.metadata.shared > SHARED_BYTES.get(target.arch, 1 << 30):
                wrong = f"{binary.metadata.shared} B of shared memory, over sm_{target.arch}'s"
            if wrong:
                raise ValueError(wrong)
            memory, ops, cost = coalescing_cost(binary.asm["ttir"])
            if cost > COALESCING_BUDGET:  # compiles, but for tens of seconds on a GPU's host
                slow.append(f"{fn.fn.__qualname__} {constants}: {memory} tensor loads/stores x "
                            f"{ops} TTIR ops^2 = {cost:.1e} (budget {COALESCING_BUDGET:.0e})")
        except Exception as exc:  # every failure is reported, the rest still compiled
            failed += 1
            print(f"{fn.fn.__qualname__}: {str(exc).strip()[:2000]}\n")
    for line in slow:  # ptx_forms.COALESCING_BUDGET: Triton's coalescing pass, ~M x N^2
        print(f"slow to compile: {line}")
    print(f"{len(seen)} launches compiled for sm_{target.arch}, {failed} failed, "
          f"{len(slow)} over the coalescing budget")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
