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
"""

import importlib.util
import os

from . import layout, seeds
from .analog_mvm_ref import MVMParams, analog_mvm_torch
from .auto_scale_ref import auto_scale_torch
from .chopped_weight_ref import chopped_weight_torch
from .counted_update_ref import counted_update_torch
from .im2col_ref import col2im_torch, im2col_torch, inverse_index
from .layout import *  # noqa: F403 (the layout's names: cell kinds, rows, floors)
from .line_write_ref import line_write_torch
from .pulsed_update_ref import (
    explicit_trains_torch,
    line_probabilities_torch,
    long_train,
    long_train_length,
    pulsed_update_torch,
    single_pulse_torch,
    table_factor,
)
from .transfer_buffer_ref import transfer_buffer_torch
from .transfer_write_ref import line_numbers, transfer_lines_torch, transfer_write_torch


def pulsed_update(weight, cell_params, x_prob, d_prob, bl, *, cell_kind, noise_std,
                  mult_noise, generator=None, seed=None, x_bits=None, d_bits=None,
                  cell_scalars=(), max_bl=None, threads=None, sparse_rows=False,
                  cell_pulses=None, cell_table=None):
    """Apply pulse trains to ``weight`` in place: Triton on CUDA, numba on the CPU.

    Both kernels take their random numbers from ``seed``: an int or, on CUDA, a one-element
    integer tensor on the device (what a CUDA graph replays); left out, one is drawn from
    ``generator`` (on CUDA that waits for the device). ``pulsed_update_torch`` defines what
    they compute. ``cell_scalars``: tile-wide cell scalars (``EXP_SCALARS`` for
    ``CELL_EXP``). ``max_bl``: an upper bound of ``bl`` (e.g. ``desired_bl``); on CUDA it
    spares reading ``bl.max()`` back from the device. ``threads``: CPU threads (default
    torch's). ``sparse_rows``: the rows are one-hot on one side (a transfer's line writes),
    which lets the CUDA kernel skip the rows a block sees no coincidence of; the result
    does not depend on it. ``cell_pulses``: an optional int32 ``(out, in)`` counter on
    ``weight.device`` that each element's pulses are added to in the kernel (the wear
    ledger; no host sync). ``cell_table``: the ``(2, K)`` knot table of ``CELL_TABLE`` on
    ``weight.device`` (None for the other cells). Returns the number of device pulses
    applied (an int tensor on ``weight.device``).
    """
    if seed is None:
        seed = seeds.draw_kernel_seed(generator, weight.device)
    if weight.is_cuda:
        from .pulsed_update_cuda import pulsed_update_triton

        return pulsed_update_triton(weight, cell_params, x_prob, d_prob, bl,
                                    cell_kind=cell_kind, noise_std=noise_std,
                                    mult_noise=mult_noise, seed=seed,
                                    x_bits=x_bits, d_bits=d_bits, cell_scalars=cell_scalars,
                                    max_bl=max_bl, sparse_rows=sparse_rows,
                                    cell_pulses=cell_pulses, cell_table=cell_table)
    from .pulsed_update_cpu import pulsed_update_numba

    return pulsed_update_numba(weight, cell_params, x_prob, d_prob, bl, cell_kind=cell_kind,
                               noise_std=noise_std, mult_noise=mult_noise, seed=seed,
                               x_bits=x_bits, d_bits=d_bits, cell_scalars=cell_scalars,
                               threads=threads, cell_pulses=cell_pulses,
                               cell_table=cell_table)


def counted_update(weight, cell_params, x_prob, d_prob, bl, *, max_bl, cell_kind, noise_std,
                   mult_noise, generator=None, seed=None, x_bits=None, d_bits=None,
                   cell_scalars=(), cell_pulses=None, cell_table=None):
    """The batch-counted update (``counted_update_ref``: the same trains as
    ``pulsed_update``, each element's pulses counted over the batch and applied at once)
    of ``weight`` in place: Triton on CUDA, numba on the CPU (float32), the twin otherwise.
    ``max_bl``: a host bound of ``bl``; ``seed``, ``cell_pulses`` (the per-element
    counter) and ``cell_table`` as ``pulsed_update``'s. Returns the pulses applied (an int tensor on
    ``weight.device``)."""
    cell = dict(cell_kind=cell_kind, noise_std=noise_std, mult_noise=mult_noise,
                cell_scalars=cell_scalars, cell_pulses=cell_pulses, cell_table=cell_table)
    if weight.is_cuda:
        from .counted_update_cuda import counted_update_triton

        if seed is None:
            seed = seeds.draw_kernel_seed(generator, weight.device)
        return counted_update_triton(weight, cell_params, x_prob, d_prob, bl, max_bl=max_bl,
                                     seed=seed, x_bits=x_bits, d_bits=d_bits, **cell)
    if _on_numba(weight):
        from .counted_update_cpu import counted_update_numba

        if seed is None:
            seed = seeds.draw_kernel_seed(generator, weight.device)
        return counted_update_numba(weight, cell_params, x_prob, d_prob, bl, max_bl=max_bl,
                                    seed=seed, x_bits=x_bits, d_bits=d_bits, **cell)
    return counted_update_torch(weight, cell_params, x_prob, d_prob, bl, max_bl=max_bl,
                                generator=generator, x_bits=x_bits, d_bits=d_bits, **cell)


def analog_mvm(weight, x, params, seed):
    """``x @ weight.T`` through the analog periphery ``params`` (``MVMParams``), its noise
    keyed by ``seed`` (an int, or on CUDA also a one-element int64 device tensor); Triton on
    CUDA, numba on the CPU (float32), the torch twin otherwise."""
    import torch

    if x.is_cuda:
        from .analog_mvm_cuda import analog_mvm_triton

        return analog_mvm_triton(weight, x, params, seed)
    if x.dtype == weight.dtype == torch.float32:
        from .analog_mvm_cpu import analog_mvm_numba

        return analog_mvm_numba(weight, x, params, int(seed))
    return analog_mvm_torch(weight, x, params, seed=int(seed))


def line_probabilities(x_rows, d_rows, lr, granularity, *, desired_bl, fixed_bl,
                       update_management, update_bl_management, um_grad_scale, res,
                       sto_round, generator=None):
    """The stochastic pulse trains' line probabilities and lengths
    (``line_probabilities_torch``): numba on the CPU; on CUDA one Triton launch for float32
    rows, the twin for stochastic rounding (it draws from ``generator``) or other dtypes."""
    options = dict(desired_bl=desired_bl, fixed_bl=fixed_bl,
                   update_management=update_management,
                   update_bl_management=update_bl_management, um_grad_scale=um_grad_scale,
                   res=res, sto_round=sto_round)
    if x_rows.is_cuda:
        import torch

        if (sto_round and res > 0) or not (x_rows.dtype == d_rows.dtype == torch.float32):
            return line_probabilities_torch(x_rows, d_rows, lr, granularity,
                                            generator=generator, **options)
        from .pulsed_update_cuda import line_probabilities_triton

        return line_probabilities_triton(x_rows, d_rows, lr, granularity, **options)
    from .pulsed_update_cpu import line_probabilities_numba

    seed = seeds.draw_kernel_seed(generator, x_rows.device) if sto_round and res > 0 else 0
    return line_probabilities_numba(x_rows, d_rows, lr, granularity, seed=seed, **options)


def explicit_trains(a, c, factor):
    """Explicit 0/1 trains of the deterministic pulse types (``explicit_trains_torch``):
    numba on the CPU, the twin on CUDA."""
    if a.is_cuda:
        return explicit_trains_torch(a, c, factor)
    from .pulsed_update_cpu import explicit_trains_numba

    return explicit_trains_numba(a, c, factor)


def reduce_to_weight(fast, slow, row_sign, col_sign, gamma_fast, gamma_slow):
    """Chopper-corrected visible weight of a transfer device (``chopped_weight_ref``);
    Triton on CUDA, the torch twin elsewhere."""
    if fast.is_cuda:
        from .chopped_weight_cuda import chopped_weight_triton

        return chopped_weight_triton(fast, slow, row_sign, col_sign, gamma_fast, gamma_slow)
    return chopped_weight_torch(fast, slow, row_sign, col_sign, gamma_fast, gamma_slow)


HAVE_NUMBA = importlib.util.find_spec("numba") is not None


def _on_numba(tensor) -> bool:
    """The numba kernels take float32 CPU tensors; anything else runs the torch twin."""
    import torch

    return HAVE_NUMBA and tensor.device.type == "cpu" and tensor.dtype == torch.float32


def im2col(images, index):
    """A convolution's patch rows ``[N * L, K]`` gathered from ``images`` by ``index[L, K]``
    (``im2col_ref``): Triton on CUDA (float32), numba on the CPU (float32), else the twin."""
    if images.is_cuda and _is_float32(images):
        from .im2col_cuda import im2col_triton

        return im2col_triton(images, index)
    if _on_numba(images):
        from .im2col_cpu import im2col_numba

        return im2col_numba(images, index)
    return im2col_torch(images, index)


def col2im(rows, inverse, n):
    """The adjoint of :func:`im2col`: ``[n, size]`` sums over ``inverse`` (``im2col_ref``),
    in col2im's order; Triton on CUDA, numba on the CPU (float32), else the twin."""
    if rows.is_cuda and _is_float32(rows):
        from .im2col_cuda import col2im_triton

        return col2im_triton(rows, inverse, n)
    if _on_numba(rows):
        from .im2col_cpu import col2im_numba

        return col2im_numba(rows, inverse, n)
    return col2im_torch(rows, inverse, n)


