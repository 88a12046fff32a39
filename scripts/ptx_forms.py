"""Forms that compiled kernels must take in their PTX, checked by ``compile_kernels.py`` on
every launch it compiles (no GPU: Triton's own LLVM and ptxas), where the interpreter (the
CPU tests) cannot see them: it never fuses a multiply into an add."""

from __future__ import annotations

import re


def means_form(signature: dict, constants: dict, ptx: str) -> str | None:
    """Where a kernel walks AGAD's means (``transfer_write_cuda._running_mean``): None if
    ``mean_weight`` is only ever a factor of a rounded product (``mul.f32``) and ``keep``
    only a factor of a fused product (``fma``), else what differs. Written as a sum of two
    products, fp contraction fused one of them, chosen kernel by kernel (the split scan's
    unrolled trips: the other one), and the split write and the one-line kernel kept the
    means and H apart in the last bit (one H100, 2026-12-07); the interpreter never fuses."""
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


# Triton's coalescing pass (``TritonGPUCoalesce``, at the TTGIR stage) gathers, for every load
# and store of a tensor of pointers, the whole slice of operations connected to it (MLIR's
# multi-root slice: every operation's backward and forward slices, again from each one it
# adds) - ~operations^2 work per memory operation in a kernel whose operations all connect
# (a walk: every pass's loads feed the one chain of weights). A one-hot apply's walk
# (``APPLY_DEEP``'s first form, since removed: 128 passes' loads unrolled, 262 tensor loads
# over 3,522 TTIR operations: 3.3e9) spent 60-170 s per launch in that one pass on this
# 2-core CPU (Triton 3.8; the 2026-12-07 H100 call's ResNet row compiled for the rest of
# its ~500 s); trips of 16 (6.0e7) ~1 s. The budget: the largest launch measured fast
# (2026-12-07: ``_coincidence_kernel``, 2.4e8) with room; ``compile_kernels.py`` names
# every launch over it.
COALESCING_BUDGET = 4e8
_OP = re.compile(r"^\s+(?:%[\w#:]+(?:, %[\w#:]+)* = )?\"?[a-z_]+\.[a-z_.]+")
_MEMORY = re.compile(r"\b(?:tt\.load|tt\.store|tt\.atomic_rmw|tt\.atomic_cas)\b.*tensor<")


def coalescing_cost(ttir: str) -> tuple[int, int, float]:
    """A kernel's TTIR (Triton's ``ttir`` stage, as text): its loads, stores and atomics of
    tensors of pointers ``M``, its operations ``N`` and ``M * N**2``, the coalescing pass's
    work up to a constant (~2e-8 s a unit on this CPU, 2026-12-07)."""
    lines = ttir.splitlines()
    ops = sum(bool(_OP.match(line)) for line in lines)
    memory = sum(bool(_MEMORY.search(line)) for line in lines)
    return memory, ops, float(memory) * ops * ops


def ttir(fn, signature: dict, constants: dict, num_warps: int = 4, arch: int = 90) -> str:
    """A JIT function's TTIR (Triton's front end and its ``ttir`` stage alone: no GPU, no
    LLVM, ~0.1-0.4 s) as text, for ``coalescing_cost`` before a compile. Only where
    kernels are compiled (``TRITON_INTERPRET=0`` when Triton was imported: interpreted runs
    leave Triton's language patched)."""
    from triton._C.libtriton import ir
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource, make_backend

    target = GPUTarget("cuda", arch, 32)
    backend = make_backend(target)
    source = ASTSource(fn, signature, constants)
    options = backend.parse_options({"num_warps": num_warps})
    context = ir.context()
    ir.load_dialects(context)
    backend.load_dialects(context)
    module = source.make_ir(target, options, backend.get_codegen_implementation(options),
                            backend.get_module_map(), context)
    stages = {}
    backend.add_stages(stages, options, source.language)
    return str(stages["ttir"](module, {}))
