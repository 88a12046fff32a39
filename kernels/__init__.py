"""Pure compute for xbrun: Triton kernels and their plain-PyTorch reference twins.

Nothing here reads a config. Each operation has a ``*_torch`` reference that defines
its meaning and, where it pays, a Triton kernel used on CUDA and a numba kernel used on the
CPU (where none is written yet, the twin is the CPU path).
Modules are named by operation and backend: ``<op>_ref.py`` (the torch twin),
``<op>_cuda.py`` (Triton) and ``<op>_cpu.py`` (numba); the functions they hold end in
``_torch``, ``_triton`` and ``_numba``, so no module shares a name with a function. Triton is
imported only when a CUDA kernel is first launched, so importing this package (and
everything above it) works without Triton and before ``TRITON_INTERPRET`` is set; numba
likewise is imported when a CPU kernel first runs (the GPU machine has none).

The front door: the functions below are the operations; ``backends.py`` holds the registry
of their implementations and the one predicate that picks one per call, ``layout.py`` the
numbers kernels and physics share (cell kinds, parameter rows, floors), ``seeds.py`` every
seed derivation, ``params.py`` the parameter bundle each operation's backends all take.
"""

import os

import torch

from . import backends, layout, seeds
from .analog_mvm_ref import (
    MVMParams,
    analog_mvm_grouped_torch,
    analog_mvm_torch,
)
from .auto_scale_ref import auto_scale_torch
from .chi_steps_ref import chi_steps_torch, chi_write_torch
from .chopped_weight_ref import chopped_weight_torch
from .counted_update_ref import counted_update_grouped_torch, counted_update_torch
from .grid_sum_ref import grid_sum_torch
from .im2col_ref import (
    channel_form,
    col2im_torch,
    im2col_torch,
    inverse_index,
)
from .layout import *  # noqa: F403 (the layout's names: cell kinds, rows, floors)
from .line_walk_ref import line_walk_grouped_torch, line_walk_torch
from .line_write_ref import line_write_torch
from .noisy_reads_ref import noisy_reads_torch
from .out_scales_ref import out_scales_backward_torch
from .params import (
    BufferParams,
    CellParams,
    ChopperParams,
    LineWriteParams,
    TransferWriteParams,
    UpdateParams,
)
from .pulsed_update_ref import (
    discretize_torch,
    explicit_trains_torch,
    line_probabilities_grouped_torch,
    line_probabilities_torch,
    long_train,
    long_train_length,
    materialized,
    pulsed_update_grouped_torch,
    pulsed_update_torch,
    single_pulse_torch,
    table_factor,
    train_gains_torch,
)
from .transfer_buffer_ref import transfer_buffer_torch
from .transfer_write_ref import (
    line_numbers,
    transfer_lines_grouped_torch,
    transfer_lines_torch,
    transfer_write_torch,
)

# The registry: each operation's twin and, where written, its numba and Triton kernels and
# the dtypes they take; ``backends.choose`` is the one predicate that picks between them.
_register = backends.register
_register("pulsed_update", pulsed_update_torch, numba=".pulsed_update_cpu:pulsed_update_numba",
          triton=".pulsed_update_cuda:pulsed_update_triton", numba_float32=False)
_register("counted_update", counted_update_torch,
          numba=".counted_update_cpu:counted_update_numba",
          triton=".counted_update_cuda:counted_update_triton")
_register("pulsed_update_grouped", pulsed_update_grouped_torch,
          numba=".pulsed_update_cpu:pulsed_update_grouped_numba",
          triton=".pulsed_update_cuda:pulsed_update_grouped_triton")
_register("counted_update_grouped", counted_update_grouped_torch,
          numba=".counted_update_cpu:counted_update_grouped_numba",
          triton=".counted_update_cuda:counted_update_grouped_triton")
_register("analog_mvm", analog_mvm_torch, numba=".analog_mvm_cpu:analog_mvm_numba",
          triton=".analog_mvm_cuda:analog_mvm_triton")
_register("analog_mvm_grouped", analog_mvm_grouped_torch,
          numba=".analog_mvm_cpu:analog_mvm_grouped_numba",
          triton=".analog_mvm_cuda:analog_mvm_grouped_triton")
_register("line_probabilities", line_probabilities_torch,
          numba=".pulsed_update_cpu:line_probabilities_numba",
          triton=".pulsed_update_cuda:line_probabilities_triton", numba_float32=False,
          triton_float32=True)
_register("line_probabilities_grouped", line_probabilities_grouped_torch,
          numba=".pulsed_update_cpu:line_probabilities_grouped_numba",
          triton=".pulsed_update_cuda:line_probabilities_grouped_triton", numba_float32=False,
          triton_float32=True)
_register("explicit_trains", explicit_trains_torch,
          numba=".pulsed_update_cpu:explicit_trains_numba", numba_float32=False)
