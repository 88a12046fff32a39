"""``cell=table``: the lookup-table cell built from measured pulse responses.

The kernels against their twin (numba here; Triton interpreted here and compiled with
``-m gpu``): exact with given trains or counts and noise off, in distribution with noise
(replicas: every output line the same problem, so one call gives a sample per element).
A table built from data of a known soft_bounds cell steps and trains like that cell; every
device and update order runs with it; bad files and knots are one line.
"""

import json
from dataclasses import replace

import pytest
import torch
from cli_run import run_cli
from pulse_cases import (
    assert_same_distribution,
    loose,
    loose_apply,
    loose_lines,
    make_cell,
    signed_probs,
)
from test_transfer import write_path  # noqa: F401 (a fixture)
from triton_modules import triton_function
from xbrun.kernels import CELL_TABLE

from xbrun import kernels
from xbrun.cells_fit import simulate, write_csv
from xbrun.errors import ConfigError
from xbrun.physics.cells import SoftBounds, TableCell
from xbrun.physics.pulse_data import read_data, table_from_steps

KNOWN = SoftBounds(dw_min=0.01, up_down=0.2, w_max=0.7, w_min=-0.5, dw_min_dtod=0.1,
                   up_down_dtod=0.05, w_max_dtod=0.03, w_min_dtod=0.03, dw_min_std=0.1)


def table_case(m, n, seed=0, knots=7):
    """Cell rows with spread (element (0, 0) degenerate), a random positive table, start
    weights across each range (some on a bound)."""
    gen = torch.Generator().manual_seed(seed)
    cp = make_cell(CELL_TABLE, m, n, gen)
    table = 0.1 + 1.5 * torch.rand(2, knots, generator=gen)
    w0 = cp[3] + (cp[2] - cp[3]) * torch.rand(m, n, generator=gen)
    w0[-1, 0], w0[0, -1] = cp[2, -1, 0], cp[3, 0, -1]
    return cp, table, w0, gen


def given_trains(m, n, k, gen, length=6):
    xp, dp = signed_probs(k, n, gen), signed_probs(k, m, gen)
    bl = torch.randint(0, length + 1, (k,), generator=gen)
    x_bits = torch.rand(k, length, n, generator=gen) < xp.abs()[:, None, :]
    d_bits = torch.rand(k, length, m, generator=gen) < dp.abs()[:, None, :]
    return xp, dp, bl, x_bits, d_bits


def replicas(n_rep, n, k, gen, length=5):
    """One problem on ``n`` elements, repeated on ``n_rep`` output lines (all fire in every
    slot, one sign), so each output line is an independent sample of the same update."""
    cp, table, w0, _ = table_case(1, n, seed=5)
    cp, w0 = cp.expand(-1, n_rep, -1).contiguous(), w0.expand(n_rep, -1).contiguous()
    xp = signed_probs(k, n, gen)
    dp = torch.ones(k, n_rep)
    x_bits = torch.rand(k, length, n, generator=gen) < xp.abs()[:, None, :]
    d_bits = torch.ones(k, length, n_rep, dtype=torch.bool)
    return cp, table, w0, xp, dp, torch.full((k,), length), x_bits, d_bits


pulsed_update_torch = loose(kernels.pulsed_update_torch)
apply_counts_torch = loose_apply(kernels.counted_update_ref.apply_counts_torch)
line_write_torch = loose_lines(kernels.line_write_torch)


def check_pulsed(launch, mult, device="cpu"):
    launch = loose(launch)
    cp, table, w0, gen = table_case(6, 9)
    xp, dp, bl, xb, db = given_trains(6, 9, 5, gen)
    args = [t.to(device) for t in (cp, xp, dp, bl, xb, db, table)]
    want, got = w0.clone(), w0.clone().to(device)
    n_want = pulsed_update_torch(want, cp, xp, dp, bl, cell_kind=CELL_TABLE, noise_std=0.0,
                                 mult_noise=mult, x_bits=xb, d_bits=db, cell_table=table)
    n_got = launch(got, *args[:4], cell_kind=CELL_TABLE, noise_std=0.0, mult_noise=mult,
                   seed=3, x_bits=args[4], d_bits=args[5], cell_table=args[6])
    assert int(n_got) == int(n_want) > 0
    torch.testing.assert_close(got.cpu(), want, rtol=0, atol=1e-5)
    assert (want != w0).sum() > w0.numel() // 3
    assert ((want == cp[2]) | (want == cp[3])).any()  # a bound was reached


