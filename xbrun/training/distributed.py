"""One run on several processes (GPUs): data parallel on ``torch.distributed``, replicas kept
identical without ever broadcasting a weight.

Every process (rank) holds the whole model and data, draws the same shuffle and takes its
shard of each global batch (``batch_size`` samples, :meth:`Replicas.shard`). After its
forward and backward, :meth:`Replicas.synchronise` makes the step the single-process step
of the global batch:

- the analog update: every tile's queued ``(x, d)`` rows are all-gathered in rank order, so
  each rank's optimizer sees exactly the rows one process would have queued, and applies
  the same pulsed update with the same seeds and generators (transfers, choppers and
  schedules then advance alike because their inputs are alike);
- digital parameters (biases, learned scales, BatchNorm): their gradients are all-reduced
  (summed). Each shard's loss is its *sum* over samples divided by the global batch size,
  so the shard gradients sum to the global batch's gradient; the step's loss is summed too.
  What a forward pass sets from its shard's data (a learned input range initialising,
  ``SyncBatchNorm`` aside) is taken from rank 0;
- MVM noise: each rank draws its own (``AnalogTile.noise_stream``) for its shard's forward
  and backward MVMs, rank 0 the single-process draws of the batch's first rows; evaluation
  and transfer reads draw alike on every rank.

The launch is torch's: ``torchrun --nproc-per-node=N -m xbrun train ...`` or
``distributed.nproc=N``, which starts the same through torch's elastic launcher
(:func:`launch`). Rank 0 alone writes the run folder.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import torch

from ..errors import ConfigError
from ..schema import check


@dataclass
class DistributedConfig:
    """``distributed.*``: one run over several processes of this host (data parallel)."""

    # processes of one run, one per GPU on CUDA (started through torch's elastic launcher);
    # 1: this process alone (or as many as torchrun started: its WORLD_SIZE)
    nproc: int = 1
    # collective backend: auto = nccl on CUDA, gloo on the CPU
    backend: Literal["auto", "gloo", "nccl"] = "auto"

    def validate(self, key: str) -> None:
        check(1 <= self.nproc <= 1024, f"{key}.nproc", "an integer in [1, 1024]", self.nproc)


def env_world() -> tuple[int, int, int]:
    """``(rank, world size, local rank)`` that torchrun / the elastic launcher gave this
    process (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); ``(0, 1, 0)`` outside them."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return 0, 1, 0
    return int(os.environ.get("RANK", "0")), size, int(os.environ.get("LOCAL_RANK", "0"))


def world_size(config) -> int:
    """The processes a run trains on: torchrun's ``WORLD_SIZE``, else ``distributed.nproc``."""
    size = env_world()[1]
    return size if size > 1 else config.distributed.nproc


def check_config(config, multirun: bool = False) -> None:
    """What the config alone rules out for a run on several processes (one-line errors)."""
    nproc, size = config.distributed.nproc, env_world()[1]
    if size > 1:
        check(nproc in (1, size), "distributed.nproc", f"1 (or {size}) under torchrun, which "
              f"started WORLD_SIZE={size} processes itself", nproc)
    world = world_size(config)
    if world == 1:
        return
    check(not (multirun and size > 1), "distributed.nproc", "no sweep (-m) under torchrun: "
          "each job of a sweep starts its own processes with distributed.nproc=N", "-m")
    check(config.batch_size % world == 0, "batch_size", f"a multiple of the {world} "
          f"processes (the global batch is split evenly across them)", config.batch_size)
    check(config.cuda_graphs != "on", "cuda_graphs", f"auto or off with {world} processes "
          "(a run on several processes takes eager steps: its collectives are not captured)",
          config.cuda_graphs)
    check(not (config.distributed.backend == "nccl" and config.accelerator == "cpu"),
          "distributed.backend", "auto or gloo with accelerator=cpu (nccl needs CUDA GPUs)",
          config.distributed.backend)