_register("reduce_to_weight", chopped_weight_torch,
          triton=".chopped_weight_cuda:chopped_weight_triton")
_register("chi_steps", chi_steps_torch, triton=".chi_steps_cuda:chi_steps_triton",
          triton_float32=True)
_register("chi_write", chi_write_torch, triton=".chi_steps_cuda:chi_write_triton",
          triton_float32=True)
_register("grid_sum", grid_sum_torch, triton=".grid_sum_cuda:grid_sum_triton",
          triton_float32=True)
_register("out_scales_backward", out_scales_backward_torch,
          triton=".out_scales_cuda:out_scales_backward_triton", triton_float32=True)
_register("im2col", im2col_torch, numba=".im2col_cpu:im2col_numba",
          triton=".im2col_cuda:im2col_triton", triton_float32=True)
_register("col2im", col2im_torch, numba=".im2col_cpu:col2im_numba",
          triton=".im2col_cuda:col2im_triton", triton_float32=True)
_register("update_auto_scale", auto_scale_torch, numba=".auto_scale_cpu:auto_scale_numba",
          triton=".auto_scale_cuda:auto_scale_triton")
_register("accumulate_transfer_buffer", transfer_buffer_torch,
          numba=".transfer_buffer_cpu:transfer_buffer_numba",
          triton=".transfer_buffer_cuda:transfer_buffer_triton")
_register("transfer_write", transfer_write_torch,
          triton=".transfer_write_cuda:transfer_write_triton")
_register("transfer_lines", transfer_lines_torch,
          numba=".transfer_write_cpu:transfer_lines_numba",
          triton=".transfer_write_cuda:transfer_lines_triton")
_register("transfer_lines_grouped", transfer_lines_grouped_torch,
          triton=".transfer_write_cuda:transfer_lines_grouped_triton")
_register("line_write", line_write_torch, numba=".line_write_cpu:line_write_numba")
_register("noisy_reads", noisy_reads_torch, numba=".noisy_reads_cpu:noisy_reads_numba")
_register("line_walk", line_walk_torch, triton=".line_walk_cuda:line_walk_triton")
_register("line_walk_grouped", line_walk_grouped_torch,
          triton=".line_walk_cuda:line_walk_grouped_triton")


def pulsed_update(weight, cell_params, x_prob, d_prob, bl, p, *, generator=None, seed=None,
                  x_bits=None, d_bits=None, threads=None, cell_pulses=None, add_to=None):
    """Apply pulse trains to ``weight`` in place: Triton on CUDA, numba on the CPU.

    ``p``: the cell and launch hints (``UpdateParams``). Both kernels take their random
    numbers from ``seed``: an int or, on CUDA, a one-element integer tensor on the device
    (what a CUDA graph replays); left out, one is drawn from ``generator`` (on CUDA that
    waits for the device). ``pulsed_update_torch`` defines what they compute (and runs
    where numba is missing). ``threads``: CPU threads (default torch's). ``cell_pulses``:
    an optional int32 ``(out, in)`` counter on ``weight.device`` that each element's pulses
    are added to in the kernel (the wear ledger; no host sync). Returns the number of
    device pulses applied (an int tensor on ``weight.device``), or ``add_to`` (a 0-dim
    int64 tensor: a running count) with them added in place (by the kernels on CUDA).
    """
    return _update("pulsed_update", weight, cell_params, x_prob, d_prob, bl, p, generator,
                   seed, threads, add_to, x_bits=x_bits, d_bits=d_bits,
                   cell_pulses=cell_pulses)


def bind_trains_update(weight, cell_params, p, lr, granularity, *, cell_pulses=None,
                       **options):
    """:func:`line_probabilities` of the rows, then :func:`pulsed_update` of ``weight`` with
    those trains, on the CPU with numba, their arguments made once
    (``pulsed_update_cpu.bind_trains_update``; ``options`` are ``line_probabilities``'
    ``desired_bl`` ... ``sto_round``): ``run(x_rows, d_rows, trains_seed, seed)`` ->
    ``(pulses, slots)`` as ints, or None for rows it does not take. None where those calls
    would not both run numba (or would convert the weight per call)."""
    if (backends.choose("pulsed_update", weight) != backends.NUMBA
            or backends.choose("line_probabilities", weight) != backends.NUMBA):
        return None
    from .pulsed_update_cpu import bind_trains_update as bind  # numba: imported on use

    return bind(weight, cell_params, p, lr, granularity, cell_pulses=cell_pulses, **options)


