"""Low-rank factorization: factorize_matrix / factorize_conv2d / module surgery."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from xbrun.nn.factorize import (
    FactorizedConv2d,
    FactorizedLinear,
    LowRankSolution,
    count_devices,
    factorize_conv2d,
    factorize_matrix,
    factorize_module,
    resolve_rank,
)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _correlated_inputs(n: int, d: int, g: torch.Generator, dtype=torch.float64) -> torch.Tensor:
    # strongly anisotropic, correlated inputs with a non-zero mean
    scales = torch.logspace(0, -2, d, dtype=dtype)
    mix = torch.randn(d, d, generator=g, dtype=dtype)
    return (torch.randn(n, d, generator=g, dtype=dtype) * scales) @ mix + 0.5


def _linear_layer_data(seed: int, n: int, d: int, m: int):
    """``(X, W, b, Y)``: correlated inputs through a random float64 layer, ``Y = X W + b``."""
    g = _gen(seed)
    X = _correlated_inputs(n, d, g)
    W = torch.randn(d, m, generator=g, dtype=torch.float64)
    b = torch.randn(m, generator=g, dtype=torch.float64)
    return X, W, b, X @ W + b


def _nmse_direct(Y, Y_hat):
    return (((Y - Y_hat) ** 2).mean() / ((Y - Y.mean(0)) ** 2).mean()).item()


def _optimal_nmse(X, Y, k):
    """Reduced-rank regression optimum, computed independently: whiten X by QR, then the
    rank-k error is the least-squares residual plus the tail of the fitted outputs' spectrum."""
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    Q, _ = torch.linalg.qr(Xc)
    fitted = Q @ (Q.T @ Yc)
    s = torch.linalg.svdvals(fitted)
    err = ((Yc - fitted) ** 2).sum() + (s[k:] ** 2).sum()
    return (err / (Yc**2).sum()).item()


# --------------------------------------------------------------------------- basics


def test_low_rank_solution_defaults():
    sol = LowRankSolution()
    assert sol.Wa is None and sol.Wb is None and sol.bias is None
    assert sol.rank == -1 and sol.nmse == 0.0


def test_resolve_rank():
    assert resolve_rank(0.25, 256, 512) == 64
    assert resolve_rank(0.29, 100, 300) == 29  # representation error absorbed
    assert resolve_rank(0.001, 10, 10) == 1
    assert resolve_rank(1.0, 10, 7) == 7
    assert resolve_rank(5, 10, 7) == 5
    for bad in (0, -1, 0.0, 1.5, True, "a", float("nan")):
        with pytest.raises(ValueError):
            resolve_rank(bad, 10, 10)


def test_factorize_matrix_shapes_and_errors():
    g = _gen(0)
    X = torch.randn(64, 20, generator=g)
    W = torch.randn(20, 12, generator=g)
    b = torch.randn(12, generator=g)
    Y = X @ W + b
    sol = factorize_matrix(X, Y, W, bias=b, rank=5)
    assert sol.Wa.shape == (20, 5) and sol.Wb.shape == (5, 12) and sol.bias.shape == (12,)
    assert sol.rank == 5 and sol.Wa.dtype == torch.float32
    sol = factorize_matrix(X, Y, W, bias=b, rank=0.5)  # fraction of min(20, 12)
    assert sol.rank == 6
    assert factorize_matrix(X, Y, W, rank=100).rank == 12  # capped at min(D, M)
    with pytest.raises(ValueError):
        factorize_matrix(X, Y, W.T)
    with pytest.raises(ValueError):
        factorize_matrix(X, Y[:10], W)
    with pytest.raises(ValueError):
        factorize_matrix(X, Y, W, bias=torch.zeros(3))
    with pytest.raises(ValueError):
        factorize_matrix(X, Y, W[:, :4], torch.zeros(5, 12))
    with pytest.raises(ValueError):
        factorize_matrix(X, Y, W, rank=0)
    with pytest.raises(ValueError):
        factorize_matrix(X, Y, W, n_iters=-1)


# --------------------------------------------------------------------------- optimality


