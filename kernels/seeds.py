"""Every seed a kernel call is keyed by, derived in one place with named constants.

A run's seed fans out into tile seeds, a tile's generator, the noise seed of every MVM and
the seed of every update kernel call of every array. Each derivation is a pure function of
integers (and, on CUDA, of a device counter), so the same run seed gives the same draws -
and a CUDA graph can advance a seed on the device without a host sync. The constants are
the ones the runs have always used: changing one changes every metric.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

# ranges and masks
KERNEL_SEED_BOUND = 2**31 - 1  # a seed drawn for one kernel call lies in [0, bound)
WIDE_SEED_BOUND = 2**62  # a wide draw: an MVM noise seed, the key of an array's CPU seed
MASK31 = 0x7FFFFFFF
MASK32 = 0xFFFFFFFF
MASK63 = 0x7FFF_FFFF_FFFF_FFFF
MASK64 = 0xFFFF_FFFF_FFFF_FFFF

# the fan-out of a run seed
TILE_STRIDE = 1000  # tile i of a run seeded s is seeded s * 1000 + i + 1 (repeats: s * 1000 + r)
TILE_GENERATOR_OFFSET = 7919  # a tile's generator starts at its seed + 7919
SLOW_ARRAY_OFFSET = 1_000_003  # a transfer device's slow array: its own device-to-device draw

# per-call keys: a base seed, a salt (an array's construction seed) and a call counter
KEY_BASE = 1_000_003  # multiplier of the base seed
KEY_SALT = 998_244_353  # multiplier of the salt: two arrays of one tile never share a stream
CALL_STEP = 7_919  # between the update seeds of consecutive calls of one array
MVM_STEP = 2_654_435_761  # between the noise seeds of consecutive MVMs of a tile
REPLICA_STEP = 0x5851_F42D_4C95_7F2D  # between the MVM noise streams of a run's replicas

# splitmix64: the CPU kernels' counter-based generators and the host seed mixer
GOLDEN64 = 0x9E3779B97F4A7C15  # 2**64 / golden ratio: the step between counters
MIX64_MUL1 = 0xBF58476D1CE4E5B9
MIX64_MUL2 = 0x94D049BB133111EB

# the streams of one seed inside a kernel call (the counted update's, numba: seed ^ salt)
D_STREAM_SALT = 0x5DEECE66D  # the d lines' bits (the x lines take the seed itself)
NOISE_STREAM_SALT = GOLDEN64  # the cycle-to-cycle noise

# the MVM's Triton seed: 44 bits with the top one set; the stream and pass go above them
MVM_SEED_BITS = 44
# a transfer read seed's stream of the chopper switches' draws (above the 44 bits; the
# MVM's streams there are ``stream * 256 + 1 + pass``, far below it)
CHOPPER_STREAM = 0x7FFF
assert (1 << (MVM_SEED_BITS - 1)) == 0x80000000000  # analog_mvm_cuda._seed's literal


def draw_kernel_seed(generator: torch.Generator | None, device) -> int:
    """A kernel seed drawn from a torch generator, so runs stay reproducible by seed (the
    generator's device, else ``device``)."""
    return torch.randint(0, KERNEL_SEED_BOUND, (1,), generator=generator,
                         device=generator.device if generator is not None else device).item()


def draw_cpu_kernel_seed(generator: torch.Generator | None) -> int:
    """A kernel seed drawn on the CPU from ``generator`` (the numba line writes)."""
    return int(torch.randint(0, KERNEL_SEED_BOUND, (1,), generator=generator))


def draw_wide_seed(generator: torch.Generator | None, where=None) -> torch.Tensor:
    """A one-element draw below ``WIDE_SEED_BOUND`` from ``generator`` on ``where``: an MVM's
    noise seed, or the key of an array's CPU update seed."""
    return torch.randint(0, WIDE_SEED_BOUND, (1,), generator=generator, device=where)


def tile_seed(run_seed: int, index: int) -> int:
    """The seed of tile ``index`` of a run (its own draws and generator)."""
    return run_seed * TILE_STRIDE + index + 1


def repeat_seed(run_seed: int, repeat: int) -> int:
    """The seed of repeat ``repeat`` of an evaluation (deployment's drift repeats)."""
    return run_seed * TILE_STRIDE + repeat


def slow_array_seed(seed: int, construction_seed: int) -> tuple[int, int]:
    """A transfer device's slow array: its seed and its cell's construction seed (0 stays 0:
    from the run seed), so it draws its own device-to-device spread."""
    return seed + SLOW_ARRAY_OFFSET, construction_seed + 1 if construction_seed else 0


def tile_generator_seed(seed: int) -> int:
    """Where a tile's generator starts."""
    return seed + TILE_GENERATOR_OFFSET


def mvm_seed(seed: int, calls: int) -> int:
    """The noise seed of a tile's MVM number ``calls`` on the host (a CUDA tile adds
    ``MVM_STEP`` per MVM to a device copy of it)."""
    return (tile_generator_seed(seed) * KEY_BASE + calls * MVM_STEP) & MASK63


def read_seed_offset(base: int, salt: int) -> int:
    """What the CUDA noise seeds of an array's transfer reads add to their key: from the
    generator's initial seed ``base`` and the array's ``salt`` (as ``array_seed_offset``)."""
    return array_seed_offset(base, salt)


def read_seed(reads_before, offset: int):
    """The CUDA noise seed of a transfer's read of an array that ``reads_before`` vectors
    were read from before (its ledger's count: an int or an int64 tensor): ``(reads_before
    * MVM_STEP + offset) & MASK63``. The walk's kernel makes it where it counts the reads
    (``line_walk_ref``), so a read spends no launch on drawing a seed; a new count gives a
    new seed, and a replayed CUDA graph reads the count anew."""
    return (reads_before * MVM_STEP + offset) & MASK63


def replica_seed(seed, stream: int):
    """An MVM noise seed (an int, or a device tensor) moved onto the stream of replica
    ``stream`` of a run on several processes, whose shards' rows would otherwise draw the
    same noise row for row (stream 0: unchanged)."""
    return (seed + (stream * REPLICA_STEP) % (MASK63 + 1)) & MASK63


class KeyedSeed(NamedTuple):
    """A CUDA update seed kept as its key: ``(calls * CALL_STEP + offset) & MASK31``, with
    ``calls`` a device counter. The Triton update kernels derive the seed from the counter
    themselves (``pulsed_update_cuda``), so a step spends no launches on it - three small
    integer kernels per update before; :meth:`tensor` makes it for kernels that take a
    seed tensor."""

    calls: torch.Tensor
    offset: int

    def tensor(self) -> torch.Tensor:
        """The seed as a one-element device tensor (three launches)."""
        return torch.add(self.calls * CALL_STEP, self.offset).bitwise_and_(MASK31)


def array_device_seed(calls: torch.Tensor, base: int, salt: int) -> KeyedSeed:
    """A CUDA update seed from the generator's initial seed ``base``, an array's ``salt``
    and its device call counter ``calls``: no host sync, a new value each graph replay."""
    return KeyedSeed(calls, array_seed_offset(base, salt))


def array_seed_offset(base: int, salt: int) -> int:
    """What an array's CUDA update seeds add to its scaled call counter (``KeyedSeed``)."""
    return (base * KEY_BASE + salt * KEY_SALT) & MASK31


def array_device_seeds(calls: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """The ``KeyedSeed`` values of several arrays at once (a tile group's update): their
    call counters ``calls`` and their ``array_seed_offset`` values ``offsets`` (both
    ``(arrays,)`` int64); array ``g`` gets the seed its own ``KeyedSeed`` would give."""
    return torch.add(calls * CALL_STEP, offsets).bitwise_and_(MASK31)


def array_host_seed(draw: int, salt: int, calls: int) -> int:
    """A CPU update seed from a wide generator draw ``draw`` (``draw_wide_seed``), an
    array's ``salt`` and its call counter, mixed so that nearby keys give unrelated seeds."""
    key = (draw * KEY_BASE + salt * KEY_SALT + calls * CALL_STEP) & MASK64
    return splitmix64(key) & MASK63


def low32(seed) -> int:
    """The 32 low bits of a host seed (what the 32-bit keyed kernels take)."""
    return int(seed) & MASK32


def low63(seed) -> int:
    """The 63 low bits of a host seed (a non-negative int64 for numba)."""
    return int(seed) & MASK63


def low64(seed) -> int:
    """The 64 low bits of a host seed (a uint64 for numba)."""
    return int(seed) & MASK64


def mvm_triton_seed(seed) -> int:
    """A host MVM seed in the form the Triton MVM kernels read a device seed in."""
    top = 1 << (MVM_SEED_BITS - 1)
    return (int(seed) & (top - 1)) | top


def splitmix64(z: int) -> int:
    """splitmix64's finalizer on a Python int: nearby counters give unrelated seeds."""
    z = ((z ^ (z >> 30)) * MIX64_MUL1) & MASK64
    z = ((z ^ (z >> 27)) * MIX64_MUL2) & MASK64
    return z ^ (z >> 31)


__all__ = ["CALL_STEP", "CHOPPER_STREAM", "D_STREAM_SALT", "GOLDEN64", "KERNEL_SEED_BOUND",
           "KEY_BASE", "KEY_SALT",
           "KeyedSeed", "MASK31", "MASK32", "MASK63", "MASK64", "MIX64_MUL1", "MIX64_MUL2",
           "MVM_SEED_BITS",
           "MVM_STEP", "NOISE_STREAM_SALT", "REPLICA_STEP", "SLOW_ARRAY_OFFSET",
           "TILE_GENERATOR_OFFSET", "TILE_STRIDE", "WIDE_SEED_BOUND", "array_device_seed",
           "array_device_seeds", "array_seed_offset",
           "array_host_seed", "draw_cpu_kernel_seed", "draw_kernel_seed", "draw_wide_seed",
           "low32", "low63", "low64", "mvm_seed", "mvm_triton_seed", "read_seed",
           "read_seed_offset", "repeat_seed", "replica_seed",
           "slow_array_seed", "splitmix64", "tile_generator_seed", "tile_seed"]
