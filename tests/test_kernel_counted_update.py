"""The Triton batch-counted update against its torch twin (``kernels/counted_update_ref.py``).

On the CPU the kernels run under Triton's interpreter (tiny shapes); the ``gpu`` tests run
them compiled at layer sizes. Exact where counts or trains are given and noise is off; in
distribution where the draws differ.
"""

import functools

import numpy as np
import pytest
import torch
from pulse_cases import loose
from test_counted_update import (
    CELLS,
    COUNTER,
    cell_args,
    cell_bundle,
    given_trains,
    replica_statistics,
)
from triton_modules import triton_function
from xbrun.kernels.counted_update_ref import apply_counts_torch
from xbrun.kernels.pulsed_update_ref import pulsed_update_torch as _pulsed_update

from xbrun.physics.cells import ConstantStep, ExpStep, SoftBounds

pulsed_update_torch = loose(_pulsed_update)


def launcher(name: str, interpret: bool):
    launch = triton_function("counted_update_cuda", name, interpret)
    return loose(launch) if name == "counted_update_triton" else launch


def _probs(gen, *lead, n_in, n_out, device="cpu"):
    """A problem's signed line probabilities, uniform in [-0.5, 0.5): x ``(*lead, n_in)``
    drawn first, then d ``(*lead, n_out)``."""
    x_prob = torch.rand(*lead, n_in, generator=gen) - 0.5
    d_prob = torch.rand(*lead, n_out, generator=gen) - 0.5
    return x_prob.to(device), d_prob.to(device)


def apply_case(apply, cls, shape, device, noise=0.0):
    """The Triton apply and the twin's on one random problem: ``(kernel, twin, start)``."""
    cell = cls(dw_min=0.01)
    gen = torch.Generator().manual_seed(0)
    params = cell.sample(shape, gen).to(device)
    weight = (0.1 * torch.randn(shape, generator=gen)).to(device)
    up = torch.randint(0, 20, shape, generator=gen, dtype=torch.int32).to(device)
    down = torch.randint(0, 20, shape, generator=gen, dtype=torch.int32).to(device)
    kernel, twin = weight.clone(), weight.clone()
    apply(kernel, params, up, down, cell_bundle(cell, noise=noise), seed=3)
    apply_counts_torch(twin, params, up, down, cell_bundle(cell, noise=0.0))
    return kernel, twin, weight, (up + down).to(torch.float64), cell


@pytest.fixture(scope="module")
def interp():
    return {name: launcher(name, True) for name in
            ("apply_counts_triton", "counted_update_triton", "signed_bits_triton")}


@pytest.mark.parametrize("cls", CELLS)
def test_interpreted_apply_equals_the_twin(interp, cls):
    kernel, twin, start, _, _ = apply_case(interp["apply_counts_triton"], cls, (5, 7), "cpu")
    torch.testing.assert_close(kernel, twin, rtol=0, atol=2e-6)
    assert (twin - start).abs().max() > 0.05


def test_steep_soft_bounds_apply_alike_in_twin_numba_and_triton(interp):
    """Elements whose bound lies near 0 (a pulse with ``c = 1 - scale * slope < 0``
    overshoots its fixed point): the 8 of ``test_gpu_apply_equals_the_twin``'s 256 x 784
    SoftBounds problem where Triton once floored ``c`` elsewhere than the twin (0.005 off)."""
    from xbrun.kernels.counted_update_cpu import apply_counts_numba

    shape, where = (256, 784), ([32, 48, 57, 93, 102, 113, 122, 127],
                                [192, 255, 450, 665, 743, 170, 23, 247])
    cell = SoftBounds(dw_min=0.01)
    gen = torch.Generator().manual_seed(0)  # apply_case's draws, in its order
    params = cell.sample(shape, gen)[:, where[0], where[1]][:, None].contiguous()
    weight = (0.1 * torch.randn(shape, generator=gen))[where][None].contiguous()
    up = torch.randint(0, 20, shape, generator=gen, dtype=torch.int32)[where][None]
    down = torch.randint(0, 20, shape, generator=gen, dtype=torch.int32)[where][None]
    # rows: scale up, down, w_max, w_min, slope up, down; every element overshoots one way
    assert ((1.0 + params[1] * params[5] < 0) | (1.0 - params[0] * params[4] < 0)).all()
    twin, fast, triton = weight.clone(), weight.clone(), weight.clone()
    apply_counts_torch(twin, params, up, down, cell_bundle(cell, noise=0.0))
    apply_counts_numba(fast, params, up, down, cell_bundle(cell, noise=0.0))
    interp["apply_counts_triton"](triton, params, up, down, cell_bundle(cell, noise=0.0), seed=3)
    torch.testing.assert_close(fast, twin, rtol=0, atol=2e-6)
    torch.testing.assert_close(triton, twin, rtol=0, atol=2e-6)


def test_interpreted_given_trains_count_as_the_per_sample_update(interp):
    x_prob, d_prob, bl, x_bits, d_bits = given_trains()
    params = COUNTER.sample((4, 6), torch.Generator().manual_seed(0))
    sample, batch = torch.zeros(4, 6), torch.zeros(4, 6)
    held = torch.arange(24, dtype=torch.int32).reshape(4, 6)  # the wear counters so far
    worn_sample, worn_batch = held.clone(), held.clone()
    n_sample = pulsed_update_torch(sample, params, x_prob, d_prob, bl, x_bits=x_bits,
                                   d_bits=d_bits, cell_pulses=worn_sample, **cell_args(COUNTER))
    n_batch = interp["counted_update_triton"](batch, params, x_prob, d_prob, bl, max_bl=None,
                                              seed=0, x_bits=x_bits, d_bits=d_bits,
                                              cell_pulses=worn_batch, **cell_args(COUNTER))
    assert int(n_batch) == int(n_sample) > 0
    torch.testing.assert_close(batch, sample, rtol=0, atol=1e-6)
    assert torch.equal(worn_batch, worn_sample) and int((worn_sample - held).sum()) == n_sample
    assert (worn_sample - held).unique().numel() > 1  # elements wear unevenly


def test_interpreted_seed_tensor_draws_as_its_int(interp):
    """A one-element seed tensor (what a replayed CUDA graph reads) draws what the same int
    draws; another seed draws other bits and noise."""
    cell = SoftBounds(dw_min=0.01)
    gen = torch.Generator().manual_seed(0)
    params = cell.sample((24, 16), gen)
    x_prob, d_prob = _probs(gen, 8, n_in=16, n_out=24)
    bl = torch.full((8,), 10, dtype=torch.int32)
    weights = [torch.zeros(24, 16) for _ in range(3)]
    pulses = [int(interp["counted_update_triton"](w, params, x_prob, d_prob, bl, max_bl=10,
                                                  seed=seed, **cell_args(cell)))
              for w, seed in zip(weights, (torch.tensor(5), 5, torch.tensor(6)), strict=True)]
    assert pulses[0] == pulses[1] > 0 and torch.equal(weights[0], weights[1])
    assert not torch.equal(weights[0], weights[2])


def test_interpreted_bits_fire_with_their_probability(interp):
    k, length, n = 3, 8, 64
    prob = torch.tensor([0.3, -0.7, 0.0]).repeat_interleave(n).reshape(k, n)
    bl = torch.tensor([6, 5, 8], dtype=torch.int32)
    bits = interp["signed_bits_triton"](prob, bl, length, 32, 11, 0)
    assert bits.shape == (32, n) and not bits[k * length:].any()
    bits = bits[:k * length].reshape(k, length, n)
    assert not bits[0, 6:].any() and not bits[1, 5:].any()
    assert not bits[2].any() and (bits[0] >= 0).all() and (bits[1] <= 0).all()
    for b, p, slots in ((0, 0.3, 6), (1, 0.7, 5)):
        rate = bits[b, :slots].abs().double().mean()
        assert abs(rate - p) <= 5 * (p * (1 - p) / (slots * n)) ** 0.5


@pytest.mark.parametrize("method", ["split_k", "cublas"])
def test_counts_of_either_method_equal_the_products(method):
    """Both ways of counting on the K-major planes equal the float64 products: the split-K
    kernel (interpreted) in one part and in three (integer atomics), and the cuBLAS layout
    (``torch._int_mm`` on padded planes and their magnitudes; the CPU runs it too)."""
    coincidences = launcher("coincidences_triton", True)
    gen = torch.Generator().manual_seed(0)
    n_out, n_in, n_k = 20, 33, 700
    xs = torch.randint(-1, 2, (n_k, n_in), generator=gen).to(torch.int8)
    ds = torch.randint(-1, 2, (n_k, n_out), generator=gen).to(torch.int8)
    net = ds.double().T @ xs.double()
    total = ds.double().abs().T @ xs.double().abs()
    up, down = launcher("pulse_counts_triton", True)(xs, ds, method)
    assert torch.equal(up.double(), (total - net) / 2)
    assert torch.equal(down.double(), (total + net) / 2)
    if method == "split_k":
        dt = torch.zeros(n_out, 704, dtype=torch.int8)
        xt = torch.zeros(n_in, 704, dtype=torch.int8)
        dt[:, :n_k], xt[:, :n_k] = ds.T, xs.T
        parts = coincidences(dt, xt, n_out, n_in, splits=3)
        assert torch.equal(parts[0].double(), net) and torch.equal(parts[1].double(), total)