@pytest.mark.parametrize("k", [1, 4, 10])
def test_factorize_matrix_reaches_optimal_nmse(k):
    X, W, b, Y = _linear_layer_data(1, n=400, d=30, m=24)
    sol = factorize_matrix(X, Y, W, bias=b, rank=k)
    Y_hat = X @ sol.Wa @ sol.Wb + sol.bias
    # the reported nmse is the documented definition, on the returned tensors
    assert sol.nmse == pytest.approx(_nmse_direct(Y, Y_hat), rel=1e-9, abs=1e-12)
    assert sol.nmse == pytest.approx(_optimal_nmse(X, Y, k), rel=1e-7, abs=1e-12)
    # data-aware: better than truncating the SVD of W itself (which ignores the inputs)
    U, S, Vh = torch.linalg.svd(W, full_matrices=False)
    W_trunc = (U[:, :k] * S[:k]) @ Vh[:k]
    naive_bias = Y.mean(0) - X.mean(0) @ W_trunc
    assert sol.nmse < _nmse_direct(Y, X @ W_trunc + naive_bias)


def test_factorize_matrix_with_noise_target_is_optimal():
    # Y not exactly linear in X: the optimum includes the least-squares residual
    g = _gen(2)
    X = _correlated_inputs(300, 16, g)
    Y = X @ torch.randn(16, 10, generator=g, dtype=torch.float64)
    Y = Y + 0.3 * torch.randn(300, 10, generator=g, dtype=torch.float64)
    W = torch.randn(16, 10, generator=g, dtype=torch.float64)  # deliberately not the generator
    sol = factorize_matrix(X, Y, W, rank=3, n_iters=0)
    assert sol.nmse == pytest.approx(_optimal_nmse(X, Y, 3), rel=1e-7)
    # alternating refinement never makes it worse
    assert factorize_matrix(X, Y, W, rank=3, n_iters=5).nmse <= sol.nmse * (1 + 1e-9)


def test_exact_low_rank_matrix_gives_zero_nmse_float32():
    g = _gen(3)
    D, M, k = 48, 40, 6
    X = torch.randn(256, D, generator=g)
    W = torch.randn(D, k, generator=g) @ torch.randn(k, M, generator=g)
    b = torch.randn(M, generator=g)
    Y = X @ W + b
    sol = factorize_matrix(X, Y, W, bias=b, rank=k)
    assert sol.nmse < 1e-10
    torch.testing.assert_close(sol.Wa @ sol.Wb, W, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(sol.bias, b, rtol=1e-4, atol=1e-4)
    # factors are balanced: each latent column of Wa has the norm of the row of Wb
    torch.testing.assert_close(sol.Wa.norm(dim=0), sol.Wb.norm(dim=1), rtol=1e-4, atol=1e-5)


def test_few_samples_keep_unexcited_directions():
    # N < D: directions the calibration data never excites keep the original behaviour
    g = _gen(4)
    D, M = 32, 32
    X = torch.randn(10, D, generator=g, dtype=torch.float64)
    W = torch.randn(D, M, generator=g, dtype=torch.float64)
    sol = factorize_matrix(X, X @ W, W, rank=1.0)
    assert sol.rank == 32 and sol.nmse < 1e-20
    torch.testing.assert_close(sol.Wa @ sol.Wb, W)


def test_nmse_is_one_for_constant_prediction():
    g = _gen(5)
    X = torch.randn(200, 8, generator=g, dtype=torch.float64)
    W = torch.zeros(8, 5, dtype=torch.float64)
    Y = torch.randn(200, 5, generator=g, dtype=torch.float64) + torch.arange(5.0)
    # Y independent of X: the best any operator can do is close to the mean (nmse ~ 1)
    sol = factorize_matrix(X, Y, W, rank=1)
    assert 0.9 < sol.nmse <= 1.0


# --------------------------------------------------------------------------- progressive


def test_progressive_factorization_lowers_rank():
    D, M = 40, 36
    X, W, b, Y = _linear_layer_data(6, n=500, d=D, m=M)
    first = factorize_matrix(X, Y, W, bias=b, rank=16)
    Y1 = X @ first.Wa @ first.Wb + first.bias
    second = factorize_matrix(X, Y1, first.Wa, first.Wb, first.bias, rank=8)
    assert second.rank == 8 and second.Wa.shape == (D, 8) and second.Wb.shape == (8, M)
    assert 0.0 <= second.nmse < 1.0
    assert second.nmse == pytest.approx(_optimal_nmse(X, Y1, 8), rel=1e-7)
    # error w.r.t. the original output grows, but stays sane
    Y2 = X @ second.Wa @ second.Wb + second.bias
    direct = factorize_matrix(X, Y, W, bias=b, rank=8)
    assert first.nmse <= _nmse_direct(Y, Y2) < 1.0
    assert _nmse_direct(Y, Y2) <= direct.nmse * 1.5
    # asking for a rank >= the current one keeps the pair
    same = factorize_matrix(X, Y1, first.Wa, first.Wb, first.bias, rank=32)
    assert same.rank == 16 and same.nmse < 1e-20
    torch.testing.assert_close(same.Wa, first.Wa)


# --------------------------------------------------------------------------- conv2d


def _conv_data(seed=7, c_in=6, c_out=10, k=3):
    g = _gen(seed)
    X = torch.randn(8, c_in, 9, 9, generator=g, dtype=torch.float64)
    W = torch.randn(c_out, c_in, k, k, generator=g, dtype=torch.float64)
    b = torch.randn(c_out, generator=g, dtype=torch.float64)
    return X, W, b


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1), ((1, 2), (2, 0))])
def test_factorize_conv2d_full_rank_matches(stride, padding):
    X, W, b = _conv_data()
    sol = factorize_conv2d(X, W, rank=1.0, biasA=b, stride=stride, padding=padding)
    assert sol.rank == 10  # min(6 * 3 * 3, 10)
    assert sol.Wa.shape == (10, 6, 3, 3) and sol.Wb.shape == (10, 10, 1, 1)
    assert sol.bias.shape == (10,)
    ref = F.conv2d(X, W, b, stride=stride, padding=padding)
    out = F.conv2d(F.conv2d(X, sol.Wa, stride=stride, padding=padding), sol.Wb, sol.bias)
    torch.testing.assert_close(out, ref)
    assert sol.nmse < 1e-20