def _is_float32(tensor) -> bool:
    import torch

    return tensor.dtype == torch.float32


def update_auto_scale(x_rows, d_rows, m_x, m_d, *, tau):
    """``auto_scale``'s running maxima of the rows' largest |x| and |d| (``auto_scale_ref``),
    updated in place in the 0-dim float64 ``m_x``, ``m_d``: Triton on CUDA (no host sync),
    numba on the CPU (float32 rows), the twin otherwise."""
    if x_rows.is_cuda:
        from .auto_scale_cuda import auto_scale_triton

        return auto_scale_triton(x_rows, d_rows, m_x, m_d, tau=tau)
    if _on_numba(x_rows) and _on_numba(d_rows):
        from .auto_scale_cpu import auto_scale_numba

        return auto_scale_numba(x_rows, d_rows, m_x, m_d, tau=tau)
    return auto_scale_torch(x_rows, d_rows, m_x, m_d, tau=tau)


def accumulate_transfer_buffer(buffer, reads, index, out_sign, in_sign, **kwargs):
    """Buffered transfer step (``transfer_buffer_ref``): update H in place, return the
    whole steps to write; Triton on CUDA, numba on the CPU."""
    if buffer.is_cuda:
        from .transfer_buffer_cuda import transfer_buffer_triton

        return transfer_buffer_triton(buffer, reads, index, out_sign, in_sign, **kwargs)
    if _on_numba(buffer):
        from .transfer_buffer_cpu import transfer_buffer_numba

        return transfer_buffer_numba(buffer, reads, index, out_sign, in_sign, **kwargs)
    return transfer_buffer_torch(buffer, reads, index, out_sign, in_sign, **kwargs)


