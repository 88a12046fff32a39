"""The analog MVM kernels (numba on the CPU, Triton on CUDA) against their torch twin.

Without noise the kernels compute what ``analog_mvm_torch`` computes, to float32 rounding,
for every noise management, with and without quantization, for every bound management and
with a perfect I/O. With noise they differ in their random streams, so they are compared with
the noise levels the twin defines (z-tests sized to their tolerance, fixed seeds). A seed
fixes the result, whatever the thread count. Triton runs under its interpreter on the CPU at
small shapes; the ``gpu`` tests run it compiled.
"""

import itertools
import math

import numpy as np
import pytest
import torch
from triton_modules import delayed_stores, triton_function
from xbrun.kernels import analog_mvm_cpu, analog_mvm_torch, seeds
from xbrun.kernels.analog_mvm_cpu import analog_mvm_numba

from xbrun.physics.io import IOParameters, kernel_params

NM = ["none", "abs_max", "max", "constant", "abs_max_np_sum"]
BM = ["none", "iterative", "iterative_worst_case"]


def _triton(interpret: bool):
    return triton_function("analog_mvm_cuda", "analog_mvm_triton", interpret)


def _quiet(nm, bm, quantized, **extra):
    """Noise off; a small out_bound so that bound management has work to do."""
    settings = dict(out_noise=0.0, noise_management=nm, bound_management=bm,
                    nm_thres=0.7 if nm == "constant" else 0.0,
                    inp_res=1 / 126 if quantized else 0.0,
                    out_res=1 / 510 if quantized else 0.0, out_bound=3.0)
    return IOParameters(**{**settings, **extra})


def _inputs(n, width, out, seed, device="cpu"):
    gen = torch.Generator().manual_seed(seed)
    w = 0.5 * torch.randn(out, width, generator=gen)
    x = torch.randn(n, width, generator=gen)
    x[1] = 0.0  # silent under noise management
    x[2] = -x[2].abs()  # reads as zeros under `max`
    x[3] *= 10  # clips without noise management
    w[0] = 0.5
    x[4] = 1.0  # clips on output 0 whatever the noise management: bound management repeats it
    return w.to(device), x.to(device)


def _check_quiet(launch, io, n=9, width=23, out=17, seed=0, device="cpu", exact=True):
    w, x = _inputs(n, width, out, seed, device)
    want = analog_mvm_torch(w.cpu(), x.cpu(), kernel_params(io), seed=3)
    got = launch(w, x, kernel_params(io)).cpu()
    if exact:
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-7)
    else:  # another matmul's rounding: a few outputs may land on a neighbouring ADC step
        # float32 sums of `width` terms in another order differ by ~1e-7 of their magnitude
        step = io.out_step * float(x.abs().max()) * 16 + 1e-5 * max(1.0, float(want.abs().max()))
        torch.testing.assert_close(got, want, rtol=1e-5, atol=step)
        close = torch.isclose(got, want, rtol=1e-4, atol=1e-5)
        assert close.float().mean() >= 0.99
    return want


# ------------------------------------------------------------------------ numba -----------
@pytest.mark.parametrize("nm,bm,quantized", list(itertools.product(NM, BM, [True, False])))
def test_numba_matches_the_twin_without_noise(nm, bm, quantized):
    want = _check_quiet(lambda w, x, p: analog_mvm_numba(w, x, p, 11), _quiet(nm, bm, quantized))
    assert want.abs().max() > 0


@pytest.mark.parametrize("extra", [dict(out_scale=-2.5), dict(bm_test_negative_bound=False),
                                   dict(inp_bound=2.0, nm_thres=0.5), dict(max_bm_factor=2),
                                   dict(max_bm_res=0.05)])
def test_numba_matches_the_twin_with_other_settings(extra):
    io = _quiet("abs_max", "iterative", True, **extra)
    _check_quiet(lambda w, x, p: analog_mvm_numba(w, x, p, 11), io)


def test_numba_perfect_io_is_the_matmul():
    w, x = _inputs(5, 7, 4, 1)
    p = kernel_params(IOParameters(is_perfect=True, out_scale=2.0))
    torch.testing.assert_close(analog_mvm_numba(w, x, p, 0), 2 * x @ w.T)


def test_bound_management_redoes_only_the_rows_that_clipped(monkeypatch):
    """Rows that do not clip are computed once: their result is that of a run without
    bound management, and the re-pass sees only the clipping rows."""
    seen = []
    prologue = analog_mvm_cpu._prologue_serial

    def spy(x, rows, *args):
        seen.append(rows.copy())
        return prologue(x, rows, *args)

    monkeypatch.setattr(analog_mvm_cpu, "_prologue_serial", spy)
    w, x = _inputs(9, 23, 17, 0)
    managed = analog_mvm_numba(w, x, kernel_params(_quiet("abs_max", "iterative", True)), 1)
    plain = analog_mvm_numba(w, x, kernel_params(_quiet("abs_max", "none", True)), 1)
    amax = x.abs().amax(1, keepdim=True)
    clipped = (plain.abs() >= 3.0 * amax).any(1) & (amax[:, 0] > 0)
    assert clipped.any() and not clipped.all()
    assert sorted(seen[1].tolist()) == clipped.nonzero().squeeze(1).tolist()
    assert torch.equal(managed[~clipped], plain[~clipped])


NOISES = {"out_noise": dict(out_noise=0.05),
          "inp_noise": dict(inp_noise=0.04),
          "additive_constant": dict(w_noise=0.03, w_noise_type="additive_constant"),
          "pcm_read": dict(w_noise=0.03, w_noise_type="pcm_read")}