def check_pulsed_noise(launch, mult, device="cpu", n_rep=600):
    launch = loose(launch)
    gen = torch.Generator().manual_seed(1)
    cp, table, w0, xp, dp, bl, xb, db = replicas(n_rep, 4, 3, gen)
    twin = w0.clone()
    pulsed_update_torch(twin, cp, xp, dp, bl, cell_kind=CELL_TABLE, noise_std=0.3,
                        mult_noise=mult, x_bits=xb, d_bits=db, cell_table=table,
                        generator=torch.Generator().manual_seed(2))
    got = w0.clone().to(device)
    launch(got, *(t.to(device) for t in (cp, xp, dp, bl)), cell_kind=CELL_TABLE,
           noise_std=0.3, mult_noise=mult, seed=11, x_bits=xb.to(device),
           d_bits=db.to(device), cell_table=table.to(device))
    assert (twin.std(0)[1:] > 0).all()  # element 0 has w_max == w_min: it stays
    assert_same_distribution(got.cpu(), twin, what="table pulses")


def check_counts(apply, mult, noise, device="cpu", n_rep=800, **extra):
    apply = loose_apply(apply)
    cp, table, w0, gen = table_case(7, 5)
    up = torch.randint(0, 8, (7, 5), generator=gen, dtype=torch.int32)
    down = torch.randint(0, 8, (7, 5), generator=gen, dtype=torch.int32)
    if noise:  # replicas: every row the same problem
        cp, w0 = cp[:, :1].expand(-1, n_rep, -1), w0[:1].expand(n_rep, -1)
        up, down = up[:1].expand(n_rep, -1), down[:1].expand(n_rep, -1)
        cp, w0, up, down = (t.contiguous() for t in (cp, w0, up, down))
    cell = dict(cell_kind=CELL_TABLE, noise_std=noise, mult_noise=mult)
    twin = w0.clone()
    apply_counts_torch(twin, cp, up, down, cell_table=table,
                       generator=torch.Generator().manual_seed(4), **cell)
    got = w0.clone().to(device)
    apply(got, *(t.to(device) for t in (cp, up, down)), cell_table=table.to(device), **cell,
          **extra)
    if noise:
        assert_same_distribution(got.cpu(), twin, what="counted table pulses")
    else:
        torch.testing.assert_close(got.cpu(), twin, rtol=0, atol=1e-5)
        assert (twin != w0).sum() > w0.numel() // 2


# ------------------------------------------------------------------ numba ----------------
@pytest.mark.parametrize("mult", [True, False])
def test_numba_pulsed_update_equals_the_twin(mult):
    from xbrun.kernels.pulsed_update_cpu import pulsed_update_numba

    check_pulsed(pulsed_update_numba, mult)
    check_pulsed_noise(pulsed_update_numba, mult)


@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_numba_counted_update_equals_the_twin(noise):
    from xbrun.kernels.counted_update_cpu import apply_counts_numba

    check_counts(apply_counts_numba, noise == 0.0, noise, seed=9)


@pytest.mark.parametrize("columns", [True, False])
def test_numba_line_write_equals_the_twin(columns):
    from xbrun.kernels.line_write_cpu import line_write_numba

    cp, table, w0, gen = table_case(6, 8)
    index = torch.tensor([5, 1, 3])
    length = 6 if columns else 8
    counts = torch.randint(0, 6, (3, length), generator=gen)
    line_prob = signed_probs(3, length, gen)
    results = []
    for write in (line_write_torch, loose_lines(line_write_numba)):
        w = w0.clone()
        n = write(w, cp, index, torch.ones(3), line_prob, torch.full((3,), 6), columns=columns,
                  cell_kind=CELL_TABLE, noise_std=0.0, mult_noise=True, counts=counts,
                  cell_table=table)
        results.append((int(n), w))
    assert results[0][0] == results[1][0] == int(counts.sum())
    torch.testing.assert_close(results[1][1], results[0][1], rtol=0, atol=1e-6)


