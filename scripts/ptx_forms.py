"""Forms that compiled kernels must take in their PTX, checked by ``compile_kernels.py`` on
every launch it compiles (no GPU: Triton's own LLVM and ptxas), where the interpreter (the
CPU tests) cannot see them: it never fuses a multiply into an add."""

from __future__ import annotations

import re


def means_form(signature: dict, constants: dict, ptx: str) -> str | None:
    """Where a kernel walks AGAD's means (``transfer_write_cuda._running_mean``): None if
    ``mean_weight`` is only ever a factor of a rounded product (``mul.f32``) and ``keep``
    only a factor of a fused product (``fma``), else what differs. Written as a sum of two
    products, fp contraction fused one of them, chosen kernel by kernel (``SCAN_TRIPS``'
    unrolled passes: the other one), and ``SPLIT_WRITE`` on and off kept the means and H
    apart in the last bit (one H100, 2026-12-07); the interpreter never fuses."""
    if signature.get("MEANS") != "constexpr" or not constants["MEANS"]:
        return None
    params = [name for name, kind in signature.items() if kind != "constexpr"]
    for name, op in (("mean_weight", "mul.f32"), ("keep", "fma.rn.f32")):
        load = re.search(rf"ld\.param\.[bf]32\s+(%r\d+), \[\w+_param_{params.index(name)}\]", ptx)
        if load is None:
            return f"{name}: not loaded as a parameter"
        uses = re.findall(rf"^\s*([\w.]+)\s+%r\d+, ([^;]*{load.group(1)}\b[^;]*);", ptx,
                          re.MULTILINE)
        if not uses or any(instr != op or (op == "fma.rn.f32" and load.group(1) not in
                                           args.split(", ")[:2]) for instr, args in uses):
            return f"AGAD's means: {name} used as {uses[:4]}, not only as a factor of {op}"
    return None


def tf32x3_form(name: str, constants: dict, ptx: str) -> str | None:
    """Where a kernel multiplies at ``tf32x3`` (``analog_mvm_cuda._matmul_tf32x3_kernel``,
    ``_mvm_rows_kernel`` with ``TF32X3``): None if its PTX has TF32 tensor-core products
    (``wgmma.mma_async`` on sm_90 from 64-row blocks, ``mma.sync`` otherwise), else what
    differs. The interpreter's dot is float32's whatever the precision: it cannot show that
    the switch took the tensor cores, not FMAs."""
    if name != "_matmul_tf32x3_kernel" and not constants.get("TF32X3"):
        return None
    if re.search(r"\b(wgmma\.mma_async|mma\.sync)[\w.]*\.tf32", ptx) is None:
        return f"{name}: tf32x3 without a TF32 tensor-core product (wgmma / mma) in its PTX"
    return None