def transfer_write(reads, start, width, **kwargs):
    """Pulse trains of a transfer's write from its reads, through the buffer when one is
    given (``transfer_write_ref``); Triton on CUDA (one launch), the torch twin elsewhere."""
    if reads.is_cuda:
        from .transfer_write_cuda import transfer_write_triton

        return transfer_write_triton(reads, start, width, **kwargs)
    return transfer_write_torch(reads, start, width, **kwargs)


def transfer_lines(weight, cell_params, reads, start, *, columns, cell_kind, noise_std,
                   mult_noise, cell_scalars=(), generator=None, seed=None, max_bl=None,
                   line_mask=None, cell_pulses=None, train_slots=None, cell_table=None,
                   **options):
    """A transfer's whole write of lines ``start..`` of ``weight`` from their reads
    (``transfer_write_ref.transfer_lines_torch``); returns the pulses applied. On CUDA two
    launches (the trains, then the pulsed-update kernel with ``seed`` and ``max_bl`` from
    the host), numba on the CPU (one call, seeded from ``generator``; a host ``start``, no
    ``line_mask``), the twin elsewhere. ``cell_pulses``: the per-element counter
    (``pulsed_update``); ``train_slots``: an integer tensor on ``weight.device`` the
    trains' lengths are added to (no host sync on CUDA)."""
    cell = dict(cell_kind=cell_kind, noise_std=noise_std, mult_noise=mult_noise,
                cell_scalars=cell_scalars, cell_table=cell_table)
    if weight.is_cuda:
        from .transfer_write_cuda import transfer_write_triton

        width = weight.shape[1] if columns else weight.shape[0]
        x_prob, d_prob, bl = transfer_write_triton(reads, start, width, columns=columns,
                                                   **options)
        if line_mask is not None:
            bl = bl * line_mask.to(bl.dtype)
        if train_slots is not None:
            train_slots += bl.sum()
        return pulsed_update(weight, cell_params, x_prob, d_prob, bl, generator=generator,
                             seed=seed, max_bl=max_bl, sparse_rows=True,
                             cell_pulses=cell_pulses, **cell)
    if _on_numba(weight) and line_mask is None and isinstance(start, int):
        from .transfer_write_cpu import transfer_lines_numba

        seed = seeds.draw_cpu_kernel_seed(generator)
        return transfer_lines_numba(weight, cell_params, reads, start, columns=columns,
                                    seed=seed, cell_pulses=cell_pulses,
                                    train_slots=train_slots, **cell, **options)
    return transfer_lines_torch(weight, cell_params, reads, start, columns=columns,
                                generator=generator, line_mask=line_mask,
                                cell_pulses=cell_pulses, train_slots=train_slots, **cell,
                                **options)


