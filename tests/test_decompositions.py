"""Gradient decompositions (xbrun.decompositions): exactness, optimality, streaming state, NMF."""

from __future__ import annotations

import io

import pytest
import torch

from xbrun.decompositions import (
    NMF,
    FullOuterProduct,
    FullSVD,
    GenericDecomposition,
    StreamingBatchPCA,
    TruncatedSVD,
    build_decomposition,
)
from xbrun.errors import ConfigError

EPS32 = torch.finfo(torch.float32).eps  # 1.19e-7
# Backward-stable SVD / matmul reconstruction of a float32 matrix: ||G - G_hat||_F is a small
# multiple of eps * ||G||_F; 100 * eps (1.2e-5) leaves room for the dimension-dependent constant
# at these sizes (<= 40).
RECON_RTOL = 100 * EPS32


def batch(b=16, out_dim=12, in_dim=20, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, in_dim, generator=g, dtype=torch.float64).to(dtype)
    d = torch.randn(b, out_dim, generator=g, dtype=torch.float64).to(dtype)
    return x, d


def orth(n, g):
    return torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64)).Q


def matrix_with_spectrum(out_dim, in_dim, s, seed=0):
    """float32 ``U diag(s) V^T`` with random orthonormal ``U``, ``V`` (built in float64)."""
    g = torch.Generator().manual_seed(seed)
    u = orth(out_dim, g)[:, : len(s)]
    v = orth(in_dim, g)[:, : len(s)]
    return ((u * torch.as_tensor(s, dtype=torch.float64)) @ v.T).float()


def rel_err(g, left, right):
    return (torch.linalg.matrix_norm(g - left.T @ right) / torch.linalg.matrix_norm(g)).item()


ALL = {
    "outer_product": lambda: FullOuterProduct(),
    "svd": lambda: FullSVD(),
    "truncated_svd[sklearn]": lambda: TruncatedSVD(3),
    "truncated_svd[torch_lowrank]": lambda: TruncatedSVD(3, backend="torch_lowrank"),
    "truncated_svd[torch]": lambda: TruncatedSVD(3, backend="torch"),
    "streaming_pca[input]": lambda: StreamingBatchPCA(3),
    "streaming_pca[delta]": lambda: StreamingBatchPCA(3, side="delta"),
    "streaming_pca[both]": lambda: StreamingBatchPCA(3, side="both", beta=0.5),
    "nmf": lambda: NMF(3, n_iters=20),
}


