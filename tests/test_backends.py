"""The kernels' front door: one registry, one predicate (``kernels/backends.py``)."""

import ast

import pytest
import torch
from triton_modules import KERNEL_DIR
from xbrun.kernels import backends

from xbrun import kernels


def test_every_operation_names_functions_that_exist():
    """Each registered numba and Triton implementation is a function of its module (read
    from the source: importing a Triton module here would fix its interpretation)."""
    ops = backends.operations()
    assert {"pulsed_update", "counted_update", "line_write", "transfer_lines",
            "analog_mvm", "im2col"} <= set(ops)
    for op in ops.values():
        assert callable(op.twin)
        for where in (op.numba, op.triton):
            if where is None:
                continue
            module, _, function = where.partition(":")
            tree = ast.parse((KERNEL_DIR / f"{module.lstrip('.')}.py").read_text())
            assert function in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


@pytest.mark.skipif(not backends.HAVE_NUMBA, reason="needs numba")
def test_the_predicate_picks_by_device_dtype_options_and_availability(monkeypatch):
    f32, f64 = torch.zeros(2, 2), torch.zeros(2, 2, dtype=torch.float64)
    assert backends.choose("counted_update", f32) == "numba"
    assert backends.choose("counted_update", f64) == "torch"  # numba takes float32 only
    assert backends.choose("pulsed_update", f64) == "numba"  # this one converts
    assert backends.choose("line_write", f32, numba=False) == "torch"  # the call's options
    assert backends.choose("transfer_write", f32) == "torch"  # no numba kernel written
    assert backends.choose("analog_mvm", f32, f64) == "torch"  # every tensor counts
    monkeypatch.setattr(backends, "HAVE_NUMBA", False)
    assert backends.choose("pulsed_update", f32) == "torch"
    w = torch.zeros(3, 4)  # the front door then runs the twin (it draws from the generator)
    bl = torch.tensor([4])
    p = kernels.UpdateParams(kernels.CellParams(kernels.CELL_CONSTANT))
    pulses = kernels.pulsed_update(w, torch.zeros(4, 3, 4), torch.ones(1, 4), torch.ones(1, 3),
                                   bl, p, generator=torch.Generator().manual_seed(0))
    assert int(pulses) == 4 * 3 * 4
