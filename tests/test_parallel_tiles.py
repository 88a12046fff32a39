"""The tiles' updates on parallel CUDA streams give the same weights as in order."""

import pytest
import torch

from xbrun.composition import compose
from xbrun.training.graphs import StepRunner
from xbrun.training.loop import setup, train_epoch, training_step


def _trained(parallel: int, device: str, graphs: str = "off") -> list[torch.Tensor]:
    config = compose(["dataset=synthetic", "dataset.n_features=40", "dataset.n_train=64",
                      "dataset.n_test=8", "model.hidden=[24]", "device=chopped",
                      "mapping.max_input_size=16", "mapping.max_output_size=16",
                      "batch_size=8", "seed=3"])
    dev = torch.device(device)
    data, model, optimizer, _ = setup(config, dev)
    optimizer.parallel_tiles = parallel
    x, y = data.x_train.to(dev), data.y_train.to(dev)
    runner = StepRunner(training_step, model, optimizer, graphs, log=lambda *_: None)
    order = torch.arange(len(y), device=dev)
    train_epoch(model, optimizer, x, y, order, 8, runner)  # 8 steps: warm-up, capture, replays
    if graphs != "off":
        assert runner.graphs, "the step was not captured"
    return [p.detach().cpu().clone() for p in model.state_dict().values()
            if isinstance(p, torch.Tensor)]


def _same(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b, strict=True):
        assert torch.equal(u, v)


def test_parallel_tiles_is_a_no_op_on_the_cpu():
    _same(_trained(1, "cpu"), _trained(8, "cpu"))


@pytest.mark.gpu
def test_parallel_tiles_match_the_serial_update_on_cuda():
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    serial = _trained(1, "cuda")
    _same(serial, _trained(8, "cuda"))
    _same(serial, _trained(3, "cuda"))
    _same(serial, _trained(8, "cuda", graphs="on"))