def _noise_check(launch, kind, n, copies=1):
    """Mean and std of the error against the twin's noise model (5-sigma z-tests), over n
    samples an output. ``copies`` > 1 (output noise only: drawn for each element on its own)
    reads n / copies rows through ``copies`` copies of the weights, each copy's outputs
    further samples of the same outputs."""
    gen = torch.Generator().manual_seed(1)
    w = 0.3 * torch.randn(6, 20, generator=gen)
    x = torch.rand(1, 20, generator=gen) - 0.5
    io = IOParameters(**{**dict(out_noise=0.0, out_res=0.0, inp_res=0.0,
                                noise_management="none", bound_management="none"),
                         **NOISES[kind]})
    assert n % copies == 0 and (copies == 1 or kind == "out_noise")
    got = launch(w.repeat(copies, 1), x.repeat(n // copies, 1), kernel_params(io)).cpu()
    err = (got.reshape(n, 6) - x @ w.T).double()  # row r, copy c: sample r * copies + c
    expected = {"out_noise": torch.full((6,), 0.05),
                "inp_noise": 0.04 * w.norm(dim=1),
                "additive_constant": torch.full((6,), 0.03 * float(x.norm())),
                "pcm_read": 0.03 * torch.sqrt(w.abs() @ (x[0] ** 2))}[kind].double()
    assert torch.all(err.mean(0).abs() <= 5 * expected / math.sqrt(n))
    torch.testing.assert_close(err.std(0), expected, rtol=5 / math.sqrt(2 * n), atol=0)


@pytest.mark.parametrize("kind", list(NOISES))
def test_numba_noise_has_the_twins_std(kind):
    _noise_check(lambda w, x, p: analog_mvm_numba(w, x, p, 5), kind, 4000)


@pytest.mark.parametrize("which", ["inp", "out"])
def test_numba_stochastic_rounding_is_unbiased(which):
    """A value a quarter step above a grid point rounds up one time in four."""
    n = 20000
    if which == "inp":
        io = IOParameters(out_noise=0.0, out_res=0.0, inp_res=1 / 126, inp_sto_round=True,
                          noise_management="none", bound_management="none")
        x, w, step = torch.full((n, 1), 19.25 * 2 / 126), torch.ones(1, 1), 2 / 126
    else:
        io = IOParameters(out_noise=0.0, inp_res=0.0, out_res=1 / 510, out_sto_round=True,
                          noise_management="none", bound_management="none")
        x, w, step = torch.full((1, 1), 1.0), torch.full((n, 1), 19.25 * 24 / 510), 24 / 510
    out = analog_mvm_numba(w, x, kernel_params(io), 9).flatten()
    sd = step * math.sqrt(0.25 * 0.75)
    assert abs(float(out.mean()) - 19.25 * step) <= 5 * sd / math.sqrt(n)
    assert float(out.std()) == pytest.approx(sd, rel=5 / math.sqrt(2 * n) * 2)


def test_numba_same_seed_same_result_other_seed_other_result():
    w, x = _inputs(8, 30, 12, 2)
    p = kernel_params(IOParameters(inp_noise=0.01, w_noise=0.02,
                                   w_noise_type="additive_constant"))
    a, b, c = (analog_mvm_numba(w, x, p, s) for s in (7, 7, 8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_numba_result_does_not_depend_on_the_thread_count(monkeypatch):
    w, x = _inputs(64, 40, 30, 3)
    x[5:9] *= 30  # some rows need bound management
    p = kernel_params(IOParameters(inp_noise=0.02, out_noise=0.1, w_noise=0.02,
                                   w_noise_type="pcm_read", inp_sto_round=True,
                                   out_sto_round=True, out_bound=4.0))
    threads = torch.get_num_threads()
    one = analog_mvm_numba(w, x, p, 3)
    monkeypatch.setattr(analog_mvm_cpu, "PARALLEL_MIN_ELEMENTS", 0)
    try:
        torch.set_num_threads(2)
        two = analog_mvm_numba(w, x, p, 3)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)


# ------------------------------------------------------------------------ Triton ----------
@pytest.mark.parametrize("nm,bm", list(itertools.product(NM, BM)))
def test_triton_interpreted_matches_the_twin_without_noise(nm, bm):
    launch = _triton(True)
    for quantized in (True, False):
        _check_quiet(lambda w, x, p: launch(w, x, p, 5, block_i=16, block_o=16, gemv_o=8),
                     _quiet(nm, bm, quantized), exact=quantized)


@pytest.mark.parametrize("bm", BM[1:])
def test_triton_interpreted_bound_management_waits_for_its_row(bm):
    """A GPU program's threads need not see each other's stores before a barrier: with the
    stores held back until one (``delayed_stores``), bound management's passes still read
    the row their program wrote (without the barriers they read the last pass's row, and on
    an H100 a run now and then trained otherwise with the same seed)."""
    launch = _triton(True)
    with delayed_stores():
        _check_quiet(lambda w, x, p: launch(w, x, p, 5, block_i=16, block_o=16, gemv_o=8),
                     _quiet("abs_max", bm, True))


def test_triton_interpreted_with_other_settings_and_a_device_seed():
    launch = _triton(True)
    w, x = _inputs(5, 7, 4, 1)
    perfect = kernel_params(IOParameters(is_perfect=True, out_scale=2.0))
    torch.testing.assert_close(launch(w, x, perfect, 0), 2 * x @ w.T)
    for extra in (dict(out_scale=-2.5), dict(bm_test_negative_bound=False),
                  dict(inp_bound=2.0, nm_thres=0.5), dict(max_bm_factor=2)):
        _check_quiet(lambda w, x, p: launch(w, x, p, torch.tensor([77]), block_i=16,
                                            block_o=16, gemv_o=8),
                     _quiet("abs_max", "iterative_worst_case", True, **extra))


@pytest.mark.parametrize("kind", ["out_noise", "inp_noise"])
def test_triton_interpreted_noise_has_the_twins_std(kind):
    """250 samples an output either way; output noise (drawn for each element) from 50
    interpreted programs of 5 copies of the 6 outputs (30: two blocks of 16, the last
    partial), input noise (shared by a row's outputs) from 250 programs of one row."""
    launch = _triton(True)
    _noise_check(lambda w, x, p: launch(w, x, p, 5, block_i=32, block_o=16), kind, 250,
                 copies=5 if kind == "out_noise" else 1)


def test_triton_interpreted_same_seed_same_result():
    launch = _triton(True)
    w, x = _inputs(6, 10, 5, 2)
    p = kernel_params(IOParameters(inp_noise=0.01, out_bound=2.0))
    a, b, c = (launch(w, x, p, s, block_i=16, block_o=16) for s in (7, 7, 8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    d, e = (launch(w, x, p, torch.tensor([s])) for s in (7, 8))
    assert not torch.equal(d, e)


def test_triton_interpreted_counts_the_vectors_in_its_prologue():
    """A tile's count of MVM vectors is advanced by the prologue (no launch of its own);
    the result is the same; the paths without a prologue count them too."""
    launch = _triton(True)
    w, x = _inputs(6, 10, 5, 2)
    p = kernel_params(IOParameters(out_bound=2.0))
    counts = torch.tensor([3, 4])
    got = launch(w, x, p, 7, block_i=16, block_o=16, vectors=counts[1:])
    assert torch.equal(got, launch(w, x, p, 7, block_i=16, block_o=16))
    assert counts.tolist() == [3, 10]
    launch(w, x, kernel_params(IOParameters(is_perfect=True)), 7, vectors=counts[:1])
    assert counts.tolist() == [9, 10]


NOISY_BM = dict(bound_management="iterative", out_noise=0.05, inp_noise=0.02, inp_sto_round=True,
                out_sto_round=True, w_noise=0.03, w_noise_type="pcm_read")


@pytest.mark.parametrize("extra", [
    NOISY_BM, dict(bound_management="iterative_worst_case", noise_management="max")])
def test_triton_interpreted_row_blocks_equal_the_kernels_of_one_row(extra, monkeypatch):
    """The row-block prologue and epilogue (several programs, a partial last block) give
    the one-row kernels' numbers bit for bit, noise and bound management's passes included,
    and count the same vectors (the normals do not depend on the blocks: bound
    management's GEMV takes 8 outputs, the first pass 16 or 32)."""
    launch = _triton(True)
    module = launch.__globals__
    w, x = _inputs(11, 23, 17, 4)
    p = kernel_params(_quiet("abs_max", "iterative", True, **extra))
    got = []
    monkeypatch.setitem(module, "ROW_ELEMENTS", 128)
    for fewest in (12, 1):  # 11 rows: the one-row kernels, then the row blocks
        monkeypatch.setitem(module, "ROW_MIN_ROWS", fewest)
        counts = torch.zeros(1, dtype=torch.int64)
        got.append((launch(w, x, p, 5, block_i=16, block_o=16, gemv_o=8, vectors=counts),
                    counts.item()))
    assert torch.equal(got[0][0], got[1][0]) and got[0][1] == got[1][1] == 11


CHUNK_IO = [dict(bound_management="none", out_noise=0.05, inp_noise=0.02, inp_sto_round=True,
                 out_sto_round=True, w_noise=0.03, w_noise_type="pcm_read"),
            dict(bound_management="none", noise_management="max", out_noise=0.05,
                 w_noise=0.03, w_noise_type="additive_constant", out_scale=-2.0)]


def test_triton_interpreted_row_blocks_only_from_row_min_rows(monkeypatch):
    """The row-block kernels serve a call of ``ROW_MIN_ROWS`` rows or more, the one-row
    kernels a call of fewer (the bench MLP's 32-256 rows were slower in row blocks on an
    H200; a convolution's im2col rows faster)."""
    launch = _triton(True)
    module = launch.__globals__
    w, x = _inputs(11, 23, 17, 4)
    p = kernel_params(_quiet("abs_max", "iterative", True))
    used = []
    for name in ("_prologue_rows_kernel", "_epilogue_rows_kernel"):
        kernel = module[name]

        class Spy:  # records a launch of the row-block kernel, then launches it
            def __getitem__(self, grid, kernel=kernel, name=name):
                used.append(name)
                return kernel[grid]
        monkeypatch.setitem(module, name, Spy())
    monkeypatch.setitem(module, "ROW_ELEMENTS", 128)
    monkeypatch.setitem(module, "ROW_MIN_ROWS", 12)
    fewer = launch(w, x, p, 5, block_i=16, block_o=16, gemv_o=8)
    assert used == []
    monkeypatch.setitem(module, "ROW_MIN_ROWS", 11)
    assert torch.equal(launch(w, x, p, 5, block_i=16, block_o=16, gemv_o=8), fewer)
    assert used == ["_prologue_rows_kernel", "_epilogue_rows_kernel"]


# ------------------------------------------- the normals: four a Philox call (_randn) -----
def _philox_normals4(seed, stream, counters):
    """The kernels' four normals ``(4, len)`` at the int32 ``counters`` of an MVM noise
    ``stream`` (the kernels' ``_stream_seed`` of a host ``seed``, first pass) in NumPy:
    Philox-4x32-10 and its uniforms as Triton's ``random.py`` computes them, then
    ``_box_muller`` on words 0, 1 and 2, 3, float32 operation for operation."""
    key = seeds.mvm_triton_seed(seed) ^ ((stream * 256 + 1) << 44)
    m32, hi = np.uint64(0xFFFFFFFF), np.uint64(32)
    c0 = np.asarray(counters).astype(np.int64).astype(np.uint64) & m32
    c1, c2, c3 = np.zeros_like(c0), np.zeros_like(c0), np.zeros_like(c0)
    k0, k1 = np.uint64(key & 0xFFFFFFFF), np.uint64((key >> 32) & 0xFFFFFFFF)
    a, b = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
    for _ in range(10):
        pa, pb = a * c0, b * c2
        c0, c1, c2, c3 = (((pb >> hi) ^ c1 ^ k0) & m32, pb & m32, ((pa >> hi) ^ c3 ^ k1) & m32,
                          pa & m32)
        k0, k1 = (k0 + np.uint64(0x9E3779B9)) & m32, (k1 + np.uint64(0xBB67AE85)) & m32
    u = []
    for c in (c0, c1, c2, c3):
        i = c.astype(np.uint32).view(np.int32)
        u.append(np.where(i < 0, ~i, i).astype(np.float32) * np.float32(4.6566127342e-10))
    return np.stack([*_box_muller_np(u[0], u[1]), *_box_muller_np(u[2], u[3])])


def _box_muller_np(u1, u2):
    """The kernels' ``_box_muller`` in float32 NumPy."""
    f = np.float32
    r = np.sqrt(f(-2.0) * np.log(np.maximum(f(1e-7), u1)))
    q = np.floor(u2 * f(4.0) + f(0.5))
    phi = (u2 * f(4.0) - q) * f(1.5707963267948966)
    p2 = phi * phi
    sin = phi + phi * p2 * (f(-1 / 6) + p2 * (f(1 / 120) + p2 * (f(-1 / 5040)
                                                                 + p2 * f(1 / 362880))))
    cos = f(1.0) + p2 * (f(-1 / 2) + p2 * (f(1 / 24) + p2 * (f(-1 / 720) + p2 * f(1 / 40320))))
    k = q.astype(np.int32)
    odd = (k & 1) != 0
    c, s = np.where(odd, sin, cos), np.where(odd, cos, sin)
    return r * np.where((k + 1) & 2, -c, c), r * np.where(k & 2, -s, s)


def test_normals4_box_muller_is_cos_and_sin():
    """``_box_muller``'s one reduction for both: within 4e-7 of float64's ``r cos(2 pi u)``
    and ``r sin(2 pi u)`` (``r`` = 1) over [0, 1) and at the quarter turns' edges."""
    edges = [0.125, 0.375, 0.625, 0.875, np.nextafter(1, 0, dtype=np.float32)]
    u = np.concatenate([np.linspace(0, 1, 100_001, dtype=np.float32)[:-1], np.float32(edges)])
    c, s = _box_muller_np(np.full_like(u, np.exp(-0.5, dtype=np.float32)), u)
    t = 2 * np.pi * u.astype(np.float64)
    assert np.abs(c - np.cos(t)).max() < 4e-7 and np.abs(s - np.sin(t)).max() < 4e-7


def _quad_normals(seed, stream, n, width):
    """The kernels' normal of each element ``(row, col)`` of ``n`` rows ``width`` wide:
    lane ``col % 4`` of the quad at counter ``row * width + col - col % 4``."""
    rows, cols = np.meshgrid(np.arange(n), np.arange(width), indexing="ij")
    z = _philox_normals4(seed, stream, (rows * width + cols - cols % 4).ravel())
    return torch.from_numpy(z[(cols % 4).ravel(), np.arange(n * width)].reshape(n, width))


# the MVM's paths, as the module's settings choose them
NORMALS4_PATHS = {"one row": dict(ROW_MIN_ROWS=1 << 62),
                  "row blocks": dict(ROW_MIN_ROWS=1),
                  "split": dict(ROW_MIN_ROWS=1, SPLIT_ROWS=True, SPLIT_OUTPUTS=True)}


def _normals4_runs(launch, monkeypatch, kind, n, width, out, seed, device="cpu"):
    """Each path's result for output noise (stream 3, 4-bit weights:
    every product and sum exact) or input noise (stream 1, read through an identity
    weight), what ``_quad_normals`` says it is, and the noise's level."""
    module = launch.__globals__
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(-63, 64, (n, width), generator=gen) / 64.0  # the DAC's view, exact
    if kind == "out_noise":
        w = torch.randint(-8, 9, (out, width), generator=gen) / 16.0
        io, stream, clean = dict(out_noise=0.05), 3, x @ w.T
    else:
        w = torch.eye(width)
        io, stream, clean = dict(out_noise=0.0, inp_noise=0.04), 1, x
    p = kernel_params(IOParameters(**{**dict(out_res=0.0, inp_res=0.0, out_bound=1e6,
                                             noise_management="none",
                                             bound_management="none"), **io}))
    level = io["out_noise"] or io["inp_noise"]
    got = {}
    for path, switches in NORMALS4_PATHS.items():
        for name, value in switches.items():
            monkeypatch.setitem(module, name, value)
        got[path] = launch(w.to(device), x.to(device), p, seed).cpu()
    return got, clean + level * _quad_normals(seed, stream, n, w.shape[0]), level


@pytest.mark.parametrize("kind", ["out_noise", "inp_noise"])
def test_triton_interpreted_normals4_are_lanes_of_philox_quads(kind, monkeypatch):
    """The noise of element ``(row, col)`` is lane ``col % 4`` of the four
    normals of the Philox call at the counter of column ``col - col % 4`` - each element its
    own normal - bit for bit (``_quad_normals``), on every path (one row, row blocks, rows in
    two parts) and so whatever the blocks; 38 columns: a partial block and a partial quad."""
    launch = _triton(True)
    monkeypatch.setitem(launch.__globals__, "ROW_ELEMENTS", 128)
    got, want, _ = _normals4_runs(launch, monkeypatch, kind, 10, 12 if kind == "out_noise"
                                  else 38, 38, 7)
    for path, result in got.items():
        assert torch.equal(result, want), path


def test_normals4_are_standard_and_independent():
    """The quads' normals (``_philox_normals4``, what the kernels draw, above): N(0, 1) by
    mean, std and a Kolmogorov-Smirnov distance, and uncorrelated - in value and in square -
    between the lanes of a quad (a Box-Muller pair shares its radius) and from one quad to
    the next (5-sigma bounds, 40,000 quads, a fixed seed)."""
    n = 40_000
    z = torch.from_numpy(_philox_normals4(3, 3, np.arange(0, 4 * n, 4))).double()
    flat = z.flatten()
    assert abs(float(flat.mean())) < 5 / math.sqrt(flat.numel())
    assert abs(float(flat.std()) - 1) < 5 / math.sqrt(2 * flat.numel())
    cdf = 0.5 * (1 + torch.erf(flat.sort().values / math.sqrt(2)))
    ranks = torch.arange(1, flat.numel() + 1, dtype=torch.float64) / flat.numel()
    assert float((cdf - ranks).abs().max()) < 1.63 / math.sqrt(flat.numel())  # KS, 1 %
    for a, b in ((z[0], z[1]), (z[2], z[3]), (z[0], z[2]), (z[1], z[3]), (z[3, :-1], z[0, 1:])):
        for f in (lambda t: t, lambda t: t * t):
            assert abs(float(torch.corrcoef(torch.stack([f(a), f(b)]))[0, 1])) < 5 / math.sqrt(n)


# ------------------------------------------------------------------------ GPU -------------
@pytest.mark.gpu
@pytest.mark.parametrize("nm,bm", list(itertools.product(NM, BM)))
def test_triton_compiled_matches_the_twin_without_noise(nm, bm):
    launch = _triton(False)
    for quantized in (True, False):
        for n, width, out in ((9, 23, 17), (64, 784, 256), (40, 256, 784)):
            _check_quiet(lambda w, x, p: launch(w, x, p, 5), _quiet(nm, bm, quantized),
                         n=n, width=width, out=out, device="cuda", exact=False)


@pytest.mark.gpu
@pytest.mark.parametrize("kind", list(NOISES))
def test_triton_compiled_noise_has_the_twins_std(kind):
    launch = _triton(False)

    def run(w, x, p):
        return launch(w.cuda(), x.cuda(), p, torch.tensor([5], device="cuda"))

    _noise_check(run, kind, 20000)


@pytest.mark.gpu
def test_triton_compiled_mvm_makes_no_host_sync():
    launch = _triton(False)
    w, x = _inputs(32, 256, 128, 4, "cuda")
    p = kernel_params(IOParameters(inp_noise=0.01, bound_management="iterative_worst_case"))
    seed = torch.tensor([3], device="cuda")
    launch(w, x, p, seed)  # compile first
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        a = launch(w, x, p, seed)
        b = launch(w, x, p, 3)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(a).all() and torch.isfinite(b).all()


def test_triton_interpreted_group_is_each_tile_with_its_own_seed():
    """A 2 x 2 grid in one grouped launch set: each tile's rows are its own MVM with its own
    seed (noise, stochastic rounding and bound management on), forward and transposed."""
    one = _triton(True)
    group = triton_function("analog_mvm_cuda", "analog_mvm_grouped_triton", True)
    gen = torch.Generator().manual_seed(0)
    weights = 0.5 * torch.randn(4, 3, 5, generator=gen)
    x = torch.randn(4, 10, generator=gen)
    x[1] = 0.0
    weights[1, 0], x[2, 5:] = 1.0, 1.0  # tile 1's output 0 of row 2 clips: bound management
    weights[2, :, 0], d_clip = 1.0, 1.0  # and tile 2's transposed output 0 of row 0
    p = kernel_params(IOParameters(out_bound=2.5, inp_noise=0.01, out_sto_round=True))
    seeds = torch.tensor([11, 12, 13, 14])
    blocks = dict(block_i=16, block_o=16, gemv_o=8)
    forward = group(weights, x, p, seeds, 2, 0, 5, **blocks)
    d = torch.randn(4, 6, generator=gen)
    d[0, 3:] = d_clip
    backward = group(weights.transpose(1, 2), d, p, seeds, 2, 3, 0, **blocks)
    for g in (1, 2):
        i, j = divmod(g, 2)
        seed = seeds[g:g + 1]
        assert torch.equal(forward[g], one(weights[g], x[:, 5 * j:5 * j + 5], p, seed, **blocks))
        assert torch.equal(backward[g], one(weights[g].T, d[:, 3 * i:3 * i + 3], p, seed,
                                            **blocks))
    assert not torch.equal(forward[0], forward[2])  # other tiles, other noise
    assert forward[1, 2, 0].abs() > 2.5 and backward[2, 0, 0].abs() > 2.5  # halved, redone


def test_grouped_twin_and_numba_are_each_tiles_own():
    from xbrun.kernels import analog_mvm_grouped_torch
    from xbrun.kernels.analog_mvm_cpu import analog_mvm_grouped_numba

    gen = torch.Generator().manual_seed(1)
    weights = 0.5 * torch.randn(6, 3, 4, generator=gen)
    x = torch.randn(5, 12, generator=gen)
    p = kernel_params(IOParameters(out_bound=1.0))
    seeds = [3, 4, 5, 6, 7, 8]
    twin = analog_mvm_grouped_torch(weights, x, p, seeds, 3, 0, 4)
    fast = analog_mvm_grouped_numba(weights, x, p, seeds, 3, 0, 4)
    for g in range(6):
        block = x[:, 4 * (g % 3):4 * (g % 3) + 4]
        assert torch.equal(twin[g], analog_mvm_torch(weights[g], block, p, seed=seeds[g]))
        assert torch.equal(fast[g], analog_mvm_numba(weights[g], block, p, seeds[g]))


@pytest.mark.parametrize("rows", [4, 40])
@pytest.mark.parametrize("out_noise", [0.0, 0.06])
def test_numba_one_hot_rows_gather_a_column_as_the_matmul_computes_it(monkeypatch, out_noise,
                                                                       rows):
    # a transfer's reads (one non-zero input per row; a row of zeros too) take one column
    # of the weight instead of the matmul: the same floats, signs of zeros included (40
    # rows: a chopped device's reads of a batch's lines)
    gen = torch.Generator().manual_seed(4)
    w = torch.randn(9, 7, generator=gen)
    w[::2, 3] = 0.0
    w[1::2, 3] = -0.0
    w[4, :] = -0.0
    x = torch.zeros(rows, 7)
    x[0, 3], x[1, 0], x[3, 6] = 1.0, -0.4, 2.5
    for r in range(4, rows):
        x[r, r % 7] = torch.randn((), generator=gen)
    for columns in (True, False):
        weight = w if columns else w.T.contiguous().T  # a strided view as well
        p = kernel_params(IOParameters(out_noise=out_noise, bound_management="none"))
        gathered = analog_mvm_numba(weight, x, p, 5)
        monkeypatch.setattr(analog_mvm_cpu, "ONEHOT_MAX_ROWS", 0)
        multiplied = analog_mvm_numba(weight, x, p, 5)
        monkeypatch.undo()
        assert torch.equal(gathered.view(torch.int32), multiplied.view(torch.int32))


def test_numba_dense_first_row_skips_the_gather_check(monkeypatch):
    """``_product`` calls the one-hot check only where the first row has one non-zero
    input at most: a dense batch (a forward pass) multiplies at once, one-hot reads still
    gather, and either way the floats are the matmul's."""
    calls = []
    check = analog_mvm_cpu._column_products
    monkeypatch.setattr(analog_mvm_cpu, "_column_products",
                        lambda v, w: calls.append(v.shape[0]) or check(v, w))
    gen = torch.Generator().manual_seed(5)
    w = torch.randn(9, 7, generator=gen)
    dense = torch.randn(6, 7, generator=gen)
    onehot = torch.eye(7)[[2, 0, 5]]
    late = torch.cat([onehot, dense[:1]])  # one-hot first, a dense row after: checked, no gather
    for x, checked in ((dense, False), (onehot, True), (late, True)):
        calls.clear()
        v = x.numpy()
        y = analog_mvm_cpu._product(v, w, w.T)
        assert calls == ([x.shape[0]] if checked else [])
        assert torch.equal(torch.from_numpy(y).view(torch.int32), (x @ w.T).view(torch.int32))


ONEHOT_IO = [dict(), dict(out_noise=0.0, inp_res=0.0, out_res=0.0),
             dict(inp_sto_round=True, out_sto_round=True, out_scale=-1.5,
                  noise_management="constant", nm_thres=0.7),
             dict(w_noise=0.02, w_noise_type="additive_constant", noise_management="max",
                  out_res=0.0),
             dict(w_noise=0.02, w_noise_type="pcm_read", noise_management="abs_max_np_sum",
                  out_res=0.0)]


@pytest.mark.parametrize("extra", ONEHOT_IO)
def test_triton_interpreted_one_hot_rows_read_columns_as_the_matmul_computes_them(
        extra, monkeypatch):
    """A transfer's reads (row b one-hot at column (start + b) % width, of any value; a zero
    row too) in one launch that reads the columns: the numbers of the three launches'
    matmul, noise and all, for a host or a device start and seed, and a transposed view;
    the noise management's scale from the line element alone, in blocks of 8 outputs x 2
    rows here (the last program's rows and outputs cut short; ``noise_management=max``
    keeps the row kernel)."""
    launch = _triton(True)
    monkeypatch.setitem(launch.__globals__, "ONEHOT_ROW_ELEMENTS", 16)
    monkeypatch.setitem(launch.__globals__, "ONEHOT_MIN_ROWS", 2)
    gen = torch.Generator().manual_seed(4)
    w = torch.randn(9, 7, generator=gen)
    p = kernel_params(IOParameters(bound_management="none", **extra))
    for start, seed, weight in ((5, 11, w),  # a device start and seed, a strided view
                                (torch.tensor(3), torch.tensor([2**40 + 9]), w.T.contiguous().T)):
        x = torch.zeros(7, 7)
        lines = [(int(start) + b) % 7 for b in range(7)]
        x[range(7), lines] = torch.tensor([1.0, -0.4, 0.0, 2.5, 1.0, 1.0, -0.0])
        multiplied = launch(weight, x, p, seed, block_i=16, block_o=16)
        read = launch(weight, x, p, seed, block_i=16, block_o=16, onehot_start=start)
        assert torch.equal(read, multiplied) and read.abs().sum() > 0


def test_triton_interpreted_group_reads_one_hot_columns_in_row_blocks(monkeypatch):
    """A group's reads in row blocks (8 outputs x 2 rows here), and one program a row
    (``noise_management=max``): the numbers of the group's three launches."""
    group = triton_function("analog_mvm_cuda", "analog_mvm_grouped_triton", True)
    for name, value in (("ONEHOT_ROW_ELEMENTS", 16), ("ONEHOT_MIN_ROWS", 2)):
        monkeypatch.setitem(group.__globals__, name, value)
    check_grouped_onehot(group, "cpu", blocks=dict(block_i=16, block_o=16, gemv_o=8),
                         settings=(2, 3, 4))


def test_triton_interpreted_line_only_reads_take_a_broadcast_column_of_ones(monkeypatch):
    """Where ``reads_line_only`` holds (the default transfer I/O; not perfect I/O, input
    noise, bound management or ``noise_management=max``), one-hot reads of ones broadcast
    over the rows and lines (``line_walk_cuda.BROADCAST_ONEHOT``) give the filled rows'
    numbers: one tile, and a group."""
    launch = _triton(True)
    module = launch.__globals__
    for name, value in (("ONEHOT_ROW_ELEMENTS", 16), ("ONEHOT_MIN_ROWS", 2)):
        monkeypatch.setitem(module, name, value)
    line_only = module["reads_line_only"]
    for bad in (dict(is_perfect=True), dict(inp_noise=0.01), dict(noise_management="max"),
                dict(bound_management="iterative_worst_case")):
        io = {"bound_management": "none", **bad}
        assert not line_only(kernel_params(IOParameters(**io)))
    gen = torch.Generator().manual_seed(6)
    w = torch.randn(9, 7, generator=gen)
    ones = torch.ones(1, 1).expand(7, 7)
    filled = torch.zeros(7, 7)
    filled[range(7), [(3 + b) % 7 for b in range(7)]] = 1.0
    for extra in ONEHOT_IO[:3] + ONEHOT_IO[4:]:
        p = kernel_params(IOParameters(bound_management="none", **extra))
        assert line_only(p)
        assert torch.equal(launch(w, ones, p, 11, onehot_start=3),
                           launch(w, filled, p, 11, onehot_start=3))
    group = triton_function("analog_mvm_cuda", "analog_mvm_grouped_triton", True)
    assert group.__globals__["reads_line_only"](p)
    starts = torch.tensor([3, 5])
    filled = torch.zeros(4, 14)
    for g in range(2):
        filled[range(4), [7 * g + (int(starts[g]) + b) % 7 for b in range(4)]] = 1.0
    weights, seeds = torch.randn(2, 9, 7, generator=gen), torch.tensor([2**40, 2**40 + 9])
    assert torch.equal(group(weights, torch.ones(1, 1).expand(4, 14), p, seeds, 2, 0, 7,
                             onehot_start=starts),
                       group(weights, filled, p, seeds, 2, 0, 7, onehot_start=starts))


def check_grouped_onehot(group, device, tiles=3, n=4, out=9, width=7, blocks=None,
                         settings=(2, 4)):
    """A group's one-hot reads (the columns read, each tile its own start and seed) against
    its three launches (no ``onehot_start``), bit for bit: a grid row of ``tiles``
    tiles (as a grid's transfers read), tile ``g``'s rows one-hot at ``(start[g] + b) %
    width`` of its block (any value, a zero row too), for the I/O settings
    ``ONEHOT_IO[settings]``, the first on a transposed view of the weights."""
    gen = torch.Generator().manual_seed(tiles)
    w = torch.randn(tiles, out, width, generator=gen).to(device)
    starts = torch.randint(0, width, (tiles,), generator=gen)
    x = torch.zeros(n, tiles * width)
    for g in range(tiles):
        lines = [width * g + (int(starts[g]) + b) % width for b in range(n)]
        x[range(n), lines] = torch.randn(n, generator=gen)
    x[2] = 0.0
    x, starts = x.to(device), starts.to(device)
    seeds = (2**40 + torch.arange(tiles) * 977).to(device)
    view = w.transpose(1, 2).contiguous().transpose(1, 2)
    for k, weights in [(settings[0], view), *((k, w) for k in settings[1:])]:
        p = kernel_params(IOParameters(bound_management="none", **ONEHOT_IO[k]))
        multiplied = group(weights, x, p, seeds, tiles, 0, width, **(blocks or {}))
        read = group(weights, x, p, seeds, tiles, 0, width, onehot_start=starts,
                     **(blocks or {}))
        assert torch.equal(read, multiplied) and read.abs().sum() > 0


@pytest.mark.gpu
def test_triton_compiled_group_reads_one_hot_columns_as_its_matmul():
    """Compiled, at a 4096-wide grid's tiles: 256 reads of 512 x 512 tiles (in blocks of
    outputs x rows; ``noise_management=max`` one program a row)."""
    group = triton_function("analog_mvm_cuda", "analog_mvm_grouped_triton", False)
    check_grouped_onehot(group, "cuda", tiles=8, n=256, out=512, width=512,
                         settings=range(len(ONEHOT_IO)))


@pytest.mark.gpu
def test_triton_compiled_one_hot_rows_read_columns_as_the_matmul_computes_them():
    launch = _triton(False)
    gen = torch.Generator().manual_seed(4)
    w = torch.randn(256, 392, generator=gen).cuda()
    start = torch.tensor(300, device="cuda")
    x = torch.zeros(256, 392, device="cuda")  # any values (stochastic rounding acts)
    x[torch.arange(256), (300 + torch.arange(256)) % 392] = torch.randn(256, generator=gen).cuda()
    seed = torch.tensor([2**40 + 9], device="cuda")
    for extra in ONEHOT_IO:
        p = kernel_params(IOParameters(bound_management="none", **extra))
        assert torch.equal(launch(w, x, p, seed, onehot_start=start), launch(w, x, p, seed))


@pytest.mark.gpu
@pytest.mark.parametrize("width,out", [(27, 16), (144, 16), (576, 64)])
def test_triton_compiled_one_hot_row_blocks_at_convolution_shapes(width, out):
    """The one-hot reads in row blocks at a chopped ResNet's conv tiles (27, 144, 576 lines
    of 16-64 outputs; 20,000 reads, the last block cut short): the matmul's numbers, every
    I/O case (``noise_management=max``: the row kernel's)."""
    launch = _triton(False)
    gen = torch.Generator().manual_seed(5)
    w = torch.randn(out, width, generator=gen).cuda()
    n, start = 20000, torch.tensor(7, device="cuda")
    x = torch.zeros(n, width, device="cuda")
    x[torch.arange(n), (7 + torch.arange(n)) % width] = 1.0
    seed = torch.tensor([2**40 + 3], device="cuda")
    for extra in ONEHOT_IO:
        p = kernel_params(IOParameters(bound_management="none", **extra))
        assert torch.equal(launch(w, x, p, seed, onehot_start=start), launch(w, x, p, seed))


@pytest.mark.gpu
@pytest.mark.parametrize("n,width,out", [(3000, 144, 16), (2000, 16, 144), (700, 288, 64)])
def test_triton_compiled_row_blocks_equal_the_kernels_of_one_row(n, width, out, monkeypatch):
    """Compiled, at convolution shapes with default noise and many rows clipping: the
    row-block kernels give the one-row kernels' numbers bit for bit."""
    launch = _triton(False)
    module = launch.__globals__
    gen = torch.Generator().manual_seed(n)
    w = (0.4 * torch.randn(out, width, generator=gen)).cuda()
    x = torch.relu(torch.randn(n, width, generator=gen)).cuda()
    for extra in (dict(inp_sto_round=True, w_noise=0.02, w_noise_type="pcm_read"),
                  dict(bound_management="iterative_worst_case")):
        p = kernel_params(IOParameters(**extra))
        got = []
        for fewest in (n + 1, 1):  # the one-row kernels, then the row blocks
            monkeypatch.setitem(module, "ROW_MIN_ROWS", fewest)
            got.append(launch(w, x, p, 11))
        assert torch.equal(got[0], got[1])


def _split_inputs(n, width, seed, device="cpu"):
    """``_inputs``' rows, with the DAC's rounding edges for steps of ``2**-6`` and a row
    scale of 1: exact ties ``(k + 1/2)`` steps (half to even), quotients in ``(-1/2, 0)``
    steps (a ``+0.0``), ``-0.0`` inputs (kept ``-0.0``)."""
    w, x = _inputs(n, width, 17, seed)
    x[5] = torch.arange(width) * 2.0**-6 - 20 * 2.0**-6 + 2.0**-7
    x[5, 0] = 1.0
    x[6] = -torch.rand(width) * 2.0**-7
    x[6, 0], x[6, 1:4] = -1.0, -0.0
    x[7, ::3] = -0.0
    return w.to(device), x.to(device)


def _prologue_spy(module, monkeypatch, names):
    """Spies on the prologue kernels ``names``: each launch's name, ``v`` and scales."""
    seen = []
    for name in names:
        kernel = module[name]

        class Spy:
            def __getitem__(self, grid, kernel=kernel, name=name):
                def run(*args, **kwargs):
                    kernel[grid](*args, **kwargs)
                    seen.append((name, args[3].clone(), args[4].clone()))
                return run
        monkeypatch.setitem(module, name, Spy())
    return seen


@pytest.mark.parametrize("extra", [dict(bound_management="iterative"),
                                   dict(inp_noise=0.02, inp_sto_round=True, out_noise=0.05,
                                        bound_management="none", noise_management="max")])
def test_triton_interpreted_split_rows_equal_the_row_blocks(extra, monkeypatch):
    """``SPLIT_ROWS``: rows of 48 and 40 inputs in two parts (32 + 16) give the row-block
    prologue's DAC rows and scales bit for bit (``_round_even_add`` at ties, at quotients
    in ``(-1/2, 0)`` and at ``-0.0``; Philox input noise and stochastic rounding at the same
    counters), and so the same outputs; a partial last row block, the vectors count, a
    group of two tiles; 23 (16 + 16 saves no lanes) keeps the row blocks; rows over
    ``ROW_WIDTH`` take it instead of the one-row prologue, with its numbers; without noise
    management, quotients past ``2**22`` steps clip alike."""
    launch = _triton(True)
    group = triton_function("analog_mvm_cuda", "analog_mvm_grouped_triton", True)
    module = launch.__globals__
    monkeypatch.setitem(module, "ROW_MIN_ROWS", 1)
    monkeypatch.setitem(module, "ROW_ELEMENTS", 128)
    split = module["_split"]
    assert [split(k) for k in (48, 40, 23, 64)] == [(4, 32, 16), (4, 32, 16), None, None]
    monkeypatch.setitem(module, "ROW_ELEMENTS", 2048)
    assert [split(k) for k in (144, 288, 576, 27)] == [(16, 128, 16), (8, 256, 32),
                                                        (4, 512, 64), None]
    monkeypatch.setitem(module, "ROW_ELEMENTS", 128)
    p = kernel_params(_quiet("abs_max", "none", True, inp_res=2.0**-7, **extra))
    assert p.inp_step == 2.0**-6
    seen = _prologue_spy(module, monkeypatch, ("_prologue_rows_kernel",
                                               "_prologue_split_kernel"))
    w, x = _split_inputs(13, 48, 2)
    weights = torch.stack([w[:, :40], w[:, 8:].flip(0)])
    got = []
    for on in (False, True):
        monkeypatch.setitem(module, "SPLIT_ROWS", on)
        counts = torch.zeros(1, dtype=torch.int64)
        got.append((launch(w, x, p, torch.tensor([9]), vectors=counts), counts.item(),
                    group(weights, x, p, torch.tensor([5, 6]), 2, 0, 8),
                    launch(w[:, :23], x[:, :23], p, 4)))
    (one, n_one, grp, narrow), (one_s, n_split, grp_s, narrow_s) = got
    assert n_one == n_split == 13
    assert torch.equal(one, one_s) and torch.equal(grp, grp_s) and torch.equal(narrow, narrow_s)
    names = [name for name, _, _ in seen]
    assert names == ["_prologue_rows_kernel"] * 3 + ["_prologue_split_kernel"] * 2 + [
        "_prologue_rows_kernel"]
    for (_, v, scale), (_, v_s, scale_s) in zip(seen[:2], seen[3:5], strict=True):
        # bit for bit, the sign of a zero included
        assert torch.equal(v.view(torch.int32), v_s.view(torch.int32))
        assert torch.equal(scale.view(torch.int32), scale_s.view(torch.int32))
    # over ROW_WIDTH (48 > 32): the one-row prologue's DAC rows; additive weight noise
    # (it reads the norm, which the split kernel does not write) keeps the one-row prologue
    monkeypatch.setitem(module, "ROW_WIDTH", 32)
    one_row = _prologue_spy(module, monkeypatch, ("_prologue_kernel",))
    for on in (False, True):
        monkeypatch.setitem(module, "SPLIT_ROWS", on)
        got.append(launch(w, x, p, 9))
    launch(w[:5], x[:5], kernel_params(_quiet("abs_max", "none", True, w_noise=0.02,
                                              w_noise_type="additive_constant")), 9)
    assert torch.equal(got[-2], got[-1]) and torch.equal(got[-1], one)
    assert [name for name, _, _ in seen[6:]] == ["_prologue_split_kernel"]
    assert len(one_row) == 2 and torch.equal(one_row[0][1].view(torch.int32),
                                              seen[6][1].view(torch.int32))
    v = seen[0][1][0]
    # no noise management: quotients past 2**22 steps (rounded otherwise, clipped alike)
    big = x[:5, :40] * torch.tensor([1e5, 2.0**16 + 0.5, -2.0**16 - 0.25, 1e8, -3e7])[:, None]
    del seen[:]
    monkeypatch.setitem(module, "ROW_WIDTH", 512)
    for on in (False, True):
        monkeypatch.setitem(module, "SPLIT_ROWS", on)
        launch(w[:, :40], big, kernel_params(_quiet("none", "none", True, inp_res=2.0**-7)), 3)
    assert [name for name, _, _ in seen] == ["_prologue_rows_kernel", "_prologue_split_kernel"]
    assert torch.equal(seen[0][1].view(torch.int32), seen[1][1].view(torch.int32))
    assert (seen[0][1].abs() == 1).sum() > 100  # clipped
    if p.inp_noise == 0:
        assert (v[5] / p.inp_step).remainder(2).eq(0).sum() > 10  # ties went to even
        assert (v[6, 4:] == 0).all() and not torch.signbit(v[6, 4:]).any()
        assert torch.signbit(v[6, 1:4]).all() and torch.signbit(v[7, ::3]).all()


@pytest.mark.parametrize("extra", CHUNK_IO)
def test_triton_interpreted_split_outputs_equal_the_row_blocks(extra, monkeypatch):
    """``SPLIT_OUTPUTS``: rows of 40 and 48 outputs in two parts (32 + 16) give the
    row-block epilogue's numbers bit for bit: Philox output, PCM and additive read noise
    (its norm), stochastic rounding, the output scale, silent rows; a partial last row
    block, one tile and a group of two (a backward MVM's); with bound management the row
    blocks serve; outputs over ``ROW_WIDTH`` take it instead of the one-row epilogue."""
    launch = _triton(True)
    group = triton_function("analog_mvm_cuda", "analog_mvm_grouped_triton", True)
    module = launch.__globals__
    monkeypatch.setitem(module, "ROW_MIN_ROWS", 1)
    monkeypatch.setitem(module, "ROW_ELEMENTS", 128)
    w, x = _inputs(9, 48, 40, 6)
    p = kernel_params(_quiet("abs_max", "none", True, **extra))
    weights, d = torch.stack([w, w.flip(0)]), x[:, :40].clone()
    used = []
    kernel = module["_epilogue_split_kernel"]

    class Spy:  # records a launch of the split kernel, then launches it
        def __getitem__(self, grid):
            used.append(grid)
            return kernel[grid]
    monkeypatch.setitem(module, "_epilogue_split_kernel", Spy())
    got = []
    for on in (False, True):
        monkeypatch.setitem(module, "SPLIT_OUTPUTS", on)
        got.append((launch(w, x, p, torch.tensor([9])),
                    group(weights.transpose(1, 2), d, p, torch.tensor([5, 6]), 1, 0, 40)))
    assert torch.equal(got[0][0], got[1][0]) and torch.equal(got[0][1], got[1][1])
    assert (got[0][0][1] == 0).all() == (p.inp_noise == 0)  # a silent row, without input noise
    assert used == [(3, 1), (3, 2)]
    launch(w, x, kernel_params(_quiet("abs_max", "none", True,
                                      **{**extra, "bound_management": "iterative"})), 9)
    assert len(used) == 2
    # outputs over ROW_WIDTH (40 > 32): the one-row epilogue's numbers
    monkeypatch.setitem(module, "ROW_WIDTH", 32)
    for on in (False, True):
        monkeypatch.setitem(module, "SPLIT_OUTPUTS", on)
        got.append(launch(w, x[:5], p, torch.tensor([9])))  # a row's numbers are its own
    assert torch.equal(got[-2], got[-1]) and torch.equal(got[-1], got[0][0][:5])
    assert len(used) == 3


@pytest.mark.gpu
@pytest.mark.parametrize("n,width,out", [(5000, 16, 144), (3000, 32, 288), (700, 64, 288)])
def test_triton_compiled_split_outputs_equal_the_row_blocks(n, width, out, monkeypatch):
    """Compiled, at the ResNet's backward shapes (a backward's epilogue: no bound
    management; default noise, then PCM read noise and stochastic rounding):
    ``SPLIT_OUTPUTS`` gives the row-block epilogue's numbers bit for bit."""
    launch = _triton(False)
    module = launch.__globals__
    monkeypatch.setitem(module, "ROW_MIN_ROWS", 1)
    gen = torch.Generator().manual_seed(n)
    w = (0.4 * torch.randn(out, width, generator=gen)).cuda()
    x = torch.randn(n, width, generator=gen).cuda()
    for extra in (dict(bound_management="none"),
                  dict(bound_management="none", out_sto_round=True, w_noise=0.02,
                       w_noise_type="pcm_read")):
        p = kernel_params(IOParameters(**extra))
        got = []
        for on in (False, True):
            monkeypatch.setitem(module, "SPLIT_OUTPUTS", on)
            got.append(launch(w, x, p, 11))
        assert torch.equal(got[0], got[1])


@pytest.mark.gpu
@pytest.mark.parametrize("n,width,out", [(5000, 144, 16), (3000, 288, 32), (2000, 576, 64),
                                         (4100, 48, 16)])
def test_triton_compiled_split_rows_equal_the_row_blocks(n, width, out, monkeypatch):
    """Compiled, at the ResNet's forward shapes (and its I/O: quantized DAC, abs_max, no
    input noise; then input noise and stochastic rounding): ``SPLIT_ROWS``' prologue gives
    the row-block (576: one-row) prologue's DAC rows and scales bit for bit, the sign of a
    zero included (``_round_even_add`` against ``_round_even``), and the same outputs."""
    launch = _triton(False)
    module = launch.__globals__
    monkeypatch.setitem(module, "ROW_MIN_ROWS", 1)
    seen = _prologue_spy(module, monkeypatch, ("_prologue_rows_kernel", "_prologue_kernel",
                                               "_prologue_split_kernel"))
    gen = torch.Generator().manual_seed(n)
    w = (0.4 * torch.randn(out, width, generator=gen)).cuda()
    _, x = _split_inputs(n, width, n, "cuda")
    x[8:] = torch.relu(x[8:]) - 0.01 * x[8:]
    for extra in (dict(), dict(inp_res=2.0**-7), dict(inp_noise=0.01, inp_sto_round=True)):
        p = kernel_params(IOParameters(**extra))
        got = []
        for on in (False, True):
            monkeypatch.setitem(module, "SPLIT_ROWS", on)
            got.append(launch(w, x, p, 11))
        assert torch.equal(got[0], got[1])
        (_, v, scale), (name, v_s, scale_s) = seen[-2:]
        assert name == "_prologue_split_kernel"
        assert torch.equal(v.view(torch.int32), v_s.view(torch.int32))
        assert torch.equal(scale.view(torch.int32), scale_s.view(torch.int32))


@pytest.mark.gpu
@pytest.mark.parametrize("kind,n,width,out", [("out_noise", 5000, 144, 16),
                                              ("out_noise", 5000, 16, 144),
                                              ("out_noise", 700, 288, 64),
                                              ("inp_noise", 5000, 144, 144)])
def test_triton_compiled_normals4_are_lanes_of_philox_quads(kind, n, width, out, monkeypatch):
    """Compiled, at convolution shapes: the noise is the interpreted kernels'
    (``_quad_normals``) on every path, up to the compiled rounding (libdevice's ``log``, the
    approximate square root, the polynomials' and the noise's sums fused: a few ulps)."""
    launch = _triton(False)
    got, want, _ = _normals4_runs(launch, monkeypatch, kind, n, width, out, 7, "cuda")
    for path, result in got.items():
        torch.testing.assert_close(result, want, rtol=1e-6, atol=1e-6, msg=path)


BOUND_READ_IO = [dict(), dict(bound_management="iterative", out_bound=0.4),
                 dict(bound_management="iterative_worst_case", out_bound=0.4, out_noise=0.0),
                 dict(inp_sto_round=True, out_sto_round=True, out_scale=-1.5,
                      noise_management="constant", nm_thres=0.7),
                 dict(w_noise=0.02, w_noise_type="additive_constant", noise_management="max"),
                 dict(inp_noise=0.05)]  # not one-hot after the DAC: the bound read multiplies


@pytest.mark.parametrize("extra", BOUND_READ_IO)
def test_numba_bound_one_hot_reads_are_the_call_with_one_hot_rows(monkeypatch, extra):
    # a transfer's host reads bound once (bind_onehot_reads) against analog_mvm_numba of the
    # one-hot rows they stand for, bit for bit: runs that wrap past the last column, a
    # strided (row-read) weight, more rows than the gather takes; and the twin, noise off
    from xbrun import kernels
    gen = torch.Generator().manual_seed(6)
    w = torch.randn(9, 7, generator=gen)
    w[:, 2] = -0.0
    p = kernel_params(IOParameters(**extra))
    for weight in (w, w.T.contiguous().T, torch.randn(7, 9, generator=gen).T):
        read = kernels.bind_onehot_reads(weight, p)
        for start, count in ((0, 1), (2, 1), (5, 4), (6, 3), (0, 7)):
            onehot = torch.zeros(count, 7)
            onehot[torch.arange(count), (start + torch.arange(count)) % 7] = 1.0
            want = analog_mvm_numba(weight, onehot, p, 123)
            assert torch.equal(read(start, count, 123).view(torch.int32), want.view(torch.int32))
            quiet = kernel_params(IOParameters(**{**extra, "out_noise": 0.0, "inp_noise": 0.0,
                                                  "w_noise": 0.0, "inp_sto_round": False,
                                                  "out_sto_round": False}))
            torch.testing.assert_close(kernels.bind_onehot_reads(weight, quiet)(start, count, 1),
                                       analog_mvm_torch(weight, onehot, quiet, seed=1))
    monkeypatch.setattr(analog_mvm_cpu, "ONEHOT_MAX_ROWS", 2)  # more rows: the matmul
    onehot = torch.eye(7)[[3, 4, 5]]
    assert torch.equal(kernels.bind_onehot_reads(w, p)(3, 3, 9), analog_mvm_numba(w, onehot, p, 9))
    for none in (dict(is_perfect=True), dict(w_noise=0.02, w_noise_type="pcm_read")):
        assert kernels.bind_onehot_reads(w, kernel_params(IOParameters(**none))) is None
