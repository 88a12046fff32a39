"""The inner operation of exact per-sample pulsing as a Triton kernel (``bench_floor``).

Each element stands for one cell meeting one sample: AND of its two line words, popcount,
and the clipped constant step. The words live in registers (the index ``i`` changes one of
them per iteration), so the kernel measures arithmetic throughput, not memory.
"""

import triton
import triton.language as tl
from triton.language.extra import libdevice


@triton.jit
def and_popcount_step(out_ptr, n_iter, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    wx = (offs * 747796405 + 1013904223).to(tl.uint32)
    wd = (offs * 277803737 + 1442695041).to(tl.uint32)
    w = tl.zeros([BLOCK], dtype=tl.float32)
    for i in range(n_iter):
        c = libdevice.popc((wx & (wd ^ i)).to(tl.int32, bitcast=True))
        w = tl.minimum(tl.maximum(w + c.to(tl.float32) * 0.001, -1.0), 1.0)
    tl.store(out_ptr + offs, w)