def test_factorize_conv2d_nmse_monotone_in_rank():
    X, W, b = _conv_data(seed=8, c_in=4, c_out=12)
    nmses = []
    for r in range(1, 13):
        sol = factorize_conv2d(X, W, rank=r, biasA=b, padding=1)
        assert sol.rank == r and sol.Wa.shape == (r, 4, 3, 3) and sol.Wb.shape == (12, r, 1, 1)
        ref = F.conv2d(X, W, b, padding=1)
        out = F.conv2d(F.conv2d(X, sol.Wa, padding=1), sol.Wb, sol.bias)
        assert sol.nmse == pytest.approx(
            _nmse_direct(
                ref.permute(0, 2, 3, 1).reshape(-1, 12), out.permute(0, 2, 3, 1).reshape(-1, 12)
            ),
            rel=1e-9,
            abs=1e-15,
        )
        nmses.append(sol.nmse)
    assert all(a >= b - 1e-12 for a, b in zip(nmses, nmses[1:], strict=False))
    assert nmses[0] > 0.1 and nmses[-1] < 1e-20


def test_factorize_conv2d_progressive_and_errors():
    X, W, b = _conv_data(seed=9)
    first = factorize_conv2d(X, W, rank=6, biasA=b, padding=1)
    ba = torch.randn(6, dtype=torch.float64, generator=_gen(10))
    ref = F.conv2d(F.conv2d(X, first.Wa, ba, padding=1), first.Wb, first.bias)
    second = factorize_conv2d(X, first.Wa, first.Wb, rank=3, biasA=ba, biasB=first.bias, padding=1)
    assert second.rank == 3 and second.Wa.shape == (3, 6, 3, 3)
    assert second.Wb.shape == (10, 3, 1, 1)
    out = F.conv2d(F.conv2d(X, second.Wa, padding=1), second.Wb, second.bias)
    ref_rows = ref.permute(0, 2, 3, 1).reshape(-1, 10)
    out_rows = out.permute(0, 2, 3, 1).reshape(-1, 10)
    assert second.nmse == pytest.approx(_nmse_direct(ref_rows, out_rows), rel=1e-9)
    assert 0.0 < second.nmse < 1.0

    with pytest.raises(RuntimeError):
        factorize_conv2d(X, W, rank=2, biasB=b)
    with pytest.raises(NotImplementedError):
        factorize_conv2d(X, W, rank=2, dilation=2)
    with pytest.raises(NotImplementedError):
        factorize_conv2d(X, W, rank=2, groups=2)
    with pytest.raises(ValueError):
        factorize_conv2d(X[:, :3], W, rank=2)


# --------------------------------------------------------------------------- module surgery


