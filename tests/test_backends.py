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


@pytest.mark.skipif(not backends.HAVE_NUMBA, reason="needs numba")
def test_a_kept_pick_follows_device_dtype_options_and_registration(monkeypatch):
    """``pick`` keeps its choices (``_PICKED``), and picks anew when the device, a dtype, the
    call's options, numba's presence or the operation's registration changes; each pick still
    asks ``implementation`` for the function (tests record the builds there)."""
    f32, f64 = torch.zeros(2, 2), torch.zeros(2, 2, dtype=torch.float64)
    meta = torch.zeros(2, 2, device="meta")
    for _ in range(2):  # once to fill, once from what is kept
        assert backends.pick("analog_mvm", f32, f32)[0] == "numba"
        assert backends.pick("analog_mvm", f32, f64)[0] == "torch"
        assert backends.pick("analog_mvm", meta, f32)[0] == "torch"  # the first tensor's device
        assert backends.pick("analog_mvm", f32, f32, numba=False)[0] == "torch"
        assert backends.pick("counted_update", f64)[0] == "torch"
    monkeypatch.setattr(backends, "HAVE_NUMBA", False)
    assert backends.pick("analog_mvm", f32, f32)[0] == "torch"
    monkeypatch.setattr(backends, "HAVE_NUMBA", True)
    asked = []
    implementation = backends.implementation
    monkeypatch.setattr(backends, "implementation", lambda name, backend: asked.append(
        (name, backend)) or implementation(name, backend))
    assert backends.pick("analog_mvm", f32, f32)[0] == "numba"
    assert asked == [("analog_mvm", "numba")]
    op = backends.operations()["analog_mvm"]
    try:  # registered anew without its numba kernel: the kept choice goes
        backends.register(op.name, op.twin, triton=op.triton, numba_float32=op.numba_float32,
                          triton_float32=op.triton_float32)
        assert backends.pick("analog_mvm", f32, f32)[0] == "torch"
    finally:
        backends.register(op.name, op.twin, numba=op.numba, triton=op.triton,
                          numba_float32=op.numba_float32, triton_float32=op.triton_float32)
    assert backends.pick("analog_mvm", f32, f32)[0] == "numba"
