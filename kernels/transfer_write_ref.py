"""Reference twin of a transfer's write preparation on the GPU: reads to pulse trains.

A transfer moves lines ``start .. start+n-1`` of the fast array into the slow one. From the
reads ``(n, L)`` (one row per line, ``L`` elements each) this builds the stochastic pulse
trains of the write ``line[start+b] -= lr * values[b]`` as rank-1 updates with a one-hot
vector, in the form the pulsed-update kernel takes:

1. buffered (``buffer`` given; TTv2 and descendants): the buffer step of
   ``transfer_buffer_ref`` turns the reads into whole steps, ``values = -steps``;
   otherwise (TTv1) ``values = -reads``;
2. per line, the train length and the gains of the one-hot side (``max = 1``) and of the line
   side (``max = max|values[b]|``) follow ``physics.pulses.train_lengths_and_gains``
   (aihwkit's ``update_bl_management`` / ``update_management`` / ``fixed_bl`` rules, with
   ``um_grad_scale`` on the d side); ``long_train`` is the host's decision for a variable
   train length without BL management (``not fixed_bl and granularity * desired_bl < lr``);
3. probabilities ``clip(|v| * gain, 0, 1) * sign(v)`` (``stochastic_compressed``, no
   ``res``); the one-hot side fires with its gain at line ``start + b`` of ``width`` lines.

``start`` is a host int (the lines must not pass the last one) or a 0-dim integer tensor on
the reads' device, read by the kernels themselves so that a replayed CUDA graph writes the
lines the schedule reached; those lines wrap around: line ``(start + b) % width``.

``columns``: the one-hot side is x (input lines) and the values go to d; else the reverse.
Returns ``x_prob, d_prob, bl`` (``bl`` int32). ``transfer_lines_torch`` follows it with the
line write (``line_write_ref``): the whole write of a transfer. This file is the definition
the Triton kernel (``transfer_write_cuda``) and the numba kernel (``transfer_write_cpu``, the
whole write in one call) are tested against.
"""

from __future__ import annotations

import torch

from .line_write_ref import line_write_torch
from .params import CellParams, ChopperParams, LineWriteParams, TransferWriteParams
from .pulsed_update_ref import advance_counters, line_probabilities, managed_gains_torch
from .transfer_buffer_ref import transfer_buffer_torch


def one_hot_gains(line_max: torch.Tensor, columns: bool, *, lr: float, granularity: float,
                  desired_bl: int, long_train: bool, update_management: bool,
                  update_bl_management: bool, um_grad_scale: float):
    """Train length and the gains (one-hot side, line side) of each line's write."""
    one = torch.ones_like(line_max)
    x_max, d_max = (one, line_max) if columns else (line_max, one)
    bl, x_gain, d_gain = managed_gains_torch(
        x_max, d_max, lr, granularity, desired_bl=desired_bl, long_train=long_train,
        update_management=update_management, update_bl_management=update_bl_management,
        um_grad_scale=um_grad_scale)
    one_gain, line_gain = (x_gain, d_gain) if columns else (d_gain, x_gain)
    return bl.to(torch.int32), one_gain, line_gain


def line_numbers(start, n: int, width: int, device) -> torch.Tensor:
    """The lines ``start .. start+n-1`` (a tensor ``start``: modulo ``width``)."""
    if isinstance(start, torch.Tensor):
        return (start + torch.arange(n, device=device)) % width
    return torch.arange(start, start + n, device=device)


def line_passes(start, n: int, width: int, passes, device) -> torch.Tensor:
    """The pass each of the lines ``start .. start+n-1`` is read in, ``passes`` full passes
    having gone before ``start``."""
    return passes + (start + torch.arange(n, device=device)) // width


