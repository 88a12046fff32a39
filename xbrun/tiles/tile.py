"""The core crossbar tile: device state plus the raw analog forward, backward and update.

Everything here works in conductance units on the full physical array (``d_size x x_size``,
an analog bias column included). The digital periphery around it (scales, input ranges, bias
handling, programming and reading) is :class:`xbrun.tiles.periphery.TileWithPeriphery`;
``get_weights`` returns ``(weight, bias)`` on both.
``update`` turns activations and errors into rank-1 factors (the decomposition) and hands them
to the training device as pulses.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import TileError
from ..graph_state import DeviceScalar, GraphState
from ..kernels import seeds
from ..physics.io import IOConfig, analog_mvm


class AnalogTile(nn.Module, GraphState):
    """The raw tile (see the module docstring). Its graph state: counters on the device
    (``pulses``, ``rank1_count``, ``mvm_vectors``, and on CUDA the MVM noise seed, made there
    on first use) and the one generator the step draws from. The reconstruction error sums
    move on the host and are not declared: a decomposition that reports errors keeps the
    step eager (it reads them back anyway)."""

    graph_device_state = ("pulses", "rank1_count", "mvm_vectors", "_mvm_seed_device")

    def __init__(self, out_size: int, in_size: int, *, device_config, cell, io: IOConfig,
                 update, decomposition=None, seed: int = 0, group_param_idx: int = 0):
        super().__init__()
        self.out_size, self.in_size = out_size, in_size
        self.d_size, self.x_size = out_size, in_size  # physical rows / columns
        self.io = io
        self.decomposition = decomposition
        self.group_param_idx = group_param_idx
        self.seed = seed
        self.device_state = device_config.build(out_size, in_size, cell, update, seed)
        self.register_buffer("pulses", torch.zeros((), dtype=torch.int64))
        # counted on the device, so a replayed CUDA graph counts too (saved as extra state)
        self.rank1_count = DeviceScalar()
        # the cost ledger's MVMs: vectors through the forward and the backward pass (on the
        # device as well; saved as extra state)
        self.register_buffer("mvm_vectors", torch.zeros(2, dtype=torch.int64), persistent=False)
        self.reconstruction_error_sum = 0.0
        self.reconstruction_error_count = 0
        self._generator: torch.Generator | None = None
        self._generator_state: torch.Tensor | None = None
        self._mvm_counter = [0]  # bumped per MVM; a list spares nn.Module.__setattr__
        self._mvm_seed_device: torch.Tensor | None = None
        self._mvm_seed_saved: int | None = None
        # which replica of a run on several processes this tile is (its rank): each draws
        # its own MVM noise for the rows of its shard (0: one process, unchanged)
        self.noise_stream = 0

    # -- randomness: one generator per tile, on the tile's torch device, checkpointed --
    def graph_generators(self) -> dict[str, torch.Generator]:
        return {} if self._generator is None else {"_generator": self._generator}

    @property
    def generator(self) -> torch.Generator:
        where = self.pulses.device
        if self._generator is None or self._generator.device != where:
            gen = torch.Generator(device=where)
            gen.manual_seed(seeds.tile_generator_seed(self.seed))
            saved = self._generator_state
            if saved is not None and saved[0] == where.type:
                gen.set_state(saved[1])
            self._generator = gen
        return self._generator

    def mvm_seed(self) -> int | torch.Tensor:
        """A fresh noise seed per MVM, from the generator's seed and a call counter (saved
        with the tile): reproducible by seed, and drawn without touching the GPU.

        On CUDA it is a one-element device tensor advanced in place by the same step, which
        the kernel reads: a captured CUDA graph then draws fresh noise on every replay.
        A replica's ``noise_stream`` moves its seeds off those of the other replicas (their
        shards' rows would otherwise draw the same noise, row for row).
        """
        self._mvm_counter[0] += 1
        calls = self._mvm_counter[0]
        if not self._device_seeds():
            return seeds.replica_seed(self._host_seed(calls), self.noise_stream)
        seed = self.mvm_seed_tensor(calls - 1).add_(seeds.MVM_STEP)
        return seeds.replica_seed(seed, self.noise_stream) if self.noise_stream else seed

    def _device_seeds(self) -> bool:
        """Whether the MVM seeds live on the device (CUDA: read there by the kernels)."""
        return self.pulses.device.type == "cuda"

    def mvm_seed_tensor(self, calls: int) -> torch.Tensor:
        """The CUDA noise seed of the last MVM, a one-element device tensor (made on first
        use from the saved seed, or from ``calls``, the MVMs run so far)."""
        where = self.pulses.device
        if self._mvm_seed_device is None or self._mvm_seed_device.device != where:
            start = self._mvm_seed_saved
            if start is None:
                start = self._host_seed(calls)
            self._mvm_seed_device = torch.tensor([start], dtype=torch.int64, device=where)
        return self._mvm_seed_device

    @property
    def mvm_calls(self) -> int:
        """How many MVMs this tile has run (it keys their noise)."""
        return self._mvm_counter[0]

    @mvm_calls.setter
    def mvm_calls(self, value: int) -> None:
        self._mvm_counter[0] = int(value)

    def _host_seed(self, calls: int) -> int:
        return seeds.mvm_seed(self.seed, calls)

    def get_extra_state(self):
        state = {"rank1_updates": int(self.rank1_count),
                 "err_sum": self.reconstruction_error_sum,
                 "err_count": self.reconstruction_error_count,
                 "mvm_calls": self.mvm_calls,
                 "mvm_vectors": self.mvm_vectors.detach().cpu().clone()}
        if self._mvm_seed_device is not None:  # read back at checkpoints only
            state["mvm_seed"] = int(self._mvm_seed_device)
        if self._generator is not None:  # CPU or CUDA (seed and offset): resume is exact
            state["generator"] = self._generator.get_state()
            state["generator_device"] = self._generator.device.type
        return state

    def set_extra_state(self, state) -> None:
        self.rank1_count.set_(state["rank1_updates"])
        self.reconstruction_error_sum = state["err_sum"]
        self.reconstruction_error_count = state["err_count"]
        self.mvm_calls = state.get("mvm_calls", 0)
        self.mvm_vectors.copy_(state.get("mvm_vectors", torch.zeros(2, dtype=torch.int64)))
        self._mvm_seed_saved = state.get("mvm_seed")
        self._mvm_seed_device = None
        saved = state.get("generator")
        self._generator_state = (None if saved is None else
                                 (state.get("generator_device", "cpu"), saved))
        self._generator = None

    # -- the raw passes, in conductance units on the physical array --
    def weight(self) -> torch.Tensor:
        return self.device_state.visible_weight()

    def mvm(self, x: torch.Tensor) -> torch.Tensor:
        """Forward MVM ``x @ W.T`` (``x``: ``[N, x_size]``) through the forward I/O (its
        vectors counted by the MVM: on CUDA in its kernel)."""
        return self._counted_mvm(self.weight(), x, self.io.forward, 0)

    def mvm_transposed(self, d: torch.Tensor) -> torch.Tensor:
        """Backward MVM ``d @ W`` (``d``: ``[N, d_size]``) through the backward I/O."""
        return self._counted_mvm(self.weight().T, d, self.io.backward, 1)

    def _counted_mvm(self, weight: torch.Tensor, x: torch.Tensor, io, which: int):
        """:func:`analog_mvm` with the rows added to ``mvm_vectors[which]``: on CUDA by its
        kernel, on the CPU here through a numpy view (a torch add on the one-element view
        cost some 7 us an MVM, a tenth of a small layer's forward)."""
        seed = self.mvm_seed()
        if weight.device.type != "cpu":
            return analog_mvm(weight, x, io, seed=seed,
                              vectors=self.mvm_vectors[which:which + 1])
        self.mvm_vectors.numpy()[which] += x.shape[0]
        return analog_mvm(weight, x, io, seed=seed)

    def pulse_update(self, x: torch.Tensor, d: torch.Tensor, lr: float,
                     decompose: bool = True) -> None:
        """``W <- W - lr * d^T x`` as pulses, through the decomposition when ``decompose``."""
        if self.decomposition is None or not decompose:
            d_rows, x_rows = d, x
        else:
            d_rows, x_rows = self.decomposition.factors(x, d, self.group_param_idx)
            error = getattr(self.decomposition, "last_relative_error", None)
            if error is not None:
                self.reconstruction_error_sum += float(error)
                self.reconstruction_error_count += 1
        # the device adds its pulses and rows to the counts in place (on CUDA in its kernels)
        self.device_state.update(x_rows, d_rows, lr, self.generator, add_to=self.pulses,
                                 rows=self.rank1_count.tensor)

    def get_conductances(self) -> torch.Tensor:
        return self.weight().detach().cpu().clone()

    def set_conductances(self, weight: torch.Tensor) -> None:
        """Write ``weight`` exactly (clipped to each element's bounds by the device)."""
        self.device_state.set_weight(weight.to(self.pulses.device))

    # -- the plain tile interface (no periphery) --
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mvm(x)

    def backward(self, d: torch.Tensor) -> torch.Tensor:
        return self.mvm_transposed(d)

    def update(self, x: torch.Tensor, d: torch.Tensor, lr: float) -> None:
        self.pulse_update(x, d, lr)

    def get_weights(self) -> tuple[torch.Tensor, None]:
        """``(weight, bias)`` as every tile returns them; the raw array has no bias."""
        return self.get_conductances(), None

    def set_weights(self, weight: torch.Tensor, bias: None = None) -> None:
        if bias is not None:
            raise TileError("set_weights: the raw tile has no bias (use TileWithPeriphery)")
        self.set_conductances(weight)

    def take_counters(self) -> dict:
        """Counters since the last call (pulses, rank-1 updates, reconstruction error)."""
        out = {"pulses": int(self.pulses.item()), "rank1_updates": int(self.rank1_count),
               "err_sum": self.reconstruction_error_sum,
               "err_count": self.reconstruction_error_count}
        self.pulses.zero_()
        self.rank1_count.set_(0)
        self.reconstruction_error_sum = 0.0
        self.reconstruction_error_count = 0
        return out