# --- common contract --------------------------------------------------------------------------
@pytest.mark.parametrize("make", ALL.values(), ids=ALL.keys())
def test_factors_and_decompose_agree(make):
    x, d = batch()
    grad = d.T @ x
    a, b = make(), make()  # two fresh instances: streaming_pca's calls are steps of its state
    left, right = a.factors(x, d, 0)
    dense = b.decompose(x, d, grad, 0)
    assert isinstance(a, GenericDecomposition)
    assert left.shape[1:] == (12,) and right.shape[1:] == (20,) and left.shape[0] == right.shape[0]
    assert dense.shape == grad.shape and dense.dtype == grad.dtype
    torch.testing.assert_close(dense, left.T @ right)
    assert a.rank1_updates((left, right)) == left.shape[0]
    assert a.last_relative_error == pytest.approx(rel_err(grad, left, right), rel=1e-4, abs=1e-6)
    assert b.last_relative_error == pytest.approx(a.last_relative_error, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("make", ALL.values(), ids=ALL.keys())
def test_zero_gradient_has_zero_error(make):
    x, _ = batch()
    dec = make()
    left, right = dec.factors(x, torch.zeros(16, 12), 0)
    assert dec.last_relative_error == 0.0
    assert torch.count_nonzero(left.T @ right) == 0


@pytest.mark.parametrize("make", ALL.values(), ids=ALL.keys())
def test_factors_keep_dtype_and_rows_are_outer_products(make):
    # float64 in -> float64 out; (batch, positions, features) rows are flattened (im2col)
    x, d = batch(b=12, dtype=torch.float64)
    dec = make()
    left, right = dec.factors(x.reshape(3, 4, 20), d.reshape(3, 4, 12), 0)
    assert left.dtype == right.dtype == torch.float64
    ref = make().decompose(x, d, None, 0)
    torch.testing.assert_close(left.T @ right, ref)


def test_half_precision_runs_in_float32():
    x, d = batch(dtype=torch.bfloat16)
    for dec in (FullSVD(), TruncatedSVD(2, backend="torch"), StreamingBatchPCA(2), NMF(2)):
        left, right = dec.factors(x, d, 0)
        assert left.dtype == right.dtype == torch.bfloat16


# --- outer product / SVD ----------------------------------------------------------------------
def test_outer_product_is_batch_sum_of_outer_products():
    x, d = batch(b=9)
    dec = FullOuterProduct()
    left, right = dec.factors(x, d, None)
    # the factors are the deltas and inputs themselves (no copy)
    assert left.data_ptr() == d.data_ptr() and right.data_ptr() == x.data_ptr()
    assert dec.rank1_updates((left, right)) == 9
    loop = sum(torch.outer(d[i].double(), x[i].double()) for i in range(9))
    # float32 sum of 9 products vs float64: error <= 9 * eps * sum_i |d_i||x_i| (elementwise)
    bound = 9 * EPS32 * (d.abs().T.double() @ x.abs().double())
    assert ((dec.decompose(x, d, d.T @ x, None).double() - loop).abs() <= bound).all()
    assert dec.last_relative_error == 0.0


def test_outer_product_of_dense_gradient():
    g = matrix_with_spectrum(6, 5, [3.0, 2.0, 1.0])
    dec = FullOuterProduct()
    torch.testing.assert_close(dec.decompose(None, None, g, 0), g)


def test_full_svd_reconstructs_to_float32_precision():
    x, d = batch(b=40, out_dim=30, in_dim=35)
    grad = d.T @ x
    dec = FullSVD()
    left, right = dec.factors(x, d, 0)
    assert rel_err(grad, left, right) <= RECON_RTOL
    assert dec.last_relative_error <= RECON_RTOL
    # seed API: decompose(input, delta, gradient, idx) factorizes `gradient`
    assert rel_err(grad, *dec.factors(None, None, 0, gradient=grad)) <= RECON_RTOL


def test_full_svd_drops_null_components_and_balances():
    x, d = batch(b=5, out_dim=20, in_dim=30)  # rank 5 < min(out, in)
    left, right = FullSVD().factors(x, d, 0)
    assert left.shape == (5, 20) and right.shape == (5, 30)
    torch.testing.assert_close(left.norm(dim=1), right.norm(dim=1))  # sqrt(s) on both sides
    s = torch.linalg.svdvals((d.T @ x).double())[:5].float()
    torch.testing.assert_close(left.norm(dim=1) ** 2, s, rtol=1e-5, atol=0)


SPECTRUM = [0.7**i for i in range(30)]  # geometric decay: gap sigma_k / sigma_{k+1} = 1 / 0.7


@pytest.mark.parametrize("backend", ["sklearn", "torch_lowrank", "torch"])
@pytest.mark.parametrize("rank", [1, 2, 4, 8])
def test_truncated_svd_is_eckart_young_optimal(backend, rank):
    g = matrix_with_spectrum(30, 40, SPECTRUM)
    dec = TruncatedSVD(rank, backend=backend)
    left, right = dec.factors(None, None, 0, gradient=g)
    assert left.shape == (rank, 30) and right.shape == (rank, 40)
    # Eckart-Young: the best rank-k error is sqrt(sum of the discarded s_i^2).
    s = torch.tensor(SPECTRUM, dtype=torch.float64)
    optimum = (s[rank:] ** 2).sum().sqrt().item()
    err = torch.linalg.matrix_norm(g.double() - (left.T @ right).double()).item()
    # Randomized backends (n_iter=5 power iterations, 10 oversamples) leak at most a factor
    # (s_{k+11} / s_k)^(2*5+1) = 0.7^121 ~ 1e-19 of the tail (Halko et al. 2011, sec. 10):
    # all backends are then optimal to float32 rounding of the rank-k product and of g itself.
    tol = RECON_RTOL * torch.linalg.matrix_norm(g.double()).item()
    assert optimum - tol <= err <= optimum + tol
    assert dec.last_relative_error == pytest.approx(err / s.norm().item(), abs=RECON_RTOL)


@pytest.mark.parametrize("backend", ["sklearn", "torch_lowrank", "torch"])
def test_truncated_svd_on_batch_gradient_matches_exact_svd(backend):
    # a flat-ish spectrum (random batch): compare with the float64 optimum of this gradient;
    # randomized solvers are not exact here, 1e-3 relative excess allows their
    # (s_{k+11}/s_k)^11 leakage for this spectrum (measured ~1e-5) with margin
    x, d = batch(b=24, out_dim=16, in_dim=24)
    g = d.T @ x
    s = torch.linalg.svdvals(g.double())
    left, right = TruncatedSVD(3, backend=backend).factors(x, d, 0)
    err = torch.linalg.matrix_norm(g.double() - (left.T @ right).double()).item()
    optimum = (s[3:] ** 2).sum().sqrt().item()
    assert optimum * (1 - 1e-5) <= err <= optimum * (1 + 1e-3)


@pytest.mark.parametrize("backend", ["sklearn", "torch_lowrank", "torch"])
def test_truncated_svd_rank_must_be_below_features(backend):
    x, d = batch(out_dim=12, in_dim=8)
    for rank in (8, 9):
        with pytest.raises(ConfigError, match=r"decomposition\.rank=\d+ must be below"):
            TruncatedSVD(rank, backend=backend).factors(x, d, 0)
    # rank >= out_dim (but < in_dim) keeps out_dim triplets: exact
    x, d = batch(out_dim=4, in_dim=20)
    dec = TruncatedSVD(6, backend=backend)
    left, _ = dec.factors(x, d, 0)
    assert left.shape[0] == 4 and dec.last_relative_error <= RECON_RTOL


def test_truncated_svd_is_reproducible():
    x, d = batch()
    a = TruncatedSVD(3, backend="torch_lowrank").factors(x, d, 0)
    b = TruncatedSVD(3, backend="torch_lowrank").factors(x, d, 0)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


# --- streaming batch PCA ----------------------------------------------------------------------
def sin_angle(q, target):
    """Sine of the largest principal angle between span(q) and span(target) (orthonormal)."""
    return torch.linalg.matrix_norm(target - q @ (q.T @ target), ord=2).item()


class Stream:
    """Stationary stream: x ~ N(0, Qx diag(lx) Qx^T), delta ~ N(0, Qd diag(ld) Qd^T), independent.

    Then E[G^T G] = B tr(Sd) Sx ... up to scale: with independent zero-mean rows,
    E[G^T G] = sum_i E[|d_i|^2] E[x_i x_i^T] = B tr(Sd) Sx and E[G G^T] = B tr(Sx) Sd, so the
    gradient and activation covariances share the eigenvectors Qx (input) and Qd (delta).
    """

    def __init__(self, seed, in_dim=24, out_dim=12, b=16, top=(9.0, 6.0, 4.0)):
        self.g = torch.Generator().manual_seed(seed)
        self.b = b
        lx = torch.tensor(list(top) + [1.0] * (in_dim - len(top)), dtype=torch.float64)
        ld = torch.tensor(list(top) + [1.0] * (out_dim - len(top)), dtype=torch.float64)
        self.qx, self.qd = orth(in_dim, self.g), orth(out_dim, self.g)
        self.ax, self.ad = (self.qx * lx.sqrt()).float(), (self.qd * ld.sqrt()).float()
        self.k = len(top)

    def __call__(self):
        x = torch.randn(self.b, self.ax.shape[0], generator=self.g) @ self.ax.T
        d = torch.randn(self.b, self.ad.shape[0], generator=self.g) @ self.ad.T
        return x, d

    def top(self, side):
        return (self.qx if side == "input" else self.qd)[:, : self.k].float()


@pytest.mark.parametrize("covariance", ["gradient", "activation"])
def test_streaming_pca_converges_to_top_eigenvectors(covariance):
    beta, steps = 0.95, 300
    stream = Stream(seed=1)
    dec = StreamingBatchPCA(3, side="both", covariance=covariance, beta=beta)
    single = []
    for _ in range(steps):
        x, d = stream()
        dec.factors(x, d, "w")
        cov = (d.T @ x).T @ (d.T @ x) if covariance == "gradient" else x.T @ x
        single.append(sin_angle(torch.linalg.eigh(cov).eigenvectors[:, -3:], stream.top("input")))
    assert dec.steps("w") == steps
    # Derived reference: the running covariance is an EMA whose variance matches a plain mean
    # over n_eff = (1 + beta) / (1 - beta) = 39 batches; the exact top-3 eigenvectors of such a
    # mean (fresh batches) is the oracle. 300 steps = 15 time constants 1/(1-beta): the random
    # start has decayed by e^-15. The tracker must reach the oracle's accuracy within a factor 2
    # (its rank-3 memory truncation and single power iteration per step cost little), and beat
    # a single batch's own top-3 eigenvectors by far.
    n_eff = round((1 + beta) / (1 - beta))
    for side in ("input", "delta"):
        acc = 0
        for _ in range(n_eff):
            x, d = stream()
            g = d.T @ x
            z = x if side == "input" else d
            if covariance == "gradient":
                acc = acc + (g.T @ g if side == "input" else g @ g.T)
            else:
                acc = acc + z.T @ z
        oracle = sin_angle(torch.linalg.eigh(acc).eigenvectors[:, -3:], stream.top(side))
        tracked = sin_angle(dec.subspace("w", side), stream.top(side))
        assert tracked <= 2 * oracle, (side, tracked, oracle)
        assert tracked < 0.35
    assert sin_angle(dec.subspace("w", "input"), stream.top("input")) < 0.5 * sorted(single)[150]


def test_streaming_pca_groups_are_independent():
    s1, s2 = Stream(seed=2), Stream(seed=3)
    inter = StreamingBatchPCA(3, side="both", beta=0.95)
    alone = StreamingBatchPCA(3, side="both", beta=0.95)
    for _ in range(200):
        x1, d1 = s1()
        x2, d2 = s2()
        f_inter = inter.factors(x1, d1, 0)
        inter.factors(x2, d2, 1)
        f_alone = alone.factors(x1, d1, 0)
        # group 0 is unaffected by group 1's steps
        torch.testing.assert_close(f_inter, f_alone, rtol=0, atol=0)
    assert inter.steps(0) == inter.steps(1) == 200
    for side in ("input", "delta"):
        assert sin_angle(inter.subspace(0, side), s1.top(side)) < 0.35
        assert sin_angle(inter.subspace(1, side), s2.top(side)) < 0.35
        # and group 1 tracks its own stream, not group 0's (random subspaces are far apart)
        assert sin_angle(inter.subspace(1, side), s1.top(side)) > 0.7


def test_streaming_pca_state_dict_resumes_and_reset():
    stream = Stream(seed=4)
    dec = StreamingBatchPCA(2, side="both", beta=0.5)
    for _ in range(20):
        dec.factors(*stream(), "fc1")
        dec.factors(*stream(), "fc2")
    buf = io.BytesIO()
    torch.save(dec.state_dict(), buf)
    buf.seek(0)
    resumed = StreamingBatchPCA(2, side="both", beta=0.5)
    resumed.load_state_dict(torch.load(buf, weights_only=False))
    assert resumed.steps("fc1") == resumed.steps("fc2") == 20
    for _ in range(5):
        x, d = stream()
        torch.testing.assert_close(dec.factors(x, d, "fc1"), resumed.factors(x, d, "fc1"))
    with pytest.raises(ConfigError, match=r"decomposition\.rank"):
        StreamingBatchPCA(3, side="both").load_state_dict(dec.state_dict())
    resumed.reset()
    assert resumed.steps("fc1") == 0 and resumed.subspace("fc1") is None
    assert resumed.state_dict()["groups"] == {}


def test_streaming_pca_eigenupdate_converges_on_a_repeated_gradient():
    # beta = 0, one power iteration per step, warm-started from the carried basis: fed the same
    # gradient again and again it is subspace iteration, whose angle to the top-3 right singular
    # subspace shrinks like (s_4 / s_3)^(2 t) = 0.7^(2 t); after 60 steps (0.7^120 ~ 1e-19) the
    # projection G V V^T is the Eckart-Young optimum to float32 rounding.
    g = matrix_with_spectrum(12, 20, SPECTRUM[:12])
    s = torch.tensor(SPECTRUM[:12], dtype=torch.float64)
    optimum = ((s[3:] ** 2).sum().sqrt() / s.norm()).item()
    dec = StreamingBatchPCA(3, init_iters=1)
    errs = []
    for _ in range(60):
        left, _ = dec.factors(None, None, 0, gradient=g)
        errs.append(dec.last_relative_error)
    assert left.shape == (3, 12)
    assert errs[0] > optimum + 1e-3  # one iteration from a random start is not there yet
    assert errs[-1] == pytest.approx(optimum, abs=RECON_RTOL)
    assert all(b <= a + RECON_RTOL for a, b in zip(errs, errs[1:], strict=False))


def test_streaming_pca_rejects_shape_change_of_a_group():
    dec = StreamingBatchPCA(2)
    dec.factors(*batch(), 0)
    with pytest.raises(ValueError, match="group_param_idx"):
        dec.factors(*batch(in_dim=21), 0)


# --- NMF --------------------------------------------------------------------------------------
def test_nmf_factors_are_signed_non_negative_parts():
    x, d = batch()
    k = 3
    left, right = NMF(k).factors(x, d, 0)
    assert left.shape == (2 * k, 12) and right.shape == (2 * k, 20)
    assert (left[:k] >= 0).all() and (left[k:] <= 0).all() and (right >= 0).all()
    # the positive rows approximate max(G, 0) and the negative rows max(-G, 0)
    g = d.T @ x
    pos, neg = left[:k].T @ right[:k], -(left[k:].T @ right[k:])
    assert (pos >= 0).all() and (neg >= 0).all()
    assert rel_err(g.clamp_min(0), left[:k], right[:k]) < 1
    assert rel_err((-g).clamp_min(0), -left[k:], right[k:]) < 1
    # balanced components
    torch.testing.assert_close(left.norm(dim=1), right.norm(dim=1))


def test_nmf_error_decreases_with_rank():
    x, d = batch(b=32, out_dim=16, in_dim=24)
    errs = []
    for rank in (1, 2, 4, 8):
        dec = NMF(rank)
        dec.factors(x, d, 0)
        errs.append(dec.last_relative_error)
    assert all(b < a for a, b in zip(errs, errs[1:], strict=False)), errs
    # NMF of each part is at best as good as the best rank-k approximation of that part
    g = (d.T @ x).double()
    for rank, err in zip((1, 2, 4, 8), errs, strict=True):
        parts = [g.clamp_min(0), (-g).clamp_min(0)]
        tails = [(torch.linalg.svdvals(p)[rank:] ** 2).sum() for p in parts]
        lower = (sum(tails).sqrt() / g.norm()).item()  # parts have disjoint supports
        assert err >= lower * (1 - 1e-5)


def test_nmf_of_non_negative_gradient_has_no_negative_part():
    g = matrix_with_spectrum(8, 10, [1.0]).abs()  # rank-1, non-negative
    left, right = NMF(1).factors(None, None, 0, gradient=g)
    assert torch.count_nonzero(left[1]) == 0
    assert rel_err(g, left, right) < 1e-3


# --- factory ----------------------------------------------------------------------------------
def test_factory_builds_each_name():
    assert isinstance(build_decomposition("outer_product", 4), FullOuterProduct)
    assert isinstance(build_decomposition("svd", 4), FullSVD)
    t = build_decomposition("truncated_svd", 4, backend="torch_lowrank")
    assert isinstance(t, TruncatedSVD) and t.rank == 4 and t.backend == "torch_lowrank"
    p = build_decomposition("streaming_pca", 2, beta=0.9, side="both", backend=None)
    assert isinstance(p, StreamingBatchPCA) and (p.rank, p.beta, p.side) == (2, 0.9, "both")
    n = build_decomposition("nmf", 3, n_iters=10)
    assert isinstance(n, NMF) and (n.rank, n.n_iters) == (3, 10)


@pytest.mark.parametrize(
    ("args", "options", "match"),
    [
        (("pca", 2), {}, r"^decomposition must be one of outer_product, svd, truncated_svd, "),
        (("truncated_svd", 0), {}, r"^decomposition\.rank must be a positive integer, got 0$"),
        (("nmf", "2"), {}, r"^decomposition\.rank must be a positive integer"),
        (("svd", True), {}, r"^decomposition\.rank must be a positive integer"),
        (("nmf", 2), {"backend": "torch"}, r"^decomposition\.backend is not an option of "),
        (("truncated_svd", 2), {"backend": "cuda"}, r"^decomposition\.backend must be one of "),
        (("streaming_pca", 2), {"beta": 1.0}, r"^decomposition\.beta must be a number in"),
        (("streaming_pca", 2), {"side": "left"}, r"^decomposition\.side must be one of"),
        (("nmf", 2), {"n_iters": -1}, r"^decomposition\.n_iters must be"),
    ],
)
def test_factory_errors(args, options, match):
    with pytest.raises(ConfigError, match=match) as info:
        build_decomposition(*args, **options)
    assert "\n" not in str(info.value)


# --- GPU (run with -m gpu on the device machine) ----------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("make", ALL.values(), ids=ALL.keys())
def test_factors_on_gpu_match_cpu(make):
    x, d = batch(b=32, out_dim=24, in_dim=40)
    left, right = make().factors(x.cuda(), d.cuda(), 0)
    assert left.is_cuda and right.is_cuda
    dense_gpu = (left.T @ right).cpu()
    dense_cpu = make().decompose(x, d, None, 0)
    # same algorithm and seeds; only float32 rounding (and the RNG stream of torch_lowrank,
    # whose power iterations converge to the same top-3 subspace) differ. NMF's 20
    # multiplicative updates may amplify rounding: compare reconstruction errors for it.
    g = d.T @ x
    if isinstance(make(), NMF):
        assert rel_err(g, left.cpu(), right.cpu()) == pytest.approx(
            rel_err(g, *make().factors(x, d, 0)), abs=1e-3
        )
    else:
        scale = torch.linalg.matrix_norm(g).item()
        assert torch.linalg.matrix_norm(dense_gpu - dense_cpu).item() <= 1e-3 * scale