def pass_parts(n: int, width: int, passes, flip_draws: torch.Tensor | None = None,
               flip_seed: torch.Tensor | None = None) -> list[tuple[slice, dict]]:
    """The single-pass calls that a call of ``n > width`` reads stands for: per pass ``r``,
    its rows ``r * width ..`` and its ``passes``, ``flip_draws`` and ``flip_seed`` (entry
    ``r`` of one seed per pass)."""
    return [(slice(b, b + width),
             {"passes": passes + r,
              "flip_draws": None if flip_draws is None else flip_draws[b:b + width],
              "flip_seed": None if flip_seed is None else flip_seed.reshape(-1)[r:r + 1]})
            for r, b in enumerate(range(0, n, width))]


def reference_reads_torch(reads: torch.Tensor, lines: torch.Tensor, running_mean: torch.Tensor,
                          past_mean: torch.Tensor, switched: torch.Tensor,
                          momentum: float) -> torch.Tensor:
    """AGAD's reads relative to each line's reference, the mean of its previous chopper
    period: a line whose chopper switched after its last read starts a new period, and
    its running mean becomes its reference (``past_mean``); the running mean then takes
    in the reads with weight ``momentum``. The means ``(L, n_lines)`` change in place."""
    running, past = running_mean[:, lines], past_mean[:, lines]
    past = torch.where(switched[lines][None, :], running, past)
    running = running.mul_(1.0 - momentum).add_(reads.T, alpha=momentum)
    past_mean[:, lines] = past
    running_mean[:, lines] = running
    return reads - past.T


def switch_choppers_torch(in_sign: torch.Tensor, lines: torch.Tensor, passes: torch.Tensor,
                          flip_draws: torch.Tensor | None, c: ChopperParams,
                          switched: torch.Tensor | None = None) -> None:
    """After the read lines' write: their input choppers switch where the draw is below
    ``c.flip_prob`` or where the line's pass ends a period of ``c.period`` passes
    (``in_sign`` changes in place); ``switched`` (AGAD) records which did."""
    flip = torch.zeros(lines.shape, dtype=torch.bool, device=in_sign.device)
    if c.period > 0:
        flip |= passes % c.period + 1 == c.period
    if flip_draws is not None:
        flip |= flip_draws < c.flip_prob
    chopper = in_sign[lines]
    in_sign[lines] = torch.where(flip, -chopper, chopper)
    if switched is not None:
        switched[lines] = flip