def check_counted_trains(launch, device="cpu"):
    """The whole counted update (bits, counts, apply) with given trains, noise off."""
    launch = loose(launch)
    counted_update_torch = loose(kernels.counted_update_torch)
    cp, table, w0, gen = table_case(5, 8)
    xp, dp, bl, xb, db = given_trains(5, 8, 4, gen)
    cell = dict(cell_kind=CELL_TABLE, noise_std=0.0, mult_noise=True)
    want = w0.clone()
    n_want = counted_update_torch(want, cp, xp, dp, bl, max_bl=6, x_bits=xb, d_bits=db,
                                  cell_table=table, **cell)
    got = w0.clone().to(device)
    n_got = launch(got, *(t.to(device) for t in (cp, xp, dp, bl)), max_bl=6, seed=1,
                   x_bits=xb.to(device), d_bits=db.to(device), cell_table=table.to(device),
                   **cell)
    assert int(n_got) == int(n_want) > 0
    torch.testing.assert_close(got.cpu(), want, rtol=0, atol=1e-5)


def test_numba_counted_update_with_given_trains_equals_the_twin():
    from xbrun.kernels.counted_update_cpu import counted_update_numba

    check_counted_trains(counted_update_numba)


# ------------------------------------------------------------------ Triton ---------------
@pytest.fixture(scope="module")
def interp():
    return {"pulsed": triton_function("pulsed_update_cuda", "pulsed_update_triton", True),
            "apply": triton_function("counted_update_cuda", "apply_counts_triton", True),
            "counted": triton_function("counted_update_cuda", "counted_update_triton", True)}


@pytest.mark.parametrize("mult", [True, False])
def test_interpreted_pulsed_update_equals_the_twin(interp, mult):
    check_pulsed(interp["pulsed"], mult)


def test_interpreted_pulsed_update_noise_in_distribution(interp):
    check_pulsed_noise(interp["pulsed"], False, n_rep=64)  # the interpreter is slow


@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_interpreted_counted_update_equals_the_twin(interp, noise):
    check_counts(interp["apply"], noise > 0, noise, n_rep=256, seed=9)


def test_interpreted_counted_update_with_given_trains_equals_the_twin(interp):
    check_counted_trains(interp["counted"])


gpu = pytest.mark.gpu
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@gpu
@needs_cuda
@pytest.mark.parametrize("mult", [True, False])
def test_gpu_table_kernels_equal_the_twin(monkeypatch, mult):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    pulsed = triton_function("pulsed_update_cuda", "pulsed_update_triton", False)
    apply = triton_function("counted_update_cuda", "apply_counts_triton", False)
    check_pulsed(pulsed, mult, "cuda")
    check_pulsed_noise(pulsed, mult, "cuda")
    check_counts(apply, mult, 0.0, "cuda", seed=9)
    check_counts(apply, mult, 0.3, "cuda", seed=9)
    check_counted_trains(triton_function("counted_update_cuda", "counted_update_triton",
                                         False), "cuda")


# ------------------------------------------------------------------ the cell -------------
@pytest.fixture(scope="module")
def known_data(tmp_path_factory):
    path = tmp_path_factory.mktemp("table") / "known.csv"
    write_csv(simulate(KNOWN, devices=6, cycles=2, pulses=200, seed=3), str(path))
    return path