def test_split_k_stops_at_the_longest_train(interp):
    """Slot-major planes hold zeros past ``longest * k`` slots (BL management shortens
    trains): the split-K kernel reads no further - ones put there change no count - in
    every part of a split, and the planes' bits are the rows' trains in slot-major order."""
    coincidences = launcher("coincidences_triton", True)
    gen = torch.Generator().manual_seed(2)
    k, length, n_out, n_in = 40, 16, 6, 9
    bl = torch.randint(0, 4, (k,), generator=gen, dtype=torch.int32)  # longest 3 of 16
    x_prob, d_prob = _probs(gen, k, n_in=n_in, n_out=n_out)
    planes = launcher("line_planes_triton", True)
    xt, _ = planes(x_prob, bl, length, 640, 7, 0)
    dt, _ = planes(d_prob, bl, length, 640, 7, 1)
    rows = interp["signed_bits_triton"](x_prob, bl, length, 640, 7, 0)[:k * length]
    assert torch.equal(xt[:, :k * length].T, rows.reshape(k, length, n_in).transpose(0, 1)
                       .reshape(k * length, n_in))
    live = int(bl.max()) * k
    assert not xt[:, live:].any() and xt[:, :live].any()
    net = dt[:, :live].double() @ xt[:, :live].double().T
    total = dt[:, :live].double().abs() @ xt[:, :live].double().abs().T
    xt[:, live:], dt[:, live:] = 1, 1  # read past the longest train, these would count
    got = coincidences(dt, xt, n_out, n_in, splits=4, trains=(bl, k, length))
    assert torch.equal(got[0].double(), net) and torch.equal(got[1].double(), total)


def test_narrow_planes_are_the_bits_of_wide_blocks(monkeypatch):
    """Planes of at most 16 lines drawn in blocks of 16 lines x 128 rows are those of the
    blocks of 32 x 64 bit for bit, dense and compact (up to the trains' sum: nothing is
    written past it), with a partial last block of rows."""
    planes = launcher("line_planes_triton", True)
    gen = torch.Generator().manual_seed(6)
    k, length = 150, 5
    bl = torch.randint(0, length + 1, (k,), generator=gen, dtype=torch.int32)
    prob = torch.rand(k, 10, generator=gen) - 0.5
    compact = launcher("compact_layout", True)(bl, length)
    end = int(compact[1][-1])
    got = []
    blocks = planes.__globals__["_plane_blocks"]
    for wide in (True, False):  # (the blocks of planes of more than 16 lines, then its own)
        monkeypatch.setitem(planes.__globals__, "_plane_blocks",
                            (lambda n_lines: (64, 32)) if wide else blocks)
        got.append((planes(prob, bl, length, 768, 9, 1)[0],
                    planes(prob, bl, length, 768, 9, 1, compact=compact)[0][:, :end]))
    assert blocks(10) == (128, 16)
    assert all(torch.equal(a, b) for a, b in zip(*got, strict=True)) and got[0][0].any()


def test_drawn_counts_are_the_planes_counts():
    """The counts drawn where they are counted (the error side drawn by each program, or
    read from its plane) equal the split-K kernel's of the same stream's dense planes
    (``rows4``, zeroed) bit for bit (several input blocks, K parts, a partial last row
    block, short and empty trains), for one tile and a group of two with their own seeds."""
    planes = launcher("line_planes_triton", True)
    coincidences = launcher("coincidences_triton", True)
    drawn = launcher("drawn_counts_triton", True)
    gen = torch.Generator().manual_seed(8)
    k, length, n_out, n_in = 36, 5, 5, 20
    bl = torch.randint(0, length + 1, (2, k), generator=gen, dtype=torch.int32)
    x_prob, d_prob = _probs(gen, 2, k, n_in=n_in, n_out=n_out)
    seeds = torch.tensor([31, 32])
    ld = k * length
    want = []
    for g in range(2):
        xt, _ = planes(x_prob[g], bl[g], length, ld, int(seeds[g]), 0, rows4=True, zeroed=True)
        dt, _ = planes(d_prob[g], bl[g], length, ld, int(seeds[g]), 1, rows4=True, zeroed=True)
        want.append(coincidences(dt, xt, n_out, n_in, splits=2, trains=(bl[g], k, length)))
    for error_planes in (False, True):  # the error side drawn by each program / its plane
        for g in range(2):
            got = drawn(x_prob[g], d_prob[g], bl[g], length, int(seeds[g]), block_n=16,
                        splits=2, error_planes=error_planes)
            assert all(torch.equal(a, b) for a, b in zip(got, want[g], strict=True))
        net, total = drawn(x_prob, d_prob, bl, length, seeds, block_n=16, splits=3,
                           error_planes=error_planes)
        assert torch.equal(net, torch.stack([w[0] for w in want]))
        assert torch.equal(total, torch.stack([w[1] for w in want])) and total.sum() > 0


class _NotLaunched:
    """A kernel that must not run: indexing it (a launch) fails the test."""

    def __getitem__(self, grid):
        raise AssertionError("the apply kernel ran: the counts were not applied where counted")


def _two_tile_case(kernels, cell, seed, n_in, tiles=2, k=6, length=4, n_out=5, device="cpu"):
    """A group of ``tiles`` tiles of ``n_out`` x ``n_in`` cells of ``cell`` (their parameters,
    start weights, trains of 0-``length`` slots over ``k`` samples, line probabilities) on
    ``device``, and the update's parameters."""
    gen = torch.Generator().manual_seed(seed)
    params = torch.stack([cell.sample((n_out, n_in), gen) for _ in range(tiles)])
    start = 0.1 * torch.randn(tiles, n_out, n_in, generator=gen)
    bl = torch.randint(0, length + 1, (tiles, k), generator=gen, dtype=torch.int32)
    x_prob, d_prob = _probs(gen, tiles, k, n_in=n_in, n_out=n_out)
    case = [t.to(device) for t in (params, start, bl, x_prob, d_prob)]
    return (*case, kernels.UpdateParams(cell_bundle(cell), length))


def _grouped_update(group, params, start, bl, x_prob, d_prob, p):
    """The group's update from ``start`` (seeds 3, 4, ...): weights, wear counters, pulses."""
    weights = start.clone()
    worn = torch.zeros(start.shape, dtype=torch.int32, device=start.device)
    seeds = torch.arange(3, 3 + start.shape[0], device=start.device)
    pulses = group(weights, params, x_prob, d_prob, bl, p, seeds=seeds, cell_pulses=worn)
    return weights, worn, pulses


def _group_and_one(group, one, params, start, bl, x_prob, d_prob, p):
    """The two-tile group's update (seeds 4, 5) and its second tile's alone (seed 77): the
    weights, wear counters and pulses of each."""
    tiles, n_out, n_in = start.shape
    weights, worn = start.clone(), torch.zeros(tiles, n_out, n_in, dtype=torch.int32)
    pulses = group(weights, params, x_prob, d_prob, bl, p, seeds=torch.tensor([4, 5]),
                   cell_pulses=worn)
    w, c = start[1].clone(), torch.zeros(n_out, n_in, dtype=torch.int32)
    n = one(w, params[1], x_prob[1], d_prob[1], bl[1], p, seed=77, cell_pulses=c,
            method="split_k")
    return weights, worn, pulses, w, c, n


def _assert_same_and_updated(results, start):
    """Two paths' results are equal bit for bit, and the first one pulsed and moved weights."""
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)
    assert (results[0][2] > 0).all() and not torch.equal(results[0][0], start)


def test_interpreted_cublas_layout_updates_as_the_split_k_kernel(interp):
    """The whole update with the cuBLAS layout (lines padded to 16s, magnitudes written by
    the planes' launch, padded counts read in place) equals the split-K one bit for bit."""
    cell = SoftBounds(dw_min=0.01, dw_min_std=0.3)
    gen = torch.Generator().manual_seed(1)
    params = cell.sample((24, 37), gen)
    x_prob, d_prob = _probs(gen, 5, n_in=37, n_out=24)
    bl = torch.tensor([3, 7, 0, 5, 7], dtype=torch.int32)
    weights, pulses = [], []
    for method in ("split_k", "cublas"):
        weight, worn = torch.zeros(24, 37), torch.zeros(24, 37, dtype=torch.int32)
        pulses.append(int(interp["counted_update_triton"](
            weight, params, x_prob, d_prob, bl, max_bl=7, seed=5, method=method,
            cell_pulses=worn, **cell_args(cell))))
        weights.append((weight, worn))
    assert pulses[0] == pulses[1] == int(weights[0][1].sum()) > 0
    assert torch.equal(weights[0][0], weights[1][0]) and torch.equal(weights[0][1], weights[1][1])


def test_interpreted_cublas_draws_the_drawn_counts_bits(monkeypatch):
    """Where the split-K method draws its counts (``_drawn``'s shapes: few outputs, many
    rows; ``DRAWN_MIN_ROWS`` lowered here) from ``_rows4``'s stream, keyed by row, a forced
    cuBLAS count takes the same bits (its planes drawn from that stream,
    zeros elsewhere): the same pulses, weights and wear bit for bit, BL-managed trains of
    0-8 slots under a bound of 31 (the GPU suite's ``[conv]`` case, 16 x 27 x 131,072: the
    cuBLAS planes kept the old stream, 567,611 pulses against 565,160)."""
    update = triton_function("counted_update_cuda", "counted_update_triton", True)
    monkeypatch.setitem(update.__globals__, "DRAWN_MIN_ROWS", 16)
    cell = SoftBounds(dw_min=0.01, dw_min_std=0.3)
    gen = torch.Generator().manual_seed(0)
    params = cell.sample((5, 7), gen)
    x_prob, d_prob = _probs(gen, 40, n_in=7, n_out=5)
    bl = torch.randint(0, 9, (40,), generator=gen, dtype=torch.int32)
    results = []
    for method in ("cublas", "split_k"):
        weight, worn = torch.zeros(5, 7), torch.zeros(5, 7, dtype=torch.int32)
        pulses = loose(update)(weight, params, x_prob, d_prob, bl, max_bl=31,
                               seed=torch.tensor(7), method=method, cell_pulses=worn,
                               **cell_args(cell))
        results.append((weight, worn, int(pulses)))
    assert results[0][2] == results[1][2] == int(results[0][1].sum()) > 0
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])


def constant_like(dw_min):
    """A constant step without device-to-device spread (every step exactly ``dw_min``) and
    far bounds, so the noise alone moves an element off the twin."""
    return ConstantStep(dw_min=dw_min, dw_min_dtod=0.0, up_down_dtod=0.0, w_max=100.0,
                        w_min=-100.0, w_max_dtod=0.0, w_min_dtod=0.0)