def counted_update(weight, cell_params, x_prob, d_prob, bl, p, *, generator=None, seed=None,
                   x_bits=None, d_bits=None, cell_pulses=None, add_to=None):
    """The batch-counted update (``counted_update_ref``: the same trains as
    ``pulsed_update``, each element's pulses counted over the batch and applied at once)
    of ``weight`` in place: Triton on CUDA, numba on the CPU (float32), the twin otherwise.
    ``p.max_bl``: a host bound of ``bl``; ``seed`` and ``cell_pulses`` (the per-element
    counter) as ``pulsed_update``'s. Returns the pulses applied (an int tensor on
    ``weight.device``), or ``add_to`` with them added."""
    return _update("counted_update", weight, cell_params, x_prob, d_prob, bl, p, generator,
                   seed, None, add_to, x_bits=x_bits, d_bits=d_bits, cell_pulses=cell_pulses)


def update_grouped(accumulate, weights, cell_params, x_prob, d_prob, bl, p, *, seeds,
                   generators=None, cell_pulses=None, add_to=None):
    """The updates of a group of equal tiles in either order (``accumulate``: ``"sample"``,
    ``pulsed_update_grouped_torch``; ``"batch"``, ``counted_update_grouped_torch``):
    ``weights`` ``(tiles, out, in)``, ``cell_params`` ``(tiles, P, out, in)``, trains
    ``(tiles, k, .)``, ``(tiles, k)``, ``cell_pulses`` like ``weights`` or None. On CUDA the
    launches of one tile for all (``seeds``: ``(tiles,)`` int64 on the device); numba per
    tile with ``seeds`` on the CPU; the twin draws from ``generators`` (one per tile).
    Returns the pulses per tile ``(tiles,)`` int64, or ``add_to`` (the tiles' running
    counts, ``(tiles,)`` int64) with them added (by the apply kernel of Triton's counted
    update, no launch of its own; else one add)."""
    name = "pulsed_update_grouped" if accumulate == "sample" else "counted_update_grouped"
    backend, run = backends.pick(name, weights)
    if backend == backends.TORCH:
        pulses = run(weights, cell_params, x_prob, d_prob, bl, p, generators=generators,
                     cell_pulses=cell_pulses)
        return pulses if add_to is None else add_to.add_(pulses)
    if backend == backends.NUMBA:
        seeds = [int(s) for s in seeds.tolist()]
    if add_to is not None and backend == backends.TRITON and accumulate != "sample":
        return run(weights, cell_params, x_prob, d_prob, bl, p, seeds=seeds,
                   cell_pulses=cell_pulses, add_to=add_to)
    pulses = run(weights, cell_params, x_prob, d_prob, bl, p, seeds=seeds,
                 cell_pulses=cell_pulses)
    return pulses if add_to is None else add_to.add_(pulses)


def _update(name, weight, cell_params, x_prob, d_prob, bl, p, generator, seed, threads,
            add_to, **tensors):
    """Both update orders: the twin draws from ``generator``, a kernel from ``seed``;
    ``add_to`` takes the pulses (in the Triton kernels - the pulsed update's, the counted
    update's apply -, else one add)."""
    backend, run = backends.pick(name, weight)
    if backend != backends.TRITON or name != "counted_update":
        x_prob = materialized(x_prob)  # only Triton's drawn counts take a RowProbabilities
    if backend == backends.TORCH:
        pulses = run(weight, cell_params, x_prob, d_prob, bl, p, generator=generator,
                     **tensors)
        return pulses if add_to is None else add_to.add_(pulses)
    if seed is None:
        seed = seeds.draw_kernel_seed(generator, weight.device)
    if threads is not None and backend == backends.NUMBA:
        tensors["threads"] = threads
    if isinstance(seed, seeds.KeyedSeed) and name != "pulsed_update":
        seed = seed.tensor()  # only the pulsed-update kernels derive it themselves
    if add_to is not None and backend == backends.TRITON:
        tensors["add_to"] = add_to
        add_to = None  # the kernels add to it (the apply kernel's atomics: one count)
    pulses = run(weight, cell_params, x_prob, d_prob, bl, p, seed=seed, **tensors)
    return pulses if add_to is None else add_to.add_(pulses)


def analog_mvm(weight, x, params, seed, onehot_start=None, vectors=None):
    """``x @ weight.T`` through the analog periphery ``params`` (``MVMParams``), its noise
    keyed by ``seed`` (an int, or on CUDA also a one-element int64 device tensor); Triton on
    CUDA, numba on the CPU (float32), the torch twin otherwise. ``onehot_start``: row ``b``
    of ``x`` is zero but at column ``(start + b) % width`` (a transfer's reads; an int or a
    0-dim device tensor), which Triton reads from ``weight`` instead of multiplying (the
    same result; numba finds such rows itself, the twin multiplies). ``vectors``: a
    one-element int64 count (a tile's MVM vectors) the rows are added to (on CUDA by the
    prologue kernel, no launch of its own)."""
    backend, run = backends.pick("analog_mvm", x, weight)
    if backend == backends.TRITON:
        return run(weight, x, params, seed, onehot_start=onehot_start, vectors=vectors)
    if vectors is not None:
        vectors.add_(x.shape[0])
    if backend == backends.NUMBA:
        return run(weight, x, params, int(seed))
    return run(weight, x, params, seed=int(seed))