def line_write(weight, cell_params, index, one_prob, line_prob, bl, *, generator=None,
               **kwargs):
    """Pulse whole lines of ``weight`` in place (``line_write_ref``); numba on the CPU (its
    seed drawn from ``generator``), the torch twin elsewhere. Returns the pulses applied;
    ``cell_pulses`` (in ``kwargs``): the per-element counter (``pulsed_update``)."""
    if _on_numba(weight) and weight.is_contiguous():
        from .line_write_cpu import line_write_numba

        seed = seeds.draw_cpu_kernel_seed(generator)
        return line_write_numba(weight, cell_params, index, one_prob, line_prob, bl,
                                seed=seed, **kwargs)
    return line_write_torch(weight, cell_params, index, one_prob, line_prob, bl,
                            generator=generator, **kwargs)


__all__ = [
    *layout.__all__,
    "MVMParams",
    "accumulate_transfer_buffer",
    "line_numbers",
    "analog_mvm",
    "analog_mvm_torch",
    "auto_scale_torch",
    "chopped_weight_torch",
    "col2im",
    "col2im_torch",
    "counted_update",
    "counted_update_torch",
    "explicit_trains",
    "explicit_trains_torch",
    "im2col",
    "im2col_torch",
    "inverse_index",
    "line_probabilities",
    "line_probabilities_torch",
    "line_write",
    "line_write_torch",
    "long_train",
    "long_train_length",
    "pulsed_update",
    "pulsed_update_torch",
    "reduce_to_weight",
    "single_pulse_torch",
    "table_factor",
    "transfer_buffer_torch",
    "transfer_lines",
    "transfer_lines_torch",
    "transfer_write",
    "transfer_write_torch",
    "update_auto_scale",
]


def cpu_kernels_compiled() -> bool:
    """Whether numba's on-disk cache holds the CPU kernels every analog CPU run calls (the
    serial pulsed update and MVM epilogue). False on a fresh install: the first epoch then
    compiles them (about 20 s), which a run says rather than sitting silent. True where
    numba is absent or its cache cannot be inspected (nothing to announce)."""
    if importlib.util.find_spec("numba") is None:
        return True
    try:
        from .analog_mvm_cpu import _epilogue_serial
        from .pulsed_update_cpu import _update_serial

        return all(os.path.exists(k._cache._cache_file._index_path)
                   for k in (_update_serial, _epilogue_serial))
    except Exception:  # numba's cache internals moved: say nothing rather than fail
        return True