def test_interpreted_noise_is_summed_over_the_pulses(interp):
    """A constant step's noise over n pulses: ``sigma * scale * sqrt(n)`` per element."""
    kernel, twin, _, counts, _ = apply_case(interp["apply_counts_triton"], constant_like,
                                            (32, 32), "cpu", noise=0.3)
    z = ((kernel - twin).double() / (0.3 * 0.01 * counts.clamp_min(1).sqrt()))[counts > 0]
    assert abs(float(z.mean())) < 5 / z.numel() ** 0.5
    assert abs(float(z.std()) - 1.0) < 5 / (2 * z.numel()) ** 0.5


# --------------------------------------------------------------------------------------
# GPU: compiled, at layer sizes

gpu = pytest.mark.gpu
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture
def compiled(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    return {name: launcher(name, False) for name in
            ("apply_counts_triton", "counted_update_triton", "pulse_counts_triton")}


@gpu
@needs_cuda
@pytest.mark.parametrize("cls", CELLS)
def test_gpu_apply_equals_the_twin(compiled, cls):
    kernel, twin, _, _, _ = apply_case(compiled["apply_counts_triton"], cls, (256, 784), "cuda")
    torch.testing.assert_close(kernel, twin, rtol=0, atol=2e-5)


@gpu
@needs_cuda
@pytest.mark.parametrize("method", ["cublas", "split_k"])
@pytest.mark.parametrize("shape", [(4096, 4096, 256 * 31), (10, 784, 256 * 31 + 3),
                                   (16, 27, 131072 * 31), (64, 576, 8192 * 31 + 5)],
                         ids=["wide", "last", "conv1", "conv3"])
def test_gpu_counts_of_either_method_equal_the_products(compiled, shape, method):
    """Both ways of counting (cuBLAS int8 products on padded K-major planes, the split-K
    kernel) equal exact products, at layer and convolution sizes (K in the millions)."""
    n_out, n_in, k = shape
    gen = torch.Generator(device="cuda").manual_seed(0)
    xs = (torch.randint(-1, 2, (k, n_in), generator=gen, device="cuda")).to(torch.int8)
    ds = (torch.randint(-1, 2, (k, n_out), generator=gen, device="cuda")).to(torch.int8)
    up, down = compiled["pulse_counts_triton"](xs, ds, method)
    net = torch.zeros(n_out, n_in, dtype=torch.int64, device="cuda")
    total = torch.zeros_like(net)
    for part in range(0, k, 1 << 16):  # float32 products of chunks: exact below 2^24
        x, d = xs[part:part + (1 << 16)].float(), ds[part:part + (1 << 16)].float()
        net += (d.T @ x).round().long()
        total += (d.abs().T @ x.abs()).round().long()
    assert torch.equal(up.long(), (total - net) // 2)
    assert torch.equal(down.long(), (total + net) // 2)


@gpu
@needs_cuda
@pytest.mark.parametrize("given", [False, True], ids=["drawn", "given"])
@pytest.mark.parametrize("cls", CELLS)
def test_gpu_batch_matches_sample_in_distribution(cls, given):
    """``test_counted_update``'s fidelity check with the CUDA kernels of both modes."""
    replicas = 96 if given else 64
    cell = cls(dw_min=0.02, dw_min_std=0.3)
    m_s, s_s = replica_statistics(cell, "sample", replicas, given, device="cuda")
    m_b, s_b = replica_statistics(cell, "batch", replicas, given, device="cuda")
    se_mean = ((s_s**2 + s_b**2) / replicas).sqrt()
    assert ((m_b - m_s).abs() <= 5 * se_mean + 1e-6).all(), (m_b - m_s) / se_mean
    se_std = ((s_s**2 + s_b**2) / (2 * replicas)).sqrt()
    assert ((s_b - s_s).abs() <= 5 * se_std + 1e-6).all(), (s_b - s_s) / se_std


@gpu
@needs_cuda
@pytest.mark.parametrize("shape", [(512, 784, 256), (16, 27, 131072)], ids=["layer", "conv"])
def test_gpu_both_methods_update_alike_without_a_host_sync(compiled, shape):
    """At a layer's and a convolution's size (131072 rows: K = 4M slots), the compiled
    update counted by cuBLAS (forced: padded sides, the slices) and by the split-K kernel
    (which stops at the longest train) moves the weights bit for bit alike, and neither
    waits for the host. At the convolution's shape the split-K method draws its counts
    (``_rows4``' stream) and cuBLAS's planes hold the same bits."""
    n_out, n_in, k = shape
    cell = SoftBounds(dw_min=0.01, dw_min_std=0.3)
    gen = torch.Generator().manual_seed(0)
    params = cell.sample((n_out, n_in), gen).cuda()
    x_prob = ((torch.rand(k, n_in, generator=gen) - 0.5) * 0.2).cuda()
    d_prob = ((torch.rand(k, n_out, generator=gen) - 0.5) * 0.2).cuda()
    bl = torch.randint(0, 9, (k,), generator=gen, dtype=torch.int32).cuda()  # BL management
    seed = torch.tensor(7, device="cuda")
    out = []
    for method in ("cublas", "split_k"):
        weight = torch.zeros(n_out, n_in, device="cuda")
        compiled["counted_update_triton"](weight, params, x_prob, d_prob, bl, max_bl=31,
                                          seed=seed, method=method, **cell_args(cell))
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            pulses = compiled["counted_update_triton"](weight, params, x_prob, d_prob, bl,
                                                       max_bl=31, seed=seed, method=method,
                                                       **cell_args(cell))
        finally:
            torch.cuda.set_sync_debug_mode(0)
        out.append((weight, int(pulses)))
    assert out[0][1] == out[1][1] > 0
    assert torch.equal(out[0][0], out[1][0])


def test_interpreted_compact_layout_is_the_twins():
    """The compact planes' layout in one launch: each tile's rows in argsort's stable
    descending order of train length (ties, empty trains) and the slots' first rows."""
    layout = triton_function("counted_update_cuda", "compact_layout", True)
    twin = triton_function("counted_update_cuda", "compact_layout_torch", True)
    gen = torch.Generator().manual_seed(4)
    for shape, length in (((3, 70), 9), ((37,), 5), ((2, 5), 1)):
        bl = torch.randint(0, length + 1, shape, generator=gen, dtype=torch.int32)
        got, want = layout(bl, length), twin(bl, length)
        assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True)), shape


@gpu
@needs_cuda
def test_gpu_compact_layout_is_the_twins():
    layout = triton_function("counted_update_cuda", "compact_layout", False)
    twin = triton_function("counted_update_cuda", "compact_layout_torch", False)
    gen = torch.Generator().manual_seed(4)
    for shape, length in (((64, 256), 31), ((1024,), 31), ((3, 100), 200)):
        bl = torch.randint(0, length + 1, shape, generator=gen, dtype=torch.int32).cuda()
        got, want = layout(bl, length), twin(bl, length)
        assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True)), shape


def test_interpreted_counting_layout_is_the_twins():
    """The counting layout's two launches (histograms a chunk of rows, then ranks) give
    argsort's stable descending order and the slots' bases integer for integer: several
    chunks and sub-blocks, a partial last chunk, a group, trains of 1 (the ResNet's), empty
    trains; trains past the bound are ordered as the bound's length (the same bases)."""
    layout = triton_function("counted_update_cuda", "counting_layout", True)
    twin = triton_function("counted_update_cuda", "compact_layout_torch", True)
    gen = torch.Generator().manual_seed(4)
    for shape, length, chunk, sub in (((2, 300), 9, 64, 32), ((200,), 31, 64, 16)):
        bl = torch.randint(0, length + 1, shape, generator=gen, dtype=torch.int32)
        bl[..., :40] = 1
        got, want = layout(bl, length, chunk=chunk, sub=sub), twin(bl, length)
        assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True)), shape
    bl = torch.randint(0, 9, (70,), generator=gen, dtype=torch.int32)
    order, base = layout(bl, 5, chunk=32, sub=32)
    assert torch.equal(base, twin(bl, 5)[1])
    assert torch.equal(order, twin(bl.clamp(max=5), 5)[0])
    with pytest.raises(ValueError, match="trains of 1-63"):
        layout(bl, 64)


def test_many_drawn_parts_count_as_one(monkeypatch):
    """The drawn counts split over up to ``DRAWN_WAVES`` x the parts that fill the device
    (row blocks of a K part fewer, at least 4 each) give one part's counts, integer for
    integer; the register cap is the 144-wide program's alone."""
    drawn = launcher("drawn_counts_triton", True)
    kernel, parts = drawn.__globals__["_drawn_counts_kernel"], []

    class Spy:  # the kernel, noting its parts (grid axis 1)
        def __getitem__(self, grid):
            parts.append(grid[1])
            return kernel[grid]

    monkeypatch.setitem(drawn.__globals__, "_drawn_counts_kernel", Spy())
    monkeypatch.setitem(drawn.__globals__, "_programs", lambda device: 1)  # (4 a SM: 1 part)
    gen = torch.Generator().manual_seed(7)
    k, length, n_out, n_in = 128, 2, 3, 16
    bl = torch.randint(0, length + 1, (k,), generator=gen, dtype=torch.int32)
    x_prob, d_prob = _probs(gen, k, n_in=n_in, n_out=n_out)
    got = [drawn(x_prob, d_prob, bl, length, 5, block_r=16, block_n=16, error_planes=False,
                 splits=splits) for splits in (1, None)]
    assert parts == [1, 2]
    assert torch.equal(got[0][0], got[1][0]) and torch.equal(got[0][1], got[1][1])
    assert got[0][1].sum() > 0
    options = drawn.__globals__["_drawn_launch"]  # the register cap: 16 x 32 only
    assert options(32, 16, 32) == {"num_warps": 4, "maxnreg": 128}
    assert options(32, 32, 64) == {"num_warps": 4}


