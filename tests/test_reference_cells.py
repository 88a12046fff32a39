"""Reference-offset cells (aihwkit SoftBoundsReferenceDevice / PowStepReferenceDevice)
against their formulas: reads see conductance minus a per-element reference.

Statistical checks use fixed seeds and tolerances of 5 standard errors of the quantity
tested, so they fail for a wrong formula, not by chance.
"""

import math
from dataclasses import fields, replace

import pytest
import torch

from xbrun import kernels
from xbrun.cells_info import cell_stats
from xbrun.cli import main
from xbrun.composition import compose
from xbrun.physics import array as array_module
from xbrun.physics import lines
from xbrun.physics.array import PulsedArray
from xbrun.physics.cells import (
    ConstantStep,
    PowStep,
    PowStepReference,
    SoftBounds,
    SoftBoundsReference,
)
from xbrun.physics.pulses import UpdateParameters
from xbrun.tiles.tile import AnalogTile

REFERENCE_CELLS = [SoftBoundsReference, PowStepReference]


def steps_at(cell, params: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise-free up and down step sizes of every element at conductance ``w``."""
    def one(up: bool) -> torch.Tensor:
        new = kernels.single_pulse_torch(w, torch.full_like(w, up, dtype=torch.bool), params,
                                         cell_kind=cell.kernel_kind, noise_std=0.0,
                                         mult_noise=cell.mult_noise, xi=None)
        return (new - w) if up else (w - new)
    return one(True), one(False)


@pytest.mark.parametrize("cls", REFERENCE_CELLS)
def test_reference_has_the_configured_mean_and_spread(cls):
    cell = cls(reference_mean=0.2, reference_std=0.05)
    array = PulsedArray(100, 100, cell, UpdateParameters(), 3)
    ref = array.reference.double()
    n = ref.numel()
    assert float(ref.mean()) == pytest.approx(0.2, abs=5 * 0.05 / math.sqrt(n))
    assert float(ref.std()) == pytest.approx(0.05, rel=5 / math.sqrt(2 * n))
    # a fresh array reads 0: its conductance sits at the reference (within the bounds)
    assert torch.equal(array.weight, array.persistent - array.reference)
    inside = (array.reference > array.cell_params[kernels.ROW_W_MIN]) & \
        (array.reference < array.cell_params[kernels.ROW_W_MAX])
    assert float(array.weight[inside].abs().max()) == 0.0


@pytest.mark.parametrize("cls", REFERENCE_CELLS)
def test_subtracted_symmetry_point_is_where_up_and_down_steps_are_equal(cls):
    """With subtract_symmetry_point (and no reference spread) each element's reference is
    its own symmetry point: at read weight 0 its up and down steps are equal, while they
    differ at conductance 0 (up_down = 0.3 and per-element spreads)."""
    cell = cls(subtract_symmetry_point=True, up_down=0.3, up_down_dtod=0.1, dw_min=0.01)
    array = PulsedArray(30, 40, cell, UpdateParameters(), 5)
    params = array.cell_params.double()
    up, down = steps_at(cell, params, array.reference.double())
    assert torch.allclose(up, down, rtol=1e-5, atol=1e-9)
    up0, down0 = steps_at(cell, params, torch.zeros_like(up))
    assert float((up0 - down0).mean()) > 1e-3
    if cls is SoftBoundsReference:  # the closed form aihwkit uses
        su, sd = params[kernels.ROW_SCALE_UP], params[kernels.ROW_SCALE_DOWN]
        w_max, w_min = params[kernels.ROW_W_MAX], params[kernels.ROW_W_MIN]
        expected = (su - sd) / (su / w_max - sd / w_min)
        assert torch.allclose(array.reference.double(), expected, atol=1e-6)
    # the reset value moves with it: a reset element sits at its symmetry point, reading 0
    array.reset(generator=torch.Generator().manual_seed(0))
    reset_cell = replace(cell, reset_std=0.0)
    exact = PulsedArray(30, 40, reset_cell, UpdateParameters(), 5)
    exact.set_weight(torch.full((30, 40), 0.3))
    exact.reset()
    assert float(exact.weight.abs().max()) < 1e-6
    assert torch.allclose(exact.persistent, exact.reference)


@pytest.mark.parametrize("cls", REFERENCE_CELLS)
def test_random_pulses_settle_at_read_zero_with_the_symmetry_point_subtracted(cls):
    """Many random up/down pulses walk each element to its symmetry point; subtracted, the
    read weight settles near 0 per element, while without the subtraction it settles at
    the symmetry point minus the reference mean."""
    base = dict(up_down=0.3, up_down_dtod=0.05, dw_min=0.02, dw_min_std=0.0)
    if cls is PowStepReference:
        base.update(pow_gamma_dtod=0.0)
    means = {}
    for subtract, mean in ((True, 0.0), (False, 0.1)):
        cell = cls(subtract_symmetry_point=subtract, reference_mean=mean, **base)
        array = PulsedArray(10, 10, cell, UpdateParameters(), 7)
        gen = torch.Generator().manual_seed(1)
        total = torch.zeros(10, 10, dtype=torch.float64)
        for step in range(3000):
            x = torch.randint(0, 2, (1, 10), generator=gen).float() * 2 - 1
            d = torch.randint(0, 2, (1, 10), generator=gen).float() * 2 - 1
            array.update(x, d, cell.dw_min, gen)
            if step >= 1000:
                total += array.weight.double()
        means[subtract] = total / 2000
        if not subtract:
            sym = cell.symmetry_point(array.cell_params.double())
    assert float(means[True].abs().max()) < 0.05
    assert float(means[True].mean().abs()) < 0.01
    assert float(sym.mean()) > 0.05  # the asymmetry moves the symmetry point well off 0
    assert torch.allclose(means[False], sym - 0.1, atol=0.05)


@pytest.mark.parametrize("cls, base_cls, mult_noise", [
    (SoftBoundsReference, SoftBounds, True), (SoftBoundsReference, SoftBounds, False),
    (PowStepReference, PowStep, True)])  # pow step noise is always multiplicative
def test_pulse_response_at_a_read_weight_is_the_base_cells_at_weight_plus_reference(
        cls, base_cls, mult_noise):
    """The same pulses (same trains, same noise) on the reference cell at read weight v and
    on the base cell at v + r give the same conductance: the response is the base cell's,
    evaluated at the conductance, and reads subtract r."""
    shared = dict(up_down=0.2, dw_min=0.01, dw_min_std=0.5, w_max_dtod=0.1, w_min_dtod=0.1)
    extra = {"mult_noise": mult_noise} if cls is SoftBoundsReference else {}
    cell = cls(reference_mean=0.15, reference_std=0.1, set_clip="conductance", **shared,
               **extra)
    base_cell = base_cls(**shared, **extra)
    upd = UpdateParameters()
    ref_array = PulsedArray(12, 9, cell, upd, 4)
    base_array = PulsedArray(12, 9, base_cell, upd, 4)
    assert torch.equal(ref_array.cell_params, base_array.cell_params)
    gen = torch.Generator().manual_seed(2)
    v = 0.3 * torch.randn(12, 9, generator=gen)
    ref_array.set_weight(v)
    base_array.set_weight(v + ref_array.reference)
    w_min = ref_array.cell_params[kernels.ROW_W_MIN]
    w_max = ref_array.cell_params[kernels.ROW_W_MAX]
    assert torch.equal(ref_array.weight, torch.clamp(v + ref_array.reference, w_min, w_max)
                       - ref_array.reference)
    gen_a, gen_b = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    for _ in range(20):
        x, d = torch.randn(4, 9, generator=gen), torch.randn(4, 12, generator=gen)
        ref_array.update(x, d, 0.05, gen_a)
        base_array.update(x, d, 0.05, gen_b)
        assert torch.allclose(ref_array.persistent, base_array.weight, atol=1e-6)
        assert torch.equal(ref_array.weight, ref_array.persistent - ref_array.reference)
    assert not torch.allclose(ref_array.weight, v, atol=1e-3)  # the pulses did move it


@pytest.mark.parametrize("cls", REFERENCE_CELLS)
def test_set_clip_read_keeps_the_read_weight_and_the_first_pulse_clips_the_conductance(cls):
    """set_clip=read (the default, aihwkit's): set weights are clipped as read weights, so a
    read weight of 0.55 with reference 0.1 and w_max 0.6 stays 0.55 (its conductance 0.65
    lies above w_max); set_clip=conductance reads 0.5. One pulse up clips the conductance
    to w_max in both: the read weight is then 0.5."""
    base = dict(reference_mean=0.1, w_max_dtod=0.0, w_min_dtod=0.0, dw_min_std=0.0)
    read = PulsedArray(3, 4, cls(**base), UpdateParameters(), 2)
    physical = PulsedArray(3, 4, cls(set_clip="conductance", **base), UpdateParameters(), 2)
    v = torch.tensor([[0.55, -0.2, 0.0, 0.7]]).expand(3, 4)
    read.set_weight(v)
    physical.set_weight(v)
    assert torch.allclose(read.weight, v.clamp(max=0.6), atol=1e-6)  # 0.7 -> w_max
    assert float(read.persistent.max()) == pytest.approx(0.7)  # conductance out of range
    assert torch.allclose(physical.weight, torch.tensor([0.5, -0.2, 0.0, 0.5]).expand(3, 4),
                          atol=1e-6)
    x = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    for array in (read, physical):
        array.update(x, -torch.ones(1, 3), array.cell.dw_min, torch.Generator().manual_seed(0))
        assert torch.allclose(array.weight[:, 0], torch.full((3,), 0.5), atol=1e-6)
    # a fresh array reads 0 in both, its conductance at the reference (out of range or not)
    assert torch.equal(PulsedArray(3, 4, cls(reference_mean=0.8), UpdateParameters(), 2)
                       .weight, torch.zeros(3, 4))


@pytest.mark.parametrize("cls", REFERENCE_CELLS)
def test_line_writes_keep_reads_at_conductance_minus_reference(cls):
    """Transfer writes (per-line and fused) act on the conductance; reads follow."""
    cell = cls(reference_std=0.1, subtract_symmetry_point=True, up_down=0.2, dw_min=0.01)
    array = PulsedArray(8, 6, cell, UpdateParameters(), 1)
    gen = torch.Generator().manual_seed(0)
    array.set_weight(0.1 * torch.randn(8, 6, generator=gen))
    before = array.weight.clone()
    per_line = UpdateParameters(desired_bl=5, res=0.01)  # res: never the fused write
    assert not array.fused_write(per_line)
    array.write_lines(lines.LineRun(1, 2, 6), torch.randn(2, 8, generator=gen), 0.1, gen,
                      params=per_line, columns=True)
    assert torch.equal(array.weight, array.persistent - array.reference)
    moved = (array.weight != before).any(dim=0)
    assert bool(moved[1]) and bool(moved[2]) and not bool(moved[[0, 3, 4, 5]].any())
    params = UpdateParameters(desired_bl=5)
    if array.fused_write(params):
        before = array.weight.clone()
        array.write_lines(lines.LineRun(2, 3, 8), torch.randn(3, 6, generator=gen), 0.1, gen,
                          params=params, columns=False)
        assert torch.equal(array.weight, array.persistent - array.reference)
        moved = (array.weight != before).any(dim=1)
        assert bool(moved[2:5].any()) and not bool(moved[:2].any() or moved[5:].any())


def _zero_reference_tile(cfg, monkeypatch, drop):
    monkeypatch.setattr(array_module, "DROP_ZERO_REFERENCE", drop)
    tile = AnalogTile(7, 9, device_config=cfg.device, cell=cfg.cell, io=cfg.io,
                      update=cfg.update, seed=3)
    tile.set_weights(0.2 * torch.randn(7, 9, generator=torch.Generator().manual_seed(0)))
    return tile


def test_a_zero_reference_trains_as_the_hidden_conductance_did(monkeypatch):
    """aihwkit's defaults (reference 0, no symmetry point): the arrays drop the hidden
    conductance and write as plain ones, with the same weights bit for bit as the hidden
    path after updates and transfers (ttv1: A's update, C's line writes); a checkpoint of
    the hidden path loads into them."""
    cfg = compose(["device=ttv1", "cell=soft_bounds_reference", "io=default",
                   "device.transfer_every=1", "device.units_in_mbatch=true"])
    hidden = _zero_reference_tile(cfg, monkeypatch, False)
    plain = _zero_reference_tile(cfg, monkeypatch, True)
    arrays = [m for m in plain.modules() if isinstance(m, PulsedArray)]
    assert arrays and not any(a.hidden or hasattr(a, "reference") for a in arrays)
    gen = torch.Generator().manual_seed(1)
    for _ in range(6):
        x, d = torch.rand(3, 9, generator=gen), 0.3 * torch.randn(3, 7, generator=gen)
        for tile in (hidden, plain):
            tile.update(x, d, 0.1)
    for name, value in plain.state_dict().items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, hidden.state_dict()[name]), name
    assert not torch.equal(hidden.weight(), 0.2 * torch.randn(
        7, 9, generator=torch.Generator().manual_seed(0)))  # the pulses moved it
    fresh = _zero_reference_tile(cfg, monkeypatch, True)
    fresh.load_state_dict(hidden.state_dict())
    assert torch.equal(fresh.weight(), hidden.weight())
    noisy = SoftBoundsReference(write_noise_std=1.0)  # the conductance stays hidden
    monkeypatch.setattr(array_module, "DROP_ZERO_REFERENCE", False)
    old = PulsedArray(3, 4, noisy, UpdateParameters(), 1)
    monkeypatch.setattr(array_module, "DROP_ZERO_REFERENCE", True)
    new = PulsedArray(3, 4, noisy, UpdateParameters(), 1)
    assert new.hidden and not hasattr(new, "reference")
    new.load_state_dict(old.state_dict())


@pytest.mark.parametrize("kind", ["ttv1", "ttv2"])
def test_host_run_writer_keeps_reads_as_the_generic_write(kind):
    """The CPU's bound transfer writer (``line_writer``, in the bound transfer
    ``_host_mover``) on a reference cell: the same C, conductance and reads bit for bit as
    the generic ``write_lines`` path it replaces."""
    cfg = compose([f"device={kind}", "cell=soft_bounds_reference", "cell.reference_std=0.1",
                   "io=default", "device.transfer_every=1", "device.units_in_mbatch=true"])
    tiles = [AnalogTile(7, 9, device_config=cfg.device, cell=cfg.cell, io=cfg.io,
                        update=cfg.update, seed=3) for _ in range(2)]
    tiles[1].device_state._host_writer = lambda lr_t: None  # the generic path
    tiles[1].device_state._host_mover = lambda lr_t: None
    gen = torch.Generator().manual_seed(1)
    for _ in range(8):
        x, d = torch.rand(3, 9, generator=gen), torch.randn(3, 7, generator=gen)
        for tile in tiles:
            tile.update(x, d, 0.3)
    bound, generic = (t.device_state.slow for t in tiles)
    assert tiles[0].device_state._mover[1] is not None  # the bound writer ran
    assert torch.equal(bound.weight, bound.persistent - bound.reference)
    for name in ("weight", "persistent"):
        assert torch.equal(getattr(bound, name), getattr(generic, name)), name
    assert not torch.equal(bound.weight, torch.zeros(7, 9))  # the transfers wrote C


def test_write_noise_is_added_to_the_read_weight():
    cell = SoftBoundsReference(write_noise_std=10.0, reference_std=0.1, dw_min_std=0.0)
    array = PulsedArray(100, 100, cell, UpdateParameters(), 0)
    gen = torch.Generator().manual_seed(0)
    array.set_weight(torch.zeros(100, 100), gen)
    noise = (array.weight - (array.persistent - array.reference)).double()
    assert float(noise.std()) == pytest.approx(0.01, rel=5 / math.sqrt(2e4))
    x = torch.zeros(1, 100)
    x[0, :10] = 1.0
    kept = array.weight[:, 10:].clone()
    array.update(x, torch.ones(1, 100), 0.05, gen)
    assert torch.equal(array.weight[:, 10:], kept)
    noise = (array.weight - (array.persistent - array.reference))[:, :10].double()
    assert float(noise.abs().max()) > 0 and float(noise.std()) < 0.02


def test_write_noise_redrawn_in_place_is_the_old_path_bit_for_bit(monkeypatch):
    """``FOLLOW_IN_PLACE``: TTv2 tiles of a reference cell under write noise (A's updates,
    C's line writes through slices of host runs) end with every buffer as through the
    temporaries and gathers (without a reference: ``test_kernel_noisy_reads``)."""
    cfg = compose(["device=ttv2", "cell=soft_bounds_reference", "cell.write_noise_std=2.0",
                   "cell.reference_std=0.1", "io=default",
                   "device.transfer_every=1", "device.units_in_mbatch=true"])
    states = []
    for in_place in (False, True):
        monkeypatch.setattr(array_module, "FOLLOW_IN_PLACE", in_place)
        tile = AnalogTile(7, 9, device_config=cfg.device, cell=cfg.cell, io=cfg.io,
                          update=cfg.update, seed=3)
        gen = torch.Generator().manual_seed(1)
        for _ in range(6):
            tile.update(torch.rand(3, 9, generator=gen), torch.randn(3, 7, generator=gen), 0.3)
        states.append(tile.state_dict())
    assert not torch.equal(states[1]["device_state.slow.weight"], torch.zeros(7, 9))
    for name, value in states[1].items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, states[0][name]), name


def test_slope_spread_moves_the_bounds():
    """slope_up_dtod: 1/w_max_ij = |1 + slope_up_dtod xi| / w_max (no bound spread)."""
    cell = SoftBoundsReference(w_max_dtod=0.0, w_min_dtod=0.0, slope_up_dtod=0.2)
    array = PulsedArray(100, 100, cell, UpdateParameters(), 0)
    gain = (cell.w_max * array.cell_params[kernels.ROW_SLOPE_UP]).double()
    n = gain.numel()
    e_abs = 1.0  # E|1 + 0.2 xi| = 1 up to 2e-7
    assert float(gain.mean()) == pytest.approx(e_abs, abs=5 * 0.2 / math.sqrt(n))
    assert float(gain.std()) == pytest.approx(0.2, rel=5 / math.sqrt(2 * n))
    assert torch.allclose(array.cell_params[kernels.ROW_W_MAX] * gain.float(),
                          torch.full((100, 100), cell.w_max), rtol=1e-5)
    assert torch.equal(array.cell_params[kernels.ROW_W_MIN], torch.full((100, 100), cell.w_min))


@pytest.mark.parametrize("cls", [ConstantStep, SoftBoundsReference, PowStepReference])
def test_log_normal_step_spread(cls):
    """dw_min_dtod_log_normal: scale = dw_min * exp(dw_min_dtod * xi)."""
    cell = cls(dw_min_dtod_log_normal=True, dw_min_dtod=0.4, up_down_dtod=0.0)
    array = PulsedArray(100, 100, cell, UpdateParameters(), 0)
    log_gain = torch.log(array.cell_params[kernels.ROW_SCALE_UP].double() / cell.dw_min)
    n = log_gain.numel()
    assert float(log_gain.mean()) == pytest.approx(0.0, abs=5 * 0.4 / math.sqrt(n))
    assert float(log_gain.std()) == pytest.approx(0.4, rel=5 / math.sqrt(2 * n))
    assert torch.equal(array.cell_params[kernels.ROW_SCALE_UP],
                       array.cell_params[kernels.ROW_SCALE_DOWN])


def test_pow_step_iteration_converges_to_the_solved_symmetry_point():
    cell = PowStepReference(subtract_symmetry_point=True, up_down=0.3, dw_min=0.01,
                            dw_min_dtod=0.1)
    params = cell.sample((5, 5), torch.Generator().manual_seed(0)).double()
    solved = cell.symmetry_point(params)
    iterated = replace(cell, n_estimation_steps=20000).symmetry_point(params)
    assert torch.allclose(solved, iterated, atol=1e-6)
    few = replace(cell, n_estimation_steps=3).symmetry_point(params)
    assert not torch.allclose(solved, few, atol=1e-3)


def test_cells_table_shows_read_weights():
    cell = SoftBoundsReference(up_down=0.3, subtract_symmetry_point=True, reference_mean=0.05)
    stats = cell_stats(cell)
    at_zero = cell_stats(replace(cell, reference_mean=0.0))  # read 0 = symmetry point
    assert at_zero["up0"] == pytest.approx(at_zero["down0"], rel=1e-3)
    assert float(stats["symmetry_point"]) == pytest.approx(-0.05, abs=1e-3)
    plain = cell_stats(replace(cell, subtract_symmetry_point=False, reference_mean=0.0))
    sym = float(plain["symmetry_point"])
    assert sym > 0.05
    assert stats["w_max"] == pytest.approx(plain["w_max"] - sym - 0.05, abs=1e-3)


def test_cli_lists_and_trains_the_reference_cells(tmp_path, capsys):
    main(["cells", "soft_bounds_reference", "pow_step_reference"])
    text = capsys.readouterr().out
    assert "soft_bounds_reference" in text and "pow_step_reference" in text
    for cell, device in (("soft_bounds_reference", "sgd"), ("pow_step_reference", "chopped")):
        main(["train", f"cell={cell}", f"device={device}", "debug=tiny",
              "cell.reference_std=0.05", "cell.subtract_symmetry_point=true",
              f"hydra.run.dir={tmp_path / cell}"])
        assert (tmp_path / cell / "metrics.jsonl").exists()


# aihwkit's defaults (src/aihwkit/simulator/configs/devices.py: PulsedDevice,
# SoftBoundsReferenceDevice, PowStepReferenceDevice), written out
PULSED_DEFAULTS = dict(dw_min=0.001, dw_min_dtod=0.3, dw_min_dtod_log_normal=False,
                       dw_min_std=0.3, up_down=0.0, up_down_dtod=0.01, w_max=0.6, w_min=-0.6,
                       w_max_dtod=0.3, w_min_dtod=0.3, enforce_consistency=True,
                       corrupt_devices_prob=0.0, corrupt_devices_range=0.1, reset=0.0,
                       reset_dtod=0.0, reset_std=0.01, construction_seed=0,
                       reference_mean=0.0, reference_std=0.0, subtract_symmetry_point=False)
AIHWKIT_DEFAULTS = {
    "soft_bounds_reference": dict(PULSED_DEFAULTS, mult_noise=False, write_noise_std=0.0,
                                  slope_up_dtod=0.0, slope_down_dtod=0.0),
    "pow_step_reference": dict(PULSED_DEFAULTS, pow_gamma=1.0, pow_gamma_dtod=0.1,
                               pow_up_down=0.0, pow_up_down_dtod=0.0, n_estimation_steps=-1),
}


@pytest.mark.parametrize("option", sorted(AIHWKIT_DEFAULTS))
def test_defaults_are_aihwkits(option):
    cell = compose([f"cell={option}"]).cell
    for key, value in AIHWKIT_DEFAULTS[option].items():
        assert getattr(cell, key) == value, key
    assert cell.write_noise_std == 0.0  # pow_step_reference: refused unless 0
    assert cell.set_clip == "read"  # aihwkit's semantics
    # xbrun's own keys: the cost ledger's (every cell has them) and set_clip; no other
    names = {f.name for f in fields(cell)} - {"kind", "write_noise_std", "endurance",
                                              "pulse_energy_j", "set_clip"}
    assert names == set(AIHWKIT_DEFAULTS[option]) - {"write_noise_std"}


@pytest.mark.parametrize("args, key", [
    (["cell=soft_bounds_reference", "cell.reference_std=-0.1"], "cell.reference_std"),
    (["cell=pow_step_reference", "cell.reference_std=-1"], "cell.reference_std"),
    (["cell=soft_bounds_reference", "cell.slope_up_dtod=-0.1"], "cell.slope_up_dtod"),
    (["cell=pow_step_reference", "++cell.write_noise_std=1.0"], "cell.write_noise_std"),
    (["cell=pow_step_reference", "cell.n_estimation_steps=1000000"], "cell.n_estimation_steps"),
    (["cell=soft_bounds_reference", "cell.subtract_symmetry_point=maybe"],
     "cell.subtract_symmetry_point"),
    (["cell=pow_step_reference", "cell.set_clip=weight"], "cell.set_clip"),
])
def test_bad_reference_values_exit_2_with_one_line(args, key, tmp_path, capsys):
    with pytest.raises(SystemExit) as err:
        main(["train", *args, f"hydra.run.dir={tmp_path / 'run'}"])
    assert err.value.code == 2
    out = capsys.readouterr()
    lines_ = out.err.strip().splitlines()
    assert len(lines_) == 1 and lines_[0].startswith("xbrun: error: ") and key in lines_[0]
    assert "Traceback" not in out.err + out.out
    assert not (tmp_path / "run").exists()