def transfer_write_torch(reads: torch.Tensor, start, width: int, p: TransferWriteParams, *,
                         buffer: torch.Tensor | None = None,
                         out_sign: torch.Tensor | None = None,
                         in_sign: torch.Tensor | None = None,
                         chopper: ChopperParams | None = None,
                         flip_draws: torch.Tensor | None = None,
                         flip_seed: torch.Tensor | None = None, passes=0,
                         running_mean: torch.Tensor | None = None,
                         past_mean: torch.Tensor | None = None,
                         switched: torch.Tensor | None = None,
                         train_slots: torch.Tensor | None = None,
                         calls: torch.Tensor | None = None):
    """Pulse trains ``(x_prob, d_prob, bl)`` of writing the transferred lines (see above).

    reads ``(n, L)``; ``width``: the number of lines of the one-hot side; ``p``: the write's
    numbers (``TransferWriteParams``). With ``buffer`` (``(L, n_lines)``, updated in
    place), ``out_sign``/``in_sign`` and ``p.buffer`` as ``transfer_buffer_torch``.

    ``chopper`` (``ChopperParams``; buffered writes only): the chopped devices' bookkeeping
    of the read lines in the same call - AGAD's reference means first
    (:func:`reference_reads_torch`, with ``running_mean``, ``past_mean``, ``switched``),
    the lines not yet ready silenced (``bl = 0``), then the choppers' switches
    (:func:`switch_choppers_torch`; ``flip_draws``: one uniform per line, or else, with
    ``flip_seed`` (a one-element integer tensor: a transfer read's seed), drawn from a
    generator seeded by it, as ``analog_mvm_torch`` draws its noise); ``passes``: the
    full passes before ``start`` (an int or a 0-dim tensor). ``train_slots``, ``calls``:
    the written array's counters (``pulsed_update_ref.advance_counters``).

    More reads than lines (``n > width``, a ``start`` tensor): the lines again, pass after
    pass - the same as the single-pass calls on reads ``r * width ..`` in turn (``passes +
    r``; ``flip_seed``: one seed per pass, entry ``r`` for call ``r``); each counts one
    call. The chopped devices' transfers of a step (A unchanged between them) make one
    such call per step on CUDA.
    """
    n = reads.shape[0]
    if n > width:  # several passes: the runs of one pass each, in order
        state = dict(buffer=buffer, out_sign=out_sign, in_sign=in_sign, chopper=chopper,
                     running_mean=running_mean, past_mean=past_mean, switched=switched,
                     train_slots=train_slots, calls=calls)
        trains = [transfer_write_torch(reads[rows], start, width, p, **per_pass, **state)
                  for rows, per_pass in pass_parts(n, width, passes, flip_draws, flip_seed)]
        return tuple(torch.cat(part) for part in zip(*trains, strict=True))
    (columns, lr, granularity, desired_bl, long_train, update_management,
     update_bl_management, um_grad_scale, _) = p
    lines = line_numbers(start, n, width, reads.device)
    if chopper is not None and running_mean is not None:
        reads = reference_reads_torch(reads, lines, running_mean, past_mean, switched,
                                      chopper.momentum)
    if buffer is not None:
        values = -transfer_buffer_torch(buffer, reads, lines, out_sign, in_sign, p.buffer)
    else:
        values = -reads
    bl, one_gain, line_gain = one_hot_gains(
        values.abs().amax(1), columns, lr=lr, granularity=granularity, desired_bl=desired_bl,
        long_train=long_train, update_management=update_management,
        update_bl_management=update_bl_management, um_grad_scale=um_grad_scale)
    line_prob = line_probabilities(values, line_gain[:, None])
    one_hot = torch.zeros(n, width, dtype=reads.dtype, device=reads.device)
    one_hot[torch.arange(n, device=reads.device), lines] = one_gain.clamp(0, 1)
    if chopper is not None:
        if flip_draws is None and flip_seed is not None and chopper.flip_prob > 0:
            seeded = torch.Generator(device=reads.device).manual_seed(int(flip_seed))
            flip_draws = torch.rand(n, generator=seeded, device=reads.device)
        pass_b = line_passes(start, n, width, passes, reads.device)
        if chopper.ready_after >= 0:
            bl = torch.where(pass_b > chopper.ready_after, bl, 0)
        switch_choppers_torch(in_sign, lines, pass_b, flip_draws, chopper,
                              None if running_mean is None else switched)
    advance_counters(bl, train_slots, calls)
    if columns:
        return one_hot, line_prob, bl
    return line_prob, one_hot, bl