def _low_rank_(layer: nn.Module, r: int, g: torch.Generator) -> None:
    with torch.no_grad():
        w = layer.weight
        flat = w.reshape(w.shape[0], -1)
        a = torch.randn(flat.shape[0], r, generator=g)
        c = torch.randn(r, flat.shape[1], generator=g)
        w.copy_(((a @ c) / (r * flat.shape[1]) ** 0.5).reshape(w.shape))


def _model(g):
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 32, 1),  # 1x1 32->32: rank 8 saves weights too
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 300),
        nn.ReLU(),
        nn.Linear(300, 64),  # min(300, 64) < min_features: stays dense
    )
    for i in (3, 5):
        _low_rank_(model[i], 4, g)
    _low_rank_(model[7], 20, g)
    return model


def test_factorize_module_replaces_qualifying_layers():
    torch.manual_seed(0)
    g = _gen(11)
    model = _model(g)
    x = torch.randn(16, 3, 8, 8, generator=g)
    model.train()
    ref = model.eval()(x)
    model.train()
    devices_before = count_devices(model)
    assert devices_before == 3 * 32 * 9 + 32 * 32 * 9 + 32 * 32 + 512 * 300 + 300 * 64
    report = factorize_module(model, x, rank=0.25, min_features=256, min_channels=16)
    assert set(report) == {"3", "5", "7"}
    # first conv: min(3, 32) < min_channels; last linear: min(300, 64) < min_features
    assert type(model[0]) is nn.Conv2d and type(model[9]) is nn.Linear
    assert isinstance(model[3], FactorizedConv2d) and isinstance(model[5], FactorizedConv2d)
    assert isinstance(model[7], FactorizedLinear)
    assert type(model[7].first) is nn.Linear and type(model[7].second) is nn.Linear
    assert type(model[3].first) is nn.Conv2d and model[3].second.kernel_size == (1, 1)
    assert report["7"]["rank"] == 75 and model[7].rank == 75  # floor(0.25 * min(512, 300))
    assert report["3"]["rank"] == 8 and report["5"]["rank"] == 8
    for entry in report.values():
        assert entry["params_after"] < entry["params_before"]
        assert 0.0 <= entry["nmse"] < 1e-6
    assert report["7"]["params_before"] == 512 * 300 + 300
    assert report["7"]["params_after"] == 512 * 75 + 75 * 300 + 300
    assert count_devices(model) < devices_before
    assert model.training and model[1].training  # training flags restored
    model.eval()
    out = model(x)
    torch.testing.assert_close(out, ref, rtol=1e-3, atol=1e-4)
    # forward/backward still work on a new batch
    model.train()
    y = model(torch.randn(4, 3, 8, 8, generator=g))
    y.sum().backward()
    assert y.shape == (4, 64) and model[7].first.weight.grad is not None


def test_factorize_module_progressive_and_idempotent():
    g = _gen(12)
    model = nn.Sequential(nn.Linear(300, 280), nn.Tanh(), nn.Linear(280, 260))
    x = torch.randn(512, 300, generator=g)
    ref = model(x)
    first = factorize_module(model, x, rank=0.5)
    assert {k: v["rank"] for k, v in first.items()} == {"0": 140, "2": 130}
    assert factorize_module(model, x, rank=0.5) == {}  # same rank: nothing to do
    second = factorize_module(model, x, rank=0.25)
    assert {k: v["rank"] for k, v in second.items()} == {"0": 70, "2": 65}
    assert model[0].rank == 70 and model[2].rank == 65
    for name in ("0", "2"):
        assert second[name]["params_after"] < first[name]["params_after"]
        assert 0.0 < second[name]["nmse"] < 1.0
    out = model(x)
    assert out.shape == ref.shape and torch.isfinite(out).all()
    rel = ((out - ref) ** 2).mean() / ((ref - ref.mean(0)) ** 2).mean()
    assert rel < 1.0


def test_factorize_module_skips_when_no_savings_or_small():
    g = _gen(13)
    model = nn.Sequential(nn.Linear(300, 300), nn.ReLU(), nn.Linear(300, 100))
    x = torch.randn(64, 300, generator=g)
    # rank 1.0 never saves weights; the 300->100 layer is below min_features
    assert factorize_module(model, x, rank=1.0) == {}
    assert factorize_module(model, x, rank=0.6) == {}  # 180 * 600 >= 300 * 300
    report = factorize_module(model, x, rank=0.4)
    assert set(report) == {"0"} and type(model[2]) is nn.Linear
    assert count_devices(model) == 2 * 300 * 120 + 300 * 100