def _mean_steps(cell, w):
    """The nominal cell's mean step up and down at states ``w`` (1-d, float64)."""
    nominal = cell.nominal()
    params = nominal.sample((1, len(w)), torch.Generator().manual_seed(0)).double()
    w = w[None]
    steps = []
    for up in (True, False):
        new = kernels.single_pulse_torch(
            w, torch.full_like(w, up, dtype=torch.bool), params, cell_kind=cell.kernel_kind,
            noise_std=0.0, mult_noise=True, xi=None, cell_scalars=cell.cell_scalars,
            cell_table=getattr(cell, "cell_table", None))
        steps.append((new - w)[0])
    return steps


def test_table_from_soft_bounds_data_steps_like_the_cell(known_data):
    cell = TableCell(file=str(known_data))
    cell.validate("cell")
    assert len(cell.piecewise_up) == cell.knots == 16 and cell.up_down == 0.0
    # the bounds are the data's extremes: a soft bound is approached, never reached
    assert cell.w_min == pytest.approx(KNOWN.w_min, abs=0.04)
    assert 0.85 * KNOWN.w_max < cell.w_max < KNOWN.w_max
    w = torch.linspace(cell.w_min + 0.02, cell.w_max - 0.02, 25, dtype=torch.float64)
    for got, want in zip(_mean_steps(cell, w), _mean_steps(KNOWN, w), strict=True):
        assert (got - want).abs().max() < 0.06 * KNOWN.dw_min, (got - want).abs().max()
    assert cell.dw_min_std == pytest.approx(KNOWN.dw_min_std, rel=0.15)
    assert cell.dw_min_dtod == pytest.approx(KNOWN.dw_min_dtod, abs=0.06)
    assert cell.up_down_dtod == pytest.approx(KNOWN.up_down_dtod, abs=0.04)
    assert cell.w_max_dtod < 0.1 and cell.w_min_dtod < 0.1
    # the granularity is the mean step at w = 0, up (dw_min) and down (dw_min (1 - up_down))
    assert cell.weight_granularity == pytest.approx(0.9 * KNOWN.dw_min, rel=0.05)


def test_table_fit_writes_an_option_that_trains_like_the_cell(known_data, tmp_path, capsys):
    code, out = run_cli(["cells", "fit", str(known_data), "--model", "table", "--knots", "12",
                         "--out", str(tmp_path / "cells"), "--name", "tab", "--plot",
                         str(tmp_path / "fit.png")], capsys)
    assert code == 0, out.err
    assert "rms residual" in out.out and "+-" in out.out and (tmp_path / "fit.png").is_file()
    option = (tmp_path / "cells" / "cell" / "tab.yaml").read_text()
    assert "/schema/cell/table@_here_" in option and "piecewise_up: [" in option
    common = ["device=sgd", "io=perfect", "debug=tiny", "epochs=2", "lr=0.2",
              "model.activation=relu", "dataset.limit_train=192"]
    known = [f"cell.{k}={getattr(KNOWN, k)}" for k in (
        "dw_min", "up_down", "w_max", "w_min", "dw_min_dtod", "up_down_dtod", "w_max_dtod",
        "w_min_dtod", "dw_min_std")]
    accuracy = {}
    for name, cell in (("table", ["cell=tab", f"hydra.searchpath=[file://{tmp_path / 'cells'}]"]),
                       ("soft_bounds", ["cell=soft_bounds", *known])):
        run = tmp_path / name
        code, out = run_cli(["train", *cell, *common, f"hydra.run.dir={run}"], capsys)
        assert code == 0, out.err
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert rows[-1]["train_loss"] < rows[0]["train_loss"]
        accuracy[name] = rows[-1]["test_accuracy"]
    assert accuracy["table"] > 0.25  # chance is 0.1
    assert abs(accuracy["table"] - accuracy["soft_bounds"]) < 0.15, accuracy


@pytest.mark.parametrize("accumulate", ["sample", "batch"])
@pytest.mark.parametrize("kind", ["sgd", "ttv1", "ttv2", "chopped", "agad",
                                  "mixed_precision"])