def _gpu_drawn_counts_each_way(monkeypatch, n_out, n_in, k, trains, settings):
    """The compiled drawn counts of the same random rows under each of ``settings`` (dicts of
    ``counted_update_cuda`` switches), for each train-length draw of ``trains``: one list of
    ``(net, total)`` a draw. The GPU switch tests compare them."""
    drawn = launcher("drawn_counts_triton", False)
    gen = torch.Generator().manual_seed(n_in)
    x_prob, d_prob = _probs(gen, k, n_in=n_in, n_out=n_out, device="cuda")
    counts = []
    for bl in trains(k, gen):
        got = []
        for setting in settings:
            for name, value in setting.items():
                monkeypatch.setitem(drawn.__globals__, name, value)
            got.append(drawn(x_prob, d_prob, bl.cuda(), 31, torch.tensor([9], device="cuda")))
        counts.append(got)
    return counts


def _any_and_single_trains(k, gen):
    """Trains of 0-31 slots, then of 1 (a convolution's under BL management)."""
    return (torch.randint(0, 32, (k,), generator=gen, dtype=torch.int32),
            torch.ones(k, dtype=torch.int32))


@gpu
@needs_cuda
def test_gpu_counting_layout_is_the_twins():
    """Compiled, at the ResNet's row counts (131,072 rows of trains of 1 and of 0-31, a
    group of 3 x 8,192): argsort's order and the bases integer for integer."""
    layout = triton_function("counted_update_cuda", "counting_layout", False)
    twin = triton_function("counted_update_cuda", "compact_layout_torch", False)
    gen = torch.Generator().manual_seed(4)
    for shape, length in (((131072,), 31), ((3, 8192), 31), ((5000,), 1)):
        bl = torch.randint(0, length + 1, shape, generator=gen, dtype=torch.int32).cuda()
        for ones in (False, True):
            if ones:
                bl = torch.ones_like(bl)
            got, want = layout(bl, length), twin(bl, length)
            assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True)), shape


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=gpu)])
def test_each_tile_of_a_group_takes_its_own_line_signs(device):
    """A 2 x 2 grid's trains with a row of chopper signs per tile (a transfer device's A in
    each tile): Triton (interpreted on the CPU, compiled on CUDA), the twin and numba give
    each tile what its own call with its own signs gives, and advance its counters alone
    (strided: ledger columns)."""
    from xbrun.kernels.pulsed_update_cpu import line_probabilities_grouped_numba
    from xbrun.kernels.pulsed_update_ref import (
        line_probabilities_grouped_torch,
        line_probabilities_torch,
    )

    lines = triton_function("pulsed_update_cuda", "line_probabilities_grouped_triton",
                            device == "cpu")
    gen = torch.Generator().manual_seed(3)
    x, d = torch.randn(3, 12, generator=gen), 0.1 * torch.randn(3, 10, generator=gen)
    options = dict(desired_bl=9, fixed_bl=True, update_management=True,
                   update_bl_management=True, um_grad_scale=1.0, res=0.0)
    signs = [torch.where(torch.rand(4, n, generator=gen) < 0.5, -1.0, 1.0) for n in (6, 5)]
    runs = [lines] if device == "cuda" else [lines, line_probabilities_grouped_torch,
                                             line_probabilities_grouped_numba]
    for run in runs:
        ledger = torch.zeros(4, 2, dtype=torch.int64, device=device)  # slots: ledger column
        slots, calls = ledger[:, 0], torch.arange(4, device=device)
        rows = torch.zeros(4, 2, dtype=torch.int64, device=device)
        got = run(x.to(device), d.to(device), 2, 6, 5, 0.5, 0.01, x_sign=signs[0].to(device),
                  d_sign=signs[1].to(device), slots=slots, calls=calls, rows=rows[:, 1],
                  sto_round=False, **options)
        got = [t.cpu() for t in got]
        # the probabilities to float32 rounding (Triton compiled or interpreted through
        # numpy, and numba, may round the last bit of a division or sqrt otherwise: seen on
        # some machines), the grouped twin exactly; the lengths exactly for all
        same = torch.equal if run is line_probabilities_grouped_torch else functools.partial(
            torch.allclose, rtol=1e-5, atol=1e-12)
        assert calls.tolist() == [1, 2, 3, 4] and ledger[:, 1].tolist() == [0, 0, 0, 0]
        assert rows.tolist() == [[0, 3]] * 4
        for g in range(4):
            i, j = divmod(g, 2)
            want = line_probabilities_torch(x[:, 6 * j:6 * j + 6], d[:, 5 * i:5 * i + 5], 0.5,
                                            0.01, x_sign=signs[0][g], d_sign=signs[1][g],
                                            sto_round=False, **options)
            assert all(same(a, b) for a, b in zip((got[0][g], got[1][g]), want,
                                                  strict=False)), (run, g)
            assert torch.equal(got[2][g], want[2]) and int(slots[g]) == int(want[2].sum())
        # the signs are each tile's own: other tiles' signs give other probabilities
        assert not torch.equal(got[0][1], got[0][3]) or not torch.equal(got[1][1], got[1][3])


def test_interpreted_group_is_each_tile_with_its_own_seed():
    """A 2 x 2 grid's trains (chopper signs and counters per tile) and counted updates in
    the launches of one tile: each tile gets what its own call with its own seed gives
    (noise on, wear counted); the twin and numba loop over the tiles."""
    from xbrun.kernels.counted_update_cpu import counted_update_grouped_numba, counted_update_numba
    from xbrun.kernels.counted_update_ref import counted_update_grouped_torch

    from xbrun import kernels

    lines = triton_function("pulsed_update_cuda", "line_probabilities_grouped_triton", True)
    one_lines = triton_function("pulsed_update_cuda", "line_probabilities_triton", True)
    group = triton_function("counted_update_cuda", "counted_update_grouped_triton", True)
    one = triton_function("counted_update_cuda", "counted_update_triton", True)
    cell = SoftBounds(dw_min=0.01, dw_min_std=0.3)
    gen = torch.Generator().manual_seed(0)
    params = torch.stack([cell.sample((5, 6), gen) for _ in range(4)])
    start = 0.1 * torch.randn(4, 5, 6, generator=gen)
    x, d = torch.randn(3, 12, generator=gen), 0.1 * torch.randn(3, 10, generator=gen)
    options = dict(desired_bl=9, fixed_bl=True, update_management=True,
                   update_bl_management=True, um_grad_scale=1.0, res=0.0)
    signs = [torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0) for n in (12, 10)]
    slots, calls = torch.zeros(4, dtype=torch.int64), torch.arange(4)
    x_p, d_p, bl = lines(x, d, 2, 6, 5, 0.5, 0.01, slots=slots, calls=calls, x_sign=signs[0],
                         d_sign=signs[1], **options)
    assert torch.equal(slots, bl.sum(1)) and torch.equal(calls, torch.arange(1, 5))
    p = kernels.UpdateParams(cell_bundle(cell), 9)
    seeds = torch.tensor([21, 22, 23, 24])
    weights, worn = start.clone(), torch.zeros(4, 5, 6, dtype=torch.int32)
    pulses = group(weights, params, x_p, d_p, bl, p, seeds=seeds, cell_pulses=worn)
    for g in (1, 2):
        i, j = divmod(g, 2)
        want = one_lines(x[:, 6 * j:6 * j + 6], d[:, 5 * i:5 * i + 5], 0.5, 0.01,
                         x_sign=signs[0][6 * j:6 * j + 6], d_sign=signs[1][5 * i:5 * i + 5],
                         **options)
        assert all(torch.equal(a, b) for a, b in zip((x_p[g], d_p[g], bl[g]), want, strict=True))
        w, c = start[g].clone(), torch.zeros(5, 6, dtype=torch.int32)
        n = one(w, params[g], x_p[g], d_p[g], bl[g], p, seed=seeds[g:g + 1], cell_pulses=c,
                method="split_k")
        assert int(n) == int(pulses[g]) > 0 and torch.equal(w, weights[g])
        assert torch.equal(c, worn[g])
    gens = [torch.Generator().manual_seed(s) for s in range(4)]
    twin = start.clone()
    got = counted_update_grouped_torch(twin, params, x_p, d_p, bl, p, generators=gens)
    fast = start.clone()
    got_numba = counted_update_grouped_numba(fast, params, x_p, d_p, bl, p, seeds=[5, 6, 7, 8])
    w = start[3].clone()
    assert int(counted_update_numba(w, params[3], x_p[3], d_p[3], bl[3], p, seed=8)) \
        == int(got_numba[3])
    assert torch.equal(w, fast[3])
    assert (got > 0).all() and not torch.equal(twin, start)


@pytest.mark.parametrize("splits", [1, 3])
def test_interpreted_one_accumulator_packs_net_and_total(splits):
    """The one-accumulator count (``packed``): one int32 of ``net + 16384 * total`` from
    one accumulator, the pair's counts exactly (random signed planes, compact ends, split
    over K with atomics or not, a group of two tiles), and planes of 2^13 slots or more are
    refused (the packing's bound)."""
    coincidences = launcher("coincidences_triton", True)
    gen = torch.Generator().manual_seed(21)
    tiles, n_out, n_in, ld = 2, 7, 19, 512
    dt = torch.randint(-1, 2, (tiles, n_out, ld), generator=gen, dtype=torch.int8)
    xt = torch.randint(-1, 2, (tiles, n_in, ld), generator=gen, dtype=torch.int8)
    ends = torch.tensor([ld, 300], dtype=torch.int64)
    net, total = coincidences(dt, xt, n_out, n_in, splits=splits, ends=ends)
    packed = coincidences(dt, xt, n_out, n_in, splits=splits, ends=ends, packed=True)
    assert packed.dtype == torch.int32 and packed.shape == net.shape
    assert torch.equal(packed, net + 16384 * total) and (total[1] < total[0].max()).any()
    assert (net < 0).any() and total.max() > 0
    with pytest.raises(ValueError, match="8191"):
        coincidences(torch.zeros(n_out, 8192, dtype=torch.int8),
                     torch.zeros(n_in, 8192, dtype=torch.int8), n_out, n_in, packed=True)