def check_machine(config, device: torch.device) -> None:
    """What this machine cannot give a run on several processes (one-line errors)."""
    world = world_size(config)
    if world == 1:
        return
    backend = resolve_backend(config.distributed.backend, device)
    if backend == "nccl" and device.type != "cuda":
        raise ConfigError("distributed.backend: nccl needs the run on CUDA GPUs (it runs on "
                          f"{device.type}); use auto or gloo")
    local = int(os.environ.get("LOCAL_WORLD_SIZE", config.distributed.nproc))
    if device.type == "cuda" and torch.cuda.device_count() < local:
        raise ConfigError(f"distributed.nproc: {local} processes on CUDA need {local} GPUs, "
                          f"this machine has {torch.cuda.device_count()}; use at most "
                          f"{torch.cuda.device_count()} or accelerator=cpu")


def resolve_backend(backend: str, device: torch.device) -> str:
    if backend == "auto":
        return "nccl" if device.type == "cuda" else "gloo"
    return backend


def place(device: torch.device) -> torch.device:
    """This rank's device: ``cuda:LOCAL_RANK`` on CUDA (made current), else ``device``."""
    if device.type != "cuda" or env_world()[1] == 1:
        return device
    local = env_world()[2]
    torch.cuda.set_device(local)
    return torch.device("cuda", local)