def bind_onehot_reads(weight, params):
    """:func:`analog_mvm` of a transfer's one-hot reads on the CPU with numba, its arguments
    made once (``analog_mvm_cpu.bind_onehot_reads``): ``read(start, count, seed)``, the same
    numbers as ``analog_mvm(weight, onehot, params, seed)`` where row ``b`` of ``onehot`` is
    one at column ``(start + b) % width``. None where that call would not run numba's
    gather (then the caller makes the one-hot rows and calls it)."""
    if backends.choose("analog_mvm", weight) != backends.NUMBA:
        return None
    from .analog_mvm_cpu import bind_onehot_reads as bind  # numba: imported on use

    return bind(weight, params)


def analog_mvm_grouped(weights, x, params, seeds, n_cols, step_i, step_j, onehot_start=None):
    """The analog MVMs of a group of equal tiles (``analog_mvm_grouped_torch``): tile ``g``
    of ``weights`` ``(tiles, out, width)`` reads its block of ``x``'s columns, its noise
    keyed by ``seeds[g]`` (an int64 tensor, on the device on CUDA). One set of launches for
    all on CUDA (Triton); each tile's own kernel on the CPU. Returns ``(tiles, N, out)``.
    ``onehot_start``: ``(tiles,)``, tile ``g``'s rows one-hot from that column of its block
    on (a transfer's reads): Triton may read those columns instead (the same numbers)."""
    backend, run = backends.pick("analog_mvm_grouped", x, weights)
    if backend != backends.TRITON:
        return run(weights, x, params, [int(s) for s in seeds.tolist()], n_cols, step_i,
                   step_j)
    return run(weights, x, params, seeds, n_cols, step_i, step_j, onehot_start=onehot_start)


def line_probabilities_grouped(x_rows, d_rows, n_cols, n_in, n_out, lr, granularity, *,
                               desired_bl, fixed_bl, update_management, update_bl_management,
                               um_grad_scale, res, x_sign=None, d_sign=None, slots=None,
                               calls=None, rows=None):
    """:func:`line_probabilities` of every tile of a grid at once
    (``line_probabilities_grouped_torch``; deterministic rounding only): ``(tiles, k,
    n_in)``, ``(tiles, k, n_out)``, ``(tiles, k)``. ``x_sign``, ``d_sign``: the lines'
    signs, as wide as the rows or one row per tile (``(tiles, n_in)``, ``(tiles, n_out)``:
    each tile's choppers). ``slots``, ``calls``, ``rows``: ``(tiles,)`` counters (any
    stride), each tile's advanced with its trains (on CUDA in the same launch)."""
    backend, run = backends.pick("line_probabilities_grouped", x_rows, d_rows)
    signs = {key: v for key, v in (("x_sign", x_sign), ("d_sign", d_sign), ("slots", slots),
                                   ("calls", calls), ("rows", rows)) if v is not None}
    return run(x_rows, d_rows, n_cols, n_in, n_out, lr, granularity, desired_bl=desired_bl,
               fixed_bl=fixed_bl, update_management=update_management,
               update_bl_management=update_bl_management, um_grad_scale=um_grad_scale,
               res=res, sto_round=False, **signs)


def folds_input_probabilities(weight, k: int) -> bool:
    """Whether ``counted_update`` of ``weight`` (a tile, ``k`` rows) makes the input side's
    probabilities where it counts them (the drawn counts, ``counted_update_cuda``): its
    trains then come from ``line_probabilities(x_gains=True)``."""
    if backends.choose("counted_update", weight) != backends.TRITON:
        return False
    from .counted_update_cuda import folds_input_probabilities as folds  # Triton: on use

    return folds(weight.shape[0], weight.shape[1], k, weight.device)


