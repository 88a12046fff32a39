"""A small, fast random stream for the numba kernels: splitmix64 with Box-Muller normals.

numba's own generator (Mersenne Twister) costs ~15 ns per uniform; splitmix64 - a counter
stepped by the golden ratio and hashed - costs about 1 ns and passes BigCrush, which matters
where a kernel draws a Bernoulli per pulse slot. Normals come in Box-Muller pairs, the second
kept for the next call. The state, made by ``rng_state`` from an int seed, is a pair of
one-element arrays (the counter, the spare normal); the caller draws the seed from the tile's
torch generator, so runs stay reproducible by seed and resume exactly from a checkpoint.

numba's cache does not notice edits of a module its kernels inline from: after editing this
file (or ``line_write_cpu``), delete ``kernels/__pycache__/*.nb[ic]``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from . import seeds

_M1 = np.uint64(seeds.MIX64_MUL1)
_M2 = np.uint64(seeds.MIX64_MUL2)
_GOLDEN = np.uint64(seeds.GOLDEN64)


@njit(cache=True, inline="always")
def rng_next(counter):
    """The next 64 random bits."""
    counter[0] += _GOLDEN
    z = counter[0]
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def rng_uniform(counter):
    """A float64 in [0, 1) with 53 random bits."""
    return np.float64(rng_next(counter) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def rng_state(seed):
    """``(counter, spare)``: the uint64 counter and the cached second normal (NaN: none)."""
    counter = np.empty(1, dtype=np.uint64)
    counter[0] = np.uint64(seed)
    counter[0] = rng_next(counter)  # hashed: nearby seeds start far apart in the cycle
    spare = np.empty(1, dtype=np.float64)
    spare[0] = np.nan
    return counter, spare


@njit(cache=True, inline="always")
def rng_normal(counter, spare):
    """A standard normal (Box-Muller; every other call returns the cached partner)."""
    if not np.isnan(spare[0]):
        value = spare[0]
        spare[0] = np.nan
        return value
    z = rng_next(counter)
    u1 = (np.float64(z >> np.uint64(32)) + 0.5) * (1.0 / 4294967296.0)
    u2 = np.float64(z & np.uint64(0xFFFFFFFF)) * (1.0 / 4294967296.0)
    radius = math.sqrt(-2.0 * math.log(u1))
    spare[0] = radius * math.sin(2.0 * math.pi * u2)
    return radius * math.cos(2.0 * math.pi * u2)


__all__ = ["rng_normal", "rng_next", "rng_state", "rng_uniform"]