class Replicas:
    """This process's place among the ``size`` replicas of one run, and the collectives of
    a training step. ``sizes`` are the shard sizes of the current global batch."""

    def __init__(self, rank: int, size: int):
        self.rank, self.size = rank, size
        self.sizes: list[int] = [0] * size
        self.counted: list[tuple] = []  # (tile, its MVM vector counts before the step)

    @classmethod
    def join(cls, config, device: torch.device) -> Replicas | None:
        """Join the process group torchrun described (None when there is one process)."""
        rank, size, _ = env_world()
        if size == 1:
            return None
        import torch.distributed as dist

        if not dist.is_initialized():
            backend = resolve_backend(config.distributed.backend, device)
            dist.init_process_group(backend, timeout=timedelta(minutes=10),
                                    device_id=device if device.type == "cuda" else None)
        return cls(rank, size)

    def leave(self) -> None:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()

    # -- the batch ------------------------------------------------------------------------
    def shard(self, idx: torch.Tensor) -> torch.Tensor:
        """This rank's part of the global batch ``idx``: consecutive, in rank order (sizes
        differ by at most one when the batch does not split evenly: an epoch's last)."""
        parts = torch.tensor_split(idx, self.size)
        self.sizes = [len(p) for p in parts]
        return parts[self.rank]

    def loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The shard's share of the global batch's mean loss: its sum / the global batch
        size (the shard gradients then sum to the global batch's gradient; in float32
        each sample's gradient is the single-process one bit for bit)."""
        from .tasks import task_loss

        return task_loss(out, y, reduction="sum") / sum(self.sizes)

    # -- the step's collectives -------------------------------------------------------------
    def begin(self, optimizer) -> None:
        """Before a step's forward: note each tile's MVM vector counts (the cost ledger's),
        so the step can count the vectors of every shard, as one process would; and give
        the tiles this rank's noise stream for the step's forward and backward MVMs (the
        shards' rows would otherwise draw the same noise row for row; rank 0's rows draw
        what one process draws for the first rows of the batch)."""
        self.counted = [(tile, tile.mvm_vectors.clone()) for _, tile in _tiles(optimizer)]
        for tile, _ in self.counted:
            tile.noise_stream = self.rank

    @torch.no_grad()
    def synchronise(self, model, optimizer, loss: torch.Tensor) -> torch.Tensor:
        """Make the step the global batch's: digital gradients, the loss and the step's
        MVM vector counts summed over ranks, every tile's queued ``(x, d)`` gathered in
        rank order. Returns the global batch's mean loss."""
        import torch.distributed as dist

        grads = [p.grad for p in model.parameters() if p.grad is not None]
        loss = loss.detach().reshape(1)
        counts = [tile.mvm_vectors - before for tile, before in self.counted]
        _in_place([*grads, loss, *counts], dist.all_reduce)
        for (tile, before), count in zip(self.counted, counts, strict=True):
            tile.mvm_vectors.copy_(before + count)
            tile.noise_stream = 0  # evaluation and transfers: the same draws on every rank
        self.counted = []
        self._broadcast_ranges(optimizer)
        self._gather_pending(optimizer)
        return loss.reshape(())

    def gather(self, value) -> list:
        """``value`` of every rank, in rank order (any picklable object; outside a step)."""
        import torch.distributed as dist

        values: list = [None] * self.size
        dist.all_gather_object(values, value)
        return values

    def identical(self, model) -> bool:
        """Whether every rank's model state (weights, buffers, tiles' extra state with their
        generators and counters) is this rank's, bit for bit: one digest per rank, gathered.
        What the design promises, checked once at the end of a run."""
        import hashlib

        digest = hashlib.sha256()
        _digest(model.state_dict(), digest)
        return len(set(self.gather(digest.hexdigest()))) == 1

    def _broadcast_ranges(self, optimizer) -> None:
        """Learned input ranges move towards the data's spread in the forward pass while they
        initialise (``input_range.py``): each rank saw only its shard, so rank 0's ranges
        (and counts) become every rank's. Once initialised they move only by their summed
        gradient, and the broadcast changes nothing."""
        import torch.distributed as dist

        state = [t for _, tile in _tiles(optimizer) if tile.input_range is not None
                 for t in (tile.input_range.data, tile.input_range_update_idx)]
        _in_place(state, lambda flat: dist.broadcast(flat, src=0))

    def _gather_pending(self, optimizer) -> None:
        """Every tile's queue becomes the global batch's rows, in rank order. Each queued
        tensor has ``rows_per_sample x shard size`` leading rows (rows, or images of a
        convolution); shards are padded to the largest for the one all-gather."""
        import torch.distributed as dist

        tiles = [tile for _, tile in _tiles(optimizer) if tile.pending]
        tensors = [t for tile in tiles for pair in tile.pending for t in pair]
        if not tensors:
            return
        mine, widest = self.sizes[self.rank], max(self.sizes)
        per_sample = [t.shape[0] // mine for t in tensors]
        padded = [_pad(t, n * widest) for t, n in zip(tensors, per_sample, strict=True)]
        gathered: dict[int, list[torch.Tensor]] = {}
        for group in _by_dtype_index(padded):
            flat = torch._utils._flatten_dense_tensors([padded[i] for i in group])
            out = [torch.empty_like(flat) for _ in range(self.size)]
            dist.all_gather(out, flat)
            for flat_r in out:
                parts = torch._utils._unflatten_dense_tensors(flat_r, [padded[i]
                                                                       for i in group])
                for i, part in zip(group, parts, strict=True):
                    gathered.setdefault(i, []).append(part)
        whole = [torch.cat([part[:n * self.sizes[r]] for r, part in enumerate(gathered[i])])
                 for i, n in enumerate(per_sample)]
        at = 0
        for tile in tiles:
            count = len(tile.pending)
            tile.pending[:] = [(whole[at + 2 * k], whole[at + 2 * k + 1]) for k in range(count)]
            at += 2 * count


def _digest(value, digest) -> None:
    if isinstance(value, torch.Tensor):
        digest.update(str((value.dtype, tuple(value.shape))).encode())
        digest.update(value.detach().cpu().reshape(-1).contiguous().view(torch.uint8)
                      .numpy().tobytes() if value.numel() else b"")
    elif isinstance(value, dict):
        for key, item in value.items():
            digest.update(str(key).encode())
            _digest(item, digest)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _digest(item, digest)
    else:
        digest.update(repr(value).encode())


def _tiles(optimizer):
    """``(group, tile)`` of every analog tile the optimizer drives (none: a digital run)."""
    return getattr(optimizer, "_tiles", lambda: ())()


def _pad(t: torch.Tensor, rows: int) -> torch.Tensor:
    if t.shape[0] == rows:
        return t.contiguous()
    return torch.cat([t, t.new_zeros((rows - t.shape[0], *t.shape[1:]))])


def _in_place(tensors: list[torch.Tensor], collective) -> None:
    """Run ``collective`` (an in-place ``torch.distributed`` call on one tensor) over
    ``tensors``: one flat tensor per dtype, its result copied back into each."""
    for index in _by_dtype_index(tensors):
        group = [tensors[i] for i in index]
        flat = torch._utils._flatten_dense_tensors(group)
        collective(flat)
        for tensor, value in zip(group, torch._utils._unflatten_dense_tensors(flat, group),
                                 strict=True):
            tensor.copy_(value)


def _by_dtype_index(tensors: list[torch.Tensor]) -> list[list[int]]:
    groups: dict[torch.dtype, list[int]] = {}
    for i, t in enumerate(tensors):
        groups.setdefault(t.dtype, []).append(i)
    return list(groups.values())


# -- the launch ---------------------------------------------------------------------------
#: environment variable that hands the processes ``distributed.nproc`` starts their run: the
#: config (as ``to_dict`` gives it), the run folder and the log file (``xbrun.replica``)
REPLICA_RUN = "XBRUN_REPLICA_RUN"
#: environment variable naming the process that holds the run folder's lock for its replicas
LOCK_HOLDER = "XBRUN_LOCK_HOLDER"


def launch(config, run_dir, log_file=None, entry=None) -> tuple[int, str]:
    """The run ``config`` on ``distributed.nproc`` processes of this host, started by torch's
    elastic launcher (``torchrun --standalone --nproc-per-node=N`` starts the same) as
    ``python -m xbrun.replica``; rank 0 trains into ``run_dir``, whose lock this process
    holds for them. Returns the exit status of the first process that failed (0: none)
    and its error (a refused run's rank 0 has printed its one line itself).

    On the CPU, with ``entry`` (``xbrun.replica.main``), the processes are forks of this
    one instead, which has imported everything they need (2 s of CPU each, on a run of a
    few seconds); CUDA is never forked."""
    import json
    import logging
    import sys

    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    from ..schema import to_dict

    # the agent's lines (its rendezvous, the SIGTERM it sends to the other processes when
    # one fails, the failure report) would bury the one line a refused run prints; a
    # failure's error comes back in the exception
    for name in list(logging.root.manager.loggerDict):  # (each module's sets its own level)
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    fork = entry is not None and config.accelerator == "cpu" or (
        entry is not None and config.accelerator == "auto" and not torch.cuda.is_available())
    launch_config = LaunchConfig(
        min_nodes=1, max_nodes=1, nproc_per_node=config.distributed.nproc,
        run_id=f"xbrun-{uuid.uuid4().hex[:12]}", rdzv_backend="c10d",
        rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.05,
        start_method="fork" if fork else "spawn")
    run = {"config": to_dict(config), "run_dir": str(run_dir),
           "log_file": None if log_file is None else str(log_file)}
    saved = {k: os.environ.get(k) for k in (REPLICA_RUN, LOCK_HOLDER)}
    os.environ[REPLICA_RUN] = json.dumps(run)
    os.environ[LOCK_HOLDER] = str(os.getpid())
    try:
        if fork:
            elastic_launch(launch_config, entrypoint=entry)()
        else:
            elastic_launch(launch_config, entrypoint=sys.executable)("-m", "xbrun.replica")
    except ChildFailedError as err:
        failures = [f for _, f in sorted(err.failures.items())]
        first = next((f for f in failures if f.exitcode > 0), failures[0])
        return max(first.exitcode, 1), _message(first.message)
    except SignalException as err:  # the launcher stopped its processes on SIGINT/SIGTERM
        return 128 + int(err.sigval), ""
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return 0, ""


def _message(message) -> str:
    """The last line of a failed process's error (a traceback, or the launcher's words)."""
    if isinstance(message, dict):
        message = message.get("message", "")
    lines = [line for line in str(message or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def lock_held_for_me() -> bool:
    """Whether the process that started this one (:func:`launch`) holds the run folder's
    lock for it."""
    return os.environ.get(LOCK_HOLDER) == str(os.getppid())


__all__ = ["DistributedConfig", "Replicas", "check_config", "check_machine", "env_world",
           "launch", "lock_held_for_me", "place", "world_size"]