def line_probabilities(x_rows, d_rows, lr, granularity, *, desired_bl, fixed_bl,
                       update_management, update_bl_management, um_grad_scale, res,
                       sto_round, generator=None, slots=None, calls=None, x_sign=None,
                       d_sign=None, rows=None, x_gains=False):
    """The stochastic pulse trains' line probabilities and lengths
    (``line_probabilities_torch``): numba on the CPU; on CUDA one Triton launch for float32
    rows, the twin for stochastic rounding (it draws from ``generator``) or other dtypes.
    ``slots``, ``calls``: an array's counters, ``rows``: a tile's count of rank-1 updates,
    advanced with the trains (``pulsed_update_ref.advance_counters``; on CUDA in the same
    launch); ``x_sign``, ``d_sign``: +-1 per line the rows are multiplied by (a chopped
    array's choppers). ``x_gains`` (``folds_input_probabilities``): on Triton the input
    side as a ``RowProbabilities`` (no ``(k, in)`` probabilities written); elsewhere
    ignored."""
    options = dict(desired_bl=desired_bl, fixed_bl=fixed_bl,
                   update_management=update_management,
                   update_bl_management=update_bl_management, um_grad_scale=um_grad_scale,
                   res=res, sto_round=sto_round, slots=slots, calls=calls, x_sign=x_sign,
                   d_sign=d_sign, rows=rows)
    rounding = sto_round and res > 0
    backend, run = backends.pick("line_probabilities", x_rows, d_rows, triton=not rounding)
    if backend == backends.NUMBA:
        seed = seeds.draw_kernel_seed(generator, x_rows.device) if rounding else 0
        return run(x_rows, d_rows, lr, granularity, seed=seed, **options)
    if backend == backends.TORCH:
        return run(x_rows, d_rows, lr, granularity, generator=generator, **options)
    if x_gains and backend == backends.TRITON:
        options["x_gains"] = True
    return run(x_rows, d_rows, lr, granularity, **options)


def explicit_trains(a, c, factor):
    """Explicit 0/1 trains of the deterministic pulse types (``explicit_trains_torch``):
    numba on the CPU, the twin on CUDA."""
    return backends.pick("explicit_trains", a)[1](a, c, factor)


def reduce_to_weight(fast, slow, row_sign, col_sign, gamma_fast, gamma_slow):
    """Chopper-corrected visible weight of a transfer device (``chopped_weight_ref``);
    Triton on CUDA, the torch twin elsewhere."""
    run = backends.pick("reduce_to_weight", fast)[1]
    return run(fast, slow, row_sign, col_sign, gamma_fast, gamma_slow)


def chi_steps(chi, inc, n_cols, lr, granularity, start=None):
    """Mixed precision's digital step for a grid of tiles (``chi_steps_ref``): every tile's
    chi plus its block of the layer's increment ``inc`` times ``lr``; with ``start`` (the
    walk's first lines, ``(tiles,)``) the whole steps taken out and returned as the write's
    amounts. One Triton launch on CUDA (float32), the twin elsewhere."""
    return backends.pick("chi_steps", chi, inc)[1](chi, inc, n_cols, lr, granularity, start)


def chi_write(chi, inc, n_cols, lr, granularity, start, weights, cell_params, p, cell, *,
              generators, key=None, max_bl=None, add_to=None, train_slots=None, calls=None,
              cell_pulses=None):
    """:func:`chi_steps` with a write and the grid's row writes of its amounts
    (:func:`transfer_lines_grouped`, constant steps, no buffer) at once (``chi_steps_ref``):
    on CUDA two launches (``chi_write_triton``: the amounts never stored; ``key``,
    ``max_bl``, ``calls`` as there), the twin's pair elsewhere (``generators``). Returns the
    pulses per tile, or ``add_to`` with them added."""
    backend, run = backends.pick("chi_write", chi, inc, weights)
    if backend == backends.TRITON:
        return run(chi, inc, n_cols, lr, granularity, start, weights, cell_params, p, cell,
                   key=key, max_bl=max_bl, add_to=add_to, train_slots=train_slots,
                   calls=calls, cell_pulses=cell_pulses)
    return run(chi, inc, n_cols, lr, granularity, start, weights, cell_params, p, cell,
               generators=generators, add_to=add_to, train_slots=train_slots, calls=calls,
               cell_pulses=cell_pulses)


def grid_sum(parts, dim):
    """A tile grid's partial sums (``grid_sum_ref``): ``parts`` ``(rows, columns, N, W)``
    summed in order over ``dim``, joined into ``[N, kept * W]``; one Triton launch on CUDA
    (float32), the twin's adds and copy elsewhere."""
    return backends.pick("grid_sum", parts)[1](parts, dim)


def out_scales_backward(d, y, beta):
    """The learned output scales' backward (``out_scales_ref``): ``(d * beta, sum of
    d * y)``; one Triton launch on CUDA (float32), the twin elsewhere."""
    return backends.pick("out_scales_backward", d, y, beta)[1](d, y, beta)


def im2col(images, index):
    """A convolution's patch rows ``[N * L, K]`` gathered from ``images`` by ``index[L, K]``
    (``im2col_ref``): Triton on CUDA (float32), numba on the CPU (float32), else the twin."""
    return backends.pick("im2col", images)[1](images, index)


def col2im(rows, inverse, n, *, form=None):
    """The adjoint of :func:`im2col`: ``[n, size]`` sums over ``inverse`` (``im2col_ref``),
    in col2im's order; Triton on CUDA, numba on the CPU (float32), else the twin.
    ``form``: ``(channel_form(inverse, channels), channels)`` where the index has one (a
    convolution's): Triton then gathers a block of pixels of every channel a program
    (``im2col_cuda.col2im_channels_triton``); the same numbers."""
    backend, run = backends.pick("col2im", rows)
    if form is not None and backend == backends.TRITON:
        return run(rows, inverse, n, form=form)
    return run(rows, inverse, n)