def test_every_device_and_update_order_runs_a_table_cell(kind, accumulate):
    from test_transfer import PERFECT, TRANSFER_KINDS

    from xbrun.devices import DEVICES
    from xbrun.physics.array import PulsedArray
    from xbrun.physics.io import IOConfig
    from xbrun.physics.pulses import UpdateParameters
    from xbrun.schema import build
    from xbrun.tiles.tile import AnalogTile

    cell = replace(TableCell(piecewise_up=[1.5, 1.2, 0.4], piecewise_down=[0.3, 1.0, 1.6]),
                   dw_min=0.02, dw_min_std=0.2)
    cell.validate("cell")
    options = {"transfer_io": PERFECT, "transfer_every": 1} if kind in TRANSFER_KINDS else {}
    config = build(DEVICES[kind], {"kind": kind, **options}, "device")
    tile = AnalogTile(3, 5, device_config=config, cell=cell,
                      io=IOConfig(forward=PERFECT, backward=PERFECT),
                      update=UpdateParameters(accumulate=accumulate), seed=1)
    arrays = [m for m in tile.modules() if isinstance(m, PulsedArray)]
    before = [a.stored_weight().clone() for a in arrays]
    gen = torch.Generator().manual_seed(0)
    for _ in range(16):  # agad's buffer needs a few transfers before it writes
        x = torch.randn(6, 5, generator=gen)
        tile.update(x, torch.randn(6, 3, generator=gen), 0.5)
    for array, start in zip(arrays, before, strict=True):  # the transfers wrote too
        assert torch.isfinite(array.stored_weight()).all()
        assert (array.stored_weight() != start).any()


@pytest.mark.parametrize("override, key", [
    ("cell.file=missing.csv", "cell.file"),
    ("cell.file=BAD", "cell.file"),
    ("cell.knots=1", "cell.knots"),
    ("cell.piecewise_up=[1.0,0.5,0.0]", "cell.piecewise_down"),
    ("cell.piecewise_down=[1.0,-0.5]", "cell.piecewise_down"),
])
def test_bad_table_settings_are_one_line(override, key, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("device,cycle,pulse,conductance\n0,0,0,0.1\n")
    code, out = run_cli(["train", "cell=table", override.replace("BAD", str(bad)),
                         "debug=tiny", f"hydra.run.dir={tmp_path / 'run'}"], capsys)
    lines = out.err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and key in lines[0], out.err
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_table_from_steps_needs_both_directions(tmp_path):
    rows = [r for r in simulate(KNOWN, devices=1, cycles=1, pulses=80, seed=0) if r[2] == "up"]
    path = tmp_path / "up_only.csv"
    write_csv(rows, str(path))
    with pytest.raises(ConfigError, match="cell.file: expected steps up and down"):
        table_from_steps(read_data(str(path)), 8, key="cell.file")


def test_every_transfer_write_path_takes_the_knots(write_path):  # noqa: F811 (the fixture)
    """A ttv1 transfer into a table cell through the line write, the fused numba write and
    its twin (``test_transfer.write_path``): each writes the read lines of C, within their
    bounds, and an up-steep, down-flat table moves C up more than down."""
    from test_transfer import device

    cell = replace(TableCell(piecewise_up=[2.0, 2.0], piecewise_down=[0.2, 0.2]), dw_min=0.01,
                   dw_min_std=0.0, dw_min_dtod=0.0, up_down_dtod=0.0)
    cell.validate("cell")
    dev = device("ttv1", out_size=4, in_size=5, cell=cell, fast_cell={"kind": "ideal"},
                 n_reads_per_transfer=2, transfer_lr=1.0, scale_transfer_lr=False)
    dev.fast.set_weight(0.05 * torch.tensor([[1.0, -1.0, 1.0, -1.0, 1.0]] * 4))
    dev.transfer(1, 1.0, torch.Generator().manual_seed(0))
    moved = dev.slow.weight
    assert (moved[:, 2:] == 0).all()
    assert (moved[:, 0] > 0).all() and (moved[:, 1] < 0).all()  # C moves towards A
    assert moved[:, 0].mean() > 4 * -moved[:, 1].mean()  # ten times the step up
