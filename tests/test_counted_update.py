"""``update.accumulate=batch``: exact counts, the kernels against their twin, and the
distribution of the weights against ``accumulate=sample`` for every cell kind."""

import pytest
import torch
from cli_run import run_cli
from pulse_cases import loose
from xbrun.kernels.counted_update_ref import (
    apply_counts_torch,
    pulse_counts_torch,
    signed_bits_torch,
)

from xbrun import kernels
from xbrun.physics.cells import ConstantStep, ExpStep, LinearStep, PowStep, SoftBounds

CELLS = [ConstantStep, LinearStep, SoftBounds, ExpStep, PowStep]
# a noiseless constant step with far bounds: the weight change counts pulses exactly
COUNTER = ConstantStep(dw_min=0.001, dw_min_dtod=0.0, dw_min_std=0.0, up_down_dtod=0.0,
                       w_max=100.0, w_min=-100.0, w_max_dtod=0.0, w_min_dtod=0.0)


def cell_args(cell, noise=None):
    return dict(cell_kind=cell.kernel_kind,
                noise_std=float(cell.noise_std if noise is None else noise),
                mult_noise=bool(cell.mult_noise), cell_scalars=tuple(cell.cell_scalars))


def cell_bundle(cell, noise=None) -> kernels.CellParams:
    """The kernels' ``CellParams`` of a cell config (``noise``: another noise_std)."""
    args = cell_args(cell, noise)
    return kernels.CellParams(args["cell_kind"], args["noise_std"], args["mult_noise"],
                              args["cell_scalars"])