def update_auto_scale(x_rows, d_rows, m_x, m_d, *, tau):
    """``auto_scale``'s running maxima of the rows' largest |x| and |d| (``auto_scale_ref``),
    updated in place in the 0-dim float64 ``m_x``, ``m_d``: Triton on CUDA (no host sync),
    numba on the CPU (float32 rows), the twin otherwise."""
    return backends.pick("update_auto_scale", x_rows, d_rows)[1](x_rows, d_rows, m_x, m_d,
                                                                  tau=tau)


def accumulate_transfer_buffer(buffer, reads, index, out_sign, in_sign, p):
    """Buffered transfer step (``transfer_buffer_ref``; ``p``: its ``BufferParams``):
    update H in place, return the whole steps to write; Triton on CUDA, numba on the CPU
    (float32), else the twin."""
    run = backends.pick("accumulate_transfer_buffer", buffer)[1]
    return run(buffer, reads, index, out_sign, in_sign, p)


def transfer_write(reads, start, width, p, **buffer):
    """Pulse trains of a transfer's write from its reads (``p``: ``TransferWriteParams``),
    through the buffer when one is given (``buffer``, ``out_sign``, ``in_sign``:
    ``transfer_write_ref``); Triton on CUDA (one launch), the torch twin elsewhere."""
    return backends.pick("transfer_write", reads)[1](reads, start, width, p, **buffer)


def transfer_lines(weight, cell_params, reads, start, p, cell, *, generator=None, seed=None,
                   max_bl=None, line_mask=None, cell_pulses=None, train_slots=None,
                   calls=None, add_to=None, **buffer):
    """A transfer's whole write of lines ``start..`` of ``weight`` from their reads
    (``transfer_write_ref.transfer_lines_torch``; ``p``: ``TransferWriteParams``, ``cell``:
    ``CellParams``, ``buffer``: the buffer tensors); returns the pulses applied. On CUDA two
    launches (``transfer_lines_triton``: the trains, then the pulsed-update kernel with
    ``seed`` and ``max_bl`` from the host), numba on the CPU (one call, seeded from
    ``generator``; a host ``start``, no ``line_mask``), the twin elsewhere.
    ``cell_pulses``: the per-element counter (``pulsed_update``); ``train_slots``: an
    integer tensor on ``weight.device`` the trains' lengths are added to (no host sync on
    CUDA). ``buffer`` may carry the chopped devices' bookkeeping as well (``chopper``,
    ``flip_draws`` or ``flip_seed``, ``passes`` and AGAD's means: ``transfer_write_ref``);
    random switches without ``flip_draws`` draw them in the Triton kernel from ``flip_seed``
    (a transfer read's seed; the twin: from a generator seeded by it), or else here from
    ``generator``, on the CPU after the kernel's seed (the order in which a transfer's
    unfolded bookkeeping draws them), and a CPU write none of whose lines is ready yet
    (AGAD) draws no seed. ``calls``: the call counter of a ``seeds.KeyedSeed`` ``seed``,
    advanced by the trains' kernel (no launch for it). ``add_to``: a 0-dim int64 tensor
    the pulses are added to in place and that is returned (a transfer's running count; on
    CUDA the kernels add to it, no launch to sum)."""
    counters = dict(cell_pulses=cell_pulses, train_slots=train_slots, **buffer)
    if calls is not None:
        counters["calls"] = calls
    chopper = buffer.get("chopper")
    draw_flips = (chopper is not None and chopper.flip_prob > 0
                  and buffer.get("flip_draws") is None and buffer.get("flip_seed") is None)
    backend, run = backends.pick("transfer_lines", weight,
                                 numba=line_mask is None and isinstance(start, int)
                                 and isinstance(buffer.get("passes", 0), int)
                                 and calls is None)
    if backend == backends.NUMBA:
        seed = seeds.draw_cpu_kernel_seed(generator) if _writes(chopper, buffer) else 0
        if draw_flips:
            counters["flip_draws"] = torch.rand(reads.shape[0], generator=generator)
        pulses = run(weight, cell_params, reads, start, p, cell, seed=seed, **counters)
        return pulses if add_to is None else add_to.add_(pulses)
    if draw_flips:
        counters["flip_draws"] = torch.rand(reads.shape[0], generator=generator,
                                            device=reads.device)
    if backend == backends.TORCH:
        pulses = run(weight, cell_params, reads, start, p, cell, generator=generator,
                     line_mask=line_mask, **counters)
        return pulses if add_to is None else add_to.add_(pulses)
    if seed is None:
        seed = seeds.draw_kernel_seed(generator, weight.device)
    return run(weight, cell_params, reads, start, p, cell, seed=seed, max_bl=max_bl,
               line_mask=line_mask, add_to=add_to, **counters)



