"""The parameter bundles of the update kernels, one per operation (as ``MVMParams`` is the
MVM's): plain numbers (and a table cell's knots), no config. Each backend of an operation -
the torch twin, numba, Triton - takes the same bundle, so a launcher's options are written
once, here, instead of as a dozen keywords copied into every backend's signature. Tensors
(the weight, the trains, counters, the buffer) and the randomness (a generator for the twin,
a seed for the kernels) stay arguments of the call.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class CellParams(NamedTuple):
    """A unit cell's tile-wide numbers: its kind (``layout.CELL_*``), the cycle-to-cycle
    noise ``noise_std`` (multiplicative with ``mult_noise``, which ``CELL_LINEAR`` and
    ``CELL_TABLE`` read), ``scalars`` (``layout.EXP_SCALARS`` for ``CELL_EXP``) and
    ``table``, ``CELL_TABLE``'s ``(2, K)`` knot factors (a tensor on the weight's device,
    the one tensor a bundle carries: it is the cell's, as tile-wide as its scalars)."""

    kind: int
    noise_std: float = 0.0
    mult_noise: bool = True
    scalars: tuple = ()
    table: Any = None


class UpdateParams(NamedTuple):
    """The pulsed update (``pulsed_update_ref``) and its batch-counted order
    (``counted_update_ref``): the cell, and ``max_bl``, a host bound of the train lengths
    (the counted update's slot count; on CUDA it spares reading ``bl.max()`` back).
    ``sparse_rows``: every row is one-hot on one side (a transfer's writes), which lets
    the CUDA kernel skip rows without coincidences; results do not depend on it."""

    cell: CellParams
    max_bl: int | None = None
    sparse_rows: bool = False


class LineWriteParams(NamedTuple):
    """A write of whole lines (``line_write_ref``): the cell, and whether the lines are
    columns (else rows)."""

    cell: CellParams
    columns: bool


class BufferParams(NamedTuple):
    """A transfer's digital buffer step (``transfer_buffer_ref``): the reads enter H scaled
    by ``scale``; whole multiples of ``threshold`` (at most ``max_steps``) leave it;
    ``forget_buffer`` keeps ``momentum`` of H where a step left, else the remainder
    (capped at ``buffer_cap`` thresholds when > 0); ``no_buffer`` starts from 0."""

    scale: float = 1.0
    threshold: float = 1.0
    max_steps: int = 1
    momentum: float = 0.0
    forget_buffer: bool = True
    buffer_cap: float = 0.0
    no_buffer: bool = False

    # derived in double, as the twin's torch operations take their Python numbers (each
    # kernel rounds them to float32 once: in float32 arithmetic the last bit differs, and H
    # carries it from transfer to transfer)
    @property
    def keep(self) -> float:
        """The share of each step taken out of the remainder: ``1 - momentum``."""
        return 1.0 - float(self.momentum)

    @property
    def cap(self) -> float:
        """The remainder's bound, ``buffer_cap`` thresholds."""
        return float(self.buffer_cap) * float(self.threshold)

    @property
    def capped(self) -> bool:
        """Whether the remainder is bounded (kept, not forgotten, and ``buffer_cap > 0``)."""
        return (not self.forget_buffer) and self.buffer_cap > 0


class ChopperParams(NamedTuple):
    """The bookkeeping of a chopped transfer's read lines, folded into its write
    (``transfer_write_ref``): after the buffer step a line's input chopper switches where
    its uniform draw is below ``flip_prob`` (draws given with the call) or, with
    ``period > 0``, where its pass is the last of a period of ``period`` passes; AGAD's
    running means (given with the call) take each read with weight ``momentum``, and a line
    is written only in passes after ``ready_after`` (-1: always)."""

    flip_prob: float = 0.0
    period: int = 0
    momentum: float = 0.0
    ready_after: int = -1


class TransferWriteParams(NamedTuple):
    """The trains of a transfer's one-hot write (``transfer_write_ref``): lines are
    ``columns`` (else rows), written at rate ``lr`` in pulses of ``granularity``, with the
    update's train options; ``buffer``: the buffer step's numbers, where a buffer is
    given."""

    columns: bool
    lr: float
    granularity: float
    desired_bl: int
    long_train: bool
    update_management: bool
    update_bl_management: bool
    um_grad_scale: float
    buffer: BufferParams = BufferParams()


__all__ = ["BufferParams", "CellParams", "ChopperParams", "LineWriteParams", "TransferWriteParams",
           "UpdateParams"]
