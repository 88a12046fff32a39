"""Compile Triton kernels for an H100 (sm_90) on a machine without a GPU: a check that they
build, not that they are right (the interpreted tests check that).

    python scripts/compile_sm90.py

Triton compiles to a cubin without a device when its driver reports a target; this
script installs such a driver and turns every launch into a warm-up (compile, no run),
then calls the launchers of the transfer step's kernels on CPU tensors at the bench
MLP's sizes: the line walk, the line probabilities with their counters and signs, the
pulsed update with keyed seeds (blocks, row chunks, one-hot lines), the transfer write
with the chopped devices' bookkeeping and the one-hot reads' MVM. It prints how many
variants compiled.
"""

from __future__ import annotations

import os

os.environ["TRITON_INTERPRET"] = "0"

import torch  # noqa: E402
from triton.backends.compiler import GPUTarget  # noqa: E402
from triton.runtime import driver  # noqa: E402
from triton.runtime.jit import JITFunction  # noqa: E402


class _TargetDriver:
    """The active driver, reporting an sm_90 target and device 0."""

    def __init__(self, real):
        self.real = real

    def get_current_target(self):
        return GPUTarget("cuda", 90, 32)

    def get_current_device(self):
        return 0

    def get_current_stream(self, device=None):
        return 0

    def __getattr__(self, name):
        return getattr(self.real, name)


COMPILED: list[tuple[str, bool]] = []


def _install() -> None:
    try:
        real = driver.active
    except Exception:  # no GPU driver at all: the target is all that is asked
        real = None
    driver.set_active(_TargetDriver(real))
    run = JITFunction.run

    def warm(self, *args, grid, warmup, **kwargs):
        kernel = run(self, *args, grid=grid, warmup=True, **kwargs)
        COMPILED.append((self.fn.__name__, "cubin" in kernel.asm))
        return kernel

    JITFunction.run = warm


def main() -> None:
    _install()
    from xbrun.kernels import line_walk_cuda, seeds
    from xbrun.kernels import pulsed_update_cuda as pu
    from xbrun.kernels import transfer_write_cuda as tw
    from xbrun.kernels.params import (
        BufferParams,
        CellParams,
        ChopperParams,
        TransferWriteParams,
        UpdateParams,
    )

    from xbrun import kernels

    def counter(n=2):
        return torch.zeros(n, dtype=torch.int64)

    line_walk_cuda.line_walk_triton(torch.tensor(3), torch.tensor(0), 32, 784, torch.float32,
                                    counter()[1:], 12345)
    line_walk_cuda.line_walk_triton(torch.tensor(3), torch.tensor(0), 32, 784, None)
    line_walk_cuda.line_walk_grouped_triton(torch.zeros(4, dtype=torch.int64),
                                            torch.zeros(4, dtype=torch.int64), 32, 512,
                                            torch.float32, counter(8).view(4, 2)[:, 1],
                                            torch.arange(4))
    pu.line_probabilities_triton(torch.randn(32, 784), torch.randn(32, 256), 0.1, 0.001,
                                 desired_bl=31, fixed_bl=True, update_management=True,
                                 update_bl_management=True, um_grad_scale=1.0, res=0.0,
                                 slots=counter()[:1], calls=torch.tensor(5),
                                 x_sign=torch.ones(784), d_sign=torch.ones(256),
                                 rows=torch.tensor(0))
    w, cp = torch.zeros(256, 784), torch.zeros(8, 256, 784)
    xp, dp = torch.rand(32, 784), torch.rand(32, 256)
    bl = torch.full((32,), 31, dtype=torch.int32)
    key = seeds.KeyedSeed(torch.tensor(5), 12345)
    constant = CellParams(kernels.CELL_CONSTANT, 0.3, True, (), None)
    linear = CellParams(kernels.CELL_LINEAR, 0.3, True, (), None)
    pu.pulsed_update_triton(w, cp, xp, dp, bl, UpdateParams(constant, 31), seed=key)
    pu.pulsed_update_triton(w, cp, xp, dp, bl, UpdateParams(constant, 31), seed=key,
                            row_chunk=8)
    for chunk in (None, 8):  # into a tile's running count (the words leave it unzeroed)
        pu.pulsed_update_triton(w, cp, xp, dp, bl, UpdateParams(constant, 31), seed=key,
                                row_chunk=chunk, add_to=torch.zeros((), dtype=torch.int64))
    for columns in (True, False):
        for start in (7, torch.tensor(7)):
            for max_bl in (31, 40):
                pu.pulsed_update_triton(w, cp, xp, dp, bl, UpdateParams(constant, max_bl, True),
                                        seed=key, one_hot=(start, columns),
                                        cell_pulses=torch.zeros(256, 784, dtype=torch.int32))
    pu.pulsed_update_triton(w, cp, xp, dp, bl, UpdateParams(linear, 31, True), seed=key,
                            one_hot=(3, True))
    for seed in (torch.tensor([3]), 3):
        pu.pulsed_update_triton(w, cp, xp, dp, bl, UpdateParams(linear, 31), seed=seed)
    reads, buffer = torch.randn(32, 256), torch.zeros(256, 784)
    signs = {"out_sign": torch.ones(256), "in_sign": torch.ones(784)}
    write = TransferWriteParams(True, 0.01, 0.001, 1, False, False, False, 1.0,
                                BufferParams(1.0, 1.0, 1, 0.0, True, 0.0, False))
    for chopper, means, draws in (
            (ChopperParams(flip_prob=0.1), False, True), (ChopperParams(period=10), False, False),
            (ChopperParams(flip_prob=0.1, period=10, momentum=0.5, ready_after=10), True, True)):
        agad = {"running_mean": torch.zeros(256, 784), "past_mean": torch.zeros(256, 784),
                "switched": torch.zeros(784, dtype=torch.bool)} if means else {}
        tw.transfer_write_triton(reads, torch.tensor(5), 784, write, buffer=buffer, **signs,
                                 chopper=chopper, flip_draws=torch.rand(32) if draws else None,
                                 passes=torch.tensor(2), train_slots=counter()[:1],
                                 calls=torch.tensor(4), **agad)
    tw.transfer_write_triton(reads, 5, 784, write, buffer=buffer, **signs)
    tw.transfer_write_triton(reads, 5, 784, write._replace(buffer=BufferParams()))
    tw.transfer_lines_triton(w, cp, reads, torch.tensor(5), write, constant, seed=key, max_bl=1,
                             train_slots=counter()[:1], calls=torch.tensor(4), buffer=buffer,
                             **signs, chopper=ChopperParams(flip_prob=0.1),
                             flip_seed=counter(1), passes=torch.tensor(2))
    from xbrun.kernels import analog_mvm_cuda

    from xbrun.devices.transfer import transfer_read_io
    from xbrun.physics.io import kernel_params

    onehot = torch.zeros(32, 784)
    onehot[torch.arange(32), torch.arange(5, 37)] = 1.0
    analog_mvm_cuda.analog_mvm_triton(w, onehot, kernel_params(transfer_read_io()),
                                      torch.tensor([5]), onehot_start=torch.tensor(5))
    analog_mvm_cuda.analog_mvm_triton(w, torch.randn(32, 784),
                                      kernel_params(transfer_read_io()), torch.tensor([5]),
                                      vectors=counter()[:1])
    names = sorted({name for name, _ in COMPILED})
    ok = all(cubin for _, cubin in COMPILED)
    print(f"{len(COMPILED)} variants of {len(names)} kernels compiled for sm_90"
          f"{'' if ok else ' (some without a cubin)'}: {', '.join(names)}")


if __name__ == "__main__":
    main()