def transfer_lines_groups(weight) -> bool:
    """Whether :func:`transfer_lines_grouped` writes a group of tiles as their own
    :func:`transfer_lines` calls would on ``weight``'s device: on CUDA the Triton kernels;
    off CUDA the twin, as a CPU write whose lines are device tensors runs it."""
    return not weight.is_cuda or backends.choose("transfer_lines_grouped",
                                                 weight) == backends.TRITON


def transfer_lines_grouped(weights, cell_params, reads, start, p, cell, *, generators,
                           key=None, max_bl=None, add_to=None, cell_pulses=None,
                           train_slots=None, **buffer):
    """The transfer writes of a group of equal tiles (a grid's), each as its own
    :func:`transfer_lines` (``transfer_lines_grouped_torch``; every tensor with the tiles
    first, ``start`` ``(tiles,)``, one run of lines each): on CUDA in the launches of one
    tile's write (``transfer_lines_grouped_triton``; ``key``: a ``seeds.KeyedSeed`` of
    ``(tiles,)`` call counters and offsets, ``max_bl`` from the host), the twin elsewhere
    (``generators``, one a tile). Returns the pulses per tile, or ``add_to`` with them
    added."""
    backend, run = backends.pick("transfer_lines_grouped", weights)
    if backend == backends.TRITON:
        return run(weights, cell_params, reads, start, p, cell, key=key, max_bl=max_bl,
                   add_to=add_to, cell_pulses=cell_pulses, train_slots=train_slots, **buffer)
    return run(weights, cell_params, reads, start, p, cell, generators=generators,
               add_to=add_to, cell_pulses=cell_pulses, train_slots=train_slots, **buffer)


def bind_transfer_lines(weight, cell_params, p, cell, **tensors):
    """:func:`transfer_lines` on the CPU with numba, its arguments made once
    (``transfer_write_cpu.bind_transfer_lines``): ``run(reads, start, generator,
    passes=0)``, the same write as ``transfer_lines(weight, cell_params, reads, start, p,
    cell, generator=generator, passes=passes, **tensors)``, its seed (and, with a chopper's
    ``flip_prob``, the switches' draws after it) drawn from ``generator`` as there.
    ``tensors`` as that call's (a chopper's ``passes`` and ``flip_draws`` come with each
    run, so they are dropped here). None where that call would not run numba (or the
    tensors need converting per call)."""
    if backends.choose("transfer_lines", weight) != backends.NUMBA:
        return None
    from .transfer_write_cpu import bind_transfer_lines as bind  # numba: imported on use

    tensors.pop("passes", None)
    if tensors.pop("flip_draws", None) is not None or "flip_seed" in tensors:
        return None
    bound = bind(weight, cell_params, p, cell, **tensors)
    if bound is None:
        return None
    draw = seeds.draw_cpu_kernel_seed
    chopper = tensors.get("chopper")
    if chopper is None:
        def run(reads, start, generator, passes=0):
            return bound(reads, start, draw(generator))

        return run
    ready_after, flips = chopper.ready_after, chopper.flip_prob > 0
    rand = torch.rand

    def run_chopped(reads, start, generator, passes=0):
        # as transfer_lines: no seed before AGAD's first reference (_writes), the
        # switches' draws after the seed
        seed = draw(generator) if ready_after < 0 or passes > ready_after else 0
        draws = rand(reads.shape[0], generator=generator) if flips else None
        return bound(reads, start, seed, passes, draws)

    return run_chopped


def _writes(chopper, buffer) -> bool:
    """Whether a host write of lines (one pass: a host run stops at the last line) writes
    at all: not before AGAD's first reference (``ChopperParams.ready_after``)."""
    return chopper is None or chopper.ready_after < 0 or buffer["passes"] > chopper.ready_after


def line_walk(line, passes, count, n_lines, dtype=None, reads=None, seed_offset=None,
              line_only=False):
    """A schedule's next ``count`` of ``n_lines`` lines on the device (``line_walk_ref``):
    ``(snapshot, onehot)``, ``line`` and ``passes`` advanced in place (and the ``reads``
    counter with the one-hot reads; ``seed_offset``: the runs' read seeds after the
    snapshot); Triton on CUDA (one launch, two with one-hot reads), the twin elsewhere
    (the CPU walks on the host). ``line_only``: the reads take each row's line element
    alone (:func:`onehot_reads_line_only`), so the one-hot rows may be any view with ones
    there."""
    return backends.pick("line_walk", line)[1](line, passes, count, n_lines, dtype, reads,
                                               seed_offset, line_only)


