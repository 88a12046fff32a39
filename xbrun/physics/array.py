"""One crossbar array: conductance state plus the per-element parameters of its cells."""

from __future__ import annotations

import torch
from torch import nn

from .. import kernels
from .cells import IdealCell, PulsedCell
from .pulses import UpdateParameters, fold_rate, pulse_trains, rate_free_length


class PulsedArray(nn.Module):
    """A ``(out, in)`` array of unit cells that learns by pulsed updates.

    The weight is a buffer, not a parameter: autograd never writes it, only pulses do.
    ``weight`` is what reads see; with the cell's ``write_noise_std`` the pulses move a
    hidden ``persistent`` weight and ``weight`` is it plus write noise, drawn anew for the
    elements an update changed (aihwkit redraws it for every element that got a pulse; an
    element pinned at its bound keeps its old noise here). A reference cell
    (``cell.has_reference``) likewise keeps the conductance in ``persistent`` and shows
    ``persistent - reference`` (plus write noise): pulses, resets and bounds act on the
    conductance, reads and :meth:`set_weight` speak the read weight.
    """

    def __init__(self, out_size: int, in_size: int, cell: PulsedCell | IdealCell,
                 update: UpdateParameters, construction_seed: int):
        super().__init__()
        self.cell = cell
        self.update_params = update
        shape = (out_size, in_size)
        self._seed_salt = int(construction_seed)
        self._kernel_calls: torch.Tensor | None = None  # made on first use, on the device
        self.register_buffer("weight", torch.zeros(shape))
        if cell.is_pulsed:
            seed = cell.construction_seed or construction_seed
            gen = torch.Generator().manual_seed(seed)
            self.register_buffer("cell_params", cell.sample(shape, gen))
            self.register_buffer("reset_bias", cell.sample_reset(shape, gen))
        else:
            self.register_buffer("cell_params", torch.zeros(0))
            self.register_buffer("reset_bias", torch.zeros(0))
        self.has_reference = cell.is_pulsed and cell.has_reference
        if self.has_reference:  # drawn after the rest, so other cells' draws stay as they were
            reference, shift = cell.sample_reference(self.cell_params, gen)
            self.reset_bias += shift
            self.register_buffer("reference", reference)
        self.write_noise = cell.write_noise_std * cell.dw_min if cell.is_pulsed else 0.0
        if self.write_noise > 0 or self.has_reference:
            self.register_buffer("persistent", torch.zeros(shape))
        if self.has_reference:  # read weight 0: the conductance at the reference
            self.persistent.copy_(self._clip(self.reference))
            torch.sub(self.persistent, self.reference, out=self.weight)

    @property
    def dw_min(self) -> float:
        return self.cell.dw_min if self.cell.is_pulsed else 0.0

    @property
    def granularity(self) -> float:
        """Mean step of one pulse, which the pulse probabilities are scaled by."""
        return self.cell.weight_granularity if self.cell.is_pulsed else 0.0

    def _clip(self, weight: torch.Tensor) -> torch.Tensor:
        if not self.cell.is_pulsed:
            return weight
        return torch.minimum(torch.maximum(weight, self.cell_params[kernels.ROW_W_MIN]),
                             self.cell_params[kernels.ROW_W_MAX])

    def _noisy(self, weight: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        noise = torch.randn(weight.shape, generator=generator, device=weight.device,
                            dtype=weight.dtype)
        return weight + self.write_noise * noise

    @property
    def hidden(self) -> bool:
        """Whether pulses act on ``persistent`` rather than on the read ``weight``."""
        return self.write_noise > 0 or self.has_reference

    def read_of(self, stored: torch.Tensor, lines=None, columns: bool = True) -> torch.Tensor:
        """What reads see of ``stored`` conductances (without write noise): minus the
        reference; ``lines`` (an index or slice of columns, or of rows) says which part."""
        if not self.has_reference:
            return stored
        if lines is None:
            return stored - self.reference
        return stored - (self.reference[:, lines] if columns else self.reference[lines, :])

    def refresh_lines(self, lines, columns: bool) -> None:
        """Reads of these lines follow their conductance again after a pulsed write (a
        reference cell without write noise)."""
        if columns:
            self.weight[:, lines] = self.read_of(self.persistent[:, lines], lines, columns)
        else:
            self.weight[lines, :] = self.read_of(self.persistent[lines, :], lines, columns)

    def _program(self, stored: torch.Tensor, generator: torch.Generator | None) -> None:
        """Set the conductance to ``stored`` (within bounds); reads get fresh write noise."""
        if self.hidden:
            self.persistent.copy_(stored)
            stored = self.read_of(stored)
            if self.write_noise > 0:
                stored = self._noisy(stored, generator)
        self.weight.copy_(stored)

    def set_weight(self, weight: torch.Tensor,
                   generator: torch.Generator | None = None) -> None:
        """Program the read weight ``weight`` exactly, clipped to each element's bounds (a
        reference cell: its conductance ``weight + reference``)."""
        weight = weight.to(self.weight)
        if self.has_reference:
            weight = weight + self.reference
        self._program(self._clip(weight), generator)

    def reset(self, mask: torch.Tensor | None = None,
              generator: torch.Generator | None = None) -> None:
        """Reset the elements where ``mask`` is true (all when None) to their reset value.

        Each element goes to its own ``reset + reset_dtod*xi`` (drawn at construction) plus
        fresh ``reset_std * xi``, clipped to its bounds (aihwkit ``reset_columns``); an ideal
        cell resets to ``reset`` = 0 exactly.
        """
        if not self.cell.is_pulsed:
            target = torch.zeros_like(self.weight)
        else:
            noise = torch.randn(self.weight.shape, generator=generator,
                                device=self.weight.device, dtype=self.weight.dtype)
            target = self._clip(self.reset_bias + self.cell.reset_std * noise)
        if mask is not None:
            mask = mask.to(device=self.weight.device, dtype=torch.bool).expand_as(self.weight)
            target = torch.where(mask, target, self.stored_weight())
        self._program(target, generator)  # redraws the write noise everywhere

    def stored_weight(self) -> torch.Tensor:
        """The weight the pulses act on (the persistent one under write noise or with a
        reference: the conductance)."""
        return self.persistent if self.hidden else self.weight

    def _next_call(self) -> torch.Tensor:
        """The call counter (saved in the extra state), advanced by one; a tensor on the
        array's device, so a replayed CUDA graph reads a new one each step."""
        calls = self._kernel_calls
        if calls is None or calls.device != self.weight.device:
            start = 0 if calls is None else int(calls)
            calls = torch.full((), start, dtype=torch.int64, device=self.weight.device)
            self._kernel_calls = calls
        calls += 1
        return calls

    def _device_seed(self, generator: torch.Generator | None) -> torch.Tensor:
        """A fresh CUDA kernel seed per update, derived from the tile generator's seed, this
        array's construction seed and the call counter: reproducible by seed, drawn without
        a GPU sync, and kept in a device tensor, so a replayed CUDA graph reads a new seed
        each step. The construction seed keeps two arrays of one tile (a transfer device's
        fast and slow) off each other's stream."""
        calls = self._next_call()
        base = generator.initial_seed() if generator is not None else 0
        offset = (base * 1_000_003 + self._seed_salt * 998_244_353) & 0x7FFFFFFF
        return torch.add(calls * 7_919, offset).bitwise_and_(0x7FFFFFFF)

    def _host_seed(self, generator: torch.Generator | None) -> int:
        """A fresh CPU kernel seed per update: a draw from the tile generator (the tile
        checkpoints its state, so a resume continues the same stream) mixed with this
        array's construction seed and the call counter. Reproducible by seed; arrays that
        share a generator never share a stream."""
        calls = int(self._next_call())
        base = int(torch.randint(0, 2**62, (1,), generator=generator))
        key = (base * 1_000_003 + self._seed_salt * 998_244_353
               + calls * 7_919) & 0xFFFFFFFFFFFFFFFF
        return _splitmix64(key) & (2**63 - 1)

    def get_extra_state(self):
        calls = self._kernel_calls
        return {"kernel_calls": 0 if calls is None else int(calls)}

    def set_extra_state(self, state) -> None:
        self._kernel_calls = torch.tensor(int(state["kernel_calls"]), dtype=torch.int64)

    def _max_bl(self, lr: float) -> int:
        """Host-side bound on every train length (spares the GPU a sync on ``bl.max()``)."""
        p = self.update_params
        if kernels.long_train(lr, self.granularity, desired_bl=p.desired_bl,
                              fixed_bl=p.fixed_bl, update_bl_management=p.update_bl_management):
            return kernels.long_train_length(lr, self.granularity)
        return p.desired_bl

    def update(self, x_rows: torch.Tensor, d_rows: torch.Tensor, lr: float | torch.Tensor,
               generator: torch.Generator | None, sparse_rows: bool = False) -> torch.Tensor:
        """Apply ``W <- W - lr * sum_k d_k x_k^T`` as pulse trains; return pulses applied.
        ``sparse_rows``: every row is one-hot on one side (``kernels.pulsed_update``).

        ``lr`` may be a 0-dim tensor where the array is (a chopped device's ``auto_scale``
        rate). The host reads it on the CPU (free there); on CUDA it never comes to the host
        - an ideal cell multiplies by it, and the trains take it folded into the rows
        (``fold_rate``) - except where the longest train follows the rate itself
        (``fixed_bl`` off without BL management), whose host bound needs it: that step
        waits for the GPU (and is not graph-captured).
        """
        if isinstance(lr, torch.Tensor):
            if not lr.is_cuda or (self.cell.is_pulsed
                                  and not rate_free_length(self.update_params)):
                lr = float(lr)
            elif not self.cell.is_pulsed:
                self.weight.sub_((d_rows.T @ x_rows) * lr.to(self.weight.dtype))
                return torch.zeros((), dtype=torch.int64, device=self.weight.device)
            else:
                x_rows, d_rows = fold_rate(x_rows, d_rows, lr)
                lr = 1.0
        if not self.cell.is_pulsed:
            self.weight.add_(d_rows.T @ x_rows, alpha=-lr)
            return torch.zeros((), dtype=torch.int64, device=self.weight.device)
        trains = pulse_trains(x_rows, d_rows, lr, self.granularity, self.update_params,
                              generator)
        target = self.stored_weight()
        before = target.clone() if self.write_noise > 0 else None
        max_bl = None if trains.x_bits is not None else self._max_bl(lr)
        seed = self._device_seed(generator) if target.is_cuda else self._host_seed(generator)
        pulses = kernels.pulsed_update(target, self.cell_params, trains.x_prob, trains.d_prob,
                                       trains.bl, cell_kind=self.cell.kernel_kind,
                                       noise_std=self.cell.noise_std,
                                       mult_noise=self.cell.mult_noise, generator=generator,
                                       x_bits=trains.x_bits, d_bits=trains.d_bits,
                                       cell_scalars=self.cell.cell_scalars,
                                       max_bl=max_bl, seed=seed, sparse_rows=sparse_rows)
        if before is not None:
            changed = target != before
            self.weight.copy_(torch.where(changed, self._noisy(self.read_of(target), generator),
                                          self.weight))
        elif self.has_reference:
            torch.sub(target, self.reference, out=self.weight)
        return pulses


def _splitmix64(z: int) -> int:
    """splitmix64's finalizer on a Python int: nearby counters give unrelated seeds."""
    mask = 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
    return z ^ (z >> 31)