def test_one_accumulator_updates_as_two(monkeypatch):
    """Interpreted, the count packed in one accumulator (the apply kernel's ``FROM_NET ==
    2``) gives the weights, wear counters and pulses of two accumulators (the count of
    planes past ``PACK_MAX_SLOTS``, lowered here) bit for bit (noise on; the apply is the
    same code from either count): a group of two tiles with their own seeds and one tile
    with an int seed, counted and applied apart (``FUSED_FLAT_MAX_SLOTS`` lowered) and
    applied where counted."""
    from xbrun import kernels

    group = launcher("counted_update_grouped_triton", True)
    one = triton_function("counted_update_cuda", "counted_update_triton", True)
    case = _two_tile_case(kernels, ConstantStep(dw_min=0.01, dw_min_std=0.3), seed=13,
                          n_in=12)
    packed = group.__globals__["PACK_MAX_SLOTS"]
    for fused in (0, group.__globals__["FUSED_FLAT_MAX_SLOTS"]):
        monkeypatch.setitem(group.__globals__, "FUSED_FLAT_MAX_SLOTS", fused)
        results = []
        for max_slots in (0, packed):
            monkeypatch.setitem(group.__globals__, "PACK_MAX_SLOTS", max_slots)
            results.append(_group_and_one(group, one, *case))
        _assert_same_and_updated(results, case[1])


@pytest.mark.gpu
def test_gpu_one_accumulator_updates_as_two(monkeypatch):
    """Compiled, a group of 16 tiles of 512 x 392 (the 784-4096 layer's grid) at batch 256
    with trains of 0-31 slots (7,936 slots: the packing's bound holds): one accumulator gives
    the weights, counters and pulses of two (``PACK_MAX_SLOTS`` lowered) bit for bit; and the
    packed counts are the pair's."""
    from xbrun import kernels

    group = launcher("counted_update_grouped_triton", False)
    coincidences = launcher("coincidences_triton", False)
    tiles, k, length, n_out, n_in = 16, 256, 31, 512, 392
    case = _two_tile_case(kernels, SoftBounds(dw_min=0.01, dw_min_std=0.3), seed=14, n_in=n_in,
                          tiles=tiles, k=k, length=length, n_out=n_out, device="cuda")
    results = []
    for max_slots in (0, group.__globals__["PACK_MAX_SLOTS"]):
        monkeypatch.setitem(group.__globals__, "PACK_MAX_SLOTS", max_slots)
        results.append(_grouped_update(group, *case))
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)
    assert (results[0][2] > 0).all()
    gen = torch.Generator().manual_seed(15)
    dt = torch.randint(-1, 2, (tiles, n_out, k * length), generator=gen, dtype=torch.int8).cuda()
    xt = torch.randint(-1, 2, (tiles, n_in, k * length), generator=gen, dtype=torch.int8).cuda()
    ends = torch.full((tiles,), k * length, dtype=torch.int64, device="cuda")
    net, total = coincidences(dt, xt, n_out, n_in, ends=ends)
    assert torch.equal(coincidences(dt, xt, n_out, n_in, ends=ends, packed=True),
                       net + 16384 * total)


def _compact_planes_twin(prob, bl, length, seed, stream):
    """The compact plane ``(n, sum of trains)`` of the planes' stream - the bit of row ``b``,
    slot ``t``, line ``j`` fires where output ``t % 4`` of the Philox counter ``(j, t // 4,
    b, 0)`` under the key ``seed ^ ((stream + 1) << 44)``, as a uniform, is below ``|p|`` -,
    slot ``t``'s rows at ``base[t] + rank`` in the order of decreasing train (stable)."""
    from xbrun.kernels.counted_update_ref import (
        philox_torch,
        signed_bits_torch,
        uniform_of_uint32,
    )

    k, n = prob.shape
    key = (int(seed) ^ ((stream + 1) << 44)) & ((1 << 64) - 1)
    t = torch.arange(length, device=prob.device)[None, :, None]
    words = torch.stack(philox_torch(key, torch.arange(n, device=prob.device)[None, None, :],
                                     t // 4, torch.arange(k, device=prob.device)[:, None, None],
                                     0))
    word = words.gather(0, (t % 4).expand(1, k, length, n))[0]
    fire = uniform_of_uint32(word) < prob.abs().float()[:, None, :]
    signed = signed_bits_torch(prob, bl, length, bits=fire.to(torch.int8))
    order = torch.argsort(bl, descending=True, stable=True)
    return torch.cat([signed[order[:int((bl > t).sum())], t] for t in range(length)]).T


@pytest.mark.parametrize("tiles", [1, 2])
def test_interpreted_compact_planes_are_the_twins_bits(monkeypatch, tiles):
    """Compact planes, drawn by programs of ``SHORT_PLANE_ROWS`` rows that walk their quads
    up to their block's longest train, hold the twin's bits up to the trains' sum (trains
    of 0-9 slots, rows of unequal reach in a row block, a partial last block, both streams,
    magnitudes, a group with its own seeds); ``rows4``' planes (dense only) keep 64-row
    blocks."""
    planes = launcher("line_planes_triton", True)
    kernel = planes.__globals__["_line_planes_kernel"]
    blocks = []

    class Spy:
        def __getitem__(self, grid):
            def launch(*args, **kwargs):
                blocks.append((grid[0], kwargs["BLOCK_B"]))
                return kernel[grid](*args, **kwargs)
            return launch

    monkeypatch.setitem(planes.__globals__, "_line_planes_kernel", Spy())
    gen = torch.Generator().manual_seed(41)
    k, length, n = 70, 10, 40
    bl = torch.randint(0, length, (tiles, k), generator=gen, dtype=torch.int32)
    bl[:, 20:40] = 1
    prob = torch.rand(tiles, k, n, generator=gen) - 0.5
    compact = launcher("compact_layout_torch", True)(bl, length)
    ends = compact[1][:, -1]
    seeds = torch.arange(7, 7 + tiles)
    for stream in (0, 1):
        signed, magnitude = planes(prob, bl, length, k * length, seeds, stream,
                                   with_abs=True, compact=compact)
        for g in range(tiles):
            want = _compact_planes_twin(prob[g], bl[g], length, int(seeds[g]), stream)
            assert torch.equal(signed[g, :, :int(ends[g])], want)
            assert torch.equal(magnitude[g, :, :int(ends[g])], want.abs())
        assert signed.any() and (signed < 0).any()
    planes(prob, bl, length, k * length, seeds, 1, rows4=True)
    assert blocks == [(5, 16), (5, 16), (2, 64)]  # (a program a row block: no quads)
    with pytest.raises(ValueError, match="dense"):
        planes(prob, bl, length, k * length, seeds, 1, compact=compact, rows4=True)


@pytest.mark.gpu
@pytest.mark.parametrize("long_trains", [False, True])
def test_gpu_compact_planes_are_the_twins_bits(long_trains):
    """Compiled, a group of 16 tiles of 512 x 392 at batch 256, trains of one slot (the
    bench's, BL management) or of 0-31: the compact planes (16-row programs walking their
    quads) hold the twin's bits up to the trains' sum, on both sides."""
    planes = launcher("line_planes_triton", False)
    compact_layout = launcher("compact_layout", False)
    gen = torch.Generator().manual_seed(16)
    tiles, k, length = 16, 256, 31
    bl = (torch.randint(0, length + 1, (tiles, k), generator=gen, dtype=torch.int32)
          if long_trains else torch.ones(tiles, k, dtype=torch.int32)).cuda()
    compact = compact_layout(bl, length)
    ends = compact[1][:, -1].tolist()
    seeds = torch.arange(3, 3 + tiles, device="cuda")
    for n, stream in ((392, 0), (512, 1)):
        prob = (torch.rand(tiles, k, n, generator=gen) - 0.5).cuda()
        signed = planes(prob, bl, length, k * length, seeds, stream, compact=compact)[0]
        for g in range(tiles):
            want = _compact_planes_twin(prob[g], bl[g], length, int(seeds[g]), stream)
            assert torch.equal(signed[g, :, :ends[g]], want)
        assert signed.any()


