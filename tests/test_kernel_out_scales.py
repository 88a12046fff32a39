"""The learned output scales' one-pass backward (``kernels/out_scales_*``,
``scales.OutScalesFunction``) against the twin and against autograd's three passes."""

import pytest
import torch
from test_periphery import make_tile, weights
from triton_modules import triton_function
from xbrun.kernels import out_scales_backward_torch

from xbrun import kernels
from xbrun.tiles import scales


def _rows(n, out, seed, dyadic):
    gen = torch.Generator().manual_seed(seed)
    d, y = torch.randn(n, out, generator=gen), torch.randn(n, out, generator=gen)
    if dyadic:  # products and sums exact in float32 whatever the order
        d, y = (d * 8).round() / 8, (y * 8).round() / 8
    return d, y


@pytest.mark.parametrize("n,out,per_column", [(5, 7, True), (3, 300, True), (4, 9, False),
                                              (6, 700, False)])
def test_interpreted_kernel_matches_the_twin(n, out, per_column):
    launch = triton_function("out_scales_cuda", "out_scales_backward_triton", interpret=True)
    beta = torch.rand(out if per_column else 1) + 0.5
    for dyadic in (True, False):
        d, y = _rows(n, out, 0, dyadic)
        d = d.t().contiguous().t()  # strided rows, as autograd may hand them
        got_d, got_grad = launch(d, y, beta)
        want_d, want_grad = out_scales_backward_torch(d, y, beta)
        assert got_grad.shape == beta.shape
        assert torch.equal(got_d, want_d)
        if dyadic:
            assert torch.equal(got_grad, want_grad)
        else:  # the sum's order is the kernel's
            torch.testing.assert_close(got_grad, want_grad, rtol=1e-5, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.parametrize("n,out,per_column", [(10, 256, True), (10, 256, False),
                                              (256, 1000, True), (256, 1000, False)])
def test_compiled_kernel_matches_the_twin(n, out, per_column):
    launch = triton_function("out_scales_cuda", "out_scales_backward_triton", interpret=False)
    beta = (torch.rand(out if per_column else 1) + 0.5).cuda()
    for dyadic in (True, False):
        d, y = (t.cuda() for t in _rows(n, out, 1, dyadic))
        got_d, got_grad = launch(d, y, beta)
        want_d, want_grad = out_scales_backward_torch(d, y, beta)
        assert torch.equal(got_d, want_d)
        if dyadic and (per_column or n * out <= 4096):  # sums within float32's 24 bits
            assert torch.equal(got_grad, want_grad)
        torch.testing.assert_close(got_grad, want_grad, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("columnwise", [False, True])
@pytest.mark.parametrize("backend", ["twin", "triton"])
def test_the_fused_backward_gives_autograds_gradients(columnwise, backend, monkeypatch):
    """A tile's forward and backward through autograd's passes (``OutScalesFunction``
    replaced by the product) and through the one pass (``triton``: the interpreted kernel in
    place of the twin): the same outputs, input gradients and scale gradients."""
    if backend == "triton":
        launch = triton_function("out_scales_cuda", "out_scales_backward_triton",
                                 interpret=True)
        monkeypatch.setattr(kernels, "out_scales_backward", launch)
    results = []
    fused = scales.OutScalesFunction.apply
    for on in (False, True):
        monkeypatch.setattr(scales.OutScalesFunction, "apply", fused if on else (
            lambda y, beta: y * scales.view_along(beta, 2, -1)))
        tile = make_tile(learn_out_scaling=True, out_scaling_columnwise=columnwise)
        tile.set_weights((weights() * 16).round() / 16)  # dyadic: every sum exact
        tile.set_learned_out_scales(torch.arange(2.0, 8.0) / 4 if columnwise else 1.5)
        x = (torch.randn(4, 10, generator=torch.Generator().manual_seed(3)) * 8).round() / 8
        x.requires_grad_(True)
        out = tile(x)
        assert (type(out.grad_fn).__name__ == "OutScalesFunctionBackward") == on
        (out * torch.arange(6.0)).sum().backward()
        alpha = tile.get_learned_out_scales()
        results.append((out.detach(), x.grad, alpha.grad, tile.pending[0][1]))
    for off, on in zip(*results, strict=True):
        assert torch.equal(off, on)