def transfer_lines_torch(weight: torch.Tensor, cell_params: torch.Tensor, reads: torch.Tensor,
                         start, p: TransferWriteParams, cell: CellParams, *,
                         generator: torch.Generator | None = None,
                         line_mask: torch.Tensor | None = None,
                         cell_pulses: torch.Tensor | None = None,
                         train_slots: torch.Tensor | None = None,
                         **buffer) -> torch.Tensor:
    """The whole write of a transfer: ``transfer_write_torch`` (``p`` and the ``buffer``
    tensors: ``buffer``, ``out_sign``, ``in_sign``) builds the trains, ``line_write_torch``
    pulses the lines ``start..`` of ``weight`` with them through ``cell``. ``line_mask``
    (``(n,)`` bool): write only these lines (the buffer takes every read). ``cell_pulses``:
    the per-element counter (``pulsed_update_torch``); ``train_slots``: an integer tensor
    the trains' lengths are added to (the analog time). Returns the pulses applied. More
    reads than lines: the single-pass writes in turn, as ``transfer_write_torch``."""
    n = reads.shape[0]
    width = line_width(weight, p.columns)
    if n > width:  # several passes: the single-pass writes in turn (transfer_write_torch)
        parts = pass_parts(n, width, buffer.pop("passes", 0), buffer.pop("flip_draws", None),
                           buffer.pop("flip_seed", None))
        total = torch.zeros((), dtype=torch.int64, device=weight.device)
        for rows, per_pass in parts:
            total += transfer_lines_torch(
                weight, cell_params, reads[rows], start, p, cell, generator=generator,
                line_mask=None if line_mask is None else line_mask[rows],
                cell_pulses=cell_pulses, train_slots=train_slots, **per_pass, **buffer)
        return total
    if line_mask is None:  # the write counts the trains' slots itself
        buffer["train_slots"], train_slots = train_slots, None
    x_prob, d_prob, bl = transfer_write_torch(reads, start, width, p, **buffer)
    bl = masked_lengths(bl, line_mask, train_slots)
    lines = line_numbers(start, n, width, reads.device)
    one_hot, line_prob = (x_prob, d_prob) if p.columns else (d_prob, x_prob)
    one_prob = one_hot[torch.arange(n, device=reads.device), lines]
    return line_write_torch(weight, cell_params, lines, one_prob, line_prob, bl.to(torch.int64),
                            LineWriteParams(cell, p.columns), generator=generator,
                            cell_pulses=cell_pulses)


def transfer_lines_grouped_torch(weights: torch.Tensor, cell_params: torch.Tensor,
                                 reads: torch.Tensor, start: torch.Tensor,
                                 p: TransferWriteParams, cell: CellParams, *, generators,
                                 add_to: torch.Tensor | None = None,
                                 cell_pulses: torch.Tensor | None = None,
                                 train_slots: torch.Tensor | None = None,
                                 **buffer) -> torch.Tensor:
    """The transfer writes of a group of equal tiles (a layer's grid), each its own
    :func:`transfer_lines_torch`: tile ``g`` writes ``weights[g]`` from ``reads[g]`` at
    lines ``start[g]..``, with entry ``g`` of every tensor (``cell_params``, the counters,
    ``buffer``'s: H, signs, passes, read seeds, AGAD's means), drawing from
    ``generators[g]``. Returns the pulses per tile ``(tiles,)``, or ``add_to`` (per tile)
    with them added."""
    def entry(value, g):
        return value[g] if isinstance(value, torch.Tensor) else value

    pulses = torch.stack([transfer_lines_torch(
        weights[g], cell_params[g], reads[g], start[g], p, cell, generator=generators[g],
        cell_pulses=entry(cell_pulses, g), train_slots=entry(train_slots, g),
        **{key: entry(value, g) for key, value in buffer.items()})
        for g in range(weights.shape[0])])
    return pulses if add_to is None else add_to.add_(pulses)


def line_width(weight: torch.Tensor, columns: bool) -> int:
    """The number of lines a transfer writes into: columns, or rows."""
    return weight.shape[1] if columns else weight.shape[0]


def masked_lengths(bl: torch.Tensor, line_mask: torch.Tensor | None,
                   train_slots: torch.Tensor | None) -> torch.Tensor:
    """The trains' lengths with the lines outside ``line_mask`` silenced; their sum added
    to ``train_slots`` (no host sync)."""
    if line_mask is not None:
        bl = bl * line_mask.to(bl.dtype)
    if train_slots is not None:
        train_slots += bl.sum()
    return bl


__all__ = ["line_numbers", "line_passes", "line_width", "masked_lengths", "one_hot_gains",
           "pass_parts",
           "reference_reads_torch", "switch_choppers_torch", "transfer_lines_grouped_torch",
           "transfer_lines_torch",
           "transfer_write_torch"]