# ------------------------------ the drawn counts: one Philox call, four rows' bits ---------
def test_philox_twin_is_numpys():
    """The twins' Philox (``philox_torch``, which the drawn counts' twin draws from) is
    NumPy's Philox-4x32-10 word for word."""
    from xbrun.kernels.counted_update_ref import philox_torch

    words = philox_torch(7 ^ (1 << 44), torch.arange(6), 3, torch.arange(6) // 4, 1)
    m32 = np.uint64(0xFFFFFFFF)
    c = [np.arange(6, dtype=np.uint64), np.full(6, 3, np.uint64),
         np.arange(6, dtype=np.uint64) // np.uint64(4), np.ones(6, np.uint64)]
    key = 7 ^ (1 << 44)
    k0, k1 = np.uint64(key & 0xFFFFFFFF), np.uint64(key >> 32)
    for _ in range(10):
        pa, pb = np.uint64(0xD2511F53) * c[0], np.uint64(0xCD9E8D57) * c[2]
        c = [((pb >> np.uint64(32)) ^ c[1] ^ k0) & m32, pb & m32,
             ((pa >> np.uint64(32)) ^ c[3] ^ k1) & m32, pa & m32]
        k0, k1 = (k0 + np.uint64(0x9E3779B9)) & m32, (k1 + np.uint64(0xBB67AE85)) & m32
    assert all(np.array_equal(w.numpy(), v.astype(np.int64)) for w, v in zip(words, c,
                                                                               strict=True))


def test_philox_twin_keeps_the_counters_device():
    """Python-int counters beside tensor ones go where the tensors are: on CUDA the
    compiled drawn counts' twin test met a CPU scalar broadcast beside CUDA counters (checked
    here on the meta device, which mixes with the CPU as CUDA does)."""
    from xbrun.kernels.counted_update_ref import philox_torch

    words = philox_torch(7, torch.arange(6, device="meta"), 3, 0, 1)
    assert all(w.device.type == "meta" and w.shape == (6,) for w in words)


def test_drawn_row_keys_is_its_twin(monkeypatch):
    """The drawn counts are those of their twin (``drawn_counts_rows4_torch``: ``_rows4``'s
    bits keyed by row) bit for bit - trains of 0-5 and of 1, a partial last row block, K
    parts, a group of two with their own seeds, one tile with an int seed; the error side
    from its dense plane, drawn by each program (``ROW_KEYS_DRAWN_ERRORS``), and past
    ``ROW_KEYS_PLANE_BYTES``; no layout launched."""
    from xbrun.kernels.counted_update_ref import drawn_counts_rows4_torch

    drawn = launcher("drawn_counts_triton", True)
    module = drawn.__globals__
    gen = torch.Generator().manual_seed(21)
    k, length, n_out, n_in = 38, 5, 5, 20
    x_prob, d_prob = _probs(gen, 2, k, n_in=n_in, n_out=n_out)
    seeds = torch.tensor([61, 62])
    mixed = torch.randint(0, length + 1, (2, k), generator=gen, dtype=torch.int32)
    ones = torch.ones(2, k, dtype=torch.int32)
    layouts = []
    monkeypatch.setitem(module, "compact_layout", lambda *a: layouts.append(a))
    modes = [dict(error_planes=True), dict(ROW_KEYS_DRAWN_ERRORS=True),
             dict(ROW_KEYS_PLANE_BYTES=100)]
    for bl in (mixed, ones):
        want = [drawn_counts_rows4_torch(x_prob[g], d_prob[g], bl[g], length, int(seeds[g]))
                for g in range(2)]
        for mode in modes if bl is mixed else modes[:1]:
            planes = mode.get("error_planes")
            monkeypatch.setitem(module, "ROW_KEYS_DRAWN_ERRORS",
                                mode.get("ROW_KEYS_DRAWN_ERRORS", False))
            monkeypatch.setitem(module, "ROW_KEYS_PLANE_BYTES",
                                mode.get("ROW_KEYS_PLANE_BYTES", 1 << 28))
            net, total = drawn(x_prob, d_prob, bl, length, seeds, block_r=16, block_n=16,
                               splits=2, error_planes=planes)
            assert torch.equal(net, torch.stack([w[0] for w in want]))
            assert torch.equal(total, torch.stack([w[1] for w in want])) and total.sum() > 0
        if bl is ones:  # one tile, an int seed, blocks of 32 rows
            one = drawn(x_prob[1], d_prob[1], bl[1], length, int(seeds[1]))
            assert torch.equal(one[0], want[1][0]) and torch.equal(one[1], want[1][1])
    assert layouts == []


def test_row_keyed_planes_are_the_twins_bits():
    """``line_planes_triton(rows4=True)`` (the drawn counts' error plane): slot ``t`` of
    row ``b`` at ``t * k + b`` holds the twin's bit keyed by row (``rows4_bits_torch``)
    wherever the row's train reaches, for each tile
    of a group with its own seed; a too short ``ld`` is refused."""
    from xbrun.kernels.counted_update_ref import rows4_bits_torch

    planes = launcher("line_planes_triton", True)
    gen = torch.Generator().manual_seed(8)
    k, length, n = 37, 4, 6
    prob = torch.rand(2, k, n, generator=gen) * 1.6 - 0.8
    bl = torch.randint(0, length + 1, (2, k), generator=gen, dtype=torch.int32)
    seeds = torch.tensor([3, 4])
    signed = planes(prob, bl, length, k * length, seeds, 1, rows4=True)[0]
    for g in range(2):
        want = rows4_bits_torch(prob[g], bl[g], length, int(seeds[g]), 1)
        inside = torch.arange(length)[None, :] < bl[g][:, None]  # (k, length)
        got = signed[g].reshape(n, length, k).permute(2, 1, 0)  # (k, length, n)
        assert torch.equal(got[inside], want[inside]) and want[inside].abs().sum() > 0
    with pytest.raises(ValueError, match="ld >= k"):
        planes(prob, bl, length, k * length - 1, seeds, 1, rows4=True)


def test_rows4_stream_counts_in_distribution():
    """The drawn counts' stream (its twin, which the kernels equal bit for bit) keeps every
    bit's probability: over 400 seeds each
    cell's up and down counts have the mean and the variance of their exact law - a sum of
    independent coincidences, one per slot of a row, of probability ``|x_prob d_prob|`` (up
    where the signs differ) - within the sampling error (each cell's mean at 4.5 standard
    errors; the z-scores' pooled square and the variances' ratios over all cells)."""
    from xbrun.kernels.counted_update_ref import drawn_counts_rows4_torch

    gen = torch.Generator().manual_seed(3)
    k, length, n_out, n_in, runs = 64, 3, 4, 8, 400
    bl = torch.randint(0, length + 1, (k,), generator=gen, dtype=torch.int32)
    bl[:20] = 1  # some trains of 1, as the ResNet's
    x_prob = torch.rand(k, n_in, generator=gen, dtype=torch.float64) * 1.6 - 0.8
    d_prob = torch.rand(k, n_out, generator=gen, dtype=torch.float64) * 1.6 - 0.8
    ups, downs = [], []
    for seed in range(runs):
        net, total = drawn_counts_rows4_torch(x_prob.float(), d_prob.float(), bl, length, seed)
        ups.append((total - net) // 2)
        downs.append((total + net) // 2)
    p = (d_prob.abs()[:, :, None] * x_prob.abs()[:, None, :]).float().double()
    differ = (d_prob.sign()[:, :, None] != x_prob.sign()[:, None, :])
    slots = bl.double()[:, None, None]
    for counts, where in ((ups, differ), (downs, ~differ)):
        c = torch.stack(counts).double()
        q = p * where
        mean, var = (slots * q).sum(0), (slots * q * (1 - q)).sum(0)
        z = (c.mean(0) - mean) / (var / runs).sqrt()
        assert z.abs().max() < 4.5 and abs(float((z ** 2).mean()) - 1) < 0.35
        ratio = c.var(0) / var
        assert abs(float(ratio.mean()) - 1) < 0.06 and ratio.min() > 0.6 and ratio.max() < 1.5


@pytest.mark.gpu
@pytest.mark.parametrize("n_out,n_in", [(16, 144), (32, 288), (64, 288)])
def test_gpu_drawn_row_keys_is_its_twin(monkeypatch, n_out, n_in):
    """Compiled, at the ResNet's shapes (8,192 rows; trains of 0-3, and of 1 as the
    ResNet's): the drawn counts, the error side drawn by each program
    (``ROW_KEYS_DRAWN_ERRORS``) or from its dense plane, are their twin's (keyed by row)
    bit for bit."""
    from xbrun.kernels.counted_update_ref import drawn_counts_rows4_torch

    drawn = launcher("drawn_counts_triton", False)
    gen = torch.Generator().manual_seed(n_in + n_out)
    k, length = 8192, 3
    x_prob, d_prob = _probs(gen, k, n_in=n_in, n_out=n_out, device="cuda")
    seed = torch.tensor([9], device="cuda")
    for bl in (torch.randint(0, length + 1, (k,), generator=gen, dtype=torch.int32).cuda(),
               torch.ones(k, dtype=torch.int32, device="cuda")):
        want = drawn_counts_rows4_torch(x_prob, d_prob, bl, length, 9)
        for drawn_errors in (True, False):  # the error side drawn by each program, its plane
            monkeypatch.setitem(drawn.__globals__, "ROW_KEYS_DRAWN_ERRORS", drawn_errors)
            got = drawn(x_prob, d_prob, bl, length, seed)
            assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
            assert int(got[1].sum()) > 0


@pytest.mark.gpu
@pytest.mark.parametrize("n_out,n_in", [(16, 144), (64, 288)])
def test_gpu_drawn_rows4_is_its_twin(monkeypatch, n_out, n_in):
    """Compiled, at the ResNet's shapes (8,192 rows, trains of 0-3 and of 1; the error side
    from its plane and drawn by each program, ``NARROW_DRAWN_BLOCKS`` off and on): the
    drawn counts are their twin's bit for bit."""
    from xbrun.kernels.counted_update_ref import drawn_counts_rows4_torch

    drawn = launcher("drawn_counts_triton", False)
    gen = torch.Generator().manual_seed(n_in)
    k, length = 8192, 3
    x_prob, d_prob = _probs(gen, k, n_in=n_in, n_out=n_out, device="cuda")
    for bl in (torch.randint(0, length + 1, (k,), generator=gen, dtype=torch.int32).cuda(),
               torch.ones(k, dtype=torch.int32, device="cuda")):
        want = drawn_counts_rows4_torch(x_prob, d_prob, bl, length, 9)
        for planes in (False, True):
            for narrow in (False, True):
                monkeypatch.setitem(drawn.__globals__, "NARROW_DRAWN_BLOCKS", narrow)
                got = drawn(x_prob, d_prob, bl, length, torch.tensor([9], device="cuda"),
                            error_planes=planes)
                assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


@pytest.mark.gpu
@pytest.mark.parametrize("n_out,n_in", [(16, 144), (64, 288)])
def test_gpu_narrow_drawn_blocks_count_the_same(monkeypatch, n_out, n_in):
    """Compiled, at the ResNet's shapes (8,192 rows, trains of 0-31 and of 1):
    ``NARROW_DRAWN_BLOCKS`` gives the counts of ``_drawn_block_n``'s width, bit for bit."""
    settings = [{"NARROW_DRAWN_BLOCKS": False}, {"NARROW_DRAWN_BLOCKS": True}]
    for got in _gpu_drawn_counts_each_way(monkeypatch, n_out, n_in, 8192,
                                          _any_and_single_trains, settings):
        assert torch.equal(got[0][0], got[1][0]) and torch.equal(got[0][1], got[1][1])


def test_narrow_drawn_blocks_count_the_same(monkeypatch):
    """``NARROW_DRAWN_BLOCKS``: a 64-line error side takes input blocks of at most 32 lines
    (``_drawn_block_n``: 64 at 288 inputs off, 32 on; narrower error sides unchanged), and
    the counts are the wide blocks' bit for bit (interpreted: 40 outputs x 70 inputs)."""
    drawn = launcher("drawn_counts_triton", True)
    width = drawn.__globals__["_drawn_block_n"]
    assert (width(288, 64, True), width(144, 16, True)) == (64, 32)
    monkeypatch.setitem(drawn.__globals__, "NARROW_DRAWN_BLOCKS", True)
    assert (width(288, 64, True), width(144, 16, True), width(288, 64, False)) == (32, 32, 32)
    gen = torch.Generator().manual_seed(4)
    k, length, n_out, n_in = 20, 2, 40, 70
    bl = torch.randint(0, length + 1, (k,), generator=gen, dtype=torch.int32)
    x_prob, d_prob = _probs(gen, k, n_in=n_in, n_out=n_out)
    got = [drawn(x_prob, d_prob, bl, length, 6, block_r=16)]
    monkeypatch.setitem(drawn.__globals__, "NARROW_DRAWN_BLOCKS", False)
    got.append(drawn(x_prob, d_prob, bl, length, 6, block_r=16))
    assert torch.equal(got[0][0], got[1][0]) and torch.equal(got[0][1], got[1][1])
    assert got[0][1].sum() > 0


def test_update_through_drawn_rows4_is_the_twins(monkeypatch):
    """The whole update (one tile, ``_drawn``'s shapes lowered to it) through the drawn
    counts applies their twin's counts: the weights of ``apply_counts_torch`` on them, every
    pulse worn, and the same seed the same weights."""
    from xbrun.kernels.counted_update_ref import drawn_counts_rows4_torch

    update = launcher("counted_update_triton", True)
    module = launcher("drawn_counts_triton", True).__globals__
    monkeypatch.setitem(module, "DRAWN_MIN_ROWS", 1)
    gen = torch.Generator().manual_seed(5)
    k, length, n_out, n_in = 24, 3, 5, 12
    bl = torch.randint(0, length + 1, (k,), generator=gen, dtype=torch.int32)
    x_prob, d_prob = _probs(gen, k, n_in=n_in, n_out=n_out)
    cell = SoftBounds(dw_min=0.01)
    params = cell.sample((n_out, n_in), gen)
    net, total = drawn_counts_rows4_torch(x_prob, d_prob, bl, length, 5)
    twin = torch.zeros(n_out, n_in)
    apply_counts_torch(twin, params, (total - net) // 2, (total + net) // 2,
                       cell_bundle(cell, noise=0.0))
    runs = []
    for _ in range(2):
        weight, worn = torch.zeros(n_out, n_in), torch.zeros(n_out, n_in, dtype=torch.int32)
        pulses = update(weight, params, x_prob, d_prob, bl, max_bl=length, seed=5,
                        method="split_k", cell_pulses=worn, **cell_args(cell, noise=0.0))
        runs.append(weight)
        assert torch.equal(worn, total) and int(pulses) == int(total.sum()) > 0
    torch.testing.assert_close(runs[0], twin, rtol=0, atol=2e-6)
    assert torch.equal(runs[0], runs[1])


def test_interpreted_pulses_added_by_the_apply_kernel_to_a_running_count(monkeypatch):
    """``add_to`` (a tile's running pulse count) is what the apply kernel's atomics add to
    (no zeroed count and no add after it: two launches fewer a call): the count grows by the
    pulses that the call without it returns, the weights and wear bit for bit the same - a
    tile and a group of two, counted where drawn and by split-K planes; the returned count
    is ``add_to`` itself."""
    from xbrun import kernels

    group = triton_function("counted_update_cuda", "counted_update_grouped_triton", True)
    one = triton_function("counted_update_cuda", "counted_update_triton", True)
    params, start, bl, x_prob, d_prob, p = _two_tile_case(
        kernels, ConstantStep(dw_min=0.01, dw_min_std=0.3), seed=13, n_in=12)
    for drawn in (True, False):
        monkeypatch.setitem(group.__globals__, "DRAWN_MIN_ROWS", 1 if drawn else 10**9)
        results = []
        for add_to in (None, torch.tensor(1000, dtype=torch.int64)):
            w, c = start[1].clone(), torch.zeros(5, 12, dtype=torch.int32)
            n = one(w, params[1], x_prob[1], d_prob[1], bl[1], p, seed=torch.tensor([77]),
                    cell_pulses=c, add_to=add_to)
            assert add_to is None or n is add_to
            results.append((w, c, n - (0 if add_to is None else 1000)))
        _assert_same_and_updated(results, start[1])
        results = []
        for add_to in (None, torch.tensor([1000, 7], dtype=torch.int64)):
            weights, worn = start.clone(), torch.zeros(2, 5, 12, dtype=torch.int32)
            n = group(weights, params, x_prob, d_prob, bl, p, seeds=torch.tensor([4, 5]),
                      cell_pulses=worn, add_to=add_to)
            assert add_to is None or n is add_to
            results.append((weights, worn,
                            n - (0 if add_to is None else torch.tensor([1000, 7]))))
        _assert_same_and_updated(results, start)
    with pytest.raises(ValueError, match="add_to must be"):
        one(start[1].clone(), params[1], x_prob[1], d_prob[1], bl[1], p, seed=3,
            add_to=torch.tensor([0]))


def _products_up_to(dt, xt, ends):
    """The twin's counts ``(net, total)`` of each tile's planes up to its end (int32)."""
    net, total = [], []
    for g, end in enumerate(ends.tolist()):
        d, x = (t[g, :, :end].to(torch.float64) for t in (dt, xt))
        net.append(d @ x.T)
        total.append(d.abs() @ x.abs().T)
    return torch.stack(net).to(torch.int32), torch.stack(total).to(torch.int32)


# ------------------ the count's planes loaded in whole 16-byte vectors -------------------
@pytest.mark.parametrize("ld", [512, 200])
def test_interpreted_count_loads_count_to_the_end(ld):
    """The count's planes loaded under ``slot < ld`` and the slots past each tile's end
    zeroed after the load give the products up to the end exactly - planes whose bytes past
    the ends are nonzero (a count that read them would differ), ends off the K step and off
    16, two accumulators and one (packed), one part and split over K with atomics, a group
    of two tiles; ``ld`` a multiple of 16 and not."""
    coincidences = launcher("coincidences_triton", True)
    gen = torch.Generator().manual_seed(31)
    tiles, n_out, n_in = 2, 7, 19
    dt = torch.randint(-1, 2, (tiles, n_out, ld), generator=gen, dtype=torch.int8)
    xt = torch.randint(-1, 2, (tiles, n_in, ld), generator=gen, dtype=torch.int8)
    ends = torch.tensor([ld - 3, 77], dtype=torch.int64)
    net, total = _products_up_to(dt, xt, ends)
    for splits in (1, 3):
        got = coincidences(dt, xt, n_out, n_in, splits=splits, ends=ends)
        assert torch.equal(got[0], net) and torch.equal(got[1], total)
        packed = coincidences(dt, xt, n_out, n_in, splits=splits, ends=ends, packed=True)
        assert torch.equal(packed, net + 16384 * total)


@pytest.mark.gpu
@pytest.mark.parametrize("n_out, n_in, tiles", [(512, 512, 64), (512, 392, 16), (10, 512, 8)])
def test_gpu_count_loads_count_to_the_end(n_out, n_in, tiles):
    """Compiled at the 784-4096-4096-10 b256 grids (64 tiles of 512 x 512 unsplit, 16 of
    512 x 392 and 8 of 10 x 512 split over K; 128 x 128 blocks under the register cap): the
    16-byte loads' counts are the products up to the ends, packed and not, with nonzero
    bytes past ends of one slot a row (K = 256) and of long trains."""
    coincidences = launcher("coincidences_triton", False)
    gen = torch.Generator(device="cuda").manual_seed(33)
    ld = 256 * 31
    dt, xt = (torch.randint(-1, 2, (tiles, lines, ld), generator=gen, dtype=torch.int8,
                            device="cuda") for lines in (n_out, n_in))
    for end in (256, 5001):
        ends = torch.full((tiles,), end, dtype=torch.int64, device="cuda")
        ends[0] = end - 7
        net, total = _products_up_to(dt, xt, ends)
        got = coincidences(dt, xt, n_out, n_in, ends=ends)
        assert torch.equal(got[0], net) and torch.equal(got[1], total)
        assert torch.equal(coincidences(dt, xt, n_out, n_in, ends=ends, packed=True),
                           net + 16384 * total)


# ------------------ the fused count + apply in 16 x 64 blocks ------------------------------
@pytest.mark.parametrize("cls", [ConstantStep, SoftBounds, ExpStep])
def test_fused_flat_blocks_apply_as_the_apply_kernel(monkeypatch, cls):
    """The counts applied in the count's epilogue in 16 x 64 blocks, whole, give the
    weights, wear counters and pulses of split-K counts and the apply kernel (planes past
    ``FUSED_FLAT_MAX_SLOTS``, lowered here) bit for bit (noise on; closed forms and a pulse
    loop; blocks cut by the tile's edges; a group with its own seeds and one tile), the
    apply kernel not launched, and the launch's blocks are the flat ones."""
    from xbrun import kernels

    group = launcher("counted_update_grouped_triton", True)
    one = triton_function("counted_update_cuda", "counted_update_triton", True)
    kernel = group.__globals__["_coincidence_kernel"]
    shapes = []

    class Spy:
        def __getitem__(self, grid):
            def launch(*args, **kwargs):
                shapes.append((kwargs["BLOCK_M"], kwargs["BLOCK_N"], kwargs["APPLY"]))
                return kernel[grid](*args, **kwargs)
            return launch

    case = _two_tile_case(kernels, cls(dw_min=0.01, dw_min_std=0.3), seed=51, n_in=70,
                          n_out=20, k=5, length=3)
    assert case[-1].cell.noise_std > 0
    results = []
    for flat in (False, True):
        monkeypatch.setitem(group.__globals__, "FUSED_FLAT_MAX_SLOTS", 1024 if flat else 0)
        if flat:
            monkeypatch.setitem(group.__globals__, "_apply_counts_kernel", _NotLaunched())
            monkeypatch.setitem(group.__globals__, "_coincidence_kernel", Spy())
        results.append(_group_and_one(group, one, *case))
    _assert_same_and_updated(results, case[1])
    assert shapes == [(16, 64, True)] * 2


def test_fused_flat_blocks_leave_long_trains_to_the_split_count(monkeypatch):
    """Planes longer than ``FUSED_FLAT_MAX_SLOTS`` are not fused in 16 x 64 blocks (each
    block would read them again): counted split over K, then applied by the apply kernel,
    with the same weights, counters and pulses."""
    from xbrun import kernels

    group = launcher("counted_update_grouped_triton", True)
    one = triton_function("counted_update_cuda", "counted_update_triton", True)
    kernel = group.__globals__["_coincidence_kernel"]
    applied = []

    class Spy:
        def __getitem__(self, grid):
            def launch(*args, **kwargs):
                applied.append(kwargs["APPLY"])
                return kernel[grid](*args, **kwargs)
            return launch

    case = _two_tile_case(kernels, ConstantStep(dw_min=0.01, dw_min_std=0.3), seed=53,
                          n_in=70, n_out=20, k=5, length=3)
    results = []
    for cap in (4096, 1):
        monkeypatch.setitem(group.__globals__, "FUSED_FLAT_MAX_SLOTS", cap)
        monkeypatch.setitem(group.__globals__, "_coincidence_kernel", Spy())
        results.append(_group_and_one(group, one, *case))
    _assert_same_and_updated(results, case[1])
    assert applied[:2] == [True, True] and applied[2:] == [False, False]


@pytest.mark.gpu
@pytest.mark.parametrize("long_trains", [False, True])
def test_gpu_fused_flat_blocks_apply_as_the_apply_kernel(monkeypatch, long_trains):
    """Compiled, a group of 16 tiles of 512 x 392 (the 784-4096 layer's grid) at batch 256,
    trains of one slot (the bench's) or of 0-31: the fused flat count and apply give the
    weights, counters and pulses of the split-K count and the apply kernel
    (``FUSED_FLAT_MAX_SLOTS`` 0) bit for bit (SoftBounds, noise on)."""
    from xbrun import kernels

    group = launcher("counted_update_grouped_triton", False)
    case = list(_two_tile_case(kernels, SoftBounds(dw_min=0.01, dw_min_std=0.3), seed=52,
                               n_in=392, tiles=16, k=256, length=31, n_out=512, device="cuda"))
    if not long_trains:
        case[2] = torch.ones_like(case[2])
    results = []
    for flat in (False, True):
        monkeypatch.setitem(group.__globals__, "FUSED_FLAT_MAX_SLOTS", 1024 if flat else 0)
        if flat and not long_trains:  # (long trains: counted split over K, applied apart)
            monkeypatch.setitem(group.__globals__, "_apply_counts_kernel", _NotLaunched())
        results.append(_grouped_update(group, *case))
    for a, b in zip(*results, strict=True):
        assert torch.equal(a, b)
    assert (results[0][2] > 0).all()


# ------------------------------ x's probabilities made where the drawn counts read them -----
_TRAIN_OPTIONS = dict(desired_bl=31, fixed_bl=True, update_management=True,
                      update_bl_management=True, um_grad_scale=1.0)


def _folded_case(lines, x, d, res, x_sign):
    """The trains of ``x``, ``d`` with the input side's probabilities written (``x_p``) and
    folded (a ``RowProbabilities``): ``(full, folded)``, each ``(x, d_p, bl)``."""
    full = lines(x, d, 1.0, 1e-3, res=res, sto_round=False, x_sign=x_sign, **_TRAIN_OPTIONS)
    folded = lines(x, d, 1.0, 1e-3, res=res, sto_round=False, x_sign=x_sign, x_gains=True,
                   **_TRAIN_OPTIONS)
    return full, folded


def test_folded_probabilities_are_the_written_ones(monkeypatch):
    """The train kernels' gains (``x_gains``; the one-row kernel and
    the row blocks) made into probabilities by ``RowProbabilities.materialize`` (the twin)
    are the probabilities the kernels write, bit for bit - with and without the lines' signs
    and a ``res`` - and the error side and the trains are unchanged; the drawn counts
    (interpreted) from the rows and gains equal those from
    the written probabilities, and the counted update takes them where its count is not
    drawn (made first)."""
    from pulse_cases import prep_rows
    from xbrun.kernels.pulsed_update_ref import RowProbabilities

    lines = triton_function("pulsed_update_cuda", "line_probabilities_triton", True)
    drawn = launcher("drawn_counts_triton", True)
    x, d = prep_rows(k=24, n_in=20, n_out=6)
    sign = torch.where(torch.arange(20) % 3 == 0, -1.0, 1.0)
    monkeypatch.setitem(lines.__globals__, "ROW_ELEMENTS", 64)
    for row_blocks, res, x_sign in ((False, 0.013, sign), (True, 0.0, None), (True, 0.013, sign)):
        monkeypatch.setitem(lines.__globals__, "ROW_MIN_ROWS", 1 if row_blocks else 1 << 30)
        full, folded = _folded_case(lines, x, d, res, x_sign)
        assert isinstance(folded[0], RowProbabilities) and folded[0].gain.shape == (24,)
        assert torch.equal(folded[0].materialize(), full[0])
        assert torch.equal(folded[1], full[1]) and torch.equal(folded[2], full[2])
        assert full[0].abs().max() > 0.5 and (full[0] < 0).any()
        bl = torch.randint(0, 4, (24,), generator=torch.Generator().manual_seed(2),
                           dtype=torch.int32)
        if not row_blocks:
            continue  # (the same gains: the counts' check once)
        want = drawn(full[0], full[1], bl, 3, 11, block_r=16, block_n=16, splits=2)
        got = drawn(folded[0], folded[1], bl, 3, 11, block_r=16, block_n=16, splits=2)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
        assert want[1].sum() > 0
    with pytest.raises(ValueError, match="one tile"):
        drawn(RowProbabilities(x[None], folded[0].gain[None], None, 0.0), d[None], bl[None], 3,
              torch.tensor([1]))
    update = launcher("counted_update_triton", True)  # a count not drawn: made first
    params = COUNTER.sample((6, 20), torch.Generator().manual_seed(0))
    weights = [torch.zeros(6, 20) for _ in range(2)]
    runs = [int(update(w, params, xp, full[1], bl, max_bl=3, seed=5, **cell_args(COUNTER)))
            for w, xp in zip(weights, (full[0], folded[0]), strict=True)]
    assert runs[0] == runs[1] > 0 and torch.equal(weights[0], weights[1])


@gpu
@needs_cuda
@pytest.mark.parametrize("n_out, n_in, k", [(16, 144, 131072), (32, 288, 32768),
                                            (64, 576, 8192)])
def test_gpu_folded_probabilities_count_as_written(n_out, n_in, k):
    """Compiled at the ResNet's drawn shapes (row blocks): the gains made into probabilities
    are the written ones bit for bit, and the drawn counts (with the lines' signs, as
    chopped arrays, and without) from the rows and gains equal those from the written
    probabilities; ``folds_input_probabilities`` holds there."""
    lines = triton_function("pulsed_update_cuda", "line_probabilities_triton", False)
    drawn = launcher("drawn_counts_triton", False)
    gen = torch.Generator().manual_seed(k)
    x = (torch.randn(k, n_in, generator=gen) * 0.3).cuda()
    d = (torch.randn(k, n_out, generator=gen) * 0.01).cuda()
    sign = torch.where(torch.rand(n_in, generator=gen) < 0.5, -1.0, 1.0).cuda()
    for x_sign in (None, sign):
        full, folded = _folded_case(lines, x, d, 0.0, x_sign)
        assert torch.equal(folded[0].materialize(), full[0])
        assert torch.equal(folded[1], full[1]) and torch.equal(folded[2], full[2])
        seed = torch.tensor([7], device="cuda")
        want = drawn(full[0], full[1], full[2], 31, seed)
        got = drawn(folded[0], folded[1], full[2], 31, seed)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
        assert want[1].sum() > 0
    assert drawn.__globals__["folds_input_probabilities"](n_out, n_in, k, x.device)


@gpu
@needs_cuda
def test_gpu_array_update_folds_as_it_writes(monkeypatch):
    """The probabilities made where the drawn counts read them, through
    ``PulsedArray.update`` (``update.accumulate=batch``, a drawn shape: 4,096 rows x 144
    inputs x 16 outputs, the learning rate a device tensor as in training): the same pulses
    and weights as the written probabilities (``folds_input_probabilities`` made False)."""
    from xbrun.kernels import counted_update_cuda as cu

    from xbrun import kernels
    from xbrun.physics.array import PulsedArray
    from xbrun.physics.pulses import UpdateParameters

    gen = torch.Generator().manual_seed(5)
    x = torch.randn(4096, 144, generator=gen).cuda()
    d = (0.01 * torch.randn(4096, 16, generator=gen)).cuda()
    results = []
    folds = cu.folds_input_probabilities
    for on in (False, True):
        monkeypatch.setattr(cu, "folds_input_probabilities", folds if on else lambda *a: False)
        array = PulsedArray(16, 144, ConstantStep(dw_min=0.001),
                            UpdateParameters(accumulate="batch"), 0).to("cuda")
        assert kernels.folds_input_probabilities(array.stored_weight(), 4096) == on
        pulses = array.update(x, d, torch.tensor(0.05, device="cuda"),
                              torch.Generator().manual_seed(3))
        results.append((int(pulses), array.stored_weight().clone()))
    assert results[0][0] == results[1][0] > 0 and torch.equal(results[0][1], results[1][1])