def line_walk_grouped(line, passes, count, n_lines, dtype=None, reads=None,
                      seed_offsets=None, line_only=False):
    """:func:`line_walk` of a group of tiles' schedules (``(tiles,)`` ``line``, ``passes``,
    ``reads``, ``seed_offsets``; ``line_walk_grouped_torch``): ``(snapshot (tiles, width),
    onehot (count, tiles * n_lines))``; Triton on CUDA (the launches of one for all), the twin
    elsewhere."""
    return backends.pick("line_walk_grouped", line)[1](line, passes, count, n_lines, dtype,
                                                       reads, seed_offsets, line_only)


def onehot_reads_line_only(params) -> bool:
    """Whether CUDA's one-hot reads (``analog_mvm``'s ``onehot_start``, a group's alike)
    under ``params`` (``MVMParams``) read each row's line element and nothing else of it:
    ``analog_mvm_cuda.reads_line_only``. Asked by device walks only."""
    from . import analog_mvm_cuda

    return analog_mvm_cuda.reads_line_only(params)


def line_write(weight, cell_params, index, one_prob, line_prob, bl, p, *, generator=None,
               counts=None, cell_pulses=None):
    """Pulse whole lines of ``weight`` in place (``line_write_ref``; ``p``: its
    ``LineWriteParams``); numba on the CPU (its seed drawn from ``generator``), the torch
    twin elsewhere. ``counts``: given pulse counts; ``cell_pulses``: the per-element
    counter (``pulsed_update``). Returns the pulses applied."""
    backend, run = backends.pick("line_write", weight, numba=weight.is_contiguous())
    tensors = dict(counts=counts, cell_pulses=cell_pulses)
    if backend == backends.NUMBA:
        return run(weight, cell_params, index, one_prob, line_prob, bl, p,
                   seed=seeds.draw_cpu_kernel_seed(generator), **tensors)
    return run(weight, cell_params, index, one_prob, line_prob, bl, p, generator=generator,
               **tensors)


def noisy_reads(weight, stored, before, reference, noise, write_noise: float) -> None:
    """Redraw the reads of the elements a write changed, in place (``noisy_reads_ref``);
    numba on the CPU, the torch twin elsewhere."""
    backends.pick("noisy_reads", weight, stored, before, noise)[1](
        weight, stored, before, reference, noise, write_noise)


__all__ = [
    *layout.__all__,
    "BufferParams",
    "CellParams",
    "ChopperParams",
    "LineWriteParams",
    "MVMParams",
    "TransferWriteParams",
    "UpdateParams",
    "accumulate_transfer_buffer",
    "line_numbers",
    "analog_mvm",
    "analog_mvm_grouped",
    "analog_mvm_grouped_torch",
    "analog_mvm_torch",
    "auto_scale_torch",
    "channel_form",
    "chi_steps",
    "chi_steps_torch",
    "chi_write",
    "chi_write_torch",
    "chopped_weight_torch",
    "col2im",
    "col2im_torch",
    "counted_update",
    "counted_update_grouped_torch",
    "counted_update_torch",
    "discretize_torch",
    "explicit_trains",
    "explicit_trains_torch",
    "grid_sum",
    "grid_sum_torch",
    "im2col",
    "im2col_torch",
    "inverse_index",
    "line_probabilities",
    "line_probabilities_grouped",
    "line_probabilities_grouped_torch",
    "line_probabilities_torch",
    "line_walk",
    "line_walk_grouped",
    "line_walk_grouped_torch",
    "line_walk_torch",
    "line_write",
    "line_write_torch",
    "noisy_reads",
    "noisy_reads_torch",
    "onehot_reads_line_only",
    "long_train",
    "long_train_length",
    "out_scales_backward",
    "out_scales_backward_torch",
    "pulsed_update",
    "pulsed_update_grouped_torch",
    "pulsed_update_torch",
    "reduce_to_weight",
    "single_pulse_torch",
    "table_factor",
    "train_gains_torch",
    "transfer_buffer_torch",
    "bind_trains_update",
    "bind_transfer_lines",
    "transfer_lines",
    "transfer_lines_grouped",
    "transfer_lines_grouped_torch",
    "transfer_lines_groups",
    "transfer_lines_torch",
    "transfer_write",
    "transfer_write_torch",
    "update_auto_scale",
    "update_grouped",
]


def cpu_kernels_compiled() -> bool:
    """Whether numba's on-disk cache holds the CPU kernels every analog CPU run calls (the
    serial pulsed update and MVM epilogue). False on a fresh install: the first epoch then
    compiles them (about 20 s), which a run says rather than sitting silent. True where
    numba is absent or its cache cannot be inspected (nothing to announce)."""
    if not backends.HAVE_NUMBA:
        return True
    try:
        from .analog_mvm_cpu import _epilogue_serial
        from .pulsed_update_cpu import _update_serial

        return all(os.path.exists(k._cache._cache_file._index_path)
                   for k in (_update_serial, _epilogue_serial))
    except Exception:  # numba's cache internals moved: say nothing rather than fail
        return True