def given_trains(k=5, length=7, n_in=6, n_out=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x_bits = (torch.rand(k, length, n_in, generator=gen) < 0.4).to(torch.uint8)
    d_bits = (torch.rand(k, length, n_out, generator=gen) < 0.5).to(torch.uint8)
    x_prob = torch.randn(k, n_in, generator=gen)
    d_prob = torch.randn(k, n_out, generator=gen)
    bl = torch.tensor([length, 3, 0, 5, length][:k], dtype=torch.int32)
    return x_prob, d_prob, bl, x_bits, d_bits


def test_batch_counts_are_the_per_sample_coincidences():
    x_prob, d_prob, bl, x_bits, d_bits = given_trains()
    length = x_bits.shape[1]
    up, down = pulse_counts_torch(signed_bits_torch(x_prob, bl, length, bits=x_bits),
                                  signed_bits_torch(d_prob, bl, length, bits=d_bits))
    want_up = torch.zeros(4, 6, dtype=torch.int32)
    want_down = torch.zeros(4, 6, dtype=torch.int32)
    for b in range(len(bl)):
        n = int(bl[b])
        count = (d_bits[b, :n].T.float() @ x_bits[b, :n].float()).to(torch.int32)
        is_up = (d_prob[b] < 0)[:, None] != (x_prob[b] < 0)[None, :]
        want_up += count * is_up
        want_down += count * ~is_up
    assert torch.equal(up, want_up) and torch.equal(down, want_down)
    assert int(up.sum()) > 0 and int(down.sum()) > 0


def test_numba_counts_where_lines_meet_as_the_twins_products():
    from xbrun.kernels.counted_update_cpu import pulse_counts_numba

    gen = torch.Generator().manual_seed(1)
    xs = torch.randint(-1, 2, (40, 9), generator=gen).to(torch.int8)
    ds = torch.randint(-1, 2, (40, 7), generator=gen).to(torch.int8)
    up, down = pulse_counts_numba(xs, ds)
    want_up, want_down = pulse_counts_torch(xs, ds)
    assert torch.equal(up, want_up.long()) and torch.equal(down, want_down.long())


@pytest.mark.parametrize("backend", ["twin", "numba"])
def test_given_trains_move_a_counter_as_the_per_sample_update(backend):
    """Deterministic trains on a counting cell: batch and sample end on the same weight, and
    add the same pulses to each element's wear counter (on top of what it held)."""
    x_prob, d_prob, bl, x_bits, d_bits = given_trains()
    params = COUNTER.sample((4, 6), torch.Generator().manual_seed(0))
    sample, batch = torch.zeros(4, 6), torch.zeros(4, 6)
    held = torch.arange(24, dtype=torch.int32).reshape(4, 6)
    worn_sample, worn_batch = held.clone(), held.clone()
    n_sample = loose(kernels.pulsed_update_torch)(sample, params, x_prob, d_prob, bl, x_bits=x_bits,
                                   d_bits=d_bits, cell_pulses=worn_sample, **cell_args(COUNTER))
    trains = dict(max_bl=None, x_bits=x_bits, d_bits=d_bits, cell_pulses=worn_batch,
                  **cell_args(COUNTER))
    if backend == "twin":
        n_batch = loose(kernels.counted_update_torch)(batch, params, x_prob, d_prob, bl,
                                                      **trains)
    else:
        from xbrun.kernels.counted_update_cpu import counted_update_numba

        n_batch = loose(counted_update_numba)(batch, params, x_prob, d_prob, bl, seed=1,
                                              **trains)
    assert int(n_batch) == int(n_sample) > 0
    torch.testing.assert_close(batch, sample, rtol=0, atol=1e-6)
    assert torch.equal(worn_batch, worn_sample) and int((worn_sample - held).sum()) == n_sample
    assert (worn_sample - held).unique().numel() > 1  # elements wear unevenly


@pytest.mark.parametrize("cls", CELLS)
def test_numba_applies_counts_as_the_twin(cls):
    """The noise-free part of the numba kernel equals the twin (float32 vs float64 steps)."""
    cell = cls(dw_min=0.01)
    gen = torch.Generator().manual_seed(0)
    params = cell.sample((5, 7), gen)
    weight = 0.1 * torch.randn(5, 7, generator=gen)
    up = torch.randint(0, 20, (5, 7), generator=gen, dtype=torch.int32)
    down = torch.randint(0, 20, (5, 7), generator=gen, dtype=torch.int32)
    twin, fast = weight.clone(), weight.clone()
    apply_counts_torch(twin, params, up, down, cell_bundle(cell, noise=0.0))
    from xbrun.kernels.counted_update_cpu import apply_counts_numba

    apply_counts_numba(fast, params, up, down, cell_bundle(cell, noise=0.0))
    torch.testing.assert_close(fast, twin, rtol=0, atol=1e-6)
    assert (twin - weight).abs().max() > 0.05


@pytest.mark.parametrize("cls", CELLS)
def test_numba_drawn_update_is_its_three_passes_and_the_twin(cls):
    """The fused kernel of drawn trains (``counted_update_cpu._counted_drawn``: the firing
    lines as lists, a slot's draws in one vector loop, counts per output line, constant and
    linear steps row by row) on fresh random trains - zeros, a NaN, |p| > 1, rows without
    slots, more than 64 input lines, more bits than its first guess holds: bit for bit the
    bits of ``signed_bits_numba`` counted by the twin (``pulse_counts_torch``) and applied
    by ``apply_counts_numba`` (weights, noise, wear and pulses); without noise, the twin's
    ``apply_counts_torch`` of those counts."""
    from xbrun.kernels import seeds
    from xbrun.kernels.counted_update_cpu import (
        apply_counts_numba,
        counted_update_numba,
        signed_bits_numba,
    )

    cell = cls(dw_min=0.01)
    gen = torch.Generator().manual_seed(3)
    k, n_in, n_out, length, seed = 6, 70, 9, 7, 12345
    params = cell.sample((n_out, n_in), gen)
    x_prob = 0.8 * torch.randn(k, n_in, generator=gen)
    d_prob = 0.5 * torch.randn(k, n_out, generator=gen)
    x_prob[torch.rand(k, n_in, generator=gen) < 0.2] = 0.0
    x_prob[1, 3] = float("nan")  # draws a number, never fires
    d_prob[2] = 0.0
    bl = torch.tensor([7, 3, 0, 9, 1, 5], dtype=torch.int32)  # 9 > length: cut at length
    weight = 0.05 * torch.randn(n_out, n_in, generator=gen)
    held = torch.randint(0, 50, (n_out, n_in), generator=gen, dtype=torch.int32)
    xs = signed_bits_numba(x_prob, bl, length, seed)
    ds = signed_bits_numba(d_prob, bl, length, seed ^ seeds.D_STREAM_SALT)
    up, down = pulse_counts_torch(xs, ds)
    assert int((xs != 0).sum()) > 256  # past the kernel's first room for bits
    for noise in (None, 0.0):
        bundle = cell_bundle(cell, noise)
        want, worn_want = weight.clone(), held.clone()
        apply_counts_numba(want, params, up, down, bundle,
                           seed=seed ^ seeds.NOISE_STREAM_SALT, cell_pulses=worn_want)
        got, worn = weight.clone(), held.clone()
        pulses = counted_update_numba(got, params, x_prob, d_prob, bl,
                                      kernels.UpdateParams(bundle, length), seed=seed,
                                      cell_pulses=worn)
        assert int(pulses) == int(up.sum() + down.sum()) > 0
        assert torch.equal(got.view(torch.int32), want.view(torch.int32))
        assert torch.equal(worn, worn_want)
    twin = weight.clone()
    apply_counts_torch(twin, params, up, down, cell_bundle(cell, noise=0.0))
    torch.testing.assert_close(got, twin, rtol=0, atol=1e-6)
    assert (twin != weight).sum() > weight.numel() // 3


def replica_statistics(cell, accumulate: str, replicas: int, given: bool, steps: int = 4,
                       device: str = "cpu"):
    """Per-element mean and std over ``replicas`` independent copies of a 3x4 array after
    ``steps`` updates of 4 rank-1 trains of 10 slots. The copies are the diagonal blocks of
    one ``(3 R, 4 R)`` array whose lines repeat the same probabilities (no two diagonal
    blocks share a line, so their draws are independent) and whose cell parameters are
    tiled. ``given``: the copies get the same explicit trains, with signs fixed per line, so
    each element is pulsed one way and only the cycle-to-cycle noise differs."""
    n_out, n_in, k, bl = 3, 4, 4, 10
    gen = torch.Generator().manual_seed(0)
    params = cell.sample((n_out, n_in), gen).repeat(1, replicas, replicas).to(device)
    weight = torch.zeros(n_out * replicas, n_in * replicas, device=device)
    run = loose(kernels.pulsed_update if accumulate == "sample" else kernels.counted_update)
    x_sign, d_sign = torch.tensor([1.0, -1.0, 1.0, -1.0]), torch.tensor([1.0, 1.0, -1.0])
    for step in range(steps):
        x_prob = torch.rand(k, n_in, generator=gen) - 0.5
        d_prob = torch.rand(k, n_out, generator=gen) - 0.5
        trains = {} if accumulate == "sample" else {"max_bl": bl}
        if given:
            x_prob, d_prob = x_prob.abs() * x_sign, d_prob.abs() * d_sign
            x_bits = torch.rand(k, bl, n_in, generator=gen) < x_prob.abs()[:, None, :]
            d_bits = torch.rand(k, bl, n_out, generator=gen) < d_prob.abs()[:, None, :]
            trains.update(x_bits=x_bits.to(torch.uint8).repeat(1, 1, replicas).to(device),
                          d_bits=d_bits.to(torch.uint8).repeat(1, 1, replicas).to(device))
        run(weight, params, x_prob.repeat(1, replicas).to(device),
            d_prob.repeat(1, replicas).to(device),
            torch.full((k,), bl, dtype=torch.int32, device=device), seed=100 * step + 7,
            **trains, **cell_args(cell))
    weight = weight.cpu()
    blocks = torch.stack([weight[r * n_out:(r + 1) * n_out, r * n_in:(r + 1) * n_in]
                          for r in range(replicas)]).double()
    return blocks.mean(0), blocks.std(0)


@pytest.mark.parametrize("given", [False, True], ids=["drawn", "given"])
@pytest.mark.parametrize("cls", CELLS)
def test_batch_matches_sample_in_distribution(cls, given):
    """With device-to-device spread and cycle-to-cycle noise on (the cells' defaults, a
    coarse step so that pulses show), every element's mean and std over independent copies
    agree within 5 standard errors: with drawn trains (counts and noise random), and with
    given one-signed trains (the noise alone, which the drawn counts' spread would hide)."""
    replicas = 96 if given else 64
    cell = cls(dw_min=0.02, dw_min_std=0.3)
    m_s, s_s = replica_statistics(cell, "sample", replicas, given)
    m_b, s_b = replica_statistics(cell, "batch", replicas, given)
    assert (s_s > 0).all() and (m_s.abs() > 0).any()
    se_mean = ((s_s**2 + s_b**2) / replicas).sqrt()
    assert ((m_b - m_s).abs() <= 5 * se_mean + 1e-6).all(), (m_b - m_s) / se_mean
    se_std = ((s_s**2 + s_b**2) / (2 * replicas)).sqrt()
    assert ((s_b - s_s).abs() <= 5 * se_std + 1e-6).all(), (s_b - s_s) / se_std


def test_a_batch_counted_run_learns(tmp_path, capsys):
    code, _ = run_cli(["train", "update.accumulate=batch", "debug=tiny", "epochs=2",
                       "dataset.limit_train=512", f"hydra.run.dir={tmp_path}"], capsys)
    import json

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert code == 0 and summary["status"] == "finished"
    assert summary["config"]["update"]["accumulate"] == "batch"
    assert summary["test_accuracy"] >= 0.4 and summary["pulses"] > 0  # chance: 0.1
