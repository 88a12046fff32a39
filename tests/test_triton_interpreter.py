"""The conftest's cuts of Triton's interpreter costs (``_interpret_triton_faster``) keep
what the interpreter computes and checks: a helper's patch of the language skipped in a
launch, a dtype's numpy dtype looked up once, the overflow sanitizer run where
``device_assert`` would report it (the kernel tests' exact comparisons with the torch twins
check the numbers)."""

import dataclasses

import pytest
import torch

triton = pytest.importorskip("triton")
tl = pytest.importorskip("triton.language")
interpreter = pytest.importorskip("triton.runtime.interpreter")

if torch.cuda.is_available():
    pytest.skip("kernels are compiled here, not interpreted", allow_module_level=True)


@triton.jit
def _square(a):
    return a * a


@triton.jit
def _squares(x_ptr, out_ptr, N: tl.constexpr):
    offsets = tl.arange(0, N)
    a = tl.load(x_ptr + offsets)
    tl.store(out_ptr + offsets, _square(a) + tl.zeros([N], tl.int32))


def test_helpers_and_library_functions_run_in_a_launch_and_after_it():
    x = torch.arange(-3, 5, dtype=torch.int32)
    for _ in range(2):  # the second launch patches again (its own patch, restored at its end)
        out = torch.empty_like(x)
        _squares[(1,)](x, out, N=8)
        assert torch.equal(out, x * x)
    assert tl.core.is_builtin(tl.load)  # the launch's patch restored at its end


def test_numpy_dtypes_are_the_interpreters():
    lookup = interpreter._get_np_dtype
    scalars = [tl.int1, tl.int8, tl.uint8, tl.int16, tl.uint16, tl.int32, tl.uint32,
               tl.int64, tl.uint64, tl.float16, tl.bfloat16, tl.float32, tl.float64]
    for _ in range(2):  # looked up, then remembered
        for dtype in scalars:
            for tt in (dtype, tl.block_type(dtype, [4]), tl.pointer_type(dtype),
                       tl.block_type(tl.pointer_type(dtype), [2, 2])):
                assert lookup(tt) == lookup.original(tt), tt


def test_overflow_is_reported_where_device_assert_reports():
    """Without ``debug`` (frozen off in ``InterpreterOptions``) an int32 overflow goes
    unreported, as it does without the conftest's cut; with it, the sanitizer runs."""
    x = torch.full((8,), 2**20, dtype=torch.int32)
    out = torch.empty_like(x)
    _squares[(1,)](x, out, N=8)
    builder = interpreter.interpreter_builder
    options = builder.options
    assert not options.debug
    builder.options = dataclasses.replace(options, debug=True)
    try:
        with pytest.raises(Exception, match="overflow"):
            _squares[(1,)](x, out, N=8)
    finally:
        builder.options = options
